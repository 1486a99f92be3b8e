"""The example image that README's first command builds and runs."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys

import pytest
from conftest import REPO, package_env


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="busybox-static not installed")
def test_building_again_makes_the_same_image_id(tmp_path):
    # the demo builds it on every run: the store must not gain an image each time
    ids = []
    for name in ("a.aci", "b.aci"):
        out = tmp_path / name
        subprocess.run([sys.executable, os.path.join(REPO, "examples", "build_busybox_aci.py"),
                        "--out", str(out)], check=True, capture_output=True, env=package_env())
        ids.append(hashlib.sha512(gzip.decompress(out.read_bytes())).hexdigest())
    assert ids[0] == ids[1]
