"""parallel.py: results in order, the first failure once all started calls ended."""

from __future__ import annotations

import threading
import time

import pytest

from minipaas_certs.parallel import Deferred, run_all


def test_results_come_back_in_order() -> None:
    calls = [lambda n=n: (time.sleep(0.01 * (5 - n)), n)[1] for n in range(5)]
    assert run_all(calls, 3) == [0, 1, 2, 3, 4]


def test_no_call_starts_after_one_failed_and_started_ones_finish() -> None:
    started, finished = [], []
    gate = threading.Event()

    def slow() -> None:
        started.append("slow")
        gate.wait(2)
        finished.append("slow")

    def failing() -> None:
        started.append("failing")
        gate.set()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_all([slow, failing, lambda: started.append("late")], 2)
    assert "late" not in started and finished == ["slow"]


def test_deferred_gives_waiters_the_value_or_the_error() -> None:
    value: Deferred[int] = Deferred()
    value.provide(lambda: 7)
    assert value.get() == 7
    broken: Deferred[int] = Deferred()
    with pytest.raises(KeyError):
        broken.provide(lambda: {}["x"])
    with pytest.raises(KeyError):
        broken.get()


def test_runs_sharing_failed_stop_together() -> None:
    """One run's failure stops the other's next calls; the other returns what it did."""
    failed = threading.Event()
    started: list[str] = []
    first_done = threading.Event()

    def failing() -> None:
        first_done.wait(2)
        raise ValueError("boom")

    def other(name: str) -> str:
        started.append(name)
        first_done.set()
        time.sleep(0.05)  # the failure happens meanwhile
        return name

    outcomes: list[object] = []

    def second() -> None:
        outcomes.append(run_all([lambda: other("a"), lambda: other("b")], 1, failed=failed))

    with pytest.raises(ValueError, match="boom"):
        run_all([lambda: run_all([failing], 1, failed=failed), second], 2)
    assert started == ["a"] and outcomes == [["a", None]] and failed.is_set()


def test_a_deferred_never_provided_can_be_failed_once_nothing_provides_it() -> None:
    never: Deferred[int] = Deferred()
    never.fail(ValueError("its call never started"))
    with pytest.raises(ValueError, match="never started"):
        never.get()
    provided: Deferred[int] = Deferred()
    provided.provide(lambda: 3)
    provided.fail(ValueError("too late"))  # a value already there stays
    assert provided.get() == 3
