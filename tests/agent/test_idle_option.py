"""``mlpower-agent run --idle-s``: a bad value is refused by the command line before anything connects."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.processes import BIN


@pytest.mark.parametrize(
    ("value", "says"), [("-1", "give 0"), ("nan", "give 0"), ("1e9", "up to 86400"), ("x", "not a number")]
)
def test_a_bad_idle_duration_is_refused_with_what_to_give(value: str, says: str) -> None:
    run = subprocess.run(
        [str(BIN / "mlpower-agent"), "run", "--director", "http://127.0.0.1:9", "--token", "t" * 32,
         f"--idle-s={value}", "--", "true"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 2 and "--idle-s" in run.stderr and says in run.stderr, run.stderr
