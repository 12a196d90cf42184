"""Changing an item's sensitivity after intake. Restricting an item seals its descriptive
metadata under its data key and indexes its collector blindly, as intake does for a
restricted upload (`metadata.seal`), and gives the person restricting it a grant, so that
they keep seeing it; whoever may add evidence to the case may restrict an item they see.
Lifting a restriction opens the seal back into the plain columns (the extracted text too) and
drops the blind index (`metadata.unseal`): leads only, for an item they see (hold a grant for).
Grants stay as they were (a standard item needs none; restricting it again brings them back
into force). Either way the item's search document is written anew in the same transaction
(`search.index.index_evidence`): blind hashes only once restricted, its terms once lifted.

Restricting an item restricts what was made from it too (docs/derivatives.md), in the same
transaction and by the same path (`change`, for each): its translations (they carry all of its
content) and its redacted versions (made from content now judged sensitive: a lead lowers one
explicitly once it is checked), and theirs in turn; each is sealed, reindexed and granted to
the person restricting as the item is, with its own entry naming the item it was made from
(`with`). A derivative that already was restricted stops the walk there (a standard redaction
of it was a choice made on a restricted item). Lifting a restriction lifts nothing else.

Each change is one `sensitivity_changed` custody entry of the item, with the sensitivity
before and after. The entries already in the log stay as written: restricting an item does not
seal what earlier entries said of it in the clear (its intake entry's file name, a metadata
edit's values); it does make every entry about it redacted for members without a grant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict
from casefile.logic.evidence import metadata
from casefile.logic.search import index as search_index
from casefile.model import CustodyAction, Evidence, EvidenceGrant, EvidenceStatus, Sensitivity, User
from casefile.vault.envelope import Keyring, KeyringError


def change(
    session: Session,
    actor: User | None,
    item: Evidence,
    to: Sensitivity,
    *,
    keyring: Keyring,
    entries: list[custody_log.NewEntry],
    bulk: str | None = None,
    derived: list[Evidence] | None = None,
    made_from: Evidence | None = None,
) -> bool:
    """Set one item's sensitivity inside the caller's transaction, which holds the custody
    lock and was authorized for the item and the direction; appends its entry to `entries`.
    False if it had that sensitivity already. Conflict for a deleted item, or a seal that does
    not open. Restricting it restricts its active derivatives too (recursively), each added
    to `derived` (`made_from`: the item a derivative is restricted with, for its entry)."""
    if item.sensitivity == to:
        return False
    if item.status != EvidenceStatus.ACTIVE or item.wrapped_key is None:
        raise Conflict(f"{item.ern} was deleted: its sensitivity no longer changes")
    before = item.sensitivity
    item.sensitivity = to
    details: dict[str, Any] = {"ern": item.ern, "from": before.value, "to": to.value}
    try:
        if to == Sensitivity.RESTRICTED:
            metadata.seal(session, keyring, item)
            details["metadata"] = "sealed"
            if actor is not None and session.get(EvidenceGrant, (item.id, actor.id)) is None:
                session.add(
                    EvidenceGrant(evidence_id=item.id, user_id=actor.id, granted_by_id=actor.id)
                )
                details["granted_to"] = str(actor.id)
        else:
            metadata.unseal(session, keyring, item)
            details["metadata"] = "unsealed"
    except KeyringError as error:
        raise Conflict(f"{item.ern}: its sealed description does not open") from error
    # Its search document follows, in this transaction: blind hashes and no readable terms
    # once restricted, its terms again once lifted (else search would keep the plaintext of
    # a restricted item, or a lifted one only blindly).
    search_index.index_evidence(session, keyring, item, flag=False)
    if bulk is not None:
        details["bulk"] = bulk
    if made_from is not None:
        details["with"] = {"id": str(made_from.id), "ern": made_from.ern}
    entries.append(
        custody_log.NewEntry(
            actor,
            CustodyAction.SENSITIVITY_CHANGED,
            case_id=item.case_id,
            item_id=item.id,
            details=details,
        )
    )
    if to == Sensitivity.RESTRICTED:
        _restrict_derivatives(session, actor, item, keyring=keyring, entries=entries,
                              bulk=bulk, derived=derived)
    return True


def _restrict_derivatives(
    session: Session,
    actor: User | None,
    item: Evidence,
    *,
    keyring: Keyring,
    entries: list[custody_log.NewEntry],
    bulk: str | None,
    derived: list[Evidence] | None,
) -> None:
    children = session.scalars(
        select(Evidence)
        .where(Evidence.derived_from_id == item.id, Evidence.status == EvidenceStatus.ACTIVE)
        .order_by(Evidence.created_at, Evidence.id)
    ).all()
    for child in children:
        restricted = change(session, actor, child, Sensitivity.RESTRICTED, keyring=keyring,
                            entries=entries, bulk=bulk, derived=derived, made_from=item)
        if restricted and derived is not None:
            derived.append(child)
