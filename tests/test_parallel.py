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
