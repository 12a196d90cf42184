"""Persistence only: one module per aggregate. Importing this package registers every table."""

from casefile.model.api_token import ApiToken
from casefile.model.blind_index import IndexKey, IndexToken
from casefile.model.case import Case, CaseMember, Forum, Role
from casefile.model.custody import CustodyAction, CustodyCheckpoint, CustodyEntry, CustodyNode
from casefile.model.evidence import Derivation, Evidence, EvidenceGrant, EvidenceStatus, Sensitivity
from casefile.model.filing import (
    FORUM_TYPES,
    Classification,
    Exhibit,
    Filing,
    FilingStatus,
    FilingType,
)
from casefile.model.login_session import LoginSession
from casefile.model.recovery_code import RecoveryCode
from casefile.model.security_event import SecurityEvent, SecurityEventType
from casefile.model.tus_upload import TusChunk, TusUpload, TusUploadState
from casefile.model.user import User

__all__ = [
    "FORUM_TYPES",
    "ApiToken",
    "Case",
    "CaseMember",
    "Classification",
    "CustodyAction",
    "CustodyCheckpoint",
    "CustodyEntry",
    "CustodyNode",
    "Derivation",
    "Evidence",
    "EvidenceGrant",
    "EvidenceStatus",
    "Exhibit",
    "Filing",
    "FilingStatus",
    "FilingType",
    "Forum",
    "IndexKey",
    "IndexToken",
    "LoginSession",
    "RecoveryCode",
    "Role",
    "SecurityEvent",
    "SecurityEventType",
    "Sensitivity",
    "TusChunk",
    "TusUpload",
    "TusUploadState",
    "User",
]
