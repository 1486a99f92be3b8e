"""rkt metadata-service: the appc metadata service pods register with (--mds-register)."""

from __future__ import annotations

import os

from rktfast.cli.command import Command, Context, Flag


def run(ctx: Context) -> int:
    from rktfast.mds.client import socket_path
    from rktfast.mds.registry import Registry
    from rktfast.mds.server import serve

    fds = None
    if os.environ.get("LISTEN_PID") == str(os.getpid()) and os.environ.get("LISTEN_FDS"):
        fds = [3 + i for i in range(int(os.environ["LISTEN_FDS"]))]
    ctx.warn(f"listening on {socket_path()} and port {ctx.flags['listen-port']}")
    serve(Registry(), socket_path(), ctx.flags["listen-port"], fds)
    return 0


COMMAND = Command(name="metadata-service", summary="Run metadata service",
                  usage="rkt metadata-service [--listen-port=PORT]", run=run, needs_root=True,
                  flags=[Flag("listen-port", int, 18112, "listen port"),
                         Flag("src-addr", str, "", hidden=True),
                         Flag("no-idle", bool, False, hidden=True)])
