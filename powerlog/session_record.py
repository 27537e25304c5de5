"""Session records of the client/server workflow: ``power/server.json`` and ``power/client.json``.

Real files differ in small ways (``ptd_config`` is a dict in older rounds, a list of
analyzers from v5.1 on, ``[null]`` in a current client.json); the reader accepts all
of them and keeps the raw JSON alongside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powerlog.errors import FormatError, MissingFileError
from powerlog.json_record import loads_json

__all__ = [
    "PhaseCheckpoint",
    "PtdConfig",
    "SessionMessage",
    "SessionRecord",
    "parse_session_record",
    "read_session_record",
]


@dataclass(frozen=True)
class SessionMessage:
    cmd: str
    reply: str
    cmd_time_s: float | None = None
    reply_time_s: float | None = None


@dataclass(frozen=True)
class PtdConfig:
    command: tuple[str, ...]
    device_type: int | None
    interface_flag: str | None
    device_port: str | None
    channels: tuple[int, ...]


@dataclass(frozen=True)
class PhaseCheckpoint:
    """One entry of ``phases``: wall clock (UTC ns) and the recorder's monotonic clock (s)."""

    t_utc_ns: int
    monotonic_s: float


@dataclass(frozen=True)
class SessionRecord:
    path: str
    version: str | None
    timezone_s: int
    session_name: str | None
    uuid_client: str | None
    uuid_server: str | None
    messages: tuple[SessionMessage, ...]
    ptd_messages: tuple[SessionMessage, ...]
    ptd_configs: tuple[PtdConfig, ...]
    phases: dict[str, tuple[PhaseCheckpoint, ...]]
    results: dict[str, str]
    sources: dict[str, str]
    debug: bool | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def ptd_reply(self, cmd: str) -> str | None:
        """The reply to the first PTDaemon command equal to ``cmd``."""
        return next((m.reply for m in self.ptd_messages if m.cmd == cmd), None)


def read_session_record(path: Path | str) -> SessionRecord:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, "session record")
    try:
        obj = loads_json(path.read_bytes())
    except ValueError as e:  # not JSON, not UTF-8, or nested too deeply
        line = getattr(e, "lineno", None)
        raise FormatError(path, f"not valid JSON: {e}", line) from e
    return parse_session_record(obj, str(path))


def _messages(obj: Any, path: str, key: str) -> tuple[SessionMessage, ...]:
    if obj is None:
        return ()
    if not isinstance(obj, list):
        raise FormatError(path, f"{key!r} should be a list, found {type(obj).__name__}")
    out = []
    for i, m in enumerate(obj):
        if not isinstance(m, dict) or not isinstance(m.get("cmd"), str):
            raise FormatError(path, f"{key}[{i}] has no string 'cmd'")
        out.append(
            SessionMessage(
                cmd=m["cmd"],
                reply=str(m.get("reply", "")),
                cmd_time_s=_float_or_none(m.get("cmd_time")),
                reply_time_s=_float_or_none(m.get("reply_time")),
            )
        )
    return tuple(out)


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ptd_configs(obj: Any, path: str) -> tuple[PtdConfig, ...]:
    if obj is None:
        return ()
    items = obj if isinstance(obj, list) else [obj]
    out = []
    for i, c in enumerate(items):
        if c is None:
            continue  # current power-dev writes "ptd_config": [null] into client.json: no analyzer there
        if not isinstance(c, dict):
            raise FormatError(path, f"ptd_config entry {i} should be an object, found {type(c).__name__}")
        channels = c.get("channel") or []
        channels = channels if isinstance(channels, list) else [channels]
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in channels):
            raise FormatError(path, f"ptd_config entry {i}: 'channel' should be integers, found {c.get('channel')!r}")
        out.append(
            PtdConfig(
                command=tuple(str(x) for x in c.get("command") or []),
                device_type=c["device_type"] if isinstance(c.get("device_type"), int) else None,
                interface_flag=c.get("interface_flag"),
                device_port=c.get("device_port"),
                channels=tuple(channels),
            )
        )
    return tuple(out)


def _phases(obj: Any, path: str) -> dict[str, tuple[PhaseCheckpoint, ...]]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise FormatError(path, f"'phases' should be an object, found {type(obj).__name__}")
    out: dict[str, tuple[PhaseCheckpoint, ...]] = {}
    for mode, checkpoints in obj.items():
        points = []
        for i, point in enumerate(checkpoints if isinstance(checkpoints, list) else []):
            if not (
                isinstance(point, list) and len(point) >= 2 and all(_float_or_none(x) is not None for x in point[:2])
            ):
                raise FormatError(path, f"phases.{mode}[{i}] should be [wall_time_s, monotonic_s], found {point!r}")
            points.append(PhaseCheckpoint(round(float(point[0]) * 1e9), float(point[1])))
        out[str(mode)] = tuple(points)
    return out


def _object(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def parse_session_record(obj: Any, path: str = "<json>") -> SessionRecord:
    if not isinstance(obj, dict):
        raise FormatError(path, f"a session record is a JSON object, found {type(obj).__name__}")
    uuid = _object(obj.get("uuid"))
    results = _object(obj.get("results"))
    sources = _object(obj.get("sources"))
    debug = obj.get("debug")
    timezone = obj.get("timezone") or 0
    if not isinstance(timezone, int) or isinstance(timezone, bool):
        raise FormatError(path, f"'timezone' should be an integer number of seconds, found {timezone!r}")
    return SessionRecord(
        path=path,
        version=str(obj["version"]) if "version" in obj else None,
        timezone_s=timezone,
        session_name=obj.get("session_name") if isinstance(obj.get("session_name"), str) else None,
        uuid_client=uuid.get("client"),
        uuid_server=uuid.get("server"),
        messages=_messages(obj.get("messages"), path, "messages"),
        ptd_messages=_messages(obj.get("ptd_messages"), path, "ptd_messages"),
        ptd_configs=_ptd_configs(obj.get("ptd_config"), path),
        phases=_phases(obj.get("phases"), path),
        results={str(k): str(v) for k, v in results.items()},
        sources={str(k): str(v) for k, v in sources.items()},
        debug=bool(debug) if debug is not None else None,
        raw=obj,
    )
