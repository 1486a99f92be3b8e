"""The fingerprint review dialogue of ``rkt trust`` (and of fetch when it discovers keys).

stderr:  ``pubkey: prefix: "<P>"`` / ``key: "<location>"``
stdout:  ``gpg key fingerprint is: 8B86 DE38 …``, ``    Subkey fingerprint: …``, ``\\t<uid>``,
         then ``Are you sure you want to trust this key (yes/no)?`` until the answer is exactly
         ``yes`` or ``no`` (anything else: ``Please enter 'yes' or 'no'``).
"""

from __future__ import annotations

from typing import IO, TextIO

import pysequoia

from rktfast.errors import TrustError
from rktfast.trust.gostrings import go_quote
from rktfast.trust.pubkey import format_fingerprint, identities, subkey_fingerprints

PROMPT = "Are you sure you want to trust this key (yes/no)?"
PLEASE_ANSWER = "Please enter 'yes' or 'no'"
NO_TTY = "unable to ask user to review fingerprint due to lack of tty"


def print_key_summary(prefix: str, location: str, certs: list[pysequoia.Cert],
                      stdout: TextIO, stderr: TextIO) -> None:
    """Show what is about to be trusted: prefix and location on stderr, keys on stdout."""
    stderr.write(f"pubkey: prefix: {go_quote(prefix)}\nkey: {go_quote(location)}\n")
    stderr.flush()
    for cert in certs:
        stdout.write(f"gpg key fingerprint is: {format_fingerprint(cert.fingerprint)}\n")
        stdout.writelines(f"    Subkey fingerprint: {format_fingerprint(fp)}\n" for fp in subkey_fingerprints(cert))
        stdout.writelines(f"\t{identity}\n" for identity in identities(cert))
    stdout.flush()


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def can_ask(stdin: object, stderr: object) -> bool:
    """rkt asks only when both stdin and stderr are terminals."""
    return _isatty(stdin) and _isatty(stderr)


def no_tty_hint(prefix: str) -> str:
    """The ``pubkey:`` lines rkt prints before failing for lack of a terminal."""
    return (f"pubkey: To trust the key for {go_quote(prefix)}, do one of the following:\n"
            "pubkey:  - call rkt with --trust-keys-from-https\n"
            f"pubkey:  - run: rkt trust --prefix {go_quote(prefix)}\n")


def ask_to_trust(stdin: IO, stdout: TextIO) -> bool:
    """Ask until the user types exactly ``yes`` or ``no``; True for yes.

    Raises TrustError(``error reading input``) when stdin ends first.
    """
    reader = getattr(stdin, "buffer", stdin)
    while True:
        stdout.write(PROMPT + "\n")
        stdout.flush()
        line = reader.readline()
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        if not line.endswith("\n"):
            raise TrustError("error reading input", cause=TrustError("EOF"))
        if line == "yes\n":
            return True
        if line == "no\n":
            return False
        stdout.write(PLEASE_ANSWER + "\n")
