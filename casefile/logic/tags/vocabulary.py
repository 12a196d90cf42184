"""A case's tags: listing them, and the controlled vocabulary its leads manage (create,
rename, describe, retire or restore; a lead may also adopt a free tag into the vocabulary).
Each change is one `tag_defined` custody entry of the case with the tag's id and each changed
field's old and new value."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
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
from casefile.model import CustodyAction, Tag, User
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


def same_name(session: Session, case_id: uuid.UUID, name: str) -> Tag | None:
    return session.scalar(select(Tag).where(Tag.case_id == case_id, Tag.key == names.key(name)))


def _described(tag: Tag) -> dict[str, Any]:
    return {"id": str(tag.id), "name": tag.name}


@retry.transaction
def create_tag(session: Session, actor: User | None, case_id: uuid.UUID, data: TagInput) -> Tag:
    case = authz.authorize_case(session, actor, case_id, CaseAction.MANAGE_TAGS)
    # Under the custody lock (the lock order), so that two tags of one name at the same moment
    # answer the second with a refusal instead of failing on the unique key.
    custody_log.hold_lock(session)
    if same_name(session, case.id, data.name) is not None:
        raise Conflict("this case has a tag of this name already")
    tag = Tag(
        case_id=case.id,
        name=data.name,
        key=names.key(data.name),
        description=data.description,
        controlled=True,
        created_by_id=actor.id if actor else None,
    )
    session.add(tag)
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
    if "name" in changed and names.key(new["name"]) != tag.key:
        other = same_name(session, tag.case_id, new["name"])
        if other is not None and other.id != tag.id:
            raise Conflict("this case has another tag of this name")
    tag.name, tag.key = new["name"], names.key(new["name"])
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
