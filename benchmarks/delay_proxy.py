"""A TCP proxy that delays each direction differently, with jitter and occasional stalls (netem in user space).

Every chunk read from one side is delivered to the other ``base + uniform(-jitter, +jitter)`` later (never
earlier than at once), and with probability ``stall_p`` a further ``stall_ms``; a direction keeps its order,
as TCP does, so a chunk is never delivered before the one read ahead of it. The delays are drawn from a
seeded generator: a run can be repeated.
"""

from __future__ import annotations

import contextlib
import queue
import random
import socket
import threading
import time
from dataclasses import dataclass

__all__ = ["DelayProxy", "Leg"]


@dataclass(frozen=True)
class Leg:
    """One direction's delay."""

    base_ms: float
    jitter_ms: float = 0.0
    stall_p: float = 0.0
    stall_ms: float = 0.0

    def draw_s(self, rng: random.Random) -> float:
        delay_ms = max(0.0, self.base_ms + rng.uniform(-self.jitter_ms, self.jitter_ms))
        if self.stall_p and rng.random() < self.stall_p:
            delay_ms += self.stall_ms
        return delay_ms / 1000

    def describe(self) -> str:
        text = f"{self.base_ms:g} ms"
        if self.jitter_ms:
            text += f" +/- {self.jitter_ms:g}"
        if self.stall_p:
            text += f", {self.stall_p:.0%} stalled {self.stall_ms:g} ms"
        return text


class DelayProxy:
    """Listens on loopback; ``up`` delays what the client sends, ``down`` what the server answers."""

    def __init__(self, target_port: int, up: Leg, down: Leg, seed: int = 0, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.host = host
        self.up, self.down = up, down
        self.port = 0
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._closed = threading.Event()

    def start(self) -> DelayProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def close(self) -> None:
        self._closed.set()
        if self._listener is not None:
            self._listener.close()

    def _delay_s(self, leg: Leg) -> float:
        with self._rng_lock:
            return leg.draw_s(self._rng)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._direction(client, server, self.up)
            self._direction(server, client, self.down)

    def _direction(self, source: socket.socket, sink: socket.socket, leg: Leg) -> None:
        due: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def read() -> None:
            last_s = 0.0
            with contextlib.suppress(OSError):
                while chunk := source.recv(65536):
                    last_s = max(last_s, time.monotonic() + self._delay_s(leg))
                    due.put((last_s, chunk))
            due.put((0.0, b""))

        def deliver() -> None:
            while True:
                at_s, chunk = due.get()
                if not chunk:
                    break
                wait_s = at_s - time.monotonic()
                if wait_s > 0:
                    time.sleep(wait_s)
                try:
                    sink.sendall(chunk)
                except OSError:
                    break
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=deliver, daemon=True).start()
