"""A transaction the database aborts for a lock conflict (a deadlock, a serialization
failure, SQLite's write lock not coming free) is replayed transparently; when the replays
run out, the client gets 503 with Retry-After and the busy error, never a 500, and nothing
of the attempt is left behind."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from casefile.cli import main
from casefile.errors import answer_for
from casefile.logic import authz, retry
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import log_state as custody_log_state
from casefile.logic.errors import Busy
from casefile.logic.evidence import listing
from casefile.model import CustodyAction, CustodyEntry, Evidence
from tests.api.test_evidence_api import upload
from tests.factories import bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes, sign_in


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture(autouse=True)
def _no_pauses(monkeypatch):
    monkeypatch.setattr(retry, "PAUSE_SECONDS", 0.001)


@pytest.fixture
def world(session):
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)
    return case, bearer(session, lead)


def conflict(engine_name: str) -> OperationalError:
    """What the database raises when it aborts a transaction for a lock conflict."""
    if engine_name == "postgresql":
        cause: Exception = psycopg.errors.DeadlockDetected("deadlock detected")
    else:
        cause = sqlite3.OperationalError("database is locked")
    return OperationalError("SELECT pg_advisory_xact_lock(%s)", (), cause)


@pytest.fixture
def abort_appends(monkeypatch, session):
    """abort_appends(n): the next n custody appends fail as if the database aborted their
    transaction; calls holds how many appends were attempted."""
    real = custody_log_state.take_lock
    calls: list[int] = []
    failures = [0]

    def arm(count: int) -> list[int]:
        failures[0] = count

        def flaky(db_session):
            calls.append(1)
            if failures[0] > 0:
                failures[0] -= 1
                raise conflict(db_session.get_bind().dialect.name)
            return real(db_session)

        monkeypatch.setattr(custody_log_state, "take_lock", flaky)
        return calls

    return arm


def counts(session):
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Evidence)),
        session.scalar(select(func.count()).select_from(CustodyEntry)
                       .where(CustodyEntry.action == CustodyAction.INTAKE)),
    )


def stored_blobs(app):
    from casefile import request_scope  # noqa: PLC0415

    return set(request_scope.blobs(app).blob_ids())


def test_is_transient_knows_deadlocks_serialization_failures_and_a_locked_sqlite():
    assert retry.is_transient(conflict("postgresql"))
    assert retry.is_transient(conflict("sqlite"))
    serialization = psycopg.errors.SerializationFailure("could not serialize access")
    assert retry.is_transient(OperationalError("UPDATE", (), serialization))
    # A constraint, a lost connection or a bug are not replayed.
    unique = psycopg.errors.UniqueViolation("duplicate key")
    assert not retry.is_transient(OperationalError("INSERT", (), unique))
    missing = sqlite3.OperationalError("no such table")
    assert not retry.is_transient(OperationalError("SELECT", (), missing))
    lost = OperationalError("SELECT", (), psycopg.errors.DeadlockDetected("x"),
                            connection_invalidated=True)
    assert not retry.is_transient(lost)
    assert not retry.is_transient(RuntimeError("deadlock detected"))


def test_run_replays_a_bounded_number_of_times_then_raises_busy(session):
    attempts: list[int] = []

    def always():
        attempts.append(1)
        raise conflict(session.get_bind().dialect.name)

    with pytest.raises(Busy) as raised:
        retry.run(session, always)
    assert len(attempts) == retry.ATTEMPTS
    assert answer_for(raised.value).status == 503
    assert answer_for(raised.value).code == "busy"

    def not_transient():
        attempts.append(1)
        raise OperationalError("INSERT", (), psycopg.errors.UniqueViolation("duplicate key"))

    attempts.clear()
    with pytest.raises(OperationalError):
        retry.run(session, not_transient)
    assert len(attempts) == 1


def test_an_upload_aborted_once_is_replayed_and_registered_once(client, app, session, world,
                                                               abort_appends):
    case, headers = world
    calls = abort_appends(1)
    response = upload(client, case.id, headers, b"the replayed upload", filename="a.txt")
    assert response.status_code == 201, response.get_json()
    assert len(calls) == 2  # the aborted attempt and its replay
    assert counts(session) == (1, 1)  # one item, one intake entry: no duplicate
    item_id = response.get_json()["id"]
    content = client.get(f"/api/v1/evidence/{item_id}/content", headers=headers)
    assert content.status_code == 200
    assert content.data == b"the replayed upload"
    seqs = list(session.scalars(select(CustodyEntry.seq).order_by(CustodyEntry.seq)))
    assert seqs == list(range(len(seqs)))


def test_an_upload_aborted_every_time_is_503_busy_and_leaves_nothing(client, app, session, world,
                                                                     abort_appends):
    case, headers = world
    before = counts(session)
    blobs_before = stored_blobs(app)
    calls = abort_appends(retry.ATTEMPTS)
    response = upload(client, case.id, headers, b"never registered", filename="b.txt")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.get_json()["error"]["code"] == "busy"
    assert "deadlock" not in response.get_data(as_text=True).lower()
    assert "locked" not in response.get_data(as_text=True).lower()
    assert len(calls) == retry.ATTEMPTS
    assert counts(session) == before
    assert stored_blobs(app) == blobs_before  # the received blob was removed
    # The same request a moment later succeeds.
    again = upload(client, case.id, headers, b"never registered", filename="b.txt")
    assert again.status_code == 201


def test_a_download_aborted_once_is_replayed(client, session, world, abort_appends):
    case, headers = world
    item_id = upload(client, case.id, headers, b"download me").get_json()["id"]
    abort_appends(1)
    response = client.get(f"/api/v1/evidence/{item_id}/content", headers=headers)
    assert response.status_code == 200
    assert response.data == b"download me"
    downloads = session.scalar(select(func.count()).select_from(CustodyEntry)
                               .where(CustodyEntry.action == CustodyAction.DOWNLOADED))
    assert downloads == 1


def test_a_conflict_outside_a_retried_transaction_is_503_not_500(client, session, world,
                                                                 monkeypatch):
    case, headers = world

    def aborted(*_args, **_kwargs):
        raise conflict(session.get_bind().dialect.name)

    monkeypatch.setattr(listing, "list_items", aborted)
    response = client.get(f"/api/v1/cases/{case.id}/evidence", headers=headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.get_json()["error"]["code"] == "busy"


def test_a_busy_page_in_the_browser_is_503_with_retry_after(client, session, world,
                                                           monkeypatch):
    case, _ = world
    sign_in(client, "lead@example.org")

    def aborted(*_args, **_kwargs):
        raise conflict(session.get_bind().dialect.name)

    monkeypatch.setattr(authz, "authorize_case", aborted)
    response = client.get(f"/cases/{case.id}")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.mimetype == "text/html"
    assert "The database is busy" in response.get_data(as_text=True)


def test_the_command_line_says_busy_in_one_line_and_exits_1(tmp_path, fresh_database_url,
                                                           monkeypatch):
    env = {
        "CASEFILE_INSTANCE": str(tmp_path / "instance"),
        "CASEFILE_DATABASE_URL": fresh_database_url,
        "CASEFILE_STORAGE_URL": (tmp_path / "storage").as_uri(),
        "CASEFILE_CONFIG": "",
    }
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    signed: list[int] = []

    def aborted(db_session, _keys):
        signed.append(1)
        raise conflict(db_session.get_bind().dialect.name)

    monkeypatch.setattr(custody_checkpoints, "make_checkpoint", aborted)
    result = runner.invoke(main, ["custody", "checkpoint"], env=env)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "casefile: the database is busy; send the request again in a moment"
    ]
    assert len(signed) == retry.ATTEMPTS
