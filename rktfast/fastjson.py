"""``json.loads`` without importing ``json``: the C scanner of ``_json``, set up directly.

``rkt run`` reads a handful of small JSON documents (manifests, config). Importing ``json``
pulls in ``re`` and ``enum``, about 20 ms on the machines we measure, more than everything
else stage0's Python does. The scanner here is the one ``json.loads`` itself uses; anything
it cannot take (a syntax error, a BOM, UTF-16) goes to ``json.loads``, so results and
errors are exactly the stdlib's.
"""

from __future__ import annotations

_SPACE = " \t\n\r"


def scanner(object_pairs_hook=None, parse_float=float, parse_int=int, parse_constant=float):
    """The C ``scan_once`` configured as ``json.JSONDecoder(...)`` configures it, or None
    where ``_json`` is missing. (``float`` reads NaN and ±Infinity as json does.)"""
    try:
        from _json import make_scanner
    except ImportError:
        return None

    class Context:  # the attributes JSONDecoder hands the scanner
        strict = True
        object_hook = None

    Context.object_pairs_hook = object_pairs_hook
    Context.parse_float = parse_float
    Context.parse_int = parse_int
    Context.parse_constant = staticmethod(parse_constant)
    return make_scanner(Context)


def decode(scan_once, text: str) -> tuple | None:
    """``(value,)`` if ``text`` is exactly one JSON value, else None (the caller then asks
    the stdlib, which says why)."""
    if not scan_once:
        return None
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = scan_once(text, start)
    except Exception:
        # StopIteration, ValueError, RecursionError -- and a SystemError where the scanner
        # wants json.decoder's exception class before json is imported: stdlib decides
        return None
    if end != len(text) and text[end:].strip(_SPACE):
        return None
    return (value,)


_plain = None


def loads(data: bytes | str):
    """``json.loads(data)``: the same values, the same errors."""
    global _plain
    if _plain is None:
        _plain = scanner() or False
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        text = None
    fast = decode(_plain, text) if text is not None else None
    if fast is not None:
        return fast[0]
    import json

    return json.loads(data)
