"""``rkt trust``: flags, messages, the fingerprint dialogue on a terminal, and what it writes."""

from __future__ import annotations

import io
import os
import pty
import select
import stat
import subprocess
import sys
import time
import traceback

import pytest

from rktfast.cli import trust
from rktfast.cli.command import Context, GlobalOptions
from rktfast.errors import RktError

try:
    from tests.gpgkeys import make_key
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from gpgkeys import make_key

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    k = make_key(tmp_path_factory.mktemp("key"), "Trusted Signer <ts@example.com>")
    k.add_signing_subkey()
    yield k
    k.close()


@pytest.fixture
def config(tmp_path):
    return {"local": str(tmp_path / "local"), "system": str(tmp_path / "system")}


def make_ctx(config, args=(), stdin=None, legacy_skip_verify=False, from_https=False, **flags):
    g = GlobalOptions(local_config=config["local"], system_config=config["system"],
                      trust_keys_from_https=from_https)
    if legacy_skip_verify:
        g.legacy_skip_verify = True  # type: ignore[attr-defined]
        g.insecure_options = frozenset({"image", "tls"})
    values = {"prefix": "", "root": False, "skip-fingerprint-review": False,
              "insecure-allow-http": False}
    values.update({k.replace("_", "-"): v for k, v in flags.items()})
    ctx = Context(command=trust.COMMAND, globals=g, flags=values, args=list(args),
                  stdout=io.StringIO(), stderr=io.StringIO())
    ctx.stdin = stdin if stdin is not None else io.BytesIO(b"")  # type: ignore[attr-defined]
    return ctx


def run_error(ctx) -> RktError:
    with pytest.raises(RktError) as e:
        trust.COMMAND.run(ctx)
    return e.value


def prefix_key_path(config, prefix, fp):
    return os.path.join(config["local"], "trustedkeys", "prefix.d", prefix, fp)


# -- argument checks -------------------------------------------------------------------------

def test_no_arguments_prints_usage_and_fails(config):
    ctx = make_ctx(config)
    assert trust.COMMAND.run(ctx) == 254
    assert ctx.stderr.getvalue().startswith("Usage:\n  rkt trust [--prefix=PREFIX]")


def test_key_without_prefix_or_root_is_implicit_root_trust(config, key):
    err = run_error(make_ctx(config, [key.public_path]))
    assert err.message.splitlines() == [
        "aborting due to implicit unbounded trust (root domain)",
        "Please provide a specific domain prefix to trust:",
        '    rkt trust --prefix "example.com/foo" [PUBKEY]',
        '    rkt trust --prefix "example.com/foo/*" [PUBKEY]',
        "Otherwise, trust at the root domain (not recommended) must be explicitly requested:",
        "    rkt trust --root PUBKEY",
    ]
    assert err.exit_code == 254


def test_root_and_prefix_are_mutually_exclusive(config, key):
    err = run_error(make_ctx(config, [key.public_path], prefix="example.com", root=True))
    assert err.message == "--root and --prefix usage mutually exclusive"


@pytest.mark.parametrize("prefix,scheme", [("https://example.com/app", "https"),
                                           ("docker://foo", "docker")])
def test_prefix_with_url_scheme(config, key, prefix, scheme):
    err = run_error(make_ctx(config, [key.public_path], prefix=prefix))
    assert err.message == f"--prefix must not contain a URL scheme, omit {scheme}://"


def test_prefix_without_key_runs_discovery(config):
    # localhost: discovery is tried for real and refused at once, no traffic leaves the host
    err = run_error(make_ctx(config, prefix="localhost/app"))
    assert err.chain()[0] == "error determining key location"
    assert err.chain()[1].startswith("prefix meta discovery error")


def test_missing_key_file(config, tmp_path):
    err = run_error(make_ctx(config, [str(tmp_path / "k.asc")], prefix="example.com",
                             skip_fingerprint_review=True))
    assert err.chain() == ["error adding keys", f"error accessing the key {tmp_path}/k.asc",
                           f"open {tmp_path}/k.asc: no such file or directory"]


def test_file_that_is_not_a_key(config, tmp_path):
    (tmp_path / "k.asc").write_text("hello\n")
    err = run_error(make_ctx(config, [str(tmp_path / "k.asc")], prefix="example.com",
                             skip_fingerprint_review=True))
    assert err.chain() == ["error adding keys", f"error displaying the key {tmp_path}/k.asc",
                           "error reading key", "openpgp: invalid argument: no armored data found"]


def test_invalid_prefix_is_reported_when_storing(config, key):
    err = run_error(make_ctx(config, [key.public_path], prefix="example.com/foo/*",
                             skip_fingerprint_review=True))
    assert err.chain() == ["error adding keys", 'error adding key for prefix "example.com/foo/*"',
                           'ACIdentifier must contain only lower case alphanumeric characters '
                           'plus "-._~/"']


# -- trusting without review -------------------------------------------------------------------

def test_skip_fingerprint_review_trusts_prefix(config, key):
    ctx = make_ctx(config, [key.public_path], prefix="example.com/app",
                   skip_fingerprint_review=True)
    assert trust.COMMAND.run(ctx) == 0
    path = prefix_key_path(config, "example.com/app", key.fingerprint)
    fp = " ".join(key.fingerprint.upper()[i:i + 4] for i in range(0, 40, 4))
    fp = fp[:24] + " " + fp[24:]
    sub = " ".join(key.subkey_fingerprints[0].upper()[i:i + 4] for i in range(0, 40, 4))
    sub = sub[:24] + " " + sub[24:]
    assert ctx.stdout.getvalue() == (
        f"gpg key fingerprint is: {fp}\n"
        f"    Subkey fingerprint: {sub}\n"
        "\tTrusted Signer <ts@example.com>\n"
        f'Trusting "{key.public_path}" for prefix "example.com/app" without fingerprint review.\n'
        f'Added key for prefix "example.com/app" at "{path}"\n')
    assert ctx.stderr.getvalue() == (f'pubkey: prefix: "example.com/app"\n'
                                     f'key: "{key.public_path}"\n')
    assert open(path).read() == key.armored_public
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o755


def test_root_key(config, key):
    ctx = make_ctx(config, [key.public_path], root=True, skip_fingerprint_review=True)
    assert trust.COMMAND.run(ctx) == 0
    path = os.path.join(config["local"], "trustedkeys", "root.d", key.fingerprint)
    assert f'Trusting "{key.public_path}" for prefix "" without fingerprint review.\n' \
        in ctx.stdout.getvalue()
    assert ctx.stdout.getvalue().endswith(f'Added root key at "{path}"\n')
    assert os.path.isfile(path)
    assert not os.path.exists(config["system"])


def test_legacy_insecure_skip_verify_skips_review(config, key):
    ctx = make_ctx(config, [key.public_path], prefix="coreos.com/etcd", legacy_skip_verify=True)
    assert trust.COMMAND.run(ctx) == 0
    assert "without fingerprint review." in ctx.stdout.getvalue()
    assert os.path.isfile(prefix_key_path(config, "coreos.com/etcd", key.fingerprint))


def test_trust_keys_from_https_skips_review_for_https_keys(config, key, monkeypatch):
    from rktfast.trust import trust_keys

    monkeypatch.setattr(trust_keys, "fetch_key",
                        lambda loc, **kw: key.armored_public.encode())
    ctx = make_ctx(config, ["https://example.com/key.asc"], prefix="example.com",
                   from_https=True)
    assert trust.COMMAND.run(ctx) == 0
    assert ('Trusting "https://example.com/key.asc" for prefix "example.com" without '
            "fingerprint review.") in ctx.stdout.getvalue()


def test_review_without_tty_fails_with_hints(config, key):
    ctx = make_ctx(config, [key.public_path], prefix="example.com/app")
    err = run_error(ctx)
    assert err.chain() == ["error adding keys", "error reviewing key: unable to ask user to "
                           "review fingerprint due to lack of tty"]
    assert ctx.stderr.getvalue().endswith(
        'pubkey: To trust the key for "example.com/app", do one of the following:\n'
        "pubkey:  - call rkt with --trust-keys-from-https\n"
        'pubkey:  - run: rkt trust --prefix "example.com/app"\n')
    assert not os.path.exists(config["local"])


# -- the dialogue on a real terminal ---------------------------------------------------------

def converse(fd: int, script: list[tuple[str, str]], timeout: float = 20) -> str:
    """Read from a pty master; each time the next expected text shows up (after the previous
    one), send its reply.  Returns everything read, with \\r\\n as \\n, once the other side
    closes."""
    raw, pos, pending, deadline = b"", 0, list(script), time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = raw.decode(errors="replace").replace("\r\n", "\n")
        if pending and (hit := text.find(pending[0][0], pos)) >= 0:
            expected, reply = pending.pop(0)
            pos = hit + len(expected)
            os.write(fd, reply.encode())
            continue
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the slave side is closed
                break
            if not chunk:
                break
            raw += chunk
    return raw.decode(errors="replace").replace("\r\n", "\n")


def run_in_pty(config, args, flags, script) -> tuple[int, str]:
    """Run the trust command in a child whose stdin/stdout/stderr are a terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # child: pytest's captured sys.stdout is not the tty, use the fds
        code = 99
        try:
            ctx = make_ctx(config, args, **flags)
            ctx.stdin = open(0, "rb", buffering=0, closefd=False)
            ctx.stdout = open(1, "w", closefd=False)
            ctx.stderr = open(2, "w", closefd=False)
            try:
                code = trust.COMMAND.run(ctx) or 0
            except RktError as e:
                ctx.stderr.write(f"trust: {e.chain()[0]}: {e.chain()[-1]}\n")
                code = e.exit_code
            ctx.stdout.flush()
            ctx.stderr.flush()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    try:
        output = converse(fd, script)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output


def test_dialogue_insists_on_yes_or_no_then_trusts(config, key):
    prompt = "Are you sure you want to trust this key (yes/no)?"
    code, out = run_in_pty(config, [key.public_path], {"prefix": "example.com/app"},
                           [(prompt, "maybe\n"), ("Please enter 'yes' or 'no'", "yes\n")])
    assert code == 0, out
    assert 'pubkey: prefix: "example.com/app"\n' in out
    assert f'key: "{key.public_path}"\n' in out
    assert "gpg key fingerprint is: " in out and "    Subkey fingerprint: " in out
    assert "\tTrusted Signer <ts@example.com>\n" in out
    # The terminal echoes the answers, interleaved with the output at its own pace.
    first = out.index(prompt)
    please = out.index("Please enter 'yes' or 'no'\n", first)
    assert out.index(prompt, please) > please
    assert out.count(prompt) == 2
    assert (f'Trusting "{key.public_path}" for prefix "example.com/app" after fingerprint '
            "review.\n") in out
    assert 'Added key for prefix "example.com/app" at "' in out
    assert os.path.isfile(prefix_key_path(config, "example.com/app", key.fingerprint))


def test_dialogue_no_declines_and_exits_zero(config, key):
    code, out = run_in_pty(config, [key.public_path], {"prefix": "example.com/app"},
                           [("(yes/no)?", "no\n")])
    assert code == 0, out
    assert f'pubkey: not trusting "{key.public_path}"\n' in out
    assert "Added key" not in out
    assert not os.path.exists(prefix_key_path(config, "example.com/app", key.fingerprint))


def test_dialogue_accepts_only_exact_answers(config, key):
    code, out = run_in_pty(config, [key.public_path], {"root": True},
                           [("(yes/no)?", "YES\n"), ("Please enter", " yes\n"),
                            ("Please enter", "yes\n")])
    assert code == 0, out
    assert out.count("Please enter 'yes' or 'no'") == 2
    assert "Added root key at" in out


# -- through the real entry point ------------------------------------------------------------

def cli(config, tmp_path, *args: str) -> list[str]:
    return [sys.executable, "-m", "rktfast.cli.main", f"--dir={tmp_path}/data",
            f"--local-config={config['local']}", f"--system-config={config['system']}",
            *args]


def cli_env() -> dict:
    return dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))


def test_cli_trust_prefix_skip_review(config, tmp_path, key):
    proc = subprocess.run(cli(config, tmp_path, "trust", "--prefix", "example.com/app",
                              "--skip-fingerprint-review", key.public_path),
                          capture_output=True, text=True, env=cli_env(), cwd=tmp_path,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr
    path = prefix_key_path(config, "example.com/app", key.fingerprint)
    assert proc.stdout.endswith(f'Added key for prefix "example.com/app" at "{path}"\n')
    assert proc.stderr == f'pubkey: prefix: "example.com/app"\nkey: "{key.public_path}"\n'


def test_cli_legacy_spelling(config, tmp_path, key):
    proc = subprocess.run(cli(config, tmp_path, "-insecure-skip-verify", "trust",
                              "-prefix=coreos.com/etcd", key.public_path),
                          capture_output=True, text=True, env=cli_env(), cwd=tmp_path,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "without fingerprint review." in proc.stdout


def test_cli_no_tty(config, tmp_path, key):
    proc = subprocess.run(cli(config, tmp_path, "trust", "--prefix=example.com", key.public_path),
                          capture_output=True, text=True, env=cli_env(), cwd=tmp_path,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 254
    assert proc.stderr.endswith("trust: error adding keys: error reviewing key: unable to ask "
                                "user to review fingerprint due to lack of tty\n")


def test_cli_errors_exit_254(config, tmp_path, key):
    for args, message in [
        (["trust", key.public_path], "trust: aborting due to implicit unbounded trust"),
        (["trust", "--root", "--prefix=a.com", key.public_path],
         "trust: --root and --prefix usage mutually exclusive\n"),
        (["trust", "--prefix=https://a.com", key.public_path],
         "trust: --prefix must not contain a URL scheme, omit https://\n"),
        (["trust"], "Usage:\n  rkt trust"),
    ]:
        proc = subprocess.run(cli(config, tmp_path, *args), capture_output=True, text=True,
                              env=cli_env(), cwd=tmp_path, stdin=subprocess.DEVNULL, check=False)
        assert proc.returncode == 254, args
        assert proc.stderr.startswith(message), (args, proc.stderr)


def test_cli_dialogue_on_a_terminal(config, tmp_path, key):
    master, slave = pty.openpty()
    proc = subprocess.Popen(cli(config, tmp_path, "trust", "--root", key.public_path),
                            stdin=slave, stdout=slave, stderr=slave, env=cli_env(),
                            cwd=tmp_path, start_new_session=True)
    os.close(slave)
    try:
        out = converse(master, [("(yes/no)?", "yes\n")])
    finally:
        code = proc.wait(timeout=30)
        os.close(master)
    assert code == 0, out
    assert "after fingerprint review." in out
    assert os.path.isfile(os.path.join(config["local"], "trustedkeys", "root.d", key.fingerprint))
