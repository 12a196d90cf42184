"""TOTP secrets at rest: encrypted under the KEK (Tink AEAD), the account id bound as
associated data so a sealed secret cannot be copied onto another account.

Secrets stored before encryption existed (plain base32 in users.totp_secret) are moved over
by `encrypt_plaintext`, which `casefile init`, `casefile keys rotate` and each sign-in of the
account run; an Alembic revision cannot, as it never holds the KEK. Until then such a secret
still works (nothing is refused), and the commands say how many they moved.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefile.model import LoginSession, User
from casefile.vault import envelope
from casefile.vault.envelope import Keyring

BATCH = 200


def _associated(user: User) -> bytes:
    return b"casefile/totp-secret:" + user.id.bytes


def seal(keyring: Keyring, user: User, secret: str) -> None:
    """Store `secret` encrypted on `user` (the caller commits)."""
    user.totp_secret_wrapped = keyring.encrypt(secret.encode(), _associated(user))
    user.totp_secret_legacy = None


def secret_of(keyring: Keyring, user: User) -> str | None:
    """The account's TOTP secret in the clear, for checking a code; None if it has none."""
    if user.totp_secret_wrapped is not None:
        return keyring.decrypt(user.totp_secret_wrapped, _associated(user)).decode()
    return user.totp_secret_legacy


def clear(user: User) -> None:
    user.totp_secret_wrapped = None
    user.totp_secret_legacy = None


def _pending_associated(record: LoginSession) -> bytes:
    return b"casefile/totp-pending:" + record.id.bytes + record.user_id.bytes


def seal_pending(keyring: Keyring, record: LoginSession, secret: str) -> None:
    """Keep a secret being enrolled on the login session, encrypted (the caller commits)."""
    record.totp_pending_wrapped = keyring.encrypt(secret.encode(), _pending_associated(record))


def pending_of(keyring: Keyring, record: LoginSession) -> str | None:
    if record.totp_pending_wrapped is None:
        return None
    return keyring.decrypt(record.totp_pending_wrapped, _pending_associated(record)).decode()


def encrypt_plaintext(session: Session, keyring: Keyring) -> int:
    """Encrypt every secret still stored in plain base32; returns how many. Committed in
    batches, so an interruption loses nothing and a rerun carries on."""
    moved = 0
    while True:
        batch = list(
            session.scalars(select(User).where(User.totp_secret_legacy.is_not(None)).limit(BATCH))
        )
        if not batch:
            return moved
        for user in batch:
            secret = user.totp_secret_legacy
            if secret is not None:
                seal(keyring, user, secret)
        session.commit()
        moved += len(batch)


def rewrap(session: Session, keyring: Keyring) -> int:
    """Re-encrypt every sealed secret not under the KEK's primary key (rotation)."""
    primary = keyring.primary_key_id
    rewrapped = 0
    last_id = None
    while True:
        query = select(User).where(User.totp_secret_wrapped.is_not(None)).order_by(User.id)
        if last_id is not None:
            query = query.where(User.id > last_id)
        batch = list(session.scalars(query.limit(BATCH)))
        if not batch:
            return rewrapped
        for user in batch:
            wrapped = user.totp_secret_wrapped
            if wrapped is not None and envelope.encrypted_by(wrapped) != primary:
                plain = keyring.decrypt(wrapped, _associated(user))
                user.totp_secret_wrapped = keyring.encrypt(plain, _associated(user))
                rewrapped += 1
        session.commit()
        last_id = batch[-1].id
