"""The crimes (and modes of liability) charged in a case. Leads choose them; each charge names
the framework version it was made under. Adding or removing one is a custody entry; removing
one removes its proof links, each with an entry of its own."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.frameworks import registry
from casefile.logic.frameworks.document import Crime, Framework
from casefile.logic.text import NO_NUL, Stripped
from casefile.model import Charge, CustodyAction, ProofLink, User

FrameworkId = Annotated[
    str, StringConstraints(min_length=1, max_length=60, pattern=NO_NUL), Stripped
]
CrimeId = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=NO_NUL), Stripped]


class ChargeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    framework: FrameworkId
    crime: CrimeId


def list_charges(session: Session, actor: User | None, case_id: uuid.UUID) -> list[Charge]:
    case = authz.authorize_case(session, actor, case_id, CaseAction.VIEW)
    return list(
        session.scalars(
            select(Charge).where(Charge.case_id == case.id).order_by(Charge.created_at, Charge.id)
        )
    )


def described(session: Session, charge: Charge) -> tuple[Framework, Crime]:
    """The framework version and the crime a charge was made under."""
    framework = registry.get(session, charge.framework_id, charge.framework_version)
    crime = framework.crime(charge.crime_id)
    if crime is None:  # a version never changes once shipped or loaded
        raise RuntimeError(f"charge {charge.id}: {charge.crime_id} missing from its framework")
    return framework, crime


def authorize_charging(session: Session, actor: User | None, case_id: uuid.UUID) -> None:
    """Refuse at once one who may not change the charges (views call this before reading
    input, so a viewer's bad input gets 403, not its errors)."""
    authz.authorize_case(session, actor, case_id, CaseAction.MANAGE_CHARGES)


def charge_facts(charge: Charge, framework: Framework, crime: Crime) -> dict[str, Any]:
    return {
        "id": str(charge.id),
        "framework": framework.id,
        "version": framework.version,
        "crime": crime.id,
        "title": crime.title,
    }


@retry.transaction
def add_charge(
    session: Session, actor: User | None, case_id: uuid.UUID, data: ChargeInput
) -> Charge:
    case = authz.authorize_case(session, actor, case_id, CaseAction.MANAGE_CHARGES, for_update=True)
    try:
        framework = registry.get(session, data.framework)
    except NotFound:
        raise ValidationFailed(
            {"framework": f"no framework has the id '{data.framework}'"}
        ) from None
    crime = framework.crime(data.crime)
    if crime is None:
        raise ValidationFailed(
            {"crime": f"{framework.title} has no crime or mode of liability '{data.crime}'"}
        )
    taken = session.scalar(
        select(Charge.id).where(
            Charge.case_id == case.id,
            Charge.framework_id == framework.id,
            Charge.crime_id == crime.id,
        )
    )
    if taken is not None:
        raise Conflict(f"{crime.id} of {framework.id} is already charged in this case")
    custody_log.hold_lock(session)
    charge = Charge(
        id=uuid.uuid4(),
        case_id=case.id,
        framework_id=framework.id,
        framework_version=framework.version,
        crime_id=crime.id,
        created_by_id=actor.id if actor else None,
    )
    session.add(charge)
    custody_log.append(
        session,
        actor,
        CustodyAction.CASE_UPDATED,
        case_id=case.id,
        details={
            "change": "charge_added",
            "charge": charge_facts(charge, framework, crime),
            "before": None,
            "after": {"framework": framework.id, "version": framework.version, "crime": crime.id},
        },
    )
    session.commit()
    return charge


def charge_of_case(session: Session, case_id: uuid.UUID, charge_id: uuid.UUID) -> Charge:
    charge = session.get(Charge, charge_id)
    if charge is None or charge.case_id != case_id:
        raise NotFound("charge not found")
    return charge


@retry.transaction
def remove_charge(
    session: Session, actor: User | None, case_id: uuid.UUID, charge_id: uuid.UUID
) -> None:
    """Remove a charge and its proof links (each link's removal is an entry about its item,
    so that members who may not see a restricted item see that entry redacted; the charge's
    own entry does not count them, as a count would tell of hidden links)."""
    from casefile.logic.frameworks import links  # noqa: PLC0415 - links imports this module

    case = authz.authorize_case(session, actor, case_id, CaseAction.MANAGE_CHARGES, for_update=True)
    charge = charge_of_case(session, case.id, charge_id)
    framework, crime = described(session, charge)
    custody_log.hold_lock(session)
    facts = charge_facts(charge, framework, crime)
    found = list(
        session.scalars(
            select(ProofLink)
            .where(ProofLink.charge_id == charge.id)
            .order_by(ProofLink.created_at, ProofLink.id)
        )
    )
    entries = [
        links.removal_entry(
            actor, link, facts, links.target_of(session, link), "its charge was removed"
        )
        for link in found
    ]
    entries.append(
        custody_log.NewEntry(
            actor,
            CustodyAction.CASE_UPDATED,
            case_id=case.id,
            details={
                "change": "charge_removed",
                "charge": facts,
                "before": {
                    "framework": framework.id,
                    "version": framework.version,
                    "crime": crime.id,
                },
                "after": None,
            },
        )
    )
    custody_log.append_many(session, entries)
    for link in found:
        session.delete(link)
    session.flush()
    session.delete(charge)
    session.commit()
