"""Response shapes. Request shapes are the logic layer's input models (one schema per action)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from casefile.logic.text import VISIBLE
from casefile.model import (
    Classification,
    DatePrecision,
    EvidenceRelation,
    FilingStatus,
    FilingType,
    Forum,
    IncidentCategory,
    IncidentStatus,
    PerpetratorKind,
    Role,
)


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    is_admin: bool
    totp_enabled: bool
    locale: str | None


class CaseOut(BaseModel):
    id: uuid.UUID
    title: str
    forum: Forum
    court: str | None
    reference: str | None
    ern_pattern: str
    languages: list[str]
    description: str | None
    created_at: dt.datetime
    legal_hold: bool = False
    my_role: Role | None = None


class CasePage(BaseModel):
    items: list[CaseOut]
    next: str | None


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    added_at: dt.datetime


class MemberList(BaseModel):
    items: list[MemberOut]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # At least one character that is not blank; the logic strips and checks it again.
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=VISIBLE)]
    days: Annotated[int, Field(ge=1, le=3650)] | None = None


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class NewTokenOut(TokenOut):
    token: str


class TokenList(BaseModel):
    items: list[TokenOut]


class TokensRevokedOut(BaseModel):
    revoked: int


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current: str = Field(repr=False)
    new: str = Field(repr=False)
    revoke_tokens: bool = False


class PasswordChangedOut(BaseModel):
    tokens_revoked: int


class CheckpointOut(BaseModel):
    size: int
    time: dt.datetime
    origin: str
    root: str
    note: str


class CheckpointList(BaseModel):
    items: list[CheckpointOut]


class ConsistencyProof(BaseModel):
    old: int
    new: int
    hashes: list[str]


class InclusionProof(BaseModel):
    leaf_index: int
    tree_size: int
    hashes: list[str]


class CustodyActor(BaseModel):
    id: uuid.UUID | None
    label: str


class CustodyEntryBase(BaseModel):
    seq: int
    time: str
    actor: CustodyActor
    action: str
    case: uuid.UUID | None
    item: uuid.UUID | None
    details: dict[str, object]
    leaf_hash: str


class TransferRecorded(CustodyEntryBase):
    """A recorded transfer: its first entry, and in `entries` all of them (one per named item,
    or the one case entry when it names none)."""

    entries: list[CustodyEntryBase]


class CustodyEntryOut(CustodyEntryBase):
    inclusion_proof: InclusionProof


class RedactedCustodyEntryOut(BaseModel):
    """An entry about an item the caller may not see: where it is in the log, nothing else."""

    seq: int
    time: str
    leaf_hash: str
    redacted: Literal[True]
    inclusion_proof: InclusionProof


class CustodyReport(BaseModel):
    entries: list[CustodyEntryOut | RedactedCustodyEntryOut]
    checkpoint: str
    verifier_key: str | None


class CustodyReportPage(CustodyReport):
    """A page of a case's or an item's report; each page verifies on its own."""

    next: str | None


class GrantOut(BaseModel):
    evidence_id: uuid.UUID
    user_id: uuid.UUID


class EvidenceOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    ern: str
    title: str
    description: str | None
    sha256: str
    size: int
    mime: str
    declared_mime: str | None
    original_filename: str | None
    status: str
    sensitivity: str
    flags: list[str]
    declared_hashes: dict[str, str]
    collector: dict[str, object]
    extracted: dict[str, object]
    metadata: Literal["plain", "sealed", "destroyed", "damaged"] = Field(
        description="plain: stored in the clear (standard items); sealed: a restricted item's "
        "title, description, file name, collector and extracted fields are stored encrypted "
        "under its data key and were opened for you; destroyed: the item was deleted and "
        "they no longer exist; damaged: the sealed metadata fails authentication (tampering)"
    )
    metadata_version: str = Field(
        description="the version of the collector metadata (title, description, collector): "
        "send it as `version` with an edit (PATCH); it changes with every change"
    )
    created_at: dt.datetime
    tags: list[str] = Field(default_factory=list, description="the item's tags, by name")
    language: str | None = Field(
        default=None,
        description="the item's language as a BCP 47 tag (en, fr, my), when recorded: from "
        "the `language` field at upload or edit when it is a tag, or a translation's language",
    )
    derivation: Literal["translation", "redaction"] | None = Field(
        default=None, description="how this item was made from another item, if it was"
    )
    derived_from: uuid.UUID | None = Field(
        default=None,
        description="the item this one was made from, if you may see it (null otherwise, "
        "and for items not made from another)",
    )


class EvidencePage(BaseModel):
    items: list[EvidenceOut]
    next: str | None
    hidden_count: int = Field(
        description="items of the case hidden from the caller (restricted, no grant): the "
        "whole case's count, on every page"
    )


class MapGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: Annotated[list[float], Field(min_length=2, max_length=2)] = Field(
        description="[longitude, latitude], WGS 84 decimal degrees (RFC 7946 order)"
    )


class MapPointProperties(BaseModel):
    kind: Literal["evidence", "incident"]
    id: uuid.UUID
    title: str
    date: dt.date | None = Field(
        description="an item's date taken (EXIF), else collected, else received; an "
        "incident's start date"
    )
    date_source: Literal["taken", "collected", "received", "incident"]
    position_source: Literal["exif", "collector", "incident"] = Field(
        description="exif: the GPS position embedded in the file; collector: the latitude "
        "and longitude its collector gave; incident: the incident's location"
    )
    ern: str | None = Field(default=None, description="items only")
    sensitivity: Literal["standard", "restricted"] | None = Field(
        default=None, description="items only"
    )
    end_date: dt.date | None = Field(default=None, description="incidents only")
    date_precision: str | None = Field(default=None, description="incidents only")
    categories: list[str] = Field(default_factory=list, description="incidents only")
    place: str | None = Field(default=None, description="incidents only: the place named")


class MapFeature(BaseModel):
    type: Literal["Feature"]
    id: str = Field(description="kind/id, e.g. evidence/0b9e…")
    geometry: MapGeometry
    properties: MapPointProperties


class MapOut(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946) of the case's points the caller may see."""

    type: Literal["FeatureCollection"]
    features: list[MapFeature]
    truncated: bool = Field(
        description="true when more points matched than one answer holds (5000 of each "
        "kind); narrow the filters"
    )


class TagOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    name: str
    description: str | None
    controlled: bool = Field(description="true: the case's controlled vocabulary; false: free")
    retired: bool = Field(description="true: no longer attached; items keep it")
    created_at: dt.datetime


class TagList(BaseModel):
    items: list[TagOut]


class TagRef(BaseModel):
    id: uuid.UUID
    name: str


class ItemTagsOut(BaseModel):
    evidence_id: uuid.UUID
    tags: list[TagRef]


class IncidentTagsOut(BaseModel):
    incident_id: uuid.UUID
    tags: list[TagRef]


class BulkOut(BaseModel):
    action: str
    bulk: uuid.UUID = Field(description="the id every custody entry of this action carries")
    changed: list[uuid.UUID] = Field(description="items changed, one custody entry each")
    unchanged: list[uuid.UUID] = Field(description="items that already were as asked")
    derived: list[uuid.UUID] = Field(
        default_factory=list,
        description="items not named but restricted with them: their translations and "
        "redacted versions (docs/derivatives.md), one custody entry each",
    )
class LocationOut(BaseModel):
    place: str | None
    village_ward: str | None
    township: str | None
    district: str | None
    state_region: str | None
    country: str | None
    lat: float | None
    lon: float | None


class VictimsOut(BaseModel):
    count: int | None = Field(description="an estimate")
    group: str | None


class PerpetratorOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    name: str
    kind: PerpetratorKind
    description: str | None
    affiliation: str | None
    created_at: dt.datetime


class PerpetratorList(BaseModel):
    items: list[PerpetratorOut]


class IncidentLinkOut(BaseModel):
    """A link between an incident and an item the caller may see."""

    id: uuid.UUID
    incident_id: uuid.UUID
    evidence_id: uuid.UUID
    ern: str
    title: str = Field(description="the item's title (a restricted item's, opened for you)")
    relation: EvidenceRelation
    note: str | None
    created_at: dt.datetime
    created_by: uuid.UUID | None


class IncidentOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    title: str
    narrative: str | None
    start_date: dt.date | None
    end_date: dt.date | None
    date_precision: DatePrecision
    location: LocationOut
    categories: list[IncidentCategory]
    status: IncidentStatus
    perpetrators: list[PerpetratorOut]
    victims: VictimsOut
    evidence: list[IncidentLinkOut] = Field(
        description="links to the items you may see (restricted items need a grant); "
        "links to others are not shown, nor counted"
    )
    version: int = Field(description="send it as `version` with a change (PATCH)")
    created_at: dt.datetime
    created_by: uuid.UUID | None
    updated_at: dt.datetime
    updated_by: uuid.UUID | None
    tags: list[str] = Field(default_factory=list, description="the incident's tags, by name")


class IncidentSummaryOut(BaseModel):
    """An incident in a list: as IncidentOut, without its links."""

    id: uuid.UUID
    case_id: uuid.UUID
    title: str
    start_date: dt.date | None
    end_date: dt.date | None
    date_precision: DatePrecision
    location: LocationOut
    categories: list[IncidentCategory]
    status: IncidentStatus
    perpetrators: list[PerpetratorOut]
    victims: VictimsOut
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class IncidentPage(BaseModel):
    items: list[IncidentSummaryOut]
    next: str | None


class PlaceOut(BaseModel):
    level: Literal["state_region", "district", "township"]
    pcode: str = Field(description="the MIMU place code")
    en: str
    my: str
    state_region: str
    district: str | None


class PlaceList(BaseModel):
    items: list[PlaceOut]
    source: dict[str, object]


class SnippetOut(BaseModel):
    text: str = Field(description="plain text (escape it before display); at most ~220 characters")
    highlights: list[tuple[int, int]] = Field(
        description="where the query's words are in `text`: [start, end) offsets in Unicode "
        "code points"
    )


class SearchResultOut(BaseModel):
    kind: Literal["evidence", "incident"]
    id: uuid.UUID
    case_id: uuid.UUID
    title: str
    snippet: SnippetOut


class SearchPage(BaseModel):
    results: list[SearchResultOut]
    next: str | None
class ExhibitOut(BaseModel):
    id: uuid.UUID
    number: str  # by the forum's convention: "Annex 3", "Anx 3", "Exhibit 3"
    position: int  # 0-based place in the filing's list
    evidence_id: uuid.UUID
    ern: str
    title: str
    classification: Classification
    description: str | None


class FilingOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    title: str
    type: FilingType
    classification: Classification
    classification_basis: str | None
    language: str
    court_document_number: str | None
    filing_date: dt.date | None
    status: FilingStatus
    version: int
    supersedes_id: uuid.UUID | None
    superseded_by_id: uuid.UUID | None
    exhibit_prefix: str
    exhibit_start: int
    exhibits_version: int
    created_at: dt.datetime
    exhibits: list[ExhibitOut]


class FilingList(BaseModel):
    items: list[FilingOut]


class FilingWarningOut(BaseModel):
    code: str
    message: str
    exhibits: list[str]  # the numbers of the exhibits concerned
    total_pages: int | None


class FilingWarnings(BaseModel):
    items: list[FilingWarningOut]


class ExportProgress(BaseModel):
    done: int  # exhibits written
    total: int
    stage: str  # queued | signing | exhibits | sealing | done | failed


AGE_KEY = r"^age1[02-9ac-hj-np-z]{58}$"  # an X25519 age recipient, Bech32 (lower case)


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # age public keys (age1 and 58 Bech32 characters; the checksum is checked too): the zip
    # is encrypted to them (downloaded as .zip.age)
    age_recipients: list[Annotated[str, StringConstraints(pattern=AGE_KEY)]] = Field(
        default_factory=list, max_length=20
    )


class ExportOut(BaseModel):
    id: uuid.UUID
    filing_id: uuid.UUID
    status: str  # queued | running | done | failed | purged (destroyed: `error` says why)
    progress: ExportProgress
    error: str | None
    warnings: list[FilingWarningOut]  # the filing's warnings when the export was asked for
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    size: int | None
    sha256: str | None  # of the zip as downloaded
    tagmanifest_sha256: str | None  # the bundle's signed tag manifest
    age_recipients: list[str]  # the age public keys the zip is encrypted to (none: a plain zip)
    download_url: str | None


class ExportList(BaseModel):
    items: list[ExportOut]
