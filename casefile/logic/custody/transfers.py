"""Transfers of custody of physical media and originals: who handed what to whom, when,
where, why, in what condition, under which seal. Each is a custody entry of its own."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import NotFound, ValidationFailed
from casefile.logic.text import Explanation, Name, Note, Short, refuse_nul
from casefile.model import CustodyAction, CustodyEntry, Evidence, EvidenceStatus, User

EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(minutes=5)  # clocks of field laptops drift
MAX_ITEMS = 200
WHEN_FORMAT = "must be an ISO 8601 date and time with a time zone, e.g. 2026-12-06T09:30:00+06:30"


def _iso_moment(value: object) -> object:
    """Text in ISO 8601 (or a datetime, from a form): never a number of seconds since 1970,
    which would slip a bogus date into the append-only custody log."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(WHEN_FORMAT)  # noqa: TRY004 - pydantic turns ValueError into a 422
    try:
        return dt.datetime.fromisoformat(value.strip().upper())  # RFC 3339 allows 't' and 'z'
    except ValueError:
        raise ValueError(WHEN_FORMAT) from None


Moment = Annotated[AwareDatetime, BeforeValidator(_iso_moment)]


class TransferInput(BaseModel):
    """JSON names are the plain words (`from`, `to`, `when`, `where`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    from_party: Name = Field(alias="from")
    to_party: Name = Field(alias="to")
    when: Moment
    where: Note | None = None
    reason: Explanation
    condition: Note | None = None
    seal_number: Short | None = None
    media: Note | None = Field(default=None, description="what changed hands, e.g. 'SD card'")
    # The items the transfer concerns (originals whose digital copies are in the case): it is
    # recorded once per item, so that it shows in each item's chain of custody.
    item_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_ITEMS)
    item_id: uuid.UUID | None = Field(default=None, description="one item; item_ids for several")
    # The scanned, signed receipt, uploaded as an item of the case first (so it is hashed,
    # encrypted and in the chain of custody itself).
    receipt_evidence_id: uuid.UUID | None = None

    @field_validator("when")
    @classmethod
    def _plausible(cls, value: dt.datetime) -> dt.datetime:
        if value < EARLIEST:
            raise ValueError("must be in 1900 or later")
        if value > dt.datetime.now(dt.UTC) + FUTURE_TOLERANCE:
            raise ValueError("a transfer cannot be in the future")
        return value

    def items(self) -> list[uuid.UUID]:
        """The named items in the order given, each once (`item_id` first, if set)."""
        named = ([self.item_id] if self.item_id else []) + self.item_ids
        return list(dict.fromkeys(named))


def parse_transfer(fields: dict[str, object]) -> TransferInput:
    try:
        return TransferInput.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


@retry.transaction
def record_transfer(
    session: Session, actor: User | None, case_id: uuid.UUID, data: TransferInput
) -> list[CustodyEntry]:
    """The transfer's entries: one per named item, or one for the case if none is named."""
    case = authz.authorize_case(session, actor, case_id, CaseAction.RECORD_TRANSFER)
    items = [
        _item_of_case(session, actor, case.id, "item_ids", item_id) for item_id in data.items()
    ]
    receipt = (
        _item_of_case(session, actor, case.id, "receipt_evidence_id", data.receipt_evidence_id)
        if data.receipt_evidence_id
        else None
    )
    details = {
        "from": data.from_party,
        "to": data.to_party,
        "when": data.when.astimezone(dt.UTC).isoformat(),
        "where": data.where or None,
        "reason": data.reason,
        "condition": data.condition or None,
        "seal_number": data.seal_number or None,
        "media": data.media or None,
        "receipt": _named(receipt) if receipt else None,
    }
    if not items:
        entries = [
            custody_log.NewEntry(
                actor, CustodyAction.CUSTODY_TRANSFERRED, case_id=case.id, details=details
            )
        ]
    else:
        # One entry per item, in one transaction: each item's chain of custody shows the
        # handover, and the shared `transfer` id tells the entries are one event. No count of
        # the items: an entry must not tell a reader that a hidden item was handed over too.
        transfer = str(uuid.uuid4())
        entries = [
            custody_log.NewEntry(
                actor,
                CustodyAction.CUSTODY_TRANSFERRED,
                case_id=case.id,
                item_id=item.id,
                details={
                    **details,
                    "item": _named(item),
                    "transfer": transfer,
                },
            )
            for item in items
        ]
    written = custody_log.append_many(session, entries)
    session.commit()
    return written


def _item_of_case(
    session: Session, actor: User | None, case_id: uuid.UUID, field: str, item_id: uuid.UUID
) -> Evidence:
    """An item of the case the actor may see; any other id is refused in the same words, so
    that the refusal does not tell a hidden item from one that does not exist."""
    try:
        item = authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)
    except NotFound:
        item = None
    if item is None or item.case_id != case_id or item.status != EvidenceStatus.ACTIVE:
        raise ValidationFailed({field: "no item of this case has this id"})
    return item


def _named(item: Evidence) -> dict[str, str]:
    return {"id": str(item.id), "ern": item.ern, "sha256": item.sha256}


def items_to_name(session: Session, actor: User | None, case_id: uuid.UUID) -> list[Evidence]:
    """The items a transfer in this case may name: the active ones the actor may see."""
    authz.authorize_case(session, actor, case_id, CaseAction.RECORD_TRANSFER)
    query = (
        authz.visible_evidence(session, actor, case_id)
        .where(Evidence.status == EvidenceStatus.ACTIVE)
        .order_by(Evidence.ern)
    )
    return list(session.scalars(query))
