"""rkt trust: add keys to the local keystore for verifying signed images (SPEC §7)."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from rktfast.cli.command import Command, Context, Flag
from rktfast.errors import RktError
from rktfast.trust.keystore import Keystore
from rktfast.trust.trust_keys import TrustOptions, trust_keys

IMPLICIT_ROOT = """aborting due to implicit unbounded trust (root domain)
Please provide a specific domain prefix to trust:
    rkt trust --prefix "example.com/foo" [PUBKEY]
    rkt trust --prefix "example.com/foo/*" [PUBKEY]
Otherwise, trust at the root domain (not recommended) must be explicitly requested:
    rkt trust --root PUBKEY"""


def run(ctx: Context) -> int:
    prefix: str = ctx.flags.get("prefix") or ""
    root: bool = bool(ctx.flags.get("root"))
    if not prefix and not root:
        if ctx.args:
            raise RktError(IMPLICIT_ROOT)
        from rktfast.cli import help as help_

        # cobra's cmd.Usage(): usage and flags, without the long description.
        c = ctx.command
        help_.print_usage(Command(c.name, c.summary, c.usage, flags=c.flags), ctx.stderr)
        return 254
    if prefix and root:
        raise RktError("--root and --prefix usage mutually exclusive")
    scheme = urlsplit(prefix).scheme
    if scheme:
        raise RktError(f"--prefix must not contain a URL scheme, omit {scheme}://")

    g = ctx.globals
    options = TrustOptions(
        skip_review=bool(ctx.flags.get("skip-fingerprint-review"))
        or getattr(g, "legacy_skip_verify", False),
        trust_keys_from_https=g.trust_keys_from_https,
        allow_http=bool(ctx.flags.get("insecure-allow-http")),
        skip_tls=g.insecure("tls"),
    )
    locations = list(ctx.args)
    if not locations:
        try:
            from rktfast.config import load
            from rktfast.fetch.discovery import discover_pubkeys

            locations = discover_pubkeys(prefix, allow_http=options.allow_http,
                                         skip_tls=options.skip_tls,
                                         auth=load(g, ("auth",)).auth,
                                         debug=lambda line: ctx.debug(line, "pubkey"))
        except RktError as e:
            raise RktError("error determining key location", cause=e) from e
    try:
        trust_keys(Keystore.from_globals(g), locations, prefix, options,
                   stdin=getattr(ctx, "stdin", None) or sys.stdin,
                   stdout=ctx.stdout, stderr=ctx.stderr)
    except RktError as e:
        raise RktError("error adding keys", cause=e) from e
    return 0


COMMAND = Command(
    name="trust",
    summary="Trust a key for image verification",
    usage="rkt trust [--prefix=PREFIX] [--insecure-allow-http] [--skip-fingerprint-review] "
          "[--root] [PUBKEY ...]",
    description="""Adds keys to the local keystore for use in verifying signed images.

PUBKEY may be either a local file or URL.

PREFIX scopes the applicability of PUBKEY to image names sharing PREFIX.

Meta discovery of PUBKEY at PREFIX will be attempted if no PUBKEY is specified.

To trust a key for all images instead of for specific images, --root can be
specified. Path to a key file must be given (no discovery).""",
    run=run,
    flags=[
        Flag("insecure-allow-http", bool, False,
             "allow HTTP use for key discovery and/or retrieval"),
        Flag("prefix", str, "", "prefix to limit trust to"),
        Flag("root", bool, False, "add root key from filesystem without a prefix"),
        Flag("skip-fingerprint-review", bool, False,
             "accept key without fingerprint confirmation"),
    ],
)
