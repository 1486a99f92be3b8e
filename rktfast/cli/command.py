"""How a command declares itself: its flags, its usage and the function that runs it.

Each command module under ``rktfast/cli/`` defines one or more ``Command`` objects; the
dispatcher in ``main.py`` parses rkt's flag grammar against them and calls ``run(ctx)``.
A command's ``run`` parses nothing itself and prints through ``ctx``; it raises ``RktError``
for failures, which the dispatcher prints as ``<cmd>: <message>`` and turns into an exit code.
"""

from __future__ import annotations

import sys

from rktfast.record import Record

TYPE_CHECKING = False  # no typing/dataclasses at run time: this module starts every command
if TYPE_CHECKING:
    from typing import Any, TextIO


class Flag(Record):
    """One long flag. ``kind`` is bool, str, int, "list" (repeatable) or "csv" (repeatable, comma split).

    ``implicit`` is the value a non-bool flag takes when given bare (``--net`` means
    ``--net=default``); such a flag never consumes the next word. ``per_app`` flags of
    run/prepare bind to the preceding image.
    """

    __slots__ = ("name", "kind", "default", "help", "implicit", "hidden", "aliases", "per_app")
    _defaults = {"kind": str, "default": None, "help": "", "implicit": None, "hidden": False,
                 "aliases": (), "per_app": False}


class Command(Record):
    """A command: its flags, usage, and the ``run(ctx)`` that does the work.

    ``interspersed`` False (run, prepare, fetch, enter): flags end at the first positional.
    ``takes_dashdash``: app arguments after ``--`` go to ``ctx.app_args``.
    """

    __slots__ = ("name", "summary", "usage", "run", "flags", "needs_root", "interspersed",
                 "takes_dashdash", "aliases", "subcommands", "hidden", "description",
                 "raw_args")
    _defaults = {"run": None, "flags": list, "needs_root": False, "interspersed": True,
                 "takes_dashdash": False, "aliases": (), "subcommands": list, "hidden": False,
                 "description": "", "raw_args": False}


class GlobalOptions(Record):
    __slots__ = ("debug", "dir", "local_config", "system_config", "user_config",
                 "insecure_options", "trust_keys_from_https", "legacy_skip_verify")
    _defaults = {"debug": False, "dir": "/var/lib/rkt", "local_config": "/etc/rkt",
                 "system_config": "/usr/lib/rkt", "user_config": "",
                 "insecure_options": frozenset(), "trust_keys_from_https": False,
                 "legacy_skip_verify": False}

    def insecure(self, what: str) -> bool:
        """True when --insecure-options allows ``what`` (image, tls, http, pubkey, …)."""
        return what in self.insecure_options


class Context:
    """What a command's run() gets: parsed flags, positionals, globals and the streams."""

    def __init__(self, command: Command, globals: GlobalOptions, flags: dict[str, Any],
                 args: list[str], app_args: list[str] | None = None,
                 argv_rest: list[str] | None = None, set_flags: set[str] | None = None,
                 stdout: TextIO | None = None, stderr: TextIO | None = None):
        self.command = command
        self.globals = globals
        self.flags = flags
        self.args = args
        self.app_args = app_args
        self.argv_rest = argv_rest if argv_rest is not None else []
        self.set_flags = set_flags if set_flags is not None else set()
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

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
