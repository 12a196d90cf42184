"""Fixtures shared by the logic tests."""

from __future__ import annotations

import pytest

from casefile.vault.envelope import Keyring


@pytest.fixture
def keyring(tmp_path):
    """A fresh key-encryption keyring in a file of the test's own."""
    path = tmp_path / "kek.json"
    Keyring.create_file(path)
    return Keyring.load(path)
