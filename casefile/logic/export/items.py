"""A court bundle of chosen items of one case (`casefile bundle CASE ERN... -o OUT`), until
filings exist: the plan, authorized (the actor must see every item: a restricted item
without a grant is "not found", as everywhere), a fresh signed checkpoint, each item's
custody report against it, its bytes read verified; and, once the bundle is written, one
transaction with an `exported` entry per item naming the bundle."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile import db
from casefile.bundle import writer
from casefile.bundle.plan import CLASSIFICATIONS, BundlePlan
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.logic.errors import Conflict, NotFound, ValidationFailed
from casefile.logic.export import shared
from casefile.logic.export.shared import Prepared
from casefile.model import Evidence, EvidenceStatus, Forum, Sensitivity, User
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring

NUMBERING = {Forum.ICJ: "Annex {n}", Forum.ICC: "Anx {n}", Forum.UJ: "Exhibit {n}"}
MAX_ITEMS = 10_000


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
        own = classification
        if item.sensitivity == Sensitivity.RESTRICTED and classification == "public":
            own = "confidential"  # a restricted item is never public
        number = numbering.format(n=position)
        numbers[number] = item.id
        exhibits.append(
            shared.exhibit_plan(keyring, item, number=number, classification=own)
        )
    session.commit()  # the reads end: signing takes the custody lock in its own transaction
    sources = shared.signed_sources(
        session, actor, items, keys=keys, keyring=keyring, store=store
    )
    plan = BundlePlan(
        filing_id=f"casefile-bundle-{uuid.uuid4()}",
        filing_title=title or f"Exhibits from {case.title}",
        forum=case.forum.value.upper(),
        classification=classification,
        exhibits=tuple(exhibits),
        organization=organization or keys.origin,
        case_title=case.title,
    )
    return Prepared(plan=plan, sources=sources, case_id=case.id, items=numbers)


@retry.transaction
def record_export(
    session: Session,
    actor: User | None,
    prepared: Prepared,
    written: writer.Written,
    *,
    age_recipients: Sequence[str] = (),
) -> None:
    """One `exported` entry per item, naming the bundle (and the age public keys it was
    encrypted to, if any), in one transaction: called by the writer once every file is on
    disk and before the bundle takes its name."""
    session.rollback()  # reads of the export (an item refreshed) end here
    db.begin_writing(session)
    custody_log.append_many(
        session, shared.exported_entries(actor, prepared, written, age_recipients=age_recipients)
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
    age_recipients: Sequence[str] = (),
) -> writer.Written:
    """Write the bundle (a zip encrypted to `age_recipients`, if any); its custody entries
    commit before it takes its name, and only if every file was written (a failure leaves
    neither entries nor files)."""
    return writer.write_bundle(
        prepared.plan,
        prepared.sources,
        out,
        as_zip=as_zip,
        age_recipients=age_recipients,
        before_publish=lambda written: record_export(
            session, actor, prepared, written, age_recipients=age_recipients
        ),
    )
