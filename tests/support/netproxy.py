"""A TCP proxy a test controls, to take the network between two processes away and give it back.

While cut, nothing moves: bytes already sent wait in the kernel's buffers and new connections wait
in the listen backlog, unanswered, as over a link that silently drops packets. A client sees its
requests hang until its own timeouts. When restored, whatever is still waiting is delivered, as
TCP's retransmissions would after a short outage; a client that gave up meanwhile has closed its
end, so its late request may still reach the server (and must be harmless there).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

__all__ = ["CuttableProxy"]

TICK_S = 0.05


class CuttableProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> CuttableProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def cut(self) -> None:
        self._flowing.clear()

    def restore(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        with self._lock:
            sockets = [*self._sockets, *([self._listener] if self._listener else [])]
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _ready(self, s: socket.socket) -> bool:
        """Wait until traffic flows and ``s`` is readable; False once the proxy is closed."""
        while not self._closed.is_set():
            if not self._flowing.wait(TICK_S):
                continue
            try:
                readable, _, _ = select.select([s], [], [], TICK_S)
            except (OSError, ValueError):
                return False
            if readable and self._flowing.is_set():
                return True
        return False

    def _accept(self) -> None:
        assert self._listener is not None
        while self._ready(self._listener):
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection((self.host, self.target_port))
            except OSError:
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while self._ready(source):
                chunk = source.recv(65536)
                if not chunk:
                    break
                sink.sendall(chunk)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
