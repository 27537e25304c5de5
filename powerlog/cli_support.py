"""The one helper the three command-line tools share: exit codes, JSON output, version text."""

from __future__ import annotations

import json
import math
import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_ERRORS",
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "atomic_output",
    "dump_json",
    "json_safe",
    "package_version",
    "read_json_object",
    "stop_process",
    "version_string",
    "write_json_atomic",
]

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_UNREADABLE = 2


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None: JSON has no other way to say them."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def dump_json(obj: Any) -> str:
    return json.dumps(json_safe(obj), indent=2, allow_nan=False)


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON file holding an object; None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextmanager
def atomic_output(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path`` to write the output to; renamed over ``path`` when the block ends
    without error, removed when it fails, so that a failed export leaves no half-written file."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies, as for any output
    try:
        yield partial
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON next to ``path`` and rename it over ``path``: a reader (or a crash) never sees half a file."""
    with atomic_output(path) as partial:
        partial.write_text(dump_json(obj) + "\n")


def stop_process(process: subprocess.Popen[Any], timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout_s``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def package_version() -> str:
    try:
        return version("mlpower")
    except PackageNotFoundError:
        return "0+unknown"


def version_string(prog: str) -> str:
    return f"{prog} {package_version()}"
