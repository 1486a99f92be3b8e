"""Decoding ``gojson.loads`` values into manifest fields with Go's ``encoding/json`` rules.

Go's decoder matches object keys to struct fields case-insensitively, drops unknown keys,
treats ``null`` as "leave the zero value" for plain fields, and rejects a value of the wrong
JSON kind with ``json: cannot unmarshal <kind> into Go … of type <T>``. These helpers do the
same for the manifest parsers; they raise ``ValueError`` with the Go-style message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rktfast.output.gojson import JsonNumber, JsonObject, fold_key, iter_fields_ci, kind_of

_INT_RANGES = {
    "int": (-(1 << 63), (1 << 63) - 1),
    "uint": (0, (1 << 64) - 1),
}


class GoTypeError(ValueError):
    """A JSON value of the wrong kind (Go's ``UnmarshalTypeError``)."""

    def __init__(self, kind: str, gotype: str):
        super().__init__(f"json: cannot unmarshal {kind} into Go value of type {gotype}")
        self.kind = kind
        self.gotype = gotype

    def in_field(self, struct: str, field: str) -> ValueError:
        """The message Go gives once the error reaches a top-level struct field."""
        return ValueError(f"json: cannot unmarshal {self.kind} into Go struct field "
                          f"{struct}.{field} of type {self.gotype}")


def type_error(v: Any, gotype: str, field: str | None = None) -> GoTypeError:
    """Go's ``UnmarshalTypeError`` for value ``v`` decoded into ``gotype``.

    (``field`` is informative only: like Go, the message names the top-level field, which
    the manifest decoders add with ``GoTypeError.in_field``.)
    """
    kind = kind_of(v)
    if isinstance(v, JsonNumber) and gotype in _INT_RANGES:
        kind = f"number {v}"
    return GoTypeError(kind, gotype)


def field_table(*names: str) -> dict[str, str]:
    """A ``fold_key(name) -> name`` table for ``fields``."""
    return {fold_key(n): n for n in names}


def fields(v: Any, table: dict[str, str], gotype: str,
           field: str | None = None) -> Iterator[tuple[str, Any]]:
    """Iterate ``(field, value)`` of a JSON object decoded into a struct (null = no fields)."""
    if v is None:
        return iter(())
    if not isinstance(v, JsonObject):
        raise type_error(v, gotype, field)
    return iter_fields_ci(v, table)


def string(v: Any, field: str | None = None, gotype: str = "string") -> str:
    """A JSON string (null -> ``""``)."""
    if v is None:
        return ""
    if isinstance(v, str) and not isinstance(v, JsonNumber):
        return v
    raise type_error(v, gotype, field)


def boolean(v: Any, field: str | None = None) -> bool:
    """A JSON bool (null -> False)."""
    if v is None:
        return False
    if v is True or v is False:
        return v
    raise type_error(v, "bool", field)


def integer(v: Any, field: str | None = None, gotype: str = "int") -> int:
    """A JSON integer literal that fits Go's ``int``/``uint`` (null -> 0)."""
    if v is None:
        return 0
    if isinstance(v, JsonNumber):
        lo, hi = _INT_RANGES["uint" if gotype.startswith("uint") else "int"]
        if v.is_integer_literal():
            n = int(v)
            if lo <= n <= hi:
                return n
    raise type_error(v, gotype, field)


def array(v: Any, field: str | None = None, gotype: str = "[]string") -> list[Any] | None:
    """A JSON array (null -> None, Go's nil slice)."""
    if v is None:
        return None
    if isinstance(v, list) and not isinstance(v, JsonObject):
        return v
    raise type_error(v, gotype, field)


def string_map(v: Any, field: str | None = None) -> dict[str, str] | None:
    """A JSON object of strings decoded into ``map[string]string`` (later keys win)."""
    if v is None:
        return None
    if not isinstance(v, JsonObject):
        raise type_error(v, "map[string]string", field)
    out: dict[str, str] = {}
    for k, x in v:
        out[k] = string(x, field, "string")
    return out


def string_list(v: Any, field: str | None = None, gotype: str = "[]string",
                elem: str = "string") -> list[str] | None:
    """A JSON array of strings (null -> None)."""
    items = array(v, field, gotype)
    if items is None:
        return None
    return [string(x, field, elem) for x in items]
