"""Which measurement tier a result belongs to (:mod:`powerlog.tiers`), from its files alone."""

from __future__ import annotations

from analyzer.context import meter_identity
from analyzer.run import RunData
from powerlog.tiers import MeasurementTier, tier_of_meter

__all__ = ["measurement_tier", "meter_url_of"]


def meter_url_of(run: RunData) -> str | None:
    """The mlpower meter URL(s) the wall power was read with: session.json's, or, in a folder power-dev's client
    wrote (no session.json), server.json's ``ptd_config`` commands, which mlpower's director fills with the URL.
    None for a folder recorded by power-dev's own server (its commands are PTDaemon command lines)."""
    record = run.mlpower_session
    if record is not None and record.meter is not None and record.meter.url:
        return record.meter.url
    configs = run.server.ptd_configs if run.server is not None else ()
    commands = [c.command[0] for c in configs if len(c.command) == 1 and "://" in c.command[0]]
    if configs and len(commands) == len(configs):
        return " + ".join(commands)
    return None


def measurement_tier(run: RunData) -> MeasurementTier:
    """The tier: from the meter URL where mlpower recorded one; an Identify reply of mlpower-ptd (mlpower's
    PTDaemon-protocol server, not SPEC PTDaemon) makes it a directly read analyzer; a folder with no wall
    samples but component readings is components only; anything else went through PTDaemon."""
    tier = tier_of_meter(meter_url_of(run), meter_identity(run).ptd_version)
    if tier is None:
        walls = [p.spl for p in (run.ranging, run.testing) if p.spl is not None and len(p.spl)]
        if not walls and run.components:
            return MeasurementTier.COMPONENTS
        return MeasurementTier.PTDAEMON
    return tier
