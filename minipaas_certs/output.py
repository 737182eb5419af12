"""What the commands print: results on stdout, progress and errors on stderr.

Neither stream's loss turns a run into a failure: a closed stdout (a pipe whose
reader has gone) drops the rest of the output and the exit code stands; a closed
stderr drops progress lines.  Text from files (names in certificates, folder
names) is printed with control characters escaped, so it cannot move the
cursor or rewrite the terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import click

from .errors import printable


def say(text: str) -> None:
    """One line (or block) of output on stdout, control characters escaped."""
    try:
        click.echo("\n".join(printable(line) for line in text.split("\n")))
    except BrokenPipeError:
        drop_stdout()


def say_line(text: str) -> None:
    """Exactly one line on stdout, whatever ``text`` holds: a newline in a name (a
    folder's, a file's) is escaped like any control character, never a line break."""
    say(printable(text))


_STDERR = threading.RLock()  # lines come from worker threads too; a signal handler may print
_ERASE = "\r\x1b[K"  # back to the start of the line, and clear it
_count_shown = False  # a count (N/M) stands on stderr's current line, with no newline


_every_item = False  # -v: a long report lists every item, even on a terminal


def list_every_item(verbose: bool) -> None:
    """-v (``verbose``): long reports list each item, even to a person at a terminal;
    set by each command that takes -v, before it reports."""
    global _every_item
    _every_item = verbose


def sum_up(stdout: bool) -> bool:
    """Whether a long report (a line per bundle) is summed up on stdout (``stdout``) or
    stderr: for a person at a terminal, unless -v.  A log or a pipe gets every line:
    a script may read them."""
    if _every_item:
        return False
    stream = sys.stdout if stdout else sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):  # closed
        return False


def progress(text: str) -> None:
    """Progress (or a warning) on stderr, control characters escaped; a count shown on
    the terminal is erased first (the next step draws it again)."""
    global _count_shown
    with _STDERR, contextlib.suppress(OSError):
        if _count_shown:
            _count_shown = False
            click.echo(_ERASE, err=True, nl=False)
        click.echo("\n".join(printable(line) for line in text.split("\n")), err=True)


def _show_count(text: str, last: bool) -> None:
    global _count_shown
    with _STDERR, contextlib.suppress(OSError):
        click.echo(_ERASE + printable(text), err=True, nl=last)
        sys.stderr.flush()
        _count_shown = not last


COUNT_FROM = 10  # a run of more leaves than this counts them on a terminal


class Reporter:
    """Progress as a person follows it.  A run of many leaves (more than ``COUNT_FROM``)
    is one line on a terminal, ``Generating keys and certificates: N/M``, rewritten in
    place; in a log or a pipe, or with -v (``verbose``), a line per leaf instead.

    The lines it is given are text; a run's count comes as ``plan.Leaves`` (has
    ``total``), its lines and steps as ``plan.LeafLine`` (has ``per_leaf``; a step is
    empty).  Duck-typed: this module is imported by every command, ``plan`` is not.
    """

    def __init__(self, verbose: bool = False, terminal: bool | None = None) -> None:
        self.counting = ""  # the count's label while one is shown
        self.total = self.made = 0
        self.lock = threading.Lock()
        self.summing = not verbose and (sum_up(stdout=False) if terminal is None
                                        else terminal)

    def __call__(self, text: str) -> None:
        total = getattr(text, "total", None)
        with self.lock:
            if total is not None:  # a run's leaves start
                self.counting = str(text) if self.summing and total > COUNT_FROM else ""
                self.total, self.made = total, 0
                if self.counting:
                    _show_count(f"{self.counting}: 0/{total}", last=False)
                return
            if getattr(text, "per_leaf", False):
                if text and not self.counting:
                    progress(text)
                elif not text and self.counting:
                    self.made += 1
                    last = self.made >= self.total
                    _show_count(f"{self.counting}: {self.made}/{self.total}", last)
                    if last:
                        self.counting = ""
                return
        progress(text)


def drop_stdout() -> None:
    """Point fd 1 at /dev/null, so that the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def flush_stdout() -> None:
    if sys.stdout is None:  # started with stdout closed (`>&-`): nothing was printed
        return
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        drop_stdout()


def flush_all() -> None:
    """Flush both streams: the process may end without the interpreter's final flush."""
    flush_stdout()
    with contextlib.suppress(OSError, ValueError, AttributeError):  # closed, or None
        sys.stderr.flush()
