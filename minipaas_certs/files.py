"""Reading and writing the files the tool touches, safely.

Every file the tool reads is checked to be a regular file (a FIFO would block
forever, ``/dev/zero`` never ends) and read with a size cap before anything
parses it.  Every file and folder it creates is private from the moment it
exists: created with its final mode, never through a planted symlink.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from .errors import CertsError, OutputError
from .layout import DIR_MODE

# Far above any real file of its kind, far below what could hurt: a CA bundle of
# every public root is about 200 KiB.
MAX_PEM_BYTES = 1024 * 1024
MAX_SMALL_BYTES = 64 * 1024  # passphrases, journals, templates


def describe(error: OSError) -> str:
    return error.strerror or str(error)


def read_limited(path: Path, limit: int = MAX_PEM_BYTES, *,
                 error: type[CertsError] = OutputError) -> bytes:
    """The bytes of the regular file ``path`` (symlinks followed), at most ``limit``.

    Anything else (a FIFO, a device, a folder, a file over the limit) raises
    ``error`` at once: opening with O_NONBLOCK keeps a FIFO from blocking the open.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as failure:
        raise error(f"cannot read {path}: {describe(failure)}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path} is not a regular file")
        if info.st_size > limit:
            raise error(f"{path} is larger than {limit // 1024} KiB: not a file this tool reads")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(descriptor, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while being read
            raise error(f"{path} is larger than {limit // 1024} KiB: not a file this tool reads")
        return b"".join(chunks)
    except OSError as failure:
        raise error(f"cannot read {path}: {describe(failure)}") from None
    finally:
        os.close(descriptor)


def write_private(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with exactly ``mode`` and write ``data``.

    O_EXCL and O_NOFOLLOW: never an existing file's mode, never through a symlink.
    The mode is set on the open descriptor, so the umask cannot widen or narrow it
    and no other user can open the file in between.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(path, flags, mode & 0o600)
    try:
        os.fchmod(descriptor, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
    finally:
        os.close(descriptor)


def make_private_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents, each 0700; return those created, outermost
    first, so that a failed run can remove exactly what it made."""
    missing = []
    current = Path(os.path.abspath(path))
    while not os.path.lexists(current):
        missing.append(current)
        current = current.parent
    created = []
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to remove
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
        created.append(folder)
    return created


def remove_created_dirs(created: list[Path]) -> None:
    """Remove, innermost first, the folders a failed run created, if they are empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError as failure:
            if failure.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return  # something else is in it now: keep it, and its parents
            if failure.errno != errno.ENOENT:
                return


def fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    except OSError as failure:
        if failure.errno != errno.EINVAL:  # directories on some filesystems cannot be synced
            raise
    finally:
        os.close(descriptor)


def replace_atomically(path: Path, data: bytes, mode: int) -> None:
    """Put ``data`` at ``path`` (``mode``) in one rename: a reader (node_exporter's
    textfile collector, say) sees the old file or the new one, never a part.

    The temporary file sits in the same folder (a rename does not cross filesystems),
    is fsynced before the rename and the folder after it, and its name does not end
    in ``.prom``, so a collector never reads it half-written.
    """
    import secrets

    temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        descriptor = os.open(temporary, flags, 0o600)
        try:
            os.fchmod(descriptor, mode)  # exactly: the umask does not apply
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
        fsync_path(path.parent)
    except OSError as failure:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise OutputError(f"cannot write {path}: {describe(failure)}") from None
