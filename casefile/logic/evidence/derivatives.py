"""Derivatives: new items of a case made from one of its items, linked to it, each with its
own ERN, hash, blob and custody (docs/derivatives.md).

- A translation is uploaded (`translate`): its language (BCP 47), the translator and a
  certification statement are kept with it (the translator and statement as collector
  fields: sealed with the rest if it is restricted). It is at least as restricted as the
  original: a translation of a restricted item is restricted, and everyone holding a grant to
  the original at that moment gets one to the translation (the uploader has one anyway).
- A redacted version is made here (`redact`): boxes drawn on the original's pages, with a
  reason code; the file is rebuilt without the content under the boxes
  (casefile/vault/redaction.py). It is standard unless the caller restricts it: the point of
  a redaction is a version that can be shared.

Only who may see the original and may add evidence to its case (investigators, lawyers,
leads) makes either; to anyone else the original does not exist (404)."""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile import db
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Busy, Conflict, ValidationFailed
from casefile.logic.evidence import metadata, reading, registration
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.languages import LanguageTag
from casefile.logic.evidence.registration import Derivative
from casefile.logic.evidence.submission import TITLE_MAX, EvidenceInput
from casefile.logic.text import VISIBLE, LongText, Stripped, refuse_nul
from casefile.model import (
    CustodyAction,
    Derivation,
    Evidence,
    EvidenceStatus,
    Sensitivity,
    User,
)
from casefile.vault import redaction
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring

MAX_BOXES = 500
Title = Annotated[
    str, StringConstraints(min_length=1, max_length=TITLE_MAX, pattern=VISIBLE), Stripped
]
Translator = Annotated[
    str, StringConstraints(min_length=1, max_length=300, pattern=VISIBLE), Stripped
]


class RedactionReason(StrEnum):
    """Why content was withheld (after the ICC's redaction practice: Chambers Practice Manual,
    rule 81 of the Rules of Procedure and Evidence)."""

    WITNESS_IDENTITY = "witness_identity"  # a witness's identity or whereabouts
    VICTIM_IDENTITY = "victim_identity"  # a victim's identity or whereabouts
    ONGOING_INVESTIGATION = "ongoing_investigation"  # would prejudice further investigation
    THIRD_PARTY_PRIVACY = "third_party_privacy"  # family members, bystanders, intermediaries
    NATIONAL_SECURITY = "national_security"  # information of a State (rule 81(3))
    OTHER = "other"


# --- translations ---------------------------------------------------------------------------


class TranslationInput(BaseModel):
    """What comes with a translation's file."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    language: LanguageTag = Field(description="the translation's language, BCP 47 (en, fr, my)")
    translator: Translator = Field(description="who translated it (a person or a service)")
    certification: LongText | None = Field(
        default=None, description="the translator's certification statement, if any"
    )
    title: Title | None = None

    @field_validator("certification", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def parse_translation(fields: dict[str, object]) -> TranslationInput:
    cleaned = {key: value for key, value in fields.items() if value not in (None, "")}
    try:
        return TranslationInput.model_validate(cleaned)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


def authorize(session: Session, actor: User | None, original_id: uuid.UUID) -> Evidence:
    """The original, if the actor may make a derivative of it (before reading any upload)."""
    original = authz.authorize_item(session, actor, original_id, CaseAction.ADD_EVIDENCE)
    if original.status != EvidenceStatus.ACTIVE:
        raise Conflict("this item was deleted; nothing can be made from it")
    return original


def translate(
    session: Session,
    actor: User | None,
    original_id: uuid.UUID,
    upload: IntakeStream,
    data: TranslationInput,
    *,
    filename: str | None,
    declared_mime: str | None,
    store: BlobStore,
    keyring: Keyring,
) -> Evidence:
    """Register an uploaded translation of `original_id` (its stream is finished here, or
    aborted if the original may not be translated by the actor)."""
    try:
        original = authorize(session, actor, original_id)
    except BaseException:
        upload.abort()
        raise
    restricted = original.sensitivity == Sensitivity.RESTRICTED
    if data.title:
        title = data.title
    elif restricted:
        title = f"Translation ({data.language})"  # the original's title is sealed
    else:
        title = f"{metadata.reveal(keyring, original).title} ({data.language})"
    collector: dict[str, object] = {"translator": data.translator}
    if data.certification:
        collector["certification"] = data.certification
    result = registration.register_upload(
        session,
        actor,
        original.case_id,
        upload,
        EvidenceInput(
            title=title[:TITLE_MAX],
            language=data.language,
            sensitivity=Sensitivity.RESTRICTED if restricted else Sensitivity.STANDARD,
        ),
        filename=filename,
        declared_mime=declared_mime,
        store=store,
        keyring=keyring,
        derivative=Derivative(
            original_id=original_id,
            derivation=Derivation.TRANSLATION,
            collector=collector,
            intake={"language": data.language},
            copy_grants=True,
            original_sensitivity=original.sensitivity,
        ),
    )
    return result.item


# --- redactions -----------------------------------------------------------------------------


class Box(BaseModel):
    """An area of a page, in fractions of the page as shown (0..1, from the top left)."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(ge=1, le=100_000, description="the page, from 1 (an image has one)")
    x: float = Field(ge=0, le=1, description="left edge, fraction of the page's width")
    y: float = Field(ge=0, le=1, description="top edge, fraction of the page's height")
    width: float = Field(gt=0, le=1, description="fraction of the page's width")
    height: float = Field(gt=0, le=1, description="fraction of the page's height")

    @model_validator(mode="after")
    def _inside_the_page(self) -> Box:
        if self.x + self.width > 1 + 1e-9 or self.y + self.height > 1 + 1e-9:
            raise ValueError("the box goes past the page's edge")
        return self


class RedactionInput(BaseModel):
    """A redaction: the boxes to remove, why, and the new item's title and sensitivity."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("title", mode="after")(refuse_nul)

    boxes: list[Box] = Field(min_length=1, max_length=MAX_BOXES)
    reason: RedactionReason = Field(description="why the content is withheld (docs/derivatives.md)")
    title: Title | None = None
    sensitivity: Sensitivity = Field(
        default=Sensitivity.STANDARD,
        description="standard unless chosen: a redacted version is made to be shared",
    )
    pages: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="the number of pages the person redacting was shown: refused (422) if the "
        "document has another number, so that no page goes out unseen",
    )


def parse_redaction(fields: dict[str, object]) -> RedactionInput:
    try:
        return RedactionInput.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


def redactable(item: Evidence) -> bool:
    return redaction.kind_of(item.mime) is not None and item.status == EvidenceStatus.ACTIVE


def _millionths(value: float) -> int:
    return round(value * 1_000_000)  # custody details hold no floats


def redact(
    session: Session,
    actor: User | None,
    original_id: uuid.UUID,
    data: RedactionInput,
    *,
    store: BlobStore,
    keyring: Keyring,
) -> Evidence:
    """Make a redacted version of a PDF or an image as a new item of its case. The original is
    read back verified and redacted in a helper process with no transaction open; the result
    is registered like an upload. A refusal (a type that cannot be redacted, a box on a page
    the document lacks) leaves no new item behind. Once the original has been read (decrypted
    and sent into the helper), a redaction that fails for any reason is recorded on the
    original, in its own transaction: a `viewed` entry with purpose `redaction`, outcome
    `failed` and the reason (docs/custody.md), so the log shows every read of the original."""
    original = authorize(session, actor, original_id)
    _check_redactable(original, data)
    # The names (and the check that a standard redaction of a restricted original is not
    # asked for) are decided from the original's sensitivity now; registering refuses if it
    # has changed by then (registration.Derivative.original_sensitivity).
    sensitivity = original.sensitivity
    title, filename_stem = _redacted_names(keyring, original, data)
    case_id, language = original.case_id, original.language
    read: list[bool] = []
    try:
        return _redact_and_register(
            session, actor, original, data, read,
            title=title, filename_stem=filename_stem, case_id=case_id, language=language,
            original_sensitivity=sensitivity, store=store, keyring=keyring,
        )
    except Exception as error:
        if read:
            _record_failed_redaction(session, actor, original_id, _failure_reason(error))
        raise


def _failure_reason(error: Exception) -> str:
    """What the custody entry says of a failed redaction: the refusal's own words, or only the
    kind of an unexpected error (its text may hold anything)."""
    if isinstance(error, ValidationFailed):
        return "; ".join(f"{name}: {problem}" for name, problem in error.fields.items())[:500]
    return f"unexpected error ({type(error).__name__})"


@retry.transaction
def _record_failed_redaction(
    session: Session, actor: User | None, original_id: uuid.UUID, reason: str
) -> None:
    session.rollback()
    db.begin_writing(session)
    original = session.get_one(Evidence, original_id)  # rows are never removed
    custody_log.append(
        session,
        actor,
        CustodyAction.VIEWED,
        case_id=original.case_id,
        item_id=original.id,
        details={"ern": original.ern, "purpose": "redaction", "outcome": "failed",
                 "reason": reason},
    )
    session.commit()
    db.end_writing(session)


def _redact_and_register(
    session: Session,
    actor: User | None,
    original: Evidence,
    data: RedactionInput,
    read: list[bool],
    *,
    title: str,
    filename_stem: str,
    case_id: uuid.UUID,
    language: str | None,
    original_sensitivity: Sensitivity,
    store: BlobStore,
    keyring: Keyring,
) -> Evidence:
    original_id = original.id
    result = _run_redaction(session, actor, original, data, read, store=store, keyring=keyring)
    if data.pages is not None and data.pages != result.pages:
        raise ValidationFailed({
            "pages": f"the document has {result.pages} pages, not the {data.pages} shown: "
            "every page must be seen before a redacted version goes out; look at them again"
        })
    stream = IntakeStream(store, keyring)
    try:
        content = result.content
        for start in range(0, len(content), 1 << 20):
            stream.write(content[start : start + (1 << 20)])
    except BaseException:
        stream.abort()
        raise
    registered = registration.register_upload(
        session,
        actor,
        case_id,
        stream,
        # A redacted version is in the original's language.
        EvidenceInput(title=title, language=language, sensitivity=data.sensitivity),
        filename=filename_stem + result.extension,
        declared_mime=result.mime,
        store=store,
        keyring=keyring,
        derivative=Derivative(
            original_id=original_id,
            derivation=Derivation.REDACTION,
            intake={
                "reason": data.reason.value,
                "boxes": len(data.boxes),
                "areas": [
                    [b.page, *(_millionths(v) for v in (b.x, b.y, b.width, b.height))]
                    for b in data.boxes
                ],
                "pages": result.pages,
            },
            original_sensitivity=original_sensitivity,
        ),
    )
    return registered.item


def _check_redactable(original: Evidence, data: RedactionInput) -> None:
    kind = redaction.kind_of(original.mime)
    if kind is None:
        raise ValidationFailed(
            {"item": f"files of type {original.mime} cannot be redacted; only PDFs and images"}
        )
    if original.size > redaction.MAX_BYTES:
        limit = redaction.MAX_BYTES // (1024 * 1024)
        raise ValidationFailed({"item": f"files over {limit} MiB are not redacted"})
    if kind == redaction.IMAGE and any(box.page != 1 for box in data.boxes):
        raise ValidationFailed({"boxes": "an image has one page: every box must be on page 1"})


def _redacted_names(keyring: Keyring, original: Evidence, data: RedactionInput) -> tuple[str, str]:
    """The new item's title and file name (without extension). A standard redaction of a
    restricted original carries nothing of the original's sealed title or file name."""
    hides = (
        original.sensitivity == Sensitivity.RESTRICTED
        and data.sensitivity != Sensitivity.RESTRICTED
    )
    if hides:
        return data.title or "Redacted version", "redacted"
    described = metadata.reveal(keyring, original)
    stem = re.sub(r"\.[A-Za-z0-9]{1,8}$", "", described.original_filename or "") or original.ern
    title = data.title or f"{described.title} (redacted)"[:TITLE_MAX]
    return title, f"{stem}-redacted"


def _run_redaction(
    session: Session,
    actor: User | None,
    original: Evidence,
    data: RedactionInput,
    read: list[bool],
    *,
    store: BlobStore,
    keyring: Keyring,
) -> redaction.Redacted:
    """The original read back verified and redacted in the helper, no transaction open;
    `read` gets True once the original's bytes are in hand."""
    if not reading.RENDERS_AT_ONCE.acquire(timeout=reading.RENDER_WAIT_SECONDS):
        raise Busy("other documents are being rendered; ask again in a moment")
    try:
        content = b"".join(reading.verified_chunks(session, actor, original, store, keyring))
        read.append(True)
        session.commit()  # a read, ended
        try:
            return redaction.redact(
                content,
                original.mime,
                [redaction.Box(b.page, b.x, b.y, b.width, b.height) for b in data.boxes],
            )
        except redaction.Refused as refused:
            raise ValidationFailed({refused.field: refused.message}) from None
        except redaction.RedactionFailed as failed:
            raise ValidationFailed({"item": str(failed)}) from None
        finally:
            del content
    finally:
        reading.RENDERS_AT_ONCE.release()


def derivative_tree(session: Session, item: Evidence) -> list[Evidence]:
    """Every item made from `item`, from those made from them, and so on, deleted ones
    included (a redaction of a translation deleted before stays reachable), each after the
    item it was made from; unauthorized: for the rules that follow an original to what was
    made of it (deletion, restriction, withdrawn grants)."""
    found: list[Evidence] = []
    seen = {item.id}
    level = [item.id]
    while level:
        children = [
            child
            for child in session.scalars(
                select(Evidence)
                .where(Evidence.derived_from_id.in_(level))
                .order_by(Evidence.created_at, Evidence.id)
                # as they are now, not as this session may have read them before its lock
                .execution_options(populate_existing=True)
            )
            if child.id not in seen
        ]
        seen.update(child.id for child in children)
        found += children
        level = [child.id for child in children]
    return found


def derivatives_of(session: Session, actor: User | None, item: Evidence) -> list[Evidence]:
    """The items the actor may see that were made from `item` (oldest first)."""
    query = (
        authz.visible_evidence(session, actor, item.case_id)
        .where(Evidence.derived_from_id == item.id)
        .order_by(Evidence.created_at, Evidence.id)
    )
    return list(session.scalars(query))


def original_of(session: Session, actor: User | None, item: Evidence) -> Evidence | None:
    """The item `item` was made from, if the actor may see it (else None: not even its ERN)."""
    if item.derived_from_id is None:
        return None
    original = session.get(Evidence, item.derived_from_id)
    if original is None:
        return None
    user = authz.require_active(actor)
    return original if authz.may_see_item(session, user, original) else None
