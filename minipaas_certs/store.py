"""The output directory: its lock, a private staging folder, and the final moves.

Every file of a run is written into a 0700 staging folder inside the output
directory (so each final move is a rename on one filesystem), checked, and only
then moved into place.  The moves follow a journal kept in the staging folder:

1. the journal lists the names and where the files they replace go;
2. the files being replaced are renamed there (a dated backup folder, or the
   staging folder when nothing needs keeping);
3. the new files are renamed into place; the journal is removed.

A failure during 2-3 undoes the renames at once; a crash (power loss, SIGKILL)
during them is undone by the next run, which finds the journal under the lock.
So the directory holds the old set or the complete new one, never a mix.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Iterable

from . import interrupts
from .errors import Conflict, OutputError
from .sums import SUMS_FILE, is_public, public_files
from .sums import render as render_sums

KEY_MODE = 0o600
CERT_MODE = 0o644
DIR_MODE = 0o700
STAGING_PREFIX = ".minipaas-staging-"
BACKUP_PREFIX = "backup-"
JOURNAL = "journal.json"
GITIGNORE = ".gitignore"
GITIGNORE_TEXT = """\
# Written by minipaas certs: private keys and their backups stay out of version control.
*key.pem
backup-*/
.minipaas-staging-*/
"""


def _describe(error: OSError) -> str:
    return error.strerror or str(error)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno != errno.EINVAL:  # directories on some filesystems cannot be synced
            raise
    finally:
        os.close(descriptor)


def _private_folder(parent: Path) -> Path:
    """A new 0700 staging folder (tempfile would cost its import at every start)."""
    while True:
        path = parent / f"{STAGING_PREFIX}{os.urandom(6).hex()}"
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(path, DIR_MODE)
        return path


def _make_private_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask


class OutputDirectory:
    """An output directory held for one run (a context manager).

    Entering creates the directory (0700) if needed, takes an exclusive lock on it
    (a second run fails at once instead of interleaving files), finishes or undoes
    what a crashed run left, and makes a fresh staging folder.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.staging = path  # replaced on entry
        self._fd: int | None = None
        self._keep_staging = False  # an undo failed: the next run needs its journal

    def __enter__(self) -> OutputDirectory:
        self._create()
        try:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as error:
            raise OutputError(f"cannot open {self.path}: {_describe(error)}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(self._fd)
            self._fd = None
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise Conflict(
                    f"another minipaas certs run is using {self.path}; try again when it ends"
                ) from None
            raise OutputError(f"cannot lock {self.path}: {_describe(error)}") from None
        try:
            for leftover in sorted(self.path.glob(STAGING_PREFIX + "*")):
                self._recover(leftover)
            self.staging = _private_folder(self.path)
        except OSError as error:
            self.__exit__(None, None, None)
            raise OutputError(f"cannot write in {self.path}: {_describe(error)}") from None
        except BaseException:
            self.__exit__(None, None, None)  # release the lock
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.staging != self.path and not self._keep_staging:
            shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = self.path
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None

    def _create(self) -> None:
        if self.path.is_dir():
            return
        if os.path.lexists(self.path):
            raise OutputError(f"{self.path} exists and is not a directory")
        try:
            _make_private_dir(self.path)
        except OSError as error:
            raise OutputError(f"cannot create {self.path}: {_describe(error)}") from None

    def existing(self, names: Iterable[str]) -> list[str]:
        """The given names that already exist in the directory (symlinks included)."""
        return [name for name in names if os.path.lexists(self.path / name)]

    def staged(self, name: str) -> Path:
        return self.staging / name

    def _new_backup_folder(self) -> Path:
        stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
        backup = self.path / f"{BACKUP_PREFIX}{stamp}"
        suffix = 1
        while os.path.lexists(backup):
            suffix += 1
            backup = self.path / f"{BACKUP_PREFIX}{stamp}-{suffix}"
        return backup

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
        try:
            self.staged(SUMS_FILE).write_text(self._sums_after(files, folders, archive))
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {_describe(error)}") from None
        files = {**files, SUMS_FILE: CERT_MODE}
        names = [*files, *folders]
        archived = self.existing(archive)
        replaced = self.existing(names)
        kept = [name for name in replaced if name in keep] + archived
        backup = self._new_backup_folder() if kept else None
        dropped = self.staging / "replaced"
        aside = {name: backup if backup and name in kept else dropped
                 for name in [*names, *archived]}
        moves = [(name, aside[name], name in names) for name in aside]
        journal = self.staging / JOURNAL
        try:
            for name, mode in files.items():
                os.chmod(self.staged(name), mode)
                _fsync(self.staged(name))
            for name in folders:
                os.chmod(self.staged(name), DIR_MODE)
                for path in self.staged(name).iterdir():
                    _fsync(path)
            # Written aside and renamed: a journal is complete, or absent.
            pending = self.staging / f"{JOURNAL}.part"
            pending.write_text(json.dumps([[name, str(folder), new] for name, folder, new
                                           in moves]))
            _fsync(pending)
            os.rename(pending, journal)
            _fsync(self.staging)
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {_describe(error)}") from None
        with interrupts.held():
            try:
                for folder in {*aside.values()}:
                    _make_private_dir(folder)
                for name in [*replaced, *archived]:
                    (aside[name] / name).parent.mkdir(mode=DIR_MODE, parents=True,
                                                      exist_ok=True)
                    os.rename(self.path / name, aside[name] / name)
                for name in names:
                    parent = (self.path / name).parent
                    if not parent.is_dir():
                        _make_private_dir(parent)
                    os.replace(self.staged(name), self.path / name)
                _fsync(self.path)
                journal.unlink()
            except OSError as error:
                self._undo_or_keep(moves)
                raise OutputError(
                    f"cannot move the new files into {self.path} ({_describe(error)}); "
                    "it holds the previous files, unchanged"
                ) from None
        written = []
        for name in names:
            target = self.path / name
            written.extend(sorted(target.iterdir()) if name in folders else [target])
        return written, backup

    def _sums_after(self, files: Iterable[str], folders: list[str],
                    archive: set[str]) -> str:
        """SHA256SUMS of the public files as they will be once the commit is done."""
        final = {name: self.path / name for name in public_files(self.path)
                 if name not in archive and name.rsplit("/", 1)[0] not in folders}
        final.update((name, self.staged(name)) for name in files if is_public(name))
        for folder in folders:
            final.update((f"{folder}/{path.name}", path)
                         for path in self.staged(folder).iterdir()
                         if is_public(f"{folder}/{path.name}"))
        return render_sums({name: path.read_bytes() for name, path in final.items()})

    def _undo(self, moves: list[tuple[str, Path, bool]]) -> None:
        """Put back what the journal's moves took away; send back what they brought in.

        The new files go back into the staging folder, where they came from, so
        that running the undo again (after a crash during it) changes nothing.
        """
        for name, folder, has_new in moves:
            staged = self.staging / name
            if has_new and not os.path.lexists(staged) and os.path.lexists(self.path / name):
                staged.parent.mkdir(parents=True, exist_ok=True)
                os.rename(self.path / name, staged)
            if os.path.lexists(folder / name):
                os.rename(folder / name, self.path / name)
        for folder in {folder for _, folder, _ in moves}:
            with contextlib.suppress(OSError):  # a backup folder emptied by the undo goes
                _remove_empty_dirs(folder)
        _fsync(self.path)

    def _undo_or_keep(self, moves: list[tuple[str, Path, bool]]) -> None:
        """Undo now; if that fails too, keep the staging folder and its journal, so
        that the next run finishes the undo instead of losing what sits aside."""
        try:
            self._undo(moves)
        except OSError as error:
            self._keep_staging = True
            raise OutputError(
                f"cannot put the previous files back in {self.path} ({_describe(error)}); "
                "the next minipaas certs run on it will finish putting them back"
            ) from None

    def _recover(self, leftover: Path) -> None:
        """Undo the moves of a run that crashed mid-commit, then drop its staging folder."""
        journal = leftover / JOURNAL
        if journal.is_file():
            try:
                moves = [(name, Path(folder), bool(new))
                         for name, folder, new in json.loads(journal.read_text())]
            except ValueError:  # cannot happen short of disk damage: moves follow the rename
                raise OutputError(f"{journal} is damaged: the previous run's files may be "
                                  f"in {leftover} or a backup folder; move them back by "
                                  "hand, then remove it") from None
            staging, self.staging = self.staging, leftover
            try:
                with interrupts.held():
                    self._undo(moves)
            finally:
                self.staging = staging
        shutil.rmtree(leftover, ignore_errors=True)

    @staticmethod
    def existing_in(folder: Path) -> list[str]:
        """The files under ``folder``, relative to it (what a backup holds)."""
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

    def write_new(self, name: str, text: str, mode: int) -> bool:
        """Stage a small file that is written only if absent; return whether it is."""
        if os.path.lexists(self.path / name):
            return False
        self.staged(name).write_text(text)
        os.chmod(self.staged(name), mode)
        return True


def _remove_empty_dirs(folder: Path) -> None:
    """Remove ``folder`` and its subfolders if they hold no file (an emptied backup)."""
    for sub in sorted(folder.rglob("*"), reverse=True):
        if sub.is_dir():
            sub.rmdir()
    folder.rmdir()
