"""Every declared meter model, found without a hand-kept list.

A driver class that states ``meter_model`` registers itself when it is defined
(:meth:`director.meters.base.MeterBase.__init_subclass__`); :func:`meter_models` first imports every module
of the ``director.meters`` package, so a new driver file is found by existing.
"""

from __future__ import annotations

import importlib
import pkgutil
from urllib.parse import parse_qs, urlsplit

from director.meters.base import declared_models
from director.meters.model import MeterModel, MeterUrl
from director.meters.ranges import RangeTable
from powerlog.tiers import MeasurementTier

__all__ = ["meter_models", "model_for_url", "range_table_of", "scheme_options", "tier_of_url", "url_models"]

_imported = False


def meter_models() -> tuple[MeterModel, ...]:
    """Every declared model, those of ``director.meters`` and any other driver imported so far, in order."""
    global _imported
    if not _imported:
        import director.meters as package

        for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
        _imported = True
    return declared_models()


def scheme_options() -> dict[str, frozenset[str]]:
    """Each URL scheme the declared models take, with every option any of them takes under it."""
    options: dict[str, frozenset[str]] = {}
    for model in meter_models():
        for scheme, names in model.options.items():
            options[scheme] = options.get(scheme, frozenset()) | names
        if model.simulator is not None:
            options["sim"] = options.get("sim", frozenset()) | {"model", "rate"} | model.simulator_options
    return options


def url_models(scheme: str) -> tuple[str, ...]:
    """The ``model=`` names a scheme takes (``sim``: those of the models with a simulator)."""
    if scheme == "sim":
        return tuple(name for m in meter_models() if m.simulator is not None for name in m.url_models)
    return tuple(name for m in meter_models() if scheme in m.schemes for name in m.url_models)


def model_for_url(url: MeterUrl) -> MeterModel | None:
    """The model a parsed URL names; None when its scheme or ``model=`` is no declared model's."""
    return next((m for m in meter_models() if m.takes(url)), None)


def range_table_of(model: str) -> RangeTable | None:
    """The range table of the declared model an instrument's name (``YokogawaWT330E``) says it is."""
    return next((m.range_table for m in meter_models() if m.range_table is not None and m.identifies(model)), None)


def tier_of_url(url: str) -> MeasurementTier | None:
    """The tier of a meter URL (several joined with `` + ``: the weakest), from the declared models; None when no
    part is a URL a declared model takes."""
    tiers = set()
    for part in url.split(" + "):
        parts = urlsplit(part.strip())
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        model = model_for_url(MeterUrl(parts.scheme, "", 0, "", options, part)) if "://" in part else None
        if model is not None:
            tiers.add(model.tier)
    weakest_first = (MeasurementTier.COMPONENTS, MeasurementTier.BMC, MeasurementTier.DIRECT, MeasurementTier.PTDAEMON)
    return next((t for t in weakest_first if t in tiers), None)
