"""Model → JSON, apart from the models; only what the caller may see."""

from __future__ import annotations

from typing import Any

from casefile.api import schemas
from casefile.logic.evidence.editing import metadata_version
from casefile.logic.evidence.metadata import Metadata
from casefile.model import ApiToken, Case, CaseMember, Evidence, Role, Tag, User


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
    item: Evidence, described: Metadata, tags: list[str] | None = None
) -> dict[str, Any]:
    """`described`: the item's metadata as casefile.logic.evidence.metadata.reveal gives it;
    `tags`: its tags' names."""
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
