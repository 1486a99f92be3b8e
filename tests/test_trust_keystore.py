"""The trusted-key layout: which keys apply to which image name, masks, and what trust writes."""

from __future__ import annotations

import os
import stat

import pytest

from rktfast.errors import TrustError
from rktfast.trust.keystore import Keystore, check_acidentifier

try:
    from tests.gpgkeys import make_key
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from gpgkeys import make_key


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keys")
    made = [make_key(tmp, f"Key {i} <k{i}@example.com>") for i in range(3)]
    yield made
    for k in made:
        k.close()


@pytest.fixture
def ks(tmp_path) -> Keystore:
    return Keystore(str(tmp_path / "system"), str(tmp_path / "local"))


def put(config: str, rel: str, content: str = "") -> str:
    path = os.path.join(config, "trustedkeys", rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)
    return path


def fps(certs) -> set[str]:
    return {c.fingerprint for c in certs}


def test_keyring_is_empty_without_config_dirs(ks):
    assert ks.keyring_for("coreos.com/etcd") == []


def test_root_keys_apply_to_every_name(tmp_path, ks, keys):
    put(str(tmp_path / "system"), f"root.d/{keys[0].fingerprint}", keys[0].armored_public)
    put(str(tmp_path / "local"), f"root.d/{keys[1].fingerprint}", keys[1].armored_public)
    assert fps(ks.keyring_for("anything.org/app")) == {keys[0].fingerprint, keys[1].fingerprint}


def test_root_d_subdirectories_are_ignored(tmp_path, ks, keys):
    put(str(tmp_path / "local"), f"root.d/sub/{keys[0].fingerprint}", keys[0].armored_public)
    assert ks.keyring_for("example.com") == []


def test_prefix_keys_apply_to_names_under_the_prefix(tmp_path, ks, keys):
    local = str(tmp_path / "local")
    put(local, f"prefix.d/coreos.com/{keys[0].fingerprint}", keys[0].armored_public)
    put(local, f"prefix.d/coreos.com/etcd/{keys[1].fingerprint}", keys[1].armored_public)
    assert fps(ks.keyring_for("coreos.com/etcd")) == {keys[0].fingerprint, keys[1].fingerprint}
    assert fps(ks.keyring_for("coreos.com/flannel")) == {keys[0].fingerprint}
    assert ks.keyring_for("example.com/etcd") == []


def test_prefix_dirs_match_as_strings_not_path_segments(tmp_path, ks, keys):
    # rkt enters every directory whose path is a string prefix of prefix.d/<name>.
    local = str(tmp_path / "local")
    put(local, f"prefix.d/coreos.com/et/{keys[0].fingerprint}", keys[0].armored_public)
    put(local, f"prefix.d/coreos.com/etcd-x/{keys[1].fingerprint}", keys[1].armored_public)
    put(local, f"prefix.d/coreos.co/{keys[2].fingerprint}", keys[2].armored_public)
    assert fps(ks.keyring_for("coreos.com/etcd")) == {keys[0].fingerprint}


def test_longer_prefix_does_not_apply_to_shorter_name(tmp_path, ks, keys):
    put(str(tmp_path / "local"), f"prefix.d/coreos.com/etcd/{keys[0].fingerprint}",
        keys[0].armored_public)
    assert ks.keyring_for("coreos.com") == []


def test_local_zero_length_file_masks_system_key(tmp_path, ks, keys):
    fp = keys[0].fingerprint
    put(str(tmp_path / "system"), f"root.d/{fp}", keys[0].armored_public)
    put(str(tmp_path / "system"), f"prefix.d/coreos.com/{keys[1].fingerprint}",
        keys[1].armored_public)
    put(str(tmp_path / "local"), f"root.d/{fp}")
    put(str(tmp_path / "local"), f"prefix.d/coreos.com/{keys[1].fingerprint}")
    assert ks.keyring_for("coreos.com/etcd") == []


def test_zero_length_file_masks_only_keys_loaded_before_it(tmp_path, ks, keys):
    # The mask in the system layer comes before the local key: the local key stays.
    fp = keys[0].fingerprint
    put(str(tmp_path / "system"), f"root.d/{fp}")
    put(str(tmp_path / "local"), f"root.d/{fp}", keys[0].armored_public)
    assert fps(ks.keyring_for("example.com")) == {fp}


def test_fingerprint_must_match_file_name(tmp_path, ks, keys):
    put(str(tmp_path / "local"), f"root.d/{keys[1].fingerprint}", keys[0].armored_public)
    with pytest.raises(TrustError) as e:
        ks.keyring_for("example.com")
    assert e.value.message == (f'fingerprint mismatch: "{keys[1].fingerprint}":'
                               f'"{keys[0].fingerprint}"')


def test_file_that_is_not_a_key_is_an_error(tmp_path, ks):
    put(str(tmp_path / "local"), "prefix.d/example.com/readme", "not a key\n")
    with pytest.raises(TrustError, match="no armored data found"):
        ks.keyring_for("example.com/app")


def test_user_config_layers_after_local(tmp_path, keys):
    ks = Keystore(str(tmp_path / "system"), str(tmp_path / "local"), str(tmp_path / "user"))
    put(str(tmp_path / "local"), f"root.d/{keys[0].fingerprint}", keys[0].armored_public)
    put(str(tmp_path / "user"), f"root.d/{keys[0].fingerprint}")
    put(str(tmp_path / "user"), f"prefix.d/example.com/{keys[1].fingerprint}",
        keys[1].armored_public)
    assert fps(ks.keyring_for("example.com/app")) == {keys[1].fingerprint}


def test_store_prefix_key_writes_local_config_with_modes(tmp_path, ks, keys):
    old = os.umask(0o077)
    try:
        path = ks.store_trusted_key_prefix("example.com/app", keys[0].armored_public)
    finally:
        os.umask(old)
    local = tmp_path / "local"
    assert path == str(local / "trustedkeys/prefix.d/example.com/app" / keys[0].fingerprint)
    assert open(path).read() == keys[0].armored_public
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    for d in ("", "trustedkeys", "trustedkeys/prefix.d", "trustedkeys/prefix.d/example.com",
              "trustedkeys/prefix.d/example.com/app"):
        assert stat.S_IMODE(os.stat(local / d).st_mode) == 0o755, d
    assert not (tmp_path / "system").exists()
    assert os.listdir(os.path.dirname(path)) == [keys[0].fingerprint]  # no temp files left
    assert fps(ks.keyring_for("example.com/app")) == {keys[0].fingerprint}


def test_store_root_key(tmp_path, ks, keys):
    path = ks.store_trusted_key_root(keys[1].armored_public.encode())
    assert path == str(tmp_path / "local/trustedkeys/root.d" / keys[1].fingerprint)
    assert fps(ks.keyring_for("whatever.example/x")) == {keys[1].fingerprint}


def test_store_replaces_existing_key_file(ks, keys):
    first = ks.store_trusted_key_root(keys[0].armored_public)
    with open(first, "w") as f:
        f.write("")  # a mask
    assert ks.store_trusted_key_root(keys[0].armored_public) == first
    assert open(first).read() == keys[0].armored_public


def test_store_binary_key_is_written_armored(ks, keys):
    path = ks.store_trusted_key_root(keys[2].binary_public)
    assert open(path).read().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert os.path.basename(path) == keys[2].fingerprint


def test_store_rejects_invalid_prefix(ks, keys):
    with pytest.raises(TrustError, match="ACIdentifier must contain only lower case"):
        ks.store_trusted_key_prefix("example.com/foo/*", keys[0].armored_public)
    with pytest.raises(TrustError, match="path segments"):
        ks.store_trusted_key_prefix("a/../../etc", keys[0].armored_public)


def test_has_keys_for_looks_at_prefix_and_parent_paths(tmp_path, ks, keys):
    assert not ks.has_keys_for("coreos.com/etcd")
    put(str(tmp_path / "system"), f"prefix.d/coreos.com/{keys[0].fingerprint}",
        keys[0].armored_public)
    assert ks.has_keys_for("coreos.com/etcd")
    assert ks.has_keys_for("coreos.com")
    assert not ks.has_keys_for("coreos.co")
    assert not ks.has_keys_for("example.com/etcd")


def test_has_keys_for_ignores_masks_and_root_keys(tmp_path, ks, keys):
    put(str(tmp_path / "local"), f"prefix.d/example.com/app/{keys[0].fingerprint}")
    put(str(tmp_path / "local"), f"root.d/{keys[1].fingerprint}", keys[1].armored_public)
    assert not ks.has_keys_for("example.com/app")


@pytest.mark.parametrize("name,message", [
    ("", "ACIdentifier cannot be empty"),
    ("Example.com", "ACIdentifier must contain only lower case alphanumeric characters"),
    ("-example.com", "ACIdentifier must start and end with only lower case alphanumeric"),
    ("example.com/", "ACIdentifier must start and end with only lower case alphanumeric"),
])
def test_acidentifier_errors(name, message):
    with pytest.raises(TrustError, match=message):
        check_acidentifier(name)


def test_acidentifier_accepts_appc_names():
    for name in ("coreos.com/etcd", "example.com/foo--bar", "a", "x.y_z~w/v"):
        assert check_acidentifier(name) == name
