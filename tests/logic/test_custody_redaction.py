"""The one rule for redaction: which entries concern an item hidden from the actor."""

from __future__ import annotations

import json
import uuid

import pytest

from casefile.db import utcnow
from casefile.logic.custody.redaction import Hidden, RedactedEntry
from casefile.model import CustodyAction, CustodyEntry
from tests.restricted_custody import World, build


@pytest.fixture
def world(session, client) -> World:
    return build(session, client)


def entry(details, item_id=None) -> CustodyEntry:
    return CustodyEntry(seq=99, time=utcnow(), actor_id=None, actor_label="x",
                        action=CustodyAction.CUSTODY_TRANSFERRED, case_id=None,
                        item_id=item_id, details=json.dumps(details), leaf_hash=b"\x01" * 32)


def test_what_concerns_a_hidden_item(session, world):
    hidden = Hidden.for_case(session, world.viewer, world.case.id)
    secret_ern = world.secret["ern"]
    concealed = [
        entry({}, item_id=uuid.UUID(world.secret["id"])),
        entry({"receipt": {"id": world.secret["id"], "ern": None}}),
        entry({"reason": f"handed over with {secret_ern}, sealed"}),
        entry({"notes": [{"digest": world.secret["sha256"].upper()}]}),
        entry({world.secret["id"]: "as a key"}),
    ]
    for case in concealed:
        assert hidden.conceals(case), case.details
    shown = [
        entry({}, item_id=uuid.UUID(world.public["id"])),
        entry({"ern": world.public["ern"], "sha256": world.public["sha256"]}),
        entry({"reason": f"{secret_ern}0 is another item"}),  # a longer ERN, not this one
        entry({"reason": f"X{secret_ern}"}),
        entry({"size": len(world.secret["sha256"])}),
    ]
    for case in shown:
        assert not hidden.conceals(case), case.details


def test_grantees_have_nothing_hidden(session, world):
    for user in (world.uploader, world.grantee):
        hidden = Hidden.for_case(session, user, world.case.id)
        assert hidden.ids == frozenset() and hidden.mentions is None
        assert not hidden.conceals(entry({}, item_id=uuid.UUID(world.secret["id"])))
    lead = Hidden.for_case(session, world.lead, world.case.id)  # no grant: hidden from a lead
    assert lead.ids == {uuid.UUID(world.secret["id"])}


def test_a_redacted_entry_keeps_only_where_it_stands(session, world):
    hidden = Hidden.for_case(session, world.viewer, world.case.id)
    original = entry({"receipt": {"id": world.secret["id"]}})
    shown = hidden.show(original)
    assert isinstance(shown, RedactedEntry)
    assert set(shown.as_json()) == {"seq", "time", "leaf_hash", "redacted"}
    assert shown.as_json()["leaf_hash"] == original.leaf_hash.hex()
    assert hidden.show(entry({})) is not None and not isinstance(hidden.show(entry({})),
                                                                 RedactedEntry)


def test_filtered_pages_skip_left_out_entries_without_ending_early(session, client, world):
    """Filtered by a person, entries about a hidden item are left out; a page must still be
    full while more entries follow, or the reader could never reach them."""
    import io  # noqa: PLC0415

    from casefile.logic.custody import reports  # noqa: PLC0415

    for number in range(2):  # after the uploader's entries about the hidden item
        response = client.post(
            f"/api/v1/cases/{world.case.id}/evidence", headers=world.headers["uploader"],
            data={"file": (io.BytesIO(b"photo %d" % number), f"photo-{number}.txt")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.get_json()

    whole = reports.case_activity(
        session, world.viewer, world.case.id, actor_id=world.uploader.id, limit=500
    )
    assert whole, "the uploader's visible entries"
    paged, after = [], None
    while True:
        page = reports.case_activity(
            session, world.viewer, world.case.id, actor_id=world.uploader.id,
            after_seq=after, limit=1,
        )
        paged += page
        if len(page) < 1:
            break
        after = page[-1].seq
    assert [entry.seq for entry in paged] == [entry.seq for entry in whole]
    first = reports.case_activity(
        session, world.viewer, world.case.id, actor_id=world.uploader.id, limit=1
    )
    assert len(first) == 1  # the uploader's first entries concern the hidden item
