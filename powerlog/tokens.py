"""The bearer token's rules, one for every reader (``serve``, ``watch``, the agent): a minimum length, for
``--token`` and a token file alike, and a warning for a token file that others than its owner may read or
write (it is still read: refusing would stop a run over a lab's umask)."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

__all__ = ["MIN_TOKEN_CHARS", "TOKEN_RULE", "TokenFile", "read_token_file", "token_argument"]

MIN_TOKEN_CHARS = 16
TOKEN_RULE = f"a token needs at least {MIN_TOKEN_CHARS} characters (a generated one has 43)"


def token_argument(text: str) -> str:
    """argparse's ``type`` for ``--token``: refused with the rule when too short."""
    if len(text.strip()) < MIN_TOKEN_CHARS:
        raise argparse.ArgumentTypeError(f"{len(text.strip())} characters given; {TOKEN_RULE}")
    return text.strip()


class TokenFile:
    """What a token file gave: the token, or the problem that makes it unusable, and a warning about its mode."""

    def __init__(self, token: str | None, problem: str | None, warning: str | None) -> None:
        self.token = token
        self.problem = problem
        self.warning = warning


def read_token_file(path: Path) -> TokenFile:
    """``path``'s token; an unreadable file or a short token is a problem, a file that group or others may read
    or write a warning (with the ``chmod``)."""
    try:
        text = path.read_text().strip()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as e:
        return TokenFile(None, f"cannot read {path}: {e.strerror or e}", None)
    if len(text) < MIN_TOKEN_CHARS:
        return TokenFile(None, f"the token in {path} has {len(text)} characters; {TOKEN_RULE}", None)
    warning = None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warning = (
            f"warning: the token file {path} can be read or written by others than its owner (mode {mode:04o}): "
            f"chmod 600 {path}"
        )
    return TokenFile(text, None, warning)
