"""rkt's flag grammar (spf13/pflag as rkt used it, plus Go-flag single-dash long flags).

- ``--f=v`` or ``--f v``; booleans only ``--b`` or ``--b=true|false`` (never the next word);
- flags with an implicit value (``--net``) take it when bare and never consume the next word;
- ``-f`` is the same as ``--f`` (rkt has no short flags; 0.5-era guides wrote ``-dir=/x``),
  except ``-h`` which is help;
- ``--`` ends the flags.
"""

from __future__ import annotations

from rktfast.cli.command import Flag
from rktfast.errors import UsageError

TYPE_CHECKING = False  # typing is not imported at run time
if TYPE_CHECKING:
    from typing import Any

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def parse_bool(value: str, flag: str) -> bool:
    """Go's strconv.ParseBool, as pflag uses it."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f'invalid argument "{value}" for "--{flag}" flag: strconv.ParseBool: '
                     f'parsing "{value}": invalid syntax')


class FlagSet:
    """A set of flags with their current values; parses runs of argv against them."""

    def __init__(self, flags: list[Flag]):
        self.by_name: dict[str, Flag] = {}
        for f in flags:
            self.by_name[f.name] = f
            for a in f.aliases:
                self.by_name[a] = f
        self.values: dict[str, Any] = {}
        self.set_flags: set[str] = set()
        for f in flags:
            self.values[f.name] = _fresh_default(f)

    def lookup(self, word: str) -> tuple[Flag, str | None] | None:
        """If ``word`` is a flag of this set, return (flag, inline value or None)."""
        if not word.startswith("-") or word in ("-", "--"):
            return None
        body = word[2:] if word.startswith("--") else word[1:]
        name, eq, val = body.partition("=")
        flag = self.by_name.get(name)
        if flag is None:
            return None
        return flag, (val if eq else None)

    def apply(self, flag: Flag, inline: str | None, argv: list[str], i: int) -> int:
        """Apply one flag occurrence found at argv[i]; return the index of the next word."""
        if flag.kind is bool:
            value: Any = True if inline is None else parse_bool(inline, flag.name)
            self.set_value(flag, value)
            return i + 1
        if inline is None:
            if flag.implicit is not None:
                self.set_value(flag, flag.implicit)
                return i + 1
            if i + 1 >= len(argv):
                raise UsageError(f"flag needs an argument: --{flag.name}")
            inline = argv[i + 1]
            i += 1
        self.set_value(flag, inline)
        return i + 1

    def set_value(self, flag: Flag, value: Any) -> None:
        name = flag.name
        if flag.kind == "list":
            if name not in self.set_flags:
                self.values[name] = []
            self.values[name].append(value)
        elif flag.kind == "csv":
            if name not in self.set_flags:
                self.values[name] = []
            self.values[name].extend(v for v in str(value).split(",") if v != "")
        elif flag.kind is int:
            try:
                self.values[name] = int(value, 0)
            except ValueError:
                raise UsageError(f'invalid argument "{value}" for "--{name}" flag: '
                                 f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
        else:
            self.values[name] = value
        self.set_flags.add(name)


def _fresh_default(f: Flag) -> Any:
    if f.kind in ("list", "csv"):
        return list(f.default or [])
    if f.kind is bool:
        return bool(f.default)
    return f.default


def is_help(word: str) -> bool:
    return word in ("-h", "--help", "-help", "--help=true", "-help=true")


def find_flag(sets: list[FlagSet], word: str) -> tuple[FlagSet, tuple[Flag, str | None]]:
    """The set that knows ``word`` and (flag, inline value), else ``unknown flag: --x``."""
    for fs in sets:
        hit = fs.lookup(word)
        if hit:
            return fs, hit
    shown = word.split("=", 1)[0]
    raise UsageError(f"unknown flag: {shown if shown.startswith('--') else '-' + shown}")


def split_flags(sets: list[FlagSet], argv: list[str], interspersed: bool,
                dashdash_ok: bool = True) -> tuple[list[str], list[str] | None, list[str]]:
    """Parse ``argv`` against ``sets`` (first match wins).

    Returns (positionals, words after ``--`` or None, rest). With ``interspersed`` False the
    parse stops at the first positional and ``rest`` holds it and everything after.
    Unknown flags raise UsageError(``unknown flag: --x``).
    """
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return positionals, argv[i + 1:], []
        if word.startswith("-") and word != "-":
            if is_help(word):
                raise HelpRequested()
            fs, (flag, inline) = find_flag(sets, word)
            if flag.per_app:
                raise UsageError(f"--{flag.name} must follow an image")
            i = fs.apply(flag, inline, argv, i)
            continue
        if not interspersed:
            return positionals, None, argv[i:]
        positionals.append(word)
        i += 1
    return positionals, None, []


class HelpRequested(Exception):
    """``--help`` / ``-h`` was given: print the command's usage on stdout, exit 0."""


class ImageArg:
    """One image of a run/prepare/fetch command line with the per-app flags that follow it."""

    def __init__(self, image: str):
        self.image = image
        self.flags: dict[str, Any] = {}
        self.args: list[str] | None = None

    def __repr__(self) -> str:
        return f"ImageArg({self.image!r}, {self.flags!r}, {self.args!r})"


SINGLE_PER_APP = {"exec", "signature"}


def parse_image_args(sets: list[FlagSet], words: list[str]) -> list[ImageArg]:
    """rkt's per-image grammar (SPEC §1.5): ``IMAGE [flags] [-- ARG… [---]] IMAGE …``.

    Pod-level flags anywhere update their FlagSet; per-app flags bind to the preceding image.
    """
    images: list[ImageArg] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            if not images:
                raise UsageError("an image is required before any app arguments")
            cur = images[-1]
            if cur.args is not None:
                raise UsageError("only one set of app arguments allowed per image")
            j = i + 1
            while j < len(words) and words[j] != "---":
                j += 1
            cur.args = words[i + 1:j]
            i = j + 1
            continue
        if word.startswith("-") and word != "-":
            if is_help(word):
                raise HelpRequested()
            fs, (flag, inline) = find_flag(sets, word)
            if flag.per_app:
                if not images:
                    raise UsageError(f"--{flag.name} must follow an image")
                tmp = FlagSet([flag])
                i = tmp.apply(flag, inline, words, i)
                cur = images[-1]
                if flag.kind in ("list", "csv"):
                    cur.flags.setdefault(flag.name, []).extend(tmp.values[flag.name])
                else:
                    if flag.name in cur.flags and flag.name in SINGLE_PER_APP:
                        raise UsageError(f"--{flag.name} specified multiple times for the same "
                                         "image")
                    cur.flags[flag.name] = tmp.values[flag.name]
            else:
                i = fs.apply(flag, inline, words, i)
            continue
        images.append(ImageArg(word))
        i += 1
    return images
