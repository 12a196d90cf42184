"""Bulk intake from folders (`casefile ingest`), in modules each readable in one sitting:

- ingest_walk: what to ingest (every regular file under the paths given, once, in order);
- ingest_sidecar: collector metadata per file from a CSV or JSON sidecar;
- ingest_run: the run itself (hashing ahead, blobs written by worker threads and made durable
  a batch at a time, registration in batches on the calling thread, interruptions);
- ingest_workers: the worker processes that write and examine the blobs of a large run into a
  local store;
- ingest_db: what the run asks of the database besides registering.

This module gives their public names in one place, as the CLI and the tests use them."""

from __future__ import annotations

from casefile.logic.evidence.ingest_db import authorize, sha256_in_case, sha256s_in_case
from casefile.logic.evidence.ingest_run import Outcome, Summary, ingest
from casefile.logic.evidence.ingest_sidecar import (
    FIELDS,
    HASH_COLUMNS,
    KEY_COLUMNS,
    Sidecar,
    load_sidecar,
)
from casefile.logic.evidence.ingest_walk import Plan, SourceFile, plan

__all__ = [
    "FIELDS",
    "HASH_COLUMNS",
    "KEY_COLUMNS",
    "Outcome",
    "Plan",
    "Sidecar",
    "SourceFile",
    "Summary",
    "authorize",
    "ingest",
    "load_sidecar",
    "plan",
    "sha256_in_case",
    "sha256s_in_case",
]
