"""Uploading bytes that a restricted item already holds reveals nothing of that item to a
submitter without a grant: the submission becomes an item of its own, sharing the blob."""

from __future__ import annotations

import io
import json
import secrets
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from casefile import request_scope
from casefile.logic.evidence import scrub
from casefile.logic.evidence.ingest import sha256s_in_case
from casefile.model import CustodyAction, CustodyEntry, Evidence, Role, User
from tests.api.test_tus import TUS, metadata, send
from tests.factories import add_member, bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def settings(settings_on_each_store):
    """On the local store and on S3."""
    return settings_on_each_store


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    lawyer = make_user(session, "lawyer@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, lawyer, Role.LAWYER)
    world = SimpleNamespace(
        case=case,
        lead=bearer(session, lead),
        investigator=bearer(session, investigator),
        lawyer=bearer(session, lawyer),
        content=b"statement of witness W-17, address withheld\n" + secrets.token_bytes(64),
    )
    response = upload(client, world, "investigator", "w17-statement.txt", sensitivity="restricted",
                      title="Statement of W-17")
    assert response.status_code == 201
    world.hidden = response.get_json()
    return world


def upload(client, world, who, filename, content=None, **fields):
    data = {**fields, "file": (io.BytesIO(world.content if content is None else content), filename)}
    return client.post(f"/api/v1/cases/{world.case.id}/evidence", headers=getattr(world, who),
                       data=data, content_type="multipart/form-data")


def leaks(text: str, hidden: dict) -> list[str]:
    """Which of the hidden item's identifying values appear in `text`."""
    return [value for value in (hidden["id"], hidden["ern"], "w17-statement", "Statement of W-17")
            if value in text]


def run_scrub(app, session):
    with app.app_context():
        return scrub.scrub(session, store=request_scope.blobs(app),
                           keyring=lambda: request_scope.keyring(app))


def test_a_submitter_without_a_grant_gets_an_item_of_their_own(client, world, session, stored):
    blobs = stored.contents()
    response = upload(client, world, "lead", "from-the-field.bin", title="Field copy")
    assert response.status_code == 201  # as for any new item: nothing says "already held"
    body = response.get_json()
    assert body["id"] != world.hidden["id"] and body["ern"] != world.hidden["ern"]
    assert "duplicate" not in body["flags"]
    assert body["title"] == "Field copy" and body["sha256"] == world.hidden["sha256"]
    assert leaks(response.get_data(as_text=True), world.hidden) == []
    assert stored.contents() == blobs  # one blob per SHA-256 per case: nothing else left

    content = client.get(f"/api/v1/evidence/{body['id']}/content", headers=world.lead)
    assert content.status_code == 200 and content.get_data() == world.content
    own = client.get(f"/api/v1/evidence/{body['id']}/custody", headers=world.lead)
    assert own.status_code == 200 and leaks(own.get_data(as_text=True), world.hidden) == []
    # The hidden item stays hidden, and its own log tells its grantees what happened.
    assert client.get(f"/api/v1/evidence/{world.hidden['id']}",
                      headers=world.lead).status_code == 404
    resubmitted = session.scalars(select(CustodyEntry).where(
        CustodyEntry.item_id == uuid.UUID(world.hidden["id"]),
        CustodyEntry.action == CustodyAction.SUBMITTED_AGAIN)).one()
    assert json.loads(resubmitted.details)["as_item"] == body["id"]


def test_a_grantee_submitting_again_is_told_it_is_held(client, world):
    again = upload(client, world, "investigator", "copy.txt")
    assert again.status_code == 200
    assert again.get_json()["id"] == world.hidden["id"]
    assert "duplicate" in again.get_json()["flags"]


def test_the_third_submission_links_to_the_item_its_submitter_can_see(client, world, session):
    first = upload(client, world, "lead", "a.bin").get_json()
    second = upload(client, world, "lead", "b.bin")
    assert second.status_code == 200 and second.get_json()["id"] == first["id"]
    other = upload(client, world, "lawyer", "c.bin")
    assert other.status_code == 200 and other.get_json()["id"] == first["id"]
    assert session.scalar(select(func.count()).select_from(Evidence)) == 2


def test_deleting_the_submission_keeps_the_hidden_items_blob(app, client, world, session,
                                                               stored):
    shared = upload(client, world, "lead", "field.bin").get_json()
    blob = stored.raw(world.hidden["id"])
    deleted = client.delete(f"/api/v1/evidence/{shared['id']}", headers=world.lead,
                            json={"reason": "entered by mistake"})
    assert deleted.status_code == 200, deleted.get_json()
    assert stored.raw(world.hidden["id"]) == blob
    held = client.get(f"/api/v1/evidence/{world.hidden['id']}/content",
                      headers=world.investigator)
    assert held.get_data() == world.content
    report = run_scrub(app, session)
    assert (report.failures, report.orphans, report.ok) == ([], [], 1)
    # The shredded submission's key is gone; the hidden item's never was.
    assert session.get(Evidence, uuid.UUID(shared["id"])).wrapped_key is None


def test_the_blob_goes_with_the_last_item_that_reads_it(app, client, world, session, stored):
    shared = upload(client, world, "lead", "field.bin").get_json()
    session.execute(  # the lead is given the restricted item, as a lead's colleague would do
        Evidence.__table__.update()
        .where(Evidence.id == uuid.UUID(world.hidden["id"]))
        .values(sensitivity="standard")
    )
    session.commit()
    assert client.delete(f"/api/v1/evidence/{world.hidden['id']}", headers=world.lead,
                         json={"reason": "witness withdrew"}).status_code == 200
    assert stored.contents() != []  # the shared item still reads it
    content = client.get(f"/api/v1/evidence/{shared['id']}/content", headers=world.lead)
    assert content.get_data() == world.content
    report = run_scrub(app, session)
    assert report.failures == [] and report.orphans == [] and report.ok == 1
    assert client.delete(f"/api/v1/evidence/{shared['id']}", headers=world.lead,
                         json={"reason": "no longer needed"}).status_code == 200
    assert stored.contents() == []


def test_tus_completion_reveals_nothing_either(client, world, session):
    headers = {**TUS, **world.lead, "Upload-Length": str(len(world.content)),
               "Upload-Metadata": metadata(filename="field.bin")}
    url = client.post(f"/api/v1/cases/{world.case.id}/uploads", headers=headers).headers["Location"]
    done = send(client, world, url, 0, world.content, who="lead")
    assert done.status_code == 204
    assert done.headers["X-Casefile-Evidence"] != world.hidden["id"]
    assert "X-Casefile-Duplicate" not in done.headers
    item = client.get(f"/api/v1/evidence/{done.headers['X-Casefile-Evidence']}",
                      headers=world.lead)
    assert item.status_code == 200 and leaks(item.get_data(as_text=True), world.hidden) == []


def test_bulk_ingest_does_not_skip_what_its_runner_cannot_see(world, session):
    """`casefile ingest` skips files already in the case: only those its runner may see."""
    def runner(email):
        return session.scalars(select(User).where(User.email == email)).one()

    digest = world.hidden["sha256"]
    assert sha256s_in_case(session, runner("lead@example.org"), world.case.id, [digest]) == set()
    assert sha256s_in_case(session, runner("investigator@example.org"), world.case.id,
                           [digest]) == {digest}
