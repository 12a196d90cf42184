"""Multipart file parts go straight into the intake pipeline, never to a temporary file.

Werkzeug spools large file parts to disk by default; evidence must never reach disk in
plaintext, so every file part of every request is handed to an IntakeStream (hashing and
encrypting as it arrives) if the route accepts evidence, and refused otherwise. Streams a
request leaves unfinished (a disconnect, a 413, an error) are aborted at teardown."""

from __future__ import annotations

from typing import IO, Any, cast

from flask import Flask, Request, current_app, g, request
from werkzeug.exceptions import BadRequest
from werkzeug.formparser import FormDataParser

from casefile import request_scope
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import DomainError
from casefile.logic.intake import IntakeStream

EVIDENCE_ENDPOINTS = frozenset({"api.upload_evidence", "web.evidence.upload"})  # only these


class LoudFormDataParser(FormDataParser):
    """Werkzeug's parser, but a malformed body is an error rather than an empty form."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["silent"] = False
        super().__init__(*args, **kwargs)


class EvidenceRequest(Request):
    form_data_parser_class = LoudFormDataParser

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
    ) -> IO[bytes]:
        del total_content_length, content_type, filename, content_length
        if self.endpoint not in EVIDENCE_ENDPOINTS:
            raise BadRequest("this route takes no files")
        # Nothing is stored for someone who may not add evidence to this case, even
        # transiently: the body is read (e.g. for the form's CSRF token) before the view runs.
        authz.authorize_case(
            request_scope.db_session(),
            request_scope.actor(),
            (self.view_args or {})["case_id"],
            CaseAction.ADD_EVIDENCE,
        )
        stream = IntakeStream(request_scope.blobs(), request_scope.keyring())
        g.setdefault("intake_streams", []).append(stream)
        return cast(IO[bytes], stream)


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


class MalformedBody(DomainError):
    code = "bad_request"
    status = 400


def streams() -> list[Any]:
    return list(g.get("intake_streams", []))
