"""Redis's own COMMAND INFO and COMMAND DOCS entries for the commands the RESP
front end implements (redis_commands.json, made by scripts/gen_redis_commands.py
from a redis-server of the version followed).

The file keeps each reply with its RESP3 types: a JSON string is a bulk
string, {"+": s} a simple string, {"~": [...]} a set, {"%": [[k, v], ...]} a
map, {",": text} a double; numbers, lists and null are themselves. `info`
and `docs` give the reply values resp_protocol.encode renders for either
protocol, with the subcommands of a container limited to those implemented.
"""

from __future__ import annotations

import functools
import json
import pathlib
from collections.abc import Container

from raftcache.node.commands import Status
from raftcache.node.frontends.resp_protocol import DoubleText, RespMap, RespSet

_DATA_FILE = pathlib.Path(__file__).with_name("redis_commands.json")


@functools.cache
def _file() -> dict:
    return json.loads(_DATA_FILE.read_text())


def _data() -> dict:
    return _file()["commands"]


def redis_version() -> str:
    """The version of the Redis the entries were taken from: the one the node follows."""
    return _file()["redis_version"]


def known(name: str) -> bool:
    return name in _data()


def _value(v):
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, list):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        (kind, inner), = v.items()
        if kind == "+":
            return Status(inner)
        if kind == "~":
            return RespSet(_value(x) for x in inner)
        if kind == "%":
            return RespMap((_value(k), _value(x)) for k, x in inner)
        if kind == ",":
            return DoubleText(inner.encode())
    return v


def info(name: str, subcommands: Container[str] = ()) -> list | None:
    """COMMAND INFO's entry for `name` (or "container|sub"), None when unknown.
    A container lists only the subcommands in `subcommands`."""
    container, _, sub = name.partition("|")
    entry = _data().get(container)
    if entry is None:
        return None
    raw = entry["info"]
    if sub:
        found = [s for s in raw[9] if s[0] == name] if sub in subcommands else []
        return _value(found[0]) if found else None
    raw = raw[:9] + [[s for s in raw[9] if s[0].partition("|")[2] in subcommands]]
    return _value(raw)


def docs(name: str, subcommands: Container[str] = ()):
    """COMMAND DOCS's map for `name` (or "container|sub"), None when unknown."""
    container, _, sub = name.partition("|")
    entry = _data().get(container)
    if entry is None:
        return None
    pairs = entry["docs"]["%"]
    if sub:
        inner = dict(pairs).get("subcommands", {"%": []})["%"]
        found = [d for n, d in inner if n == name] if sub in subcommands else []
        return _value(found[0]) if found else None
    out = []
    for key, value in pairs:
        if key == "subcommands":
            value = {"%": [[n, d] for n, d in value["%"] if n.partition("|")[2] in subcommands]}
        out.append([key, value])
    return _value({"%": out})


def subcommand_names(name: str, subcommands: Container[str] = ()) -> list[str]:
    """The "container|sub" names of `name`'s implemented subcommands (COMMAND LIST)."""
    entry = _data().get(name)
    if entry is None:
        return []
    return [s[0] for s in entry["info"][9] if s[0].partition("|")[2] in subcommands]


def acl_categories(name: str) -> list[str]:
    """The ACL categories (without "@") of a command or a `container|sub`command, [] when unknown."""
    parent, _, sub = name.partition("|")
    entry = _data().get(parent)
    if entry is None:
        return []
    info = entry["info"]
    if sub:
        info = next((s for s in info[9] if s[0] == name), None)
        if info is None:
            return []
    return [c["+"][1:] for c in info[6]["~"]]
