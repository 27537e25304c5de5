"""Running the workload once per phase, with LoadGen logging into the folder we name.

The workload learns that folder from the environment variable ``MLPOWER_LOADGEN_DIR``
(LoadGen's ``log_output.outdir`` should point there). It may log into a subfolder;
exactly one ``mlperf_log_detail.txt`` must appear below it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agent.errors import WorkloadError

__all__ = [
    "LOADGEN_DIR_ENV",
    "LOADGEN_FILES",
    "Workload",
    "WorkloadRun",
    "builtin_workload",
    "check_runnable",
    "run_workload",
]

LOADGEN_DIR_ENV = "MLPOWER_LOADGEN_DIR"
LOADGEN_FILES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "mlperf_log_accuracy.json")


@dataclass(frozen=True)
class Workload:
    argv: tuple[str, ...]
    builtin: bool = False

    @property
    def description(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class WorkloadRun:
    returncode: int
    elapsed_s: float
    logs: dict[str, Path]  # LoadGen file name -> where it is


def check_runnable(workload: Workload) -> None:
    """Raise WorkloadError now, before a session holds the meter, when the command cannot be started: the
    program is not on PATH, not there, or not executable."""
    if not workload.argv:
        raise WorkloadError("no workload command given")
    program = workload.argv[0]
    if os.sep in program or (os.altsep and os.altsep in program):
        path = Path(program)
        if not path.is_file():
            raise WorkloadError(f"cannot start the workload {workload.description!r}: {program} does not exist")
        if not os.access(path, os.X_OK):
            raise WorkloadError(f"cannot start the workload {workload.description!r}: {program} is not executable")
    elif shutil.which(program) is None:
        raise WorkloadError(f"cannot start the workload {workload.description!r}: {program!r} is not on PATH")


def builtin_workload(scenario: str, duration_s: float) -> Workload:
    return Workload(
        (sys.executable, "-m", "agent.builtin", "--scenario", scenario, "--duration", f"{duration_s:g}"), builtin=True
    )


def run_workload(workload: Workload, loadgen_dir: Path) -> WorkloadRun:
    """Run it to the end (its output goes to ours); raise WorkloadError when it fails or logs nothing."""
    loadgen_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, LOADGEN_DIR_ENV: str(loadgen_dir)}
    started = time.monotonic()
    try:
        completed = subprocess.run(list(workload.argv), env=env, check=False)
    except OSError as e:
        raise WorkloadError(f"cannot start the workload {workload.description!r}: {e.strerror or e}") from e
    elapsed_s = time.monotonic() - started
    if completed.returncode != 0:
        raise WorkloadError(f"the workload {workload.description!r} exited with status {completed.returncode}")
    details = sorted(loadgen_dir.rglob("mlperf_log_detail.txt"))
    if not details:
        raise WorkloadError(
            f"the workload wrote no LoadGen logs: no mlperf_log_detail.txt below {loadgen_dir}. "
            f"Point LoadGen's log_output.outdir at ${LOADGEN_DIR_ENV}"
        )
    if len(details) > 1:
        raise WorkloadError(f"several mlperf_log_detail.txt below {loadgen_dir}: {', '.join(map(str, details))}")
    folder = details[0].parent
    logs = {name: folder / name for name in LOADGEN_FILES if (folder / name).is_file()}
    if "mlperf_log_summary.txt" not in logs:
        raise WorkloadError(f"the workload wrote {details[0]} but no mlperf_log_summary.txt beside it")
    return WorkloadRun(completed.returncode, elapsed_s, logs)
