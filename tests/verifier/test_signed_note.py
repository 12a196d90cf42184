"""C2SP signed notes and checkpoints, anchored to golang.org/x/mod/sumdb/note."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from casefile.verifier import signed_note
from casefile.verifier.signed_note import (
    Checkpoint,
    NoteError,
    VerifierKey,
    generate_private_key,
    is_valid_key_name,
    key_id,
    open_note,
    parse_verifier_key,
    sign_note,
    verifier_key,
)

# Known answers from golang.org/x/mod sumdb/note (package doc and note_test.go).
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
GO_NOTE = GO_TEXT + "\n" + PETER_SIG


def peter_private_key() -> Ed25519PrivateKey:
    # Go's signer key: PRIVATE+KEY+<name>+<hex id>+base64(0x01 || 32-byte seed).
    encoded = PETER_SKEY.split("+", 4)[4]
    raw = base64.b64decode(encoded)
    assert raw[0] == 0x01
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def independent_key_id(name: str, public_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\x0a" + b"\x01" + public_raw).digest()[:4]


# --------------------------------------------------------------------------
# Known answers


def test_go_known_answer_opens():
    assert open_note(GO_NOTE, PETER_VKEY) == GO_TEXT
    assert open_note(GO_NOTE.encode("utf-8"), PETER_VKEY) == GO_TEXT


def test_go_known_answer_signs_byte_for_byte():
    # Ed25519 is deterministic (RFC 8032), so signing must reproduce Go's note exactly.
    assert sign_note(GO_TEXT, "PeterNeumann", peter_private_key()) == GO_NOTE


def test_go_known_answer_keys():
    private = peter_private_key()
    assert verifier_key("PeterNeumann", private.public_key()) == PETER_VKEY
    assert verifier_key("PeterNeumann", private) == PETER_VKEY
    assert key_id("PeterNeumann", private.public_key()).hex() == "c74f20a3"
    parsed = parse_verifier_key(PETER_VKEY)
    assert parsed.name == "PeterNeumann"
    assert parsed.key_id == bytes.fromhex("c74f20a3")
    assert parsed.public_key_bytes == private.public_key().public_bytes_raw()
    assert str(parsed) == PETER_VKEY
    assert parse_verifier_key(ENOCH_VKEY).key_id.hex() == "af0cfe78"


def test_go_doubly_signed_note():
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, PETER_VKEY) == GO_TEXT  # Enoch's signature is ignored
    assert open_note(note, ENOCH_VKEY) == GO_TEXT  # Peter's signature is ignored
    assert open_note(GO_TEXT + "\n" + ENOCH_SIG + PETER_SIG, PETER_VKEY) == GO_TEXT


def test_go_duplicated_signatures_are_accepted():
    note = GO_TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG
    assert open_note(note, PETER_VKEY) == GO_TEXT


def test_go_invalid_signature():
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature by key PeterNeumann\\+c74f20a3"):
        open_note(GO_TEXT + "\n" + bad, PETER_VKEY)


@pytest.mark.parametrize(
    "message",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + PETER_SIG * 101,
    ],
    ids=[
        "no-signatures",
        "blank-line-only",
        "no-final-newline",
        "control-character",
        "name-with-space",
        "unexpected-line",
        "too-many-signatures",
    ],
)
def test_go_malformed_notes(message):
    with pytest.raises(NoteError, match="malformed"):
        open_note(message, PETER_VKEY)


def test_go_invalid_utf8():
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(), PETER_VKEY)
    with pytest.raises(NoteError, match="UTF-8"):
        open_note("\udcff" + GO_TEXT + "\n" + PETER_SIG, PETER_VKEY)


def test_go_verifier_key_manglings_are_rejected():
    # Port of TestNewVerifier: every proper substring and every one-character bump fails.
    for start in range(len(PETER_VKEY) + 1):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    parse_verifier_key(PETER_VKEY[start:end])
    for position, char in enumerate(PETER_VKEY):
        bumped = PETER_VKEY[:position] + chr(ord(char) + 1) + PETER_VKEY[position + 1 :]
        with pytest.raises(NoteError):
            parse_verifier_key(bumped)
    # Wrong key length and unknown algorithm, each with a recomputed key hash.
    with pytest.raises(NoteError):
        parse_verifier_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(NoteError):
        parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


# --------------------------------------------------------------------------
# Keys


def test_key_id_matches_independent_computation():
    private = generate_private_key()
    public_raw = private.public_key().public_bytes_raw()
    for name in ["casefile.example/log", "a", "\u00e9vidence/\u65e5\u672c"]:
        expected = independent_key_id(name, public_raw)
        assert key_id(name, private.public_key()) == expected
        vkey = verifier_key(name, private.public_key())
        assert vkey == f"{name}+{expected.hex()}+" + base64.b64encode(b"\x01" + public_raw).decode()
        assert parse_verifier_key(vkey) == VerifierKey(name, expected, public_raw)


@pytest.mark.parametrize(
    "name",
    ["", "a+b", "a b", "a\tb", "a\nb", "a\u00a0b", "a\u2003b", "a\u3000b", "a\x00b", "\udcff"],
)
def test_invalid_key_names(name):
    assert not is_valid_key_name(name)
    with pytest.raises(NoteError, match="invalid key name"):
        key_id(name, generate_private_key().public_key())
    with pytest.raises(NoteError, match="invalid key name"):
        sign_note("hello\n", name, generate_private_key())


def test_valid_key_names():
    for name in ["PeterNeumann", "example.com/log42", "\u00e9vidence", "a-b_c:d@e"]:
        assert is_valid_key_name(name)


def test_verifier_key_checks_its_key_id():
    parsed = parse_verifier_key(PETER_VKEY)
    with pytest.raises(NoteError, match="does not match"):
        VerifierKey("PeterNeumann", b"\x00\x00\x00\x00", parsed.public_key_bytes)
    with pytest.raises(NoteError, match="does not match"):
        parse_verifier_key(PETER_VKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(NoteError, match="does not match"):
        parse_verifier_key(PETER_VKEY.replace("PeterNeumann", "PeterNeuman"))
    # Upper-case hex is accepted (as Go does); base64 must be exact.
    assert parse_verifier_key(PETER_VKEY.replace("c74f20a3", "C74F20A3")) == parsed
    for bad in [PETER_VKEY + "=", PETER_VKEY + "\n", PETER_VKEY.replace("/", "_")]:
        with pytest.raises(NoteError, match="base64"):
            parse_verifier_key(bad)


def test_non_canonical_base64_signature_is_rejected():
    # 68 bytes encode to 91 characters and "=": the last character carries 2 unused
    # bits. Go's lenient decoder would accept "...JnAN=" as the same signature; a
    # strict decoder keeps the signature line non-malleable.
    assert PETER_SIG.endswith("JnAM=\n")
    malleated = PETER_SIG.replace("JnAM=", "JnAN=")
    old_b64 = PETER_SIG.rsplit(" ", maxsplit=1)[1].strip()
    new_b64 = malleated.rsplit(" ", maxsplit=1)[1].strip()
    assert base64.b64decode(new_b64) == base64.b64decode(old_b64)
    with pytest.raises(NoteError, match="base64"):
        open_note(GO_TEXT + "\n" + malleated, PETER_VKEY)


# --------------------------------------------------------------------------
# Notes


def test_round_trip():
    private = generate_private_key()
    vkey = verifier_key("casefile.example/log", private.public_key())
    text = "line one\n\nline three after a blank line\n"
    note = sign_note(text, "casefile.example/log", private)
    assert note.startswith(text + "\n\u2014 casefile.example/log ")
    assert note.endswith("\n")
    assert open_note(note, vkey) == text
    assert open_note(note, parse_verifier_key(vkey)) == text


def test_signature_covers_exactly_the_text():
    private = generate_private_key()
    note = sign_note("hello\n", "k", private)
    encoded = note.split(" ")[-1].strip()
    raw = base64.b64decode(encoded)
    assert len(raw) == 4 + 64
    assert raw[:4] == independent_key_id("k", private.public_key().public_bytes_raw())
    private.public_key().verify(raw[4:], b"hello\n")  # raises if not


def test_tampered_text():
    private = generate_private_key()
    vkey = verifier_key("k", private.public_key())
    note = sign_note("size 10\n", "k", private)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note.replace("10", "11"), vkey)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note("extra\n" + note, vkey)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), PETER_VKEY)


def test_tampered_signature():
    private = generate_private_key()
    vkey = verifier_key("k", private.public_key())
    note = sign_note("hello\n", "k", private)
    head, encoded = note[:-1].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    for position in (4, 30, 67):
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        bad = head + " " + base64.b64encode(bytes(tampered)).decode() + "\n"
        with pytest.raises(NoteError, match="invalid signature"):
            open_note(bad, vkey)
    truncated = head + " " + base64.b64encode(bytes(raw[:-1])).decode() + "\n"
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(truncated, vkey)
    # A changed key ID makes it somebody else's signature: ignored, so unsigned.
    other_id = bytearray(raw)
    other_id[0] ^= 0x01
    relabelled = head + " " + base64.b64encode(bytes(other_id)).decode() + "\n"
    with pytest.raises(NoteError, match="not signed by key"):
        open_note(relabelled, vkey)


def test_wrong_key():
    note = sign_note("hello\n", "k", generate_private_key())
    other = generate_private_key()
    with pytest.raises(NoteError, match="not signed by key"):
        open_note(note, verifier_key("k", other.public_key()))
    with pytest.raises(NoteError, match="not signed by key"):
        open_note(note, PETER_VKEY)


def test_same_name_and_forged_key_id_does_not_verify():
    # Someone else's key under our name, with its signature relabelled with our key ID.
    ours = generate_private_key()
    theirs = generate_private_key()
    vkey = parse_verifier_key(verifier_key("k", ours.public_key()))
    signature = theirs.sign(b"hello\n")
    forged = "hello\n\n\u2014 k " + base64.b64encode(vkey.key_id + signature).decode() + "\n"
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(forged, vkey)


def test_missing_blank_line():
    note = sign_note("hello\n", "k", generate_private_key())
    with pytest.raises(NoteError, match="blank line"):
        open_note(note.replace("\n\n", "\n"), verifier_key("k", generate_private_key()))


def test_bad_signature_lines():
    private = generate_private_key()
    vkey = verifier_key("k", private.public_key())
    note = sign_note("hello\n", "k", private)
    text, sig_line = note.split("\n\n")
    for bad_line in [
        sig_line.replace("\u2014", "-"),  # ASCII hyphen instead of the em dash
        sig_line.replace("\u2014", "\u2013"),  # en dash
        sig_line.replace("\u2014 ", "\u2014"),  # no space after the dash
        sig_line.replace(" ", "  ", 2),  # two spaces
        sig_line.rstrip("\n").rstrip("=") + "\n",  # padding removed
        sig_line.rstrip("\n") + " extra\n",  # extra field
        "\u2014 k AAAA\n",  # shorter than a key ID
    ]:
        with pytest.raises(NoteError, match=r"malformed|base64"):
            open_note(text + "\n\n" + bad_line, vkey)


def test_sign_note_rejects_bad_text():
    private = generate_private_key()
    for text in ["", "no trailing newline", "tab\tinside\n", "cr\r\n", "\udcff\n"]:
        with pytest.raises(NoteError):
            sign_note(text, "k", private)


def test_open_note_rejects_crlf():
    private = generate_private_key()
    vkey = verifier_key("k", private.public_key())
    note = sign_note("hello\n", "k", private)
    with pytest.raises(NoteError, match="malformed"):
        open_note(note.replace("\n", "\r\n"), vkey)


def test_open_note_takes_a_malformed_verifier_key_as_error():
    with pytest.raises(NoteError):
        open_note(GO_NOTE, "PeterNeumann")


# --------------------------------------------------------------------------
# Checkpoints

ROOT = hashlib.sha256(b"").digest()


def test_checkpoint_text():
    checkpoint = Checkpoint("casefile.example/log", 20852163, ROOT)
    assert checkpoint.to_text() == (
        "casefile.example/log\n20852163\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    )
    assert Checkpoint.parse(checkpoint.to_text()) == checkpoint


def test_checkpoint_round_trip_with_extensions_and_note():
    private = generate_private_key()
    vkey = verifier_key("casefile.example/log", private.public_key())
    checkpoint = Checkpoint("casefile.example/log", 0, ROOT, ("ext one", "\u2014 ext two"))
    assert checkpoint.to_text().endswith("ext one\n\u2014 ext two\n")
    note = sign_note(checkpoint.to_text(), "casefile.example/log", private)
    assert Checkpoint.parse(open_note(note, vkey)) == checkpoint


def test_checkpoint_spec_example_parses():
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = Checkpoint.parse(text)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert len(checkpoint.root) == 32
    assert checkpoint.extensions == ()
    assert checkpoint.to_text() == text


GOOD_ROOT_LINE = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"log\n01\n{GOOD_ROOT_LINE}\n",  # leading zero
        f"log\n00\n{GOOD_ROOT_LINE}\n",
        f"log\n-1\n{GOOD_ROOT_LINE}\n",
        f"log\n+1\n{GOOD_ROOT_LINE}\n",
        f"log\n 1\n{GOOD_ROOT_LINE}\n",
        f"log\n1.0\n{GOOD_ROOT_LINE}\n",
        f"log\n\u0661\n{GOOD_ROOT_LINE}\n",  # Arabic-Indic digit one
        f"log\n18446744073709551616\n{GOOD_ROOT_LINE}\n",  # 2**64
        f"log\n{'9' * 5000}\n{GOOD_ROOT_LINE}\n",
        f"log\n\n{GOOD_ROOT_LINE}\n",
        "log\n1\nnot base64!\n",
        f"log\n1\n{GOOD_ROOT_LINE.rstrip('=')}\n",  # padding removed
        f"log\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",  # 31-byte root
        f"log\n1\n{base64.b64encode(ROOT + b'x').decode()}\n",  # 33-byte root
        f"\n1\n{GOOD_ROOT_LINE}\n",  # empty origin
        f"log\n1\n{GOOD_ROOT_LINE}",  # no final newline
        f"log\n1\n{GOOD_ROOT_LINE}\n\n",  # empty extension line
        f"log\n1\n{GOOD_ROOT_LINE}\next\n\n",
        "log\n1\n",  # no root line
        "",
        f"lo\tg\n1\n{GOOD_ROOT_LINE}\n",  # control character in origin
    ],
)
def test_checkpoint_parse_rejects(text):
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


def test_checkpoint_constructor_rejects():
    with pytest.raises(NoteError):
        Checkpoint("", 1, ROOT)
    with pytest.raises(NoteError):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(NoteError):
        Checkpoint("log", -1, ROOT)
    with pytest.raises(NoteError):
        Checkpoint("log", True, ROOT)  # noqa: FBT003
    with pytest.raises(NoteError):
        Checkpoint("log", 1, ROOT[:31])
    with pytest.raises(NoteError):
        Checkpoint("log", 1, ROOT, ("",))
    with pytest.raises(NoteError):
        Checkpoint("log", 1, ROOT, ("a\nb",))


def test_module_exports_are_defined():
    for name in signed_note.__all__:
        assert hasattr(signed_note, name), name
