"""Tables exactly as rkt prints them through Go's ``text/tabwriter``.

rkt uses ``tabwriter.NewWriter(out, 0, 8, 1, '\\t', 0)``: minwidth 0, tabwidth 8, padding 1,
padding done with TABs, no flags. Every cell but the last of a line is a column cell and is
followed by tabs; a column's width is computed over a *column block*, the run of consecutive
lines that have a cell in that column, and blocks nest left to right exactly as in Go's
``Writer.format``. Widths count runes (code points), like Go.
"""

from __future__ import annotations

_TABWIDTH = 8
_PADDING = 1


def format_table(rows: list[list[str]]) -> str:
    """Render ``rows`` as Go's tabwriter would render ``"\\t".join(row) + "\\n"`` per row.

    A row ``["a", "b", "c"]`` has two column cells (``a``, ``b``) and the trailing text ``c``;
    ``["a", "b", ""]`` ends its line right after ``b``'s padding. Cells must not contain
    TABs or newlines. The result ends with a newline (or is empty for no rows).
    """
    lines = [[str(c) for c in row] for row in rows]
    out: list[str] = []
    _format(lines, [], 0, len(lines), out)
    return "".join(out)


def _format(lines: list[list[str]], widths: list[int], line0: int, line1: int,
            out: list[str]) -> None:
    # Mirrors text/tabwriter's Writer.format: find the next column block at depth
    # len(widths), size it, recurse for the columns to its right, and print the lines
    # before/after it with the widths known so far.
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write_lines(lines, widths, line0, this, out)
        line0 = this
        width = 0
        while this < line1 and column < len(lines[this]) - 1:
            w = len(lines[this][column]) + _PADDING
            if w > width:
                width = w
            this += 1
        widths.append(width)
        _format(lines, widths, line0, this, out)
        widths.pop()
        line0 = this
    _write_lines(lines, widths, line0, line1, out)


def _write_lines(lines: list[list[str]], widths: list[int], line0: int, line1: int,
                 out: list[str]) -> None:
    for i in range(line0, line1):
        line = lines[i]
        parts = []
        for j, cell in enumerate(line):
            parts.append(cell)
            if j < len(widths):
                # Pad with tabs up to the column width rounded up to a tab stop.
                cellw = -(-widths[j] // _TABWIDTH) * _TABWIDTH
                parts.append("\t" * -(-(cellw - len(cell)) // _TABWIDTH))
        parts.append("\n")
        out.append("".join(parts))
