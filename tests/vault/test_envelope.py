"""The keyring: the KEK file, per-item data keys wrapped with the item's id, rewrapping,
and the streaming AEAD the data keys drive (identity bound, truncation detected)."""

from __future__ import annotations

import io
import stat
import uuid

import pytest
import tink

from casefile.vault.envelope import Keyring, KeyringError


@pytest.fixture
def kek_path(tmp_path):
    return tmp_path / "kek.json"


@pytest.fixture
def keyring(kek_path):
    assert Keyring.create_file(kek_path)
    return Keyring.load(kek_path)


@pytest.fixture
def other_keyring(tmp_path):
    path = tmp_path / "other-kek.json"
    Keyring.create_file(path)
    return Keyring.load(path)


def encrypt(cipher, plaintext: bytes, associated: bytes) -> bytes:
    out = io.BytesIO()
    out.close = lambda: None  # keep the buffer readable after the stream closes it
    with cipher.new_encrypting_stream(out, associated) as stream:
        stream.write(plaintext)
    return out.getvalue()


def decrypt(cipher, ciphertext: bytes, associated: bytes) -> bytes:
    return cipher.new_decrypting_stream(io.BytesIO(ciphertext), associated).read()


# --- the KEK file ---------------------------------------------------------------------------


def test_the_kek_file_is_private_and_never_replaced(kek_path):
    assert Keyring.create_file(kek_path) is True
    assert stat.S_IMODE(kek_path.stat().st_mode) == 0o600
    original = kek_path.read_text()
    assert Keyring.create_file(kek_path) is False
    assert kek_path.read_text() == original
    assert stat.S_IMODE(kek_path.stat().st_mode) == 0o600


def test_loading(kek_path, tmp_path):
    assert Keyring.load(tmp_path / "missing.json") is None
    Keyring.create_file(kek_path)
    keyring = Keyring.load(kek_path)
    assert keyring is not None
    assert keyring.primary_key_id != 0
    assert Keyring.from_text(keyring.to_text()).primary_key_id == keyring.primary_key_id
    with pytest.raises(KeyringError, match="not a valid keyset"):
        Keyring.from_text('{"primaryKeyId": 1, "key": []}')
    with pytest.raises(KeyringError):
        Keyring.from_text("not json at all")


def test_two_kek_files_are_different_keys(keyring, other_keyring):
    assert keyring.to_text() != other_keyring.to_text()


# --- data keys ------------------------------------------------------------------------------


def test_wrap_and_unwrap_round_trip(keyring):
    item = uuid.uuid4().bytes
    data_key = keyring.new_data_key(item)
    ciphertext = encrypt(data_key.cipher, b"witness statement", item)
    assert b"witness statement" not in ciphertext
    cipher = keyring.unwrap(data_key.wrapped, item)
    assert decrypt(cipher, ciphertext, item) == b"witness statement"
    # A key loaded again from its text unwraps too (a restart).
    again = Keyring.from_text(keyring.to_text())
    assert decrypt(again.unwrap(data_key.wrapped, item), ciphertext, item) == b"witness statement"


def test_every_item_gets_its_own_data_key(keyring):
    item = uuid.uuid4().bytes
    first, second = keyring.new_data_key(item), keyring.new_data_key(item)
    assert first.wrapped != second.wrapped
    ciphertext = encrypt(first.cipher, b"x" * 100, item)
    with pytest.raises(tink.TinkError):
        decrypt(second.cipher, ciphertext, item)


def test_a_wrapped_key_cannot_be_moved_to_another_item(keyring):
    item, other = uuid.uuid4().bytes, uuid.uuid4().bytes
    wrapped = keyring.new_data_key(item).wrapped
    with pytest.raises(KeyringError, match="cannot unwrap"):
        keyring.unwrap(wrapped, other)


def test_another_kek_cannot_unwrap(keyring, other_keyring):
    item = uuid.uuid4().bytes
    wrapped = keyring.new_data_key(item).wrapped
    with pytest.raises(KeyringError, match="cannot unwrap"):
        other_keyring.unwrap(wrapped, item)
    with pytest.raises(KeyringError, match="cannot unwrap"):
        other_keyring.rewrap(wrapped, item)


def test_a_destroyed_key_unwraps_to_nothing(keyring):
    with pytest.raises(KeyringError, match="destroyed"):
        keyring.unwrap(None, uuid.uuid4().bytes)


def test_a_damaged_wrapped_key_is_refused(keyring):
    item = uuid.uuid4().bytes
    wrapped = bytearray(keyring.new_data_key(item).wrapped)
    wrapped[len(wrapped) // 2] ^= 0x40
    with pytest.raises(KeyringError):
        keyring.unwrap(bytes(wrapped), item)
    with pytest.raises(KeyringError):
        keyring.unwrap(b"", item)


def test_rewrap_changes_the_wrapping_not_the_key(keyring):
    item = uuid.uuid4().bytes
    data_key = keyring.new_data_key(item)
    ciphertext = encrypt(data_key.cipher, b"old blob, never rewritten", item)
    rewrapped = keyring.rewrap(data_key.wrapped, item)
    assert rewrapped != data_key.wrapped
    cipher = keyring.unwrap(rewrapped, item)
    assert decrypt(cipher, ciphertext, item) == b"old blob, never rewritten"
    with pytest.raises(KeyringError):
        keyring.unwrap(rewrapped, uuid.uuid4().bytes)
    with pytest.raises(KeyringError):
        keyring.rewrap(data_key.wrapped, uuid.uuid4().bytes)


# --- the streaming AEAD the data keys drive -------------------------------------------------


def test_the_item_id_is_bound_to_the_ciphertext(keyring):
    item, other = uuid.uuid4().bytes, uuid.uuid4().bytes
    cipher = keyring.new_data_key(item).cipher
    ciphertext = encrypt(cipher, b"a" * 5000, item)
    with pytest.raises(tink.TinkError):
        decrypt(cipher, ciphertext, other)


def test_truncation_reordering_and_bit_flips_are_detected(keyring):
    item = uuid.uuid4().bytes
    cipher = keyring.new_data_key(item).cipher
    plaintext = bytes(range(256)) * (3 * 4096 + 7)  # a little over 3 MiB: four segments
    ciphertext = encrypt(cipher, plaintext, item)
    assert decrypt(cipher, ciphertext, item) == plaintext
    segment = 1024 * 1024  # ciphertext segment i >= 1 starts at i * segment
    assert len(ciphertext) > len(plaintext)

    flipped = bytearray(ciphertext)
    flipped[segment + 100] ^= 0x01
    truncated_at_segment = ciphertext[: 2 * segment]  # a clean prefix, ending on a boundary
    truncated_anywhere = ciphertext[:-1]
    second, third = slice(segment, 2 * segment), slice(2 * segment, 3 * segment)
    reordered = bytearray(ciphertext)
    reordered[second], reordered[third] = ciphertext[third], ciphertext[second]
    assert len(reordered) == len(ciphertext)
    for damaged in (bytes(flipped), truncated_at_segment, truncated_anywhere, bytes(reordered)):
        with pytest.raises(tink.TinkError):
            decrypt(cipher, damaged, item)
