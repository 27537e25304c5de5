"""One director per runs folder: an exclusive lock on ``RUNS_DIR/director.lock``, held for the process's life.

A second ``serve`` on the same folder would "recover" the first one's live session and stop its meter. The
lock is an ``flock``: the kernel drops it when the holder ends in any way (SIGKILL included), so a stale
file never blocks a restart. The file says who holds it (pid, address, since when) for the refusal.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from director.errors import ConfigError

__all__ = ["LOCK_FILE_NAME", "RunsDirLock"]

LOCK_FILE_NAME = "director.lock"

try:
    import fcntl
except ImportError:  # Windows: no flock; the folder is not guarded there
    fcntl = None  # type: ignore[assignment]


class RunsDirLock:
    """Held from :meth:`acquire` until the process ends (or :meth:`release`)."""

    def __init__(self, runs_dir: Path) -> None:
        self.path = runs_dir / LOCK_FILE_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or a :class:`ConfigError` naming the director that holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ConfigError(f"cannot create {self.path}: {e.strerror or e}; fix the permissions of --out") from e
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = self._holder()
                raise ConfigError(
                    f"another mlpower-director ({holder}) holds {self.path.parent}; stop it or use another --out"
                ) from None
        self._fd = fd
        self._write({"pid": os.getpid()})

    def describe(self, address: str) -> None:
        """Record the address the holder listens on, once it is bound."""
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        self._write({"pid": os.getpid(), "address": address, "since": since})

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None

    def _write(self, holder: dict[str, object]) -> None:
        assert self._fd is not None
        data = (json.dumps(holder) + "\n").encode()
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
        except OSError:  # who holds the lock is only for the message: a full disk must not stop the director
            pass

    def _holder(self) -> str:
        try:
            holder = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            holder = {}
        pid = holder.get("pid", "unknown")
        address = holder.get("address")
        if address is None:
            return f"pid {pid}, starting"
        return f"pid {pid}, listening on {address} since {holder.get('since', '?')}"
