"""The ``rkt`` entry point: global flags, command lookup, error printing and exit codes.

Command modules are imported lazily, so ``rkt run`` imports only what running needs.
"""

from __future__ import annotations

import os
import sys

from rktfast.cli.command import Command, Context, Flag, GlobalOptions
from rktfast.cli.flags import FlagSet, HelpRequested, find_flag, is_help, split_flags
from rktfast.errors import RktError, UsageError

# name -> module holding COMMAND; groups map to a list of (subname, module).
COMMANDS: dict[str, str | dict[str, str]] = {
    "version": "rktfast.cli.version",
    "trust": "rktfast.cli.trust",
    "fetch": "rktfast.cli.fetch",
    "image": {
        "list": "rktfast.cli.image_list",
        "rm": "rktfast.cli.image_rm",
        "gc": "rktfast.cli.image_gc",
        "cat-manifest": "rktfast.cli.image_cat_manifest",
        "export": "rktfast.cli.image_export",
        "extract": "rktfast.cli.image_extract",
        "render": "rktfast.cli.image_render",
        "verify": "rktfast.cli.image_verify",
        "fetch": "rktfast.cli.fetch",
    },
    "list": "rktfast.cli.list",
    "status": "rktfast.cli.status",
    "cat-manifest": "rktfast.cli.cat_manifest",
    "prepare": "rktfast.cli.prepare",
    "run": "rktfast.cli.run",
    "run-prepared": "rktfast.cli.run_prepared",
    "enter": "rktfast.cli.enter",
    "stop": "rktfast.cli.stop",
    "rm": "rktfast.cli.rm",
    "gc": "rktfast.cli.gc",
    "export": "rktfast.cli.export",
    "install": "rktfast.cli.install",
    "metadata-service": "rktfast.cli.metadata_service",
}
# 0.5-era spellings: word -> (command, subcommand)
ALIASES = {"images": ("image", "list"), "rmimage": ("image", "rm")}

INSECURE_OPTIONS = {
    "none": set(),
    "image": {"image"},
    "tls": {"tls"},
    "ondisk": {"ondisk"},
    "http": {"http"},
    "pubkey": {"pubkey"},
    "capabilities": {"capabilities"},
    "paths": {"paths"},
    "seccomp": {"seccomp"},
    "all-fetch": {"image", "tls", "http", "pubkey"},
    "all-run": {"capabilities", "paths", "seccomp"},
}
INSECURE_OPTIONS["all"] = INSECURE_OPTIONS["all-fetch"] | INSECURE_OPTIONS["all-run"] | {"ondisk"}

GLOBAL_FLAGS = [
    Flag("debug", bool, False, "print out more debug information to stderr"),
    Flag("dir", str, "/var/lib/rkt", "rkt data directory"),
    Flag("local-config", str, "/etc/rkt", "local configuration directory"),
    Flag("system-config", str, "/usr/lib/rkt", "system configuration directory"),
    Flag("user-config", str, "", "user configuration directory"),
    Flag("insecure-options", "csv", ["none"],
         "comma-separated list of security features to disable. Allowed values: \"none\", "
         "\"image\", \"tls\", \"ondisk\", \"http\", \"pubkey\", \"capabilities\", \"paths\", "
         "\"seccomp\", \"all-fetch\", \"all-run\", \"all\""),
    Flag("trust-keys-from-https", bool, False,
         "automatically trust gpg keys fetched from https"),
    Flag("insecure-skip-verify", bool, False, hidden=True),
    Flag("cpuprofile", str, "", hidden=True),
    Flag("memprofile", str, "", hidden=True),
]


class CommandNotFound(UsageError):
    pass


def load_command(module: str) -> Command:
    # __import__ rather than importlib: the importlib package loads warnings (a few ms)
    return __import__(module, fromlist=["COMMAND"]).COMMAND


def find(word: str, table: dict) -> str:
    """Exact name, else a unique prefix (cobra's EnablePrefixMatching)."""
    if word in table:
        return word
    hits = [n for n in table if n.startswith(word)]
    if len(hits) == 1:
        return hits[0]
    raise CommandNotFound(f'unknown command "{word}" for "rkt"')


def resolve_command(words: list[str]) -> tuple[Command | None, list[str], str | None]:
    """Find the (sub)command named by the first words; return (command, rest, group)."""
    if not words:
        return None, words, None
    if words[0] in ALIASES:
        group, sub = ALIASES[words[0]]
        return load_command(COMMANDS[group][sub]), words[1:], group
    name = find(words[0], {**COMMANDS, "help": None})
    if name == "help":
        return None, words[1:], "help"
    entry = COMMANDS[name]
    if isinstance(entry, dict):
        if len(words) < 2 or words[1].startswith("-"):
            return group_command(name), words[1:], name
        sub = find(words[1], entry)
        return load_command(entry[sub]), words[2:], name
    return load_command(entry), words[1:], None


def group_command(name: str) -> Command:
    subs = [load_command(m) for m in dict.fromkeys(COMMANDS[name].values())]
    return Command(name=name, summary="Operate on image(s) in the local store",
                   usage=f"rkt {name} [command]", subcommands=subs)


def make_globals(fs: FlagSet) -> GlobalOptions:
    v = fs.values
    opts: set[str] = set()
    for o in v["insecure-options"]:
        if o not in INSECURE_OPTIONS:
            raise UsageError(f'invalid argument "{",".join(v["insecure-options"])}" for '
                             f'"--insecure-options" flag: unknown option "{o}"')
        opts |= INSECURE_OPTIONS[o]
    g = GlobalOptions(debug=v["debug"], user_config=v["user-config"],
                      trust_keys_from_https=v["trust-keys-from-https"])
    if v["insecure-skip-verify"]:
        opts |= {"image", "tls"}
        g.legacy_skip_verify = True
    g.insecure_options = frozenset(opts)
    for flag, attr in (("dir", "dir"), ("local-config", "local_config"),
                       ("system-config", "system_config")):
        if v[flag] == "":
            raise UsageError(f"--{flag} cannot be empty")
        setattr(g, attr, os.path.abspath(v[flag]))
    if g.user_config:
        g.user_config = os.path.abspath(g.user_config)
    if "dir" not in fs.set_flags:
        from rktfast.config import data_dir_from_paths_d
        g.dir = data_dir_from_paths_d(g) or g.dir
    if os.path.lexists(g.dir):
        g.dir = os.path.realpath(g.dir)
    return g


def print_error(prefix: str, err: RktError, debug: bool) -> None:
    chain = err.chain()
    if debug:
        lines = [chain[0]]
        for depth, msg in enumerate(chain[1:], start=1):
            lines.append("  " * depth + "└─" + msg)
        text = "\n".join(lines)
    else:
        text = chain[0] if len(chain) == 1 else f"{chain[0]}: {chain[-1]}"
    sys.stderr.write(f"{prefix}: {text}\n")


def run_cli(argv: list[str]) -> int:
    gflags = FlagSet(GLOBAL_FLAGS)
    # Globals before the command.
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        if is_help(argv[i]):
            from rktfast.cli import help as help_
            help_.print_usage(None, sys.stdout)
            return 0
        _, (flag, inline) = find_flag([gflags], argv[i])
        i = gflags.apply(flag, inline, argv, i)
    words = argv[i:]
    if not words:
        from rktfast.cli import help as help_
        sys.stderr.write("rkt: missing command\n")
        help_.print_usage(None, sys.stderr)
        return 2
    cmd, rest, group = resolve_command(words)
    if group == "help":
        from rktfast.cli import help as help_
        target = resolve_command(rest)[0] if rest else None
        help_.print_usage(target, sys.stdout)
        return 0
    assert cmd is not None
    _current["cmd"] = cmd
    if cmd.subcommands:
        from rktfast.cli import help as help_
        if rest and not rest[0].startswith("-"):
            raise CommandNotFound(f'unknown command "{rest[0]}" for "rkt {cmd.name}"')
        help_.print_usage(cmd, sys.stdout)
        return 0
    cflags = FlagSet(cmd.flags)
    try:
        positionals, after_dd, rest_words = split_flags([cflags, gflags], rest, cmd.interspersed)
    except HelpRequested:
        from rktfast.cli import help as help_
        help_.print_usage(cmd, sys.stdout)
        return 0
    except UsageError as e:
        e.usage_of = cmd  # type: ignore[attr-defined]
        raise
    if after_dd is not None and not cmd.takes_dashdash:
        positionals += after_dd
        after_dd = None
    g = make_globals(gflags)
    ctx = Context(command=cmd, globals=g, flags=cflags.values, args=positionals,
                  app_args=after_dd, argv_rest=rest_words, set_flags=cflags.set_flags)
    ctx.flagset = cflags  # type: ignore[attr-defined]
    ctx.global_flagset = gflags  # type: ignore[attr-defined]
    if cmd.needs_root and os.geteuid() != 0:
        raise RktError("cannot run as unprivileged user", exit_code=254)
    if cmd.run is None:
        raise RktError("not implemented")
    code = cmd.run(ctx)
    return 0 if code is None else code


def undo_locale_coercion() -> None:
    """Give rkt's children the environment the user gave rkt.

    Python started under the C locale sets ``LC_CTYPE=C.UTF-8`` in its own environment
    (PEP 538), and the stage1, apps run with ``--inherit-env`` and network plugins would
    inherit it; Go's rkt adds nothing. Only that case enables UTF-8 mode on its own, so
    UTF-8 mode that nobody asked for plus ``LC_CTYPE=C.UTF-8`` means Python set it.
    """
    if (sys.flags.utf8_mode and os.environ.get("LC_CTYPE") == "C.UTF-8"
            and "utf8" not in sys._xoptions
            and (sys.flags.ignore_environment or "PYTHONUTF8" not in os.environ)):
        del os.environ["LC_CTYPE"]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    undo_locale_coercion()
    debug = any(a in ("--debug", "-debug", "--debug=true", "-debug=true") for a in argv)
    prefix = "rkt"
    try:
        code = run_cli(argv)
    except UsageError as e:
        cmd = getattr(e, "usage_of", None) or _current["cmd"]
        print_error(cmd.name if cmd else prefix, e, debug)
        if cmd is not None:
            from rktfast.cli import help as help_
            help_.print_usage(cmd, sys.stderr)
        code = e.exit_code
    except RktError as e:
        print_error(e.prefix or _leaf_name(argv), e, debug)
        if debug and e.cause is not None and not isinstance(e.cause, RktError):
            import traceback
            traceback.print_exception(e.cause, file=sys.stderr)
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 0
        try:
            sys.stdout = None  # type: ignore[assignment]
        except Exception:
            pass
    except Exception as e:  # a bug: one line unless --debug
        if debug:
            raise
        sys.stderr.write(f"{_leaf_name(argv)}: unexpected error: {type(e).__name__}: {e}\n")
        code = 254
    try:
        sys.stdout.flush()
    except Exception:
        pass
    sys.exit(code)


_current: dict[str, Command | None] = {"cmd": None}


def _leaf_name(argv: list[str]) -> str:
    """The command name that prefixes error lines (``rm`` for ``rkt image rm``)."""
    cmd = _current["cmd"]
    return cmd.name if cmd else "rkt"


if __name__ == "__main__":
    main()
