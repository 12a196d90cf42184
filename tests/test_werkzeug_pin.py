"""casefile/uploads.py overrides private parts of Werkzeug (its multipart decoder's header
parsing, the form parser's multipart step, the request's file stream factory) so that file
parts stream into intake instead of being spooled to a temporary file. setup.cfg pins the
Werkzeug minor version this was written against; these tests fail loudly when an upgrade
moves or reshapes what is overridden, or when a big part no longer streams through the
override, before plaintext evidence could reach disk unnoticed."""

from __future__ import annotations

import configparser
import inspect
import io
from importlib.metadata import version
from pathlib import Path

import pytest
import werkzeug.formparser
import werkzeug.wrappers.request
from packaging.requirements import Requirement
from packaging.version import Version
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Field, File, MultipartDecoder
from werkzeug.utils import cached_property
from werkzeug.wrappers import Request
from werkzeug.wrappers.request import Request as WerkzeugRequest

from casefile import uploads
from casefile.logic.evidence.intake import IntakeStream
from tests.api.test_evidence_api import multipart
from tests.factories import bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes

MIB = 1024 * 1024
SETUP_CFG = Path(__file__).resolve().parent.parent / "setup.cfg"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


def _werkzeug_requirement() -> Requirement:
    config = configparser.ConfigParser()
    config.read(SETUP_CFG, encoding="utf-8")
    lines = config["options"]["install_requires"].split("\n")
    found = [Requirement(line) for line in lines if line.strip().lower().startswith("werkzeug")]
    assert len(found) == 1, "setup.cfg must name Werkzeug once, pinned to a minor version"
    return found[0]


def test_setup_cfg_pins_werkzeug_to_one_minor_version_and_it_is_installed():
    requirement = _werkzeug_requirement()
    installed = Version(version("werkzeug"))
    assert requirement.specifier.contains(installed), (
        f"Werkzeug {installed} is installed, setup.cfg asks for {requirement}: rerun bin/setup"
    )
    # Exactly one minor release is allowed: the next minor is refused.
    next_minor = Version(f"{installed.major}.{installed.minor + 1}")
    assert not requirement.specifier.contains(next_minor)
    assert f"Werkzeug {installed.major}.{installed.minor}" in inspect.getsource(uploads)


def _parameters(function) -> list[tuple[str, inspect._ParameterKind]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
KEYWORD = inspect.Parameter.KEYWORD_ONLY

# What casefile/uploads.py overrides or calls on Werkzeug's private side, with the parameters
# it was written against. A rename or a new parameter here means reading uploads.py again.
OVERRIDDEN = [
    (
        MultipartDecoder,
        "__init__",
        [
            ("self", POSITIONAL),
            ("boundary", POSITIONAL),
            ("max_form_memory_size", POSITIONAL),
            ("max_parts", KEYWORD),
        ],
    ),
    (MultipartDecoder, "_parse_headers", [("self", POSITIONAL), ("data", POSITIONAL)]),
    (
        MultipartDecoder,
        "receive_data",
        [("self", POSITIONAL), ("data", POSITIONAL)],
    ),
    (MultipartDecoder, "next_event", [("self", POSITIONAL)]),
    (
        MultiPartParser,
        "__init__",
        [
            ("self", POSITIONAL),
            ("stream_factory", POSITIONAL),
            ("max_form_memory_size", POSITIONAL),
            ("cls", POSITIONAL),
            ("buffer_size", POSITIONAL),
            ("max_form_parts", POSITIONAL),
        ],
    ),
    (
        MultiPartParser,
        "parse",
        [
            ("self", POSITIONAL),
            ("stream", POSITIONAL),
            ("boundary", POSITIONAL),
            ("content_length", POSITIONAL),
        ],
    ),
    (MultiPartParser, "get_part_charset", [("self", POSITIONAL), ("headers", POSITIONAL)]),
    (
        FormDataParser,
        "_parse_multipart",
        [
            ("self", POSITIONAL),
            ("stream", POSITIONAL),
            ("mimetype", POSITIONAL),
            ("content_length", POSITIONAL),
            ("options", POSITIONAL),
        ],
    ),
    (
        WerkzeugRequest,
        "_get_file_stream",
        [
            ("self", POSITIONAL),
            ("total_content_length", POSITIONAL),
            ("content_type", POSITIONAL),
            ("filename", POSITIONAL),
            ("content_length", POSITIONAL),
        ],
    ),
]


@pytest.mark.parametrize(
    ("parent", "name", "expected"),
    OVERRIDDEN,
    ids=[f"{parent.__name__}.{name}" for parent, name, _ in OVERRIDDEN],
)
def test_what_uploads_overrides_still_exists_on_werkzeug_with_the_same_parameters(
    parent, name, expected
):
    assert name in vars(parent), f"Werkzeug's {parent.__name__} no longer defines {name}"
    assert _parameters(getattr(parent, name)) == expected


def test_werkzeug_still_reaches_the_overrides_by_these_names():
    # The request builds its form parser from form_data_parser_class with its own
    # _get_file_stream as the stream factory; the form parser hands multipart bodies to
    # _parse_multipart; the parser honours `silent`.
    assert "form_data_parser_class" in vars(WerkzeugRequest)
    make_parser = inspect.getsource(WerkzeugRequest.make_form_data_parser)
    assert "self.form_data_parser_class(" in make_parser
    assert "stream_factory=self._get_file_stream" in make_parser
    assert "self._parse_multipart" in inspect.getsource(FormDataParser.parse)
    assert "silent" in inspect.signature(FormDataParser.__init__).parameters
    assert isinstance(vars(WerkzeugRequest)["stream"], cached_property)
    # The decoder's events carry the fields uploads.py reads.
    assert {"name", "headers", "filename"} <= set(File.__dataclass_fields__)
    assert {"name", "headers"} <= set(Field.__dataclass_fields__)
    assert {"data", "more_data"} <= set(Data.__dataclass_fields__)


class _Recorder(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, data, /) -> int:
        self.sizes.append(len(data))
        return super().write(data)


@pytest.fixture
def no_spooling(monkeypatch):
    """Werkzeug's own temporary-file spooling, made to fail the test if it is ever reached."""

    def spooled(*_args, **_kwargs):
        pytest.fail("Werkzeug's default stream factory spooled a multipart part")

    monkeypatch.setattr(werkzeug.formparser, "default_stream_factory", spooled)
    monkeypatch.setattr(werkzeug.wrappers.request, "default_stream_factory", spooled)
    monkeypatch.setattr(werkzeug.formparser, "SpooledTemporaryFile", spooled)


def test_a_big_part_streams_through_the_override_in_bounded_pieces(no_spooling):
    content = bytes(range(256)) * (5 * MIB // 256)
    body, content_type = multipart(
        {"title": "T", "declared_hashes": "sha256:ab"},
        [("file", b"big.bin", content, "application/octet-stream")],
    )
    made: list[tuple[dict, _Recorder]] = []

    def factory(**kwargs):
        target = _Recorder()
        made.append((kwargs, target))
        return target

    parser = uploads.LoudFormDataParser(stream_factory=factory, max_form_memory_size=500_000)
    mimetype, options = parse_options_header(content_type)
    _, form, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)

    assert form.to_dict() == {"title": "T", "declared_hashes": "sha256:ab"}
    assert len(made) == 1
    kwargs, target = made[0]
    # Only the override tells the factory the fields that came before the file part.
    assert kwargs["preceding_fields"] == (("title", "T"), ("declared_hashes", "sha256:ab"))
    assert kwargs["filename"] == "big.bin"
    # Streamed: many writes, each about one read of the body (the decoder holds back a
    # possible boundary between reads), never the whole part at once.
    read = uploads._read_size(500_000)
    assert sum(target.sizes) == len(content)
    assert max(target.sizes) < 2 * read
    assert len(target.sizes) >= len(content) // (2 * read)
    assert files["file"].read() == content


def test_a_file_name_that_is_not_utf8_is_kept_visibly_not_fatal():
    body, content_type = multipart({}, [("file", b"caf\xe9.bin", b"x", "application/octet-stream")])
    parser = uploads.LoudFormDataParser(stream_factory=lambda **_: io.BytesIO())
    mimetype, options = parse_options_header(content_type)
    _, _, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
    assert files["file"].filename == "caf\ufffd.bin"


def test_a_malformed_multipart_body_is_an_error_not_an_empty_form():
    parser = uploads.LoudFormDataParser(stream_factory=lambda **_: io.BytesIO())
    body = b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nno closing boundary'
    with pytest.raises(ValueError, match="cannot parse beyond"):
        parser.parse(io.BytesIO(body), "multipart/form-data", len(body), {"boundary": "b"})


def test_the_app_request_class_is_the_overriding_one(app):
    assert app.request_class is uploads.EvidenceRequest
    assert issubclass(uploads.EvidenceRequest, Request)
    assert uploads.EvidenceRequest.form_data_parser_class is uploads.LoudFormDataParser


def test_an_uploaded_file_streams_into_intake_and_never_into_a_werkzeug_spool(
    client, session, monkeypatch, no_spooling
):
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)
    token = bearer(session, lead)
    case_id = case.id
    session.commit()

    sizes: list[int] = []
    write = IntakeStream.write

    def recording_write(self, data, /):
        sizes.append(len(data))
        return write(self, data)

    monkeypatch.setattr(IntakeStream, "write", recording_write)
    content = b"evidence" * (3 * MIB // 8)
    body, content_type = multipart(
        {"title": "T"}, [("file", b"big.bin", content, "application/octet-stream")]
    )
    response = client.post(
        f"/api/v1/cases/{case_id}/evidence", data=body, content_type=content_type, headers=token
    )
    assert response.status_code == 201, response.get_json()
    assert sum(sizes) == len(content)
    assert max(sizes) <= uploads.PART_BUFFER
    assert len(sizes) >= 3
