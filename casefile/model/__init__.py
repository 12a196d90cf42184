"""Persistence only: one module per aggregate. Importing this package registers every table."""

from casefile.model.api_token import ApiToken
from casefile.model.blind_index import IndexKey, IndexToken
from casefile.model.case import Case, CaseMember, Forum, Role
from casefile.model.custody import CustodyAction, CustodyCheckpoint, CustodyEntry, CustodyNode
from casefile.model.evidence import (
    Derivation,
    Evidence,
    EvidenceGrant,
    EvidenceStatus,
    Sensitivity,
)
from casefile.model.export import Export, ExportStatus
from casefile.model.filing import (
    FORUM_TYPES,
    Classification,
    Exhibit,
    Filing,
    FilingStatus,
    FilingType,
)
from casefile.model.framework import Charge, LoadedFramework, ProofLink, Strength
from casefile.model.incident import (
    DatePrecision,
    EvidenceRelation,
    Incident,
    IncidentCategory,
    IncidentCategoryRow,
    IncidentEvidence,
    IncidentStatus,
    Perpetrator,
    PerpetratorKind,
    incident_perpetrators,
)
from casefile.model.login_session import LoginSession
from casefile.model.recovery_code import RecoveryCode
from casefile.model.search import SearchBlindTerm, SearchBody, SearchDocument
from casefile.model.security_event import SecurityEvent, SecurityEventType
from casefile.model.tag import EvidenceTag, IncidentTag, Tag
from casefile.model.tus_upload import TusChunk, TusUpload, TusUploadState
from casefile.model.user import User

__all__ = [
    "FORUM_TYPES",
    "ApiToken",
    "Case",
    "CaseMember",
    "Charge",
    "Classification",
    "CustodyAction",
    "CustodyCheckpoint",
    "CustodyEntry",
    "CustodyNode",
    "DatePrecision",
    "Derivation",
    "Evidence",
    "EvidenceGrant",
    "EvidenceRelation",
    "EvidenceStatus",
    "EvidenceTag",
    "Exhibit",
    "Export",
    "ExportStatus",
    "Filing",
    "FilingStatus",
    "FilingType",
    "Forum",
    "Incident",
    "IncidentCategory",
    "IncidentCategoryRow",
    "IncidentEvidence",
    "IncidentStatus",
    "IncidentTag",
    "IndexKey",
    "IndexToken",
    "LoadedFramework",
    "LoginSession",
    "Perpetrator",
    "PerpetratorKind",
    "ProofLink",
    "RecoveryCode",
    "Role",
    "SearchBlindTerm",
    "SearchBody",
    "SearchDocument",
    "SecurityEvent",
    "SecurityEventType",
    "Sensitivity",
    "Strength",
    "Tag",
    "TusChunk",
    "TusUpload",
    "TusUploadState",
    "User",
    "incident_perpetrators",
]
