"""The map's reading of positions and dates (logic/maps/points.py), without a database:
coordinates out of range, not finite or not numbers are no position; an item's position comes
from its EXIF first, then its collector; its date from the photo, the collector, then its
receipt; a period meets a point or an incident's range as the filter says."""

from __future__ import annotations

import datetime as dt

import pytest

from casefile.logic.errors import ValidationFailed
from casefile.logic.maps.points import MapFilter, checked_position, item_date, item_position

EXIF = {
    "gps_latitude": "[20, 56, 24]", "gps_latitude_ref": "N",
    "gps_longitude": "[92, 34, 12]", "gps_longitude_ref": "E",
    "original_time": "2017:08:30 09:15:00",
}
RECEIVED = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("lat", "lon", "expected"), [
    (20.94, 92.57, (20.94, 92.57)),
    ("-20.9400004", "92.5700004", (-20.94, 92.57)),
    (90, -180, (90.0, -180.0)),
    (90.0001, 92, None),
    (20, 180.5, None),
    (float("nan"), 92, None),
    (20, float("inf"), None),
    (True, 92, None),
    ("north", 92, None),
    (None, 92, None),
    ([20], 92, None),
])
def test_checked_position(lat, lon, expected):
    assert checked_position(lat, lon) == expected


def test_the_exif_position_comes_first_then_the_collectors():
    collector = {"lat": 21.1, "lon": 92.9}
    assert item_position({"exif": EXIF}, collector) == (20.94, 92.57, "exif")
    assert item_position({}, collector) == (21.1, 92.9, "collector")
    south_pole_plus = {**EXIF, "gps_latitude": "[95, 0, 0]"}  # not a position: the collector's
    assert item_position({"exif": south_pole_plus}, collector) == (21.1, 92.9, "collector")
    assert item_position({"exif": south_pole_plus}, {}) is None
    assert item_position({"exif": "junk"}, {"lat": "x", "lon": 3}) is None
    assert item_position({}, {"lat": 21.1}) is None  # half a position is none


def test_an_items_date_taken_collected_or_received():
    assert item_date({"exif": EXIF}, {}, RECEIVED) == (dt.date(2017, 8, 30), "taken")
    collected = {"collected_at": "2017-09-02T10:00:00+06:30"}
    assert item_date({}, collected, RECEIVED) == (dt.date(2017, 9, 2), "collected")
    assert item_date({"exif": {"original_time": "yesterday"}}, {"collected_at": "soon"},
                     RECEIVED) == (dt.date(2026, 11, 2), "received")


def test_a_period_meets_dates_and_ranges():
    august = MapFilter(since=dt.date(2017, 8, 1), until=dt.date(2017, 8, 31))
    assert august.meets(dt.date(2017, 8, 1)) and august.meets(dt.date(2017, 8, 31))
    assert not august.meets(dt.date(2017, 9, 1)) and not august.meets(dt.date(2017, 7, 31))
    assert august.meets(dt.date(2017, 7, 20), dt.date(2017, 8, 2))  # a range reaching into it
    assert not august.meets(None)  # undated: only without a period
    assert MapFilter().meets(None)
    assert MapFilter(since=dt.date(2017, 8, 1)).meets(dt.date(2030, 1, 1))


@pytest.mark.parametrize(("where", "field"), [
    (MapFilter(show="maps"), "show"),
    (MapFilter(kind="image"), "kind"),
    (MapFilter(category="massacre"), "category"),
    (MapFilter(since=dt.date(2017, 9, 1), until=dt.date(2017, 8, 1)), "until"),
])
def test_bad_filters_are_refused(where, field):
    with pytest.raises(ValidationFailed) as refused:
        where.check()
    assert field in refused.value.fields
