"""memcached meta protocol (mg, ms, md, ma, mn, me) and helpers shared with the text protocol.

Owns: meta flag parsing and rendering, memcached's expiry rule, key checks,
the one memcached error map (RaftcacheError reason -> reply line), and the
CAS read-modify-write used for append/prepend and `ma` with a CAS compare.
Must not touch: lmdb, raft, the state machine. Commands go through
`conn.execute(command, consistency)` only (node/frontends/memcache.py).

raftcache additions: the meta flag `Q` chooses the read consistency of one
request (`Q` = linearizable, `Qany`, `Qlease`, `Qbounded:<ms>`,
`Qmin_index:<n>`); docs/memcached-compat.md lists the differences.

Anti-stampede (memcached 1.6): `mg` N (vivify on miss), R (recache below a
TTL) and a stale item hand out W to one client; the decision is a MetaGet
write applied by the log (node/commands/memcache_ops.py), so exactly one
client of the whole cluster wins. `mg` first reads (at the request's level)
and writes only when it might win or asked for T. `md I` marks stale
(MetaInvalidate), `ms I` stores over a newer CAS as stale. These need the
log's semantics version 4; before it, N creates the item without the win
state and R, I are ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
import time

from raftcache.node.commands import EVICTION_VERSION, OK
from raftcache.node.errors import RaftcacheError, Reason
from raftcache.node.storage.keyspace import ITEM_STALE, ITEM_WIN_SENT
from raftcache.proto import commands_pb2 as pb

KEY_MAX_BYTES = 250
OPAQUE_MAX_BYTES = 32
RELATIVE_MAX_S = 60 * 60 * 24 * 30        # memcached: larger exptimes are absolute Unix times
_U64 = 1 << 64
_BAD_KEY = re.compile(rb"[\x00-\x20\x7f]")

ERROR = b"ERROR\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
BAD_TOKEN = b"CLIENT_ERROR bad token in command line format\r\n"
INVALID_FLAG = b"CLIENT_ERROR invalid flag\r\n"
TOO_LARGE = b"SERVER_ERROR object too large for cache\r\n"
NON_NUMERIC = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"


class ReplyError(Exception):
    """Stops a request; `line` (a complete reply line, or b"") is what the client gets."""

    def __init__(self, line: bytes):
        super().__init__(line)
        self.line = line


# ------------------------------------------------------------------ error map
# The one table from domain reasons to memcached reply lines (one error
# map per protocol). None: use "SERVER_ERROR <message>".
_REASON_LINES: dict[Reason, bytes | None] = {
    Reason.NOT_INTEGER: NON_NUMERIC,
    Reason.WRONGTYPE: b"CLIENT_ERROR Operation against a key holding the wrong kind of value\r\n",
    Reason.KEY_TOO_LARGE: BAD_FORMAT,
    Reason.VALUE_TOO_LARGE: TOO_LARGE,
    Reason.OUT_OF_MEMORY: b"SERVER_ERROR out of memory storing object\r\n",
    Reason.SYNTAX: BAD_FORMAT,
    Reason.INVALID_ARGUMENT: BAD_FORMAT,
    Reason.INVALID_EXPIRE: b"CLIENT_ERROR invalid exptime argument\r\n",
    Reason.UNAVAILABLE: None,
    Reason.NOT_LEADER: None,
    Reason.TIMEOUT: None,
    Reason.UNAUTHENTICATED: b"CLIENT_ERROR unauthenticated\r\n",
}
_REASON_PREFIX = {Reason.UNAVAILABLE: "unavailable", Reason.NOT_LEADER: "unavailable", Reason.TIMEOUT: "timeout",
                  Reason.WRONG_SHARD: "MOVED", Reason.CROSS_SLOT: "CROSSSLOT"}


def error_line(error: RaftcacheError) -> bytes:
    """The memcached reply line for a domain error (returned or raised)."""
    line = _REASON_LINES.get(error.reason)
    if line is not None:
        return line
    message = " ".join(error.message.split())[:200]  # never a CR/LF inside a reply line
    if error.reason == Reason.NO_PERMISSION:  # an ACL refusal (node/service/access.py): Redis's words
        return f"CLIENT_ERROR NOPERM {message}\r\n".encode("utf-8", "replace")
    prefix = _REASON_PREFIX.get(error.reason, "error")
    return f"SERVER_ERROR {prefix}: {message}\r\n".encode("utf-8", "replace")


# ------------------------------------------------------------------ numbers, keys, expiry

def parse_uint(token: bytes, limit: int = _U64) -> int | None:
    """A decimal unsigned number below `limit`, or None (no signs, spaces or underscores)."""
    if not token or len(token) > 20 or not token.isdigit():
        return None
    n = int(token)
    return n if n < limit else None


def parse_int(token: bytes) -> int | None:
    """A decimal signed 64-bit number, or None."""
    body = token[1:] if token[:1] in (b"-", b"+") else token
    if not body or len(body) > 19 or not body.isdigit():
        return None
    value = -int(body) if token[:1] == b"-" else int(body)
    return value if -(1 << 63) <= value < (1 << 63) else None


def check_key(key: bytes) -> None:
    """Keys: 1..250 bytes, no control characters or spaces."""
    if not key or len(key) > KEY_MAX_BYTES or _BAD_KEY.search(key):
        raise ReplyError(BAD_FORMAT)


_MAX_DEADLINE_MS = (1 << 63) - 1


def expiry(exptime: int) -> pb.Expiry | None:
    """memcached's rule: 0 never; <= 30 days relative (the leader stamps it); larger absolute; < 0 expired."""
    if exptime == 0:
        return None
    if exptime < 0:
        return pb.Expiry(expire_at_ms=1)      # a deadline long past: the item is gone at once
    if exptime <= RELATIVE_MAX_S:
        return pb.Expiry(ttl_ms=exptime * 1000)
    # an absolute time past the int64 milliseconds (year 292 million): never, in practice
    return pb.Expiry(expire_at_ms=min(exptime * 1000, _MAX_DEADLINE_MS))


def touch_expiry(exptime: int) -> pb.Expiry:
    return expiry(exptime) or pb.Expiry(persist=True)


def ttl_left_s(expires_at_ms: int) -> int:
    """Remaining seconds for the `t` flag: -1 for never (this node's clock; never negative otherwise)."""
    if not expires_at_ms:
        return -1
    return max(0, -(-(expires_at_ms - time.time_ns() // 1_000_000) // 1000))


def command(**op) -> pb.Command:
    return pb.Command(db=0, **op)


# ------------------------------------------------------------------ read-modify-write

async def rewrite(conn, key: bytes, change, cas: int | None = None, attempts: int = 8):
    """Apply `change(old_value) -> new_value | ReplyError` under a CAS compare.

    Reads the item linearizably, then proposes a Set carrying `cas_index` =
    the index read (or `cas` when the client gave one). Returns (status,
    index, new_value): status is "stored", "missing" or "exists".
    """
    for _ in range(attempts):
        item = await conn.execute(command(get_meta=pb.GetMeta(key=key)), conn.linearizable)
        if item is None:
            return "missing", 0, None
        value, flags, index, _deadline = item[:4]
        if cas is not None and index != cas:
            return "exists", index, None
        new = change(value)
        op = pb.Set(key=key, value=new, flags=flags, cas_index=index, expiry=pb.Expiry(keep_ttl=True))
        result, new_index = await conn.execute_indexed(command(set=op))
        if result == OK:
            return "stored", new_index, new
        if result is None or str(result) == "NOT_FOUND":
            return "missing", 0, None
        if cas is not None:
            return "exists", 0, None
    raise ReplyError(b"SERVER_ERROR too much contention on this key, try again\r\n")


# ------------------------------------------------------------------ meta commands

_MG = frozenset("bcfhklOqstuvNRTEPLQ")
_MS = frozenset("bcCFIklOqsTMEPLQ")
_MD = frozenset("bCIkOqTxEPLQ")
_MA = frozenset("bCNJDTMqtcvkOEPLQ")


class _Meta:
    """One parsed meta request: its key, flags in order, and helpers to render the reply."""

    __slots__ = ("key", "raw_key", "order", "flags")

    def __init__(self, tokens: list[bytes], allowed: frozenset[str]):
        self.raw_key = tokens[1]
        self.order: list[tuple[str, bytes]] = []
        self.flags: dict[str, bytes] = {}
        for tok in tokens[2:]:
            f = chr(tok[0])
            if f not in allowed:
                raise ReplyError(INVALID_FLAG)
            if f in self.flags:
                raise ReplyError(b"CLIENT_ERROR duplicate flag\r\n")
            self.flags[f] = tok[1:]
            self.order.append((f, tok[1:]))
        if len(self.flags.get("O", b"")) > OPAQUE_MAX_BYTES:
            raise ReplyError(b"CLIENT_ERROR opaque token too long\r\n")
        if "b" in self.flags:
            if len(self.raw_key) > KEY_MAX_BYTES * 4 // 3 + 4:
                raise ReplyError(BAD_FORMAT)
            try:
                self.key = base64.b64decode(self.raw_key, validate=True)
            except (binascii.Error, ValueError):
                raise ReplyError(b"CLIENT_ERROR error decoding key\r\n") from None
            if not self.key or len(self.key) > KEY_MAX_BYTES:
                raise ReplyError(BAD_FORMAT)
        else:
            check_key(self.raw_key)
            self.key = self.raw_key

    def number(self, flag: str, default: int | None = None, signed: bool = False, limit: int = _U64) -> int | None:
        if flag not in self.flags:
            return default
        n = parse_int(self.flags[flag]) if signed else parse_uint(self.flags[flag], limit)
        if n is None:
            raise ReplyError(BAD_TOKEN)
        return n

    def render(self, code: bytes, values: dict[str, bytes], extra: bytes = b"") -> bytes:
        """`code` plus the requested return flags, in request order (`b` last, as memcached does),
        then `extra`: the item state flags (Z, X, W) memcached appends."""
        parts = [code]
        for f, arg in self.order:
            if f == "O":
                parts.append(b"O" + arg)
            elif f == "k":
                parts.append(b"k" + self.raw_key)
            elif f in values:
                parts.append(f.encode() + values[f])
        if "b" in self.flags and "k" in self.flags:
            parts.append(b"b")
        if extra:
            parts.append(extra)
        return b" ".join(parts) + b"\r\n"


def _item_values(value: bytes, flags: int, cas: int, deadline: int) -> dict[str, bytes]:
    return {
        "c": b"%d" % cas, "f": b"%d" % flags, "s": b"%d" % len(value),
        "t": b"%d" % ttl_left_s(deadline), "h": b"0", "l": b"0",
    }


def _state_flags(won: bool, stale: bool, sent_before: bool) -> bytes:
    """memcached's order: Z (a win was sent before), X (stale), W (this client won)."""
    return b" ".join(f for f, on in ((b"Z", sent_before), (b"X", stale), (b"W", won)) if on)


def _relative_ms(ttl: int) -> int:
    """A meta TTL token (memcached's expiry rule) as milliseconds from now; 0 = no expiry."""
    exp = expiry(ttl)
    if exp is None:
        return 0
    if exp.HasField("ttl_ms"):
        return exp.ttl_ms
    return max(exp.expire_at_ms - time.time_ns() // 1_000_000, -1)


def _may_win(item: list, recache_s: int | None) -> bool:
    """Whether a read item could hand out a win: then the log must decide who gets it."""
    state = item[4] if len(item) > 4 else 0
    if state & ITEM_WIN_SENT:
        return False
    if state & ITEM_STALE:
        return True
    deadline = item[3]
    return recache_s is not None and deadline != 0 and deadline - time.time_ns() // 1_000_000 < recache_s * 1000


async def mg(conn, tokens: list[bytes]) -> bytes:
    if len(tokens) < 2:
        return ERROR
    m = _Meta(tokens, _MG)
    consistency = conn.meta_consistency(m.flags)
    vivify = m.number("N", signed=True)
    recache = m.number("R", signed=True)
    ttl = m.number("T", signed=True)
    if conn.service.log_version < EVICTION_VERSION:
        return await _mg_before_v4(conn, m, consistency, vivify, ttl)
    item = None
    if ttl is None:
        item = await conn.execute(command(get_meta=pb.GetMeta(key=m.key)), consistency)
    hit = item is not None
    won = sent_before = False
    if ttl is not None or (item is None and vivify is not None) or (item is not None and _may_win(item, recache)):
        op = pb.MetaGet(key=m.key)
        if vivify is not None:
            op.vivify_ttl_ms = _relative_ms(vivify)
        if recache is not None:
            op.recache_below_ms = recache * 1000
        if ttl is not None:
            op.expiry.CopyFrom(touch_expiry(ttl))
        result, index = await conn.execute_indexed(command(meta_get=op))
        hit = result is not None and result[2] != index   # an item created now (N) has this write's index
        item = None
        if result is not None:
            item, won, sent_before = result[:4] + [ITEM_STALE if result[5] else 0], bool(result[4]), bool(result[6])
    elif item is not None:
        sent_before = bool(item[4] & ITEM_WIN_SENT) if len(item) > 4 else False
    conn.count_get(hit)
    if item is None:
        return b"" if "q" in m.flags else b"EN\r\n"
    value, flags, cas, deadline = item[:4]
    stale = bool(item[4] & ITEM_STALE) if len(item) > 4 else False
    extra = _state_flags(won, stale, sent_before)
    values = _item_values(value, flags, cas, deadline)
    if "v" in m.flags:
        return m.render(b"VA %d" % len(value), values, extra)[:-2] + b"\r\n" + value + b"\r\n"
    return m.render(b"HD", values, extra)


async def _mg_before_v4(conn, m: _Meta, consistency, vivify: int | None, ttl: int | None) -> bytes:
    """mg while the log is older than version 4: no item state (N creates the item and wins
    its creator; R is ignored)."""
    if ttl is not None:
        item = await conn.execute(command(get_and_touch=pb.GetAndTouch(key=m.key, expiry=touch_expiry(ttl))))
    else:
        item = await conn.execute(command(get_meta=pb.GetMeta(key=m.key)), consistency)
    won = False
    if item is None and vivify is not None:
        op = pb.Set(key=m.key, value=b"", condition=pb.IF_ABSENT, expiry=expiry(vivify))
        result, index = await conn.execute_indexed(command(set=op))
        if result == OK:
            exp = expiry(vivify)
            deadline = 0 if exp is None else (exp.expire_at_ms or time.time_ns() // 1_000_000 + exp.ttl_ms)
            item, won = [b"", 0, index, deadline], True
        else:
            item = await conn.execute(command(get_meta=pb.GetMeta(key=m.key)), conn.linearizable)
    conn.count_get(item is not None)
    if item is None:
        return b"" if "q" in m.flags else b"EN\r\n"
    value, flags, cas, deadline = item[:4]
    values = _item_values(value, flags, cas, deadline)
    extra = b"W" if won else b""
    if "v" in m.flags:
        return m.render(b"VA %d" % len(value), values, extra)[:-2] + b"\r\n" + value + b"\r\n"
    return m.render(b"HD", values, extra)


def ms_header(tokens: list[bytes], max_bytes: int):
    """Parse `ms <key> <datalen> <flags>*` -> (datalen, request or error line).

    A bad or missing datalen is answered at once (no data block is read);
    any later error swallows the data block first, as memcached does.
    """
    if len(tokens) < 2:
        return None, ERROR
    if len(tokens) < 3:
        return None, BAD_FORMAT
    datalen = parse_uint(tokens[2], 1 << 31)
    if datalen is None:
        return None, BAD_FORMAT
    if datalen > max_bytes:
        return datalen, TOO_LARGE
    try:
        m = _Meta([tokens[0], tokens[1]] + tokens[3:], _MS)
        mode = m.flags.get("M", b"S")
        if len(mode) != 1 or mode not in b"SsEeAaPpRr":
            raise ReplyError(b"CLIENT_ERROR invalid mode for ms M token\r\n")
        m.number("F", limit=1 << 32), m.number("C"), m.number("T", signed=True)
    except ReplyError as e:
        return datalen, e.line
    return datalen, m


async def ms(conn, m: _Meta, data: bytes) -> bytes:
    mode = m.flags.get("M", b"S").upper()
    cas = m.number("C")
    conn.stats["cmd_set"] += 1
    size = len(data)
    if mode in (b"A", b"P"):
        status, index, new = await rewrite(conn, m.key, (lambda old: old + data) if mode == b"A" else (lambda old: data + old), cas)
        code = {"stored": b"HD", "missing": b"NS" if cas is None else b"NF", "exists": b"EX"}[status]
        size = len(new) if new is not None else 0
    else:
        op = pb.Set(key=m.key, value=data, flags=m.number("F", 0, limit=1 << 32))
        exp = expiry(m.number("T", 0, signed=True))
        if exp is not None:
            op.expiry.CopyFrom(exp)
        if mode == b"E":
            op.condition = pb.IF_ABSENT
        elif mode == b"R":
            op.condition = pb.IF_PRESENT
        if cas is not None:
            op.cas_index = cas
            # I: an older CAS stores anyway, marked stale (memcached 1.6; needs log version 4)
            op.stale_if_older = "I" in m.flags and conn.service.log_version >= EVICTION_VERSION
        result, index = await conn.execute_indexed(command(set=op))
        code = b"HD" if result == OK else b"NS" if result is None else b"EX" if str(result) == "EXISTS" else b"NF"
    if code == b"HD":
        conn.stats["total_items"] += 1
        if "q" in m.flags:
            return b""
    return m.render(code, {"c": b"%d" % (index if code == b"HD" else 0), "s": b"%d" % size})


async def md(conn, tokens: list[bytes]) -> bytes:
    if len(tokens) < 2:
        return ERROR
    m = _Meta(tokens, _MD)
    cas = m.number("C")
    ttl = m.number("T", signed=True)
    if "I" in m.flags and conn.service.log_version >= EVICTION_VERSION:
        # mark stale (new CAS, win cleared; T sets the TTL): the next reader wins the recache
        op = pb.MetaInvalidate(key=m.key)
        if cas is not None:
            op.cas_index = cas
        if ttl is not None:
            op.expiry.CopyFrom(touch_expiry(ttl))
        result = await conn.execute(command(meta_invalidate=op))
        code = b"HD" if result == OK else b"EX" if str(result) == "EXISTS" else b"NF"
    elif cas is None:
        # before log version 4 there is no stale state: `I` deletes the item
        deleted = await conn.execute(command(**{"del": pb.Del(keys=[m.key])}))
        code = b"HD" if deleted else b"NF"
    else:
        # A conditional delete: a CAS-compared Set with a deadline long past.
        op = pb.Set(key=m.key, value=b"", cas_index=cas, expiry=pb.Expiry(expire_at_ms=1))
        result = await conn.execute(command(set=op))
        code = b"HD" if result == OK else b"EX" if str(result) == "EXISTS" else b"NF"
    if code == b"HD" and "q" in m.flags:
        return b""
    return m.render(code, {})


async def ma(conn, tokens: list[bytes]) -> bytes:
    if len(tokens) < 2:
        return ERROR
    m = _Meta(tokens, _MA)
    mode = m.flags.get("M", b"I")
    if len(mode) != 1 or mode not in b"Ii+Dd-":
        raise ReplyError(b"CLIENT_ERROR invalid mode for ma M token\r\n")
    decrement = mode in b"Dd-"
    if "D" in m.flags and parse_uint(m.flags["D"]) is None:
        raise ReplyError(b"CLIENT_ERROR invalid numeric delta argument\r\n")
    delta, initial, cas = m.number("D", 1), m.number("J", 0), m.number("C")
    vivify_ttl, ttl = m.number("N", signed=True), m.number("T", signed=True)
    code, number, index = b"HD", None, 0
    if cas is not None:
        def change(old: bytes) -> bytes:
            current = parse_uint(old.strip(b" "))
            if current is None:
                raise ReplyError(NON_NUMERIC)
            return b"%d" % (max(current - delta, 0) if decrement else (current + delta) % _U64)
        status, index, new = await rewrite(conn, m.key, change, cas)
        code = {"stored": b"HD", "missing": b"NF", "exists": b"EX"}[status]
        number = int(new) if new is not None else None
    else:
        number, index = await conn.execute_indexed(command(mc_incr=pb.McIncr(key=m.key, delta=delta, decrement=decrement)))
        if number is None and vivify_ttl is not None:
            op = pb.Set(key=m.key, value=b"%d" % initial, condition=pb.IF_ABSENT, expiry=expiry(vivify_ttl))
            result, index = await conn.execute_indexed(command(set=op))
            if result == OK:
                number = initial
            else:
                number, index = await conn.execute_indexed(
                    command(mc_incr=pb.McIncr(key=m.key, delta=delta, decrement=decrement)))
        if number is None:
            code = b"NF" if vivify_ttl is None else b"NS"
    deadline = 0
    if code == b"HD" and ttl is not None:
        item = await conn.execute(command(get_and_touch=pb.GetAndTouch(key=m.key, expiry=touch_expiry(ttl))))
        deadline = item[3] if item else 0
    elif code == b"HD" and "t" in m.flags:
        item = await conn.execute(command(get_meta=pb.GetMeta(key=m.key)), conn.linearizable)
        deadline = item[3] if item else 0
    if code != b"HD":
        return m.render(code, {})
    values = {"c": b"%d" % index, "t": b"%d" % ttl_left_s(deadline)}
    if "v" in m.flags:
        text = b"%d" % number
        return m.render(b"VA %d" % len(text), values)[:-2] + b"\r\n" + text + b"\r\n"
    return b"" if "q" in m.flags else m.render(b"HD", values)


async def me(conn, tokens: list[bytes]) -> bytes:
    if len(tokens) < 2:
        return ERROR
    m = _Meta(tokens, frozenset("b"))
    item = await conn.execute(command(get_meta=pb.GetMeta(key=m.key)), conn.meta_consistency({}))
    if item is None:
        return b"EN\r\n"
    value, _flags, cas, deadline = item[:4]
    return b"ME %s exp=%d la=0 cas=%d fetch=no cls=1 size=%d\r\n" % (
        m.raw_key, ttl_left_s(deadline), cas, len(m.key) + len(value))


META = {b"mg": mg, b"md": md, b"ma": ma, b"me": me}
