"""Embedded metadata (what casefile/vault/extract.py read from a file at intake) as people read
it: GPS positions in signed decimal degrees with a link to a map, EXIF and PDF dates as dates,
text as written. Pure functions over the stored JSON; a value that does not parse is shown as
stored, never an error. The stored JSON itself stays on the page behind a disclosure."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from babel.dates import format_datetime
from flask_babel import LazyString, get_locale
from flask_babel import lazy_gettext as _l

from casefile.vault.exif import Position, exif_time, position, rational, utc_offset

# --- conversions (casefile/vault/exif.py) and PDF dates -------------------------------------

_PDF_DATE = re.compile(
    r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?"
    r"(?:(Z)|([+-])(\d{2})'?(?:(\d{2})'?)?)?$"
)


def pdf_time(text: object) -> dt.datetime | None:
    """A PDF date, "D:20240305142210+06'30'" (or a prefix: "D:2024"), as a datetime; None if
    it is not one. Without a zone the time is naive (the writer's local time)."""
    if not isinstance(text, str):
        return None
    match = _PDF_DATE.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (
        int(part) if part else default
        for part, default in zip(match.groups()[:6], (0, 1, 1, 0, 0, 0), strict=True)
    )
    try:
        moment = dt.datetime(year, month, day, hour, minute, second)  # noqa: DTZ001
    except ValueError:
        return None
    if match.group(7):
        return moment.replace(tzinfo=dt.UTC)
    if match.group(8):
        zone = utc_offset(f"{match.group(8)}{match.group(9)}:{match.group(10) or '00'}")
        return moment.replace(tzinfo=zone) if zone is not None else None
    return moment


def raw_json(extracted: dict[str, Any]) -> str:
    """The stored JSON, indented, scripts and quotes as written (no \\u escapes)."""
    return json.dumps(extracted, ensure_ascii=False, indent=2, sort_keys=True)


# --- rows for the item page -----------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str | LazyString
    text: str = ""  # shown as is (templates escape it)
    time: dt.datetime | None = None  # shown as a localised date and time instead of `text`
    place: Position | None = None  # shown as decimal degrees with map links

    @property
    def iso_time(self) -> str:
        return self.time.isoformat() if self.time is not None else ""

    @property
    def local_time(self) -> str:
        return local_time(self.time) if self.time is not None else ""


def local_time(moment: dt.datetime, locale: str | None = None) -> str:
    """A date and time in the reader's language, at the clock time it was recorded (not
    converted to another zone), with its UTC offset if it has one."""
    zone = moment.tzinfo
    shown = format_datetime(
        moment if zone is not None else moment.replace(tzinfo=dt.UTC),
        "medium",
        tzinfo=zone or dt.UTC,
        locale=locale or str(get_locale() or "en"),
    )
    offset = moment.strftime("%z") if zone is not None else ""
    return f"{shown} (UTC{offset[:3]}:{offset[3:]})" if offset else shown


@dataclass
class Section:
    heading: str | LazyString
    rows: list[Row] = field(default_factory=list)


EXIF_LABELS: dict[str, LazyString] = {
    "make": _l("Camera make"),
    "model": _l("Camera model"),
    "software": _l("Software"),
}
PDF_LABELS: dict[str, LazyString] = {
    "title": _l("Title"),
    "author": _l("Author"),
    "subject": _l("Subject"),
    "keywords": _l("Keywords"),
    "creator": _l("Created with"),
    "producer": _l("Produced by"),
}
PDF_DATES: dict[str, LazyString] = {"creationdate": _l("Created"), "moddate": _l("Modified")}
EXIF_HIDDEN = frozenset(
    {
        "gps",
        "gps_latitude",
        "gps_latitude_ref",
        "gps_longitude",
        "gps_longitude_ref",
        "original_time",
        "original_time_offset",
        "gps_altitude",
    }
)


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _label(key: str) -> str:
    return key.replace("_", " ")


def _exif_rows(exif: dict[str, Any]) -> Iterable[Row]:
    place = position(exif)
    if place is not None:
        yield Row(_l("Location (GPS)"), place=place)
    else:
        for key in ("gps_latitude", "gps_longitude"):
            if key in exif:  # present but not a position: shown as stored
                ref = exif.get(f"{key}_ref", "")
                yield Row(_label(key), f"{_text(exif[key])} {_text(ref)}".strip())
    if "gps_altitude" in exif:
        metres = rational(exif["gps_altitude"])
        shown = f"{float(metres):.1f} m" if metres is not None else _text(exif["gps_altitude"])
        yield Row(_l("Altitude"), shown)
    if "original_time" in exif:
        taken = exif_time(exif["original_time"], exif.get("original_time_offset"))
        yield Row(_l("Taken (DateTimeOriginal)"), _text(exif["original_time"]), time=taken)
    for key, value in exif.items():
        if key not in EXIF_HIDDEN:
            yield Row(EXIF_LABELS.get(key, _label(key)), _text(value))


def _pdf_rows(pdf: dict[str, Any]) -> Iterable[Row]:
    if "pages" in pdf:
        yield Row(_l("Pages"), _text(pdf["pages"]))
    info = pdf.get("info")
    for key, value in (info if isinstance(info, dict) else {}).items():
        if key in PDF_DATES:
            yield Row(PDF_DATES[key], _text(value), time=pdf_time(value))
        else:
            yield Row(PDF_LABELS.get(key, _label(key)), _text(value))
    if pdf.get("text_excerpt"):
        yield Row(_l("Text (beginning)"), _text(pdf["text_excerpt"]))


def sections(extracted: dict[str, Any]) -> list[Section]:
    """What the item page shows of an item's embedded metadata, section by section."""
    found: list[Section] = []
    image = extracted.get("image")
    if isinstance(image, dict) and "width" in image and "height" in image:
        size = f"{image['width']} \u00d7 {image['height']}"  # the multiplication sign
        found.append(Section(_l("Image"), [Row(_l("Size in pixels"), size)]))
    exif = extracted.get("exif")
    if isinstance(exif, dict) and exif:
        found.append(Section(_l("Photo (EXIF)"), list(_exif_rows(exif))))
    pdf = extracted.get("pdf")
    if isinstance(pdf, dict) and pdf:
        found.append(Section(_l("PDF document"), list(_pdf_rows(pdf))))
    media = extracted.get("media")
    if isinstance(media, dict) and media:
        rows = [Row(_label(key), _text(value)) for key, value in media.items()]
        found.append(Section(_l("Audio or video"), rows))
    known = {"image", "exif", "pdf", "media"}
    others = [Row(_label(key), _text(v)) for key, v in extracted.items() if key not in known]
    if others:
        found.append(Section(_l("Other"), others))
    return found
