"""A court bundle of chosen items of one case (`casefile bundle CASE ERN... -o OUT`), until
filings exist: the plan, authorized (the actor must see every item: a restricted item
without a grant is "not found", as everywhere), a fresh signed checkpoint, each item's
custody report against it, its bytes read verified; and, once the bundle is written, one
transaction with an `exported` entry per item naming the bundle."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile import db
from casefile.bundle import writer
from casefile.bundle.plan import CLASSIFICATIONS, BundlePlan, ExhibitPlan, Sources
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import log as custody_log
from casefile.logic.custody import reports
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.evidence import metadata, reading
from casefile.model import CustodyAction, Evidence, EvidenceStatus, Forum, Sensitivity, User
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring

NUMBERING = {Forum.ICJ: "Annex {n}", Forum.ICC: "Anx {n}", Forum.UJ: "Exhibit {n}"}
MAX_ITEMS = 10_000


@dataclass(frozen=True)
class Prepared:
    """A plan and what the writer reads it from."""

    plan: BundlePlan
    sources: Sources
    case_id: uuid.UUID
    items: dict[str, uuid.UUID]  # exhibit number -> item id


def _date(item: Evidence, collector: dict[str, Any]) -> str:
    collected = collector.get("collected_at")
    if isinstance(collected, str) and collected:
        return collected[:10]
    return item.created_at.astimezone(dt.UTC).date().isoformat()


def _items(
    session: Session, actor: User | None, case_id: uuid.UUID, erns: Sequence[str]
) -> list[Evidence]:
    if not erns:
        raise ValidationFailed({"ern": "name at least one item"})
    if len(erns) > MAX_ITEMS:
        raise ValidationFailed({"ern": f"at most {MAX_ITEMS} items in one bundle"})
    if len(set(erns)) != len(erns):
        raise ValidationFailed({"ern": "an item is named twice"})
    visible = authz.visible_evidence(session, actor, case_id).subquery()
    found = {
        item.ern: item
        for item in session.scalars(
            select(Evidence).where(Evidence.id.in_(select(visible.c.id)), Evidence.ern.in_(erns))
        )
    }
    chosen = []
    for ern in erns:
        item = found.get(ern)
        if item is None:  # missing, or restricted and not granted: the same answer
            raise NotFound(f"evidence {ern} not found")
        if item.status != EvidenceStatus.ACTIVE:
            raise Conflict(f"{ern} was deleted; its content no longer exists")
        chosen.append(item)
    return chosen


def prepare(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    erns: Sequence[str],
    *,
    keys: CustodyKeys,
    keyring: Keyring,
    store: BlobStore,
    classification: str = "public",
    title: str | None = None,
    organization: str | None = None,
) -> Prepared:
    """Authorize and sign a checkpoint; each item's custody report against it is built, and
    its bytes read verified as they stream, later, by the writer, one exhibit at a time."""
    if classification not in CLASSIFICATIONS:
        raise ValidationFailed({"classification": f"one of {', '.join(CLASSIFICATIONS)}"})
    case = authz.authorize_case(session, actor, case_id, CaseAction.VIEW_EVIDENCE)
    items = _items(session, actor, case_id, erns)
    numbering = NUMBERING.get(case.forum, "Exhibit {n}")
    exhibits = []
    numbers: dict[str, uuid.UUID] = {}
    for position, item in enumerate(items, start=1):
        shown = metadata.reveal(keyring, item)
        collector = shown.collector
        own = classification
        if item.sensitivity == Sensitivity.RESTRICTED and classification == "public":
            own = "confidential"  # a restricted item is never public
        number = numbering.format(n=position)
        numbers[number] = item.id
        exhibits.append(
            ExhibitPlan(
                number=number,
                item_id=str(item.id),
                ern=item.ern,
                title=shown.title,
                date=_date(item, collector),
                mime=item.mime,
                source=str(collector.get("source") or ""),
                classification=own,
                language=str(collector.get("language") or ""),
                original_name=shown.original_filename or "",
                size=item.size,
                sha256=item.sha256,
            )
        )
    session.commit()  # the reads end: signing takes the custody lock in its own transaction
    checkpoint = _sign(session, keys)
    by_id = {str(item.id): item for item in items}

    def content(exhibit: ExhibitPlan) -> Iterator[bytes]:
        return reading.verified_chunks(session, actor, by_id[exhibit.item_id], store, keyring)

    def custody_report(exhibit: ExhibitPlan) -> dict[str, Any]:
        # Built when the writer comes to the exhibit, not all up front: a bundle of thousands
        # of items would otherwise hold every report for the whole export. The checkpoint
        # fixes what each report holds (its entries before it, their proofs to it), so when
        # it is built does not change it; an item the actor lost access to meanwhile is not
        # found, and the bundle stops.
        return reports.item_report_at(session, actor, by_id[exhibit.item_id].id, checkpoint, keys)

    plan = BundlePlan(
        filing_id=f"casefile-bundle-{uuid.uuid4()}",
        filing_title=title or f"Exhibits from {case.title}",
        forum=case.forum.value.upper(),
        classification=classification,
        exhibits=tuple(exhibits),
        organization=organization or keys.origin,
        case_title=case.title,
    )
    sources = Sources(
        content=content,
        custody_report=custody_report,
        checkpoint=checkpoint.note,
        verifier_key=keys.verifier_key,
        signing_key=keys.private_key,
    )
    return Prepared(plan=plan, sources=sources, case_id=case.id, items=numbers)


@retry.transaction
def _sign(session: Session, keys: CustodyKeys) -> Any:
    db.begin_writing(session)
    checkpoint = custody_checkpoints.make_checkpoint(session, keys)
    session.commit()
    db.end_writing(session)
    return checkpoint


@retry.transaction
def record_export(
    session: Session, actor: User | None, prepared: Prepared, written: writer.Written
) -> None:
    """One `exported` entry per item, naming the bundle, in one transaction: called by the
    writer once every file is on disk and before the bundle takes its name."""
    session.rollback()  # reads of the export (an item refreshed) end here
    db.begin_writing(session)
    custody_log.append_many(
        session,
        [
            custody_log.NewEntry(
                actor,
                CustodyAction.EXPORTED,
                case_id=prepared.case_id,
                item_id=uuid.UUID(exhibit.item_id),
                details={
                    "ern": exhibit.ern,
                    "bundle": {
                        "external_identifier": prepared.plan.filing_id,
                        "exhibit": exhibit.number,
                        "tagmanifest_sha256": written.tagmanifest_sha256,
                    },
                },
            )
            for exhibit in prepared.plan.exhibits
        ],
    )
    session.commit()
    db.end_writing(session)


def export(
    session: Session,
    actor: User | None,
    prepared: Prepared,
    out: Any,
    *,
    as_zip: bool = False,
) -> writer.Written:
    """Write the bundle; its custody entries commit before it takes its name, and only if
    every file was written (a failure leaves neither entries nor files)."""
    return writer.write_bundle(
        prepared.plan,
        prepared.sources,
        out,
        as_zip=as_zip,
        before_publish=lambda written: record_export(session, actor, prepared, written),
    )
