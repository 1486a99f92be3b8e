"""Go's ``%q`` / ``%#v`` string quoting and ``%v`` of string slices, for error messages.

rkt's messages embed values with ``fmt.Sprintf("%q", s)`` (``strconv.Quote``), e.g.
``duplicate labels of name "os"``; scripts grep for them, so the quoting must match.
"""

from __future__ import annotations

_SIMPLE = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
    "\\": "\\\\", '"': '\\"',
}


def go_quote(s: str) -> str:
    """``strconv.Quote(s)``: double-quoted, Go escapes, printable Unicode kept as is."""
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    out = ['"']
    for ch in s:
        esc = _SIMPLE.get(ch)
        if esc is not None:
            out.append(esc)
            continue
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF:
            # A lone surrogate stands for an invalid UTF-8 byte sequence; Go prints U+FFFD.
            out.append("\\ufffd")
        elif ch == " " or ch.isprintable():
            out.append(ch)
        elif cp < 0x80:
            out.append(f"\\x{cp:02x}")
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


def go_list(items: list[str] | tuple[str, ...]) -> str:
    """``fmt.Sprintf("%v", []string{…})``: ``[a b c]``."""
    return "[" + " ".join(items) + "]"


def go_quote_list(items: list[str] | tuple[str, ...]) -> str:
    """``fmt.Sprintf("%q", []string{…})``: ``["a" "b"]``."""
    return "[" + " ".join(go_quote(i) for i in items) + "]"
