"""`certs prune` and --keep-backups: only the tool's own backup folders go, in one
journaled step that a crash at any rename, unlink or rmdir cannot split; `check`
counts the backups that still hold usable keys."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_tool
from test_safety import snapshot

from minipaas_certs.store import STAGING_PREFIX


def backups(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("backup-*"))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set with four backups: two of a server pair, a client bundle's, one dated 2020."""
    out = tmp_path_factory.mktemp("made") / "certs"
    assert run_tool("certs", "all", "--out", str(out), "-q").returncode == 0
    assert run_tool("certs", "client", "--out", str(out), "--name", "ci", "-q").returncode == 0
    assert run_tool("certs", "client", "--out", str(out), "--name", "ci", "--force",
                    "-q").returncode == 0
    for _ in range(3):
        assert run_tool("certs", "renew", "server", "--out", str(out), "-q").returncode == 0
    oldest = backups(out)[0]  # a backup the tool made, as it would be named in 2020
    (out / oldest).rename(out / "backup-20200101T000000")
    assert len(backups(out)) == 4
    return out


@pytest.fixture
def out(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "certs"
    shutil.copytree(made, copy, symlinks=True)
    return copy


def prune(out: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return run_tool("certs", "prune", "--out", str(out), *args, cwd=cwd, env=env)


def test_keep_removes_the_oldest_and_json_lists_both(out: Path) -> None:
    before = backups(out)
    done = prune(out, "--keep", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"schema": 1, "directory": str(out),
                                       "removed": before[:3], "kept": before[3:], "left": []}
    assert backups(out) == before[3:]
    assert not list(out.glob(STAGING_PREFIX + "*"))
    assert run_tool("certs", "check", str(out)).returncode == 0


def test_older_than_goes_by_the_date_in_the_name(out: Path) -> None:
    done = prune(out, "--older-than", "30")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"removed: {out}/backup-20200101T000000\n"
    assert len(backups(out)) == 3
    both = prune(out, "--older-than", "0", "--keep", "2")  # both: only what both select
    assert both.returncode == 0 and len(backups(out)) == 2


@pytest.mark.parametrize("args, code, message", [
    ([], 2, "Error: say what to remove: --keep N, --older-than DAYS, or both"),
    (["--keep", "-1"], 2, "Error: Invalid value for '--keep'"),
])
def test_usage_errors_are_one_line_and_change_nothing(out: Path, args: list[str], code: int,
                                                      message: str) -> None:
    before = snapshot(out)
    done = prune(out, *args)
    assert done.returncode == code and done.stderr.startswith(message), done.stderr
    assert "Traceback" not in done.stderr and snapshot(out) == before


def test_a_missing_folder_is_exit_6(tmp_path: Path) -> None:
    done = prune(tmp_path / "nothing", "--keep", "1")
    assert done.returncode == 6 and done.stderr.startswith("Error: ") and \
        len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "nothing").exists()


def _plant(out: Path, tool_backup: str, kind: str, elsewhere: Path) -> str:
    """Something named like a backup that the tool did not make; its name."""
    if kind == "symlink":  # to a real backup of the tool, moved out of the folder
        (out / tool_backup).rename(elsewhere / "real")
        (out / "backup-20190101T000000").symlink_to(elsewhere / "real")
        return "backup-20190101T000000"
    if kind == "stranger file":
        (out / tool_backup / "notes.txt").write_text("mine\n")
        return tool_backup
    if kind == "stranger symlink inside":
        (out / tool_backup / "key.pem").symlink_to(elsewhere)
        return tool_backup
    if kind == "mode 0755":
        os.chmod(out / tool_backup, 0o755)
        return tool_backup
    if kind == "a file":
        (out / "backup-20190101T000000").write_text("not a folder\n")
        return "backup-20190101T000000"
    if kind in ("another name", "no such date"):
        name = "backup-old" if kind == "another name" else "backup-20191399T996199"
        (out / tool_backup).rename(out / name)
        return name
    name = "backup-20190101T000000\nrm -rf ~"  # hostile: a newline and a command
    (out / tool_backup).rename(out / name)
    return name


@pytest.mark.parametrize("kind", ["symlink", "stranger file", "stranger symlink inside",
                                  "mode 0755", "a file", "another name", "no such date",
                                  "hostile name"])
def test_what_the_tool_did_not_make_is_left_and_named(out: Path, tmp_path: Path,
                                                      kind: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = _plant(out, backups(out)[0], kind, elsewhere)
    before, outside = snapshot(out), snapshot(elsewhere)
    done = prune(out, "--keep", "0", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [item["name"] for item in report["left"]] == [planted]
    assert planted not in report["removed"] and report["kept"] == []
    (warning,) = done.stderr.splitlines()  # one line, a newline in the name escaped
    assert warning.startswith("Warning: left ") and "not a backup folder this tool made" \
        in warning
    assert os.path.lexists(out / planted)
    assert {k: v for k, v in snapshot(out).items() if k.startswith(planted)} == \
        {k: v for k, v in before.items() if k.startswith(planted)}
    assert snapshot(elsewhere) == outside
    assert [p.name for p in out.glob("backup*")] == [planted]


# --- crashes at every rename, unlink and rmdir ---------------------------------------------

CRASHING = """
import os, sys
from minipaas_certs.cli import main
limit, count = int(sys.argv[1]), [0]
def counted(real):
    def call(*args, **kwargs):
        count[0] += 1
        if count[0] == limit:
            os._exit(99)  # as a power loss or SIGKILL would: no cleanup at all
        return real(*args, **kwargs)
    return call
for name in ("rename", "replace", "unlink", "rmdir"):
    setattr(os, name, counted(getattr(os, name)))
code = main(sys.argv[2:])
print(count[0], file=sys.stderr)
sys.exit(code)
"""


def crash(cwd: Path, limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CRASHING, str(limit), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [
    ["certs", "prune", "--keep", "1"],
    ["certs", "renew", "server", "--keep-backups", "1"],
])
def test_crash_at_every_step_leaves_each_backup_whole_or_gone(made: Path, tmp_path: Path,
                                                              command: list[str]) -> None:
    """Killed at each rename, unlink or rmdir: every backup is byte for byte as it was,
    or absent; the next run from another working directory finishes the job."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    probe = tmp_path / "a" / "certs"
    shutil.copytree(made, probe, symlinks=True)
    full = crash(tmp_path / "a", 10**6, *command, "--out", "certs", "-q")
    assert full.returncode == 0, full.stderr
    steps = int(full.stderr.splitlines()[-1])
    assert steps >= 5
    originals = {name: snapshot(made / name) for name in backups(made)}
    for limit in range(1, steps + 1):
        shutil.rmtree(probe)
        shutil.copytree(made, probe, symlinks=True)
        crashed = crash(tmp_path / "a", limit, *command, "--out", "certs", "-q")
        assert crashed.returncode == 99, (limit, crashed.stderr)
        for name, files in originals.items():
            if os.path.lexists(probe / name):
                assert snapshot(probe / name) == files, (limit, name)
        again = run_tool("certs", "prune", "--out", str(probe), "--keep", "1", "--json",
                         cwd=tmp_path / "b")
        assert again.returncode == 0, (limit, again.stderr)
        assert json.loads(again.stdout)["left"] == []
        (last,) = backups(probe)
        if last in originals:
            assert snapshot(probe / last) == originals[last]
        assert not list(probe.glob(STAGING_PREFIX + "*")), limit
        assert run_tool("certs", "check", str(probe)).returncode == 0, limit


# --- retention on writing commands, and check ----------------------------------------------

def test_keep_backups_from_the_environment_bounds_a_cron_job(out: Path) -> None:
    for _ in range(2):
        done = run_tool("certs", "renew", "client", "--out", str(out), "-q",
                        env={"MINIPAAS_KEEP_BACKUPS": "2"})
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # -q: the removals are progress
        assert len(backups(out)) == 2
    told = run_tool("certs", "renew", "server", "--out", str(out), "--keep-backups", "1")
    assert told.returncode == 0 and len(backups(out)) == 1
    assert "Removed the backup folder" in told.stderr and "(--keep-backups 1)" in told.stderr


def test_check_counts_backups_holding_live_keys_without_changing_its_exit(out: Path) -> None:
    done = run_tool("certs", "check", str(out))
    assert done.returncode == 0
    (line,) = done.stderr.splitlines()  # stdout is the findings alone, as before
    assert done.stdout.startswith("OK: ") and len(done.stdout.splitlines()) == 1
    assert line.startswith("Warning: 4 backup folders still hold private keys of unexpired "
                           "certificates (backup-20200101T000000, ")
    assert f"fix: `minipaas certs prune --out {out} --keep 1`" in line
    assert json.loads(run_tool("certs", "check", str(out), "--json").stdout)[
        "live_backups"] == backups(out)
    assert prune(out, "--keep", "0").returncode == 0
    after = run_tool("certs", "check", str(out))
    assert after.returncode == 0 and after.stderr == ""


@pytest.mark.parametrize("move", [
    {"name": "backup-20200101T000000", "aside": "replaced", "old": True, "new": True},
    {"name": "backup-20200101T000000", "aside": "backup-20210101T000000", "old": True,
     "new": False},
    {"name": "backup-x/../..", "aside": "replaced", "old": True, "new": False},
    {"name": "backup-20200101T000000/../../victim", "aside": "replaced", "old": True,
     "new": False},
])
def test_a_planted_journal_cannot_bring_folders_in_as_backups(out: Path, move: dict[str, object]
                                                              ) -> None:
    """Recovery moves a whole folder only as a prune set it aside: named as a backup,
    out of the staging folder, nothing in its place."""
    planted = out / f"{STAGING_PREFIX}planted"
    (planted / "replaced" / "backup-20200101T000000").mkdir(parents=True)
    os.chmod(planted, 0o700)
    (planted / "journal.json").write_text(json.dumps(
        {"version": 2, "moves": [{**move, "digest": ""}]}))
    before = snapshot(out)
    done = run_tool("certs", "prune", "--out", str(out), "--keep", "9")
    assert done.returncode == 6 and "is not a journal this tool wrote" in done.stderr
    assert snapshot(out) == before


def test_a_bad_retention_is_a_usage_error_before_anything_is_written(out: Path) -> None:
    before = snapshot(out)
    done = run_tool("certs", "renew", "server", "--out", str(out),
                    env={"MINIPAAS_KEEP_BACKUPS": "two"})
    assert done.returncode == 2 and "Error: Invalid value for '--keep-backups'" in done.stderr
    assert "Traceback" not in done.stderr and snapshot(out) == before


def test_backups_whose_certificates_all_expired_are_not_counted(out: Path) -> None:
    from minipaas_certs.prune import live_backups

    assert live_backups(out) == backups(out)
    assert live_backups(out, datetime.datetime(2200, 1, 1, tzinfo=datetime.timezone.utc)) == []


def test_a_new_backup_never_takes_a_name_a_prune_freed(out: Path) -> None:
    """Named after every backup of its second: else the newest would sort first and the
    next prune would remove it as the oldest."""
    from minipaas_certs.layout import backup_name
    from minipaas_certs.store import OutputDirectory

    with OutputDirectory(out) as store:
        start = datetime.datetime.now()
        stamps = [(start + datetime.timedelta(seconds=s)).strftime("%Y%m%dT%H%M%S")
                  for s in range(3)]
        for stamp in stamps:  # the plain name and -2 were pruned; -3 is left
            (out / backup_name(stamp, 3)).mkdir()
        name = store._new_backup_name()
    assert name in [backup_name(stamp, 4) for stamp in stamps], name
