"""Model → JSON, apart from the models; only what the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from casefile.api import schemas
from casefile.logic.evidence.editing import metadata_version
from casefile.logic.evidence.metadata import Metadata
from casefile.model import (
    ApiToken,
    Case,
    CaseMember,
    Evidence,
    Incident,
    IncidentEvidence,
    Perpetrator,
    Role,
    Tag,
    User,
)


def user(account: User) -> dict[str, Any]:
    return schemas.UserOut(
        id=account.id,
        email=account.email,
        display_name=account.display_name,
        is_admin=account.is_admin,
        totp_enabled=account.totp_enabled,
        locale=account.locale,
    ).model_dump(mode="json")


def case(item: Case, my_role: Role | None = None) -> dict[str, Any]:
    return schemas.CaseOut(
        id=item.id,
        created_at=item.created_at,
        legal_hold=bool(item.legal_hold),
        my_role=my_role,
        **item.as_fields(),
    ).model_dump(mode="json")


def member(item: CaseMember) -> dict[str, Any]:
    return schemas.MemberOut(
        user_id=item.user_id,
        email=item.user.email,
        display_name=item.user.display_name,
        role=item.role,
        added_at=item.added_at,
    ).model_dump(mode="json")


def token(item: ApiToken, plaintext: str | None = None) -> dict[str, Any]:
    fields = {
        "id": item.id,
        "name": item.name,
        "prefix": item.prefix,
        "created_at": item.created_at,
        "expires_at": item.expires_at,
        "revoked_at": item.revoked_at,
        "last_used_at": item.last_used_at,
    }
    if plaintext is None:
        return schemas.TokenOut(**fields).model_dump(mode="json")
    return schemas.NewTokenOut(token=plaintext, **fields).model_dump(mode="json")


def evidence(
    item: Evidence,
    described: Metadata,
    tags: list[str] | None = None,
    derived_from: uuid.UUID | None = None,
) -> dict[str, Any]:
    """`described`: the item's metadata as casefile.logic.evidence.metadata.reveal gives it;
    `tags`: its tags' names; `derived_from`: the item it was made from, only if the reader
    may see that one."""
    return schemas.EvidenceOut(
        id=item.id,
        case_id=item.case_id,
        ern=item.ern,
        title=described.title,
        description=described.description,
        sha256=item.sha256,
        size=item.size,
        mime=item.mime,
        declared_mime=item.declared_mime,
        original_filename=described.original_filename,
        status=item.status.value,
        sensitivity=item.sensitivity.value,
        flags=list(item.flags),
        declared_hashes=dict(item.declared_hashes),
        collector=dict(described.collector),
        extracted=dict(described.extracted),
        metadata=described.state,
        metadata_version=metadata_version(item.id, described),
        created_at=item.created_at,
        tags=list(tags or []),
        language=item.language,
        derivation=item.derivation.value if item.derivation else None,
        derived_from=derived_from,
    ).model_dump(mode="json")


def tag(item: Tag) -> dict[str, Any]:
    return schemas.TagOut(
        id=item.id,
        case_id=item.case_id,
        name=item.name,
        description=item.description,
        controlled=item.controlled,
        retired=item.retired_at is not None,
        created_at=item.created_at,
    ).model_dump(mode="json")


def perpetrator(item: Perpetrator) -> dict[str, Any]:
    return _perpetrator(item).model_dump(mode="json")


def _perpetrator(item: Perpetrator) -> schemas.PerpetratorOut:
    return schemas.PerpetratorOut(
        id=item.id,
        case_id=item.case_id,
        name=item.name,
        kind=item.kind,
        description=item.description,
        affiliation=item.affiliation,
        created_at=item.created_at,
    )


def _incident_fields(item: Incident) -> dict[str, Any]:
    return {
        "id": item.id,
        "case_id": item.case_id,
        "title": item.title,
        "start_date": item.start_date,
        "end_date": item.end_date,
        "date_precision": item.date_precision,
        "location": schemas.LocationOut(
            place=item.place,
            village_ward=item.village_ward,
            township=item.township,
            district=item.district,
            state_region=item.state_region,
            country=item.country,
            lat=item.lat,
            lon=item.lon,
        ),
        "categories": item.categories,
        "status": item.status,
        "perpetrators": [_perpetrator(person) for person in item.perpetrators],
        "victims": schemas.VictimsOut(count=item.victims_count, group=item.victims_group),
        "version": item.version,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def incident_link(link: IncidentEvidence, item: Evidence, described: Metadata) -> dict[str, Any]:
    return _incident_link(link, item, described).model_dump(mode="json")


def _incident_link(
    link: IncidentEvidence, item: Evidence, described: Metadata
) -> schemas.IncidentLinkOut:
    return schemas.IncidentLinkOut(
        id=link.id,
        incident_id=link.incident_id,
        evidence_id=item.id,
        ern=item.ern,
        title=described.title,
        relation=link.relation,
        note=link.note,
        created_at=link.created_at,
        created_by=link.created_by_id,
    )


def incident(
    item: Incident,
    links: Sequence[tuple[IncidentEvidence, Evidence, Metadata]],
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    return schemas.IncidentOut(
        **_incident_fields(item),
        narrative=item.narrative,
        evidence=[_incident_link(*link) for link in links],
        created_by=item.created_by_id,
        updated_by=item.updated_by_id,
        tags=list(tags),
    ).model_dump(mode="json")


def incident_summary(item: Incident) -> dict[str, Any]:
    return schemas.IncidentSummaryOut(**_incident_fields(item)).model_dump(mode="json")
