"""Go's text conventions that rkt's trust messages are written in (``%q``, ``os`` errors)."""

from __future__ import annotations

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f",
            "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(s: str) -> str:
    """``fmt.Sprintf("%q", s)``: double-quoted, with Go's escapes for unprintable characters."""
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def go_os_error(op: str, path: str, err: OSError) -> str:
    """An ``*os.PathError`` text: ``open /x: no such file or directory``."""
    reason = err.strerror or str(err)
    return f"{op} {path}: {reason[:1].lower()}{reason[1:]}"
