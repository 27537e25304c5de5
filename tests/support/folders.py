"""Editing a copied result folder the way a damaged one looks: JSON files changed in place, checksums redone."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_json(path: Path) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(path.read_text())
    return obj


def write_json(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=4) + "\n")


def edit_json(path: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    """Read ``path``, let ``edit`` change the object in place, write it back."""
    obj = read_json(path)
    edit(obj)
    write_json(path, obj)


def rehash(perf: Path, rel: str) -> None:
    """Record a changed file's sha1 wherever a session record (server.json, client.json) lists it."""
    digest = hashlib.sha1((perf / rel).read_bytes()).hexdigest()
    for name in ("server", "client"):
        path = perf / "power" / f"{name}.json"
        record = read_json(path)
        if rel in record["results"]:
            record["results"][rel] = digest
            write_json(path, record)
