"""SIGINT and SIGTERM: stop the openssl children at once, then leave cleanly.

The handler never raises into whatever the main thread is doing (a ``finally``,
a thread start, a finaliser), which is how tracebacks and half-done clean-ups
come about.  Instead it records the signal and runs the registered stoppers (they
kill the openssl children and refuse new ones).  Then:

* inside ``cooperative()`` (a run that writes an output directory), the run
  notices at its next openssl call or at ``check()`` and unwinds normally, so its
  staging folder is removed and its lock released; a signal during the final
  renames takes effect right after them;
* anywhere else there is nothing to clean up: the handler prints the one
  ``Error:`` line and ends the process with 128 + the signal number;
* once a run's change is durable (``complete``), a signal interrupts nothing:
  the run reports what it wrote and the advice that goes with it, notes the
  signal, and exits as it would have without it.

``install`` is called by the console entry point only, before click is imported;
the in-process API and the tests keep the interpreter's own handlers.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Callable, Iterator

from .errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM)
_received: int | None = None
_completed: str | None = None  # the change made durable, once it is
_depth = 0
_stoppers: list[Callable[[int], None]] = []
_finishers: list[Callable[[], None]] = []
_lock = threading.Lock()


def _handler(signal_number: int, frame: FrameType | None) -> None:
    global _received
    if _received is None:
        _received = signal_number
    for stop in list(_stoppers):
        with suppress(Exception):
            stop(signal_number)
    if _depth == 0 and _completed is None:
        name = signal.Signals(_received).name
        try:
            run_finishers()  # wait for the killed children to be gone
            os.write(2, f"Error: interrupted by {name}\n".encode())
        finally:
            os._exit(128 + _received)


def run_finishers() -> None:
    """Run the ``before_exit`` finishers: no openssl child outlives the process."""
    for finish in list(_finishers):
        with suppress(Exception):
            finish()


def install() -> None:
    """Handle SIGINT and SIGTERM (only the main thread can)."""
    for signal_number in HANDLED:
        signal.signal(signal_number, _handler)


def deliver(signal_number: int) -> None:
    """Handle a signal that was held while the handlers were not yet in place."""
    _handler(signal_number, None)


def on_signal(stop: Callable[[int], None]) -> None:
    """Run ``stop(signal_number)`` from the handler (it must be quick and re-entrant)."""
    with _lock:
        _stoppers.append(stop)


def before_exit(finish: Callable[[], None]) -> None:
    """Run ``finish()`` before the handler ends the process (outside ``cooperative``)."""
    with _lock:
        _finishers.append(finish)


def received() -> int | None:
    """The first signal received, if any."""
    return _received


def check() -> None:
    """Raise ``Interrupted`` if a signal has arrived: the run stops here (unless its
    change is already complete: then nothing is left to stop)."""
    if _received is not None and _completed is None:
        raise Interrupted(_received)


def complete(what: str) -> None:
    """The run's change (``what``: a sentence naming it) is durable: from now on a
    signal no longer makes the run fail; ``late_signal`` tells of it at the end."""
    global _completed
    _completed = what


def late_signal() -> str | None:
    """The note for a signal that came once the change was complete, or None; forgets
    the completion (the next run in this process starts afresh)."""
    global _completed
    what, _completed = _completed, None
    if what is None or _received is None:
        return None
    return (f"Note: {signal.Signals(_received).name} arrived once {what}; the change "
            "stands, and nothing was undone")


@contextmanager
def cooperative() -> Iterator[None]:
    """While inside, a signal only stops the children and marks the run interrupted;
    the code inside stops at its next ``check()`` or openssl call, and leaving the
    block normally raises ``Interrupted`` too, so an interrupted run never succeeds."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    check()


def reset() -> None:
    """Forget a received signal (for in-process callers that run several commands)."""
    global _received, _completed
    _received = _completed = None
