"""Cases: creating, listing and reading them, their membership (who holds which role; a case
always keeps a lead), and the Evidence Registration Number patterns a case numbers its items
with."""
