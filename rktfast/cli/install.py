"""rkt install (0.5 era): create the data directory layout with rkt's groups and modes."""

from __future__ import annotations

import grp
import os

from rktfast.cli.command import Command, Context

# (path under --dir, mode, group); modes as rkt's setup-data-dir.sh sets them.
LAYOUT = [
    ("", 0o2750, "rkt"),
    ("tmp", 0o2750, "rkt"),
    ("cas", 0o2770, "rkt"),
    ("cas/db", 0o2770, "rkt"),
    ("cas/imagelocks", 0o2770, "rkt"),
    ("cas/imageManifest", 0o2770, "rkt"),
    ("cas/blob", 0o2770, "rkt"),
    ("cas/tmp", 0o2770, "rkt"),
    ("cas/tree", 0o2700, "rkt"),
    ("cas/treestorelocks", 0o2700, "rkt"),
    ("locks", 0o2750, "rkt"),
    ("pods", 0o2750, "rkt"),
]


def _gid(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def run(ctx: Context) -> int:
    gid = _gid("rkt")
    for sub, mode, _ in LAYOUT:
        path = os.path.join(ctx.globals.dir, sub)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)
        if gid is not None:
            os.chown(path, -1, gid)
    admin = _gid("rkt-admin")
    os.makedirs(ctx.globals.local_config, exist_ok=True)
    os.chmod(ctx.globals.local_config, 0o2775)
    if admin is not None:
        os.chown(ctx.globals.local_config, -1, admin)
    return 0


COMMAND = Command(name="install", summary="Set up rkt data directories with correct "
                  "permissions", usage="rkt install", run=run, needs_root=True, hidden=True)
