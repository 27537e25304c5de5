"""``result.json``: the analyzer's report and rule check of a closed run, as typed, versioned models.

The director writes it at close (:func:`write_result_json`) and returns it to the agent, which keeps a
copy in its own folder; the dashboard and the agent's summary read it with :func:`read_result_json` or
:func:`parse_result_json`. ``report`` is what ``mlpower-analyzer report --json`` prints, ``check`` what
``check --json`` prints. Sections a run has no data for are left out, as in those outputs (a model
keeps which fields were given, and writes only those). Fields a reader does not know are ignored.
``format`` names the version: ``mlpower-result-1``. docs/file-formats.md lists the fields, and a test
keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from powerlog.cli_support import write_json_atomic
from powerlog.json_record import FrozenRecord, parse_record, read_json_file
from powerlog.tiers import MeasurementTier

__all__ = [
    "RESULT_FORMAT",
    "CalibratedRecord",
    "CalibratedSourceRecord",
    "CalibrationUseRecord",
    "ChannelShare",
    "CheckRecord",
    "ClockCorrection",
    "ComponentPhaseSummary",
    "ComponentRecord",
    "DesignPowerRecord",
    "ErrorBarRecord",
    "EvidenceRecord",
    "FindingRecord",
    "GpuPhaseSummary",
    "GpuRecord",
    "InterconnectRecord",
    "MeterSummary",
    "NodeEnergyRecord",
    "NodeGapRecord",
    "NodeSensorsRecord",
    "OfficialCheckRecord",
    "PerformanceRecord",
    "PrefillDecodePartRecord",
    "PrefillDecodeRecord",
    "QuantityRecord",
    "ReportRecord",
    "ResultJson",
    "SampleGapRecord",
    "SourceEnergyRecord",
    "StaticActivePartRecord",
    "StaticActiveRecord",
    "SystemEnergyRecord",
    "TokenFiguresRecord",
    "TokenLatencyRecord",
    "UncertaintyTermRecord",
    "UncorrectedFigures",
    "WindowRecord",
    "parse_result_json",
    "read_result_json",
    "write_result_json",
]

RESULT_FORMAT = "mlpower-result-1"


class UncertaintyTermRecord(FrozenRecord):
    """One component of an uncertainty budget: a standard uncertainty in the figure's unit, and its source."""

    name: str
    standard: float
    note: str = ""


class ErrorBarRecord(FrozenRecord):
    """An expanded uncertainty: the figure's true value lies within ``value +- expanded`` with about 95 %
    probability (``k`` = 2); ``terms`` are the named components (see docs/metrics-and-rules.md)."""

    expanded: float
    unit: str
    k: float = 2.0
    standard: float
    relative_pct: float | None = None
    dominant: str | None = None
    terms: list[UncertaintyTermRecord] = Field(default_factory=list)


class QuantityRecord(FrozenRecord):
    value: float
    unit: str
    uncertainty: ErrorBarRecord | None = None


class PerformanceRecord(FrozenRecord):
    value: float
    unit: str
    key: str | None = None  # the LoadGen key it was read from
    inferred: bool = False


class ChannelShare(FrozenRecord):
    channel: int
    avg_power_w: float
    share_pct: float | None = None
    uncertainty: ErrorBarRecord | None = None  # of avg_power_w


class GpuRecord(FrozenRecord):
    gpu: int
    energy_j: float | None = None
    counter_energy_j: float | None = None
    integrated_energy_j: float | None = None
    counter_vs_integrated_pct: float | None = None
    mean_power_w: float | None = None
    power_readings: int = 0
    median_update_ms: float | None = None
    share_of_wall_pct: float | None = None
    warnings: list[str] = Field(default_factory=list)
    energy_per_query_j: float | None = None
    energy_per_sample_j: float | None = None
    uncertainty: ErrorBarRecord | None = None  # of energy_j
    power_reading_kind: str | None = None  # "instant" or NVML's 1 s "average"; None: not recorded
    scope: str | None = None  # what energy_j covers: "gpu" or the whole "module" (GH200); None: not recorded
    energy_from: str | None = None  # "counter" (the energy counter) or "power" (integrated power readings)
    faults: list[str] = Field(default_factory=list)  # powerlog.sut_samples.GPU_FAULTS seen in the window


class GpuPhaseSummary(FrozenRecord):
    simulated: bool = False
    per_gpu: list[GpuRecord] = Field(default_factory=list)
    total_energy_j: float | None = None
    total_mean_power_w: float | None = None
    share_of_wall_pct: float | None = None
    rest_of_system_energy_j: float | None = None
    rest_of_system_w: float | None = None


class ComponentRecord(FrozenRecord):
    """One component source (a RAPL domain, an hwmon sensor) in a window: the GPU figures, by name."""

    name: str
    family: str = ""
    parent: str | None = None
    simulated: bool = False
    energy_j: float | None = None
    counter_energy_j: float | None = None
    integrated_energy_j: float | None = None
    counter_vs_integrated_pct: float | None = None
    mean_power_w: float | None = None
    power_readings: int = 0
    median_update_ms: float | None = None
    share_of_wall_pct: float | None = None
    warnings: list[str] = Field(default_factory=list)
    energy_per_query_j: float | None = None
    energy_per_sample_j: float | None = None


class ComponentPhaseSummary(FrozenRecord):
    """Each component on its own: they overlap (a package holds its cores; psys holds the packages), so no total."""

    simulated: bool = False
    per_component: list[ComponentRecord] = Field(default_factory=list)


class NodeGapRecord(FrozenRecord):
    """A stretch a node agent was not heard (session.json ``nodes.<node>.gaps``, director clock): ``missing`` at a
    phase start or ``silent`` mid-phase; ``until_utc_ns`` None: not heard again before the session ended."""

    reason: str
    phase: str = ""
    from_utc_ns: int
    until_utc_ns: int | None = None
    length_s: float | None = None  # None with until_utc_ns
    in_testing_window_s: float = 0.0  # how much of it lies in LoadGen's testing window


class NodeSensorsRecord(FrozenRecord):
    """One node agent beside the LoadGen node: its own GPUs' and components' figures over the testing window
    (its readings placed by its own clock measurements), and its gaps. Components overlap, so are never added."""

    node: str
    simulated: bool = False
    gpus: list[GpuRecord] = Field(default_factory=list)
    gpu_energy_j: float | None = None  # every GPU's, None when one has no energy
    gpu_avg_power_w: float | None = None
    components: list[ComponentRecord] = Field(default_factory=list)
    gaps: list[NodeGapRecord] = Field(default_factory=list)


class WindowRecord(FrozenRecord):
    """A phase's measured window (LoadGen's, on the meter's clock) and the wall power in it."""

    power_begin: str
    power_end: str
    power_begin_utc_ns: int
    power_end_utc_ns: int
    window_s: float
    samples_in_window: int
    all_samples_in_window: int | None = None
    avg_power_w: float | None = None
    min_power_w: float | None = None
    max_power_w: float | None = None
    std_power_w: float | None = None
    energy_j: float | None = None
    max_sample_gap_s: float | None = None
    channels: list[ChannelShare] | None = None
    gpus: GpuPhaseSummary | None = None
    components: ComponentPhaseSummary | None = None

    @property
    def channel_avg_power_w(self) -> tuple[float, ...]:
        """Each channel's average power, in channel order; empty for a single-channel log."""
        return tuple(c.avg_power_w for c in self.channels or ())


class SampleGapRecord(FrozenRecord):
    """A stretch of a wall source's LoadGen window without its samples: ``interval`` (two samples further apart
    than the gap factor times the source's nominal interval), ``window_begin`` or ``window_end`` (no sample at
    or beyond that edge), or ``no_samples`` (none at all)."""

    kind: str
    begin_utc_ns: int
    end_utc_ns: int
    length_s: float


class SourceEnergyRecord(FrozenRecord):
    """One wall source of a node (an analyzer or its channel, a BMC, a PDU outlet) over the LoadGen window,
    integrated from its own timestamped samples (:mod:`analyzer.time_join`)."""

    name: str
    node: str
    tier: MeasurementTier | None = None
    simulated: bool = False  # its meter said it is simulated (session.json identities)
    interval_s: float
    energy_j: float | None = None
    avg_power_w: float | None = None
    samples_in_window: int = 0
    max_interval_s: float | None = None  # the longest interval between the samples the integral uses
    gaps: list[SampleGapRecord] = Field(default_factory=list)
    complete: bool = False


class NodeEnergyRecord(FrozenRecord):
    """One node: the sum of its wall sources; complete only when every source is."""

    node: str
    sources: list[SourceEnergyRecord] = Field(default_factory=list)
    energy_j: float | None = None
    avg_power_w: float | None = None
    energy_per_query_j: float | None = None
    complete: bool = False
    gpu_energy_j: float | None = None  # the node's GPUs over the same window (its agent's), where known
    gpu_share_pct: float | None = None  # gpu_energy_j as a percentage of the node's wall energy
    uncertainty: ErrorBarRecord | None = None  # of energy_j
    # each component's (RAPL domain, hwmon sensor) energy as a percentage of the node's wall energy: they overlap
    component_share_pct: dict[str, float] = Field(default_factory=dict)


class InterconnectRecord(FrozenRecord):
    """The interconnect: measured (``source``) or estimated (``max_power_w`` x ``share`` over the window)."""

    name: str
    estimated: bool
    energy_j: float | None = None
    avg_power_w: float | None = None
    max_power_w: float | None = None
    share: float | None = None
    source: SourceEnergyRecord | None = None


class SystemEnergyRecord(FrozenRecord):
    """The whole system over the LoadGen window, joined by time: every node plus the interconnect; the
    estimated parts named in ``estimated``; complete only when every node and a measured interconnect are."""

    begin_utc_ns: int
    end_utc_ns: int
    window_s: float
    gap_factor: float
    nodes: list[NodeEnergyRecord] = Field(default_factory=list)
    interconnect: InterconnectRecord | None = None
    energy_j: float | None = None
    uncertainty: ErrorBarRecord | None = None  # of energy_j
    avg_power_w: float | None = None
    query_count: int | None = None
    energy_per_query_j: float | None = None
    estimated: list[str] = Field(default_factory=list)
    complete: bool = False


class StaticActivePartRecord(FrozenRecord):
    """One part's split (a GPU, a node): its idle mean power, and its testing energy less that power x the window."""

    name: str  # "gpu0", or the node's name
    idle_power_w: float | None = None
    idle_power_uncertainty: ErrorBarRecord | None = None
    idle_readings: int = 0
    energy_j: float | None = None  # over the testing window
    static_energy_j: float | None = None
    active_energy_j: float | None = None
    active_energy_uncertainty: ErrorBarRecord | None = None


class StaticActiveRecord(FrozenRecord):
    """Static power (the idle phase's mean wall power) and active energy (the testing window's wall energy less
    static power x the window); ``split`` False, with ``reason``, when the run has no usable idle phase."""

    split: bool
    reason: str = ""
    idle_window_s: float | None = None
    idle_samples: int | None = None
    static_power_w: float | None = None
    static_power_uncertainty: ErrorBarRecord | None = None
    window_s: float | None = None  # the testing window
    energy_j: float | None = None  # the testing window's wall energy (the report's energy_j)
    static_energy_j: float | None = None  # static_power_w x window_s
    active_energy_j: float | None = None
    active_energy_uncertainty: ErrorBarRecord | None = None
    active_power_w: float | None = None  # active_energy_j / window_s
    active_share_pct: float | None = None  # of energy_j
    per_gpu: list[StaticActivePartRecord] = Field(default_factory=list)
    nodes: list[StaticActivePartRecord] = Field(default_factory=list)  # a multi-node system's (system_energy)


class CalibrationUseRecord(FrozenRecord):
    """The calibration file a report applied: where, when it was made and how old it was at the testing window."""

    file: str
    created_utc_ns: int
    age_s: float | None = None  # at the testing window's begin; None when the window is unknown
    session_id: str = ""  # the calibration session's
    reference_model: str | None = None  # the wall meter it was calibrated against
    reference_simulated: bool = False


class CalibratedSourceRecord(FrozenRecord):
    """One informative source corrected by its calibration: the wall power it stands for over the testing
    window (``offset_w + gain x source(t + lag_s)``), labelled corrected, beside the source as read."""

    source: str  # the calibration's name: "gpus" (the GPUs' sum) or a component's
    kind: str
    corrected: bool = True
    gain: float
    offset_w: float
    lag_s: float
    qualifies: bool  # the calibration said so, within threshold_pct
    threshold_pct: float
    avg_power_w: float | None = None  # the corrected series' mean over the window: an estimate of the wall
    energy_j: float | None = None
    raw_avg_power_w: float | None = None  # the source as read
    samples_in_window: int = 0
    simulated: bool = False
    uncertainty: ErrorBarRecord | None = None  # of avg_power_w


class CalibratedRecord(FrozenRecord):
    """A calibration applied to a run's sensors (``--calibration FILE`` or ``power/calibration.json``)."""

    calibration: CalibrationUseRecord
    sources: list[CalibratedSourceRecord] = Field(default_factory=list)
    not_applied: list[str] = Field(default_factory=list)  # the calibration's sources this run has no data for


class PrefillDecodePartRecord(FrozenRecord):
    """One part of the testing window (prefill, decode or idle: :mod:`analyzer.prefill_decode`): its time, its
    wall and GPU energy and mean power, and its tokens (prompt tokens for prefill, output tokens after the first
    for decode; none for idle) with the energy per token."""

    part: str
    duration_s: float
    share_of_window_pct: float
    intervals: int  # its separate stretches
    median_interval_s: float | None = None
    energy_j: float | None = None
    avg_power_w: float | None = None
    gpu_energy_j: float | None = None  # every GPU's, None without GPUs or where one has no energy figure
    gpu_avg_power_w: float | None = None
    tokens: float | None = None
    energy_per_token_j: float | None = None
    gpu_energy_per_token_j: float | None = None


class PrefillDecodeRecord(FrozenRecord):
    """The testing window split by what the LLM queries were doing (run_1/mlpower_llm_queries.jsonl): a
    time-based attribution (``note`` says what it cannot tell); ``available`` False with ``reason`` otherwise."""

    available: bool
    reason: str = ""
    file: str = ""
    queries: int = 0  # the query log's good lines
    bad_lines: int = 0
    queries_in_window: int = 0
    window_s: float | None = None
    energy_j: float | None = None  # the parts' wall energy added up: the window's
    gpu_energy_j: float | None = None
    wall_sample_interval_s: float | None = None  # the median interval between wall samples in the window
    resolved: bool | None = None  # whether the median stretch of prefill and of decode lasts a sample interval
    parts: list[PrefillDecodePartRecord] = Field(default_factory=list)
    note: str = ""


class DesignPowerRecord(FrozenRecord):
    """Nameplate (design) power from the submission tree (MLPerf v6.1's ``systems/<id>_power.yaml``, or
    ``system_power_capacity``), and the testing window's measured average against it."""

    design_power_w: float | None = None  # None: the file gives none (``problems`` say why)
    avg_power_w: float | None = None
    share_pct: float | None = None  # avg_power_w as a percentage of design_power_w
    source: str = ""  # systems/<file>, and the field where it is one
    problems: list[str] = Field(default_factory=list)


class TokenLatencyRecord(FrozenRecord):
    """LoadGen's time to first token (TTFT) or time per output token (TPOT) over a run's queries, in ns, and the
    scenario's limit on it (Server, Interactive)."""

    mean_ns: float | None = None
    percentiles_ns: dict[str, float] = Field(default_factory=dict)  # LoadGen's percentile ("99.00") -> ns
    limit_ns: int | None = None  # requested_server_ttft_latency or requested_server_tpot_latency
    limit_percentile: float | None = None  # the percentile LoadGen holds to the limit (99.0)
    within_limit: bool | None = None  # that percentile at or under the limit


class TokenFiguresRecord(FrozenRecord):
    """A token-based result's per-token figures (:mod:`analyzer.tokens`): LoadGen's output tokens, the testing
    window's wall and GPU energy per output token, tokens per joule, energy per query (each with its error bar),
    TTFT and TPOT. Names follow the proposed MLPerf energy schema where it has the same figure."""

    token_rate_key: str  # the detail-log key of the token rate
    output_tokens_per_second: float
    loadgen_duration_s: float  # what LoadGen divided its token sum by
    duration_from: str
    output_token_count: int  # output_tokens_per_second x loadgen_duration_s
    query_count: int  # prompts answered (Offline: every sample of LoadGen's one query)
    window_s: float
    total_energy_joules: QuantityRecord | None = None  # the wall's: avg_power_w x window_s
    energy_per_output_token_joules: QuantityRecord | None = None
    output_tokens_per_joule: QuantityRecord | None = None
    energy_per_query_joules: QuantityRecord | None = None
    accelerator_count: int | None = None  # the GPUs summed in gpu_energy_joules
    gpu_energy_joules: QuantityRecord | None = None
    gpu_energy_per_output_token_joules: QuantityRecord | None = None
    gpu_output_tokens_per_joule: QuantityRecord | None = None
    gpu_energy_per_query_joules: QuantityRecord | None = None
    ttft: TokenLatencyRecord | None = None
    tpot: TokenLatencyRecord | None = None
    perf_constraints_met: bool | None = None  # LoadGen's result_perf_constraints_met (Server, Interactive)


class MeterSummary(FrozenRecord):
    model: str | None = None
    ptd_version: str | None = None
    simulated: bool = False


class ClockCorrection(FrozenRecord):
    offset_ns: int
    bound_ns: int
    change_ns: int | None = None
    note: str = ""


class UncorrectedFigures(FrozenRecord):
    avg_power_w: float | None = None
    samples_in_window: int | None = None
    energy_j: float | None = None
    power_metric: QuantityRecord | None = None


class EvidenceRecord(FrozenRecord):
    file: str | None = None
    line: int | None = None
    values: dict[str, Any] = Field(default_factory=dict)


class FindingRecord(FrozenRecord):
    rule: str
    title: str
    status: str  # pass | fail | skipped
    severity: str  # error | warning | info
    message: str
    evidence: list[EvidenceRecord] = Field(default_factory=list)
    official: str | None = None  # same | stricter | differs | mlpower

    @property
    def is_error(self) -> bool:
        return self.status == "fail" and self.severity == "error"


class OfficialCheckRecord(FrozenRecord):
    check: str
    title: str
    outcome: str
    message: str = ""


class _SparseRecord(FrozenRecord):
    """A record that writes only the fields it was given (a section a run has no data for stays absent)."""

    def to_json_obj(self) -> dict[str, Any]:
        """The record as JSON values, with only the fields that were given."""
        obj: dict[str, Any] = self.model_dump(mode="json", exclude_unset=True)
        return obj


class _WhatResult(_SparseRecord):
    """What a result is, as :func:`analyzer.context.result_context` decided it (report and check alike)."""

    folder: str = ""
    round: str | None = None
    round_source: str | None = None
    benchmark: str | None = None
    scenario: str | None = None
    loadgen_scenario: str | None = None
    inferred: bool = False


class ReportRecord(_WhatResult):
    """``report --json``: the power metric, performance, efficiency and their breakdown."""

    scenario_source: str | None = None
    loadgen_validity: str | None = None
    avg_power_w: float | None = None
    avg_power_uncertainty: ErrorBarRecord | None = None  # of avg_power_w (k = 2, with its components)
    ranging_avg_power_w: float | None = None
    window_s: float | None = None
    samples_in_window: int | None = None
    power_metric: QuantityRecord | None = None
    performance: PerformanceRecord | None = None
    efficiency: QuantityRecord | None = None
    energy_j: float | None = None
    energy_uncertainty: ErrorBarRecord | None = None  # of energy_j
    max_sample_gap_s: float | None = None
    result_query_count: int | None = None
    power_change_pct: float | None = None
    phases: dict[str, WindowRecord | None] = Field(default_factory=dict)
    meter: MeterSummary | None = None
    simulated: bool = False
    tier: MeasurementTier | None = None  # what the wall power was measured with
    informative: bool = False  # a tier that can never be an MLPerf power result (a BMC or PDU, components only)
    problems: list[FindingRecord] = Field(default_factory=list)
    gpus: GpuPhaseSummary | None = None  # the testing phase's
    components: ComponentPhaseSummary | None = None  # the testing phase's
    clock_correction: ClockCorrection | None = None
    uncorrected: UncorrectedFigures | None = None
    channels: list[ChannelShare] | None = None
    design_power: DesignPowerRecord | None = None  # only in a submission tree that gives the system's design power
    system_energy: SystemEnergyRecord | None = None  # the testing window, every node's wall sources joined by time
    node_sensors: list[NodeSensorsRecord] | None = None  # each node agent's GPUs and components; only with nodes
    calibrated: CalibratedRecord | None = None  # sensors corrected by a calibration against a wall meter
    static_active: StaticActiveRecord | None = None  # mlpower's runs: static power and active energy (idle phase)
    prefill_decode: PrefillDecodeRecord | None = None  # LLM runs: the window split into prefill, decode, idle
    tokens: TokenFiguresRecord | None = None  # a token-based result's per-token figures (analyzer.tokens)

    @property
    def testing(self) -> WindowRecord | None:
        return self.phases.get("testing")

    @property
    def ranging(self) -> WindowRecord | None:
        return self.phases.get("ranging")

    @property
    def no_wall_meter(self) -> bool:
        """Component counters only and no wall sample in the testing window: nothing measured the whole system."""
        testing = self.testing
        return self.tier is MeasurementTier.COMPONENTS and (testing is None or testing.all_samples_in_window == 0)


class CheckRecord(_WhatResult):
    """``check --json``: mlpower's verdict (the stricter audit) and the official checker's, with both lists."""

    verdict: str = ""
    official_verdict: str = ""
    power_metric: QuantityRecord | None = None  # the figure the verdicts are about, with its error bar
    errors: int = 0
    findings: list[FindingRecord] = Field(default_factory=list)
    official_checks: list[OfficialCheckRecord] = Field(default_factory=list)


class ResultJson(_SparseRecord):
    format: str = RESULT_FORMAT
    report: ReportRecord
    check: CheckRecord

    def to_json_obj(self) -> dict[str, Any]:
        """The record as JSON values, with only the fields that were given (absent sections stay absent)."""
        obj = super().to_json_obj()
        obj["format"] = self.format
        return obj


def parse_result_json(obj: Any, path: str = "result.json") -> ResultJson:
    """A result from parsed JSON; :class:`FormatError` saying which field is wrong."""
    return parse_record(ResultJson, obj, path, "a result")


def read_result_json(path: Path) -> ResultJson:
    return parse_result_json(read_json_file(path), str(path))


def write_result_json(path: Path, result: ResultJson) -> None:
    """Atomically: a reader (or a crash) never sees half a result."""
    write_json_atomic(path, result.to_json_obj())
