"""The native tar extractor and writer (rktfast._tarx) against GNU tar, chunkings and
hostile layouts."""

from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
import tarfile

import hostile_images as H
import pytest

from rktfast.errors import ImageError
from rktfast.fetch.extract import TarExtractor, extract_rootfs, render_blobs, write_tree_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (owners, devices)")


def build_rich_tree(root: str) -> None:
    """A tree with every entry kind tar can carry."""
    os.makedirs(f"{root}/dir/sub")
    with open(f"{root}/dir/file", "wb") as f:
        f.write(os.urandom(70000))
    with open(f"{root}/empty", "wb"):
        pass
    os.chmod(f"{root}/dir/file", 0o640)
    os.chown(f"{root}/dir/file", 1234, 5678)
    with open(f"{root}/suid", "wb") as f:
        f.write(b"#!/bin/sh\n")
    os.chown(f"{root}/suid", 0, 42)
    os.chmod(f"{root}/suid", 0o4755)
    with open(f"{root}/sgid-sticky", "wb"):
        pass
    os.chmod(f"{root}/sgid-sticky", 0o3711)
    os.link(f"{root}/dir/file", f"{root}/dir/sub/hardlink")
    os.symlink("/etc/passwd", f"{root}/abs-link")
    os.symlink("../file", f"{root}/dir/sub/rel-link")
    os.mknod(f"{root}/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mkfifo(f"{root}/fifo", 0o600)
    long_dir = f"{root}/" + "/".join(["d" * 60] * 4)
    os.makedirs(long_dir)
    with open(f"{long_dir}/" + "n" * 120, "wb") as f:
        f.write(b"long")
    os.symlink("t" * 150, f"{root}/long-link")
    os.chmod(f"{root}/dir/sub", 0o2750)
    os.chown(f"{root}/dir", 7, 8)
    os.setxattr(f"{root}/dir/file", "user.rkt", b"\x00binary\xff")
    os.setxattr(f"{root}/dir/file", "trusted.x", b"t")
    os.setxattr(f"{root}/dir", "user.d", b"dirattr")
    os.chmod(f"{root}/dir", 0o711)
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            os.utime(os.path.join(dirpath, n), ns=(1_500_000_000_123_456_789,) * 2,
                     follow_symlinks=False)


def describe(root: str) -> dict:
    """Everything about a tree that extraction must reproduce (mtimes included)."""
    out = {}
    inodes: dict = {}
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for n in sorted(dirs + files):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            data = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    data = f.read()
            xattrs = {}
            if not stat.S_ISLNK(st.st_mode):
                xattrs = {k: os.getxattr(p, k, follow_symlinks=False)
                          for k in sorted(os.listxattr(p, follow_symlinks=False))}
            group = inodes.setdefault(st.st_ino, rel) if st.st_nlink > 1 else None
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev,
                        None if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)
                        else st.st_mtime_ns // 10**9,
                        link, data, xattrs, group)
    return out


@pytest.fixture
def rich_tar(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    build_rich_tree(str(src))
    tar = tmp_path / "rich.tar"
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--format=posix", "-C", str(src),
                    "-cf", str(tar), "."], check=True)
    gnu = tmp_path / "gnu"
    gnu.mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--same-owner", "-p", "-C",
                    str(gnu), "-xf", str(tar)], check=True)
    return tar, gnu


def extract_bytes(data: bytes, root, chunks=None, **kw) -> TarExtractor:
    ex = TarExtractor(str(root), **kw)
    if chunks is None:
        ex.feed(data)
    else:
        i = 0
        for n in chunks:
            ex.feed(data[i:i + n])
            i += n
        ex.feed(data[i:])
    ex.finish()
    return ex


def test_extract_matches_gnu_tar_for_every_entry_kind(rich_tar, tmp_path):
    tar, gnu = rich_tar
    ours = tmp_path / "ours"
    ours.mkdir()
    extract_bytes(tar.read_bytes(), ours).close()
    assert describe(str(ours)) == describe(str(gnu))


def test_extract_gnu_format_long_names(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    build_rich_tree(str(src))
    tar = tmp_path / "gnu.tar"
    subprocess.run(["tar", "--format=gnu", "-C", str(src), "-cf", str(tar), "."], check=True)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    subprocess.run(["tar", "-C", str(a), "-xpf", str(tar)], check=True)
    extract_bytes(tar.read_bytes(), b).close()
    strip = {k: v[:7] + (None,) + v[8:] for k, v in describe(str(a)).items()}
    assert strip == {k: v[:7] + (None,) + v[8:] for k, v in describe(str(b)).items()}


@pytest.mark.parametrize("chunking", ["bytes", "random"])
def test_extract_any_chunking_gives_the_same_tree(rich_tar, tmp_path, chunking):
    tar, gnu = rich_tar
    data = tar.read_bytes()
    if chunking == "bytes":
        data = data[:300_000]  # 1-byte feeds are slow: the head has every entry kind
        chunks = [1] * len(data)
        ours = tmp_path / "whole"
        ours.mkdir()
        extract_bytes(data, ours).close()
        gnu = ours
    else:
        rng = random.Random(7)
        chunks = [rng.choice([1, 3, 511, 512, 513, 4096, 65537]) for _ in range(2000)]
    out = tmp_path / "chunked"
    out.mkdir()
    extract_bytes(data, out, chunks=chunks).close()
    assert describe(str(out)) == describe(str(gnu))


def test_writer_round_trip_preserves_the_tree(rich_tar, tmp_path):
    _, gnu = rich_tar
    out = tmp_path / "written.tar"
    with open(out, "wb") as f:
        write_tree_tar(str(gnu), f.fileno())
    back = tmp_path / "back"
    back.mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-C", str(back), "-xpf",
                    str(out)], check=True)
    assert describe(str(back)) == describe(str(gnu))
    again = tmp_path / "again.tar"
    with open(again, "wb") as f:
        write_tree_tar(str(gnu), f.fileno())
    assert again.read_bytes() == out.read_bytes(), "writer output must be deterministic"


def test_writer_makes_an_aci_that_extract_reads(rich_tar, tmp_path):
    _, gnu = rich_tar
    aci = tmp_path / "x.aci"
    with open(aci, "wb") as f:
        write_tree_tar(str(gnu), f.fileno(), prefix="rootfs", manifest=H.MANIFEST)
    out = tmp_path / "out"
    extract_rootfs(str(aci), str(out), rootfs_only=False)
    assert (out / "manifest").read_bytes() == H.MANIFEST
    assert describe(str(out / "rootfs")) == describe(str(gnu))
    only = tmp_path / "only"
    extract_rootfs(str(aci), str(only), rootfs_only=True)
    assert describe(str(only)) == describe(str(gnu))


def test_aci_mode_captures_manifest_and_keeps_rootfs_only(tmp_path):
    data = H.aci([H.file("rootfs/bin/sh", b"sh"), H.file("junk", b"no"),
                  H.file("other/x", b"no")])
    ex = extract_bytes(data, tmp_path, keep_prefix="rootfs", aci=True)
    assert ex.manifest == H.MANIFEST
    assert ex.stats.ignored == 2
    ex.close()
    assert sorted(os.listdir(tmp_path)) == ["rootfs"]
    assert (tmp_path / "rootfs/bin/sh").read_bytes() == b"sh"


def test_absolute_symlink_resolves_inside_rootfs(tmp_path):
    data = H.aci([H.dir_("rootfs/etc"), H.symlink("rootfs/link", "/etc"),
                  H.file("rootfs/link/written", b"in")])
    extract_bytes(data, tmp_path, keep_prefix="rootfs", aci=True).close()
    assert (tmp_path / "rootfs/etc/written").read_bytes() == b"in"


def test_whitelist_extracts_only_listed_files_and_their_dirs(tmp_path):
    data = H.aci([H.dir_("rootfs/bin", mode=0o700), H.file("rootfs/bin/sh", b"sh"),
                  H.file("rootfs/bin/ls", b"ls"), H.dir_("rootfs/etc"),
                  H.file("rootfs/etc/passwd", b"p"), H.file("rootfs/usr/lib/x", b"x")])
    extract_bytes(data, tmp_path, keep_prefix="rootfs", aci=True,
                  whitelist=["/bin/sh", "usr/lib/x"]).close()
    files = sorted(os.path.relpath(os.path.join(d, f), tmp_path)
                   for d, _, fs in os.walk(tmp_path) for f in fs)
    assert files == ["rootfs/bin/sh", "rootfs/usr/lib/x"]
    assert stat.S_IMODE(os.stat(tmp_path / "rootfs/bin").st_mode) == 0o700
    assert not (tmp_path / "rootfs/etc").exists()


def test_whiteouts_delete_and_opaque_empties(tmp_path):
    lower = H.build_tar([H.dir_("a"), H.file("a/keep", b"1"), H.file("a/gone", b"2"),
                         H.dir_("b"), H.file("b/x", b"3"), H.dir_("c/deep/er")])
    upper = H.build_tar([H.file("a/.wh.gone"), H.file("b/.wh..wh..opq"), H.file("b/new"),
                         H.file(".wh.c")])
    extract_bytes(lower, tmp_path, whiteouts=True).close()
    extract_bytes(upper, tmp_path, whiteouts=True, overwrite=True).close()
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]
    assert os.listdir(tmp_path / "a") == ["keep"]
    assert os.listdir(tmp_path / "b") == ["new"]


def test_whiteout_cannot_remove_outside(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "canary").write_bytes(b"c")
    bad = H.build_tar([H.symlink("up", ".."), H.file("up/.wh.canary"), H.file(".wh..")])
    with pytest.raises(ImageError):
        extract_bytes(bad, root, whiteouts=True)
    assert (tmp_path / "canary").read_bytes() == b"c"


def test_later_entry_replaces_earlier_one(tmp_path):
    data = H.build_tar([H.file("f", b"old"), H.file("f", b"new"), H.symlink("l", "a"),
                        H.symlink("l", "b"), H.dir_("d", mode=0o700), H.dir_("d", mode=0o750)])
    extract_bytes(data, tmp_path).close()
    assert (tmp_path / "f").read_bytes() == b"new"
    assert os.readlink(tmp_path / "l") == "b"
    assert stat.S_IMODE(os.stat(tmp_path / "d").st_mode) == 0o750


def test_non_dir_over_dir_needs_overwrite(tmp_path):
    data = H.build_tar([H.dir_("d"), H.file("d/x"), H.file("d", b"now a file")])
    a = tmp_path / "a"
    a.mkdir()
    with pytest.raises(ImageError, match="cannot replace a directory"):
        extract_bytes(data, a)
    b = tmp_path / "b"
    b.mkdir()
    extract_bytes(data, b, overwrite=True).close()
    assert (b / "d").read_bytes() == b"now a file"


def test_render_blobs_later_wins_and_symlinked_dir_is_replaced(tmp_path):
    base = tmp_path / "base.aci"
    base.write_bytes(H.aci([H.dir_("rootfs/etc"), H.file("rootfs/etc/os", b"base"),
                            H.symlink("rootfs/lib", "/usr/lib"), H.dir_("rootfs/usr/lib")]))
    top = tmp_path / "top.aci"
    top.write_bytes(H.aci([H.file("rootfs/etc/os", b"top"), H.dir_("rootfs/lib"),
                           H.file("rootfs/lib/x", b"x")]))
    tree = tmp_path / "tree"
    render_blobs([str(base), str(top)], str(tree))
    assert (tree / "rootfs/etc/os").read_bytes() == b"top"
    assert (tree / "rootfs/lib").is_dir() and not (tree / "rootfs/lib").is_symlink()
    assert os.listdir(tree / "rootfs/usr/lib") == []


def test_dir_swapped_for_symlink_to_root_stays_inside_with_overwrite(tmp_path):
    tree = tmp_path / "tree"
    blob = tmp_path / "x.aci"
    blob.write_bytes(H.dir_replaced_by_symlink())
    render_blobs([str(blob)], str(tree))
    assert os.readlink(tree / "rootfs/d") == "/"
    assert (tree / "rootfs/tmp/rktfast-hostile-dirswap").exists()
    assert (tree / "rootfs/etc/rktfast-hostile-dirswap").exists()
    assert not os.path.exists("/tmp/rktfast-hostile-dirswap")
    assert not os.path.exists("/etc/rktfast-hostile-dirswap")


def test_devices_outside_the_safe_set_are_skipped_and_counted(tmp_path):
    ex = extract_bytes(H.block_device(), tmp_path, keep_prefix="rootfs", aci=True)
    assert ex.stats.skipped_devices == 2
    ex.close()
    assert os.listdir(tmp_path / "rootfs") == ["null"]
    assert os.stat(tmp_path / "rootfs/null").st_rdev == os.makedev(1, 3)


def test_uid_shift_moves_every_owner(tmp_path):
    data = H.build_tar([H.file("f", uid=0, gid=0), H.dir_("d", uid=5, gid=6),
                        H.symlink("l", "f")])
    extract_bytes(data, tmp_path, uid_shift=100000, gid_shift=200000).close()
    assert (os.lstat(tmp_path / "f").st_uid, os.lstat(tmp_path / "f").st_gid) == (100000, 200000)
    assert (os.lstat(tmp_path / "d").st_uid, os.lstat(tmp_path / "d").st_gid) == (100005, 200006)
    assert os.lstat(tmp_path / "l").st_uid == 100000


def test_hardlink_to_symlink_links_the_symlink(tmp_path):
    data = H.build_tar([H.symlink("s", "/etc/passwd"), H.hardlink("h", "s")])
    extract_bytes(data, tmp_path).close()
    assert os.readlink(tmp_path / "h") == "/etc/passwd"
    assert os.lstat(tmp_path / "h").st_ino == os.lstat(tmp_path / "s").st_ino


def test_huge_declared_size_is_truncated_not_allocated(tmp_path):
    with pytest.raises(ImageError, match="truncated"):
        extract_bytes(H.tar_bomb(), tmp_path, keep_prefix="rootfs", aci=True)


def test_pax_header_records_apply(tmp_path):
    ti = tarfile.TarInfo("x")
    ti.pax_headers = {"path": "renamed/by/pax", "uid": "4000000", "gid": "4000001",
                      "mtime": "1234567890.5", "SCHILY.xattr.user.k": "v"}
    data = H.build_tar([(ti, b"data")])
    extract_bytes(data, tmp_path).close()
    p = tmp_path / "renamed/by/pax"
    st = os.stat(p)
    assert (st.st_uid, st.st_gid, st.st_mtime_ns) == (4000000, 4000001, 1234567890_500000000)
    assert os.getxattr(p, "user.k") == b"v"


def test_error_names_the_entry(tmp_path):
    (tmp_path / "blocker").write_bytes(b"")
    data = H.build_tar([H.file("blocker/child")])
    with pytest.raises(ImageError, match=r"blocker/child: cannot open parent"):
        extract_bytes(data, tmp_path)


def test_list_only_validates_without_writing(tmp_path):
    ex = TarExtractor(None, keep_prefix="rootfs", aci=True, list_only=True)
    ex.feed(H.aci([H.file("rootfs/a")]))
    ex.finish()
    assert ex.manifest == H.MANIFEST
    ex.close()
    with pytest.raises(ImageError, match="duplicate"):
        ex = TarExtractor(None, keep_prefix="rootfs", aci=True, list_only=True)
        ex.feed(H.duplicate_manifest())


def test_tree_digest_is_stable_and_sees_changes(rich_tar, tmp_path):
    from rktfast._treedigest import tree_digest

    _, gnu = rich_tar
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(gnu), str(copy)], check=True)
    d = tree_digest(str(gnu))
    assert d.startswith("sha256-") and len(d) == 7 + 64
    assert tree_digest(str(copy)) == d
    os.utime(copy / "empty", (0, 0))
    assert tree_digest(str(copy)) == d, "mtimes are not part of the digest"
    (copy / "empty").write_bytes(b"!")
    assert tree_digest(str(copy)) != d
    (copy / "empty").write_bytes(b"")
    os.chmod(copy / "empty", 0o600)
    assert tree_digest(str(copy)) != d
    shutil.rmtree(copy)


def test_tree_digest_sees_xattrs_of_entries_it_does_not_open(tmp_path):
    """Symlinks, fifos and devices are never opened: their xattrs are listed by name."""
    from rktfast._treedigest import tree_digest

    os.symlink("target", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    before = tree_digest(str(tmp_path))
    os.setxattr(tmp_path / "link", "trusted.on-link", b"1", follow_symlinks=False)
    with_link = tree_digest(str(tmp_path))
    assert with_link != before
    os.setxattr(tmp_path / "fifo", "trusted.on-fifo", b"2", follow_symlinks=False)
    assert tree_digest(str(tmp_path)) not in (before, with_link)
    os.removexattr(tmp_path / "fifo", "trusted.on-fifo", follow_symlinks=False)
    assert tree_digest(str(tmp_path)) == with_link


def test_tree_digest_of_a_missing_tree_raises(tmp_path):
    from rktfast._treedigest import tree_digest

    (tmp_path / "d").mkdir()
    (tmp_path / "d/f").write_bytes(b"x")
    assert tree_digest(str(tmp_path)).startswith("sha256-")
    with pytest.raises(OSError):
        tree_digest(str(tmp_path / "missing"))


def test_extractor_accepts_memoryview_and_bytearray(tmp_path):
    data = H.build_tar([H.file("f", b"abc")])
    ex = TarExtractor(str(tmp_path))
    ex.feed(memoryview(bytearray(data))[:100])
    ex.feed(bytearray(data[100:]))
    ex.finish()
    ex.close()
    assert (tmp_path / "f").read_bytes() == b"abc"



def test_replacing_a_symlinked_parent_drops_the_cached_directory(tmp_path):
    data = H.build_tar([H.dir_("x/b"), H.symlink("a", "x"), H.file("a/b/f1"), H.dir_("a"),
                        H.file("a/b/f2")])
    extract_bytes(data, tmp_path).close()
    assert os.listdir(tmp_path / "x/b") == ["f1"]
    assert os.listdir(tmp_path / "a/b") == ["f2"]


# Regular files are written and finished on a second thread (native/tarx/fileq.c), through a
# ring of 4 MiB in pieces of 1 MiB with at most 256 pieces queued. These cases cross each of
# those bounds.

def test_many_and_large_files_survive_the_write_queue(tmp_path):
    rng = random.Random(11)
    members = [H.file(f"many/{i:04d}", rng.randbytes(rng.choice([0, 1, 511, 4096, 9000])))
               for i in range(700)]  # more files than queued pieces
    members += [H.file(f"big/{n}", rng.randbytes(size)) for n, size in
                [("piece-edge", 1 << 20), ("ring-wrap", (9 << 20) + 123), ("odd", 3_000_001)]]
    members.append(H.hardlink("big/link", "big/odd"))  # linked while still being written
    data = H.build_tar(members)
    chunks = [rng.choice([7, 512, 65536, 1 << 20, 3 << 20]) for _ in range(200)]
    ex = extract_bytes(data, tmp_path, chunks=chunks)
    assert ex.stats.files == 703
    ex.close()
    for info, content in members[:-1]:
        assert (tmp_path / info.name).read_bytes() == content, info.name
    assert os.path.samefile(tmp_path / "big/link", tmp_path / "big/odd")


def test_queued_file_gets_its_capability_and_setuid_bit_after_its_content(tmp_path):
    # a write drops security.capability: both must be applied after the content
    cap = (0x02000001).to_bytes(4, "little") + (1 << 13).to_bytes(4, "little") + bytes(12)
    info, content = H.file("bin/ping", b"\x7fELF" + bytes(70000), mode=0o4755)
    info.pax_headers = {"SCHILY.xattr.security.capability": cap.decode("latin-1")}
    extract_bytes(H.build_tar([(info, content)]), tmp_path).close()
    p = tmp_path / "bin/ping"
    assert p.read_bytes() == content
    assert stat.S_IMODE(p.stat().st_mode) == 0o4755
    assert os.getxattr(p, "security.capability") == cap


def test_a_write_failure_in_the_queue_fails_the_extraction(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        data = H.build_tar([H.file("a", b"x" * 100), H.file("big", os.urandom(3 << 20)),
                            H.file("z", b"after")])
        with pytest.raises(ImageError, match=r"^error extracting image: big: write: No space"):
            extract_bytes(data, small)
    finally:
        subprocess.run(["umount", str(small)], check=True)
