"""No copy of a CA key is ever written into --out, and what a killed run leaves is found.

A run signing with an organisation's CA (``--ca-dir``) reads its key where it lies,
under that folder's lock.  A run killed (SIGKILL, or SIGHUP when an SSH session
closes) leaves its staging folder behind: the next writing run removes it, even a
``renew --all --within`` that finds nothing due, and ``check`` reports it meanwhile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from as_user import ok, tool
from conftest import TOOL_OPENSSL, certs, run_tool

from minipaas_certs.layout import STAGING_PREFIX

OUT = "my certs"


def _files_holding(folder: Path, data: bytes) -> list[Path]:
    return [path for path in folder.rglob("*")
            if path.is_file() and not path.is_symlink() and path.read_bytes() == data]


def _killing_openssl(tmp_path: Path, subcommand: str, how: int) -> Path:
    """An openssl that kills the tool (its parent) with ``how`` when asked to run
    ``subcommand``, then does the work, as the real one would have been mid-way."""
    spy = tmp_path / "openssl-killing"
    spy.write_text(f"#!/bin/sh\n[ \"$1\" = {subcommand} ] && kill -{how} $PPID\n"
                   f"exec '{TOOL_OPENSSL}' \"$@\"\n")
    spy.chmod(0o755)
    return spy


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGHUP])
@pytest.mark.parametrize("command", [["client", "--name", "ci"], ["server", "--san", "10.0.0.5"],
                                     ["renew", "--all", "--within", "100%"]])
def test_a_killed_ca_dir_run_leaves_no_copy_of_the_organisations_key(
        tmp_path: Path, command: list[str], how: int) -> None:
    org, out = tmp_path / "org", tmp_path / "out"
    certs("ca", "--out", str(org))
    certs("client", "--out", str(out), "--ca-dir", str(org))
    key = (org / "ca-key.pem").read_bytes()
    killed = subprocess.run(
        [sys.executable, "-m", "minipaas_certs", "certs", *command, "--out", "out", "--ca-dir",
         "org", "-q", "--force", "--openssl", str(_killing_openssl(tmp_path, "ca", how))],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert killed.returncode == -how, killed.stderr
    assert list(out.glob(STAGING_PREFIX + "*")), "the kill came before the staging folder"
    assert _files_holding(out, key) == []
    assert (org / "ca-key.pem").read_bytes() == key


def test_check_reports_a_killed_runs_staging_folder_and_any_writing_run_removes_it(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    certs("all", "--out", str(out))
    killed = subprocess.run(
        [sys.executable, "-m", "minipaas_certs", "certs", "client", "--name", "ci", "--out",
         str(out), "-q", "--openssl", str(_killing_openssl(tmp_path, "ca", signal.SIGKILL))],
        capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    (left,) = out.glob(STAGING_PREFIX + "*")
    assert list(left.rglob("*key.pem")), "the killed run had made the new client's key"
    checked = run_tool("certs", "check", str(out))
    assert checked.returncode == 8, checked.stdout
    assert f"problem: {left.name}: left by a run that was killed" in checked.stdout
    # A daily renewal that finds nothing due changes no certificate, but removes it.
    quiet = run_tool("certs", "renew", "--all", "--within", "1", "--out", str(out), "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert not left.exists()
    assert run_tool("certs", "check", str(out)).returncode == 0


def test_a_staging_folder_the_tool_did_not_make_stops_renew_within_too(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    certs("all", "--out", str(out))
    planted = out / f"{STAGING_PREFIX}000000000000"
    planted.mkdir(mode=0o755)
    os.chmod(planted, 0o755)  # not a 0700 folder: not one this tool made
    done = run_tool("certs", "renew", "--all", "--within", "1", "--out", str(out), "-q")
    assert done.returncode == 6, done.stderr  # as every writing run: a person must look
    assert "is not a staging folder of this tool" in done.stderr
    assert planted.is_dir()


def test_openssl_never_reads_the_files_in_the_ca_dir_as_the_readme_says(
        tmp_path: Path) -> None:
    """README (Bounded input): "openssl only ever reads the tool's own copies in the
    staging folder (or keys … on its stdin or through pipes), never the files in --out
    or --ca-dir."  Since the CA key is read in place, openssl is handed
    ``--ca-dir``/ca-key.pem by path: the file the tool checked (regular, 1 MiB, mode)
    is opened again by openssl, so the two promises (Safety: "openssl reads the CA key
    where it lies") contradict each other, and a swap between the check and openssl's
    open is read unchecked.  One of the two must give."""
    ok(tmp_path, "ca", "--out", "org ca", "--cn", "Org CA")
    log = tmp_path / "argv.log"
    wrapper = tmp_path / "openssl-logging"
    system = subprocess.run(["bash", "-c", "command -v openssl"], capture_output=True,
                            text=True, check=True).stdout.strip()
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{log}"\nexec "{system}" "$@"\n')
    wrapper.chmod(0o755)
    done = tool(tmp_path, "client", "--out", OUT, "--ca-dir", "org ca", "--name", "q",
                "--openssl", str(wrapper), "-q")
    assert done.returncode == 0, done.stderr
    ca_dir = (tmp_path / "org ca").resolve()
    read_there = [arg for arg in log.read_text().splitlines()
                  if arg and Path(tmp_path, arg).resolve().parent == ca_dir]
    assert not read_there, read_there
