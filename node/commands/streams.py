"""Stream commands that add, read and trim entries (XADD, XLEN, XRANGE, XDEL, XTRIM,
XSETID, XREAD), XINFO and XPROBE, with Redis 7.2's semantics, over the itemized
STREAM value of node/storage/stream.py; the consumer-group commands are in
stream_groups.py.

Every write that makes an id or records a time (XADD's automatic id, a
group read, a claim, a consumer's seen and active times) takes it from
`ctx.now_ms`, the clock the leader stamped into the log entry: replicas
agree and ids stay increasing across a leader change (a new id is never
below the last one). Reads (XPENDING and XINFO idle times) use the reading
node's clock, as any read does.

Handlers follow node/commands/strings.py's convention; ids travel as
`StreamId` messages and come back as b"ms-seq". Must not touch: clocks,
randomness, lmdb, grpc, Raft.
"""

from __future__ import annotations

from collections.abc import Callable

from raftcache.node.commands import OK, XREAD_LAST_VERSION
from raftcache.node.commands.strings import Ctx
from raftcache.node.errors import CommandError, Reason
from raftcache.node.storage import stream as st
from raftcache.node.storage.stream import INVALID_ENTRIES_READ, LAST_ENTRY_ID, MAX_ID, MIN_ID, Group
from raftcache.proto import commands_pb2 as pb

NODE_MAX_ENTRIES = 100          # Redis's stream-node-max-entries default


def sid_of(sid: pb.StreamId) -> st.StreamId:
    return sid.ms, sid.seq


def id_reply(sid: st.StreamId) -> bytes:
    return st.id_text(sid)


def invalid(text: str) -> CommandError:
    return CommandError(text, Reason.INVALID_ARGUMENT)


def no_group(key: bytes, group: bytes, suffix: str = "") -> CommandError:
    return CommandError(f"No such key '{_show(key)}' or consumer group '{_show(group)}'{suffix}", Reason.NO_GROUP)


def no_such_group(key: bytes, group: bytes) -> CommandError:
    return CommandError(f"No such consumer group '{_show(group)}' for key name '{_show(key)}'", Reason.NO_GROUP)


def _show(name: bytes) -> str:
    return name.decode(errors="replace")


def names_ok(*names: bytes) -> CommandError | None:
    for name in names:
        if len(name) > st.MAX_NAME_BYTES:
            return invalid(f"consumer group and consumer names are at most {st.MAX_NAME_BYTES} bytes")
    return None


def _node_max(ctx: Ctx) -> int:
    value = (ctx.settings or {}).get("stream-node-max-entries")
    return NODE_MAX_ENTRIES if value is None else int(value)


def load(ctx: Ctx, key: bytes):
    """(record, Stream) or (CommandError, None); record None when absent."""
    return st.load(ctx.txn, ctx.db, key, ctx)


def entry_reply(sid: st.StreamId, fields) -> list:
    return [id_reply(sid), fields]


# ---------------------------------------------------------------- entries


def xadd(ctx: Ctx, op: pb.XAdd):
    if not op.fields or len(op.fields) % 2:
        return CommandError("wrong number of arguments for 'xadd' command", Reason.SYNTAX)
    if op.HasField("id") and not op.seq_auto and sid_of(op.id) == MIN_ID:
        return invalid("The ID specified in XADD must be greater than 0-0")
    record, s = load(ctx, op.key)
    if s is None:
        return record
    if record is None and op.no_mkstream:
        return None
    if s.last_id == MAX_ID:
        return invalid("The stream has exhausted the last possible ID, unable to add more items")
    if not op.HasField("id"):
        sid = s.next_id(ctx.now_ms)
    elif op.seq_auto and op.id.ms == s.last_id[0]:
        sid = st.incr(s.last_id) if s.last_id[1] < MAX_ID[1] else None
    else:
        sid = (op.id.ms, 0 if op.seq_auto else op.id.seq)
    if sid is None or sid <= s.last_id:
        return invalid("The ID specified in XADD is equal or smaller than the target stream top item")
    s.append(sid, list(op.fields), _node_max(ctx))
    _trim(ctx, s, op.trim)
    s.save(ctx)
    return id_reply(sid)


def _trim(ctx: Ctx, s: st.Stream, trim: pb.StreamTrim) -> int:
    if trim.by == pb.TRIM_NONE:
        return 0
    if trim.HasField("limit"):
        limit = trim.limit
    elif trim.approx:   # Redis's default work bound for "~"
        limit = min(max(100 * _node_max(ctx), 0) or 10000, 1_000_000)
    else:
        limit = 0
    if trim.by == pb.TRIM_MAXLEN:
        return s.trim(trim.maxlen, None, trim.approx, limit)
    return s.trim(None, sid_of(trim.minid), trim.approx, limit)


def xlen(ctx: Ctx, op: pb.XLen):
    record, s = load(ctx, op.key)
    return record if s is None else s.length


def xrange(ctx: Ctx, op: pb.XRange):
    record, s = load(ctx, op.key)
    if s is None or record is None:
        return record if s is None else []
    if op.HasField("count") and op.count <= 0:
        return None
    start, end = sid_of(op.start), sid_of(op.end)
    out = []
    for sid, fields in s.entries(start, end, op.rev):
        out.append(entry_reply(sid, fields))
        if op.HasField("count") and len(out) >= op.count:
            break
    return out


def xdel(ctx: Ctx, op: pb.XDel):
    record, s = load(ctx, op.key)
    if s is None or record is None:
        return record if s is None else 0
    deleted = 0
    for pid in op.ids:
        sid = sid_of(pid)
        if s.delete(sid):
            deleted += 1
            s.max_deleted = max(s.max_deleted, sid)
    if deleted:
        s.save(ctx)
    return deleted


def xtrim(ctx: Ctx, op: pb.XTrim):
    if op.trim.by == pb.TRIM_NONE:
        return CommandError("syntax error, XTRIM must be called with a trimming strategy", Reason.SYNTAX)
    record, s = load(ctx, op.key)
    if s is None or record is None:
        return record if s is None else 0
    deleted = _trim(ctx, s, op.trim)
    if deleted:
        s.save(ctx)
    return deleted


def xsetid(ctx: Ctx, op: pb.XSetId):
    sid = sid_of(op.id)
    if op.HasField("max_deleted") and sid < sid_of(op.max_deleted):
        return invalid("The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
    record, s = load(ctx, op.key)
    if s is None or record is None:
        return record if s is None else CommandError("no such key", Reason.NO_SUCH_KEY)
    if sid < s.max_deleted:
        return invalid("The ID specified in XSETID is smaller than current max_deleted_entry_id")
    if s.length:
        if sid < (s.last_entry_id() or MIN_ID):
            return invalid("The ID specified in XSETID is smaller than the target stream top item")
        if op.HasField("entries_added") and s.length > op.entries_added:
            return invalid("The entries_added specified in XSETID is smaller than the target stream length")
    s.last_id = sid
    if op.HasField("entries_added"):
        s.entries_added = op.entries_added
    if op.HasField("max_deleted") and sid_of(op.max_deleted) != MIN_ID:
        s.max_deleted = sid_of(op.max_deleted)
    s.save(ctx)
    return OK


# ---------------------------------------------------------------- reading


def entries_after(s: st.Stream, gt: st.StreamId, count: int):
    """Entries with an id above `gt`, at most `count` (0: all)."""
    start = st.incr(gt)
    if start is None:
        return []
    out = []
    for sid, fields in s.entries(start):
        out.append((sid, fields))
        if count and len(out) >= count:
            break
    return out


def xread(ctx: Ctx, op: pb.XRead):
    if len(op.keys) != len(op.ids):
        return CommandError("each stream key needs an id", Reason.SYNTAX)
    # LAST_ENTRY_ID stands for `+`, except in an entry of an older release (a script's XREAD:
    # `+` refused there as that release did, node/scripting/engine.py; this id is typed out)
    plus = not ctx.index or ctx.version >= XREAD_LAST_VERSION
    streams = []
    for key in op.keys:
        record, s = load(ctx, key)
        if s is None:
            return record
        streams.append(s if record is not None else None)
    out = []
    for key, pid, s in zip(op.keys, op.ids, streams):
        gt = sid_of(pid)
        if gt == LAST_ENTRY_ID and s is not None and plus:
            gt = st.decr(s.last_id)
            if gt is None:
                return CommandError("the stream last element ID is 0-0", Reason.INVALID_ARGUMENT)
        if s is None or not s.length:
            continue
        if (s.last_entry_id() or MIN_ID) > gt:
            out.append([key, [entry_reply(sid, f) for sid, f in entries_after(s, gt, op.count)]])
    return out or None


def xprobe(ctx: Ctx, op: pb.XProbe):
    record, s = load(ctx, op.key)
    if s is None or record is None:
        return record
    group = s.group(op.group) if op.group else None
    last_entry = s.last_entry_id()
    return [id_reply(s.last_id), None if last_entry is None else id_reply(last_entry),
            None if group is None else id_reply(group.last_id)]


# ---------------------------------------------------------------- XINFO


def xinfo(ctx: Ctx, op: pb.XInfo):
    record, s = load(ctx, op.key)
    if s is None or record is None:
        return record if s is None else CommandError("no such key", Reason.NO_SUCH_KEY)
    if op.kind == pb.XINFO_CONSUMERS:
        if s.group(op.group) is None:
            return no_such_group(op.key, op.group)
        return [[b"name", name, b"pending", c.pending, b"idle", max(ctx.now_ms - c.seen, 0),
                 b"inactive", ctx.now_ms - c.active if c.active != -1 else -1]
                for name, c in s.consumers(op.group)]
    if op.kind == pb.XINFO_GROUPS:
        return [_group_info(s, name, s.group(name)) for name in s.group_names()]
    if op.kind != pb.XINFO_STREAM:
        return CommandError("unknown XINFO subcommand", Reason.SYNTAX)
    nodes = s.node_count()
    first = s.first_entry_id() or MIN_ID
    head = [b"length", s.length, b"radix-tree-keys", nodes, b"radix-tree-nodes", nodes + 1 if nodes else 1,
            b"last-generated-id", id_reply(s.last_id), b"max-deleted-entry-id", id_reply(s.max_deleted),
            b"entries-added", s.entries_added, b"recorded-first-entry-id", id_reply(first)]
    if not op.full:
        first_entry = next(s.entries(), None)
        last_entry = next(s.entries(rev=True), None)
        return head + [b"groups", s.groups,
                       b"first-entry", None if first_entry is None else entry_reply(*first_entry),
                       b"last-entry", None if last_entry is None else entry_reply(*last_entry)]
    count = op.count if op.count >= 0 else 10
    entries = []
    for sid, fields in s.entries():
        if count and len(entries) >= count:
            break
        entries.append(entry_reply(sid, fields))
    return head + [b"entries", entries, b"groups", [_group_full(s, name, count) for name in s.group_names()]]


def _group_info(s, name: bytes, group: Group) -> list:
    return [b"name", name, b"consumers", group.consumers, b"pending", group.pending,
            b"last-delivered-id", id_reply(group.last_id),
            b"entries-read", None if group.entries_read == INVALID_ENTRIES_READ else group.entries_read,
            b"lag", s.lag(group)]


def _group_full(s, name: bytes, count: int) -> list:
    group = s.group(name)
    pel = []
    for sid, nack in s.pending(name):
        if count and len(pel) >= count:
            break
        pel.append([id_reply(sid), nack.consumer, nack.delivery_time, nack.deliveries])
    consumers = []
    for cname, consumer in s.consumers(name):
        own = []
        for sid, nack in s.pending(name, consumer=cname):
            if count and len(own) >= count:
                break
            own.append([id_reply(sid), nack.delivery_time, nack.deliveries])
        consumers.append([b"name", cname, b"seen-time", consumer.seen, b"active-time", consumer.active,
                          b"pel-count", consumer.pending, b"pending", own])
    return [b"name", name, b"last-delivered-id", id_reply(group.last_id),
            b"entries-read", None if group.entries_read == INVALID_ENTRIES_READ else group.entries_read,
            b"lag", s.lag(group), b"pel-count", group.pending, b"pending", pel, b"consumers", consumers]


HANDLERS: dict[str, Callable[[Ctx, object], object]] = {
    "xadd": xadd,
    "xlen": xlen,
    "xrange": xrange,
    "xdel": xdel,
    "xtrim": xtrim,
    "xsetid": xsetid,
    "xread": xread,
    "xinfo": xinfo,
    "xprobe": xprobe,
}
