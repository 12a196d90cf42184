"""Sealed metadata and blind-index tokens, without a database."""

from __future__ import annotations

import uuid

import pytest

from casefile.vault import blind_index, sealing
from casefile.vault.envelope import Keyring, KeyringError


@pytest.fixture
def keyring(tmp_path):
    Keyring.create_file(tmp_path / "kek.json")
    return Keyring.load(tmp_path / "kek.json")


def test_a_seal_opens_only_for_its_own_item_and_key(keyring):
    item, other = uuid.uuid4(), uuid.uuid4()
    cipher = keyring.new_data_key(item.bytes).cipher
    fields = {"title": "ဒေါ်ခင် statement", "collector": {"collected_by": "Daw Khin"}}
    sealed = sealing.seal(cipher, item, fields)
    assert b"Khin" not in sealed and "ဒေါ်".encode() not in sealed
    assert sealing.unseal(cipher, item, sealed) == fields
    with pytest.raises(KeyringError):
        sealing.unseal(cipher, other, sealed)  # moved to another row
    with pytest.raises(KeyringError):
        sealing.unseal(keyring.new_data_key(item.bytes).cipher, item, sealed)  # another key
    with pytest.raises(KeyringError):
        sealing.unseal(cipher, item, sealed[:-1] + bytes([sealed[-1] ^ 1]))  # tampered


def test_commitments_are_keyed():
    key, other = sealing.new_commitment_key(), sealing.new_commitment_key()
    assert sealing.commitment(key, "a.jpg") == sealing.commitment(key, "a.jpg")
    assert sealing.commitment(key, "a.jpg") != sealing.commitment(key, "b.jpg")
    assert sealing.commitment(key, "a.jpg") != sealing.commitment(other, "a.jpg")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Daw  Khin-Myint", {"daw", "khin", "myint", "daw khin-myint"}),
        ("ＤＡＷ Ｋｈｉｎ", {"daw", "khin", "daw khin"}),  # noqa: RUF001 - fullwidth on purpose
        ("STRASSE Straße", {"strasse", "strasse strasse"}),
        ("ဒေါ်ခင်မြင့်၊ ကွတူပလောင်", {"ဒေါ်ခင်မြင့်", "ကွတူပလောင်", "ဒေါ်ခင်မြင့်၊ ကွတူပလောင်"}),
        ("  ", set()),
    ],
)
def test_tokens_are_normalised_words_and_the_whole_field(text, expected):
    assert blind_index.tokens(text) == expected


def test_index_hashes_are_keyed_bound_to_the_field_and_survive_rewrapping(keyring, tmp_path):
    wrapped = blind_index.new_wrapped(keyring)
    key = blind_index.unwrap(keyring, wrapped)
    assert key.hash("collected_by", "khin") == key.hash("collected_by", "khin")
    assert key.hash("collected_by", "khin") != key.hash("title", "khin")
    other = blind_index.unwrap(keyring, blind_index.new_wrapped(keyring))
    assert other.hash("collected_by", "khin") != key.hash("collected_by", "khin")
    again = blind_index.unwrap(keyring, blind_index.rewrap(keyring, wrapped))
    assert again.hash("collected_by", "khin") == key.hash("collected_by", "khin")
    Keyring.create_file(tmp_path / "other.json")
    with pytest.raises(KeyringError):
        blind_index.unwrap(Keyring.load(tmp_path / "other.json"), wrapped)
