"""The one helper the three command-line tools share: exit codes, JSON output, version text."""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from powerlog.errors import OutputPathError

__all__ = [
    "EXIT_ERRORS",
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "atomic_output",
    "check_output_path",
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
    except (OSError, ValueError, RecursionError):  # RecursionError: nested too deeply
        return None
    return data if isinstance(data, dict) else None


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def check_output_path(path: Path | str, what: str = "") -> Path:
    """``path`` when an output may be written there: a new file or a regular one, in a folder that exists.

    The rename that ends :func:`atomic_output` replaces whatever has the name (as root, even ``/dev/full``),
    so anything else is refused first. ``what`` names the option for the message (``--csv``).
    :class:`OutputPathError` says what is wrong and what to do.
    """
    target = Path(path)
    label = f"{what} {target}" if what else str(target)
    folder = target.parent
    try:
        folder_mode = os.stat(folder).st_mode
    except FileNotFoundError:
        raise OutputPathError(f"no folder {folder} for {label}: create it first") from None
    except OSError as e:
        raise OutputPathError(f"cannot reach the folder {folder} for {label}: {e.strerror or e}") from None
    if not stat.S_ISDIR(folder_mode):
        raise OutputPathError(f"{folder} is not a folder, for {label}: name a file in a folder")
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target  # a new file (a link to nothing is replaced, never followed)
    except OSError as e:
        raise OutputPathError(f"cannot check {label}: {e.strerror or e}") from None
    if not stat.S_ISREG(mode):
        kind = next((name for is_kind, name in _KINDS if is_kind(mode)), "not a regular file")
        link = "a symbolic link to " if target.is_symlink() else ""
        raise OutputPathError(
            f"{label} is {link}{kind}: output is written only as a new file or over a regular one; name a file"
        )
    return target


@contextmanager
def atomic_output(path: Path | str, what: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` to write the output to; renamed over ``path`` when the block ends
    without error, removed when it fails, so that a failed export leaves no half-written file.

    Only a new or regular file is written (see :func:`check_output_path`), checked before and again just
    before the rename."""
    target = check_output_path(path, what)
    partial = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies, as for any output
    try:
        yield partial
        check_output_path(target, what)
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
