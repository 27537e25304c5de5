"""4, 5. Ranging against testing: power change and duration."""

from __future__ import annotations

from collections.abc import Iterable

from analyzer.findings import Evidence, Finding, Severity
from analyzer.rounds import Round
from analyzer.run import RunData

__all__ = ["check_ranging_vs_testing"]

# 4, 5. ranging vs testing ------------------------------------------------------------


def check_ranging_vs_testing(run: RunData, round_: Round) -> Iterable[Finding]:
    testing, ranging = run.testing.stats, run.ranging.stats
    title = f"Testing power is no more than {-round_.power_change_limit_pct:g} % below ranging"
    if not (testing and ranging and testing.avg_power_w and ranging.avg_power_w):
        yield Finding.skipped("4.power_change", title, "needs the average power of both modes")
    else:
        change_pct = 100.0 * (testing.avg_power_w / ranging.avg_power_w - 1.0)
        ev = Evidence(
            values={
                "testing_avg_power_w": testing.avg_power_w,
                "ranging_avg_power_w": ranging.avg_power_w,
                "change_pct": change_pct,
            }
        )
        message = f"testing {testing.avg_power_w:.2f} W vs ranging {ranging.avg_power_w:.2f} W: {change_pct:+.2f} %"
        if change_pct > round_.power_change_limit_pct:
            yield Finding.passed("4.power_change", title, message, ev)
        else:
            yield Finding.failed(
                "4.power_change",
                title,
                Severity.ERROR,
                f"{message}, beyond the {round_.power_change_limit_pct:g} % limit",
                ev,
            )
    title = "Testing run is not more than 50 % shorter than ranging"
    if not (testing and ranging and ranging.window_s > 0):
        yield Finding.skipped("5.duration", title, "needs both LoadGen windows")
        return
    shorter_pct = 100.0 * (ranging.window_s - testing.window_s) / ranging.window_s
    ev = Evidence(values={"testing_window_s": testing.window_s, "ranging_window_s": ranging.window_s})
    message = f"testing {testing.window_s:.1f} s, ranging {ranging.window_s:.1f} s"
    if shorter_pct > 50.0:
        yield Finding.failed("5.duration", title, Severity.WARNING, f"{message}: {shorter_pct:.1f} % shorter", ev)
    else:
        yield Finding.passed("5.duration", title, message, ev)
