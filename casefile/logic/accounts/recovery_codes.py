"""Two-factor recovery codes: ten one-time codes, shown once when two-factor sign-in is
turned on (or the codes are made again), each usable once in place of an authenticator code.

A code is 80 random bits (16 base32 characters, shown in groups of four). Only a SHA-256 of
it, keyed with the account id, is stored: with 80 bits of entropy a fast hash cannot be
reversed by guessing (as for API tokens, logic/accounts/tokens.py), and a sign-in looks a
code up by its hash in one query instead of trying ten slow password hashes. Guessing online
is limited by the sign-in throttle like any wrong code.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from casefile.db import utcnow
from casefile.model import RecoveryCode, User

COUNT = 10
_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_LENGTH = 16


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def looks_like_code(code: str) -> bool:
    """A recovery code rather than an authenticator's six digits."""
    plain = _normalise(code)
    return len(plain) == _LENGTH and set(plain) <= _BASE32


def _digest(user: User, code: str) -> str:
    keyed = b"casefile/recovery-code:" + user.id.bytes + b":" + _normalise(code).encode()
    return hashlib.sha256(keyed).hexdigest()


def _new_code() -> str:
    plain = base64.b32encode(secrets.token_bytes(10)).decode()  # 80 bits, 16 characters
    return "-".join(plain[i : i + 4] for i in range(0, _LENGTH, 4)).lower()


def replace_all(session: Session, user: User) -> list[str]:
    """Ten new codes for `user`; every earlier code stops working. The caller logs and
    commits; the plaintexts returned are never available again."""
    clear(session, user)
    now = utcnow()
    codes = [_new_code() for _ in range(COUNT)]
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_digest(user, code), created_at=now)
        for code in codes
    )
    session.flush()
    return codes


def clear(session: Session, user: User) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def spend(session: Session, user: User, code: str) -> int | None:
    """Use `code` once: the number of unused codes left after it, or None if it is not an
    unused code of `user`. The caller logs and commits."""
    record = session.scalar(
        select(RecoveryCode)
        .where(
            RecoveryCode.code_hash == _digest(user, code),
            RecoveryCode.user_id == user.id,
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if record is None:
        return None
    record.used_at = utcnow()
    session.flush()
    return remaining(session, user)


def remaining(session: Session, user: User) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )
