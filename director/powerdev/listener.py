"""A listener that speaks power-dev's protocol v3 and runs each power-dev session as an mlpower session.

One connection is one client. After the handshake each line is a command (:mod:`.protocol`) and gets
one reply line; ``download`` gets the file in chunks instead. ``new`` opens an mlpower session on the
director's meter (a second client while the meter is held is told it is busy), ``session,...`` drives
its phases, ``done`` closes and analyzes it. The run folder is mlpower's, written as for any session.

Where mlpower differs from power-dev's server, on purpose:

* ``set_ntp`` answers ``OK`` without touching the clock: the director's clock is the machine's, and
  mlpower measures the SUT's offset itself. ``stop`` answers ``OK`` and the listener keeps serving.
* ``cleanup`` answers ``OK`` and keeps the run folder (mlpower never deletes a measurement).
* A client that disconnects mid-session aborts the session; what was measured is kept. A director that
  stops aborts them too and tells each client in an ``Error`` line (see :meth:`PowerDevListener.close`).

The protocol has no authentication: only peers in the allow-list may connect (loopback by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from director.errors import DirectorError, SessionError
from director.meters.ranges import Ranges, parse_given_ranges, range_table_for
from director.powerdev.protocol import (
    MAGIC_CLIENT,
    MAGIC_SERVER,
    Cleanup,
    Command,
    CommandError,
    Download,
    LineSplitter,
    LineTooLongError,
    New,
    SessionDone,
    SessionStart,
    SessionStop,
    SetNtp,
    Stop,
    Time,
    encode_file,
    encode_line,
    parse_command,
)
from director.registry import Director
from director.session import Session
from powerlog.powerdev_records import PowerDevMessage
from powerlog.wire import AgentInfo, OpenSessionRequest

__all__ = ["LOOPBACK", "IpNetwork", "PowerDevListener"]

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
READ_CHUNK_BYTES = 64 * 1024
SHUTDOWN_GRACE_S = 5.0  # as uvicorn's graceful shutdown: how long a stopping director waits for a client's next line
IDLE_TIMEOUT_S = 24 * 3600.0  # power-dev's client is silent while the workload runs: a phase may last hours
log = logging.getLogger("mlpower.director.powerdev")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class _Connection:
    peer: str
    session: Session | None = None
    last: Session | None = None  # the session `download` and `cleanup` may name
    lines: LineSplitter = field(default_factory=LineSplitter)
    # every exchange since the handshake, as power-dev's client records them in client.json: the
    # official checker compares the two lists one by one, so server.json "messages" is this list
    messages: list[PowerDevMessage] = field(default_factory=list)

    def record(self, cmd: str, cmd_utc_ns: int, reply: str, reply_utc_ns: int) -> None:
        self.messages.append(PowerDevMessage.exchanged(cmd, cmd_utc_ns, reply, reply_utc_ns))


class PowerDevListener:
    """Serves power-dev clients for ``director``. No socket is opened before :meth:`start`."""

    def __init__(self, director: Director, allow: Sequence[IpNetwork] = LOOPBACK) -> None:
        self.director = director
        self.allow = tuple(allow)
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.StreamWriter, tuple[_Connection, asyncio.Task[None]]] = {}
        self._stopping = False

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, host, port)
        address = self._server.sockets[0].getsockname()
        return address[0], address[1]

    async def close(self) -> None:
        """Stop listening; abort each client's live session (what was measured is kept) and send the client an
        ``Error`` line. power-dev's client reads only after it sends, so the line waits to be the reply to its
        next command: a client that sends one within ``SHUTDOWN_GRACE_S`` reads it and stops; after that the
        connection is closed, and a later command finds it closed. No client is left waiting."""
        if self._server is not None:
            self._server.close()
        self._stopping = True
        for writer, (connection, _) in list(self._open.items()):
            line = "Error: the director is shutting down"
            session = connection.session
            if session is not None and not session.ended:
                await session.abort("the director shut down mid-session")
                line += f"; session {session.session_name} aborted, what was measured is kept in {session.folder}"
            with contextlib.suppress(ConnectionError):
                writer.write(encode_line(line))
                await writer.drain()
        tasks = [task for _, task in self._open.values()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allow)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        if not self.allowed(host):
            log.warning("power-dev connection from %s refused: not in --power-dev-allow", peer)
            writer.close()
            return
        log.info("power-dev connection from %s", peer)
        connection = _Connection(peer)
        task = asyncio.current_task()
        assert task is not None
        self._open[writer] = connection, task
        try:
            await self._converse(connection, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, LineTooLongError) as e:
            log.warning("power-dev connection from %s ended: %s", peer, e)
        finally:
            if connection.session is not None and not connection.session.ended:
                log.warning("power-dev client %s left session %s open: aborted", peer, connection.session.session_id)
                await connection.session.abort(f"the power-dev client {peer} disconnected mid-session")
            self._open.pop(writer, None)
            writer.close()
            log.info("power-dev connection from %s closed", peer)

    async def _lines(self, connection: _Connection, reader: asyncio.StreamReader) -> list[str]:
        data = await asyncio.wait_for(reader.read(READ_CHUNK_BYTES), IDLE_TIMEOUT_S)
        if not data:
            raise ConnectionError("the client closed the connection")
        return connection.lines.feed(data)

    async def _converse(
        self, connection: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        pending: list[str] = []
        while not pending:
            pending = await self._lines(connection, reader)
        magic, *pending = pending
        received_utc_ns = self.director.clock()
        writer.write(encode_line(MAGIC_SERVER))
        connection.record(magic, received_utc_ns, MAGIC_SERVER, self.director.clock())
        await writer.drain()
        if magic != MAGIC_CLIENT:
            log.warning("power-dev client %s: handshake %r, expected %r: closed", connection.peer, magic, MAGIC_CLIENT)
            return
        while True:
            while not pending:
                pending = await self._lines(connection, reader)
            line, *pending = pending
            if self._stopping:  # its reply, the shutdown's Error line, is sent already
                return
            for chunk in await self._answer(connection, line):
                writer.write(chunk)
            await writer.drain()

    async def _answer(self, connection: _Connection, line: str) -> list[bytes]:
        received_utc_ns = self.director.clock()
        command: Command | None = None
        try:
            command = parse_command(line)
        except CommandError as e:
            log.info("power-dev client %s: %r: %s", connection.peer, line, e)
            reply = e.reply
        else:
            if isinstance(command, Download):  # a file, not a reply line: power-dev records no message
                return self._download(connection, command)
            reply = await self._reply(connection, command)
            log.info("power-dev client %s: %r -> %r", connection.peer, line, reply)
        connection.record(line, received_utc_ns, reply, self.director.clock())
        if isinstance(command, SessionDone) and reply == "OK":
            connection.messages = []  # server.json is written: a next session on this connection starts afresh
        return [encode_line(reply)]

    async def _reply(self, connection: _Connection, command: Command) -> str:
        try:
            return await self._run(connection, command)
        except DirectorError as e:  # the meter busy, a phase out of order, the meter failing: said, not fatal
            return f"Error: {e}"
        except ValidationError as e:  # a label the session record cannot take (longer than 64 characters)
            return f"Error: {e.errors()[0]['msg']}"

    def _session(self, connection: _Connection, name: str) -> Session | None:
        session = connection.session
        if session is None or (name != "*" and name != session.session_name):
            return None
        return session

    async def _run(self, connection: _Connection, command: Command) -> str:
        director = self.director
        if isinstance(command, Time):
            return str(director.clock() / 1e9)
        if isinstance(command, SetNtp | Stop):
            return "OK"
        if isinstance(command, New):
            return await self._new(connection, command)
        if isinstance(command, Cleanup):
            return "OK" if connection.last and command.session == connection.last.session_name else "Error"
        session = self._session(connection, command.session)
        if session is None:
            return "Error: unknown session"
        if isinstance(command, SessionStart):
            await session.start_phase(command.phase, director.clock(), _given_ranges(command, session))
            return "OK"
        if isinstance(command, SessionStop):
            await session.stop_phase(command.phase, director.clock())
            return "OK"
        if isinstance(command, SessionDone):
            await session.close(director.analyze)
            connection.session = None
            return "OK"
        raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover

    async def _new(self, connection: _Connection, command: New) -> str:
        if connection.session is not None and not connection.session.ended:
            await connection.session.abort("the power-dev client started a new session")
        request = OpenSessionRequest(
            agent=AgentInfo(label=command.label, host=connection.peer, workload="power-dev client"),
            client_uuid=str(command.client_uuid),
        )
        session = await self.director.open_session(request)
        session.messages = connection.messages  # server.json's messages: the handshake onwards (see _Connection)
        connection.session = connection.last = session
        log.info(
            "power-dev client %s: session %s (run folder %s)", connection.peer, session.session_name, session.folder
        )
        return f"OK {session.session_name},{session.server_uuid}"

    def _download(self, connection: _Connection, command: Download) -> list[bytes]:
        last = connection.last
        if last is None or command.session != last.session_name:
            return [encode_line("Error")]
        path = Path(last.folder) / command.file
        try:
            data = path.read_bytes()
        except OSError as e:
            log.warning("power-dev client %s: download %s: %s", connection.peer, command.file, e.strerror or e)
            data = b""  # power-dev's client waits for a file: an empty one says there is none
        return list(encode_file(data))


def _given_ranges(command: SessionStart, session: Session) -> Ranges | None:
    """The testing ranges a client names (``start,testing,<volts>,<amps>``), or None: derive them. Checked
    against the meter model's range table before anything is sent to the meter."""
    if command.volts is None or command.amps is None:
        return None
    identity = session.pump.identity
    model = identity.model if identity is not None else ""
    try:
        return parse_given_ranges(command.volts, command.amps, range_table_for(model), model)
    except ValueError as e:
        raise SessionError(str(e)) from None
