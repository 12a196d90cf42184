"""What a photo's EXIF says of where and when it was taken, as intake stored it
(casefile/vault/extract.py): GPS degrees/minutes/seconds and their references as signed
decimal degrees, EXIF date-times with their offsets. Pure functions over the stored JSON; a
value that does not parse gives None, never an error. Used by the item page
(casefile/web/embedded.py) and the case map (casefile/logic/maps/)."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

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
    top, bottom = match.group(1), match.group(2) or "1"
    if "." not in top and "." not in bottom:  # the usual "753/25": whole numbers, parsed fast
        numerator, denominator = Fraction(int(top)), Fraction(int(bottom))
    else:
        numerator, denominator = Fraction(top), Fraction(bottom)
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
