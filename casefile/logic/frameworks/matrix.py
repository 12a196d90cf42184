"""The proof matrix of a case, as one actor may see it: every element of every charged crime
(and mode of liability), with the links to incidents and to the items the actor may see.

What "gap" means: an element is a gap for an actor when no link *that actor may see* is of a
strength that proves (`supports` or `establishes`): nothing, or only `lead` or `contests`.
Links to restricted items the actor holds no grant for are left out before anything is
counted, so the matrix shows neither them nor their number, and an element proved only by a
hidden item is a gap for that actor. Telling them otherwise ("covered, by something you may not
see") would tell that a hidden item bears on that element. A lead who sees a gap that a
colleague with the grant does not is expected to ask that colleague, not the matrix.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.frameworks import charges
from casefile.logic.frameworks.document import Crime, Element, Framework
from casefile.logic.incidents.incidents import get_incident
from casefile.model import (
    Case,
    Charge,
    Evidence,
    EvidenceStatus,
    Incident,
    ProofLink,
    Sensitivity,
    Strength,
    User,
)


@dataclass(slots=True)
class MatrixLink:
    """A link as the matrix shows it: to an item (`evidence_id`, `ern`) or an incident."""

    id: uuid.UUID
    strength: Strength
    note: str
    evidence_id: uuid.UUID | None
    incident_id: uuid.UUID | None
    ern: str | None
    title: str
    restricted: bool
    deleted: bool
    updated_at: dt.datetime

    @property
    def kind(self) -> str:
        return "evidence" if self.evidence_id else "incident"

    @property
    def label(self) -> str:
        """How it is named in a list: the item's ERN, or the incident's title."""
        return self.ern if self.ern is not None else self.title


@dataclass
class MatrixElement:
    element: Element
    links: list[MatrixLink] = field(default_factory=list)

    @property
    def gap(self) -> bool:
        return not any(link.strength.proves for link in self.links)


@dataclass
class MatrixRow:
    """One charge: its crime (or mode of liability) and its elements."""

    charge: Charge
    framework: Framework
    crime: Crime
    elements: list[MatrixElement]

    @property
    def gaps(self) -> int:
        return sum(1 for element in self.elements if element.gap)


@dataclass
class Matrix:
    case: Case
    rows: list[MatrixRow]

    @property
    def gaps(self) -> int:
        return sum(row.gaps for row in self.rows)

    @property
    def elements(self) -> int:
        return sum(len(row.elements) for row in self.rows)


_ORDER = {Strength.ESTABLISHES: 0, Strength.SUPPORTS: 1, Strength.LEAD: 2, Strength.CONTESTS: 3}


def build(session: Session, actor: User | None, case_id: uuid.UUID) -> Matrix:
    case = authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    hidden = set(
        session.scalars(
            authz.hidden_evidence(session, actor, case.id).with_only_columns(Evidence.id)
        )
    )
    found = session.execute(
        select(
            ProofLink.id,
            ProofLink.charge_id,
            ProofLink.element_id,
            ProofLink.strength,
            ProofLink.note,
            ProofLink.updated_at,
            Evidence.id,
            Evidence.ern,
            Evidence.title,
            Evidence.sensitivity,
            Evidence.status,
            Incident.id,
            Incident.title,
        )
        .outerjoin(Evidence, Evidence.id == ProofLink.evidence_id)
        .outerjoin(Incident, Incident.id == ProofLink.incident_id)
        .where(ProofLink.case_id == case.id)
    ).all()
    by_element: dict[tuple[uuid.UUID, str], list[MatrixLink]] = defaultdict(list)
    for row in found:
        if row[6] is not None and row[6] in hidden:
            continue
        by_element[(row[1], row[2])].append(
            MatrixLink(
                id=row[0],
                strength=row[3],
                note=row[4],
                evidence_id=row[6],
                incident_id=row[11],
                ern=row[7],
                title=row[8] if row[6] is not None else row[12],
                restricted=row[9] == Sensitivity.RESTRICTED,
                deleted=row[10] == EvidenceStatus.DELETED,
                updated_at=row[5],
            )
        )
    rows: list[MatrixRow] = []
    for charge in charges.list_charges(session, actor, case.id):
        framework, crime = charges.described(session, charge)
        elements = []
        for element in crime.elements:
            links = by_element.get((charge.id, element.id), [])
            links.sort(key=lambda link: (_ORDER[link.strength], link.label))
            elements.append(MatrixElement(element, links))
        rows.append(MatrixRow(charge, framework, crime, elements))
    return Matrix(case, rows)


@dataclass(frozen=True)
class ElementLink:
    """One proof link of an item or an incident, as its page lists it: the charge's crime
    (or mode of liability), the element, how strongly it bears on it, and the note."""

    id: uuid.UUID
    charge: Charge
    crime: Crime
    element: Element
    strength: Strength
    note: str


def elements_of_item(session: Session, actor: User | None, item_id: uuid.UUID) -> list[ElementLink]:
    """The elements an item is linked to, for a reader who may see the item and the matrix
    (NotFound otherwise, as for the item)."""
    item = authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)
    return _elements(session, ProofLink.evidence_id == item.id)


def elements_of_incident(
    session: Session, actor: User | None, incident_id: uuid.UUID
) -> list[ElementLink]:
    """The elements an incident is linked to, for a reader who may see the incident and the
    matrix (NotFound otherwise, as for the incident)."""
    incident = get_incident(session, actor, incident_id, CaseAction.VIEW_INCIDENTS)
    authz.authorize_case(session, actor, incident.case_id, CaseAction.VIEW_EVIDENCE)
    return _elements(session, ProofLink.incident_id == incident.id)


def _elements(session: Session, target: ColumnElement[bool]) -> list[ElementLink]:
    rows = session.execute(
        select(ProofLink, Charge)
        .join(Charge, Charge.id == ProofLink.charge_id)
        .where(target)
        .order_by(Charge.created_at, Charge.id, ProofLink.element_id)
    ).all()
    found: list[ElementLink] = []
    crimes: dict[uuid.UUID, Crime] = {}
    for link, charge in rows:
        if charge.id not in crimes:
            crimes[charge.id] = charges.described(session, charge)[1]
        crime = crimes[charge.id]
        element = crime.element(link.element_id)
        if element is None:  # a version never changes once shipped or loaded
            continue
        found.append(ElementLink(link.id, charge, crime, element, link.strength, link.note))
    # In the order of the crime's elements, as the matrix lists them.
    position = {
        (charge_id, element.id): index
        for charge_id, crime in crimes.items()
        for index, element in enumerate(crime.elements)
    }
    order = {charge_id: index for index, charge_id in enumerate(crimes)}
    found.sort(key=lambda one: (order[one.charge.id], position[(one.charge.id, one.element.id)]))
    return found
