"""The polyglot scanner: what else a file is, found chunk by chunk in intake's single pass."""

from __future__ import annotations

import random
import struct

import pytest

from casefile.vault import polyglot
from tests.vault import hostile


def scan(data: bytes, chunk: int) -> tuple[str, ...]:
    scanner = polyglot.PolyglotScanner()
    for start in range(0, len(data), chunk):
        scanner.update(data[start : start + chunk])
    return scanner.containers()


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_a_pdf_with_a_zip_appended_is_both_whatever_the_chunking(chunk):
    data, _ = hostile.pdf_zip_polyglot()
    assert scan(data, chunk) == ("zip", "pdf")
    assert polyglot.other_types("application/pdf", scan(data, chunk)) == ["zip"]


@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_a_zip_inside_an_image_is_found_by_its_local_header_even_mid_file(chunk):
    archive = hostile._zip_of([("notes.txt", b"hidden text\n")])
    data = hostile.png(640, 480) + archive + bytes(200_000)  # not at the end: no end record
    assert scan(data, chunk) == ("zip",)
    assert polyglot.other_types("image/png", ("zip",)) == ["zip"]


def test_office_documents_and_plain_archives_are_not_polyglots():
    data = hostile._zip_of([("word/document.xml", b"<w/>"), ("[Content_Types].xml", b"<x/>")])
    found = scan(data, 1 << 16)
    assert found == ("zip",)
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert polyglot.other_types(docx, found) == []
    assert polyglot.other_types("application/zip", found) == []


def test_stray_signatures_in_random_data_are_not_containers():
    rng = random.Random(8)
    noise = bytearray(rng.randbytes(4 << 20))
    # Signatures without the structure around them: a local header with a nonsense method,
    # an end record whose comment length does not reach the end, %PDF- after byte 1024.
    noise[1000:1004] = b"PK\x03\x04"
    noise[1004:1010] = struct.pack("<HHH", 20, 0, 0x7777)
    noise[len(noise) - 5000 : len(noise) - 4996] = b"PK\x05\x06"
    noise[3000:3005] = b"%PDF-"
    jpeg = b"\xff\xd8\xff\xe0" + bytes(noise)
    assert scan(jpeg, 1 << 20) == ()


def test_pdf_magic_within_the_first_kilobyte_counts():
    assert scan(b"junk" * 200 + b"%PDF-1.7\n", 64) == ("pdf",)
    assert scan(b"junk" * 300 + b"%PDF-1.7\n", 64) == ()
    assert polyglot.other_types("application/pdf", ("pdf",)) == []
