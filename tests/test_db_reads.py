"""SQLite: a GET or HEAD request reads first (BEGIN DEFERRED), so it neither waits for nor
holds up the database's one write lock; whatever writes, a GET's download entry included,
still takes the lock at BEGIN (db.begin_writing), so writers serialize as before."""

from __future__ import annotations

import io
import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from casefile import create_app
from casefile.db import Database, begin_writing, end_writing
from casefile.logic.custody.verify import verify_log
from casefile.model import CustodyEntry, User
from tests.factories import bearer, make_case, make_user
from tests.test_busy import lock_held


@pytest.fixture
def vault(settings, fresh_database_url):
    """An app on a database of its own (real commits, other connections), one case, one item."""
    database = Database.from_url(fresh_database_url, lock_timeout_ms=300)
    with database.sessions() as session:
        lead = make_user(session, "lead@example.org")
        case_id = make_case(session, lead).id
        token = bearer(session, lead)
    app = create_app(settings, database=database)
    client = app.test_client()
    item = upload(client, case_id, token, b"statement of W-1\n")
    # The case's report signs a checkpoint on its first reading: sign it now, unlocked.
    assert client.get(f"/api/v1/cases/{case_id}/custody", headers=token).status_code == 200
    yield {"app": app, "client": client, "database": database, "case": case_id, "item": item,
           "token": token, "url": fresh_database_url}  # fmt: skip
    database.engine.dispose()


def upload(client, case_id, token, content):
    response = client.post(f"/api/v1/cases/{case_id}/evidence", headers=token,
                           data={"file": (io.BytesIO(content), "w.txt")},
                           content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def entry_seqs(database):
    with database.sessions() as session:
        return list(session.scalars(select(CustodyEntry.seq).order_by(CustodyEntry.seq)))


def sqlite_only(url):
    if not url.startswith("sqlite"):
        pytest.skip("PostgreSQL takes no lock at BEGIN: its reads never waited")


def test_reads_go_on_while_another_connection_holds_the_write_lock(vault):
    sqlite_only(vault["url"])
    client, token, case, item = vault["client"], vault["token"], vault["case"], vault["item"]
    before = entry_seqs(vault["database"])
    with lock_held(vault["url"]):
        paths = (f"/api/v1/cases/{case}/evidence", f"/api/v1/evidence/{item}",
                 f"/api/v1/cases/{case}/custody", f"/api/v1/evidence/{item}/custody")  # fmt: skip
        for path in paths:
            response = client.get(path, headers=token)
            assert response.status_code == 200, (path, response.get_json())
        assert client.head(f"/api/v1/evidence/{item}", headers=token).status_code == 200
        # Writers still need the lock, and wait for it (here past the 300 ms allowed): 503,
        # nothing kept. A download is a GET that writes its custody entry: the same.
        refused = client.post(f"/api/v1/cases/{case}/evidence", headers=token,
                              data={"file": (io.BytesIO(b"other\n"), "o.txt")},
                              content_type="multipart/form-data")  # fmt: skip
        assert refused.status_code == 503
        download = client.get(f"/api/v1/evidence/{item}/content", headers=token)
        assert download.status_code == 503
    assert entry_seqs(vault["database"]) == before
    assert client.get(f"/api/v1/evidence/{item}/content", headers=token).status_code == 200
    assert entry_seqs(vault["database"]) == [*before, len(before)]


def test_a_reads_first_session_writes_only_after_begin_writing(vault):
    sqlite_only(vault["url"])
    database: Database = vault["database"]
    with database.sessions() as session:
        database.reads_first(session)
        with lock_held(vault["url"]):
            user = session.scalars(select(User)).one()  # deferred: no wait for the lock
            begin_writing(session)
            user.display_name = "Lead"
            with pytest.raises(OperationalError, match="locked"):
                session.commit()  # BEGIN IMMEDIATE: waits for the lock, then gives up
            session.rollback()
        user = session.scalars(select(User)).one()
        user.display_name = "Lead"
        session.commit()  # the lock is free: the write goes through
        end_writing(session)
        with lock_held(vault["url"]):
            assert session.scalar(select(User.display_name)) == "Lead"  # reads first again
            session.rollback()
        user.display_name = "Changed"
        with pytest.raises(RuntimeError, match="before the changes"):
            begin_writing(session)


def test_a_plain_session_is_not_reads_first(vault):
    sqlite_only(vault["url"])
    with (
        vault["database"].sessions() as session,
        lock_held(vault["url"]),
        pytest.raises(OperationalError, match="locked"),
    ):
        session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE, as every writer


def test_reads_and_writes_mixed_from_threads_serialize(vault):
    """Uploads, downloads (GETs that write), listings and reports at once: every write lands
    once, the log is gapless and verifies, and no request is refused (30 s lock waits)."""
    database = Database.from_url(vault["url"])  # the default lock timeout
    app = create_app(vault["app"].extensions["casefile.settings"], database=database)
    token, case, item = vault["token"], vault["case"], vault["item"]
    before = len(entry_seqs(database))
    statuses: list[tuple[str, int]] = []
    lock = threading.Lock()

    def work(number: int) -> None:
        client = app.test_client()
        for round_ in range(3):
            content = f"{number}-{round_}\n".encode()
            requests = [
                ("upload", lambda content=content: client.post(
                    f"/api/v1/cases/{case}/evidence", headers=token,
                    data={"file": (io.BytesIO(content), "t.txt")},
                    content_type="multipart/form-data")),
                ("download", lambda: client.get(f"/api/v1/evidence/{item}/content",
                                                headers=token)),
                ("listing", lambda: client.get(f"/api/v1/cases/{case}/evidence", headers=token)),
                ("report", lambda: client.get(f"/api/v1/cases/{case}/custody", headers=token)),
            ]  # fmt: skip
            for kind, send in requests:
                response = send()
                with lock:
                    statuses.append((kind, response.status_code))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        expected = {"upload": 201, "download": 200, "listing": 200, "report": 200}
        assert [s for s in statuses if s[1] != expected[s[0]]] == []
        seqs = entry_seqs(database)
        assert seqs == list(range(len(seqs)))
        assert len(seqs) - before >= 6 * 3 * 2  # an intake and a download entry per round
        keys = app.extensions["casefile.custody_keys"]
        with database.snapshot() as session:
            assert verify_log(session, keys.verifier_key).ok
    finally:
        database.engine.dispose()
