"""Blob files written around the page cache (rktfast.store.blobfile)."""

from __future__ import annotations

import os
import random
import subprocess

import pytest

from rktfast.store.blobfile import STAGING, BlobFile

SIZES = [0, 1, 4095, 4096, 4097, STAGING - 1, STAGING, STAGING + 1, 3 * STAGING + 777]


def write_in_chunks(blob: BlobFile, data: bytes, rng: random.Random) -> None:
    i = 0
    while i < len(data):
        n = rng.choice([1, 511, 4096, 65536, 1 << 20, 5 << 20])
        blob.write(data[i:i + n])
        i += n


@pytest.mark.parametrize("size", SIZES)
def test_content_and_size_whatever_the_chunking(tmp_path, size):
    rng = random.Random(size)
    data = rng.randbytes(size)
    blob = BlobFile(str(tmp_path / "blob"))
    write_in_chunks(blob, data, rng)
    blob.finish()
    blob.close()
    assert blob.size == size
    assert (tmp_path / "blob").read_bytes() == data


def test_bypasses_the_page_cache_on_the_store_disk(tmp_path):
    # tmp_path is on the same disk as the store in CI (ext4); a filesystem without
    # O_DIRECT would silently cost us the gain, so say which one it was
    blob = BlobFile(str(tmp_path / "blob"))
    try:
        fstype = subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)], check=True,
                                capture_output=True, text=True).stdout.strip()
        if fstype in ("ext2/ext3", "xfs", "btrfs"):
            assert blob.direct, f"no O_DIRECT on {fstype}"
    finally:
        blob.discard()


def test_exists_already_is_an_error_and_discard_removes(tmp_path):
    (tmp_path / "taken").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        BlobFile(str(tmp_path / "taken"))
    assert (tmp_path / "taken").read_bytes() == b"old"
    blob = BlobFile(str(tmp_path / "new"))
    blob.write(b"x" * 10000)
    blob.discard()
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_disk_raises(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        blob = BlobFile(str(small / "blob"))
        with pytest.raises(OSError) as e:
            blob.write(os.urandom(3 << 20))
            blob.finish()
        assert e.value.errno == 28  # ENOSPC
        blob.discard()
        assert os.listdir(small) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_direct_write_the_device_refuses_goes_through_the_page_cache(tmp_path):
    # a device with a logical block larger than our 4 KiB alignment answers EINVAL; an
    # unaligned length gets the same answer from any device
    blob = BlobFile(str(tmp_path / "blob"))
    if not blob.direct:
        blob.discard()
        pytest.skip("this filesystem has no O_DIRECT: nothing to refuse")
    blob._write_all(memoryview(b"x" * 100))
    assert not blob.direct
    blob.write(b"y" * 5000)
    blob.finish()
    blob.close()
    assert (tmp_path / "blob").read_bytes() == b"x" * 100 + b"y" * 5000
