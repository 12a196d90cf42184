"""Creating, reading and changing filings.

A filing's status goes draft → final → filed (final may go back to draft). A filed filing
is frozen: an edit of it is refused (`FilingFrozen`, HTTP 409) unless the client asks for a
new version (`new_version: true`), which makes a new filing (version + 1, status draft, the
same exhibits) that names the filed one it supersedes; both are kept, and only the latest
version of a filing can be superseded. Each change is a custody entry on the case
(`case_updated`, details naming the filing, with each changed field's old and new value)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.custody.log import NewEntry
from casefile.logic.errors import Conflict, ValidationFailed
from casefile.logic.text import NO_NUL, VISIBLE, Note, Stripped
from casefile.model import (
    FORUM_TYPES,
    Case,
    Classification,
    CustodyAction,
    Exhibit,
    Filing,
    FilingStatus,
    FilingType,
    User,
)

Title = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=VISIBLE), Stripped]
Language = Annotated[
    str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$", max_length=35)
]
DocumentNumber = Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL), Stripped]
Prefix = Annotated[str, StringConstraints(max_length=40, pattern=NO_NUL), Stripped]
Start = Annotated[int, Field(ge=0, le=1_000_000)]

# The fields a filing's input sets, in the order its custody entries list them.
FIELDS = (
    "title",
    "type",
    "language",
    "court_document_number",
    "filing_date",
    "classification",
    "classification_basis",
    "exhibit_prefix",
    "exhibit_start",
)
NEXT_STATUS: dict[FilingStatus, frozenset[FilingStatus]] = {
    FilingStatus.DRAFT: frozenset({FilingStatus.FINAL}),
    FilingStatus.FINAL: frozenset({FilingStatus.DRAFT, FilingStatus.FILED}),
    FilingStatus.FILED: frozenset(),
}


class FilingFrozen(Conflict):
    """The filing was filed: it does not change; a change makes a new version."""


class FilingInput(BaseModel):
    """A new filing. `classification_basis` (the order, rule or agreement that makes it
    confidential, sealed or ex parte) is required unless the filing is public."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    type: FilingType
    classification: Classification
    classification_basis: Note | None = None
    language: Language = "en"
    court_document_number: DocumentNumber | None = Field(
        default=None, description="the registry's number, e.g. ICC-01/19-7"
    )
    filing_date: dt.date | None = None
    exhibit_prefix: Prefix | None = Field(
        default=None,
        description="the exhibits' numbers' prefix; default the forum's (ICJ 'Annex', ICC "
        "'Anx', universal jurisdiction 'Exhibit')",
    )
    exhibit_start: Start = Field(default=1, description="the first exhibit's number")


class FilingPatch(BaseModel):
    """A change to a filing: only the fields sent change (an optional field sent null is
    cleared). `status` moves it on (draft → final → filed; final → draft). A filed filing
    changes only with `new_version: true`, which makes and answers a new version."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    type: FilingType | None = None
    classification: Classification | None = None
    classification_basis: Note | None = None
    language: Language | None = None
    court_document_number: DocumentNumber | None = None
    filing_date: dt.date | None = None
    exhibit_prefix: Prefix | None = None
    exhibit_start: Start | None = None
    status: FilingStatus | None = None
    new_version: bool = Field(
        default=False,
        description="for a filed filing: make a new version (status draft, the same "
        "exhibits) with these changes, and answer it (201); without it, 409 filing_filed",
    )

    def changes(self) -> dict[str, Any]:
        sent = self.model_fields_set & set(FIELDS)
        for required in ("title", "type", "classification", "language", "exhibit_start"):
            if required in sent and getattr(self, required) is None:
                raise ValidationFailed({required: "may be changed, not cleared"})
        return {name: getattr(self, name) for name in FIELDS if name in sent}


def parse(model: type[BaseModel], fields: dict[str, object]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


def _check(case: Case, values: dict[str, Any]) -> None:
    """The rules over fields together: the type fits the case's forum; the basis is stated
    unless the filing is public."""
    problems: dict[str, str] = {}
    if values["type"] not in FORUM_TYPES[case.forum]:
        allowed = ", ".join(kind.value for kind in FORUM_TYPES[case.forum])
        problems["type"] = f"not a filing of this case's forum ({case.forum.value}): {allowed}"
    basis = values.get("classification_basis")
    if values["classification"] != Classification.PUBLIC and not (basis and basis.strip()):
        problems["classification_basis"] = "state the basis of a classification other than public"
    if problems:
        raise ValidationFailed(problems)


def _recorded(value: Any) -> Any:
    """A value as a custody entry records it (its encoding has no dates or floats)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, FilingType | Classification | FilingStatus):
        return value.value
    return value


def filing_ref(filing: Filing) -> dict[str, Any]:
    return {"id": str(filing.id), "version": filing.version, "title": filing.title}


def values_of(filing: Filing) -> dict[str, Any]:
    return {name: getattr(filing, name) for name in FIELDS}


@retry.transaction
def create_filing(
    session: Session, actor: User | None, case_id: uuid.UUID, data: FilingInput
) -> Filing:
    """A new draft filing of the case: for lawyers and leads. One custody entry on the case."""
    case = authz.authorize_case(session, actor, case_id, CaseAction.EDIT_FILINGS, for_update=True)
    values = {name: getattr(data, name) for name in FIELDS}
    _check(case, values)
    custody_log.hold_lock(session)
    filing = Filing(
        case_id=case.id,
        status=FilingStatus.DRAFT,
        version=1,
        exhibits_version=1,
        created_by_id=actor.id if actor is not None else None,
        **values,
    )
    session.add(filing)
    session.flush()
    custody_log.append(
        session,
        actor,
        CustodyAction.CASE_UPDATED,
        case_id=case.id,
        details={
            "change": "filing_created",
            "filing": filing_ref(filing),
            "fields": {name: _recorded(value) for name, value in values.items()},
            "status": filing.status.value,
        },
    )
    session.commit()
    return filing


def list_filings(session: Session, actor: User | None, case_id: uuid.UUID) -> list[Filing]:
    """The case's filings the actor may read (none holding an item hidden from them), oldest
    first, every version."""
    query = authz.visible_filings(session, actor, case_id)
    return list(session.scalars(query.order_by(Filing.created_at, Filing.version, Filing.id)))


def get_filing(session: Session, actor: User | None, filing_id: uuid.UUID) -> Filing:
    return authz.authorize_filing(session, actor, filing_id, CaseAction.VIEW_EVIDENCE)


def superseded_by(session: Session, filing: Filing) -> Filing | None:
    return session.scalar(select(Filing).where(Filing.supersedes_id == filing.id))


@dataclass(frozen=True)
class Updated:
    filing: Filing
    new_version: bool  # the answer is a new filing row


@retry.transaction
def update_filing(
    session: Session, actor: User | None, filing_id: uuid.UUID, patch: FilingPatch
) -> Updated:
    """Change a filing's fields and/or status; or, for a filed filing asked with
    `new_version`, make its new version with the changes. Nothing changed, nothing written."""
    filing = authz.authorize_filing(
        session, actor, filing_id, CaseAction.EDIT_FILINGS, for_update=True
    )
    custody_log.hold_lock(session)
    session.refresh(filing)  # read again under the case's lock
    case = session.get_one(Case, filing.case_id)
    changes = patch.changes()
    if filing.status == FilingStatus.FILED:
        if not patch.new_version:
            raise FilingFrozen(
                "this filing was filed and is frozen: send new_version: true to make a new "
                "version with your change"
            )
        if superseded_by(session, filing) is not None:
            raise Conflict("a newer version of this filing exists: change that one")
        made = _new_version(session, actor, case, filing, changes, status=patch.status)
        return Updated(made, new_version=True)
    if patch.new_version:
        raise Conflict("only a filed filing gets a new version; change this one as it is")
    old = values_of(filing)
    new = {**old, **changes}
    _check(case, new)
    changed = [name for name in FIELDS if new[name] != old[name]]
    status_change = _status_change(filing.status, patch.status, new)
    if not changed and status_change is None:
        session.commit()
        return Updated(filing, new_version=False)
    for name in changed:
        setattr(filing, name, new[name])
    details: dict[str, Any] = {"change": "filing_updated", "filing": filing_ref(filing)}
    if changed:
        details["changes"] = {
            name: {"from": _recorded(old[name]), "to": _recorded(new[name])} for name in changed
        }
    if status_change is not None:
        details["status"] = {"from": filing.status.value, "to": status_change.value}
        filing.status = status_change
    custody_log.append(
        session, actor, CustodyAction.CASE_UPDATED, case_id=case.id, details=details
    )
    session.commit()
    return Updated(filing, new_version=False)


def _status_change(
    current: FilingStatus, wanted: FilingStatus | None, values: dict[str, Any]
) -> FilingStatus | None:
    if wanted is None or wanted == current:
        return None
    if wanted not in NEXT_STATUS[current]:
        raise Conflict(f"a {current.value} filing cannot become {wanted.value}")
    if wanted == FilingStatus.FILED and values["filing_date"] is None:
        raise ValidationFailed({"filing_date": "a filed filing has its filing date"})
    return wanted


def _new_version(
    session: Session,
    actor: User | None,
    case: Case,
    filed: Filing,
    changes: dict[str, Any],
    *,
    status: FilingStatus | None,
) -> Filing:
    values = {**values_of(filed), **changes}
    _check(case, values)
    new_status = _status_change(FilingStatus.DRAFT, status, values) or FilingStatus.DRAFT
    filing = Filing(
        case_id=case.id,
        status=new_status,
        version=filed.version + 1,
        supersedes_id=filed.id,
        exhibits_version=1,
        created_by_id=actor.id if actor is not None else None,
        **values,
    )
    session.add(filing)
    session.flush()
    from casefile.logic.filings import exhibits  # noqa: PLC0415 - they import this module

    entries = [
        NewEntry(
            actor,
            CustodyAction.CASE_UPDATED,
            case_id=case.id,
            details={
                "change": "filing_new_version",
                "filing": filing_ref(filing),
                "supersedes": filing_ref(filed),
                "changes": {
                    name: {"from": _recorded(getattr(filed, name)), "to": _recorded(values[name])}
                    for name in FIELDS
                    if values[name] != getattr(filed, name)
                },
                "status": filing.status.value,
            },
        )
    ]
    for old in filed.exhibits:
        copy = Exhibit(
            filing_id=filing.id,
            evidence_id=old.evidence_id,
            position=old.position,
            classification=old.classification,
            description=old.description,
            sealed_description=old.sealed_description,
            added_by_id=actor.id if actor is not None else None,
        )
        session.add(copy)
        entries.append(
            exhibits.exhibit_entry(
                actor, case, filing, old.item, "exhibit_added", number=exhibits.number(
                    filing, case, old.position
                )
            )
        )
    session.flush()
    custody_log.append_many(session, entries)
    session.commit()
    session.refresh(filing)
    return filing
