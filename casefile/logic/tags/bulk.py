"""Bulk actions on a case's items, from the evidence list: tag, untag, change sensitivity,
give a member access (leads). The items are named by id, or are all those matching a filter
(the list's filters); either way at most MAX_ITEMS per request.

All or nothing, in one transaction: every named item is authorized first (an id that is not
an item of the case the caller sees, a hidden restricted item included, is refused in the
same words as one that does not exist, and nothing is changed), then each item that changes
gets one custody entry of its own, all sharing a `bulk` id. Items that already are as asked
(tagged already, of that sensitivity already, holding access already) are left alone and
get no entry. The first item refused is named in the error. Restricting an item restricts
its derivatives with it (logic/evidence/sensitivity.py), named or not: each gets its entry
with the same `bulk` id, and those not named are listed apart (`derived`)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.accounts.accounts import find_by_email
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.evidence import grants, listing, sensitivity
from casefile.logic.incidents import links
from casefile.logic.incidents.incidents import get_incident
from casefile.logic.tags import tagging
from casefile.logic.tags.names import TagName
from casefile.logic.text import NO_NUL, Note, refuse_nul
from casefile.model import (
    Evidence,
    EvidenceGrant,
    EvidenceRelation,
    EvidenceStatus,
    Incident,
    Sensitivity,
    User,
)
from casefile.vault.envelope import Keyring

MAX_ITEMS = 500  # per request: one transaction holds the custody log's lock meanwhile
# What each action needs; `note` is optional, and only for link_incident.
NEEDS: dict[str, tuple[str, ...]] = {
    "tag": ("tag",),
    "untag": ("tag",),
    "set_sensitivity": ("sensitivity",),
    "grant": ("email",),
    "link_incident": ("incident_id", "relation"),
}
PARAMETERS = ("tag", "sensitivity", "email", "incident_id", "relation", "note")
KIND = Annotated[str, Field(max_length=100, pattern=NO_NUL)]


class ItemFilterInput(BaseModel):
    """The evidence list's filters: items received on or after `since` and on or before
    `until` (whole UTC days), of a type (a MIME prefix), sensitivity, collector or tag."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    kind: KIND | None = Field(default=None, description="a MIME prefix, e.g. image/")
    sensitivity: Sensitivity | None = None
    collector: Note | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    tag: TagName | None = None

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        """A date as YYYY-MM-DD (not a number of days or seconds, which pydantic would take)."""
        if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError("a date as YYYY-MM-DD")
        if not isinstance(value, str | dt.date):
            raise ValueError("a date as YYYY-MM-DD")  # noqa: TRY004 - pydantic's 422
        return value

    def item_filter(self) -> listing.ItemFilter:
        return listing.ItemFilter(
            kind=self.kind or None,
            sensitivity=self.sensitivity,
            collector=self.collector or None,
            since=_day(self.since),
            until=_day(self.until, end=True),
            tag=self.tag,
        )


def _day(value: dt.date | None, *, end: bool = False) -> dt.datetime | None:
    if value is None:
        return None
    moment = dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    return moment + dt.timedelta(days=1) if end else moment


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _capped_list(schema: dict[str, Any]) -> None:
    schema.pop("default", None)
    schema.update(maxItems=MAX_ITEMS, minItems=1)


def _either_ids_or_filter(schema: dict[str, Any]) -> None:
    schema["oneOf"] = [{"required": ["ids"]}, {"required": ["filter"]}]


class BulkInput(BaseModel):
    """One action on many items: `ids`, or every item matching `filter` (`{}`: all the
    items of the case the caller sees). `tag` for tag/untag, `sensitivity` for
    set_sensitivity, `email` (a member of the case) for grant, `incident_id` and `relation`
    (and an optional `note`) for link_incident."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_either_ids_or_filter)

    action: Literal["tag", "untag", "set_sensitivity", "grant", "link_incident"]
    # Not sent: not used; null is refused, so the document names neither null nor a default.
    ids: list[uuid.UUID] = Field(
        default=None,  # type: ignore[arg-type]
        json_schema_extra=_capped_list,
    )
    filter: ItemFilterInput = Field(  # type: ignore[assignment]
        default=None, json_schema_extra=_no_default
    )
    tag: TagName = Field(  # type: ignore[assignment]
        default=None, json_schema_extra=_no_default, description="for tag and untag"
    )
    sensitivity: Sensitivity = Field(  # type: ignore[assignment]
        default=None, json_schema_extra=_no_default, description="for set_sensitivity"
    )
    email: EmailStr = Field(  # type: ignore[assignment]
        default=None, json_schema_extra=_no_default, description="for grant: a case member"
    )
    incident_id: uuid.UUID = Field(  # type: ignore[assignment]
        default=None, json_schema_extra=_no_default, description="for link_incident"
    )
    relation: EvidenceRelation = Field(  # type: ignore[assignment]
        default=None, json_schema_extra=_no_default, description="for link_incident"
    )
    note: Note = Field(  # type: ignore[assignment]
        default=None, json_schema_extra=_no_default, description="for link_incident (optional)"
    )

    @field_validator("ids")
    @classmethod
    def _capped(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        if not value:
            raise ValueError("name at least one item")
        if len(value) > MAX_ITEMS:
            raise ValueError(
                f"at most {MAX_ITEMS} items per request ({len(value)} named): "
                "send them in several requests"
            )
        return value

    @model_validator(mode="after")
    def _complete(self) -> BulkInput:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("send either ids or filter")
        needed = NEEDS[self.action]
        for name in needed:
            if getattr(self, name) is None:
                raise ValueError(f"the action {self.action} needs {name}")
        allowed = (*needed, "note") if self.action == "link_incident" else needed
        for other in PARAMETERS:
            if other not in allowed and getattr(self, other) is not None:
                raise ValueError(f"the action {self.action} takes no {other}")
        return self


def parse(fields: dict[str, object]) -> BulkInput:
    try:
        return BulkInput.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


@dataclass(frozen=True)
class BulkResult:
    action: str
    bulk_id: str
    changed: list[Evidence]
    unchanged: list[Evidence]
    # Items not named but changed with them: the derivatives of items restricted.
    derived: list[Evidence] = field(default_factory=list)


def required_action(data: BulkInput) -> CaseAction:
    """The case action the caller's role must allow."""
    if data.action == "grant":
        return CaseAction.GRANT_ACCESS
    if data.action == "link_incident":
        return CaseAction.EDIT_INCIDENTS
    if data.action == "set_sensitivity" and data.sensitivity == Sensitivity.STANDARD:
        return CaseAction.LIFT_RESTRICTION
    return CaseAction.ADD_EVIDENCE


def authorize(session: Session, actor: User | None, case_id: uuid.UUID, action: CaseAction) -> None:
    """Refuse at once one who may not do bulk work of this kind in the case (the API and the
    web call it before reading the rest of the input)."""
    authz.authorize_case(session, actor, case_id, action)


def matching_count(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    where: listing.ItemFilter,
    keyring: Keyring | None,
) -> int:
    from sqlalchemy import func  # noqa: PLC0415 - local: this module's one count

    query = where.apply(authz.visible_evidence(session, actor, case_id), session, keyring)
    return session.scalar(query.with_only_columns(func.count()).order_by(None)) or 0


def _items(
    session: Session, actor: User | None, case_id: uuid.UUID, data: BulkInput, keyring: Keyring
) -> list[Evidence]:
    visible = authz.visible_evidence(session, actor, case_id)
    if data.ids is not None:
        wanted = list(dict.fromkeys(data.ids))
        found = {
            item.id: item
            for start in range(0, len(wanted), 500)
            for item in session.scalars(visible.where(Evidence.id.in_(wanted[start : start + 500])))
        }
        for position, item_id in enumerate(wanted):
            if item_id not in found:
                raise ValidationFailed(
                    {f"ids.{position}": f"no item of this case has the id {item_id}"},
                    f"no item of this case has the id {item_id}: nothing was changed",
                )
        return [found[item_id] for item_id in wanted]
    assert data.filter is not None  # noqa: S101 - the model requires ids or filter
    query = data.filter.item_filter().apply(visible, session, keyring)
    items = list(session.scalars(query.order_by(Evidence.seq).limit(MAX_ITEMS + 1)))
    if len(items) > MAX_ITEMS:
        count = matching_count(session, actor, case_id, data.filter.item_filter(), keyring)
        raise ValidationFailed(
            {"filter": f"{count} items match; at most {MAX_ITEMS} per request"},
            f"{count} items match the filter; at most {MAX_ITEMS} are changed per request: "
            "narrow the filter (e.g. by date received) and send each part; nothing was changed",
        )
    return items  # none matching: nothing to change, and nothing refused


def _still_active(session: Session, items: list[Evidence]) -> list[Evidence]:
    """The items read again under the custody lock (which a deletion holds until it
    commits), those deleted since they were found left out: a sensitivity change never
    reseals or reindexes a tombstone."""
    if not items:
        return items
    fresh = session.scalars(
        select(Evidence)
        .where(Evidence.id.in_([item.id for item in items]))
        .execution_options(populate_existing=True)
    ).all()
    active = {item.id for item in fresh if item.status == EvidenceStatus.ACTIVE}
    return [item for item in items if item.id in active]


@retry.transaction
def apply(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    data: BulkInput,
    *,
    keyring: Keyring,
) -> BulkResult:
    case = authz.authorize_case(session, actor, case_id, required_action(data))
    linking = data.action == "link_incident"
    incident = _incident(session, actor, case.id, data) if linking else None
    items = _items(session, actor, case.id, data, keyring)
    bulk_id = str(uuid.uuid4())
    entries: list[custody_log.NewEntry] = []
    changed: list[Evidence]
    derived: list[Evidence] = []
    if data.action in ("tag", "untag"):
        assert data.tag is not None  # noqa: S101 - checked by the model
        tagger = tagging.start_tagging(
            session,
            actor,
            case.id,
            data.tag,
            attach=data.action == "tag",
            keyring=keyring,
            bulk=bulk_id,
        )
        changed = tagger.apply(items, attach=data.action == "tag")
        entries = tagger.entries
    elif data.action == "set_sensitivity":
        assert data.sensitivity is not None  # noqa: S101 - checked by the model
        custody_log.hold_lock(session)  # the lock order: the items' rows are written under it
        changed = [
            item
            for item in _still_active(session, items)
            if sensitivity.change(
                session,
                actor,
                item,
                data.sensitivity,
                keyring=keyring,
                entries=entries,
                bulk=bulk_id,
                derived=derived,
            )
            # or restricted already in this request, with an item it was made from
            or any(other.id == item.id for other in derived)
        ]
    elif incident is not None:
        assert data.relation is not None  # noqa: S101 - checked by the model
        changed, entries = links.link_many(
            session,
            authz.require_active(actor),
            incident,
            items,
            relation=data.relation,
            note=data.note,
            bulk=bulk_id,
        )
    else:
        changed = _grant(
            session, actor, case.id, items, str(data.email), entries=entries, bulk_id=bulk_id
        )
    custody_log.append_many(session, entries)
    session.commit()
    done = {item.id for item in changed}
    named = {item.id for item in items}
    return BulkResult(
        action=data.action,
        bulk_id=bulk_id,
        changed=changed,
        unchanged=[item for item in items if item.id not in done],
        derived=[item for item in derived if item.id not in named],
    )


def _incident(
    session: Session, actor: User | None, case_id: uuid.UUID, data: BulkInput
) -> Incident:
    """The incident to link to, of this case (its case row locked: the lock order); any
    other id is refused as one that does not exist."""
    try:
        incident = get_incident(
            session, actor, data.incident_id, CaseAction.EDIT_INCIDENTS, for_update=True
        )
    except NotFound:
        incident = None
    if incident is None or incident.case_id != case_id:
        raise ValidationFailed({"incident_id": "no incident of this case has this id"})
    return incident


def _grant(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    items: list[Evidence],
    email: str,
    *,
    entries: list[custody_log.NewEntry],
    bulk_id: str,
) -> list[Evidence]:
    user = find_by_email(session, email)
    if user is None or authz.role_in_case(session, user, case_id) is None:
        raise ValidationFailed({"email": "no member of this case has this email"})
    for item in items:
        if item.sensitivity != Sensitivity.RESTRICTED:
            raise Conflict(
                f"{item.ern} is not restricted: every member of the case sees it; "
                "nothing was changed"
            )
    custody_log.hold_lock(session)
    changed = []
    for item in items:
        if session.get(EvidenceGrant, (item.id, user.id)) is not None:
            continue
        row, entry = grants.new_grant(actor, item, user, bulk=bulk_id)
        session.add(row)
        entries.append(entry)
        changed.append(item)
    return changed
