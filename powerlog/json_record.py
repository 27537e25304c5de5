"""Reading mlpower's JSON records (session.json, result.json) into their models, with errors that say where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from powerlog.errors import FormatError, JsonDepthError

__all__ = ["FrozenRecord", "loads_json", "parse_record", "read_json_file"]

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


def loads_json(data: bytes | str) -> Any:
    """``json.loads``, except that JSON nested past Python's recursion limit (a file of 100,000 ``[``) is a
    :class:`~powerlog.errors.JsonDepthError`, a ValueError as any other malformed JSON, not a RecursionError."""
    try:
        return json.loads(data)
    except RecursionError:
        raise JsonDepthError("JSON nested too deeply to read (over about 1000 levels of [ and {)") from None


def read_json_file(path: Path) -> Any:
    """The parsed JSON of a file; :class:`FormatError` when it is missing or not JSON."""
    try:
        return loads_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(str(path), "no such file") from None
    except (OSError, ValueError) as e:  # UnicodeDecodeError, JSONDecodeError, JsonDepthError
        raise FormatError(str(path), f"not readable JSON: {e}") from None
