"""GET /api/v1/search on both databases: Burmese inside sentences, Zawgyi, restricted items
found blindly and only by grantees, scope across cases, operators as text, pagination,
filters, and the index kept in step with edits and deletion."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from casefile import request_scope
from casefile.logic.evidence import deletion, editing, metadata
from casefile.logic.evidence.deletion import DeletionInput
from casefile.logic.search import terms
from casefile.model import Evidence, Role, SearchBlindTerm, SearchBody, SearchDocument
from tests.api.test_evidence_api import png_bytes, upload
from tests.api.test_sealed_metadata import leaks
from tests.factories import add_member, bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes

SENTENCE = "စစ်တပ်ကရွာကိုမီးရှို့ခဲ့သည်"  # "The army burned the village"
ZAWGYI = "ေက်ာင္းသားမ်ား ထြက္ေျပးၾကသည္"  # "The students fled", typed in Zawgyi


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session, client):
    return build_world(session, client)


def build_world(session, client):
    """Four people, the case they share (the outsider apart), and `add` to upload an item."""
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead, title="Tula Toli")
    other = make_case(session, outsider, title="Other case")
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    world = SimpleNamespace(
        session=session, client=client, case=case, other=other,
        lead=bearer(session, lead), investigator=bearer(session, investigator),
        viewer=bearer(session, viewer), outsider=bearer(session, outsider),
        users=SimpleNamespace(lead=lead, investigator=investigator, viewer=viewer),
        keyring=request_scope.keyring(client.application),
    )

    def add(content=None, *, case_id=None, headers=None, filename="note.bin",
            content_type="application/octet-stream", **fields):
        response = upload(client, case_id or case.id, headers or world.investigator,
                          content or uuid.uuid4().bytes, filename=filename,
                          content_type=content_type, **fields)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    world.add = add
    return world


def find(world, headers, q, expect=200, **params):
    response = world.client.get("/api/v1/search", query_string={"q": q, **params},
                                headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def ids(body) -> list[str]:
    return [result["id"] for result in body["results"]]


def marked(result) -> list[str]:
    text = result["snippet"]["text"]
    return [text[start:end] for start, end in result["snippet"]["highlights"]]


def test_a_burmese_word_is_found_inside_a_sentence(world):
    item = world.add(title="Village report", description=f"{SENTENCE}။ Seen from the hill.")
    world.add(title="Unrelated", description="မီးဖို")  # မီး alone: not the word
    body = find(world, world.viewer, "မီးရှို့")
    assert ids(body) == [item["id"]]
    [result] = body["results"]
    assert (result["kind"], result["case_id"], result["title"]) == (
        "evidence", str(world.case.id), "Village report")
    assert marked(result) == ["မီးရှို့"]
    assert body["next"] is None
    # Two words, any order, both required.
    assert ids(find(world, world.viewer, "hill မီးရှို့")) == [item["id"]]
    assert ids(find(world, world.viewer, "valley မီးရှို့")) == []


def test_zawgyi_text_is_flagged_and_found_by_a_unicode_query(world):
    item = world.add(title="Witness list", description=ZAWGYI)
    plain = world.add(title="Unicode list", description="ကျောင်းသား")
    assert "zawgyi" in item["flags"] and "zawgyi" not in plain["flags"]
    found = find(world, world.viewer, "ကျောင်းသား")  # "student", Unicode
    assert sorted(ids(found)) == sorted([item["id"], plain["id"]])


def test_text_of_text_files_is_indexed(world):
    item = world.add(
        f"Interview transcript\nThe soldiers arrived at dawn. {SENTENCE}\n".encode(),
        filename="transcript.txt", content_type="text/plain", title="Transcript 4")
    [result] = find(world, world.viewer, "soldiers dawn")["results"]
    assert result["id"] == item["id"]
    assert marked(result) == ["soldiers", "dawn"]
    stored = world.session.get(Evidence, uuid.UUID(item["id"]))
    assert "soldiers arrived" in stored.extracted_text
    assert "text" not in stored.extracted  # kept apart from the metadata shown


WITNESS = {
    "title": "Statement of Ma Hla Hla",
    "description": f"Hla Hla saw the riverbank burn. {SENTENCE}",
    "collected_by": "Daw Khin Myint",
}


def test_restricted_items_are_found_only_by_grantees_and_never_stored_in_the_clear(world):
    hidden = world.add(sensitivity="restricted", **WITNESS)
    session = world.session
    # The uploader holds a grant: found by a whole word, by a Burmese word, by syllables.
    for query in ("riverbank", "Myint", "မီးရှို့", "ရွာ"):
        [result] = find(world, world.investigator, query)["results"]
        assert result["id"] == hidden["id"]
        assert result["title"] == WITNESS["title"]  # decrypted for this caller
    [result] = find(world, world.investigator, "riverbank")["results"]
    assert marked(result) == ["riverbank"] and "Hla Hla saw" in result["snippet"]["text"]
    # Syllables in another order are not the word.
    assert find(world, world.investigator, "ရှို့မီး")["results"] == []
    # Members without a grant (the lead too) and other cases' members find nothing.
    for headers in (world.viewer, world.lead, world.outsider):
        assert find(world, headers, "riverbank")["results"] == []
        assert find(world, headers, "မီးရှို့")["results"] == []
    # The index holds keyed hashes only: no word, syllable or encoded term of the item.
    document = session.scalars(select(SearchDocument).where(
        SearchDocument.doc_id == uuid.UUID(hidden["id"]))).one()
    assert document.restricted
    assert session.get(SearchBody, document.id) is None
    assert session.scalars(select(SearchBlindTerm).where(
        SearchBlindTerm.document_id == document.id)).first() is not None
    words = [*WITNESS.values(), "riverbank", "Hla Hla", "Khin Myint", "မီးရှို့", "ရှို့"]
    # Encoded terms long enough not to turn up by chance in signatures and keys ("wof").
    encoded = [terms.encode(term) for value in WITNESS.values() for term in terms.terms(value)]
    assert leaks(session, [*words, *(term for term in encoded if len(term) >= 8)]) == []


def test_hidden_items_change_nothing_a_non_grantee_sees(world):
    for number in range(3):
        world.add(title=f"Riverbank photo {number}")
    before = [find(world, world.viewer, "riverbank", limit=2)]
    before.append(find(world, world.viewer, "riverbank", limit=2, cursor=before[0]["next"]))
    world.add(sensitivity="restricted", title="Riverbank witness", description="riverbank")
    world.add(title="Riverbank photo 4", sensitivity="restricted")
    after = [find(world, world.viewer, "riverbank", limit=2)]
    after.append(find(world, world.viewer, "riverbank", limit=2, cursor=after[0]["next"]))
    assert after == before  # the same results, snippets and cursors
    assert before[1]["next"] is None


def test_scope_is_the_callers_cases(world):
    mine = world.add(title="Arson at Tula Toli")
    theirs = world.add(title="Arson elsewhere", case_id=world.other.id, headers=world.outsider)
    assert ids(find(world, world.viewer, "arson")) == [mine["id"]]
    assert ids(find(world, world.outsider, "arson")) == [theirs["id"]]
    assert ids(find(world, world.viewer, "arson", case_id=str(world.case.id))) == [mine["id"]]
    # Another case's id is "not found", as for any other route.
    body = find(world, world.viewer, "arson", expect=404, case_id=str(world.other.id))
    assert body["error"]["code"] == "not_found"
    # Authorization first: whatever else is wrong, another case is "not found".
    find(world, world.viewer, "*", expect=404, case_id=str(world.other.id), cursor="garbage")
    assert find(world, world.viewer, "arson", expect=422, case_id="nope")["error"]


@pytest.mark.parametrize(
    "query",
    ['"arson', 'arson"', "arson*", "NEAR(arson", "NEAR(arson, 2)", "title:arson",
     "arson & | ! ( )", "-arson", "^arson", "arson OR", "AND arson", "arson:*", "'arson'",
     "arson <-> village", "\\arson", "{arson}", "[arson]", "arson;", "arson%_"],
)
def test_operators_and_stray_quotes_are_text(world, query):
    item = world.add(title="Arson report")
    body = find(world, world.viewer, query)
    if query in ("arson OR", "AND arson", "arson <-> village", "NEAR(arson", "NEAR(arson, 2)",
                 "title:arson"):
        assert body["results"] == []  # "or", "and", "near", "title"...: words, all required
    else:
        assert ids(body) == [item["id"]]


@pytest.mark.parametrize("query", ["*", '"', "&|!()", ":-^", "(", "   ", "။", "<->"])
def test_only_punctuation_is_refused_with_a_clear_message(world, query):
    body = find(world, world.viewer, query, expect=422)
    assert body["error"]["code"] == "validation_error"
    assert "q" in body["error"]["message"]


def test_pages_follow_each_other_without_repeats(world):
    made = [world.add(title=f"Shelling report {n}")["id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = find(world, world.viewer, "shelling", **params)
        assert len(body["results"]) <= 2
        seen += ids(body)
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == made  # in the order received
    assert find(world, world.viewer, "shelling", expect=422, cursor="garbage")["error"]


def test_filters(world):
    photo = world.add(png_bytes(), filename="a.png", content_type="image/png",
                      title="Burned school", collected_by="Ko Aung", location="Maungdaw",
                      collected_at="2017-08-27T10:00:00+06:30")
    note = world.add(title="Burned school, notes", collected_by="Ma Thida",
                     location="Buthidaung", collected_at="2017-09-02T08:00:00+06:30")
    hidden = world.add(title="Burned school witness", collected_by="Ko Aung",
                       location="Maungdaw", collected_at="2017-08-28T10:00:00+06:30",
                       sensitivity="restricted")
    look = lambda **f: sorted(ids(find(world, world.investigator, "burned school", **f)))  # noqa: E731
    assert look() == sorted([photo["id"], note["id"], hidden["id"]])
    assert look(type="image/") == [photo["id"]]
    assert look(collector="aung") == sorted([photo["id"], hidden["id"]])
    assert look(location="buthidaung") == [note["id"]]
    assert look(collected_from="2017-08-28") == sorted([note["id"], hidden["id"]])
    assert look(collected_to="2017-08-27") == [photo["id"]]
    assert look(sensitivity="restricted") == [hidden["id"]]
    assert look(kind="incident") == []
    assert find(world, world.investigator, "x", expect=422, collected_from="27/08/2017")
    assert find(world, world.investigator, "x", expect=422, kind="tag")
    assert find(world, world.investigator, "x", expect=422, colour="red")


def test_the_index_follows_edits_and_deletion(world):
    item = world.add(title="Draft", description="nothing yet")
    item_id = uuid.UUID(item["id"])
    session = world.session
    stored = session.get(Evidence, item_id)
    version = editing.metadata_version(item_id, metadata.reveal(world.keyring, stored))
    editing.edit_metadata(
        session, world.users.investigator, item_id,
        editing.parse_edit({"version": version, "description": ZAWGYI}), keyring=world.keyring)
    assert ids(find(world, world.viewer, "ကျောင်းသား")) == [item["id"]]
    assert ids(find(world, world.viewer, "nothing")) == []
    assert "zawgyi" in session.get(Evidence, item_id, populate_existing=True).flags
    deletion.delete_item(session, world.users.lead, item_id, DeletionInput(reason="duplicate"),
                         store=request_scope.blobs(world.client.application))
    assert find(world, world.viewer, "ကျောင်းသား")["results"] == []
    assert session.scalars(select(SearchDocument).where(
        SearchDocument.doc_id == item_id)).first() is None


# --- incidents ------------------------------------------------------------------------------


def record(world, **fields):
    response = world.client.post(f"/api/v1/cases/{world.case.id}/incidents", json=fields,
                                 headers=world.investigator)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def name(world, **fields):
    response = world.client.post(f"/api/v1/cases/{world.case.id}/perpetrators", json=fields,
                                 headers=world.investigator)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def test_incidents_are_found_by_title_narrative_place_and_perpetrator(world):
    unit = name(world, name="Light Infantry Division 33", kind="unit",
                affiliation="Tatmadaw")
    incident = record(
        world, title="Clearance of Tula Toli", narrative=f"{SENTENCE}။ Many fled to the river.",
        start_date="2017-08-30", end_date="2017-08-31",
        location={"place": "Tula Toli", "country": "Bangladesh"},
        categories=["killing", "arson_destruction"], perpetrators=[unit["id"]])
    item = world.add(title="Tula Toli riverbank photo")
    for query in ("မီးရှို့", "Tatmadaw", "infantry 33", "arson", "river"):
        body = find(world, world.viewer, query)
        assert incident["id"] in ids(body), query
    [result] = find(world, world.viewer, "Tatmadaw")["results"]
    assert (result["kind"], result["title"]) == ("incident", "Clearance of Tula Toli")
    assert marked(result) == ["tatmadaw"] or marked(result) == ["Tatmadaw"]
    assert sorted(ids(find(world, world.viewer, "tula toli"))) == sorted(
        [incident["id"], item["id"]])
    assert ids(find(world, world.viewer, "tula toli", kind="incident")) == [incident["id"]]
    assert ids(find(world, world.viewer, "tula toli", kind="evidence")) == [item["id"]]
    # Dates of the incident: ranges that meet it, and ranges that do not.
    assert ids(find(world, world.viewer, "tula", incident_from="2017-08-31")) == [incident["id"]]
    assert ids(find(world, world.viewer, "tula", incident_to="2017-08-29")) == []
    assert ids(find(world, world.viewer, "tula", location="bangla")) == [incident["id"]]
    # Not for other cases' members.
    assert find(world, world.outsider, "Tatmadaw")["results"] == []


def test_an_incident_change_is_indexed_and_linked_items_filter(world):
    incident = record(world, title="Shelling of the school")
    linked = world.add(title="School shelling video")
    world.add(title="School shelling photo, not linked")
    response = world.client.post(f"/api/v1/incidents/{incident['id']}/evidence",
                                 json={"evidence_id": linked["id"], "relation": "depicts"},
                                 headers=world.investigator)
    assert response.status_code == 201, response.get_json()
    assert ids(find(world, world.viewer, "shelling", incident=incident["id"])) == [linked["id"]]
    response = world.client.patch(f"/api/v1/incidents/{incident['id']}",
                                  json={"version": incident["version"],
                                        "title": "Airstrike on the monastery"},
                                  headers=world.investigator)
    assert response.status_code == 200, response.get_json()
    assert ids(find(world, world.viewer, "monastery")) == [incident["id"]]
    assert incident["id"] not in ids(find(world, world.viewer, "shelling"))
