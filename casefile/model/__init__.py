"""Persistence only: one module per aggregate. Importing this package registers every table."""

from casefile.model.api_token import ApiToken
from casefile.model.case import Case, CaseMember, Forum, Role
from casefile.model.custody import CustodyAction, CustodyCheckpoint, CustodyEntry, CustodyNode
from casefile.model.security_event import SecurityEvent, SecurityEventType
from casefile.model.user import User

__all__ = [
    "ApiToken",
    "Case",
    "CaseMember",
    "CustodyAction",
    "CustodyCheckpoint",
    "CustodyEntry",
    "CustodyNode",
    "Forum",
    "Role",
    "SecurityEvent",
    "SecurityEventType",
    "User",
]
