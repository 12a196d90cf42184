"""Changing an item's sensitivity after intake. Restricting an item seals its descriptive
metadata under its data key and indexes its collector blindly, as intake does for a
restricted upload (`metadata.seal`), and gives the person restricting it a grant, so that
they keep seeing it; whoever may add evidence to the case may restrict an item they see.
Lifting a restriction opens the seal back into the plain columns and drops the blind index
(`metadata.unseal`): leads only, for an item they see (hold a grant for). Grants stay as
they were (a standard item needs none; restricting it again brings them back into force).

Each change is one `sensitivity_changed` custody entry of the item, with the sensitivity
before and after. The entries already in the log stay as written: restricting an item does not
seal what earlier entries said of it in the clear (its intake entry's file name, a metadata
edit's values); it does make every entry about it redacted for members without a grant."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict
from casefile.logic.evidence import metadata
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
) -> bool:
    """Set one item's sensitivity inside the caller's transaction, which holds the custody
    lock and was authorized for the item and the direction; appends its entry to `entries`.
    False if it had that sensitivity already. Conflict for a deleted item, or a seal that does
    not open."""
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
    # The search index follows: a restricted item's words only as blind hashes, a standard
    # one's in the clear again (else its words and title stay findable by every member).
    _search_index().index_evidence(session, keyring, item, flag=False)
    if bulk is not None:
        details["bulk"] = bulk
    entries.append(
        custody_log.NewEntry(
            actor,
            CustodyAction.SENSITIVITY_CHANGED,
            case_id=item.case_id,
            item_id=item.id,
            details=details,
        )
    )
    return True


def _search_index() -> Any:
    from casefile.logic.search import index  # noqa: PLC0415 - search builds on evidence

    return index
