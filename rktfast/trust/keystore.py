"""The trusted-key store: ``<config>/trustedkeys/root.d/<fp>`` and ``prefix.d/<prefix>/<fp>``.

Layers are read in order system (``/usr/lib/rkt``), local (``/etc/rkt``), then user
(``--user-config``, an rktfast extension: rkt 1.30 reads only system and local).  Keys are only
ever written to the local layer.

The keyring for an image name N is built as rkt's ``keystore.loadKeyring`` does:

1. every layer's ``root.d`` (files directly inside it; subdirectories are ignored);
2. every layer's ``prefix.d/<first segment of N>``, walked in lexical order, entering a
   directory only when its path is a **string prefix** of ``prefix.d/N``.  So for
   ``coreos.com/etcd`` the keys in ``prefix.d/coreos.com/``, ``prefix.d/coreos.com/etcd/`` and
   also ``prefix.d/coreos.com/et/`` apply, but not ``prefix.d/coreos.com/etcd-x/`` (longer than
   N) nor ``prefix.d/coreos.co/`` (outside the first segment).  Every file inside an entered
   directory is a key, whatever its name.

Each key file is an armored public key whose primary fingerprint (lowercase hex) must equal
the file name (``fingerprint mismatch``).  A zero-length file removes a key of that
fingerprint loaded earlier in the walk, so a local empty file masks a system key.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass

import pysequoia

from rktfast.errors import TrustError
from rktfast.trust.gostrings import go_os_error, go_quote
from rktfast.trust.pubkey import armored_key, parse_public_key

ERR_EMPTY_ACIDENTIFIER = "ACIdentifier cannot be empty"
ERR_INVALID_CHAR = 'ACIdentifier must contain only lower case alphanumeric characters plus "-._~/"'
ERR_INVALID_EDGE = "ACIdentifier must start and end with only lower case alphanumeric characters"
_AC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._~/")
_AC_EDGE_CHARS = frozenset("-._~/")


def check_acidentifier(name: str) -> str:
    """Validate an appc ACIdentifier (image name or trust prefix) as appc's types package does.

    Also rejects ``.``/``..`` path segments, which appc's check lets through and which would
    otherwise walk out of ``prefix.d``.
    """
    if name == "":
        raise TrustError(ERR_EMPTY_ACIDENTIFIER)
    if not set(name) <= _AC_CHARS:
        raise TrustError(ERR_INVALID_CHAR)
    if name[0] in _AC_EDGE_CHARS or name[-1] in _AC_EDGE_CHARS:
        raise TrustError(ERR_INVALID_EDGE)
    if any(seg in (".", "..") for seg in name.split("/")):
        raise TrustError(f"invalid prefix {go_quote(name)}: path segments . and .. not allowed")
    return name


@dataclass(frozen=True)
class KeyLayer:
    """One config directory's ``trustedkeys`` root and prefix paths."""

    root: str    # <config>/trustedkeys/root.d
    prefix: str  # <config>/trustedkeys/prefix.d

    @classmethod
    def of(cls, config_dir: str) -> KeyLayer:
        base = os.path.join(os.path.normpath(config_dir), "trustedkeys")
        return cls(root=os.path.join(base, "root.d"), prefix=os.path.join(base, "prefix.d"))


class Keystore:
    """The trusted keys of the system, local and (optional) user config directories."""

    def __init__(self, system_dir: str, local_dir: str, user_dir: str | None = None):
        self.system = KeyLayer.of(system_dir)
        self.local = KeyLayer.of(local_dir)
        self.user = KeyLayer.of(user_dir) if user_dir else None

    @classmethod
    def from_globals(cls, g) -> Keystore:
        """The keystore named by the global flags (``--system-config`` etc.)."""
        return cls(g.system_config, g.local_config, getattr(g, "user_config", "") or None)

    @property
    def layers(self) -> list[KeyLayer]:
        return [self.system, self.local] + ([self.user] if self.user else [])

    # -- reading ---------------------------------------------------------------------------

    def keyring_for(self, name: str) -> list[pysequoia.Cert]:
        """The trusted certificates that may sign images named ``name`` (see module doc)."""
        check_acidentifier(name)
        first = name.split("/")[0]
        walks = [(layer.root, layer.root) for layer in self.layers]
        walks += [(os.path.join(layer.prefix, first), os.path.join(layer.prefix, name))
                  for layer in self.layers]
        trusted: dict[str, pysequoia.Cert] = {}
        for top, full in walks:
            self._walk(top, full, trusted)
        return list(trusted.values())

    def _walk(self, path: str, full: str, trusted: dict[str, pysequoia.Cert]) -> None:
        # filepath.Walk semantics: lstat, lexical order, a missing path is skipped.
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        except OSError as e:
            raise TrustError(go_os_error("lstat", path, e)) from e
        if stat.S_ISDIR(st.st_mode):
            if not full.startswith(path):
                return
            try:
                names = sorted(os.listdir(path))
            except OSError as e:
                raise TrustError(go_os_error("open", path, e)) from e
            for entry in names:
                self._walk(os.path.join(path, entry), full, trusted)
            return
        name = os.path.basename(path)
        if st.st_size == 0:
            trusted.pop(name, None)
            return
        cert = load_trusted_key_file(path)
        trusted[cert.fingerprint] = cert

    def all_certs(self) -> list[pysequoia.Cert]:
        """Every key file of every layer, root and any prefix, masks ignored: the keys a
        signature may turn out to be checked with before the image's name is known. Files
        that do not parse are skipped (keyring_for reports them)."""
        found: dict[str, pysequoia.Cert] = {}
        for layer in self.layers:
            for top in (layer.root, layer.prefix):
                for dirpath, _dirs, files in os.walk(top):
                    for name in sorted(files):
                        path = os.path.join(dirpath, name)
                        try:
                            if os.lstat(path).st_size == 0:
                                continue
                            cert = load_trusted_key_file(path)
                        except (OSError, TrustError):
                            continue
                        found[cert.fingerprint] = cert
        return list(found.values())

    def has_keys_for(self, name: str) -> bool:
        """True when a non-empty key file sits directly in ``prefix.d/<name>`` or in the
        ``prefix.d`` directory of a parent path of name (any layer).

        rkt's ``TrustedKeyPrefixExists``, which fetch uses to decide whether to discover keys;
        unlike the keyring walk it ignores ``root.d`` and only considers whole path segments.
        """
        check_acidentifier(name)
        while name:
            for layer in reversed(self.layers):
                directory = os.path.join(layer.prefix, name)
                try:
                    entries = list(os.scandir(directory))
                except FileNotFoundError:
                    continue
                except NotADirectoryError:
                    continue
                except OSError as e:
                    raise TrustError(f"cannot list files in dir {go_quote(directory)}",
                                     cause=TrustError(go_os_error("open", directory, e))) from e
                for entry in entries:
                    if not entry.is_dir(follow_symlinks=False) and entry.stat().st_size > 0:
                        return True
            name = name.rpartition("/")[0].strip("/")
        return False

    # -- writing (local config only) ---------------------------------------------------------

    def store_trusted_key_prefix(self, prefix: str, armored: bytes | str) -> str:
        """Store a key for ``prefix``; return ``<local>/trustedkeys/prefix.d/<prefix>/<fp>``."""
        check_acidentifier(prefix)
        return _store_key(os.path.join(self.local.prefix, prefix), armored)

    def store_trusted_key_root(self, armored: bytes | str) -> str:
        """Store a key trusted for every image; return ``<local>/trustedkeys/root.d/<fp>``."""
        return _store_key(self.local.root, armored)


def load_trusted_key_file(path: str) -> pysequoia.Cert:
    """Read a stored key and check its fingerprint against the file name."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TrustError(go_os_error("open", path, e)) from e
    cert = parse_public_key(data)
    file_name = os.path.basename(path)
    if cert.fingerprint != file_name:
        raise TrustError(f"fingerprint mismatch: {go_quote(file_name)}:{go_quote(cert.fingerprint)}")
    return cert


def _store_key(directory: str, armored: bytes | str) -> str:
    data = armored.encode() if isinstance(armored, str) else armored
    cert = parse_public_key(data)
    _make_dirs(directory)
    path = os.path.join(directory, cert.fingerprint)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    except OSError as e:
        raise TrustError(go_os_error("open", path, e)) from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(armored_key(data, cert))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise TrustError(go_os_error("open", path, e)) from e
        raise
    return path


def _make_dirs(directory: str) -> None:
    """mkdir -p, giving the directories it creates mode 0755 whatever the umask."""
    missing = []
    d = directory
    while not os.path.isdir(d):
        missing.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
            os.chmod(d, 0o755)
        except FileExistsError as e:
            if not os.path.isdir(d):
                raise TrustError(go_os_error("mkdir", d, e)) from e
        except OSError as e:
            raise TrustError(go_os_error("mkdir", d, e)) from e
