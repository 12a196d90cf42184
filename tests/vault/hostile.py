"""A corpus of hostile files, generated (nothing binary is checked in): decompression bombs
of each kind, looping and deeply nested PDFs, polyglots, enormous EXIF, media with garbage
atoms. Each generator returns (bytes, file name). All are made in well under a second."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

MIB = 1024 * 1024


def _raw_deflate_zeros(mebibytes: int) -> bytes:
    """Raw deflate of `mebibytes` MiB of zeros, in milliseconds: one MiB compressed and then
    a full flush (which resets the compressor, so every further MiB compresses to the same
    bytes), repeated, and a final empty block."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return segment * mebibytes + b"\x03\x00"


def _deflate_zeros(mebibytes: int) -> bytes:
    """The same in the zlib format (PDF's FlateDecode)."""
    adler = 1
    zero = bytes(MIB)
    for _ in range(mebibytes):
        adler = zlib.adler32(zero, adler)
    return b"\x78\xda" + _raw_deflate_zeros(mebibytes) + struct.pack(">I", adler)


def _zip_of(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_bomb() -> tuple[bytes, str]:
    """One entry that inflates to 1 GiB of zeros (about a megabyte on the wire), written by
    hand so that making it costs no gigabyte."""
    size = 1024 * MIB
    raw = _raw_deflate_zeros(size // MIB)
    crc = 0
    zero = bytes(MIB)
    for _ in range(size // MIB):
        crc = zlib.crc32(zero, crc)
    name = b"zeros.bin"
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(raw), size, len(name), 0
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(raw), size, len(name), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    body = local + name + raw
    directory = central + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end, "invoice.zip"


def nested_zip() -> tuple[bytes, str]:
    """42.zip in miniature: zips of zips, four wide and three deep, of 4 MiB-of-zeros leaves."""
    leaf = _zip_of([("zeros.bin", bytes(4 * MIB))], zipfile.ZIP_DEFLATED)
    level = leaf
    for depth in range(3):
        level = _zip_of([(f"level{depth}-{n}.zip", level) for n in range(4)])
    return level, "photos.zip"


def gzip_bomb() -> tuple[bytes, str]:
    """A gzip member that inflates to 1 GiB of zeros."""
    size = 1024 * MIB
    crc = 0
    zero = bytes(MIB)
    for _ in range(size // MIB):
        crc = zlib.crc32(zero, crc)
    header = b"\x1f\x8b\x08\x00" + bytes(4) + b"\x02\xff"
    trailer = struct.pack("<II", crc, size % 2**32)
    return header + _raw_deflate_zeros(size // MIB) + trailer, "logs.gz"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, idat: bytes = b"") -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat or zlib.compress(bytes(64 * 1024)))
        + _png_chunk(b"IEND", b"")
    )


def png_bomb() -> tuple[bytes, str]:
    """50,000 x 50,000 pixels (7.5 GB decoded) in a few kilobytes."""
    return png(50_000, 50_000), "scan.png"


def _tiff_ifd_entries(entries: list[tuple[int, int, int, int]], next_ifd: int) -> bytes:
    packed = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed += struct.pack("<HHII", tag, kind, count, value)
    return packed + struct.pack("<I", next_ifd)


def _exif_payload(filler: int) -> bytes:
    """A TIFF structure (EXIF's) whose IFD chain loops back on itself, with a Make tag that
    claims two billion characters and an EXIF sub-IFD pointer into the loop."""
    ifd0 = 8
    entries = [
        (0x010F, 2, 0x7FFFFFFF, 8),  # Make: ASCII, absurd count
        (0x0110, 2, 0x10000000, 8),  # Model
        (0x8769, 4, 1, ifd0),  # ExifIFD pointer: back to IFD0
        (0x8825, 4, 1, ifd0),  # GPS IFD pointer: back to IFD0
    ]
    return b"II*\x00" + struct.pack("<I", ifd0) + _tiff_ifd_entries(entries, ifd0) + bytes(filler)


def jpeg_huge_exif() -> tuple[bytes, str]:
    """A JPEG whose APP1 EXIF loops, followed by 200 more APP1 segments of 64 KiB (13 MiB of
    metadata before the first pixel), then a tiny frame."""
    exif = b"Exif\x00\x00" + _exif_payload(1024)
    segments = [b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif]
    filler = b"Exif\x00\x00" + bytes(65_000)
    segments += [b"\xff\xe1" + struct.pack(">H", len(filler) + 2) + filler] * 200
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 16, 16, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + b"".join(segments) + frame + b"\xff\xd9", "IMG_0001.jpg"


def tiff_huge_exif() -> tuple[bytes, str]:
    """A TIFF whose IFD chain loops and whose tags claim gigabytes, 8 MiB long."""
    return _exif_payload(8 * MIB), "scan.tif"


def gif_huge_comment() -> tuple[bytes, str]:
    """A 32,767 x 32,767 GIF carrying 8 MiB of comment blocks and no image."""
    header = b"GIF89a" + struct.pack("<HHBBB", 32767, 32767, 0, 0, 0)
    block = b"\xff" + bytes(255)
    comment = b"\x21\xfe" + block * (8 * MIB // 256) + b"\x00"
    return header + comment + b"\x3b", "map.gif"


def _pdf(objects: list[bytes], trailer: bytes) -> bytes:
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def pdf_page_loop() -> tuple[bytes, str]:
    """A page tree whose Pages node is its own kid, and an xref whose /Prev is itself."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    first = _pdf(objects, b"<< /Size 4 /Root 1 0 R >>")
    xref_at = int(first.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    looping = first.replace(
        b"<< /Size 4 /Root 1 0 R >>", b"<< /Size 4 /Root 1 0 R /Prev %d >>" % xref_at
    )
    return looping, "statement.pdf"


def pdf_deep_nesting() -> tuple[bytes, str]:
    """An info dictionary nested 200,000 arrays deep."""
    deep = b"[" * 200_000 + b"]" * 200_000
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        b"<< /Title (deep) /Nest " + deep + b" >>",
    ]
    return _pdf(objects, b"<< /Size 5 /Root 1 0 R /Info 4 0 R >>"), "report.pdf"


def pdf_flate_bomb() -> tuple[bytes, str]:
    """A page whose content stream inflates to 1 GiB."""
    stream = _deflate_zeros(1024)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    return _pdf(objects, b"<< /Size 5 /Root 1 0 R >>"), "minutes.pdf"


def minimal_pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    return _pdf(objects, b"<< /Size 4 /Root 1 0 R >>")


def pdf_zip_polyglot() -> tuple[bytes, str]:
    """A valid PDF with a valid ZIP appended: a PDF reader and unzip each see their own."""
    return minimal_pdf() + _zip_of([("payload.txt", b"hidden\n")]), "witness-list.pdf"


def png_zip_polyglot() -> tuple[bytes, str]:
    """An image with a ZIP appended (the classic way to smuggle an archive as a photo)."""
    return png(640, 480) + _zip_of([("notes.txt", b"hidden\n")], zipfile.ZIP_DEFLATED), "a.png"


def zip_pdf_polyglot() -> tuple[bytes, str]:
    """A ZIP whose first entry, stored, is a PDF: `%PDF-` inside the first 1024 bytes, where
    PDF readers look for it."""
    return _zip_of([("a.pdf", minimal_pdf())]), "bundle.zip"


def mp3_garbage() -> tuple[bytes, str]:
    """Two MPEG audio frames, then 2 MiB of noise, an ID3v1 tag and an APEv2 footer that
    claims a two-gigabyte tag with two billion items."""
    frame = b"\xff\xfb\x90\x64" + bytes(413)
    noise = bytes((n * 7919) % 251 for n in range(2 * MIB))
    ape_footer = b"APETAGEX" + struct.pack("<IIII", 2000, 0x7FFFFFF0, 0x7FFFFFFF, 0) + bytes(8)
    id3v1 = b"TAG" + b"\xff" * 125
    return frame * 2 + noise + ape_footer + id3v1, "call.mp3"


def _atom(kind: bytes, payload: bytes, size: int | None = None) -> bytes:
    return struct.pack(">I", len(payload) + 8 if size is None else size) + kind + payload


def mp4_garbage_atoms() -> tuple[bytes, str]:
    """An MP4 whose atoms claim sizes larger than the file, nest 10,000 deep, or are 1 byte."""
    nested = b""
    for _ in range(10_000):
        nested = _atom(b"trak", nested)
    moov = _atom(b"moov", _atom(b"mvhd", bytes(100), size=0x7FFFFFF0) + nested)
    tiny = struct.pack(">I", 1) + b"free" + struct.pack(">Q", 0xFFFFFFFFFFFF)
    ftyp = _atom(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
    return ftyp + moov + tiny + _atom(b"mdat", bytes(MIB)), "drone.mp4"


CORPUS: dict[str, Callable[[], tuple[bytes, str]]] = {
    "zip_bomb": zip_bomb,
    "nested_zip": nested_zip,
    "gzip_bomb": gzip_bomb,
    "png_bomb": png_bomb,
    "jpeg_huge_exif": jpeg_huge_exif,
    "tiff_huge_exif": tiff_huge_exif,
    "gif_huge_comment": gif_huge_comment,
    "pdf_page_loop": pdf_page_loop,
    "pdf_deep_nesting": pdf_deep_nesting,
    "pdf_flate_bomb": pdf_flate_bomb,
    "pdf_zip_polyglot": pdf_zip_polyglot,
    "png_zip_polyglot": png_zip_polyglot,
    "zip_pdf_polyglot": zip_pdf_polyglot,
    "mp3_garbage": mp3_garbage,
    "mp4_garbage_atoms": mp4_garbage_atoms,
}


# --- parsers that misbehave, for casefile.vault.bounded (run in its helper process) --------


def spin(data: bytes) -> dict[str, object]:
    """Never returns (a parser caught in a loop)."""
    while True:
        data = data[::-1]


def hog(data: bytes) -> dict[str, object]:
    """Allocates without end (a decompression bomb being inflated)."""
    held = [data]
    while True:
        held.append(bytes(64 * MIB))


def fail(data: bytes) -> dict[str, object]:
    raise ValueError(data[:10].decode())


def echo(data: bytes) -> dict[str, object]:
    return {"length": len(data), "head": data[:5].decode()}


def environment(data: bytes) -> dict[str, object]:
    """What a parser in the helper could read of its process's environment."""
    del data
    import os  # noqa: PLC0415

    return {"names": sorted(os.environ)}


def loaded(data: bytes) -> dict[str, object]:
    """Which of the server's heavy modules the helper has loaded."""
    del data
    import sys  # noqa: PLC0415

    return {"modules": sorted(name for name in sys.modules
                              if name.split(".")[0] in {"flask", "sqlalchemy", "werkzeug"}
                              or name in {"casefile.settings", "casefile.db"})}


def process(data: bytes) -> dict[str, object]:
    """The helper's process id and its core-dump limit (tests/vault/test_bounded.py)."""
    import os  # noqa: PLC0415
    import resource  # noqa: PLC0415

    return {"pid": os.getpid(), "core": list(resource.getrlimit(resource.RLIMIT_CORE))}


def has_module(data: bytes) -> dict[str, object]:
    """Whether the helper has imported the module `data` names, and its process id."""
    import os  # noqa: PLC0415
    import sys  # noqa: PLC0415

    return {"loaded": data.decode() in sys.modules, "pid": os.getpid()}
