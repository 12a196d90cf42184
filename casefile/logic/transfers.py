"""Transfers of custody of physical media and originals: who handed what to whom, when,
where, why, in what condition, under which seal. Each is a custody entry of its own."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

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

from casefile.logic import authz, custody, retry
from casefile.logic.authz import CaseAction
from casefile.logic.errors import NotFound, ValidationFailed
from casefile.logic.text import refuse_nul
from casefile.model import CustodyAction, CustodyEntry, User

Party = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class TransferInput(BaseModel):
    """JSON names are the plain words (`from`, `to`, `when`, `where`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    from_party: Party = Field(alias="from")
    to_party: Party = Field(alias="to")
    when: AwareDatetime
    where: Note | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    condition: Note | None = None
    seal_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        None
    )
    media: Note | None = Field(default=None, description="what changed hands, e.g. 'SD card'")
    item_id: uuid.UUID | None = None
    # The scanned, signed receipt, uploaded as an item of the case first (so it is hashed,
    # encrypted and in the chain of custody itself).
    receipt_evidence_id: uuid.UUID | None = None


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
    if data.when > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5):
        raise ValidationFailed({"when": "a transfer cannot be in the future"})
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
    entry = custody.append(
        session,
        actor,
        CustodyAction.CUSTODY_TRANSFERRED,
        case_id=case.id,
        item_id=data.item_id,
        details=details,
    )
    session.commit()
    return entry
