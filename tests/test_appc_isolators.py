"""Isolators from rkt's CLI flags, and how they merge into an app."""

import pytest

from rktfast.appc.isolators import (
    CAPS_REMOVE,
    CPU_SHARES,
    SECCOMP_RETAIN,
    apply_overrides,
    caps_remove_isolator,
    caps_retain_isolator,
    cpu_isolator,
    cpu_shares_isolator,
    decode_isolator,
    find_last,
    memory_isolator,
    oom_score_adj_isolator,
    seccomp_isolator,
    validate_capabilities,
)
from rktfast.output.gojson import dumps, loads


def test_memory_flag_accepts_quantities_and_raw_bytes():
    assert dumps(memory_isolator("128M")) == (
        '{"name":"resource/memory","value":{"default":false,"request":"128M","limit":"128M"}}')
    iso = memory_isolator("268435456")
    assert iso.typed.limit.value() == 268435456
    assert iso.value["limit"] == "268435456"
    assert memory_isolator("1.5Gi").value["limit"] == "1536Mi"


@pytest.mark.parametrize("flag, msg", [
    ("16m", "memory limit of 1 bytes too low. Try a reasonable value, such as --memory=16M"),
    ("4095", "memory limit of 4095 bytes too low. Try a reasonable value, such as --memory=16M"),
    ("lots", "error parsing request: quantities must match the regular expression "
             "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
])
def test_memory_flag_errors(flag, msg):
    with pytest.raises(ValueError) as e:
        memory_isolator(flag)
    assert str(e.value) == msg


@pytest.mark.parametrize("flag, millis", [("500m", 500), ("2", 2000), ("100", 100_000)])
def test_cpu_flag_is_in_cores(flag, millis):
    iso = cpu_isolator(flag)
    assert iso.name == "resource/cpu"
    assert iso.typed.limit.milli_value() == millis


def test_linux_isolators_from_flags():
    assert dumps(cpu_shares_isolator("512")) == '{"name":"os/linux/cpu-shares","value":512}'
    assert dumps(oom_score_adj_isolator("-100")) == '{"name":"os/linux/oom-score-adj","value":-100}'
    assert dumps(caps_retain_isolator("CAP_NET_ADMIN,CAP_KILL")) == (
        '{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_NET_ADMIN","CAP_KILL"]}}')
    assert dumps(seccomp_isolator("mode=retain,@rkt/default-whitelist,chmod")) == (
        '{"name":"os/linux/seccomp-retain-set","value":{"set":["@rkt/default-whitelist","chmod"],'
        '"errno":""}}')
    assert seccomp_isolator("mode=remove,errno=EPERM,reboot").typed.errno == "EPERM"


@pytest.mark.parametrize("fn, flag, msg", [
    (cpu_shares_isolator, "1", "os/linux/cpu-shares must be between 2 and 262144, got 1"),
    (cpu_shares_isolator, "x", 'strconv.Atoi: parsing "x": invalid syntax'),
    (oom_score_adj_isolator, "1001", "os/linux/oom-score-adj must be between -1000 and 1000, "
                                     "got 1001"),
    (seccomp_isolator, "mode=keep,chmod", "invalid seccomp mode command-line override"),
    (seccomp_isolator, "chmod", "invalid seccomp mode command-line override"),
    (seccomp_isolator, "mode=retain,foo=1,chmod", "invalid seccomp command-line override"),
    (seccomp_isolator, "mode=retain", "set must be non-empty"),
    (seccomp_isolator, "mode=retain,errno=eperm,x", "errno must start with an 'E' character, "
                                                   "got eperm"),
])
def test_flag_errors(fn, flag, msg):
    with pytest.raises(ValueError) as e:
        fn(flag)
    assert str(e.value) == msg


def test_overrides_merge_like_rkt():
    image = [decode_isolator(loads(x)) for x in (
        '{"name":"os/linux/cpu-shares","value":100}',
        '{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_KILL"]}}',
        '{"name":"os/linux/seccomp-retain-set","value":{"set":["read"]}}',
    )]
    merged = apply_overrides(image, memory=memory_isolator("1G"),
                             cpu_shares=cpu_shares_isolator("2048"),
                             caps_remove=caps_remove_isolator("CAP_MKNOD"),
                             seccomp=seccomp_isolator("mode=retain,write"))
    assert [i.name for i in merged] == ["resource/memory", CPU_SHARES, CAPS_REMOVE, SECCOMP_RETAIN]
    assert find_last(merged, CPU_SHARES).typed == 2048
    with pytest.raises(ValueError) as e:
        apply_overrides([], caps_retain=caps_retain_isolator("CAP_KILL"),
                        caps_remove=caps_remove_isolator("CAP_KILL"))
    assert str(e.value) == ("error: cannot use both --caps-retain and --caps-remove on the same "
                            "image")


def test_capability_names_are_checked_when_asked():
    validate_capabilities(["CAP_NET_ADMIN", "CAP_SYS_ADMIN"])
    with pytest.raises(ValueError) as e:
        validate_capabilities(["CAP_FLY"])
    assert str(e.value) == 'unknown capability "CAP_FLY"'


def test_decoded_isolator_without_value_is_refused():
    with pytest.raises(ValueError) as e:
        decode_isolator(loads('{"name":"os/linux/cpu-shares"}'))
    assert str(e.value) == "isolator os/linux/cpu-shares has no value"
