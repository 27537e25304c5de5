"""Exceptions raised by the agent.

::

    AgentError                      base of everything this package raises
    ├── DirectorUnusable            the director could not be used
    │   ├── DirectorUnreachable         no connection (wrong URL, director down, network)
    │   │   └── DirectorUntrusted           its TLS certificate is not trusted (give --ca-file)
    │   ├── AuthenticationFailed        the director refused a call (401, 403)
    │   │   └── TokenAuthenticationFailed   the token itself was refused (401)
    │   ├── MeterBusy                   another session holds the meter (409 on open)
    │   ├── SessionConflict             a call out of order, or the director lost the session (409/404)
    │   └── DirectorFailed              any other error reply (the director's message is kept)
    ├── GpuError                    a GPU backend failed (agent.gpu)
    │   ├── NvmlUnavailable             no NVML library or driver on this machine
    │   ├── GpuNotFound                 a GPU index that does not exist
    │   ├── GpuLost                     a GPU disappeared mid-run (carries its index)
    │   ├── NvmlCallFailed              any other NVML error (carries the function and NVML's error code)
    │   ├── GpuPermissionError          may not change a GPU setting (not root: NVML_ERROR_NO_PERMISSION)
    │   ├── GpuLimitError               a power limit outside the GPU's range, or one it cannot take
    │   └── LimitJournalError           a power-limit journal unreadable or from another machine
    └── WorkloadError               the benchmark failed or wrote no LoadGen logs
        └── BuiltinBenchmarkError       the built-in benchmark's model failed, or LoadGen wrote no logs
                                        (agent.builtin)
"""

from __future__ import annotations

__all__ = [
    "AgentError",
    "AuthenticationFailed",
    "DirectorFailed",
    "DirectorUnreachable",
    "DirectorUntrusted",
    "DirectorUnusable",
    "MeterBusy",
    "SessionConflict",
    "TokenAuthenticationFailed",
    "WorkloadError",
]


class AgentError(Exception):
    """Base class for agent errors."""


class DirectorUnusable(AgentError):
    """The director could not be used."""


class DirectorUnreachable(DirectorUnusable):
    """No connection to the director."""


class DirectorUntrusted(DirectorUnreachable):
    """The director's TLS certificate is not trusted (give --ca-file); trying again will not help."""


class AuthenticationFailed(DirectorUnusable):
    """The director refused the call: the token, or this agent's right to the session."""


class TokenAuthenticationFailed(AuthenticationFailed):
    """The director refused the token (a wrong or old token)."""


class MeterBusy(DirectorUnusable):
    """Another session is measuring on the director's meter."""


class SessionConflict(DirectorUnusable):
    """The director refused a call in the session's current state, or no longer knows the session."""


class DirectorFailed(DirectorUnusable):
    """Any other error reply from the director."""


class WorkloadError(AgentError):
    """The workload failed, or wrote no LoadGen logs."""
