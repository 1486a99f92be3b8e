"""Go durations and Kubernetes resource quantities, parsed and printed like rkt's Go code.

* ``parse_duration``/``format_duration``: ``time.ParseDuration`` and ``Duration.String``
  (``300ms``, ``1h30m``, ``-1.5s`` in; ``30m0s``, ``24h0m0s``, ``1.5s``, ``0s`` out), in
  integer nanoseconds.
* ``parse_quantity``: ``resource.ParseQuantity`` from the Kubernetes package appc vendors
  (``500m``, ``128M``, ``1Gi``, ``1e3``, ``268435456``) with ``Quantity.value()`` (rounded up
  to a whole unit, as ``Value()``), ``milli_value()`` and ``str()`` (canonical form, as
  ``String()``, which is what appc writes into isolators).

Error messages are Go's (rkt 1.30 was built with Go 1.10: durations are unquoted).
"""

from __future__ import annotations

_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_MAX_INT64 = (1 << 63) - 1


def _fraction_ns(frac: str, unit: int) -> int:
    # Go's leadingFraction + float64 scaling: digits past int64 precision are ignored.
    f, scale = 0, 1.0
    for ch in frac:
        if f > _MAX_INT64 // 10:
            break
        f = f * 10 + ord(ch) - 48
        scale *= 10
    return int(float(f) * (float(unit) / scale))


def parse_duration(s: str) -> int:
    """Go ``time.ParseDuration``: nanoseconds. Raises ``ValueError`` with Go's message."""
    orig = s
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {orig}")
    total = 0
    i = 0
    n = len(s)
    while i < n:
        if not (s[i] == "." or s[i].isdigit()):
            raise ValueError(f"time: invalid duration {orig}")
        start = i
        while i < n and "0" <= s[i] <= "9":
            i += 1
        whole = s[start:i]
        frac = ""
        if i < n and s[i] == ".":
            i += 1
            fstart = i
            while i < n and "0" <= s[i] <= "9":
                i += 1
            frac = s[fstart:i]
        if not whole and not frac:
            raise ValueError(f"time: invalid duration {orig}")
        ustart = i
        while i < n and s[i] != "." and not ("0" <= s[i] <= "9"):
            i += 1
        unit_name = s[ustart:i]
        if not unit_name:
            raise ValueError(f"time: missing unit in duration {orig}")
        unit = _NS.get(unit_name)
        if unit is None:
            raise ValueError(f"time: unknown unit {unit_name} in duration {orig}")
        v = int(whole or "0")
        if v > _MAX_INT64 // unit:
            raise ValueError(f"time: invalid duration {orig}")
        v *= unit
        if frac:
            v += _fraction_ns(frac, unit)
        total += v
        if total > _MAX_INT64:
            raise ValueError(f"time: invalid duration {orig}")
    return -total if neg else total


def _fmt_frac(v: int, prec: int) -> tuple[str, int]:
    # Go's fmtFrac: the fraction of v/10**prec without trailing zeros, and the integer part.
    digits = []
    printed = False
    for _ in range(prec):
        d = v % 10
        printed = printed or d != 0
        if printed:
            digits.append(str(d))
        v //= 10
    frac = "." + "".join(reversed(digits)) if printed else ""
    return frac, v


def format_duration(ns: int) -> str:
    """Go ``Duration.String``: ``0s``, ``1.5s``, ``30m0s``, ``24h0m0s``, ``300ms``, ``-1s``."""
    ns = int(ns)
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000_000_000:
        if u == 0:
            return "0s"
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            frac, whole = _fmt_frac(u, 3)
            return f"{sign}{whole}{frac}\u00b5s"
        frac, whole = _fmt_frac(u, 6)
        return f"{sign}{whole}{frac}ms"
    frac, secs = _fmt_frac(u, 9)
    out = f"{secs % 60}{frac}s"
    mins = secs // 60
    if mins > 0:
        out = f"{mins % 60}m{out}"
        hours = mins // 60
        if hours > 0:
            out = f"{hours}h{out}"
    return sign + out


# --- Kubernetes quantities ----------------------------------------------------------------

QUANTITY_FORMAT_ERROR = ("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
QUANTITY_NUMERIC_ERROR = "unable to parse numeric part of quantity"
QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix"

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

_DEC_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
                 "E": 18}
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_BY_EXP = {v: k for k, v in _DEC_SUFFIXES.items()}
_BIN_BY_EXP = {v: k for k, v in _BIN_SUFFIXES.items()}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")


class Quantity:
    """A Kubernetes resource quantity: ``unscaled * 10**scale`` in a display ``format``."""

    __slots__ = ("unscaled", "scale", "format", "_text")

    def __init__(self, unscaled: int, scale: int, fmt: str, text: str | None = None):
        self.unscaled = unscaled
        self.scale = scale
        self.format = fmt
        self._text = text  # the input, when Go keeps it as the canonical string

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self._cmp_key() == other._cmp_key()

    def __hash__(self) -> int:
        return hash(self._cmp_key())

    def _cmp_key(self) -> tuple[int, int]:
        u, s = self.unscaled, self.scale
        if u == 0:
            return (0, 0)
        while u % 10 == 0:
            u //= 10
            s += 1
        return (u, s)

    def _abs_below(self, n: int) -> bool:
        if self.scale >= 0:
            return abs(self.unscaled) * 10**self.scale < n
        return abs(self.unscaled) < n * 10**-self.scale

    def _is_whole(self) -> bool:
        return self.scale >= 0 or self.unscaled % 10**-self.scale == 0

    def scaled_value(self, scale: int) -> int:
        """The value in units of ``10**scale``, rounded away from zero (Go ``ScaledValue``)."""
        diff = self.scale - scale
        if diff >= 0:
            return self.unscaled * 10**diff
        q, r = divmod(abs(self.unscaled), 10**-diff)
        if r:
            q += 1
        return q if self.unscaled >= 0 else -q

    def value(self) -> int:
        """Whole units, rounded up (``Quantity.Value()``): bytes for memory, cores for cpu."""
        return self.scaled_value(0)

    def milli_value(self) -> int:
        """Thousandths, rounded up (``Quantity.MilliValue()``): millicores for cpu."""
        return self.scaled_value(-3)

    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        return self.canonical()

    def canonical(self) -> str:
        """Go's ``CanonicalizeBytes``: ``500m``, ``1500``, ``1G``, ``1536Mi``, ``1e3``."""
        if self.unscaled == 0:
            return "0"
        fmt = self.format
        if fmt == BINARY_SI and (self._abs_below(1024) or not self._is_whole()):
            # Small or fractional binary quantities print in decimal, as in Go.
            fmt = DECIMAL_SI
        if fmt == BINARY_SI:
            whole = self.scaled_value(0)
            exp = 0
            while whole % 1024 == 0 and exp < 6:
                whole //= 1024
                exp += 1
            return f"{whole}{_BIN_BY_EXP.get(exp * 10, '')}"
        amount, exp = self.unscaled, self.scale
        while amount % 10 == 0:
            amount //= 10
            exp += 1
        r = exp % 3
        amount *= 10**r
        exp -= r
        if fmt == DECIMAL_EXPONENT:
            return f"{amount}e{exp}" if exp else str(amount)
        return f"{amount}{_DEC_BY_EXP.get(exp, '')}"


def _split_quantity(s: str) -> tuple[bool, str, str, str, str]:
    # Go's parseQuantityString: sign, value text, numerator, denominator, suffix.
    positive = True
    pos, end = 0, len(s)
    if pos < end and s[0] in "+-":
        positive = s[0] != "-"
        pos += 1
    while pos < end and s[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    i = pos
    while i < end and s[i] in _DIGITS:
        i += 1
    num = s[pos:i] or "0"
    if i >= end:
        return positive, s, num, "", ""
    pos = i
    denom = ""
    if s[pos] == ".":
        pos += 1
        i = pos
        while i < end and s[i] in _DIGITS:
            i += 1
        denom = s[pos:i]
        if i >= end:
            return positive, s, num, denom, ""
        pos = i
    value = s[:pos]
    suffix_start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise ValueError(QUANTITY_FORMAT_ERROR)
    return positive, value, num, denom, s[suffix_start:]


def parse_quantity(s: str) -> Quantity:
    """Go ``resource.ParseQuantity``. Raises ``ValueError`` with Kubernetes' messages."""
    if not s:
        raise ValueError(QUANTITY_FORMAT_ERROR)
    if s == "0":
        return Quantity(0, 0, DECIMAL_SI, s)
    positive, value, num, denom, suffix = _split_quantity(s)
    if suffix in _DEC_SUFFIXES:
        base, exponent, fmt = 10, _DEC_SUFFIXES[suffix], DECIMAL_SI
    elif suffix in _BIN_SUFFIXES:
        base, exponent, fmt = 2, _BIN_SUFFIXES[suffix], BINARY_SI
    elif len(suffix) > 1 and suffix[0] in "eE":
        try:
            exponent = int(suffix[1:], 10)
        except ValueError:
            raise ValueError(QUANTITY_SUFFIX_ERROR) from None
        base, fmt = 10, DECIMAL_EXPONENT
    else:
        raise ValueError(QUANTITY_SUFFIX_ERROR)

    digits = int(num + denom)
    if not positive:
        digits = -digits
    if base == 10:
        unscaled, scale = digits, exponent - len(denom)
    else:
        unscaled, scale = digits << exponent, -len(denom)

    # Go's int64 fast path keeps canonical-looking input verbatim as the String() form.
    precision = 18 - (len(num) + len(denom))
    if base == 2:
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1 if not denom else -1
    text = None
    if precision >= 0 and scale >= -9 and abs(unscaled) < (1 << 63):
        shifted = num + denom
        if base == 2:
            if exponent % 10 == 0 and int(shifted) & 7:
                text = s
        elif scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
            text = s
        return Quantity(unscaled, scale, fmt, text)

    if value.lstrip("+-") in ("", "."):
        raise ValueError(QUANTITY_NUMERIC_ERROR)
    # Slow path (Go's inf.Dec): round non-zero values up to whole nanounits.
    if scale < -9:
        q, r = divmod(abs(unscaled), 10 ** (-9 - scale))
        if r:
            q += 1
        unscaled = q if unscaled >= 0 else -q
        scale = -9
    q = Quantity(unscaled, scale, fmt)
    if fmt == BINARY_SI and q._abs_below(1024):
        q.format = DECIMAL_SI
    return q


def quantity_bytes(s: str) -> int:
    """Bytes of a memory quantity (``128M``, ``1Gi``, ``268435456``), rounded up."""
    return parse_quantity(s).value()


def quantity_millis(s: str) -> int:
    """Thousandths of a quantity (``500m`` -> 500, ``2`` -> 2000), rounded up: millicores."""
    return parse_quantity(s).milli_value()
