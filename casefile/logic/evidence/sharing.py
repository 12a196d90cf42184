"""One blob per SHA-256 per case: what registering knows of a case's content (the active
items with the bytes being registered), an item that shares a hidden item's blob and data key,
and which blobs active items still read from."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Text, bindparam, func, literal_column, or_, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from casefile.logic import authz
from casefile.logic.custody import log as custody_log
from casefile.logic.evidence.reading import IntegrityFailure
from casefile.model import CustodyAction, Evidence, EvidenceStatus, User
from casefile.vault.envelope import Keyring

# On PostgreSQL, a lookup by SHA-256 is one probe of `(case_id, sha256)` per digest, whatever
# the planner believes of the table: `sha256 IN (...)` was planned from statistics that lag
# behind a bulk ingest (autovacuum analyzes a minute or more after it began), so a case taken
# for a handful of rows was read whole, every item tested against every digest: ~13 ms of
# server CPU per lookup of 64 digests at 10,000 items, growing with the case, instead of ~0.5.
# A lateral subquery behind OFFSET 0 (never merged into the outer query) runs once per digest
# with `sha256 = digest`, which the index answers; the digests go as one array parameter (one
# statement text whatever their number, which psycopg prepares). Elsewhere (SQLite) `IN`,
# which its planner answers from the same index.
_WANTED = (
    func.unnest(bindparam("sha256s", type_=ARRAY(Text())))
    .table_valued("sha256")
    .render_derived(name="wanted")
)


def with_sha256s(session: Session, query: Select[Any], sha256s: Collection[str]) -> Select[Any]:
    """`query`, a select of evidence rows, narrowed to the items with these SHA-256 digests (on
    PostgreSQL, one probe per digest: see _WANTED); the result's columns are the query's."""
    digests = sorted(set(sha256s))
    if session.get_bind().dialect.name != "postgresql":
        return query.where(Evidence.sha256.in_(digests))
    found = query.where(Evidence.sha256 == _WANTED.c.sha256).offset(literal_column("0")).lateral()
    return select(found).select_from(_WANTED).join(found, true()).params(sha256s=digests)


# CaseContent.read's items, built once (a lookup per registered batch or upload).
_FOUND = (
    select(Evidence)
    .where(
        Evidence.case_id == bindparam("case_id"),
        Evidence.status == EvidenceStatus.ACTIVE,
        Evidence.sha256 == _WANTED.c.sha256,
    )
    .offset(literal_column("0"))
    .lateral()
)
_FOUND_ITEM = aliased(Evidence, _FOUND)
_SAME_CONTENT_PG = (
    select(_FOUND_ITEM).select_from(_WANTED).join(_FOUND, true()).order_by(_FOUND_ITEM.seq)
)
_SAME_CONTENT = (
    select(Evidence)
    .where(
        Evidence.case_id == bindparam("case_id"),
        Evidence.sha256.in_(bindparam("sha256s", expanding=True)),
        Evidence.status == EvidenceStatus.ACTIVE,
    )
    .order_by(Evidence.seq)
)


@dataclass
class CaseContent:
    """What registering needs to know of a case, read once per transaction (which holds the
    case FOR NO KEY UPDATE, so no one else adds to it meanwhile) and kept up to date as items
    are added: its active items with the SHA-256s being registered, and its last seq."""

    same: dict[str, list[Evidence]]  # SHA-256 → active items with those bytes, by seq
    last_seq: int

    @classmethod
    def read(cls, session: Session, case_id: uuid.UUID, sha256s: Sequence[str]) -> CaseContent:
        same: dict[str, list[Evidence]] = {}
        postgresql = session.get_bind().dialect.name == "postgresql"
        for item in session.scalars(
            _SAME_CONTENT_PG if postgresql else _SAME_CONTENT,
            {"case_id": case_id, "sha256s": sorted(set(sha256s))},
        ):
            same.setdefault(item.sha256, []).append(item)
        last = session.scalar(select(func.max(Evidence.seq)).where(Evidence.case_id == case_id))
        return cls(same, last or 0)

    def next_seq(self) -> int:
        return self.last_seq + 1

    def added(self, item: Evidence) -> None:
        self.last_seq = item.seq
        self.same.setdefault(item.sha256, []).append(item)

    def same_content(
        self, session: Session, actor: User | None, sha256: str
    ) -> tuple[Evidence | None, Evidence | None]:
        """Active items of the case with these bytes: the first the actor may see, else the
        first the actor may not see (a restricted item without a grant)."""
        same = self.same.get(sha256, [])
        user = authz.require_active(actor) if actor is not None else None
        for item in same:
            if user is None or authz.may_see_item(session, user, item):
                return item, None
        return None, (same[0] if same else None)


def share_content(
    session: Session,
    actor: User | None,
    item: Evidence,
    hidden: Evidence,
    *,
    keyring: Keyring,
    entries: list[custody_log.NewEntry],
) -> None:
    """The submitter may not see the item that holds these bytes already. Telling them so (or
    answering with that item) would reveal it, so the submission becomes an item of its own,
    like any other, that shares the hidden item's blob and data key: one blob per SHA-256 per
    case. The hidden item's custody records the resubmission, for those who may see it."""
    if hidden.wrapped_key is None:
        raise IntegrityFailure(f"item {hidden.ern} is active but has no data key")
    item.content_id = hidden.content_owner
    item.wrapped_key = keyring.rewrap_for(hidden.wrapped_key, hidden.id.bytes, item.id.bytes)
    entries.append(
        custody_log.NewEntry(
            actor,
            CustodyAction.SUBMITTED_AGAIN,
            case_id=item.case_id,
            item_id=hidden.id,
            details={"sha256": item.sha256, "as_item": str(item.id), "as_ern": item.ern},
        )
    )
    session.flush()


def blob_in_use(session: Session, owner: uuid.UUID) -> bool:
    """Whether an active item reads its bytes from the blob of item `owner`."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Evidence)
            .where(
                or_(Evidence.id == owner, Evidence.content_id == owner),
                Evidence.status == EvidenceStatus.ACTIVE,
            )
        )
        or 0
    ) > 0


def active_blob_ids(session: Session) -> set[str]:
    """The blobs that active items read their bytes from."""
    owners = session.scalars(
        select(func.coalesce(Evidence.content_id, Evidence.id)).where(
            Evidence.status == EvidenceStatus.ACTIVE
        )
    )
    return {owner.hex for owner in owners}
