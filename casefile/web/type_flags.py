"""An item's type-mismatch flags said in words on its page. The stored flags are history (the
custody log recorded them at intake) and stay as they are; a flag recorded before two names
of one type were treated as equal (audio/wav and audio/x-wav) is explained as such."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import PurePosixPath

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from casefile.model import Evidence
from casefile.vault import sniff

KINDS = {
    "audio/wav": lazy_gettext("WAV audio"),
    "audio/mpeg": lazy_gettext("MP3 audio"),
    "audio/mp4": lazy_gettext("MPEG-4 audio"),
    "audio/ogg": lazy_gettext("Ogg audio"),
    "video/mp4": lazy_gettext("MPEG-4 video"),
    "video/quicktime": lazy_gettext("QuickTime video"),
    "video/webm": lazy_gettext("WebM video"),
    "image/jpeg": lazy_gettext("a JPEG image"),
    "image/png": lazy_gettext("a PNG image"),
    "image/gif": lazy_gettext("a GIF image"),
    "image/webp": lazy_gettext("a WebP image"),
    "image/tiff": lazy_gettext("a TIFF image"),
    "application/pdf": lazy_gettext("a PDF document"),
    "application/zip": lazy_gettext("a ZIP archive"),
    "text/plain": lazy_gettext("plain text"),
    "text/html": lazy_gettext("a web page (HTML)"),
}


def kind(mime: str) -> str:
    """A type in words, with its name: "WAV audio (audio/x-wav)"."""
    words = KINDS.get(sniff.canonical(mime))
    return f"{words} ({mime})" if words is not None else mime


@dataclass(frozen=True)
class Explained:
    code: str  # the stored flag, shown in small print
    sentence: str
    settled: bool  # recorded under an older comparison: the types are in fact the same


def explain(item: Evidence, original_filename: str | None) -> list[Explained]:
    """One sentence per type-mismatch flag of the item. `original_filename`: as revealed to
    the viewer (a restricted item's is sealed metadata; the page is only for those who may
    see the item)."""
    found: list[Explained] = []
    content = kind(item.mime)
    if "type_mismatch:declared_type" in item.flags:
        declared = item.declared_mime or ""
        if declared and sniff.same_type(declared, item.mime):
            found.append(_settled("type_mismatch:declared_type", declared, item.mime))
        else:
            sentence = _(
                "The file's content is %(content)s, but the uploader's browser or program "
                "declared it as %(declared)s. The type recorded here is decided by the content; "
                "a different declared type can be a browser's wrong guess, or a renamed or "
                "disguised file. Open it with care.",
                content=content,
                declared=kind(declared) if declared else _("another type"),
            )
            found.append(Explained("type_mismatch:declared_type", sentence, settled=False))
    if "type_mismatch:extension" in item.flags:
        guessed = None
        if original_filename:
            guessed, _encoding = mimetypes.guess_type(
                PurePosixPath(original_filename).name, strict=False
            )
        if guessed is not None and sniff.same_type(guessed, item.mime):
            found.append(_settled("type_mismatch:extension", guessed, item.mime))
        else:
            sentence = _(
                "The file's content is %(content)s, but the extension of its file name is used "
                "for %(guessed)s. A file renamed to another extension may open in the wrong "
                "program, or be meant to look like something it is not. Open it with care.",
                content=content,
                guessed=kind(guessed) if guessed else _("another type"),
            )
            found.append(Explained("type_mismatch:extension", sentence, settled=False))
    return found


def _settled(flag: str, claimed: str, content: str) -> Explained:
    """A flag stored before `claimed` and `content` counted as names of one type: kept (the
    record is history), explained as no mismatch."""
    sentence = _(
        "Recorded at intake, when %(declared)s and %(content)s were not yet treated as "
        "names of the same type. They are the same type: this is not a mismatch.",
        declared=claimed,
        content=content,
    )
    return Explained(flag, sentence, settled=True)
