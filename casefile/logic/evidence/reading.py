"""Reading an item back: its bytes decrypted and verified against the recorded SHA-256 as
they stream, every read (download, preview) a custody entry committed before the first byte
leaves, every failed check one too; whether an image may be previewed inline; a PDF's page
rendered to an image, a custody entry for each page served (none for one that failed)."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Generator, Iterator
from typing import Any, BinaryIO, Self

from sqlalchemy.orm import Session

from casefile import db, failures
from casefile.bundle.plan import Hashed
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import Busy, Conflict, DomainError, ValidationFailed
from casefile.logic.evidence.threaded_digest import ThreadedDigest
from casefile.model import CustodyAction, Evidence, EvidenceStatus, User
from casefile.vault import pdf_pages
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring, KeyringError

CHUNK = 1 << 20


class IntegrityFailure(DomainError):
    """Stored evidence failed its check (a missing blob, a damaged seal, a wrong hash)."""


@retry.transaction
def read_content(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    *,
    store: BlobStore,
    keyring: Keyring,
    action: CustodyAction = CustodyAction.DOWNLOADED,
) -> tuple[Evidence, Iterator[bytes]]:
    """The item and its decrypted bytes, verified as they stream. The download is a custody
    entry, committed before the first byte leaves. A failed check raises IntegrityFailure
    mid-stream (the client never sees a clean end) and is recorded as a custody entry."""
    db.begin_writing(session)  # a GET that writes: the write lock from BEGIN (SQLite)
    item = authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)
    if item.status != EvidenceStatus.ACTIVE:
        raise Conflict("this item was deleted; its content no longer exists")
    blob = _open_unless_unavailable(store, item.blob_id)
    try:
        custody_log.append(
            session, actor, action, case_id=item.case_id, item_id=item.id, details={"ern": item.ern}
        )
        session.commit()
    except BaseException:
        if blob is not None:
            blob.close()
        raise
    return item, _verified_chunks(session, actor, item, store, keyring, opened=blob)


# PDF pages rendered at once in this process: each holds the whole PDF (up to 64 MiB, a few
# copies on its way) and a helper process; more requests wait a moment, then are told to
# come back (503 busy), so that many page requests cannot exhaust the server's memory.
RENDERS_AT_ONCE = threading.BoundedSemaphore(2)
RENDER_WAIT_SECONDS = 10.0


def pdf_page(
    session: Session,
    actor: User | None,
    item_id: uuid.UUID,
    number: int,
    *,
    store: BlobStore,
    keyring: Keyring,
) -> tuple[Evidence, pdf_pages.Page]:
    """Page `number` (from 1) of a PDF item as a PNG. The PDF is read back verified into
    memory and rendered in a helper process (`pdf_pages`) with no transaction open; only a
    page that rendered is a custody entry ("viewed", with its page number), committed before
    the image is returned. A page that cannot be rendered raises ValidationFailed and is not
    recorded as viewed (nobody saw it)."""
    item = authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)
    if item.status != EvidenceStatus.ACTIVE:
        raise Conflict("this item was deleted; its content no longer exists")
    if item.mime != "application/pdf":
        raise ValidationFailed({"item": "only PDF documents are shown page by page"})
    if item.size > pdf_pages.MAX_BYTES:
        limit = pdf_pages.MAX_BYTES // (1024 * 1024)
        raise ValidationFailed({"item": f"PDFs over {limit} MiB are not shown; download it"})
    if not RENDERS_AT_ONCE.acquire(timeout=RENDER_WAIT_SECONDS):
        raise Busy("other pages are being rendered; ask again in a moment")
    try:
        content = b"".join(_verified_chunks(session, actor, item, store, keyring))
        session.commit()  # a read, ended: no transaction open while PDFium works
        try:
            page = pdf_pages.render(content, number)
        except pdf_pages.RenderFailed as error:
            raise ValidationFailed({"page": str(error)}) from None
        finally:
            del content
    finally:
        RENDERS_AT_ONCE.release()
    return _record_view(session, actor, item_id, page.number), page


@retry.transaction
def _record_view(session: Session, actor: User | None, item_id: uuid.UUID, page: int) -> Evidence:
    db.begin_writing(session)
    item = authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)  # still
    if item.status != EvidenceStatus.ACTIVE:
        raise Conflict("this item was deleted; its content no longer exists")
    custody_log.append(
        session,
        actor,
        CustodyAction.VIEWED,
        case_id=item.case_id,
        item_id=item.id,
        details={"ern": item.ern, "page": page},
    )
    session.commit()
    return item


def _open_unless_unavailable(store: BlobStore, blob_id: str) -> BinaryIO | None:
    """The blob, opened before anything is logged or sent: an unreachable store raises here
    (HTTP 503, no download entry for bytes that never left, no false integrity alarm). Any
    other failure (a missing blob) is left to `_verified_chunks` to record, as before: None."""
    try:
        return store.open(blob_id)
    except Exception as error:
        if failures.classify(error) is not None:
            raise
        return None


def verified_chunks(
    session: Session, actor: User | None, item: Evidence, store: BlobStore, keyring: Keyring
) -> Iterator[bytes]:
    """The bytes of an item the caller has authorized, decrypted and checked as they stream
    (an export): IntegrityFailure, recorded as a custody entry, instead of a clean end when
    they fail. The caller records what it does with them. Once every chunk is read and
    checked, the returned iterator's `sha256` is their SHA-256 (the one computed for the
    check: an export reuses it for its manifests rather than hashing the bytes again)."""
    return VerifiedChunks(session, actor, item, store, keyring)


class VerifiedChunks(Hashed):
    """An item's bytes as `_verified_chunks` streams them; `sha256` is None until the last
    chunk was read and the whole matched the recorded SHA-256 and size, then their hex
    digest (which is the recorded one)."""

    def __init__(
        self, session: Session, actor: User | None, item: Evidence, store: BlobStore,
        keyring: Keyring,
    ) -> None:
        self._sha256: str | None = None
        # The check's SHA-256 beside the decryption (threaded_digest.py): an export's bytes
        # are read on the thread the whole bundle waits for.
        self._chunks: Generator[bytes] = _verified_chunks(
            session, actor, item, store, keyring, verified=self._verified, threaded=True
        )

    def _verified(self, digest: str) -> None:
        self._sha256 = digest

    @property
    def sha256(self) -> str | None:
        return self._sha256

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()


def _verified_chunks(
    session: Session,
    actor: User | None,
    item: Evidence,
    store: BlobStore,
    keyring: Keyring,
    *,
    opened: BinaryIO | None = None,
    verified: Callable[[str], None] | None = None,
    threaded: bool = False,
) -> Generator[bytes]:
    digest: Any = ThreadedDigest() if threaded else hashlib.sha256()
    size = 0
    try:
        cipher = keyring.unwrap(item.wrapped_key, item.id.bytes)
        with opened or store.open(item.blob_id) as blob:
            plain = cipher.new_decrypting_stream(blob, item.content_owner.bytes)
            while chunk := plain.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if size > item.size:
                    break
                yield chunk
        hexdigest = digest.hexdigest()
        if size != item.size or hexdigest != item.sha256:
            raise IntegrityFailure("content does not match its recorded SHA-256")  # noqa: TRY301
        if verified is not None:
            verified(hexdigest)
    except IntegrityFailure as error:
        _record_failure(session, actor, item, str(error))
        raise
    except Exception as error:
        if failures.classify(error) is not None:
            raise  # the store went away mid-stream: not evidence of tampering
        _record_failure(session, actor, item, f"{type(error).__name__}: {error}")
        raise IntegrityFailure("the stored blob failed authentication") from error
    finally:
        if threaded:
            digest.close()
        if opened is not None:
            opened.close()


@retry.transaction
def _record_failure(session: Session, actor: User | None, item: Evidence, reason: str) -> None:
    session.rollback()
    custody_log.append(
        session,
        actor,
        CustodyAction.INTEGRITY_FAILURE,
        case_id=item.case_id,
        item_id=item.id,
        details={"ern": item.ern, "reason": reason[:500]},
    )
    session.commit()


def ensure_key_unwraps(keyring: Keyring, item: Evidence) -> None:
    try:
        keyring.unwrap(item.wrapped_key, item.id.bytes)
    except KeyringError as error:
        raise IntegrityFailure(str(error)) from error


def image_pixels(extracted: dict[str, Any]) -> tuple[int, int] | None:
    """(width, height) recorded at intake from the image's header, if known."""
    image = extracted.get("image")
    if not isinstance(image, dict):
        return None
    width, height = image.get("width"), image.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return None


def preview_refusal(item: Evidence, max_megapixels: int, extracted: dict[str, Any]) -> str | None:
    """Why an image is not shown inline (decoding it would cost the viewer's browser memory
    in proportion to its pixels: a small PNG can declare 50,000 x 50,000), or None.
    `extracted`: the item's extracted metadata (metadata.reveal: a restricted item's is
    sealed)."""
    if not item.mime.startswith("image/"):
        return None
    size = image_pixels(extracted)
    if size is None:
        return "its dimensions could not be read from its header"
    width, height = size
    if width * height > max_megapixels * 1_000_000:
        return (
            f"it is {width} x {height} pixels ({width * height / 1e6:,.0f} megapixels), over the "
            f"preview limit of {max_megapixels} megapixels"
        )
    return None
