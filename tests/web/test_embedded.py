"""The embedded-metadata presenter (casefile/web/embedded.py): GPS rationals to signed decimal
degrees, EXIF and PDF dates, bad data shown as stored and never an error."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from casefile.vault import exif
from casefile.web import embedded


@pytest.mark.parametrize(("value", "ref", "axis", "expected"), [
    ("[20, 49, 753/25]", "N", "lat", "20.825033"),
    ("[20, 49, 753/25]", "S", "lat", "-20.825033"),
    ("[92, 34, 12]", "E", "lon", "92.570000"),
    ("[92, 34, 12]", "W", "lon", "-92.570000"),
    ("[92, 34, 12]", "w", "lon", "-92.570000"),
    ([20.0, 56.0, 24.0], "N", "lat", "20.940000"),
    (["20/1", "56/1", "2400/100"], "N", "lat", "20.940000"),
    ("[20, 49, 753/25]", "", "lat", "20.825033"),  # no reference: as positive
    ("[0, 0, 0]", "S", "lat", "0.000000"),
    ("[180, 0, 0]", "W", "lon", "-180.000000"),
])
def test_gps_to_signed_decimal_degrees(value, ref, axis, expected):
    assert exif.decimal_degrees(value, ref, axis) == expected


@pytest.mark.parametrize(("value", "ref", "axis"), [
    ("[20, 49, 753/0]", "N", "lat"),  # division by zero
    ("[20, 60, 0]", "N", "lat"),  # 60 minutes
    ("[20, 0, 61]", "N", "lat"),
    ("[91, 0, 0]", "N", "lat"),
    ("[181, 0, 0]", "E", "lon"),
    ("[20, 49, 753/25]", "E", "lat"),  # a longitude's reference on a latitude
    ("[20, 49, 753/25]", "X", "lat"),
    ("[-20, 49, 1]", "N", "lat"),
    ("[a, b, c]", "N", "lat"),
    ("20, 49, 1", "N", "lat"),
    ("[]", "N", "lat"),
    ("[1, 2, 3, 4]", "N", "lat"),
    (None, "N", "lat"),
    ({"deg": 20}, "N", "lat"),
    ([True, 0, 0], "N", "lat"),
    ([float("nan"), 0, 0], "N", "lat"),
])
def test_gps_that_is_not_a_position_gives_none(value, ref, axis):
    assert exif.decimal_degrees(value, ref, axis) is None


def test_rationals():
    assert exif.rational("753/25") == Fraction(753, 25)
    assert exif.rational(" 20 ") == 20
    assert exif.rational("20.5") == Fraction(41, 2)
    assert exif.rational("1/0") is None and exif.rational("x") is None


def test_position_and_map_links():
    place = exif.position({"gps_latitude": "[20, 56, 24]", "gps_latitude_ref": "N",
                               "gps_longitude": "[92, 34, 12]", "gps_longitude_ref": "W"})
    assert place == exif.Position("20.940000", "-92.570000")
    assert place.map_url == ("https://www.openstreetmap.org/?mlat=20.940000&mlon=-92.570000"
                             "#map=16/20.940000/-92.570000")
    assert place.geo_uri == "geo:20.940000,-92.570000"
    # The raw values do not parse: the decimals intake computed, checked.
    assert exif.position({"gps_latitude": "junk", "gps": {"lat": "-20.94", "lon": "92.57"}}) \
        == exif.Position("-20.940000", "92.570000")
    assert exif.position({"gps": {"lat": "200", "lon": "92.57"}}) is None
    assert exif.position({}) is None


def test_exif_times():
    assert exif.exif_time("2024:03:05 14:22:10") == dt.datetime(2024, 3, 5, 14, 22, 10)  # noqa: DTZ001
    aware = exif.exif_time("2024:03:05 14:22:10", "+06:30")
    assert aware == dt.datetime(2024, 3, 5, 14, 22, 10,
                                tzinfo=dt.timezone(dt.timedelta(hours=6, minutes=30)))
    assert exif.exif_time("2024:03:05 14:22:10", "-05:00").utcoffset() == dt.timedelta(hours=-5)
    assert exif.exif_time("2024:03:05 14:22:10", "garbage").tzinfo is None
    for bad in ("0000:00:00 00:00:00", "2024-03-05", "", None, 20240305):
        assert exif.exif_time(bad) is None


def test_pdf_times():
    assert embedded.pdf_time("D:20240305142210+06'30'") == dt.datetime(
        2024, 3, 5, 14, 22, 10, tzinfo=dt.timezone(dt.timedelta(hours=6, minutes=30)))
    assert embedded.pdf_time("D:20240305142210Z") == dt.datetime(2024, 3, 5, 14, 22, 10,
                                                                 tzinfo=dt.UTC)
    assert embedded.pdf_time("D:20240305142210-05'00") .utcoffset() == dt.timedelta(hours=-5)
    assert embedded.pdf_time("D:2024") == dt.datetime(2024, 1, 1)  # noqa: DTZ001
    for bad in ("D:20241305", "20240305", "D:2024030514221", "", None):
        assert embedded.pdf_time(bad) is None


def test_local_time_keeps_the_recorded_clock_and_offset():
    moment = exif.exif_time("2024:03:05 14:22:10", "+06:30")
    assert embedded.local_time(moment, "en") == "Mar 5, 2024, 2:22:10\u202fPM (UTC+06:30)"
    naive = embedded.local_time(exif.exif_time("2024:03:05 14:22:10"), "en")
    assert naive == "Mar 5, 2024, 2:22:10\u202fPM"
    assert "2024" in embedded.local_time(moment, "my")


def test_sections_never_fail_on_odd_data(app):
    odd = {"exif": {"gps_latitude": "[1, 2]", "gps_latitude_ref": 5, "original_time": "soon",
                    "gps_altitude": "12/0", "make": ["a"]},
           "pdf": {"pages": "x", "info": {"creationdate": "yesterday", "title": "It\u2019s 'x'"}},
           "media": {"codec": None}, "error": "extraction failed: boom"}
    with app.test_request_context():
        found = embedded.sections(odd)
        rows = {str(row.label): row for section in found for row in section.rows}
    assert rows["gps latitude"].text == "[1, 2] 5" and rows["Altitude"].text == "12/0"
    assert rows["Taken (DateTimeOriginal)"].time is None
    assert rows["Created"].text == "yesterday" and rows["Created"].time is None
    assert rows["Title"].text == "It\u2019s 'x'"
    assert rows["error"].text == "extraction failed: boom"
    assert embedded.raw_json({"t": "It's ဗမာ"}) == '{\n  "t": "It\'s ဗမာ"\n}'
