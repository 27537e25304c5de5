"""Running the workload once per phase, with LoadGen logging into the folder we name.

The workload learns that folder from the environment variable ``MLPOWER_LOADGEN_DIR``
(LoadGen's ``log_output.outdir`` should point there). It may log into a subfolder;
exactly one ``mlperf_log_detail.txt`` must appear below it.

The workload runs in a process group of its own, and the whole group goes when the run ends: on an
interruption (Ctrl-C, SIGTERM, SIGHUP, an error in the agent) SIGTERM to the group, then SIGKILL to what is
left after :data:`STOP_GRACE_S`; after a normal end, the same for whatever the command left running in the
background. No benchmark process outlives the agent or runs into the next phase.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agent.errors import WorkloadError
from agent.signals import held_signals
from powerlog.llm_queries import QUERY_LOG_NAME
from powerlog.wire import BUILTIN_LLM_BENCHMARK

__all__ = [
    "LOADGEN_DIR_ENV",
    "LOADGEN_FILES",
    "STOP_GRACE_S",
    "Workload",
    "WorkloadRun",
    "builtin_workload",
    "check_runnable",
    "run_workload",
    "stop_process_group",
]

LOADGEN_DIR_ENV = "MLPOWER_LOADGEN_DIR"
# what is uploaded from beside the detail log: LoadGen's logs, and the built-in LLM benchmark's per-query token times
LOADGEN_FILES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "mlperf_log_accuracy.json", QUERY_LOG_NAME)
STOP_GRACE_S = 5.0
"""How long the workload's processes get to end after SIGTERM before SIGKILL."""
_POLL_S = 0.05


@dataclass(frozen=True)
class Workload:
    argv: tuple[str, ...]
    builtin: bool = False
    benchmark: str = ""  # its name as results are filed, where known (session.json agent.benchmark)
    scenario: str = ""  # the scenario its result is filed under, where known

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


def builtin_workload(scenario: str, duration_s: float, model: str = "cnn") -> Workload:
    """``python -m agent.builtin`` in ``scenario`` for ``duration_s``: the CNN, or with ``model="llm"`` the
    token-streaming transformer."""
    argv = (sys.executable, "-m", "agent.builtin", "--scenario", scenario, "--duration", f"{duration_s:g}")
    if model == "cnn":
        return Workload(argv, builtin=True)
    # named, so that its result reads as a token-based LLM result, and an Interactive run (LoadGen's Server) as one
    return Workload((*argv, "--model", model), builtin=True, benchmark=BUILTIN_LLM_BENCHMARK, scenario=scenario)


def run_workload(workload: Workload, loadgen_dir: Path, grace_s: float = STOP_GRACE_S) -> WorkloadRun:
    """Run it to the end (its output goes to ours) in a process group of its own, which is stopped whatever
    happens (see the module's docstring); raise WorkloadError when it fails or logs nothing."""
    loadgen_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, LOADGEN_DIR_ENV: str(loadgen_dir)}
    started = time.monotonic()
    process: subprocess.Popen[bytes] | None = None
    try:
        # a stop that arrives while the group starts is raised once `process` names it (it was seen to leave the
        # workload running when it came in the middle of Popen on a loaded SUT)
        with held_signals():
            try:
                process = subprocess.Popen(list(workload.argv), env=env, start_new_session=True)
            except OSError as e:
                raise WorkloadError(f"cannot start the workload {workload.description!r}: {e.strerror or e}") from e
        returncode = process.wait()
    finally:  # also on KeyboardInterrupt (Ctrl-C, agent.signals.Signalled) and any error in the agent
        if process is not None:
            stop_process_group(process, grace_s)
    elapsed_s = time.monotonic() - started
    if returncode != 0:
        raise WorkloadError(f"the workload {workload.description!r} exited with status {returncode}")
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
    return WorkloadRun(returncode, elapsed_s, logs)


def stop_process_group(process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> bool:
    """End every process of ``process``'s group (it leads one: ``start_new_session``): SIGTERM, then SIGKILL
    after ``grace_s``; ``process`` is reaped. True when there was anything left to stop."""
    group = process.pid
    if not _group_alive(group, process):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _group_alive(group, process):
            return True
        time.sleep(_POLL_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    process.wait()
    return True


def _group_alive(group: int, leader: subprocess.Popen[bytes]) -> bool:
    """Whether a process of ``group`` still runs (the leader is reaped first; zombies do not count: whoever
    inherited them may never reap them)."""
    leader.poll()
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its user: it is still there
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
            if int(fields[2]) == group and fields[0] != "Z":
                return True
    return False
