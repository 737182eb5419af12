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


def progress(text: str) -> None:
    """Progress (or a warning) on stderr, control characters escaped."""
    with contextlib.suppress(OSError):
        click.echo("\n".join(printable(line) for line in text.split("\n")), err=True)


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
