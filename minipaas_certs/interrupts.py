"""SIGINT and SIGTERM as exceptions, held back while files are being moved into place.

The CLI installs the handlers; the core only raises and holds.  An interrupt
before the final moves unwinds the run (children stopped, staging removed); one
that arrives during them takes effect right after, so the directory holds either
the old set or the complete new one.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from types import FrameType
from typing import Iterator

from .errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM)
_held = False
_pending: int | None = None


def _handler(signal_number: int, frame: FrameType | None) -> None:
    global _pending
    if _held:
        _pending = signal_number
        return
    raise Interrupted(signal_number)


def install() -> None:
    """Turn SIGINT and SIGTERM into ``Interrupted`` (only the main thread can)."""
    try:
        for signal_number in HANDLED:
            signal.signal(signal_number, _handler)
    except ValueError:  # not the main thread: leave the handlers as they are
        pass


@contextmanager
def held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM until the block ends, then raise for the first one seen."""
    global _held, _pending
    _held, _pending = True, None
    try:
        yield
    finally:
        _held = False
        pending, _pending = _pending, None
        if pending is not None:
            raise Interrupted(pending)
