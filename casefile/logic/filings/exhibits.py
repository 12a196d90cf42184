"""A filing's exhibits: items of its case, in order, each with its own classification and
description, numbered by the forum's convention (ICJ "Annex N"; ICC "Anx N", each exhibit
also known by its ERN; universal jurisdiction "Exhibit N"), or by the filing's own prefix and
first number. The number is the exhibit's place in the list, so it is computed, never stored.

Adding, removing and reordering are refused for a filed filing (`FilingFrozen`). A reorder
names the list's version it was made from (`exhibits_version`): one made from a list changed
since is refused (`StaleVersion`). Every exhibit added or removed, and every exhibit whose
number a change moves, is a custody entry on its item (`linked`, details naming the filing,
the change and the number)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.custody.log import NewEntry
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.evidence.editing import StaleVersion
from casefile.logic.filings.filings import FilingFrozen, filing_ref
from casefile.logic.text import LongText
from casefile.model import (
    Case,
    Classification,
    CustodyAction,
    Evidence,
    EvidenceStatus,
    Exhibit,
    Filing,
    FilingStatus,
    Forum,
    Sensitivity,
    User,
)
from casefile.vault import sealing
from casefile.vault.envelope import Keyring, KeyringError

FORUM_PREFIX: dict[Forum, str] = {Forum.ICJ: "Annex", Forum.ICC: "Anx", Forum.UJ: "Exhibit"}
MAX_EXHIBITS = 5000


class ExhibitInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence_id: uuid.UUID
    classification: Classification | None = Field(
        default=None, description="default: the filing's classification"
    )
    description: LongText | None = None


class ExhibitOrder(BaseModel):
    """The filing's exhibits in their new order: every exhibit's id, once."""

    model_config = ConfigDict(extra="forbid")

    exhibits_version: int = Field(
        description="the filing's `exhibits_version` as read; 409 stale_version if the list "
        "changed since"
    )
    exhibit_ids: list[uuid.UUID] = Field(max_length=MAX_EXHIBITS)


def _description_id(item: Evidence) -> uuid.UUID:
    """What a sealed exhibit description is bound to: the item, for this purpose only (not
    the item's own sealed details), so copies into a new version open as they are."""
    return uuid.uuid5(item.id, "casefile exhibit description")


def seal_description(keyring: Keyring, item: Evidence, text: str) -> bytes:
    cipher = keyring.unwrap(item.wrapped_key, item.id.bytes)
    return sealing.seal(cipher, _description_id(item), {"description": text})


def description_of(keyring: Keyring, exhibit: Exhibit) -> str | None:
    """The exhibit's description, opened if sealed (None once the item was shredded). Only
    for readers authorized to see the item (authz.authorize_filing)."""
    if exhibit.sealed_description is None:
        return exhibit.description
    item = exhibit.item
    if item.wrapped_key is None:
        return None
    try:
        cipher = keyring.unwrap(item.wrapped_key, item.id.bytes)
        fields = sealing.unseal(cipher, _description_id(item), exhibit.sealed_description)
    except KeyringError:
        return None
    value = fields.get("description")
    return value if isinstance(value, str) else None


def prefix(filing: Filing, case: Case) -> str:
    return filing.exhibit_prefix or FORUM_PREFIX[case.forum]


def number(filing: Filing, case: Case, position: int) -> str:
    """The exhibit's number at `position` (0-based): "Annex 3"."""
    return f"{prefix(filing, case)} {filing.exhibit_start + position}".strip()


def exhibit_entry(
    actor: User | None,
    case: Case,
    filing: Filing,
    item: Evidence,
    change: str,
    **facts: Any,
) -> NewEntry:
    return NewEntry(
        actor,
        CustodyAction.LINKED,
        case_id=case.id,
        item_id=item.id,
        details={"ern": item.ern, "change": change, "filing": filing_ref(filing), **facts},
    )


def _writable(
    session: Session, actor: User | None, filing_id: uuid.UUID
) -> tuple[Filing, Case]:
    filing = authz.authorize_filing(
        session, actor, filing_id, CaseAction.EDIT_FILINGS, for_update=True
    )
    custody_log.hold_lock(session)
    session.refresh(filing)
    if filing.status == FilingStatus.FILED:
        raise FilingFrozen(
            "this filing was filed and is frozen: make a new version to change its exhibits"
        )
    return filing, session.get_one(Case, filing.case_id)


def _renumbered(
    actor: User | None, case: Case, filing: Filing, before: dict[uuid.UUID, int]
) -> list[NewEntry]:
    """An entry for each exhibit whose number changed (positions as they are now)."""
    return [
        exhibit_entry(
            actor,
            case,
            filing,
            exhibit.item,
            "exhibit_renumbered",
            **{"from": number(filing, case, before[exhibit.id])},
            to=number(filing, case, exhibit.position),
        )
        for exhibit in filing.exhibits
        if exhibit.id in before and before[exhibit.id] != exhibit.position
    ]


@retry.transaction
def add_exhibit(
    session: Session,
    actor: User | None,
    filing_id: uuid.UUID,
    data: ExhibitInput,
    *,
    keyring: Keyring | None = None,
) -> Exhibit:
    """Add an item of the filing's case at the end of its exhibits. An item the actor may
    not see is NotFound; one of another case, one already an exhibit, a deleted one: refused."""
    filing, case = _writable(session, actor, filing_id)
    item = authz.authorize_item(session, actor, data.evidence_id, CaseAction.VIEW_EVIDENCE)
    if item.case_id != filing.case_id:
        raise ValidationFailed({"evidence_id": "not an item of this filing's case"})
    description, sealed = data.description, None
    if item.sensitivity == Sensitivity.RESTRICTED and description:
        if keyring is None:
            raise Conflict("a restricted item's exhibit description needs the keyring")
        description, sealed = None, seal_description(keyring, item, data.description or "")
    if item.status != EvidenceStatus.ACTIVE:
        raise Conflict("this item was deleted: it cannot be an exhibit")
    if any(exhibit.evidence_id == item.id for exhibit in filing.exhibits):
        raise Conflict(f"{item.ern} is already an exhibit of this filing")
    if len(filing.exhibits) >= MAX_EXHIBITS:
        raise Conflict(f"a filing holds at most {MAX_EXHIBITS} exhibits")
    exhibit = Exhibit(
        filing_id=filing.id,
        evidence_id=item.id,
        position=len(filing.exhibits),
        classification=data.classification or filing.classification,
        description=description,
        sealed_description=sealed,
        added_by_id=actor.id if actor is not None else None,
    )
    filing.exhibits.append(exhibit)
    filing.exhibits_version += 1
    session.flush()
    custody_log.append_many(
        session,
        [
            exhibit_entry(
                actor,
                case,
                filing,
                item,
                "exhibit_added",
                number=number(filing, case, exhibit.position),
                classification=exhibit.classification.value,
            )
        ],
    )
    session.commit()
    return exhibit


@retry.transaction
def remove_exhibit(
    session: Session, actor: User | None, filing_id: uuid.UUID, exhibit_id: uuid.UUID
) -> Filing:
    """Remove an exhibit; those after it move up a number (each an entry of its own)."""
    filing, case = _writable(session, actor, filing_id)
    exhibit = next((each for each in filing.exhibits if each.id == exhibit_id), None)
    if exhibit is None:
        raise NotFound("exhibit not found")
    before = {each.id: each.position for each in filing.exhibits}
    removed_number = number(filing, case, exhibit.position)
    item = exhibit.item
    filing.exhibits.remove(exhibit)
    for position, each in enumerate(filing.exhibits):
        each.position = position
    filing.exhibits_version += 1
    session.flush()
    custody_log.append_many(
        session,
        [
            exhibit_entry(actor, case, filing, item, "exhibit_removed", number=removed_number),
            *_renumbered(actor, case, filing, before),
        ],
    )
    session.commit()
    return filing


@retry.transaction
def reorder_exhibits(
    session: Session, actor: User | None, filing_id: uuid.UUID, order: ExhibitOrder
) -> Filing:
    """Put the exhibits in the order given (all of them, each once)."""
    filing, case = _writable(session, actor, filing_id)
    if order.exhibits_version != filing.exhibits_version:
        raise StaleVersion(
            "the exhibits changed since you read them: read them again and reorder those"
        )
    current = {each.id: each for each in filing.exhibits}
    if len(order.exhibit_ids) != len(set(order.exhibit_ids)) or set(order.exhibit_ids) != set(
        current
    ):
        raise ValidationFailed({"exhibit_ids": "list every exhibit of the filing, each once"})
    before = {each.id: each.position for each in filing.exhibits}
    for position, exhibit_id in enumerate(order.exhibit_ids):
        current[exhibit_id].position = position
    if all(before[key] == current[key].position for key in current):
        session.commit()  # the same order: nothing written
        return filing
    filing.exhibits_version += 1
    session.flush()
    session.expire(filing, ["exhibits"])  # read back in the new order
    custody_log.append_many(session, _renumbered(actor, case, filing, before))
    session.commit()
    return filing


def move_exhibit(
    session: Session, actor: User | None, filing_id: uuid.UUID, exhibit_id: uuid.UUID, step: int
) -> Filing:
    """Move one exhibit a place up (-1) or down (+1): the web page's buttons, as a reorder."""
    filing = authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    ids = [each.id for each in filing.exhibits]
    if exhibit_id not in ids:
        raise NotFound("exhibit not found")
    at = ids.index(exhibit_id)
    to = max(0, min(len(ids) - 1, at + step))
    ids.insert(to, ids.pop(at))
    version = filing.exhibits_version
    session.commit()
    return reorder_exhibits(
        session, actor, filing_id, ExhibitOrder(exhibits_version=version, exhibit_ids=ids)
    )
