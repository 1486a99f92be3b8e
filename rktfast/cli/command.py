"""How a command declares itself: its flags, its usage and the function that runs it.

Each command module under ``rktfast/cli/`` defines one or more ``Command`` objects; the
dispatcher in ``main.py`` parses rkt's flag grammar against them and calls ``run(ctx)``.
A command's ``run`` parses nothing itself and prints through ``ctx``; it raises ``RktError``
for failures, which the dispatcher prints as ``<cmd>: <message>`` and turns into an exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class Flag:
    """One long flag. ``kind`` is bool, str, int, "list" (repeatable) or "csv" (repeatable, comma split).

    ``implicit`` is the value a non-bool flag takes when given bare (``--net`` means
    ``--net=default``); such a flag never consumes the next word.
    """

    name: str
    kind: Any = str
    default: Any = None
    help: str = ""
    implicit: str | None = None
    hidden: bool = False
    aliases: tuple[str, ...] = ()
    per_app: bool = False  # run/prepare: binds to the preceding image


@dataclass
class Command:
    name: str
    summary: str
    usage: str
    run: Callable[[Context], int | None] | None = None
    flags: list[Flag] = field(default_factory=list)
    needs_root: bool = False
    # run, prepare, fetch, enter, app add/exec: flags end at the first positional.
    interspersed: bool = True
    # Accept app arguments after "--" (split out into ctx.app_args).
    takes_dashdash: bool = False
    aliases: tuple[str, ...] = ()
    subcommands: list[Command] = field(default_factory=list)
    hidden: bool = False
    description: str = ""
    # run/prepare parse their own per-image grammar from ctx.argv_rest.
    raw_args: bool = False


@dataclass
class GlobalOptions:
    debug: bool = False
    dir: str = "/var/lib/rkt"
    local_config: str = "/etc/rkt"
    system_config: str = "/usr/lib/rkt"
    user_config: str = ""
    insecure_options: frozenset[str] = frozenset()
    trust_keys_from_https: bool = False

    def insecure(self, what: str) -> bool:
        """True when --insecure-options allows ``what`` (image, tls, http, pubkey, …)."""
        return what in self.insecure_options


@dataclass
class Context:
    """What a command's run() gets: parsed flags, positionals, globals and the streams."""

    command: Command
    globals: GlobalOptions
    flags: dict[str, Any]
    args: list[str]
    app_args: list[str] | None = None
    argv_rest: list[str] = field(default_factory=list)
    set_flags: set[str] = field(default_factory=set)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    @property
    def prefix(self) -> str:
        """The leaf command name that prefixes stderr lines (``fetch``, ``rm``, ``gc`` …)."""
        return self.command.name

    def warn(self, line: str, prefix: str | None = None) -> None:
        """Print ``<prefix>: line`` on stderr (prefix defaults to the command name)."""
        self.stderr.write(f"{prefix or self.prefix}: {line}\n")
        self.stderr.flush()

    def debug(self, line: str, prefix: str | None = None) -> None:
        """Like warn(), but only with --debug (rkt's diagnostics that tests grep for)."""
        if self.globals.debug:
            self.warn(line, prefix)

    def out(self, text: str) -> None:
        self.stdout.write(text)
