"""PTDaemon's reply texts, word for word (read off real sessions), in one place for the driver that
expects them, the simulator that gives them and the rules that check them."""

from __future__ import annotations

__all__ = [
    "BAD_PARAMS_REPLY",
    "GO_REPLY",
    "HELLO_REPLY",
    "MAX_SAMPLES",
    "NOTHING_TO_STOP_REPLY",
    "STOP_REPLY",
    "UNKNOWN_COMMAND_REPLY",
    "UNTIMED_GO_PREFIX",
    "go_reply",
    "range_changed_reply",
    "stop_reply",
]

MAX_SAMPLES = 500_000  # PTDaemon's largest measurement, as its Go reply states it
HELLO_REPLY = "Hello, PTDaemon here!"
UNKNOWN_COMMAND_REPLY = "Unknown command"
BAD_PARAMS_REPLY = "Invalid number of parameters"
NOTHING_TO_STOP_REPLY = "Error: no measurement to stop"
UNTIMED_GO_PREFIX = "Starting untimed measurement"


def go_reply(interval_ms: int, count: int) -> str:
    """The reply to ``Go,<interval_ms>,<count>,<mark>`` (count 0: untimed)."""
    if count == 0:
        return f"{UNTIMED_GO_PREFIX}, maximum {MAX_SAMPLES} samples at {interval_ms}ms with 0 rampup samples"
    return f"Starting timed measurement, {count} samples at {interval_ms}ms with 0 rampup samples"


def stop_reply(timed: bool = False) -> str:
    return "Stopping timed measurement" if timed else "Stopping untimed measurement"


def range_changed_reply(axis: str) -> str:
    """The reply to ``SR,V,...`` (axis ``V``) or ``SR,A,...`` (``A``)."""
    return f"Range {axis} changed"


GO_REPLY = go_reply(1000, 0)  # what power-dev's Go,1000,0,<mark> must get
STOP_REPLY = stop_reply()
