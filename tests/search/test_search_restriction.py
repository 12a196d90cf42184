"""Restricting an item after intake, and lifting the restriction, keep its search document in
step (on both databases): once restricted, members without a grant find nothing of it and the
index holds none of its words; once lifted, it is found by its words again, with the text
extracted from its file. And whatever the index row says, search never opens a restricted
item's sealed title or text for a caller without a grant."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from casefile.model import Evidence, SearchBlindTerm, SearchBody, SearchDocument
from tests.api.test_sealed_metadata import leaks
from tests.search import test_search_api
from tests.search.test_search_api import find, ids

_cheap_hashes, world = test_search_api._cheap_hashes, test_search_api.world
TEXT = b"Interview transcript\nThe soldiers came to Inn Din before dawn.\n"


def bulk(world, headers, body):
    return world.client.post(f"/api/v1/cases/{world.case.id}/evidence/bulk", headers=headers,
                             json=body)


def restrict(world, item_id):
    body = {"action": "set_sensitivity", "ids": [item_id], "sensitivity": "restricted"}
    response = bulk(world, world.investigator, body)
    assert response.status_code == 200, response.get_json()


def document(world, item_id) -> SearchDocument:
    world.session.expire_all()
    return world.session.scalars(select(SearchDocument).where(
        SearchDocument.doc_id == uuid.UUID(item_id))).one()


@pytest.fixture
def witness(world):
    return world.add(TEXT, filename="statement.txt", content_type="text/plain",
                     title="Statement of Daw Khin witness", description="seen at the jetty",
                     collected_by="Ko Zaw Lin")


def test_restricting_an_item_takes_its_words_out_of_search(world, witness):
    assert ids(find(world, world.viewer, "Khin")) == [witness["id"]]
    restrict(world, witness["id"])
    assert world.client.get(f"/api/v1/evidence/{witness['id']}",
                            headers=world.viewer).status_code == 404
    for query in ("Khin", "jetty", "soldiers", "Zaw Lin", "statement"):
        for headers in (world.viewer, world.lead):
            assert find(world, headers, query)["results"] == [], query
    # The investigator who restricted it holds a grant: found blindly, shown in full.
    [result] = find(world, world.investigator, "Khin")["results"]
    assert result["title"] == "Statement of Daw Khin witness"
    assert ids(find(world, world.investigator, "soldiers dawn")) == [witness["id"]]
    row = document(world, witness["id"])
    assert row.restricted
    assert world.session.get(SearchBody, row.id) is None
    assert world.session.scalars(select(SearchBlindTerm).where(
        SearchBlindTerm.document_id == row.id)).first() is not None
    found = leaks(world.session, ["Daw Khin", "jetty", "soldiers came", "Zaw Lin"])
    # SQLite's FTS5 shadow tables are a matter of their own (tests/search/test_fts_purge.py).
    assert [hit for hit in found if not hit[0].startswith("search_fts")] == []


def test_lifting_a_restriction_indexes_the_item_again_with_its_extracted_text(world, witness):
    restrict(world, witness["id"])
    assert world.client.post(f"/api/v1/evidence/{witness['id']}/grants",
                             headers=world.investigator,
                             json={"email": "lead@example.org"}).status_code == 201
    lift = {"action": "set_sensitivity", "ids": [witness["id"]], "sensitivity": "standard"}
    assert bulk(world, world.lead, lift).status_code == 200
    world.session.expire_all()
    item = world.session.get(Evidence, uuid.UUID(witness["id"]))
    assert item.sealed_metadata is None
    assert "soldiers came to Inn Din" in (item.extracted_text or "")
    row = document(world, witness["id"])
    assert not row.restricted
    assert world.session.scalars(select(SearchBlindTerm).where(
        SearchBlindTerm.document_id == row.id)).first() is None
    for query in ("Khin", "soldiers dawn", "Zaw Lin"):
        assert ids(find(world, world.viewer, query)) == [witness["id"]], query


def test_search_never_shows_a_restricted_item_to_a_caller_without_a_grant(world):
    hidden = world.add(title="Statement of Daw Khin witness", sensitivity="restricted")
    world.add(title="Khin photo")
    # An index row wrongly flagged standard (damaged, or written by an older version) that
    # still holds the item's terms: the item stays out of the results of a non-grantee.
    row = document(world, hidden["id"])
    world.session.execute(update(SearchDocument).where(SearchDocument.id == row.id)
                          .values(restricted=False))
    world.session.add(SearchBody(document_id=row.id, body=document_body(world, "Daw Khin")))
    world.session.commit()
    for headers in (world.viewer, world.lead):
        body = find(world, headers, "Khin")
        assert hidden["id"] not in ids(body)
        assert "Daw Khin witness" not in str(body)
    assert hidden["id"] in ids(find(world, world.investigator, "Khin"))


def document_body(world, text):
    from casefile.logic.search import terms  # noqa: PLC0415

    return terms.body([text])


def test_a_cursor_of_the_wrong_types_is_refused_not_a_500(world):
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415

    crafted = base64.urlsafe_b64encode(json.dumps(["2020-01-01", 1]).encode()).decode()
    body = find(world, world.viewer, "arson", expect=422, cursor=crafted)
    assert body["error"]["code"] == "validation_error"
    response = world.client.get(f"/api/v1/cases/{world.case.id}/incidents",
                                query_string={"cursor": crafted}, headers=world.viewer)
    assert response.status_code == 422
