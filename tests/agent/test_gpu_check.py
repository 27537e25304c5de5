"""``scripts/gpu_check.sh``, the real-GPU check, run on simulated GPUs (``--simulated``): one PASS or FAIL line per
check and GPU, a FAIL for each fault a simulated GPU is told to show, the exit status of the verdict."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu_check.sh"


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GPU_CHECK_SECONDS": "3"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.mark.slow
def test_gpu_check_passes_sound_gpus_and_fails_each_fault() -> None:
    sound = _check("--simulated=sim:1")
    assert sound.returncode == 0, sound.stdout + sound.stderr
    lines = sound.stdout.splitlines()
    checks = {line.split(":")[0] for line in lines if line.startswith(("PASS", "FAIL"))}
    assert checks == {
        "PASS GPU 0 describe", "PASS GPU 0 counter", "PASS GPU 0 power", "PASS GPU 0 agreement", "PASS GPU 0 analyzer",
        "PASS GPU 0 limit",
    }  # fmt: skip
    assert lines[-1].startswith("gpu_check: ") and lines[-1].endswith(" PASS, 0 FAIL (SIMULATED GPUs)")
    faulty = _check("--simulated=sim:3+stuck@0:0.5+zero@1+no-counter@2")
    assert faulty.returncode == 1, faulty.stdout + faulty.stderr
    failed = [line for line in faulty.stdout.splitlines() if line.startswith("FAIL")]
    assert any(x.startswith("FAIL GPU 0 analyzer: faults ['counter-stuck']") for x in failed), failed
    assert any(x.startswith("FAIL GPU 0 analyzer: live watch: GPU 0: counter-stuck: ") for x in failed), failed
    assert any(x.startswith("FAIL GPU 1 power: ") for x in failed) and any("reports-zero" in x for x in failed)
    assert any(x.startswith("FAIL GPU 2 counter: no energy counter") for x in failed), failed


@pytest.mark.slow
def test_gpu_check_sets_the_minimum_limit_and_puts_it_back() -> None:
    env = {**os.environ, "GPU_CHECK_SECONDS": "1", "GPU_CHECK_SET_LIMIT": "1"}
    done = subprocess.run(
        ["bash", str(SCRIPT), "--simulated=sim:1"], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    limit = [line for line in done.stdout.splitlines() if " limit: " in line]
    assert limit == [
        "PASS GPU 0 limit: power limit 75 W, range 30-75 W",
        "PASS GPU 0 limit: set to 30 W: read 30 W",
        "PASS GPU 0 limit: put back: 75 W (was 75 W), journal removed",
    ]
