"""A simulated Yokogawa WT310 that answers SCPI on a pseudo-terminal, as a USB-serial adapter would.

Updates complete every ``:RATE`` interval; the extended event register's bit 0 (with
``:STATus:FILTer1 FALL``) says one completed since it was last read; ``:NUMeric:NORMal:VALue?``
gives the latest update's U, I, P, lambda. Unknown headers and out-of-range settings go to the
error queue (``:STATus:ERRor?``), as on the instrument. Everything it says about itself says
SIMULATED. ``garbage_every=N`` corrupts every Nth value reply, to test what a driver does with it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable

from director.meters.ranges import RANGE_TABLES
from director.meters.serial_transport import SerialLineTransport
from director.meters.yokogawa import YokogawaWT310
from director.ptd_sim.signal import Electrical, Reading, Signal, parse_signal

__all__ = ["IDN", "PtyServer", "ScpiWT310"]

IDN = "YOKOGAWA,WT310E,SIMULATED-MLPOWER,F1.00"
RATES_S = {"100MS": 0.1, "250MS": 0.25, "500MS": 0.5, "1S": 1.0}
TABLE = RANGE_TABLES["WT310"]
_LONG = {
    "VOLT": "VOLTAGE", "CURR": "CURRENT", "RANG": "RANGE", "NUM": "NUMERIC", "NORM": "NORMAL",
    "VAL": "VALUE", "STAT": "STATUS", "ERR": "ERROR", "FILT": "FILTER1", "FILTER": "FILTER1",
    "NUMB": "NUMBER", "LAMB": "LAMBDA",
}  # fmt: skip


def _normal(header: str) -> str:
    return ":".join(_LONG.get(part, part) for part in header.upper().split(":"))


class ScpiWT310:
    def __init__(
        self,
        signal: Signal,
        electrical: Electrical,
        clock_s: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        garbage_every: int = 0,
    ) -> None:
        self.signal = signal
        self.electrical = electrical
        self.clock_s = clock_s
        self.wall_ns = wall_ns
        self.garbage_every = garbage_every
        self.rate_s = 0.25
        self.volts_range: float | None = None  # None = auto
        self.amps_range: float | None = None
        self.items = ["U", "I", "P", "LAMBDA"]
        self.errors: list[str] = []
        self._t0 = clock_s()
        self._eesr_update = 0
        self._cached: tuple[int, Reading] | None = None
        self._value_replies = 0

    def _update(self) -> int:
        return int((self.clock_s() - self._t0) / self.rate_s)

    def _reading(self) -> Reading:
        update = self._update()
        if self._cached is None or self._cached[0] != update:
            self._cached = (update, self.electrical.reading(self.signal.power_w(self.wall_ns())))
        return self._cached[1]

    def handle(self, line: str) -> list[str]:
        replies: list[str] = []
        parent = ""
        for part in line.strip().split(";"):
            part = part.strip()
            if not part:
                continue
            head, _, arg = part.partition(" ")
            if head.startswith("*") or head.startswith(":"):
                path = _normal(head.lstrip(":"))
            else:
                path = f"{parent}:{_normal(head)}" if parent else _normal(head)
            parent = path.rsplit(":", 1)[0] if ":" in path else ""
            reply = self._one(path, arg.strip())
            if reply is not None:
                replies.append(reply)
        return [";".join(replies)] if replies else []

    def _error(self, code: int, text: str) -> None:
        self.errors.append(f'{code},"{text}"')

    def _one(self, path: str, arg: str) -> str | None:
        query = path.endswith("?")
        path = path.rstrip("?")
        if path == "*IDN" and query:
            return IDN
        if path in ("VOLTAGE:RANGE", "CURRENT:RANGE"):
            return self._range(path.startswith("VOLTAGE"), query, arg)
        if path in ("VOLTAGE:AUTO", "CURRENT:AUTO"):
            volts = path.startswith("VOLTAGE")
            if query:
                return "1" if (self.volts_range if volts else self.amps_range) is None else "0"
            if arg.upper() in ("ON", "1"):
                if volts:
                    self.volts_range = None
                else:
                    self.amps_range = None
                return None
            if arg.upper() in ("OFF", "0"):
                return None
            self._error(224, "Illegal parameter value")
            return None
        if path == "RATE":
            if query:
                return next(k for k, v in RATES_S.items() if v == self.rate_s)
            if arg.upper() not in RATES_S:
                self._error(222, "Data out of range")
                return None
            self.rate_s, self._t0, self._eesr_update = RATES_S[arg.upper()], self.clock_s(), 0
            return None
        if path == "NUMERIC:NORMAL:NUMBER" and not query:
            return None
        if path.startswith("NUMERIC:NORMAL:ITEM") and not query:
            return None
        if path == "NUMERIC:NORMAL:VALUE" and query:
            return self._values()
        if path == "STATUS:FILTER1" and not query:
            return None
        if path == "STATUS:EESR" and query:
            update = self._update()
            done = update > self._eesr_update
            self._eesr_update = update
            return "1" if done else "0"
        if path == "STATUS:ERROR" and query:
            return self.errors.pop(0) if self.errors else '0,"No error"'
        self._error(113, "Undefined header")
        return None

    def _range(self, volts: bool, query: bool, arg: str) -> str | None:
        table = TABLE.volts_v if volts else TABLE.amps_a
        if query:
            current = self.volts_range if volts else self.amps_range
            return f"{(current if current is not None else table[-1]):.1E}"
        try:
            value = float(arg.rstrip("VAva"))
        except ValueError:
            self._error(224, "Illegal parameter value")
            return None
        if value not in table:
            self._error(222, "Data out of range")
            return None
        if volts:
            self.volts_range = value
        else:
            self.amps_range = value
        return None

    def _values(self) -> str:
        self._value_replies += 1
        if self.garbage_every and self._value_replies % self.garbage_every == 0:
            return "1.0E+02,\x00\xff#garb"
        r = self._reading()
        amps = r.amps_a
        over = self.amps_range is not None and amps > self.amps_range * 1.4  # beyond the crest: overrange marker
        values = {"U": r.volts_v, "I": amps, "P": r.power_w, "LAMBDA": r.pf}
        return ",".join("9.91E+37" if over and k in ("I", "P") else f"{values[k]:.4E}" for k in self.items)


class PtyServer:
    """Serves an instrument on a new pseudo-terminal; ``path`` is what a driver opens."""

    def __init__(self, instrument: ScpiWT310) -> None:
        self.instrument = instrument
        self._master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="wt310-sim", daemon=True)

    def start(self) -> PtyServer:
        import tty

        tty.setraw(self._slave)
        self._thread.start()
        return self

    def _serve(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            buffer += chunk
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                for reply in self.instrument.handle(raw.decode("ascii", "replace")):
                    os.write(self._master, reply.encode("latin-1", "replace") + b"\n")

    def close(self) -> None:
        self._stop.set()
        for fd in (self._slave, self._master):
            with contextlib.suppress(OSError):
                os.close(fd)


class SimulatedSerialMeter(YokogawaWT310):
    """``sim://``: a WT310 driver talking to a simulated WT310 on its own pty (both in this process)."""

    def __init__(self, signal: str = "host-load") -> None:
        self._server = PtyServer(ScpiWT310(parse_signal(signal), Electrical()))
        super().__init__(SerialLineTransport(self._server.path))

    def open(self) -> None:
        self._server.start()
        super().open()

    def close(self) -> None:
        super().close()
        self._server.close()
