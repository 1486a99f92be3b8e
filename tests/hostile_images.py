"""A corpus of broken and hostile ACIs, as bytes, for tests of every image consumer.

Each builder returns the bytes of an image (a plain tar unless its name says otherwise).
``CORPUS`` maps a name to (builder, expectation): "reject" means ingest must fail with an
ImageError, "contain" means it may succeed but nothing may be written outside the
extraction root. Built with tarfile or by hand where tarfile refuses to write the lie.
"""

from __future__ import annotations

import gzip
import io
import tarfile

MANIFEST = b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/hostile"}'


def _info(name: str, kind: bytes = tarfile.REGTYPE, **kw) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mtime = kw.pop("mtime", 1_600_000_000)
    ti.mode = kw.pop("mode", 0o755 if kind == tarfile.DIRTYPE else 0o644)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def build_tar(members: list[tuple[tarfile.TarInfo, bytes | None]], fmt=tarfile.PAX_FORMAT) -> bytes:
    """A tar of (TarInfo, data) pairs, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in members:
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def aci(members: list[tuple[tarfile.TarInfo, bytes | None]] = (), *, manifest: bool = True,
        rootfs: bool = True) -> bytes:
    """An ACI: manifest, rootfs/, then ``members``."""
    head = []
    if manifest:
        head.append((_info("manifest"), MANIFEST))
    if rootfs:
        head.append((_info("rootfs", tarfile.DIRTYPE), None))
    return build_tar(head + list(members))


def file(name: str, data: bytes = b"x", **kw):
    return (_info(name, **kw), data)


def dir_(name: str, **kw):
    return (_info(name, tarfile.DIRTYPE, **kw), None)


def symlink(name: str, target: str):
    return (_info(name, tarfile.SYMTYPE, linkname=target, mode=0o777), None)


def hardlink(name: str, target: str):
    return (_info(name, tarfile.LNKTYPE, linkname=target), None)


def device(name: str, major: int, minor: int, kind=tarfile.CHRTYPE):
    return (_info(name, kind, devmajor=major, devminor=minor, mode=0o666), None)


# --- the corpus -------------------------------------------------------------------------

def dotdot_path() -> bytes:
    return aci([file("rootfs/../../../../tmp/rktfast-hostile-dotdot")])


def absolute_path() -> bytes:
    return aci([file("/tmp/rktfast-hostile-abs"), file("/rootfs/abs-inside")])


def symlink_out_then_write() -> bytes:
    """A symlink to a host directory, then a file written through it."""
    return aci([dir_("rootfs/tmp"), symlink("rootfs/out", "/tmp"),
                file("rootfs/out/rktfast-hostile-symlink"),
                symlink("rootfs/up", "../../../../../../tmp"),
                file("rootfs/up/rktfast-hostile-symlink2")])


def hardlink_to_host_file() -> bytes:
    return aci([hardlink("rootfs/passwd", "/etc/passwd")])


def hardlink_dotdot_host_file() -> bytes:
    return aci([hardlink("rootfs/passwd", "rootfs/../../../../etc/passwd")])


def hardlink_through_symlink() -> bytes:
    """A symlinked directory to /etc, then a hardlink to a file "inside" it."""
    return aci([symlink("rootfs/etc", "/etc"), hardlink("rootfs/passwd", "rootfs/etc/passwd")])


def block_device() -> bytes:
    return aci([device("rootfs/sda", 8, 0, tarfile.BLKTYPE), device("rootfs/mem", 1, 1),
                device("rootfs/null", 1, 3)])


def dir_replaced_by_symlink() -> bytes:
    """A directory, then a symlink to / at its path, then files below it."""
    return aci([dir_("rootfs/d"), file("rootfs/d/a"), symlink("rootfs/d", "/"),
                file("rootfs/d/tmp/rktfast-hostile-dirswap"),
                file("rootfs/d/etc/rktfast-hostile-dirswap")])


def duplicate_manifest() -> bytes:
    return aci([(_info("manifest"), MANIFEST)])


def missing_rootfs() -> bytes:
    """Only a manifest and entries outside rootfs/ (rootfs/bin/sh alone would imply it)."""
    return aci([file("rootfs.bak/bin/sh")], rootfs=False)


def missing_manifest() -> bytes:
    return aci([file("rootfs/bin/sh")], manifest=False)


def _raw_header(name: bytes, size: int, kind: bytes = b"0") -> bytearray:
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    if size < 8**11:
        h[124:136] = b"%011o\0" % size
    else:  # GNU base-256
        h[124:136] = b"\x80" + size.to_bytes(11, "big")
    h[136:148] = b"%011o\0" % 1_600_000_000
    h[156:157] = kind
    h[257:265] = b"ustar\x0000"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return h


def _open_ended_aci() -> bytes:
    """A valid ACI without its end-of-archive blocks, so raw headers can follow."""
    good = aci()
    body = good.rstrip(b"\0")
    return body + b"\0" * (-len(body) % 512)


def tar_bomb() -> bytes:
    """A file declaring 1 TiB of content followed by a few bytes of it."""
    return _open_ended_aci() + bytes(_raw_header(b"rootfs/bomb", 1 << 40)) + b"A" * 4096


def bad_checksum() -> bytes:
    data = bytearray(aci([file("rootfs/f", b"hello")]))
    # the third header is rootfs/f (after pax headers: find it by name)
    i = data.find(b"rootfs/f\0")
    data[i + 148:i + 156] = b"0000001\0"
    return bytes(data)


def corrupt_gzip() -> bytes:
    data = bytearray(gzip.compress(aci([file("rootfs/f", bytes(range(256)) * 400)])))
    mid = len(data) // 2
    data[mid:mid + 8] = b"\xff" * 8
    return bytes(data)


def truncated_gzip() -> bytes:
    data = gzip.compress(aci([file("rootfs/f", bytes(range(256)) * 400)]))
    return data[: len(data) // 2]


def truncated_tar() -> bytes:
    data = aci([file("rootfs/f", b"y" * 10000)])
    return data[: data.find(b"y" * 100) + 5000]


def huge_pax_header() -> bytes:
    return _open_ended_aci() + bytes(_raw_header(b"PaxHeader", 64 << 20, b"x")) + b"9" * 1024


def whiteout_escape() -> bytes:
    """Docker whiteouts that name a parent or climb: must not delete outside the root."""
    return aci([file("rootfs/.wh.."), file("rootfs/a/.wh...")])


CORPUS = {
    "dotdot_path": (dotdot_path, "reject"),
    "absolute_path": (absolute_path, "contain"),
    "symlink_out_then_write": (symlink_out_then_write, "contain"),
    "hardlink_to_host_file": (hardlink_to_host_file, "reject"),
    "hardlink_dotdot_host_file": (hardlink_dotdot_host_file, "reject"),
    "hardlink_through_symlink": (hardlink_through_symlink, "reject"),
    "block_device": (block_device, "contain"),
    "dir_replaced_by_symlink": (dir_replaced_by_symlink, "reject"),
    "duplicate_manifest": (duplicate_manifest, "reject"),
    "missing_rootfs": (missing_rootfs, "reject"),
    "missing_manifest": (missing_manifest, "reject"),
    "tar_bomb": (tar_bomb, "reject"),
    "bad_checksum": (bad_checksum, "reject"),
    "corrupt_gzip": (corrupt_gzip, "reject"),
    "truncated_gzip": (truncated_gzip, "reject"),
    "truncated_tar": (truncated_tar, "reject"),
    "huge_pax_header": (huge_pax_header, "reject"),
    "whiteout_escape": (whiteout_escape, "contain"),
}
