"""logic/filings called directly: numbering, language names, PDF page counts, refusals that
leave nothing behind, and a reorder to the same order that records nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from casefile.logic.errors import Conflict, Forbidden, NotFound, ValidationFailed
from casefile.logic.filings import exhibits, filings, warnings
from casefile.logic.filings.exhibits import ExhibitInput, ExhibitOrder
from casefile.logic.filings.filings import FilingInput, FilingPatch
from casefile.model import CustodyEntry, Evidence, EvidenceStatus, Exhibit, Filing, Forum, Role
from casefile.vault import pdf_pages
from tests.api.test_evidence_api import upload
from tests.api.test_filings_api import make_forum_case, pdf_of
from tests.factories import add_member, bearer, make_user


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    case = make_forum_case(session, lead, Forum.ICJ)
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    headers = bearer(session, lead)
    ids = []
    for n in range(3):
        response = upload(client, case.id, headers, f"annex {n}".encode(), filename=f"{n}.txt")
        assert response.status_code == 201
        ids.append(uuid.UUID(response.get_json()["id"]))
    filing = filings.create_filing(
        session, lead, case.id, FilingInput(title="Memorial", type="memorial",
                                            classification="public"))  # fmt: skip
    return lead, investigator, case, filing, ids


def entries(session) -> int:
    return session.scalar(select(func.count()).select_from(CustodyEntry))


def test_numbers_follow_the_forum_or_the_filing(world, session):
    _lead, _investigator, case, filing, _ids = world
    assert [exhibits.number(filing, case, n) for n in range(2)] == ["Annex 1", "Annex 2"]
    filing.exhibit_prefix, filing.exhibit_start = "Annexe", 0
    assert exhibits.number(filing, case, 3) == "Annexe 3"
    session.rollback()


@pytest.mark.parametrize(("written", "code"), [
    ("en", "en"), ("EN-gb", "en"), ("French", "fr"), ("français", "fr"), ("Burmese", "my"),
    ("my", "my"), ("  ", None), (None, None), ("rhg", "rhg"),
])
def test_language_names_and_codes(written, code):
    assert warnings.language_code(written) == code


def test_pdf_pages_are_counted_in_the_bounded_helper():
    assert pdf_pages.count(pdf_of(3)) == 3
    with pytest.raises(pdf_pages.RenderFailed):
        pdf_pages.count(b"%PDF-1.7 not a document at all")


def test_refusals_leave_nothing_behind(world, session):
    lead, investigator, _case, filing, ids = world
    exhibits.add_exhibit(session, lead, filing.id, ExhibitInput(evidence_id=ids[0]))
    before = (entries(session), filing.exhibits_version)
    item = session.get(Evidence, ids[1])
    item.status = EvidenceStatus.DELETED
    session.commit()
    for actor, data, error in (
        (lead, ExhibitInput(evidence_id=ids[1]), Conflict),  # deleted
        (lead, ExhibitInput(evidence_id=ids[0]), Conflict),  # already an exhibit
        (lead, ExhibitInput(evidence_id=uuid.uuid4()), NotFound),
        (investigator, ExhibitInput(evidence_id=ids[2]), Forbidden),
    ):
        with pytest.raises(error):
            exhibits.add_exhibit(session, actor, filing.id, data)
        session.rollback()
    with pytest.raises(ValidationFailed):
        filings.update_filing(session, lead, filing.id, FilingPatch(type="list_of_evidence"))
    session.rollback()
    with pytest.raises(ValidationFailed):
        filings.update_filing(session, lead, filing.id, FilingPatch(classification="ex_parte"))
    session.rollback()
    session.refresh(filing)
    assert (entries(session), filing.exhibits_version) == before
    assert filing.type.value == "memorial" and filing.classification.value == "public"
    assert session.scalar(select(func.count()).select_from(Exhibit)) == 1


def test_the_same_order_records_nothing(world, session):
    lead, _investigator, _case, filing, ids = world
    for item_id in ids:
        exhibits.add_exhibit(session, lead, filing.id, ExhibitInput(evidence_id=item_id))
    session.refresh(filing)
    order = [exhibit.id for exhibit in filing.exhibits]
    before = (entries(session), filing.exhibits_version)
    exhibits.reorder_exhibits(session, lead, filing.id, ExhibitOrder(
        exhibits_version=filing.exhibits_version, exhibit_ids=order))  # fmt: skip
    session.refresh(filing)
    assert (entries(session), filing.exhibits_version) == before
    moved = exhibits.move_exhibit(session, lead, filing.id, order[0], -1)  # already first
    assert [exhibit.id for exhibit in moved.exhibits] == order
    moved = exhibits.move_exhibit(session, lead, filing.id, order[2], -1)
    assert [exhibit.id for exhibit in moved.exhibits] == [order[0], order[2], order[1]]
    assert entries(session) == before[0] + 2  # two exhibits changed number


def test_an_unchanged_patch_records_nothing(world, session):
    lead, _investigator, _case, filing, _ids = world
    before = entries(session)
    updated = filings.update_filing(session, lead, filing.id, FilingPatch(title="Memorial"))
    assert not updated.new_version and entries(session) == before
    assert session.scalar(select(func.count()).select_from(Filing)) == 1
