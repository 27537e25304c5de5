"""The MLPerf result folder layout of one benchmark/scenario ``performance/`` folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "IDLE",
    "IDLE_DIR",
    "PHASE_DIRS",
    "RANGING",
    "REQUIRED_FILES",
    "SESSION_PHASE_DIRS",
    "TESTING",
    "WALL_DIR",
    "RunFolder",
]

RANGING = "ranging"
TESTING = "testing"
PHASE_DIRS = {RANGING: "ranging", TESTING: "run_1"}  # the official phases: what the submission checker reads
# mlpower's optional idle phase (``mlpower-agent run --idle-s``), before ranging: the SUT idle, the wall meter
# recording into idle/spl.txt. Not an official phase: no required file, not in power/server.json or client.json
IDLE = "idle"
IDLE_DIR = "idle"
SESSION_PHASE_DIRS = {IDLE: IDLE_DIR, **PHASE_DIRS}  # every phase a session may record, in their order
WALL_DIR = "wall"  # an mlpower run of a multi-node system: each other wall meter's spl.txt files, wall/<key>/<phase>/

REQUIRED_FILES = (
    "power/client.json",
    "power/client.log",
    "power/ptd_logs.txt",
    "power/server.json",
    "power/server.log",
    "ranging/mlperf_log_detail.txt",
    "ranging/mlperf_log_summary.txt",
    "ranging/spl.txt",
    "run_1/mlperf_log_detail.txt",
    "run_1/mlperf_log_summary.txt",
    "run_1/spl.txt",
)


@dataclass(frozen=True)
class RunFolder:
    """Paths inside a ``performance/`` folder (``power/``, ``ranging/``, ``run_1/``)."""

    root: Path

    def phase_dir(self, phase: str) -> Path:
        return self.root / SESSION_PHASE_DIRS[phase]

    def spl(self, phase: str) -> Path:
        return self.phase_dir(phase) / "spl.txt"

    def detail_log(self, phase: str) -> Path:
        return self.phase_dir(phase) / "mlperf_log_detail.txt"

    def summary_log(self, phase: str) -> Path:
        return self.phase_dir(phase) / "mlperf_log_summary.txt"

    @property
    def power_dir(self) -> Path:
        return self.root / "power"

    @property
    def ptd_log(self) -> Path:
        return self.power_dir / "ptd_logs.txt"

    @property
    def server_record(self) -> Path:
        return self.power_dir / "server.json"

    @property
    def client_record(self) -> Path:
        return self.power_dir / "client.json"

    @property
    def client_log(self) -> Path:
        return self.power_dir / "client.log"

    def missing_files(self) -> tuple[str, ...]:
        return tuple(name for name in REQUIRED_FILES if not (self.root / name).is_file())
