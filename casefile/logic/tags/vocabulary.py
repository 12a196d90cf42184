"""A case's tags: listing them, and the controlled vocabulary its leads manage (create,
rename, describe, retire or restore; a lead may also adopt a free tag into the vocabulary).
Each change is one `tag_defined` custody entry of the case with the tag's id and each changed
field's old and new value."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.search import index as search_index
from casefile.logic.tags import names
from casefile.logic.tags.names import TagName
from casefile.logic.text import Note, refuse_nul
from casefile.model import CustodyAction, Evidence, EvidenceTag, IncidentTag, Tag, User
from casefile.vault.envelope import Keyring


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class TagInput(BaseModel):
    """A new tag of the case's controlled vocabulary."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    name: TagName = Field(
        description="NFC, trimmed, at most 64 characters; unique per case, "
        "whatever the case of its letters"
    )
    description: Note | None = Field(default=None, description="what the tag means, for taggers")

    @field_validator("description", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class TagChange(BaseModel):
    """Only the fields sent change; a description sent empty (null or "") is cleared."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    # Not sent: unchanged; null is refused (a tag always has a name, and is retired or not),
    # so the document names neither null nor a default.
    name: TagName = Field(default=None, json_schema_extra=_no_default)  # type: ignore[assignment]
    description: Note | None = None
    retired: bool = Field(  # type: ignore[assignment]
        default=None,
        json_schema_extra=_no_default,
        description="true: no longer offered or attached (items keep it); false: restored",
    )
    controlled: bool = Field(  # type: ignore[assignment]
        default=None,
        json_schema_extra=_no_default,
        description="true: part of the case's controlled vocabulary; false: a free tag",
    )

    @field_validator("description", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def parse(model: type[TagInput | TagChange], fields: dict[str, object]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


def case_tags(
    session: Session, actor: User | None, case_id: uuid.UUID, *, include_retired: bool = True
) -> list[Tag]:
    """The case's tags, vocabulary first, then free tags, each by name (for members who see
    its evidence)."""
    case = authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    query = select(Tag).where(Tag.case_id == case.id)
    if not include_retired:
        query = query.where(Tag.retired_at.is_(None))
    return list(session.scalars(query.order_by(Tag.controlled.desc(), Tag.key, Tag.id)))


def get_tag(session: Session, actor: User | None, tag_id: uuid.UUID, action: CaseAction) -> Tag:
    """A tag of a case the actor is a member of (NotFound otherwise, as for its case)."""
    tag = session.get(Tag, tag_id)
    if tag is None:
        raise NotFound("tag not found")
    try:
        authz.authorize_case(session, actor, tag.case_id, action)
    except NotFound:
        raise NotFound("tag not found") from None
    return tag


def authorize_vocabulary(session: Session, actor: User | None, case_id: uuid.UUID) -> None:
    """Refuse at once one who may not manage the vocabulary (before reading their input)."""
    authz.authorize_case(session, actor, case_id, CaseAction.MANAGE_TAGS)


# --- one name, as each member may know it ------------------------------------------------------
#
# A free tag carried only by items hidden from a member (restricted, no grant) does not exist
# for them: using its name must tell them nothing of it (its spelling, id, date, or that it
# existed). So a name is looked up as the caller may know it (`same_name`): the vocabulary's
# tag, else a free tag the caller sees on an item or on an incident, else none; and a new tag
# of a name that a hidden free tag holds is made apart from it. A tag's `key` is unique in its
# case: the name's key (`names.key`) for the first tag of a name, and for a tag made apart
# from another of the same name `<name's key>\n<its id>` (names hold no line breaks; `key`
# is never shown). A member seeing both kinds of item may see two free tags of one name.

APART = names.APART


def keys_of(name: str) -> tuple[str, str]:
    """The key of a name, and the start of the key of a tag made apart with that name."""
    key = names.key(name)
    return key, key + APART


def of_name(key: str) -> ColumnElement[bool]:
    """Tags of this name (key), whether made apart or not."""
    return or_(Tag.key == key, Tag.key.startswith(key + APART, autoescape=True))


def same_name(
    session: Session, actor: User | None, case_id: uuid.UUID, name: str
) -> Tag | None:
    """The case's tag of this name as the actor may know it: in the vocabulary, or a free
    tag on an item the actor sees or on an incident (the oldest, if several); else None.
    No actor (the operator): any tag of the name."""
    key, _ = keys_of(name)
    found = list(
        session.scalars(
            select(Tag)
            .where(Tag.case_id == case_id, of_name(key))
            .order_by(Tag.controlled.desc(), Tag.created_at, Tag.id)
        )
    )
    if not found or actor is None or found[0].controlled:
        return found[0] if found else None
    visible = authz.visible_evidence(session, actor, case_id).with_only_columns(Evidence.id)
    shown = set(
        session.scalars(
            select(Tag.id).where(
                Tag.id.in_([tag.id for tag in found]),
                or_(
                    Tag.id.in_(
                        select(EvidenceTag.tag_id).where(EvidenceTag.evidence_id.in_(visible))
                    ),
                    Tag.id.in_(select(IncidentTag.tag_id)),
                ),
            )
        )
    )
    return next((tag for tag in found if tag.id in shown), None)


def free_key(session: Session, case_id: uuid.UUID, name: str, tag_id: uuid.UUID) -> str:
    """The key of a new free tag (its id `tag_id`) of a name the caller knows no tag of: the
    name's key, or if a tag hidden from the caller holds it, a key apart."""
    key, apart = keys_of(name)
    taken = session.scalar(select(Tag.id).where(Tag.case_id == case_id, Tag.key == key))
    return key if taken is None else f"{apart}{tag_id}"


def take_key(session: Session, tag: Tag, name: str) -> None:
    """Give `tag` (of the vocabulary) the plain key of `name`; a free tag holding it, which
    the caller was found not to know (`same_name`), is moved apart (nothing shown changes)."""
    key, apart = keys_of(name)
    holder = session.scalar(
        select(Tag).where(Tag.case_id == tag.case_id, Tag.key == key, Tag.id != tag.id)
    )
    if holder is not None:
        holder.key = f"{apart}{holder.id}"
        session.flush()
    tag.key = key


def _described(tag: Tag) -> dict[str, Any]:
    return {"id": str(tag.id), "name": tag.name}


@retry.transaction
def create_tag(session: Session, actor: User | None, case_id: uuid.UUID, data: TagInput) -> Tag:
    case = authz.authorize_case(session, actor, case_id, CaseAction.MANAGE_TAGS)
    # Under the custody lock (the lock order), so that two tags of one name at the same moment
    # answer the second with a refusal instead of failing on the unique key.
    custody_log.hold_lock(session)
    if same_name(session, actor, case.id, data.name) is not None:
        raise Conflict("this case has a tag of this name already")
    tag_id = uuid.uuid4()
    tag = Tag(
        id=tag_id,
        case_id=case.id,
        name=data.name,
        key=f"{keys_of(data.name)[1]}{tag_id}",  # until it takes the name's key
        description=data.description,
        controlled=True,
        created_by_id=actor.id if actor else None,
    )
    session.add(tag)
    session.flush()
    take_key(session, tag, data.name)
    session.flush()
    custody_log.append(
        session,
        actor,
        CustodyAction.TAG_DEFINED,
        case_id=case.id,
        details={
            "tag": _described(tag),
            "change": "created",
            "changes": {
                "name": {"from": None, "to": tag.name},
                "description": {"from": None, "to": tag.description},
                "controlled": {"from": None, "to": True},
            },
        },
    )
    session.commit()
    return tag


@retry.transaction
def change_tag(
    session: Session, actor: User | None, tag_id: uuid.UUID, data: TagChange, *, keyring: Keyring
) -> Tag:
    """Rename, describe, retire or restore a tag of the vocabulary, take a free tag into the
    vocabulary (and change it at once), or release one from it. Nothing changed, no entry;
    a change to a free tag that leaves it free: Conflict. A rename indexes the items and
    incidents carrying the tag again (search finds them by the new name, not the old)."""
    tag = get_tag(session, actor, tag_id, CaseAction.MANAGE_TAGS)
    custody_log.hold_lock(session)
    session.refresh(tag)
    sent = data.model_fields_set
    old = {
        "name": tag.name,
        "description": tag.description,
        "retired": tag.retired_at is not None,
        "controlled": tag.controlled,
    }
    new = {**old, **{name: getattr(data, name) for name in sent}}
    changed = {name: {"from": old[name], "to": new[name]} for name in old if new[name] != old[name]}
    if not changed:
        session.commit()
        return tag
    if not old["controlled"] and not new["controlled"]:
        # A free tag may be carried only by items some members do not see: an entry of the
        # case naming it would show it to them. Leads take it into the vocabulary (visible
        # to every member, by their choice) to change it.
        raise Conflict(
            "a free tag is changed only once taken into the vocabulary (controlled: true), "
            "which shows it to every member of the case"
        )
    if "name" in changed or "controlled" in changed:
        other = same_name(session, actor, tag.case_id, new["name"])
        if other is not None and other.id != tag.id:
            raise Conflict("this case has another tag of this name")
    tag.name = new["name"]
    if new["controlled"]:
        take_key(session, tag, new["name"])  # a hidden free tag of the name is moved apart
    elif names.key(new["name"]) != tag.key.split(APART)[0]:
        tag.key = free_key(session, tag.case_id, new["name"], tag.id)
    tag.description = new["description"]
    tag.controlled = new["controlled"]
    if "retired" in changed:
        tag.retired_at = utcnow() if new["retired"] else None
    if "name" in changed:
        session.flush()
        search_index.reindex_tagged(session, keyring, tag.id)
    custody_log.append(
        session,
        actor,
        CustodyAction.TAG_DEFINED,
        case_id=tag.case_id,
        details={"tag": _described(tag), "change": "changed", "changes": changed},
    )
    session.commit()
    return tag
