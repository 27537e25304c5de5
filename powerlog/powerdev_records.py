"""power-dev's session records as mlpower writes them: ``power/server.json`` (the director) and
``power/client.json`` (the agent), typed.

The fields and shapes are those the official power checker reads; the key order is power-dev's.
mlpower writes one shape; :mod:`powerlog.session_record` reads every shape real power-dev files
come in (``ptd_config`` as one object up to v5.0, ``[null]`` in a client.json, messages without
times), which is why reading goes through that module rather than these models.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from powerlog.json_record import FrozenRecord
from powerlog.run_record import ClockEntry
from powerlog.wire import ComponentDescription

__all__ = [
    "POWERDEV_RECORD_VERSION",
    "ClientJson",
    "ClientMlpower",
    "PowerDevMessage",
    "PtdConfigEntry",
    "PtdMessage",
    "ServerJson",
    "SessionUuids",
    "powerdev_json_text",
]

POWERDEV_RECORD_VERSION = "mlpower-1"
NS = 1_000_000_000


class PowerDevMessage(FrozenRecord):
    """One command of the session and its reply, each with the UTC time (s) its side saw it; the checker
    compares client.json's list with server.json's one by one."""

    cmd: str
    cmd_time: float
    reply: str
    reply_time: float

    @classmethod
    def exchanged(cls, cmd: str, cmd_utc_ns: int, reply: str, reply_utc_ns: int) -> PowerDevMessage:
        return cls(cmd=cmd, cmd_time=cmd_utc_ns / NS, reply=reply, reply_time=reply_utc_ns / NS)


class PtdMessage(FrozenRecord):
    """A control command to the analyzer and its reply (server.json ``ptd_messages``)."""

    cmd: str
    reply: str


class PtdConfigEntry(FrozenRecord):
    """One analyzer of server.json ``ptd_config`` (see :mod:`director.ptd_config` for what mlpower puts in)."""

    command: list[str]
    device_type: int | None
    interface_flag: str
    dc_flag: bool | None
    device_port: str
    channel: list[int] | None
    simulated: bool  # mlpower's own key: the official checker reads only the others


class SessionUuids(FrozenRecord):
    client: str
    server: str


class _PowerDevRecord(FrozenRecord):
    """What both sides' records hold, in power-dev's order."""

    version: str = POWERDEV_RECORD_VERSION
    timezone: int = 0
    modules: dict[str, str] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)
    messages: list[PowerDevMessage] = Field(default_factory=list)
    uuid: SessionUuids
    session_name: str
    results: dict[str, str] = Field(default_factory=dict)  # file -> SHA-1
    # per phase, four checkpoints: [UTC time (s), the recorder's monotonic clock (s)]
    phases: dict[str, list[tuple[float, float]]] = Field(default_factory=dict)


class ServerJson(_PowerDevRecord):
    """``power/server.json``: the director's side of the session."""

    ptd_messages: list[PtdMessage] = Field(default_factory=list)
    ptd_config: list[PtdConfigEntry] = Field(default_factory=list)


class ClientMlpower(FrozenRecord):
    """mlpower's own part of client.json (the official checker does not read it)."""

    clock: list[ClockEntry] = Field(default_factory=list)
    workload: str = ""
    gpu_sampler: dict[str, Any] | None = None  # the sampler's statistics: reads, misses, undelivered batches
    components: list[ComponentDescription] = Field(default_factory=list)


class ClientJson(_PowerDevRecord):
    """``power/client.json``: the agent's side of the session."""

    mlpower: ClientMlpower = Field(default_factory=ClientMlpower)


def powerdev_json_text(record: ServerJson | ClientJson) -> str:
    """The record as its file holds it: indented JSON and a final newline."""
    return json.dumps(record.model_dump(mode="json"), indent=2, allow_nan=False) + "\n"
