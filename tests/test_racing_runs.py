"""Runs racing to create the same new ``--out``: exactly one wins, the others exit 4.

Each round starts real processes that have imported the tool and wait at a gate,
then opens it: they all try to create the folder, lock it and write the set at
once.  A loser must never remove the folder the winner works in (once seen
under load: one run exited 6, "No such file or directory", the other 4, and no
folder was left).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_tool

from minipaas_certs.errors import Conflict
from minipaas_certs.store import OutputDirectory

pytestmark = pytest.mark.invariant  # flock and the folders' life: no openssl or Python of its own
RUNNERS, ROUNDS = 8, 10

GATED = """
import os, sys, time
from minipaas_certs.cli import main
gate = sys.argv[1]
open(f"{gate}.{os.getpid()}.ready", "w").close()
while not os.path.exists(gate):
    time.sleep(0.001)
sys.exit(main(sys.argv[2:]))
"""


def _race(gate: Path, args: list[str]) -> list[subprocess.CompletedProcess[str]]:
    runners = [subprocess.Popen([sys.executable, "-c", GATED, str(gate), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(RUNNERS)]
    deadline = time.monotonic() + 60
    while len(list(gate.parent.glob(f"{gate.name}.*.ready"))) < RUNNERS:
        assert time.monotonic() < deadline, "the runners did not start"
        time.sleep(0.01)
    gate.touch()  # every runner imported and waiting at the gate
    done = []
    for runner in runners:
        out, err = runner.communicate(timeout=180)
        done.append(subprocess.CompletedProcess(runner.args, runner.returncode, out, err))
    return done


@pytest.mark.slow
def test_exactly_one_of_racing_runs_creating_out_succeeds(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        # A new folder two levels down: the runs race to make the parent too.
        out = tmp_path / f"round{round_}" / "certs"
        done = _race(tmp_path / f"gate{round_}",
                     ["certs", "all", "--out", str(out), "--key-type", "ecdsa", "-q"])
        codes = sorted(result.returncode for result in done)
        assert codes == [0] + [4] * (RUNNERS - 1), \
            (round_, [(result.returncode, result.stderr) for result in done])
        for result in done:
            if result.returncode == 4:
                assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
        checked = run_tool("certs", "check", str(out))
        assert checked.returncode == 0, (round_, checked.stdout)
        assert not list(out.glob(".minipaas-staging-*"))
        assert os.listdir(out.parent) == ["certs"]


def test_a_folder_removed_before_it_is_locked_is_made_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock taken on a folder another run then removed (it made it and failed)
    would lock nothing: the run makes the folder again and locks that one."""
    import fcntl

    out, real_flock, removed = tmp_path / "new" / "certs", fcntl.flock, []

    def flock_after_removal(descriptor: int, operation: int) -> None:
        if not removed:
            os.rmdir(out)
            os.rmdir(out.parent)
            removed.append(out)
        real_flock(descriptor, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_removal)
    with OutputDirectory(out) as held:
        assert held.staging.parent == out and held.staging.is_dir()
        monkeypatch.setattr(fcntl, "flock", real_flock)
        with pytest.raises(Conflict, match="another minipaas certs run"):
            OutputDirectory(out).__enter__()
    assert removed and out.is_dir()


def test_a_run_that_made_the_folder_but_lost_the_lock_leaves_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It made the folder, another run locked it first and has not yet made its staging
    folder there: the folder is the winner's, left in place."""
    import fcntl

    out, real_flock, winner = tmp_path / "new" / "certs", fcntl.flock, []

    def another_run_locks_first(descriptor: int, operation: int) -> None:
        if not winner:
            winner.append(os.open(out, os.O_RDONLY | os.O_DIRECTORY))
            real_flock(winner[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
        real_flock(descriptor, operation)

    monkeypatch.setattr(fcntl, "flock", another_run_locks_first)
    try:
        with pytest.raises(Conflict):
            OutputDirectory(out).__enter__()
        assert out.is_dir() and os.path.samestat(os.fstat(winner[0]), os.stat(out))
    finally:
        os.close(winner[0])


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "from-elsewhere"])
def test_a_folder_another_run_makes_between_two_looks_is_locked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool) -> None:
    """Seen absent, then made by a racing run before the next look: it is a folder, so
    this run locks it (it said "exists and is not a directory", exit 6, under load).
    Also with a relative path, from another working folder."""
    out, real_isdir, looks = tmp_path / "certs", os.path.isdir, []
    named = out
    if relative:
        (tmp_path / "elsewhere").mkdir()
        monkeypatch.chdir(tmp_path / "elsewhere")
        named = Path("../certs")

    def isdir(path: object) -> bool:
        if str(path) == str(named) and not looks:
            looks.append(path)
            out.mkdir(mode=0o700)  # the other run, right after this look
            return False
        return real_isdir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os.path, "isdir", isdir)
    with OutputDirectory(named) as store:
        assert store.path == named
    assert looks and out.is_dir()
