"""What members see of the custody log: a case's activity, and reports with proofs that can
be checked offline (casefile/verifier/custody_verifier.py). Entries that concern an item the
member may not see are shown redacted (casefile/logic/custody/redaction.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from casefile.logic import authz, pagination
from casefile.logic.authz import CaseAction
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import entries as custody_entries
from casefile.logic.custody import proofs as custody_proofs
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.logic.custody.redaction import Hidden, RedactedEntry, ShownEntry
from casefile.model import CustodyAction, CustodyCheckpoint, CustodyEntry, Evidence, User
from casefile.verifier.custody_verifier import Verdict, verify_report

MAX_REPORT_ENTRIES = 10_000


def case_activity(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None = None,
    action: CustodyAction | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    after_seq: int | None = None,
    limit: int = 500,
) -> list[ShownEntry]:
    """The case's entries, those about items hidden from the actor redacted. Filtered by
    person or action, such entries are left out instead: being listed under a person or an
    action would tell who did what to the hidden item."""
    authz.authorize_case(session, actor, case_id, CaseAction.VIEW)
    hidden = Hidden.for_case(session, actor, case_id)

    def window(after: int | None) -> list[CustodyEntry]:
        return custody_entries.entries_for(
            session,
            case_id=case_id,
            actor_id=actor_id,
            action=action,
            since=since,
            until=until,
            after_seq=after,
            limit=limit,
        )

    entries = window(after_seq)
    if actor_id is None and action is None:
        return [hidden.show(entry) for entry in entries]
    # Left-out entries must not shorten the page: a page shorter than `limit` tells the caller
    # that nothing follows, so read on until the page is full or the log is read.
    shown: list[ShownEntry] = [entry for entry in entries if not hidden.conceals(entry)]
    while len(entries) == limit and len(shown) < limit:
        entries = window(entries[-1].seq)
        shown += [entry for entry in entries if not hidden.conceals(entry)]
    return shown[:limit]


def item_activity(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    *,
    after_seq: int | None = None,
    limit: int = MAX_REPORT_ENTRIES,
) -> tuple[Evidence, list[ShownEntry]]:
    """An item the actor may see and its entries; those that also mention an item hidden
    from the actor (a transfer whose receipt is restricted) are redacted."""
    item = authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)
    hidden = Hidden.for_case(session, actor, item.case_id)
    entries = custody_entries.entries_for(
        session, item_id=item.id, after_seq=after_seq, limit=limit
    )
    return item, [hidden.show(entry) for entry in entries]


def report_for(
    session: Session,
    entries: Sequence[ShownEntry],
    keys: CustodyKeys | None,
) -> dict[str, Any]:
    """Entries with inclusion proofs to one signed checkpoint that covers them all. The
    proofs are computed together, from the tree nodes they need read in one query."""
    if entries:
        checkpoint = custody_checkpoints.checkpoint_covering(session, keys, entries[-1].seq)
    else:
        checkpoint = custody_checkpoints.latest_checkpoint(session) or _first_checkpoint(
            session, keys
        )
    proofs = custody_proofs.inclusion_proofs(
        session, [entry.seq for entry in entries], checkpoint.size
    )
    return {
        "entries": [_with_proof(entry, checkpoint, proofs[entry.seq]) for entry in entries],
        "checkpoint": checkpoint.note,
        "verifier_key": keys.verifier_key if keys else None,
    }


def _first_checkpoint(session: Session, keys: CustodyKeys | None) -> CustodyCheckpoint:
    return custody_checkpoints.checkpoint_covering(session, keys, -1)


def _with_proof(
    entry: ShownEntry, checkpoint: CustodyCheckpoint, proof: Sequence[bytes]
) -> dict[str, Any]:
    shown = (
        entry.as_json()
        if isinstance(entry, RedactedEntry)
        else {**custody_entries.entry_json(entry), "leaf_hash": entry.leaf_hash.hex()}
    )
    return {
        **shown,
        "inclusion_proof": {
            "leaf_index": entry.seq,
            "tree_size": checkpoint.size,
            "hashes": [node.hex() for node in proof],
        },
    }


def case_report(
    session: Session, actor: User | None, case_id: uuid.UUID, keys: CustodyKeys | None
) -> dict[str, Any]:
    """The case's whole report (up to MAX_REPORT_ENTRIES entries): the JSON and PDF
    downloads and the verify button, which must stand alone."""
    entries = case_activity(session, actor, case_id, limit=MAX_REPORT_ENTRIES)
    return {"case": str(case_id), **report_for(session, entries, keys)}


def case_report_page(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    keys: CustodyKeys | None,
    *,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """One page of the case's report, oldest entries first, `next` the cursor of the page
    after (None on the last). Each page verifies on its own: its entries with proofs to a
    checkpoint that covers them (later pages may name a later checkpoint)."""
    pagination.valid_limit(limit)
    after = pagination.decode_seq(cursor) if cursor else None
    entries = case_activity(session, actor, case_id, after_seq=after, limit=limit + 1)
    return {"case": str(case_id), **_page(session, entries, keys, limit)}


def _page(
    session: Session, entries: list[ShownEntry], keys: CustodyKeys | None, limit: int
) -> dict[str, Any]:
    more = len(entries) > limit
    entries = entries[:limit]
    next_cursor = pagination.encode_seq(entries[-1].seq) if more else None
    return {**report_for(session, entries, keys), "next": next_cursor}


def verify_case(
    session: Session, actor: User | None, case_id: uuid.UUID, keys: CustodyKeys | None
) -> Verdict:
    """The check behind the UI's "verify" button: the same code an offline verifier runs."""
    return _verify(case_report(session, actor, case_id, keys), keys)


def _verify(report: dict[str, Any], keys: CustodyKeys | None) -> Verdict:
    if keys is None:
        verdict = Verdict()
        verdict.problems.append("this instance has no checkpoint signing key")
        return verdict
    return verify_report(report, keys.verifier_key)


def item_report(
    session: Session, actor: User | None, item_id: uuid.UUID, keys: CustodyKeys | None
) -> dict[str, Any]:
    item, entries = item_activity(session, actor, item_id)
    return {
        "item": str(item.id),
        "ern": item.ern,
        "sha256": item.sha256,
        **report_for(session, entries, keys),
    }


def item_report_at(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    checkpoint: CustodyCheckpoint,
    keys: CustodyKeys | None,
) -> dict[str, Any]:
    """The item's report as of `checkpoint`: its entries that checkpoint covers, each with its
    inclusion proof to it (a court bundle: every report leads to the one checkpoint it
    carries)."""
    item, entries = item_activity(session, actor, item_id)
    entries = [entry for entry in entries if entry.seq < checkpoint.size]
    proofs = custody_proofs.inclusion_proofs(
        session, [entry.seq for entry in entries], checkpoint.size
    )
    return {
        "item": str(item.id),
        "ern": item.ern,
        "sha256": item.sha256,
        "entries": [_with_proof(entry, checkpoint, proofs[entry.seq]) for entry in entries],
        "checkpoint": checkpoint.note,
        "verifier_key": keys.verifier_key if keys else None,
    }


def item_report_page(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    keys: CustodyKeys | None,
    *,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """One page of the item's report, as case_report_page."""
    pagination.valid_limit(limit)
    after = pagination.decode_seq(cursor) if cursor else None
    item, entries = item_activity(session, actor, item_id, after_seq=after, limit=limit + 1)
    return {
        "item": str(item.id),
        "ern": item.ern,
        "sha256": item.sha256,
        **_page(session, entries, keys, limit),
    }


def verify_item(
    session: Session, actor: User | None, item_id: uuid.UUID, keys: CustodyKeys | None
) -> Verdict:
    return _verify(item_report(session, actor, item_id, keys), keys)
