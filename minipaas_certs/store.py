"""The output directory: its lock, a private staging folder, and the final moves.

Every file of a run is written into a 0700 staging folder inside the output
directory (so each final move is a rename on one filesystem), checked, and only
then moved into place.  The moves follow a journal kept in the staging folder:

1. the journal lists each name, whether an old file is there and where it goes
   (a dated backup folder, or the staging folder when nothing needs keeping),
   and whether a new file comes in, the folders the moves create, and the
   modes of old keys made private in the backup; names are relative to the
   directory, so the journal stays true from any working directory and after a
   rename;
2. the old files are renamed aside;
3. the new files are renamed into place; the journal is removed.

A failure during 2-3 undoes the renames at once; a crash (power loss, SIGKILL)
during them is undone by the next run, which finds the journal under the lock.
Recovery trusts a journal only in a real 0700 folder of the current user, and
only for names the tool writes; it deletes a staging folder only once every old
file it lists is back in place.  So the directory holds the old set or the
complete new one, never a mix, and nothing is ever lost to a recovery.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from . import interrupts
from .errors import Conflict, OutputError, listed, quote
from .files import (
    describe,
    fsync_path,
    make_private_dirs,
    remove_created_dirs,
    write_private,
)
from .identity import PROGRAM
from .journal import (
    JOURNAL_VERSION,
    Journal,
    Move,
    aside_folder,
    digest_of,
    file_digest,
    make_subdirs,
    missing_parents,
    owned_private_dir,
    read_journal,
    set_mode,
    sha256,
    undo,
    unrestored,
)
from .layout import (
    BACKUP_NAME,
    CERT_MODE,
    CLIENTS_DIR,
    DIR_MODE,
    JOURNAL,
    KEY_MODE,
    REPLACED,
    SERVERS_DIR,
    STAGING_PREFIX,
    SUMS_FILE,
    backup_name,
    is_bundle_name,
    is_key,
    is_public,
    public_files,
)
from .parallel import run_all
from .sums import render as render_sums

_SYNC_THREADS = 8
_OPEN_ATTEMPTS = 10
def _synced_digest(path: Path) -> str:
    """Make ``path`` durable; return its SHA-256."""
    digest = file_digest(path)
    fsync_path(path)
    return digest


def _same_folder(descriptor: int, path: Path) -> bool:
    """Whether the open folder ``descriptor`` is still the one at ``path``."""
    try:
        there, held = os.stat(path), os.fstat(descriptor)
    except OSError:
        return False
    return (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)


def _new_staging_folder(parent: Path) -> Path:
    """A new 0700 staging folder (tempfile would cost its import at every start).

    Its path is absolute: openssl runs in folders inside it.
    """
    while True:
        path = Path(os.path.abspath(parent)) / f"{STAGING_PREFIX}{os.urandom(6).hex()}"
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(path, DIR_MODE)
        return path


def _entries(path: Path) -> list[Path]:
    """``path``, and everything under it if it is a real folder; no symlink is followed
    (a symlink is an entry, not a way elsewhere)."""
    if not os.path.isdir(path) or os.path.islink(path):
        return [path] if os.path.lexists(path) else []
    found = [path]
    for top, folders, files in os.walk(path):  # does not follow symlinks
        found += [Path(top, name) for name in (*files, *folders)]
    return found


def _loose_keys(root: Path, names: Iterable[str]) -> dict[str, int]:
    """The key files at or under ``names`` (relative to ``root``) that others may read,
    with their modes: moved into a backup, they are made 0600."""
    found = {}
    for name in names:
        for candidate in _entries(root / name):
            info = os.lstat(candidate)
            if stat.S_ISREG(info.st_mode) and is_key(candidate.name) and info.st_mode & 0o077:
                found[str(candidate.relative_to(root))] = stat.S_IMODE(info.st_mode)
    return found


class OutputDirectory:
    """An output directory held for one run (a context manager).

    Entering creates the directory (0700, and any missing parents) if needed,
    takes an exclusive lock on it (a second run fails at once instead of
    interleaving files), undoes what a crashed run left, and makes a fresh
    staging folder.  Leaving removes the staging folder and, if the run failed,
    the folders it created, if empty, while it holds the lock (a run that lost
    the race to lock a folder it made leaves it to the winner working in it).
    Signals inside are handled cooperatively (see ``interrupts``): the run stops
    at its next check and still cleans up.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.staging = path  # replaced on entry
        self._fd: int | None = None
        self._created: list[Path] = []
        self._locked = False  # the lock is held on the folder at ``path``
        self._keep_staging = False  # an undo failed: the next run needs its journal
        self.undone: list[Path] = []  # crashed runs whose changes entering undid
        self._digests: dict[Path, str] = {}  # of staged files made durable by `sync`
        self._synced_folders: set[Path] = set()  # the folders that hold them
        self._shared: dict[Path, int] = {}  # folders read under a shared lock: --ca-dir
        self._scope = interrupts.cooperative()

    def __enter__(self) -> OutputDirectory:
        self._scope.__enter__()
        try:
            self._open()
            for leftover in sorted(self.path.glob(STAGING_PREFIX + "*")):
                self._recover(leftover)
            self.staging = _new_staging_folder(self.path)
            interrupts.check()
        except OSError as error:
            self._leave(failed=True)
            raise OutputError(f"cannot write in {self.path}: {describe(error)}") from None
        except BaseException:
            self._leave(failed=True)
            raise
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self._leave(failed=kind is not None)  # raises Interrupted if a signal came

    def _leave(self, failed: bool) -> None:
        try:
            if self.staging != self.path and not self._keep_staging:
                shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = self.path
            for folder in list(self._shared):
                self.unshare(folder)
            # Only while the lock is held: a run that did not get it leaves the folders
            # it made to the run that holds it, which may be working in them.
            if failed and self._locked:
                remove_created_dirs(self._created)
            if self._fd is not None:
                os.close(self._fd)  # closing releases the lock
                self._fd = None
                self._locked = False
        finally:
            self._scope.__exit__(None, None, None)  # a signal received: Interrupted

    def _open(self) -> None:
        for _ in range(_OPEN_ATTEMPTS):
            if self._open_and_lock():
                return
        raise OutputError(f"cannot lock {self.path}: other runs kept removing and making "
                          "it again; try again")

    def _open_and_lock(self) -> bool:
        """Create the directory if needed and lock it; False if what was locked is no
        longer the folder at that path (a run that made it failed and removed it)."""
        if not os.path.isdir(self.path):
            # Seen absent, it may be a folder by the next look: a racing run made it.
            if os.path.lexists(self.path) and not os.path.isdir(self.path):
                raise OutputError(f"{self.path} exists and is not a directory")
            try:
                self._created += make_private_dirs(self.path)
            except FileNotFoundError:
                return False  # a parent was removed meanwhile by a run that made it
            except OSError as error:
                raise OutputError(f"cannot create {self.path}: {describe(error)}") from None
        try:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False  # removed since it was made or seen
        except OSError as error:
            raise OutputError(f"cannot open {self.path}: {describe(error)}") from None
        try:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(
                f"another {PROGRAM} run is using {self.path}; try again when it ends"
            ) from None
        except OSError as error:
            raise OutputError(f"cannot lock {self.path}: {describe(error)}") from None
        if _same_folder(self._fd, self.path):
            self._locked = True
            return True
        os.close(self._fd)
        self._fd = None
        return False

    def share(self, folder: Path) -> None:
        """Hold a shared lock on another output directory (a --ca-dir) until the run ends:
        a run changing it holds its exclusive lock, so this fails at once (exit 4)."""
        if folder in self._shared:
            return
        try:
            descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return  # no such folder: reading the CA there says so, with the command to run
        try:
            _lock_shared(descriptor, folder)
        except BaseException:
            os.close(descriptor)
            raise
        self._shared[folder] = descriptor

    def unshare(self, folder: Path) -> None:
        descriptor = self._shared.pop(folder, None)
        if descriptor is not None:
            os.close(descriptor)

    def snapshot(self, names: Iterable[str]) -> frozenset[str]:
        """Which of ``names`` the directory holds (a symlink counts, even dangling): the
        one view of the folder, taken under the lock, from which a plan decides what
        it replaces."""
        return frozenset(name for name in names if self.holds(name))

    def holds(self, name: str) -> bool:
        """Whether ``name`` exists in the directory (a symlink counts, even dangling)."""
        return os.path.lexists(self.path / name)

    def refuse_links(self, names: Iterable[str]) -> None:
        """Refuse a run that would write into or replace ``names`` (relative) when one of
        them lies in, or is, a role or bundle folder that is a symlink."""
        refuse_links(self.path, names)

    def existing(self, names: Iterable[str]) -> list[str]:
        """The given names that already exist in the directory."""
        return [name for name in names if self.holds(name)]

    def staged(self, name: str) -> Path:
        return self.staging / name

    def stage(self, name: str, data: bytes, mode: int) -> Path:
        """Write a new file into the staging folder with its final mode from the start."""
        make_subdirs(self.staging, name)
        write_private(self.staged(name), data, mode)
        return self.staged(name)

    def sync(self, files: Mapping[Path, bytes | None]) -> None:
        """Make staged files and the folders that hold them durable now, while the run
        goes on, and note the files' digests: the commit neither reads nor syncs them
        again.  No staged file changes, and no such folder gains an entry, once
        synced.  ``files`` maps each file to the bytes the caller wrote into it (its
        digest needs no read), or to None."""
        def durable(path: Path) -> str:
            data = files[path]
            if data is None:
                return _synced_digest(path)
            fsync_path(path)
            return sha256(data)

        paths = list(files)
        folders = list(dict.fromkeys(path.parent for path in paths))
        try:
            digests = run_all([functools.partial(durable, path) for path in paths],
                              _SYNC_THREADS)
            run_all([functools.partial(fsync_path, folder) for folder in folders],
                    _SYNC_THREADS)  # after their files: each entry names a durable file
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {describe(error)}") from None
        self._digests.update(zip(paths, digests))
        self._synced_folders.update(folders)

    def _aside_folder(self, aside: str) -> Path:
        return aside_folder(self.path, self.staging, aside)

    def _new_backup_name(self) -> str:
        """A name after every backup of this second, never one a prune freed: the
        newest backup must sort last, or the next prune would take it for the oldest."""
        stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
        base = backup_name(stamp)
        used = [1 if path.name == base else int(path.name[len(base) + 1:])
                for path in self.path.glob(f"{base}*")
                if path.name.startswith(base) and BACKUP_NAME.match(path.name)]
        return backup_name(stamp, max(used, default=0) + 1)

    def commit(self, files: dict[str, int], folders: Iterable[str] = (),
               keep: Iterable[str] = (), archive: Iterable[str] = ()
               ) -> tuple[list[Path], Path | None]:
        """Move staged files (with their modes) and whole folders into place.

        What they replace goes into a new dated backup folder for the names in
        ``keep``; anything else replaced is dropped with the staging folder.  The
        names in ``archive`` are moved into the backup folder with nothing in
        their place.  Renaming over the old names never follows a planted
        symlink or reuses a mode.  Returns the files now in place and the backup
        folder (if one was made).
        """
        folders, keep, archive = list(folders), set(keep), set(archive)
        self.refuse_links([*files, *folders, *archive])  # before anything moves
        digests = dict(self._digests)  # each file is read once, here or by `sync`
        try:
            self.stage(SUMS_FILE, self._sums_after(files, folders, archive, digests).encode(),
                       CERT_MODE)
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {describe(error)}") from None
        files = {**files, SUMS_FILE: CERT_MODE}
        names = [*files, *folders]
        old = set(self.existing([*names, *archive]))
        kept = {name for name in old if name in keep or name in archive}
        backup = self._new_backup_name() if kept else None
        moves = [Move(name, backup if backup and name in kept else REPLACED, name in old,
                      name not in archive,
                      (digest_of(self.staged(name), digests) or "") if name not in archive
                      else "")
                 for name in dict.fromkeys([*names, *sorted(archive)])
                 if name in old or name not in archive]
        made = list(dict.fromkeys(str(folder.relative_to(self.path)) for move in moves
                                  if move.new
                                  for folder in missing_parents(self.path, move.name)))
        loose = _loose_keys(self.path, [move.name for move in moves
                                        if move.old and move.aside == backup])
        record = Journal(moves, made, loose)
        journal = self.staging / JOURNAL
        try:
            durable = []
            for name, mode in files.items():
                os.chmod(self.staged(name), mode)
                durable.append(self.staged(name))
            for name in folders:  # what `sync` made durable is not synced again
                folder = self.staged(name)
                fresh = [path for path in folder.iterdir() if path not in self._digests]
                moded = stat.S_IMODE(os.lstat(folder).st_mode) != DIR_MODE
                if moded:  # made under a umask that took from 0700
                    os.chmod(folder, DIR_MODE)
                durable += fresh
                if fresh or moded or folder not in self._synced_folders:
                    durable.append(folder)
            # On threads, the filesystem can make many files durable in one journal commit.
            run_all([functools.partial(fsync_path, path) for path in durable], _SYNC_THREADS)
            self._write_journal(moves, made, loose)
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {describe(error)}") from None
        interrupts.check()  # the last moment a signal cancels the run
        try:
            # Where old files go (a backup, or `replaced` in staging) exists durably
            # before any is moved: the undo after a power loss needs to find them.
            aside_folders: list[Path] = []
            for folder in dict.fromkeys(self._aside_folder(m.aside) for m in moves if m.old):
                folder.mkdir(mode=DIR_MODE)
                os.chmod(folder, DIR_MODE)
                aside_folders.append(folder)
            for move in moves:
                if move.old:
                    aside_folders += make_subdirs(self._aside_folder(move.aside), move.name)
            for folder in dict.fromkeys(folder.parent for folder in aside_folders):
                fsync_path(folder)
            for move in moves:
                if move.old:
                    os.rename(self.path / move.name, self._aside_folder(move.aside) / move.name)
            for move in moves:
                if move.new:
                    make_subdirs(self.path, move.name)  # the folders in `made`
                    os.replace(self.staged(move.name), self.path / move.name)
            # Every folder a rename changed (clients/ as well as the directory, and
            # where old files went), then the parents of the folders made for them.
            for folder in dict.fromkeys([
                    *((self.path / move.name).parent for move in moves),
                    *((self._aside_folder(move.aside) / move.name).parent
                      for move in moves if move.old),
                    *((self.path / folder).parent for folder in made)]):
                fsync_path(folder)
            # Old keys others could read are private in the backup before the journal
            # goes: once it is gone, no run would tighten them.
            for name in loose:
                set_mode(self.path / f"{backup}/{name}", KEY_MODE)
            journal.unlink()
            # Durably gone before success is reported: a journal back after a power
            # loss would have the next run undo this commit, new CA key and all.
            fsync_path(self.staging)
        except OSError as error:
            self._undo_or_keep(record)
            raise OutputError(
                f"cannot move the new files into {self.path} ({describe(error)}); "
                "it holds the previous files, unchanged"
            ) from None
        # Durable: a signal from now on (or during the renames) interrupts nothing.
        interrupts.complete(f"the new files were in place in {self.path}")
        backup_path = self.path / backup if backup else None
        written = []
        for name in names:
            target = self.path / name
            written.extend(sorted(target.iterdir()) if name in folders else [target])
        return written, backup_path

    def _write_journal(self, moves: Sequence[Move], made: Sequence[str],
                       loose: Mapping[str, Any]) -> None:
        """The journal, written aside and renamed: it is complete, or absent."""
        pending = self.staging / f"{JOURNAL}.part"
        write_private(pending, json.dumps({
            "version": JOURNAL_VERSION,
            "moves": [move._asdict() for move in moves],
            "made": list(made),
            "loose": dict(loose),
        }).encode(), KEY_MODE)
        fsync_path(pending)
        os.rename(pending, self.staging / JOURNAL)
        fsync_path(self.staging)

    def discard(self, backups: Sequence[str]) -> None:
        """Remove whole backup folders (names in the directory) through a journal.

        Each folder leaves its name in one rename, into the staging folder, so it is
        there whole or gone, never half-removed under its name.  A crash before the
        journal is removed is undone by the next run (the folders come back); after
        it, the staging folder has no journal and the next run deletes it.
        """
        if not backups:
            return
        moves = [Move(name, REPLACED, True, False) for name in backups]
        record, journal = Journal(moves, [], {}), self.staging / JOURNAL
        try:
            self._write_journal(moves, [], {})
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {describe(error)}") from None
        interrupts.check()  # the last moment a signal cancels the run
        aside = self.staging / REPLACED
        try:
            aside.mkdir(mode=DIR_MODE)
            fsync_path(self.staging)
            for name in backups:
                os.rename(self.path / name, aside / name)
            fsync_path(self.path)
            fsync_path(aside)
            journal.unlink()
            fsync_path(self.staging)
        except OSError as error:
            self._undo_or_keep(record)
            raise OutputError(f"cannot remove backup folders in {self.path} "
                              f"({describe(error)}); it holds them all, unchanged") from None
        interrupts.complete(f"the backup folders were removed from {self.path}")
        shutil.rmtree(aside, ignore_errors=True)  # what is left, the next run removes

    def _sums_after(self, files: Iterable[str], folders: list[str], archive: set[str],
                    digests: dict[Path, str]) -> str:
        """SHA256SUMS of the public files as they will be once the commit is done;
        ``digests`` holds those known, and gets those read."""
        final = {name: self.path / name for name in public_files(self.path)
                 if name not in archive and name.rsplit("/", 1)[0] not in {*folders, *archive}}
        final.update((name, self.staged(name)) for name in files if is_public(name))
        for folder in folders:
            final.update((f"{folder}/{path.name}", path)
                         for path in self.staged(folder).iterdir()
                         if is_public(f"{folder}/{path.name}"))
        for path in final.values():
            if path not in digests:
                digests[path] = file_digest(path)
        return render_sums({name: digests[path] for name, path in final.items()})

    def _undo_or_keep(self, journal: Journal) -> None:
        """Undo now; if that fails too, keep the staging folder and its journal, so
        that the next run finishes the undo instead of losing what sits aside."""
        try:
            undo(self.path, journal, self.staging)
        except OSError as error:
            self._keep_staging = True
            raise OutputError(
                f"cannot put the previous files back in {self.path} ({describe(error)}); "
                f"the next {PROGRAM} run on it will finish putting them back"
            ) from None

    def _recover(self, leftover: Path) -> None:
        """Undo the moves of a run that crashed mid-commit, then drop its staging folder.

        A folder without a journal is a run that ended before its renames began or
        after they were done: it only holds disposable files.
        """
        _refuse_stranger(leftover)
        if not os.path.lexists(leftover / JOURNAL):
            shutil.rmtree(leftover)
            return
        journal = read_journal(self.path, leftover)
        if journal is None:
            raise OutputError(f"{leftover / JOURNAL} is not a journal this tool wrote: "
                              "nothing was moved; check the folder and remove it to go on")
        undo(self.path, journal, leftover)
        left = unrestored(self.path, journal.moves, leftover)
        if left:
            raise OutputError(
                f"cannot finish undoing the run interrupted in {leftover}: "
                f"{listed(left)} is neither back in {self.path} nor found where "
                "the journal says; the folder is kept (the previous files may be in it or "
                "in a backup folder): put them back by hand, then remove it"
            )
        shutil.rmtree(leftover)
        self.undone.append(leftover)

    @staticmethod
    def existing_in(folder: Path) -> list[str]:
        """The files (and symlinks) under ``folder``, relative to it: what a backup holds."""
        return sorted(str(path.relative_to(folder)) for path in _entries(folder)
                      if not os.path.isdir(path) or os.path.islink(path))

    def write_new(self, name: str, text: str, mode: int) -> bool:
        """Stage a small file that is written only if absent; return whether it is."""
        if os.path.lexists(self.path / name):
            return False
        self.stage(name, text.encode(), mode)
        return True


@contextmanager
def shared_lock(folder: Path) -> Iterator[None]:
    """Hold a shared lock on an output directory while reading it: what ``check`` or
    ``renew --all --within`` finds before it changes anything.

    A run that is changing that directory holds its exclusive lock: then this
    fails at once (exit 4) instead of reading files that are being replaced.
    """
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        yield  # no such folder: reading it says so, with the command to run
        return
    try:
        _lock_shared(descriptor, folder)
        yield
    finally:
        os.close(descriptor)


def _lock_shared(descriptor: int, folder: Path) -> None:
    import fcntl

    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise Conflict(f"another {PROGRAM} run is changing {folder}; try again "
                       "when it ends") from None


def remove_abandoned(folder: Path) -> None:
    """Remove the staging folders without a journal that killed runs left in ``folder``
    (they may hold new private keys nobody received); the caller holds a lock on it,
    so no live run is using one.  One that is not this tool's is left alone, and the
    run stops, as every writing run does."""
    for leftover in abandoned(folder):
        _refuse_stranger(leftover)
        shutil.rmtree(leftover, ignore_errors=True)


def _refuse_stranger(leftover: Path) -> None:
    """A folder named like a staging folder that this tool did not make is left alone,
    and stops the run: a person must look at it."""
    why = owned_private_dir(leftover)
    if why:
        raise OutputError(f"{leftover} is not a staging folder of this tool ({why}): it "
                          "was left alone; check what it holds and remove it to go on")


def abandoned(folder: Path) -> list[Path]:
    """Staging folders without a journal: a run killed before its commit (or after it)."""
    return sorted(leftover for leftover in folder.glob(STAGING_PREFIX + "*")
                  if not os.path.lexists(leftover / JOURNAL))


def linked_folders(directory: Path, names: Iterable[str] | None = None) -> list[Path]:
    """The role folders (``clients/``, ``servers/``) and bundle folders in ``directory``
    that are symlinks: of those ``names`` (relative) lie in or are, or all of them.

    The tool never writes through one: a file renamed into it, or a bundle folder
    replaced under it, would land where the link leads, out of the directory.
    """
    if names is None:
        names = [role for role in (SERVERS_DIR, CLIENTS_DIR)
                 if os.path.islink(directory / role)]
        names += [f"{role}/{entry.name}" for role in (SERVERS_DIR, CLIENTS_DIR)
                  if os.path.isdir(directory / role) and not os.path.islink(directory / role)
                  for entry in sorted((directory / role).iterdir())
                  if is_bundle_name(entry.name)]
    found: list[Path] = []
    for name in names:
        parts = name.split("/")
        if parts[0] not in (CLIENTS_DIR, SERVERS_DIR):
            continue
        for depth in range(1, min(len(parts), 2) + 1):  # the role folder, the bundle's
            folder = directory.joinpath(*parts[:depth])
            if os.path.islink(folder):
                if folder not in found:
                    found.append(folder)
                break
    return found


def link_fix(link: Path) -> str:
    """What to do about the symlinked folder ``link``, with the command that does it."""
    if not os.path.isdir(link):
        return f"remove the link, which leads to no folder: `rm {quote(link)}`"
    target = os.path.join(link.parent, os.readlink(link))
    return ("replace the link by the real folder: "
            f"`rm {quote(link)} && mv {quote(target)} {quote(link)}`")


def refuse_links(directory: Path, names: Iterable[str]) -> None:
    """A Conflict naming the first symlinked folder ``names`` lie in (see
    ``linked_folders``), and how to replace it by the real folder."""
    for link in linked_folders(directory, names)[:1]:
        raise Conflict(f"{link} is a symlink (to {os.readlink(link)}): {PROGRAM} never "
                       f"writes through a symlinked folder; {link_fix(link)}, and run again")


def same_directory(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def unfinished(folder: Path) -> list[Path]:
    """The staging folders in which a crashed run left a journal (a change half-made):
    seen while no run holds the folder, they are the next run's to undo."""
    return sorted(leftover for leftover in folder.glob(STAGING_PREFIX + "*")
                  if os.path.lexists(leftover / JOURNAL))
