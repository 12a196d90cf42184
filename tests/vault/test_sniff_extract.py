"""Type by content, never by name; metadata extraction that never blocks intake."""

from __future__ import annotations

import io
import logging
import secrets
import wave

import pytest
from PIL import Image
from PIL.ExifTags import IFD
from reportlab.pdfgen import canvas

from casefile.vault import extract, sniff


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3, 3), (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


def jpeg(*, lat_ref: str = "N", lon_ref: str = "E", gps: bool = True) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Apple"  # Make
    exif[0x0110] = "iPhone 7"  # Model
    exif[0x0131] = "Camera 1.0"  # Software
    exif.get_ifd(IFD.Exif)[0x9003] = "2017:09:01 17:40:05"  # DateTimeOriginal
    if gps:
        info = exif.get_ifd(IFD.GPSInfo)
        info[1], info[2] = lat_ref, (20.0, 30.0, 36.0)  # 20.51
        info[3], info[4] = lon_ref, (92.0, 45.0, 0.0)  # 92.75
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def pdf(pages: int = 2) -> bytes:
    out = io.BytesIO()
    document = canvas.Canvas(out)
    document.setTitle("Situation report")
    document.setAuthor("Documentation team")
    for number in range(pages):
        document.drawString(72, 720, f"Report page {number + 1}")
        document.showPage()
    document.save()
    return out.getvalue()


def wav(seconds: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x00" * 8000 * seconds)
    return out.getvalue()


def examine(data: bytes) -> dict:
    mime = sniff.detect(data[: sniff.HEAD_BYTES])
    return extract.extract(data, data[: sniff.HEAD_BYTES], mime, len(data))


# --- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        pytest.param(png(), "image/png", id="png"),
        pytest.param(jpeg(), "image/jpeg", id="jpeg"),
        pytest.param(pdf(), "application/pdf", id="pdf"),
        pytest.param(wav(), "audio/x-wav", id="wav"),
        pytest.param(b"", "application/x-empty", id="empty"),
        pytest.param("စစ်ဆေးမှု witness notes\nline two\n".encode(), "text/plain", id="text"),
        pytest.param(b"\x00\x01\x02\x03" + secrets.token_bytes(500), "application/octet-stream",
                     id="binary"),
    ],
)
def test_detect_by_content(data, mime):
    assert sniff.detect(data[: sniff.HEAD_BYTES]) == mime


def test_detect_needs_only_the_head():
    data = pdf() + secrets.token_bytes(2 * sniff.HEAD_BYTES)
    assert sniff.detect(data[: sniff.HEAD_BYTES]) == "application/pdf"


@pytest.mark.parametrize(
    ("detected", "filename", "declared", "found"),
    [
        ("image/png", "photo.png", "image/png", []),
        ("image/jpeg", "IMG_0001.JPG", "image/jpg", []),  # alias, upper-case extension
        ("image/png", "photo.png", "IMAGE/PNG; charset=binary", []),
        ("application/pdf", "holiday.jpg", "image/jpeg", ["declared_type", "extension"]),
        ("application/pdf", "statement.pdf", "image/jpeg", ["declared_type"]),
        ("application/pdf", "holiday.jpg", None, ["extension"]),
        ("application/pdf", "holiday.jpg", "application/octet-stream", ["extension"]),
        ("application/pdf", None, None, []),
        ("application/pdf", "", "", []),
        ("application/pdf", "no-extension", None, []),
        ("application/pdf", "unknown.zzzq", None, []),
        ("image/png", "../../photos/photo.png", None, []),
        ("application/zip", "bundle.zip", "application/x-zip-compressed", []),
    ],
)
def test_mismatches(detected, filename, declared, found):
    assert sniff.mismatches(detected, filename, declared) == found


def test_a_generic_extension_is_no_claim():
    assert sniff.mismatches("text/plain", "acquisition.bin", None) == []


@pytest.mark.parametrize(
    ("detected", "filename", "declared"),
    [
        ("audio/x-wav", "interview.wav", "audio/wav"),  # Chromium's guess; libmagic's name
        ("audio/x-wav", "interview.wav", "audio/x-wav"),
        ("audio/x-wav", "interview.wav", "audio/wave"),
        ("audio/x-wav", "interview.wave", "audio/vnd.wave"),
        ("image/jpeg", "photo.jpg", "image/pjpeg"),
        ("image/png", "photo.png", "image/x-png"),
        ("application/pdf", "report.pdf", "application/x-pdf"),
        ("audio/mpeg", "call.mp3", "audio/mp3"),
        ("audio/mpeg", "call.mp3", "audio/x-mp3"),
        ("video/quicktime", "clip.mov", "video/x-quicktime"),
        ("application/zip", "bundle.zip", "application/x-zip"),
        ("text/x-python", "notes.txt", "text/plain"),  # libmagic names what a text is about
        ("text/plain", "script.py", "text/x-python"),
        ("audio/x-wav", "interview.wav", "application/octet-stream"),  # no claim
        ("audio/x-wav", "interview.wav", "binary/octet-stream"),
    ],
)
def test_equivalent_types_are_no_mismatch(detected, filename, declared):
    assert sniff.mismatches(detected, filename, declared) == []


@pytest.mark.parametrize(
    ("detected", "declared"),
    [
        ("audio/x-wav", "audio/mpeg"),
        ("application/pdf", "application/x-zip-compressed"),
        ("text/plain", "text/html"),  # HTML is not plain text under another name
        ("image/png", "image/jpeg"),
        ("video/mp4", "video/quicktime"),
    ],
)
def test_different_types_still_mismatch(detected, declared):
    assert sniff.mismatches(detected, None, declared) == ["declared_type"]
    assert not sniff.same_type(detected, declared)


# --- extraction -----------------------------------------------------------------------------


def test_exif_with_gps_is_extracted():
    found = examine(jpeg())["exif"]
    assert found["make"] == "Apple" and found["model"] == "iPhone 7"
    assert found["software"] == "Camera 1.0"
    assert found["original_time"] == "2017:09:01 17:40:05"
    assert found["gps"] == {"lat": "20.510000", "lon": "92.750000"}
    assert found["gps_latitude_ref"] == "N"


def test_south_and_west_are_negative():
    assert examine(jpeg(lat_ref="S", lon_ref="W"))["exif"]["gps"] == {
        "lat": "-20.510000", "lon": "-92.750000",
    }


def test_a_photo_without_gps_has_no_position():
    found = examine(jpeg(gps=False))["exif"]
    assert "gps" not in found
    assert found["make"] == "Apple"


def test_pdf_info_pages_and_text():
    found = examine(pdf(pages=4))["pdf"]
    assert found["pages"] == 4
    assert found["info"]["title"] == "Situation report"
    assert found["info"]["author"] == "Documentation team"
    assert "Report page 1" in found["text_excerpt"]
    text = examine(pdf(pages=4))["text"]  # every page's text, for search
    assert all(f"Report page {number}" in text for number in range(1, 5))


def test_audio_container_data():
    found = examine(wav(seconds=2))["media"]
    assert found["container"] == "WAVE"
    assert found["duration_seconds"] == "2.000"
    assert found["sample_rate"] == "8000" and found["channels"] == "1"


def test_types_without_an_extractor_give_nothing():
    assert extract.extract(b"PK\x03\x04", b"PK\x03\x04", "application/zip", 4) == {}


def test_text_files_give_their_text_for_search_capped():
    assert examine(b"plain notes\n") == {"text": "plain notes\n"}
    assert examine("မီးရှို့ခဲ့သည်\n".encode("utf-16")) == {"text": "မီးရှို့ခဲ့သည်\n"}
    long = b"word " * (extract.TEXT_LIMIT // 2)
    assert len(extract.extract(long, long[:65536], "text/plain", len(long))["text"]) == (
        extract.TEXT_LIMIT)


def test_a_nul_in_a_text_file_is_made_visible():
    """A database text column cannot hold NUL (PostgreSQL refuses the row): random bytes that
    libmagic takes for text (it happened: "text/PGP") must not fail the item's registration."""
    data = b"-----BEGIN PGP\x00 MESSAGE\xff\n"
    assert extract.extract(data, data, "text/PGP", len(data)) == {
        "text": "-----BEGIN PGP\ufffd MESSAGE\ufffd\n"}


@pytest.mark.parametrize(
    "mime",
    ["image/jpeg", "image/png", "image/tiff", "image/webp", "image/heic", "application/pdf",
     "audio/mpeg", "audio/x-wav", "video/mp4", "video/quicktime"],
)
@pytest.mark.parametrize("size", [0, 1, 300, 70_000])
def test_garbage_never_raises(mime, size, caplog):
    caplog.set_level(logging.CRITICAL)  # the parsers complain loudly about garbage
    data = secrets.token_bytes(size)
    result = extract.extract(data, data[: sniff.HEAD_BYTES], mime, size)
    assert isinstance(result, dict)
    assert set(result) <= {"exif", "pdf", "media", "error", "note"}


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"%PDF-1.7\n" + secrets.token_bytes(2000), "application/pdf"),
        (pdf()[:400], "application/pdf"),
        (b"", "application/pdf"),
    ],
)
def test_a_broken_file_gives_an_error_note(data, mime, caplog):
    caplog.set_level(logging.CRITICAL)
    result = extract.extract(data, data[: sniff.HEAD_BYTES], mime, len(data))
    assert result == {"error": result["error"]}
    assert result["error"].startswith("extraction failed: ")


def _crash(data):
    """Module-level: extractors run in a helper process, which imports them by name."""
    raise RecursionError("deeply nested objects")


def test_an_extractor_crash_is_contained(monkeypatch):
    monkeypatch.setattr(extract, "_pdf", _crash)
    assert extract.extract(b"x", b"x", "application/pdf", 1) == {
        "error": "extraction failed: RecursionError"
    }


def test_large_files_are_examined_from_the_head_only():
    head = jpeg()
    size = extract.EXTRACT_LIMIT + 1
    photo = extract.extract(None, head, "image/jpeg", size)
    assert photo["exif"]["make"] == "Apple"
    assert "first 64 KiB" in photo["note"]
    document = extract.extract(None, pdf()[:1000], "application/pdf", size)
    assert document == {"note": "not extracted: files over 16 MiB"}
