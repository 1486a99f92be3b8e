"""appc value types, labels, os/arch rules and image names."""

import pytest

from rktfast.appc.types import (
    Label,
    canonical_semver,
    check_ac_identifier,
    check_ac_name,
    check_hash,
    check_os_arch,
    image_app_name,
    is_ac_identifier,
    is_ac_name,
    is_env_name,
    parse_image_name,
    sanitize_ac_identifier,
    sanitize_ac_name,
    validate_labels,
)
from rktfast.errors import ImageError


def test_documented_expressions():
    assert is_ac_identifier("example.com/app~x_y-z")
    assert not is_ac_identifier("a..b")
    assert is_ac_name("my-app2")
    assert not is_ac_name("my.app")
    assert is_env_name("A.b-c") and not is_env_name("1A")


def test_check_is_as_loose_as_appc():
    # appc only checks characters and edges, so doubled separators pass, as in rkt.
    assert check_ac_identifier("a..b") == "a..b"
    assert check_ac_name("a--b") == "a--b"


@pytest.mark.parametrize("s, msg", [
    ("", "ACIdentifier cannot be empty"),
    ("Foo", 'ACIdentifier must contain only lower case alphanumeric characters plus "-._~/"'),
    ("-foo", "ACIdentifier must start and end with only lower case alphanumeric characters"),
])
def test_ac_identifier_errors(s, msg):
    with pytest.raises(ValueError, match=f"^{msg}$".replace(".", r"\.").replace("~", "~")):
        check_ac_identifier(s)


def test_ac_name_errors():
    with pytest.raises(ValueError) as e:
        check_ac_name("a.b")
    assert str(e.value) == 'ACName must contain only lower case alphanumeric characters plus "-"'
    with pytest.raises(ValueError) as e:
        check_ac_name("a-")
    assert str(e.value) == "ACName must start and end with only lower case alphanumeric characters"


def test_sanitize():
    assert sanitize_ac_identifier("Docker.io/Library/Redis:latest") == "docker.io/library/redis_latest"
    assert sanitize_ac_identifier("--a b--") == "a_b"
    assert sanitize_ac_name("Redis_Server.1") == "redis-server-1"
    assert image_app_name("coreos.com/etcd") == "etcd"
    assert image_app_name("registry-1.docker.io/library/Redis_x") == "redis-x"
    with pytest.raises(ValueError):
        sanitize_ac_name("...")


def test_labels_validation_messages():
    with pytest.raises(ValueError) as e:
        validate_labels([Label("name", "x")])
    assert str(e.value) == 'invalid label name: "name"'
    with pytest.raises(ValueError) as e:
        validate_labels([Label("os", "linux"), Label("os", "linux")])
    assert str(e.value) == 'duplicate labels of name "os"'
    with pytest.raises(ValueError) as e:
        validate_labels([Label("os", "plan9")])
    assert str(e.value) == 'bad os "plan9" (must be one of: [darwin freebsd linux])'
    with pytest.raises(ValueError) as e:
        validate_labels([Label("os", "linux"), Label("arch", "mips")])
    assert str(e.value) == ('bad arch "mips" for linux (must be one of: [amd64 i386 aarch64 '
                            'aarch64_be armv6l armv7l armv7b ppc64 ppc64le s390x])')
    validate_labels([Label("os", "freebsd"), Label("arch", "arm")])


@pytest.mark.parametrize("labels, msg", [
    ([Label("arch", "amd64")], "missing os label in the image manifest"),
    ([Label("os", "linux")], "missing arch label in the image manifest"),
    ([Label("os", "freebsd"), Label("arch", "amd64")], 'bad os "freebsd" (must be one of: [linux])'),
    ([Label("os", "linux"), Label("arch", "s390x")],
     'bad arch "s390x" for linux (must be one of: [amd64 i386 aarch64 aarch64_be armv6l armv7l '
     'armv7b ppc64le])'),
])
def test_stage0_os_arch_rule(labels, msg):
    with pytest.raises(ImageError) as e:
        check_os_arch(labels)
    assert e.value.message == msg


def test_stage0_accepts_runnable_images():
    check_os_arch([Label("os", "linux"), Label("arch", "aarch64")])


def test_hash_and_semver():
    assert check_hash("sha512-abc") == "sha512-abc"
    for bad, msg in [("sha256-abc", "unrecognized hash type: sha256"),
                     ("abc", "badly formatted hash string"), ("sha512-", "unexpected empty hash value")]:
        with pytest.raises(ValueError) as e:
            check_hash(bad)
        assert str(e.value) == msg
    assert canonical_semver("01.2.3-rc.1+git") == "1.2.3-rc.1+git"
    for bad, msg in [("1.2", "SemVer is bad"), ("0.0.0", "SemVer cannot be zero"), ("", "SemVer is bad")]:
        with pytest.raises(ValueError) as e:
            canonical_semver(bad)
        assert str(e.value) == msg


@pytest.mark.parametrize("s, name, labels", [
    ("coreos.com/etcd", "coreos.com/etcd", {}),
    ("coreos.com/etcd:v2.0.0", "coreos.com/etcd", {"version": "v2.0.0"}),
    ("example.com/app:1.0,channel=alpha,os=linux", "example.com/app",
     {"version": "1.0", "channel": "alpha", "os": "linux"}),
    ("example.com/app,label=a+b%20", "example.com/app", {"label": "a+b%20"}),
])
def test_parse_image_name(s, name, labels):
    assert parse_image_name(s) == (name, labels)


@pytest.mark.parametrize("s, msg", [
    ("example.com/app,channel=alpha:1.0",
     "malformed app string - colon may appear only right after the app name"),
    ("example.com/app:1:2", "malformed app string - colon may appear at most once"),
    ("example.com/app,channel", 'malformed string "name=example.com/app,channel" - has a label '
                                "without a value: channel"),
    ("example.com/app,a=1,a=2", 'label a with multiple values ["1" "2"]'),
    ("Example.com/app", 'ACIdentifier must contain only lower case alphanumeric characters plus "-._~/"'),
    ("example.com/app,Bad=1", 'ACIdentifier must contain only lower case alphanumeric characters plus "-._~/"'),
])
def test_parse_image_name_errors(s, msg):
    with pytest.raises(ImageError) as e:
        parse_image_name(s)
    assert e.value.message == msg
