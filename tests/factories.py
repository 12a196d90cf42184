"""Builders for settings and records used across the tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session

from casefile.logic.accounts import accounts, tokens
from casefile.logic.accounts.throttle import Throttle, ThrottlePolicy
from casefile.logic.cases import cases, members
from casefile.logic.cases.cases import CaseInput
from casefile.logic.cases.members import MemberInput
from casefile.model import Case, Forum, Role, User
from casefile.settings import DEVELOPMENT_SECRET_KEY, Settings
from casefile.vault import signing_key
from casefile.vault.envelope import Keyring

PASSWORD = "correct horse battery staple"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o700, exist_ok=True)
    storage = tmp_path / "storage"
    storage.mkdir(mode=0o700, exist_ok=True)
    signing_key.create(instance / signing_key.FILE_NAME)
    Keyring.create_file(instance / "kek.json")
    base = Settings(
        env="development",
        instance_path=instance,
        storage_url=storage.as_uri(),
        secret_key=DEVELOPMENT_SECRET_KEY,
        testing=True,
    )
    return dataclasses.replace(base, **overrides)


class MemoryLimiter:
    """What logic.throttle.Throttle needs from Flask-Limiter: a `limits` strategy, here on
    memory storage of its own."""

    def __init__(self) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())


def make_throttle(
    account: str = "5/minute;20/hour;100/day", client: str = "10/minute;50/hour;200/day"
) -> Throttle:
    return Throttle(MemoryLimiter(), ThrottlePolicy.parse(account, client))


def make_user(
    session: Session, email: str, *, admin: bool = False, password: str = PASSWORD
) -> User:
    data = accounts.parse_account_input(email=email, password=password, is_admin=admin)
    return accounts.create_account(session, None, data, min_password_length=12)


def make_case(session: Session, lead: User, title: str = "Myanmar clearance operations") -> Case:
    data = CaseInput(
        title=title,
        forum=Forum.ICC,
        reference="ICC-01/19",
        ern_pattern="MMR-OTP-{batch:04d}-{seq:04d}",
        languages=["en", "my"],
    )
    return cases.create_case(session, lead, data)


def add_member(session: Session, case: Case, lead: User, user: User, role: Role) -> None:
    members.add_member(session, lead, case.id, MemberInput(email=user.email, role=role))


def make_case_with_viewer(session: Session) -> Case:
    """A case led by lead@example.org, with viewer@example.org as a viewer."""
    lead = make_user(session, "lead@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, viewer, Role.VIEWER)
    return case


def bearer(session: Session, user: User) -> dict[str, str]:
    _, plaintext = tokens.create_token(session, user, name="test", days=1)
    return {"Authorization": f"Bearer {plaintext}"}
