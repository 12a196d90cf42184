"""The search page: in the top navigation, results with their matches marked after escaping,
restricted items only for grantees, refusals on their field with 422, the next page, in
English and Burmese."""

from __future__ import annotations

import html
import re
import uuid

import pytest

from casefile.model import Role
from tests.api.test_evidence_api import upload
from tests.factories import add_member, bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes, sign_in

SENTENCE = "စစ်တပ်ကရွာကိုမီးရှို့ခဲ့သည်"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session, client):
    lead = make_user(session, "lead@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead, title="Tula Toli")
    add_member(session, case, lead, viewer, Role.VIEWER)
    headers = bearer(session, lead)

    def add(**fields):
        response = upload(client, case.id, headers, uuid.uuid4().bytes, **fields)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    return {"case": case, "add": add, "viewer": viewer}


def test_the_page_is_in_the_navigation_and_empty_at_first(client, world):
    sign_in(client, "viewer@example.org")
    home = client.get("/cases").get_data(as_text=True)
    assert 'href="/search"' in home
    page = client.get("/search")
    assert page.status_code == 200
    assert 'id="search-q"' in page.get_data(as_text=True)
    assert "search-results" not in page.get_data(as_text=True)


def test_results_are_escaped_then_marked(client, world):
    item = world["add"](title="<script>alert(1)</script> report",
                        description=f"The <b>army</b> burned it: {SENTENCE}")
    world["add"](title="Sealed statement", description=f"{SENTENCE} Daw Mya Mya",
                 sensitivity="restricted")
    sign_in(client, "viewer@example.org")
    page = client.get("/search", query_string={"q": "မီးရှို့"})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body and "<b>army</b>" not in body
    assert html.escape("<script>alert(1)</script>") in body
    assert "&lt;b&gt;army&lt;/b&gt;" in body
    assert "<mark>မီးရှို့</mark>" in body
    assert f'href="/evidence/{item}"' in body
    assert "Sealed statement" not in body and "Mya Mya" not in body  # restricted, no grant
    assert len(re.findall(r"<li class=\"card\">", body)) == 1


def test_the_lead_with_a_grant_finds_a_restricted_item_by_a_burmese_word(client, world):
    hidden = world["add"](title="Witness", description=f"{SENTENCE} witness",
                          sensitivity="restricted")
    sign_in(client, "lead@example.org")  # the uploader: holds a grant
    body = client.get("/search", query_string={"q": "ရွာ"}).get_data(as_text=True)
    assert f'href="/evidence/{hidden}"' in body
    assert "<mark>ရွာ</mark>" in body


def test_refusals_are_shown_on_their_field_with_422(client, world):
    sign_in(client, "viewer@example.org")
    page = client.get("/search", query_string={"q": '"*&|!()'})
    assert page.status_code == 422
    body = page.get_data(as_text=True)
    assert 'id="search-q-error"' in body and "nothing to search for" in body
    page = client.get("/search", query_string={"q": "report", "collected_from": "30/08/2017"})
    assert page.status_code == 422
    assert 'id="search-collected-from-error"' in page.get_data(as_text=True)


def test_pages_link_to_the_next(client, world):
    for number in range(23):
        world["add"](title=f"Shelling report {number}")
    sign_in(client, "viewer@example.org")
    first = client.get("/search", query_string={"q": "shelling", "kind": "evidence"})
    body = first.get_data(as_text=True)
    assert body.count('<li class="card">') == 20
    [next_url] = re.findall(r'href="([^"]+)" rel="next"', body)
    second = client.get(html.unescape(next_url)).get_data(as_text=True)
    assert second.count('<li class="card">') == 3
    assert 'rel="next"' not in second


def test_the_page_in_burmese(client, world, session):
    world["add"](title="Report", description=SENTENCE)
    world["viewer"].locale = "my"
    session.commit()
    sign_in(client, "viewer@example.org")
    body = client.get("/search", query_string={"q": "မီးရှို့"}).get_data(as_text=True)
    assert 'lang="my"' in body
    assert "<mark>မီးရှို့</mark>" in body
