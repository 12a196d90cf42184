"""`casefile serve` runs export jobs itself: a consumer thread in the server's worker process
takes the job from the SqliteHuey queue in the instance folder, and the API's status goes
from queued to done; the download is the bundle."""

from __future__ import annotations

import io
import time
import zipfile

import requests
from sqlalchemy import select

from casefile.db import Database
from casefile.model import User
from tests.factories import bearer
from tests.server.live import casefile_serve


def test_the_server_runs_an_export_job_to_done(tmp_path, fresh_database_url):
    with casefile_serve(tmp_path, fresh_database_url) as live:
        database = Database.from_url(fresh_database_url)
        with database.sessions() as session:
            lead = bearer(session, session.scalar(select(User).where(
                User.email == "lead@example.org")))
            session.commit()
        database.engine.dispose()
        api = f"{live.url}/api/v1"
        ids = []
        for name in ("a.txt", "b.txt"):
            uploaded = requests.post(f"{api}/cases/{live.case_id}/evidence", headers=lead,
                                     files={"file": (name, f"statement {name}\n".encode() * 50,
                                                     "text/plain")}, timeout=30)
            assert uploaded.status_code == 201, uploaded.text
            ids.append(uploaded.json()["id"])
        filing = requests.post(f"{api}/cases/{live.case_id}/filings", headers=lead, json={
            "title": "Submission", "type": "request_or_submission",
            "classification": "public"}, timeout=30).json()
        for item_id in ids:
            added = requests.post(f"{api}/filings/{filing['id']}/exhibits", headers=lead,
                                  json={"evidence_id": item_id}, timeout=30)
            assert added.status_code == 201, added.text
        asked = requests.post(f"{api}/filings/{filing['id']}/exports", headers=lead, timeout=30)
        assert asked.status_code == 202, asked.text
        assert asked.json()["status"] == "queued"
        deadline = time.monotonic() + 90
        status = asked.json()
        while status["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            status = requests.get(f"{api}/exports/{asked.json()['id']}", headers=lead,
                                  timeout=30).json()
        assert status["status"] == "done", status
        download = requests.get(f"{live.url}{status['download_url']}", headers=lead,
                                timeout=60)
        assert download.status_code == 200
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            assert archive.testzip() is None
    assert (tmp_path / "instance" / "queue.sqlite3").exists()
