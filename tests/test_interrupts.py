"""interrupts.py: a signal never raises into the code it interrupts, and never goes unseen."""

from __future__ import annotations

import signal

import pytest

from minipaas_certs import interrupts
from minipaas_certs.errors import Interrupted


@pytest.fixture(autouse=True)
def _forget_signals():  # type: ignore[no-untyped-def]
    yield
    interrupts.reset()


def test_a_signal_in_a_cooperative_block_is_raised_at_its_end() -> None:
    """The block goes on to its end (a `check` that had printed OK), then fails."""
    with pytest.raises(Interrupted) as raised, interrupts.cooperative():
        interrupts.deliver(signal.SIGTERM)  # records, stops children, does not raise
        assert interrupts.received() == signal.SIGTERM
    assert raised.value.exit_code == 143


def test_the_stoppers_run_when_the_signal_comes() -> None:
    stopped: list[int] = []
    interrupts.on_signal(stopped.append)
    try:
        with pytest.raises(Interrupted), interrupts.cooperative():
            interrupts.deliver(signal.SIGINT)
    finally:
        interrupts._stoppers.remove(stopped.append)
    assert stopped == [signal.SIGINT]


def test_check_is_quiet_until_a_signal_came() -> None:
    interrupts.check()
    with interrupts.cooperative():
        pass
