"""The official power checker's verdict, reproduced: what a submission will actually get.

The official checker (``power_checker.py`` in mlcommons/inference, identical to power-dev's
``compliance/check.py``) runs eleven checks; one that raises an assertion or any other exception
fails, one that raises its warning passes with a warning and *ends that check*. This module
reproduces each from the facts of that code (read, not copied), weaknesses included, because the
official verdict is what the submission will get:

- checkpoints of client and server agree within 800 ms, in every round;
- the uncertainty scan of ptd_logs.txt adds 800 "ms" to times in seconds: it only looks at warnings
  more than 800 s inside the LoadGen window, and its pattern misses the ``..., logical channel N!``
  form of PTDaemon 1.10/1.11;
- the ptd_logs.txt scan stops at the first warning it raises (an uncommon ranging error, an accepted
  ``USB.`` error, any warning inside its window), so what follows is never looked at;
- the 5 % power-change test is skipped when the testing run is more than 50 % shorter (the duration
  warning is raised first);
- the initial-range restore is found by position: the 3rd ``SR,V`` and the 3rd ``SR,A`` (from v5.1 the
  3rd or the 4th, both of which must exist);
- ``ptd_config`` is one object up to v5.0 and a list of analyzers from v5.1: the other shape fails.

mlpower's own rules (:mod:`analyzer.checks`) are the stricter audit; their ``official`` field says how
each relates to this one. The source-checksum check needs the official list of power-dev source
hashes, which mlpower does not ship: it is reported as not reproduced and left out of the verdict.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from analyzer.metrics import WindowStats
from analyzer.rounds import ACCEPTED_ANALYZERS, Round
from analyzer.run import RunData
from analyzer.tier import measurement_tier
from powerlog.layout import REQUIRED_FILES
from powerlog.ptd_replies import GO_REPLY, NOTHING_TO_STOP_REPLY, STOP_REPLY, range_changed_reply
from powerlog.ptdlog import PtdEvent, PtdEventKind
from powerlog.result_record import OfficialCheckRecord
from powerlog.tiers import INFORMATIVE_TIERS, tier_description
from powerlog.timestamps import NS_PER_S

__all__ = ["OfficialCheck", "OfficialOutcome", "official_checks", "official_verdict"]

TOLERANCE_S = 0.8
DST_SHIFT_S = 3600.0  # the official checker also accepts LoadGen times one hour off (a DST workaround)
UNCERTAINTY_MARGIN_S = 800.0  # the official scan's margin: 800 meant as ms, added to seconds
COMMON_RANGING_ERRORS = (
    "Can't evaluate uncertainty of this sample!",
    "Bad watts reading nan from ",
    "Bad amps reading nan from ",
    "Bad pf reading nan from ",
    "Bad volts reading nan from ",
    "Current appears to be too high for set range",
)
ACCEPTED_TESTING_ERRORS = ("USB.",)
_OLD_UNCERTAINTY_WARNING = re.compile(r"Uncertainty \d+.\d+%, which is above 1.00% limit for the last sample!")
_ACTIVATED = re.compile(r"Uncertainty checking for Yokogawa\S+ is activated")
_VERSION = re.compile(r"(?<=version=)(.+?)-")
_PROTOCOL = {
    "client": re.compile(r"mlcommons/power client v(\d+)$"),
    "server": re.compile(r"mlcommons/power server v(\d+)$"),
}
_RECORD_FIELDS = ("version", "timezone", "modules", "sources", "messages", "uuid", "session_name", "results", "phases")


class OfficialOutcome(StrEnum):
    PASS = "pass"
    WARNING = "warning"  # passes, flagged for audit
    FAIL = "fail"
    NOT_REPRODUCED = "not_reproduced"  # mlpower cannot run this check (left out of the verdict)


@dataclass(frozen=True)
class OfficialCheck:
    check: str  # a short id of the official check
    title: str
    outcome: OfficialOutcome
    message: str

    def to_record(self) -> OfficialCheckRecord:
        return OfficialCheckRecord(check=self.check, title=self.title, outcome=self.outcome.value, message=self.message)


class _Fail(Exception):
    """An official check failed (the official code's assertion, or any exception it would raise)."""


class _Warn(Exception):
    """The official checker's warning: the check passes, and stops there."""


def _need(condition: object, message: str) -> None:
    if not condition:
        raise _Fail(message)


def official_verdict(checks: Iterable[OfficialCheck]) -> str:
    return "fail" if any(c.outcome is OfficialOutcome.FAIL for c in checks) else "pass"


def official_checks(run: RunData, round_: Round) -> tuple[OfficialCheck, ...]:
    """Every official check, in the official order, for the round's checker. The run must be loaded with
    ``hash_files=True`` (the checksum checks need every file's sha1): ValueError otherwise."""
    if not run.file_sha1:
        raise ValueError(f"{run.folder.root}: load the run with load_run(..., hash_files=True) for the official checks")
    server, client = run.server_raw, run.client_raw
    problems = [
        f"power/{name}.json: {why}"
        for name, obj in (("client", client), ("server", server))
        if (why := _record_problem(obj)) is not None
    ]
    if problems:
        # the official checker reads both records before any check: it stops with an exception
        return (OfficialCheck("records", "Session records readable", OfficialOutcome.FAIL, "; ".join(problems)),)
    checks: list[tuple[str, str, Callable[[], str]]] = [
        ("ptd_messages", "PTDaemon commands and replies", lambda: _ptd_messages(server, round_)),
        ("uuid", "Client and server uuids", lambda: _uuids(client, server)),
        ("session_name", "Session names", lambda: _session_names(client, server)),
        ("phases", "Phase times, LoadGen windows, power change", lambda: _phases(run, client, server)),
        ("messages", "Client and server messages", lambda: _messages(client, server)),
        ("results", "Result file checksums", lambda: _results(run, client, server)),
        ("ptd_logs", "PTDaemon log errors and warnings", lambda: _ptd_logs(run, server)),
        ("ptd_config", "PTDaemon configuration", lambda: _ptd_config(server, round_)),
        ("debug", "Server not in debug mode", lambda: _debug(server)),
    ]
    tier = measurement_tier(run)
    informative = (
        [OfficialCheck("tier", "Measurement tier", OfficialOutcome.FAIL, f"{tier.value}: {tier_description(tier)}")]
        if tier in INFORMATIVE_TIERS
        else []
    )  # no official check has it: an informative tier cannot be a power result, and the verdict must say why
    out = [
        *informative,
        OfficialCheck(
            "sources",
            "Workflow source checksums",
            OfficialOutcome.NOT_REPRODUCED,
            "needs the official list of power-dev source checksums, which mlpower does not ship; not in the verdict",
        ),
    ]
    for check, title, body in checks:
        try:
            message = body()
        except _Warn as w:
            out.append(OfficialCheck(check, title, OfficialOutcome.WARNING, str(w)))
        except _Fail as f:
            out.append(OfficialCheck(check, title, OfficialOutcome.FAIL, str(f)))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, ZeroDivisionError) as e:
            out.append(
                OfficialCheck(
                    check, title, OfficialOutcome.FAIL, f"the official checker stops with an exception here: {e!r}"
                )
            )
        else:
            out.append(OfficialCheck(check, title, OfficialOutcome.PASS, message))
    out.append(_metric_check(run))
    return tuple(out)


def _record_problem(obj: Any) -> str | None:
    if obj is None:
        return "missing or not JSON"
    if not isinstance(obj, dict):
        return "not a JSON object"
    absent = [k for k in _RECORD_FIELDS if k not in obj]
    return f"lacks {', '.join(absent)}" if absent else None


# the checks --------------------------------------------------------------------------


def _ptd_messages(server: Mapping[str, Any], round_: Round) -> str:
    msgs = server["ptd_messages"]
    identify = next((m["reply"] for m in msgs if m["cmd"] == "Identify"), "")
    _need(identify, "no reply to Identify")
    model = identify.split(",")[0]
    found = _VERSION.search(identify)
    version = found.group(1) if found else ""
    _need(version in round_.ptd_versions, f"PTDaemon {version!r} not accepted in {round_.name} ({round_.ptd_versions})")
    _need(model in ACCEPTED_ANALYZERS, f"analyzer {model!r} not accepted")
    for prefix, expected in (
        ("SR,A", range_changed_reply("A")),
        ("SR,V", range_changed_reply("V")),
        ("Go,1000,", GO_REPLY),
        ("Stop", STOP_REPLY),
    ):
        stops = 0
        for m in msgs:
            if not m["cmd"].startswith(prefix):
                continue
            if m["cmd"] == "Stop":
                if stops == 2:  # the third Stop of a session finds no measurement
                    expected = NOTHING_TO_STOP_REPLY
                stops += 1
            _need(m["reply"] == expected, f"{m['cmd']!r} answered {m['reply']!r}, expected {expected!r}")
    rr = msgs[2]["reply"]
    initial_a, initial_v = _initial_range(rr, 1), _initial_range(rr, 3)
    amps = [_nth_command(msgs, "SR,A", n) for n in round_.amps_restore_positions]
    volts = _nth_command(msgs, "SR,V", 3)
    positions = " or ".join(f"#{n}" for n in round_.amps_restore_positions)
    _need(f"SR,A,{initial_a}" in amps, f"SR,A {positions} are {amps}, not the initial SR,A,{initial_a}")
    _need(volts == f"SR,V,{initial_v}", f"SR,V #3 is {volts!r}, not the initial SR,V,{initial_v}")
    return f"PTDaemon {version}, {model}; initial ranges A={initial_a}, V={initial_v} restored"


def _initial_range(reply: str, index: int) -> str:
    fields = reply.split(",")
    try:
        if fields[index] == "0" and float(fields[index + 1]) > 0:
            return fields[index + 1]
    except (IndexError, ValueError):
        raise _Fail(f"cannot read the initial ranges from the third message's reply {reply!r}") from None
    return "Auto"


def _nth_command(msgs: list[dict[str, str]], prefix: str, n: int) -> str:
    matching = [m["cmd"] for m in msgs if m["cmd"].startswith(prefix)]
    _need(len(matching) >= n, f"no command #{n} starting with {prefix!r} ({len(matching)} sent)")
    return matching[n - 1]


def _uuids(client: Mapping[str, Any], server: Mapping[str, Any]) -> str:
    for side in ("client", "server"):
        _need(uuid.UUID(client["uuid"][side]) == uuid.UUID(server["uuid"][side]), f"{side} uuids differ")
    return "uuids match"


def _session_names(client: Mapping[str, Any], server: Mapping[str, Any]) -> str:
    _need(client["session_name"] == server["session_name"], "session names differ")
    return str(client["session_name"])


def _phases(run: RunData, client: Mapping[str, Any], server: Mapping[str, Any]) -> str:
    for mode in ("ranging", "testing"):
        c, s = client["phases"][mode], server["phases"][mode]
        _need(len(c) == len(s), f"{mode}: {len(c)} client vs {len(s)} server checkpoints")
        for i, (a, b) in enumerate(zip(c, s, strict=True)):
            diff = abs(a[0] - b[0])
            _need(diff <= TOLERANCE_S, f"{mode} checkpoint {i + 1} differs by {diff * 1000:.1f} ms (> 800 ms)")
    windows = {}
    for mode, phase in (("ranging", run.ranging), ("testing", run.testing)):
        _need(phase.window_utc_ns is not None, f"no power_begin/power_end in {mode}'s detail log")
        begin, end = (t / NS_PER_S for t in phase.window_utc_ns)  # type: ignore[union-attr]
        started, stopping = client["phases"][mode][1][0], client["phases"][mode][2][0]
        for what, t in (("begin", begin), ("end", end)):
            _need(
                started < t < stopping or started < t - DST_SHIFT_S < stopping,
                f"LoadGen {what} is not inside the {mode} phase",
            )
        windows[mode] = end - begin
    shorter = (windows["ranging"] - windows["testing"]) / windows["ranging"]
    if shorter > 0.5:
        raise _Warn(f"testing is {shorter * 100:.2f} % shorter than ranging (the power change is then not checked)")
    ranging_w = _official_avg(run.ranging.raw_stats)
    testing_w = _official_avg(run.testing.raw_stats)
    delta = round((round(testing_w, 5) / round(ranging_w, 5) - 1) * 100, 2)
    _need(delta > -5, f"testing power {delta} % below ranging")
    return f"checkpoints within 800 ms, windows inside the phases, power change {delta:+.2f} %"


def _official_avg(stats: WindowStats | None) -> float:
    """The official average: samples strictly inside LoadGen's own window with Watts > 0, else -1."""
    if stats is None:
        raise _Fail("an spl.txt could not be read")
    return stats.avg_power_w if stats.avg_power_w is not None else -1.0


def _messages(client: Mapping[str, Any], server: Mapping[str, Any]) -> str:
    mc, ms = client["messages"], server["messages"]
    _need(len(mc) == len(ms), f"{len(mc)} client vs {len(ms)} server messages")
    for i, (a, b) in enumerate(zip(mc, ms, strict=True)):
        _need(a["cmd"] == b["cmd"], f"message {i}: client {a['cmd']!r}, server {b['cmd']!r}")
        if a["cmd"] != "time":
            _need(a["reply"] == b["reply"], f"message {i} ({a['cmd']!r}): replies differ")
    versions = {}
    for side, text in (("client", ms[0]["cmd"]), ("server", ms[0]["reply"])):
        found = _PROTOCOL[side].search(text)
        _need(found, f"no power {side} protocol version in {text!r}")
        versions[side] = found.group(1)  # type: ignore[union-attr]
    _need(
        versions["client"] == versions["server"], f"client protocol v{versions['client']}, server v{versions['server']}"
    )
    return f"{len(mc)} messages match, protocol v{versions['server']}"


def _results(run: RunData, client: Mapping[str, Any], server: Mapping[str, Any]) -> str:
    required = [p for p in REQUIRED_FILES if p not in ("power/client.json", "power/server.json")]
    files = dict(run.file_sha1)
    del files["power/server.json"], files["power/client.json"]

    def only_required(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k in required}

    recorded_s, recorded_c = only_required(server["results"]), only_required(client["results"])
    files = only_required(files)
    differ = sorted(k for k in recorded_s if k in recorded_c and recorded_s[k] != recorded_c[k])
    _need(not differ, f"client and server record different sha1 for {', '.join(differ)}")
    recorded = {**recorded_c, **recorded_s}
    missing, extra = sorted(recorded.keys() - files.keys()), sorted(files.keys() - recorded.keys())
    _need(not missing, f"recorded but not in the folder: {', '.join(missing)}")
    _need(not extra, f"in the folder but not recorded: {', '.join(extra)}")
    changed = sorted(k for k in recorded if recorded[k] != files[k])
    _need(not changed, f"sha1 differs from the record: {', '.join(changed)}")
    absent = sorted(set(required) - recorded.keys())
    _need(not absent, f"required files absent: {', '.join(absent)}")
    return f"{len(recorded)} required files match their recorded sha1"


def _ptd_logs(run: RunData, server: Mapping[str, Any]) -> str:
    log = run.ptd_log
    _need(log is not None, "power/ptd_logs.txt could not be read")
    _need(run.testing.window_utc_ns is not None, "no LoadGen window in run_1")
    mark = f"{server['session_name']}_ranging"
    events = log.events  # type: ignore[union-attr]
    start = next((e for e in events if e.message == f"Go with mark '{mark}'"), None)
    _need(start is not None, f"no Go with mark '{mark}' in ptd_logs.txt")
    stop = next((e for e in events if e.line_number > start.line_number and e.message == "Completed test"), None)  # type: ignore[union-attr]
    _need(stop is not None, "no 'Completed test' after the ranging Go")
    activated = next((e for e in events if _ACTIVATED.search(e.message)), None)
    _need(activated is not None, "no 'Uncertainty checking for Yokogawa... is activated' line")
    _need(activated.t_utc_ns < start.t_utc_ns, "uncertainty checking activated after ranging started")  # type: ignore[union-attr]
    load_begin, load_end = (t / NS_PER_S for t in run.testing.window_utc_ns)  # type: ignore[union-attr]
    ranging = (start.t_utc_ns / NS_PER_S, stop.t_utc_ns / NS_PER_S)  # type: ignore[union-attr]
    for e in events:
        t = e.t_utc_ns / NS_PER_S
        if e.kind is PtdEventKind.WARNING and load_begin + UNCERTAINTY_MARGIN_S < t < load_end - UNCERTAINTY_MARGIN_S:
            text = e.message.removeprefix("WARNING:").strip()
            _need(not _OLD_UNCERTAINTY_WARNING.search(text), f"line {e.line_number}: {text!r} during testing")
            raise _Warn(f"line {e.line_number}: {text!r} during the load (the scan stops here)")
        if e.kind is PtdEventKind.ERROR:
            text = e.message.removeprefix("ERROR:").strip()
            if text in ACCEPTED_TESTING_ERRORS:
                raise _Warn(f"line {e.line_number}: accepted error {text!r} (the scan stops here)")
            _need(ranging[0] < t < ranging[1], f"line {e.line_number}: ERROR {text!r} outside ranging")
            if not text.startswith(COMMON_RANGING_ERRORS):
                raise _Warn(f"line {e.line_number}: uncommon ranging error {text!r} (the scan stops here)")
        _need(not _untimed_problem(e), f"after line {e.line_number}: a WARNING/ERROR line without a timestamp")
    return "uncertainty checking activated before ranging; no error or warning the official scan rejects"


def _untimed_problem(event: PtdEvent) -> bool:
    """A continuation line (no timestamp) holding WARNING:/ERROR: makes the official scan raise."""
    return bool(event.detail) and ("WARNING:" in event.detail or "ERROR:" in event.detail)


def _ptd_config(server: Mapping[str, Any], round_: Round) -> str:
    config = server["ptd_config"]
    if round_.ptd_config_list:
        _need(isinstance(config, list), f"{round_.name}'s checker reads ptd_config as a list of analyzers")
        analyzers = config
    else:
        _need(isinstance(config, dict), f"{round_.name}'s checker reads ptd_config as one object")
        analyzers = [config]
    for analyzer in analyzers:
        device = analyzer["device_type"]
        _need(device in ACCEPTED_ANALYZERS.values(), f"device type {device} not accepted")
        if device == ACCEPTED_ANALYZERS["YokogawaWT330_multichannel"]:
            command = list(analyzer["command"])
            flag = command[command.index("-c") + 1] if "-c" in command[:-1] else ""
            channel = analyzer["channel"]
            _need(
                len(flag.split(",")) == 2 and channel and len(channel) == 2,
                "a WT330 multichannel analyzer must be configured with two channel numbers",
            )
    return f"{len(analyzers)} analyzer(s): device type(s) {', '.join(str(a['device_type']) for a in analyzers)}"


def _debug(server: Mapping[str, Any]) -> str:
    _need(server.get("debug", False) is False, "server.json says debug mode was on")
    return "debug off"


def _metric_check(run: RunData) -> OfficialCheck:
    """The submission checker's own condition for a power result: samples inside the window."""
    stats = run.testing.raw_stats
    title = "Power samples in the testing window"
    if stats is None or stats.samples_in_window == 0:
        return OfficialCheck("metric", title, OfficialOutcome.FAIL, "no sample with Watts > 0 inside run_1's window")
    return OfficialCheck("metric", title, OfficialOutcome.PASS, f"{stats.samples_in_window} samples")
