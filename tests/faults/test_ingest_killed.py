"""`casefile ingest` killed (SIGKILL) inside a batch's settle, where its blobs are written but
not yet durable, durable but not yet named, or named but not yet registered: whatever the
moment, no item exists without its durable blob and its intake entry, the ERNs stay
gapless, what was left (temporary files, blobs no item owns) is reported by `scrub` and
removed by `scrub --repair`, and a rerun adds the rest; the custody log verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from casefile.model import CustodyAction
from casefile.vault import blobstore
from tests.cli.test_ingest_scrub import entries, items, stored_files, vault  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(blobstore.SYNCFS is None, reason="syncfs(2) not usable here"),
]
LEAD = "lead@example.org"
COUNT = 400

# Run in the killed process: the CLI, with syncfs wrapped to kill the process at one moment
# of the Nth batch's settle (each settle syncs twice: its bytes, then its blobs' names).
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from casefile.vault import blobstore
    real, calls = blobstore.SYNCFS, [0]
    kill_at, when = int(sys.argv[1]), sys.argv[2]

    def syncfs(descriptor):
        calls[0] += 1
        if calls[0] == kill_at and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(descriptor)
        if calls[0] == kill_at and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    blobstore.SYNCFS = syncfs
    from casefile.cli import main
    sys.argv = ["casefile", *sys.argv[3:]]
    main()
    """
)


@pytest.mark.parametrize(
    ("kill_at", "when", "left"),
    [
        (5, "after", "written, durable, not yet named"),  # the 3rd batch's bytes synced
        (6, "before", "named, names not yet durable"),  # its blobs renamed
        (6, "after", "named and durable, not registered"),
    ],
)
def test_ingest_killed_in_a_batch_settle_leaves_nothing_half_registered(
    vault, tmp_path, kill_at, when, left  # noqa: F811 - the fixture imported above
):
    if vault.kind != "local":
        pytest.skip("syncfs batches are the local store's; S3 objects are durable when written")
    drive = tmp_path / "drive"
    for number in range(COUNT):
        folder = drive / f"{number // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{number:04d}.bin").write_bytes(os.urandom(64) + number.to_bytes(4, "big"))
    command = [sys.executable, "-c", KILLER, str(kill_at), when,
               "ingest", vault.case_id, str(drive), "--as", LEAD]
    process = subprocess.run(command, env=os.environ | vault.env, capture_output=True,
                             timeout=300, check=False)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]

    killed = items(vault)
    assert len(killed) < COUNT
    assert [item.seq for item in killed] == list(range(1, len(killed) + 1))
    intake = entries(vault, CustodyAction.INTAKE)
    assert sorted(entry.item_id for entry in intake) == sorted(item.id for item in killed)
    store = vault.stored.store
    assert {item.blob_id for item in killed} <= set(store.blob_ids())  # each item's blob
    leftovers, orphans = list(store.leftovers()), set(store.blob_ids()) - {
        item.blob_id for item in killed
    }
    if left.startswith("written"):  # the batch's blobs are still under temporary names
        assert leftovers
    if left.startswith("named and durable"):  # under their names, never registered
        assert orphans
    scrubbed = vault.run("scrub", "--grace-minutes", "0")
    assert f"{len(killed)} items checked, {len(killed)} ok, 0 failed" in scrubbed.stdout
    for orphan in orphans:
        assert f"orphan blob {orphan} (no active item)" in scrubbed.stdout
    for name in leftovers:
        assert f"leftover {name} (an interrupted write)" in scrubbed.stdout

    rerun = vault.run("ingest", vault.case_id, str(drive), "--as", LEAD)
    assert rerun.exit_code == 0, rerun.output
    assert rerun.stdout.strip().splitlines()[-1] == (
        f"added {COUNT - len(killed)}, already in case {len(killed)}, failed 0"
    )
    repaired = vault.run("scrub", "--repair", "--grace-minutes", "0")
    assert repaired.exit_code == 0, repaired.output
    final = items(vault)
    assert [item.seq for item in final] == list(range(1, COUNT + 1))
    assert stored_files(vault) == sorted(item.blob_id for item in final)  # nothing else left
    assert len(entries(vault, CustodyAction.INTAKE)) == COUNT
    verified = vault.run("custody", "verify")
    assert verified.exit_code == 0, verified.output
