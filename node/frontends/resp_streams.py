"""RESP parsers of the stream commands that add, read and trim entries (XADD, XLEN,
XRANGE, XREVRANGE, XDEL, XTRIM, XSETID, XREAD, XREADGROUP), their reply shapes,
and the blocking XREAD / XREADGROUP; the consumer-group commands are in
resp_stream_groups.py.

Registers into resp_args.TABLE; the handlers live in node/commands/streams.py and
stream_groups.py. Arguments are checked in Redis 7.2's order with its texts. XREAD and
XREADGROUP without BLOCK are ordinary commands (a read, a write); with BLOCK
the builder gives no command and the connection runs `LOCAL[name]`, which
follows the blocking pops (node/frontends/resp_blocking.py): the node the
client is connected to resolves `$`, tries the read, and while it finds
nothing waits for its own applied index to move, checking the streams on its
local replica (XPROBE, no Raft round trip) before reading again. XREAD takes
nothing, so its readers are not queued; XREADGROUP consumers are served
first come, first served. Inside MULTI both run without blocking, as in Redis.
"""

from __future__ import annotations

import re
import time

from raftcache.node import commands
from raftcache.node.errors import CommandError, DeadlineError
from raftcache.node.frontends import resp_blocking
from raftcache.node.frontends.resp_args import NOT_INTEGER, SYNTAX, Spec, cmd, register, to_int
from raftcache.node.frontends.resp_protocol import NULL_ARRAY, RespError, RespMap
from raftcache.node.storage.stream import LAST_ENTRY_ID, MAX_ID, MIN_ID, decr, incr
from raftcache.proto import commands_pb2 as pb

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
U64_MAX = (1 << 64) - 1
LLONG_MAX = (1 << 63) - 1
_DIGITS = re.compile(rb"[ \t\n\v\f\r]*\+?([0-9]+)|-(0+)")


# ---------------------------------------------------------------- ids


def _u64(text: bytes) -> int | None:
    """Redis's string2ull: a decimal up to 2**64-1 (strtoull's leading space and "+" too)."""
    m = _DIGITS.fullmatch(text)
    if m is None:
        return None
    value = int(m.group(1) or m.group(2))
    return value if value <= U64_MAX else None


def parse_id(arg: bytes, missing_seq: int = 0, strict: bool = False, seq_auto: bool = False):
    """streamGenericParseIDOrReply: (ms, seq) and whether the sequence was given
    (False for "<ms>-*" when `seq_auto`). RespError for anything else."""
    if len(arg) > 127 or (strict and arg in (b"-", b"+")):
        raise RespError(INVALID_ID)
    if arg == b"-":
        return MIN_ID, True
    if arg == b"+":
        return MAX_ID, True
    ms_text, dash, seq_text = arg.partition(b"-")
    ms = _u64(ms_text)
    if ms is None:
        raise RespError(INVALID_ID)
    if not dash:
        return (ms, missing_seq), True
    if seq_auto and seq_text == b"*":
        return (ms, 0), False
    seq = _u64(seq_text)
    if seq is None:
        raise RespError(INVALID_ID)
    return (ms, seq), True


def pb_id(sid) -> pb.StreamId:
    return pb.StreamId(ms=sid[0], seq=sid[1])


def interval(arg: bytes, missing_seq: int, start: bool):
    """An XRANGE/XPENDING/XAUTOCLAIM bound, inclusive: "(" excludes (strict id) and moves it."""
    if len(arg) > 1 and arg[:1] == b"(":
        sid, _ = parse_id(arg[1:], missing_seq, strict=True)
        sid = incr(sid) if start else decr(sid)
        if sid is None:
            raise RespError(f"ERR invalid {'start' if start else 'end'} ID for the interval")
        return sid
    return parse_id(arg, missing_seq)[0]


def int_arg(arg: bytes, error: str = NOT_INTEGER) -> int:
    try:
        return to_int(arg)
    except RespError:
        raise RespError(error) from None


def _timeout_ms(arg: bytes) -> int:
    """getTimeoutFromObjectOrReply in milliseconds: 0 blocks forever."""
    ms = int_arg(arg, "ERR timeout is not an integer or out of range")
    if ms < 0:
        raise RespError("ERR timeout is negative")
    if ms > LLONG_MAX - int(time.time() * 1000):
        raise RespError("ERR timeout is out of range")
    return ms


# ---------------------------------------------------------------- XADD, XTRIM, XRANGE, XDEL, XSETID


def _add_or_trim(args, xadd: bool):
    """streamParseAddOrTrimArgsOrReply: (StreamTrim, no_mkstream, id or None, seq given, position of the id)."""
    trim, no_mkstream, sid, seq_given = pb.StreamTrim(), False, None, True
    limit_given, i, n = False, 2, len(args)
    while i < n:
        more, opt = n - 1 - i, args[i].lower()
        if xadd and args[i] == b"*":
            break
        if opt in (b"maxlen", b"minid") and more:
            if trim.by != pb.TRIM_NONE:
                raise RespError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
            trim.approx = False
            if more >= 2 and args[i + 1] in (b"~", b"="):
                trim.approx = args[i + 1] == b"~"
                i += 1
            if opt == b"maxlen":
                maxlen = int_arg(args[i + 1])
                if maxlen < 0:
                    raise RespError("ERR The MAXLEN argument must be >= 0.")
                trim.maxlen, trim.by = maxlen, pb.TRIM_MAXLEN
            else:
                trim.minid.CopyFrom(pb_id(parse_id(args[i + 1], strict=True)[0]))
                trim.by = pb.TRIM_MINID
            i += 1
        elif opt == b"limit" and more:
            limit = int_arg(args[i + 1])
            if limit < 0:
                raise RespError("ERR The LIMIT argument must be >= 0.")
            trim.limit, limit_given = limit, True
            i += 1
        elif xadd and opt == b"nomkstream":
            no_mkstream = True
        elif xadd:
            sid, seq_given = parse_id(args[i], strict=True, seq_auto=True)
            break
        else:
            raise RespError(SYNTAX)
        i += 1
    if trim.HasField("limit") and trim.limit and trim.by == pb.TRIM_NONE:
        raise RespError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    if not xadd and trim.by == pb.TRIM_NONE:
        raise RespError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if limit_given and not trim.approx:
        raise RespError("ERR syntax error, LIMIT cannot be used without the special ~ option")
    return trim, no_mkstream, sid, seq_given, i


def _xadd(args, db):
    trim, no_mkstream, sid, seq_given, idpos = _add_or_trim(args, xadd=True)
    fields = args[idpos + 1:]
    if len(fields) < 2 or len(fields) % 2:
        raise RespError("ERR wrong number of arguments for 'xadd' command")
    command = cmd(db, "xadd", key=args[1], fields=list(fields), no_mkstream=no_mkstream)
    op = command.xadd
    op.trim.CopyFrom(trim)
    if sid is not None:
        op.id.CopyFrom(pb_id(sid))
        op.seq_auto = not seq_given
    return command


def _xtrim(args, db):
    trim, *_ = _add_or_trim(args, xadd=False)
    command = cmd(db, "xtrim", key=args[1])
    command.xtrim.trim.CopyFrom(trim)
    return command


def _xrange(rev: bool):
    def build(args, db):
        first, second = (args[3], args[2]) if rev else (args[2], args[3])
        start, end = interval(first, 0, start=True), interval(second, U64_MAX, start=False)
        command = cmd(db, "xrange", key=args[1], rev=rev)
        command.xrange.start.CopyFrom(pb_id(start))
        command.xrange.end.CopyFrom(pb_id(end))
        i = 4
        while i < len(args):
            if args[i].lower() != b"count" or i + 1 >= len(args):
                raise RespError(SYNTAX)
            command.xrange.count = max(int_arg(args[i + 1]), 0)
            i += 2
        return command
    return build


def _xdel(args, db):
    return cmd(db, "xdel", key=args[1], ids=[pb_id(parse_id(a, strict=True)[0]) for a in args[2:]])


def _xsetid(args, db):
    command = cmd(db, "xsetid", key=args[1])
    op = command.xsetid
    op.id.CopyFrom(pb_id(parse_id(args[2], strict=True)[0]))
    i = 3
    while i < len(args):
        opt, more = args[i].lower(), len(args) - 1 - i
        if opt == b"entriesadded" and more:
            added = int_arg(args[i + 1])
            if added < 0:
                raise RespError("ERR entries_added must be positive")
            op.entries_added = added
        elif opt == b"maxdeletedid" and more:
            op.max_deleted.CopyFrom(pb_id(parse_id(args[i + 1], strict=True)[0]))
        else:
            raise RespError(SYNTAX)
        i += 2
    return command


# ---------------------------------------------------------------- XREAD, XREADGROUP


def _parse_read(args, group: bool):
    """xreadCommand's parsing: (BLOCK ms or None, count, group, consumer, noack, keys, id args)."""
    name = "xreadgroup" if group else "xread"
    block, count, group_name, consumer, noack, streams = None, 0, None, None, False, None
    i = 1
    while i < len(args):
        opt, more = args[i].lower(), len(args) - i - 1
        if opt == b"block" and more:
            block = _timeout_ms(args[i + 1])
            i += 1
        elif opt == b"count" and more:
            count = max(int_arg(args[i + 1]), 0)
            i += 1
        elif opt == b"streams" and more:
            streams = args[i + 1:]
            if len(streams) % 2:
                symbol = ">" if group else "$"
                raise RespError(f"ERR Unbalanced '{name}' list of streams: for each stream key an ID or "
                                f"'{symbol}' must be specified.")
            break
        elif opt == b"group" and more >= 2:
            if not group:
                raise RespError("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
            group_name, consumer = args[i + 1], args[i + 2]
            i += 2
        elif opt == b"noack":
            if not group:
                raise RespError("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
            noack = True
        else:
            raise RespError(SYNTAX)
        i += 1
    if streams is None:
        raise RespError(SYNTAX)
    if group and group_name is None:
        raise RespError("ERR Missing GROUP option for XREADGROUP")
    half = len(streams) // 2
    return block, count, group_name, consumer, noack, list(streams[:half]), list(streams[half:])


def _read_ids(ids: list[bytes], group: bool) -> list:
    """The ids of XREAD ("$": MAX, nothing yet; "+": LAST_ENTRY_ID, the last entry; resolved ones
    for BLOCK) or XREADGROUP (">": MAX)."""
    out = []
    for arg in ids:
        if arg == b"+":
            if group:
                raise RespError("ERR The + ID is meaningless in the context of XREADGROUP: you want to read the "
                                "history of this consumer by specifying a proper ID, or use the > ID to get new "
                                "messages. The + ID would just return an empty result set.")
            out.append(LAST_ENTRY_ID)
        elif arg == b"$":
            if group:
                raise RespError("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
                                "history of this consumer by specifying a proper ID, or use the > ID to get new "
                                "messages. The $ ID would just return an empty result set.")
            out.append(MAX_ID)
        elif arg == b">":
            if not group:
                raise RespError("ERR The > ID can be specified only when calling XREADGROUP using the GROUP "
                                "<group> <consumer> option.")
            out.append(MAX_ID)
        else:
            out.append(parse_id(arg, strict=True)[0])
    return out


def _read_command(db: int, group: bool, count: int, group_name, consumer, noack, keys, ids) -> pb.Command:
    if group:
        return cmd(db, "xreadgroup", group=group_name, consumer=consumer, keys=keys, ids=[pb_id(i) for i in ids],
                   count=count, noack=noack)
    return cmd(db, "xread", keys=keys, ids=[pb_id(i) for i in ids], count=count)


def _read_builder(group: bool):
    """The non-blocking XREAD / XREADGROUP; None (the connection runs LOCAL) with BLOCK."""
    def build(args, db):
        block, count, group_name, consumer, noack, keys, raw_ids = _parse_read(args, group)
        ids = _read_ids(raw_ids, group)
        if block is not None:
            return None
        return _read_command(db, group, count, group_name, consumer, noack, keys, ids)
    return build


def _in_multi(group: bool):
    """Inside MULTI, BLOCK does not block (Redis): the read runs once at EXEC."""
    def form(args, db):
        _, count, group_name, consumer, noack, keys, raw_ids = _parse_read(args, group)
        command = _read_command(db, group, count, group_name, consumer, noack, keys, _read_ids(raw_ids, group))
        return Spec("xreadgroup" if group else "xread", -4, ("blocking",), shape=read_reply), command
    return form


#: _probe's answer while this replica has not applied the connection's own writes yet.
_NOT_APPLIED = object()


def _probe(conn, key: bytes, group: bytes = b""):
    """XPROBE on this node's replica: None (no key), a CommandError, [last id, last entry, group
    id], or _NOT_APPLIED (it lags the connection's own writes: its copy cannot answer yet)."""
    probe = cmd(conn.session.db, "xprobe", key=key, group=group)
    outcome = conn.session.read_now(probe, resp_blocking._LOCAL)
    if outcome is None and commands.required_version(probe) > conn.service.log_version:
        return None   # a new cluster's log does not have streams yet (XADD needs XPROBE's version)
    return _NOT_APPLIED if outcome is None else outcome[0]


async def _after_own_writes(conn) -> None:
    """Wait (the request timeout at most) for this node to apply the connection's own writes:
    `$` and `+` name the last entry as the client's earlier XADDs left it (read-your-writes)."""
    try:
        await conn.service.wait_applied(conn.session.last_write_index)
    except DeadlineError:
        pass   # this replica lags: _probe answers _NOT_APPLIED


async def xread_blocking(conn, args):
    """XREAD BLOCK ms … STREAMS keys ids: read (a `+` answers the last entry there is), then
    with `$` and `+` resolved here (the last id; the last id less one), read until something
    arrives after the ids, the timeout passes, or CLIENT UNBLOCK."""
    block, count, _, _, _, keys, raw_ids = _parse_read(args, group=False)
    first = _read_ids(raw_ids, group=False)
    ids = list(first)
    if b"$" in raw_ids or b"+" in raw_ids:
        await _after_own_writes(conn)
    for i, (key, arg) in enumerate(zip(keys, raw_ids)):
        if arg in (b"$", b"+"):
            probe = _probe(conn, key)
            if probe is _NOT_APPLIED:
                raise RespError("TRYAGAIN this replica has not applied the connection's earlier writes yet")
            last = parse_id(probe[0])[0] if isinstance(probe, list) else MIN_ID
            ids[i] = (decr(last) or MIN_ID) if arg == b"+" else last
    after = dict(zip(keys, ids))

    def ready(key: bytes) -> int:
        probe = _probe(conn, key)
        return int(isinstance(probe, list) and probe[1] is not None and parse_id(probe[1])[0] > after[key])

    async def read(_key=None, ids=ids):
        result, _ = await conn.call(_read_command(conn.session.db, False, count or 1000, None, None, False, keys, ids))
        return result or None

    result = await read(ids=first)
    if result is None:
        result = await resp_blocking.block(conn, keys, ready, block / 1000.0, read, fair=False, line="xread")
    return read_reply(result, conn.proto)


async def xreadgroup_blocking(conn, args):
    """XREADGROUP … BLOCK ms … STREAMS keys ids: read; when nothing new came, wait for the
    group to fall behind its streams (or for the key or group to go: the read then answers
    the error), first come first served among the consumers blocked here."""
    block, count, group_name, consumer, noack, keys, raw_ids = _parse_read(args, group=True)
    command = _read_command(conn.session.db, True, count, group_name, consumer, noack, keys,
                            _read_ids(raw_ids, group=True))

    def ready(key: bytes) -> int:
        probe = _probe(conn, key, group_name)
        if probe is _NOT_APPLIED:
            return 0   # not yet: the wait goes on until this replica applies more
        if not isinstance(probe, list) or probe[2] is None:
            return 1   # no key, another type or no group: the read answers the error
        return int(probe[1] is not None and parse_id(probe[1])[0] > parse_id(probe[2])[0])

    async def read(_key=None):
        result, _ = await conn.call(command)
        return result if result is not None else None

    result = await read()
    if result is None:
        result = await resp_blocking.block(conn, keys, ready, block / 1000.0, read, nokey=True,
                                           line="group " + group_name.decode(errors="replace"))
    return result if isinstance(result, CommandError) else read_reply(result, conn.proto)


# ---------------------------------------------------------------- reply shapes


def entries_reply(entries: list) -> list:
    """[[id, [field, value, …]] …]; a pending entry whose entry is gone: [id, nil array]."""
    return [[sid, NULL_ARRAY if fields is None else fields] for sid, fields in entries]


def read_reply(result, proto, command=None):
    """XREAD/XREADGROUP: nil array, or key -> entries (a map in RESP3, pairs in RESP2)."""
    if result is None:
        return NULL_ARRAY
    if not isinstance(result, list):
        return result
    pairs = [(key, entries_reply(entries)) for key, entries in result]
    return RespMap(pairs) if proto == 3 else [list(p) for p in pairs]


def _range_reply(result, proto, command=None):
    return NULL_ARRAY if result is None else (entries_reply(result) if isinstance(result, list) else result)


# ---------------------------------------------------------------- the table

W, R = "write", "readonly"
register("xadd", -5, f"{W} denyoom fast", _xadd, group="stream")
register("xlen", 2, f"{R} fast", lambda a, db: cmd(db, "xlen", key=a[1]), group="stream")
register("xrange", -4, R, _xrange(False), _range_reply, group="stream")
register("xrevrange", -4, R, _xrange(True), _range_reply, group="stream")
register("xdel", -3, f"{W} fast", _xdel, group="stream")
register("xtrim", -4, W, _xtrim, group="stream")
register("xsetid", -3, f"{W} denyoom fast", _xsetid, group="stream")
register("xread", -4, f"{R} blocking movablekeys", _read_builder(False), read_reply, keys=(0, 0, 0),
         group="stream")
register("xreadgroup", -7, f"{W} blocking movablekeys", _read_builder(True), read_reply, keys=(0, 0, 0),
         group="stream")

#: Commands the connection runs itself (resp_admin.HANDLERS takes them in): the blocking
#: reads (their builder gives no command when BLOCK is given).
LOCAL = {"xread": xread_blocking, "xreadgroup": xreadgroup_blocking}
resp_blocking.MULTI_FORMS.update(xread=_in_multi(False), xreadgroup=_in_multi(True))
