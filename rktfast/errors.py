"""One exception hierarchy that the CLI turns into a one-line message and an exit code."""

from __future__ import annotations


class RktError(Exception):
    """An error a user can act on.

    ``message`` is the outermost description; ``cause`` (optional) is the error it wraps.
    Without --debug the CLI prints ``<cmd>: <message>: <innermost cause>``-style lines as rkt
    does; with --debug it prints the whole chain.
    """

    exit_code = 254

    # The word before the colon on stderr; None means the command's name. Errors that come
    # from a library rkt names print with its prefix (``stage1: ``, ``networking: ``).
    prefix: str | None = None

    def __init__(self, message: str, cause: BaseException | None = None,
                 exit_code: int | None = None, prefix: str | None = None):
        super().__init__(message)
        self.message = message
        self.cause = cause
        if exit_code is not None:
            self.exit_code = exit_code
        if prefix is not None:
            self.prefix = prefix

    def chain(self) -> list[str]:
        """The messages from outermost to innermost."""
        out = [self.message]
        c = self.cause
        while c is not None:
            if isinstance(c, RktError):
                out.append(c.message)
                c = c.cause
            else:
                out.append(describe(c))
                c = None
        return out


def describe(e: BaseException) -> str:
    """A Go-like one-line text for a low-level error (``open /x: no such file or directory``)."""
    if isinstance(e, OSError) and e.strerror:
        text = e.strerror[0].lower() + e.strerror[1:]
        return f"open {e.filename}: {text}" if e.filename else text
    return str(e) or type(e).__name__


class UsageError(RktError):
    """Bad flags or arguments: printed with the command's usage."""


class ImageError(RktError):
    """A broken, hostile or unsupported image."""


class StoreError(RktError):
    """The image store cannot do what was asked (not found, ambiguous, locked)."""


class TrustError(RktError):
    """Signature verification or key handling failed."""


class PodError(RktError):
    """A pod is missing, in the wrong state, or could not be prepared or run."""
