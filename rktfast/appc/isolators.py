"""appc isolators: decoding and validating them, and building them from rkt's CLI flags.

An ``Isolator`` keeps the value as decoded (re-emitted as is, like Go's ``json.RawMessage``)
plus ``typed``, the validated meaning for the known kinds:

* ``resource/cpu|memory|block-bandwidth|block-iops|network-bandwidth`` -> ``ResourceValue``
* ``os/linux/capabilities-retain-set|remove-set`` -> ``list[str]``
* ``os/linux/seccomp-retain-set|remove-set`` -> ``SeccompValue``
* ``os/linux/no-new-privileges`` -> ``bool``; ``os/linux/cpu-shares|oom-score-adj`` -> ``int``
* ``os/linux/selinux-context`` -> ``dict`` (user, role, type, level)

Unknown names get ``typed = None``; inside an image's ``app`` that makes the set invalid
(``invalid isolator``), as in appc 0.8.11.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rktfast.appc import decode
from rktfast.appc.types import check_ac_identifier, go_atoi
from rktfast.output.goquote import go_quote
from rktfast.record import Record
from rktfast.units import QUANTITY_FORMAT_ERROR, Quantity, parse_quantity

RESOURCE_CPU = "resource/cpu"
RESOURCE_MEMORY = "resource/memory"
RESOURCE_BLOCK_BANDWIDTH = "resource/block-bandwidth"
RESOURCE_BLOCK_IOPS = "resource/block-iops"
RESOURCE_NETWORK_BANDWIDTH = "resource/network-bandwidth"
CAPS_RETAIN = "os/linux/capabilities-retain-set"
CAPS_REMOVE = "os/linux/capabilities-remove-set"
NO_NEW_PRIVILEGES = "os/linux/no-new-privileges"
SECCOMP_RETAIN = "os/linux/seccomp-retain-set"
SECCOMP_REMOVE = "os/linux/seccomp-remove-set"
OOM_SCORE_ADJ = "os/linux/oom-score-adj"
CPU_SHARES = "os/linux/cpu-shares"
SELINUX_CONTEXT = "os/linux/selinux-context"

_RESOURCES = (RESOURCE_CPU, RESOURCE_MEMORY, RESOURCE_BLOCK_BANDWIDTH, RESOURCE_BLOCK_IOPS,
              RESOURCE_NETWORK_BANDWIDTH)
_SINGLE_INSTANCE = (SECCOMP_RETAIN, SECCOMP_REMOVE, OOM_SCORE_ADJ, CPU_SHARES, SELINUX_CONTEXT)
_KNOWN = frozenset(_RESOURCES + (CAPS_RETAIN, CAPS_REMOVE, NO_NEW_PRIVILEGES, SECCOMP_RETAIN,
                                  SECCOMP_REMOVE, OOM_SCORE_ADJ, CPU_SHARES, SELINUX_CONTEXT))
_CONFLICTS = {SECCOMP_RETAIN: (SECCOMP_REMOVE,), SECCOMP_REMOVE: (SECCOMP_RETAIN,)}

# Linux capabilities by number, as rkt's stage1 knows them.
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
)
# The capabilities an app keeps when no capabilities isolator says otherwise.
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_KILL",
    "CAP_MKNOD", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID",
    "CAP_SETPCAP", "CAP_SETFCAP", "CAP_SYS_CHROOT",
)


class ResourceValue(Record):
    """The value of a ``resource/*`` isolator."""

    __slots__ = ("default", "request", "limit")
    _defaults: ClassVar[dict[str, Any]] = {"default": False, "request": None, "limit": None}
    default: bool
    request: Quantity | None
    limit: Quantity | None


class SeccompValue(Record):
    """The value of an ``os/linux/seccomp-*-set`` isolator."""

    __slots__ = ("set", "errno")
    _defaults: ClassVar[dict[str, Any]] = {"errno": ""}
    set: list[str]
    errno: str


class Isolator(Record):
    """One ``{"name", "value"}`` isolator; ``value`` is what gets written back."""

    __slots__ = ("name", "value", "typed")
    _defaults: ClassVar[dict[str, Any]] = {"typed": None}
    name: str
    value: Any
    typed: Any

    def to_go(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value}


# --- decoding ------------------------------------------------------------------------------

_ISOLATOR_FIELDS = decode.field_table("name", "value")
_RESOURCE_FIELDS = decode.field_table("default", "request", "limit")
_SET_FIELDS = decode.field_table("set")
_SECCOMP_FIELDS = decode.field_table("set", "errno")
_SELINUX_FIELDS = decode.field_table("user", "role", "type", "level")


def decode_isolator(v: Any) -> Isolator:
    """Decode and validate one isolator object (appc ``Isolator.UnmarshalJSON``)."""
    name = ""
    value: Any = None
    for key, x in decode.fields(v, _ISOLATOR_FIELDS, "types.isolator"):
        if key == "name":
            name = check_ac_identifier(decode.string(x, "isolator.name"))
        else:
            value = x
    typed = _decode_value(name, value)
    return Isolator(name, value, typed)


def _decode_value(name: str, value: Any) -> Any:
    if name in _KNOWN and value is None:
        # appc dereferences the missing raw value and panics; we refuse the isolator instead.
        raise ValueError(f"isolator {name} has no value")
    if name in _RESOURCES:
        typed = _resource_value(value)
        _check_resource(name, typed)
        return typed
    if name not in _KNOWN:
        return None
    if name in (CAPS_RETAIN, CAPS_REMOVE):
        caps: list[str] = []
        for _, x in decode.fields(value, _SET_FIELDS, "types.linuxCapabilitiesSetValue"):
            caps = decode.string_list(x, "linuxCapabilitiesSetValue.set",
                                      "[]types.LinuxCapability", "types.LinuxCapability") or []
        if not caps:
            raise ValueError("set must be non-empty")
        return caps
    if name in (SECCOMP_RETAIN, SECCOMP_REMOVE):
        sv = SeccompValue([], "")
        for key, x in decode.fields(value, _SECCOMP_FIELDS, "types.linuxSeccompValue"):
            if key == "set":
                sv.set = decode.string_list(x, "linuxSeccompValue.set",
                                            "[]types.LinuxSeccompEntry",
                                            "types.LinuxSeccompEntry") or []
            else:
                sv.errno = decode.string(x, "linuxSeccompValue.errno", "types.LinuxSeccompErrno")
        _check_seccomp(sv)
        return sv
    if name == NO_NEW_PRIVILEGES:
        return decode.boolean(value)
    if name == SELINUX_CONTEXT:
        ctx = {"user": "", "role": "", "type": "", "level": ""}
        for key, x in decode.fields(value, _SELINUX_FIELDS, "types.linuxSELinuxValue"):
            ctx[key] = decode.string(x, f"linuxSELinuxValue.{key}")
        for key in ("user", "role", "type"):
            if ctx[key] == "" or ":" in ctx[key]:
                raise ValueError(f"invalid {key} value {go_quote(ctx[key])}")
        if ctx["level"] == "":
            raise ValueError(f"invalid level value {go_quote(ctx['level'])}")
        return ctx
    n = decode.integer(value)
    _check_int(name, n)
    return n


def _quantity(v: Any) -> Quantity | None:
    # k8s Quantity.UnmarshalJSON: null -> nil; a string or a bare number is parsed.
    if v is None:
        return None
    if isinstance(v, str):
        return parse_quantity(v.strip())
    # Go hands the raw bytes (true, [..], {..}) to ParseQuantity, which rejects them.
    raise ValueError(QUANTITY_FORMAT_ERROR)


def _resource_value(value: Any) -> ResourceValue:
    rv = ResourceValue()
    for key, x in decode.fields(value, _RESOURCE_FIELDS, "types.resourceValue"):
        if key == "default":
            rv.default = decode.boolean(x, "resourceValue.default")
        elif key == "request":
            rv.request = _quantity(x)
        else:
            rv.limit = _quantity(x)
    return rv


def _check_resource(name: str, rv: ResourceValue) -> None:
    if name in (RESOURCE_CPU, RESOURCE_MEMORY):
        if rv.default:
            raise ValueError("default must be false")
        return
    if not rv.default:
        raise ValueError("default must be true")
    if rv.request is not None:
        raise ValueError("request not supported by this resource, must be empty")


def _check_seccomp(sv: SeccompValue) -> None:
    if not sv.set:
        raise ValueError("set must be non-empty")
    if sv.errno:
        if not sv.errno.startswith("E"):
            raise ValueError(f"errno must start with an 'E' character, got {sv.errno}")
        if not all(c.isupper() or c.isdigit() for c in sv.errno):
            raise ValueError("errno can only contain upper case or numeric characters, "
                             f"got {sv.errno}")


def _check_int(name: str, n: int) -> None:
    if name == CPU_SHARES and not 2 <= n <= 262144:
        raise ValueError(f"{CPU_SHARES} must be between 2 and 262144, got {n}")
    if name == OOM_SCORE_ADJ and not -1000 <= n <= 1000:
        raise ValueError(f"{OOM_SCORE_ADJ} must be between -1000 and 1000, got {n}")


def validate_app_isolators(isolators: Iterable[Isolator]) -> None:
    """appc ``Isolators.assertValid`` for an app: all known, single ones single, no conflicts."""
    seen: set[str] = set()
    for iso in isolators:
        if iso.typed is None:
            raise ValueError("invalid isolator")
        if iso.name in seen and iso.name in _SINGLE_INSTANCE:
            # The stray quote is appc's.
            raise ValueError(f'isolators set contains too many instances of type {iso.name}"')
        for other in _CONFLICTS.get(iso.name, ()):
            if other in seen:
                raise ValueError("isolators set contains incompatible types")
        seen.add(iso.name)


# --- construction from CLI flags -----------------------------------------------------------

def _resource_isolator(name: str, s: str) -> Isolator:
    try:
        request = parse_quantity(s)
    except ValueError as e:
        raise ValueError(f"error parsing request: {e}") from None
    limit = request
    value = {"default": False, "request": str(request), "limit": str(limit)}
    return Isolator(name, value, ResourceValue(False, request, limit))


def memory_isolator(s: str) -> Isolator:
    """``--memory=S``: a ``resource/memory`` limit (quantity or raw bytes, at least 4096 B)."""
    iso = _resource_isolator(RESOURCE_MEMORY, s)
    n = iso.typed.limit.value()
    if n < 4096:
        raise ValueError(f"memory limit of {n} bytes too low. Try a reasonable value, such as "
                         "--memory=16M")
    return iso


def cpu_isolator(s: str) -> Isolator:
    """``--cpu=S``: a ``resource/cpu`` limit in cores (``500m``, ``2``, ``100``)."""
    return _resource_isolator(RESOURCE_CPU, s)


def cpu_shares_isolator(s: str) -> Isolator:
    """``--cpu-shares=N``: ``os/linux/cpu-shares`` (2..262144)."""
    n = go_atoi(s)
    _check_int(CPU_SHARES, n)
    return Isolator(CPU_SHARES, n, n)


def oom_score_adj_isolator(s: str) -> Isolator:
    """``--oom-score-adj=N``: ``os/linux/oom-score-adj`` (-1000..1000)."""
    n = go_atoi(s)
    _check_int(OOM_SCORE_ADJ, n)
    return Isolator(OOM_SCORE_ADJ, n, n)


def caps_retain_isolator(s: str) -> Isolator:
    """``--caps-retain=CAP_A,CAP_B``: ``os/linux/capabilities-retain-set``."""
    caps = s.split(",")
    return Isolator(CAPS_RETAIN, {"set": caps}, caps)


def caps_remove_isolator(s: str) -> Isolator:
    """``--caps-remove=CAP_A,CAP_B``: ``os/linux/capabilities-remove-set``."""
    caps = s.split(",")
    return Isolator(CAPS_REMOVE, {"set": caps}, caps)


def validate_capabilities(names: Iterable[str]) -> None:
    """Stage1's check that every name is a capability it knows (``unknown capability "X"``)."""
    known = set(CAPABILITIES)
    for n in names:
        if n not in known:
            raise ValueError(f"unknown capability {go_quote(n)}")


def seccomp_isolator(s: str) -> Isolator:
    """``--seccomp=mode=retain|remove[,errno=E],syscall,…``: a seccomp set isolator.

    Same parsing as rkt's ``App.SeccompOverride``: ``k=v`` items set mode/errno (another key
    is an error), every other item is a syscall or group.
    """
    mode = errno = ""
    syscalls: list[str] = []
    err = None
    for item in s.split(","):
        kv = item.split("=")
        if len(kv) == 2:
            if kv[0] == "mode":
                if kv[1] not in ("remove", "retain"):
                    err = "invalid seccomp mode command-line override"
                mode = kv[1]
            elif kv[0] == "errno":
                errno = kv[1]
            else:
                err = "invalid seccomp command-line override"
        else:
            syscalls.append(item)
    if err:
        raise ValueError(err)
    if mode not in ("retain", "remove"):
        raise ValueError("invalid seccomp mode command-line override")
    sv = SeccompValue(syscalls, errno)
    _check_seccomp(sv)
    name = SECCOMP_RETAIN if mode == "retain" else SECCOMP_REMOVE
    return Isolator(name, {"set": syscalls, "errno": errno}, sv)


def apply_overrides(isolators: list[Isolator], *, memory: Isolator | None = None,
                    cpu: Isolator | None = None, cpu_shares: Isolator | None = None,
                    oom_score_adj: Isolator | None = None, caps_retain: Isolator | None = None,
                    caps_remove: Isolator | None = None,
                    seccomp: Isolator | None = None) -> list[Isolator]:
    """Merge CLI isolators into an app's list the way rkt's ``prepareIsolators`` does.

    memory/cpu are appended; cpu-shares, oom-score-adj and seccomp replace every isolator of
    their kind(s); a caps flag drops all existing capability sets first. Both caps flags ->
    ``error: cannot use both --caps-retain and --caps-remove on the same image``.
    """
    out = list(isolators)
    if memory is not None:
        out.append(memory)
    if cpu is not None:
        out.append(cpu)
    if cpu_shares is not None:
        out = [i for i in out if i.name != CPU_SHARES] + [cpu_shares]
    if oom_score_adj is not None:
        out = [i for i in out if i.name != OOM_SCORE_ADJ] + [oom_score_adj]
    if caps_retain is not None and caps_remove is not None:
        raise ValueError("error: cannot use both --caps-retain and --caps-remove on the same "
                         "image")
    caps = caps_retain or caps_remove
    if caps is not None:
        out = [i for i in out if i.name not in (CAPS_RETAIN, CAPS_REMOVE)] + [caps]
    if seccomp is not None:
        out = [i for i in out if i.name not in (SECCOMP_RETAIN, SECCOMP_REMOVE)] + [seccomp]
    return out


def find_last(isolators: Iterable[Isolator], name: str) -> Isolator | None:
    """The last isolator called ``name`` (appc ``GetByName``), or None."""
    found = None
    for i in isolators:
        if i.name == name:
            found = i
    return found
