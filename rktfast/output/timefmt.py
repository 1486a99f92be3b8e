"""Times and sizes as rkt prints them.

* ``go_time``: Go's ``Time.Format("2006-01-02 15:04:05.999 -0700 MST")`` in the local zone:
  up to three fraction digits (truncated, trailing zeros and a lone dot dropped).
* ``relative_time``: go-humanize's ``Time`` (``now``, ``3 minutes ago``, ``a long while ago``;
  ``… from now`` for future times).
* ``format_size``: go-humanize's ``IBytes`` as vendored by rkt (no space: ``1.5KiB``).
"""

from __future__ import annotations

import math
import time as _time

ZERO_TIME = "0001-01-01 00:00:00 +0000 UTC"

_SECOND = 10**9
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_WEEK = 7 * _DAY
_MONTH = 30 * _DAY
_YEAR = 12 * _MONTH
_LONG_TIME = 37 * _YEAR

# (upper bound exclusive, format, divisor) - go-humanize's defaultMagnitudes.
_MAGNITUDES: tuple[tuple[int, str, int], ...] = (
    (_SECOND, "now", 1),
    (2 * _SECOND, "1 second %s", 1),
    (_MINUTE, "%d seconds %s", _SECOND),
    (2 * _MINUTE, "1 minute %s", 1),
    (_HOUR, "%d minutes %s", _MINUTE),
    (2 * _HOUR, "1 hour %s", 1),
    (_DAY, "%d hours %s", _HOUR),
    (2 * _DAY, "1 day %s", 1),
    (_WEEK, "%d days %s", _DAY),
    (2 * _WEEK, "1 week %s", 1),
    (_MONTH, "%d weeks %s", _WEEK),
    (2 * _MONTH, "1 month %s", 1),
    (_YEAR, "%d months %s", _MONTH),
    (18 * _MONTH, "1 year %s", 1),
    (2 * _YEAR, "2 years %s", 1),
    (_LONG_TIME, "%d years %s", _YEAR),
)


def go_time(ns: int | None) -> str:
    """Format a Unix time in nanoseconds with rkt's layout in the local time zone.

    ``None`` (Go's zero ``time.Time``) gives ``0001-01-01 00:00:00 +0000 UTC``.
    """
    if ns is None:
        return ZERO_TIME
    ns = int(ns)
    sec, frac = divmod(ns, _SECOND)
    tm = _time.localtime(sec)
    ms = frac // 1_000_000
    fraction = f".{ms:03d}".rstrip("0") if ms else ""
    off = tm.tm_gmtoff or 0
    sign = "-" if off < 0 else "+"
    off = abs(off) // 60
    zone = tm.tm_zone or f"{sign}{off // 60:02d}{off % 60:02d}"
    return (f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d} "
            f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}{fraction} "
            f"{sign}{off // 60:02d}{off % 60:02d} {zone}")


def humanize_ns(then_ns: int, now_ns: int) -> str:
    """go-humanize ``RelTime(then, now, "ago", "from now")`` on nanosecond timestamps."""
    label = "ago"
    diff = now_ns - then_ns
    if then_ns > now_ns:
        label = "from now"
        diff = then_ns - now_ns
    for bound, fmt, div in _MAGNITUDES:
        if bound > diff:
            if fmt == "now":
                return fmt
            if "%d" in fmt:
                return fmt % (diff // div, label)
            return fmt % label
    return f"a long while {label}"


def relative_time(then: float, now: float | None = None) -> str:
    """go-humanize ``Time(then)`` for Unix times in seconds (``now`` defaults to the clock)."""
    if now is None:
        now = _time.time()
    return humanize_ns(round(then * 1e9), round(now * 1e9))


_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_size(n: int) -> str:
    """go-humanize ``IBytes`` without the space: ``5B``, ``1.5KiB``, ``12MiB``."""
    n = int(n)
    if n < 10:
        return f"{n}B"
    e = (n.bit_length() - 1) // 10  # floor(log1024(n)), exactly
    val = math.floor(float(n) / float(1024**e) * 10 + 0.5) / 10
    return f"{val:.1f}{_SIZE_UNITS[e]}" if val < 10 else f"{val:.0f}{_SIZE_UNITS[e]}"
