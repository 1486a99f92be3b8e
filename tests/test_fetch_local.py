"""rkt fetch of local images end to end: IDs, compression, signatures, the store after
failures, kill -9 at any moment, and parallel fetches."""

import bz2
import glob
import gzip
import hashlib
import lzma
import os
import random
import shutil
import signal
import subprocess
import time

import pytest
from gpgkeys import make_key


def image_key_of(aci_path: str) -> str:
    with open(aci_path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return "sha512-" + hashlib.sha512(raw).hexdigest()[:64]


def store_snapshot(rkt) -> dict:
    """Everything a later command could trust: index rows, blobs, trees, temp files."""
    cas = os.path.join(rkt.data, "cas")
    rows = rkt.ok("image", "list", "--no-legend", "--full", "--fields=id").stdout.split()
    return {
        "rows": sorted(rows),
        "blobs": sorted(glob.glob(f"{cas}/blob/sha512/*/*")),
        "trees": sorted(glob.glob(f"{cas}/tree/*")),
        "tmp": sorted(os.listdir(f"{cas}/tmp")) if os.path.isdir(f"{cas}/tmp") else [],
    }


def test_fetch_prints_39_char_id_and_full_with_flag(rkt, busybox_aci):
    key = image_key_of(busybox_aci)
    r = rkt.ok("--insecure-options=image", "fetch", busybox_aci)
    assert r.stdout == key[:39] + "\n"
    assert "image: warning: image signature verification has been disabled" in r.stderr
    r = rkt.ok("--insecure-options=image", "fetch", "--full", f"file://{busybox_aci}")
    assert r.stdout == key + "\n"


def test_fetch_debug_says_where_the_image_came_from(rkt, busybox_aci):
    r = rkt.ok("--debug", "--insecure-options=image", "fetch", busybox_aci)
    assert f"image: using image from file {busybox_aci}" in r.stderr


@pytest.mark.parametrize("compression", ["none", "bzip2", "xz", "zstd"])
def test_fetch_each_compression_gives_the_same_id(rkt, busybox_aci, tmp_path, compression):
    with gzip.open(busybox_aci) as f:
        raw = f.read()
    if compression == "zstd":
        import zstandard
        data = zstandard.ZstdCompressor().compress(raw)
    else:
        data = {"none": lambda b: b, "bzip2": bz2.compress, "xz": lzma.compress}[compression](raw)
    path = tmp_path / f"img-{compression}.aci"
    path.write_bytes(data)
    r = rkt.ok("--insecure-options=image", "fetch", "--full", str(path))
    assert r.stdout.strip() == "sha512-" + hashlib.sha512(raw).hexdigest()[:64]


def test_unsigned_image_is_rejected_and_never_stored(rkt, busybox_aci):
    r = rkt("fetch", busybox_aci)
    assert r.returncode == 254
    assert "error opening signature file" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert store_snapshot(rkt)["rows"] == []


def test_signed_image_with_trusted_key_is_accepted(rkt, busybox_aci, tmp_path):
    aci = tmp_path / "busybox.aci"
    shutil.copy(busybox_aci, aci)
    key = make_key(tmp_path)
    key.sign(aci)
    rkt.ok("trust", "--skip-fingerprint-review", "--prefix=example.com/busybox",
           key.public_path)
    r = rkt.ok("fetch", str(aci))
    assert "image: signature verified:" in r.stderr
    assert r.stdout.strip() == image_key_of(str(aci))[:39]


def test_signature_flag_and_unknown_signer(rkt, busybox_aci, tmp_path):
    aci = tmp_path / "busybox.aci"
    shutil.copy(busybox_aci, aci)
    trusted, stranger = make_key(tmp_path), make_key(tmp_path, "x <x@example.com>")
    sig = stranger.sign(aci, output=str(tmp_path / "elsewhere.asc"))
    rkt.ok("trust", "--skip-fingerprint-review", "--prefix=example.com", trusted.public_path)
    r = rkt("fetch", str(aci), f"--signature={sig}")
    assert r.returncode == 254
    assert "openpgp: signature made by unknown entity" in r.stderr
    assert "rkt trust --prefix example.com/busybox" in r.stderr
    assert store_snapshot(rkt)["rows"] == []


def test_tampered_image_is_rejected(rkt, busybox_aci, tmp_path):
    aci = tmp_path / "busybox.aci"
    key = make_key(tmp_path)
    shutil.copy(busybox_aci, aci)
    key.sign(aci)
    with gzip.open(busybox_aci) as f:
        raw = bytearray(f.read())
    raw[-2000] ^= 1  # inside the tar padding: still a valid image, different bytes
    aci.write_bytes(gzip.compress(bytes(raw)))
    rkt.ok("trust", "--skip-fingerprint-review", "--prefix=example.com", key.public_path)
    r = rkt("fetch", str(aci))
    assert r.returncode == 254 and "Traceback" not in r.stderr
    assert store_snapshot(rkt)["rows"] == []


def test_key_trusted_for_another_prefix_does_not_sign_this_image(rkt, busybox_aci, tmp_path):
    """The signature is checked while the image streams in, with every trusted key that has
    the signer's id, before the image's name is known: trusting that key for another
    prefix must still not let it sign this one."""
    aci = tmp_path / "busybox.aci"
    shutil.copy(busybox_aci, aci)
    key = make_key(tmp_path)
    key.sign(aci)
    rkt.ok("trust", "--skip-fingerprint-review", "--prefix=example.com/other", key.public_path)
    r = rkt("fetch", str(aci))
    assert r.returncode == 254
    assert "openpgp: signature made by unknown entity" in r.stderr
    assert store_snapshot(rkt)["rows"] == []
    rkt.ok("trust", "--skip-fingerprint-review", "--prefix=example.com/busybox",
           key.public_path)
    assert "image: signature verified:" in rkt.ok("fetch", str(aci)).stderr


def test_signature_covers_bytes_after_the_compressed_stream(rkt, busybox_aci, tmp_path):
    """NUL padding after the gzip stream (as some tools leave) is signed too: it must all
    reach the check, though the image ends before it."""
    aci = tmp_path / "busybox.aci"
    aci.write_bytes(open(busybox_aci, "rb").read() + b"\0" * (3 << 20))
    key = make_key(tmp_path)
    key.sign(aci)
    rkt.ok("trust", "--skip-fingerprint-review", "--prefix=example.com", key.public_path)
    assert rkt.ok("fetch", str(aci)).stdout.strip() == image_key_of(busybox_aci)[:39]
    signed = aci.read_bytes()
    aci.write_bytes(signed[:-1] + b"\1")  # one byte changed in the padding only
    r = rkt("fetch", "--pull-policy=update", str(aci))
    assert r.returncode == 254
    assert "openpgp: invalid signature: hash tag doesn't match" in r.stderr


def age(path) -> None:
    """Let ``path``'s last change be 2 s old (ctime cannot be set: wait for it)."""
    time.sleep(max(0.0, os.stat(path).st_ctime + 2.05 - time.time()))


def test_unchanged_local_file_is_not_ingested_again(rkt, busybox_aci, tmp_path):
    """run/prepare (pull policy "new") and --stage1-path take an unsigned image file that was
    ingested before and has not changed since (inode, size, mtime, ctime) from the store."""
    aci = tmp_path / "busybox.aci"
    shutil.copy(busybox_aci, aci)
    new = ["--debug", "--insecure-options=image", "fetch", "--pull-policy=new", str(aci)]
    reused = "unchanged since its last fetch"
    first = rkt.ok(*new)
    # a file changed less than 2 s ago is not trusted to keep its timestamps on a new write
    assert reused not in first.stderr and reused not in rkt.ok(*new).stderr
    age(aci)
    rkt.ok(*new)
    second = rkt.ok(*new)
    assert reused in second.stderr and second.stdout == first.stdout
    # rkt fetch's own default policy (update) reads the file again, as rkt did
    assert reused not in rkt.ok(*new[:3], str(aci)).stderr
    # any write, even of the same bytes, changes the ctime: the file is read again
    with open(aci, "r+b") as f:
        byte = f.read(1)
        f.seek(0)
        f.write(byte)
    assert reused not in rkt.ok(*new).stderr
    age(aci)
    assert reused not in rkt.ok(*new).stderr
    assert reused in rkt.ok(*new).stderr
    # an image removed from the store is not taken from a stale record
    rkt.ok("image", "rm", first.stdout.strip())
    third = rkt.ok(*new)
    assert reused not in third.stderr and third.stdout == first.stdout
    assert store_snapshot(rkt)["rows"] == [image_key_of(str(aci))]


def test_signed_local_file_is_checked_every_time(rkt, busybox_aci, tmp_path):
    aci = tmp_path / "busybox.aci"
    shutil.copy(busybox_aci, aci)
    key = make_key(tmp_path)
    key.sign(aci)
    rkt.ok("trust", "--skip-fingerprint-review", "--prefix=example.com", key.public_path)
    for _ in range(2):
        r = rkt.ok("--debug", "fetch", "--pull-policy=new", str(aci))
        assert "image: signature verified:" in r.stderr
        assert "unchanged since its last fetch" not in r.stderr


def test_kill_9_during_a_signed_fetch_leaves_only_what_gc_removes(rkt, tmp_path):
    """The signature check runs beside the ingest: its verifier ends with the fetch, and its
    keyring directory in cas/tmp is the kind of temporary image gc removes."""
    from rktfast.appc.aci_builder import build_aci, file_entry, image_manifest
    rng = random.Random(9)
    entries = [file_entry(f"rootfs/d{i // 100}/f{i}", rng.randbytes(rng.randint(0, 60000)))
               for i in range(3000)]
    aci = str(tmp_path / "big.aci")
    build_aci(entries, image_manifest("example.com/big", "1"), aci)
    key = make_key(tmp_path)
    key.sign(aci)
    rkt.ok("trust", "--skip-fingerprint-review", "--prefix=example.com", key.public_path)
    p = subprocess.Popen(rkt.argv("fetch", aci), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    tmp = os.path.join(rkt.data, "cas", "tmp")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and p.poll() is None and not (
            os.path.isdir(tmp) and any("-sigcheck-" in n for n in os.listdir(tmp))):
        time.sleep(0.005)
    assert p.poll() is None, "the fetch ended before its signature check started"
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(0.5)  # the verifier reads the end of its input and exits
    assert subprocess.run(["pgrep", "-f", f"{tmp}/.tmp-"]).returncode == 1  # sqv or gpgv
    for k in store_snapshot(rkt)["rows"]:
        rkt.ok("image", "verify", k)
    rkt.ok("image", "gc", "--grace-period=1000h")
    assert store_snapshot(rkt)["tmp"] == []


def test_image_ids_and_trees_after_fetch(rkt, busybox_aci):
    key = image_key_of(busybox_aci)
    rkt.ok("--insecure-options=image", "fetch", busybox_aci)
    snap = store_snapshot(rkt)
    assert snap["rows"] == [key]
    assert snap["blobs"][0].endswith(f"/blob/sha512/{key[7:9]}/{key}")
    assert len(snap["trees"]) == 1 and snap["tmp"] == []
    tree = snap["trees"][0]
    assert os.path.exists(f"{tree}/rendered") and os.path.isfile(f"{tree}/rootfs/bin/busybox")
    r = rkt.ok("image", "verify", key[:19])
    assert r.stdout == f'successfully verified checksum for image: "{key[:19]}" ("{key}")\n'


def test_image_verify_rereads_the_rendered_tree(rkt, busybox_aci):
    """verify reads every file of the rendered tree again, so a byte changed in place (same
    size, same inode, same owner and mode) is found."""
    key = image_key_of(busybox_aci)
    rkt.ok("--insecure-options=image", "fetch", busybox_aci)
    [tree] = store_snapshot(rkt)["trees"]
    target = f"{tree}/rootfs/bin/busybox"
    with open(target, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 0xFF]))
    r = rkt("image", "verify", key)
    assert r.returncode == 254
    assert "has been modified" in r.stderr and r.stderr.count("\n") == 1
    with open(target, "r+b") as f:
        f.write(first)
    rkt.ok("image", "verify", key)


def test_two_parallel_fetches_leave_one_good_copy(rkt, busybox_aci):
    procs = [subprocess.Popen(rkt.argv("--insecure-options=image", "fetch", busybox_aci),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    snap = store_snapshot(rkt)
    assert len(snap["rows"]) == 1 and len(snap["blobs"]) == 1 and len(snap["trees"]) == 1
    rkt.ok("image", "verify", snap["rows"][0])


def test_kill_9_during_fetch_leaves_nothing_trusted(rkt, tmp_path):
    """Kill fetches of a larger image at random moments; whatever is left is either absent
    or complete and verified, and image gc clears the leftovers."""
    from rktfast.appc.aci_builder import build_aci, file_entry, image_manifest
    rng = random.Random(7)
    entries = [file_entry(f"rootfs/d{i // 100}/f{i}", rng.randbytes(rng.randint(0, 40000)))
               for i in range(3000)]
    aci = str(tmp_path / "big.aci")
    build_aci(entries, image_manifest("example.com/big", "1"), aci)
    for delay in (0.02, 0.1, 0.3, 0.6):
        p = subprocess.Popen(rkt.argv("--insecure-options=image", "fetch", aci),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        snap = store_snapshot(rkt)
        for key in snap["rows"]:
            rkt.ok("image", "verify", key)
    rkt.ok("image", "gc", "--grace-period=1000h")
    snap = store_snapshot(rkt)
    assert snap["tmp"] == []
    assert len(snap["blobs"]) == len(snap["rows"])
    r = rkt.ok("--insecure-options=image", "fetch", "--full", aci)
    rkt.ok("image", "verify", r.stdout.strip())
