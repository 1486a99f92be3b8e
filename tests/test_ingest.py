"""One-pass ingest: image key, blob, tree, cleanup on failure, bounded memory, and the
hostile corpus."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import subprocess
import sys
import textwrap

import hostile_images as H
import pytest
import zstandard

from rktfast.errors import ImageError
from rktfast.fetch.decompress import DecompressingReader
from rktfast.fetch.ingest import ingest_aci

HERE = os.path.dirname(os.path.abspath(__file__))

COMPRESSORS = {
    "tar": lambda d: d,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": zstandard.compress,
}


def sample_aci() -> bytes:
    return H.aci([H.dir_("rootfs/bin"), H.file("rootfs/bin/sh", os.urandom(300_000), mode=0o755),
                  H.symlink("rootfs/bin/ash", "sh"), H.file("rootfs/etc/hostname", b"h\n")])


@pytest.fixture
def dirs(tmp_path):
    blob, tree = tmp_path / "blob", tmp_path / "tree"
    blob.mkdir()
    tree.mkdir()
    return str(blob), str(tree)


@pytest.mark.parametrize("fmt", sorted(COMPRESSORS))
def test_image_key_is_sha512_of_the_decompressed_tar(dirs, fmt, tmp_path):
    raw = sample_aci()
    (tmp_path / "img.tar").write_bytes(raw)
    want = subprocess.run(["sha512sum", str(tmp_path / "img.tar")], check=True,
                          capture_output=True, text=True).stdout.split()[0]
    seen = []
    r = ingest_aci(io.BytesIO(COMPRESSORS[fmt](raw)), blob_dir=dirs[0], tree_dir=dirs[1],
                   progress=seen.append)
    assert r.digest_hex == want
    assert r.image_key == "sha512-" + want[:64]
    assert r.size == len(raw)
    assert sum(seen) == len(COMPRESSORS[fmt](raw))
    with open(r.blob_tmp, "rb") as f:
        assert f.read() == raw
    assert os.path.basename(r.blob_tmp).startswith(f".tmp-{os.getpid()}-")
    assert r.manifest == H.MANIFEST
    assert os.listdir(r.tree_tmp) == ["rootfs"]
    assert os.readlink(os.path.join(r.tree_tmp, "rootfs/bin/ash")) == "sh"
    assert r.tree_size == 300_000 + 2


def test_ingest_without_tree_still_validates_and_captures_manifest(dirs):
    r = ingest_aci(io.BytesIO(sample_aci()), blob_dir=dirs[0], tree_dir=None)
    assert r.tree_tmp is None and r.manifest == H.MANIFEST
    assert os.listdir(dirs[1]) == []
    with pytest.raises(ImageError, match="duplicate"):
        ingest_aci(io.BytesIO(H.duplicate_manifest()), blob_dir=dirs[0], tree_dir=None)


def test_whitelist_applies_to_the_rendered_tree(dirs):
    r = ingest_aci(io.BytesIO(sample_aci()), blob_dir=dirs[0], tree_dir=dirs[1],
                   whitelist=["/etc/hostname"])
    found = [os.path.relpath(os.path.join(d, f), r.tree_tmp)
             for d, _, fs in os.walk(r.tree_tmp) for f in fs]
    assert found == ["rootfs/etc/hostname"]


def _snapshot(path: str) -> set[str]:
    return {os.path.join(d, n) for d, ds, fs in os.walk(path) for n in ds + fs}


@pytest.mark.parametrize("name", sorted(H.CORPUS))
def test_hostile_image_is_rejected_or_contained(name, tmp_path):
    build, expectation = H.CORPUS[name]
    blob, tree = tmp_path / "blob", tmp_path / "tree"
    blob.mkdir()
    tree.mkdir()
    (tmp_path / "canary").write_bytes(b"canary")
    before = _snapshot(str(tmp_path))
    with open("/etc/passwd", "rb") as f:
        passwd = f.read()
    try:
        r = ingest_aci(io.BytesIO(build()), blob_dir=str(blob), tree_dir=str(tree))
    except ImageError as e:
        assert e.message.startswith(("error extracting image: ", "error decompressing image: "))
        assert os.listdir(blob) == [] and os.listdir(tree) == [], "temporaries left behind"
        after = _snapshot(str(tmp_path))
        assert after == before
    else:
        assert expectation == "contain", f"{name} should have been rejected"
        allowed = (r.blob_tmp, r.tree_tmp)
        new = _snapshot(str(tmp_path)) - before
        assert all(p.startswith(allowed) for p in new), new
        if name == "symlink_out_then_write":
            rootfs = os.path.join(r.tree_tmp, "rootfs")
            assert os.path.exists(os.path.join(rootfs, "tmp/rktfast-hostile-symlink"))
            assert os.path.exists(os.path.join(rootfs, "tmp/rktfast-hostile-symlink2"))
        if name == "block_device":
            assert r.skipped_devices == 2
    assert (tmp_path / "canary").read_bytes() == b"canary"
    with open("/etc/passwd", "rb") as f:
        assert f.read() == passwd
    for leak in ("/tmp/rktfast-hostile-dotdot", "/tmp/rktfast-hostile-abs",
                 "/tmp/rktfast-hostile-symlink", "/tmp/rktfast-hostile-symlink2",
                 "/tmp/rktfast-hostile-dirswap", "/etc/rktfast-hostile-dirswap"):
        assert not os.path.exists(leak)


def test_error_messages_are_clear():
    def err(data):
        with pytest.raises(ImageError) as ei:
            ingest_aci(io.BytesIO(data), blob_dir=os.environ.get("TMPDIR", "/tmp"),
                       tree_dir=None)
        return ei.value.message

    assert err(H.truncated_gzip()) == "error decompressing image: unexpected end of gzip stream"
    assert "checksum mismatch" in err(H.bad_checksum())
    assert "missing rootfs/ directory" in err(H.missing_rootfs())
    assert "truncated archive" in err(H.tar_bomb())
    assert "manifest: duplicate entry" in err(H.duplicate_manifest())


class _Exploding(io.RawIOBase):
    """A source that fails after some bytes (a dropped connection)."""

    def __init__(self, data: bytes, after: int, exc: BaseException):
        self._data, self._after, self._exc, self._pos = data, after, exc, 0

    def readable(self):
        return True

    def read(self, n=-1):
        if self._pos >= self._after:
            raise self._exc
        chunk = self._data[self._pos:min(self._pos + n, self._after)]
        self._pos += len(chunk)
        return chunk


@pytest.mark.parametrize("exc", [OSError(104, "Connection reset"), KeyboardInterrupt()])
def test_failure_mid_stream_removes_temporaries_and_stops_threads(dirs, exc):
    import threading

    data = gzip.compress(H.aci([H.file(f"rootfs/f{i}", os.urandom(20000)) for i in range(200)]))
    # new threads only: a thread left by an earlier test may end meanwhile; the kernel's
    # list also shows the extractor's native file worker
    before, before_tasks = set(threading.enumerate()), set(os.listdir("/proc/self/task"))
    with pytest.raises((ImageError, KeyboardInterrupt)) as ei:
        ingest_aci(_Exploding(data, len(data) // 2, exc), blob_dir=dirs[0], tree_dir=dirs[1])
    assert isinstance(ei.value, KeyboardInterrupt) == isinstance(exc, KeyboardInterrupt)
    assert os.listdir(dirs[0]) == [] and os.listdir(dirs[1]) == []
    assert set(threading.enumerate()) - before == set()
    assert set(os.listdir("/proc/self/task")) - before_tasks == set()


def test_decompressing_reader_bounds_each_chunk():
    bomb = gzip.compress(bytes(64 << 20))
    r = DecompressingReader(io.BytesIO(bomb))
    total = 0
    while chunk := r.read():
        assert len(chunk) <= 1 << 20
        total += len(chunk)
    assert total == 64 << 20 and r.format == "gzip"


MEMORY_SCRIPT = textwrap.dedent("""
    import io, os, sys, tarfile
    sys.path.insert(0, sys.argv[2])
    import hostile_images as H
    from rktfast.fetch.ingest import ingest_aci

    SIZE = int(sys.argv[3])

    class Generated(io.RawIOBase):
        '''An ACI with one SIZE-byte file, generated as it is read.'''
        def __init__(self):
            ti = tarfile.TarInfo("rootfs/big"); ti.size = SIZE
            head = H.aci()
            head = head.rstrip(b"\\0"); head += b"\\0" * (-len(head) % 512)
            self.parts = [head + ti.tobuf(tarfile.PAX_FORMAT)]
            self.left = SIZE + (-SIZE % 512)
            self.block = bytes(range(256)) * 4096
        def readable(self): return True
        def read(self, n=-1):
            if self.parts:
                return self.parts.pop()
            if self.left == 0:
                if self.left is not None:
                    self.left = None
                    return bytes(1024)
                return b""
            if self.left is None:
                return b""
            k = min(n, self.left, len(self.block))
            self.left -= k
            return self.block[:k]

    r = ingest_aci(Generated(), blob_dir=sys.argv[1], tree_dir=sys.argv[1])
    assert r.tree_size == SIZE, r
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve from the parent (pytest)
    with open("/proc/self/status") as f:
        print([line.split()[1] for line in f if line.startswith("VmHWM:")][0])
""")


@pytest.mark.slow
def test_memory_stays_bounded_for_a_1gb_image(tmp_path):
    size = 1 << 30
    from conftest import package_env

    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path), HERE, str(size)],
                         check=True, capture_output=True, text=True, cwd=str(tmp_path),
                         env=package_env())  # the rktfast under test, native modules included
    maxrss_kib = int(out.stdout.split()[-1])
    assert maxrss_kib < 64 * 1024, f"peak RSS {maxrss_kib} KiB"


def test_blob_is_identical_to_input_for_plain_tar(dirs):
    raw = sample_aci()
    r = ingest_aci(io.BytesIO(raw), blob_dir=dirs[0], tree_dir=dirs[1])
    assert hashlib.sha512(open(r.blob_tmp, "rb").read()).hexdigest() == r.digest_hex


def test_tree_digest_from_written_contents_equals_a_fresh_walk(dirs):
    # ingest takes file digests from the extractor instead of reading the files back; the
    # result must be what `image verify` recomputes from the disk, whatever the archive did
    rng = __import__("random").Random(5)
    members = [H.dir_("rootfs/d"), H.file("rootfs/empty", b""),
               H.file("rootfs/d/big", rng.randbytes((3 << 20) + 5)),
               H.file("rootfs/d/twice", b"first version"),
               H.hardlink("rootfs/d/link-to-twice", "rootfs/d/twice"),
               H.file("rootfs/d/twice", b"second, longer version"),  # replaces the name
               H.file("rootfs/d/same-size", b"aaaa"), H.file("rootfs/d/same-size", b"bbbb")]
    info, content = H.file("rootfs/d/xattr", b"x" * 5000)
    info.pax_headers = {"SCHILY.xattr.user.k": "v"}
    members.append((info, content))
    members += [H.file(f"rootfs/many/{i}", rng.randbytes(i * 37)) for i in range(300)]
    r = ingest_aci(io.BytesIO(H.aci(members)), blob_dir=dirs[0], tree_dir=dirs[1])
    from rktfast.store.treestore import tree_digest
    rootfs = os.path.join(r.tree_tmp, "rootfs")
    assert open(os.path.join(rootfs, "d/twice"), "rb").read() == b"second, longer version"
    assert r.tree_digest == tree_digest(rootfs)
    # and the extractor's digests were used: a wrong one shows in the result
    from rktfast.fetch.extract import TarExtractor
    with TarExtractor(r.tree_tmp, keep_prefix="rootfs", aci=True, overwrite=True,
                      content_digests=True) as ex:
        ex.feed(H.aci([H.file("rootfs/d/big", b"rewritten")]))
        ex.finish()
        known = bytearray(ex.content_digests)
    assert len(known) == 48
    known[-1] ^= 1
    assert tree_digest(rootfs, bytes(known)) != tree_digest(rootfs)
