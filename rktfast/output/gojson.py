"""JSON the way Go's ``encoding/json`` reads and writes it.

Writing (``dumps``): compact output has no spaces; ``pretty`` is ``json.MarshalIndent(v, "",
"\\t")`` (``{\\n\\t"k": v\\n}``, empty containers stay ``{}``/``[]``); strings escape ``<``, ``>``,
``&``, U+2028, U+2029 and control characters as ``\\u00XX`` (only ``\\n \\r \\t`` get short
forms); floats use Go's shortest formatting; a ``dict`` keeps its insertion order (a Go
struct), a ``GoMap`` is written with sorted keys (a Go map).

Reading (``loads``): objects come back as ``JsonObject`` (the key/value pairs in document
order, duplicates kept) and numbers as ``JsonNumber`` (their literal text), so a manifest
decoder can match keys case-insensitively like Go and re-emit raw values faithfully.
"""

from __future__ import annotations

from rktfast import fastjson

TYPE_CHECKING = False  # typing is not imported at run time
if TYPE_CHECKING:
    import json
    import re
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

# ``rkt run`` reads and writes manifests through this module: ``json``, ``re`` (and the
# ``enum`` it loads) and ``math`` cost ~20 ms to import, more than the rest of stage0's
# Python, so the common cases below use the C scanner (rktfast.fastjson) and plain ``str``
# tests, and leave those modules to the rare inputs that need them.

__all__ = [
    "GoMap", "JSONSyntaxError", "JsonNumber", "JsonObject", "RawJSON", "compact", "dumps",
    "fold_key", "get_ci", "go_float", "indent", "iter_fields_ci", "kind_of", "loads", "quote",
]


class JsonNumber(str):
    """A JSON number kept as its literal text (``1``, ``-0.5``, ``1e3``)."""

    __slots__ = ()

    def is_integer_literal(self) -> bool:
        """True if the literal has no fraction or exponent (what Go needs for int fields)."""
        return "." not in self and "e" not in self and "E" not in self


class JsonObject(list):
    """A decoded JSON object: ``[(key, value), …]`` in document order, duplicates kept."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, later duplicates winning (what Go does when decoding into a map)."""
        return dict(self)


class RawJSON(str):
    """Already-encoded JSON, written compacted (and HTML-escaped) like Go's ``RawMessage``."""

    __slots__ = ()


class GoMap(dict):
    """A dict written with its keys sorted, as Go writes a ``map[string]T``."""

    __slots__ = ()


class JSONSyntaxError(ValueError):
    """The input is not JSON. The message is Go's (one line); ``line``/``column`` locate it."""

    def __init__(self, message: str, line: int = 0, column: int = 0):
        super().__init__(message)
        self.line = line
        self.column = column


# --- reading -------------------------------------------------------------------------------

def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


_LONE_SURROGATE_ESCAPE = r"\\u[dD][89a-fA-F]"
_scan_once = None


def _loads_fast(text: str) -> tuple | None:
    global _scan_once
    if _scan_once is None:
        _scan_once = fastjson.scanner(JsonObject, JsonNumber, JsonNumber,
                                      _reject_constant) or False
    return fastjson.decode(_scan_once, text)


def loads(data: bytes | str) -> Any:
    """Decode JSON text into Python values with ``JsonObject`` objects and ``JsonNumber`` numbers.

    Raises ``JSONSyntaxError`` with a one-line message (``unexpected end of JSON input``,
    ``invalid character 'x' at line 1, column 3``) on malformed input.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        # Go replaces invalid UTF-8 inside strings with U+FFFD; outside strings it is a syntax
        # error, which U+FFFD also is for the decoder below.
        text = bytes(data).decode("utf-8", errors="replace")
    else:
        text = data
    fast = _loads_fast(text)
    if fast is not None:
        value = fast[0]
    else:
        import json

        try:
            value = json.loads(text, object_pairs_hook=JsonObject, parse_float=JsonNumber,
                               parse_int=JsonNumber, parse_constant=_reject_constant)
        except json.JSONDecodeError as e:
            raise _syntax_error(text, e) from None
        except ValueError as e:
            raise JSONSyntaxError(str(e)) from None
        except RecursionError:
            raise JSONSyntaxError("exceeded max depth") from None
    if "\\u" in text:
        import re

        if re.search(_LONE_SURROGATE_ESCAPE, text):
            value = _replace_surrogates(value)
    return value


_PY_TO_GO = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": "looking for beginning of object key "
                                                         "string",
    "Expecting ':' delimiter": "after object key",
    "Invalid control character at": "in string literal",
    "Invalid \\escape": "in string escape code",
    "Invalid \\uXXXX escape": "in \\u hexadecimal character escape",
}


def _go_char(ch: str) -> str:
    # Go's quoteChar: 'x', with Go escapes for the unprintable ones.
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return "'" + go_quote_char(ch) + "'"


def go_quote_char(ch: str) -> str:
    """``strconv.Quote(ch)`` without the surrounding double quotes."""
    from rktfast.output.goquote import go_quote

    return go_quote(ch)[1:-1]


def _segments(text: str):
    """``(is_string, piece)`` over JSON text in order: each string literal whole (quotes
    included; an unterminated one runs to the end) and the text between them."""
    i, n = 0, len(text)
    while i < n:
        q = text.find('"', i)
        if q < 0:
            yield False, text[i:]
            return
        if q > i:
            yield False, text[i:q]
        end = q
        while True:
            end = text.find('"', end + 1)
            if end < 0:
                yield True, text[q:]
                return
            b = end - 1
            while text[b] == "\\":  # stops at the opening quote at the latest
                b -= 1
            if (end - 1 - b) % 2 == 0:  # an even run of backslashes: the closing quote
                break
        yield True, text[q:end + 1]
        i = end + 1


def _inside_array(text: str, pos: int) -> bool:
    # Is ``pos`` directly inside an array (rather than an object)? Only used for messages.
    stack: list[str] = []
    for is_string, piece in _segments(text[:pos]):
        if is_string:
            continue
        for ch in piece:
            if ch in "[{":
                stack.append(ch)
            elif ch in "]}" and stack:
                stack.pop()
    return bool(stack) and stack[-1] == "["


def _syntax_error(text: str, e: json.JSONDecodeError) -> JSONSyntaxError:
    pos = e.pos
    if e.msg.startswith("Unterminated string") or pos >= len(text.rstrip(" \t\r\n")):
        return JSONSyntaxError("unexpected end of JSON input", e.lineno, e.colno)
    ch = text[pos]
    if e.msg == "Invalid \\escape" and pos + 1 < len(text):
        ch = text[pos + 1]  # Go points at the character after the backslash
    if ch == "\ufeff":
        ch = "\u00ef"  # Go reports the first byte of the UTF-8 BOM
    if e.msg == "Extra data":
        what = "after top-level value"
    elif e.msg == "Expecting ',' delimiter":
        what = "after array element" if _inside_array(text, pos) else "after object key:value pair"
    else:
        what = _PY_TO_GO.get(e.msg, "looking for beginning of value")
    return JSONSyntaxError(f"invalid character {_go_char(ch)} {what}", e.lineno, e.colno)


def _replace_surrogates(v: Any) -> Any:
    # Go turns an unpaired \uD8xx escape into U+FFFD; Python keeps a lone surrogate.
    if isinstance(v, JsonNumber):
        return v
    if isinstance(v, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in v):
            return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in v)
        return v
    if isinstance(v, JsonObject):
        return JsonObject((_replace_surrogates(k), _replace_surrogates(x)) for k, x in v)
    if isinstance(v, list):
        return [_replace_surrogates(x) for x in v]
    return v


def fold_key(key: str) -> str:
    """The key as Go's decoder compares it to field names (ASCII case, K/ſ folding)."""
    return key.lower().replace("\u017f", "s")


def iter_fields_ci(obj: JsonObject, fields: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """Yield ``(field, value)`` for each key of ``obj`` matching a struct field, in document order.

    ``fields`` maps ``fold_key(name)`` to the canonical field name. Unknown keys are dropped,
    as Go does; a field given twice (in any case) is yielded twice, so the last one wins.
    """
    for key, value in obj:
        name = fields.get(fold_key(key))
        if name is not None:
            yield name, value


def get_ci(obj: JsonObject, name: str, default: Any = None) -> Any:
    """The value of the last key of ``obj`` that matches ``name`` case-insensitively."""
    want = fold_key(name)
    found = default
    for key, value in obj:
        if fold_key(key) == want:
            found = value
    return found


def kind_of(v: Any) -> str:
    """Go's name for a JSON value's kind in ``cannot unmarshal X into …`` errors."""
    if v is None:
        return "null"
    if v is True or v is False:
        return "bool"
    if isinstance(v, JsonNumber):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, JsonObject):
        return "object"
    if isinstance(v, list):
        return "array"
    return "number"


# --- writing -------------------------------------------------------------------------------

_NEEDS_ESCAPE = '[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]'
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group()
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    cp = ord(ch)
    if 0xD800 <= cp <= 0xDFFF:
        return "\\ufffd"
    return f"\\u{cp:04x}"


def quote(s: str) -> str:
    """A JSON string literal exactly as Go's encoder writes it (HTML-safe)."""
    if s.isascii() and s.isprintable() and not (
            '"' in s or "\\" in s or "<" in s or ">" in s or "&" in s):
        return '"' + s + '"'  # the common case, without loading re
    import re

    return '"' + re.sub(_NEEDS_ESCAPE, _escape_char, s) + '"'


def go_float(f: float) -> str:
    """Format a float64 like Go's JSON encoder (``1``, ``0.5``, ``1e+21``, ``1e-7``)."""
    import math

    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"json: unsupported value: {f!r}")
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    r = repr(f)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    allz = ip + fp
    stripped = allz.lstrip("0")
    point = len(ip) + (int(exp) if exp else 0) - (len(allz) - len(stripped))
    digits = stripped.rstrip("0") or "0"
    a = abs(f)
    if a < 1e-6 or a >= 1e21:
        e = point - 1
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        es = f"{abs(e):02d}" if e >= 0 else str(-e)  # Go trims "e-07" to "e-7"
        return f"{sign}{m}e{'+' if e >= 0 else '-'}{es}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


_HTML = "<>&\u2028\u2029"


def compact(raw: str) -> str:
    """Go's ``json.Compact`` with HTML escaping: drop insignificant space, escape ``<>&``
    and U+2028/U+2029 inside strings. No ``re``: it would cost ``rkt cat-manifest`` more
    than the rest of its work."""
    return "".join(_html_escape(piece) if is_string else piece.translate(_NO_SPACE)
                   for is_string, piece in _segments(raw))


_NO_SPACE = str.maketrans("", "", " \t\r\n")


def _html_escape(s: str) -> str:
    for ch in _HTML:
        if ch in s:
            s = s.replace(ch, f"\\u{ord(ch):04x}")
    return s


def indent(src: str, depth: int = 0, unit: str = "\t") -> str:
    """Go's ``json.Indent(dst, src, "", unit)`` on compact JSON, starting at ``depth``."""
    out: list[str] = []
    need_indent = False
    for is_string, piece in _segments(src):
        for ch in ((piece,) if is_string else piece):  # a string literal is one token
            if not is_string and ch in " \t\r\n":
                continue
            if need_indent and (is_string or ch not in "]}"):
                need_indent = False
                depth += 1
                out.append("\n" + unit * depth)
            if is_string:
                out.append(ch)
            elif ch in "{[":
                need_indent = True
                out.append(ch)
            elif ch == ",":
                out.append(",\n" + unit * depth)
            elif ch == ":":
                out.append(": ")
            elif ch in "}]":
                if need_indent:
                    need_indent = False
                else:
                    depth -= 1
                    out.append("\n" + unit * depth)
                out.append(ch)
            else:
                out.append(ch)
    return "".join(out)


def dumps(obj: Any, pretty: bool = False) -> str:
    """Encode ``obj`` like Go's ``json.Marshal`` (or ``MarshalIndent(v, "", "\\t")`` if pretty).

    Accepts None, bool, int, float, str, ``JsonNumber``, ``RawJSON``, list/tuple, dict (kept
    in insertion order), ``GoMap`` (sorted keys), ``JsonObject`` and objects with ``to_go()``.
    """
    parts: list[str] = []
    _encode(obj, parts.append, 0 if pretty else -1)
    return "".join(parts)


def _encode(o: Any, out: Callable[[str], Any], depth: int) -> None:
    # depth < 0 means compact output.
    if o is None:
        out("null")
    elif o is True:
        out("true")
    elif o is False:
        out("false")
    elif isinstance(o, str):
        if isinstance(o, JsonNumber):
            out(str.__str__(o))
        elif isinstance(o, RawJSON):
            c = compact(o)
            out(indent(c, depth) if depth >= 0 else c)
        else:
            out(quote(o))
    elif isinstance(o, int):
        out(int.__repr__(o))
    elif isinstance(o, float):
        out(go_float(o))
    elif isinstance(o, dict):
        items: Iterable[tuple[str, Any]] = o.items()
        if isinstance(o, GoMap):
            items = sorted(items)
        _encode_pairs(items, out, depth)
    elif isinstance(o, JsonObject):
        _encode_pairs(o, out, depth)
    elif isinstance(o, (list, tuple)):
        if not o:
            out("[]")
            return
        if depth < 0:
            out("[")
            first = True
            for v in o:
                if not first:
                    out(",")
                first = False
                _encode(v, out, -1)
            out("]")
            return
        inner = "\n" + "\t" * (depth + 1)
        out("[")
        first = True
        for v in o:
            out(inner if first else "," + inner)
            first = False
            _encode(v, out, depth + 1)
        out("\n" + "\t" * depth + "]")
    elif hasattr(o, "to_go"):
        _encode(o.to_go(), out, depth)
    else:
        raise TypeError(f"json: unsupported type: {type(o).__name__}")


def _encode_pairs(items: Iterable[tuple[str, Any]], out: Callable[[str], Any], depth: int) -> None:
    first = True
    if depth < 0:
        for k, v in items:
            out("{" if first else ",")
            first = False
            out(quote(k))
            out(":")
            _encode(v, out, -1)
        out("{}" if first else "}")
        return
    inner = "\n" + "\t" * (depth + 1)
    for k, v in items:
        out("{" + inner if first else "," + inner)
        first = False
        out(quote(k))
        out(": ")
        _encode(v, out, depth + 1)
    out("{}" if first else "\n" + "\t" * depth + "}")
