"""Cases and members through the HTML UI."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefile.model import Case, CaseMember, Role, User
from tests.factories import add_member, make_case, make_user
from tests.web.test_auth_web import (
    cheap_password_hashes,
    find_form,
    forms,
    has_form,
    location_path,
    sign_in,
    submit,
    text,
)

LAST_LEAD = "A case must keep at least one lead; make someone else lead first."
CASE_FORM = {
    "title": "Clearance operations in northern Rakhine, 2017",
    "forum": "icc",
    "court": "Pre-Trial Chamber III",
    "reference": "ICC-01/19",
    "ern_pattern": "MMR-OTP-{batch:04d}-{seq:04d}",
    "languages": "en my, rhg",
    "description": "Statements of displaced persons, satellite imagery.",
}


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashes(monkeypatch)


def case_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Case)) or 0


def role_of(session: Session, case: Case, user: User) -> Role | None:
    session.expire_all()
    member = session.get(CaseMember, (case.id, user.id))
    return member.role if member else None


def members_url(case: Case | uuid.UUID, user: User | None = None, what: str = "") -> str:
    case_id = case if isinstance(case, uuid.UUID) else case.id
    base = f"/cases/{case_id}/members"
    return f"{base}/{user.id}/{what}" if user is not None else base


def token_from(client: FlaskClient, page: str) -> dict[str, str]:
    """The CSRF token of `page` (the sign-out form carries one on every signed-in page)."""
    return find_form(text(client.get(page)), "/logout").fields


# --- creating, listing, opening ---------------------------------------------------------------


def test_create_list_and_open_a_case(client: FlaskClient, session: Session) -> None:
    lead = make_user(session, "lead@example.org")
    sign_in(client, lead.email)
    assert "You are not a member of any case yet." in text(client.get("/cases"))

    new_page = text(client.get("/cases/new"))
    assert 'value="CF-{seq:06d}"' in new_page  # the default ERN pattern is pre-filled

    response = submit(client, "/cases/new", {**CASE_FORM, "ern_pattern": "MMR-{nope}-{seq}"})
    assert response.status_code == 422
    page = text(response)
    assert 'class="field invalid"' in page
    assert "unknown field {nope}" in page
    assert 'value="Clearance operations in northern Rakhine, 2017"' in page  # input kept
    assert case_count(session) == 0

    response = submit(client, "/cases/new", CASE_FORM)
    location = location_path(response)
    [case] = session.scalars(select(Case))
    assert location == f"/cases/{case.id}"
    assert case.title == CASE_FORM["title"]
    assert case.ern_pattern == "MMR-OTP-{batch:04d}-{seq:04d}"
    assert case.languages == ["en", "my", "rhg"]
    assert role_of(session, case, lead) == Role.LEAD

    assert "Case created." in text(client.get(location))  # the flash, shown once

    listing = text(client.get("/cases"))
    assert CASE_FORM["title"] in listing
    assert f'href="/cases/{case.id}"' in listing

    page = text(client.get(f"/cases/{case.id}"))
    for value in (
        "Pre-Trial Chamber III",
        "ICC-01/19",
        "MMR-OTP-{batch:04d}-{seq:04d}",
        "en, my, rhg",
        "satellite imagery",
        "International Criminal Court (ICC)",
    ):
        assert value in page
    assert has_form(page, members_url(case))


def test_case_form_requires_a_title(client: FlaskClient, session: Session) -> None:
    lead = make_user(session, "lead@example.org")
    sign_in(client, lead.email)
    response = submit(client, "/cases/new", {**CASE_FORM, "title": ""})
    assert response.status_code == 422
    assert 'class="field invalid"' in text(response)
    response = submit(client, "/cases/new", {**CASE_FORM, "languages": "English"})
    assert "is not a language tag" in text(response)
    assert case_count(session) == 0


def test_case_form_without_csrf_creates_nothing(client: FlaskClient, session: Session) -> None:
    lead = make_user(session, "lead@example.org")
    sign_in(client, lead.email)
    response = client.post("/cases/new", data=CASE_FORM)
    assert response.status_code == 400
    assert case_count(session) == 0


def test_case_list_shows_only_my_cases(client: FlaskClient, session: Session) -> None:
    me = make_user(session, "me@example.org")
    other = make_user(session, "other@example.org")
    make_case(session, me, "Mine")
    make_case(session, other, "Not mine")
    sign_in(client, me.email)
    listing = text(client.get("/cases"))
    assert "Mine" in listing
    assert "Not mine" not in listing


def test_non_member_gets_404(client: FlaskClient, session: Session) -> None:
    lead = make_user(session, "lead@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead)
    sign_in(client, outsider.email)
    assert client.get(f"/cases/{case.id}").status_code == 404
    assert client.get(f"/cases/{uuid.uuid4()}").status_code == 404
    token = token_from(client, "/cases")
    response = client.post(
        members_url(case), data={**token, "email": outsider.email, "role": "lead"}
    )
    assert response.status_code == 404
    assert role_of(session, case, outsider) is None


# --- members ----------------------------------------------------------------------------------


def test_lead_adds_a_member_and_changes_the_role(client: FlaskClient, session: Session) -> None:
    lead = make_user(session, "lead@example.org")
    colleague = make_user(session, "colleague@example.org")
    case = make_case(session, lead)
    sign_in(client, lead.email)
    page = f"/cases/{case.id}"

    response = submit(
        client,
        page,
        {"email": "Colleague@Example.org", "role": "investigator"},
        action=members_url(case),
    )
    assert location_path(response) == page
    assert role_of(session, case, colleague) == Role.INVESTIGATOR
    html = text(client.get(page))
    assert "Member added." in html
    assert "colleague@example.org" in html
    role_form = find_form(html, members_url(case, colleague, "role"))
    assert role_form.fields["role"] == "investigator"

    response = submit(client, page, {"role": "lawyer"}, action=members_url(case, colleague, "role"))
    assert location_path(response) == page
    assert "Role changed." in text(client.get(page))
    assert role_of(session, case, colleague) == Role.LAWYER


def test_adding_an_unknown_or_existing_member_shows_an_error(
    client: FlaskClient, session: Session
) -> None:
    lead = make_user(session, "lead@example.org")
    colleague = make_user(session, "colleague@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, colleague, Role.VIEWER)
    sign_in(client, lead.email)
    page = f"/cases/{case.id}"

    response = submit(
        client, page, {"email": "nobody@example.org", "role": "viewer"}, action=members_url(case)
    )
    assert response.status_code == 422
    assert "no active account has this email" in text(response)

    response = submit(
        client, page, {"email": colleague.email, "role": "lead"}, action=members_url(case)
    )
    assert response.status_code == 422
    assert "already a member of this case" in text(response)
    assert role_of(session, case, colleague) == Role.VIEWER


def test_lead_removes_a_member(client: FlaskClient, session: Session) -> None:
    lead = make_user(session, "lead@example.org")
    colleague = make_user(session, "colleague@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, colleague, Role.LAWYER)
    sign_in(client, lead.email)
    page = f"/cases/{case.id}"
    response = submit(client, page, action=members_url(case, colleague, "remove"))
    assert location_path(response) == page
    assert "Member removed." in text(client.get(page))
    assert role_of(session, case, colleague) is None


def test_the_last_lead_can_be_neither_demoted_nor_removed(
    client: FlaskClient, session: Session
) -> None:
    lead = make_user(session, "lead@example.org")
    colleague = make_user(session, "colleague@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, colleague, Role.LAWYER)
    sign_in(client, lead.email)
    page = f"/cases/{case.id}"

    response = submit(client, page, {"role": "viewer"}, action=members_url(case, lead, "role"))
    assert location_path(response) == page
    assert LAST_LEAD in text(client.get(page))
    assert role_of(session, case, lead) == Role.LEAD

    response = submit(client, page, action=members_url(case, lead, "remove"))
    assert location_path(response) == page
    assert LAST_LEAD in text(client.get(page))
    assert role_of(session, case, lead) == Role.LEAD

    # With a second lead, the first may step down.
    submit(client, page, {"role": "lead"}, action=members_url(case, colleague, "role"))
    assert role_of(session, case, colleague) == Role.LEAD
    submit(client, page, {"role": "viewer"}, action=members_url(case, lead, "role"))
    assert role_of(session, case, lead) == Role.VIEWER
    assert "Role changed." in text(client.get(page))


def test_viewer_sees_no_member_management_and_is_refused(
    client: FlaskClient, session: Session
) -> None:
    lead = make_user(session, "lead@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, viewer, Role.VIEWER)
    sign_in(client, viewer.email)
    page = f"/cases/{case.id}"

    html = text(client.get(page))
    assert case.title in html
    assert "lead@example.org" in html  # members are listed ...
    member_actions = [form for form in forms(html) if "/members" in (form.action or "")]
    assert member_actions == []  # ... but nothing to manage them with
    assert "Add a member" not in html

    token = token_from(client, page)
    refused = [
        client.post(members_url(case), data={**token, "email": outsider.email, "role": "lead"}),
        client.post(members_url(case, viewer, "role"), data={**token, "role": "lead"}),
        client.post(members_url(case, lead, "role"), data={**token, "role": "viewer"}),
        client.post(members_url(case, lead, "remove"), data=token),
        # ... and so is a form that would not validate: no form errors shown to a viewer
        client.post(members_url(case), data={**token, "email": "not an address", "role": "x"}),
        client.post(members_url(case, lead, "role"), data={**token, "role": "boss"}),
    ]
    assert [response.status_code for response in refused] == [403] * 6
    assert role_of(session, case, outsider) is None
    assert role_of(session, case, viewer) == Role.VIEWER
    assert role_of(session, case, lead) == Role.LEAD


def test_member_forms_need_csrf(client: FlaskClient, session: Session) -> None:
    lead = make_user(session, "lead@example.org")
    colleague = make_user(session, "colleague@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, colleague, Role.LAWYER)
    sign_in(client, lead.email)
    responses = [
        client.post(members_url(case), data={"email": "x@example.org", "role": "lead"}),
        client.post(members_url(case, colleague, "role"), data={"role": "lead"}),
        client.post(members_url(case, colleague, "remove")),
    ]
    assert [response.status_code for response in responses] == [400] * 3
    assert role_of(session, case, colleague) == Role.LAWYER


def test_case_text_is_escaped(client: FlaskClient, session: Session) -> None:
    lead = make_user(session, "lead@example.org")
    sign_in(client, lead.email)
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = submit(client, "/cases/new", {**CASE_FORM, "title": hostile, "description": hostile})
    page = location_path(response)
    for html in (text(client.get(page)), text(client.get("/cases"))):
        assert hostile not in html
        assert "&lt;script&gt;alert(" in html
