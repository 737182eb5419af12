"""The journal of a commit: its records, reading one back, and the undo.

A commit (see ``store``) writes the journal before its first rename: each name, whether
an old file is there and where it goes, whether a new file comes in, the folders the
moves create and the modes of old keys made private in the backup.  A failed commit
is undone at once; a crashed one by the next run, which trusts a journal only in a
real 0700 folder of the current user, and only for names the tool writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from contextlib import suppress
from pathlib import Path
from typing import Mapping, NamedTuple

from .errors import OutputError
from .files import MAX_SMALL_BYTES, describe, fsync_path, read_limited
from .identity import is_tool_path
from .layout import (
    BACKUP_NAME,
    CLIENTS_DIR,
    DIR_MODE,
    JOURNAL,
    REPLACED,
    SERVERS_DIR,
    is_key,
)

JOURNAL_VERSION = 2


class Move(NamedTuple):
    """One name of a commit: an old file set aside, a new one brought in, or both."""

    name: str  # relative to the output directory
    aside: str  # REPLACED (in the staging folder) or a backup folder's name
    old: bool
    new: bool
    digest: str = ""  # of the new file or folder: recovery moves back only what it wrote


class Journal(NamedTuple):
    """What recovery needs to undo a commit: its moves, the folders they create in the
    directory (``clients/`` for a first bundle), and the modes of the old keys it
    makes private in the backup (so that an undo gives them back as they were)."""

    moves: list[Move]
    made: list[str]
    loose: dict[str, int]


def digest_of(path: Path, known: Mapping[Path, str] | None = None) -> str | None:
    """SHA-256 of a regular file, or of a folder's regular files by name; None for
    anything else (a symlink, a FIFO, a file that cannot be read).  ``known``: the
    digests of files already read (the commit reads each staged file once)."""
    try:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode):
            return (known or {}).get(path) or file_digest(path)
        if not stat.S_ISDIR(info.st_mode):
            return None
        entries = []
        for child in sorted(path.iterdir()):
            digest = digest_of(child, known)
            if digest is None:
                return None
            entries.append(f"{child.name}\0{digest}\n")
        return sha256("".join(entries).encode())
    except (OSError, OutputError):
        return None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    return sha256(read_limited(path))


def owned_private_dir(path: Path) -> str | None:
    """Why ``path`` is not a real 0700 folder of the current user, or None if it is."""
    try:
        info = os.lstat(path)
    except OSError as error:
        return describe(error)
    if stat.S_ISLNK(info.st_mode):
        return "it is a symlink"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder"
    if info.st_uid != os.geteuid():
        return f"it belongs to uid {info.st_uid}, not to this user"
    if stat.S_IMODE(info.st_mode) != DIR_MODE:
        return f"its mode is {stat.S_IMODE(info.st_mode):04o}, not 0700"
    return None


def missing_parents(root: Path, name: str) -> list[Path]:
    """The folders of ``name``'s parent under ``root`` that do not exist, outermost
    first (never ``root`` itself)."""
    parents = list(Path(name).parents)[:-1]  # the last one is "." (``root``)
    return [root / parent for parent in reversed(parents) if not os.path.isdir(root / parent)]


def make_subdirs(root: Path, name: str) -> list[Path]:
    """Create the folders of ``name``'s parent under ``root`` (0700), never ``root`` itself;
    return those it created."""
    created = missing_parents(root, name)
    for folder in created:
        folder.mkdir(mode=DIR_MODE)
        os.chmod(folder, DIR_MODE)
    return created


def _within(name: str, folder: str) -> bool:
    """Whether the relative ``name`` is ``folder`` or lies under it."""
    return name == folder or name.startswith(f"{folder}/")


def set_mode(path: Path, mode: int) -> None:
    """Durably give the regular file ``path`` (never a symlink's target) ``mode``; a
    file that is not there (an undo run again) is left to the undo's own checks."""
    with suppress(FileNotFoundError):
        if stat.S_ISREG(os.lstat(path).st_mode):
            os.chmod(path, mode)
            fsync_path(path)


def _remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` and its subfolders if they hold no file (an emptied backup)."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for sub in sorted(folder.rglob("*"), reverse=True):
        if sub.is_dir() and not sub.is_symlink():
            try:
                sub.rmdir()
            except OSError:
                return
    with suppress(OSError):
        folder.rmdir()


def aside_folder(root: Path, staging: Path, aside: str) -> Path:
    """Where a move sets an old file aside: ``replaced`` in the staging folder, or a
    backup folder in the directory ``root``."""
    return staging / REPLACED if aside == REPLACED else root / aside


def undo(root: Path, journal: Journal, staging: Path) -> None:
    """Put back what the moves took away, with the modes it had; send back what
    they brought in; remove the folders they made, if empty.

    A new file is known to be in place when it is no longer in the staging
    folder; it goes back there, so that running the undo again (after a
    crash during it) changes nothing.  An old file goes back only to a free
    name: nothing is ever renamed over.
    """
    moves = journal.moves
    for move in moves:
        target, staged = root / move.name, staging / move.name
        aside = aside_folder(root, staging, move.aside) / move.name
        if move.new and not os.path.lexists(staged) and os.path.lexists(target) \
                and digest_of(target) == move.digest:
            make_subdirs(staging, move.name)
            os.rename(target, staged)
        if move.old and os.path.lexists(aside) and not os.path.lexists(target):
            for name, mode in journal.loose.items():  # the modes they had, first
                if _within(name, move.name):
                    set_mode(aside_folder(root, staging, move.aside) / name, mode)
            os.rename(aside, target)
    for backup in {move.aside for move in moves if move.aside != REPLACED}:
        _remove_if_empty(root / backup)
    for made in journal.made:  # only as the commit made it: ours, 0700, empty
        if owned_private_dir(root / made) is None:
            with suppress(OSError):
                (root / made).rmdir()
    # The folders old files came back into (clients/ too), before staging goes.
    for folder in dict.fromkeys([root, *((root / m.name).parent for m in moves)]):
        if os.path.isdir(folder):
            fsync_path(folder)


def unrestored(root: Path, moves: list[Move], staging: Path) -> list[str]:
    """The names the undo could not explain: an old file not back in place, or a
    file in place that is neither the old one nor the new one the run wrote."""
    found = []
    for move in moves:
        target, staged = root / move.name, staging / move.name
        aside = aside_folder(root, staging, move.aside) / move.name
        old_missing = move.old and (not os.path.lexists(target) or os.path.lexists(aside))
        stranger = (move.new and not move.old and not os.path.lexists(staged)
                    and os.path.lexists(target))
        if old_missing or stranger:
            found.append(move.name)
    return found


def read_journal(root: Path, leftover: Path) -> Journal | None:
    """A journal this tool wrote, or None if it could not be one."""
    try:
        content = json.loads(read_limited(leftover / JOURNAL, MAX_SMALL_BYTES))
        if content.get("version") != JOURNAL_VERSION:
            return None
        moves = [Move(str(item["name"]), str(item["aside"]), item["old"], item["new"],
                      str(item["digest"])) for item in content["moves"]]
        # Absent from journals written before they were recorded.
        made = [str(folder) for folder in content.get("made", [])]
        loose = {str(name): mode for name, mode in content.get("loose", {}).items()}
    except (OutputError, ValueError, TypeError, KeyError, AttributeError):
        return None
    # Only the bundles' parent folders a move passes through, and only keys the tool
    # writes that a move took into a backup, at a file mode: a planted journal can
    # make neither touch anything else.
    if not all(folder in (CLIENTS_DIR, SERVERS_DIR)
               and any(move.name.startswith(f"{folder}/") for move in moves)
               for folder in made):
        return None
    if not all(is_tool_path(name) and is_key(name)
               and any(_within(name, m.name)
                       for m in moves if m.old and m.aside != REPLACED)
               and type(mode) is int and 0 <= mode <= 0o7777
               for name, mode in loose.items()):
        return None
    for move in moves:
        # A whole backup folder set aside by `certs prune` (nothing comes in its place).
        pruned = bool(BACKUP_NAME.match(move.name)) and move.aside == REPLACED \
            and move.old is True and move.new is False
        if not ((is_tool_path(move.name) or pruned) and isinstance(move.old, bool)
                and isinstance(move.new, bool)
                and (move.aside == REPLACED or BACKUP_NAME.match(move.aside))):
            return None
        if move.aside != REPLACED and os.path.lexists(root / move.aside) \
                and owned_private_dir(root / move.aside):
            return None
    return Journal(moves, made, loose)
