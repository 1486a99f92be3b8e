"""Build the appc conformance test (ACE validator) images from Debian's appc spec sources.

The validator is built statically with Debian's Go in GOPATH mode from
/usr/share/gocode/src/github.com/appc/spec/ace; each image holds it at /ace-validator with an
empty /opt/acvalidator, and the manifests in tests/data/ace (appc spec v0.8.11 data).
"""

from __future__ import annotations

import os
import shutil
import subprocess

ACE_SRC = "/usr/share/gocode/src/github.com/appc/spec/ace"
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ace")


def available() -> str | None:
    """None when the images can be built here, else why not."""
    for tool in ("go", "actool"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/install.sh installs it)"
    if not os.path.isdir(ACE_SRC):
        return "golang-github-appc-spec-dev is not installed (scripts/install.sh installs it)"
    return None


def build(workdir: str) -> tuple[str, str]:
    """Return the paths of the main and sidekick ACIs built under ``workdir``."""
    gopath = os.path.join(workdir, "gopath")
    os.makedirs(gopath, exist_ok=True)
    binary = os.path.join(workdir, "ace-validator")
    env = dict(os.environ, GO111MODULE="off", CGO_ENABLED="0",
               GOPATH=f"{gopath}:/usr/share/gocode", GOCACHE=os.path.join(workdir, "gocache"),
               GOFLAGS="")
    subprocess.run(["go", "build", "-o", binary, "github.com/appc/spec/ace"], env=env,
                   check=True, capture_output=True, timeout=600)
    out = []
    for stage in ("main", "sidekick"):
        root = os.path.join(workdir, stage)
        os.makedirs(os.path.join(root, "rootfs", "opt", "acvalidator"), exist_ok=True)
        shutil.copy2(binary, os.path.join(root, "rootfs", "ace-validator"))
        with open(os.path.join(DATA, f"image_manifest_{stage}.json.in")) as f:
            manifest = f.read().replace("@ACI_OS@", "linux").replace("@ACI_ARCH@", "amd64")
        with open(os.path.join(root, "manifest"), "w") as f:
            f.write(manifest)
        aci = os.path.join(workdir, f"ace-validator-{stage}.aci")
        subprocess.run(["actool", "build", "--overwrite", root, aci], check=True,
                       capture_output=True, timeout=120)
        out.append(aci)
    return out[0], out[1]
