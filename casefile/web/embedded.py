"""Embedded metadata (what casefile/vault/extract.py read from a file at intake) as people read
it: GPS positions in signed decimal degrees with a link to a map, EXIF and PDF dates as dates,
text as written. Pure functions over the stored JSON; a value that does not parse is shown as
stored, never an error. The stored JSON itself stays on the page behind a disclosure."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from babel.dates import format_datetime
from flask_babel import LazyString, get_locale
from flask_babel import lazy_gettext as _l

# --- conversions ----------------------------------------------------------------------------

_NUMBER = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)\s*)?$")
LIMITS = {"lat": 90, "lon": 180}
NEGATIVE = {"lat": ("S",), "lon": ("W",)}
REFS = {"lat": ("N", "S"), "lon": ("E", "W")}


def rational(value: object) -> Fraction | None:
    """An EXIF rational as stored: 20, 20.5, "753/25" (None: not a finite number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    match = _NUMBER.match(value)
    if match is None:
        return None
    numerator, denominator = Fraction(match.group(1)), Fraction(match.group(2) or 1)
    return None if denominator == 0 else numerator / denominator


def dms(value: object) -> list[Fraction] | None:
    """Degrees, minutes, seconds from "[20, 49, 753/25]" (exifread's text) or a list."""
    if isinstance(value, str):
        text = value.strip()
        if not (text.startswith("[") and text.endswith("]")):
            return None
        parts: list[object] = list(text[1:-1].split(","))
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        return None
    numbers = [rational(part) for part in parts]
    if not 1 <= len(numbers) <= 3 or any(number is None for number in numbers):
        return None
    return [number for number in numbers if number is not None]


def decimal_degrees(value: object, ref: object, axis: str) -> str | None:
    """EXIF GPS degrees/minutes/seconds and their reference (N/S for "lat", E/W for "lon") as
    signed decimal degrees with 6 decimals ("20.823489"); None if they do not make a position
    (a minute or second of 60 or more, beyond 90 or 180 degrees, a reference of the other
    axis)."""
    parts = dms(value)
    if parts is None or any(part < 0 for part in parts):
        return None
    if any(part >= 60 for part in parts[1:]):
        return None
    total = sum(part / 60**power for power, part in enumerate(parts))
    direction = ref.strip().upper() if isinstance(ref, str) else ""
    if direction not in ("", *REFS[axis]):
        return None
    if total > LIMITS[axis]:
        return None
    if direction in NEGATIVE[axis]:
        total = -total
    return f"{float(total):.6f}"


def plain_degrees(value: object, axis: str) -> str | None:
    """A decimal position already signed ("-20.94"), checked and given 6 decimals."""
    number = rational(value)
    if number is None or abs(number) > LIMITS[axis]:
        return None
    return f"{float(number):.6f}"


@dataclass(frozen=True)
class Position:
    lat: str  # signed decimal degrees, 6 decimals
    lon: str

    @property
    def map_url(self) -> str:
        return (
            f"https://www.openstreetmap.org/?mlat={self.lat}&mlon={self.lon}"
            f"#map=16/{self.lat}/{self.lon}"
        )

    @property
    def geo_uri(self) -> str:
        return f"geo:{self.lat},{self.lon}"


def position(exif: dict[str, Any]) -> Position | None:
    """The photo's position: from the raw GPS rationals and references if they parse, else
    the decimal values intake computed."""
    lat = decimal_degrees(exif.get("gps_latitude"), exif.get("gps_latitude_ref"), "lat")
    lon = decimal_degrees(exif.get("gps_longitude"), exif.get("gps_longitude_ref"), "lon")
    computed = exif.get("gps")
    if (lat is None or lon is None) and isinstance(computed, dict):
        lat = lat or plain_degrees(computed.get("lat"), "lat")
        lon = lon or plain_degrees(computed.get("lon"), "lon")
    return Position(lat, lon) if lat is not None and lon is not None else None


_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def utc_offset(text: object) -> dt.timezone | None:
    """"+06:30" (EXIF OffsetTime*) as a time zone; None if it is not one."""
    if not isinstance(text, str):
        return None
    match = _OFFSET.match(text.strip())
    if match is None:
        return None
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3))
    if hours > 14 or minutes > 59:
        return None
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if sign == "-" else delta)


def exif_time(text: object, offset: object = None) -> dt.datetime | None:
    """"2024:03:05 14:22:10" (EXIF DateTime*), with its OffsetTime* if given; a time without
    an offset is the camera's clock, of no known zone (a naive datetime)."""
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.strptime(text.strip(), "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        return None
    zone = utc_offset(offset)
    return moment.replace(tzinfo=zone) if zone is not None else moment


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
