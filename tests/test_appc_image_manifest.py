"""ImageManifest parsing, validation and Go-compatible output, cross-checked with actool."""

import json
import os
import shutil
import subprocess

import pytest

from rktfast.appc.image_manifest import (
    App,
    Dependency,
    EnvironmentVariable,
    EventHandler,
    ImageManifest,
    MountPoint,
    Port,
)
from rktfast.appc.isolators import (
    caps_retain_isolator,
    cpu_isolator,
    cpu_shares_isolator,
    memory_isolator,
    oom_score_adj_isolator,
    seccomp_isolator,
)
from rktfast.appc.types import Label
from rktfast.errors import ImageError

ACTOOL = shutil.which("actool")
needs_actool = pytest.mark.skipif(ACTOOL is None, reason="actool (Debian appc-spec) not installed")

BASE = '"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/a"'
APP = '"app":{"exec":["/bin/sh"],"user":"0","group":"0"'


def full_manifest() -> ImageManifest:
    return ImageManifest(
        name="example.com/test",
        labels=[Label("version", "1.0.0"), Label("os", "linux"), Label("arch", "amd64")],
        app=App(exec=["/bin/sh", "-c", "echo <hi>"], user="0", group="0",
                event_handlers=[EventHandler("pre-start", ["/prestart"])],
                supplementary_gids=[10, 20], working_directory="/opt",
                environment=[EnvironmentVariable("A", "b")],
                mount_points=[MountPoint("data", "/data", True)],
                ports=[Port("http", "tcp", 80)],
                isolators=[memory_isolator("256Mi"), cpu_isolator("500m"),
                           caps_retain_isolator("CAP_NET_ADMIN"),
                           seccomp_isolator("mode=remove,errno=ENOTSUP,reboot"),
                           cpu_shares_isolator("512"), oom_score_adj_isolator("100")],
                user_annotations={"z": "1", "a": "2"}),
        dependencies=[Dependency("example.com/base", "sha512-abc", [Label("version", "1")], 10)],
        path_whitelist=["/bin/sh"])


def test_emits_appc_field_order_compact():
    m = ImageManifest(name="example.com/a", labels=[Label("os", "linux")],
                      app=App(exec=["/x"], user="0", group="0"))
    assert m.to_json() == (
        '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/a",'
        '"labels":[{"name":"os","value":"linux"}],'
        '"app":{"exec":["/x"],"user":"0","group":"0"}}')


def test_emits_tab_indented_when_pretty():
    m = ImageManifest(name="example.com/a", labels=[Label("os", "linux")])
    assert m.to_json(pretty=True) == (
        '{\n\t"acKind": "ImageManifest",\n\t"acVersion": "0.8.11",\n\t"name": "example.com/a",\n'
        '\t"labels": [\n\t\t{\n\t\t\t"name": "os",\n\t\t\t"value": "linux"\n\t\t}\n\t]\n}')


def test_full_manifest_round_trips_byte_for_byte():
    text = full_manifest().to_json()
    assert ImageManifest.parse(text).to_json() == text
    assert '"userAnnotations":{"a":"2","z":"1"}' in text  # Go map: sorted keys
    assert '"exec":["/bin/sh","-c","echo \\u003chi\\u003e"]' in text


def test_keys_match_case_insensitively_and_unknown_keys_are_dropped():
    raw = ('{"ACKIND":"ImageManifest","AcVersion":"0.8.11","NAME":"example.com/a","extra":1,'
           '"app":{"Exec":["/x"],"USER":"0","group":"0","supplementaryGids":[1,2]}}')
    m = ImageManifest.parse(raw.encode())
    assert m.app.supplementary_gids == [1, 2]
    assert m.to_json() == ('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/a",'
                           '"app":{"exec":["/x"],"user":"0","group":"0","supplementaryGIDs":[1,2]}}')


def test_missing_exec_is_written_as_null_and_port_count_defaults_to_one():
    m = ImageManifest.parse(f'{{{BASE},"app":{{"user":"0","group":"0","ports":[{{"name":"p",'
                            '"protocol":"tcp","port":80}]}}')
    assert m.app.exec is None
    assert '"app":{"exec":null,"user":"0","group":"0","ports":[{"name":"p","protocol":"tcp",' \
           '"port":80,"count":1,"socketActivated":false}]}' in m.to_json()


def test_isolator_values_are_kept_as_written():
    m = ImageManifest.parse(f'{{{BASE},{APP},"isolators":[{{"name":"resource/memory","value":'
                            '{"limit":1e3,"request":"1G"}}]}}')
    iso = m.app.isolators[0]
    assert iso.typed.limit.value() == 1000
    assert '"value":{"limit":1e3,"request":"1G"}' in m.to_json()


def test_label_version_and_helpers():
    m = full_manifest()
    assert m.label("os") == "linux"
    assert m.version == "1.0.0"
    assert m.label("nope") is None
    assert m.dependencies[0].image_id == "sha512-abc"


def test_semver_is_written_canonically():
    m = ImageManifest.parse('{"acKind":"ImageManifest","acVersion":"00.8.11","name":"a"}')
    assert m.ac_version == "0.8.11"


# Messages checked against actool 0.8.11 (appc's own code).
INVALID = {
    "bad_os": (f'{{{BASE},"labels":[{{"name":"os","value":"plan9"}}]}}',
               'bad os "plan9" (must be one of: [darwin freebsd linux])'),
    "bad_arch": (f'{{{BASE},"labels":[{{"name":"os","value":"linux"}},{{"name":"arch","value":"mips"}}]}}', 'bad arch "mips" for linux (must be one of: [amd64 i386 aarch64 '
                 'aarch64_be armv6l armv7l armv7b ppc64 ppc64le s390x])'),
    "label_name": (f'{{{BASE},"labels":[{{"name":"name","value":"x"}}]}}',
                   'invalid label name: "name"'),
    "bad_kind": ('{"acKind":"Foo","acVersion":"0.8.11","name":"a"}', "bad ACKind: Foo"),
    "empty_kind": ('{"acKind":"","acVersion":"0.8.11","name":"a"}', "ACKind must be set"),
    "null_kind": ('{"acKind":null,"acVersion":"0.8.11","name":"a"}', "ACKind must be set"),
    "zero_version": ('{"acKind":"ImageManifest","acVersion":"0.0.0","name":"a"}',
                     "SemVer cannot be zero"),
    "bad_version": ('{"acKind":"ImageManifest","acVersion":"1.2","name":"a"}', "SemVer is bad"),
    "null_name": ('{"acKind":"ImageManifest","acVersion":"0.8.11","name":null}',
                  "ACIdentifier cannot be empty"),
    "name_type": ('{"acKind":"ImageManifest","acVersion":"0.8.11","name":5}',
                  "json: cannot unmarshal number into Go struct field imageManifest.name of type "
                  "string"),
    "user_type": (f'{{{BASE},"app":{{"exec":["/bin/sh"],"user":5,"group":"0"}}}}',
                  "json: cannot unmarshal number into Go struct field imageManifest.app of type "
                  "string"),
    "port_float": (f'{{{BASE},{APP},"ports":[{{"name":"p","port":80.5}}]}}}}',
                   "json: cannot unmarshal number 80.5 into Go struct field imageManifest.app of "
                   "type uint"),
    "no_user": (f'{{{BASE},"app":{{"exec":["/bin/sh"],"group":"0"}}}}', "user is required"),
    "rel_workdir": (f'{{{BASE},{APP},"workingDirectory":"rel"}}}}',
                    "workingDirectory must be an absolute path"),
    "annotation_upper": (f'{{{BASE},"annotations":[{{"name":"Foo","value":"x"}}]}}',
                         'ACIdentifier must contain only lower case alphanumeric characters plus '
                         '"-._~/"'),
    "annotation_dup": (f'{{{BASE},"annotations":[{{"name":"a"}},{{"name":"a"}}]}}',
                       'duplicate annotations of name "a"'),
    "created_range": (f'{{{BASE},"annotations":[{{"name":"created","value":"2016-02-30T00:00:00Z"}}]}}', 'bad Date: parsing time "2016-02-30T00:00:00Z": day out of range'),
    "homepage": (f'{{{BASE},"annotations":[{{"name":"homepage","value":"ftp://x"}}]}}',
                 "bad URL scheme, must be http/https"),
    "env_bad": (f'{{{BASE},{APP},"environment":[{{"name":"1A","value":"x"}}]}}}}',
                'environment variable does not have valid identifier "1A"'),
    "env_dup": (f'{{{BASE},{APP},"environment":[{{"name":"A"}},{{"name":"A"}}]}}}}',
                'duplicate environment variable of name "A"'),
    "handler_bad": (f'{{{BASE},{APP},"eventHandlers":[{{"name":"pre","exec":["/x"]}}]}}}}',
                    'bad eventHandler "name": "pre"'),
    "handler_dup": (f'{{{BASE},{APP},"eventHandlers":[{{"name":"pre-start"}},{{"name":"pre-start"}}]}}}}', 'Only one eventHandler of name "pre-start" allowed'),
    "mountpoint_name": (f'{{{BASE},{APP},"mountPoints":[{{"name":"a.b","path":"/x"}}]}}}}',
                        'ACName must contain only lower case alphanumeric characters plus "-"'),
    "port_zero": (f'{{{BASE},{APP},"ports":[{{"name":"p","protocol":"tcp","port":0}}]}}}}',
                  "port must be in 1-65535 range"),
    "dep_hash": (f'{{{BASE},"dependencies":[{{"imageName":"x","imageID":"sha256-abc"}}]}}',
                 "unrecognized hash type: sha256"),
    "dep_name": (f'{{{BASE},"dependencies":[{{"imageID":"sha512-abc"}}]}}',
                 "imageName cannot be empty"),
    "unknown_isolator": (f'{{{BASE},{APP},"isolators":[{{"name":"foo/bar","value":1}}]}}}}',
                         "invalid isolator"),
    "cpu_shares": (f'{{{BASE},{APP},"isolators":[{{"name":"os/linux/cpu-shares","value":1}}]}}}}',
                   "os/linux/cpu-shares must be between 2 and 262144, got 1"),
    "seccomp_conflict": (f'{{{BASE},{APP},"isolators":[{{"name":"os/linux/seccomp-retain-set","value":'
                         '{"set":["a"]}},{"name":"os/linux/seccomp-remove-set","value":'
                         '{"set":["a"]}}]}}',
                         "isolators set contains incompatible types"),
    "seccomp_twice": (f'{{{BASE},{APP},"isolators":[{{"name":"os/linux/seccomp-retain-set","value":'
                      '{"set":["a"]}},{"name":"os/linux/seccomp-retain-set","value":'
                      '{"set":["a"]}}]}}',
                      'isolators set contains too many instances of type '
                      'os/linux/seccomp-retain-set"'),
    "errno_prefix": (f'{{{BASE},{APP},"isolators":[{{"name":"os/linux/seccomp-retain-set","value":'
                     '{"set":["a"],"errno":"eperm"}}]}}',
                     "errno must start with an 'E' character, got eperm"),
    "caps_empty": (f'{{{BASE},{APP},"isolators":[{{"name":"os/linux/capabilities-retain-set","value":'
                   '{"set":[]}}]}}', "set must be non-empty"),
    "memory_default": (f'{{{BASE},{APP},"isolators":[{{"name":"resource/memory","value":{{"default":true}}}}]}}}}', "default must be false"),
    "memory_quantity": (f'{{{BASE},{APP},"isolators":[{{"name":"resource/memory","value":{{"limit":"abc"}}}}]}}}}', "quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    "selinux": (f'{{{BASE},{APP},"isolators":[{{"name":"os/linux/selinux-context","value":{{"user":"u"}}}}]}}}}', 'invalid role value ""'),
    "trailing": ('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a"} x',
                 "invalid character 'x' after top-level value"),
    "truncated": ('{"acKind":"ImageManifest",', "unexpected end of JSON input"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_manifests_fail_with_appcs_message(case):
    raw, msg = INVALID[case]
    with pytest.raises(ImageError) as e:
        ImageManifest.parse(raw.encode())
    assert e.value.message == msg or e.value.message.endswith(": " + msg)


def test_syntax_errors_say_where():
    with pytest.raises(ImageError) as e:
        ImageManifest.parse(b'{"acKind":"ImageManifest",\n "name": x}')
    assert e.value.message == ("image manifest is not valid JSON: error at line 2, column 10: "
                               "invalid character 'x' looking for beginning of value")


@pytest.mark.parametrize("raw", [
    '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a..b"}',
    f'{{{BASE},"app":{{"exec":["sh"],"user":"0","group":"0"}}}}',
    f'{{{BASE},"app":{{"exec":[],"user":"0","group":"0"}}}}',
    f'{{{BASE},"pathWhitelist":["relative"]}}',
    f'{{{BASE},{APP},"environment":[{{"name":"A.b-c","value":"x"}}]}}}}',
    f'{{{BASE},{APP},"isolators":[{{"name":"os/linux/capabilities-retain-set","value":{{"set":["FOO"]}}}}]}}}}',
    f'{{{BASE},"labels":[{{"name":"os","value":"freebsd"}},{{"name":"arch","value":"arm"}}]}}',
])
def test_what_appc_accepts_is_accepted(raw):
    ImageManifest.parse(raw)


@needs_actool
@pytest.mark.parametrize("case", sorted(INVALID))
def test_messages_agree_with_actool(case, tmp_path):
    raw, _ = INVALID[case]
    path = tmp_path / "manifest.json"
    path.write_text(raw)
    out = subprocess.run([ACTOOL, "validate", str(path)], capture_output=True, text=True)
    assert out.returncode != 0
    actool_msg = (out.stdout + out.stderr).strip().split(": ", 1)[1]
    for prefix in ("invalid ImageManifest: ", "error unmarshaling manifest: "):
        actool_msg = actool_msg.removeprefix(prefix)
    with pytest.raises(ImageError) as e:
        ImageManifest.parse(raw)
    assert e.value.message == actool_msg or e.value.message.endswith(": " + actool_msg)


@needs_actool
@pytest.mark.parametrize("pretty", [False, True])
def test_actool_validates_emitted_manifests(tmp_path, pretty):
    path = tmp_path / "manifest"
    path.write_text(full_manifest().to_json(pretty=pretty))
    out = subprocess.run([ACTOOL, "validate", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@needs_actool
def test_actool_builds_and_validates_an_aci_with_our_manifest(tmp_path):
    layout = tmp_path / "layout"
    os.makedirs(layout / "rootfs" / "bin")
    (layout / "rootfs" / "bin" / "sh").write_text("")
    (layout / "manifest").write_text(full_manifest().to_json(pretty=True))
    aci = tmp_path / "test.aci"
    subprocess.run([ACTOOL, "build", str(layout), str(aci)], check=True, capture_output=True)
    out = subprocess.run([ACTOOL, "validate", str(aci)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # actool's own pretty printer agrees with ours on content.
    cat = subprocess.run([ACTOOL, "cat-manifest", str(aci)], capture_output=True, text=True,
                         check=True)
    assert json.loads(cat.stdout) == json.loads(full_manifest().to_json())
