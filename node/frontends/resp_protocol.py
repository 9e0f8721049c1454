"""RESP wire format, replies: the reply types and the encoder (RESP2 and RESP3).

Owns bytes only: no commands, no service. The encoder turns Python reply
values into bytes for the connection's protocol version: see `encode` for the
value types; errors carry Redis's prefixes (`error_text`). Requests are parsed
in resp_requests.py.
"""

from __future__ import annotations

import itertools
import math

from raftcache.node import pulse
from raftcache.node.commands import Status
from raftcache.node.errors import CommandError, Reason

class RespMap(list):
    """A map reply: a list of (key, value) pairs (RESP3 %, RESP2 flat array)."""

    __slots__ = ()


class RespSet(list):
    """A set reply (RESP3 ~, RESP2 array)."""

    __slots__ = ()


class RespPairs(list):
    """Flat [a1, b1, a2, b2…] that RESP3 nests as [[a1, b1], …] (ZRANGE WITHSCORES, HRANDFIELD WITHVALUES)."""

    __slots__ = ()


class Push(list):
    """An out-of-band message (RESP3 push '>', RESP2 array): pub/sub messages and confirmations."""

    __slots__ = ()


class RespDouble(float):
    """A double reply (RESP3 ','; RESP2 a bulk string)."""

    __slots__ = ()


class DoubleText(bytes):
    """A double given as the text to send (RESP3 ','; RESP2 a bulk string): GEOPOS's
    coordinates, which Redis writes with 17 decimals rather than the shortest form."""

    __slots__ = ()


class Verbatim(bytes):
    """A verbatim text reply (RESP3 '=' txt; RESP2 a bulk string): INFO, CLIENT INFO."""

    __slots__ = ()


class NullArray:
    """The nil array (RESP2 *-1, RESP3 _): EXEC aborted, BLPOP timeout."""

    __slots__ = ()


NULL_ARRAY = NullArray()


class NoReply:
    """No reply at all: CLIENT REPLY OFF and SKIP answer nothing."""

    __slots__ = ()


NO_REPLY = NoReply()


class RespError(Exception):
    """An error reply with its full first word, e.g. RespError("ERR syntax error")."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


#: One table: raftcache Reason -> RESP error prefix (one error map per protocol).
ERROR_PREFIX = {
    Reason.WRONGTYPE: "WRONGTYPE",
    Reason.OUT_OF_MEMORY: "OOM",
    Reason.UNAVAILABLE: "TRYAGAIN",
    Reason.NOT_LEADER: "TRYAGAIN",
    Reason.TIMEOUT: "TIMEOUT",
    Reason.UNAUTHENTICATED: "NOAUTH",
    Reason.NO_PERMISSION: "NOPERM",
    Reason.NOT_INTEGER: "ERR",
    Reason.NOT_FLOAT: "ERR",
    Reason.OVERFLOW: "ERR",
    Reason.NO_SUCH_KEY: "ERR",
    Reason.SYNTAX: "ERR",
    Reason.INVALID_ARGUMENT: "ERR",
    Reason.INVALID_EXPIRE: "ERR",
    Reason.STALE_SEQUENCE: "ERR",
    Reason.KEY_TOO_LARGE: "ERR",
    Reason.VALUE_TOO_LARGE: "ERR",
    Reason.INTERNAL: "ERR",
    Reason.INVALID_OBJECT: "INVALIDOBJ",
    Reason.NO_GROUP: "NOGROUP",
    Reason.BUSY_GROUP: "BUSYGROUP",
    Reason.BUSY_KEY: "BUSYKEY",
    Reason.SCRIPT_ERROR: "",   # the message carries its own first word (NOSCRIPT, ERR, a script's own)
    Reason.WRONG_SHARD: "MOVED",
    Reason.CROSS_SLOT: "CROSSSLOT",
    Reason.ASK: "ASK",
    Reason.TRY_AGAIN: "TRYAGAIN",
}


def error_text(error: BaseException) -> str:
    """The error line (without '-' and CRLF) for any raftcache error or RespError."""
    if isinstance(error, RespError):
        text = error.text
    else:
        reason = getattr(error, "reason", Reason.INTERNAL)
        message = getattr(error, "message", "") or str(error) or reason.value.lower()
        text = message if reason is Reason.SCRIPT_ERROR else f"{ERROR_PREFIX.get(reason, 'ERR')} {message}"
    return text.replace("\r", " ").replace("\n", " ")


def format_double(f: float) -> bytes:
    if math.isinf(f):
        return b"inf" if f > 0 else b"-inf"
    if math.isnan(f):
        return b"nan"
    if f == int(f) and abs(f) < 1e17:
        return b"%d" % int(f)
    return repr(f).encode()


def encode(value, proto: int) -> bytes:
    """Encode one reply. Value types:

    bytes/bytearray/str -> bulk; Status -> simple string; bool/int -> integer;
    None -> nil; float/RespDouble/DoubleText -> RESP3 double, RESP2 bulk string;
    list/tuple -> array; Push -> push (RESP2 array); RespMap -> map; RespSet -> set; RespPairs -> flat
    (RESP2) or pairs (RESP3); Verbatim -> verbatim text; NULL_ARRAY;
    CommandError / RaftcacheError / RespError -> error line.
    """
    out: list[bytes] = []
    _encode(value, proto, out)
    return b"".join(out)


def _in_runs(encode_run, items, proto: int, out: list) -> None:
    """`encode_run` over `items` in runs of pulse.EVERY, a beat after each (the reply of an
    SMEMBERS or HGETALL of millions: the leader's heartbeats go on)."""
    for at in range(0, len(items), pulse.EVERY):
        encode_run(items[at:at + pulse.EVERY], proto, out)
        pulse.beat()


#: "$<n>" for the bulk strings of aggregates (_bulk_strings); longer ones take the general path.
_BULK_HEADS = [b"$%d" % n for n in range(1024)]
_HEAD_OF = _BULK_HEADS.__getitem__
_chain = itertools.chain.from_iterable
#: The element types _bulk_strings writes (exactly: not the bytes subclasses DoubleText, Verbatim).
_PLAIN = frozenset({bytes, bytearray})


def _bulk_strings(items: list) -> bytes | None:
    """`items` (not empty) as consecutive bulk strings, when every one is plain bytes (not
    DoubleText or Verbatim, which RESP3 writes otherwise) shorter than _BULK_HEADS: "$<n>", the
    item, alternately joined by CRLF with no Python call per item; else None. From ~10 items on
    it takes less time than one format per item (~30 % less from ~20); a map's pairs, written
    one format per pair, were slower this way (_encode_pairs keeps its loop)."""
    if not _PLAIN.issuperset(map(type, items)):
        return None
    try:
        return b"\r\n".join(_chain(zip(map(_HEAD_OF, map(len, items)), items))) + b"\r\n"
    except IndexError:   # a long element: one at a time
        return None


def _encode_items(items, proto: int, out: list) -> None:
    """The elements of an aggregate, a bulk string (the common element) without a call (more
    than 8 of plain bytes: in one join, _bulk_strings)."""
    if len(items) > pulse.EVERY:
        return _in_runs(_encode_items, items, proto, out)
    if len(items) > 8:   # (fewer: one at a time is as fast)
        run = _bulk_strings(items)
        if run is not None:
            out.append(run)
            return
    for item in items:
        if type(item) is bytes:
            out.append(b"$%d\r\n%s\r\n" % (len(item), item))
        else:
            _encode(item, proto, out)


def _encode_pairs(pairs, proto: int, out: list) -> None:
    """A map's (key, value) pairs, a hash's field and value (both bytes) without a call."""
    if len(pairs) > pulse.EVERY:
        return _in_runs(_encode_pairs, pairs, proto, out)
    for k, v in pairs:
        if type(k) is bytes and type(v) is bytes:
            out.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
        else:
            _encode(k, proto, out)
            _encode(v, proto, out)


_INT64_BOUND = 1 << 63


def as_long_long(n: int) -> int:
    """`n` as C's (long long) cast makes it, as Redis replies an integer: past 64 bits, the low
    64 as a signed number (a stream's delivery count can pass 2^63)."""
    return n if -_INT64_BOUND <= n < _INT64_BOUND else (n + _INT64_BOUND) % (2 * _INT64_BOUND) - _INT64_BOUND


#: A nil reply, NIL[proto == 3] (encode(None, proto)), for the paths that build replies inline.
NIL = (b"$-1\r\n", b"_\r\n")


def _encode(value, proto: int, out: list) -> None:
    t = type(value)
    if t is bytes or t is bytearray:
        out.append(b"$%d\r\n%s\r\n" % (len(value), value))
    elif t is Status:
        out.append(b"+%s\r\n" % value.encode())
    elif t is int:
        out.append(b":%d\r\n" % (value if -_INT64_BOUND <= value < _INT64_BOUND else as_long_long(value)))
    elif value is None:
        out.append(NIL[proto == 3])
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(value))
        _encode_items(value, proto, out)
    elif t is str:
        data = value.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    elif t is bool:
        out.append((b"#t\r\n" if value else b"#f\r\n") if proto == 3 else (b":1\r\n" if value else b":0\r\n"))
    elif t is float or t is RespDouble:
        text = format_double(value)
        out.append(b",%s\r\n" % text if proto == 3 else b"$%d\r\n%s\r\n" % (len(text), text))
    elif t is RespMap:
        out.append((b"%%%d\r\n" if proto == 3 else b"*%d\r\n") % (len(value) if proto == 3 else 2 * len(value)))
        _encode_pairs(value, proto, out)
    elif t is RespSet:
        out.append((b"~%d\r\n" if proto == 3 else b"*%d\r\n") % len(value))
        _encode_items(value, proto, out)
    elif t is Push:
        out.append((b">%d\r\n" if proto == 3 else b"*%d\r\n") % len(value))
        _encode_items(value, proto, out)
    elif t is RespPairs:
        if proto == 3:
            out.append(b"*%d\r\n" % (len(value) // 2))
            for i in range(0, len(value), 2):
                out.append(b"*2\r\n")
                _encode(value[i], proto, out)
                _encode(value[i + 1], proto, out)
                if not i & pulse.MASK:
                    pulse.beat()   # a ZRANGE WITHSCORES of millions (one beat per 2,048 pairs)
        else:
            out.append(b"*%d\r\n" % len(value))
            _encode_items(value, proto, out)
    elif t is DoubleText:
        out.append(b",%s\r\n" % value if proto == 3 else b"$%d\r\n%s\r\n" % (len(value), bytes(value)))
    elif t is Verbatim:
        if proto == 3:
            out.append(b"=%d\r\ntxt:%s\r\n" % (len(value) + 4, bytes(value)))
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(value), bytes(value)))
    elif t is NullArray:
        out.append(b"_\r\n" if proto == 3 else b"*-1\r\n")
    elif t is NoReply:
        pass
    elif isinstance(value, BaseException):
        out.append(b"-%s\r\n" % error_text(value).encode("utf-8", "replace"))
    elif isinstance(value, str):  # str subclasses other than Status
        data = value.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    elif isinstance(value, int):
        out.append(b":%d\r\n" % value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    elif isinstance(value, (list, tuple)):
        out.append(b"*%d\r\n" % len(value))
        for item in value:
            _encode(item, proto, out)
    else:
        raise TypeError(f"cannot encode a reply of type {t.__name__}")


__all__ = [
    "CommandError",
    "DoubleText",
    "ERROR_PREFIX",
    "NO_REPLY",
    "NULL_ARRAY",
    "RespDouble",
    "RespError",
    "RespMap",
    "RespPairs",
    "RespSet",
    "Verbatim",
    "encode",
    "error_text",
]
