"""Tagging items one at a time (the item page, `POST /evidence/{id}/tags`) and the core that
bulk tagging shares. Whoever may add evidence to a case and sees an item may tag it with a
tag of the vocabulary, or with a new name, which makes a free tag; a retired tag is not
attached. The item is indexed again for search with its tags, in the same transaction.
Each tag or untag that changes something is one `tagged` / `untagged` custody entry
of the item, naming the tag and the item's tags before and after; nothing changed, no entry.

A free tag made on a restricted item must not tell members without a grant that such an item
exists: free tags are listed only to members who see an item carrying them (`visible_tags`),
making one writes no case-level entry (the item's own `tagged` entry records it), and a name is
looked up as the caller may know it (`vocabulary.same_name`): one who uses the name of a free
tag carried only by items hidden from them makes a new free tag, apart from the hidden one."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.search import index as search_index
from casefile.logic.tags.names import TagName
from casefile.logic.tags.vocabulary import free_key, same_name
from casefile.model import CustodyAction, Evidence, EvidenceTag, IncidentTag, Tag, User
from casefile.vault.envelope import Keyring


class TagItemInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: TagName = Field(description="a tag of the case's vocabulary, or a new name (a free tag)")


def parse_tag_item(fields: dict[str, object]) -> TagItemInput:
    try:
        return TagItemInput.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


def visible_tags(session: Session, actor: User | None, case_id: uuid.UUID) -> list[Tag]:
    """The case's tags as the actor may know them: the whole vocabulary, and free tags that
    an item the actor sees, or an incident, carries. Vocabulary first, then by name."""
    visible = authz.visible_evidence(session, actor, case_id).with_only_columns(Evidence.id)
    used = select(EvidenceTag.tag_id).where(EvidenceTag.evidence_id.in_(visible))
    on_incidents = select(IncidentTag.tag_id)  # every member sees the case's incidents
    query = select(Tag).where(
        Tag.case_id == case_id,
        or_(Tag.controlled, Tag.id.in_(used), Tag.id.in_(on_incidents)),
    )
    return list(session.scalars(query.order_by(Tag.controlled.desc(), Tag.key, Tag.id)))


def tags_by_item(session: Session, item_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Tag]]:
    """Each item's tags, by name (items the caller was authorized to see)."""
    ids = list(item_ids)
    found: dict[uuid.UUID, list[Tag]] = {item_id: [] for item_id in ids}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(EvidenceTag.evidence_id, Tag)
            .join(Tag, Tag.id == EvidenceTag.tag_id)
            .where(EvidenceTag.evidence_id.in_(ids[start : start + 500]))
            .order_by(Tag.key, Tag.id)
        )
        for item_id, tag in rows:
            found[item_id].append(tag)
    return found


def tag_names(session: Session, item_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    return {
        item_id: [tag.name for tag in tags]
        for item_id, tags in tags_by_item(session, item_ids).items()
    }


def tag_to_attach(session: Session, actor: User | None, case_id: uuid.UUID, name: str) -> Tag:
    """The case's tag of this name, or a new free tag (caller holds the custody lock, so
    that two taggers of one new name make one tag). A retired tag is refused (Conflict)."""
    tag = same_name(session, actor, case_id, name)
    if tag is None:  # none the actor may know of: a new one, apart from any hidden from them
        tag_id = uuid.uuid4()
        tag = Tag(
            id=tag_id,
            case_id=case_id,
            name=name,
            key=free_key(session, case_id, name, tag_id),
            controlled=False,
            created_by_id=actor.id if actor else None,
        )
        session.add(tag)
        session.flush()
    elif tag.retired_at is not None:
        raise Conflict(f"the tag “{tag.name}” is retired: it is no longer attached to items")
    return tag


@dataclass
class Tagger:
    """Tags or untags items of one case inside the caller's transaction (which holds the
    custody lock), collecting one custody entry per item changed."""

    session: Session
    actor: User | None
    tag: Tag | None  # None: untagging a name no tag of the case has; nothing changes
    keyring: Keyring  # to index the items changed again (a restricted one blindly)
    created: bool = False  # the tag is a free tag made by this action
    bulk: str | None = None  # the bulk action's id, shared by its entries
    entries: list[custody_log.NewEntry] = field(default_factory=list)

    def apply(self, items: Sequence[Evidence], *, attach: bool) -> list[Evidence]:
        """The items changed (others already had, or lacked, the tag)."""
        if self.tag is None:
            return []
        current = tags_by_item(self.session, (item.id for item in items))
        changed = []
        names_after: dict[uuid.UUID, list[str]] = {}
        for item in items:
            before = current[item.id]
            has = any(tag.id == self.tag.id for tag in before)
            if has == attach:
                continue
            if attach:
                assert self.tag is not None  # noqa: S101 - checked above
                self.session.add(
                    EvidenceTag(
                        evidence_id=item.id,
                        tag_id=self.tag.id,
                        tagged_by_id=self.actor.id if self.actor else None,
                    )
                )
                after = sorted([*before, self.tag], key=lambda tag: (tag.key, str(tag.id)))
            else:
                row = self.session.get(EvidenceTag, (item.id, self.tag.id))
                if row is not None:
                    self.session.delete(row)
                after = [tag for tag in before if tag.id != self.tag.id]
            self.entries.append(self._entry(item, before, after, attach=attach))
            changed.append(item)
            names_after[item.id] = [tag.name for tag in after]
        self.session.flush()
        for item in changed:  # its tags are found by search, in the same transaction
            search_index.index_evidence(
                self.session, self.keyring, item, flag=False, tags=names_after[item.id]
            )
        return changed

    def _entry(
        self, item: Evidence, before: list[Tag], after: list[Tag], *, attach: bool
    ) -> custody_log.NewEntry:
        assert self.tag is not None  # noqa: S101 - apply() returns early without one
        details: dict[str, Any] = {
            "ern": item.ern,
            "tag": {"id": str(self.tag.id), "name": self.tag.name},
            "vocabulary": bool(self.tag.controlled),
            "before": [tag.name for tag in before],
            "after": [tag.name for tag in after],
        }
        if self.created:
            details["new_free_tag"] = True
        if self.bulk is not None:
            details["bulk"] = self.bulk
        return custody_log.NewEntry(
            self.actor,
            CustodyAction.TAGGED if attach else CustodyAction.UNTAGGED,
            case_id=item.case_id,
            item_id=item.id,
            details=details,
        )


def start_tagging(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    name: str,
    *,
    attach: bool,
    keyring: Keyring,
    bulk: str | None = None,
) -> Tagger:
    """Under the custody lock: the tag (made, for a new name being attached) and a Tagger."""
    custody_log.hold_lock(session)
    if attach:
        existed = same_name(session, actor, case_id, name) is not None
        tag = tag_to_attach(session, actor, case_id, name)
        return Tagger(session, actor, tag, keyring, created=not existed, bulk=bulk)
    # A name no tag has is simply carried by none of the items: refusing it would tell whether
    # a free tag of that name exists on items the actor does not see.
    return Tagger(session, actor, same_name(session, actor, case_id, name), keyring, bulk=bulk)


@retry.transaction
def tag_item(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    data: TagItemInput,
    *,
    keyring: Keyring,
) -> list[Tag]:
    """Attach a tag to one item; its tags after."""
    item = authz.authorize_item(session, actor, item_id, CaseAction.ADD_EVIDENCE)
    tagger = start_tagging(session, actor, item.case_id, data.tag, attach=True, keyring=keyring)
    tagger.apply([item], attach=True)
    custody_log.append_many(session, tagger.entries)
    session.commit()
    return tags_by_item(session, [item.id])[item.id]


@retry.transaction
def untag_item(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    tag_id: uuid.UUID,
    *,
    keyring: Keyring,
) -> list[Tag]:
    """Take a tag off one item; its tags after. A tag the item does not carry: NotFound."""
    item = authz.authorize_item(session, actor, item_id, CaseAction.ADD_EVIDENCE)
    custody_log.hold_lock(session)
    tag = session.get(Tag, tag_id)
    if (
        tag is None
        or tag.case_id != item.case_id
        or (session.get(EvidenceTag, (item.id, tag.id)) is None)
    ):
        raise NotFound("this item does not carry that tag")
    tagger = Tagger(session, actor, tag, keyring)
    tagger.apply([item], attach=False)
    custody_log.append_many(session, tagger.entries)
    session.commit()
    return tags_by_item(session, [item.id])[item.id]
