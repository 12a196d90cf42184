"""What a court registry or opposing counsel would object to in a filing, said before it is
exported: a list of warnings, each with a code, a message and the exhibits it concerns. The
API and the web page show the same list; nothing here is silent (a page count that cannot be
made, a language not recorded, is a warning of its own).

- `icj_annex_pages` (ICJ): the annexes total over 750 pages (Practice Direction III). A PDF's
  pages are counted by PDFium on its verified bytes and stored on the item the first time
  (`Evidence.page_count`); an image counts as one page; `page_count_unknown` names exhibits
  whose pages cannot be counted (other types, PDFs too large or unreadable).
- `translation_missing` (ICJ, ICC): an exhibit in a language other than English or French
  with no translation into either (an item of the case the reader may see, derived from it
  as a `translation`); `language_unknown` when an exhibit's language is not recorded.
- `restricted_in_public_filing`: a restricted item in a public filing.
- `integrity_failure`: the item's latest integrity check failed.
- `type_mismatch`, `declared_hash_mismatch`: flags intake put on the item.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefile import db
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.evidence import metadata, reading
from casefile.logic.evidence.reading import IntegrityFailure
from casefile.logic.filings.exhibits import number
from casefile.model import (
    Case,
    Classification,
    CustodyAction,
    CustodyEntry,
    Derivation,
    Evidence,
    EvidenceStatus,
    Exhibit,
    Filing,
    Forum,
    Sensitivity,
    User,
)
from casefile.vault import pdf_pages, sniff
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring

ICJ_ANNEX_PAGES = 750  # ICJ Practice Direction III
COURT_LANGUAGES = frozenset({"en", "fr"})  # the ICJ's and the ICC's working languages
# Language names a collector may have written instead of a code.
LANGUAGE_NAMES = {
    "english": "en",
    "eng": "en",
    "french": "fr",
    "français": "fr",
    "francais": "fr",
    "fra": "fr",
    "fre": "fr",
    "burmese": "my",
    "myanmar": "my",
    "mya": "my",
    "bur": "my",
    "rohingya": "rhg",
}


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the word the contract uses
    code: str
    message: str
    exhibits: list[str] = field(default_factory=list)  # the numbers of those concerned
    total_pages: int | None = None  # icj_annex_pages: the annexes' pages


def language_code(value: str | None) -> str | None:
    """"en", "fr-CA" → its primary language, lower case; a name → its code; None if blank."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    text = LANGUAGE_NAMES.get(text, text)
    return text.split("-")[0].split("_")[0]


def item_language(keyring: Keyring, item: Evidence) -> str | None:
    """The item's language: its own field, else what its collector wrote."""
    if item.language:
        return language_code(item.language)
    described = metadata.reveal(keyring, item)
    written = described.collector.get("language") if described.available else None
    return language_code(written) if isinstance(written, str) else None


def filing_warnings(
    session: Session,
    actor: User | None,
    filing_id: uuid.UUID,
    *,
    store: BlobStore,
    keyring: Keyring,
) -> list[Warning]:
    """The filing's warnings, in the order of the module's list. For whoever may read it."""
    filing = authz.authorize_filing(session, actor, filing_id, CaseAction.VIEW_EVIDENCE)
    case = session.get_one(Case, filing.case_id)
    if case.forum == Forum.ICJ:
        uncounted = [
            exhibit.evidence_id
            for exhibit in filing.exhibits
            if _countable(exhibit.item) and exhibit.item.page_count is None
        ]
        if uncounted:
            session.commit()
            count_pages(session, actor, uncounted, store=store, keyring=keyring)
            filing = authz.authorize_filing(session, actor, filing_id, CaseAction.VIEW_EVIDENCE)
    found: list[Warning] = []
    exhibits = list(filing.exhibits)
    if case.forum == Forum.ICJ:
        found += _pages(filing, case, exhibits)
    if case.forum in (Forum.ICJ, Forum.ICC):
        found += _languages(session, actor, keyring, filing=filing, case=case, exhibits=exhibits)
    found += _restricted(filing, case, exhibits)
    found += _integrity(session, filing, case, exhibits)
    found += _flags(filing, case, exhibits)
    session.commit()
    return found


def _countable(item: Evidence) -> bool:
    return (
        item.status == EvidenceStatus.ACTIVE
        and sniff.canonical(item.mime) == "application/pdf"
        and item.size <= pdf_pages.MAX_BYTES
    )


def count_pages(
    session: Session,
    actor: User | None,
    item_ids: Iterable[uuid.UUID],
    *,
    store: BlobStore,
    keyring: Keyring,
) -> dict[uuid.UUID, int]:
    """Count the pages of these PDF items (the actor may see them) and store each count on
    its item. The bytes are read back verified (a failure is recorded, as for a download),
    and counted in PDFium's bounded helper with no transaction open. Items that cannot be
    counted are left out (their count stays unknown)."""
    counted: dict[uuid.UUID, int] = {}
    for item_id in item_ids:
        item = authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)
        if not _countable(item):
            session.commit()
            continue
        try:
            content = b"".join(
                reading._verified_chunks(session, actor, item, store, keyring)  # noqa: SLF001
            )
        except IntegrityFailure:
            session.commit()
            continue  # recorded; the integrity warning says so
        session.commit()  # a read, ended: no transaction open while PDFium works
        try:
            pages = pdf_pages.count(content)
        except pdf_pages.RenderFailed:
            continue
        finally:
            del content
        _store_count(session, item_id, pages)
        counted[item_id] = pages
    return counted


@retry.transaction
def _store_count(session: Session, item_id: uuid.UUID, pages: int) -> None:
    """A fact of the verified bytes (the same every time), kept so they are read once."""
    db.begin_writing(session)
    item = session.get_one(Evidence, item_id)
    if item.page_count is None:
        item.page_count = pages
    session.commit()


def _pages(filing: Filing, case: Case, exhibits: list[Exhibit]) -> list[Warning]:
    total, unknown = 0, []
    for exhibit in exhibits:
        item = exhibit.item
        if item.page_count is not None:
            total += item.page_count
        elif sniff.canonical(item.mime).startswith("image/"):
            total += 1
        else:
            unknown.append(number(filing, case, exhibit.position))
    found = []
    if total > ICJ_ANNEX_PAGES:
        found.append(
            Warning(
                "icj_annex_pages",
                f"the annexes total {total} pages, over the {ICJ_ANNEX_PAGES} pages of ICJ "
                "Practice Direction III",
                total_pages=total,
            )
        )
    if unknown:
        found.append(
            Warning(
                "page_count_unknown",
                "the pages of these annexes could not be counted, so the total may be higher",
                unknown,
                total_pages=total,
            )
        )
    return found


def _languages(
    session: Session,
    actor: User | None,
    keyring: Keyring,
    *,
    filing: Filing,
    case: Case,
    exhibits: list[Exhibit],
) -> list[Warning]:
    visible = authz.visible_evidence(session, actor, case.id).subquery()
    translated = set(
        session.scalars(
            select(visible.c.derived_from_id).where(
                visible.c.derived_from_id.in_([exhibit.evidence_id for exhibit in exhibits]),
                visible.c.derivation == Derivation.TRANSLATION,
                visible.c.status == EvidenceStatus.ACTIVE,
                func.lower(func.substr(visible.c.language, 1, 2)).in_(COURT_LANGUAGES),
            )
        )
    )
    missing, unknown = [], []
    for exhibit in exhibits:
        language = item_language(keyring, exhibit.item)
        if language is None:
            unknown.append(number(filing, case, exhibit.position))
        elif language not in COURT_LANGUAGES and exhibit.evidence_id not in translated:
            missing.append(f"{number(filing, case, exhibit.position)} ({language})")
    found = []
    if missing:
        found.append(
            Warning(
                "translation_missing",
                "these exhibits are in a language other than English or French and have no "
                "linked translation into either",
                missing,
            )
        )
    if unknown:
        found.append(
            Warning(
                "language_unknown",
                "the language of these exhibits is not recorded, so a missing translation "
                "cannot be ruled out",
                unknown,
            )
        )
    return found


def _restricted(filing: Filing, case: Case, exhibits: list[Exhibit]) -> list[Warning]:
    if filing.classification != Classification.PUBLIC:
        return []
    restricted = [
        number(filing, case, exhibit.position)
        for exhibit in exhibits
        if exhibit.item.sensitivity == Sensitivity.RESTRICTED
    ]
    if not restricted:
        return []
    return [
        Warning(
            "restricted_in_public_filing",
            "restricted items (for example, ones that identify a witness) are exhibits of a "
            "public filing",
            restricted,
        )
    ]


def _integrity(
    session: Session, filing: Filing, case: Case, exhibits: list[Exhibit]
) -> list[Warning]:
    """Exhibits whose latest integrity check in the custody log failed."""
    ids = [exhibit.evidence_id for exhibit in exhibits]
    if not ids:
        return []
    rows = session.execute(
        select(CustodyEntry.item_id, CustodyEntry.action, func.max(CustodyEntry.seq))
        .where(
            CustodyEntry.item_id.in_(ids),
            CustodyEntry.action.in_(
                (CustodyAction.INTEGRITY_FAILURE, CustodyAction.INTEGRITY_CHECKED)
            ),
        )
        .group_by(CustodyEntry.item_id, CustodyEntry.action)
    ).all()
    latest: dict[uuid.UUID, tuple[int, CustodyAction]] = {}
    for item_id, action, seq in rows:
        if item_id is None:
            continue
        if item_id not in latest or seq > latest[item_id][0]:
            latest[item_id] = (seq, action)
    failed = [
        number(filing, case, exhibit.position)
        for exhibit in exhibits
        if latest.get(exhibit.evidence_id, (0, None))[1] == CustodyAction.INTEGRITY_FAILURE
        or exhibit.item.status != EvidenceStatus.ACTIVE
    ]
    if not failed:
        return []
    return [
        Warning(
            "integrity_failure",
            "these exhibits failed their latest integrity check (or were deleted): their "
            "bytes cannot be exported",
            failed,
        )
    ]


def type_mismatch(item: Evidence) -> bool:
    """Whether intake's type-mismatch flags still stand (not settled as two names of the
    same type, as the item's page explains them)."""
    if "type_mismatch:declared_type" in item.flags and not (
        item.declared_mime and sniff.same_type(item.declared_mime, item.mime)
    ):
        return True
    if "type_mismatch:extension" in item.flags:
        guessed = mimetypes.guess_type(item.original_filename or "")[0]
        if guessed is None or not sniff.same_type(guessed, item.mime):
            return True
    return "type_mismatch" in item.flags and not any(
        flag.startswith("type_mismatch:") for flag in item.flags
    )


def _flags(filing: Filing, case: Case, exhibits: list[Exhibit]) -> list[Warning]:
    mismatched = [
        number(filing, case, exhibit.position)
        for exhibit in exhibits
        if type_mismatch(exhibit.item)
    ]
    digests = [
        number(filing, case, exhibit.position)
        for exhibit in exhibits
        if "declared_hash_mismatch" in exhibit.item.flags
    ]
    found = []
    if mismatched:
        found.append(
            Warning(
                "type_mismatch",
                "the content of these exhibits is not of the type they were declared or named as",
                mismatched,
            )
        )
    if digests:
        found.append(
            Warning(
                "declared_hash_mismatch",
                "these exhibits did not match a digest their collector declared",
                digests,
            )
        )
    return found
