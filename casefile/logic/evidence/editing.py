"""Editing the collector's account of an item after upload: its title, description and the
collector fields (when, by whom, where, source, language...). What the file itself says
(hashes, size, type, extracted metadata, the name it arrived with) and what intake checked
against it (the declared digests) are facts of intake and stay as received; sensitivity is
access control, not description.

Each edit that changes something is one custody entry with each changed field's old and new
value; for a restricted item the values are commitments (HMAC-SHA256 under the key kept in
its seal, as its intake entry's file name), and its metadata is sealed again and its blind
index rewritten. An edit carries the version of the metadata it was made from
(`metadata_version`): an edit made from values someone has changed since is refused
(`StaleVersion`), so nobody overwrites a change they have not seen."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, ValidationFailed
from casefile.logic.evidence import languages, metadata
from casefile.logic.evidence.metadata import Metadata
from casefile.logic.search import index as search_index
from casefile.logic.text import NO_NUL, VISIBLE, LongText, Note, Stripped, refuse_nul
from casefile.model import CustodyAction, Evidence, EvidenceStatus, User
from casefile.vault import bidi, sealing
from casefile.vault.envelope import Keyring

# The fields an edit may change, in the order they are shown; the first two are the item's
# own columns, the others live in its collector fields.
COLUMNS = ("title", "description")
COLLECTOR = (
    "collected_at",
    "collected_by",
    "location",
    "lat",
    "lon",
    "source",
    "original_url",
    "capture_tool",
    "language",
    "consent_notes",
)
EDITABLE = COLUMNS + COLLECTOR
TEXTS = tuple(name for name in EDITABLE if name not in ("title", "collected_at", "lat", "lon"))


Title = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=VISIBLE), Stripped]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class StaleVersion(Conflict):
    """The edit was made from metadata that someone has changed since."""


class MetadataEdit(BaseModel):
    """A change to an item's collector metadata: only the fields sent change; a field sent
    empty (null or "") is cleared, except the title, which an item always has."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    version: Annotated[
        str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)
    ] = Field(
        description="the item's `metadata_version` as read before the edit; an edit over a "
        "newer change is refused with 409 (code stale_version)"
    )
    # Not sent: unchanged (None, never read: changes() takes only the fields sent); null is
    # refused (an item always has a title), so the document names neither null nor a default.
    title: Title = Field(default=None, json_schema_extra=_no_default)  # type: ignore[assignment]
    description: LongText | None = None
    collected_at: AwareDatetime | None = None
    collected_by: Note | None = None
    location: Note | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    source: Note | None = None
    original_url: Note | None = None
    capture_tool: Note | None = None
    language: Note | None = None
    consent_notes: Note | None = None

    @field_validator(*TEXTS, mode="before")
    @classmethod
    def _blank_clears(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("title", mode="before")
    @classmethod
    def _title_required(cls, value: object) -> object:
        if value is None:
            raise ValueError("an item always has a title")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields sent, as stored (JSON values: dates as ISO 8601 text)."""
        sent = self.model_fields_set & set(EDITABLE)
        values = self.model_dump(mode="json", include=sent)
        return {name: values[name] for name in EDITABLE if name in sent}


def parse_edit(fields: dict[str, object]) -> MetadataEdit:
    try:
        return MetadataEdit.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


def current_values(described: Metadata) -> dict[str, Any]:
    """The editable fields' values as the item holds them now."""
    values: dict[str, Any] = {"title": described.title, "description": described.description}
    values.update((name, described.collector.get(name)) for name in COLLECTOR)
    return values


def metadata_version(item_id: uuid.UUID, described: Metadata) -> str:
    """A tag of the item's editable metadata as it is now: it changes with every change to
    it. Derived from the values (no counter is stored), so it is the same on every read and
    no reader learns from it anything they could not read."""
    document = json.dumps(
        {"item": str(item_id), "values": current_values(described)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(document.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Edited:
    item: Evidence
    changed: tuple[str, ...]  # the fields changed, in EDITABLE order; empty: nothing changed


@retry.transaction
def edit_metadata(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    changes: MetadataEdit,
    *,
    keyring: Keyring,
) -> Edited:
    """Change an item's collector metadata: for whoever may add evidence to its case and see
    the item. One custody entry with the changed fields' old and new values, in the same
    transaction; nothing changed, no entry. Refused (Conflict) for a deleted item, a case
    under legal hold, a sealed description that does not open, and (StaleVersion) an edit
    made from values changed since."""
    item = authz.authorize_item(session, actor, item_id, CaseAction.ADD_EVIDENCE)
    case = authz.authorize_case(
        session, actor, item.case_id, CaseAction.ADD_EVIDENCE, for_update=True
    )
    custody_log.hold_lock(session)  # the lock order: the item's row is written under it
    # Read again under the case's lock: an edit committed meanwhile is seen (PostgreSQL reads
    # each statement afresh; SQLite's write lock was held since BEGIN).
    session.refresh(item)
    if item.status == EvidenceStatus.DELETED:
        raise Conflict("this item was deleted: its description went with its data key")
    if case.legal_hold:
        raise Conflict("the case is under legal hold: its items' descriptions cannot change")
    described = metadata.reveal(keyring, item)
    if not described.available:
        raise Conflict("the sealed description of this item does not open: it cannot be edited")
    if changes.version != metadata_version(item.id, described):
        raise StaleVersion(
            "someone changed this item's description since you read it: "
            "read it again and make your change to the current values"
        )
    old = current_values(described)
    new = {**old, **changes.changes()}
    changed = tuple(name for name in EDITABLE if new[name] != old[name])
    if not changed:
        session.commit()  # nothing written: no entry
        return Edited(item, ())
    collector = {key: value for key, value in described.collector.items() if key not in COLLECTOR}
    collector.update((name, new[name]) for name in COLLECTOR if new[name] is not None)
    commitment_key = metadata.rewrite(
        session,
        keyring,
        item,
        title=new["title"],
        description=new["description"],
        collector=collector,
    )
    if "language" in changed:  # the item's own field (filing warnings), when it is a tag
        item.language = languages.tag_or_none(new["language"])
    if "title" in changed and bidi.has_controls(new["title"]) and "bidi_controls" not in item.flags:
        item.flags = [*item.flags, "bidi_controls"]
    search_index.index_evidence(session, keyring, item)  # and its zawgyi flag, in step
    if commitment_key is None:
        recorded = {name: {"from": _plain(old[name]), "to": _plain(new[name])} for name in changed}
        details: dict[str, Any] = {"ern": item.ern, "changes": recorded}
    else:
        recorded = {
            name: {
                "from": _commitment(commitment_key, old[name]),
                "to": _commitment(commitment_key, new[name]),
            }
            for name in changed
        }
        details = {"ern": item.ern, "metadata": "sealed", "changes": recorded}
    custody_log.append(
        session,
        actor,
        CustodyAction.METADATA_EDITED,
        case_id=case.id,
        item_id=item.id,
        details=details,
    )
    session.commit()
    return Edited(item, changed)


def _plain(value: Any) -> str | None:
    """A value as a custody entry records it: text (the log's encoding has no floats)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _commitment(key: str, value: Any) -> str:
    """A restricted item's value, committed to: checkable by who can open its seal."""
    return sealing.commitment(key, json.dumps(value, ensure_ascii=False))


def value_commitment(keyring: Keyring, item: Evidence, value: Any) -> str | None:
    """For checking a sealed edit entry's commitment against a value (None: not sealed, or
    no longer openable)."""
    return metadata.filename_commitment(keyring, item, json.dumps(value, ensure_ascii=False))
