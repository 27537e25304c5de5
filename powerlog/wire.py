"""What the agent and the director send each other over HTTP (``/v1``).

The only code the two share: pydantic models validated on both ends. Times are
UTC integer nanoseconds of the sender's clock, named for whose clock they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sized
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from powerlog.components import parse_component_source

__all__ = [
    "API_PREFIX",
    "BUILTIN_LLM_BENCHMARK",
    "ERROR_CODE_OF_STATUS",
    "MAX_BATCHES_PER_REQUEST",
    "MAX_BATCH_ROWS",
    "MAX_CLOCK_OFFSET_NS",
    "MAX_UPLOAD_BYTES",
    "NODE_NAME_PATTERN",
    "NODE_SECRET_HEADER",
    "PHASES",
    "SESSION_SECRET_HEADER",
    "UPLOAD_NAMES",
    "UTC_NS_MAX",
    "AbortRequest",
    "AgentInfo",
    "ClockMeasurement",
    "ClockReport",
    "ComponentDescription",
    "ErrorCode",
    "ErrorReply",
    "GivenRanges",
    "GpuDescription",
    "NodeBatchesStored",
    "NodeHello",
    "NodeSession",
    "NodeSources",
    "NodeWelcome",
    "OpenSessionRequest",
    "PhaseReply",
    "PhaseRequest",
    "SampleBatch",
    "SampleBatches",
    "SessionOpened",
    "SessionState",
    "SessionStatus",
    "TimeReply",
    "batch_shape_problem",
]

API_PREFIX = "/v1"
BUILTIN_LLM_BENCHMARK = "mlpower-builtin-llm"  # AgentInfo.benchmark of the built-in LLM benchmark (token-based)
# every call into a session carries the secret its opening returned (SessionOpened.session_secret)
SESSION_SECRET_HEADER = "X-Mlpower-Session-Secret"
PHASES = ("ranging", "testing")
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
# a phase's: LoadGen's logs, and the built-in LLM benchmark's per-query token times (powerlog.llm_queries)
_PHASE_UPLOADS = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "mlperf_log_accuracy.json",
                  "mlperf_log_trace.json", "mlpower_llm_queries.jsonl")  # fmt: skip
# where an uploaded file may land: run folder subfolder -> allowed file names
UPLOAD_NAMES: dict[str, tuple[str, ...]] = {
    "ranging": _PHASE_UPLOADS,
    "run_1": _PHASE_UPLOADS,
    "power": ("client.json", "client.log", "calibration.json"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Request(_Strict):
    """What an agent sends: NaN and infinities are refused in every number (the field is named), not stored."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# plausible values, refused beyond with the field's name and its range (422): a run folder and the analyzer's
# int64 arithmetic never see 10**25 ns. A SUT clock that reads 1970 is plausible (boards without a battery);
# an offset of more than a day is not, and the agent is told to set the clock.
UTC_NS_MAX = 4_102_444_800 * 10**9  # 2100-01-01 UTC
MAX_CLOCK_OFFSET_NS = 86_400 * 10**9
MAX_CLOCK_ROUNDS = 10_000


def _utc_ns(value: int) -> int:
    if not 0 <= value < UTC_NS_MAX:
        raise ValueError(f"{value} is no UTC time in ns: between 0 (1970-01-01) and {UTC_NS_MAX} (2100-01-01)")
    return value


def _offset_ns(value: int) -> int:
    if abs(value) > MAX_CLOCK_OFFSET_NS:
        raise ValueError(
            f"{value} ns: the clocks differ by more than a day (at most +-{MAX_CLOCK_OFFSET_NS} ns); "
            "set the SUT's clock (NTP) and measure again"
        )
    return value


def _span_ns(value: int) -> int:
    if not 0 <= value <= MAX_CLOCK_OFFSET_NS:
        raise ValueError(f"{value} ns: between 0 and {MAX_CLOCK_OFFSET_NS} (a day)")
    return value


UtcNs = Annotated[int, AfterValidator(_utc_ns)]
OffsetNs = Annotated[int, AfterValidator(_offset_ns)]
SpanNs = Annotated[int, AfterValidator(_span_ns)]


class SessionState(StrEnum):
    OPEN = "open"
    IDLE = "idle"  # the optional idle phase (before ranging): the SUT idle, the wall meter recording
    IDLED = "idled"
    RANGING = "ranging"
    RANGED = "ranged"
    TESTING = "testing"
    TESTED = "tested"
    CLOSED = "closed"
    FAILED = "failed"


class ClockMeasurement(_Request):
    """Director clock minus agent clock, from the four-timestamp exchange."""

    offset_ns: OffsetNs
    bound_ns: SpanNs = Field(
        description="half the width of the rounds' intersected intervals: at most half the fastest round trip"
    )
    delay_ns: SpanNs = Field(description="the fastest round trip (minus the director's own time)")
    rounds: int = Field(ge=1, le=MAX_CLOCK_ROUNDS)
    kept: int = Field(
        ge=1, le=MAX_CLOCK_ROUNDS, description="rounds the estimate used: all of them, or 1 when a clock stepped"
    )
    agent_utc_ns: UtcNs


class GpuDescription(_Request):
    """A GPU the agent samples, as its backend (NVML, the simulator) described it."""

    index: int = Field(ge=0, le=1023)
    name: str = Field(max_length=256)
    uuid: str = Field(max_length=128)
    power_limit_w: float | None = Field(default=None, ge=0)
    energy_counter: bool = False  # the total energy counter works
    power_field: str | None = Field(default=None, max_length=64)  # what the power readings are: instant, average
    simulated: bool = False
    # what a reading is (powerlog.sut_samples): NVML's 1 s average or an instant value; None: not known
    power_kind: Literal["instant", "average"] | None = None
    power_scope: Literal["gpu", "module"] | None = None  # what the power readings cover
    energy_scope: Literal["gpu", "module"] | None = None  # what the energy counter covers (None: no counter)


class ComponentDescription(_Request):
    """A component power source the agent found (a RAPL domain, an hwmon sensor): see :mod:`powerlog.components`.

    Only a readable one is sampled; ``reason`` says why another is not."""

    name: str = Field(max_length=128)  # rapl:package-0, hwmon:amdgpu:PPT
    family: str = Field(max_length=32)  # rapl | rapl-mmio | hwmon
    path: str = Field(default="", max_length=4096)  # the sysfs folder it was found in
    readable: bool = False
    reason: str = Field(default="", max_length=4096)
    energy_counter: bool = False
    power_sensor: bool = False
    max_energy_range_uj: int | None = Field(default=None, ge=0)  # where the counter wraps; None: not known to
    parent: str | None = Field(default=None, max_length=128)  # the RAPL package a subdomain belongs to
    simulated: bool = False  # read from a fake sysfs tree


class AgentInfo(_Request):
    label: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")
    host: str = Field(default="", max_length=255)
    software: dict[str, str] = Field(default_factory=dict)
    workload: str = Field(default="", max_length=4096)
    # the benchmark the workload runs and the scenario its result is filed under, where the agent knows them (the
    # built-in LLM benchmark): the analyzer reads them as a submission tree's folders; "": not named
    benchmark: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")
    scenario: Literal["", "Offline", "Server", "SingleStream", "MultiStream", "Interactive"] = ""
    simulated_gpus: bool = False
    gpus: list[GpuDescription] = Field(default_factory=list, max_length=64)
    simulated_components: bool = False
    components: list[ComponentDescription] = Field(default_factory=list, max_length=256)


class OpenSessionRequest(_Request):
    agent: AgentInfo
    client_uuid: str = Field(pattern=r"^[0-9a-f-]{36}$")
    clock: ClockMeasurement | None = None


class SessionOpened(_Strict):
    session_id: str
    session_name: str
    server_uuid: str
    settle_s: float
    state: SessionState
    session_secret: str = Field(description=f"send it as {SESSION_SECRET_HEADER} on every later call into the session")
    lease_s: float = Field(description="the session is aborted when the agent is silent this long: send heartbeats")


class AbortRequest(_Request):
    """Why a session is aborted: recorded as the session's error."""

    reason: str = Field(default="", max_length=500)


class GivenRanges(_Request):
    """Testing ranges the agent gives instead of a ranging phase (a sweep's testing-only points): not submittable."""

    volts_v: float = Field(gt=0, description="voltage range, V")
    amps_a: float = Field(gt=0, description="current range, A")


class PhaseRequest(_Request):
    agent_utc_ns: UtcNs = Field(description="agent clock when the request was sent")
    ranges: GivenRanges | None = Field(
        default=None, description="testing only: start on these ranges without a ranging phase (not submittable)"
    )


class PhaseReply(_Strict):
    phase: Literal["idle", "ranging", "testing"]
    state: SessionState
    mark: str
    ranges: dict[str, float | None]
    director_utc_ns: int
    samples: int = 0


class ClockReport(_Request):
    phase: Literal["session", "ranging", "testing"]
    when: Literal["before", "after"]
    clock: ClockMeasurement


class TimeReply(_Strict):
    receive_utc_ns: int
    send_utc_ns: int


class SessionStatus(_Strict):
    session_id: str
    session_name: str
    state: SessionState
    simulated: bool
    samples: dict[str, int]
    run_folder: str
    error: str | None = None
    last_power_w: float | None = None  # the latest wall sample, for live progress
    energy_j: dict[str, float] = Field(default_factory=dict)  # wall energy so far per phase
    # once closed, the analyzer's verdicts of the run folder (result.json's check): pass | fail
    verdict: str | None = None
    official_verdict: str | None = None
    # the agent's lease (None: a power-dev session, held by its TCP connection): how long it has been silent
    lease_s: float | None = None
    agent_silent_s: float | None = None


MAX_BATCH_ROWS = 100_000


class SampleBatch(_Strict):
    """Timestamped readings from the SUT (GPU or component power), columnar: equal-length columns named with units.

    ``kind`` says what the readings are: ``gpu`` (``gpu0.power``) or ``component`` (a RAPL domain or an hwmon
    sensor, ``rapl.package-0.energy``: see :mod:`powerlog.components`). A component source name is accepted
    only as a component, and a component only under such a name, so the two never mix.
    """

    source: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="e.g. gpu0")
    seq: int = Field(ge=0, description="batch number per source: a batch sent twice is stored once")
    simulated: bool = False
    kind: Literal["gpu", "component"] = "gpu"
    columns: dict[str, list[int | float]] = Field(description="must hold t_utc_ns (agent clock)")

    @model_validator(mode="after")
    def _same_lengths(self) -> SampleBatch:
        problem = batch_shape_problem(self.source, self.kind, self.columns)
        if problem is not None:
            raise ValueError(problem)
        return self


COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def batch_shape_problem(source: str, kind: str, columns: Mapping[str, Sized]) -> str | None:
    """What is wrong with a batch's shape (its source for its kind, its columns' names and lengths), or None.

    Per column, never per row: shared by :class:`SampleBatch` and the director's decoder
    (:mod:`powerlog.wire_codec`), which must refuse exactly the same batches.
    """
    is_component = parse_component_source(source) is not None
    if is_component != (kind == "component"):
        return (
            f"source {source!r} with kind {kind!r}: component sources are named "
            "<family>.<name>.<power|energy> (rapl, rapl-mmio, hwmon) and sent as kind component, nothing else is"
        )
    if "t_utc_ns" not in columns:
        return "columns must include t_utc_ns"
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        return f"columns differ in length: {sorted(lengths)}"
    if lengths.pop() > MAX_BATCH_ROWS:
        return f"at most {MAX_BATCH_ROWS} rows a batch"
    for name in columns:
        if not COLUMN_NAME.fullmatch(name):
            return f"column name {name!r}: lower-case letters, digits and _ only"
    return None


MAX_BATCHES_PER_REQUEST = 64


class SampleBatches(_Strict):
    """Several sources' batches in one request: the agent sends each second's at once (one request, not one per
    GPU and series). Each is stored, or recognised as a re-send, exactly as if posted alone."""

    batches: list[SampleBatch] = Field(min_length=1, max_length=MAX_BATCHES_PER_REQUEST)


class ErrorCode(StrEnum):
    """What went wrong, for a client to act on without reading the message or guessing from the status."""

    UNAUTHORIZED = "unauthorized"  # 401: missing or wrong token
    FORBIDDEN = "forbidden"  # 403: missing or wrong session secret, or a token-less read via a non-loopback Host
    METER_BUSY = "meter_busy"  # 409 on open: another session holds the meter
    SESSION_CONFLICT = "session_conflict"  # 409: a call out of order for the session's state
    BATCH_CONFLICT = "batch_conflict"  # 409: a SUT batch re-sent with the same (source, seq) but other readings
    UNKNOWN_SESSION = "unknown_session"  # 404: no such session (the director restarted?)
    NOT_FOUND = "not_found"  # 404: no such phase, run or file
    TOO_LARGE = "too_large"  # 413
    INVALID = "invalid"  # 422: the request does not validate
    METER_FAILED = "meter_failed"  # 502: the meter did not do what was asked
    STORAGE_FULL = "storage_full"  # 507: the run folder cannot take the data
    FAILED = "failed"  # anything else


# the code of an error reply that carries none (raised without one, or a proxy's page), by its HTTP status
ERROR_CODE_OF_STATUS: dict[int, ErrorCode] = {
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    409: ErrorCode.SESSION_CONFLICT,
    413: ErrorCode.TOO_LARGE,
    422: ErrorCode.INVALID,
    502: ErrorCode.METER_FAILED,
    507: ErrorCode.STORAGE_FULL,
}


class ErrorReply(_Strict):
    """The body of every error the director's API sends (FastAPI's request validation errors aside)."""

    detail: str
    code: ErrorCode = ErrorCode.FAILED


# node agents (``mlpower-agent node``): every node beside the LoadGen one streams its GPUs and components into
# the active session under its own name, placed on the director's clock by its own clock measurements
NODE_SECRET_HEADER = "X-Mlpower-Node-Secret"
NODE_NAME_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$"  # no leading dot: a name is a folder


class NodeSources(_Request):
    """What a node agent samples (as ``mlpower-agent sources`` lists it): its GPUs and its component sensors."""

    host: str = Field(default="", max_length=255)
    software: dict[str, str] = Field(default_factory=dict)
    simulated_gpus: bool = False
    gpus: list[GpuDescription] = Field(default_factory=list, max_length=64)
    simulated_components: bool = False
    components: list[ComponentDescription] = Field(default_factory=list, max_length=256)
    simulated_clock: bool = False  # the node's clock is SIMULATED (skewed on purpose, for tests)


class NodeHello(_Request):
    """A node agent says who it is and what it has; it says it again while it waits for a session."""

    instance: str = Field(pattern=r"^[0-9a-f-]{36}$", description="a UUID the agent draws at start")
    sources: NodeSources
    clock: ClockMeasurement | None = Field(default=None, description="director clock minus node clock, just measured")


class NodeSession(_Strict):
    """The session a node streams into: its state (the node measures its clock again as the phases pass)."""

    session_id: str
    session_name: str
    state: SessionState
    node_secret: str = Field(description=f"send it as {NODE_SECRET_HEADER} on every later call into the session")
    lease_s: float = Field(description="a node silent this long is recorded as a gap: send heartbeats")


class NodeWelcome(_Strict):
    """The reply to a hello: the active session to stream into, or none yet (ask again after ``poll_s``)."""

    node: str
    session: NodeSession | None = None
    poll_s: float
    director_utc_ns: int


class NodeBatchesStored(_Strict):
    """The reply to a node's sample batches: how many were new, how many re-sends, how many rows in all."""

    stored: int
    duplicates: int
    rows: int
