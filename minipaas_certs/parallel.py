"""Running a few blocking calls at once with plain threads.

The calls wait on openssl children, so threads are enough.  concurrent.futures
would do, but its import (with logging) costs 4.1-4.4 ms (``python -X importtime``,
three runs, installed tool's venv, 2026-11-27): 2.5% of ``certs all`` with ECDSA
keys, paid by every command that issues; and the rules below (nothing starts
after a failure, every started call ends before the error is raised) would need
as much code around an executor.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, Iterator, Sequence, TypeVar

Result = TypeVar("Result")


def run_all(calls: Sequence[Callable[[], Result]], workers: int,
            on_interrupt: Callable[[BaseException], None] = lambda _: None,
            failed: threading.Event | None = None) -> list[Result]:
    """Run ``calls`` on up to ``workers`` threads; return their results in order.

    The first failure is raised once every started call has ended, and no call
    starts after one failed.  Runs sharing a ``failed`` event stop together: the
    one whose call failed raises, the others return with None for the calls they
    did not start (their caller raises the failure).  If the waiting thread
    itself is interrupted (a signal), ``on_interrupt`` runs (to stop the children
    the calls wait on) before the threads are joined and the interrupt goes on.
    """
    results: list[Result | None] = [None] * len(calls)
    errors: list[BaseException] = []
    pending: Iterator[int] = iter(range(len(calls)))
    lock = threading.Lock()
    failed = failed or threading.Event()

    def worker() -> None:
        while True:
            with lock:
                index = None if errors or failed.is_set() else next(pending, None)
            if index is None:
                return
            try:
                results[index] = calls[index]()
            except BaseException as error:  # re-raised in the calling thread
                with lock:
                    errors.append(error)
                failed.set()

    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(max(1, min(workers, len(calls))))]
    started: list[threading.Thread] = []
    try:
        for thread in threads:
            thread.start()
            started.append(thread)
        for thread in started:
            thread.join()
    except BaseException as interrupt:  # in-process callers only: the CLI's handler never raises
        with lock:
            errors.append(interrupt)
        on_interrupt(interrupt)
        for thread in started:
            thread.join()
        raise
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


class Deferred(Generic[Result]):
    """A value that another thread provides, or fails to; ``get`` waits for it."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._value: Result | None = None
        self._error: BaseException | None = None

    def provide(self, produce: Callable[[], Result]) -> None:
        """Compute the value; on failure, waiters get the same exception."""
        try:
            self._value = produce()
        except BaseException as error:
            self._error = error
            raise
        finally:
            self._ready.set()

    def fail(self, error: BaseException) -> None:
        """Give the waiters ``error`` if the value was never provided (its call did not
        start); only once nothing can be providing it."""
        if not self._ready.is_set():
            self._error = error
            self._ready.set()

    def get(self) -> Result:
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
