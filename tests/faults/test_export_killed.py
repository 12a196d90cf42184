"""The server's worker process killed (SIGKILL) while it runs an export job: the export stays
`running` with nothing downloadable and no `exported` entry; gunicorn starts a new worker,
whose consumer (its minutely recovery, once the heartbeat is `stale_minutes` old) removes
what the dead run had written and runs the job again to `done`: no orphan blob, no leftover,
a bundle that verifies."""

from __future__ import annotations

import io
import os
import signal
import time
import zipfile
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from casefile.db import Database
from casefile.model import CustodyAction, CustodyEntry, Export, ExportStatus, User
from casefile.vault.blobstore import LocalBlobStore
from tests.factories import bearer
from tests.faults.test_worker_killed import wait_for_new_worker, workers
from tests.server.live import casefile_serve

pytestmark = pytest.mark.slow
MIB = 1 << 20


def test_a_worker_killed_mid_export_leaves_nothing_and_the_job_runs_again(
    tmp_path: Path, fresh_database_url: str
) -> None:
    config = "[queue]\nstale_minutes = 1\n"
    with casefile_serve(tmp_path, fresh_database_url, "--workers", "1", config=config) as live:
        database = Database.from_url(fresh_database_url)
        with database.sessions() as session:
            lead = bearer(session, session.scalar(select(User).where(
                User.email == "lead@example.org")))
            session.commit()
        api = f"{live.url}/api/v1"
        ids = []
        for name, size in (("large.bin", 48 * MIB), ("small.txt", 4096)):
            uploaded = requests.post(f"{api}/cases/{live.case_id}/evidence", headers=lead,
                                     files={"file": (name, os.urandom(size))}, timeout=120)
            assert uploaded.status_code == 201, uploaded.text
            ids.append(uploaded.json()["id"])
        filing = requests.post(f"{api}/cases/{live.case_id}/filings", headers=lead, json={
            "title": "Submission", "type": "request_or_submission",
            "classification": "public"}, timeout=30).json()
        for item_id in ids:
            assert requests.post(f"{api}/filings/{filing['id']}/exhibits", headers=lead,
                                 json={"evidence_id": item_id}, timeout=30).status_code == 201
        (worker,) = workers(live.pid)
        asked = requests.post(f"{api}/filings/{filing['id']}/exports", headers=lead, timeout=30)
        assert asked.status_code == 202, asked.text
        url = f"{api}/exports/{asked.json()['id']}"
        deadline = time.monotonic() + 60
        while requests.get(url, headers=lead, timeout=30).json()["status"] != "running":
            assert time.monotonic() < deadline, "the export never started"
            time.sleep(0.05)
        os.kill(worker, signal.SIGKILL)  # mid-export
        wait_for_new_worker(live.pid, worker, live.url)

        with database.sessions() as session:
            export = session.scalars(select(Export)).one()
            assert export.status == ExportStatus.RUNNING and export.attempts == 1
            first_blob = export.blob_id
            assert session.scalars(select(CustodyEntry).where(
                CustodyEntry.action == CustodyAction.EXPORTED)).all() == []
        store = LocalBlobStore(tmp_path / "storage")
        assert not store.exists(first_blob)  # never took its name
        download = requests.get(f"{url}/download", headers=lead, timeout=30)
        assert download.status_code == 409

        deadline = time.monotonic() + 240  # stale after 1 minute, checked every minute
        status = requests.get(url, headers=lead, timeout=30).json()
        while status["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(1)
            status = requests.get(url, headers=lead, timeout=30).json()
        assert status["status"] == "done", status
        with database.sessions() as session:
            export = session.scalars(select(Export)).one()
            assert export.attempts == 2 and export.blob_id != first_blob
            assert len(session.scalars(select(CustodyEntry).where(
                CustodyEntry.action == CustodyAction.EXPORTED)).all()) == 2
        database.engine.dispose()
        assert list(store.leftovers()) == []  # the dead run's half-written blob is gone
        assert not store.exists(first_blob)
        download = requests.get(f"{url}/download", headers=lead, timeout=120)
        assert download.status_code == 200
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            assert archive.testzip() is None
