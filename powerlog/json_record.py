"""Reading mlpower's JSON records (session.json, result.json) into their models, with errors that say where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from powerlog.errors import FormatError

__all__ = ["FrozenRecord", "parse_record", "read_json_file"]

RecordT = TypeVar("RecordT", bound=BaseModel)


class FrozenRecord(BaseModel):
    """A record's model: frozen; fields a reader does not know are ignored (a newer writer's record reads)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def parse_record(model: type[RecordT], obj: Any, path: str, what: str) -> RecordT:
    """``obj`` as a ``model``; :class:`FormatError` naming the first wrong field and how many there are."""
    if not isinstance(obj, dict):
        raise FormatError(path, f"{what} is a JSON object, found {type(obj).__name__}")
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise FormatError(path, f"{where}: {first['msg']} ({e.error_count()} problem(s))") from None


def read_json_file(path: Path) -> Any:
    """The parsed JSON of a file; :class:`FormatError` when it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(str(path), "no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(str(path), f"not readable JSON: {e}") from None
