"""Usage text for ``rkt help``, ``--help`` and usage errors."""

from __future__ import annotations

from typing import TextIO

from rktfast.cli.command import Command, Flag


def _flag_lines(flags: list[Flag]) -> list[str]:
    rows = []
    for f in flags:
        if f.hidden:
            continue
        left = f"      --{f.name}"
        if f.kind is not bool:
            left += "=" + ("default" if f.implicit else "")
            left = left.rstrip("=") if not f.implicit else left
            if not f.implicit:
                left += " string" if f.kind is str else " strings" if f.kind in ("list", "csv") else " int"
        rows.append((left, f.help + _default_note(f)))
    width = max((len(a) for a, _ in rows), default=0)
    return [f"{a.ljust(width)}   {b}".rstrip() for a, b in rows]


def _default_note(f: Flag) -> str:
    if f.kind is bool or f.default in (None, "", [], False):
        return ""
    d = ",".join(f.default) if isinstance(f.default, list) else f.default
    return f' (default "{d}")'


def print_usage(cmd: Command | None, out: TextIO) -> None:
    """Print cobra-style usage for a command, or the command list for None."""
    from rktfast.cli.main import COMMANDS, GLOBAL_FLAGS, load_command

    lines: list[str] = []
    if cmd is None:
        lines += ["Usage:", "  rkt [command]", "", "Available Commands:"]
        entries = []
        for name, mod in COMMANDS.items():
            if isinstance(mod, dict):
                entries.append((name, "Operate on image(s) in the local store"))
                continue
            try:
                c = load_command(mod)
            except ImportError:
                continue
            if not c.hidden:
                entries.append((name, c.summary))
        entries.append(("help", "Help about any command"))
        width = max(len(n) for n, _ in entries)
        lines += [f"  {n.ljust(width)}   {s}" for n, s in sorted(entries)]
        lines += ["", "Flags:"] + _flag_lines(GLOBAL_FLAGS)
        lines += ["", 'Use "rkt [command] --help" for more information about a command.']
    else:
        if cmd.description:
            lines += [cmd.description, ""]
        lines += ["Usage:", f"  {cmd.usage}"]
        if cmd.subcommands:
            lines += ["", "Available Commands:"]
            width = max(len(s.name) for s in cmd.subcommands)
            lines += [f"  {s.name.ljust(width)}   {s.summary}"
                      for s in cmd.subcommands if not s.hidden]
        flag_lines = _flag_lines(cmd.flags)
        if flag_lines:
            lines += ["", "Flags:"] + flag_lines
        lines += ["", "Global Flags:"] + _flag_lines(GLOBAL_FLAGS)
    out.write("\n".join(lines) + "\n")
