"""inventory.json: every file of a backup with its size and SHA-256, and what the backup is
of; inventory.sha256 holds the inventory's own hash. A restore checks both, then every file,
before it touches anything."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from casefile.logic.backup import FORMAT, INVENTORY, INVENTORY_HASH, KEYS_FILE, BackupError

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative, with forward slashes
    size: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


class HashingWriter:
    """Writes a new file of the backup (never an existing one), counting and hashing it."""

    def __init__(self, root: Path, relative: str) -> None:
        self.relative = relative
        path = root / relative
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._file: BinaryIO = os.fdopen(
            os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb"
        )
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self._size += len(data)

    def finish(self) -> FileRecord:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return FileRecord(self.relative, self._size, self._hash.hexdigest())

    def discard(self) -> None:
        self._file.close()


def write_inventory(root: Path, inventory: dict[str, Any]) -> str:
    """Write inventory.json and inventory.sha256; return the inventory's SHA-256."""
    text = json.dumps(inventory, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    data = text.encode()
    digest = hashlib.sha256(data).hexdigest()
    for name, content in ((INVENTORY, data), (INVENTORY_HASH, f"{digest}  {INVENTORY}\n".encode())):
        descriptor = os.open(root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    return digest


def file_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def read_inventory(root: Path) -> dict[str, Any]:
    """The inventory, once its hash and every file it lists have been checked."""
    if not root.is_dir():
        raise BackupError(f"{root} is not a backup folder")
    inventory_path, hash_path = root / INVENTORY, root / INVENTORY_HASH
    if not inventory_path.is_file() or not hash_path.is_file():
        raise BackupError(f"{root} has no {INVENTORY} and {INVENTORY_HASH}: not a complete backup")
    recorded = hash_path.read_text(encoding="ascii", errors="replace").split()
    if not recorded or file_sha256(inventory_path)[1] != recorded[0]:
        raise BackupError(f"{INVENTORY}: its SHA-256 is not the one in {INVENTORY_HASH}")
    try:
        inventory = json.loads(inventory_path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise BackupError(f"{INVENTORY}: not JSON: {error}") from None
    if not isinstance(inventory, dict) or inventory.get("format") != FORMAT:
        raise BackupError(f"{INVENTORY}: not a {FORMAT} inventory")
    _ensure_inventory_shape(inventory)
    ensure_files_match_inventory(root, inventory)
    return inventory


_SHAPE: dict[str, type | tuple[type, ...]] = {
    "schema_revision": str,
    "verifier_key": str,
    "checkpoint": (dict, type(None)),
    "tables": list,
    "blobs": dict,
    "keys": (str, type(None)),
    "files": list,
}


def _ensure_inventory_shape(inventory: dict[str, Any]) -> None:
    for name, kind in _SHAPE.items():
        if not isinstance(inventory.get(name), kind):
            raise BackupError(f"{INVENTORY}: {name} is missing or malformed")
    for table in inventory["tables"]:
        if not isinstance(table, dict) or not {"name", "file", "rows", "columns"} <= set(table):
            raise BackupError(f"{INVENTORY}: a table entry is malformed")
    if not {"copied", "bytes", "missing"} <= set(inventory["blobs"]):
        raise BackupError(f"{INVENTORY}: blobs is malformed")
    listed = {entry.get("path") for entry in inventory["files"] if isinstance(entry, dict)}
    for table in inventory["tables"]:
        if table["file"] not in listed:
            raise BackupError(f"{INVENTORY}: {table['file']} is not among the files")
    if inventory["keys"] is not None and (
        inventory["keys"] != KEYS_FILE or KEYS_FILE not in listed
    ):
        raise BackupError(f"{INVENTORY}: keys names no key file among the files")


def ensure_files_match_inventory(root: Path, inventory: dict[str, Any]) -> None:
    """Every listed file is there, inside the folder, with its size and SHA-256; the first
    one that is not is named."""
    for entry in inventory.get("files", []):
        relative = str(entry.get("path", ""))
        parts = PurePosixPath(relative).parts
        if not parts or relative.startswith("/") or ".." in parts:
            raise BackupError(f"{INVENTORY} lists an unsafe path {relative!r}")
        path = root.joinpath(*parts)
        if not path.is_file():
            raise BackupError(f"{relative}: missing from the backup")
        size, digest = file_sha256(path)
        if size != entry.get("size") or digest != entry.get("sha256"):
            raise BackupError(f"{relative}: its size or SHA-256 differs from the inventory")
