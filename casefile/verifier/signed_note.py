"""C2SP signed notes with Ed25519, and C2SP tlog checkpoints.

Specifications: https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint,
wire-compatible with Go's golang.org/x/mod/sumdb/note. Depends only on the
standard library and ``cryptography``, so that it can ship in offline court
bundles.

A signed note is::

    <text, one or more lines, each ending in "\\n">
    <blank line>
    \u2014 <key name> <base64(4-byte key ID || 64-byte Ed25519 signature)>
    ... more signature lines ...

The signature covers the text including its final newline, not the blank
line. The key ID is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``, and a
verifier key is written ``<name>+<key ID in hex>+<base64(0x01 || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteError",
    "VerifierKey",
    "generate_private_key",
    "is_valid_key_name",
    "key_id",
    "open_note",
    "parse_verifier_key",
    "sign_note",
    "verifier_key",
]

ED25519_TYPE = 0x01
MAX_SIGNATURES = 100  # as Go's note.Open; the spec asks that at least 16 be accepted
_PUBLIC_KEY_SIZE = 32
_SIGNATURE_SIZE = 64
_KEY_ID_SIZE = 4
_ROOT_SIZE = 32
_MAX_TREE_SIZE = 2**64 - 1
_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A signed note, verifier key or checkpoint is malformed or does not verify."""


# --------------------------------------------------------------------------
# Text rules


def _has_bad_characters(text: str) -> bool:
    """True if text is not valid Unicode or has an ASCII control character but newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return True
    return any(ch < " " and ch != "\n" for ch in text)


def is_valid_key_name(name: str) -> bool:
    """Key names are non-empty UTF-8 with no Unicode space, no '+' and no control character."""
    return (
        isinstance(name, str)
        and name != ""
        and not _has_bad_characters(name)
        and "+" not in name
        and not any(ch.isspace() for ch in name)
    )


def _ensure_valid_key_name(name: str) -> None:
    if not is_valid_key_name(name):
        msg = f"invalid key name {name!r}: it must be non-empty, without spaces or '+'"
        raise NoteError(msg)


def _b64decode_strict(text: str, what: str) -> bytes:
    """Decode standard, padded base64, refusing any non-canonical spelling."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raw = None
    if raw is None or base64.b64encode(raw).decode("ascii") != text:
        msg = f"{what} is not valid base64"
        raise NoteError(msg)
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------
# Keys


def _raw_public_key(public_key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    if isinstance(public_key, Ed25519PrivateKey):
        public_key = public_key.public_key()
    return public_key.public_bytes_raw()


def _key_id_raw(name: str, raw_public_key: bytes) -> bytes:
    data = name.encode("utf-8") + b"\n" + bytes([ED25519_TYPE]) + raw_public_key
    return hashlib.sha256(data).digest()[:_KEY_ID_SIZE]


def key_id(name: str, public_key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]."""
    _ensure_valid_key_name(name)
    return _key_id_raw(name, _raw_public_key(public_key))


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key, as written ``<name>+<hex key ID>+<base64(0x01 || key)>``."""

    name: str
    key_id: bytes
    public_key_bytes: bytes

    def __post_init__(self) -> None:
        _ensure_valid_key_name(self.name)
        if len(self.public_key_bytes) != _PUBLIC_KEY_SIZE:
            msg = f"an Ed25519 public key is {_PUBLIC_KEY_SIZE} bytes"
            raise NoteError(msg)
        if self.key_id != _key_id_raw(self.name, self.public_key_bytes):
            msg = f"key ID {self.key_id.hex()} does not match key {self.name!r}"
            raise NoteError(msg)

    @classmethod
    def from_public_key(
        cls,
        name: str,
        public_key: Ed25519PublicKey | Ed25519PrivateKey,
    ) -> VerifierKey:
        """Name a public key (a private key is accepted and its public half used)."""
        _ensure_valid_key_name(name)
        raw = _raw_public_key(public_key)
        return cls(name, _key_id_raw(name, raw), raw)

    def public_key(self) -> Ed25519PublicKey:
        """The key as a ``cryptography`` object."""
        return Ed25519PublicKey.from_public_bytes(self.public_key_bytes)

    def __str__(self) -> str:
        encoded = _b64encode(bytes([ED25519_TYPE]) + self.public_key_bytes)
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


def verifier_key(name: str, public_key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The verifier key string ``<name>+<hex key ID>+<base64(0x01 || public key)>``."""
    return str(VerifierKey.from_public_key(name, public_key))


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse a verifier key string, checking that its key ID matches its name and key."""
    # Split at the first two '+' only: the base64 part may contain '+'.
    name, _, rest = text.partition("+")
    hex_id, _, encoded = rest.partition("+")
    if not is_valid_key_name(name) or not _KEY_ID_HEX.fullmatch(hex_id):
        msg = "malformed verifier key: expected <name>+<8 hex digits>+<base64 key>"
        raise NoteError(msg)
    raw = _b64decode_strict(encoded, "verifier key material")
    if len(raw) != 1 + _PUBLIC_KEY_SIZE or raw[0] != ED25519_TYPE:
        msg = "verifier key is not a 0x01-typed 32-byte Ed25519 public key"
        raise NoteError(msg)
    key_bytes = raw[1:]
    if bytes.fromhex(hex_id) != _key_id_raw(name, key_bytes):
        msg = f"verifier key ID {hex_id} does not match the name and key"
        raise NoteError(msg)
    return VerifierKey(name, bytes.fromhex(hex_id), key_bytes)


def generate_private_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key."""
    return Ed25519PrivateKey.generate()


# --------------------------------------------------------------------------
# Notes


def _ensure_valid_note_text(text: str) -> None:
    if not isinstance(text, str) or not text.endswith("\n"):
        msg = "note text must end with a newline"
        raise NoteError(msg)
    if _has_bad_characters(text):
        msg = "note text must be valid UTF-8 without control characters other than newline"
        raise NoteError(msg)


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``text`` (which must end in a newline) and return the signed note."""
    _ensure_valid_note_text(text)
    _ensure_valid_key_name(name)
    signature = private_key.sign(text.encode("utf-8"))
    encoded = _b64encode(key_id(name, private_key) + signature)
    return f"{text}\n{_SIGNATURE_PREFIX}{name} {encoded}\n"


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    """``(name, key ID, signature)`` from one signature line, without its newline."""
    if not line.startswith(_SIGNATURE_PREFIX):
        msg = "malformed note: a signature line must start with an em dash and a space"
        raise NoteError(msg)
    name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not is_valid_key_name(name) or not encoded:
        msg = "malformed note: a signature line must be '\u2014 <key name> <base64>'"
        raise NoteError(msg)
    raw = _b64decode_strict(encoded, "malformed note: a signature")
    if len(raw) <= _KEY_ID_SIZE:
        msg = "malformed note: a signature must be longer than its 4-byte key ID"
        raise NoteError(msg)
    return name, raw[:_KEY_ID_SIZE], raw[_KEY_ID_SIZE:]


def _ed25519_verifies(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    if len(signature) != _SIGNATURE_SIZE:
        return False
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _split_note(note: str | bytes) -> tuple[str, list[str]]:
    """The text and the signature lines (without newlines) of a syntactically valid note."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            msg = "malformed note: not valid UTF-8"
            raise NoteError(msg) from None
    if _has_bad_characters(note):
        msg = "malformed note: not valid UTF-8, or has control characters other than newline"
        raise NoteError(msg)
    # The text may itself hold blank lines: the last one separates it from the signatures.
    split = note.rfind("\n\n")
    if split < 0:
        msg = "malformed note: no blank line between the text and the signatures"
        raise NoteError(msg)
    text, signature_block = note[: split + 1], note[split + 2 :]
    if not signature_block.endswith("\n"):
        msg = "malformed note: the signature block must be non-empty and end with a newline"
        raise NoteError(msg)
    lines = signature_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        msg = f"malformed note: more than {MAX_SIGNATURES} signatures"
        raise NoteError(msg)
    return text, lines


def open_note(note: str | bytes, verifier_key: str | VerifierKey) -> str:
    """Verify a signed note against one trusted key and return its text.

    Signatures by other keys (another name or key ID) are ignored, as the
    specification requires; at least one signature by ``verifier_key`` must be
    present, and every one present must verify.
    """
    key = parse_verifier_key(verifier_key) if isinstance(verifier_key, str) else verifier_key
    text, lines = _split_note(note)
    public_key = key.public_key()
    message = text.encode("utf-8")
    verified = False
    others: list[str] = []
    for line in lines:
        name, line_key_id, signature = _parse_signature_line(line)
        if (name, line_key_id) != (key.name, key.key_id):
            others.append(f"{name}+{line_key_id.hex()}")
            continue
        if not _ed25519_verifies(public_key, signature, message):
            msg = f"invalid signature by key {key.name}+{key.key_id.hex()}"
            raise NoteError(msg)
        verified = True
    if not verified:
        found = ", ".join(others)
        msg = f"note is not signed by key {key.name}+{key.key_id.hex()} (signed by: {found})"
        raise NoteError(msg)
    return text


# --------------------------------------------------------------------------
# Checkpoints


def _ensure_checkpoint_line(value: str, what: str) -> None:
    if not isinstance(value, str) or value == "" or "\n" in value or _has_bad_characters(value):
        msg = f"checkpoint {what} must be a non-empty line without control characters"
        raise NoteError(msg)


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog checkpoint: the body of a signed note committing to a tree head.

    ``origin`` names the log, ``size`` is its number of leaves and ``root`` its
    RFC 6962 root hash; ``extensions`` are optional further lines.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _ensure_checkpoint_line(self.origin, "origin")
        if (
            isinstance(self.size, bool)
            or not isinstance(self.size, int)
            or not 0 <= self.size <= _MAX_TREE_SIZE
        ):
            msg = f"checkpoint size must be an integer from 0 to 2**64-1, got {self.size!r}"
            raise NoteError(msg)
        if not isinstance(self.root, bytes) or len(self.root) != _ROOT_SIZE:
            msg = f"checkpoint root must be {_ROOT_SIZE} bytes"
            raise NoteError(msg)
        if not isinstance(self.extensions, tuple):
            msg = "checkpoint extensions must be a tuple of lines"
            raise NoteError(msg)
        for extension in self.extensions:
            _ensure_checkpoint_line(extension, "extension line")

    def to_text(self) -> str:
        """The note text: origin, size, base64 root and extensions, each line ending in newline."""
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse and strictly validate a checkpoint note text (as returned by ``open_note``)."""
        if not isinstance(text, str) or not text.endswith("\n"):
            msg = "checkpoint text must end with a newline"
            raise NoteError(msg)
        lines = text[:-1].split("\n")
        minimum_lines = 3
        if len(lines) < minimum_lines:
            msg = "checkpoint must have origin, size and root lines"
            raise NoteError(msg)
        origin, size_text, root_text, *extensions = lines
        if len(size_text) > len(str(_MAX_TREE_SIZE)) or not _DECIMAL.fullmatch(size_text):
            msg = f"checkpoint size {size_text!r} is not a decimal without leading zeros"
            raise NoteError(msg)
        root = _b64decode_strict(root_text, "checkpoint root")
        return cls(origin, int(size_text), root, tuple(extensions))
