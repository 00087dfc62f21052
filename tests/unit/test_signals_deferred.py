"""A stop signal that arrives during a batch submission waits until its job id is in the ledger
(mdflow/interrupt.py signals_deferred); a second signal does not wait."""

import signal

import pytest

from mdflow import interrupt


@pytest.fixture
def stopper(monkeypatch):
    stopper = interrupt.Stopper(grace_s=0)
    monkeypatch.setattr(interrupt, "_current", stopper)
    return stopper


def test_a_signal_during_the_block_takes_effect_when_it_ends(stopper):
    done = []
    with pytest.raises(interrupt.Interrupted):
        with interrupt.signals_deferred():
            stopper.handle(signal.SIGINT)
            assert interrupt.stop_pending()
            done.append("recorded")  # the ledger write still happens
    assert done == ["recorded"] and stopper.signum == signal.SIGINT and not interrupt.stop_pending()


def test_a_second_signal_does_not_wait(stopper):
    with pytest.raises(interrupt.Interrupted):
        with interrupt.signals_deferred():
            stopper.handle(signal.SIGINT)
            stopper.handle(signal.SIGINT)
            pytest.fail("the second signal should have stopped the block")


def test_without_a_signal_nothing_changes(stopper):
    with interrupt.signals_deferred():
        pass
    assert stopper.signum is None and stopper.deferring == 0
