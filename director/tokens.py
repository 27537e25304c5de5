"""The director's bearer token: from ``--token``, a token file, or made and kept in RUNS_DIR; the rules
(length, a file's mode) are :mod:`powerlog.tokens`', shared with ``watch`` and the agent."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from director.errors import ConfigError
from powerlog.tokens import MIN_TOKEN_CHARS, token_argument
from powerlog.tokens import read_token_file as read_token

__all__ = ["MIN_TOKEN_CHARS", "TOKEN_FILE_NAME", "load_or_create_token", "read_token_file", "token_argument"]

TOKEN_FILE_NAME = "director.token"


def read_token_file(path: Path, flag: str = "") -> str:
    """The token in ``path``; a warning on stderr (still read) when group or others may read or write it."""
    read = read_token(path)
    if read.token is None:
        raise ConfigError(f"{flag}{read.problem}")
    if read.warning is not None:
        print(read.warning, file=sys.stderr)
    return read.token


def load_or_create_token(args: argparse.Namespace, runs_dir: Path) -> tuple[str, Path | None, str]:
    """The token from --token or --token-file; else the one a previous ``serve`` stored in RUNS_DIR (so that a
    restarted director, after a crash, still accepts its agents); else, or with --new-token, a new one stored
    0600 there. Also what to tell the user about it."""
    if args.token:
        return args.token, None, "token: the one given with --token"
    if args.token_file:
        token = read_token_file(args.token_file, "--token-file ")
        return token, args.token_file, f"token: read from {args.token_file}"
    path = runs_dir / TOKEN_FILE_NAME
    if path.is_file() and not args.new_token:
        return read_token_file(path), path, f"token: reusing {path} (--new-token makes a new one)"
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.chmod(path, 0o600)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}; free space or fix the permissions of --out") from e
    return token, path, f"token: new, written to {path} (mode 0600; copy it to every SUT)"
