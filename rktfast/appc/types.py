"""appc 0.8.11 value types: identifiers, names, labels, hashes, versions, image names.

Validation follows appc's Go code, which is looser than its documented regular expressions:
an ACIdentifier/ACName is accepted when it is non-empty, uses only allowed characters and
starts and ends with an alphanumeric (so ``a..b`` passes, as it does in rkt). The ``is_*``
predicates give the strict documented form. Errors are ``ValueError`` with appc's messages;
the manifest parsers turn them into ``ImageError``/``PodError``.
"""

from __future__ import annotations

from rktfast.errors import ImageError
from rktfast.record import Record

TYPE_CHECKING = False  # typing is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from rktfast.appc.image_manifest import ImageManifest

def go_quote(s: str) -> str:
    # error messages only: goquote stays off the path of `rkt run`
    from rktfast.output.goquote import go_quote as quote

    return quote(s)


def go_list(items) -> str:
    from rktfast.output.goquote import go_list as as_list

    return as_list(items)


# Character sets rather than regular expressions: this module is on the path of every
# ``rkt run``, and importing ``re`` costs more than all of these checks.
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ID_SEPS = "-._~/"
_ID_CHARS = _ALNUM | frozenset(_ID_SEPS)
_NAME_CHARS = _ALNUM | frozenset("-")
_ENV_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_ENV_CHARS = _ENV_FIRST | frozenset("0123456789.-")
_SEMVER_CHARS = _ENV_FIRST - {"_"} | frozenset("0123456789-")

ERR_EMPTY_ACIDENTIFIER = "ACIdentifier cannot be empty"
ERR_ACIDENTIFIER_CHARS = ('ACIdentifier must contain only lower case alphanumeric characters '
                          'plus "-._~/"')
ERR_ACIDENTIFIER_EDGES = ("ACIdentifier must start and end with only lower case alphanumeric "
                          "characters")
ERR_EMPTY_ACNAME = "ACName cannot be empty"
ERR_ACNAME_CHARS = 'ACName must contain only lower case alphanumeric characters plus "-"'
ERR_ACNAME_EDGES = "ACName must start and end with only lower case alphanumeric characters"

# appc's whitelist for the os/arch labels of any manifest (types.ValidOSArch).
VALID_OS_ARCH: dict[str, tuple[str, ...]] = {
    "linux": ("amd64", "i386", "aarch64", "aarch64_be", "armv6l", "armv7l", "armv7b", "ppc64",
              "ppc64le", "s390x"),
    "freebsd": ("amd64", "i386", "arm"),
    "darwin": ("x86_64", "i386"),
}
# What rkt 1.30's stage0 can run (stage0.ValidOSArch).
STAGE0_OS_ARCH: dict[str, tuple[str, ...]] = {
    "linux": ("amd64", "i386", "aarch64", "aarch64_be", "armv6l", "armv7l", "armv7b", "ppc64le"),
}


def is_ac_identifier(s: str) -> bool:
    """True if ``s`` matches appc's documented ACIdentifier expression
    (``^[a-z0-9]+([-._~/][a-z0-9]+)*$``)."""
    return (bool(s) and _ID_CHARS.issuperset(s) and s[0] in _ALNUM and s[-1] in _ALNUM
            and not any(a in _ID_SEPS and b in _ID_SEPS for a, b in zip(s, s[1:], strict=False)))


def is_ac_name(s: str) -> bool:
    """True if ``s`` matches appc's documented ACName expression (``^[a-z0-9]+(-[a-z0-9]+)*$``)."""
    return (bool(s) and _NAME_CHARS.issuperset(s) and s[0] != "-" and s[-1] != "-"
            and "--" not in s)


def is_env_name(s: str) -> bool:
    """True if ``s`` is a valid environment variable name for an app
    (``^[A-Za-z_][A-Za-z_0-9.-]*$``)."""
    return bool(s) and s[0] in _ENV_FIRST and _ENV_CHARS.issuperset(s)


def check_ac_identifier(s: str) -> str:
    """Return ``s`` if appc accepts it as an ACIdentifier, else raise ``ValueError``."""
    if not s:
        raise ValueError(ERR_EMPTY_ACIDENTIFIER)
    if not _ID_CHARS.issuperset(s):
        raise ValueError(ERR_ACIDENTIFIER_CHARS)
    if s[0] in _ID_SEPS or s[-1] in _ID_SEPS:
        raise ValueError(ERR_ACIDENTIFIER_EDGES)
    return s


def check_ac_name(s: str) -> str:
    """Return ``s`` if appc accepts it as an ACName, else raise ``ValueError``."""
    if not s:
        raise ValueError(ERR_EMPTY_ACNAME)
    if not _NAME_CHARS.issuperset(s):
        raise ValueError(ERR_ACNAME_CHARS)
    if s[0] == "-" or s[-1] == "-":
        raise ValueError(ERR_ACNAME_EDGES)
    return s


def sanitize_ac_identifier(s: str) -> str:
    """appc ``SanitizeACIdentifier``: lowercase, bad characters -> ``_``, trim edge separators."""
    s = "".join(c if c in _ID_CHARS else "_" for c in s.lower()).strip(_ID_SEPS)
    if not s:
        raise ValueError("must contain at least one valid character")
    return s


def sanitize_ac_name(s: str) -> str:
    """appc ``SanitizeACName``: lowercase, bad characters -> ``-``, trim edge dashes."""
    s = "".join(c if c in _NAME_CHARS else "-" for c in s.lower()).strip("-")
    if not s:
        raise ValueError("must contain at least one valid character")
    return s


def image_app_name(image_name: str) -> str:
    """The default app name for an image: its last path segment, sanitized as an ACName."""
    return sanitize_ac_name(image_name.rsplit("/", 1)[-1])


# --- Go strconv, for flag values --------------------------------------------------------

_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def go_parse_bool(s: str) -> bool:
    """Go ``strconv.ParseBool``; ``ValueError`` with Go's message."""
    try:
        return _GO_BOOLS[s]
    except KeyError:
        raise ValueError(f"strconv.ParseBool: parsing {go_quote(s)}: invalid syntax") from None


def go_atoi(s: str) -> int:
    """Go ``strconv.Atoi``; ``ValueError`` with Go's message."""
    body = s[1:] if s[:1] in "+-" else s
    if body and body.isascii() and body.isdigit():
        n = int(s)
        if -(1 << 63) <= n < (1 << 63):
            return n
        raise ValueError(f"strconv.Atoi: parsing {go_quote(s)}: value out of range")
    raise ValueError(f"strconv.Atoi: parsing {go_quote(s)}: invalid syntax")


# --- hashes and versions -------------------------------------------------------------------

def check_hash(s: str) -> str:
    """Return ``s`` if appc accepts it as an image hash (``sha512-<value>``), else raise."""
    parts = s.split("-")
    if len(parts) != 2:
        raise ValueError("badly formatted hash string")
    typ, val = parts
    if typ == "":
        raise ValueError("unexpected empty hash type")
    if typ != "sha512":
        raise ValueError(f"unrecognized hash type: {typ}")
    if val == "":
        raise ValueError("unexpected empty hash value")
    return s


def _semver_ident(s: str) -> bool:
    # ^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$
    return all(part and _SEMVER_CHARS.issuperset(part) for part in s.split("."))


def parse_semver(s: str) -> tuple[int, int, int, str, str]:
    """coreos/go-semver as appc uses it: ``(major, minor, patch, pre, meta)``.

    Raises ``ValueError('SemVer is bad')`` or ``ValueError('SemVer cannot be zero')``.
    """
    rest, _, meta = s.partition("+")
    rest, _, pre = rest.partition("-")
    dots = rest.split(".", 2)
    try:
        if len(dots) != 3:
            raise ValueError
        for ident in (pre, meta):
            if ident and not _semver_ident(ident):
                raise ValueError
        nums = []
        for d in dots:
            # strconv.ParseInt(d, 10, 64): optional sign, ASCII digits only.
            body = d[1:] if d[:1] in "+-" else d
            if not body or not body.isascii() or not body.isdigit():
                raise ValueError
            n = int(d)
            if not -(1 << 63) <= n < (1 << 63):
                raise ValueError
            nums.append(n)
    except ValueError:
        raise ValueError("SemVer is bad") from None
    if nums == [0, 0, 0] and not pre and not meta:
        raise ValueError("SemVer cannot be zero")
    return nums[0], nums[1], nums[2], pre, meta


def format_semver(v: tuple[int, int, int, str, str]) -> str:
    """go-semver ``Version.String``."""
    out = f"{v[0]}.{v[1]}.{v[2]}"
    if v[3]:
        out += "-" + v[3]
    if v[4]:
        out += "+" + v[4]
    return out


def canonical_semver(s: str) -> str:
    """Validate ``s`` as appc's SemVer and return it as Go would re-emit it."""
    return format_semver(parse_semver(s))


# --- labels --------------------------------------------------------------------------------

class Label(Record):
    """One ``{"name", "value"}`` label (name an ACIdentifier)."""

    __slots__ = ("name", "value")
    name: str
    value: str

    def to_go(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value}


def validate_labels(labels: Iterable[Label]) -> None:
    """appc ``Labels.assertValid``: no ``name`` label, no duplicates, valid os/arch."""
    seen: dict[str, str] = {}
    for lbl in labels:
        if lbl.name == "name":
            raise ValueError('invalid label name: "name"')
        if lbl.name in seen:
            raise ValueError(f"duplicate labels of name {go_quote(lbl.name)}")
        seen[lbl.name] = lbl.value
    check_valid_os_arch(seen, VALID_OS_ARCH)


def check_valid_os_arch(labels: Mapping[str, str], valid: Mapping[str, tuple[str, ...]]) -> None:
    """appc ``IsValidOSArch``: if an ``os`` label exists it must be listed, and so its arch."""
    os_name = labels.get("os")
    if os_name is None:
        return
    archs = valid.get(os_name)
    if archs is None:
        raise ValueError(f"bad os {go_quote(os_name)} (must be one of: {go_list(sorted(valid))})")
    arch = labels.get("arch")
    if arch is not None and arch not in archs:
        raise ValueError(f"bad arch {go_quote(arch)} for {os_name} "
                         f"(must be one of: {go_list(archs)})")


def check_os_arch(manifest: ImageManifest | Iterable[Label]) -> None:
    """stage0's rule before running an image: os and arch labels present and runnable.

    Raises ``ImageError`` with rkt's messages: ``missing os label in the image manifest``,
    ``missing arch label in the image manifest``, ``bad os "freebsd" (must be one of:
    [linux])``, ``bad arch "s390x" for linux (must be one of: [amd64 i386 …])``.
    """
    labels = getattr(manifest, "labels", manifest)
    have = {lb.name: lb.value for lb in labels}
    if "os" not in have:
        raise ImageError("missing os label in the image manifest")
    if "arch" not in have:
        raise ImageError("missing arch label in the image manifest")
    try:
        check_valid_os_arch(have, STAGE0_OS_ARCH)
    except ValueError as e:
        raise ImageError(str(e)) from None


# --- image names on the command line -------------------------------------------------------

# A name[:version] made only of these comes out of appc's query-string round trip
# (escape each value, then unescape) exactly as it went in: no "," "=" "&" ";" "%" "+".
_PLAIN_NAME = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~/:")


def parse_image_name(s: str) -> tuple[str, dict[str, str]]:
    """Split ``name[:version][,label=value…]`` into the name and its labels (appc discovery).

    One colon at most, right after the name; it means the ``version`` label. Values are
    taken literally; a repeated label is an error. Raises ``ImageError`` with appc's message.
    """
    try:
        first_comma = s.find(",")
        first_colon = s.find(":")
        if first_colon > first_comma > -1:
            raise ValueError("malformed app string - colon may appear only right after the "
                             "app name")
        if s.count(":") > 1:
            raise ValueError("malformed app string - colon may appear at most once")
        if _PLAIN_NAME.issuperset(s):  # the common case, without loading the query parser
            name, colon, version = s.partition(":")
            labels = {"version": version} if colon else {}
        else:
            from rktfast.appc.querystring import make_query_string, parse_query, single_values

            query = make_query_string("name=" + s.replace(":", ",version=", 1))
            values = single_values(parse_query(query))
            name = values.pop("name", "")
            labels = {}
            for key, value in values.items():
                labels[check_ac_identifier(key)] = value
        check_ac_identifier(name)
    except ValueError as e:
        raise ImageError(str(e)) from None
    return name, labels


# --- IP addresses (Go net.ParseIP / IP.String) ---------------------------------------------

def canonical_ip(s: str) -> str:
    """Go ``net.ParseIP(s).String()``; raises ``ValueError('invalid IP address: s')``."""
    parts = s.split(".")
    if len(parts) == 4 and ":" not in s:
        nums = [int(p) for p in parts if p.isascii() and p.isdigit()]
        if len(nums) == 4 and all(n <= 255 for n in nums):
            return ".".join(str(n) for n in nums)
        raise ValueError(f"invalid IP address: {s}")
    import ipaddress

    try:
        ip = ipaddress.IPv6Address(s)
    except ValueError:
        raise ValueError(f"invalid IP address: {s}") from None
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return ip.compressed
