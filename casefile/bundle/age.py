"""A finished bundle encrypted to one or more age public keys (age-encryption.org/v1), for
transport: the registry decrypts it with its own key (`age -d -i key.txt bundle.zip.age >
bundle.zip`) and verifies the zip as usual.

The encryption is pyrage's (Python bindings of the `rage` implementation of age, MIT or
Apache-2.0), which streams: `pyrage.encrypt_io` reads its source in chunks and writes 64 KiB
sealed chunks as it goes (a 300 MiB file: ~13 MiB peak RSS). `encrypting(...)` gives a
writable stream whose bytes reach `sink` encrypted as they are written (a pipe, read by a
thread running pyrage), so the writer zips the bag straight into it and no plaintext zip is
ever written to disk.

Recipients are X25519 age public keys (`age1...`): each is checked before anything is
written, and a bad one is refused by name (BadRecipient)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Protocol

import pyrage
from pyrage import x25519

SUFFIX = ".age"
MAX_RECIPIENTS = 20


class BadRecipient(ValueError):
    """A recipient is not an age public key (the message names it)."""


class EncryptionFailed(Exception):
    """The encryption stopped (the output is incomplete and must be removed)."""


def recipients_of(texts: Sequence[str]) -> list[x25519.Recipient]:
    """The age recipients named by `texts`, each checked (BadRecipient names a bad one)."""
    if not texts:
        raise BadRecipient("give at least one age recipient (age1...)")
    if len(texts) > MAX_RECIPIENTS:
        raise BadRecipient(f"at most {MAX_RECIPIENTS} age recipients")
    parsed = []
    for text in texts:
        shown = text if len(text) <= 80 else text[:77] + "..."
        try:
            recipient = x25519.Recipient.from_str(text.strip())
        except pyrage.RecipientError:
            raise BadRecipient(
                f"{shown!r} is not an age public key (age1... of 62 characters)"
            ) from None
        _usable(recipient, shown)
        parsed.append(recipient)
    return parsed


def _usable(recipient: x25519.Recipient, shown: str) -> None:
    """A key that decodes may still be one no encryption can use (a low-order point: rage
    stops with a panic, which Python sees as a BaseException): tried on an empty message
    now, before anything is signed or written."""
    try:
        pyrage.encrypt(b"", [recipient])
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - pyo3's PanicException is a BaseException
        raise BadRecipient(f"{shown!r} is not a usable age public key") from None


class Sink(Protocol):
    """Where pyrage writes the age file: an open binary file, or a bundle's DirectFile."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


def encrypt_to(recipients: Sequence[str], source: BinaryIO, sink: BinaryIO) -> None:
    """`source`, read to its end, encrypted to every recipient into `sink`, streamed."""
    pyrage.encrypt_io(source, sink, recipients_of(recipients))


@contextlib.contextmanager
def encrypting(recipients: Sequence[str], sink: Sink) -> Iterator[BinaryIO]:
    """A stream to write plaintext into; its bytes reach `sink` encrypted to every recipient,
    as they are written. The age file is complete when the block ends without an error;
    EncryptionFailed (or the block's own error) otherwise, and `sink` holds a truncated file
    that the caller removes."""
    parsed = recipients_of(recipients)  # before anything is written
    read_end, write_end = os.pipe()
    reader = os.fdopen(read_end, "rb")
    writer = os.fdopen(write_end, "wb")
    failures: list[BaseException] = []

    def pump() -> None:
        try:
            pyrage.encrypt_io(reader, sink, parsed)
        except BaseException as error:  # noqa: BLE001 - handed to the writing thread
            failures.append(error)
        finally:
            reader.close()  # a writer still writing gets BrokenPipeError, not a hang

    thread = threading.Thread(target=pump, name="age-encryption", daemon=True)
    thread.start()
    try:
        yield writer
        writer.close()  # end of the plaintext: pyrage seals the last chunk
    except BaseException:
        with contextlib.suppress(OSError):
            writer.close()
        thread.join()
        if failures:
            raise EncryptionFailed(f"age encryption failed: {failures[0]}") from failures[0]
        raise
    thread.join()
    if failures:
        raise EncryptionFailed(f"age encryption failed: {failures[0]}") from failures[0]
