"""Every access decision in Casefile is made here. Views, the API and the CLI call these
functions; nothing else decides who may see or do what.

Rules:
- A case exists for an actor only if the actor is a member: anyone else gets NotFound, so a
  case's existence is never revealed. This holds for instance administrators too.
- A member whose role lacks the action gets Forbidden.
- Account administration needs the instance administrator flag; it grants no case access.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from casefile.logic.errors import Forbidden, NotFound, Unauthenticated
from casefile.model import (
    Case,
    CaseMember,
    Evidence,
    EvidenceGrant,
    Exhibit,
    Filing,
    Role,
    Sensitivity,
    User,
)


class CaseAction(StrEnum):
    VIEW = "view"  # the case, its details, its members
    EDIT = "edit"  # the case's details
    MANAGE_MEMBERS = "manage_members"
    RECORD_TRANSFER = "record_transfer"  # of physical media and originals
    VIEW_EVIDENCE = "view_evidence"  # metadata and content of items the actor may see
    ADD_EVIDENCE = "add_evidence"
    DELETE_EVIDENCE = "delete_evidence"
    SET_LEGAL_HOLD = "set_legal_hold"
    GRANT_ACCESS = "grant_access"  # to restricted items
    MANAGE_TAGS = "manage_tags"  # the case's controlled vocabulary of tags
    LIFT_RESTRICTION = "lift_restriction"  # make a restricted item standard (unseal it)
    MANAGE_CHARGES = "manage_charges"  # the crimes charged in the case
    LINK_PROOF = "link_proof"  # evidence to the elements of charged crimes (the proof matrix)
    VIEW_INCIDENTS = "view_incidents"  # incidents, perpetrators, links to items one may see
    EDIT_INCIDENTS = "edit_incidents"  # record and change incidents, perpetrators, links
    EDIT_FILINGS = "edit_filings"  # filings and their exhibits (reading them is VIEW_EVIDENCE)


_CONTRIBUTOR = frozenset(
    {
        CaseAction.VIEW,
        CaseAction.RECORD_TRANSFER,
        CaseAction.VIEW_EVIDENCE,
        CaseAction.ADD_EVIDENCE,
        CaseAction.LINK_PROOF,
        CaseAction.VIEW_INCIDENTS,
        CaseAction.EDIT_INCIDENTS,
    }
)
ROLE_ACTIONS: dict[Role, frozenset[CaseAction]] = {
    Role.LEAD: frozenset(CaseAction),
    Role.LAWYER: _CONTRIBUTOR | {CaseAction.EDIT_FILINGS},
    Role.INVESTIGATOR: _CONTRIBUTOR,
    Role.VIEWER: frozenset({CaseAction.VIEW, CaseAction.VIEW_EVIDENCE, CaseAction.VIEW_INCIDENTS}),
}


# SQLAlchemy's with_for_update(key_share=True) is FOR NO KEY UPDATE on PostgreSQL.
NO_KEY_UPDATE: dict[str, bool] = {"key_share": True}


def require_active(actor: User | None) -> User:
    """An authenticated, enabled account; the base of every non-public route."""
    if actor is None or actor.is_disabled:
        raise Unauthenticated("sign in first")
    return actor


def require_admin(actor: User | None) -> User:
    user = require_active(actor)
    if not user.is_admin:
        raise Forbidden("only an instance administrator may manage accounts")
    return user


def role_in_case(session: Session, actor: User, case_id: uuid.UUID) -> Role | None:
    return session.scalar(
        select(CaseMember.role).where(CaseMember.case_id == case_id, CaseMember.user_id == actor.id)
    )


def can(role: Role | None, action: CaseAction) -> bool:
    return role is not None and action in ROLE_ACTIONS[role]


def authorize_case(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    action: CaseAction,
    *,
    for_update: bool = False,
) -> Case:
    """The case, if the actor may do `action` on it; NotFound for non-members.

    `for_update` locks the case row for the rest of the transaction, as FOR NO KEY UPDATE
    (the weakest lock that keeps two writers of the case apart): the foreign-key checks of
    rows that point at the case (custody entries, items, members) take FOR KEY SHARE on it,
    which this lock lets through. FOR UPDATE would make them wait, and a transaction holding
    the custody lock could then deadlock with one holding the case (docs/custody.md, "Lock
    order"). SQLite ignores it: BEGIN IMMEDIATE holds the database's one write lock."""
    user = require_active(actor)
    role = role_in_case(session, user, case_id)
    lock = NO_KEY_UPDATE if for_update else None
    case = session.get(Case, case_id, with_for_update=lock) if role else None
    if role is None or case is None:
        raise NotFound("case not found")
    if not can(role, action):
        raise Forbidden(f"your role ({role.value}) may not {action.value.replace('_', ' ')}")
    return case


def has_grant(session: Session, item: Evidence, user: User) -> bool:
    return session.get(EvidenceGrant, (item.id, user.id)) is not None


def may_see_item(session: Session, user: User, item: Evidence) -> bool:
    """Whether a member of the item's case may see this item (restricted ones need a grant)."""
    return item.sensitivity != Sensitivity.RESTRICTED or has_grant(session, item, user)


def authorize_item(
    session: Session, actor: User | None, item_id: uuid.UUID, action: CaseAction
) -> Evidence:
    """The item, if the actor may do `action` on it. Items of cases the actor is not in, and
    restricted items the actor holds no grant for, do not exist for the actor (NotFound)."""
    user = require_active(actor)
    item = session.get(Evidence, item_id)
    role = role_in_case(session, user, item.case_id) if item is not None else None
    if item is None or role is None:
        raise NotFound("evidence not found")
    if not may_see_item(session, user, item):
        raise NotFound("evidence not found")
    if not can(role, action):
        raise Forbidden(f"your role ({role.value}) may not {action.value.replace('_', ' ')}")
    return item


def visible_evidence(session: Session, actor: User | None, case_id: uuid.UUID) -> Select[Evidence]:
    """Items of a case the actor may see: standard ones, and restricted ones granted to them."""
    case = authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    user = require_active(actor)
    granted = select(EvidenceGrant.evidence_id).where(EvidenceGrant.user_id == user.id)
    return select(Evidence).where(
        Evidence.case_id == case.id,
        or_(Evidence.sensitivity == Sensitivity.STANDARD, Evidence.id.in_(granted)),
    )


def hidden_evidence(session: Session, actor: User | None, case_id: uuid.UUID) -> Select[Evidence]:
    """Items of a case that the actor may not see: restricted ones they hold no grant for
    (whatever their role, leads included, and whether or not the item was deleted since).
    Whatever mentions them (custody entries, reports) must not show them to this actor."""
    case = authorize_case(session, actor, case_id, CaseAction.VIEW)
    user = require_active(actor)
    granted = select(EvidenceGrant.evidence_id).where(EvidenceGrant.user_id == user.id)
    return select(Evidence).where(
        Evidence.case_id == case.id,
        Evidence.sensitivity == Sensitivity.RESTRICTED,
        Evidence.id.not_in(granted),
    )


def visible_cases(actor: User | None) -> Select[Case]:
    user = require_active(actor)
    return select(Case).join(CaseMember).where(CaseMember.user_id == user.id)


def searchable_cases(
    actor: User | None, action: CaseAction = CaseAction.VIEW_EVIDENCE
) -> Select[uuid.UUID]:
    """Ids of the cases the actor is a member of with a role that may do `action` (search:
    view evidence, view incidents)."""
    user = require_active(actor)
    return select(CaseMember.case_id).where(
        CaseMember.user_id == user.id, CaseMember.role.in_(sorted(roles_with(action)))
    )


def roles_with(action: CaseAction) -> frozenset[Role]:
    return frozenset(role for role, actions in ROLE_ACTIONS.items() if action in actions)


def granted_items(actor: User | None) -> Select[uuid.UUID]:
    """Ids of the restricted items the actor holds a grant for."""
    user = require_active(actor)
    return select(EvidenceGrant.evidence_id).where(EvidenceGrant.user_id == user.id)


def authorize_filing(
    session: Session,
    actor: User | None,
    filing_id: uuid.UUID,
    action: CaseAction,
    *,
    for_update: bool = False,
) -> Filing:
    """The filing, if the actor may do `action` on it (VIEW_EVIDENCE to read it,
    EDIT_FILINGS to change it). A filing holding an exhibit the actor may not see (a
    restricted item without their grant) does not exist for them (NotFound), as the item
    does not: its title, number and description would show it. `for_update` locks the
    filing's case row (as `authorize_case`)."""
    user = require_active(actor)
    filing = session.get(Filing, filing_id)
    if filing is None or role_in_case(session, user, filing.case_id) is None:
        raise NotFound("filing not found")
    if session.scalar(
        hidden_evidence(session, user, filing.case_id)
        .with_only_columns(Evidence.id)
        .where(Evidence.id.in_(select(Exhibit.evidence_id).where(Exhibit.filing_id == filing.id)))
        .limit(1)
    ):
        raise NotFound("filing not found")
    authorize_case(session, user, filing.case_id, action, for_update=for_update)
    return filing


def visible_filings(session: Session, actor: User | None, case_id: uuid.UUID) -> Select[Filing]:
    """Filings of a case the actor may read: those holding no exhibit hidden from them."""
    case = authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    hidden = hidden_evidence(session, actor, case.id).with_only_columns(Evidence.id)
    holding_hidden = select(Exhibit.filing_id).where(Exhibit.evidence_id.in_(hidden))
    return select(Filing).where(Filing.case_id == case.id, Filing.id.not_in(holding_hidden))
