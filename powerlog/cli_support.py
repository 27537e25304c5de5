"""The one helper the three command-line tools share: exit codes, JSON output, version text."""

from __future__ import annotations

import json
import math
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["EXIT_ERRORS", "EXIT_OK", "EXIT_UNREADABLE", "dump_json", "package_version", "version_string"]

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_UNREADABLE = 2


def _finite(obj: Any) -> Any:
    # JSON has no NaN or Infinity: write null rather than invalid JSON
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def dump_json(obj: Any) -> str:
    return json.dumps(_finite(obj), indent=2, allow_nan=False)


def package_version() -> str:
    try:
        return version("mlpower")
    except PackageNotFoundError:
        return "0+unknown"


def version_string(prog: str) -> str:
    return f"{prog} {package_version()}"
