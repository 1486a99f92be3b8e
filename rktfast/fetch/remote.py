"""Fetching images over the network: by URL, or by appc name through meta discovery.

The flow of one remote fetch (rkt's ``httpFetcher``/``nameFetcher``, SPEC §6, §7):

1. name only: discover the endpoints; if no key is trusted for the name, discover its keys
   and offer them for review (``ac-discovery-pubkeys``);
2. download the signature (a ``202 Accepted`` defers it until after the image) and check
   that a trusted key made it, before downloading the image;
3. download the image, the body streamed straight into ``ingest_aci`` (decompress, hash,
   blob, tree in one pass) while a copy of the compressed bytes goes to a partial file in
   ``cas/tmp`` named by the URL's SHA-512: an interrupted download is resumed from there with
   ``Range`` + ``If-Range`` by the next fetch, and the file holds exactly the bytes fetched;
4. check the fetched manifest against the requested name and labels, verify the signature
   over the partial file's bytes, commit the image and its tree, record the ``remote`` row
   (ETag, ``Cache-Control: max-age``) used by later fetches to skip or revalidate (304).

Nothing enters the store before every check passed; the partial file is kept only when the
download itself was interrupted (and the server gave a validator to resume against).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from rktfast.errors import ImageError, RktError, StoreError, TrustError
from rktfast.fetch.discovery import discover_endpoints, discover_pubkeys, discovery_labels
from rktfast.fetch.http import (
    DownloadInterrupted,
    HTTPError,
    HTTPOptions,
    Response,
    max_age,
    request,
)
from rktfast.fetch.progress import ProgressBar
from rktfast.output.goquote import go_quote
from rktfast.store.index import RemoteInfo, now_ns

SIGNATURE_LIMIT = 1 << 20
SIGNATURE_DEADLINE = 120.0
PARTIAL_PREFIX = "partial-"
READ_CHUNK = 1 << 18


def max_download_bytes() -> int:
    """Cap on an image body of unknown length (``RKTFAST_MAX_DOWNLOAD_BYTES``, 64 GiB)."""
    try:
        return int(os.environ.get("RKTFAST_MAX_DOWNLOAD_BYTES", str(64 << 30)))
    except ValueError:
        return 64 << 30


@dataclass
class RemoteSettings:
    """What the global flags and ``auth.d`` say about network fetches."""

    http: HTTPOptions = field(default_factory=HTTPOptions)
    insecure_pubkey: bool = False  # --insecure-options=pubkey
    trust_keys_from_https: bool = False

    @classmethod
    def from_globals(cls, g) -> RemoteSettings:
        """Settings from GlobalOptions ``g`` (None: the secure defaults, no credentials)."""
        if g is None:
            return cls()
        from rktfast.config import load

        auth = load(g, ("auth",)).auth
        return cls(http=HTTPOptions(insecure_tls=g.insecure("tls"), allow_http=g.insecure("http"),
                                    auth=auth),
                   insecure_pubkey=g.insecure("pubkey"),
                   trust_keys_from_https=bool(g.trust_keys_from_https))


@dataclass
class _Download:
    """An image download that went through ingest (or was answered 304)."""

    not_modified: bool = False
    result: object = None  # IngestResult
    etag: str = ""
    max_age: int = 0
    partial: _Partial | None = None
    cached_key: str | None = None  # another rkt finished the same download while we waited


def _is_local(location: str) -> bool:
    return urlsplit(location).scheme.lower() in ("", "file")


class _Partial:
    """The resumable copy of one URL's compressed bytes: ``cas/tmp/partial-<sha512(url)>``
    plus ``….json`` holding the validator (ETag or Last-Modified) they were served with.
    Holding the object holds an exclusive flock: one download per URL at a time."""

    def __init__(self, tmp_dir: str, url: str, log: Callable[[str], None]):
        digest = hashlib.sha512(url.encode()).hexdigest()
        self.path = os.path.join(tmp_dir, PARTIAL_PREFIX + "sha512-" + digest[:64])
        self.meta_path = self.path + ".json"
        self.waited = False
        while True:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log("another rkt instance is downloading this file, waiting...")
                self.waited = True
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            # the holder may have finished and removed the file: lock the current one
            try:
                same = os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(self.fd)

    @property
    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def validator(self) -> str | None:
        try:
            with open(self.meta_path, "rb") as f:
                return json.loads(f.read(1 << 16)).get("validator") or None
        except (OSError, ValueError, AttributeError):
            return None

    def restart(self, validator: str | None) -> None:
        """Forget the bytes kept so far; remember what the new ones will be served with."""
        os.ftruncate(self.fd, 0)
        if validator:
            tmp = self.meta_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"validator": validator}, f)
            os.rename(tmp, self.meta_path)
        else:
            self._unlink(self.meta_path)

    def remove(self) -> None:
        self._unlink(self.path)
        self._unlink(self.meta_path)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @staticmethod
    def _unlink(path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def remove_stale_partials(tmp_dir: str, cutoff_ns: int) -> None:
    """image gc: delete the partial downloads (and their ``.json``) last written before
    ``cutoff_ns`` that no fetch is resuming (their flock is free)."""
    try:
        names = os.listdir(tmp_dir)
    except FileNotFoundError:
        return
    for name in names:
        if not name.startswith(PARTIAL_PREFIX) or name.endswith(".json"):
            continue
        path = os.path.join(tmp_dir, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_mtime_ns >= cutoff_ns:
                continue
            # a fetch that opens the name from now on makes a new file (see _Partial)
            _Partial._unlink(path)
            _Partial._unlink(path + ".json")
        except BlockingIOError:
            pass  # being downloaded right now
        finally:
            os.close(fd)


class _PartialTee:
    """The stream ingest reads: the bytes an earlier, interrupted download left in the
    partial file, then the response body, copied into the partial file as it passes."""

    def __init__(self, partial: _Partial, replay: int, resp: Response, limit: int):
        self._fd = partial.fd
        self._replay = replay
        self._resp = resp
        self._limit = limit
        self.offset = 0
        self.interrupted: DownloadInterrupted | None = None

    def read(self, n: int = -1) -> bytes:
        if n is None or n <= 0:
            n = READ_CHUNK
        if self.offset < self._replay:
            data = os.pread(self._fd, min(n, self._replay - self.offset), self.offset)
            if not data:
                raise ImageError("the partial download file was truncated while in use")
            self.offset += len(data)
            return data
        try:
            data = self._resp.read(n)
        except DownloadInterrupted as e:
            self.interrupted = e
            raise
        if data:
            if self.offset + len(data) > self._limit:
                raise HTTPError(f"{self._resp.url}: image larger than {self._limit} bytes")
            view = memoryview(data)
            while view:
                written = os.pwrite(self._fd, view, self.offset)
                self.offset += written
                view = view[written:]
        return data


def _strong_validator(resp: Response) -> str | None:
    """What ``If-Range`` can resume against: a strong ETag, else Last-Modified."""
    etag = resp.header("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return resp.header("Last-Modified")


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value or not value.startswith("bytes "):
        return None
    first = value[6:].split("-", 1)[0].strip()
    return int(first) if first.isdigit() else None


class RemoteFetcher:
    """Fetches images by URL or appc name into ``finder``'s store (see the module doc).

    ``finder`` is the calling ``Finder``: its store, tree store, options (policy,
    keystore, insecure image), ``log``/``debug`` and ``verify`` are used."""

    def __init__(self, finder, settings: RemoteSettings):
        self.finder = finder
        self.store = finder.store
        self.settings = settings
        self.log = finder.log
        self.debug = finder.debug
        self._warned_tls = False

    # -- entry points --------------------------------------------------------------------

    def fetch_url(self, url: str, signature: str | None, policy: str) -> str:
        """The key of the image at ``url`` (an ``http(s)://…`` archive URL)."""
        rem = self._usable_remote(url)
        if policy in ("never", "new") and rem is not None:
            self.debug(f"using image from local store for url {url}")
            return rem.key
        if policy == "never":
            raise StoreError("image not found in the local store")
        if rem is not None and self._fresh(rem):
            self.debug(f"image for {url} isn't expired, not fetching.")
            return rem.key
        self.debug(f"fetching image from {url}")
        return self._fetch(url, signature or url + ".asc", name=None, labels={}, latest=False,
                           rem=rem)

    def fetch_name(self, name: str, labels: dict[str, str], name_arg: str,
                   signature: str | None) -> str:
        """Discover ``name`` (with ``labels``) and fetch it; the store lookup of the pull
        policy was done by the caller."""
        self.debug(f"searching for app image {name_arg}")
        wanted = discovery_labels(labels)
        try:
            endpoints = discover_endpoints(name, wanted, self.settings.http, debug=self.debug)
        except RktError as e:
            raise ImageError(f"discovery failed for {go_quote(name_arg)}", e) from e
        aci_url = endpoints[0].aci
        self.debug(f"remote fetching from URL {go_quote(aci_url)}")
        rem = self._usable_remote(aci_url)
        if rem is not None and self._fresh(rem):
            self.debug(f"image for {aci_url} isn't expired, not fetching.")
            return rem.key
        return self._fetch(aci_url, signature or endpoints[0].asc, name=name, labels=wanted,
                           latest="version" not in labels, rem=rem)

    # -- the cache ------------------------------------------------------------------------

    def _usable_remote(self, url: str) -> RemoteInfo | None:
        """The ``remote`` row of ``url`` if the image it names is still in the store."""
        rem = self.store.index.get_remote(url)
        if rem is None or not rem.key:
            return None
        if self.store.index.get(rem.key) is None or not os.path.exists(
                self.store.blob_path(rem.key)):
            return None
        return rem

    @staticmethod
    def _fresh(rem: RemoteInfo) -> bool:
        age_s = (now_ns() - (rem.download_time or 0)) / 1e9
        return bool(rem.cache_max_age) and 0 <= age_s < rem.cache_max_age

    # -- the flow --------------------------------------------------------------------------

    def _fetch(self, aci_url: str, asc_location: str, *, name: str | None,
               labels: dict[str, str], latest: bool, rem: RemoteInfo | None) -> str:
        opts = self.finder.opts
        verify = not opts.insecure_image
        if self.settings.http.insecure_tls and verify and not self._warned_tls:
            self.log("warning: TLS verification has been disabled")
            self._warned_tls = True
        sig: bytes | None = None
        deferred = False
        if not verify:
            self.finder._warn_insecure()
        else:
            if name is not None:
                self._maybe_fetch_pubkeys(name)
            sig, deferred = self._signature(asc_location)
            if sig is not None and name is not None:
                self._check_signer(name, sig)

        # with the signature in hand, check it while the image's bytes pass
        check = self.finder.start_check(sig) if verify and sig is not None else None
        try:
            dl = self._download(aci_url, rem, check)
        except BaseException:
            if check:
                check.close()
            raise
        if dl.cached_key is not None or dl.not_modified:
            if check:
                check.close()
        if dl.cached_key is not None:
            return dl.cached_key
        if dl.not_modified:
            assert rem is not None
            self.debug(f"using image from local store for url {aci_url} (not modified)")
            self.store.index.put_remote(RemoteInfo(aci_url, asc_location, dl.etag or rem.etag,
                                                   rem.key, dl.max_age, now_ns()))
            return rem.key
        res = dl.result
        partial = dl.partial
        try:
            if verify and deferred:
                sig, again = self._signature(asc_location)
                if again:
                    raise TrustError("error downloading the signature file: server asked to "
                                     "defer the download again")
            from rktfast.fetch.finder import check_manifest

            manifest = check_manifest(res.manifest)
            if name is not None:
                check_name_and_labels(manifest, name, labels)
            if verify:
                self.finder.verify(name or manifest.name, partial.path, sig, check)
            key = self._commit(res, manifest, latest)
            self.store.index.put_remote(RemoteInfo(aci_url, asc_location, dl.etag, key,
                                                   dl.max_age, now_ns()))
            partial.remove()
            return key
        except BaseException:
            # what was fetched is complete but not acceptable: do not resume from it
            partial.remove()
            raise
        finally:
            if check:
                check.close()
            partial.close()
            self._discard(res)

    def _commit(self, res, manifest, latest: bool) -> str:
        from rktfast.store.treestore import tree_id

        info = self.store.commit_image(res.image_key, res.blob_tmp, res.manifest, manifest.name,
                                       res.size, latest=latest)
        res.blob_tmp = None
        if res.tree_tmp and not manifest.dependencies and not manifest.path_whitelist:
            self.finder.trees.adopt(tree_id([info.key]), res.tree_tmp, info.key,
                                    res.tree_digest)
            self.store.index.set_tree_size(info.key, res.tree_size)
            res.tree_tmp = None
        return info.key

    def _discard(self, res) -> None:
        if res is None:
            return
        if res.blob_tmp and os.path.exists(res.blob_tmp):
            os.unlink(res.blob_tmp)
            res.blob_tmp = None
        if res.tree_tmp:
            self.finder.trees.discard(res.tree_tmp)
            res.tree_tmp = None

    # -- keys and signatures ------------------------------------------------------------------

    def _maybe_fetch_pubkeys(self, name: str) -> None:
        """rkt's maybeFetchPubKeys: with no key trusted for ``name`` or a parent path,
        discover its keys and run the review dialogue. Failures are reported, not raised:
        the signature check that follows says what is wrong."""
        ks = self.finder.opts.keystore
        try:
            if ks.has_keys_for(name):
                self.log(f"keys already exist for prefix {go_quote(name)}, not fetching again")
                return
        except RktError as e:
            self.log(f"error checking for existing keys: {_short(e)}")
            return
        http = self.settings.http
        allow_http = False
        if self.settings.insecure_pubkey:
            self.log("signing keys may be downloaded from an insecure connection")
            allow_http = http.allow_http
        if http.insecure_tls and not self.settings.insecure_pubkey:
            return
        try:
            locations = discover_pubkeys(name, allow_http=allow_http, skip_tls=http.insecure_tls,
                                         auth=dict(http.auth), debug=self.debug)
        except RktError as e:
            self.log(f"error determining key location: {_short(e)}")
            return
        from rktfast.trust.trust_keys import TrustOptions, trust_keys

        options = TrustOptions(trust_keys_from_https=self.settings.trust_keys_from_https,
                               allow_http=allow_http, skip_tls=http.insecure_tls)
        try:
            trust_keys(ks, locations, name, options, stdin=sys.stdin, stdout=sys.stdout,
                       stderr=sys.stderr)
        except RktError as e:
            self.log(f"error adding keys: {_short(e)}")

    def _check_signer(self, name: str, sig: bytes) -> None:
        """Fail before the image download when no trusted key made the signature."""
        from rktfast.trust.verify import UnknownSignerError, check_signer_known

        try:
            check_signer_known(self.finder.opts.keystore, name, sig)
        except UnknownSignerError:
            self.log("If you expected the signing key to change, try running:")
            self.log(f"    rkt trust --prefix {name}")
            raise

    def _signature(self, location: str) -> tuple[bytes | None, bool]:
        """The signature bytes, or (None, True) when the server deferred them (202)."""
        self.debug(f"downloading signature from {location}")
        if _is_local(location):
            path = unquote(urlsplit(location).path) if "://" in location else location
            try:
                with open(path, "rb") as f:
                    return f.read(SIGNATURE_LIMIT), False
            except OSError as e:
                raise TrustError("error opening signature file", e) from e
        import time

        try:
            with request(location, self.settings.http,
                         deadline=time.monotonic() + SIGNATURE_DEADLINE) as resp:
                if resp.status == 202:
                    self.log("server requested deferring the signature download")
                    return None, True
                if resp.status != 200:
                    raise HTTPError(f"bad HTTP status code: {resp.status}", status=resp.status)
                bar = ProgressBar("signature", resp.content_length)
                try:
                    data = _read_limited(resp, SIGNATURE_LIMIT, bar.add)
                except BaseException:
                    bar.abort()
                    raise
                bar.finish()
                return data, False
        except RktError as e:
            raise TrustError("error downloading the signature file", e) from e

    # -- the image download ---------------------------------------------------------------

    def _download(self, url: str, rem: RemoteInfo | None, check=None) -> _Download:
        """Download (or resume) and ingest the image; ``check``: a streamed signature check
        to feed every byte of it to, from the first."""
        from rktfast.fetch.ingest import ingest_aci

        started = now_ns()
        partial = _Partial(self.store.tmp_dir, url, self.log)
        try:
            if partial.waited:
                again = self._usable_remote(url)
                if again is not None and (again.download_time or 0) >= started:
                    partial.close()
                    return _Download(cached_key=again.key)
            resp = self._open_image(url, partial, rem)
            if resp is None:
                if partial.size == 0:
                    partial.remove()
                partial.close()
                return _Download(not_modified=True, etag=rem.etag if rem else "")
        except BaseException:
            if partial.size == 0:
                partial.remove()
            partial.close()
            raise
        with resp:
            replay = partial.size
            length = resp.content_length
            bar = ProgressBar("ACI", replay + length if length is not None else None)
            validator = _strong_validator(resp) if resp.status == 200 else partial.validator()
            limit = replay + length if length is not None else max_download_bytes()
            tee = _PartialTee(partial, replay, resp, limit)
            tmp = self.store.tmp_dir
            res = None
            try:
                src = check.reader(tee) if check else tee
                res = ingest_aci(src, blob_dir=tmp,
                                 tree_dir=tmp if self.finder.opts.render else None,
                                 progress=bar.add)
                # bytes after the end of the compressed stream: the signature covers them
                while src.read(READ_CHUNK):
                    pass
            except BaseException as e:
                self._discard(res)
                bar.abort()
                resumable = (tee.interrupted is not None or isinstance(e, KeyboardInterrupt)) \
                    and validator is not None
                if not resumable:
                    partial.remove()
                partial.close()
                if tee.interrupted is not None:
                    raise ImageError("error downloading ACI", tee.interrupted) from e
                raise
            bar.finish()
            return _Download(result=res, etag=resp.header("ETag") or "",
                             max_age=max_age(resp.header("Cache-Control")), partial=partial)

    def _open_image(self, url: str, partial: _Partial, rem: RemoteInfo | None) -> Response | None:
        """GET the image, resuming the partial file when it can; None for 304."""
        for _attempt in range(2):
            headers = {}
            if rem is not None and rem.etag:
                headers["If-None-Match"] = rem.etag
            have = partial.size
            validator = partial.validator() if have else None
            if have and validator:
                headers["Range"] = f"bytes={have}-"
                headers["If-Range"] = validator
                self.debug(f"resuming the download of {url} at byte {have}")
            resp = request(url, self.settings.http, headers=headers)
            if resp.status == 304 and rem is not None:
                resp.close()
                return None
            if resp.status == 206 and have and validator:
                if _content_range_start(resp.header("Content-Range")) == have:
                    return resp
                resp.close()
                partial.restart(None)  # a range we did not ask for: start over
                continue
            if resp.status == 200:
                partial.restart(_strong_validator(resp))
                return resp
            resp.close()
            if resp.status == 416 and have:
                partial.restart(None)
                continue
            raise HTTPError(f"bad HTTP status code: {resp.status}", status=resp.status)
        raise HTTPError(f"{url}: the server did not honour the resumed download")


def _read_limited(resp: Response, limit: int, progress: Callable[[int], None]) -> bytes:
    parts: list[bytes] = []
    total = 0
    while chunk := resp.read(1 << 16):
        total += len(chunk)
        if total > limit:
            raise HTTPError(f"{resp.url}: larger than {limit} bytes")
        parts.append(chunk)
        progress(len(chunk))
    return b"".join(parts)


def _short(e: RktError) -> str:
    chain = e.chain()
    return chain[0] if len(chain) == 1 else f"{chain[0]}: {chain[-1]}"


def check_name_and_labels(manifest, name: str, labels: dict[str, str]) -> None:
    """The fetched manifest must carry the requested name and every requested label
    (rkt's validator ValidateName/ValidateLabels messages)."""
    if manifest.name != name:
        raise ImageError(f"error when reading the app name: {go_quote(name)} expected but "
                         f"{go_quote(manifest.name)} found")
    have = {lb.name: lb.value for lb in manifest.labels}
    for label, wanted in labels.items():
        if label not in have:
            raise ImageError(f"requested label {go_quote(label)} not provided by the image "
                             "manifest")
        if have[label] != wanted:
            raise ImageError(f"requested value for label {go_quote(label)}: {go_quote(wanted)} "
                             f"differs from fetched aci label value: {go_quote(have[label])}")
