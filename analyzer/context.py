"""What a result *is*, decided once: its round, benchmark and scenario, and where each came from.

A result in a submission tree sits at
``[<round>/]<division>/<submitter>/results/<system>/<benchmark>/<scenario>/performance``: the
official checker takes the benchmark and the scenario from that path (the scenario folder may be
lower case) and infers the result when LoadGen ran another scenario. Outside a tree an mlpower run's agent may
name them (session.json ``agent.benchmark`` and ``agent.scenario``: the built-in LLM benchmark does, its
Interactive runs being LoadGen Server runs), read as a tree's folders would be; else the scenario is LoadGen's
``effective_scenario`` unless the caller names one.

The round, when not given, is read from the evidence in the folder, strongest first:
1. a folder above the division naming it (``v5.1``, ``inference_results_v5.1``);
2. the rounds whose official checker accepts the PTDaemon version of the Identify reply, narrowed by
   the shape of server.json's ``ptd_config`` (one object up to v5.0, a list of analyzers from v5.1) and
   by LoadGen's version (``loadgen_version`` in the detail log: its own round if still possible, else
   the rounds after it, since a submission may use an older LoadGen).
What is left ambiguous is said so, and the newest candidate is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from analyzer.metrics import Scenario, is_inferred
from analyzer.rounds import NEWEST_ROUND, ROUNDS, Round, get_round
from analyzer.run import PhaseData, RunData
from powerlog.ptd_identity import IdentifyError, parse_identify_reply

__all__ = [
    "ResultContext",
    "ResultMeter",
    "TreePosition",
    "as_context",
    "meter_identity",
    "result_context",
    "scenario_of",
    "tree_position",
]

DIVISIONS = ("closed", "open", "network")
_ROUND_DIR = re.compile(r"(?:^|[_-])v(\d+\.\d+)$")
_LOADGEN_VERSION = re.compile(r"^\s*(\d+)\.(\d+)")


@dataclass(frozen=True)
class ResultMeter:
    """The wall meter as a result's files name it: the analyzer model and PTDaemon version of server.json's Identify
    reply, or what mlpower's driver read (session.json); None where the files do not say."""

    model: str | None
    ptd_version: str | None
    simulated: bool
    identify_reply: str | None


def meter_identity(run: RunData) -> ResultMeter:
    """The analyzer and PTDaemon version, from the Identify reply in server.json."""
    reply = run.server.ptd_reply("Identify") if run.server else None
    if not reply:  # no PTDaemon: the identity mlpower's driver read (a serial analyzer, a Redfish BMC), if recorded
        record = run.mlpower_session
        identity = record.meter.identity if record is not None and record.meter is not None else None
        if identity is not None:
            return ResultMeter(identity.model or None, None, identity.simulated, None)
        return ResultMeter(None, None, False, None)
    try:
        ptd = parse_identify_reply(reply)
    except IdentifyError:
        return ResultMeter(None, None, "simulated" in reply.lower(), reply)
    return ResultMeter(ptd.model, ptd.version, ptd.simulated, reply)


def scenario_of(phase: PhaseData) -> Scenario | None:
    """LoadGen's scenario of a phase's run."""
    return Scenario.parse(phase.detail.value("effective_scenario")) if phase.detail else None


@dataclass(frozen=True)
class TreePosition:
    """Where a ``performance/`` folder sits in a submission tree; every field None outside one."""

    scenario: Scenario | None = None
    scenario_folder: str | None = None
    benchmark: str | None = None
    system: str | None = None
    submitter: str | None = None
    division: str | None = None
    round_folder: str | None = None  # the folder above the division, when it names a round


def tree_position(perf_dir: Path | str) -> TreePosition:
    parts = Path(perf_dir).resolve().parts
    if len(parts) < 3 or (scenario := Scenario.parse(parts[-2])) is None:
        return TreePosition()
    benchmark = parts[-3]
    if len(parts) < 7 or parts[-5] != "results":
        return TreePosition(scenario, parts[-2], benchmark)
    system, submitter, division = parts[-4], parts[-6], parts[-7]
    round_folder = parts[-8] if len(parts) >= 8 and division.lower() in DIVISIONS else None
    if round_folder is not None and not _ROUND_DIR.search(round_folder):
        round_folder = None
    return TreePosition(scenario, parts[-2], benchmark, system, submitter, division, round_folder)


@dataclass(frozen=True)
class ResultContext:
    round: Round
    round_source: str  # how the round was chosen, in words
    benchmark: str | None
    scenario: Scenario | None  # the result's scenario (the folder's, else LoadGen's)
    scenario_source: str
    loadgen_scenario: Scenario | None
    position: TreePosition

    @property
    def inferred(self) -> bool:
        return (
            self.scenario is not None
            and self.loadgen_scenario is not None
            and is_inferred(self.scenario, self.loadgen_scenario)
        )


def result_context(
    run: RunData,
    round_: Round | str | None = None,
    *,
    benchmark: str | None = None,
    scenario: str | Scenario | None = None,
) -> ResultContext:
    """Decide round, benchmark and scenario of ``run``. Explicit arguments win over the folder's evidence."""
    position = tree_position(run.folder.root)
    loadgen_scenario = scenario_of(run.testing)
    chosen, source = _choose_round(run, position, round_)
    result_scenario: Scenario | None
    if scenario is not None:
        wanted = scenario if isinstance(scenario, Scenario) else Scenario.parse(scenario)
        if wanted is None:
            raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(s.value for s in Scenario)}")
        result_scenario, scenario_source = wanted, "--scenario"
    elif position.scenario is not None:
        result_scenario = position.scenario
        scenario_source = f"the submission tree (folder {position.scenario_folder!r})"
    elif (named := _agent_named(run)[1]) is not None:
        result_scenario, scenario_source = named, "session.json (agent.scenario: the scenario its agent ran)"
    else:
        result_scenario, scenario_source = loadgen_scenario, "LoadGen's effective_scenario"
    if benchmark is None:
        benchmark = position.benchmark or _agent_named(run)[0]
    return ResultContext(chosen, source, benchmark, result_scenario, scenario_source, loadgen_scenario, position)


def _agent_named(run: RunData) -> tuple[str | None, Scenario | None]:
    """The benchmark and scenario an mlpower run's agent named in session.json (None where it named none)."""
    agent = run.mlpower_session.agent if run.mlpower_session is not None else None
    if agent is None:
        return None, None
    return agent.benchmark or None, Scenario.parse(agent.scenario)


def as_context(run: RunData, round_: Round | ResultContext | str | None) -> ResultContext:
    """A result's context from a round, a round's name, None (detect it) or a context already made."""
    return round_ if isinstance(round_, ResultContext) else result_context(run, round_)


def _choose_round(run: RunData, position: TreePosition, requested: Round | str | None) -> tuple[Round, str]:
    if isinstance(requested, Round):
        return requested, "given"
    if isinstance(requested, str):
        return get_round(requested), "--round"
    if position.round_folder is not None:
        name = f"v{_ROUND_DIR.search(position.round_folder).group(1)}"  # type: ignore[union-attr]
        if name in ROUNDS:
            return ROUNDS[name], f"the submission tree (folder {position.round_folder!r})"
    return _detect_round(run)


def _detect_round(run: RunData) -> tuple[Round, str]:
    candidates = list(ROUNDS.values())
    evidence: list[str] = []
    conflicts: list[str] = []

    def narrow(label: str, keep: list[Round]) -> None:
        nonlocal candidates
        evidence.append(label)
        if keep:
            candidates = keep
        else:
            conflicts.append(label)

    version = meter_identity(run).ptd_version
    if version is not None:
        narrow(f"PTDaemon {version}", [r for r in candidates if version in r.ptd_versions])
    config = run.server_raw.get("ptd_config") if isinstance(run.server_raw, dict) else None
    if isinstance(config, list | dict):
        shape = "a list of analyzers" if isinstance(config, list) else "one analyzer object"
        narrow(f"ptd_config as {shape}", [r for r in candidates if r.ptd_config_list == isinstance(config, list)])
    loadgen = _loadgen_version(run)
    if loadgen is not None:
        same = [r for r in candidates if loadgen in r.loadgen_versions]
        later = [r for r in candidates if _version_key(r.name) > _version_key(f"v{loadgen}")]
        narrow(f"LoadGen {loadgen}", same or later)
    names = ", ".join(r.name for r in candidates)
    why = " + ".join(evidence) if evidence else "no LoadGen or PTDaemon version in the folder"
    if conflicts:
        why += f" (ignored, matching no remaining round: {', '.join(conflicts)})"
    if len(candidates) == 1:
        return candidates[0], f"detected from {why}"
    newest = max(candidates, key=lambda r: _version_key(r.name)) if evidence else ROUNDS[NEWEST_ROUND]
    return newest, f"ambiguous: {why} fit {names}; the newest, {newest.name}, is used (pass --round to choose)"


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in name.lstrip("v").split("."))


def _loadgen_version(run: RunData) -> str | None:
    for phase in (run.testing, run.ranging):
        value = phase.detail.value("loadgen_version") if phase.detail else None
        if isinstance(value, str) and (m := _LOADGEN_VERSION.match(value)):
            return f"{int(m.group(1))}.{int(m.group(2))}"
    return None
