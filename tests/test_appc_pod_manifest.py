"""PodManifest parsing and emission (the flag values are in test_pod_cliargs.py)."""

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
)
from rktfast.errors import PodError

ACTOOL = shutil.which("actool")
HASH = "sha512-" + "ab" * 32


def generated_pod() -> PodManifest:
    return PodManifest(
        ac_version="1.30.0",
        apps=[RuntimeApp("etcd", RuntimeImage(HASH, "coreos.com/etcd"),
                         App(exec=["/etcd"], user="0", group="0"),
                         mounts=[Mount("data", "/data")])],
        volumes=[Volume("data", "empty", mode="0755", uid=0, gid=0)],
        annotations=[Annotation("coreos.com/rkt/stage1/mutable", "false")],
        ports=[ExposedPort("client", 2379)])


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
