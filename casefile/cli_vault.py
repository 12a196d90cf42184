"""`casefile` commands for the evidence vault: ingest, scrub, keys rotate.
Registered on the main group by casefile.cli; they call the logic layer only."""

from __future__ import annotations
