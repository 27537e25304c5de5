"""The power-dev listener on a real loopback socket, with a simulated meter, driven by a client written
from the protocol description: a whole session, bad lines, a wrong handshake, a second client while the
meter is held, a client that vanishes mid-phase, and the allow-list."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import re
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from director.meters.ranges import Ranges
from director.powerdev.listener import PowerDevListener
from director.powerdev.protocol import MAGIC_CLIENT, MAGIC_SERVER, FileReceiver, LineSplitter
from powerlog.spl import read_spl
from tests.support.in_process import director_on
from tests.support.processes import BIN, start_director, stop

CLIENT_UUID = str(uuid.uuid4())


class Client:
    """power-dev's client side, from the protocol: CRLF lines, one reply each, files in chunks."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.lines = LineSplitter()
        self.pending: list[str] = []
        self.rest = b""
        self.exchanges: list[tuple[str, str]] = []  # what power-dev's client keeps for client.json

    @classmethod
    async def connect(cls, port: int, handshake: str = MAGIC_CLIENT) -> tuple[Client, str]:
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        return client, await client.command(handshake)

    async def reply(self) -> str:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), 30)
            if not data:
                raise ConnectionError("closed")
            self.pending += self.lines.feed(data)
        return self.pending.pop(0)

    async def command(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()
        reply = await self.reply()
        self.exchanges.append((line, reply))
        return reply

    async def download(self, session: str, name: str) -> bytes:
        self.writer.write(f"download,{session},{name}\r\n".encode())
        await self.writer.drain()
        receiver = FileReceiver()
        after = receiver.feed(self.lines.take_rest())
        while not receiver.done:
            after = receiver.feed(await asyncio.wait_for(self.reader.read(65536), 30))
        self.pending += self.lines.feed(after)
        return bytes(receiver.data)

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 10) == b""

    def close(self) -> None:
        self.writer.close()


@asynccontextmanager
async def listening(tmp_path: Path, allow: tuple = ()) -> AsyncIterator[tuple[PowerDevListener, int]]:
    director = director_on("sim://?rate=0.1&signal=constant:120", tmp_path / "runs", interval_ms=100)
    listener = PowerDevListener(director, allow) if allow else PowerDevListener(director)
    _, port = await listener.start("127.0.0.1", 0)
    try:
        yield listener, port
    finally:
        await listener.close()


def test_a_whole_session(tmp_path: Path) -> None:
    async def main() -> None:
        async with listening(tmp_path) as (_, port):
            client, hello = await Client.connect(port)
            assert hello == MAGIC_SERVER
            float(await client.command("time"))
            assert await client.command("set_ntp") == "OK"
            assert await client.command("stop") == "OK"  # power-dev's -S: mlpower keeps serving after this client
            opened = await client.command(f"new,resnet_offline,{CLIENT_UUID}")
            assert opened.startswith("OK ")
            session, server_uuid = opened[3:].split(",")
            assert session.endswith("_resnet_offline") and uuid.UUID(server_uuid)
            for phase in ("ranging", "testing"):
                assert await client.command(f"session,{session},start,{phase}") == "OK"
                float(await client.command("time"))
                await asyncio.sleep(1.0)
                assert await client.command(f"session,*,stop,{phase}") == "OK"
            assert await client.command("session,other,done") == "Error: unknown session"
            before_done = list(client.exchanges)
            assert await client.command(f"session,{session},done") == "OK"
            spl = await client.download(session, "run_1/spl.txt")
            assert spl.count(b"\n") >= 5 and f"{session}_testing".encode() in spl
            server = json.loads(await client.download(session, "power/server.json"))
            assert server["session_name"] == session
            # every exchange up to `done`, the handshake first, as the official checker compares them
            assert [(m["cmd"], m["reply"]) for m in server["messages"]] == before_done
            assert all(m["cmd_time"] <= m["reply_time"] for m in server["messages"])
            ptd_out = (await client.download(session, "run_1/ptd_out.txt")).decode()
            (folder,) = (tmp_path / "runs").iterdir()
            watts = read_spl(folder / "run_1" / "spl.txt").power_w
            power = (
                f"Power: Watts,{watts.mean():.6f},{watts.min():.6f},{watts.max():.6f},{len(watts)},0,{len(watts)} \n"
            )
            assert ptd_out.startswith(f"Analyzer 1:\n{power}Uncertainty: "), ptd_out
            assert await client.download(session, "power/ptd_logs.txt") == b""  # no PTDaemon: empty, and recorded
            assert server["results"]["power/ptd_logs.txt"] == hashlib.sha1(b"").hexdigest()
            assert b"session " in await client.download(session, "power/server.log")
            assert await client.command("hello") == "Error"  # the connection is still there after a file
            assert await client.command(f"cleanup,{session}") == "OK"
            client.close()
            again, hello = await Client.connect(port)  # still listening after a client that sent `stop`
            assert hello == MAGIC_SERVER
            again.close()
        assert (folder / "run_1" / "spl.txt").is_file()  # cleanup keeps mlpower's run folder

    asyncio.run(main())


def test_testing_ranges_the_client_gives(tmp_path: Path) -> None:
    """`start,testing,<volts>,<amps>` sets those ranges, with or without ranging before it (power-dev's client
    then skips ranging); ranges that are not finite positive numbers inside the model's range table are an Error,
    nothing reaches the meter, and the session waits."""

    async def main() -> None:
        async with listening(tmp_path) as (listener, port):
            client, _ = await Client.connect(port)
            session = (await client.command(f"new,given,{CLIENT_UUID}"))[3:].split(",")[0]
            bad = await client.command(f"session,{session},start,testing,300,x")
            assert bad == "Error: ranges '300' V, 'x' A are not numbers", bad
            assert (await client.command(f"session,{session},start,testing,-1,2")).startswith("Error: ranges -1 V")
            held = listener.director.active
            assert held is not None
            sent = len(held.meter.exchanges)
            infinite = await client.command(f"session,{session},start,testing,inf,inf")
            assert infinite == "Error: ranges inf V, inf A: inf V is not a range: give a finite number above 0"
            too_high = await client.command(f"session,{session},start,testing,700,2")
            assert "above the largest V range of the YokogawaWT310E" in too_high and "give at most 600 V" in too_high
            assert len(held.meter.exchanges) == sent  # nothing reached the meter
            assert await client.command(f"session,{session},start,testing,300,2") == "OK"
            await asyncio.sleep(0.5)
            assert await client.command(f"session,{session},stop,testing") == "OK"
            held = listener.director.active
            assert held is not None and held.ranges["testing"] == Ranges(300.0, 2.0)
            assert await client.command(f"session,{session},done") == "OK"
            record = json.loads((held.folder / "session.json").read_text())
            assert record["phases"]["testing"]["ranges"] == {"volts_v": 300.0, "amps_a": 2.0}
            assert "ranging" not in record["phases"] or not record["phases"]["ranging"].get("samples")
            client.close()

    asyncio.run(main())


def test_bad_lines_and_a_wrong_handshake(tmp_path: Path) -> None:
    async def main() -> None:
        async with listening(tmp_path) as (_, port):
            client, hello = await Client.connect(port)
            assert hello == MAGIC_SERVER
            assert await client.command("new,bad label,x") == "Error: invalid label"
            assert await client.command(f"session,{'*'},start,ranging") == "Error: unknown session"
            assert await client.command("session,s,pause") == "Error Unknown session command"
            assert await client.command("download,s,/etc/passwd") == "Error"
            assert await client.command("time") != "Error"  # still connected
            client.close()
            stranger, hello = await Client.connect(port, "GET / HTTP/1.1")
            assert hello == MAGIC_SERVER and await stranger.closed()  # told who it is, then closed

    asyncio.run(main())


def test_one_session_at_a_time_and_a_vanishing_client(tmp_path: Path) -> None:
    async def main() -> None:
        async with listening(tmp_path) as (listener, port):
            first, _ = await Client.connect(port)
            session = (await first.command(f"new,first,{CLIENT_UUID}"))[3:].split(",")[0]
            assert await first.command(f"session,{session},start,ranging") == "OK"
            second, _ = await Client.connect(port)
            busy = await second.command(f"new,second,{CLIENT_UUID}")
            assert busy.startswith("Error: meter busy: session ") and "_first" in busy, busy
            await asyncio.sleep(0.8)
            first.close()  # vanishes mid-phase
            for _ in range(50):
                held = listener.director.active
                if held is not None and held.ended:
                    break
                await asyncio.sleep(0.1)
            assert listener.director.active is not None and listener.director.active.ended
            assert "disconnected mid-session" in (listener.director.active.error or "")
            again = await second.command(f"new,second,{CLIENT_UUID}")
            assert again.startswith("OK "), again  # the meter is free again
            second.close()
        folders = sorted((tmp_path / "runs").iterdir())
        assert len(folders) == 2 and (folders[0] / "ranging" / "spl.txt").read_text().count("\n") >= 3  # kept

    asyncio.run(main())


def test_the_allow_list(tmp_path: Path) -> None:
    async def main() -> None:
        async with listening(tmp_path, allow=(ipaddress.ip_network("10.0.0.0/8"),)) as (listener, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(MAGIC_CLIENT.encode() + b"\r\n")
            with contextlib.suppress(ConnectionResetError):  # refused without a word: closed, or reset
                assert await asyncio.wait_for(reader.read(100), 10) == b""
            writer.close()
            assert listener.allowed("10.1.2.3") and not listener.allowed("127.0.0.1")
            assert listener.allowed("::ffff:10.0.0.1") and not listener.allowed("not an address")

    asyncio.run(main())


def test_serve_with_a_power_dev_listener(tmp_path: Path) -> None:
    """`serve --power-dev-listen` as a real process: it says where it listens, answers the handshake and
    a session beside the HTTP API; a non-loopback address without --power-dev-allow is refused at start."""
    process, _ = start_director(tmp_path / "runs", "sim://?rate=0.1", extra=["--power-dev-listen", "127.0.0.1:0"])
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        line = next(x for x in lines if x.startswith("power-dev listener on "))
        port = int(line.split()[3].rsplit(":", 1)[1])

        async def main() -> None:
            client, hello = await Client.connect(port)
            assert hello == MAGIC_SERVER
            opened = await client.command(f"new,cli,{CLIENT_UUID}")
            assert opened.startswith("OK "), opened
            client.close()

        asyncio.run(main())
    finally:
        stop(process)
    refused = subprocess.run(
        [str(BIN / "mlpower-director"), "serve", "--meter", "sim://", "--out", str(tmp_path / "r2"),
         "--power-dev-listen", "0.0.0.0:0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "--power-dev-allow" in refused.stderr, refused.stderr


def _power_dev_port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        assert line, "serve ended before its power-dev listener said where it listens"
        if line.startswith("power-dev listener on "):
            return int(line.split()[3].rsplit(":", 1)[1])


async def _stopped_mid_phase(
    process: subprocess.Popen[str], port: int, url: str, headers: dict[str, str], sig: signal.Signals
) -> str:
    """A power-dev session in ranging, seen through the HTTP API; then the director gets ``sig``: the reply
    (or "closed") the client's next command gets."""
    client, _ = await Client.connect(port)
    session = (await client.command(f"new,watched,{CLIENT_UUID}"))[3:].split(",")[0]
    assert await client.command(f"session,{session},start,ranging") == "OK"
    await asyncio.sleep(1.0)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
        (listed,) = [s for s in (await http.get("/v1/sessions")).json() if s["state"] == "ranging"]
        assert listed["session_name"] == session and listed["samples"]["ranging"] > 0, listed
        metrics = (await http.get("/metrics")).text
        assert 'mlpower_session_state{state="ranging"} 1.0' in metrics
        samples = re.search(r'mlpower_wall_samples_total\{phase="ranging"\} (\S+)', metrics)
        assert samples is not None and float(samples.group(1)) > 0, metrics
        async with http.stream("GET", "/v1/live") as live:
            lines = live.aiter_lines()
            assert await anext(lines) == "event: snapshot"
            snapshot = json.loads((await anext(lines)).removeprefix("data: "))
            assert snapshot["active"]["session_name"] == session
    process.send_signal(sig)
    await asyncio.sleep(0.5)
    try:
        return await asyncio.wait_for(client.command(f"session,{session},stop,ranging"), 10)
    except ConnectionError:
        return "closed"
    finally:
        client.close()
        await asyncio.to_thread(process.wait, 30)


def test_a_power_dev_session_on_the_dashboard_and_metrics_and_a_director_that_stops(tmp_path: Path) -> None:
    """A power-dev session mid-phase shows in /v1/sessions, the live feed's snapshot and /metrics like any
    other. The director stopped mid-phase (SIGTERM) keeps what was measured and the client's next command reads
    an Error line; killed outright (SIGKILL), the client's next command finds the connection closed at once.
    Either way no client waits forever, and the restarted director marks the session interrupted."""
    runs = tmp_path / "runs"
    for sig in (signal.SIGTERM, signal.SIGKILL):
        process, url = start_director(runs, "sim://?rate=0.1", extra=["--power-dev-listen", "127.0.0.1:0"])
        try:
            port = _power_dev_port(process)
            headers = {"Authorization": f"Bearer {(runs / 'director.token').read_text().strip()}"}

            reply = asyncio.run(_stopped_mid_phase(process, port, url, headers, sig))
        finally:
            stop(process)
        if sig is signal.SIGTERM:
            assert reply.startswith("Error: the director is shutting down; session "), reply
            assert "what was measured is kept in" in reply
        else:
            assert reply == "closed"
    folders = sorted(f for f in runs.iterdir() if f.is_dir())
    assert len(folders) == 2
    for folder in folders:
        assert (folder / "ranging" / "spl.txt").read_text().count("\n") >= 3  # what was measured is kept
    assert json.loads((folders[0] / "session.json").read_text())["state"] == "failed"  # aborted at SIGTERM
    restarted, _ = start_director(runs, "sim://?rate=0.1")
    try:
        assert restarted.stdout is not None
        lines = [restarted.stdout.readline() for _ in range(4)]
        assert any(line.startswith(f"recovered: session {folders[1].name} was ranging") for line in lines), lines
    finally:
        stop(restarted)
