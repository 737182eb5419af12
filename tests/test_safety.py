"""The promises of the README's safety section, each under the fault that broke it once.

Crashes at every rename of every command that commits, followed by recovery from
another working directory and after a rename of the folder; planted staging
folders and journals; a CA replaced while others read it; hostile files where
the tool reads (FIFOs, /dev/zero, a megabyte of PEM headers); weak CAs; the
folders a failed run leaves; a closed stdout.  Signals at random moments are in
``test_signals.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from conftest import TOOL_OPENSSL, load_cert, plant, run_tool, system_verify, write_ca

from minipaas_certs.store import STAGING_PREFIX


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mode, symlinks and empty folders included."""
    found: dict[str, tuple[bytes, int]] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        name = str(path.relative_to(folder))
        if stat.S_ISLNK(info.st_mode):
            found[name] = (os.readlink(path).encode(), 0)
        elif path.is_file():
            found[name] = (path.read_bytes(), stat.S_IMODE(info.st_mode))
        elif not any(path.iterdir()):
            found[name + "/"] = (b"", stat.S_IMODE(info.st_mode))
    return found


def one_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- crashes at every rename --------------------------------------------------------------

CRASHING = """
import os, sys
from minipaas_certs import store
from minipaas_certs.cli import main
limit, count = int(sys.argv[1]), [0]
def counted(real):
    def call(*args):
        count[0] += 1
        if count[0] == limit:
            os._exit(99)  # as a power loss or SIGKILL would: no cleanup at all
        return real(*args)
    return call
store.os.rename, store.os.replace = counted(os.rename), counted(os.replace)
if sys.argv[2] == "fsync":  # every fsync of the store counts too
    store.fsync_path = counted(store.fsync_path)
code = main(sys.argv[3:])
print(count[0], file=sys.stderr)
sys.exit(code)
"""


def crash_run(cwd: Path, limit: int, *args: str, at: str = "rename"
              ) -> subprocess.CompletedProcess[str]:
    """Run the tool, killed at its ``limit``-th rename (or, ``at="fsync"``, rename or
    fsync); the last line of stderr counts them if it was not."""
    # The openssl under test comes from MINIPAAS_OPENSSL (conftest sets it).
    return subprocess.run([sys.executable, "-c", CRASHING, str(limit), at, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full set with a client bundle, and the same set in mid-rollover."""
    base = tmp_path_factory.mktemp("prepared")
    steady = base / "steady"
    assert run_tool("certs", "all", "--out", str(steady), "-q").returncode == 0
    assert run_tool("certs", "client", "--out", str(steady), "--name", "ci", "-q").returncode == 0
    rolling = base / "rolling"
    shutil.copytree(steady, rolling, symlinks=True)
    assert run_tool("certs", "rotate-ca", "start", "--out", str(rolling), "-q").returncode == 0
    assert run_tool("certs", "server", "--out", str(rolling), "-q").returncode == 0
    assert run_tool("certs", "client", "--out", str(rolling), "-q").returncode == 0
    assert run_tool("certs", "client", "--out", str(rolling), "--name", "ci", "--force",
                    "-q").returncode == 0
    keystore = base / "p12"  # with a client.p12 to replace
    shutil.copytree(steady, keystore, symlinks=True)
    for name in ([], ["--name", "ci"]):  # a client.p12 at the top and in a bundle
        assert run_tool("certs", "p12", "--out", str(keystore), *name, "-q",
                        env={P12_VARIABLE: P12_PASSWORD}).returncode == 0
    bare = base / "bare"  # no clients/ or servers/ yet: a first bundle makes the folder
    assert run_tool("certs", "all", "--out", str(bare), "-q").returncode == 0
    swarm = base / "swarm"
    shutil.copytree(steady, swarm, symlinks=True)
    assert run_tool("certs", "server", "--out", str(swarm), "--name", "m1", "--san", "10.0.0.11",
                    "-q").returncode == 0
    assert run_tool("certs", "client", "--out", str(swarm), "--name", "alice",
                    "-q").returncode == 0
    return base


COMMANDS = {
    "all --force": ("steady", ["certs", "all", "--force", "--reissue"]),
    "server": ("steady", ["certs", "server", "--san", "10.0.0.9"]),
    "client --name": ("steady", ["certs", "client", "--name", "ci", "--force"]),
    "renew": ("steady", ["certs", "renew", "server"]),
    "rotate-ca start": ("steady", ["certs", "rotate-ca", "start"]),
    "rotate-ca finish": ("rolling", ["certs", "rotate-ca", "finish"]),
    "server --name": ("swarm", ["certs", "server", "--name", "m1", "--san", "10.0.0.11",
                                "--san", "10.0.0.12"]),
    "first server --name": ("bare", ["certs", "server", "--name", "m1", "--san", "10.0.0.11"]),
    "first client --name": ("bare", ["certs", "client", "--name", "a", "--name", "b"]),
    "renew --all": ("swarm", ["certs", "renew", "--all", "--within", "100%"]),
    "revoke": ("swarm", ["certs", "revoke", "--name", "alice"]),
    "revoke --name (a server)": ("swarm", ["certs", "revoke", "--name", "m1"]),
    "revoke --client-pair": ("p12", ["certs", "revoke", "--client-pair"]),
    "revoke --name (with its p12)": ("p12", ["certs", "revoke", "--name", "ci"]),
    "p12": ("p12", ["certs", "p12"]),
    "p12 --name": ("p12", ["certs", "p12", "--name", "ci"]),
}
P12_VARIABLE, P12_PASSWORD = "MINIPAAS_P12_PASSWORD", "p12-password"


def _renames(prepared: Path, tmp_path: Path, source: str, args: list[str]) -> int:
    """How many renames the command's commit makes (run once without crashing)."""
    work = tmp_path / "count"
    shutil.copytree(prepared / source, work / "certs", symlinks=True)
    done = crash_run(work, 10_000, *args, "--out", "certs", "-q")
    assert done.returncode == 0, done.stderr
    return int(done.stderr.strip().splitlines()[-1])


CAPTURING = """
import os, shutil, sys, threading
from minipaas_certs import store
from minipaas_certs.cli import main
out, captures, at = sys.argv[1], sys.argv[2], sys.argv[3]
count, lock = [0], threading.Lock()
def captured(real):
    def call(*args):
        with lock:  # one at a time, as they are counted: threads sync files side by side
            count[0] += 1
            # What a crash here (power loss, SIGKILL) would leave: the folder as it is now.
            shutil.copytree(out, os.path.join(captures, str(count[0])), symlinks=True)
            return real(*args)
    return call
store.os.rename, store.os.replace = captured(os.rename), captured(os.replace)
if at == "fsync":  # every fsync of the store counts too
    store.fsync_path = captured(store.fsync_path)
code = main(sys.argv[4:])
print(count[0], file=sys.stderr)
sys.exit(code)
"""


def crash_states(work: Path, out: str, captures: Path, *args: str, at: str = "rename"
                 ) -> int:
    """Run the tool once in ``work`` on ``out``, keeping in ``captures/N`` the folder
    as a crash at its N-th rename (or, ``at="fsync"``, rename or fsync) would leave it:
    the same crash points as ``crash_run`` at each limit, with openssl run once.  Then
    ``out`` is moved aside, so that each state can be put back where the crash was.
    Returns how many there are."""
    captures.mkdir()
    done = subprocess.run([sys.executable, "-c", CAPTURING, out, str(captures), at, *args,
                           "--out", out, "-q"], cwd=work, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    count = int(done.stderr.strip().splitlines()[-1])
    assert sorted(int(path.name) for path in captures.iterdir()) == list(range(1, count + 1))
    (work / out).rename(work / f"{out}.finished")
    return count


FORKING = """
import json, os, sys
from minipaas_certs import cli, launcher  # imported once, by the process each run forks from
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.environ.clear()
            os.environ.update(request["env"])
            os.chdir(request["cwd"])
            for fd, name, flags in ((0, os.devnull, os.O_RDONLY),
                                    (1, request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                    (2, request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
                os.dup2(os.open(name, flags, 0o600), fd)
            sys.argv = ["minipaas", *request["args"]]
            launcher.main()  # as the installed command: it ends the process
        finally:
            os._exit(70)
    _, status = os.waitpid(pid, 0)
    print(os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status), flush=True)
"""


@pytest.fixture
def forked_tool(tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """``run_tool`` for many short runs: each run is a new process, forked from one that
    has imported the tool (Python's start-up and imports, most of a recovery's time,
    are paid once)."""
    outputs = tmp_path_factory.mktemp("forked")
    parent = subprocess.Popen([sys.executable, "-c", FORKING], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdin is not None and parent.stdout is not None

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        out, err = outputs / "stdout", outputs / "stderr"
        parent.stdin.write(json.dumps({"args": args, "cwd": str(cwd), "env": dict(os.environ),
                                       "out": str(out), "err": str(err)}) + "\n")
        parent.stdin.flush()
        code = int(parent.stdout.readline())
        return subprocess.CompletedProcess(args, code, out.read_text(), err.read_text())

    yield run
    parent.stdin.close()
    assert parent.wait(timeout=60) == 0


@pytest.mark.invariant
@pytest.mark.parametrize("command", list(COMMANDS))
def test_crash_at_every_rename_then_recovery_elsewhere_restores_the_set(
        prepared: Path, tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch,
        forked_tool: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    source, args = COMMANDS[command]
    monkeypatch.setenv(P12_VARIABLE, P12_PASSWORD)  # for `certs p12`
    work, captures = tmp_path / "work", tmp_path / "captures"
    (work / "a").mkdir(parents=True)
    (work / "b").mkdir()
    shutil.copytree(prepared / source, work / "a" / "certs", symlinks=True)
    renames = crash_states(work / "a", "certs", captures, *args)
    assert renames >= 4  # the journal, then at least an old file aside and a new one in
    before = snapshot(prepared / source)
    for limit in range(1, renames + 1):
        for variant in ("other working directory", "folder renamed"):
            # The folder as the crash left it, where it was when the run crashed.
            shutil.copytree(captures / str(limit), work / "a" / "certs", symlinks=True)
            if variant == "folder renamed":
                (work / "a" / "certs").rename(work / "a" / "moved")
                recover_from, out = work / "a", "moved"
            else:
                recover_from, out = work / "b", "../a/certs"
            final = work / "a" / ("moved" if variant == "folder renamed" else "certs")
            # Any run recovers first; `certs ca` then refuses (the CA exists): it changes
            # nothing of its own, so what is left is what the recovery made.
            done = forked_tool("certs", "ca", "--out", out, cwd=recover_from)
            assert done.returncode == 4, (command, limit, variant, done.stderr)
            assert snapshot(final) == before, (command, limit, variant)
            shutil.rmtree(final)


def test_check_names_a_change_a_crash_left_half_made(prepared: Path, tmp_path: Path) -> None:
    """check once said OK over a crashed run's files, which the next run would undo."""
    shutil.copytree(prepared / "steady", tmp_path / "certs", symlinks=True)
    crashed = crash_run(tmp_path, 5, "certs", "server", "--out", "certs", "-q")
    assert crashed.returncode == 99, crashed.stderr
    elsewhere = tmp_path / "elsewhere"  # what follows runs from another folder
    elsewhere.mkdir()
    done = run_tool("certs", "check", "../certs", cwd=elsewhere)
    assert done.returncode == 8, done.stdout
    assert f"problem: {STAGING_PREFIX}" in done.stdout and "cut off" in done.stdout
    assert run_tool("certs", "client", "--name", "ops", "--out", "../certs",
                    cwd=elsewhere).returncode == 0
    done = run_tool("certs", "check", "../certs", cwd=elsewhere)
    assert done.returncode == 0, done.stdout


def _loose_copy(prepared: Path, target: Path) -> Path:
    """The steady set with keys others can read (02644: setgid too, 0640)."""
    shutil.copytree(prepared / "steady", target, symlinks=True)
    (target / "server-key.pem").chmod(0o2644)
    (target / "clients" / "ci" / "key.pem").chmod(0o640)
    (target / "client-key.pem").chmod(0o644)  # revoke --client-pair moves it aside
    return target


@pytest.mark.invariant
@pytest.mark.parametrize("args", [["certs", "revoke", "--name", "alice"],
                                  ["certs", "revoke", "--client-pair"]])
def test_revoke_run_again_after_a_crash_recovers_first(
        prepared: Path, tmp_path: Path, args: list[str],
        forked_tool: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """What revoke reads before its run (the CA key beside ca.pem, the bundle --name
    finds) is read after the undo of a crashed revoke: run again, it revokes, rather
    than find the CA key or the bundle away in the crashed run's staging folder and say
    the CA is kept elsewhere or there is no such bundle."""
    work, captures = tmp_path / "work", tmp_path / "captures"
    work.mkdir()
    shutil.copytree(prepared / "swarm", work / "certs", symlinks=True)
    renames = crash_states(work, "certs", captures, *args)
    for limit in range(1, renames + 1):
        shutil.copytree(captures / str(limit), work / "certs", symlinks=True)
        done = forked_tool(*args, "--out", "certs", "-q", cwd=work)
        assert done.returncode == 0, (limit, done.stderr)
        assert forked_tool("certs", "check", "certs", cwd=work).returncode == 0, limit
        (entry,) = json.loads((work / "certs" / "revoked.json").read_text())["revoked"]
        assert entry["name"] == args[-1].replace("--client-pair", ""), limit
        shutil.rmtree(work / "certs")


@pytest.mark.invariant
@pytest.mark.parametrize("args", [["certs", "server"],
                                  ["certs", "client", "--name", "ci", "--force"],
                                  ["certs", "revoke", "--client-pair"]])
def test_old_keys_are_private_in_the_backup_whatever_the_crash(
        prepared: Path, tmp_path: Path, args: list[str],
        forked_tool: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """Keys others could read are 0600 once moved into a backup, and an undo gives them
    back as they were, whichever rename or fsync of the commit a crash stops."""
    work, captures = tmp_path / "work", tmp_path / "captures"
    (work / "b").mkdir(parents=True)
    _loose_copy(prepared, work / "a")
    crashes = crash_states(work, "a", captures, *args, at="fsync")
    before = snapshot(_loose_copy(prepared, tmp_path / "before"))
    outcomes = set()
    for limit in range(1, crashes + 1):
        shutil.copytree(captures / str(limit), work / "a", symlinks=True)  # as it crashed
        assert forked_tool("certs", "ca", "--out", "../a", cwd=work / "b").returncode == 4
        if snapshot(work / "a") == before:
            outcomes.add("undone")
        else:
            (backup,) = (work / "a").glob("backup-*")
            modes = {str(path.relative_to(backup)): stat.S_IMODE(path.stat().st_mode)
                     for path in backup.rglob("*key.pem")}
            assert modes and set(modes.values()) == {0o600}, (limit, modes)
            outcomes.add("done")
        shutil.rmtree(work / "a")
    assert outcomes == {"undone", "done"}


def test_folders_named_with_a_newline_or_bytes_not_utf8_work(tmp_path: Path) -> None:
    """openssl names the files it verified: matched as bytes, a folder's name holding a
    newline or a byte that is not UTF-8 once made every run fail."""
    for name in ("a\nproblem: forged", os.fsdecode(b"b\xff")):
        out = tmp_path / name
        for args in (["all"], ["client", "--name", "ci"], ["renew", "--all", "--within", "100%"]):
            done = run_tool("certs", *args, "--out", str(out), "-q")
            assert done.returncode == 0, (name, args, done.stderr)
            written = done.stdout.splitlines()  # the paths written, one per line
            assert written and all(line.startswith(f"{tmp_path}/") for line in written)
        for args in (["check"], ["verify-sums"]):
            done = run_tool("certs", *args, str(out))
            assert done.returncode == 0 and len(done.stdout.splitlines()) == 1, done.stdout
        assert done.stdout.startswith(f"OK: {tmp_path}/")
        shown = run_tool("certs", "show", str(out)).stdout.splitlines()[0]
        assert shown.endswith(("a\\nproblem: forged:", "b\\udcff:")), shown


# --- planted staging folders and journals ---------------------------------------------------

def _set(tmp_path: Path) -> Path:
    out = tmp_path / "certs"
    assert run_tool("certs", "all", "--out", str(out), "-q").returncode == 0
    return out


def _journal(folder: Path, moves: list[dict[str, object]], version: int = 2) -> None:
    (folder / "journal.json").write_text(json.dumps({"version": version, "moves": moves}))


def _planted(out: Path, mode: int = 0o700) -> Path:
    folder = out / f"{STAGING_PREFIX}planted"
    folder.mkdir()
    os.chmod(folder, mode)
    return folder


def _refused(out: Path, before: dict[str, tuple[bytes, int]], planted: Path, text: str) -> None:
    done = run_tool("certs", "server", "--out", str(out), "-q")
    assert done.returncode == 6
    assert text in one_error(done.stderr)
    after = snapshot(out)
    assert {k: v for k, v in after.items() if not k.startswith(STAGING_PREFIX)} == \
        {k: v for k, v in before.items() if not k.startswith(STAGING_PREFIX)}
    assert os.path.lexists(planted)


def test_journal_that_would_delete_the_ca_key_is_refused(tmp_path: Path) -> None:
    out = _set(tmp_path)
    planted = _planted(out)
    _journal(planted, [{"name": "ca-key.pem", "aside": "replaced", "old": False, "new": True,
                        "digest": "0" * 64}])
    before = snapshot(out)
    # The file in place is not the one the journal says the run wrote: nothing moves.
    _refused(out, before, planted, "the folder is kept")
    assert (out / "ca-key.pem").read_bytes() == before["ca-key.pem"][0]


@pytest.mark.parametrize("moves", [
    [{"name": "../outside.pem", "aside": "replaced", "old": True, "new": False, "digest": ""}],
    [{"name": "/etc/passwd", "aside": "replaced", "old": True, "new": False, "digest": ""}],
    [{"name": "ca-key.pem", "aside": "/tmp", "old": True, "new": False, "digest": ""}],
    [{"name": "ca-key.pem", "aside": "../elsewhere", "old": True, "new": False, "digest": ""}],
    [{"name": "notes.txt", "aside": "replaced", "old": True, "new": False, "digest": ""}],
    [{"name": "ca.pem", "aside": "replaced", "old": "yes", "new": False, "digest": ""}],
    "not a list",
])
def test_journal_naming_what_the_tool_never_writes_is_refused(tmp_path: Path, moves) -> None:
    out = _set(tmp_path)
    planted = _planted(out)
    (planted / "journal.json").write_text(json.dumps({"version": 2, "moves": moves}))
    before = snapshot(out)
    _refused(out, before, planted, "is not a journal this tool wrote")


_KEY_ASIDE = {"name": "server-key.pem", "aside": "backup-20260101T000000", "old": True,
              "new": False, "digest": ""}


@pytest.mark.parametrize("extra", [
    {"made": ["clients"]},  # no move passes through it
    {"made": ["/tmp"]}, {"made": ["servers/../.."]}, {"made": "clients"},
    {"loose": {"ca.pem": 0o644}},  # not a key
    {"loose": {"ca-key.pem": 0o644}},  # a key, but not one the journal moved
    {"loose": {"server-key.pem": 0o10000}}, {"loose": {"server-key.pem": "0644"}},
    {"loose": ["server-key.pem"]},
    {"loose": {"server-key.pem/../../../outside/victim-key.pem": 0o777}},  # leaves --out
    {"loose": {"clients/zz-key.pem": 0o644}},  # no file the tool writes
    {"made": ["servers/m1"]},  # only clients/ and servers/ are ever made
])
def test_journal_whose_folders_or_modes_reach_elsewhere_is_refused(tmp_path: Path,
                                                                   extra) -> None:
    out = _set(tmp_path)
    planted = _planted(out)
    (planted / "journal.json").write_text(json.dumps({"version": 2, "moves": [_KEY_ASIDE],
                                                      **extra}))
    before = snapshot(out)
    _refused(out, before, planted, "is not a journal this tool wrote")


def test_journal_that_would_swap_in_another_ca_is_refused(tmp_path: Path) -> None:
    """A backup folder of someone else's, holding their CA, is never moved into place."""
    out = _set(tmp_path)
    other = tmp_path / "other"
    assert run_tool("certs", "ca", "--out", str(other), "-q").returncode == 0
    backup = out / "backup-20260101T000000"
    backup.mkdir(mode=0o755)
    shutil.copy(other / "ca.pem", backup / "ca.pem")
    planted = _planted(out)
    _journal(planted, [{"name": "ca.pem", "aside": backup.name, "old": True, "new": True,
                        "digest": "0" * 64}])
    before = snapshot(out)
    _refused(out, before, planted, "is not a journal this tool wrote")
    assert (out / "ca.pem").read_bytes() != (other / "ca.pem").read_bytes()


@pytest.mark.parametrize("kind", ["symlink", "mode 0755", "another user's", "a file"])
def test_staging_folder_the_tool_did_not_make_is_left_alone(tmp_path: Path, kind: str) -> None:
    out = _set(tmp_path)
    name = out / f"{STAGING_PREFIX}planted"
    if kind == "symlink":
        target = tmp_path / "elsewhere"
        target.mkdir(mode=0o700)
        (target / "keep.txt").write_text("not the tool's")
        name.symlink_to(target)
    elif kind == "a file":
        name.write_text("x")
    else:
        name.mkdir(mode=0o700)
        _journal(name, [{"name": "ca-key.pem", "aside": "replaced", "old": True, "new": False,
                         "digest": ""}])
        if kind == "mode 0755":
            os.chmod(name, 0o755)
        else:
            if os.geteuid() != 0:
                pytest.skip("chown to another user needs root")
            os.chown(name, 65534, 65534)
    before = snapshot(out)
    _refused(out, before, name, "is not a staging folder of this tool")
    if kind == "symlink":
        assert (tmp_path / "elsewhere" / "keep.txt").exists()


def test_old_file_missing_after_a_crash_keeps_the_staging_folder(tmp_path: Path) -> None:
    """The undo cannot find a file its journal set aside: it keeps everything and says so."""
    out = _set(tmp_path)
    work = tmp_path
    # Renames: the new certificate into its place in staging, the journal, one file aside.
    crashed = crash_run(work, 4, "certs", "server", "--out", str(out), "-q")
    assert crashed.returncode == 99
    staging = next(out.glob(STAGING_PREFIX + "*"))
    (aside,) = out.glob("backup-*")  # rotation keeps the previous pair there
    lost = sorted(p.name for p in aside.iterdir())
    assert lost  # something was set aside before the crash
    (aside / lost[0]).unlink()  # a disk fault, a person tidying up
    done = run_tool("certs", "server", "--out", str(out), "-q")
    assert done.returncode == 6
    assert "the folder is kept" in one_error(done.stderr) and staging.name in done.stderr
    assert staging.is_dir() and (staging / "journal.json").exists()


# --- --ca-dir while another run replaces the CA -----------------------------------------------

@pytest.mark.slow
def test_ca_dir_readers_never_mix_two_cas(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    assert run_tool("certs", "all", "--out", str(ca_dir), "-q").returncode == 0
    stop = threading.Event()
    replaced = [0]

    def replace_forever() -> None:
        while not stop.is_set():
            done = run_tool("certs", "all", "--out", str(ca_dir), "--force", "-q")
            assert done.returncode in (0, 4), done.stderr
            replaced[0] += done.returncode == 0
            for backup in ca_dir.glob("backup-*"):
                shutil.rmtree(backup, ignore_errors=True)

    writer = threading.Thread(target=replace_forever)
    writer.start()
    outcomes = {0: 0, 4: 0}
    try:
        for index in range(60):
            out = tmp_path / f"reader-{index}"
            done = run_tool("certs", "server", "--out", str(out), "--ca-dir", str(ca_dir), "-q")
            assert done.returncode in (0, 4), done.stderr
            outcomes[done.returncode] += 1
            if done.returncode == 0:
                checked = system_verify(out / "ca.pem", out / "server-cert.pem", "sslserver")
                assert checked.returncode == 0, checked.stdout + checked.stderr
            else:
                assert "is changing" in one_error(done.stderr)
    finally:
        stop.set()
        writer.join()
    assert outcomes[0] >= 5 and replaced[0] >= 5, (outcomes, replaced)


# --- hostile files where the tool reads -----------------------------------------------------

def _timed(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = run_tool(*args, "--openssl", TOOL_OPENSSL) if args[1] in ("server", "check") \
        else run_tool(*args)
    return done, time.monotonic() - started


@pytest.mark.parametrize("what", ["fifo", "/dev/zero", "headers"])
@pytest.mark.parametrize("command,code", [("server", 5), ("check", 8), ("show", 6),
                                          ("env", 0), ("verify-sums", 8)])
def test_hostile_ca_file_ends_in_one_error_at_once(tmp_path: Path, what: str, command: str,
                                                   code: int) -> None:
    out = _set(tmp_path)
    target = out / ("SHA256SUMS" if command == "verify-sums" else
                    "server-cert.pem" if command == "env" else "ca.pem")
    target.unlink()
    # headers: a megabyte of BEGIN lines, which quadratic parsing took minutes over
    plant(target, what, b"-----BEGIN CERTIFICATE-----\n" * (1024 * 1024 // 28))
    args = {"server": ["certs", "server", "--out", str(out)],
            "check": ["certs", "check", str(out)], "show": ["certs", "show", str(out)],
            "env": ["certs", "env", "--out", str(out), "--host", "10.0.0.5"],
            "verify-sums": ["certs", "verify-sums", str(out)]}[command]
    done, seconds = _timed(*args)
    assert seconds < 5, seconds
    assert "Traceback" not in done.stderr
    if command == "env":  # the exports still print; the unreadable certificate is a warning
        assert done.returncode == 0 and "DOCKER_HOST" in done.stdout
        assert "Warning:" in done.stderr
    elif command in ("check", "verify-sums"):
        assert done.returncode == code
        assert "problem:" in done.stdout
    else:
        assert done.returncode == code, done.stderr
        one_error(done.stderr)


@pytest.mark.parametrize("what", ["fifo", "/dev/zero", "huge"])
def test_hostile_passphrase_file_ends_in_one_error(tmp_path: Path, what: str) -> None:
    source = tmp_path / "passphrase"
    plant(source, what, b"x" * (1024 * 1024))
    done, seconds = _timed("certs", "ca", "--out", str(tmp_path / "certs"),
                           "--ca-passphrase-file", str(source))
    assert seconds < 5 and done.returncode == 2
    assert "--ca-passphrase-file" in one_error(done.stderr)
    assert not (tmp_path / "certs").exists()


def test_long_oid_is_refused_in_linear_time() -> None:
    from minipaas_certs.certinfo import DERError, _oid

    started = time.monotonic()
    with pytest.raises(DERError, match="too long"):
        _oid(b"\x2a" + b"\xff" * 1_000_000 + b"\x01")
    assert time.monotonic() - started < 1


# --- weak or unfit CAs -------------------------------------------------------------------------

CA_EXTENSIONS = ("basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign",
                 "subjectKeyIdentifier=hash")


def _openssl_ca(out: Path, *options: str) -> None:
    out.mkdir()
    extensions = [arg for ext in CA_EXTENSIONS for arg in ("-addext", ext)]
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-subj", "/CN=weak", *options,
                    *extensions, "-keyout", str(out / "ca-key.pem"), "-out", str(out / "ca.pem")],
                   check=True, capture_output=True, env={**os.environ, "OPENSSL_CONF": "/dev/null"})


@pytest.mark.parametrize("options,reason", [
    (["-newkey", "rsa:1024", "-days", "30", "-sha256"], "RSA key of 1024 bits"),
    (["-newkey", "rsa:2048", "-days", "30", "-sha1"], "signed with SHA-1"),
    (["-newkey", "rsa:2048", "-days", "30", "-md5"], "signed with MD5"),
])
def test_weak_ca_is_refused(tmp_path: Path, options: list[str], reason: str) -> None:
    out = tmp_path / "weak"
    _openssl_ca(out, *options)
    before = snapshot(out)
    done = run_tool("certs", "server", "--out", str(out))
    assert done.returncode == 5
    assert reason in one_error(done.stderr)
    assert snapshot(out) == before


def test_ca_not_yet_valid_is_a_ca_problem(tmp_path: Path) -> None:
    import datetime

    from cryptography.hazmat.primitives.asymmetric import ec

    out = tmp_path / "future"
    out.mkdir()
    start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    write_ca(out, ec.generate_private_key(ec.SECP256R1()), "future", start, 30)
    done = run_tool("certs", "client", "--out", str(out))
    assert done.returncode == 5
    assert "valid only from" in one_error(done.stderr)


# --- modes ------------------------------------------------------------------------------------

def test_umask_000_gives_private_folders_and_keys(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "certs"
    env = {**os.environ}
    for args in (["all"], ["client", "--name", "ci"], ["rotate-ca", "start"],
                 ["server"], ["rotate-ca", "finish", "--force"]):
        done = subprocess.run([sys.executable, "-m", "minipaas_certs", "certs", *args, "--out",
                               str(out), "-q"], env=env, capture_output=True, text=True,
                              preexec_fn=lambda: os.umask(0))
        assert done.returncode == 0, done.stderr
    for folder in (tmp_path / "a", tmp_path / "a" / "b", out, out / "clients",
                   out / "clients" / "ci", *out.glob("backup-*"),
                   *out.glob("backup-*/*/")):
        if folder.is_dir():
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    keys = list(out.rglob("*key.pem"))
    assert any("backup-" in str(key) for key in keys)  # the old CA key was archived
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_keys_are_private_while_staged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       cli) -> None:
    """Every key in the staging folder is 0600 when the commit starts (umask 000)."""
    from minipaas_certs import store

    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    seen: dict[str, int] = {}
    real_commit = store.OutputDirectory.commit

    def spying_commit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        for path in self.staging.rglob("*"):
            if path.is_file() and path.name.endswith("key.pem"):
                seen[str(path.relative_to(self.staging))] = stat.S_IMODE(path.stat().st_mode)
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(store.OutputDirectory, "commit", spying_commit)
    old_umask = os.umask(0)
    try:
        assert cli("certs", "rotate-ca", "start", "--out", str(out), "-q").code == 0
        assert cli("certs", "server", "--out", str(out), "--key-type", "rsa", "--key-size",
                   "2048", "-q").code == 0
    finally:
        os.umask(old_umask)
    assert "ca-old-key.pem" in seen and "server-key.pem" in seen
    assert set(seen.values()) == {0o600}, seen


def test_old_key_moved_into_a_backup_is_made_private(tmp_path: Path) -> None:
    out = _set(tmp_path)
    os.chmod(out / "ca-key.pem", 0o644)  # someone loosened it
    assert run_tool("certs", "all", "--out", str(out), "--force", "-q").returncode == 0
    backup = next(out.glob("backup-*"))
    assert stat.S_IMODE((backup / "ca-key.pem").stat().st_mode) == 0o600


# --- leftovers, empty --out, closed stdout ----------------------------------------------------

def test_failed_run_removes_only_the_folders_it_created(tmp_path: Path) -> None:
    (tmp_path / "typo").mkdir()
    (tmp_path / "typo" / "mine.txt").write_text("keep")
    done = run_tool("certs", "server", "--out", str(tmp_path / "typo" / "deep" / "dir"))
    assert done.returncode == 5
    one_error(done.stderr)
    assert sorted(p.name for p in (tmp_path / "typo").iterdir()) == ["mine.txt"]


@pytest.mark.parametrize("option", [["--out", ""], ["--out", "  "], ["--ca-dir", ""]])
def test_empty_output_directory_is_refused(tmp_path: Path, option: list[str]) -> None:
    done = run_tool("certs", "client", *option, cwd=tmp_path)
    assert done.returncode == 2
    assert "must not be empty" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_closed_stdout_after_a_change_is_still_success(tmp_path: Path) -> None:
    out = _set(tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read what the tool prints
    try:
        done = subprocess.run([sys.executable, "-m", "minipaas_certs", "certs", "server",
                               "--out", str(out), "-q"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert system_verify(out / "ca.pem", out / "server-cert.pem", "sslserver").returncode == 0


# --- certificate quality ---------------------------------------------------------------------

def test_certificates_are_backdated_but_never_before_their_ca(tmp_path: Path) -> None:
    import datetime

    out = _set(tmp_path)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = load_cert(out / "ca.pem")
    for name in ("server-cert.pem", "client-cert.pem"):
        leaf = load_cert(out / name)
        assert leaf.not_valid_before_utc >= ca.not_valid_before_utc
        assert leaf.not_valid_after_utc <= ca.not_valid_after_utc
        assert datetime.timedelta(minutes=4) < now - leaf.not_valid_before_utc \
            < datetime.timedelta(minutes=6)
        length = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        assert abs(length - datetime.timedelta(days=365, minutes=5)) < datetime.timedelta(
            seconds=5)
    assert datetime.timedelta(minutes=4) < now - ca.not_valid_before_utc \
        < datetime.timedelta(minutes=6)


def test_encrypted_ca_key_uses_600000_pbkdf2_rounds(tmp_path: Path) -> None:
    secret = tmp_path / "pass"
    secret.write_text("correct horse battery staple\n")
    out = tmp_path / "certs"
    done = run_tool("certs", "ca", "--out", str(out), "--ca-passphrase-file", str(secret), "-q")
    assert done.returncode == 0, done.stderr
    parsed = subprocess.run(["openssl", "asn1parse", "-in", str(out / "ca-key.pem")],
                            capture_output=True, text=True, check=True).stdout
    assert ":PBKDF2" in parsed and ":hmacWithSHA256" in parsed and ":aes-256-cbc" in parsed
    assert "INTEGER           :0927C0" in parsed  # 600,000


@pytest.mark.parametrize("san,hint", [
    ("::ffff:10.0.0.5", "give 10.0.0.5 instead"), ("0.0.0.0", "listen"), ("::", "listen"),
    ("255.255.255.255", "listen"), ("224.0.0.1", "group"), ("ff02::1", "group"),
])
def test_addresses_no_client_connects_to_are_refused(tmp_path: Path, san: str,
                                                     hint: str) -> None:
    done = run_tool("certs", "all", "--out", str(tmp_path / "c"), "--san", san)
    assert done.returncode == 2
    assert hint in one_error(done.stderr)
    assert not (tmp_path / "c").exists()


def test_listen_addresses_still_work_in_daemon_json() -> None:
    done = run_tool("certs", "daemon-json", "--listen", "tcp://0.0.0.0:2376", "--listen",
                    "tcp://[::]:2376", "-q")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hosts"] == ["unix:///var/run/docker.sock",
                                                "tcp://0.0.0.0:2376", "tcp://[::]:2376"]


# --- found by an adversarial review -----------------------------------------------------------

def test_ca_dir_with_a_crashed_change_is_recovered_before_it_is_read(tmp_path: Path) -> None:
    """A crash after the new CA was renamed in: a reader must not sign with that CA,
    whose key the next run on the folder drops."""
    ca_dir = tmp_path / "ca"
    assert run_tool("certs", "all", "--out", str(ca_dir), "-q").returncode == 0
    before = snapshot(ca_dir)
    renames = _renames(tmp_path, tmp_path, "ca", ["certs", "all", "--force"])
    crashed = crash_run(tmp_path, renames - 1, "certs", "all", "--force", "--out", "ca", "-q")
    assert crashed.returncode == 99
    reader = tmp_path / "reader"
    done = run_tool("certs", "server", "--out", str(reader), "--ca-dir", str(ca_dir), "-q")
    assert done.returncode == 0, done.stderr
    assert snapshot(ca_dir) == before  # the crashed change was undone first
    assert system_verify(ca_dir / "ca.pem", reader / "server-cert.pem",
                         "sslserver").returncode == 0


def _templates(tmp_path: Path, extra: str) -> Path:
    from minipaas_certs import render

    folder = tmp_path / "templates"
    folder.mkdir()
    for name in ("base.cnf.j2", *render.TEMPLATES):
        (folder / name).write_text(render._shipped(name))
    base = folder / "base.cnf.j2"
    base.write_text(base.read_text().replace("[ subject ]", extra + "\n[ subject ]"))
    return folder


@pytest.mark.parametrize("extra,why", [
    (".inc\\\nlude {outside}", "ends with a backslash"),
    (".include {outside}", "is a directive"),
    ("RANDFILE = {victim}", "sets 'randfile'"),
    ("openssl_conf = init", "sets 'openssl_conf'"),
    ("oid_file = {outside}", "sets 'oid_file'"),
    ("{{{{ lipsum.__globals__['os'].popen('touch {victim}.popen').read() }}}}", "unsafe"),
    ("{{% include '../outside.cnf' %}}", "is not there"),
    ("{{% include 'link.cnf' %}}", "leads out of the folder"),
])
def test_templates_cannot_reach_outside_their_folder(tmp_path: Path, extra: str,
                                                     why: str) -> None:
    outside = tmp_path / "outside.cnf"
    outside.write_text("[ subject ]\nOU = FROM-OUTSIDE\n")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = _templates(tmp_path, extra.format(outside=outside, victim=victim))
    (folder / "link.cnf").symlink_to(outside)
    for openssl in {TOOL_OPENSSL, shutil.which("openssl") or "openssl"}:
        done = run_tool("certs", "all", "--out", str(tmp_path / "c"), "--templates", str(folder),
                        "--openssl", openssl)
        assert done.returncode == 2, done.stderr
        assert why in one_error(done.stderr)
    assert victim.read_text() == "precious" and not Path(f"{victim}.popen").exists()
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("options,reason", [
    (["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:1024", "-sha256"], "1024 bits"),
    (["-newkey", "rsa:2048", "-sha1", "-sigopt", "rsa_padding_mode:pss"], "signed with SHA-1"),
])
def test_weak_rsa_pss_ca_is_refused(tmp_path: Path, options: list[str], reason: str) -> None:
    out = tmp_path / "weak"
    _openssl_ca(out, "-days", "30", *options)
    done = run_tool("certs", "server", "--out", str(out))
    assert done.returncode == 5
    assert reason in one_error(done.stderr)


def test_doctor_refuses_an_encrypted_bundle_key_without_prompting(tmp_path: Path) -> None:
    out = _set(tmp_path)
    subprocess.run(["openssl", "pkcs8", "-topk8", "-in", str(out / "key.pem"), "-passout",
                    "pass:secret", "-out", str(tmp_path / "encrypted.pem")], check=True)
    shutil.copy(tmp_path / "encrypted.pem", out / "key.pem")
    started = time.monotonic()
    done = run_tool("certs", "doctor", "--host", "127.0.0.1:9", str(out))
    assert time.monotonic() - started < 10
    assert done.returncode == 8
    assert "is encrypted" in done.stdout


def test_stdout_closed_from_the_start_is_still_success(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "minipaas_certs", "certs", "all", "--out",
                           str(tmp_path / "c"), "-q"], stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: os.close(1), timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert (tmp_path / "c" / "ca-key.pem").exists()


def test_check_sees_a_bundle_without_its_pair_and_a_symlinked_bundle(tmp_path: Path) -> None:
    out = _set(tmp_path)
    assert run_tool("certs", "client", "--out", str(out), "--name", "a", "--name", "b",
                    "-q").returncode == 0
    for name in ("cert.pem", "key.pem"):
        (out / "clients" / "a" / name).unlink()
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(out / "clients" / "b"), elsewhere)
    (out / "clients" / "b").symlink_to(elsewhere)
    os.chmod(elsewhere / "key.pem", 0o644)
    done = run_tool("certs", "check", str(out))
    assert done.returncode == 8, done.stdout
    assert "problem: clients/a/cert.pem: missing" in done.stdout
    assert "problem: clients/a/key.pem: missing" in done.stdout
    assert "problem: clients/b/key.pem: readable by others" in done.stdout


def test_control_characters_from_files_are_escaped(tmp_path: Path) -> None:
    out = _set(tmp_path)
    with (out / "SHA256SUMS").open("a") as sums:
        sums.write("0" * 64 + "  \x1b]0;PWNED\x07x.pem\n")
    done = run_tool("certs", "verify-sums", str(out))
    assert done.returncode == 8
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout


def test_a_name_with_a_newline_cannot_forge_a_line_of_check(tmp_path: Path) -> None:
    out = _set(tmp_path)
    (out / "clients" / "a\nproblem: forged").mkdir(parents=True)
    done = run_tool("certs", "check", str(out))
    assert done.returncode == 7, done.stdout  # a stranger in clients/ is a warning
    (line,) = done.stdout.splitlines()
    assert line.startswith("warning: clients/a\\nproblem: forged: not a bundle"), line


def test_a_file_name_sha256sums_cannot_carry_is_left_alone(tmp_path: Path) -> None:
    """A stray .pem whose name is not UTF-8 and holds a newline once ended the run in an
    internal error; it is no file of the tool's: left alone, and out of SHA256SUMS."""
    out = _set(tmp_path)
    stray = out / os.fsdecode(b"\xff\n.pem")
    shutil.copy(out / "ca.pem", stray)
    done = run_tool("certs", "server", "--out", str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert stray.read_bytes() == (out / "ca.pem").read_bytes()
    assert run_tool("certs", "verify-sums", str(out)).returncode == 0
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out,
                          capture_output=True).returncode == 0


# --- a peer that is not a Docker daemon -------------------------------------------------------

def _hostile_daemon(out: Path, behaviour: str) -> tuple[int, threading.Event]:
    """A TLS server with the set's server pair that floods or trickles after the request."""
    import socket
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(out / "server-cert.pem", out / "server-key.pem")
    context.load_verify_locations(out / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        # doctor connects twice: once to judge the daemon, once as the client.
        with listener:
            listener.settimeout(10)
            while not stop.is_set():
                try:
                    raw, _ = listener.accept()
                except OSError:
                    return
                try:
                    with context.wrap_socket(raw, server_side=True) as tls:
                        tls.recv(4096)
                        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json"
                                    b"\r\n\r\n")
                        while not stop.is_set():
                            tls.sendall(b"x" * 65536 if behaviour == "flood" else b"x")
                            if behaviour == "trickle":
                                time.sleep(0.2)
                except OSError:
                    pass  # no client certificate, or the client hung up: what it should do

    threading.Thread(target=serve, daemon=True).start()
    return port, stop


@pytest.mark.parametrize("behaviour,message", [("flood", "passed 256 KiB"),
                                               ("trickle", "no answer")])
def test_doctor_ends_against_a_peer_that_floods_or_trickles(
        tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch, behaviour: str,
        message: str) -> None:
    from minipaas_certs import doctor

    out = _set(tmp_path)
    monkeypatch.setattr(doctor, "TIMEOUT", 3.0)
    port, stop = _hostile_daemon(out, behaviour)
    started = time.monotonic()
    try:
        result = cli("certs", "doctor", "--host", f"127.0.0.1:{port}", str(out))
    finally:
        stop.set()
    assert time.monotonic() - started < 6
    assert result.code == 8
    assert message in result.out


# --- found by a second review -----------------------------------------------------------------

def test_warnings_escape_control_characters_from_a_certificate(tmp_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from cryptography.x509.oid import NameOID

    out = _set(tmp_path)
    ca = load_cert(out / "ca.pem")
    ca_key = load_pem_private_key((out / "ca-key.pem").read_bytes(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    evil = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(9)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("x\x1b]0;PWNED\x07.io")]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    (out / "server-cert.pem").write_bytes(evil.public_bytes(serialization.Encoding.PEM))
    done = run_tool("certs", "env", "--out", str(out), "--host", "10.0.0.5")
    assert done.returncode == 0
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert "\\x1b]0;PWNED\\x07" in done.stderr
    shown = run_tool("certs", "show", str(out))
    assert shown.returncode == 0
    assert "\x1b" not in shown.stdout and "\\x1b]0;PWNED\\x07" in shown.stdout


def test_printed_commands_quote_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "a b"
    assert run_tool("certs", "all", "--out", str(out), "-q").returncode == 0
    done = run_tool("certs", "env", "--out", str(out), "--host", "10.0.0.5", "--name", "nobody")
    assert done.returncode == 5
    assert f"--out '{out}' --name nobody" in one_error(done.stderr)


def test_renew_from_a_ca_dir_whose_ca_changed_can_be_forced(tmp_path: Path) -> None:
    ca_dir, out = tmp_path / "ca", tmp_path / "srv"
    assert run_tool("certs", "ca", "--out", str(ca_dir), "-q").returncode == 0
    assert run_tool("certs", "server", "--out", str(out), "--ca-dir", str(ca_dir),
                    "-q").returncode == 0
    old_ca = (out / "ca.pem").read_bytes()
    assert run_tool("certs", "ca", "--out", str(ca_dir), "--force", "-q").returncode == 0
    refused = run_tool("certs", "renew", "server", "--out", str(out), "--ca-dir", str(ca_dir),
                       "-q")
    assert refused.returncode == 4 and "--force" in one_error(refused.stderr)
    done = run_tool("certs", "renew", "server", "--out", str(out), "--ca-dir", str(ca_dir),
                    "--force", "-q")
    assert done.returncode == 0, done.stderr
    assert (next(out.glob("backup-*")) / "ca.pem").read_bytes() == old_ca
    assert system_verify(out / "ca.pem", out / "server-cert.pem", "sslserver").returncode == 0


@pytest.mark.parametrize("args,message", [
    (["renew", "client", "--san", "10.0.0.9"], "--san is for server certificates"),
    (["client", "--cn", "a", "--name", "b", "--ca-passphrase-file", "/nonexistent"],
     "--cn and --name cannot be combined"),
    (["renew", "server", "--all", "--templates", "/nonexistent"],
     "--all renews every pair as it is"),
])
def test_usage_errors_come_before_files_are_read(tmp_path: Path, args: list[str],
                                                 message: str) -> None:
    done = run_tool("certs", *args, "--out", str(tmp_path / "none"))
    assert done.returncode == 2
    assert message in one_error(done.stderr)
