"""--dry-run: prints what a real run would do, then exits 0 having changed nothing on
disk -- no file, backup, lock or staging folder, mode or mtime -- and agrees with the
real run that follows."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import run_tool
from test_prune import backups
from test_prune import made as made  # the module fixture, shared


def lstat_tree(folder: Path) -> dict[str, tuple[int, int, int, int, int]]:
    """Every entry under ``folder`` (and itself) by lstat: mode, size, mtime, inode,
    link count; a file or folder made, removed, moved, touched or chmod-ed shows."""
    found = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = os.lstat(path)
        found[str(path.relative_to(folder))] = (info.st_mode, info.st_size,
                                                info.st_mtime_ns, info.st_ino, info.st_nlink)
    return found


@pytest.fixture
def out(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "certs"
    shutil.copytree(made, copy, symlinks=True)
    return copy


def test_prune_dry_run_names_what_goes_and_the_real_run_agrees(out: Path) -> None:
    before, tree = backups(out), lstat_tree(out)
    dry = run_tool("certs", "prune", "--out", str(out), "--keep", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == "".join(f"would remove: {out / name}\n" for name in before[:3])
    assert "Dry run: nothing was changed" in dry.stderr
    assert lstat_tree(out) == tree
    as_json = run_tool("certs", "prune", "--out", str(out), "--keep", "1", "--dry-run",
                       "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        "schema": 1, "directory": str(out), "removed": before[:3], "kept": before[3:],
        "left": [], "dry_run": True, "undo": []}
    assert lstat_tree(out) == tree
    real = run_tool("certs", "prune", "--out", str(out), "--keep", "1", "--json")
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["removed"] == before[:3]
    assert backups(out) == before[3:]


def test_prune_dry_run_refuses_as_the_real_run_does(out: Path, tmp_path: Path) -> None:
    tree = lstat_tree(out)
    usage = run_tool("certs", "prune", "--out", str(out), "--dry-run")
    assert usage.returncode == 2
    assert usage.stderr.strip().splitlines()[-1] == \
        "Error: say what to remove: --keep N, --older-than DAYS, or both"
    missing = run_tool("certs", "prune", "--out", str(tmp_path / "none"), "--keep", "1",
                       "--dry-run")
    assert missing.returncode == 6 and not (tmp_path / "none").exists()
    assert lstat_tree(out) == tree
