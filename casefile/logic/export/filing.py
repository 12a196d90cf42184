"""A filing's court bundle: its exhibits in order, with their numbers by the forum's
convention (logic/filings/exhibits.py), each exhibit's own classification and description,
the filing's title, type, court document number and classification; External-Identifier
names the filing (its id and version, and the court's document number when it has one).

Who may export: whoever may edit the case's filings (CaseAction.EDIT_FILINGS) and sees every
exhibit (authz.authorize_filing: a filing holding a restricted item the actor has no grant
for does not exist for them). A filing with no exhibits, or holding a deleted item, is
refused before any job starts (`exportable`), and checked again when the job runs
(`prepare`), since the filing may change in between."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from casefile.bundle.plan import BundlePlan
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.logic.errors import Conflict, ValidationFailed
from casefile.logic.export import shared
from casefile.logic.export.shared import Prepared
from casefile.logic.filings import exhibits as filing_exhibits
from casefile.model import (
    Case,
    Classification,
    EvidenceStatus,
    Exhibit,
    Filing,
    Sensitivity,
    User,
)
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring


def external_identifier(filing: Filing) -> str:
    """bag-info's External-Identifier: the court's number first, when there is one."""
    own = f"casefile-filing-{filing.id}-v{filing.version}"
    number = (filing.court_document_number or "").strip()
    return f"{number} ({own})" if number else own


def bundle_name(filing: Filing) -> str:
    """The zip's top folder and file name: safe on every file system."""
    return f"filing-{str(filing.id)[:8]}-v{filing.version}"


def exportable(session: Session, actor: User | None, filing_id: uuid.UUID) -> Filing:
    """The filing, if the actor may export it now: may edit the case's filings, sees every
    exhibit (else NotFound), and it has exhibits, none of them deleted."""
    filing = authz.authorize_filing(session, actor, filing_id, CaseAction.EDIT_FILINGS)
    if not filing.exhibits:
        raise ValidationFailed(
            {"exhibits": "this filing has no exhibits: add at least one before exporting"}
        )
    deleted = [exhibit.item.ern for exhibit in filing.exhibits
               if exhibit.item.status != EvidenceStatus.ACTIVE]
    if deleted:
        raise Conflict(
            f"exhibits {', '.join(deleted)} were deleted; their content no longer exists: "
            "remove them from the filing first"
        )
    return filing


def _classification(exhibit: Exhibit) -> str:
    if exhibit.item.sensitivity == Sensitivity.RESTRICTED and (
        exhibit.classification == Classification.PUBLIC
    ):
        return Classification.CONFIDENTIAL.value  # a restricted item is never stamped public
    return exhibit.classification.value


def prepare(
    session: Session,
    actor: User | None,
    filing_id: uuid.UUID,
    *,
    keys: CustodyKeys,
    keyring: Keyring,
    store: BlobStore,
    organization: str | None = None,
) -> Prepared:
    """Authorize, plan the exhibits in order, sign a checkpoint, build each item's custody
    report against it; the bytes are read later, by the writer, verified as they stream."""
    filing = exportable(session, actor, filing_id)
    case = session.get_one(Case, filing.case_id)
    exhibit_plans = []
    numbers: dict[str, uuid.UUID] = {}
    items = []
    for exhibit in filing.exhibits:
        number = filing_exhibits.number(filing, case, exhibit.position)
        numbers[number] = exhibit.evidence_id
        items.append(exhibit.item)
        exhibit_plans.append(
            shared.exhibit_plan(
                keyring,
                exhibit.item,
                number=number,
                classification=_classification(exhibit),
                title=filing_exhibits.description_of(keyring, exhibit),
            )
        )
    kind = filing.type.value.replace("_", " ")
    plan = BundlePlan(
        filing_id=external_identifier(filing),
        filing_title=f"{filing.title} ({kind}, version {filing.version})",
        forum=case.forum.value.upper(),
        classification=filing.classification.value,
        exhibits=tuple(exhibit_plans),
        organization=organization or keys.origin,
        case_title=case.title,
    )
    session.commit()  # the reads end: signing takes the custody lock in its own transaction
    sources = shared.signed_sources(
        session, actor, items, keys=keys, keyring=keyring, store=store
    )
    return Prepared(plan=plan, sources=sources, case_id=case.id, items=numbers)
