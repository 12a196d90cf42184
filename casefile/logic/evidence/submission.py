"""What a submitter sends with an item, and what its bytes say: the collector's account
(`EvidenceInput`, parsed and checked), the file's name and declared type kept as metadata, and
the examination of the bytes (type, flags, bounded metadata extraction) that registering
records. `prepare` does all of it before any transaction, with no session."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from casefile.logic.errors import ValidationFailed
from casefile.logic.evidence.intake import Received
from casefile.logic.search import documents
from casefile.logic.text import refuse_nul
from casefile.model import Sensitivity
from casefile.vault import bidi, extract, polyglot, sniff

TITLE_MAX, TEXT_MAX, DESCRIPTION_MAX = 500, 2000, 20000  # characters; the web form shows them
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TEXT_MAX)]
HEX_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64}


def _one_character_line_breaks(value: object) -> object:
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


class EvidenceInput(BaseModel):
    """The collector's account of an item, as sent with it (all optional)."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    title: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=TITLE_MAX)] | None
    ) = None
    # A browser sends a textarea's line breaks as CRLF: a line break counts as one character,
    # as it does in the form's counter.
    description: (
        Annotated[
            str,
            BeforeValidator(_one_character_line_breaks),
            StringConstraints(max_length=DESCRIPTION_MAX),
        ]
        | None
    ) = None
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
    def _refuse_malformed_hashes(cls, value: dict[str, str]) -> dict[str, str]:
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
class Examined:
    mime: str
    flags: list[str]
    mismatched: dict[str, str]  # declared digests that do not match the file
    extracted: dict[str, Any]
    text: str | None  # the file's text (PDF, text file), for search; capped
    # The item's text for the search index, segmented (and Zawgyi judged) here, before the
    # registering transaction (documents.intake_text).
    index: documents.IntakeText


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
    text = extracted.pop("text", None)
    text = text if isinstance(text, str) and text.strip() else None
    # Its text for the search index, and whether any of it is Zawgyi: the title, description,
    # file name, the collector's account and the file's text (the ERN, given at registration,
    # is ASCII or the case's own pattern: it is judged then).
    index = documents.intake_text(
        title=(data.title or name or "")[:TITLE_MAX] or None,
        description=data.description,
        filename=name,
        collector=collector_fields(data),
        text=text,
        restricted=data.sensitivity == Sensitivity.RESTRICTED,
    )
    if index.zawgyi:
        flags.append("zawgyi")
    return Examined(mime, flags, mismatched, extracted, text, index)


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
    """What registering does before its transaction (declared digests checked, the bytes
    examined: libmagic, bounded metadata extraction), on any thread and with no session, so a
    bulk intake does it on the threads that write the blobs. The item's bytes kept in memory
    for the examination are let go."""
    _refuse_unchecked_declarations(data, received)
    name = clean_filename(filename)
    found = examine(received, data, name, declared_mime)
    return Submission(dataclasses.replace(received, content=None), data, name, declared_mime, found)


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


def collector_fields(data: EvidenceInput) -> dict[str, Any]:
    """The collector's account as the item keeps it (its `collector` column): every field
    given, except those the item has columns of its own for. The time of collection is kept
    in UTC (`collected_at`) and as entered, with its offset (`collected_at_entered`)."""
    fields = data.model_dump(
        mode="json", exclude={"title", "description", "declared_hashes", "sensitivity"}
    )
    if data.collected_at is not None:
        fields["collected_at_entered"] = fields["collected_at"]
        fields["collected_at"] = data.collected_at.astimezone(dt.UTC).isoformat()
    return {key: value for key, value in fields.items() if value is not None}
