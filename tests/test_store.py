"""store.py on its own: the lock, staging, commits, the journal, undo and recovery.

The scenario tests (test_faults.py, test_safety.py) drive the same code through the
CLI with real crashes; these pin each rule down where it is written.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from minipaas_certs import journal as journal_module
from minipaas_certs import store as store_module
from minipaas_certs.errors import Conflict, OutputError
from minipaas_certs.layout import JOURNAL, STAGING_PREFIX
from minipaas_certs.store import OutputDirectory


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_second_holder_is_refused_at_once(tmp_path: Path) -> None:
    with OutputDirectory(tmp_path / "d"), pytest.raises(Conflict, match="another"):
        OutputDirectory(tmp_path / "d").__enter__()


def test_entering_creates_private_folders_and_a_failure_removes_them(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    old = os.umask(0)
    try:
        with pytest.raises(RuntimeError), OutputDirectory(target) as held:
            assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
            assert stat.S_IMODE(held.staging.stat().st_mode) == 0o700
            raise RuntimeError("the run fails")
    finally:
        os.umask(old)
    assert not (tmp_path / "a").exists()


def test_commit_moves_files_keeps_backups_and_writes_sums(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "ca.pem").write_text("old ca")
    (out / "server-cert.pem").write_text("old server")
    with OutputDirectory(out) as held:
        held.stage("ca.pem", b"new ca", 0o644)
        held.stage("server-cert.pem", b"new server", 0o644)
        written, backup = held.commit({"ca.pem": 0o644, "server-cert.pem": 0o644},
                                      keep=["ca.pem"])
    assert (out / "ca.pem").read_text() == "new ca"
    assert backup is not None and (backup / "ca.pem").read_text() == "old ca"
    assert not (backup / "server-cert.pem").exists()  # not kept: dropped with staging
    assert "ca.pem" in (out / "SHA256SUMS").read_text()
    assert out / "SHA256SUMS" in written
    assert not list(out.glob(STAGING_PREFIX + "*"))


def journals_written(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Every journal a commit writes, as it is renamed into place."""
    seen: list[dict[str, object]] = []
    real_rename = os.rename

    def spy(source, target):  # type: ignore[no-untyped-def]
        if str(target).endswith(JOURNAL):
            seen.append(json.loads(Path(source).read_text()))
        return real_rename(source, target)

    monkeypatch.setattr(store_module.os, "rename", spy)
    return seen


def test_journal_names_are_relative_and_carry_digests(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "ca.pem").write_text("old")
    seen = journals_written(monkeypatch)
    with OutputDirectory(out) as held:
        held.stage("ca.pem", b"new", 0o644)
        held.commit({"ca.pem": 0o644})
    (journal,) = seen
    moves = {move["name"]: move for move in journal["moves"]}  # type: ignore[union-attr]
    assert moves["ca.pem"]["aside"] == "replaced" and moves["ca.pem"]["old"] is True
    assert len(moves["ca.pem"]["digest"]) == 64  # type: ignore[arg-type]
    assert not any(str(tmp_path) in json.dumps(move) for move in moves.values())


def test_a_failed_move_is_undone(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "ca.pem").write_text("old ca")
    (out / "ca-key.pem").write_text("old key")
    before = _files(out)
    calls = []
    real_replace = os.replace

    def failing(source, target):  # type: ignore[no-untyped-def]
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(store_module.os, "replace", failing)
    with OutputDirectory(out) as held:
        held.stage("ca.pem", b"new ca", 0o644)
        held.stage("ca-key.pem", b"new key", 0o600)
        with pytest.raises(OutputError, match="holds the previous files"):
            held.commit({"ca.pem": 0o644, "ca-key.pem": 0o600})
    assert _files(out) == before


def test_staged_keys_have_their_mode_from_the_start(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with OutputDirectory(tmp_path / "d") as held:
            path = held.stage("clients/ci/key.pem", b"key", 0o600)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        os.umask(old)


def test_staging_refuses_to_write_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    with OutputDirectory(tmp_path / "d") as held:
        (held.staging / "ca-key.pem").symlink_to(victim)
        with pytest.raises(OSError):
            held.stage("ca-key.pem", b"key", 0o600)
    assert victim.read_text() == "keep"


def test_leftover_without_a_journal_is_removed_and_a_foreign_one_kept(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    ours = out / f"{STAGING_PREFIX}ours"
    ours.mkdir(mode=0o700)
    (ours / "server-key.pem").write_text("half")
    with OutputDirectory(out):
        pass
    assert not ours.exists()
    foreign = out / f"{STAGING_PREFIX}foreign"
    foreign.mkdir(mode=0o755)
    with pytest.raises(OutputError, match="not a staging folder of this tool"):
        OutputDirectory(out).__enter__()
    assert foreign.exists()


def test_write_new_leaves_an_existing_file_alone(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / ".gitignore").write_text("mine")
    with OutputDirectory(out) as held:
        assert held.write_new(".gitignore", "theirs", 0o644) is False
        assert held.write_new("notes", "x", 0o644) is True


def test_files_synced_early_commit_with_the_same_sums_and_digests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sync` (many bundles, part by part) changes nothing in what the commit writes."""
    import hashlib

    journals = journals_written(monkeypatch)
    sums = []
    for early in (False, True):
        out = tmp_path / f"d{early}"
        out.mkdir()
        with OutputDirectory(out) as held:
            held.stage("ca.pem", b"ca", 0o644)
            bundle = held.staging / "clients" / "ci"
            bundle.mkdir(parents=True)
            for name, data in (("ca.pem", b"ca"), ("cert.pem", b"cert"), ("key.pem", b"key")):
                (bundle / name).write_bytes(data)
            if early:
                # ca.pem as the caller wrote it (no read), the others read back
                held.sync({bundle / "ca.pem": b"ca", bundle / "cert.pem": None,
                           bundle / "key.pem": None})
                assert held._digests[bundle / "key.pem"] == hashlib.sha256(b"key").hexdigest()
            held.commit({"ca.pem": 0o644}, ["clients/ci"])
        sums.append((out / "SHA256SUMS").read_text())
    assert sums[0] == sums[1] and "clients/ci/cert.pem" in sums[0]
    assert journals[0]["moves"] == journals[1]["moves"]


def _record_commit(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Path]]:
    """Every fsync, folder made, rename (as the folders it changed), and the journal's
    arrival and removal, in order."""
    events: list[tuple[str, Path]] = []
    real_fsync, real_rename, real_replace = store_module.fsync_path, os.rename, os.replace
    real_mkdir, real_unlink = Path.mkdir, Path.unlink  # os.* is bound early on 3.8-3.10

    def fsync(path: Path) -> None:
        events.append(("fsync", Path(path)))
        real_fsync(path)

    def moved(real):  # type: ignore[no-untyped-def]
        def move(source, target):  # type: ignore[no-untyped-def]
            real(source, target)
            if Path(target).name == JOURNAL:
                events.append(("journal", Path(target)))
            elif not Path(source).name.endswith(".part"):
                events.append(("lost", Path(source).parent))
                events.append(("gained", Path(target).parent))
        return move

    def mkdir(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_mkdir(path, *args, **kwargs)
        events.append(("gained", Path(path).parent))

    def unlink(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(path).name == JOURNAL:
            events.append(("done", Path(path)))
        real_unlink(path, *args, **kwargs)

    for module in (store_module, journal_module):  # the commit, and its undo
        monkeypatch.setattr(module, "fsync_path", fsync)
    monkeypatch.setattr(os, "rename", moved(real_rename))
    monkeypatch.setattr(os, "replace", moved(real_replace))
    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(Path, "unlink", unlink)
    return events


def _fsyncs(events: list[tuple[str, Path]]) -> list[Path]:
    return [path for kind, path in events if kind == "fsync"]


@pytest.mark.parametrize("early", [False, True])
def test_every_file_and_folder_is_durable_before_the_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, early: bool) -> None:
    """Each staged file is synced once (by `sync` or by the commit), and each folder
    once, after its entries, all before the journal that makes the change happen."""
    with OutputDirectory(tmp_path) as held:
        top = held.stage("ca.pem", b"ca", 0o644)
        bundle = held.staging / "clients" / "ci"
        bundle.mkdir(parents=True, mode=0o700)  # as the tool makes a bundle's folder
        files = [bundle / name for name in ("ca.pem", "cert.pem", "key.pem")]
        for path in files:
            path.write_bytes(path.name.encode())
        events = _record_commit(monkeypatch)
        if early:
            held.sync(dict.fromkeys(files))
        held.commit({"ca.pem": 0o644}, ["clients/ci"])
    journal = next(i for i, (kind, _) in enumerate(events) if kind == "journal")
    before = _fsyncs(events[:journal])
    for path in [*files, top]:
        assert before.count(path) == 1, path
    assert before.count(bundle) == 1
    assert before.index(bundle) > max(before.index(path) for path in files)
    after = _fsyncs(events[journal:])  # the renames: each folder they changed, clients/ too
    assert tmp_path in after and tmp_path / "clients" in after


@pytest.mark.parametrize("scenario", ["kept bundle", "archived bundle", "replaced file"])
def test_every_folder_a_commit_changes_is_durable_before_the_journal_goes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str) -> None:
    """Each folder that gains an entry (a backup, its clients/, `replaced` in staging,
    clients/ in the directory) or loses one outside staging is synced after the
    change and before the journal is removed; and a folder old files go into is
    durable before they do."""
    out = tmp_path / "d"
    (out / "clients" / "ci").mkdir(parents=True)
    (out / "clients" / "ci" / "key.pem").write_bytes(b"old key")
    (out / "server-cert.pem").write_bytes(b"old server")
    with OutputDirectory(out) as held:
        held.stage("ca.pem", b"ca", 0o644)
        if scenario == "kept bundle":
            bundle = held.staging / "clients" / "ci"
            bundle.mkdir(parents=True)
            (bundle / "key.pem").write_bytes(b"new key")
        if scenario == "replaced file":
            held.stage("server-cert.pem", b"new server", 0o644)
        events, staging = _record_commit(monkeypatch), held.staging
        if scenario == "kept bundle":
            held.commit({"ca.pem": 0o644}, ["clients/ci"], keep=["clients/ci"])
        elif scenario == "archived bundle":
            held.commit({"ca.pem": 0o644}, archive=["clients/ci"])
        else:
            held.commit({"ca.pem": 0o644, "server-cert.pem": 0o644})
    done = events.index(("done", staging / JOURNAL))
    # Staging losing a new file needs no sync: it is discarded, and the undo looks in
    # both places; every other change does.
    changes = [(i, path) for i, (kind, path) in enumerate(events[:done]) if kind == "gained"
               or (kind == "lost" and staging not in (path, *path.parents))]
    assert out / "clients" in {path for _, path in changes} or scenario == "replaced file"
    for i, folder in changes:
        assert ("fsync", folder) in events[i:done], folder
    assert ("fsync", staging) in events[done:]  # the journal durably gone: no undo later
    first_old_move = next(i for i, (kind, path) in enumerate(events) if kind == "lost"
                          and path in (out, out / "clients"))
    for i, (kind, folder) in enumerate(events[:first_old_move]):
        if kind == "gained" and folder != staging:  # a folder made for old files
            assert ("fsync", folder) in events[i:first_old_move], folder


def test_a_synced_folder_that_changes_is_synced_again(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`sync` notes what it made durable; a folder that gains an entry or has its
    mode corrected afterwards is not skipped by the commit."""
    with OutputDirectory(tmp_path) as held:
        grown, moded = held.staging / "clients" / "a", held.staging / "clients" / "b"
        for bundle in (grown, moded):
            bundle.mkdir(parents=True, mode=0o700)
            (bundle / "cert.pem").write_bytes(b"c")
        events = _record_commit(monkeypatch)
        held.sync({grown / "cert.pem": b"c", moded / "cert.pem": None})
        (grown / "key.pem").write_bytes(b"k")
        os.chmod(moded, 0o750)
        mark = len(events)
        held.commit({}, ["clients/a", "clients/b"])
    synced = _fsyncs(events[mark:])
    assert synced.count(grown / "key.pem") == 1
    assert grown in synced and moded in synced
    assert grown / "cert.pem" not in synced
    assert stat.S_IMODE((tmp_path / "clients" / "b").stat().st_mode) == 0o700


def test_an_undo_makes_the_folders_it_restores_into_durable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit that fails after old bundles left clients/ puts them back, and syncs
    clients/ after it has (the staging folder that held them goes next)."""
    out = tmp_path / "d"
    (out / "clients" / "ci").mkdir(parents=True)
    (out / "clients" / "ci" / "key.pem").write_bytes(b"old key")
    with OutputDirectory(out) as held:
        bundle = held.staging / "clients" / "ci"
        bundle.mkdir(parents=True, mode=0o700)
        (bundle / "key.pem").write_bytes(b"new key")
        events = _record_commit(monkeypatch)
        recorded_replace = os.replace

        def replace(source, target):  # type: ignore[no-untyped-def]
            if Path(target).name == "SHA256SUMS":
                raise OSError(28, "No space left on device")
            recorded_replace(source, target)

        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(OutputError, match="holds the previous files"):
            held.commit({}, ["clients/ci"], keep=["clients/ci"])
    assert (out / "clients" / "ci" / "key.pem").read_bytes() == b"old key"
    restored = max(i for i, event in enumerate(events) if event == ("gained", out / "clients"))
    assert ("fsync", out / "clients") in events[restored:]


def test_a_failed_early_sync_is_one_clear_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_module, "fsync_path", failing)
    with OutputDirectory(tmp_path) as held:
        held.stage("ca.pem", b"ca", 0o644)
        with pytest.raises(OutputError, match=r"cannot write .*Input/output error"):
            held.sync({held.staged("ca.pem"): None})
