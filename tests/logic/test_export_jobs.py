"""Export jobs through huey's real consumer and SqliteHuey (a database of their own: the
consumer's threads commit on their own connections, SQLite and PostgreSQL): a queued job
survives a restart (a new app and consumer on the same queue file finish it), a run that died
midway is found (its heartbeat stopped), its half-written blob removed and the job run again,
a job that keeps dying ends failed, and a job enqueued twice runs once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid

import pytest
from sqlalchemy import select

from casefile import create_app, jobs, request_scope
from casefile.logic.evidence import registration
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.submission import EvidenceInput
from casefile.logic.export import jobs as export_jobs
from casefile.logic.filings import exhibits, filings
from casefile.model import CustodyAction, CustodyEntry, Export, ExportStatus
from casefile.verifier import bundle_verifier
from tests.bundle import fakes
from tests.factories import make_case, make_settings, make_user
from tests.web.test_auth_web import cheap_password_hashes
from tests.web.test_throttle_redis import redis_url  # noqa: F401 - the fixture (skips without)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


_APPS: list = []


def new_app(settings):
    """A server process as `casefile serve` makes it: its own app, database engine and queue
    (SqliteHuey in the instance folder, not in immediate mode)."""
    app = create_app(settings)
    jobs.init_app(app, settings, immediate=False)
    _APPS.append(app)
    return app


@pytest.fixture(autouse=True)
def _dispose_engines():
    yield
    while _APPS:
        request_scope.database(_APPS.pop()).engine.dispose()


@pytest.fixture
def settings(tmp_path, fresh_database_url):
    return make_settings(tmp_path, database_url_override=fresh_database_url)


@pytest.fixture
def seeded(settings):
    """A lead, an ICC case with a PDF and an image, a filing holding both."""
    app = new_app(settings)
    store, keyring = request_scope.blobs(app), request_scope.keyring(app)
    with app.app_context(), request_scope.database(app).sessions() as session:
        lead = make_user(session, "lead@example.org")
        case = make_case(session, lead)
        items = []
        for name, content in (("statement.pdf", fakes.three_page_pdf()),
                              ("map.png", fakes.png())):
            stream = IntakeStream(store, keyring)
            stream.write(content)
            items.append(registration.register_upload(
                session, lead, case.id, stream.finish(), EvidenceInput(title=name),
                filename=name, declared_mime=None, store=store, keyring=keyring).item)
        filing = filings.create_filing(session, lead, case.id, filings.FilingInput(
            title="Article 15 communication", type="article_15_communication",
            classification="public"))
        for item in items:
            exhibits.add_exhibit(session, lead, filing.id,
                                 exhibits.ExhibitInput(evidence_id=item.id))
        session.commit()
        return {"lead_id": lead.id, "filing_id": filing.id}


def ask(app, seeded) -> uuid.UUID:
    with app.app_context(), request_scope.database(app).sessions() as session:
        from casefile.model import User  # noqa: PLC0415

        lead = session.get_one(User, seeded["lead_id"])
        export = export_jobs.request_export(
            session, lead, seeded["filing_id"], store=request_scope.blobs(app),
            keyring=request_scope.keyring(app))
        session.commit()
        return export.id


def row(app, export_id) -> Export:
    with request_scope.database(app).sessions() as session:
        found = session.get_one(Export, export_id)
        session.expunge(found)
        return found


def wait_for(app, export_id, statuses, seconds=120.0) -> Export:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = row(app, export_id)
        if found.status in statuses:
            return found
        time.sleep(0.2)
    raise AssertionError(f"export {export_id} is still {row(app, export_id).status}")


def exported_entries(app, export_id) -> list[CustodyEntry]:
    with request_scope.database(app).sessions() as session:
        entries = session.scalars(select(CustodyEntry).where(
            CustodyEntry.action == CustodyAction.EXPORTED)).all()
        return [entry for entry in entries if str(export_id) in entry.details]


def download_verifies(app, seeded, export_id, tmp_path) -> None:
    with app.app_context(), request_scope.database(app).sessions() as session:
        from casefile.model import User  # noqa: PLC0415

        lead = session.get_one(User, seeded["lead_id"])
        _, chunks = export_jobs.open_download(
            session, lead, export_id, store=request_scope.blobs(app),
            keyring=request_scope.keyring(app))
        path = tmp_path / f"{export_id}.zip"
        path.write_bytes(b"".join(chunks))
    key = request_scope.custody_keys(app).verifier_key
    report = bundle_verifier.verify(path, key)
    assert report.valid, report.problems


def test_a_queued_job_survives_a_restart(settings, seeded, tmp_path):
    first = new_app(settings)
    export_id = ask(first, seeded)
    jobs.jobs(first).enqueue_export(export_id)  # in the queue file; no consumer runs
    time.sleep(0.5)
    assert row(first, export_id).status == ExportStatus.QUEUED
    request_scope.database(first).engine.dispose()
    del first  # the process stops

    second = new_app(settings)  # the next start: the same instance folder and queue
    consumer = jobs.jobs(second).consumer(in_thread=True)
    consumer.start()
    try:
        done = wait_for(second, export_id, {ExportStatus.DONE, ExportStatus.FAILED})
    finally:
        consumer.stop(graceful=True)
    assert done.status == ExportStatus.DONE, done.error
    assert done.attempts == 1 and done.progress_done == done.progress_total == 2
    assert len(exported_entries(second, export_id)) == 2
    download_verifies(second, seeded, export_id, tmp_path)


def test_a_run_that_died_midway_is_cleaned_up_and_run_again(settings, seeded, tmp_path):
    first = new_app(settings)
    export_id = ask(first, seeded)
    store = request_scope.blobs(first)
    # A run starts and dies while writing: its row says running, its blob is half written
    # under a temporary name, its heartbeat stops.
    with request_scope.database(first).sessions() as session:
        run = export_jobs._claim(session, export_id)
    half = store.writer(run.blob_id)
    half.write(b"\x00" * 4096)
    assert list(store.leftovers())
    with request_scope.database(first).sessions() as session:
        export = session.get_one(Export, export_id)
        export.heartbeat_at = export.heartbeat_at - dt.timedelta(minutes=10)
        session.commit()
    request_scope.database(first).engine.dispose()

    second = new_app(settings)
    consumer = jobs.start_embedded(second, stale=dt.timedelta(minutes=5))
    try:
        done = wait_for(second, export_id, {ExportStatus.DONE, ExportStatus.FAILED})
    finally:
        consumer.stop(graceful=True)
    assert done.status == ExportStatus.DONE, done.error
    assert done.attempts == 2 and done.blob_id != run.blob_id
    assert list(store.leftovers()) == []  # the half-written blob is gone
    assert not store.exists(run.blob_id)
    assert len(exported_entries(second, export_id)) == 2
    download_verifies(second, seeded, export_id, tmp_path)


def test_a_recent_run_is_left_alone_and_a_job_that_keeps_dying_fails(settings, seeded):
    app = new_app(settings)
    export_id = ask(app, seeded)
    database = request_scope.database(app)
    with database.sessions() as session:
        export_jobs._claim(session, export_id)
        # Its heartbeat is fresh: it may be alive on another worker.
        assert export_jobs.recover(session, request_scope.blobs(app),
                                   stale=dt.timedelta(minutes=5)) == []
        assert session.get_one(Export, export_id).status == ExportStatus.RUNNING
        for _ in range(export_jobs.MAX_ATTEMPTS - 1):
            queued = export_jobs.recover(session, request_scope.blobs(app), stale=dt.timedelta(0))
            assert queued == [export_id]
            export_jobs._claim(session, export_id)
        assert export_jobs.recover(session, request_scope.blobs(app),
                                   stale=dt.timedelta(0)) == []
        export = session.get_one(Export, export_id)
        session.refresh(export)
        assert export.status == ExportStatus.FAILED
        assert "stopped 3 times" in export.error and export.blob_id is None


def test_a_job_enqueued_twice_runs_once(settings, seeded):
    app = new_app(settings)
    export_id = ask(app, seeded)
    database = request_scope.database(app)
    kwargs = {"keys": request_scope.custody_keys(app), "keyring": request_scope.keyring(app),
              "store": request_scope.blobs(app)}
    with app.app_context(), database.sessions() as session:
        assert export_jobs.run_export(session, export_id, **kwargs) == ExportStatus.DONE
        assert export_jobs.run_export(session, export_id, **kwargs) is None
    assert len(exported_entries(app, export_id)) == 2


def test_the_redis_queue_carries_a_job_to_another_process(
    settings, seeded, tmp_path, redis_url  # noqa: F811 - the fixture imported above
):
    """queue.backend "redis": the job enqueued by one app is run by another's consumer (what
    `casefile worker` processes do), through RedisHuey."""
    url = redis_url.rstrip("/") + "/13"  # a database of its own on the shared server
    on_redis = dataclasses.replace(settings, queue_backend="redis", queue_redis_url=url)
    server = new_app(on_redis)
    jobs.jobs(server).huey.flush()
    export_id = ask(server, seeded)
    jobs.jobs(server).enqueue_export(export_id)
    assert row(server, export_id).status == ExportStatus.QUEUED
    worker = new_app(on_redis)
    consumer = jobs.jobs(worker).consumer(in_thread=True)
    consumer.start()
    try:
        done = wait_for(worker, export_id, {ExportStatus.DONE, ExportStatus.FAILED})
    finally:
        consumer.stop(graceful=True)
        jobs.jobs(worker).huey.flush()
    assert done.status == ExportStatus.DONE, done.error
    download_verifies(worker, seeded, export_id, tmp_path)


def test_queue_messages_are_signed_and_unsigned_ones_are_refused(settings):
    """huey unpickles what it reads from the queue: a message not signed with the key
    derived from the app's secret key (written by someone who can reach Redis or the queue
    file but holds no secret) is refused before it is unpickled."""
    import pickle  # noqa: PLC0415

    app = new_app(settings)
    huey = jobs.jobs(app).huey
    message = huey.serializer.serialize(("any", "message"))
    assert huey.serializer.deserialize(message) == ("any", "message")
    forged = pickle.dumps(("any", "message"))
    for data in (forged, forged + b":" + b"0" * 40, message.replace(b"message", b"massage")):
        with pytest.raises(ValueError, match=r"Separator|mismatch"):
            huey.serializer.deserialize(data)
    other = create_app(dataclasses.replace(settings, secret_key="another instance's key"))
    jobs.init_app(other, settings, immediate=False)
    _APPS.append(other)
    with pytest.raises(ValueError, match="mismatch"):
        jobs.jobs(other).huey.serializer.deserialize(message)


def test_recover_enqueues_only_exports_that_waited_and_records_when(settings, seeded):
    """`recover` runs every minute in every consumer: a queued export asked for moments ago is
    in the queue already and is not enqueued again; one that has waited REQUEUE_AFTER (its
    message lost) is enqueued once, `enqueued_at` says when, and the next minute's recover
    leaves it alone until it has waited again. The embedded queue (SqliteHuey) holds exactly
    what was enqueued."""
    app = new_app(settings)
    queue = jobs.jobs(app)
    export_id = ask(app, seeded)  # asked for; its message is not sent (as if lost)
    queue.huey.flush()
    assert queue.recover(dt.timedelta(minutes=5)) == []
    assert queue.huey.pending_count() == 0
    assert row(app, export_id).enqueued_at is None
    with request_scope.database(app).sessions() as session:
        export = session.get_one(Export, export_id)
        export.created_at = export.created_at - export_jobs.REQUEUE_AFTER - dt.timedelta(seconds=5)
        session.commit()
    before = export_jobs.utcnow()
    assert queue.recover(dt.timedelta(minutes=5)) == [export_id]
    assert queue.huey.pending_count() == 1
    enqueued_at = row(app, export_id).enqueued_at
    assert enqueued_at is not None and enqueued_at >= before
    for _ in range(3):  # the following minutes: not again while it waits in the queue
        assert queue.recover(dt.timedelta(minutes=5)) == []
    assert queue.huey.pending_count() == 1
    with request_scope.database(app).sessions() as session:
        export = session.get_one(Export, export_id)
        export.enqueued_at -= export_jobs.REQUEUE_AFTER + dt.timedelta(seconds=1)
        session.commit()
    assert queue.recover(dt.timedelta(minutes=5)) == [export_id]  # waited again: once more
    assert queue.huey.pending_count() == 2
    consumer = queue.consumer(in_thread=True)
    consumer.start()
    try:
        done = wait_for(app, export_id, {ExportStatus.DONE, ExportStatus.FAILED})
    finally:
        consumer.stop(graceful=True)
    assert done.status == ExportStatus.DONE, done.error
    assert done.attempts == 1  # enqueued twice, run once
    assert queue.recover(dt.timedelta(minutes=5)) == []


@pytest.mark.parametrize("reports", ["ahead", "behind"])
def test_progress_never_goes_back_and_seals_after_the_last_bytes(reports):
    """The export's progress as the writer takes its sources: custody reports taken ahead of
    the bytes (the helpers lay them out early) or behind them never move the count back nor
    show "sealing" before the last exhibit's bytes are all taken."""
    plan, sources, _ = fakes.plan_and_sources()
    seen: list[tuple[int, str]] = []
    watched = export_jobs._reporting(  # the writer's view of its sources
        sources, plan.exhibits, lambda done, stage, **_: seen.append((done, stage))
    )
    if reports == "ahead":
        for exhibit in plan.exhibits:
            watched.custody_report(exhibit)
    for number, exhibit in enumerate(plan.exhibits):
        for _ in watched.content(exhibit):
            assert "sealing" not in {stage for _, stage in seen}
        if reports == "behind":
            watched.custody_report(exhibit)
        if number + 1 < len(plan.exhibits):
            assert seen[-1][1] == "exhibits"
    assert seen[-1] == (len(plan.exhibits), "sealing")
    counts = [done for done, _ in seen]
    assert counts == sorted(counts)
    stages = [stage for _, stage in seen]
    assert stages == sorted(stages, key=["exhibits", "sealing"].index)
