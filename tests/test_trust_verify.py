"""Detached signature checks with real gpg keys and signatures."""

from __future__ import annotations

import os

import pytest

from rktfast.errors import TrustError
from rktfast.trust import verify
from rktfast.trust.keystore import Keystore

try:
    from tests.gpgkeys import make_key
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from gpgkeys import make_key

NAME = "example.com/app"


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    key = make_key(tmp_path_factory.mktemp("signer"), "Image Signer <signer@example.com>")
    yield key
    key.close()


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    key = make_key(tmp_path_factory.mktemp("stranger"), "Stranger <x@example.org>",
                   algo="rsa2048")
    yield key
    key.close()


@pytest.fixture
def image(tmp_path) -> str:
    path = tmp_path / "app.aci"
    path.write_bytes(os.urandom(200_000))
    return str(path)


@pytest.fixture
def ks(tmp_path, signer) -> Keystore:
    store = Keystore(str(tmp_path / "system"), str(tmp_path / "local"))
    store.store_trusted_key_prefix("example.com", signer.armored_public)
    return store


def _streamed(ks, name, path, sig):
    """What fetch does: start the check before the data, feed them, decide at the end (or,
    when it cannot start early, check the file afterwards)."""
    stream = verify.StreamedCheck.start(ks, sig)
    if stream is None:
        return verify.verify_signature(ks, name, path, sig)
    try:
        with open(path, "rb") as f:
            reader = stream.reader(f)
            while reader.read(65536):
                pass
        return stream.finish(name)
    finally:
        stream.close()


@pytest.fixture(params=["file", "streamed-sqv", "streamed-gpgv"])
def check(request, monkeypatch):
    """verify_signature over the stored file, and the check streamed during the ingest with
    either verifier: every case must give the same identities or the same error."""
    if request.param == "file":
        return verify.verify_signature
    tool = request.param.split("-")[1]
    if tool == "sqv" and verify.stream_tool() != "sqv":
        pytest.skip("sqv is not installed (Debian package sqv; scripts/install.sh adds it)")
    monkeypatch.setattr(verify, "stream_tool", lambda: tool)
    return _streamed


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_armored_signature_verifies_and_names_signer(check, ks, signer, image):
    ids = check(ks, NAME, image, read(signer.sign(image)))
    assert ids == ["Image Signer <signer@example.com>"]


def test_binary_signature_verifies(check, ks, signer, image):
    sig = read(signer.sign(image, armor=False))
    assert not sig.startswith(b"-----")
    assert check(ks, NAME, image, sig) == ["Image Signer <signer@example.com>"]


def test_verify_bytes(ks, signer, tmp_path):
    data = b"small manifest"
    (tmp_path / "m").write_bytes(data)
    sig = read(signer.sign(tmp_path / "m"))
    assert verify.verify_signature_bytes(ks, NAME, data, sig)
    with pytest.raises(TrustError, match="invalid signature"):
        verify.verify_signature_bytes(ks, NAME, data + b"!", sig)


def test_tampered_image_is_rejected(check, ks, signer, image):
    sig = read(signer.sign(image))
    with open(image, "r+b") as f:
        f.seek(1000)
        f.write(b"tampered")
    with pytest.raises(TrustError) as e:
        check(ks, NAME, image, sig)
    assert e.value.message == "openpgp: invalid signature: hash tag doesn't match"


def test_signature_by_untrusted_key_is_unknown_entity(check, ks, stranger, image):
    with pytest.raises(verify.UnknownSignerError) as e:
        check(ks, NAME, image, read(stranger.sign(image)))
    assert e.value.message == "openpgp: signature made by unknown entity"


def test_key_trusted_for_another_prefix_does_not_verify(check, ks, signer, image):
    with pytest.raises(verify.UnknownSignerError):
        check(ks, "example.org/app", image, read(signer.sign(image)))


def test_root_key_verifies_any_name(check, tmp_path, stranger, image):
    store = Keystore(str(tmp_path / "s2"), str(tmp_path / "l2"))
    store.store_trusted_key_root(stranger.armored_public)
    assert check(store, "other.org/x", image, read(stranger.sign(image)))


def test_masked_key_no_longer_verifies(check, tmp_path, signer, image):
    store = Keystore(str(tmp_path / "system"), str(tmp_path / "local"))
    system = Keystore(str(tmp_path / "unused"), str(tmp_path / "system"))
    system.store_trusted_key_root(signer.armored_public)  # lands in the system layer
    sig = read(signer.sign(image))
    assert check(store, NAME, image, sig)
    mask = tmp_path / "local/trustedkeys/root.d" / signer.fingerprint
    mask.parent.mkdir(parents=True)
    mask.write_bytes(b"")
    with pytest.raises(verify.UnknownSignerError):
        check(store, NAME, image, sig)


def test_subkey_signature_verifies(check, tmp_path, image):
    key = make_key(tmp_path, "Subkey Signer <sub@example.com>")
    try:
        sub = key.add_signing_subkey()
        store = Keystore(str(tmp_path / "s"), str(tmp_path / "l"))
        store.store_trusted_key_root(key.armored_public)
        sig = read(key.sign(image, signer=sub + "!"))
        assert check(store, NAME, image, sig) == ["Subkey Signer <sub@example.com>"]
    finally:
        key.close()


@pytest.mark.parametrize("signature,message", [
    (b"", "keystore: no valid signatures found in signature file"),
    (b"\n\n", "keystore: no valid signatures found in signature file"),
    (b"hello, I am not a signature\n", "openpgp: invalid data: tag byte does not have MSB set"),
    (b"-----BEGIN PGP SIGNATURE-----\n\nbm9wZQ==\n-----END PGP SIGNATURE-----\n",
     "keystore: no valid signatures found in signature file"),
])
def test_garbage_signatures(check, ks, image, signature, message):
    with pytest.raises(TrustError) as e:
        check(ks, NAME, image, signature)
    assert e.value.message == message


def test_public_key_given_as_signature(check, ks, signer, image):
    with pytest.raises(TrustError, match="expected 'PGP SIGNATURE', got: PGP PUBLIC KEY BLOCK"):
        check(ks, NAME, image, signer.armored_public.encode())
    with pytest.raises(TrustError, match="non signature packet found"):
        check(ks, NAME, image, signer.binary_public)


def test_expired_key_is_rejected(check, tmp_path, image):
    key = make_key(tmp_path, "Old Signer <old@example.com>", created="20200101T000000",
                   expire="1d")
    try:
        store = Keystore(str(tmp_path / "s"), str(tmp_path / "l"))
        store.store_trusted_key_root(key.armored_public)
        with pytest.raises(TrustError) as e:
            check(store, NAME, image, read(key.sign(image)))
        assert e.value.message == "openpgp: key expired"
    finally:
        key.close()


def test_revoked_key_is_rejected(check, tmp_path, image):
    key = make_key(tmp_path, "Revoked Signer <rev@example.com>")
    try:
        sig = read(key.sign(image))
        key.revoke()
        store = Keystore(str(tmp_path / "s"), str(tmp_path / "l"))
        store.store_trusted_key_root(key.armored_public)
        with pytest.raises(TrustError) as e:
            check(store, NAME, image, sig)
        assert e.value.message == "openpgp: key revoked"
    finally:
        key.close()


def test_sha512_signature_verifies(check, ks, signer, image):
    assert check(ks, NAME, image, read(signer.sign(image, digest="SHA512")))


def test_sha1_signature_is_rejected_by_policy(check, ks, signer, image):
    with pytest.raises(TrustError) as e:
        check(ks, NAME, image, read(signer.sign(image, digest="SHA1")))
    assert e.value.message == "openpgp: invalid signature: hash algorithm SHA1 rejected by policy"


def test_missing_image_file(ks, signer, image, tmp_path):
    sig = read(signer.sign(image))
    with pytest.raises(TrustError, match="no such file or directory"):
        verify.verify_signature(ks, NAME, str(tmp_path / "gone.aci"), sig)


def test_broken_keystore_is_reported_as_keyring_error(check, tmp_path, signer, image):
    store = Keystore(str(tmp_path / "s"), str(tmp_path / "l"))
    bad = tmp_path / "l/trustedkeys/root.d/0123456789abcdef0123456789abcdef01234567"
    bad.parent.mkdir(parents=True)
    bad.write_text(signer.armored_public)
    with pytest.raises(TrustError) as e:
        check(store, NAME, image, read(signer.sign(image)))
    assert e.value.chain()[0] == "keystore: error loading keyring"
    assert e.value.chain()[-1].startswith("fingerprint mismatch")


def test_check_signer_known_before_download(ks, signer, stranger, image):
    assert verify.check_signer_known(ks, NAME, read(signer.sign(image))).fingerprint == \
        signer.fingerprint
    with pytest.raises(verify.UnknownSignerError):
        verify.check_signer_known(ks, NAME, read(stranger.sign(image)))


def test_streamed_check_starts_only_for_a_signer_some_key_trusts(ks, signer, stranger, image):
    stream = verify.StreamedCheck.start(ks, read(signer.sign(image)))
    assert stream is not None  # the cases above really took the streamed path
    stream.close()
    assert verify.StreamedCheck.start(ks, read(stranger.sign(image))) is None
    assert verify.StreamedCheck.start(ks, b"not a signature") is None


def test_streamed_check_that_is_abandoned_leaves_nothing_behind(ks, signer, image):
    import glob
    import tempfile

    stream = verify.StreamedCheck.start(ks, read(signer.sign(image)))
    homes = set(glob.glob(os.path.join(tempfile.gettempdir(), "rktfast-sigcheck-*")))
    assert homes
    with open(image, "rb") as f:
        stream.reader(f).read(1000)  # the ingest failed after 1000 bytes
    stream.close()
    assert not homes & set(glob.glob(os.path.join(tempfile.gettempdir(), "rktfast-sigcheck-*")))


def test_unknown_entity_hint_text():
    assert verify.unknown_entity_hint() == (
        "image: If you expected the signing key to change, try running:\n"
        "image:     rkt trust --prefix <image>\n")
