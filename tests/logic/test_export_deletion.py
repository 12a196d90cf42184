"""An item deleted while an export holding it runs: the run publishes nothing (no blob left,
no `exported` entries, the export failed naming the item), whether the deletion found the
export (it marks it failed: the run finds its row taken) or not (the run checks again under
the custody lock before it publishes). Real commits across sessions, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from casefile import create_app, request_scope
from casefile.logic.evidence import deletion, registration
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.submission import EvidenceInput
from casefile.logic.export import jobs as export_jobs
from casefile.logic.filings import exhibits, filings
from casefile.model import CustodyAction, CustodyEntry, Evidence, Export, ExportStatus, User
from tests.bundle import fakes
from tests.factories import make_case, make_settings, make_user
from tests.web.test_auth_web import cheap_password_hashes


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def app(tmp_path, fresh_database_url):
    made = create_app(make_settings(tmp_path, database_url_override=fresh_database_url))
    yield made
    request_scope.database(made).engine.dispose()


@pytest.fixture
def seeded(app):
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
        export = export_jobs.request_export(session, lead, filing.id, store=store,
                                            keyring=keyring)
        session.commit()
        return {"lead_id": lead.id, "export_id": export.id,
                "items": [(item.id, item.ern) for item in items]}


def run_deleting_midway(app, seeded, item_id):
    """Run the export; when it reaches the exhibits, delete `item_id` in another session."""
    store, keyring = request_scope.blobs(app), request_scope.keyring(app)
    database = request_scope.database(app)
    fired = []

    def on_progress(done, total, stage):
        del done, total
        if stage != "exhibits" or fired:
            return
        fired.append(stage)
        with database.sessions() as other:
            lead = other.get_one(User, seeded["lead_id"])
            deletion.delete_item(other, lead, item_id,
                                 deletion.DeletionInput(reason="withdrawn by the source"),
                                 store=store)

    with app.app_context(), database.sessions() as session:
        status = export_jobs.run_export(session, seeded["export_id"],
                                        keys=request_scope.custody_keys(app),
                                        keyring=keyring, store=store, on_progress=on_progress)
    assert fired
    return status


def outcome(app, seeded):
    with request_scope.database(app).sessions() as session:
        export = session.get_one(Export, seeded["export_id"])
        exported = session.scalars(select(CustodyEntry).where(
            CustodyEntry.action == CustodyAction.EXPORTED)).all()
        deleted = session.get_one(Evidence, seeded["items"][0][0])
        session.expunge_all()
        return export, exported, deleted


def test_a_deletion_during_the_run_fails_it_and_nothing_is_published(app, seeded):
    item_id, ern = seeded["items"][0]
    # Its row taken, the run stops at its next progress write.
    assert run_deleting_midway(app, seeded, item_id) is None
    export, exported, deleted = outcome(app, seeded)
    assert deleted.status.value == "deleted"
    assert export.status == ExportStatus.FAILED
    assert f"{ern} was deleted while this export" in export.error
    # Not a failed integrity check of the deleted item's shredded blob: a deletion is no
    # tampering, and the log does not say otherwise.
    with request_scope.database(app).sessions() as session:
        assert not session.scalars(select(CustodyEntry).where(
            CustodyEntry.action == CustodyAction.INTEGRITY_FAILURE)).all()
    assert export.blob_id is None and export.wrapped_key is None
    assert exported == []
    store = request_scope.blobs(app)
    # Nothing of the run stays in the store: only the second item's blob is left.
    assert list(store.blob_ids()) == [_blob_of(app, seeded["items"][1][0])]
    assert list(store.leftovers()) == []


def test_a_run_checks_again_before_it_publishes(app, seeded, monkeypatch):
    """A deletion committed after the bundle was written, that did not see the export (as
    if it was not yet recorded as holding the item): the finishing transaction finds the
    item deleted and publishes nothing."""
    monkeypatch.setattr(deletion, "exports_holding", lambda *_, **__: [], raising=False)
    item_id, ern = seeded["items"][0]
    store = request_scope.blobs(app)
    finish = export_jobs._finish

    def deleting_first(*args, **kwargs):
        with request_scope.database(app).sessions() as other:
            lead = other.get_one(User, seeded["lead_id"])
            deletion.delete_item(other, lead, item_id,
                                 deletion.DeletionInput(reason="withdrawn by the source"),
                                 store=store)
        return finish(*args, **kwargs)

    monkeypatch.setattr(export_jobs, "_finish", deleting_first)
    with app.app_context(), request_scope.database(app).sessions() as session:
        status = export_jobs.run_export(session, seeded["export_id"],
                                        keys=request_scope.custody_keys(app),
                                        keyring=request_scope.keyring(app), store=store)
    assert status == ExportStatus.FAILED
    export, exported, _ = outcome(app, seeded)
    assert export.status == ExportStatus.FAILED
    assert f"{ern} was deleted while this export was being made" in export.error
    assert export.blob_id is None and export.wrapped_key is None
    assert exported == []
    assert list(store.blob_ids()) == [_blob_of(app, seeded["items"][1][0])]


def _blob_of(app, item_id: uuid.UUID) -> str:
    with request_scope.database(app).sessions() as session:
        return session.get_one(Evidence, item_id).blob_id
