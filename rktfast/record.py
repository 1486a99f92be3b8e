"""A small stand-in for ``@dataclass`` that costs nothing at import time.

These modules are imported on every ``rkt run``; ``dataclasses`` generates code per class
(about 1.5 ms each with slots) and pulls in ``inspect``. A ``Record`` subclass lists its
fields in ``__slots__`` (in order) and optional defaults in ``_defaults``; ``list``/``dict``
as a default means "a new empty one per instance". It gets ``__init__`` (positional or
keyword), ``__eq__`` and ``__repr__`` like a dataclass.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~5-20 ms to import; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any, ClassVar


class Record:
    """Base for plain data classes: fields are the ``__slots__``, in order."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        own = cls.__dict__.get("__slots__", ())
        cls._fields = tuple(getattr(cls.__mro__[1], "_fields", ())) + tuple(own)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes at most {len(fields)} arguments")
        for name, value in zip(fields, args, strict=False):
            setattr(self, name, value)
        for name in fields[len(args):]:
            if name in kwargs:
                setattr(self, name, kwargs.pop(name))
                continue
            try:
                default = self._defaults[name]
            except KeyError:
                raise TypeError(f"{type(self).__name__}() missing argument {name!r}") from None
            setattr(self, name, default() if default is list or default is dict else default)
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected arguments {sorted(kwargs)}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"
