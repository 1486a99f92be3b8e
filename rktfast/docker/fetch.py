"""``rkt fetch docker://…`` (and ``oci:…``, ``docker-archive:…``): resolve, download the
missing layers into the layer cache, convert, squash, store (SPEC §8).

The steps, each checked before the next:

1. the pull policy against the ``remote`` row of the image as typed (``docker://redis``);
   with ``update`` the manifest is fetched and an unchanged digest reuses the stored image;
2. manifest (index -> linux/<host arch>), config: digests verified (``sources``);
3. the appc manifest from the config (``convert``), checked like any image manifest;
4. layers: those in the cache are used as they are; the others are downloaded in parallel
   into the cache (``layers``) while the squash applies, in order, each layer as soon as
   it is there (``squash``);
5. the ACI blob (its SHA-512 is the image ID) and the rendered tree are committed, then the
   ``remote`` row. Any failure before leaves no image, tree or row (verified layers stay in
   the cache: they are correct content whatever happened to the image).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from rktfast.docker.convert import image_manifest
from rktfast.docker.layers import Cancelled, LayerStore, StoredLayer, syncfs
from rktfast.docker.manifest import Descriptor, ImageDocs
from rktfast.docker.registry import RegistrySettings
from rktfast.docker.sources import open_source
from rktfast.docker.squash import squash
from rktfast.errors import ImageError, RktError, StoreError
from rktfast.fetch.progress import ProgressBar
from rktfast.store.index import RemoteInfo, now_ns
from rktfast.store.locks import FdLock
from rktfast.store.treestore import tree_id

MAX_PARALLEL = 4


def parallel_downloads() -> int:
    try:
        return max(1, int(os.environ.get("RKTFAST_DOCKER_PARALLEL", MAX_PARALLEL)))
    except ValueError:
        return MAX_PARALLEL


def fetch_docker(finder, arg: str) -> str:
    """The store key of the Docker/OCI image ``arg``, fetched and converted if needed.
    ``finder`` is the calling ``Finder`` (store, trees, options, log, debug)."""
    settings = RegistrySettings.from_globals(finder.opts.globals)
    source = open_source(arg, settings, finder.debug)
    try:
        return DockerFetch(finder, source).run()
    finally:
        source.close()


class DockerFetch:
    def __init__(self, finder, source):
        self.finder = finder
        self.store = finder.store
        self.source = source
        self.debug = finder.debug
        self.layers = LayerStore(self.store.cas, self.store.index, self.store.tmp_dir)
        self._t0 = time.monotonic()

    def _elapsed(self, what: str) -> None:
        self.debug(f"docker fetch: {what} after {time.monotonic() - self._t0:.2f}s")

    def _usable_remote(self) -> RemoteInfo | None:
        rem = self.store.index.get_remote(self.source.remote_key)
        if rem is None or not rem.key or self.store.index.get(rem.key) is None or \
                not os.path.exists(self.store.blob_path(rem.key)):
            return None
        return rem

    def run(self) -> str:
        key_url = self.source.remote_key
        policy = self.finder.opts.policy
        rem = self._usable_remote()
        if policy in ("never", "new") and rem is not None:
            self.debug(f"using image from local store for url {key_url}")
            return rem.key
        if policy == "never":
            raise StoreError(f"unable to fetch docker image from URL {key_url!r}: image not "
                             "found in the local store")
        self.debug(f"fetching image from {key_url}")
        docs = self.source.resolve()
        if rem is not None and rem.etag == docs.manifest_digest:
            self.debug(f"image for {key_url} is unchanged ({docs.manifest_digest}), "
                       "not fetching.")
            self.store.index.put_remote(RemoteInfo(key_url, "", rem.etag, rem.key, 0, now_ns()))
            return rem.key
        from rktfast.fetch.finder import check_manifest

        converted = image_manifest(self.source.ref, docs.config, docs.manifest,
                                   docs.config_digest)
        manifest_bytes = converted.to_json().encode()
        manifest = check_manifest(manifest_bytes)
        key = self._build(docs, manifest_bytes, manifest.name)
        self.store.index.put_remote(RemoteInfo(key_url, "", docs.manifest_digest, key, 0,
                                               now_ns()))
        return key

    # -- layers + squash -------------------------------------------------------------------

    def _build(self, docs: ImageDocs, manifest_bytes: bytes, name: str) -> str:
        plan: list[tuple[Descriptor, str | None, StoredLayer | None]] = []
        for i, desc in enumerate(docs.layers):
            diff_id = docs.diff_ids[i] if docs.diff_ids else None
            plan.append((desc, diff_id, self.layers.lookup(desc, diff_id)))
        missing = [(i, d, diff) for i, (d, diff, have) in enumerate(plan) if have is None]
        for desc, _diff, have in plan:
            if have is not None:
                self.debug(f"layer {desc.digest} is in the layer cache")
        stop = threading.Event()
        futures: dict[int, Future] = {}
        show = self.source.kind == "registry"
        tty = None if len(missing) <= 1 else False  # parallel bars cannot share one line
        pool = ThreadPoolExecutor(max_workers=max(1, min(parallel_downloads(), len(missing))),
                                  thread_name_prefix="rktfast-layer")
        locks: list[FdLock] = []
        pending: list[StoredLayer] = []  # stored layers whose index row is not written yet
        sq = None
        try:
            for i, desc, diff_id in missing:
                futures[i] = pool.submit(self._download, desc, diff_id, stop, show, tty)

            def ordered():
                for i, (desc, _diff, have) in enumerate(plan):
                    stored = have if have is not None else futures[i].result()
                    if stored.row is not None:
                        pending.append(stored)
                    self._elapsed(f"layer {i + 1} ready")
                    lk = self.layers.lock(stored.diff_id).shared()
                    locks.append(lk)
                    if not os.path.exists(stored.path):
                        raise ImageError(f"layer {desc.digest} was removed from the layer "
                                         "cache while in use; fetch again")
                    yield stored.path, f"layer {i + 1} ({desc.digest[:19]})"

            mtime = _created(docs.config)
            try:
                sq = squash(ordered(), manifest_bytes, self.store.tmp_dir, mtime=mtime)
                self._elapsed("squashed and ACI written")
            except BaseException as e:
                stop.set()
                raise self._root_cause(e, futures) from None
            self.layers.touch([s.diff_id for s in (
                have if have is not None else futures[i].result()
                for i, (_d, _x, have) in enumerate(plan))])
            syncfs(self.store.cas)  # layers, tree and blob durable before any row
            key = self._commit(sq, manifest_bytes, name)
            self._record(pending)
            self._elapsed("committed")
            return key
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for f in futures.values():  # verified layers stay cached even if the image failed
                if f.done() and not f.cancelled() and f.exception() is None and \
                        f.result() not in pending and f.result().row is not None:
                    pending.append(f.result())
            if pending:
                try:
                    syncfs(self.store.cas)
                    self._record(pending)
                except (OSError, RktError):
                    pass  # unrecorded files are gc's; the fetch's own error matters more
            for lk in locks:
                lk.close()
            if sq is not None:
                self._discard(sq)

    def _record(self, stored: list[StoredLayer]) -> None:
        for layer in stored:
            self.layers.record(layer)
        stored.clear()

    @staticmethod
    def _root_cause(e: BaseException, futures: dict[int, Future]) -> BaseException:
        """The first real failure: a download that failed makes the squash fail too, and a
        cancelled download is only the echo of another failure."""
        if isinstance(e, Cancelled):
            for f in futures.values():
                if f.done() and not f.cancelled() and f.exception() is not None and \
                        not isinstance(f.exception(), Cancelled):
                    return f.exception()
        return e

    def _download(self, desc: Descriptor, diff_id: str | None, stop: threading.Event,
                  show: bool, tty: bool | None) -> StoredLayer:
        if stop.is_set():
            raise Cancelled("layer download cancelled")
        bar = ProgressBar(desc.digest[:18], desc.size, tty=tty) if show else None
        try:
            opened = self.source.open_layer(desc)
            try:
                stored = self.layers.ingest(opened, desc, diff_id,
                                            progress=bar.add if bar else None, stop=stop)
            finally:
                opened.close()
        except BaseException as e:
            stop.set()
            if bar:
                bar.abort()
            if isinstance(e, RktError) and not isinstance(e, Cancelled) and \
                    desc.digest not in e.message:
                raise ImageError(f"layer {desc.digest}", e) from e
            raise
        if bar:
            bar.finish()
        return stored

    def _commit(self, sq, manifest_bytes: bytes, name: str) -> str:
        tag = self.source.ref.tag
        info = self.store.commit_image(sq.key, sq.blob_tmp, manifest_bytes, name, sq.size,
                                       latest=tag == "latest")
        sq.blob_tmp = None
        self.finder.trees.adopt(tree_id([info.key]), sq.tree_tmp, info.key)
        sq.tree_tmp = None
        self.store.index.set_tree_size(info.key, sq.tree_size)
        return info.key

    def _discard(self, sq) -> None:
        if sq.blob_tmp:
            try:
                os.unlink(sq.blob_tmp)
            except FileNotFoundError:
                pass
        if sq.tree_tmp:
            self.finder.trees.discard(sq.tree_tmp)


def _created(config: dict) -> int:
    """The config's creation time as a Unix time (0 when absent): the mtime of the
    entries the conversion adds, so that the same image always converts to the same ID."""
    from datetime import datetime

    value = config.get("created")
    if not isinstance(value, str) or not value:
        return 0
    try:
        text = value.rstrip("Z")
        if "." in text:
            head, frac = text.split(".", 1)
            text = f"{head}.{frac[:6]}"
        return int(datetime.fromisoformat(text + "+00:00").timestamp())
    except ValueError:
        return 0
