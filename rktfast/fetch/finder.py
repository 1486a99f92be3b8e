"""Turn an IMAGE argument into an image in the store, honouring the pull policy.

One ``Finder`` serves fetch, prepare and run. Local files are ingested in one pass into
``cas/tmp``, checked (manifest, os/arch, signature) and only then committed: an image that
fails any check never enters the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from rktfast.errors import ImageError, RktError, StoreError, TrustError
from rktfast.fetch.image_ref import classify
from rktfast.record import Record
from rktfast.store.imagestore import ImageStore
from rktfast.store.treestore import TreeStore, tree_id

POLICIES = ("never", "new", "update")
FILE_URL = "file://"  # remote rows of local files name them so: the key of the bytes seen


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


class FetchOptions(Record):
    # render: render the tree while ingesting (rkt renders on fetch). globals: GlobalOptions
    # (--insecure-options tls/http/pubkey, --trust-keys-from-https and the config dirs for
    # auth.d) for remote fetches; None means the secure defaults.
    __slots__ = ("policy", "insecure_image", "render", "keystore", "globals")
    _defaults = {"policy": "update", "insecure_image": False, "render": True,
                 "keystore": None, "globals": None}


class Finder:
    def __init__(self, store: ImageStore, trees: TreeStore, opts: FetchOptions,
                 log: Callable[[str], None], debug: Callable[[str], None]):
        self.store = store
        self.trees = trees
        self.opts = opts
        self.log = log  # stderr line with the "image: " prefix
        self.debug = debug
        self._warned_insecure = False
        self._remote = None

    def find(self, arg: str, signature: str | None = None) -> str:
        """Return the store key of the image named by ``arg``, fetching it if the policy says so."""
        ref = classify(arg)
        if ref.kind == "hash":
            return self.store.resolve_key(ref.value)
        if ref.kind == "file":
            return self.fetch_file(ref.value, signature)
        if ref.kind == "url":
            return self.fetch_url(ref.value, signature)
        if ref.kind == "name":
            return self.find_name(ref.value, signature)
        if ref.kind == "docker":
            return self.fetch_docker(ref.value)
        raise ImageError(f"unable to fetch image from {ref.value!r}: fetching {ref.kind} images "
                         "is not supported by this build yet")

    def fetch_docker(self, arg: str) -> str:
        """A Docker/OCI image (``docker://``, ``docker:``, ``oci:DIR``, ``docker-archive:FILE``),
        converted to an ACI (rktfast.docker)."""
        if not self.opts.insecure_image:
            raise ImageError("signature verification for docker images is not supported "
                             "(try --insecure-options=image)")
        from rktfast.docker.fetch import fetch_docker
        from rktfast.output.goquote import go_quote

        self._warn_insecure()
        try:
            return fetch_docker(self, arg)
        except RktError as e:
            raise ImageError(f"unable to fetch docker image from URL {go_quote(arg)}", e) from e

    def find_name(self, name_arg: str, signature: str | None = None) -> str:
        """An appc name ``name[:version][,label=value…]``: from the store (policies ``never``
        and ``new``), else discovered and downloaded."""
        from rktfast.appc.types import parse_image_name

        name, labels = parse_image_name(name_arg)
        if self.opts.policy in ("never", "new"):
            key = self.store.find_by_name(name, labels)
            if key:
                self.debug(f"using image from local store for image name {name_arg}")
                return key
            if self.opts.policy == "never":
                raise StoreError(f"unable to fetch image from image name {name_arg}: "
                                 "image not found in the local store")
        try:
            return self.remote().fetch_name(name, labels, name_arg, signature)
        except RktError as e:
            raise ImageError(f"unable to fetch image from image name {name_arg}", e) from e

    def fetch_url(self, url: str, signature: str | None) -> str:
        """An ``http(s)://`` archive URL, through the ``remote`` cache and the pull policy."""
        try:
            return self.remote().fetch_url(url, signature, self.opts.policy)
        except RktError as e:
            from rktfast.output.goquote import go_quote

            raise ImageError(f"unable to fetch image from URL {go_quote(url)}", e) from e

    def remote(self):
        """The network side of this finder (built on first use)."""
        if self._remote is None:
            from rktfast.fetch.remote import RemoteFetcher, RemoteSettings

            self._remote = RemoteFetcher(self, RemoteSettings.from_globals(self.opts.globals))
        return self._remote

    def fetch_file(self, path: str, signature: str | None) -> str:
        self.debug(f"using image from file {path}")
        reuse = self.opts.insecure_image and self.opts.policy != "update"
        if reuse:
            key = self._unchanged_file(path)
            if key is not None:
                return key
        from rktfast.fetch.ingest import ingest_aci

        check = None
        if not self.opts.insecure_image:
            sig_path = signature or path + ".asc"
            try:
                with open(sig_path, "rb") as f:
                    sig_bytes = f.read(1 << 20)
            except OSError as e:
                raise TrustError(f'unable to fetch image from file "{path}": error opening '
                                 "signature file", e) from e
        try:
            src = open(path, "rb")
        except OSError as e:
            raise ImageError(f'unable to fetch image from file "{path}"', e) from e
        res = None
        try:
            before = os.fstat(src.fileno())
            if not self.opts.insecure_image:
                check = self.start_check(sig_bytes)
            reader = check.reader(src) if check else src
            tree_tmp_dir = self.store.tmp_dir if self.opts.render else None
            res = ingest_aci(reader, blob_dir=self.store.tmp_dir, tree_dir=tree_tmp_dir)
            while check and reader.read(1 << 20):
                pass  # bytes after the end of the compressed stream: the signature covers them
            manifest = check_manifest(res.manifest)
            if self.opts.insecure_image:
                self._warn_insecure()
            else:
                self.verify(manifest.name, path, sig_bytes, check)
            info = self.store.commit_image(res.image_key, res.blob_tmp, res.manifest,
                                           manifest.name, res.size)
            res.blob_tmp = None
            if res.tree_tmp and not manifest.dependencies and not manifest.path_whitelist:
                self.trees.adopt(tree_id([info.key]), res.tree_tmp, info.key, res.tree_digest)
                self.store.index.set_tree_size(info.key, res.tree_size)
                res.tree_tmp = None
            if reuse and _identity(os.fstat(src.fileno())) == _identity(before):
                self._remember_file(path, before, info.key)
            return info.key
        finally:
            src.close()
            if check:
                check.close()
            if res and res.blob_tmp and os.path.exists(res.blob_tmp):
                os.unlink(res.blob_tmp)
            if res and res.tree_tmp:
                self.trees.discard(res.tree_tmp)

    def _unchanged_file(self, path: str) -> str | None:
        """The key of an image file ingested before and unchanged since (same inode, size,
        mtime and ctime: any write changes the last two), still in the store. Only asked
        when no signature is to be checked: the same bytes need no second ingest, which
        for a stage1 given by --stage1-path costs more than the pod start itself."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        rem = self.store.index.get_remote(FILE_URL + os.path.abspath(path))
        if rem is None or rem.etag != _identity(st) or self.store.index.get(rem.key) is None:
            return None
        self.debug(f"using image from local store for file {path} (unchanged since its "
                   "last fetch)")
        return rem.key

    def _remember_file(self, path: str, st: os.stat_result, key: str) -> None:
        from rktfast.store.index import RemoteInfo, now_ns

        now = now_ns()
        if now - st.st_ctime_ns < 2_000_000_000:
            # changed moments ago: a write now could keep the same (coarse) timestamps, the
            # "racy" case of git's index; the next fetch will record it
            return
        self.store.index.put_remote(RemoteInfo(FILE_URL + os.path.abspath(path), "",
                                               _identity(st), key, 0, now))

    def start_check(self, sig_bytes: bytes):
        """A signature check to feed the image's bytes to while they are ingested (None
        when it cannot start early: verify() then reads the file afterwards)."""
        from rktfast.trust.verify import StreamedCheck

        return StreamedCheck.start(self.opts.keystore, sig_bytes, self.store.tmp_dir)

    def verify(self, name: str, data_path: str, sig_bytes: bytes, check=None) -> None:
        """Check the signature of the image at ``data_path`` for ``name``; ``check``: the
        streamed check that has seen all of its bytes already."""
        from rktfast.trust.verify import verify_signature

        try:
            if check is not None:
                identities = check.finish(name)
            else:
                identities = verify_signature(self.opts.keystore, name, data_path, sig_bytes)
        except TrustError as e:
            if "unknown entity" in str(e):
                self.log("If you expected the signing key to change, try running:")
                self.log(f"    rkt trust --prefix {name}")
            raise
        self.log("signature verified:")
        for ident in identities:
            self.log(f"  {ident}")

    def _warn_insecure(self) -> None:
        if not self._warned_insecure:
            self.log("warning: image signature verification has been disabled")
            self._warned_insecure = True


def check_manifest(raw: bytes):
    """Parse and validate an image manifest, including the os/arch rules stage0 enforces."""
    from rktfast.appc.image_manifest import ImageManifest
    from rktfast.appc.types import check_os_arch

    try:
        m = ImageManifest.parse(raw)
        check_os_arch(m)
    except RktError:
        raise
    except Exception as e:
        raise ImageError("invalid image manifest", e) from e
    return m
