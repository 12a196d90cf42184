"""Backups of a whole instance and their restore (`casefile backup`, `casefile restore`).

A backup is a folder: the database as JSON Lines (one file per table, read in one consistent
snapshot), the blobs its active items, resumable uploads and finished exports use (copied as
ciphertext, never decrypted), `inventory.json` naming every file with its size and SHA-256,
the schema revision, the source's custody verifier key and latest signed checkpoint, and
`inventory.sha256`, the hash of the inventory. Keys are in it only on request, wrapped under
a passphrase (keys_export). See docs/deploy.md, "Backups".
"""

from __future__ import annotations

from casefile.logic.errors import DomainError

FORMAT = "casefile-backup/1"
INVENTORY = "inventory.json"
INVENTORY_HASH = "inventory.sha256"
DATABASE_FOLDER = "database"
BLOB_FOLDER = "blobs"
KEYS_FILE = "keys.enc"


class BackupError(DomainError):
    """A backup cannot be made, or a backup cannot be restored; the message says why."""


def blob_path(blob_id: str) -> str:
    """Where a blob lives inside a backup folder (as in the local store: two fan-out levels)."""
    return f"{BLOB_FOLDER}/{blob_id[:2]}/{blob_id[2:4]}/{blob_id}"
