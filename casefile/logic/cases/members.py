"""Case membership. Only a lead changes it, and a case always keeps at least one lead."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, EmailStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.accounts.accounts import find_by_email
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.model import CaseMember, CustodyAction, Role, User


class MemberInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    role: Role


class RoleInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


def list_members(session: Session, actor: User | None, case_id: uuid.UUID) -> list[CaseMember]:
    case = authz.authorize_case(session, actor, case_id, CaseAction.VIEW)
    return list(case.members)


def authorize_management(session: Session, actor: User | None, case_id: uuid.UUID) -> None:
    """Refuse at once one who may not manage the case's members: views call this before they
    read the input, so that a viewer's bad input gets 403 (a non-member's 404), not its errors."""
    authz.authorize_case(session, actor, case_id, CaseAction.MANAGE_MEMBERS)


@retry.transaction
def add_member(
    session: Session, actor: User | None, case_id: uuid.UUID, data: MemberInput
) -> CaseMember:
    case = authz.authorize_case(session, actor, case_id, CaseAction.MANAGE_MEMBERS, for_update=True)
    user = find_by_email(session, str(data.email))
    if user is None or user.is_disabled:
        raise ValidationFailed({"email": "no active account has this email"})
    if _membership(session, case.id, user.id) is not None:
        raise Conflict(f"{user.email} is already a member of this case")
    member = CaseMember(case_id=case.id, user_id=user.id, role=data.role, added_by_id=_id(actor))
    session.add(member)
    custody_log.append(
        session,
        actor,
        CustodyAction.MEMBER_ADDED,
        case_id=case.id,
        details={"member": str(user.id), "email": user.email, "role": data.role.value},
    )
    session.commit()
    return member


@retry.transaction
def change_role(
    session: Session, actor: User | None, case_id: uuid.UUID, user_id: uuid.UUID, role: Role
) -> CaseMember:
    case = authz.authorize_case(session, actor, case_id, CaseAction.MANAGE_MEMBERS, for_update=True)
    member = _existing(session, case.id, user_id)
    if member.role == Role.LEAD and role != Role.LEAD:
        _keep_a_lead(session, case.id)
    if member.role != role:
        custody_log.append(
            session,
            actor,
            CustodyAction.MEMBER_ROLE_CHANGED,
            case_id=case.id,
            details={"member": str(user_id), "from": member.role.value, "to": role.value},
        )
        member.role = role
    session.commit()
    return member


@retry.transaction
def remove_member(
    session: Session, actor: User | None, case_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    case = authz.authorize_case(session, actor, case_id, CaseAction.MANAGE_MEMBERS, for_update=True)
    member = _existing(session, case.id, user_id)
    if member.role == Role.LEAD:
        _keep_a_lead(session, case.id)
    custody_log.append(
        session,
        actor,
        CustodyAction.MEMBER_REMOVED,
        case_id=case.id,
        details={"member": str(user_id), "role": member.role.value},
    )
    session.delete(member)
    session.commit()


def _id(actor: User | None) -> uuid.UUID | None:
    return actor.id if actor else None


def _membership(session: Session, case_id: uuid.UUID, user_id: uuid.UUID) -> CaseMember | None:
    return session.get(CaseMember, (case_id, user_id))


def _existing(session: Session, case_id: uuid.UUID, user_id: uuid.UUID) -> CaseMember:
    member = _membership(session, case_id, user_id)
    if member is None:
        raise NotFound("that person is not a member of this case")
    return member


def _keep_a_lead(session: Session, case_id: uuid.UUID) -> None:
    leads = session.scalar(
        select(func.count())
        .select_from(CaseMember)
        .where(CaseMember.case_id == case_id, CaseMember.role == Role.LEAD)
    )
    if (leads or 0) <= 1:
        raise Conflict("a case must keep at least one lead; make someone else lead first")
