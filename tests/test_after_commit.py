"""A signal that comes once the change is durable interrupts nothing.

The installed command's own handlers are in place (``launcher.main``); the signal
is sent by the process to itself at an exact moment of the commit: while the
journal is written (the change is cancelled: exit 128 + N, the folder as it was),
at each rename (the change completes), and right after the commit returns (the
run still reports every path and its advice).  Runs start in another folder with
a relative --out.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_tool

P12 = {"MINIPAAS_P12_PASSWORD": "p12-password"}

SIGNALLING = """
import os, sys
from minipaas_certs import store
where, limit, number = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
count = [0]
def signalling(real, counts=lambda *args: True):
    def call(*args, **kwargs):
        result = real(*args, **kwargs)
        if counts(*args):
            count[0] += 1
            if count[0] == limit:
                os.kill(os.getpid(), number)
        return result
    return call
# Renames count from the one that puts the commit's journal in place (the first).
journaled = []
def commits(source, target):
    journaled.extend([True] if str(target).endswith(store.JOURNAL) else [])
    return bool(journaled)
if where == "rename":
    store.os.rename = signalling(os.rename, commits)
    store.os.replace = signalling(os.replace, commits)
elif where == "journal":
    store.json.dumps = signalling(store.json.dumps)
else:
    store.OutputDirectory.commit = signalling(store.OutputDirectory.commit)
sys.argv = ["minipaas", *sys.argv[4:]]
from minipaas_certs.launcher import main
main()
"""

COMMANDS = {
    "revoke": ["revoke", "--name", "alice"],
    "p12": ["p12", "--name", "alice"],
    "server --name": ["server", "--name", "m1"],
    "renew --all": ["renew", "--all", "--within", "100%"],
    "rotate-ca start": ["rotate-ca", "start"],
}


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("swarm") / "certs"
    for args in (["all", "--san", "10.0.0.5"], ["server", "--name", "m1", "--san", "10.0.0.11"],
                 ["client", "--name", "alice"]):
        assert run_tool("certs", *args, "--out", str(out), "-q").returncode == 0
    return out


def _run(tmp_path: Path, swarm: Path, where: str, limit: int, number: int, command: str,
         *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    work = tmp_path / f"{where}-{limit}-{int(number)}"
    shutil.copytree(swarm, work / "certs", symlinks=True)
    (work / "elsewhere").mkdir()
    done = subprocess.run([sys.executable, "-c", SIGNALLING, where, str(limit), str(int(number)),
                           "certs", *COMMANDS[command], "--out", "../certs", *extra],
                          cwd=work / "elsewhere", capture_output=True, text=True, timeout=120,
                          env={**os.environ, **P12})
    return done, work / "certs"


def _normal(text: str, work: Path) -> str:
    """``text`` without what differs between two runs: their folders and the times in
    backup folders' names and new CAs' names."""
    text = text.replace(str(work), "WORK")
    return re.sub(r"\d{8}T\d{6}(-\d+)?|\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d)?\S*)?", "TIME",
                  text)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_signal_after_the_commit_still_reports_everything(
        tmp_path: Path, swarm: Path, command: str, cli) -> None:
    reference, first = _run(tmp_path, swarm, "rename", 10_000, signal.SIGTERM, command)
    assert reference.returncode == 0, reference.stderr
    for number in (signal.SIGTERM, signal.SIGINT):
        done, out = _run(tmp_path, swarm, "commit", 1, number, command)
        name = signal.Signals(number).name
        assert done.returncode == 0, done.stderr
        assert _normal(done.stdout, out.parent) == _normal(reference.stdout, first.parent)
        assert done.stderr.splitlines()[-1] == (
            f"Note: {name} arrived once the new files were in place in ../certs; the "
            "change stands, and nothing was undone")
        assert "Error" not in done.stderr and "Traceback" not in done.stderr
        # The advice a run without the signal gives is all there too.
        *report, _note = done.stderr.splitlines()
        assert _normal("\n".join(report), out.parent) == \
            _normal(reference.stderr.rstrip("\n"), first.parent)
        assert cli("certs", "check", str(out)).code in (0, 7)  # in-process: no signal here


@pytest.mark.parametrize("command", ["revoke", "server --name", "p12"])
def test_a_signal_during_the_renames_lets_the_change_complete(
        tmp_path: Path, swarm: Path, command: str, cli) -> None:
    # The journal's rename comes just before the last check: a signal there still
    # cancels the run; one at any later rename finds the change under way.
    done, out = _run(tmp_path, swarm, "rename", 1, signal.SIGTERM, command, "-q")
    assert (done.returncode, done.stderr) == (143, "Error: interrupted by SIGTERM\n")
    assert _snapshot(out) == _snapshot(swarm)
    renames = 2
    while True:
        done, out = _run(tmp_path, swarm, "rename", renames, signal.SIGTERM, command, "-q")
        if "Note: SIGTERM" not in done.stderr:  # past the last rename: no signal was sent
            assert done.returncode == 0 and "Error" not in done.stderr
            break
        assert done.returncode == 0, (renames, done.stderr)
        # With -q: the Note, after a revocation's advice (which a person must read).
        assert done.stderr.splitlines()[-1].startswith("Note: SIGTERM"), done.stderr
        assert "Error" not in done.stderr, (renames, done.stderr)
        assert done.stdout.strip(), renames  # the paths written
        assert _snapshot(out) != _snapshot(swarm)
        assert cli("certs", "check", str(out)).code == 0, renames
        renames += 1
    assert renames > 3


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_before_the_renames_leaves_the_folder_as_it_was(
        tmp_path: Path, swarm: Path, number: int) -> None:
    before = _snapshot(swarm)
    done, out = _run(tmp_path, swarm, "journal", 1, number, "revoke", "-q")
    assert done.returncode == 128 + number, done.stderr
    assert done.stderr == f"Error: interrupted by {signal.Signals(number).name}\n"
    assert done.stdout == ""
    assert _snapshot(out) == before
