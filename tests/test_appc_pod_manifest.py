"""PodManifest parsing/emission and rkt's --volume/--mount/--port values."""

import shutil
import subprocess

import pytest

from rktfast.appc.image_manifest import Annotation, App
from rktfast.appc.pod_manifest import (
    ExposedPort,
    Mount,
    PodManifest,
    RuntimeApp,
    RuntimeImage,
    Volume,
    check_mounts,
    merge_mounts,
    mount_from_string,
    port_from_string,
    volume_from_string,
)
from rktfast.errors import PodError, UsageError

ACTOOL = shutil.which("actool")
HASH = "sha512-" + "ab" * 32


def generated_pod() -> PodManifest:
    return PodManifest(
        ac_version="1.30.0",
        apps=[RuntimeApp("etcd", RuntimeImage(HASH, "coreos.com/etcd"),
                         App(exec=["/etcd"], user="0", group="0"),
                         mounts=[Mount("data", "/data")])],
        volumes=[volume_from_string("data,kind=empty")],
        annotations=[Annotation("coreos.com/rkt/stage1/mutable", "false")],
        ports=[port_from_string("client:2379")])


def test_generated_pod_manifest_is_written_like_rkt():
    assert generated_pod().to_json() == (
        '{"acVersion":"1.30.0","acKind":"PodManifest","apps":[{"name":"etcd","image":'
        '{"name":"coreos.com/etcd","id":"' + HASH + '"},"app":{"exec":["/etcd"],"user":"0",'
        '"group":"0"},"mounts":[{"volume":"data","path":"/data"}]}],"volumes":[{"name":"data",'
        '"kind":"empty","mode":"0755","uid":0,"gid":0}],"isolators":null,"annotations":'
        '[{"name":"coreos.com/rkt/stage1/mutable","value":"false"}],"ports":[{"name":"client",'
        '"hostPort":2379}]}')


def test_unset_lists_are_null():
    pm = PodManifest.parse('{"acVersion":"1.30.0","acKind":"PodManifest"}')
    assert pm.to_json() == ('{"acVersion":"1.30.0","acKind":"PodManifest","apps":null,'
                            '"volumes":null,"isolators":null,"annotations":null,"ports":null}')


def test_round_trip_keeps_explicit_false_and_user_maps_sorted():
    raw = ('{"acVersion":"1.30.0","acKind":"PodManifest","apps":[],"volumes":[{"name":"v",'
           '"kind":"host","source":"/srv","readOnly":false}],"userLabels":{"b":"1","a":"2"},'
           '"PORTS":[{"name":"p","hostPort":80,"hostIP":"127.0.0.1"}]}')
    pm = PodManifest.parse(raw)
    assert pm.to_json() == (
        '{"acVersion":"1.30.0","acKind":"PodManifest","apps":[],"volumes":[{"name":"v",'
        '"kind":"host","source":"/srv","readOnly":false}],"isolators":null,"annotations":null,'
        '"ports":[{"name":"p","hostPort":80,"hostIP":"127.0.0.1"}],"userLabels":{"a":"2",'
        '"b":"1"}}')


def test_pod_without_apps_is_refused_before_running():
    pm = PodManifest.parse('{"acVersion":"1.30.0","acKind":"PodManifest","apps":[]}')
    with pytest.raises(PodError) as e:
        pm.ensure_apps()
    assert e.value.message == "pod must contain at least one application"


POD = '"acVersion":"1.30.0","acKind":"PodManifest"'
INVALID = {
    "dup_apps": (f'{{{POD},"apps":[{{"name":"a","image":{{"id":"sha512-aa"}}}},{{"name":"a","image":'
                 '{"id":"sha512-aa"}}]}', 'duplicate apps of name "a"'),
    "host_relative": (f'{{{POD},"volumes":[{{"name":"v","kind":"host","source":"rel"}}]}}',
                      "source for host volume must be absolute path"),
    "kind": (f'{{{POD},"volumes":[{{"name":"v","kind":"nfs"}}]}}',
             'unrecognized volume kind: should be one of "empty", "host"'),
    "ip": (f'{{{POD},"ports":[{{"name":"a","hostPort":80,"hostIP":"1.2.3"}}]}}',
           "invalid IP address: 1.2.3"),
    "app_name": (f'{{{POD},"apps":[{{"name":"A","image":{{"id":"sha512-aa"}}}}]}}',
                 'ACName must contain only lower case alphanumeric characters plus "-"'),
    "image_id": (f'{{{POD},"apps":[{{"name":"a","image":{{"id":"sha256-aa"}}}}]}}',
                 "unrecognized hash type: sha256"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_pod_manifests(case):
    raw, msg = INVALID[case]
    with pytest.raises(PodError) as e:
        PodManifest.parse(raw)
    assert e.value.message == msg


@pytest.mark.skipif(ACTOOL is None, reason="actool not installed")
@pytest.mark.parametrize("case", sorted(INVALID))
def test_pod_messages_agree_with_actool(case, tmp_path):
    raw, msg = INVALID[case]
    path = tmp_path / "pod.json"
    path.write_text(raw)
    out = subprocess.run([ACTOOL, "validate", str(path)], capture_output=True, text=True)
    assert (out.stdout + out.stderr).strip().endswith("invalid PodManifest: " + msg)


@pytest.mark.skipif(ACTOOL is None, reason="actool not installed")
def test_actool_validates_generated_pod(tmp_path):
    path = tmp_path / "pod.json"
    path.write_text(generated_pod().to_json(pretty=True))
    out = subprocess.run([ACTOOL, "validate", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("flag, volume", [
    ("data,kind=empty", Volume("data", "empty", mode="0755", uid=0, gid=0)),
    ("data,kind=empty,mode=0700,uid=1000,gid=100",
     Volume("data", "empty", mode="0700", uid=1000, gid=100)),
    ("src,kind=host,source=/tmp/a%20b,readOnly=true,recursive=false",
     Volume("src", "host", "/tmp/a%20b", read_only=True, recursive=False)),
    ("src,kind=host,source=/srv,readOnly=1", Volume("src", "host", "/srv", read_only=True)),
])
def test_volume_flag(flag, volume):
    assert volume_from_string(flag) == volume


@pytest.mark.parametrize("flag, reason", [
    ("db,kind", 'malformed string "name=db,kind" - has a label without a value: kind'),
    ("db,kind=host,source=rel", "source for host volume must be absolute path"),
    ("db,kind=host", "source for host volume cannot be empty"),
    ("db,kind=host,source=/x,uid=1", "uid for host volume cannot be set"),
    ("db,kind=empty,source=/x", "source for empty volume must be empty"),
    ("db,kind=host,source=/x,foo=1", 'unknown volume parameter "foo"'),
    ("Db,kind=empty", 'ACName must contain only lower case alphanumeric characters plus "-"'),
    ("db,kind=empty,uid=x", 'strconv.Atoi: parsing "x": invalid syntax'),
    ("db,kind=host,source=/x,readOnly=yes", 'strconv.ParseBool: parsing "yes": invalid syntax'),
    ("db,kind=empty,kind=host", 'label kind with multiple values ["empty" "host"]'),
])
def test_volume_flag_errors(flag, reason):
    with pytest.raises(UsageError) as e:
        volume_from_string(flag)
    assert e.value.message == f'invalid value in --volume flag "{flag}": {reason}'


def test_mount_flag():
    assert mount_from_string("volume=data,target=/var/lib/data") == Mount("data", "/var/lib/data")
    assert mount_from_string("volume=d,target=/a%20b") == Mount("d", "/a b")


@pytest.mark.parametrize("flag, msg", [
    ("volume=data,dest=/x", 'unknown mount parameter "dest"'),
    ("volume=Data,target=/x", 'invalid volume name "Data" in --mount flag "volume=Data,target=/x": '
                              'ACName must contain only lower case alphanumeric characters plus "-"'),
    ("volume=a,target=/%zz", 'invalid URL escape "%zz"'),
])
def test_mount_flag_errors(flag, msg):
    with pytest.raises(UsageError) as e:
        mount_from_string(flag)
    assert e.value.message == msg


def test_mounts_must_name_a_volume_and_merge_per_app_first():
    vols = [Volume("data", "empty", mode="0755", uid=0, gid=0)]
    check_mounts(vols, [Mount("data", "/d")])
    with pytest.raises(UsageError) as e:
        check_mounts(vols, [Mount("logs", "/var/log")])
    assert e.value.message == 'dangling mount point "/var/log": volume "logs" not found'
    merged = merge_mounts([Mount("a", "/x"), Mount("b", "/y")], [Mount("c", "/x")])
    assert merged == [Mount("c", "/x"), Mount("b", "/y")]


@pytest.mark.parametrize("flag, port", [
    ("http:8080", ExposedPort("http", 8080)),
    ("http:127.0.0.1:8080", ExposedPort("http", 8080, "127.0.0.1")),
])
def test_port_flag(flag, port):
    assert port_from_string(flag) == port


@pytest.mark.parametrize("flag, msg", [
    ("http", '"http" is not in name:[ip:]port format'),
    ("Http:80", '"Http" is not a valid port name'),
    ("http:1.2.3.400:80", '"1.2.3.400" is not a valid IP'),
    ("http:x", '"x" is not a valid port number'),
    ("http:70000", '"70000" is not a valid port number'),
    ("http:127.0.0.1:x", '"127.0.0.1" is not a valid port number'),  # rkt quotes the IP here
])
def test_port_flag_errors(flag, msg):
    with pytest.raises(UsageError) as e:
        port_from_string(flag)
    assert e.value.message == msg
