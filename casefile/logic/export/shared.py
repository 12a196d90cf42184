"""What every export does, whatever chose its items (`items.py`: items named on the command
line; `filing.py`: a filing's exhibits): an exhibit's plan line from its item, a fresh signed
checkpoint and each item's custody report against it, the readers the writer takes its
verified bytes from, and the one transaction of `exported` entries once the bundle is
written."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from casefile import db
from casefile.bundle import writer
from casefile.bundle.plan import BundlePlan, ExhibitPlan, Sources
from casefile.logic import retry
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.custody import log as custody_log
from casefile.logic.custody import reports
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.logic.evidence import metadata, reading
from casefile.model import CustodyAction, Evidence, User
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring


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


def exhibit_plan(
    keyring: Keyring,
    item: Evidence,
    *,
    number: str,
    classification: str,
    title: str | None = None,
) -> ExhibitPlan:
    """The plan's line for an item the actor was authorized to see; `title` replaces the
    item's own (a filing's description of its exhibit)."""
    shown = metadata.reveal(keyring, item)
    collector = shown.collector
    return ExhibitPlan(
        number=number,
        item_id=str(item.id),
        ern=item.ern,
        title=title or shown.title,
        date=_date(item, collector),
        mime=item.mime,
        source=str(collector.get("source") or ""),
        classification=classification,
        language=str(item.language or collector.get("language") or ""),
        original_name=shown.original_filename or "",
        size=item.size,
        sha256=item.sha256,
    )


def signed_sources(
    session: Session,
    actor: User | None,
    items: Sequence[Evidence],
    *,
    keys: CustodyKeys,
    keyring: Keyring,
    store: BlobStore,
) -> Sources:
    """Sign a checkpoint (its own transaction, under the custody lock); each item's custody
    report is built against it, and its bytes read verified as they stream, when the writer
    comes to it. The caller has ended its reads (no transaction open)."""
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

    return Sources(
        content=content,
        custody_report=custody_report,
        checkpoint=checkpoint.note,
        verifier_key=keys.verifier_key,
        signing_key=keys.private_key,
    )


@retry.transaction
def _sign(session: Session, keys: CustodyKeys) -> Any:
    db.begin_writing(session)
    checkpoint = custody_checkpoints.make_checkpoint(session, keys)
    session.commit()
    db.end_writing(session)
    return checkpoint


def exported_entries(
    actor: User | None,
    prepared: Prepared,
    written: writer.Written,
    *,
    age_recipients: Sequence[str] = (),
    **facts: Any,
) -> list[custody_log.NewEntry]:
    """One `exported` entry per exhibit, naming the bundle (and the age public keys it was
    encrypted to, if any; and `facts`: the export, the filing), for the caller to append in
    its transaction."""
    encrypted = {"age_recipients": list(age_recipients)} if age_recipients else {}
    return [
        custody_log.NewEntry(
            actor,
            CustodyAction.EXPORTED,
            case_id=prepared.case_id,
            item_id=uuid.UUID(exhibit.item_id),
            details={
                "ern": exhibit.ern,
                **facts,
                "bundle": {
                    "external_identifier": prepared.plan.filing_id,
                    "exhibit": exhibit.number,
                    "tagmanifest_sha256": written.tagmanifest_sha256,
                    **encrypted,
                },
            },
        )
        for exhibit in prepared.plan.exhibits
    ]
