"""PTDaemon's reply texts that the power rules expect, word for word (read off real sessions)."""

from __future__ import annotations

__all__ = ["GO_REPLY", "NOTHING_TO_STOP_REPLY", "STOP_REPLY"]

GO_REPLY = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
STOP_REPLY = "Stopping untimed measurement"
NOTHING_TO_STOP_REPLY = "Error: no measurement to stop"
