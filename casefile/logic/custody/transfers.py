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
from casefile.model import CustodyAction, CustodyEntry, User

EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(minutes=5)  # clocks of field laptops drift
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
    item_id: uuid.UUID | None = None
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


def parse_transfer(fields: dict[str, object]) -> TransferInput:
    try:
        return TransferInput.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


@retry.transaction
def record_transfer(
    session: Session, actor: User | None, case_id: uuid.UUID, data: TransferInput
) -> CustodyEntry:
    case = authz.authorize_case(session, actor, case_id, CaseAction.RECORD_TRANSFER)
    receipt = None
    for field, item_id in (
        ("item_id", data.item_id),
        ("receipt_evidence_id", data.receipt_evidence_id),
    ):
        if item_id is None:
            continue
        try:
            item = authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)
        except NotFound:
            item = None
        if item is None or item.case_id != case.id:
            raise ValidationFailed({field: "no item of this case has this id"})
        if field == "receipt_evidence_id":
            receipt = item
    details = {
        "from": data.from_party,
        "to": data.to_party,
        "when": data.when.astimezone(dt.UTC).isoformat(),
        "where": data.where or None,
        "reason": data.reason,
        "condition": data.condition or None,
        "seal_number": data.seal_number or None,
        "media": data.media or None,
        "receipt": {"id": str(receipt.id), "ern": receipt.ern, "sha256": receipt.sha256}
        if receipt
        else None,
    }
    entry = custody_log.append(
        session,
        actor,
        CustodyAction.CUSTODY_TRANSFERRED,
        case_id=case.id,
        item_id=data.item_id,
        details=details,
    )
    session.commit()
    return entry
