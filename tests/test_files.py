"""files.py: bounded reads of regular files only, private writes and folders."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from conftest import plant

from minipaas_certs.errors import CAProblem, OutputError
from minipaas_certs.files import (
    make_private_dirs,
    read_limited,
    remove_created_dirs,
    write_private,
)


def test_reads_a_regular_file_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_limited(tmp_path / "link", 4) == b"data"


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "folder", "too large"])
def test_refuses_anything_else_at_once(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x"
    plant(path, kind, b"a" * 11)
    started = time.monotonic()
    with pytest.raises(CAProblem):
        read_limited(path, 10, error=CAProblem)
    assert time.monotonic() - started < 1


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"cannot read .*missing"):
        read_limited(tmp_path / "missing")


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_write_private_sets_the_exact_mode_whatever_the_umask(tmp_path: Path, mode: int) -> None:
    for umask in (0o000, 0o077):
        old = os.umask(umask)
        try:
            path = tmp_path / f"f-{umask}-{mode}"
            write_private(path, b"x", mode)
        finally:
            os.umask(old)
        assert stat.S_IMODE(path.stat().st_mode) == mode


def test_write_private_never_follows_or_reuses(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(OSError):
        write_private(tmp_path / "link", b"key", 0o600)
    with pytest.raises(FileExistsError):
        write_private(victim, b"key", 0o600)
    assert victim.read_text() == "keep"


def test_private_dirs_are_0700_and_only_they_are_removed(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    old = os.umask(0)
    try:
        created = make_private_dirs(tmp_path / "kept" / "a" / "b")
    finally:
        os.umask(old)
    assert created == [tmp_path / "kept" / "a", tmp_path / "kept" / "a" / "b"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in created)
    remove_created_dirs(created)
    assert (tmp_path / "kept").is_dir() and not (tmp_path / "kept" / "a").exists()


def test_a_folder_someone_filled_is_not_removed(tmp_path: Path) -> None:
    created = make_private_dirs(tmp_path / "a" / "b")
    (tmp_path / "a" / "theirs.txt").write_text("x")
    remove_created_dirs(created)
    assert (tmp_path / "a" / "theirs.txt").exists()
