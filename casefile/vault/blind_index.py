"""Blind index: keyed hashes (HMAC-SHA256, a Tink PRF keyset) of normalised tokens, so a
filter can match restricted items' sealed fields without the database holding the words.

Normalisation: NFKC, case-folded, whitespace collapsed. Tokens: the words as split on
anything that is not a letter, combining mark or digit (Burmese is written without spaces
between words, so a run of Burmese text is one token), plus the whole normalised field, so
a search for the exact value matches too. Each hash is bound to its field name."""

from __future__ import annotations

import unicodedata

import tink
from tink import prf

from casefile.vault.envelope import Keyring, KeyringError

prf.register()

KEY_TEMPLATE = prf.prf_key_templates.HMAC_SHA256
WRAP_AD = b"blind-index-key:1"
HASH_BYTES = 32
WORD_CATEGORIES = frozenset("LMN")  # letters, marks (Burmese vowel signs, asat), numbers


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def words(normalised: str) -> set[str]:
    """Runs of letters, combining marks and digits. (Python's `\\W` would split Burmese
    syllables apart at their vowel signs, which are marks, not letters.)"""
    found, word = set(), []
    for char in normalised:
        if char == "_" or unicodedata.category(char)[0] in WORD_CATEGORIES:
            word.append(char)
        elif word:
            found.add("".join(word))
            word = []
    if word:
        found.add("".join(word))
    return found


def tokens(text: str) -> set[str]:
    whole = normalise(text)
    return words(whole) | ({whole} if whole else set())


def query_tokens(text: str) -> tuple[str, set[str]]:
    """A search text: its whole normalised form, and its words."""
    whole = normalise(text)
    return whole, words(whole)


class IndexKey:
    """The unwrapped index key."""

    def __init__(self, handle: tink.KeysetHandle) -> None:
        self._prf = handle.primitive(prf.PrfSet).primary()

    def hash(self, field: str, token: str) -> bytes:
        return bytes(self._prf.compute(f"{field}\x00{token}".encode(), HASH_BYTES))

    def hashes(self, field: str, text: str) -> set[bytes]:
        return {self.hash(field, token) for token in tokens(text)}


def new_wrapped(keyring: Keyring) -> bytes:
    handle = tink.new_keyset_handle(KEY_TEMPLATE)
    return bytes(tink.proto_keyset_format.serialize_encrypted(handle, keyring.aead, WRAP_AD))


def unwrap(keyring: Keyring, wrapped: bytes) -> IndexKey:
    try:
        handle = tink.proto_keyset_format.parse_encrypted(wrapped, keyring.aead, WRAP_AD)
    except tink.TinkError as error:
        raise KeyringError(f"cannot unwrap the blind index key: {error}") from None
    return IndexKey(handle)


def rewrap(keyring: Keyring, wrapped: bytes) -> bytes:
    try:
        handle = tink.proto_keyset_format.parse_encrypted(wrapped, keyring.aead, WRAP_AD)
    except tink.TinkError as error:
        raise KeyringError(f"cannot unwrap the blind index key: {error}") from None
    return bytes(tink.proto_keyset_format.serialize_encrypted(handle, keyring.aead, WRAP_AD))
