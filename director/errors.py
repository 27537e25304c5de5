"""Exceptions raised by the director.

::

    DirectorError                   base of everything this package raises
    ├── ConfigError                 the director's own settings are unusable (token file, TLS files, listen address)
    │   └── SystemConfigError           a system description (SYSTEM.toml) is unusable: says file, table, key
    ├── StorageError                the run folder cannot take more data (disk full, not writable)
    ├── CommandError                a power-dev client's line is no command (director.powerdev; also a ValueError)
    ├── LineTooLongError            a power-dev client's line is longer than any command (also a ValueError)
    ├── BadReading                  a Redfish resource holds no usable reading (also a ValueError)
    ├── UsageError                  mlpower-ptd's command line is unusable (also a ValueError)
    ├── RangeError                  a range mlpower-ptd's analyzer does not have (also a ValueError)
    ├── SessionError                a session cannot do what was asked
    │   ├── SessionStateError           a call its current state does not allow (nothing changes)
    │   ├── MeterBusyError              the meter is measuring for another session
    │   ├── BatchConflictError          a SUT batch re-sent with its (source, seq) but other readings
    │   └── UnknownSessionError         no such session (a restarted director names the interrupted one)
    └── MeterError                  a meter could not do what was asked (carries meter and command)
        ├── MeterConfigError        a meter URL or setting is invalid
        ├── MeterTransportError     bytes did not get through
        │   ├── MeterConnectionError    cannot connect, or the connection was lost
        │   └── MeterTimeoutError       no (complete) reply in time
        └── MeterProtocolError      a reply arrived but is not what the protocol allows
            ├── NotPtdaemonError        the peer does not answer Hello like PTDaemon
            └── MeterErrorReply         the meter answered with an error (the reply is kept)
"""

from __future__ import annotations

from powerlog.wire import SessionState

__all__ = [
    "BatchConflictError",
    "ConfigError",
    "DirectorError",
    "MeterBusyError",
    "MeterConfigError",
    "MeterConnectionError",
    "MeterError",
    "MeterErrorReply",
    "MeterProtocolError",
    "MeterTimeoutError",
    "MeterTransportError",
    "NotPtdaemonError",
    "SessionError",
    "SessionStateError",
    "StorageError",
    "SystemConfigError",
    "UnknownSessionError",
]


class DirectorError(Exception):
    """Base class for director errors."""


class ConfigError(DirectorError):
    """The director's own settings are unusable: the token file, the TLS files, the address to listen on."""


class SystemConfigError(ConfigError):
    """A system description (``SYSTEM.toml``) is unusable; the message names the file, the table and the key.

    ``path``, ``table`` (``[[node]] #2 "node1"``) and ``key`` are kept for callers; empty where they do not apply.
    """

    def __init__(self, message: str, *, path: str = "", table: str = "", key: str = "") -> None:
        self.path, self.table, self.key = path, table, key
        where = ": ".join(x for x in (path, ", ".join(x for x in (table, key) if x)) if x)
        super().__init__(f"{where}: {message}" if where else message)


class StorageError(DirectorError):
    """The run folder cannot take more data (disk full, not writable).

    ``samples_written``: of the samples being written when the disk refused, how many reached the file.
    """

    def __init__(self, message: str, samples_written: int = 0) -> None:
        super().__init__(message)
        self.samples_written = samples_written


class SessionError(DirectorError):
    """A session cannot do what was asked."""


class SessionStateError(SessionError):
    """A call that the session's current state does not allow; nothing changes."""

    def __init__(self, message: str, state: SessionState) -> None:
        self.state = state
        super().__init__(f"{message} (session is {state.value})")


class MeterBusyError(SessionError):
    """The meter is measuring for another session."""

    def __init__(self, message: str, busy_session_id: str) -> None:
        self.busy_session_id = busy_session_id
        super().__init__(message)


class BatchConflictError(SessionError):
    """A SUT batch whose (source, seq) was stored before with other content: refused, the stored one is kept."""

    def __init__(self, source: str, seq: int) -> None:
        self.source = source
        self.seq = seq
        super().__init__(
            f"batch {seq} of source {source!r} was stored before with other readings: a re-sent batch must be "
            "the same bytes; the stored one is kept (is another agent or process sending under this source?)"
        )


class UnknownSessionError(SessionError):
    """No session by that id: never opened here, or cut short by a director that stopped."""


class MeterError(DirectorError):
    def __init__(self, message: str, *, meter: str = "", command: str | None = None) -> None:
        self.meter = meter
        self.command = command
        context = ", ".join(x for x in (meter, f"command {command!r}" if command else "") if x)
        super().__init__(f"{context}: {message}" if context else message)


class MeterConfigError(MeterError):
    """A meter URL or setting is invalid."""


class MeterTransportError(MeterError):
    """Bytes did not get through."""


class MeterConnectionError(MeterTransportError):
    """Cannot connect to the meter, or the connection was lost."""


class MeterTimeoutError(MeterTransportError):
    """The meter did not answer (completely) in time."""


class MeterProtocolError(MeterError):
    """The reply does not follow the protocol."""

    def __init__(self, message: str, *, meter: str = "", command: str | None = None, reply: str | None = None) -> None:
        self.reply = reply
        super().__init__(message, meter=meter, command=command)


class NotPtdaemonError(MeterProtocolError):
    """The peer is not PTDaemon (or something that speaks its protocol)."""


class MeterErrorReply(MeterProtocolError):
    """The meter answered the command with an error."""
