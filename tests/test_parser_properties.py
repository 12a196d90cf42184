"""Property tests (hypothesis) for every parser of outside input: whatever arrives, each one
either returns a value or raises its own documented error, never anything else (which would
be a 500, a crash of the CLI or a verifier that says nothing useful). Valid input round-trips.

Bounded: a fixed number of examples each, no example database on disk."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from casefile.api import requests as api_requests
from casefile.api import tus_headers
from casefile.logic import pagination
from casefile.logic.errors import DomainError, ValidationFailed
from casefile.logic.evidence import ingest, tus
from casefile.settings import SettingsError, load_settings
from casefile.verifier import merkle
from casefile.verifier.signed_note import (
    Checkpoint,
    NoteError,
    generate_private_key,
    open_note,
    parse_verifier_key,
    sign_note,
    verifier_key,
)

BOUNDED = settings(
    max_examples=150,
    deadline=None,  # the machine is shared: time is not what is tested
    database=None,
    derandomize=True,  # the same examples on every run: CI does not flicker
    suppress_health_check=[HealthCheck.too_slow],
)
KEY = generate_private_key()
KEY_NAME = "casefile.test/custody"
VERIFIER = verifier_key(KEY_NAME, KEY)

# --- settings (TOML file + CASEFILE_* environment) ----------------------------------------

SECTIONS = ("web", "auth", "i18n", "custody", "vault", "storage")
KNOWN_KEYS = (
    "env", "instance", "storage_url", "database_url", "secret_key", "https", "proxy_hops",
    "session_idle_minutes", "max_request_mb", "password_min_length", "max_failed_logins",
    "lockout_minutes", "api_token_days", "languages", "default_language", "kek_file",
    "evidence_max_mb", "tus_threshold_mb", "origin", "checkpoint_every_entries",
    "checkpoint_every_minutes", "s3_endpoint_url", "s3_region", "object_lock_days", "s3_part_mb",
)  # fmt: skip
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KNOWN_KEYS), inner, max_size=4),
    max_leaves=8,
)


def _toml(value: object) -> str:
    """A TOML inline value (test data only; tomllib reads it back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


config_documents = st.dictionaries(
    st.sampled_from((*KNOWN_KEYS, *SECTIONS)),
    st.one_of(toml_values, st.dictionaries(st.sampled_from(KNOWN_KEYS), toml_values, max_size=5)),
    max_size=6,
)


def _load(config_text: str | bytes, environ: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "casefile.toml"
        path.write_bytes(config_text if isinstance(config_text, bytes) else config_text.encode())
        env = {"CASEFILE_CONFIG": str(path), "CASEFILE_INSTANCE": folder, **environ}
        with contextlib.suppress(SettingsError):  # the one error a bad configuration may raise
            load_settings(env).validate()


@BOUNDED
@given(config_documents)
def test_any_toml_configuration_is_loaded_or_refused_with_a_settings_error(document):
    _load("\n".join(f"{json.dumps(key)} = {_toml(value)}" for key, value in document.items()),
          {})


@BOUNDED
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_configuration_bytes_are_loaded_or_refused_with_a_settings_error(raw):
    _load(raw, {})


@BOUNDED
@given(
    st.dictionaries(
        st.sampled_from(("CASEFILE_ENV", "CASEFILE_DATABASE_URL", "CASEFILE_STORAGE_URL",
                         "CASEFILE_SECRET_KEY", "CASEFILE_KEK", "CASEFILE_KEK_FILE",
                         "CASEFILE_S3_ENDPOINT_URL", "CASEFILE_INSTANCE")),
        st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=40),
        max_size=4,
    )
)
def test_any_environment_is_loaded_or_refused_with_a_settings_error(environ):
    _load("", environ)


# --- ingest sidecars (CSV and JSON) ---------------------------------------------------------

COLUMNS = (*ingest.KEY_COLUMNS, *ingest.FIELDS, *ingest.HASH_COLUMNS, "other")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)


def _sidecar(name: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            sidecar = ingest.load_sidecar(path)
        except ValidationFailed as error:
            problem = error.fields
        else:
            assert all(isinstance(key, str) and key for key in sidecar.entries)
            return
    assert problem.keys() == {"sidecar"}


@BOUNDED
@given(
    st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=5),
    st.lists(st.lists(st.text(max_size=15), max_size=6), max_size=4),
    st.sampled_from(("s.csv", "s.tsv")),
)
def test_any_csv_sidecar_is_read_or_refused_with_a_validation_error(header, rows, name):
    delimiter = "\t" if name.endswith(".tsv") else ","
    lines = [delimiter.join(header), *(delimiter.join(row) for row in rows)]
    _sidecar(name, "\n".join(lines).encode("utf-8", "surrogatepass"))


@BOUNDED
@given(st.binary(max_size=300), st.sampled_from(("s.csv", "s.json", "s.tsv", "s.txt")))
def test_any_sidecar_bytes_are_read_or_refused_with_a_validation_error(content, name):
    _sidecar(name, content)


@BOUNDED
@given(
    st.dictionaries(
        st.text(max_size=20),
        st.dictionaries(st.sampled_from(COLUMNS), json_values, max_size=4) | json_values,
        max_size=4,
    )
    | json_values
)
def test_any_json_sidecar_is_read_or_refused_with_a_validation_error(document):
    _sidecar("s.json", json.dumps(document).encode())


def test_a_valid_sidecar_is_read():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.csv"
        path.write_text("path,title,sha256\nclips/a.mp4,Clip A," + "ab" * 32 + "\n")
        sidecar = ingest.load_sidecar(path)
    assert sidecar.entries["clips/a.mp4"].title == "Clip A"
    assert sidecar.entries["clips/a.mp4"].declared_hashes == {"sha256": "ab" * 32}


# --- tus headers ----------------------------------------------------------------------------

metadata_keys = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=","),
    min_size=1,
    max_size=12,
)


@BOUNDED
@given(st.text(max_size=120) | st.none())
def test_any_upload_metadata_is_parsed_or_refused_as_malformed(header):
    try:
        parsed = tus_headers.parse_metadata(header)
    except (tus_headers.MalformedUpload, ValidationFailed):
        return
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in parsed.items())


@BOUNDED
@given(
    st.dictionaries(
        metadata_keys.filter(lambda key: key not in tus.FILENAME_KEYS),
        st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
                max_size=30),
        max_size=5,
    )
)
def test_upload_metadata_round_trips(fields):
    assert tus_headers.parse_metadata(tus_headers.encode_metadata(fields)) == fields


@BOUNDED
@given(st.text(max_size=80) | st.none())
def test_any_upload_checksum_is_parsed_or_refused_as_malformed(header):
    try:
        checksum = tus_headers.parse_checksum(header)
    except tus_headers.MalformedUpload:
        return
    if header is None:
        assert checksum is None
    else:
        assert checksum is not None
        assert len(checksum.digest) == tus.CHECKSUM_ALGORITHMS[checksum.algorithm]


@BOUNDED
@given(st.binary(max_size=64), st.sampled_from(("sha1", "sha256")))
def test_a_valid_upload_checksum_is_read_back(body, algorithm):
    digest = hashlib.new(algorithm, body).digest()
    header = f"{algorithm.upper()} {base64.b64encode(digest).decode()}"
    assert tus_headers.parse_checksum(header) == tus.Checksum(algorithm, digest)


@BOUNDED
@given(st.text(max_size=30))
def test_upload_length_and_offset_are_plain_digits(value):
    from flask import Flask  # noqa: PLC0415 - a bare app for a request context

    from casefile.api import tus as tus_api  # noqa: PLC0415

    app = Flask(__name__)
    try:
        with app.test_request_context(headers={"Upload-Offset": value}):
            number = tus_api._number("Upload-Offset")
    except tus_headers.MalformedUpload:
        assert not (value.strip().isascii() and value.strip().isdigit()) or len(value.strip()) > 19
        return
    except ValueError:
        return  # Werkzeug refuses header values with newlines before the parser sees them
    assert number == int(value.strip()) and number >= 0


# --- signed notes and checkpoints ------------------------------------------------------------


@BOUNDED
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_text_is_opened_or_refused_with_a_note_error(note):
    with pytest.raises(NoteError):
        open_note(note, VERIFIER)


@BOUNDED
@given(st.text(max_size=200))
def test_any_checkpoint_text_is_parsed_or_refused_with_a_note_error(text):
    try:
        checkpoint = Checkpoint.parse(text)
    except NoteError:
        return
    assert Checkpoint.parse(checkpoint.to_text()) == checkpoint


@BOUNDED
@given(st.text(max_size=120))
def test_any_verifier_key_is_parsed_or_refused_with_a_note_error(text):
    try:
        key = parse_verifier_key(text)
    except NoteError:
        return
    assert parse_verifier_key(str(key)) == key


lines = st.text(
    alphabet=st.characters(min_codepoint=0x20, exclude_categories=("Cs", "Cc")), max_size=40
)


@BOUNDED
@given(
    st.text(alphabet=string.ascii_letters + string.digits + "./-_", min_size=1, max_size=30),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(lines.filter(bool), max_size=3),
)
def test_signed_checkpoints_round_trip_and_any_change_breaks_them(origin, size, root, extra):
    checkpoint = Checkpoint(origin, size, root, tuple(extra))
    note = sign_note(checkpoint.to_text(), KEY_NAME, KEY)
    assert Checkpoint.parse(open_note(note, VERIFIER)) == checkpoint
    tampered = note.replace(str(size), str(size + 1), 1)
    with pytest.raises(NoteError):
        open_note(tampered, VERIFIER)
    with pytest.raises(NoteError):
        open_note(note, verifier_key(KEY_NAME, generate_private_key()))


# --- Merkle proofs ---------------------------------------------------------------------------

hashes = st.binary(min_size=32, max_size=32)
proof_items = st.lists(st.binary(min_size=0, max_size=40) | hashes, max_size=8)


def _tree(size: int) -> merkle.MemoryNodes:
    return merkle.MemoryNodes(merkle.leaf_hash(str(i).encode()) for i in range(size))


@BOUNDED
@given(st.integers(1, 40), st.data())
def test_inclusion_proofs_verify_only_when_they_are_right(size, data):
    tree = _tree(size)
    index = data.draw(st.integers(0, size - 1))
    leaf = merkle.leaf_hash(str(index).encode())
    proof = merkle.inclusion_proof(index, size, tree)
    merkle.verify_inclusion(leaf, index, size, proof, tree.root())
    forged = data.draw(proof_items)
    other_index = data.draw(st.integers(-2, size + 2))
    other_leaf = data.draw(hashes | st.just(leaf))
    if (forged, other_index, other_leaf) == (proof, index, leaf):
        return
    try:
        merkle.verify_inclusion(other_leaf, other_index, size, forged, tree.root())
    except merkle.ProofError:
        return
    # It verified: then it is the honest statement (one proof per leaf and tree).
    assert (other_leaf, other_index, list(forged)) == (leaf, index, proof)


@BOUNDED
@given(st.integers(0, 40), st.integers(0, 40), st.data())
def test_consistency_proofs_verify_only_when_they_are_right(old, new, data):
    assume(old <= new)
    tree = _tree(new)
    old_root = merkle.root_at(old, tree) if old else merkle.EMPTY_ROOT
    proof = merkle.consistency_proof(old, new, tree)
    merkle.verify_consistency(old, new, old_root, tree.root(), proof)
    forged = data.draw(proof_items)
    forged_old_root = data.draw(hashes | st.just(old_root))
    if (list(forged), forged_old_root) == (proof, old_root):
        return
    try:
        merkle.verify_consistency(old, new, forged_old_root, tree.root(), forged)
    except merkle.ProofError:
        return
    # Only the empty tree's consistency ignores the proof's content... which must be empty.
    assert old == 0 and forged == [] and forged_old_root == merkle.EMPTY_ROOT


@BOUNDED
@given(
    st.one_of(st.integers(-5, 2**65), st.text(max_size=3), st.none()),
    st.one_of(st.integers(-5, 2**65), st.none(), st.floats()),
    st.lists(st.binary(max_size=40) | st.text(max_size=3), max_size=4),
    st.binary(max_size=40),
)
def test_malformed_proof_arguments_raise_proof_errors(index, size, proof, root):
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(b"\x00" * 32, index, size, proof, root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(index, size, root, b"\x00" * 32, proof)


# --- pagination cursors -----------------------------------------------------------------------


@BOUNDED
@given(st.text(max_size=120) | st.text(alphabet=string.ascii_letters + "-_=", max_size=120))
def test_any_cursor_is_read_or_refused_with_a_validation_error(cursor):
    try:
        moment, row = pagination._decode(cursor)
    except ValidationFailed as error:
        problem = error.fields
    else:
        assert moment.tzinfo is not None and row.version == row.version
        return
    assert problem == {"cursor": "not a cursor this server issued"}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                  max_size=3),
    max_leaves=6,
)


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@BOUNDED
@given(st.lists(_JSON, min_size=0, max_size=3) | _JSON)
def test_any_json_in_a_cursor_is_read_or_refused_with_a_validation_error(decoded):
    """Well-formed base64 and JSON of any shape (a number where the id goes: uuid.UUID(1)
    was an AttributeError, a 500)."""
    with contextlib.suppress(ValidationFailed):
        pagination._decode(_b64(decoded))


@pytest.mark.parametrize("decoded", [
    ["2020-01-01", 1], ["2020-01-01T00:00:00+00:00", 1],
    [1, "00000000-0000-0000-0000-000000000000"],
    ["2020-01-01T00:00:00+00:00", None], ["2020-01-01T00:00:00+00:00", ["x"]],
    {"2020-01-01T00:00:00+00:00": 1, "00000000-0000-0000-0000-000000000000": 2},
])
def test_cursors_of_the_wrong_types_are_refused(decoded):
    with pytest.raises(ValidationFailed):
        pagination._decode(_b64(decoded))


@BOUNDED
@given(
    st.datetimes(
        timezones=st.builds(dt.timezone, st.timedeltas(dt.timedelta(hours=-23),
                                                       dt.timedelta(hours=23)))
    ),
    st.uuids(),
)
def test_cursors_round_trip(moment, row):
    assert pagination._decode(pagination._encode(moment, row)) == (moment, row)


@BOUNDED
@given(st.text(max_size=25))
def test_any_page_size_is_taken_or_refused_with_a_validation_error(raw):
    from flask import Flask  # noqa: PLC0415 - a bare app for a request context

    app = Flask(__name__)
    with app.test_request_context(query_string={"limit": raw}):
        try:
            value = api_requests.limit()
        except DomainError as error:
            problem = error
        else:
            assert 1 <= value <= pagination.MAX_LIMIT and raw == str(value)
            return
    assert isinstance(problem, ValidationFailed) and problem.fields.keys() == {"limit"}
