"""Stream commands (XADD … XINFO) with Redis 7.2's semantics, over the itemized
STREAM value of node/storage/stream.py.

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

import itertools
from collections.abc import Callable

from raftcache.node.commands import OK
from raftcache.node.commands.strings import Ctx
from raftcache.node.errors import CommandError, Reason
from raftcache.node.storage import stream as st
from raftcache.node.storage.stream import INVALID_ENTRIES_READ, MAX_ID, MIN_ID, Consumer, Group, Nack
from raftcache.proto import commands_pb2 as pb

NODE_MAX_ENTRIES = 100          # Redis's stream-node-max-entries default


def _id(sid: pb.StreamId) -> st.StreamId:
    return sid.ms, sid.seq


def _text(sid: st.StreamId) -> bytes:
    return st.id_text(sid)


def _error(text: str) -> CommandError:
    return CommandError(text, Reason.INVALID_ARGUMENT)


def _no_group(key: bytes, group: bytes, suffix: str = "") -> CommandError:
    return CommandError(f"No such key '{_show(key)}' or consumer group '{_show(group)}'{suffix}", Reason.NO_GROUP)


def _no_such_group(key: bytes, group: bytes) -> CommandError:
    return CommandError(f"No such consumer group '{_show(group)}' for key name '{_show(key)}'", Reason.NO_GROUP)


def _show(name: bytes) -> str:
    return name.decode(errors="replace")


def _names_ok(*names: bytes) -> CommandError | None:
    for name in names:
        if len(name) > st.MAX_NAME_BYTES:
            return _error(f"consumer group and consumer names are at most {st.MAX_NAME_BYTES} bytes")
    return None


def _node_max(ctx: Ctx) -> int:
    value = (ctx.settings or {}).get("stream-node-max-entries")
    return NODE_MAX_ENTRIES if value is None else int(value)


def _load(ctx: Ctx, key: bytes):
    """(record, Stream) or (CommandError, None); record None when absent."""
    return st.load(ctx.txn, ctx.db, key, ctx)


def _entry(sid: st.StreamId, fields) -> list:
    return [_text(sid), fields]


# ---------------------------------------------------------------- entries


def xadd(ctx: Ctx, op: pb.XAdd):
    if not op.fields or len(op.fields) % 2:
        return CommandError("wrong number of arguments for 'xadd' command", Reason.SYNTAX)
    if op.HasField("id") and not op.seq_auto and _id(op.id) == MIN_ID:
        return _error("The ID specified in XADD must be greater than 0-0")
    record, s = _load(ctx, op.key)
    if s is None:
        return record
    if record is None and op.no_mkstream:
        return None
    if s.last_id == MAX_ID:
        return _error("The stream has exhausted the last possible ID, unable to add more items")
    if not op.HasField("id"):
        sid = s.next_id(ctx.now_ms)
    elif op.seq_auto and op.id.ms == s.last_id[0]:
        sid = st.incr(s.last_id) if s.last_id[1] < MAX_ID[1] else None
    else:
        sid = (op.id.ms, 0 if op.seq_auto else op.id.seq)
    if sid is None or sid <= s.last_id:
        return _error("The ID specified in XADD is equal or smaller than the target stream top item")
    s.append(sid, list(op.fields), _node_max(ctx))
    _trim(ctx, s, op.trim)
    s.save(ctx)
    return _text(sid)


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
    return s.trim(None, _id(trim.minid), trim.approx, limit)


def xlen(ctx: Ctx, op: pb.XLen):
    record, s = _load(ctx, op.key)
    return record if s is None else s.length


def xrange(ctx: Ctx, op: pb.XRange):
    record, s = _load(ctx, op.key)
    if s is None or record is None:
        return record if s is None else []
    if op.HasField("count") and op.count <= 0:
        return None
    start, end = _id(op.start), _id(op.end)
    out = []
    for sid, fields in s.entries(start, end, op.rev):
        out.append(_entry(sid, fields))
        if op.HasField("count") and len(out) >= op.count:
            break
    return out


def xdel(ctx: Ctx, op: pb.XDel):
    record, s = _load(ctx, op.key)
    if s is None or record is None:
        return record if s is None else 0
    deleted = 0
    for pid in op.ids:
        sid = _id(pid)
        if s.delete(sid):
            deleted += 1
            s.max_deleted = max(s.max_deleted, sid)
    if deleted:
        s.save(ctx)
    return deleted


def xtrim(ctx: Ctx, op: pb.XTrim):
    if op.trim.by == pb.TRIM_NONE:
        return CommandError("syntax error, XTRIM must be called with a trimming strategy", Reason.SYNTAX)
    record, s = _load(ctx, op.key)
    if s is None or record is None:
        return record if s is None else 0
    deleted = _trim(ctx, s, op.trim)
    if deleted:
        s.save(ctx)
    return deleted


def xsetid(ctx: Ctx, op: pb.XSetId):
    sid = _id(op.id)
    if op.HasField("max_deleted") and sid < _id(op.max_deleted):
        return _error("The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
    record, s = _load(ctx, op.key)
    if s is None or record is None:
        return record if s is None else CommandError("no such key", Reason.NO_SUCH_KEY)
    if sid < s.max_deleted:
        return _error("The ID specified in XSETID is smaller than current max_deleted_entry_id")
    if s.length:
        if sid < (s.last_entry_id() or MIN_ID):
            return _error("The ID specified in XSETID is smaller than the target stream top item")
        if op.HasField("entries_added") and s.length > op.entries_added:
            return _error("The entries_added specified in XSETID is smaller than the target stream length")
    s.last_id = sid
    if op.HasField("entries_added"):
        s.entries_added = op.entries_added
    if op.HasField("max_deleted") and _id(op.max_deleted) != MIN_ID:
        s.max_deleted = _id(op.max_deleted)
    s.save(ctx)
    return OK


# ---------------------------------------------------------------- reading


def _after(s: st.Stream, gt: st.StreamId, count: int):
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
    streams = []
    for key in op.keys:
        record, s = _load(ctx, key)
        if s is None:
            return record
        streams.append(s if record is not None else None)
    out = []
    for key, pid, s in zip(op.keys, op.ids, streams):
        if s is None or not s.length:
            continue
        gt = _id(pid)
        if (s.last_entry_id() or MIN_ID) > gt:
            out.append([key, [_entry(sid, f) for sid, f in _after(s, gt, op.count)]])
    return out or None


def xreadgroup(ctx: Ctx, op: pb.XReadGroup):
    """XREADGROUP: for each stream, new entries (">") recorded as pending for the consumer
    (unless NOACK) and the group's last delivered id moved; or the consumer's own history.
    The consumer is created if needed, and its seen time set, even when nothing is read."""
    if len(op.keys) != len(op.ids):
        return CommandError("each stream key needs an id", Reason.SYNTAX)
    error = _names_ok(op.group, op.consumer)
    if error:
        return error
    loaded: dict[bytes, tuple] = {}   # a key named twice is one stream
    for key in op.keys:
        if key not in loaded:
            record, s = _load(ctx, key)
            if s is None:
                return record
            group = s.group(op.group) if record is not None else None
            if group is None:
                return _no_group(key, op.group, " in XREADGROUP with GROUP option")
            loaded[key] = (s, group, _Consumers(s, op.group))
    out = []
    for key, pid in zip(op.keys, op.ids):
        s, group, consumers = loaded[key]
        gt = _id(pid)
        history = gt != MAX_ID
        serve = history or (s.length and (s.last_entry_id() or MIN_ID) > group.last_id)
        consumer = consumers.seen(op.consumer, group, ctx.now_ms)
        if serve:
            if history:
                entries = _history(s, op.group, op.consumer, gt, op.count, ctx.now_ms)
            else:
                entries = _deliver(s, op.group, group, consumers, op.consumer, consumer, op.count, op.noack,
                                   ctx.now_ms)
            out.append([key, entries])
    for s, group, consumers in loaded.values():
        consumers.save()
        s.put_group(op.group, group)
        s.save(ctx)
    return out or None


class _Consumers:
    """The consumers of one group a command changes: loaded once, written back together
    (so that two changes to one consumer never overwrite each other)."""

    def __init__(self, s: st.Stream, group: bytes):
        self.s, self.group = s, group
        self.loaded: dict[bytes, Consumer | None] = {}

    def get(self, name: bytes) -> Consumer | None:
        if name not in self.loaded:
            self.loaded[name] = self.s.consumer(self.group, name)
        return self.loaded[name]

    def seen(self, name: bytes, group: Group, now_ms: int) -> Consumer:
        """The consumer (created, and counted in the group, when new) with its seen time now."""
        consumer = self.get(name)
        if consumer is None:
            consumer = self.loaded[name] = Consumer(seen=now_ms)
            group.consumers += 1
        consumer.seen = now_ms
        return consumer

    def adjust(self, name: bytes, change: int) -> None:
        consumer = self.get(name)
        if consumer is not None:
            consumer.pending += change

    def save(self) -> None:
        for name, consumer in self.loaded.items():
            if consumer is not None:
                self.s.put_consumer(self.group, name, consumer)


def _deliver(s, group_name: bytes, group: Group, consumers: _Consumers, name: bytes, consumer: Consumer,
             count: int, noack: bool, now_ms: int) -> list:
    """Deliver the entries after the group's last id to a consumer: the last id and read
    counter move; each entry becomes (or moves to) this consumer's pending entry."""
    out = []
    for sid, fields in _after(s, group.last_id, count):
        if sid > group.last_id:
            if group.entries_read != INVALID_ENTRIES_READ and not s.has_tombstones(sid):
                group.entries_read += 1
            elif s.entries_added:
                group.entries_read = s.estimate_read(sid)
            group.last_id = sid
        out.append(_entry(sid, fields))
        if noack:
            continue
        old = s.nack(group_name, sid)
        if old is None:
            group.pending += 1
        else:
            s.drop_nack(group_name, sid, old.consumer)
            consumers.adjust(old.consumer, -1)
        consumer.pending += 1
        s.put_nack(group_name, sid, Nack(now_ms, 1, name))
        consumer.active = now_ms
    return out


def _history(s, group_name: bytes, name: bytes, gt, count: int, now_ms: int) -> list:
    """The consumer's own pending entries after `gt`; a deleted entry comes as [id, nil]."""
    start = st.incr(gt)
    if start is None:
        return []
    pending = s.pending(group_name, start, MAX_ID, consumer=name)
    out = []
    for sid, nack in list(itertools.islice(pending, count) if count else pending):
        fields = s.entry(sid)
        if fields is None:
            out.append([_text(sid), None])
            continue
        nack.delivery_time, nack.deliveries = now_ms, nack.deliveries + 1
        s.put_nack(group_name, sid, nack)
        out.append(_entry(sid, fields))
    return out


def xprobe(ctx: Ctx, op: pb.XProbe):
    record, s = _load(ctx, op.key)
    if s is None or record is None:
        return record
    group = s.group(op.group) if op.group else None
    last_entry = s.last_entry_id()
    return [_text(s.last_id), None if last_entry is None else _text(last_entry),
            None if group is None else _text(group.last_id)]


# ---------------------------------------------------------------- consumer groups


def _group_of(ctx: Ctx, key: bytes, group: bytes):
    """(Stream, Group) or the NOGROUP / WRONGTYPE error."""
    record, s = _load(ctx, key)
    if s is None:
        return record, None
    found = s.group(group) if record is not None else None
    if found is None:
        return _no_group(key, group), None
    return s, found


def xack(ctx: Ctx, op: pb.XAck):
    record, s = _load(ctx, op.key)
    if s is None:
        return record
    group = s.group(op.group) if record is not None else None
    if group is None:
        return 0
    acked = 0
    consumers = _Consumers(s, op.group)
    for pid in op.ids:
        sid = _id(pid)
        nack = s.nack(op.group, sid)
        if nack is not None:
            _forget(s, op.group, group, consumers, sid, nack)
            acked += 1
    if acked:
        consumers.save()
        s.put_group(op.group, group)
        s.save(ctx)
    return acked


def xpending(ctx: Ctx, op: pb.XPending):
    s, group = _group_of(ctx, op.key, op.group)
    if group is None:
        return s
    if not op.extended:
        if not group.pending:
            return [0, None, None, None]
        first = next(s.pending(op.group))[0]
        owners = [[name, b"%d" % c.pending] for name, c in s.consumers(op.group) if c.pending]
        return [group.pending, _text(first), _text(s.last_pending(op.group)), owners]
    if op.HasField("consumer") and s.consumer(op.group, op.consumer) is None:
        return []
    out = []
    count = op.count
    for sid, nack in s.pending(op.group, _id(op.start), _id(op.end),
                               op.consumer if op.HasField("consumer") else None):
        if count <= 0:
            break
        idle = ctx.now_ms - nack.delivery_time
        if op.min_idle and idle < op.min_idle:
            continue
        count -= 1
        out.append([_text(sid), nack.consumer, max(idle, 0), nack.deliveries])
    return out


def xclaim(ctx: Ctx, op: pb.XClaim):
    error = _names_ok(op.consumer)
    if error:
        return error
    s, group = _group_of(ctx, op.key, op.group)
    if group is None:
        return s
    now = ctx.now_ms
    min_idle = max(op.min_idle, 0)
    if op.HasField("last_id") and _id(op.last_id) > group.last_id:
        group.last_id = _id(op.last_id)
    if op.HasField("idle"):
        delivery = now - op.idle
    elif op.HasField("time"):
        delivery = op.time
    else:
        delivery = now
    if delivery < 0 or delivery > now:
        delivery = now
    consumers = _Consumers(s, op.group)
    consumer = consumers.seen(op.consumer, group, now)
    out = []
    for pid in op.ids:
        sid = _id(pid)
        nack = s.nack(op.group, sid)
        fields = s.entry(sid)
        if fields is None:   # the entry is gone: its pending entry goes too
            if nack is not None:
                _forget(s, op.group, group, consumers, sid, nack)
            continue
        if nack is None:
            if not op.force:
                continue
            nack = Nack(now, 1, b"")   # FORCE: a new pending entry, owned by nobody yet
            group.pending += 1
        elif min_idle and now - nack.delivery_time < min_idle:
            continue
        _take(s, op.group, consumers, sid, nack, op.consumer, consumer)
        nack.delivery_time = delivery
        if op.HasField("retry_count"):
            nack.deliveries = op.retry_count
        elif not op.justid:
            nack.deliveries += 1
        s.put_nack(op.group, sid, nack)
        consumer.active = now
        out.append(_text(sid) if op.justid else _entry(sid, fields))
    consumers.save()
    s.put_group(op.group, group)
    s.save(ctx)
    return out


def _forget(s, group_name: bytes, group: Group, consumers: _Consumers, sid, nack: Nack) -> None:
    """Drop a pending entry (acknowledged, or its entry is gone)."""
    s.drop_nack(group_name, sid, nack.consumer)
    consumers.adjust(nack.consumer, -1)
    group.pending -= 1


def _take(s, group_name: bytes, consumers: _Consumers, sid, nack: Nack, name: bytes, consumer: Consumer) -> None:
    """Make `name` the owner of a pending entry (b"" owner: a new one); counts follow."""
    if nack.consumer == name:
        return
    if nack.consumer:
        s.drop_nack(group_name, sid, nack.consumer)
        consumers.adjust(nack.consumer, -1)
    nack.consumer = name
    consumer.pending += 1


def xautoclaim(ctx: Ctx, op: pb.XAutoClaim):
    error = _names_ok(op.consumer)
    if error:
        return error
    if op.count < 1:
        return _error("COUNT must be > 0")
    s, group = _group_of(ctx, op.key, op.group)
    if group is None:
        return s
    now = ctx.now_ms
    min_idle = max(op.min_idle, 0)
    consumers = _Consumers(s, op.group)
    consumer = consumers.seen(op.consumer, group, now)
    attempts, count = op.count * 10, op.count
    claimed, deleted = [], []
    cursor = MIN_ID   # the id the next call starts from (0-0: the end was reached)
    for sid, nack in list(itertools.islice(s.pending(op.group, _id(op.start)), attempts + 1)):
        if attempts <= 0 or count <= 0:
            cursor = sid
            break
        attempts -= 1
        fields = s.entry(sid)
        if fields is None:
            _forget(s, op.group, group, consumers, sid, nack)
            deleted.append(_text(sid))
            count -= 1
            continue
        if min_idle and now - nack.delivery_time < min_idle:
            continue
        _take(s, op.group, consumers, sid, nack, op.consumer, consumer)
        nack.delivery_time = now
        if not op.justid:
            nack.deliveries += 1
        s.put_nack(op.group, sid, nack)
        claimed.append(_text(sid) if op.justid else _entry(sid, fields))
        count -= 1
        consumer.active = now
    consumers.save()
    s.put_group(op.group, group)
    s.save(ctx)
    return [_text(cursor), claimed, deleted]


def xgroup(ctx: Ctx, op: pb.XGroup):
    error = _names_ok(op.group, op.consumer)
    if error:
        return error
    record, s = _load(ctx, op.key)
    if s is None:
        return record
    if record is None and not (op.kind == pb.XGROUP_CREATE and op.mkstream):
        return _error("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use "
                      "the MKSTREAM option to create an empty stream automatically.")
    group = s.group(op.group) if record is not None else None
    entries_read = op.entries_read if op.HasField("entries_read") else INVALID_ENTRIES_READ
    if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
        return _error("value for ENTRIESREAD must be positive or -1")
    if op.kind == pb.XGROUP_CREATE:
        if group is not None:
            return CommandError("Consumer Group name already exists", Reason.BUSY_GROUP)
        s.put_group(op.group, Group(s.last_id if op.last else _id(op.id), entries_read))
        s.save(ctx)
        return OK
    if op.kind == pb.XGROUP_DESTROY:
        if group is None or not s.destroy_group(op.group):
            return 0
        s.save(ctx)
        return 1
    if group is None:
        return _no_such_group(op.key, op.group)
    if op.kind == pb.XGROUP_SETID:
        group.last_id, group.entries_read = (s.last_id if op.last else _id(op.id)), entries_read
        result = OK
    elif op.kind == pb.XGROUP_CREATECONSUMER:
        if s.consumer(op.group, op.consumer) is not None:
            return 0
        s.put_consumer(op.group, op.consumer, Consumer(seen=ctx.now_ms))
        group.consumers += 1
        result = 1
    elif op.kind == pb.XGROUP_DELCONSUMER:
        if s.consumer(op.group, op.consumer) is None:
            return 0
        result = s.delete_consumer(op.group, op.consumer)
        group.pending -= result
        group.consumers -= 1
    else:
        return CommandError("unknown XGROUP subcommand", Reason.SYNTAX)
    s.put_group(op.group, group)
    s.save(ctx)
    return result


# ---------------------------------------------------------------- XINFO


def xinfo(ctx: Ctx, op: pb.XInfo):
    record, s = _load(ctx, op.key)
    if s is None or record is None:
        return record if s is None else CommandError("no such key", Reason.NO_SUCH_KEY)
    if op.kind == pb.XINFO_CONSUMERS:
        if s.group(op.group) is None:
            return _no_such_group(op.key, op.group)
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
            b"last-generated-id", _text(s.last_id), b"max-deleted-entry-id", _text(s.max_deleted),
            b"entries-added", s.entries_added, b"recorded-first-entry-id", _text(first)]
    if not op.full:
        first_entry = next(s.entries(), None)
        last_entry = next(s.entries(rev=True), None)
        return head + [b"groups", s.groups,
                       b"first-entry", None if first_entry is None else _entry(*first_entry),
                       b"last-entry", None if last_entry is None else _entry(*last_entry)]
    count = op.count if op.count >= 0 else 10
    entries = []
    for sid, fields in s.entries():
        if count and len(entries) >= count:
            break
        entries.append(_entry(sid, fields))
    return head + [b"entries", entries, b"groups", [_group_full(s, name, count) for name in s.group_names()]]


def _group_info(s, name: bytes, group: Group) -> list:
    return [b"name", name, b"consumers", group.consumers, b"pending", group.pending,
            b"last-delivered-id", _text(group.last_id),
            b"entries-read", None if group.entries_read == INVALID_ENTRIES_READ else group.entries_read,
            b"lag", s.lag(group)]


def _group_full(s, name: bytes, count: int) -> list:
    group = s.group(name)
    pel = []
    for sid, nack in s.pending(name):
        if count and len(pel) >= count:
            break
        pel.append([_text(sid), nack.consumer, nack.delivery_time, nack.deliveries])
    consumers = []
    for cname, consumer in s.consumers(name):
        own = []
        for sid, nack in s.pending(name, consumer=cname):
            if count and len(own) >= count:
                break
            own.append([_text(sid), nack.delivery_time, nack.deliveries])
        consumers.append([b"name", cname, b"seen-time", consumer.seen, b"active-time", consumer.active,
                          b"pel-count", consumer.pending, b"pending", own])
    return [b"name", name, b"last-delivered-id", _text(group.last_id),
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
    "xreadgroup": xreadgroup,
    "xack": xack,
    "xpending": xpending,
    "xclaim": xclaim,
    "xautoclaim": xautoclaim,
    "xgroup": xgroup,
    "xinfo": xinfo,
    "xprobe": xprobe,
}
