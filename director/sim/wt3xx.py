"""A simulated Yokogawa WT300-family analyzer that answers SCPI on a pseudo-terminal, as a USB-serial adapter would.

The model decides the input elements: WT310E 1, WT332E 2, WT333E 3. Each element draws a fixed
share of the signal's power (element 1 the largest), so the elements add up to the signal.
Updates complete every ``:RATE`` interval; the extended event register's bit 0 (with
``:STATus:FILTer1 FALL``) says one completed since it was last read; ``:NUMeric:NORMal:VALue?``
gives the latest update's values of the items set with ``:NUMeric:NORMal:ITEM<n> <function>,<element>``
(U, I, P, LAMBDA; the first four are U, I, P, LAMBDA of element 1 until set). Unknown headers and
out-of-range settings (an element the model does not have) go to the error queue
(``:STATus:ERRor?``), as on the instrument. Everything it says about itself says SIMULATED.
``garbage_every=N`` corrupts every Nth value reply, to test what a driver does with it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable

from director.errors import MeterConfigError
from director.meters.model import MeterUrl
from director.meters.serial_transport import SerialLineTransport
from director.meters.yokogawa import ITEMS, YokogawaWT310, YokogawaWT330, elements_of_model
from director.sim.signal import Electrical, Reading, Signal, parse_signal

__all__ = [
    "SIMULATED_MODELS",
    "PtyServer",
    "ScpiWT300",
    "ScpiWT310",
    "SimulatedPtyTransport",
    "simulated_meter",
    "simulated_serial_meter",
]

# a meter URL's / the CLI's model= -> the model simulated (a WT330 without element count is a WT333E)
SIMULATED_MODELS = {
    "wt310": "WT310E", "wt310e": "WT310E",
    "wt332": "WT332E", "wt332e": "WT332E",
    "wt330": "WT333E", "wt330e": "WT333E", "wt333": "WT333E", "wt333e": "WT333E",
}  # fmt: skip
RATES_S = {"100MS": 0.1, "250MS": 0.25, "500MS": 0.5, "1S": 1.0}
MAX_ITEMS = 255
_LONG = {
    "VOLT": "VOLTAGE", "CURR": "CURRENT", "RANG": "RANGE", "NUM": "NUMERIC", "NORM": "NORMAL",
    "VAL": "VALUE", "STAT": "STATUS", "ERR": "ERROR", "FILT": "FILTER1", "FILTER": "FILTER1",
    "NUMB": "NUMBER", "LAMB": "LAMBDA",
}  # fmt: skip


def _normal(header: str) -> str:
    return ":".join(_LONG.get(part, part) for part in header.upper().split(":"))


def element_shares(elements: int) -> tuple[float, ...]:
    """The fraction of the signal each element draws: weights n, n-1, .., 1, so they differ and add up to 1."""
    weights = range(elements, 0, -1)
    total = sum(weights)
    return tuple(w / total for w in weights)


class ScpiWT300:
    """A simulated WT310E, WT332E or WT333E (``model``) answering SCPI lines."""

    def __init__(
        self,
        signal: Signal,
        electrical: Electrical,
        clock_s: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        garbage_every: int = 0,
        model: str = "WT310E",
    ) -> None:
        elements = elements_of_model(model)
        if elements is None:
            raise MeterConfigError(f"cannot simulate {model!r}: use WT310E, WT332E or WT333E")
        self.model = model
        self.elements = elements
        self.idn = f"YOKOGAWA,{model},SIMULATED-MLPOWER,F1.00"
        self.table = YokogawaWT310.table if elements == 1 else YokogawaWT330.table
        self.shares = element_shares(elements)
        self.signal = signal
        self.electrical = electrical
        self.clock_s = clock_s
        self.wall_ns = wall_ns
        self.garbage_every = garbage_every
        self.rate_s = 0.25
        self.volts_range: float | None = None  # None = auto
        self.amps_range: float | None = None
        self.number = len(ITEMS)
        self.items: dict[int, tuple[str, int]] = {i: (item, 1) for i, item in enumerate(ITEMS, start=1)}
        self.errors: list[str] = []
        self._t0 = clock_s()
        self._eesr_update = 0
        self._cached: tuple[int, tuple[Reading, ...]] | None = None
        self._value_replies = 0

    def _update(self) -> int:
        return int((self.clock_s() - self._t0) / self.rate_s)

    def _readings(self) -> tuple[Reading, ...]:
        """One reading per element for the latest update."""
        update = self._update()
        if self._cached is None or self._cached[0] != update:
            power_w = self.signal.power_w(self.wall_ns())
            self._cached = (update, tuple(self.electrical.reading(power_w * share) for share in self.shares))
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
            return self.idn
        if path in ("VOLTAGE:RANGE", "CURRENT:RANGE"):
            return self._range(path.startswith("VOLTAGE"), query, arg)
        if path in ("VOLTAGE:AUTO", "CURRENT:AUTO"):
            return self._auto(path.startswith("VOLTAGE"), query, arg)
        if path == "RATE":
            if query:
                return next(k for k, v in RATES_S.items() if v == self.rate_s)
            if arg.upper() not in RATES_S:
                self._error(222, "Data out of range")
                return None
            self.rate_s, self._t0, self._eesr_update = RATES_S[arg.upper()], self.clock_s(), 0
            return None
        if path == "NUMERIC:NORMAL:NUMBER" and not query:
            self._number(arg)
            return None
        if path.startswith("NUMERIC:NORMAL:ITEM") and not query:
            self._item(path.removeprefix("NUMERIC:NORMAL:ITEM"), arg)
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

    def _per_element(self, value: str) -> str:
        """A range query answers once per element (all elements share the range here)."""
        return ";".join([value] * self.elements)

    def _auto(self, volts: bool, query: bool, arg: str) -> str | None:
        if query:
            return self._per_element("1" if (self.volts_range if volts else self.amps_range) is None else "0")
        if arg.upper() in ("ON", "1"):
            if volts:
                self.volts_range = None
            else:
                self.amps_range = None
            return None
        if arg.upper() not in ("OFF", "0"):
            self._error(224, "Illegal parameter value")
        return None

    def _range(self, volts: bool, query: bool, arg: str) -> str | None:
        table = self.table.volts_v if volts else self.table.amps_a
        if query:
            current = self.volts_range if volts else self.amps_range
            return self._per_element(f"{(current if current is not None else table[-1]):.1E}")
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

    def _number(self, arg: str) -> None:
        try:
            number = int(arg)
        except ValueError:
            self._error(224, "Illegal parameter value")
            return
        if not 1 <= number <= MAX_ITEMS:
            self._error(222, "Data out of range")
            return
        self.number = number

    def _item(self, suffix: str, arg: str) -> None:
        """``ITEM<n> <function>[,<element>]``; the element must be one this model has."""
        function, _, element_text = arg.upper().partition(",")
        function = _LONG.get(function.strip(), function.strip())
        try:
            index, element = int(suffix), int(element_text or "1")
        except ValueError:
            self._error(224, "Illegal parameter value")
            return
        if function not in ITEMS:
            self._error(224, "Illegal parameter value")
            return
        if not (1 <= index <= MAX_ITEMS and 1 <= element <= self.elements):
            self._error(222, "Data out of range")
            return
        self.items[index] = (function, element)

    def _values(self) -> str:
        self._value_replies += 1
        if self.garbage_every and self._value_replies % self.garbage_every == 0:
            return "1.0E+02,\x00\xff#garb"
        readings = self._readings()
        return ",".join(self._value(self.items.get(i), readings) for i in range(1, self.number + 1))

    def _value(self, item: tuple[str, int] | None, readings: tuple[Reading, ...]) -> str:
        if item is None:
            return "NAN"  # an item never set (NONE)
        function, element = item
        r = readings[element - 1]
        over = self.amps_range is not None and r.amps_a > self.amps_range * 1.4  # beyond the crest: overrange marker
        if over and function in ("I", "P"):
            return "9.91E+37"
        value = {"U": r.volts_v, "I": r.amps_a, "P": r.power_w, "LAMBDA": r.pf}[function]
        return f"{value:.4E}"


class ScpiWT310(ScpiWT300):
    """The simulated WT310E (one element): ScpiWT300's default model, under the name older code imports."""


class PtyServer:
    """Serves an instrument on a new pseudo-terminal; ``path`` is what a driver opens."""

    def __init__(self, instrument: ScpiWT300) -> None:
        self.instrument = instrument
        self._master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"{instrument.model.lower()}-sim", daemon=True)

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


class SimulatedPtyTransport(SerialLineTransport):
    """A serial line to a simulated instrument on its own pty, served by this process from :meth:`open` on."""

    def __init__(self, instrument: ScpiWT300, timeout_s: float = 2.0) -> None:
        super().__init__(f"simulated {instrument.model}", timeout_s=timeout_s)
        self.instrument = instrument
        self._server: PtyServer | None = None

    def open(self) -> None:
        self._server = PtyServer(self.instrument).start()
        self.url = self._server.path
        try:
            super().open()
        except BaseException:
            self._close_server()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._close_server()

    def _close_server(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


def simulated_serial_meter(signal: str = "host-load", model: str = "wt310") -> YokogawaWT310 | YokogawaWT330:
    """``sim://``: the driver for ``model`` talking to a simulated instrument of that model on a pty of this process."""
    simulated = SIMULATED_MODELS.get(model.lower())
    if simulated is None:
        raise MeterConfigError(f"cannot simulate model {model!r}: use one of {', '.join(SIMULATED_MODELS)}")
    transport = SimulatedPtyTransport(ScpiWT300(parse_signal(signal), Electrical(), model=simulated))
    return YokogawaWT310(transport) if elements_of_model(simulated) == 1 else YokogawaWT330(transport)


def simulated_meter(url: MeterUrl) -> YokogawaWT310 | YokogawaWT330:
    """``sim://``'s driver, as the WT310 and WT330 models declare it (``MeterModel.simulator``)."""
    return simulated_serial_meter(url.options.get("signal", "host-load"), url.options.get("model", "wt310"))
