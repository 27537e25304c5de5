"""Reading a system description file (``SYSTEM.toml``, standard-library ``tomllib``) into a validated
:class:`~director.system.description.SystemDescription`, every error naming the file, the table and the key.

The format (docs/hardware-setup.md, "Multi-node systems")::

    name = "rack-a"                      # the system's name
    loadgen_node = "node0"               # the node that runs LoadGen (may be left out with one node)

    [[node]]                             # one per node
    name = "node0"
    wall = ["ptd://10.0.0.5:8888"]       # its wall meter URL(s), summed

    [[node]]
    name = "node1"
    wall = [{ url = "ptd://10.0.0.6:8888", channels = [1, 2] }]   # some channels of a shared analyzer

    [interconnect]                       # measured: wall = [...]; or estimated:
    max_power_w = 650.0                  # the switches' maximum specified power
    share = 0.5                          # the share of it the run uses, in (0, 1]
    note = "one of two leaf switches' ports; datasheet figure"
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from director.errors import MeterConfigError, SystemConfigError
from director.system.description import (
    EstimatedInterconnect,
    Interconnect,
    MeasuredInterconnect,
    Node,
    SystemDescription,
    WallSource,
)

__all__ = ["load_system", "parse_system"]

_TOP_KEYS = ("name", "loadgen_node", "node", "interconnect")
_NODE_KEYS = ("name", "wall")
_SOURCE_KEYS = ("url", "channels")
_INTERCONNECT_KEYS = ("wall", "max_power_w", "share", "note")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters"
_SOURCE_EXAMPLE = '"ptd://HOST:8888", "redfish://BMC/1?credentials=PATH" or { url = "ptd://HOST:8888", channels = [1] }'


class _Where:
    """Where in the file a value is: makes errors that name the file, the table and the key."""

    def __init__(self, path: str, table: str = "") -> None:
        self.path, self.table = path, table

    def error(self, key: str, message: str) -> SystemConfigError:
        return SystemConfigError(message, path=self.path, table=self.table, key=key)

    def inside(self, table: str) -> _Where:
        return _Where(self.path, table)


def load_system(path: Path) -> SystemDescription:
    """The system a ``SYSTEM.toml`` describes; :class:`SystemConfigError` saying where and what when it is not
    one (a TOML syntax error keeps tomllib's line and column)."""
    shown = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemConfigError("no such file: give the path of a system description", path=shown) from None
    except UnicodeDecodeError as e:
        raise SystemConfigError(
            f"not UTF-8 text ({e.reason} at byte {e.start}): save it as UTF-8", path=shown
        ) from None
    except OSError as e:
        raise SystemConfigError(f"cannot be read: {e.strerror or e}", path=shown) from None
    except tomllib.TOMLDecodeError as e:
        raise SystemConfigError(f"not valid TOML: {e}", path=shown) from None
    return parse_system(data, shown)


def parse_system(data: Mapping[str, Any], path: str = "SYSTEM.toml") -> SystemDescription:
    """The system parsed TOML describes (``path`` only names it in errors)."""
    top = _Where(path)
    _refuse_unknown(data, _TOP_KEYS, top, "the top level")
    name = _name(data, top, 'name = "rack-a" at the top of the file, before the first [[node]]')
    nodes = _nodes(data.get("node"), top)
    loadgen_node = _loadgen_node(data, nodes, top)
    interconnect = _interconnect(data.get("interconnect"), top.inside("[interconnect]"))
    _refuse_meters_counted_twice(nodes, interconnect, path)
    return SystemDescription(name, tuple(nodes), loadgen_node, interconnect, path)


def _refuse_unknown(table: Mapping[str, Any], known: Sequence[str], where: _Where, what: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            if key in _TOP_KEYS and where.table:
                hint = "a top-level key goes at the top of the file, before the first table (in TOML every key after "
                hint += "a [[node]] or [interconnect] line belongs to that table); "
            raise where.error(key, f"unknown key: {hint}{what} takes {', '.join(known)}")


def _name(table: Mapping[str, Any], where: _Where, example: str) -> str:
    if "name" not in table:
        raise where.error("name", f"missing: write {example}")
    name = table["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise where.error("name", f"{name!r} is not a name: write {example} ({_NAME_RULE})")
    return name


def _nodes(value: object, top: _Where) -> list[Node]:
    if value is None:
        raise top.error("node", 'no [[node]] table: write one per node, each with name = "..." and wall = [...]')
    if not isinstance(value, list):
        raise top.error("node", "a single [node] table: write [[node]] (two brackets), one table per node")
    nodes: list[Node] = []
    seen: dict[str, int] = {}
    for number, table in enumerate(value, start=1):
        label = f"[[node]] #{number}"
        if not isinstance(table, dict):
            raise top.error("node", f"#{number} is not a table: write [[node]] tables, one per node")
        if isinstance(table.get("name"), str):
            label += f' "{table["name"]}"' if _NAME.match(table["name"]) else f" {table['name']!r}"
        where = top.inside(label)
        _refuse_unknown(table, _NODE_KEYS, where, "a [[node]]")
        name = _name(table, where, f'name = "node{number - 1}"')
        if name in seen:
            raise where.error("name", f"{name!r} is also [[node]] #{seen[name]}'s name: give each node its own")
        seen[name] = number
        if "wall" not in table or table["wall"] == []:
            raise where.error("wall", f"no wall source: every node is measured at the wall; write wall = [...] "
                                      f"with its meter URL(s), e.g. {_SOURCE_EXAMPLE}")  # fmt: skip
        nodes.append(Node(name, _wall(table["wall"], where)))
    if not nodes:
        raise top.error("node", 'no [[node]] table: write one per node, each with name = "..." and wall = [...]')
    return nodes


def _wall(value: object, where: _Where) -> tuple[WallSource, ...]:
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise where.error("wall", f"a list of meter URLs, e.g. wall = [{_SOURCE_EXAMPLE}]")
    return tuple(_source(item, where, f"wall #{number}") for number, item in enumerate(value, start=1))


def _source(item: object, where: _Where, key: str) -> WallSource:
    channels: tuple[int, ...] | None = None
    if isinstance(item, dict):
        _refuse_unknown(item, _SOURCE_KEYS, where.inside(f"{where.table}, {key}"), "a wall source")
        if "url" not in item:
            raise where.error(
                key, 'a wall source table needs url = "...", e.g. { url = "ptd://HOST:8888", channels = [1] }'
            )
        channels = _channels(item.get("channels"), where, f"{key} channels")
        item = item["url"]
    if not isinstance(item, str):
        raise where.error(key, f"{item!r} is not a meter URL: write one as a string, e.g. {_SOURCE_EXAMPLE}")
    if item.strip().lower().startswith("none:"):
        raise where.error(key, "none:// is no wall meter: a node of a system file is measured at the wall; give "
                               "its meter's URL (for component counters alone, serve --meter none://)")  # fmt: skip
    try:
        return WallSource.parse(item, channels)
    except MeterConfigError as e:
        raise where.error(key, f"{e} (a wall source is any URL serve --meter takes)") from None


def _channels(value: object, where: _Where, key: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    channels = tuple(value) if isinstance(value, list) else ()
    if not channels or not all(type(c) is int and c >= 1 for c in channels) or len(set(channels)) != len(channels):
        raise where.error(key, f"{value!r}: write the analyzer's channel numbers, from 1, each once, e.g. [1, 2]")
    return channels


def _loadgen_node(data: Mapping[str, Any], nodes: Sequence[Node], top: _Where) -> str:
    names = ", ".join(repr(n.name) for n in nodes)
    if "loadgen_node" not in data:
        if len(nodes) == 1:
            return nodes[0].name
        raise top.error("loadgen_node", f"missing: write loadgen_node = one of {names} (the node that runs LoadGen)")
    value = data["loadgen_node"]
    if not any(n.name == value for n in nodes):
        raise top.error("loadgen_node", f"{value!r} is no [[node]]'s name: write one of {names}")
    return str(value)


def _interconnect(value: object, where: _Where) -> Interconnect | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise where.error("", "write one [interconnect] table (one bracket): measured or estimated")
    _refuse_unknown(value, _INTERCONNECT_KEYS, where, "[interconnect]")
    note = value.get("note", "")
    if not isinstance(note, str):
        raise where.error("note", f"{note!r}: write the note as a string")
    estimated = [k for k in ("max_power_w", "share") if k in value]
    if "wall" in value and estimated:
        raise where.error(", ".join(["wall", *estimated]), "both measured and estimated: keep wall = [...] (measured) "
                          "or max_power_w, share and note (estimated), not both")  # fmt: skip
    if "wall" in value:
        return MeasuredInterconnect(_wall(value["wall"], where), note)
    if not estimated:
        raise where.error("", "neither measured nor estimated: write wall = [...] (its meters) or max_power_w, share "
                          "and note (an estimate)")  # fmt: skip
    max_power_w = _number(value, "max_power_w", where, "the switches' maximum specified power, e.g. 650.0")
    if not max_power_w > 0:
        raise where.error("max_power_w", f"{max_power_w!r}: write a positive power in watts, e.g. 650.0")
    share = _number(value, "share", where, "the share of it the run uses, in (0, 1], e.g. 0.5")
    if not 0 < share <= 1:
        raise where.error("share", f"{share!r} is outside (0, 1]: write the share the run uses, e.g. 0.5 (1: all)")
    if not note.strip():
        raise where.error("note", 'missing: an estimate says where it comes from, e.g. note = "2 x 325 W, datasheet"')
    return EstimatedInterconnect(float(max_power_w), float(share), note)


def _number(table: Mapping[str, Any], key: str, where: _Where, what: str) -> float:
    if key not in table:
        raise where.error(key, f"missing: write {key} = {what}")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise where.error(key, f"{value!r} is not a number: write {key} = {what}")
    return float(value)


def _refuse_meters_counted_twice(nodes: Sequence[Node], interconnect: Interconnect | None, path: str) -> None:
    """One meter in two places is counted twice, unless each place names its own channels of it."""
    places = [(f'[[node]] #{i} "{n.name}"', n.wall) for i, n in enumerate(nodes, start=1)]
    if isinstance(interconnect, MeasuredInterconnect):
        places.append(("[interconnect]", interconnect.wall))
    seen: dict[tuple[str, str, int, str], list[tuple[str, WallSource]]] = {}
    for table, sources in places:
        for number, source in enumerate(sources, start=1):
            key = source.meter_key
            if key is None:
                continue
            for other_table, other in seen.get(key, []):
                overlap = set(source.channels or ()) & set(other.channels or ())
                if source.channels is None or other.channels is None or overlap:
                    what = f"channel(s) {sorted(overlap)} of {source.url.text!r} are" if overlap else (
                        f"{source.url.text!r} is")  # fmt: skip
                    raise SystemConfigError(
                        f"{what} also counted in {other_table}: one meter counted twice; where "
                        "one analyzer measures several parts, give each its own channels, e.g. "
                        '{ url = "ptd://HOST:8888", channels = [1, 2] }',
                        path=path, table=table, key=f"wall #{number}",
                    )  # fmt: skip
            seen.setdefault(key, []).append((table, source))
