"""The blob store's file system fills up: a small tmpfs mounted for the test as the local
store. Uploads that do not fit get 507 `storage_full` (never 201, never 500) and leave no
item and no blob behind; once space is freed, uploads work again and nothing acknowledged
was lost."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.vault_checks import MIB, Ledger, assert_json_error
from tests.server.live import casefile_serve

pytestmark = pytest.mark.slow

TMPFS_MIB = 8


@contextlib.contextmanager
def small_file_system(folder: Path) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MIB}m,mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        # Mounting needs root (CAP_SYS_ADMIN); a CI container without it cannot run this.
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


@pytest.fixture
def full_store(tmp_path: Path, fresh_database_url: str) -> Iterator[tuple[Ledger, Path]]:
    with (
        small_file_system(tmp_path / "storage") as storage,
        casefile_serve(tmp_path, fresh_database_url) as live,
    ):
        yield Ledger(live), storage


def test_a_full_store_answers_507_stores_nothing_and_recovers(full_store):
    ledger, storage = full_store
    assert ledger.upload(MIB).status_code == 201
    ballast = storage / "ballast"  # an operator's file, taking most of what is left
    free = os.statvfs(storage).f_bavail * os.statvfs(storage).f_frsize
    ballast.write_bytes(b"\0" * (free - 3 * MIB))

    statuses = [ledger.upload(MIB).status_code for _ in range(6)]
    assert 507 in statuses, statuses
    assert set(statuses) <= {201, 507}, statuses  # never a 500, never a lie
    refused = ledger.upload(2 * MIB)
    assert_json_error(refused, 507, "storage_full")
    assert "Retry-After" not in refused.headers  # not until an operator frees space

    # Nothing half-registered: the case lists exactly what was acknowledged.
    assert ledger.listed() == set(ledger.acknowledged)

    ballast.unlink()
    assert ledger.upload(2 * MIB).status_code == 201
    ledger.assert_intact()
