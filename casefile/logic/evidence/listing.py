"""Finding items: one by id or by its ERN, a case's items a page at a time or sorted for the
evidence table, filtered by type, sensitivity, collector (sealed items through their blind
index), date received and tag."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import ValidationFailed
from casefile.logic.evidence import metadata
from casefile.logic.pagination import Page, paginate
from casefile.logic.tags import names as tag_names
from casefile.model import Evidence, EvidenceTag, Sensitivity, Tag, User
from casefile.vault.envelope import Keyring


def get_item(session: Session, actor: User | None, item_id: uuid.UUID) -> Evidence:
    return authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)


@dataclass(frozen=True)
class ItemFilter:
    kind: str | None = None  # a MIME prefix: "image/", "video/", "application/pdf"
    sensitivity: Sensitivity | None = None
    collector: str | None = None  # text within "collected by"; sealed items: whole words
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    tag: str | None = None  # a tag's name (any case of its letters)

    def apply(
        self, query: Select[Evidence], session: Session, keyring: Keyring | None
    ) -> Select[Evidence]:
        """`keyring`: needed to match sealed (restricted) items by collector; without it
        only items whose metadata is in the clear can match."""
        if self.kind:
            query = query.where(Evidence.mime.startswith(self.kind, autoescape=True))
        if self.sensitivity is not None:
            query = query.where(Evidence.sensitivity == self.sensitivity)
        if self.collector:
            query = query.where(self._collector_condition(session, keyring, self.collector))
        if self.since is not None:
            query = query.where(Evidence.created_at >= self.since)
        if self.until is not None:
            query = query.where(Evidence.created_at < self.until)
        if self.tag:
            tagged = (
                select(EvidenceTag.evidence_id)
                .join(Tag, Tag.id == EvidenceTag.tag_id)
                .where(tag_names.of_name(self.tag))
            )
            query = query.where(Evidence.id.in_(tagged))
        return query

    @staticmethod
    def _collector_condition(
        session: Session, keyring: Keyring | None, text: str
    ) -> ColumnElement[bool]:
        """Text within "collected by" for items in the clear; for sealed (restricted) items,
        the exact name or all its words, through the blind index."""
        collected_by = Evidence.collector["collected_by"].as_string()
        in_clear = and_(
            Evidence.sealed_metadata.is_(None),
            func.lower(collected_by).contains(text.lower(), autoescape=True),
        )
        sealed = (
            None if keyring is None else metadata.matching(session, keyring, "collected_by", text)
        )
        return in_clear if sealed is None else or_(in_clear, Evidence.id.in_(sealed))


SORTS = {
    "received": (Evidence.created_at, Evidence.id),
    "ern": (Evidence.seq,),
    "size": (Evidence.size.desc(), Evidence.seq),
    "title": (func.lower(Evidence.title), Evidence.seq),
}


def list_items(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    *,
    limit: int = 50,
    cursor: str | None = None,
    where: ItemFilter | None = None,
    keyring: Keyring | None = None,
) -> Page[Evidence]:
    visible = authz.visible_evidence(session, actor, case_id)
    query = (where or ItemFilter()).apply(visible, session, keyring)
    return paginate(session, query, Evidence.created_at, Evidence.id, limit=limit, cursor=cursor)


def sorted_items(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    *,
    sort: str = "ern",
    where: ItemFilter | None = None,
    limit: int = 500,
    keyring: Keyring | None = None,
) -> list[Evidence]:
    """For the case's evidence table: filtered, in the chosen order, at most `limit` rows."""
    if sort not in SORTS:
        raise ValidationFailed({"sort": f"one of {', '.join(SORTS)}"})
    visible = authz.visible_evidence(session, actor, case_id)
    query = (where or ItemFilter()).apply(visible, session, keyring)
    return list(session.scalars(query.order_by(*SORTS[sort]).limit(limit)))


def hidden_count(session: Session, actor: User | None, case_id: uuid.UUID) -> int:
    """How many items of the case the actor may not see (restricted, no grant; deleted ones
    too, as the lists show deleted items). Always the whole case's count, whatever filter a
    list has: filtering hidden items by their sealed metadata would tell what they hold."""
    query = authz.hidden_evidence(session, actor, case_id)
    return session.scalar(query.with_only_columns(func.count()).order_by(None)) or 0


def find_by_ern(
    session: Session, actor: User | None, case_id: uuid.UUID, ern_text: str
) -> Evidence:
    """An item of the case the actor may see, by its Evidence Registration Number."""
    query = authz.visible_evidence(session, actor, case_id).where(Evidence.ern == ern_text.strip())
    item = session.scalars(query).first()
    if item is None:
        raise ValidationFailed({"receipt": f"no item of this case has the ERN {ern_text!r}"})
    return item
