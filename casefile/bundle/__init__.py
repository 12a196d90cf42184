"""Court bundle writers and the offline bundle verifier."""
