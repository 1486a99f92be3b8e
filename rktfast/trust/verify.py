"""Detached signature checks against the keyring for an image name.

Like rkt (Go's ``openpgp.CheckDetachedSignature``), only the first signature packet of the
signature file counts, armored or binary.  Errors carry rkt's texts:

- ``keystore: no valid signatures found in signature file``  empty signature file;
- ``openpgp: signature made by unknown entity``              no trusted key has the issuer's id
  (``UnknownSignerError``; fetch adds the ``If you expected the signing key to change`` hint);
- ``openpgp: invalid signature: hash tag doesn't match``     the data does not match (Go checks
  the 2-byte hash tag first, so that is what rkt prints for tampered data);
- ``openpgp: invalid data: …`` / ``openpgp: invalid argument: …``  not a signature.

rktfast is stricter than rkt 1.30: a signing key that is revoked or expired now (whatever
date the signature claims), an expired signature, or one made with a hash the OpenPGP policy
rejects (MD5, SHA-1) fails: ``openpgp: key revoked``, ``openpgp: key expired``,
``openpgp: signature expired``, ``openpgp: invalid signature: … rejected by policy``.
"""

from __future__ import annotations

import datetime
import os

import pysequoia

from rktfast.errors import TrustError
from rktfast.trust.gostrings import go_os_error
from rktfast.trust.keystore import Keystore, check_acidentifier
from rktfast.trust.pubkey import armor_type, identities, key_ids

MSG_UNKNOWN_ENTITY = "openpgp: signature made by unknown entity"
MSG_NO_SIGNATURES = "keystore: no valid signatures found in signature file"
MSG_BAD_SIGNATURE = "openpgp: invalid signature: hash tag doesn't match"
MSG_NOT_A_SIGNATURE = "openpgp: invalid data: non signature packet found"
MSG_NOT_OPENPGP = "openpgp: invalid data: tag byte does not have MSB set"
MSG_KEY_EXPIRED = "openpgp: key expired"
MSG_KEY_REVOKED = "openpgp: key revoked"

# The lines rkt's image validator prints (prefixed ``image: ``) after MSG_UNKNOWN_ENTITY.
# ``<image>`` is literal in rkt 1.30 (validator.go).
UNKNOWN_ENTITY_HINT = (
    "If you expected the signing key to change, try running:",
    "    rkt trust --prefix <image>",
)


class UnknownSignerError(TrustError):
    """No trusted key for the name has the id of the key that made the signature."""

    def __init__(self) -> None:
        super().__init__(MSG_UNKNOWN_ENTITY)


def unknown_entity_hint(prefix: str = "image") -> str:
    """The hint lines for UnknownSignerError, each prefixed like ``image: …``, newline-ended."""
    return "".join(f"{prefix}: {line}\n" for line in UNKNOWN_ENTITY_HINT)


def verify_signature(keystore: Keystore, name: str, data_path: str | os.PathLike,
                     signature: bytes) -> list[str]:
    """Check ``signature`` over the file ``data_path`` with the keys trusted for ``name``.

    Returns the signer's identities (for the ``image: signature verified:`` lines).  The
    file is streamed by pysequoia, never read into Python memory.
    """
    return _verify(keystore, name, signature, file=os.fspath(data_path))


def verify_signature_bytes(keystore: Keystore, name: str, data: bytes,
                           signature: bytes) -> list[str]:
    """verify_signature over bytes already in memory (manifests, small test inputs)."""
    return _verify(keystore, name, signature, data=data)


def check_signer_known(keystore: Keystore, name: str, signature: bytes) -> pysequoia.Cert:
    """The trusted certificate that claims to have made ``signature``, before downloading the
    data it covers (rkt's ``checkIdentity``); UnknownSignerError if there is none."""
    sig = parse_signature(signature)
    return _find_signer(sig, load_keyring(keystore, name))


def load_keyring(keystore: Keystore, name: str) -> list[pysequoia.Cert]:
    """keystore.keyring_for(name) with rkt's error wrapping."""
    check_acidentifier(name)
    try:
        return keystore.keyring_for(name)
    except TrustError as e:
        raise TrustError("keystore: error loading keyring", cause=e) from e


def parse_signature(signature: bytes) -> pysequoia.Sig:
    """The first signature in an armored or binary detached signature file."""
    if not signature.strip():
        raise TrustError(MSG_NO_SIGNATURES)
    kind = armor_type(signature)
    if kind is not None and kind != b"PGP SIGNATURE":
        raise TrustError("openpgp: invalid argument: expected 'PGP SIGNATURE', got: "
                         + kind.decode())
    try:
        return pysequoia.Sig.from_bytes(signature)
    except Exception as e:
        raise TrustError(_describe_unparsable(signature, kind is not None)) from e


def _describe_unparsable(signature: bytes, armored: bool) -> str:
    if armored:
        return MSG_NO_SIGNATURES
    if not signature[0] & 0x80:
        return MSG_NOT_OPENPGP  # what Go says for text that is not an armored signature
    try:
        packets = list(pysequoia.packet.PacketPile.from_bytes(signature))
    except (RuntimeError, ValueError):
        return MSG_NO_SIGNATURES
    if packets and packets[0].tag != pysequoia.packet.Tag.Signature:
        return MSG_NOT_A_SIGNATURE
    return MSG_NO_SIGNATURES


def _issuer_ids(sig: pysequoia.Sig) -> set[str]:
    ids = {i.lower() for i in (sig.issuer_fingerprint, sig.issuer_key_id) if i}
    if not ids:
        raise TrustError("openpgp: invalid data: signature doesn't have an issuer")
    return ids


def _find_signers(sig: pysequoia.Sig, keyring: list[pysequoia.Cert]) -> list[pysequoia.Cert]:
    """The trusted certificates holding a key with the signature's issuer id (usually one;
    more only if 64-bit key ids collide).  UnknownSignerError if there are none."""
    wanted = _issuer_ids(sig)
    found = [cert for cert in keyring if wanted & key_ids(cert)]
    if not found:
        raise UnknownSignerError()
    return found


def _find_signer(sig: pysequoia.Sig, keyring: list[pysequoia.Cert]) -> pysequoia.Cert:
    return _find_signers(sig, keyring)[0]


def _usable_signers(keystore: Keystore, name: str, signature: bytes
                    ) -> tuple[pysequoia.Sig, list[pysequoia.Cert]]:
    """The parsed signature and the keys trusted for ``name`` that may have made it, in
    rkt's order of errors: keyring, signature, unknown entity, revoked or expired key."""
    keyring = load_keyring(keystore, name)
    sig = parse_signature(signature)
    candidates = _find_signers(sig, keyring)
    usable = [c for c in candidates if _unusable_reason(c) is None]
    if not usable:
        raise TrustError(_unusable_reason(candidates[0]))
    return sig, usable


def _verify(keystore: Keystore, name: str, signature: bytes, *, file: str | None = None,
            data: bytes | None = None) -> list[str]:
    if file is not None:
        try:
            os.stat(file)
        except OSError as e:
            raise TrustError(go_os_error("open", file, e)) from e
    sig, usable = _usable_signers(keystore, name, signature)

    def store(_ids: list[str]) -> list[pysequoia.Cert]:
        return usable

    if file is not None:
        # pysequoia reads the whole file into memory; an image may be gigabytes, so the
        # cryptographic check over a file streams through gpgv, with the keys chosen above.
        refusal = _why_rejected(sig, policy_only=True)
        if refusal:
            raise TrustError(refusal)
        signer_fp = _gpgv_verify(usable, signature, file)
        if signer_fp is None:
            raise TrustError(_why_rejected(sig))
    else:
        try:
            result = pysequoia.verify(bytes=data, store=store, signature=sig)
        except Exception as e:  # pysequoia reports every failure as RuntimeError
            raise TrustError(_why_rejected(sig)) from e
        if not result.valid_sigs:
            raise TrustError(_why_rejected(sig))
        signer_fp = result.valid_sigs[0].certificate
    signer = next((c for c in usable if c.fingerprint.lower() == signer_fp.lower()), usable[0])
    return identities(signer)


def stream_tool() -> str:
    """The program that checks a signature over a stream: Sequoia's ``sqv`` when
    installed, else ``gpgv`` (which feeds its hash a byte at a time: about 6 x the CPU)."""
    import shutil

    return "sqv" if shutil.which("sqv") else "gpgv"


class _ExternalVerifier:
    """An external verifier checking one detached signature, with only ``certs``, over the
    file ``path`` (gpgv), or (``path`` "-") over the bytes given to feed() while they arrive
    (stream_tool()). pysequoia would read a whole image into memory; these stream it."""

    def __init__(self, certs: list[pysequoia.Cert], signature: bytes, path: str = "-",
                 work_dir: str | None = None):
        import subprocess
        import tempfile

        # in a store's tmp dir, the .tmp-<pid>- name lets gc remove it after a kill -9
        self._home = tempfile.mkdtemp(dir=work_dir, prefix=f".tmp-{os.getpid()}-sigcheck-"
                                      if work_dir else "rktfast-sigcheck-")
        self._proc = None
        self._broken = False
        self._tool = stream_tool() if path == "-" else "gpgv"
        try:
            keyring = os.path.join(self._home, "trusted.gpg")
            sig_path = os.path.join(self._home, "image.sig")
            with open(keyring, "wb") as f:
                f.write(b"".join(bytes(c) for c in certs))
            with open(sig_path, "wb") as f:
                f.write(signature)
            if self._tool == "sqv":
                argv = ["sqv", "--keyring", keyring, sig_path, "/dev/stdin"]
            else:
                argv = ["gpgv", "--homedir", self._home, "--keyring", keyring,
                        "--status-fd", "1", sig_path, path]
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE if path == "-" else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
            if path == "-":
                _widen_pipe(self._proc.stdin.fileno())
        except OSError as e:
            self.close()
            raise TrustError(f"cannot run {self._tool} to check the signature", e) from e

    def feed(self, data: bytes) -> None:
        if self._broken:
            return  # the verifier gave up early (not a signature it can use): signer() says so
        view = memoryview(data)
        try:
            while view:
                view = view[self._proc.stdin.write(view):]
        except BrokenPipeError:
            self._broken = True

    def signer(self) -> str | None:
        """The fingerprint reported for a good signature (the primary key's for gpgv, the
        signing certificate's for sqv), or None. Streaming, this is the end of the data."""
        try:
            if self._proc.stdin is not None:
                try:
                    self._proc.stdin.close()
                except BrokenPipeError:
                    pass
            out = self._proc.stdout.read().decode(errors="replace")
            status = self._proc.wait()
        finally:
            self.close()
        if self._tool == "sqv":  # exit 0 and one fingerprint per valid signature
            lines = out.split()
            return lines[0] if status == 0 and lines else None
        for line in out.splitlines():
            words = line.split()
            # [GNUPG:] VALIDSIG <sig fpr> <date> <ts> <exp> <ver> <rsv> <algo> <hash> <cls> <primary fpr>
            if len(words) >= 3 and words[:2] == ["[GNUPG:]", "VALIDSIG"]:
                return words[-1] if len(words) >= 12 else words[2]
        return None

    def close(self) -> None:
        import shutil

        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout) if self._proc else ():
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        shutil.rmtree(self._home, ignore_errors=True)


def _widen_pipe(fd: int) -> None:
    """The verifiers read 8 KiB at a time: with the default 64 KiB pipe the ingest's reader
    would block and wake on nearly every chunk it passes on. Up to 1 MiB holds a chunk."""
    import fcntl

    for size in (1 << 20, 256 << 10):  # the default /proc/sys/fs/pipe-max-size is 1 MiB
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
            return
        except OSError:
            continue


def _gpgv_verify(certs: list[pysequoia.Cert], signature: bytes, path: str) -> str | None:
    """Check a detached signature over ``path`` with gpgv, against only ``certs``. Returns
    the primary fingerprint of the signer, or None if it does not verify."""
    return _ExternalVerifier(certs, signature, path).signer()


class StreamedCheck:
    """A signature check that runs while the image's bytes pass, instead of reading the
    file again afterwards: sqv (or gpgv) hashes them as they arrive, on another core, with
    every trusted key, of any prefix, that holds the signature's issuer id, since an image's
    name is known only from its manifest. finish(name) then makes the decision of
    verify_signature, with the same errors: the signer must be a usable key trusted for
    ``name``."""

    def __init__(self, keystore: Keystore, signature: bytes, verifier: _ExternalVerifier):
        self._keystore = keystore
        self._signature = signature
        self._verifier = verifier

    @classmethod
    def start(cls, keystore: Keystore, signature: bytes, work_dir: str | None = None
              ) -> StreamedCheck | None:
        """None when the check cannot start early (a signature that cannot be parsed, that
        policy refuses, or whose issuer no trusted key has): verify_signature afterwards
        reports why. ``work_dir``: where gpgv's keyring goes (default: the system's)."""
        try:
            sig = parse_signature(signature)
            if _why_rejected(sig, policy_only=True):
                return None
            wanted = _issuer_ids(sig)
            certs = [c for c in keystore.all_certs() if wanted & key_ids(c)]
        except TrustError:
            return None
        if not certs:
            return None
        return cls(keystore, signature, _ExternalVerifier(certs, signature, work_dir=work_dir))

    def reader(self, src):
        """``src`` (anything with read(n)) whose bytes are also checked as they are read."""
        return _CheckedReader(src, self._verifier.feed)

    def finish(self, name: str) -> list[str]:
        """After the last byte: the signer's identities, or TrustError."""
        sig, usable = _usable_signers(self._keystore, name, self._signature)
        refusal = _why_rejected(sig, policy_only=True)  # it may have expired meanwhile
        if refusal:
            raise TrustError(refusal)
        signer_fp = (self._verifier.signer() or "").lower()
        signer = next((c for c in usable if signer_fp in key_ids(c)), None)
        if signer is None:
            raise TrustError(_why_rejected(sig))
        return identities(signer)

    def close(self) -> None:
        self._verifier.close()


class _CheckedReader:
    def __init__(self, src, feed):
        self._src = src
        self._feed = feed

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n)
        if data:
            self._feed(data)
        return data


def _unusable_reason(cert: pysequoia.Cert) -> str | None:
    """Why a trusted key may not sign now, if it may not.  Revoked or expired keys are refused
    whatever date the signature claims: a leaked old key must not sign images by backdating."""
    if cert.is_revoked:
        return MSG_KEY_REVOKED
    if cert.expiration is not None and cert.expiration <= _now():
        return MSG_KEY_EXPIRED
    return None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _why_rejected(sig: pysequoia.Sig, policy_only: bool = False) -> str | None:
    """Name the reason a signature by a known, valid key did not verify (sequoia does not).
    With ``policy_only``, only the reasons visible without the data (or None)."""
    if sig.expiration is not None and sig.expiration <= _now():
        return "openpgp: signature expired"
    hash_name = str(sig.hash_algorithm).rsplit(".", 1)[-1].upper()
    if hash_name in ("MD5", "SHA1", "RIPEMD160"):
        return f"openpgp: invalid signature: hash algorithm {hash_name} rejected by policy"
    return None if policy_only else MSG_BAD_SIGNATURE
