"""Domain exceptions. They say what went wrong, in a message for people, and carry no HTTP
status or wire code: casefile/errors.py maps each class to its HTTP answer in one table (for
the API, the web pages and tus alike), and the CLI shows the message on one line."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from pydantic import ValidationError


class DomainError(Exception):
    """A request the domain refuses or cannot carry out; `message` says why, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """Missing, or not visible to the actor: the two are indistinguishable on purpose."""


class Forbidden(DomainError):
    """The actor may see the thing but not do this to it (their role lacks the action)."""


class Unauthenticated(DomainError):
    """No signed-in, active account."""


class Conflict(DomainError):
    """The request does not fit the current state (already a member, the last lead, an item
    already deleted)."""


class ValidationFailed(DomainError):
    """Input refused, field by field: `fields` maps each field's name to its problem."""

    def __init__(self, fields: Mapping[str, str], message: str | None = None) -> None:
        self.fields = dict(fields)
        summary = "; ".join(f"{name}: {problem}" for name, problem in self.fields.items())
        super().__init__(message or f"invalid input ({summary})")

    @classmethod
    def from_pydantic(cls, error: ValidationError) -> ValidationFailed:
        fields: dict[str, str] = {}
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"]) or "body"
            message = problem["msg"].removeprefix("Value error, ")
            if problem["type"] == "extra_forbidden":
                message = "unknown field"
            fields.setdefault(name, message)
        return cls(fields)


class LoginRefused(DomainError):
    """Wrong credentials or a disabled account; the message never says which."""


class CodeAlreadyUsed(LoginRefused):
    """A two-factor code that is right but was already accepted (at enrolment or a previous
    sign-in) in its 30-second step: refused, as a code works once, with the reason given (only
    someone past the password step can get this far)."""


class TooManyAttempts(DomainError):
    """Authentication failures from this client (or on this account) were throttled; the
    attempt was not looked at. `retry_after` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        minutes = math.ceil(retry_after / 60)
        super().__init__(f"too many failed attempts; try again in {minutes} minute(s)")
        self.retry_after = retry_after


class AccountLocked(TooManyAttempts):
    """Sign-in is throttled, and the password given was the right one: its owner is told
    until when (`until`, UTC). Raised only after the correct password of an enabled account,
    so it says nothing to anyone who does not know the password."""

    def __init__(self, retry_after: int, until: dt.datetime) -> None:
        super().__init__(retry_after)
        self.until = until
        self.message = (
            f"this account is locked until {until:%H:%M} UTC after too many failed attempts"
        )
        self.args = (self.message,)


class Busy(DomainError):
    """The database could not do it now (lock conflicts, retried already): the same request
    a moment later may well succeed."""

    def __init__(
        self, message: str = "the database is busy; send the request again in a moment"
    ) -> None:
        super().__init__(message)
