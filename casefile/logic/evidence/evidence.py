"""Evidence items: registration after intake, reading back verified, listing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, BinaryIO

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from casefile import db, failures
from casefile.db import utcnow
from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.cases import ern
from casefile.logic.custody import custody
from casefile.logic.errors import Conflict, DomainError, ValidationFailed
from casefile.logic.evidence import metadata
from casefile.logic.evidence.intake import SIDE_ALGORITHMS, Received
from casefile.logic.pagination import Page, paginate
from casefile.logic.text import refuse_nul
from casefile.model import (
    Case,
    CustodyAction,
    Evidence,
    EvidenceGrant,
    EvidenceStatus,
    Sensitivity,
    User,
)
from casefile.vault import bidi, extract, polyglot, sniff
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring, KeyringError

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
HEX_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64}
log = logging.getLogger("casefile")
CHUNK = 1 << 20


class IntegrityFailure(DomainError):
    """Stored evidence failed its check (a missing blob, a damaged seal, a wrong hash)."""


class EvidenceInput(BaseModel):
    """The collector's account of an item, as sent with it (all optional)."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    description: Annotated[str, StringConstraints(max_length=20000)] | None = None
    collected_at: AwareDatetime | None = None
    collected_by: Text | None = None
    location: Text | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    source: Text | None = None
    original_url: Text | None = None
    capture_tool: Text | None = None
    language: Text | None = None
    sensitivity: Sensitivity = Sensitivity.STANDARD
    consent_notes: Text | None = None
    declared_hashes: dict[str, str] = Field(
        default_factory=dict,
        description="Digests from the collector's acquisition log, e.g. md5:9e10…,sha1:…; "
        "checked against the file as it streams in, so in a multipart upload this part must "
        "come before the file part",
    )

    @field_validator("declared_hashes", mode="before")
    @classmethod
    def _parse_hashes(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_declared_hashes(value)
        return value

    @field_validator("declared_hashes")
    @classmethod
    def _check_hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if name not in HEX_LENGTH:
                raise ValueError(f"unsupported algorithm {name!r}; use md5, sha1 or sha256")
            if not re.fullmatch(rf"[0-9a-f]{{{HEX_LENGTH[name]}}}", digest):
                raise ValueError(f"{name} must be {HEX_LENGTH[name]} hex digits")
        return value


def parse_declared_hashes(text: str) -> dict[str, str]:
    """`md5:9e10…,sha1:…` → {"md5": "9e10…", "sha1": "…"}."""
    result: dict[str, str] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, digest = part.partition(":")
        if not sep:
            raise ValueError(f"{part!r} is not algorithm:hex")
        result[name.strip().lower()] = digest.strip().lower()
    return result


def parse_input(fields: dict[str, object]) -> EvidenceInput:
    cleaned = {key: value for key, value in fields.items() if value not in (None, "")}
    try:
        return EvidenceInput.model_validate(cleaned)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error


def clean_filename(name: str | None) -> str | None:
    """Kept as metadata only, never used as a path: NULs and lone surrogates made visible."""
    if not name:
        return None
    text = name.replace("\x00", "\ufffd")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:1000]


MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def clean_mime(declared: str | None) -> str | None:
    """A client's declared type is kept only if it is one (it is compared, never trusted)."""
    value = (declared or "").split(";")[0].strip().lower()
    return value if MIME_TYPE.match(value) else None


@dataclass(frozen=True)
class Registered:
    item: Evidence
    created: bool


def register(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    received: Received,
    data: EvidenceInput,
    *,
    filename: str | None,
    declared_mime: str | None,
    store: BlobStore,
    keyring: Keyring,
) -> Registered:
    """Record a received item. Anything that goes wrong before the commit removes its blob:
    no orphans; after the commit the blob belongs to the item and stays."""
    committed: list[bool] = []
    try:
        _refuse_unchecked_declarations(data, received)
        # Examined before the transaction: parsing a file may take seconds (bounded), and no
        # lock may be held meanwhile (on SQLite, a transaction holds the write lock). Callers
        # have only read so far (authorization); that read ends here.
        if session.in_transaction():
            session.commit()
        name = clean_filename(filename)
        found = examine(received, data, name, declared_mime)
        # Replayed whole if the database aborts it for a lock conflict: the bytes are in
        # the store already, and nothing outside the database changes before the commit.
        return retry.run(
            session,
            lambda: _register(
                session,
                actor,
                case_id,
                received,
                data,
                name=name,
                found=found,
                declared_mime=declared_mime,
                store=store,
                keyring=keyring,
                committed=committed,
            ),
        )
    except BaseException as error:
        if not committed:
            session.rollback()
            # A connection lost during the commit leaves its outcome unknown: the item may
            # be committed. Its blob stays; if no item owns it, `scrub --repair` removes it.
            if failures.classify(error) is not failures.DATABASE_UNAVAILABLE:
                store.delete(received.item_id.hex)
        raise


@dataclass(frozen=True)
class Submission:
    """A received item checked and examined, ready to register (see `prepare`)."""

    received: Received
    data: EvidenceInput
    name: str | None
    declared_mime: str | None
    found: Examined


def prepare(
    received: Received, data: EvidenceInput, *, filename: str | None, declared_mime: str | None
) -> Submission:
    """What `register` does before its transaction (declared digests checked, the bytes
    examined: libmagic, bounded metadata extraction), on any thread and with no session, so a
    bulk intake does it on the threads that write the blobs. The item's bytes kept in memory
    for the examination are let go."""
    _refuse_unchecked_declarations(data, received)
    name = clean_filename(filename)
    found = examine(received, data, name, declared_mime)
    return Submission(dataclasses.replace(received, content=None), data, name, declared_mime, found)


def register_many(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    submissions: Sequence[Submission],
    *,
    store: BlobStore,
    keyring: Keyring,
) -> list[Registered]:
    """Register several prepared items in one transaction: one authorization holding the case
    FOR NO KEY UPDATE, then each item as `register` would (a duplicate of an item registered
    earlier in the batch is found too), each with its own custody entries, and one commit.
    Every blob must be durable already: the commit makes them visible all at once.

    Unlike `register`, a failure leaves the blobs in place and the transaction rolled back:
    nothing of the batch is registered, and the caller decides what becomes of each item
    (bulk intake registers them one at a time, so that one bad item fails alone). After the
    commit, blobs the items did not keep (resubmissions, shared content) are removed."""
    if session.in_transaction():
        session.commit()  # end the caller's read, as register does
    try:
        registered = retry.run(
            session, lambda: _register_many(session, actor, case_id, submissions, keyring)
        )
    except BaseException:
        session.rollback()
        raise
    for _, unused_blob in registered:
        if unused_blob is not None:
            try:
                store.delete(unused_blob)
            except Exception:  # noqa: BLE001 - committed: failing now would misreport the batch
                log.warning("could not remove unused blob %s: scrub reports it", unused_blob)
    return [item for item, _ in registered]


def _register_many(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    submissions: Sequence[Submission],
    keyring: Keyring,
) -> list[tuple[Registered, str | None]]:
    case = authz.authorize_case(session, actor, case_id, CaseAction.ADD_EVIDENCE, for_update=True)
    view = _CaseContent.read(session, case.id, [item.received.sha256 for item in submissions])
    custody.hold_lock(session)  # the lock order: the items' rows are flushed under it
    entries: list[custody.NewEntry] = []
    registered = [
        _add(
            session,
            actor,
            case,
            submission.received,
            submission.data,
            view=view,
            name=submission.name,
            found=submission.found,
            declared_mime=submission.declared_mime,
            keyring=keyring,
            entries=entries,
        )
        for submission in submissions
    ]
    custody.append_many(session, entries)  # in order: as one append per entry would write
    session.commit()
    return registered


def _refuse_unchecked_declarations(data: EvidenceInput, received: Received) -> None:
    not_computed = sorted(set(data.declared_hashes) - set(received.hashes))
    if not_computed:
        raise ValidationFailed(
            {
                "declared_hashes": f"{', '.join(not_computed)} could not be checked: send "
                "declared_hashes before the file part, so that the digests it declares are "
                "computed while the file streams in"
            }
        )


def _register(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    received: Received,
    data: EvidenceInput,
    *,
    name: str | None,
    found: Examined,
    declared_mime: str | None,
    store: BlobStore,
    keyring: Keyring,
    committed: list[bool],
) -> Registered:
    case = authz.authorize_case(session, actor, case_id, CaseAction.ADD_EVIDENCE, for_update=True)
    view = _CaseContent.read(session, case.id, [received.sha256])
    custody.hold_lock(session)  # the lock order: the item's rows are flushed under it
    entries: list[custody.NewEntry] = []
    registered, unused_blob = _add(
        session,
        actor,
        case,
        received,
        data,
        view=view,
        name=name,
        found=found,
        declared_mime=declared_mime,
        keyring=keyring,
        entries=entries,
    )
    custody.append_many(session, entries)
    session.commit()
    committed.append(True)
    if unused_blob is not None:
        store.delete(unused_blob)  # after the commit: a replay may still need it
    return registered


def _add(
    session: Session,
    actor: User | None,
    case: Case,
    received: Received,
    data: EvidenceInput,
    *,
    view: _CaseContent,
    name: str | None,
    found: Examined,
    declared_mime: str | None,
    keyring: Keyring,
    entries: list[custody.NewEntry],
) -> tuple[Registered, str | None]:
    """One item (or a resubmission), in the caller's transaction, which holds the case FOR NO
    KEY UPDATE and the custody lock, appends `entries` (to which this adds the item's custody
    entries, in order) and commits. Also returns the blob that the caller removes once
    committed, if the item does not keep the one it arrived with."""
    visible, hidden = view.same_content(session, actor, received.sha256)
    if visible is not None:
        entries.append(
            custody.NewEntry(
                actor,
                CustodyAction.SUBMITTED_AGAIN,
                case_id=case.id,
                item_id=visible.id,
                details={
                    "sha256": received.sha256,
                    **metadata.resubmission_details(
                        visible, name, restricted=data.sensitivity == Sensitivity.RESTRICTED
                    ),
                },
            )
        )
        return Registered(visible, created=False), received.item_id.hex

    mime, flags, mismatched = found.mime, found.flags, found.mismatched
    seq = view.next_seq()
    now = utcnow()
    item = Evidence(
        id=received.item_id,
        case_id=case.id,
        seq=seq,
        batch=1,
        ern=ern.render(case.ern_pattern, seq=seq, batch=1, year=now.year),
        title=(data.title or name or f"Item {seq}")[:500],
        description=data.description,
        original_filename=name,
        declared_mime=clean_mime(declared_mime),
        mime=mime,
        size=received.size,
        sha256=received.sha256,
        declared_hashes=data.declared_hashes,
        flags=flags,
        sensitivity=data.sensitivity,
        status=EvidenceStatus.ACTIVE,
        collector=_collector(data),
        extracted=found.extracted,
        wrapped_key=received.wrapped_key,
        created_at=now,
        created_by_id=actor.id if actor else None,
    )
    session.add(item)
    view.added(item)
    if hidden is not None:
        _share_content(session, actor, item, hidden, keyring=keyring, entries=entries)
    # After _share_content: a restricted item's metadata is sealed under its final data key.
    described = metadata.on_intake(session, keyring, item, name)
    if data.sensitivity == Sensitivity.RESTRICTED and actor is not None:
        session.add(EvidenceGrant(evidence_id=item.id, user_id=actor.id, granted_by_id=actor.id))
    entries.append(
        custody.NewEntry(
            actor,
            CustodyAction.INTAKE,
            case_id=case.id,
            item_id=item.id,
            details={
                "ern": item.ern,
                "sha256": item.sha256,
                **{
                    name: received.hashes[name]
                    for name in SIDE_ALGORITHMS
                    if name in received.hashes
                },
                "size": item.size,
                "mime": item.mime,
                **described,
                "flags": flags,
                "declared_hashes": data.declared_hashes,
                "declared_hash_mismatch": sorted(mismatched),
                "sensitivity": data.sensitivity.value,
            },
        )
    )
    # A shared blob holds these bytes already: the caller removes the ones it arrived with,
    # only after the commit (an attempt the database aborted is replayed, and may then find
    # the shared blob gone, its item deleted meanwhile, and need these bytes after all).
    unused_blob = received.item_id.hex if item.content_id is not None else None
    return Registered(item, created=True), unused_blob


@dataclass
class _CaseContent:
    """What registering needs to know of a case, read once per transaction (which holds the
    case FOR NO KEY UPDATE, so no one else adds to it meanwhile) and kept up to date as items
    are added: its active items with the SHA-256s being registered, and its last seq."""

    same: dict[str, list[Evidence]]  # SHA-256 → active items with those bytes, by seq
    last_seq: int

    @classmethod
    def read(cls, session: Session, case_id: uuid.UUID, sha256s: Sequence[str]) -> _CaseContent:
        same: dict[str, list[Evidence]] = {}
        for item in session.scalars(
            select(Evidence)
            .where(
                Evidence.case_id == case_id,
                Evidence.sha256.in_(sorted(set(sha256s))),
                Evidence.status == EvidenceStatus.ACTIVE,
            )
            .order_by(Evidence.seq)
        ):
            same.setdefault(item.sha256, []).append(item)
        last = session.scalar(select(func.max(Evidence.seq)).where(Evidence.case_id == case_id))
        return cls(same, last or 0)

    def next_seq(self) -> int:
        return self.last_seq + 1

    def added(self, item: Evidence) -> None:
        self.last_seq = item.seq
        self.same.setdefault(item.sha256, []).append(item)

    def same_content(
        self, session: Session, actor: User | None, sha256: str
    ) -> tuple[Evidence | None, Evidence | None]:
        """Active items of the case with these bytes: the first the actor may see, else the
        first the actor may not see (a restricted item without a grant)."""
        same = self.same.get(sha256, [])
        user = authz.require_active(actor) if actor is not None else None
        for item in same:
            if user is None or authz.may_see_item(session, user, item):
                return item, None
        return None, (same[0] if same else None)


def _share_content(
    session: Session,
    actor: User | None,
    item: Evidence,
    hidden: Evidence,
    *,
    keyring: Keyring,
    entries: list[custody.NewEntry],
) -> None:
    """The submitter may not see the item that holds these bytes already. Telling them so (or
    answering with that item) would reveal it, so the submission becomes an item of its own,
    like any other, that shares the hidden item's blob and data key: one blob per SHA-256 per
    case. The hidden item's custody records the resubmission, for those who may see it."""
    if hidden.wrapped_key is None:
        raise IntegrityFailure(f"item {hidden.ern} is active but has no data key")
    item.content_id = hidden.content_owner
    item.wrapped_key = keyring.rewrap_for(hidden.wrapped_key, hidden.id.bytes, item.id.bytes)
    entries.append(
        custody.NewEntry(
            actor,
            CustodyAction.SUBMITTED_AGAIN,
            case_id=item.case_id,
            item_id=hidden.id,
            details={"sha256": item.sha256, "as_item": str(item.id), "as_ern": item.ern},
        )
    )
    session.flush()


def blob_in_use(session: Session, owner: uuid.UUID) -> bool:
    """Whether an active item reads its bytes from the blob of item `owner`."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Evidence)
            .where(
                or_(Evidence.id == owner, Evidence.content_id == owner),
                Evidence.status == EvidenceStatus.ACTIVE,
            )
        )
        or 0
    ) > 0


def active_blob_ids(session: Session) -> set[str]:
    """The blobs that active items read their bytes from."""
    owners = session.scalars(
        select(func.coalesce(Evidence.content_id, Evidence.id)).where(
            Evidence.status == EvidenceStatus.ACTIVE
        )
    )
    return {owner.hex for owner in owners}


@dataclass(frozen=True)
class Examined:
    mime: str
    flags: list[str]
    mismatched: dict[str, str]  # declared digests that do not match the file
    extracted: dict[str, Any]


def examine(
    received: Received, data: EvidenceInput, name: str | None, declared_mime: str | None
) -> Examined:
    """What the bytes and the collector's account say about an item, and what to flag:
    a type that disagrees with the name or declared type, an empty file, a declared digest
    that does not match, a file that is also another type (polyglot), bidirectional-text
    controls in its title or name, a metadata extraction that failed."""
    mime = sniff.detect(received.head)
    flags = [f"type_mismatch:{which}" for which in sniff.mismatches(mime, name, declared_mime)]
    if flags:
        flags.insert(0, "type_mismatch")
    if received.size == 0:
        flags.append("zero_bytes")
    mismatched = {
        algorithm: digest
        for algorithm, digest in data.declared_hashes.items()
        if received.hashes[algorithm] != digest
    }
    if mismatched:
        flags.append("declared_hash_mismatch")
    also = polyglot.other_types(mime, received.containers)
    if also:
        flags += ["polyglot", *(f"polyglot:{kind}" for kind in also)]
    if bidi.has_controls(data.title) or bidi.has_controls(name):
        flags.append("bidi_controls")
    extracted = extract.extract(received.content, received.head, mime, received.size)
    if "error" in extracted:
        flags.append("extraction_failed")
    return Examined(mime, flags, mismatched, extracted)


def _collector(data: EvidenceInput) -> dict[str, Any]:
    fields = data.model_dump(
        mode="json", exclude={"title", "description", "declared_hashes", "sensitivity"}
    )
    return {key: value for key, value in fields.items() if value is not None}


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


def get_item(session: Session, actor: User | None, item_id: uuid.UUID) -> Evidence:
    return authz.authorize_item(session, actor, item_id, CaseAction.VIEW_EVIDENCE)


@dataclass(frozen=True)
class ItemFilter:
    kind: str | None = None  # a MIME prefix: "image/", "video/", "application/pdf"
    sensitivity: Sensitivity | None = None
    collector: str | None = None  # text within "collected by"; sealed items: whole words
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def apply(
        self, query: Select[Evidence], session: Session, keyring: Keyring | None
    ) -> Select[Evidence]:
        """`keyring`: needed to match sealed (restricted) items by collector; without it
        only items whose metadata is in the clear can match."""
        if self.kind:
            query = query.where(Evidence.mime.startswith(self.kind, autoescape=True))
        if self.sensitivity is not None:
            query = query.where(Evidence.sensitivity == self.sensitivity)
        if self.collector:
            query = query.where(self._collector_condition(session, keyring, self.collector))
        if self.since is not None:
            query = query.where(Evidence.created_at >= self.since)
        if self.until is not None:
            query = query.where(Evidence.created_at < self.until)
        return query

    @staticmethod
    def _collector_condition(
        session: Session, keyring: Keyring | None, text: str
    ) -> ColumnElement[bool]:
        """Text within "collected by" for items in the clear; for sealed (restricted) items,
        the exact name or all its words, through the blind index."""
        collected_by = Evidence.collector["collected_by"].as_string()
        in_clear = and_(
            Evidence.sealed_metadata.is_(None),
            func.lower(collected_by).contains(text.lower(), autoescape=True),
        )
        sealed = (
            None if keyring is None else metadata.matching(session, keyring, "collected_by", text)
        )
        return in_clear if sealed is None else or_(in_clear, Evidence.id.in_(sealed))


SORTS = {
    "received": (Evidence.created_at, Evidence.id),
    "ern": (Evidence.seq,),
    "size": (Evidence.size.desc(), Evidence.seq),
    "title": (func.lower(Evidence.title), Evidence.seq),
}


def list_items(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    *,
    limit: int = 50,
    cursor: str | None = None,
    where: ItemFilter | None = None,
    keyring: Keyring | None = None,
) -> Page[Evidence]:
    visible = authz.visible_evidence(session, actor, case_id)
    query = (where or ItemFilter()).apply(visible, session, keyring)
    return paginate(session, query, Evidence.created_at, Evidence.id, limit=limit, cursor=cursor)


def sorted_items(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    *,
    sort: str = "ern",
    where: ItemFilter | None = None,
    limit: int = 500,
    keyring: Keyring | None = None,
) -> list[Evidence]:
    """For the case's evidence table: filtered, in the chosen order, at most `limit` rows."""
    if sort not in SORTS:
        raise ValidationFailed({"sort": f"one of {', '.join(SORTS)}"})
    visible = authz.visible_evidence(session, actor, case_id)
    query = (where or ItemFilter()).apply(visible, session, keyring)
    return list(session.scalars(query.order_by(*SORTS[sort]).limit(limit)))


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
        custody.append(
            session, actor, action, case_id=item.case_id, item_id=item.id, details={"ern": item.ern}
        )
        session.commit()
    except BaseException:
        if blob is not None:
            blob.close()
        raise
    return item, _verified_chunks(session, actor, item, store, keyring, opened=blob)


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


def _verified_chunks(
    session: Session,
    actor: User | None,
    item: Evidence,
    store: BlobStore,
    keyring: Keyring,
    *,
    opened: BinaryIO | None = None,
) -> Iterator[bytes]:
    digest = hashlib.sha256()
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
        if size != item.size or digest.hexdigest() != item.sha256:
            raise IntegrityFailure("content does not match its recorded SHA-256")  # noqa: TRY301
    except IntegrityFailure as error:
        _record_failure(session, actor, item, str(error))
        raise
    except Exception as error:
        if failures.classify(error) is not None:
            raise  # the store went away mid-stream: not evidence of tampering
        _record_failure(session, actor, item, f"{type(error).__name__}: {error}")
        raise IntegrityFailure("the stored blob failed authentication") from error
    finally:
        if opened is not None:
            opened.close()


@retry.transaction
def _record_failure(session: Session, actor: User | None, item: Evidence, reason: str) -> None:
    session.rollback()
    custody.append(
        session,
        actor,
        CustodyAction.INTEGRITY_FAILURE,
        case_id=item.case_id,
        item_id=item.id,
        details={"ern": item.ern, "reason": reason[:500]},
    )
    session.commit()


def check_key(keyring: Keyring, item: Evidence) -> None:
    try:
        keyring.unwrap(item.wrapped_key, item.id.bytes)
    except KeyringError as error:
        raise IntegrityFailure(str(error)) from error


def find_by_ern(
    session: Session, actor: User | None, case_id: uuid.UUID, ern_text: str
) -> Evidence:
    """An item of the case the actor may see, by its Evidence Registration Number."""
    query = authz.visible_evidence(session, actor, case_id).where(Evidence.ern == ern_text.strip())
    item = session.scalars(query).first()
    if item is None:
        raise ValidationFailed({"receipt": f"no item of this case has the ERN {ern_text!r}"})
    return item
