"""Cases and membership rules, and the authorization decisions behind them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.cases import cases, ern, members
from casefile.logic.cases.cases import CaseInput
from casefile.logic.cases.members import MemberInput
from casefile.logic.errors import Conflict, Forbidden, NotFound, ValidationFailed
from casefile.model import Forum, Role
from tests.factories import add_member, make_case, make_user


@pytest.fixture
def lead(session):
    return make_user(session, "lead@example.org")


@pytest.fixture
def case(session, lead):
    return make_case(session, lead)


def test_creator_becomes_the_only_lead(session, lead, case):
    assert [(m.user_id, m.role) for m in case.members] == [(lead.id, Role.LEAD)]
    assert case.languages == ["en", "my"]
    assert case.reference == "ICC-01/19"


@pytest.mark.parametrize(
    "pattern",
    ["MMR-OTP-{batch:04d}-{seq:04d}", "{seq}", "CF/{year}/{seq:06d}", "X.{seq:4d}"],
)
def test_valid_ern_patterns(pattern):
    assert ern.pattern_problem(pattern) is None
    assert ern.render(pattern, seq=7, batch=1, year=2026)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("MMR-{batch:04d}", "must contain {seq}"),
        ("{seq}{owner}", "unknown field"),
        ("{seq!r}", "integer format"),
        ("{seq:>10}", "integer format"),
        ("A B {seq}", "letters, digits"),
        ("{seq", "not a valid pattern"),
        ("", "1 to 100"),
        ("{seq.__class__}", "unknown field"),
    ],
)
def test_invalid_ern_patterns(pattern, problem):
    assert problem in (ern.pattern_problem(pattern) or "")


def test_case_input_rejects_bad_fields():
    with pytest.raises(ValidationError):
        CaseInput(title="", forum=Forum.ICC)
    with pytest.raises(ValidationError):
        CaseInput.model_validate({"title": "t", "forum": "echr"})
    with pytest.raises(ValidationError):
        CaseInput.model_validate({"title": "t", "forum": "icc", "languages": ["english!"]})
    with pytest.raises(ValidationError):
        CaseInput.model_validate({"title": "t", "forum": "icc", "owner": "me"})
    with pytest.raises(ValidationFailed) as failed:
        cases.parse_case_input({"title": "t", "forum": "icc", "ern_pattern": "{nope}"})
    assert "ern_pattern" in failed.value.fields


def test_non_members_and_admins_do_not_see_the_case(session, case):
    outsider = make_user(session, "outsider@example.org")
    admin = make_user(session, "admin@example.org", admin=True)
    for actor in (outsider, admin):
        with pytest.raises(NotFound):
            cases.get_case(session, actor, case.id)
        assert cases.list_cases(session, actor).items == []


def test_lead_manages_members_and_others_may_not(session, lead, case):
    lawyer = make_user(session, "lawyer@example.org")
    viewer = make_user(session, "viewer@example.org")
    add_member(session, case, lead, lawyer, Role.LAWYER)
    add_member(session, case, lead, viewer, Role.VIEWER)
    assert cases.get_case(session, viewer, case.id).id == case.id
    for actor in (lawyer, viewer):
        with pytest.raises(Forbidden):
            members.add_member(
                session, actor, case.id, MemberInput(email="x@example.org", role=Role.VIEWER)
            )
        with pytest.raises(Forbidden):
            members.change_role(session, actor, case.id, lead.id, Role.VIEWER)
        with pytest.raises(Forbidden):
            members.remove_member(session, actor, case.id, lead.id)
    with pytest.raises(Conflict):
        add_member(session, case, lead, viewer, Role.LAWYER)
    with pytest.raises(ValidationFailed):
        members.add_member(
            session, lead, case.id, MemberInput(email="nobody@example.org", role=Role.VIEWER)
        )
    members.change_role(session, lead, case.id, viewer.id, Role.INVESTIGATOR)
    assert authz.role_in_case(session, viewer, case.id) == Role.INVESTIGATOR
    members.remove_member(session, lead, case.id, viewer.id)
    with pytest.raises(NotFound):
        cases.get_case(session, viewer, case.id)


def test_a_case_always_keeps_a_lead(session, lead, case):
    with pytest.raises(Conflict):
        members.change_role(session, lead, case.id, lead.id, Role.LAWYER)
    with pytest.raises(Conflict):
        members.remove_member(session, lead, case.id, lead.id)
    second = make_user(session, "second@example.org")
    add_member(session, case, lead, second, Role.LEAD)
    members.change_role(session, second, case.id, lead.id, Role.VIEWER)
    assert authz.role_in_case(session, lead, case.id) == Role.VIEWER
    with pytest.raises(Conflict):
        members.remove_member(session, second, case.id, second.id)


def test_role_matrix():
    assert authz.can(Role.LEAD, CaseAction.MANAGE_MEMBERS)
    for role in (Role.LAWYER, Role.INVESTIGATOR, Role.VIEWER):
        assert authz.can(role, CaseAction.VIEW)
        assert not authz.can(role, CaseAction.MANAGE_MEMBERS)
        assert not authz.can(role, CaseAction.EDIT)
    assert not authz.can(None, CaseAction.VIEW)


def test_cursor_pagination_walks_every_case_once(session, lead):
    created = {make_case(session, lead, title=f"case {n}").id for n in range(5)}
    seen, cursor = [], None
    while True:
        page = cases.list_cases(session, lead, limit=2, cursor=cursor)
        seen += [c.id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == created
    with pytest.raises(ValidationFailed):
        cases.list_cases(session, lead, cursor="garbage!")
    with pytest.raises(ValidationFailed):
        cases.list_cases(session, lead, limit=0)
