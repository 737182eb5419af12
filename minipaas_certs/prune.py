"""``certs prune``: remove old backup folders, only the tool's own, through the journal.

A backup folder holds the files a run replaced, private keys included, often still
valid.  Only a folder the tool made is removed: named as it names them, a real 0700
folder of this user (not a symlink), holding only regular files and folders under
names it writes.  Anything else named like one is left and reported.  The removal
is one journaled commit under the folder's lock (``OutputDirectory.discard``).
"""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from . import clock
from .certinfo import read_certificate
from .errors import CertsError
from .identity import is_tool_path
from .journal import owned_private_dir
from .layout import (
    BACKUP_NAME,
    BACKUP_PREFIX,
    BUNDLE_FOLDERS,
    CA_CERT,
    CA_KEY,
    CLI_CERT,
    CLI_KEY,
    CLIENT_CERT,
    CLIENT_P12,
    OLD_CA_CERT,
    OLD_CA_KEY,
    is_key,
)
from .store import OutputDirectory, shared_lock, unfinished

_STAMP = "%Y%m%dT%H%M%S"
# A key's certificate in the same folder; "*-key.pem" pairs with "*-cert.pem".
_PAIRS = {CA_KEY: CA_CERT, OLD_CA_KEY: OLD_CA_CERT, CLI_KEY: CLI_CERT, CLIENT_P12: CLIENT_CERT}


class Pruned(NamedTuple):
    """What a prune removed and kept (backup names, oldest first), and what it left
    alone: folders named like a backup that the tool did not make, with the reason."""

    removed: list[str]
    kept: list[str]
    strangers: list[tuple[str, str]]
    dry_run: bool = False  # nothing was removed: ``removed`` is what a real run removes
    undo: tuple[str, ...] = ()  # dry run: interrupted runs' changes a real run undoes first


def _order(name: str) -> tuple[str, int]:
    """Oldest first: by the run's start, then by the attempt that made the name free."""
    stamp, _, attempt = name[len(BACKUP_PREFIX):].partition("-")
    return stamp, int(attempt or 1)


def made_at(name: str) -> datetime.datetime:
    """When the run that made backup ``name`` started (local time, as named)."""
    return datetime.datetime.strptime(_order(name)[0], _STAMP).astimezone()


def _dated(name: str) -> bool:
    """Whether ``name`` is a backup folder's, with a date that exists."""
    try:
        return bool(BACKUP_NAME.match(name)) and made_at(name) is not None
    except ValueError:  # backup-99999999T999999
        return False


def not_ours(folder: Path) -> str | None:
    """Why ``folder`` is not a backup folder of this tool, or None if it is."""
    why = owned_private_dir(folder)
    if why:
        return why
    for top, folders, files in os.walk(folder):  # never follows a symlink
        for entry in sorted([*folders, *files]):
            path = Path(top, entry)
            name = str(path.relative_to(folder))
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode) and not stat.S_ISLNK(info.st_mode):
                ours = is_tool_path(name) or name in BUNDLE_FOLDERS
            else:
                ours = stat.S_ISREG(info.st_mode) and is_tool_path(name)
            if not ours:
                return f"it holds {name!r}, which is no file this tool writes"
    return None


def backups(out: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """The tool's backup folders in ``out``, oldest first; and the others named like
    one, with why each is not the tool's."""
    ours, others = [], []
    for path in sorted(out.glob(f"{BACKUP_PREFIX}*")):
        why = None if _dated(path.name) else "its name is not one the tool gives"
        why = why or not_ours(path)
        if why:
            others.append((path.name, why))
        else:
            ours.append(path.name)
    return sorted(ours, key=_order), others


def select(names: Sequence[str], keep: int | None, older_than: int | None,
           now: datetime.datetime) -> tuple[list[str], list[str]]:
    """Which backups go (beyond the newest ``keep`` and older than ``older_than`` days:
    both, when both are given) and which stay; each oldest first."""
    newest_first = sorted(names, key=_order, reverse=True)
    removed = [name for index, name in enumerate(newest_first)
               if (keep is None or index >= keep)
               and (older_than is None
                    or made_at(name) <= now - datetime.timedelta(days=older_than))]
    return ([name for name in names if name in removed],
            [name for name in names if name not in removed])


def prune(out: Path, *, keep: int | None = None, older_than: int | None = None,
          progress: Callable[[str], None] = lambda _: None) -> Pruned:
    """Remove the tool's backup folders in ``out`` beyond the newest ``keep`` and/or
    older than ``older_than`` days, in one journaled commit under its lock."""
    with OutputDirectory(out) as store:
        for leftover in store.undone:
            progress(f"Undid the change of an interrupted run ({leftover.name}) in {out}")
        ours, others = backups(out)
        removed, kept = select(ours, keep, older_than, clock.now())
        store.discard(removed)
    return Pruned(removed, kept, others)


def would_prune(out: Path, *, keep: int | None = None, older_than: int | None = None
                ) -> Pruned:
    """What ``prune`` would remove, read under a shared lock, changing nothing.

    An interrupted run's change is named, not undone: a real run undoes it first,
    which may bring back or take away a backup folder, so then this is a preview only.
    """
    with shared_lock(out):
        undo = tuple(leftover.name for leftover in unfinished(out))
        ours, others = backups(out)
        removed, kept = select(ours, keep, older_than, clock.now())
    return Pruned(removed, kept, others, True, undo)


def _live(folder: Path, now: datetime.datetime) -> bool:
    """Whether the backup ``folder`` holds a private key whose certificate beside it
    has not expired."""
    for top, _, files in os.walk(folder):
        for name in files:
            if not is_key(name):
                continue
            pair = _PAIRS.get(name, name.replace("-key.pem", "-cert.pem"))
            try:
                if read_certificate(Path(top, pair)).not_after > now:
                    return True
            except (OSError, ValueError, CertsError):
                continue
    return False


def live_backups(out: Path, now: datetime.datetime | None = None) -> list[str]:
    """The tool's backup folders that still hold a private key of a certificate not
    yet expired: credentials anyone who reads them can use."""
    try:
        with shared_lock(out):
            ours, _ = backups(out)
            return [name for name in ours if _live(out / name, now or clock.now())]
    except (OSError, CertsError):
        return []  # a run is changing the folder: its backups are counted next time
