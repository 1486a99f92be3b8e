"""The ``a=b,c=d`` strings of rkt's flags, parsed the way rkt parses them (via URL queries).

appc's ``common.MakeQueryString`` URL-escapes each value of a comma-separated ``k=v`` list and
joins with ``&``; Go's ``url.ParseQuery`` then splits on ``&`` and ``;`` and unescapes. So
for ``--volume`` and image names a value is taken literally, while ``--mount`` (which only
replaces ``,`` by ``&``) unescapes ``%XX`` and ``+``. Go iterates the resulting map in random
order; we keep first-appearance order so errors are deterministic.
"""

from __future__ import annotations

from rktfast.output.goquote import go_quote

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_HEX = frozenset("0123456789abcdefABCDEF")


def query_escape(s: str) -> str:
    """Go ``url.QueryEscape``."""
    out = []
    for b in s.encode("utf-8", "surrogateescape"):
        c = chr(b)
        if c in _UNRESERVED:
            out.append(c)
        elif c == " ":
            out.append("+")
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def query_unescape(s: str) -> str:
    """Go ``url.QueryUnescape``; raises ``ValueError('invalid URL escape "%zz"')``."""
    if "%" not in s and "+" not in s:
        return s
    out = bytearray()
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "%":
            if i + 2 >= n or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                raise ValueError(f"invalid URL escape {go_quote(s[i:i + 3])}")
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
            continue
        out += b" " if c == "+" else c.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "replace")


def make_query_string(s: str) -> str:
    """appc ``common.MakeQueryString``: ``k=v,k2=v2`` -> ``k=v&k2=v2`` with values escaped."""
    parts = []
    for item in s.split(","):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"malformed string {go_quote(s)} - has a label without a value: {key}")
        parts.append(f"{key}={query_escape(value)}")
    return "&".join(parts)


def parse_query(query: str) -> dict[str, list[str]]:
    """Go ``url.ParseQuery`` (splitting on ``&`` and ``;``); the first error is raised."""
    values: dict[str, list[str]] = {}
    first_error: ValueError | None = None
    for item in query.replace(";", "&").split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        try:
            key = query_unescape(key)
            value = query_unescape(value)
        except ValueError as e:
            first_error = first_error or e
            continue
        values.setdefault(key, []).append(value)
    if first_error is not None:
        raise first_error
    return values


def single_values(values: dict[str, list[str]]) -> dict[str, str]:
    """One value per key, or rkt's ``label K with multiple values ["a" "b"]`` error."""
    out = {}
    for key, vals in values.items():
        if len(vals) > 1:
            quoted = " ".join(go_quote(v) for v in vals)
            raise ValueError(f"label {key} with multiple values [{quoted}]")
        out[key] = vals[0]
    return out
