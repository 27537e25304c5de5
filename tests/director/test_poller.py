"""The polling thread every self-polling driver (serial SCPI, Redfish) shares: readings handed over once, and
the error that ended the loop raised only after what was read before it."""

from __future__ import annotations

import threading

import pytest

from director.errors import MeterConnectionError, MeterErrorReply
from director.meters.poller import Poller
from tests.support.processes import wait_for


def _run_to_end(poller: Poller[int], loop) -> None:  # type: ignore[no-untyped-def]
    poller.start(loop, "test poller")
    wait_for(lambda: poller.error is not None or None, 30, "the loop to end")


def test_readings_are_taken_once_then_the_untranslated_error_is_raised() -> None:
    poller: Poller[int] = Poller("meter-a")

    def loop() -> None:
        poller.put(1)
        poller.put(2)
        raise OSError(5, "Input/output error")  # e.g. termios.error once the adapter is pulled

    _run_to_end(poller, loop)
    assert poller.take() == [1, 2]
    with pytest.raises(MeterConnectionError, match=r"meter-a.*poller stopped: OSError"):
        poller.take()


def test_a_meter_error_is_kept_as_it_is_and_forgotten_at_the_next_start() -> None:
    poller: Poller[int] = Poller("meter-b")
    refusal = MeterErrorReply("401 Unauthorized", meter="meter-b")

    def refused() -> None:
        raise refusal

    _run_to_end(poller, refused)
    with pytest.raises(MeterErrorReply) as caught:
        poller.take()
    assert caught.value is refusal
    poller.start(lambda: poller.put(7), "again")
    assert poller.stop(join_timeout_s=30) in (True, False)
    assert poller.error is None and poller.take() == [7]


def test_stop_ends_a_running_loop_and_says_it_was_running() -> None:
    poller: Poller[int] = Poller("meter-c")
    started = threading.Event()

    def loop() -> None:
        started.set()
        while not poller.stopping.wait(0.01):
            poller.put(0)

    poller.start(loop, "running")
    assert started.wait(30)
    assert poller.stop(join_timeout_s=30) is True
    assert poller.stop(join_timeout_s=30) is False
    assert poller.error is None
