"""rkt version: the format the Nomad driver's regexes read (SPEC §2, §10)."""

import os
import sys

from rktfast import APPC_VERSION, RKT_VERSION, RKTFAST_VERSION
from rktfast.cli.command import Command, Context

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}


def run(ctx: Context) -> int:
    machine = os.uname().machine  # not the platform module: it imports re and more
    arch = _ARCH.get(machine, machine)
    python = ".".join(str(n) for n in sys.version_info[:3])
    ctx.out(f"rkt Version: {RKT_VERSION}\n"
            f"appc Version: {APPC_VERSION}\n"
            f"Go Version: rktfast{RKTFAST_VERSION} (python{python})\n"
            f"Go OS/Arch: linux/{arch}\n"
            "Features: -TPM -SDJOURNAL\n")
    return 0


COMMAND = Command(name="version", summary="Print the version and exit",
                  usage="rkt version", run=run)
