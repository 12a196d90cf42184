"""One pattern for every HTML form (docs/web-forms.md): Post/Redirect/Get with 303 and a
flashed message, refusals re-rendered with 422, an error summary linking to the fields,
every problem in one round, no bare 405 on a web URL, the item timeline in pages, the ERN
pattern editor."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from casefile.logic.cases import ern
from casefile.model import Case, CaseMember, Role
from tests.factories import add_member, make_case, make_user
from tests.web.test_auth_web import (
    cheap_password_hashes,
    find_form,
    location_path,
    sign_in,
    submit,
    text,
)

MESSAGES = re.compile(
    r'<div id="messages" class="messages" tabindex="-1"[^>]*>(.*?)</div>', re.DOTALL
)
SUMMARY = re.compile(r'<div class="error-summary" role="alert" tabindex="-1".*?</div>', re.DOTALL)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session: Session) -> dict[str, object]:
    lead = make_user(session, "lead@example.org", admin=True)
    viewer = make_user(session, "viewer@example.org")
    make_user(session, "newcomer@example.org")
    case = make_case(session, lead, title="Tula Toli")
    add_member(session, case, lead, viewer, Role.VIEWER)
    return {"lead": lead, "case": case}


def messages(page: str) -> str:
    """The flash region at the top of <main> (empty when nothing was flashed)."""
    found = MESSAGES.search(page)
    assert found is not None, "no message region on the page"
    return found.group(1)


def summary(page: str) -> str:
    found = SUMMARY.search(page)
    assert found is not None, "no error summary on the page"
    return found.group(0)


def follow(client: FlaskClient, response) -> str:
    """The page a 303 sends the browser to (a GET, as a browser does)."""
    assert response.status_code == 303, (response.status_code, text(response)[:500])
    return text(client.get(location_path(response)))


# --- no bare 405 on any web URL -----------------------------------------------------------------


def _sample_path(app: Flask, rule) -> str:
    values = {name: uuid.uuid4() for name in rule.arguments}
    with app.test_request_context():
        return app.url_map.bind("localhost").build(rule.endpoint, values)


def test_no_web_url_answers_a_get_with_405(app: Flask, client: FlaskClient, world) -> None:
    sign_in(client, "lead@example.org")
    post_only = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("web.") and "GET" not in (rule.methods or set())
    ]
    assert len(post_only) >= 15  # members, roles, verify, transfers, tokens, admin, ...
    adapter = app.url_map.bind("localhost")
    for rule in post_only:
        path = _sample_path(app, rule)
        response = client.get(path)
        assert response.status_code != 405, rule.rule
        try:
            adapter.match(path, method="GET")
        except MethodNotAllowed:
            pass
        else:
            continue  # the URL has a GET route of its own (it authorizes, then redirects)
        assert response.status_code == 303, (rule.rule, response.status_code)
        target = location_path(response)
        assert path.startswith(target.rstrip("/") + "/") or target == "/", (path, target)
        endpoint, _ = adapter.match(target, method="GET")  # a page, not another POST-only URL
        assert endpoint.startswith("web."), (path, target)


def test_a_reloaded_post_lands_on_the_page_of_its_form(client: FlaskClient, world) -> None:
    sign_in(client, "lead@example.org")
    case = world["case"]
    response = client.get(f"/cases/{case.id}/members")
    assert location_path(response) == f"/cases/{case.id}"
    response = client.get(f"/cases/{case.id}/activity/verify")
    assert location_path(response) == f"/cases/{case.id}/activity"
    response = client.get("/account/tokens")
    assert location_path(response) == "/account"


def test_the_api_keeps_its_json_405(app: Flask, client: FlaskClient, world) -> None:
    sign_in(client, "lead@example.org")
    adapter = app.url_map.bind("localhost")
    api_post_only = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and "GET" not in (rule.methods or set())
        and not rule.arguments
    ]
    assert api_post_only
    for rule in api_post_only:
        try:
            adapter.match(rule.rule, method="GET")
        except MethodNotAllowed:
            response = client.get(rule.rule)
            assert response.status_code == 405, rule.rule
            assert response.get_json()["error"]["code"] == "method_not_allowed"
            return
        except HTTPException:
            continue
    pytest.fail("no API URL that takes only POST")


# --- add member: 303 and the flash, or 422 with the summary and the input kept -------------------


def test_add_member_redirects_with_303_and_shows_the_flash_at_the_top(
    client: FlaskClient, world, session: Session
) -> None:
    sign_in(client, "lead@example.org")
    case = world["case"]
    response = submit(
        client,
        f"/cases/{case.id}",
        {"email": "newcomer@example.org", "role": "investigator"},
        action=f"/cases/{case.id}/members",
    )
    assert location_path(response) == f"/cases/{case.id}"
    page = follow(client, response)
    region = messages(page)
    assert 'role="status"' in region and "Member added." in region
    assert 'data-focus="messages"' in page
    # Shown once: the next GET has an empty region, not focused.
    again = text(client.get(f"/cases/{case.id}"))
    assert "Member added." not in messages(again)
    assert 'data-focus="messages"' not in again


def test_add_member_refused_shows_a_summary_linked_to_the_field(
    client: FlaskClient, world, session: Session
) -> None:
    sign_in(client, "lead@example.org")
    case = world["case"]
    before = session.scalar(select(func.count()).select_from(CaseMember))
    response = submit(
        client,
        f"/cases/{case.id}",
        {"email": "not-an-email", "role": "investigator"},
        action=f"/cases/{case.id}/members",
    )
    assert response.status_code == 422
    page = text(response)
    box = summary(page)
    assert "There is a problem" in box
    assert 'href="#email"' in box
    assert 'data-focus="summary"' in box
    # The error under the field, the field described by it, the input kept.
    [email_input] = re.findall(r'<input[^>]*id="email"[^>]*>', page)
    assert 'aria-describedby="email-error"' in email_input
    assert 'aria-invalid="true"' in email_input
    assert 'id="email-error"' in page
    assert 'value="not-an-email"' in page
    assert '<option selected value="investigator">' in page or \
        'value="investigator" selected' in page
    assert session.scalar(select(func.count()).select_from(CaseMember)) == before


def test_adding_someone_twice_is_a_422_with_the_reason_in_the_summary(
    client: FlaskClient, world
) -> None:
    sign_in(client, "lead@example.org")
    case = world["case"]
    response = submit(
        client,
        f"/cases/{case.id}",
        {"email": "viewer@example.org", "role": "lawyer"},
        action=f"/cases/{case.id}/members",
    )
    assert response.status_code == 422
    assert "<li>" in summary(text(response))


# --- new case: every problem in one round -------------------------------------------------------

CASE_FORM = {
    "title": "Clearance operations in northern Rakhine, 2017",
    "forum": "icc",
    "court": "Pre-Trial Chamber III",
    "reference": "ICC-01/19",
    "ern_pattern": "MMR-OTP-{batch:04d}-{seq:04d}",
    "languages": "en my",
    "description": "",
}


def test_new_case_reports_every_problem_at_once(client: FlaskClient, world, session) -> None:
    sign_in(client, "lead@example.org")
    count = session.scalar(select(func.count()).select_from(Case))
    response = submit(
        client,
        "/cases/new",
        {**CASE_FORM, "title": "", "ern_pattern": "MMR-{nope}-{seq}", "languages": "English"},
    )
    assert response.status_code == 422
    page = text(response)
    box = summary(page)
    # A WTForms error (title) and two logic errors (pattern, languages) in the same round.
    assert 'href="#title"' in box
    assert 'href="#ern_pattern"' in box and "unknown field {nope}" in box
    assert 'href="#languages"' in box and "is not a language tag" in box
    assert box.count("<li>") == 3  # each problem once
    assert 'value="Pre-Trial Chamber III"' in page  # the input kept
    assert session.scalar(select(func.count()).select_from(Case)) == count


def test_new_case_redirects_with_303_and_flashes(client: FlaskClient, world) -> None:
    sign_in(client, "lead@example.org")
    response = submit(client, "/cases/new", CASE_FORM)
    assert re.fullmatch(r"/cases/[0-9a-f-]{36}", location_path(response))
    assert "Case created." in messages(follow(client, response))


# --- the other forms ----------------------------------------------------------------------------


def test_refused_forms_answer_422_with_a_summary(client: FlaskClient, world) -> None:
    sign_in(client, "lead@example.org")
    case = world["case"]
    cases = [
        ("/account", {"pw-current_password": "", "pw-new_password": ""}, "/account/password",
         "#pw-current_password"),
        ("/account", {"token-name": ""}, "/account/tokens", "#token-name"),
        ("/admin/users", {"email": "x", "password": ""}, "/admin/users", "#email"),
        (f"/cases/{case.id}", {"reason": ""}, f"/cases/{case.id}/legal-hold",
         "#reason"),
        (f"/cases/{case.id}/transfers", {"from_party": "", "reason": ""},
         f"/cases/{case.id}/transfers", "#from_party"),
    ]
    for page, data, action, anchor in cases:
        response = submit(client, page, data, action=action)
        assert response.status_code == 422, (action, response.status_code)
        assert f'href="{anchor}"' in summary(text(response)), action


def test_a_refused_sign_in_is_a_422_with_the_message_focused(client: FlaskClient, world) -> None:
    response = submit(client, "/login", {"email": "lead@example.org", "password": "wrong" * 4})
    assert response.status_code == 422
    region = messages(text(response))
    assert 'role="alert"' in region and "Sign-in refused" in region


def test_the_case_verify_button_is_post_redirect_get(client: FlaskClient, world) -> None:
    sign_in(client, "lead@example.org")
    case = world["case"]
    response = submit(client, f"/cases/{case.id}/activity",
                      action=f"/cases/{case.id}/activity/verify")
    assert location_path(response) == f"/cases/{case.id}/activity"
    region = messages(follow(client, response))
    assert "Verified: every entry of this case is in the signed log" in region


# --- the item's chain of custody in pages -------------------------------------------------------


def _upload(client: FlaskClient, case: Case, name: str, body: bytes) -> str:
    page = text(client.get(f"/cases/{case.id}/evidence"))
    form = find_form(page, f"/cases/{case.id}/evidence")
    data = {**form.fields, "file": [(io.BytesIO(body), name)]}
    response = client.post(f"/cases/{case.id}/evidence", data=data,
                           content_type="multipart/form-data")
    assert response.status_code == 303
    items = client.get(f"/api/v1/cases/{case.id}/evidence").get_json()["items"]
    return next(item["id"] for item in items if item["original_filename"] == name)


def test_the_item_timeline_is_paged_with_cursors(
    client: FlaskClient, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    from casefile.web import evidence as evidence_web  # noqa: PLC0415

    monkeypatch.setattr(evidence_web, "TIMELINE_PAGE_SIZE", 2)
    sign_in(client, "lead@example.org")
    item = _upload(client, world["case"], "statement.txt", b"a witness statement\n")
    for _ in range(3):  # each download is an entry of the item's chain of custody
        assert client.get(f"/evidence/{item}/download").status_code == 200

    seen: list[str] = []
    url: str | None = f"/evidence/{item}"
    pages = 0
    while url is not None:
        page = text(client.get(url))
        timeline = page.split('id="custody-h"', 1)[1].split("</ol>", 1)[0]
        numbers = re.findall(r'<span class="muted">#(\d+)</span>', timeline)
        assert 1 <= len(numbers) <= 2
        seen.extend(numbers)
        pages += 1
        found = re.search(r'<a class="button" rel="next" href="([^"]+)"', page)
        url = html.unescape(found.group(1)).split("#", 1)[0] if found else None
        if pages > 1:
            assert f'href="/evidence/{item}#custody-h"' in page  # back to the first entries
    assert pages == 2  # received + 3 downloads = 4 entries, 2 a page
    assert len(seen) == 4 and len(set(seen)) == 4
    assert [int(n) for n in seen] == sorted(int(n) for n in seen)
    assert client.get(f"/evidence/{item}?cursor=zzz").status_code == 422


def test_the_item_verify_button_is_post_redirect_get(client: FlaskClient, world) -> None:
    sign_in(client, "lead@example.org")
    item = _upload(client, world["case"], "photo.txt", b"not really a photo\n")
    response = submit(client, f"/evidence/{item}", action=f"/evidence/{item}/verify")
    assert location_path(response) == f"/evidence/{item}"
    region = messages(follow(client, response))
    assert "Verified: every entry of this item is in the signed log" in region


def test_an_item_deletion_without_a_reason_is_a_422_on_the_item_page(
    client: FlaskClient, world
) -> None:
    sign_in(client, "lead@example.org")
    item = _upload(client, world["case"], "doomed.txt", b"to be deleted\n")
    response = submit(client, f"/evidence/{item}", {"reason": ""},
                      action=f"/evidence/{item}/delete")
    assert response.status_code == 422
    assert 'href="#reason"' in summary(text(response))
    assert client.get(f"/evidence/{item}").status_code == 200  # still there


# --- the ERN pattern editor ---------------------------------------------------------------------


def _editor(page: str) -> tuple[str, str]:
    words = re.search(r'<span id="ern-words">(.*?)</span>', page)
    example = re.search(r'<output id="ern-example"[^>]*>(.*?)</output>', page)
    assert words and example
    return html.unescape(words.group(1)), html.unescape(example.group(1))


def test_the_pattern_editor_shows_what_logic_produces(client: FlaskClient, world) -> None:
    sign_in(client, "lead@example.org")
    year = dt.datetime.now(dt.UTC).year
    words, example = _editor(text(client.get("/cases/new")))
    assert example == ern.render(ern.DEFAULT_PATTERN, seq=1, batch=1, year=year) == "CF-000001"
    assert words == "CF-[item number, 6 digits]"

    # A refused form shows the example of the pattern as typed.
    response = submit(client, "/cases/new", {**CASE_FORM, "title": ""})
    words, example = _editor(text(response))
    assert example == "MMR-OTP-0001-0001"
    assert words == "MMR-OTP-[batch number, 4 digits]-[item number, 4 digits]"
    response = submit(client, "/cases/new",
                      {**CASE_FORM, "title": "", "ern_pattern": "{year}/{seq}"})
    assert _editor(text(response)) == ("[year]/[item number]", f"{year}/1")
    response = submit(client, "/cases/new", {**CASE_FORM, "title": "", "ern_pattern": "X-{n}"})
    assert _editor(text(response)) == ("—", "—")


def test_the_pattern_editor_speaks_burmese(client: FlaskClient, world, session) -> None:
    sign_in(client, "lead@example.org")
    page = submit(client, "/cases", {"locale": "my"}, action="/language")
    assert page.status_code == 303
    words, _ = _editor(text(client.get("/cases/new")))
    assert words.startswith("CF-[") and "item number" not in words
