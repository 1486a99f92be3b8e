"""Download progress on stderr, as rkt draws it (coreos/ioprogress).

On a terminal: ``Downloading ACI: [=====>      ] 3.79 MB/3.79 MB`` redrawn in place with a
carriage return, at most once a second, then a newline when the download ends. When stderr is
not a terminal: nothing while downloading and one final line (without the bar), so logs get
one line per file. Sizes are in decimal units with three significant digits (``ByteUnitStr``);
an unknown total prints ``Downloading ACI: 1.2 MB of an unknown total size``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")
LINE_WIDTH = 80  # rkt sizes the bar so that the line fits 80 columns
_BYTES_WIDTH = 18  # room rkt leaves for " 123 MB/456 MB"
REDRAW_INTERVAL = 1.0


def byte_unit_str(n: int) -> str:
    """``3.79 MB``: decimal units, ``%.3g`` like Go's ``ioprogress.ByteUnitStr``."""
    size = float(n)
    unit = _UNITS[-1]
    for u in _UNITS[:-1]:
        if size < 1000:
            unit = u
            break
        size /= 1000
    return f"{size:.3g} {unit}"


def draw_bar(progress: int, total: int, width: int) -> str:
    """``[====>    ]`` of ``width`` characters in all (brackets included)."""
    inner = max(width - 2, 0)
    if total <= 0 or progress < 0 or progress > total:
        return "[" + " " * inner + "]"
    done = int(progress / total * inner)
    if 0 < done < inner:
        return "[" + "=" * (done - 1) + ">" + " " * (inner - done) + "]"
    return "[" + "=" * done + " " * (inner - done) + "]"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class ProgressBar:
    """Progress of one download labelled ``label`` (``ACI``, ``signature``).

    ``add(n)`` may be called from any thread; ``finish()`` draws the final line,
    ``abort()`` ends a terminal line without claiming success.
    """

    def __init__(self, label: str, total: int | None, *, start: int = 0,
                 stream: TextIO | None = None, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.prefix = f"Downloading {label}"
        self.total = total if total is not None and total >= 0 else None
        self.done = start
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream) if tty is None else tty
        self._clock = clock
        self._last_draw: float | None = None
        self._max_len = 0
        self._lock = threading.Lock()
        self._ended = False
        self.bar_width = LINE_WIDTH - len(self.prefix) - _BYTES_WIDTH

    def line(self, with_bar: bool) -> str:
        """The text of the progress line for what has been downloaded so far."""
        if self.total is None:
            return f"{self.prefix}: {byte_unit_str(self.done)} of an unknown total size"
        sizes = f"{byte_unit_str(self.done)}/{byte_unit_str(self.total)}"
        if not with_bar:
            return f"{self.prefix}: {sizes}"
        return f"{self.prefix}: {draw_bar(self.done, self.total, self.bar_width)} {sizes}"

    def add(self, n: int) -> None:
        """Count ``n`` more bytes; redraw if on a terminal and a second has passed."""
        with self._lock:
            self.done += n
            if not self.tty or self._ended:
                return
            now = self._clock()
            if self._last_draw is None or now - self._last_draw >= REDRAW_INTERVAL:
                self._last_draw = now
                self._draw("\r")

    def finish(self) -> None:
        """The download is complete: print the final line."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            if self.tty:
                self._draw("\r")
                self._write("\n")
            else:
                self._write(self.line(with_bar=False) + "\n")

    def abort(self) -> None:
        """The download failed: end a terminal line so that the error starts on its own."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            if self.tty and self._last_draw is not None:
                self._write("\n")

    def _draw(self, end: str) -> None:
        text = self.line(with_bar=True)
        # pad to the longest line drawn so that no old characters stay visible
        if len(text) < self._max_len:
            text += " " * (self._max_len - len(text))
        self._max_len = len(text)
        self._write(text + end)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stderr must not fail the download
