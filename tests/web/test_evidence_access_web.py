"""Access to restricted items in the browser: the item page's "Who can see this item" card
(the uploader gives a lead access; leads give and withdraw it, each a custody entry), and the
evidence list's "N items in this case are hidden from you"."""

from __future__ import annotations

import io
import json
import re
import uuid

import pytest
from sqlalchemy import select

from casefile.model import CustodyAction, CustodyEntry, EvidenceGrant, Role
from tests.factories import add_member, bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes, find_form, logout, sign_in, text


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session, client):
    """A case with a lead, an investigator, a lawyer and a viewer; the investigator uploaded
    one restricted item (a witness statement) and one standard item."""
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "inv@example.org")
    lawyer = make_user(session, "lawyer@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead)
    for user, role in ((investigator, Role.INVESTIGATOR), (lawyer, Role.LAWYER),
                       (viewer, Role.VIEWER)):
        add_member(session, case, lead, user, role)
    as_inv = bearer(session, investigator)
    ids = {}
    for key, body, sensitivity in (("restricted", b"witness W-17, Maungdaw\n", "restricted"),
                                   ("standard", b"satellite image notes\n", "standard")):
        response = client.post(
            f"/api/v1/cases/{case.id}/evidence", headers=as_inv,
            data={"file": (io.BytesIO(body), f"{key}.txt"), "sensitivity": sensitivity,
                  "title": f"{key} title", "collected_by": "Investigator K."},
            content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        ids[key] = response.get_json()["id"]
    return {"case": case, "lead": lead, "inv": investigator, "lawyer": lawyer, "viewer": viewer,
            "as_inv": as_inv, **ids}


def access_card(page: str) -> str:
    """The "Who can see this item" card of an item page ("" if there is none)."""
    match = re.search(r'<section class="card" aria-labelledby="access-h" id="access">.*?</section>',
                      page, re.DOTALL)
    return match.group(0) if match else ""


def access_entries(session, world) -> list[tuple[CustodyAction, str]]:
    entries = session.scalars(
        select(CustodyEntry).where(CustodyEntry.case_id == world["case"].id,
                                   CustodyEntry.action.in_([CustodyAction.ACCESS_GRANTED,
                                                            CustodyAction.ACCESS_REVOKED]))
        .order_by(CustodyEntry.seq)
    )
    return [(entry.action, json.loads(entry.details)["person"]) for entry in entries]


def give_access(client, item_id, email):
    page = text(client.get(f"/evidence/{item_id}"))
    form = find_form(page, f"/evidence/{item_id}/access")
    return client.post(f"/evidence/{item_id}/access", data={**form.fields, "person": email})


def withdraw(client, item_id, user):
    action = f"/evidence/{item_id}/access/{user.id}/withdraw"
    form = find_form(text(client.get(f"/evidence/{item_id}")), action)
    return client.post(action, data=form.fields)


def without_tokens(page: str) -> str:
    return re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", page)


def switch(client, email):
    logout(client)
    sign_in(client, email)


def test_uploader_gives_a_lead_access_who_then_grants_and_withdraws(client, world, session):
    item, case = world["restricted"], world["case"]
    sign_in(client, "lead@example.org")
    assert client.get(f"/evidence/{item}").status_code == 404  # no grant, leads included
    assert 'id="hidden-count"' in text(client.get(f"/cases/{case.id}/evidence"))

    switch(client, "inv@example.org")
    card = access_card(text(client.get(f"/evidence/{item}")))
    assert "Who can see this item" in card and "inv@example.org" in card and "uploaded it" in card
    options = re.findall(r'<option value="([^"]+)"', card)
    assert options == ["lead@example.org"]  # the uploader may give it to the leads only
    assert "/withdraw" not in card
    response = give_access(client, item, "lead@example.org")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/evidence/{item}")  # the result at the top
    assert "Access given to lead@example.org." in text(client.get(f"/evidence/{item}"))
    assert access_entries(session, world) == [(CustodyAction.ACCESS_GRANTED, str(world["lead"].id))]

    switch(client, "lead@example.org")
    page = text(client.get(f"/evidence/{item}"))
    card = access_card(page)
    assert "restricted title" in page
    assert set(re.findall(r'<option value="([^"]+)"', card)) == {"lawyer@example.org",
                                                                  "viewer@example.org"}
    assert give_access(client, item, "viewer@example.org").status_code == 303
    assert access_entries(session, world)[-1] == (CustodyAction.ACCESS_GRANTED,
                                                  str(world["viewer"].id))

    switch(client, "viewer@example.org")
    listing = text(client.get(f"/cases/{case.id}/evidence"))
    assert f"/evidence/{item}" in listing and 'id="hidden-count"' not in listing
    opened = client.get(f"/evidence/{item}")
    assert opened.status_code == 200 and "restricted title" in text(opened)
    assert access_card(text(opened)) == ""  # a viewer does not manage access

    switch(client, "lead@example.org")
    response = withdraw(client, item, world["viewer"])
    assert response.status_code == 303
    page = text(client.get(f"/evidence/{item}"))
    assert "Access withdrawn." in page
    holders = re.sub(r"<select.*?</select>", "", access_card(page), flags=re.DOTALL)
    assert "viewer@example.org" not in holders
    assert access_entries(session, world)[-1] == (CustodyAction.ACCESS_REVOKED,
                                                  str(world["viewer"].id))

    switch(client, "viewer@example.org")
    assert client.get(f"/evidence/{item}").status_code == 404
    listing = text(client.get(f"/cases/{case.id}/evidence"))
    assert f"/evidence/{item}" not in listing
    assert "1 item in this case is hidden from you" in listing


def test_the_uploader_gives_access_to_leads_only_and_withdraws_none(client, world, session):
    item = world["restricted"]
    sign_in(client, "inv@example.org")
    assert give_access(client, item, "viewer@example.org").status_code == 403
    page = text(client.get(f"/evidence/{item}"))
    token = find_form(page, f"/evidence/{item}/access").fields
    refused = client.post(f"/evidence/{item}/access/{world['inv'].id}/withdraw", data=token)
    assert refused.status_code == 403
    assert access_entries(session, world) == []
    assert session.get(EvidenceGrant, (uuid.UUID(item), world["inv"].id)) is not None


def test_members_who_do_not_see_the_item_get_a_missing_items_404(client, world, session):
    """The lawyer holds no grant: the grant URLs answer exactly as for an item that does not
    exist, so trying tells them nothing."""
    item, missing = world["restricted"], str(uuid.uuid4())
    sign_in(client, "lawyer@example.org")
    token = find_form(text(client.get("/cases")), "/logout").fields
    answers = [
        [
            (response.status_code, without_tokens(text(response)).replace(target, "ID"))
            for response in (
                client.post(f"/evidence/{target}/access",
                            data={**token, "person": "lawyer@example.org"}),
                client.post(f"/evidence/{target}/access/{world['viewer'].id}/withdraw",
                            data=token),
            )
        ]
        for target in (item, missing)
    ]
    assert [status for status, _ in answers[0]] == [404, 404]
    assert answers[0] == answers[1]
    assert access_entries(session, world) == []


def test_grant_forms_need_csrf(client, world, session):
    item = world["restricted"]
    sign_in(client, "inv@example.org")
    give_access(client, item, "lead@example.org")
    switch(client, "lead@example.org")
    responses = [
        client.post(f"/evidence/{item}/access", data={"person": "viewer@example.org"}),
        client.post(f"/evidence/{item}/access/{world['inv'].id}/withdraw"),
    ]
    assert [response.status_code for response in responses] == [400, 400]
    assert len(access_entries(session, world)) == 1  # the uploader's grant to the lead only
    assert session.get(EvidenceGrant, (uuid.UUID(item), world["viewer"].id)) is None
    assert session.get(EvidenceGrant, (uuid.UUID(item), world["inv"].id)) is not None


def test_errors_are_shown_at_the_top_of_the_card(client, world, session):
    item = world["restricted"]
    sign_in(client, "inv@example.org")
    give_access(client, item, "lead@example.org")
    switch(client, "lead@example.org")
    page = text(client.get(f"/evidence/{item}"))
    token = find_form(page, f"/evidence/{item}/access").fields
    before = access_entries(session, world)

    # A page left open while a colleague gave the same person access.
    again = client.post(f"/evidence/{item}/access", data={**token, "person": "inv@example.org"})
    assert again.status_code == 422
    card = access_card(text(again))
    assert card.index("This person already has access.") < card.index("<table")
    stranger = client.post(f"/evidence/{item}/access",
                           data={**token, "person": "stranger@example.org"})
    assert "Only a member of this case can be given access." in access_card(text(stranger))
    nobody = client.post(f"/evidence/{item}/access", data={**token, "person": ""})
    assert "Choose the person to give access to." in access_card(text(nobody))
    kept = client.post(f"/evidence/{item}/access",
                       data={**token, "person": "viewer@example.org"})
    assert kept.status_code == 303  # the form itself works with the same token
    assert len(access_entries(session, world)) == len(before) + 1

    # Withdrawing a grant that is already gone says so, and records nothing.
    withdraw_form = find_form(text(client.get(f"/evidence/{item}")),
                              f"/evidence/{item}/access/{world['viewer'].id}/withdraw")
    assert client.post(f"/evidence/{item}/access/{world['viewer'].id}/withdraw",
                       data=withdraw_form.fields).status_code == 303
    gone = client.post(f"/evidence/{item}/access/{world['viewer'].id}/withdraw",
                       data=withdraw_form.fields)
    assert gone.status_code == 303
    assert "This person no longer has access." in text(client.get(f"/evidence/{item}"))
    assert [action for action, _ in access_entries(session, world)].count(
        CustodyAction.ACCESS_REVOKED) == 1


def test_a_lead_who_withdraws_their_own_access_goes_back_to_the_list(client, world):
    item = world["restricted"]
    sign_in(client, "inv@example.org")
    give_access(client, item, "lead@example.org")
    switch(client, "lead@example.org")
    response = withdraw(client, item, world["lead"])
    assert response.headers["Location"].endswith(f"/cases/{world['case'].id}/evidence")
    assert client.get(f"/evidence/{item}").status_code == 404


# --- "N items in this case are hidden from you" ---------------------------------------------


def hidden_line(page: str) -> str:
    match = re.search(r'<p class="hint" id="hidden-count">(.*?)</p>', page, re.DOTALL)
    return match.group(1) if match else ""


def test_hidden_count_counts_only_what_the_viewer_cannot_see(client, world, session):
    case = world["case"]
    second = client.post(
        f"/api/v1/cases/{case.id}/evidence", headers=world["as_inv"],
        data={"file": (io.BytesIO(b"witness W-18\n"), "w18.txt"), "sensitivity": "restricted"},
        content_type="multipart/form-data",
    )
    assert second.status_code == 201
    url = f"/cases/{case.id}/evidence"
    sign_in(client, "viewer@example.org")
    assert hidden_line(text(client.get(url))) == (
        "2 items in this case are hidden from you (restricted); filters do not apply to them.")
    # The whole case's count, whatever the filter: no filter reaches hidden items.
    for query in ("?sensitivity=restricted", "?collector=Investigator+K.", "?kind=image/"):
        shown = hidden_line(text(client.get(url + query)))
        assert "2 items in this case are hidden from you" in shown
    api = client.get(f"/api/v1/cases/{case.id}/evidence").get_json()
    assert api["hidden_count"] == 2 and [i["id"] for i in api["items"]] == [world["standard"]]

    switch(client, "inv@example.org")  # the uploader sees both
    assert hidden_line(text(client.get(url))) == ""
    assert client.get(f"/api/v1/cases/{case.id}/evidence").get_json()["hidden_count"] == 0

    give_access(client, world["restricted"], "lead@example.org")
    switch(client, "lead@example.org")
    assert hidden_line(text(client.get(url))) == (
        "1 item in this case is hidden from you (restricted); filters do not apply to it.")


def test_hidden_count_in_burmese(client, world, session):
    sign_in(client, "viewer@example.org")
    page = text(client.get("/cases"))
    client.post("/language", data={**find_form(page, "/language").fields, "locale": "my",
                                   "next": "/cases"})
    url = f"/cases/{world['case'].id}/evidence"
    assert hidden_line(text(client.get(url))) == (
        "ဤအမှုရှိ သက်သေခံအထောက်အထား 1 ခုကို သင့်ထံမှ ဖုံးကွယ်ထားသည် "
        "(ကန့်သတ်ထားသည်)။ စစ်ထုတ်မှုများ ၎င်းတို့အပေါ် မသက်ရောက်ပါ။")
    client.post(
        f"/api/v1/cases/{world['case'].id}/evidence", headers=world["as_inv"],
        data={"file": (io.BytesIO(b"witness W-19\n"), "w19.txt"), "sensitivity": "restricted"},
        content_type="multipart/form-data",
    )
    assert "သက်သေခံအထောက်အထား 2 ခုကို သင့်ထံမှ ဖုံးကွယ်ထားသည်" in hidden_line(text(client.get(url)))
