"""Resumable uploads (tus 1.0.0): upload state, encrypted chunk storage, completion.

A PATCH body of any size streams, in bounded memory, into chunk blobs of at most CHUNK_BYTES
each, encrypted with the upload's data key (Tink streaming AEAD; associated data = upload id +
chunk number), so no plaintext byte reaches disk and chunks cannot be reordered, truncated or
moved between uploads. No database transaction is held while a body streams in (SQLite takes
its write lock at BEGIN): the offset is checked before and again, under a row lock, when a
chunk is recorded.

What a PATCH cut off mid-body leaves: a body with a Content-Length and no Upload-Checksum is
kept as it arrives, each whole chunk recorded (blob committed, then its row) as soon as it is
complete, so a client that loses its link resumes from the last whole chunk instead of from
the start of its PATCH (tus lets a server keep what it received); the chunk being written when
the body stopped is dropped. A body with an Upload-Checksum (which covers the body whole) or
without a Content-Length is kept whole or not at all. Either way the offset the server reports
is exactly the bytes of the recorded chunks, each read back and checked at completion.

When the last byte has arrived, the request that brought it decrypts the chunks in order into
the normal intake pipeline (IntakeStream → registration.register_upload: hashes, type, final
encryption, ERN, custody entry) and removes the chunks. Adding evidence is authorized when the
upload is created, on every chunk, and again at completion. An upload exists only for the
account that created it. Abandoned uploads expire; `purge_expired` removes them.

The tus headers themselves (Upload-Metadata, Upload-Checksum) are read and written by the API
(casefile/api/tus_headers.py); here an upload's metadata is a dict of text fields and a
checksum is an algorithm and a digest. Metadata keys that are not the item's (Uppy's
`relativePath`, a client's own) are kept with the upload, answered by HEAD as tus asks, and
otherwise ignored: they do not reach the item.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from tink import TinkError, streaming_aead

from casefile.db import utcnow
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.errors import Conflict, DomainError, NotFound, ValidationFailed
from casefile.logic.evidence import registration, submission
from casefile.logic.evidence.intake import IntakeStream, Received
from casefile.logic.evidence.reading import IntegrityFailure
from casefile.model import Sensitivity, User
from casefile.model.tus_upload import TusChunk, TusUpload, TusUploadState
from casefile.vault import envelope, sealing
from casefile.vault.blobstore import BlobStore, BlobStoreError
from casefile.vault.envelope import Keyring, KeyringError

CHECKSUM_ALGORITHMS = {"sha1": 20, "sha256": 32}  # name → digest size
UPLOAD_TTL = dt.timedelta(days=7)  # since the last chunk: field work is slow and interrupted
COMPLETED_TTL = dt.timedelta(days=1)  # a finished upload still answers HEAD with its item
STALE_COMPLETION = dt.timedelta(minutes=30)  # a completion this old died with its process
READ_SIZE = 1 << 20
CHUNK_BYTES = 8 << 20  # a PATCH body is stored as encrypted chunks of at most this size
FILENAME_KEYS = ("filename", "name")  # tus-js-client and Uppy use these names
FILETYPE_KEYS = ("filetype", "type")
WRAP_PREFIX = b"casefile/tus-upload:"  # keeps upload data keys apart from items' data keys
OTHER_KEYS_MAX = 32  # metadata keys that are not the item's: kept with the upload, no more
OTHER_VALUE_MAX = 1024  # characters in the value of one of them


class UploadTooLarge(DomainError):
    """More bytes than the largest item accepted, or than the upload still needs."""


class OffsetMismatch(Conflict):
    """The chunk does not start at the upload's current offset."""


class ChecksumMismatch(DomainError):
    """The chunk does not match the checksum sent with it; it was not stored."""


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes


def _evidence_input(
    fields: dict[str, str],
) -> tuple[submission.EvidenceInput, str | None, str | None]:
    """The collector's fields, the file name and the declared type, from the metadata. Keys
    that are neither (a client's own, such as Uppy's `relativePath`) are ignored here; they
    must only be few and short."""
    named = FILENAME_KEYS + FILETYPE_KEYS
    known = submission.EvidenceInput.model_fields
    rest = {key: value for key, value in fields.items() if key in known}
    others = [key for key in fields if key not in known and key not in named]
    if len(others) > OTHER_KEYS_MAX:
        raise ValidationFailed(
            {"Upload-Metadata": f"at most {OTHER_KEYS_MAX} keys besides the item's fields"}
        )
    for key in others:
        if len(fields[key]) > OTHER_VALUE_MAX:
            raise ValidationFailed({key: f"may be at most {OTHER_VALUE_MAX} characters"})
    filename = next((fields[key] for key in FILENAME_KEYS if fields.get(key)), None)
    filetype = next((fields[key] for key in FILETYPE_KEYS if fields.get(key)), None)
    return submission.parse_input(dict(rest)), filename, filetype


# --- keys and associated data --------------------------------------------------------------


def _wrap_ad(upload_id: uuid.UUID) -> bytes:
    return WRAP_PREFIX + upload_id.bytes


def _chunk_ad(upload_id: uuid.UUID, seq: int) -> bytes:
    return upload_id.bytes + seq.to_bytes(8, "big")


def rewrap_keys(session: Session, keyring: Keyring) -> int:
    """Rewrap every upload's data key under the KEK's primary key (for `keys rotate`, before
    it retires the old key: in-progress uploads must survive a rotation)."""
    count = 0
    pending = select(TusUpload).where(TusUpload.state != TusUploadState.COMPLETED)
    for upload in session.scalars(pending):
        if envelope.wrapped_by(upload.wrapped_key) != keyring.primary_key_id:
            upload.wrapped_key = keyring.rewrap(upload.wrapped_key, _wrap_ad(upload.id))
            count += 1
    session.commit()
    return count


# --- the upload's life ---------------------------------------------------------------------


def create(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    *,
    length: int,
    metadata: dict[str, str],
    max_size: int,
    store: BlobStore,
    keyring: Keyring,
) -> TusUpload:
    """A new upload of `length` bytes. An empty one is registered at once."""
    case = authz.authorize_case(session, actor, case_id, CaseAction.ADD_EVIDENCE)
    user = authz.require_active(actor)
    if length > max_size:
        raise UploadTooLarge(f"the largest upload accepted is {max_size} bytes")
    data, _, _ = _evidence_input(metadata)  # refuse bad metadata now, not after gigabytes
    now = utcnow()
    upload_id = uuid.uuid4()
    data_key = keyring.new_data_key(_wrap_ad(upload_id))
    restricted = data.sensitivity == Sensitivity.RESTRICTED
    upload = TusUpload(
        id=upload_id,
        case_id=case.id,
        created_by_id=user.id,
        length=length,
        received=0,
        fields={} if restricted else metadata,
        sealed_fields=sealing.seal(data_key.cipher, upload_id, metadata) if restricted else None,
        wrapped_key=data_key.wrapped,
        state=TusUploadState.COMPLETING if length == 0 else TusUploadState.RECEIVING,
        created_at=now,
        updated_at=now,
        expires_at=now + UPLOAD_TTL,
    )
    session.add(upload)
    session.commit()
    if length == 0:
        return _complete(session, user, upload_id, store=store, keyring=keyring)
    return upload


def fields(upload: TusUpload, keyring: Keyring) -> dict[str, str]:
    """The upload's Upload-Metadata fields (a restricted upload's are sealed)."""
    return _fields(upload.id, upload.fields, upload.sealed_fields, upload.wrapped_key, keyring)


def _fields(
    upload_id: uuid.UUID,
    plain: dict[str, str],
    sealed: bytes | None,
    wrapped: bytes,
    keyring: Keyring,
) -> dict[str, str]:
    if sealed is None:
        return dict(plain)
    cipher = _cipher(keyring, wrapped, upload_id)
    try:
        opened = sealing.unseal(cipher, upload_id, sealed)
    except KeyringError as error:
        raise IntegrityFailure(f"the upload's sealed metadata cannot be read: {error}") from None
    return {str(key): str(value) for key, value in opened.items()}


def get(session: Session, actor: User | None, upload_id: uuid.UUID) -> TusUpload:
    """The upload, if the actor created it and it has not expired; NotFound otherwise."""
    user = authz.require_active(actor)
    upload = session.get(TusUpload, upload_id, populate_existing=True)
    if upload is None or upload.created_by_id != user.id or upload.expires_at <= utcnow():
        session.commit()
        raise NotFound("upload not found")
    session.commit()  # end the read: the caller may stream a body next
    return upload


def receive(
    session: Session,
    actor: User | None,
    upload_id: uuid.UUID,
    *,
    offset: int,
    body: Readable,
    content_length: int | None,
    checksum: Checksum | None,
    store: BlobStore,
    keyring: Keyring,
) -> TusUpload:
    """Append the body at `offset` (which must be the upload's current offset). Completes the
    upload when its last byte arrives, or when a previous completion failed or died."""
    upload = get(session, actor, upload_id)
    user = authz.require_active(actor)
    if offset != upload.received:
        raise OffsetMismatch(f"the upload's offset is {upload.received}, not {offset}")
    if upload.received == upload.length:  # every byte is in: register it, or say it was
        if content_length or (content_length is None and body.read(1)):
            raise UploadTooLarge("the upload has all its bytes; it takes no more")
        if upload.state == TusUploadState.COMPLETED:
            return upload
        return _complete(session, user, upload_id, store=store, keyring=keyring, retry=True)
    authz.authorize_case(session, user, upload.case_id, CaseAction.ADD_EVIDENCE)
    room = upload.length - upload.received
    if content_length is not None and content_length > room:
        raise UploadTooLarge(f"the body is longer than the {room} bytes the upload still needs")
    seq = session.scalar(select(func.count()).where(TusChunk.upload_id == upload_id)) or 0
    wrapped = upload.wrapped_key
    session.commit()  # no transaction (and no SQLite write lock) while the body streams in

    # Each whole chunk is recorded at once when nothing can still void the body: its length is
    # known to fit and no checksum covers it whole. Otherwise all are recorded at the end.
    appended = _append(
        session,
        upload_id,
        body,
        _cipher(keyring, wrapped, upload_id),
        store,
        start=offset,
        seq=seq,
        room=room,
        checksum=checksum,
        as_it_arrives=content_length is not None and checksum is None,
    )
    if appended is None:  # an empty body
        return get(session, user, upload_id)
    if appended.state == TusUploadState.COMPLETING:
        return _complete(session, user, upload_id, store=store, keyring=keyring)
    return appended


def _append(
    session: Session,
    upload_id: uuid.UUID,
    body: Readable,
    cipher: streaming_aead.StreamingAead,
    store: BlobStore,
    *,
    start: int,
    seq: int,
    room: int,
    checksum: Checksum | None,
    as_it_arrives: bool,
) -> TusUpload | None:
    """Store the body as chunks from `start` and record them, each as it is whole or all at
    the end (`as_it_arrives`); the upload as recorded, or None for an empty body. On an error
    the chunks not yet recorded are removed."""
    digest = hashlib.new(checksum.algorithm) if checksum else None
    pending: list[tuple[int, str, int]] = []  # stored, not yet recorded: (seq, blob id, size)
    upload = None
    chunks = _store_chunks(body, cipher, upload_id, seq, store, room=room, digest=digest)
    try:
        for chunk in chunks:
            pending.append(chunk)
            if as_it_arrives:
                upload = _record(session, upload_id, start=start, chunks=pending)
                start, pending = start + chunk[2], []
        _ensure_checksum_matches(digest.digest() if digest else None, checksum)
        if pending:
            upload = _record(session, upload_id, start=start, chunks=pending)
    except BaseException:
        chunks.close()
        session.rollback()
        for _, blob_id, _ in pending:
            store.delete(blob_id)
        raise
    return upload


@retry.transaction
def terminate(session: Session, actor: User | None, upload_id: uuid.UUID, store: BlobStore) -> None:
    """tus termination: the upload and its chunks are gone (an item it became stays)."""
    get(session, actor, upload_id)
    upload = _lock(session, upload_id)
    if upload is None:
        session.commit()
        raise NotFound("upload not found")
    if upload.state == TusUploadState.COMPLETING and not _stale(upload):
        session.commit()
        raise Conflict("the upload is being registered as an item; try again shortly")
    _remove(session, [upload], store)


def purge_expired(session: Session, store: BlobStore, *, now: dt.datetime | None = None) -> int:
    """Remove uploads past their expiry, with their chunks (for `casefile scrub --repair`).
    A completion still running is left alone. Returns how many were removed."""
    now = now or utcnow()
    expired = list(
        session.scalars(
            select(TusUpload)
            .where(TusUpload.expires_at <= now)
            .order_by(TusUpload.expires_at)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE: see _lock
        )
    )
    expired = [
        upload
        for upload in expired
        if upload.state != TusUploadState.COMPLETING or _stale(upload, now)
    ]
    _remove(session, expired, store)
    return len(expired)


def chunk_blob_ids(session: Session) -> set[str]:
    """Blobs that belong to uploads in progress (so `casefile scrub` does not call them
    orphans)."""
    ids = set(session.scalars(select(TusChunk.blob_id)))
    session.commit()
    return ids


# --- inside ---------------------------------------------------------------------------------


def _lock(session: Session, upload_id: uuid.UUID) -> TusUpload | None:
    """The upload's row, locked until the transaction ends: FOR NO KEY UPDATE, the weakest
    lock that keeps two requests for one upload apart (chunk rows' foreign-key checks, FOR
    KEY SHARE, go through). Taken before any case row or the custody lock, in a transaction
    of its own (docs/custody.md, "Lock order")."""
    return session.get(
        TusUpload, upload_id, with_for_update=authz.NO_KEY_UPDATE, populate_existing=True
    )


def _stale(upload: TusUpload, now: dt.datetime | None = None) -> bool:
    return upload.updated_at <= (now or utcnow()) - STALE_COMPLETION


def _cipher(keyring: Keyring, wrapped: bytes, upload_id: uuid.UUID) -> streaming_aead.StreamingAead:
    try:
        return keyring.unwrap(wrapped, _wrap_ad(upload_id))
    except KeyringError as error:
        raise IntegrityFailure(f"cannot unwrap the upload's data key: {error}") from error


def _store_chunks(
    body: Readable,
    cipher: streaming_aead.StreamingAead,
    upload_id: uuid.UUID,
    seq: int,
    store: BlobStore,
    *,
    room: int,
    digest: Digest | None,
) -> Generator[tuple[int, str, int], None, None]:
    """Stream the body into new encrypted chunk blobs of at most CHUNK_BYTES, numbered from
    `seq`: yields (seq, blob id, size) for each once it is whole and committed (fsynced) in
    the store; an empty body yields nothing. More than `room` bytes, or a body that stops
    arriving: the chunk being written is dropped and the error raised."""
    total = 0
    while block := body.read(min(READ_SIZE, CHUNK_BYTES, room + 1 - total)):
        blob_id = uuid.uuid4().hex
        blob = store.writer(blob_id)
        encrypt = cipher.new_encrypting_stream(blob, _chunk_ad(upload_id, seq))
        size = 0
        try:
            while block:
                size += len(block)
                total += len(block)
                _ensure_within_room(total, room)
                if digest is not None:
                    digest.update(block)
                encrypt.write(block)
                if size >= CHUNK_BYTES:
                    break
                block = body.read(min(READ_SIZE, CHUNK_BYTES - size, room + 1 - total))
            encrypt.close()  # the final segment; closes (fsyncs) the blob
            blob.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                encrypt.close()
            blob.abort()
            raise
        yield seq, blob_id, size
        seq += 1


def _ensure_within_room(size: int, room: int) -> None:
    if size > room:
        raise UploadTooLarge(f"the body is longer than the {room} bytes the upload still needs")


def _ensure_chunk_size(seq: int, got: int, size: int) -> None:
    if got != size:
        raise IntegrityFailure(f"chunk {seq} holds {got} bytes, not {size}")


def _ensure_checksum_matches(actual: bytes | None, checksum: Checksum | None) -> None:
    if (
        actual is not None
        and checksum is not None
        and not hmac.compare_digest(actual, checksum.digest)
    ):
        raise ChecksumMismatch(f"the body does not match its {checksum.algorithm} checksum")


@retry.transaction
def _record(
    session: Session, upload_id: uuid.UUID, *, start: int, chunks: list[tuple[int, str, int]]
) -> TusUpload:
    """Add the stored chunks (seq, blob id, size), in order from `start`, if nobody else moved
    the offset meanwhile."""
    upload = _lock(session, upload_id)
    if upload is None:
        raise NotFound("upload not found")  # terminated or purged while the body arrived
    if upload.state != TusUploadState.RECEIVING or upload.received != start:
        raise OffsetMismatch(f"the upload's offset is {upload.received}, not {start}")
    now = utcnow()
    for seq, blob_id, size in chunks:
        session.add(TusChunk(upload_id=upload_id, seq=seq, blob_id=blob_id, start=start, size=size))
        start += size
    upload.received = start
    upload.updated_at = now
    upload.expires_at = now + UPLOAD_TTL
    if upload.received == upload.length:
        upload.state = TusUploadState.COMPLETING  # this request registers the item
    session.commit()
    return upload


def _complete(
    session: Session,
    actor: User,
    upload_id: uuid.UUID,
    *,
    store: BlobStore,
    keyring: Keyring,
    retry: bool = False,
) -> TusUpload:
    """Decrypt the chunks in order through the intake pipeline and register the item.
    Each of its transactions is retried on its own (register's too): never the whole."""
    plain, sealed, case_id, wrapped = _claim(session, upload_id, again=retry)
    try:
        stored = _fields(upload_id, plain, sealed, wrapped, keyring)
        data, filename, filetype = _evidence_input(stored)
        authz.authorize_case(session, actor, case_id, CaseAction.ADD_EVIDENCE)
        chunks = [
            (seq, blob_id, size)
            for seq, blob_id, size in session.execute(
                select(TusChunk.seq, TusChunk.blob_id, TusChunk.size)
                .where(TusChunk.upload_id == upload_id)
                .order_by(TusChunk.seq)
            )
        ]
        session.commit()
        received = _assemble(
            chunks,
            _cipher(keyring, wrapped, upload_id),
            upload_id,
            IntakeStream(store, keyring, also=data.declared_hashes),
            store,
        )
        try:
            result = registration.register_upload(
                session,
                actor,
                case_id,
                received,
                data,
                filename=filename,
                declared_mime=filetype,
                store=store,
                keyring=keyring,
            )
        except BaseException:
            store.delete(received.item_id.hex)  # register_upload does too; never leave an orphan
            raise
    except BaseException:
        session.rollback()
        _release(session, upload_id)
        raise
    upload, blob_ids = _completed(session, upload_id, result)
    for blob_id in blob_ids:
        store.delete(blob_id)
    return upload


@retry.transaction
def _claim(
    session: Session, upload_id: uuid.UUID, *, again: bool
) -> tuple[dict[str, str], bytes | None, uuid.UUID, bytes]:
    """The upload's metadata (plain, or sealed for a restricted upload), case and wrapped
    key, with the upload marked COMPLETING if a client asks `again` after a completion that
    failed or died."""
    upload = _lock(session, upload_id)
    if upload is None:
        raise NotFound("upload not found")
    if again:
        if upload.state == TusUploadState.COMPLETING and not _stale(upload):
            session.commit()
            raise Conflict("the upload is being registered as an item; ask again shortly")
        upload.state = TusUploadState.COMPLETING
        upload.updated_at = utcnow()
    fields, sealed = dict(upload.fields), upload.sealed_fields
    case_id, wrapped = upload.case_id, upload.wrapped_key
    session.commit()
    return fields, sealed, case_id, wrapped


@retry.transaction
def _completed(
    session: Session, upload_id: uuid.UUID, result: registration.RegisteredUpload
) -> tuple[TusUpload, list[str]]:
    """Mark the upload COMPLETED with its item; its chunks' rows go, and their blob ids are
    returned for deletion after the commit."""
    upload = _lock(session, upload_id)
    if upload is None:  # cannot happen while COMPLETING: termination and purge leave it be
        raise NotFound("upload not found")
    now = utcnow()
    blob_ids = _drop_chunks(session, [upload_id])
    upload.state = TusUploadState.COMPLETED
    upload.sealed_fields = None  # the item holds them now, sealed under its own key
    upload.evidence_id = result.item.id
    upload.duplicate = result.duplicate
    upload.completed_at = upload.updated_at = now
    upload.expires_at = now + COMPLETED_TTL
    session.commit()
    return upload, blob_ids


def _assemble(
    chunks: list[tuple[int, str, int]],
    cipher: streaming_aead.StreamingAead,
    upload_id: uuid.UUID,
    intake: IntakeStream,
    store: BlobStore,
) -> Received:
    try:
        for seq, blob_id, size in chunks:
            with store.open(blob_id) as blob:
                plain = cipher.new_decrypting_stream(blob, _chunk_ad(upload_id, seq))
                got = 0
                while block := plain.read(READ_SIZE):
                    got += len(block)
                    intake.write(block)
            _ensure_chunk_size(seq, got, size)
        return intake.finish()
    except (TinkError, BlobStoreError) as error:
        intake.abort()
        raise IntegrityFailure(f"a chunk of the upload cannot be read back: {error}") from error
    except BaseException:
        intake.abort()
        raise


@retry.transaction
def _release(session: Session, upload_id: uuid.UUID) -> None:
    """After a failed completion: let the client (or a later request) try again."""
    upload = _lock(session, upload_id)
    if upload is not None and upload.state == TusUploadState.COMPLETING:
        upload.state = TusUploadState.RECEIVING
        upload.updated_at = utcnow()
    session.commit()


def _remove(session: Session, uploads: list[TusUpload], store: BlobStore) -> None:
    """Rows first, then blobs: a crash in between leaves orphans for scrub, never a row
    pointing at a missing chunk."""
    ids = [upload.id for upload in uploads]
    blob_ids = _drop_chunks(session, ids)
    session.execute(delete(TusUpload).where(TusUpload.id.in_(ids)))
    session.commit()
    for blob_id in blob_ids:
        store.delete(blob_id)


def _drop_chunks(session: Session, upload_ids: list[uuid.UUID]) -> list[str]:
    """Delete the uploads' chunk rows (in the caller's transaction); their blob ids."""
    blob_ids = list(
        session.scalars(select(TusChunk.blob_id).where(TusChunk.upload_id.in_(upload_ids)))
    )
    session.execute(delete(TusChunk).where(TusChunk.upload_id.in_(upload_ids)))
    return blob_ids
