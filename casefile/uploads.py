"""Multipart file parts go straight into the intake pipeline, never to a temporary file.

Werkzeug spools large file parts to disk by default; evidence must never reach disk in
plaintext, so every file part of every request is handed to an IntakeStream (hashing and
encrypting as it arrives) if the route accepts evidence, and refused otherwise. Streams a
request leaves unfinished (a disconnect, a 413, an error) are aborted at teardown.

Written against Werkzeug 3.1, whose private methods it overrides; setup.cfg pins that minor
version and tests/test_werkzeug_pin.py fails if an upgrade moves what is overridden."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import IO, Any, cast

from flask import Flask, Request, current_app, g, request
from werkzeug.datastructures import FileStorage, Headers, MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_input_stream

from casefile import request_body, request_scope
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import DomainError, ValidationFailed
from casefile.logic.evidence import derivatives, submission
from casefile.logic.evidence.intake import IntakeStream

EVIDENCE_ENDPOINTS = frozenset(  # only these
    {
        "api.upload_evidence",
        "web.evidence.upload",
        # A translation of an item (logic/evidence/derivatives.py): its URL names the item.
        "api.upload_translation",
        "web.derivatives.add_translation",
    }
)
# Routes that take a small file that is not evidence (a framework file an administrator
# loads): held in memory, refused past its limit, never spooled to disk.
SMALL_FILE_ENDPOINTS = {"web.admin_frameworks.load": 2 * 1024 * 1024}


PART_BUFFER = 1024 * 1024  # bytes read from the body at a time (Werkzeug's default: 64 KiB)


def _read_size(max_form_memory_size: int | None) -> int:
    """How much to read at a time. Werkzeug's decoder refuses (413) any read that would take
    its buffer past max_form_memory_size, file data included; the buffer keeps only a
    possible boundary between reads, so reads of a quarter of the limit always fit."""
    if max_form_memory_size is None:
        return PART_BUFFER
    return max(1024, min(PART_BUFFER, max_form_memory_size // 4))


class _Decoder(MultipartDecoder):
    """Werkzeug's multipart decoder, but part headers that are not UTF-8 (a file name from
    an old Windows or camera tool) are kept, not fatal: each undecodable byte becomes U+FFFD,
    visibly. The name is metadata only, never a path."""

    def _parse_headers(self, data: bytes | bytearray) -> Headers:
        try:
            return super()._parse_headers(data)
        except UnicodeDecodeError:
            return super()._parse_headers(bytes(data).decode("utf-8", "replace").encode())


@dataclass
class _Parsed:
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, FileStorage]] = field(default_factory=list)
    part: Field | File | None = None
    buffered: list[bytes] = field(default_factory=list)  # the current field's value so far
    target: IO[bytes] | None = None  # the current file part's stream


class _MultiPartParser(MultiPartParser):
    """Werkzeug's parser loop over its decoder (`_Decoder`), reading 1 MiB at a time, and
    telling the stream factory the fields that came before each file part: intake computes
    the digests `declared_hashes` names while the file streams, so it must come first."""

    def parse(
        self, stream: IO[bytes], boundary: bytes, content_length: int | None
    ) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
        decoder = _Decoder(
            boundary, max_form_memory_size=self.max_form_memory_size, max_parts=self.max_form_parts
        )
        parsed = _Parsed()
        while True:
            data = stream.read(self.buffer_size)
            decoder.receive_data(data or None)
            event = decoder.next_event()
            while not isinstance(event, Epilogue | NeedData):
                if isinstance(event, Field):
                    parsed.part, parsed.buffered, parsed.target = event, [], None
                elif isinstance(event, File):
                    parsed.part = event
                    parsed.target = self._start_file(event, content_length, parsed.fields)
                elif isinstance(event, Data):
                    self._receive(event, parsed)
                event = decoder.next_event()
            if not data or isinstance(event, Epilogue):
                break
        return self.cls(parsed.fields), self.cls(parsed.files)

    def _start_file(
        self, event: File, content_length: int | None, fields: list[tuple[str, str]]
    ) -> IO[bytes]:
        stream: IO[bytes] = self.stream_factory(  # type: ignore[call-arg]
            total_content_length=content_length,
            filename=event.filename,
            content_type=event.headers.get("content-type"),
            content_length=0,
            preceding_fields=tuple(fields),
        )
        return stream

    def _receive(self, event: Data, parsed: _Parsed) -> None:
        part = parsed.part
        if isinstance(part, Field):
            parsed.buffered.append(event.data)
            if self.max_form_memory_size is not None and (
                sum(map(len, parsed.buffered)) > self.max_form_memory_size
            ):
                raise RequestEntityTooLarge
            if not event.more_data:
                value = b"".join(parsed.buffered).decode(
                    self.get_part_charset(part.headers), "replace"
                )
                parsed.fields.append((part.name, value))
        elif isinstance(part, File) and parsed.target is not None:
            parsed.target.write(event.data)
            if not event.more_data:
                parsed.target.seek(0)
                storage = FileStorage(parsed.target, part.filename, part.name, headers=part.headers)
                parsed.files.append((part.name, storage))


class LoudFormDataParser(FormDataParser):
    """Werkzeug's form parser with `_MultiPartParser`, and a malformed body is an error
    rather than an empty form."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["silent"] = False
        super().__init__(*args, **kwargs)

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]
    ) -> tuple[IO[bytes], MultiDict[str, str], MultiDict[str, FileStorage]]:
        del mimetype
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        parser = _MultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
            buffer_size=_read_size(self.max_form_memory_size),
        )
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


class EvidenceRequest(Request):
    form_data_parser_class = LoudFormDataParser

    @cached_property
    def stream(self) -> IO[bytes]:
        """Werkzeug's guarded input stream, read with no database transaction open."""
        if self.shallow:
            raise RuntimeError("reading the body of a shallow request is disabled")
        raw = self.environ.get("wsgi.input")
        if raw is not None and not isinstance(raw, request_body.StallAware):
            self.environ["wsgi.input"] = request_body.StallAware(raw)
        return request_body.wrap(
            get_input_stream(self.environ, max_content_length=self.max_content_length)
        )

    @property
    def max_content_length(self) -> int | None:
        if self.endpoint in EVIDENCE_ENDPOINTS:
            return int(current_app.extensions["casefile.settings"].evidence_max_mb) * 1024 * 1024
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
        preceding_fields: tuple[tuple[str, str], ...] = (),
    ) -> IO[bytes]:
        del total_content_length, content_type, filename, content_length
        if self.endpoint in SMALL_FILE_ENDPOINTS:
            authz.require_admin(request_scope.actor())  # nothing held for anyone else
            return cast(IO[bytes], BoundedBuffer(SMALL_FILE_ENDPOINTS[self.endpoint]))
        if self.endpoint not in EVIDENCE_ENDPOINTS:
            raise BadRequest("this route takes no files")
        # Nothing is stored for someone who may not add evidence to this case, even
        # transiently: the body is read (e.g. for the form's CSRF token) before the view runs.
        values = self.view_args or {}
        if "case_id" in values:
            authz.authorize_case(
                request_scope.db_session(),
                request_scope.actor(),
                values["case_id"],
                CaseAction.ADD_EVIDENCE,
            )
        else:  # a translation: of an item the actor may see, in a case they may add to
            derivatives.authorize(
                request_scope.db_session(),
                request_scope.actor(),
                values.get("evidence_id") or values["item_id"],
            )
        stream = IntakeStream(
            request_scope.blobs(), request_scope.keyring(), also=_declared(preceding_fields)
        )
        g.setdefault("intake_streams", []).append(stream)
        return cast(IO[bytes], stream)


class BoundedBuffer(io.BytesIO):
    """A file part held in memory, refused (413) once it passes `limit` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.limit:
            raise RequestEntityTooLarge
        return super().write(data)


# The web form's fields for declared digests, one per algorithm (the API's is one field).
WEB_DECLARED = {"declared_sha256": "sha256", "declared_sha1": "sha1", "declared_md5": "md5"}


def _declared(fields: tuple[tuple[str, str], ...]) -> list[str]:
    """Algorithms named by a declared_hashes field (or the web form's declared_<algorithm>
    fields) sent before the file part. A malformed one names none here; the view refuses it
    with the rest of the form."""
    names: list[str] = []
    for name, value in fields:
        if name == "declared_hashes":
            try:
                names.extend(submission.parse_declared_hashes(value))
            except ValueError:
                continue
        elif name in WEB_DECLARED and value.strip():
            names.append(WEB_DECLARED[name])
    return names


def abort_unfinished(_error: BaseException | None = None) -> None:
    for stream in g.pop("intake_streams", []):
        if stream.state == "open":
            stream.abort()


def init_app(app: Flask) -> None:
    app.request_class = EvidenceRequest
    app.teardown_request(abort_unfinished)


def read_form() -> tuple[Any, Any]:
    """The request's fields and files; a body that cannot be parsed is a clear 400."""
    try:
        return request.form, request.files
    except ValueError as error:  # includes UnicodeDecodeError in part headers
        raise MalformedBody(
            "the multipart body could not be read (are the file names UTF-8?): "
            f"{type(error).__name__}"
        ) from None


def one_file_form(allowed: frozenset[str] | set[str]) -> tuple[dict[str, object], Any]:
    """The text fields and the file part of a multipart body that carries exactly one file
    part, `file`, and no field outside `allowed` (the API's uploads: an item, a translation)."""
    form, files = read_form()
    parts = files.getlist("file")
    if len(parts) != 1 or len(files) != 1:
        raise ValidationFailed({"file": "send exactly one file part named 'file'"})
    unknown = sorted(set(form) - set(allowed))
    if unknown:
        raise ValidationFailed(dict.fromkeys(unknown, "unknown field"))
    return {name: form.get(name) for name in form}, parts[0]


class MalformedBody(DomainError):
    """A multipart upload body that cannot be read."""


def streams() -> list[Any]:
    return list(g.get("intake_streams", []))
