"""Adding keys to the local keystore after review: ``rkt trust`` and fetch's key discovery.

rkt's ``pubkey.Manager.AddKeys``: for each key location, fetch the key, show it, decide
(``--skip-fingerprint-review``, ``--trust-keys-from-https`` for https keys, or the dialogue),
then store it under ``prefix.d/<prefix>`` (or ``root.d`` for the empty prefix).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import IO, TextIO

from rktfast.errors import RktError, TrustError
from rktfast.trust import review
from rktfast.trust.gostrings import go_quote
from rktfast.trust.keystore import Keystore
from rktfast.trust.pubkey import fetch_key, is_https, parse_public_keys


@dataclass
class TrustOptions:
    """How keys may be fetched and whether the user must review them."""

    skip_review: bool = False            # --skip-fingerprint-review, 0.5 --insecure-skip-verify
    trust_keys_from_https: bool = False  # global --trust-keys-from-https
    allow_http: bool = False             # --insecure-allow-http
    skip_tls: bool = False               # --insecure-options=tls


def trust_keys(keystore: Keystore, locations: list[str], prefix: str, options: TrustOptions,
               *, stdin: IO | None = None, stdout: TextIO | None = None,
               stderr: TextIO | None = None) -> list[str]:
    """Review and store each key; return the paths written (declined keys are skipped).

    ``prefix == ""`` stores root keys.  Raises TrustError shaped like rkt's error chain
    (``error accessing the key X: …``, ``error reviewing key: …``); callers add
    ``error adding keys``.
    """
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    written = []
    for location in locations:
        try:
            data = fetch_key(location, allow_http=options.allow_http, skip_tls=options.skip_tls)
        except RktError as e:
            raise TrustError(f"error accessing the key {location}", cause=e) from e
        try:
            certs = parse_public_keys(data)
        except RktError as e:
            raise TrustError(f"error displaying the key {location}",
                             cause=TrustError("error reading key", cause=e)) from e
        review.print_key_summary(prefix, location, certs, stdout, stderr)

        forced = options.skip_review or (options.trust_keys_from_https and is_https(location))
        if not forced:
            if not review.can_ask(stdin, stderr):
                stderr.write(review.no_tty_hint(prefix))
                stderr.flush()
                raise TrustError(f"error reviewing key: {review.NO_TTY}")
            try:
                accepted = review.ask_to_trust(stdin, stdout)
            except RktError as e:
                raise TrustError("error reviewing key", cause=e) from e
            if not accepted:
                stderr.write(f"pubkey: not trusting {go_quote(location)}\n")
                stderr.flush()
                continue

        how = "without" if forced else "after"
        stdout.write(f"Trusting {go_quote(location)} for prefix {go_quote(prefix)} "
                     f"{how} fingerprint review.\n")
        stdout.flush()
        written.append(_store(keystore, prefix, data))
        if prefix == "":
            stdout.write(f"Added root key at {go_quote(written[-1])}\n")
        else:
            stdout.write(f"Added key for prefix {go_quote(prefix)} at {go_quote(written[-1])}\n")
        stdout.flush()
    return written


def _store(keystore: Keystore, prefix: str, data: bytes) -> str:
    try:
        if prefix == "":
            return keystore.store_trusted_key_root(data)
        return keystore.store_trusted_key_prefix(prefix, data)
    except RktError as e:
        what = "error adding root key" if prefix == "" else \
            f"error adding key for prefix {go_quote(prefix)}"
        raise TrustError(what, cause=e) from e
