"""journal.py on its own: a journal read back only as this tool writes it, and the undo
it drives (the commits that write journals are test_store's)."""

from __future__ import annotations

import json
from pathlib import Path

from minipaas_certs.journal import (
    JOURNAL_VERSION,
    Journal,
    Move,
    read_journal,
    sha256,
    undo,
    unrestored,
)
from minipaas_certs.layout import JOURNAL, REPLACED


def _leftover(root: Path, content: object) -> Path:
    staging = root / ".minipaas-staging-test"
    staging.mkdir(mode=0o700)
    (staging / JOURNAL).write_text(json.dumps(content))
    return staging


def _journal(*moves: dict[str, object], version: int = JOURNAL_VERSION) -> dict[str, object]:
    return {"version": version, "moves": list(moves), "made": [], "loose": {}}


SERVER = {"name": "server-cert.pem", "aside": REPLACED, "old": True, "new": True,
          "digest": "d"}


def test_a_journal_this_tool_wrote_is_read_back(tmp_path: Path) -> None:
    leftover = _leftover(tmp_path, _journal(SERVER))
    assert read_journal(tmp_path, leftover) == Journal(
        [Move("server-cert.pem", REPLACED, True, True, "d")], [], {})


def test_a_journal_naming_what_the_tool_never_writes_is_not_trusted(tmp_path: Path) -> None:
    for planted in ({**SERVER, "name": "../outside.pem"}, {**SERVER, "name": "notes.txt"},
                    {**SERVER, "aside": "elsewhere"}, {**SERVER, "old": "yes"}):
        leftover = _leftover(tmp_path, _journal(planted))
        assert read_journal(tmp_path, leftover) is None, planted
        (leftover / JOURNAL).unlink()
        leftover.rmdir()


def test_a_journal_of_another_version_or_shape_is_not_trusted(tmp_path: Path) -> None:
    for content in (_journal(SERVER, version=JOURNAL_VERSION + 1), {"moves": "x"}, [1]):
        leftover = _leftover(tmp_path, content)
        assert read_journal(tmp_path, leftover) is None, content
        (leftover / JOURNAL).unlink()
        leftover.rmdir()


def test_undo_puts_the_old_file_back_and_the_new_one_aside(tmp_path: Path) -> None:
    staging = tmp_path / ".minipaas-staging-test"
    (staging / REPLACED).mkdir(parents=True)
    (tmp_path / "server-cert.pem").write_bytes(b"new")
    (staging / REPLACED / "server-cert.pem").write_bytes(b"old")
    moves = [Move("server-cert.pem", REPLACED, True, True, sha256(b"new"))]
    assert unrestored(tmp_path, moves, staging) == ["server-cert.pem"]
    undo(tmp_path, Journal(moves, [], {}), staging)
    assert (tmp_path / "server-cert.pem").read_bytes() == b"old"
    assert (staging / "server-cert.pem").read_bytes() == b"new"
    assert unrestored(tmp_path, moves, staging) == []
    undo(tmp_path, Journal(moves, [], {}), staging)  # run again: nothing changes
    assert (tmp_path / "server-cert.pem").read_bytes() == b"old"


def test_undo_leaves_a_file_it_did_not_write(tmp_path: Path) -> None:
    """Only the new file the journal's digest names goes back to staging."""
    staging = tmp_path / ".minipaas-staging-test"
    staging.mkdir()
    (tmp_path / "server-cert.pem").write_bytes(b"someone else's")
    moves = [Move("server-cert.pem", REPLACED, False, True, sha256(b"new"))]
    undo(tmp_path, Journal(moves, [], {}), staging)
    assert (tmp_path / "server-cert.pem").read_bytes() == b"someone else's"
    assert unrestored(tmp_path, moves, staging) == ["server-cert.pem"]
