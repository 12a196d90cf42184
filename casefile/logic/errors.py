"""Domain exceptions. They are mapped to HTTP in one place per surface (api/errors.py,
web/errors.py) and to a one-line message in the CLI."""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import ValidationError


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """Missing, or not visible to the actor: the two are indistinguishable on purpose."""

    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401


class Conflict(DomainError):
    code = "conflict"
    status = 409


class ValidationFailed(DomainError):
    code = "validation_error"
    status = 422

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

    code = "login_refused"
    status = 401


class TooManyAttempts(DomainError):
    """Authentication failures from this client (or on this account) were throttled; the
    attempt was not looked at. `retry_after` is in seconds."""

    code = "too_many_requests"
    status = 429

    def __init__(self, retry_after: int) -> None:
        minutes = math.ceil(retry_after / 60)
        super().__init__(f"too many failed attempts; try again in {minutes} minute(s)")
        self.retry_after = retry_after
class Busy(DomainError):
    """The database could not do it now (lock conflicts, retried already): the same request
    a moment later may well succeed. HTTP 503 with Retry-After."""

    code = "busy"
    status = 503
    retry_after_seconds = 2

    def __init__(
        self, message: str = "the database is busy; send the request again in a moment"
    ) -> None:
        super().__init__(message)
