"""The export's SHA-256 computed beside the decryption (logic/evidence/threaded_digest.py):
the same digest as hashlib's, every chunk counted, and no thread left behind."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from casefile.logic.evidence.threaded_digest import AHEAD, ThreadedDigest


def _threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "sha256-beside"}


def test_the_digest_is_sha256_of_every_chunk_in_order():
    chunks = [os.urandom(size) for size in (0, 1, 4096, 1 << 20, 3, (1 << 20) + 7)] * 3
    digest = ThreadedDigest()
    for chunk in chunks:
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert digest.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()  # again: same


def test_more_chunks_than_it_holds_ahead_are_all_hashed():
    chunks = [bytes([index]) * 10_000 for index in range(AHEAD * 10)]
    digest = ThreadedDigest()
    for chunk in chunks:
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()


def test_no_chunk_is_taken_after_the_end():
    digest = ThreadedDigest()
    digest.update(b"abc")
    digest.hexdigest()
    with pytest.raises(ValueError, match="finished"):
        digest.update(b"more")


def test_closing_without_a_digest_ends_its_thread():
    before = _threads()
    digest = ThreadedDigest()
    digest.update(b"x" * 100)
    digest.close()
    digest.close()  # twice: a no-op
    assert _threads() <= before
