"""The command line as scripts and the Nomad driver see it: version, help, exit codes."""

import os
import re
import subprocess

import pytest
from conftest import rkt_command


def rkt_plain(*args):
    return subprocess.run(rkt_command() + list(args), capture_output=True, text=True, timeout=60)


def test_version_matches_nomad_regexes():
    r = rkt_plain("version")
    assert r.returncode == 0
    m = re.search(r"rkt [vV]ersion[:]? (\d[.\d]+)", r.stdout)
    assert m and tuple(int(x) for x in m.group(1).split(".")) >= (1, 27, 0)
    assert re.search(r"appc [vV]ersion[:]? (\d[.\d]+)", r.stdout).group(1) == "0.8.11"
    assert r.stdout.splitlines()[0] == "rkt Version: 1.30.0"


def test_bare_rkt_exits_2_with_missing_command():
    r = rkt_plain()
    assert r.returncode == 2
    assert r.stderr.startswith("rkt: missing command\n")
    assert "Usage:" in r.stderr


def test_unknown_command_exits_254():
    r = rkt_plain("frobnicate")
    assert r.returncode == 254
    assert 'unknown command "frobnicate"' in r.stderr


def test_unique_prefix_selects_the_command():
    assert rkt_plain("vers").stdout.startswith("rkt Version:")


def test_globals_before_or_after_the_command(tmp_path):
    d = str(tmp_path / "d")
    before = rkt_plain(f"--dir={d}", "--insecure-options=image", "image", "list")
    after = rkt_plain("image", "list", f"-dir={d}", "--insecure-options", "image")
    assert before.returncode == 0 and after.returncode == 0
    assert before.stdout == after.stdout == "ID\tNAME\tSIZE\tIMPORT TIME\tLAST USED\n"


def test_unknown_flag_is_one_line_error_and_usage():
    r = rkt_plain("version", "--bogus")
    assert r.returncode == 254
    assert r.stderr.splitlines()[0] == "version: unknown flag: --bogus"
    assert "Traceback" not in r.stderr


def test_help_for_a_command_and_for_all():
    r = rkt_plain("help", "fetch")
    assert r.returncode == 0 and "rkt fetch" in r.stdout and "--signature" in r.stdout
    r = rkt_plain("help")
    assert r.returncode == 0 and "fetch" in r.stdout and "version" in r.stdout
    r = rkt_plain("fetch", "--help")
    assert r.returncode == 0 and "--pull-policy" in r.stdout


def test_unknown_insecure_option_is_rejected():
    r = rkt_plain("--insecure-options=bogus", "image", "list")
    assert r.returncode == 254 and 'unknown option "bogus"' in r.stderr


def test_legacy_images_alias(tmp_path):
    r = rkt_plain(f"--dir={tmp_path}", "images", "--no-legend")
    assert r.returncode == 0 and r.stdout == ""


def test_installed_rkt_ignores_pythonpath_and_the_current_directory(tmp_path):
    """rkt runs as root: a rktfast package planted in $PYTHONPATH or in the directory the
    command is started from must not be what runs."""
    cmd = rkt_command()
    if len(cmd) != 1:
        pytest.skip("rkt runs from a source checkout (python -m rktfast), not an installed "
                    "launcher: scripts/install.sh writes the launcher this test is about")
    planted = tmp_path / "rktfast"
    planted.mkdir()
    (planted / "__init__.py").write_text("raise SystemExit('planted rktfast imported')\n")
    (planted / "cli").mkdir()
    (planted / "cli" / "__init__.py").write_text("")
    (planted / "cli" / "main.py").write_text("def main():\n    raise SystemExit(99)\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path), PYTHONSTARTUP=str(planted / "cli" / "main.py"))
    r = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("rkt Version:")
