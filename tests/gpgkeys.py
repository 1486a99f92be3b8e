"""Real OpenPGP keys and signatures for tests, made by ``gpg`` in a throw-away GNUPGHOME.

    from tests.gpgkeys import make_key
    key = make_key(tmp_path, "Example Signer <signer@example.com>")
    asc = key.sign(aci_path)                 # aci_path + ".asc", armored detached signature
    sig = key.sign(aci_path, armor=False)    # aci_path + ".sig", binary
    key.public_path                          # armored public key, written under tmp_path
    key.fingerprint                          # 40 lowercase hex digits

Each key has its own GNUPGHOME in a short directory under /tmp (gpg-agent's socket path must
stay under 108 bytes, which pytest's long tmp_path names would exceed).  The agent gpg starts
is stopped and the home removed by ``Key.close()``; keys left open are closed at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_OPEN_KEYS: list[Key] = []


def _gpg(home: str, *args: str, input: bytes | None = None) -> bytes:
    env = dict(os.environ, GNUPGHOME=home, LC_ALL="C")
    proc = subprocess.run(["gpg", "--batch", "--quiet", "--no-tty", "--yes",
                           "--pinentry-mode", "loopback", "--passphrase", "", *args],
                          input=input, env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"gpg {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


@dataclass
class Key:
    """A gpg key pair that can sign files; ``armored_public`` is what ``rkt trust`` takes."""

    fingerprint: str
    uid: str
    armored_public: str
    public_path: str
    home: str
    faked_time: str | None = None
    subkey_fingerprints: list[str] = field(default_factory=list)

    @property
    def binary_public(self) -> bytes:
        return _gpg(self.home, "--export", self.fingerprint)

    def sign(self, path: str | os.PathLike, *, armor: bool = True, output: str | None = None,
             signer: str | None = None, digest: str | None = None) -> str:
        """Write a detached signature of ``path``; return its path (``path.asc``/``.sig``).

        ``signer`` picks a key id or subkey fingerprint (append ``!`` to force a subkey);
        ``digest`` a hash (``SHA1``, ``SHA512`` …) instead of gpg's choice.
        """
        out = output or f"{os.fspath(path)}{'.asc' if armor else '.sig'}"
        args = ["--local-user", signer or self.fingerprint, "--detach-sign", "--output", out]
        if digest:
            args[:0] = ["--digest-algo", digest]
        if armor:
            args.insert(0, "--armor")
        if self.faked_time:
            args[:0] = ["--faked-system-time", self.faked_time + "!"]
        _gpg(self.home, *args, os.fspath(path))
        return out

    def add_signing_subkey(self) -> str:
        """Add an ed25519 signing subkey; return its fingerprint (public key files refreshed)."""
        before = set(self._subkeys())
        _gpg(self.home, "--quick-add-key", self.fingerprint, "ed25519", "sign", "never")
        new = [fp for fp in self._subkeys() if fp not in before]
        self.subkey_fingerprints += new
        self._refresh_public()
        return new[0]

    def revoke(self) -> None:
        """Import the revocation certificate gpg made at generation; refresh the public key."""
        rev = Path(self.home, "openpgp-revocs.d", f"{self.fingerprint.upper()}.rev").read_text()
        # gpg prefixes the armor line with ':' so the file is not imported by accident.
        _gpg(self.home, "--import", input=rev.replace(":-----BEGIN", "-----BEGIN").encode())
        self._refresh_public()

    def write_public(self, path: str | os.PathLike, *, armor: bool = True) -> str:
        data = self.armored_public.encode() if armor else self.binary_public
        Path(path).write_bytes(data)
        return os.fspath(path)

    def close(self) -> None:
        """Stop this key's gpg-agent and delete its GNUPGHOME."""
        if self in _OPEN_KEYS:
            _OPEN_KEYS.remove(self)
        if not os.path.isdir(self.home):
            return
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True, check=False,
                       env=dict(os.environ, GNUPGHOME=self.home))
        shutil.rmtree(self.home, ignore_errors=True)

    def _subkeys(self) -> list[str]:
        out = _gpg(self.home, "--with-colons", "--list-keys", self.fingerprint).decode()
        fps, in_sub = [], False
        for line in out.splitlines():
            kind = line.split(":", 1)[0]
            if kind in ("pub", "sub"):
                in_sub = kind == "sub"
            elif kind == "fpr" and in_sub:
                fps.append(line.split(":")[9].lower())
        return fps

    def _refresh_public(self) -> None:
        self.armored_public = _gpg(self.home, "--armor", "--export", self.fingerprint).decode()
        Path(self.public_path).write_text(self.armored_public)


def make_key(tmp: str | os.PathLike, uid: str = "rktfast test <test@example.com>", *,
             algo: str = "ed25519", expire: str = "never", created: str | None = None) -> Key:
    """Generate a key without passphrase and write its armored public key under ``tmp``.

    ``algo`` is a gpg algorithm name (``ed25519``, ``rsa2048`` …).  ``created`` (gpg time,
    e.g. ``20200101T000000``) backdates the key and its signatures, so with ``expire="1d"``
    the key is expired today while its signatures were made while it was valid.
    """
    home = tempfile.mkdtemp(prefix="gk", dir="/tmp")
    os.chmod(home, 0o700)
    args = ["--faked-system-time", created + "!"] if created else []
    _gpg(home, *args, "--quick-gen-key", uid, algo, "sign", expire)
    out = _gpg(home, "--with-colons", "--list-keys").decode()
    fingerprint = next(line.split(":")[9].lower() for line in out.splitlines()
                       if line.startswith("fpr:"))
    armored = _gpg(home, "--armor", "--export", fingerprint).decode()
    public_path = os.path.join(os.fspath(tmp), f"{fingerprint}.pub.asc")
    Path(public_path).write_text(armored)
    key = Key(fingerprint=fingerprint, uid=uid, armored_public=armored, public_path=public_path,
              home=home, faked_time=(created[:9] + "010000") if created else None)
    _OPEN_KEYS.append(key)
    return key


@atexit.register
def _close_all() -> None:
    while _OPEN_KEYS:
        _OPEN_KEYS[-1].close()
