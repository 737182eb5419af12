"""The output directory: its lock, a private staging folder, and the final moves.

Every file of a run is written into a 0700 staging folder inside the output
directory (so the final ``os.replace`` is a rename on one filesystem), checked,
and only then moved into place.  Nothing outside the staging folder is written
before all checks pass, and old files are moved aside, never deleted.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from .errors import Conflict, OutputError

KEY_MODE = 0o600
CERT_MODE = 0o644
DIR_MODE = 0o700
STAGING_PREFIX = ".minipaas-staging-"
BACKUP_PREFIX = "backup-"


def _describe(error: OSError) -> str:
    return error.strerror or str(error)


class OutputDirectory:
    """An output directory held for one run (a context manager).

    Entering creates the directory (0700) if needed, takes an exclusive lock on it
    (a second run fails at once instead of interleaving files), removes staging
    folders that an earlier crashed run left, and makes a fresh staging folder.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.staging = path  # replaced on entry
        self._fd: int | None = None

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
        for leftover in self.path.glob(STAGING_PREFIX + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.path))
        except OSError as error:
            self.__exit__(None, None, None)
            raise OutputError(f"cannot write in {self.path}: {_describe(error)}") from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.staging != self.path:
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
            self.path.mkdir(parents=True, mode=DIR_MODE)
            os.chmod(self.path, DIR_MODE)  # mkdir's mode is filtered by the umask
        except OSError as error:
            raise OutputError(f"cannot create {self.path}: {_describe(error)}") from None

    def existing(self, names: Iterable[str]) -> list[str]:
        """The given names that already exist in the directory (symlinks included)."""
        return [name for name in names if os.path.lexists(self.path / name)]

    def staged(self, name: str) -> Path:
        return self.staging / name

    def move_aside(self, names: Iterable[str]) -> Path | None:
        """Move the existing files among ``names`` into a new dated backup folder."""
        present = self.existing(names)
        if not present:
            return None
        stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
        backup = self.path / f"{BACKUP_PREFIX}{stamp}"
        suffix = 1
        while os.path.lexists(backup):
            suffix += 1
            backup = self.path / f"{BACKUP_PREFIX}{stamp}-{suffix}"
        try:
            backup.mkdir(mode=DIR_MODE)
            os.chmod(backup, DIR_MODE)
            for name in present:
                (backup / name).parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                os.rename(self.path / name, backup / name)
        except OSError as error:
            raise OutputError(f"cannot move old files into {backup}: {_describe(error)}") \
                from None
        return backup

    def commit(self, files: dict[str, int], folders: Iterable[str] = ()) -> list[Path]:
        """Move staged files (with their final modes) and whole folders into place.

        ``os.replace`` renames over whatever is there, a planted symlink included,
        so a key is never written through a link or into a file with loose modes.
        A folder (a client bundle) appears whole, in one rename, or not at all.
        Returns the paths of every file moved into place.
        """
        written = []
        try:
            for name, mode in files.items():
                os.chmod(self.staged(name), mode)
                _sync_file(self.staged(name))
            for name in folders:
                os.chmod(self.staged(name), DIR_MODE)
                for path in self.staged(name).iterdir():
                    _sync_file(path)
            for name in files:
                os.replace(self.staged(name), self.path / name)
                written.append(self.path / name)
            for name in folders:
                parent = (self.path / name).parent
                if not parent.is_dir():
                    parent.mkdir(mode=DIR_MODE, parents=True)
                    os.chmod(parent, DIR_MODE)
                os.replace(self.staged(name), self.path / name)
                written.extend(sorted((self.path / name).iterdir()))
            self._sync()
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {_describe(error)}") from None
        return written

    def _sync(self) -> None:
        """Flush the directory entries so the renames survive a power loss."""
        if self._fd is not None:
            # Some filesystems cannot fsync a directory; the renames hold all the same.
            with contextlib.suppress(OSError):
                os.fsync(self._fd)


def _sync_file(path: Path) -> None:
    """Flush a staged file's data before the rename that publishes it."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
