"""KEK rotation: a new key-encryption key, every data key rewrapped under it, the old one
retired. Blobs are never rewritten. TOTP secrets (logic/accounts/totp_at_rest.py) are re-encrypted
under the new key too, and any still in plain base32 are encrypted. Resumable: rerun after
an interruption and it carries on with the same new key, skipping data keys already
rewrapped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefile.logic.accounts import totp_at_rest
from casefile.logic.custody import log as custody_log
from casefile.logic.evidence import metadata, tus
from casefile.model import CustodyAction, Evidence, Export
from casefile.vault import envelope
from casefile.vault.envelope import Keyring

BATCH = 200
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Rotation:
    new_key_id: int
    retired_key_ids: list[int]
    rewrapped: int
    already_current: int
    totp_secrets_rewrapped: int = 0
    totp_secrets_encrypted: int = 0  # left in plain base32 from before encryption


def _wrapped_items(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Evidence).where(Evidence.wrapped_key.is_not(None))
        )
        or 0
    )


def rotate(session: Session, kek_path: Path, progress: Progress | None = None) -> Rotation:
    current = Keyring.load(kek_path)
    if current is None:
        raise FileNotFoundError(f"no key-encryption key at {kek_path}")
    if len(envelope.key_ids(current)) == 1:  # no rotation under way: start one
        current = envelope.with_new_primary(current)
        envelope.write_file(current, kek_path)
    primary = current.primary_key_id
    rewrapped, already = _rewrap_pass(session, current, progress)
    # Items registered meanwhile by a server that still held the old KEK: pass again until a
    # pass finds none, so retiring the old key strands no item.
    while (extra := _rewrap_pass(session, current, None))[0]:
        rewrapped += extra[0]
    rewrapped += tus.rewrap_keys(session, current)  # uploads still in progress
    # Stored exports (their bundles' data keys), again until a pass finds none: an export
    # that finished meanwhile under the old KEK is not stranded when it is retired.
    while extra_exports := _rewrap_exports(session, current):
        rewrapped += extra_exports
    metadata.rewrap_index_key(session, current)  # the blind index's key, not a data key
    session.commit()
    totp_encrypted = totp_at_rest.encrypt_plaintext(session, current)
    totp_rewrapped = 0
    while extra_totp := totp_at_rest.rewrap(session, current):  # again: enrolments meanwhile
        totp_rewrapped += extra_totp
    retired = [key_id for key_id in envelope.key_ids(current) if key_id != primary]

    custody_log.append(
        session,
        None,
        CustodyAction.KEY_ROTATED,
        details={
            "new_key_id": primary,
            "retired_key_ids": retired,
            "data_keys_rewrapped": rewrapped,
            "data_keys_already_current": already,
            "totp_secrets_rewrapped": totp_rewrapped,
            "totp_secrets_encrypted": totp_encrypted,
        },
    )
    session.commit()
    envelope.write_file(envelope.only_primary(current), kek_path)
    return Rotation(primary, retired, rewrapped, already, totp_rewrapped, totp_encrypted)


def _rewrap_exports(session: Session, current: Keyring) -> int:
    """The data keys of stored exports not yet under the primary key, rewrapped (their
    rows locked and read as they are: an export purged meanwhile keeps its NULL)."""
    primary, rewrapped = current.primary_key_id, 0
    query = (
        select(Export)
        .where(Export.wrapped_key.is_not(None))
        .order_by(Export.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for export in session.scalars(query):
        wrapped = export.wrapped_key
        if wrapped is not None and envelope.wrapped_by(wrapped) != primary:
            export.wrapped_key = current.rewrap(wrapped, export.id.bytes)
            rewrapped += 1
    session.commit()
    return rewrapped


def _rewrap_pass(session: Session, current: Keyring, progress: Progress | None) -> tuple[int, int]:
    primary = current.primary_key_id
    total, done, rewrapped, already = _wrapped_items(session), 0, 0, 0
    last_id = None
    while True:
        query = select(Evidence).where(Evidence.wrapped_key.is_not(None)).order_by(Evidence.id)
        if last_id is not None:
            query = query.where(Evidence.id > last_id)
        # Locked while rewrapped (FOR NO KEY UPDATE, the lock order's item rows), and read
        # as they are once locked: an item a deletion shreds meanwhile is then skipped, never
        # given back a key. A plain read would rewrap the key it saw over the deletion's NULL.
        locked = query.limit(BATCH).with_for_update(key_share=True)
        batch = list(session.scalars(locked.execution_options(populate_existing=True)))
        if not batch:
            break
        for item in batch:
            wrapped = item.wrapped_key
            if wrapped is not None and envelope.wrapped_by(wrapped) != primary:
                item.wrapped_key = current.rewrap(wrapped, item.id.bytes)
                rewrapped += 1
            else:
                already += 1
        session.commit()  # each batch is durable: an interruption loses nothing
        done += len(batch)
        last_id = batch[-1].id
        if progress is not None:
            progress(done, total)
    return rewrapped, already
