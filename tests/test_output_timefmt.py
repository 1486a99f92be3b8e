"""Absolute and relative times and sizes as rkt prints them."""

import calendar
import os
import time

import pytest

from rktfast.output.timefmt import format_size, go_time, humanize_ns, relative_time

S = 10**9


@pytest.fixture
def berlin():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def _ns(y, mo, d, h, mi, s, frac_ns=0):
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * S + frac_ns


@pytest.mark.parametrize("frac_ns, text", [
    (100_000_000, "2016-01-25 17:42:15.1 +0100 CET"),
    (120_000_000, "2016-01-25 17:42:15.12 +0100 CET"),
    (999_999_999, "2016-01-25 17:42:15.999 +0100 CET"),  # truncated, not rounded
    (0, "2016-01-25 17:42:15 +0100 CET"),
    (400_000, "2016-01-25 17:42:15 +0100 CET"),  # below a millisecond: no lone dot
])
def test_go_time_layout_in_local_zone(berlin, frac_ns, text):
    assert go_time(_ns(2016, 1, 25, 16, 42, 15, frac_ns)) == text


def test_go_time_summer_time_abbreviation(berlin):
    assert go_time(_ns(2017, 7, 1, 10, 0, 0)) == "2017-07-01 12:00:00 +0200 CEST"


def test_zero_time_is_gos_zero_value():
    assert go_time(None) == "0001-01-01 00:00:00 +0000 UTC"


@pytest.mark.parametrize("diff_ns, text", [
    (0, "now"),
    (999_999_999, "now"),
    (S, "1 second ago"),
    (2 * S, "2 seconds ago"),
    (59 * S, "59 seconds ago"),
    (60 * S, "1 minute ago"),
    (119 * S, "1 minute ago"),
    (120 * S, "2 minutes ago"),
    (3600 * S, "1 hour ago"),
    (7200 * S, "2 hours ago"),
    (86400 * S, "1 day ago"),
    (2 * 86400 * S, "2 days ago"),
    (7 * 86400 * S, "1 week ago"),
    (14 * 86400 * S, "2 weeks ago"),
    (30 * 86400 * S, "1 month ago"),
    (60 * 86400 * S, "2 months ago"),
    (360 * 86400 * S, "1 year ago"),
    (540 * 86400 * S, "2 years ago"),
    (720 * 86400 * S, "2 years ago"),
    (1080 * 86400 * S, "3 years ago"),
    (37 * 360 * 86400 * S, "a long while ago"),
])
def test_relative_time_magnitudes(diff_ns, text):
    now = 1_500_000_000 * S
    assert humanize_ns(now - diff_ns, now) == text


def test_relative_time_in_the_future():
    assert humanize_ns(130 * S, 0) == "2 minutes from now"
    assert relative_time(1000.0, 1000.5) == "now"
    assert relative_time(1000.0, 1003.0) == "3 seconds ago"


@pytest.mark.parametrize("n, text", [
    (0, "0B"), (5, "5B"), (9, "9B"), (10, "10B"), (1023, "1023B"), (1024, "1.0KiB"),
    (1536, "1.5KiB"), (10239, "10KiB"), (12 * 1024 * 1024, "12MiB"),
    (int(1.25 * 1024**3), "1.3GiB"), (5 * 1024**4, "5.0TiB"),
])
def test_format_size_like_go_humanize_ibytes(n, text):
    assert format_size(n) == text
