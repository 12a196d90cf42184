"""Alleged perpetrators: the units and persons a case names, each once (per kind and name),
reused across its incidents. Naming one is a custody entry (`perpetrator_created`); naming
one that exists (the same kind and name, ignoring case and surrounding blanks) returns it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import ValidationFailed
from casefile.logic.text import Line, LongText, Name, refuse_nul
from casefile.model import CustodyAction, Perpetrator, PerpetratorKind, User


class PerpetratorInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    name: Name
    kind: PerpetratorKind
    description: LongText | None = None
    affiliation: Line | None = None

    @field_validator("description", "affiliation", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def parse_perpetrator(fields: dict[str, object]) -> PerpetratorInput:
    try:
        return PerpetratorInput.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


@dataclass(frozen=True)
class Named:
    perpetrator: Perpetrator
    created: bool  # False: the case already named this one, and it is returned as it is


def _same(session: Session, case_id: uuid.UUID, data: PerpetratorInput) -> Perpetrator | None:
    return session.scalar(
        select(Perpetrator).where(
            Perpetrator.case_id == case_id,
            Perpetrator.kind == data.kind,
            func.lower(Perpetrator.name) == data.name.lower(),
        )
    )


@retry.transaction
def name_perpetrator(
    session: Session, actor: User | None, case_id: uuid.UUID, data: PerpetratorInput
) -> Named:
    """Name an alleged perpetrator in a case, or find the one it names already."""
    user = authz.require_active(actor)
    case = authz.authorize_case(session, actor, case_id, CaseAction.EDIT_INCIDENTS, for_update=True)
    existing = _same(session, case.id, data)
    if existing is not None:
        session.commit()
        return Named(existing, created=False)
    custody_log.hold_lock(session)
    perpetrator = Perpetrator(
        case_id=case.id,
        name=data.name,
        kind=data.kind,
        description=data.description,
        affiliation=data.affiliation,
        created_by_id=user.id,
    )
    session.add(perpetrator)
    session.flush()
    custody_log.append(
        session,
        user,
        CustodyAction.PERPETRATOR_CREATED,
        case_id=case.id,
        details={
            "perpetrator": str(perpetrator.id),
            "name": perpetrator.name,
            "kind": perpetrator.kind.value,
            "description": perpetrator.description,
            "affiliation": perpetrator.affiliation,
        },
    )
    session.commit()
    return Named(perpetrator, created=True)


def list_perpetrators(
    session: Session, actor: User | None, case_id: uuid.UUID
) -> Sequence[Perpetrator]:
    """The case's perpetrators by name (a case names tens to hundreds, not more)."""
    case = authz.authorize_case(session, actor, case_id, CaseAction.VIEW_INCIDENTS)
    return session.scalars(
        select(Perpetrator)
        .where(Perpetrator.case_id == case.id)
        .order_by(func.lower(Perpetrator.name), Perpetrator.id)
    ).all()
