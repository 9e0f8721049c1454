"""What crosses between a script and Redis's replies: a command's reply as Redis gives it to
Lua (`LuaReplies.to_lua`, RESP2 or RESP3 rules), a script's return value as the reply
(`LuaReplies.from_lua`, Redis's Lua -> RESP rules), and the error replies scripts answer
(`script_error`). The engine (node/scripting/engine.py) is a LuaReplies: the conversions use
its sandbox (`box`) and the rules of the run that returned (`redis74_reply`, `reply_depth`).
Must not touch time, random, sockets, Raft or lmdb.
"""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.errors import CommandError, Reason
from raftcache.node.frontends.resp_protocol import (
    DoubleText, NullArray, RespDouble, RespMap, RespPairs, RespSet, as_long_long, error_text, format_double,
)
from raftcache.node.scripting import lualibs

#: Deepest table a script's reply may nest before log version 15 (deeper levels became nil).
MAX_REPLY_DEPTH = 256
#: From log version 15: deepest table a reply nests (a Reply message between nodes must stay
#: within protobuf's nesting limit); the next level is Redis's "reached lua stack limit" error.
REPLY_DEPTH_LIMIT = 32
_INT64_MIN = -(1 << 63)


def script_error(text: str) -> CommandError:
    """An error reply whose text (with its own first word) is given whole."""
    return CommandError(text, Reason.SCRIPT_ERROR)


class LuaReplies:
    """The conversions of one sandbox's runs (module docstring); its subclass sets `box`,
    `redis74_reply`, `reply_depth` and `reply_meter`."""

    reply_meter = None   # (a copies.ReplyMeter while a reply of log version 26 on converts)

    def to_lua(self, value, resp: int, depth: int):
        """A command's reply as Redis gives it to Lua (RESP2 or RESP3 rules)."""
        t = type(value)
        if t is bytes:
            return value
        if t is int:   # (log version 27: past 64 bits as C's cast, as Redis replies; lupa refused it)
            return as_long_long(value) if self.plain_replies else value
        if t is commands.Status:
            return self.box.table({b"ok": value.encode()})
        if value is None or t is NullArray:
            return False if resp == 2 else None
        if t is bool:
            return (1 if value else 0) if resp == 2 else value
        if t in (float, RespDouble):
            return format_double(value) if resp == 2 else self.box.table({b"double": value})
        if t is DoubleText:
            return bytes(value) if resp == 2 else self.box.table({b"double": float(value)})
        if t is RespMap:
            if resp == 2:
                return self.box.table([self.to_lua(x, resp, depth + 1) for pair in value for x in pair])
            return self.box.table({b"map": self.box.table({self._key(k, resp, depth): self.to_lua(v, resp, depth + 1)
                                                           for k, v in value})})
        if t is RespSet and resp == 3:
            return self.box.table({b"set": self.box.table({self._key(m, resp, depth): True for m in value})})
        if t is RespPairs and resp == 3:
            return self.box.table([self.box.table([self.to_lua(value[i], resp, depth + 1),
                                                   self.to_lua(value[i + 1], resp, depth + 1)])
                                   for i in range(0, len(value) - 1, 2)])
        if isinstance(value, (list, tuple)):
            return self.box.table([self.to_lua(x, resp, depth + 1) for x in value])
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, CommandError):
            return self.box.table({b"err": error_text(value).encode()})
        if isinstance(value, int):
            return int(value)
        return None

    def _key(self, value, resp: int, depth: int):
        key = self.to_lua(value, resp, depth + 1)
        return key if isinstance(key, (bytes, int, float)) else b""

    def from_lua(self, value, depth: int) -> object:
        """A script's return value as the reply (Redis's Lua -> RESP rules); `reply_meter` (log
        version 26 on) raises copies.ReplySpent past what the run left of its budget."""
        meter = self.reply_meter
        if meter is not None:
            meter.value(value if type(value) is bytes else None)
        if value is None or value is False:
            return None
        if value is True:
            return 1
        if isinstance(value, bytes):
            return value
        if isinstance(value, (int, float)):
            try:
                n = int(value)
            except (OverflowError, ValueError):  # inf, nan
                return _INT64_MIN
            return n if _INT64_MIN <= n < -_INT64_MIN else _INT64_MIN   # C's (long long) cast on x86, as Redis
        if lualibs.lua_type(value) != "table":
            return None
        if meter is not None:
            meter.table()
        if depth > self.reply_depth:
            return None if self.reply_depth == MAX_REPLY_DEPTH else script_error("ERR reached lua stack limit")
        # as Redis: a table's metatable plays no part in the reply (before 7.4's rules: it did)
        raw = self.box.m.rawget if self.redis74_reply else _indexed
        err = raw(value, b"err")
        if isinstance(err, bytes):
            if meter is not None:
                meter.value(err)
            return script_error(err.decode("utf-8", "replace"))
        ok = raw(value, b"ok")
        if isinstance(ok, bytes):
            if meter is not None:
                meter.value(ok)
            return commands.Status(ok.decode("utf-8", "replace"))
        double = raw(value, b"double")
        if isinstance(double, (int, float)):
            return float(double)
        mapping = raw(value, b"map")
        if lualibs.lua_type(mapping) == "table":
            pairs = list(mapping.items())
            if self.plain_replies and lualibs.keyed_by_objects(k for k, _ in pairs):
                return script_error("ERR map reply: " + lualibs.KEYED_BY_OBJECTS)
            return [self.from_lua(x, depth + 1) for k, v in pairs for x in (k, v)]
        members = raw(value, b"set")
        if lualibs.lua_type(members) == "table":
            keys = list(members.keys())
            if self.plain_replies and lualibs.keyed_by_objects(keys):
                return script_error("ERR set reply: " + lualibs.KEYED_BY_OBJECTS)
            return [self.from_lua(k, depth + 1) for k in keys]
        out = []
        i = 1
        while True:
            item = raw(value, i)
            if item is None:
                return out
            out.append(self.from_lua(item, depth + 1))
            i += 1


def _indexed(table, key):
    return table[key]
