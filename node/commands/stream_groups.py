"""Stream consumer-group commands (XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM,
XGROUP) with Redis 7.2's semantics, over node/storage/stream.py's groups,
consumers and pending entries.

A group's state is replicated like any value: delivery times, the seen and
active times of consumers and XCLAIM's IDLE all come from `ctx.now_ms`, the
clock the leader stamped into the log entry, so a consumer that reconnects to
another node after a failover finds its pending entries as they were.

Handlers follow node/commands/strings.py's convention. Must not touch: clocks,
randomness, lmdb, grpc, Raft.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from raftcache.node.commands import OK
from raftcache.node.commands.streams import (entries_after, entry_reply, id_reply, invalid, load, names_ok,
                                             no_group, no_such_group, sid_of)
from raftcache.node.commands.strings import Ctx
from raftcache.node.errors import CommandError, Reason
from raftcache.node.storage import stream as st
from raftcache.node.storage.stream import INVALID_ENTRIES_READ, MAX_ID, MIN_ID, Consumer, Group, Nack
from raftcache.proto import commands_pb2 as pb


def xreadgroup(ctx: Ctx, op: pb.XReadGroup):
    """XREADGROUP: for each stream, new entries (">") recorded as pending for the consumer
    (unless NOACK) and the group's last delivered id moved; or the consumer's own history.
    The consumer is created if needed, and its seen time set, even when nothing is read."""
    if len(op.keys) != len(op.ids):
        return CommandError("each stream key needs an id", Reason.SYNTAX)
    error = names_ok(op.group, op.consumer)
    if error:
        return error
    loaded: dict[bytes, tuple] = {}   # a key named twice is one stream
    for key in op.keys:
        if key not in loaded:
            record, s = load(ctx, key)
            if s is None:
                return record
            group = s.group(op.group) if record is not None else None
            if group is None:
                return no_group(key, op.group, " in XREADGROUP with GROUP option")
            loaded[key] = (s, group, _Consumers(s, op.group))
    out = []
    for key, pid in zip(op.keys, op.ids):
        s, group, consumers = loaded[key]
        gt = sid_of(pid)
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
    for sid, fields in entries_after(s, group.last_id, count):
        if sid > group.last_id:
            if group.entries_read != INVALID_ENTRIES_READ and not s.has_tombstones(sid):
                group.entries_read += 1
            elif s.entries_added:
                group.entries_read = s.estimate_read(sid)
            group.last_id = sid
        out.append(entry_reply(sid, fields))
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
            out.append([id_reply(sid), None])
            continue
        nack.delivery_time, nack.deliveries = now_ms, nack.deliveries + 1
        s.put_nack(group_name, sid, nack)
        out.append(entry_reply(sid, fields))
    return out


def _group_of(ctx: Ctx, key: bytes, group: bytes):
    """(Stream, Group) or the NOGROUP / WRONGTYPE error."""
    record, s = load(ctx, key)
    if s is None:
        return record, None
    found = s.group(group) if record is not None else None
    if found is None:
        return no_group(key, group), None
    return s, found


def xack(ctx: Ctx, op: pb.XAck):
    record, s = load(ctx, op.key)
    if s is None:
        return record
    group = s.group(op.group) if record is not None else None
    if group is None:
        return 0
    acked = 0
    consumers = _Consumers(s, op.group)
    for pid in op.ids:
        sid = sid_of(pid)
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
        return [group.pending, id_reply(first), id_reply(s.last_pending(op.group)), owners]
    if op.HasField("consumer") and s.consumer(op.group, op.consumer) is None:
        return []
    out = []
    count = op.count
    for sid, nack in s.pending(op.group, sid_of(op.start), sid_of(op.end),
                               op.consumer if op.HasField("consumer") else None):
        if count <= 0:
            break
        idle = ctx.now_ms - nack.delivery_time
        if op.min_idle and idle < op.min_idle:
            continue
        count -= 1
        out.append([id_reply(sid), nack.consumer, max(idle, 0), nack.deliveries])
    return out


def xclaim(ctx: Ctx, op: pb.XClaim):
    error = names_ok(op.consumer)
    if error:
        return error
    s, group = _group_of(ctx, op.key, op.group)
    if group is None:
        return s
    now = ctx.now_ms
    min_idle = max(op.min_idle, 0)
    if op.HasField("last_id") and sid_of(op.last_id) > group.last_id:
        group.last_id = sid_of(op.last_id)
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
        sid = sid_of(pid)
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
        out.append(id_reply(sid) if op.justid else entry_reply(sid, fields))
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
    error = names_ok(op.consumer)
    if error:
        return error
    if op.count < 1:
        return invalid("COUNT must be > 0")
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
    for sid, nack in list(itertools.islice(s.pending(op.group, sid_of(op.start)), attempts + 1)):
        if attempts <= 0 or count <= 0:
            cursor = sid
            break
        attempts -= 1
        fields = s.entry(sid)
        if fields is None:
            _forget(s, op.group, group, consumers, sid, nack)
            deleted.append(id_reply(sid))
            count -= 1
            continue
        if min_idle and now - nack.delivery_time < min_idle:
            continue
        _take(s, op.group, consumers, sid, nack, op.consumer, consumer)
        nack.delivery_time = now
        if not op.justid:
            nack.deliveries += 1
        s.put_nack(op.group, sid, nack)
        claimed.append(id_reply(sid) if op.justid else entry_reply(sid, fields))
        count -= 1
        consumer.active = now
    consumers.save()
    s.put_group(op.group, group)
    s.save(ctx)
    return [id_reply(cursor), claimed, deleted]


def xgroup(ctx: Ctx, op: pb.XGroup):
    error = names_ok(op.group, op.consumer)
    if error:
        return error
    record, s = load(ctx, op.key)
    if s is None:
        return record
    if record is None and not (op.kind == pb.XGROUP_CREATE and op.mkstream):
        return invalid("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use "
                      "the MKSTREAM option to create an empty stream automatically.")
    group = s.group(op.group) if record is not None else None
    entries_read = op.entries_read if op.HasField("entries_read") else INVALID_ENTRIES_READ
    if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
        return invalid("value for ENTRIESREAD must be positive or -1")
    if op.kind == pb.XGROUP_CREATE:
        if group is not None:
            return CommandError("Consumer Group name already exists", Reason.BUSY_GROUP)
        s.put_group(op.group, Group(s.last_id if op.last else sid_of(op.id), entries_read))
        s.save(ctx)
        return OK
    if op.kind == pb.XGROUP_DESTROY:
        if group is None or not s.destroy_group(op.group):
            return 0
        s.save(ctx)
        return 1
    if group is None:
        return no_such_group(op.key, op.group)
    if op.kind == pb.XGROUP_SETID:
        group.last_id, group.entries_read = (s.last_id if op.last else sid_of(op.id)), entries_read
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


HANDLERS: dict[str, Callable[[Ctx, object], object]] = {
    "xreadgroup": xreadgroup,
    "xack": xack,
    "xpending": xpending,
    "xclaim": xclaim,
    "xautoclaim": xautoclaim,
    "xgroup": xgroup,
}
