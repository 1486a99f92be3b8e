"""Go durations and Kubernetes quantities."""

import pytest

from rktfast.units import (
    QUANTITY_FORMAT_ERROR,
    QUANTITY_SUFFIX_ERROR,
    format_duration,
    parse_duration,
    parse_quantity,
    quantity_bytes,
    quantity_millis,
)

S = 10**9


@pytest.mark.parametrize("text, ns", [
    ("300ms", 300_000_000), ("1h30m", 5400 * S), ("0", 0), ("-1s", -S), ("+1m", 60 * S),
    ("1.5s", 1_500_000_000), (".5s", 500_000_000), ("1.1s", 1_100_000_000),
    ("2h45m3.25s", (2 * 3600 + 45 * 60 + 3) * S + 250_000_000), ("1us", 1000),
    ("1\u00b5s", 1000), ("1\u03bcs", 1000), ("5ns", 5), ("24h", 86400 * S),
    ("2562047h47m16.854775807s", (1 << 63) - 1),
])
def test_parse_duration(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text, msg", [
    ("", "time: invalid duration "),
    ("x", "time: invalid duration x"),
    ("1", "time: missing unit in duration 1"),
    ("1d", "time: unknown unit d in duration 1d"),
    ("--1s", "time: invalid duration --1s"),
    ("2562048h", "time: invalid duration 2562048h"),
])
def test_parse_duration_errors(text, msg):
    with pytest.raises(ValueError) as e:
        parse_duration(text)
    assert str(e.value) == msg


@pytest.mark.parametrize("ns, text", [
    (0, "0s"), (1_500_000_000, "1.5s"), (1800 * S, "30m0s"), (86400 * S, "24h0m0s"),
    (300_000_000, "300ms"), (-S, "-1s"), (5, "5ns"), (1500, "1.5\u00b5s"),
    (3600 * S + 500_000_000, "1h0m0.5s"), (61 * S, "1m1s"), ((1 << 63) - 1,
                                                           "2562047h47m16.854775807s"),
])
def test_format_duration_like_go(ns, text):
    assert format_duration(ns) == text


@pytest.mark.parametrize("text, value, milli, canonical", [
    ("500m", 1, 500, "500m"), ("2", 2, 2000, "2"), ("100", 100, 100_000, "100"),
    ("128M", 128_000_000, 128_000_000_000, "128M"), ("1Gi", 1 << 30, 1000 << 30, "1Gi"),
    ("1.5Gi", 3 << 29, 1000 * (3 << 29), "1536Mi"), ("268435456", 268435456, 268435456000,
                                                     "268435456"),
    ("1000M", 10**9, 10**12, "1G"), ("16m", 1, 16, "16m"), ("1e3", 1000, 10**6, "1e3"),
    ("1.5e3", 1500, 1_500_000, "1500"), ("0.5Ki", 512, 512_000, "512"),
    ("1024Ki", 1 << 20, 1000 << 20, "1Mi"), ("0", 0, 0, "0"), ("1500000", 1_500_000,
                                                                1_500_000_000, "1500k"),
    ("0.0000000001", 1, 1, "1n"), ("4k", 4000, 4_000_000, "4k"),
])
def test_quantities(text, value, milli, canonical):
    q = parse_quantity(text)
    assert q.value() == value
    assert q.milli_value() == milli
    assert str(q) == canonical


def test_quantity_helpers():
    assert quantity_bytes("1Mi") == 1048576
    assert quantity_millis("500m") == 500
    assert quantity_millis("2") == 2000


@pytest.mark.parametrize("text, msg", [
    ("abc", QUANTITY_FORMAT_ERROR), ("", QUANTITY_FORMAT_ERROR), ("1.5.5", QUANTITY_FORMAT_ERROR),
    ("1Q", QUANTITY_FORMAT_ERROR), ("1Ki2", QUANTITY_SUFFIX_ERROR), ("1ee3", QUANTITY_SUFFIX_ERROR),
])
def test_quantity_errors(text, msg):
    with pytest.raises(ValueError) as e:
        parse_quantity(text)
    assert str(e.value) == msg
