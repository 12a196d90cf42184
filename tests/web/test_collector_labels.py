"""The collector's times read as dates in the reader's language: the time collected in UTC,
and the time as the collector entered it, in its own offset (issue 11)."""

from __future__ import annotations

import pytest

from casefile import create_app
from casefile.web.labels import collector_label, collector_value
from tests.factories import make_settings


@pytest.fixture
def app(tmp_path):
    return create_app(make_settings(tmp_path))


@pytest.mark.parametrize(
    ("language", "label", "entered", "utc"),
    [
        ("en", "Collected at, as entered (the collector's local time)",
         "Aug 30, 2017, 9:15:00\u202fAM (UTC+06:30)", "August 30, 2017, 2:45:00\u202fAM UTC"),
        ("my", "စုဆောင်းခဲ့သည့် အချိန်၊ ထည့်သွင်းခဲ့သည့်အတိုင်း (စုဆောင်းသူ၏ ဒေသစံတော်ချိန်)",
         "2017 ဩ 30 9:15:00 (UTC+06:30)", "2017 ဩဂုတ် 30 UTC 02:45:00"),
    ],
)  # fmt: skip
def test_times_collected_read_as_dates(app, language, label, entered, utc):
    with app.test_request_context(headers={"Accept-Language": language}):
        assert collector_label("collected_at_entered") == label
        value = collector_value("collected_at_entered", "2017-08-30T09:15:00+06:30")
        assert value.replace("\u202f", " ") == entered.replace("\u202f", " ")
        shown = collector_value("collected_at", "2017-08-30T02:45:00+00:00")
        assert shown.replace("\u202f", " ") == utc.replace("\u202f", " ")


def test_a_time_that_is_not_one_is_shown_as_given(app):
    with app.test_request_context():
        assert collector_value("collected_at_entered", "last Tuesday") == "last Tuesday"
        assert collector_label("unknown_key") == "unknown key"
