"""A stream: its entries, nodes and consumer groups as item records of one container.

A stream is a STREAM record, always itemized (node/storage/keyspace/): its
value is the stream's header and every piece of it is its own item record
under the container id, so XADD, XDEL, XACK, a group read or a claim touch
O(1) records (O(log n) each) whatever the length:

    E | id                                   ->  node u64 | fields and values (containers.encode_items)
    N | node u64                             ->  live u64 | added u64 | last id   (Redis's listpack nodes)
    G | group                                ->  last delivered id | entries read i64 | pending u64 | consumers u64
    C | len u16 | group | consumer           ->  seen time i64 | active time i64 | pending u64
    P | len u16 | group | id                 ->  delivery time i64 | deliveries u64 | consumer
    Q | len u16 | group | len u16 | consumer | id  ->  b""   (a consumer's own pending list)

An id is (ms, seq), 16 bytes big-endian, so item order is id order; groups
and consumers come in name order, as Redis's radix trees give them.

Nodes model Redis's listpack nodes, which decide what approximate trimming
(`~`) removes: an entry joins the last node while that node has had fewer
than stream-node-max-entries entries added, and a node goes when its last
live entry goes; trimming removes whole nodes from the head (and, exactly,
entries inside one). Redis also closes a node at stream-node-max-bytes;
raftcache counts entries only.

The header: container id u64 | item records u64 | length u64 | last id |
max deleted id | entries added u64 | groups u64 | next node u64.

Must not import lmdb, grpc or time: handlers run inside apply.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator

from raftcache.node.storage import containers as c
from raftcache.node.storage.keyspace import ITEMIZED, Record

StreamId = tuple[int, int]
MIN_ID: StreamId = (0, 0)
MAX_ID: StreamId = ((1 << 64) - 1, (1 << 64) - 1)
#: XREAD's `+` (Redis 7.4: the stream's last entry) as an XRead command carries it: the reader
#: resolves it on the stream it reads, as Redis does (the stream's last id, less one). The
#: literal id it borrows can only ever precede MAX_ID, which no XADD can follow.
LAST_ENTRY_ID: StreamId = ((1 << 64) - 1, (1 << 64) - 2)
#: Longest group or consumer name: both go into item keys (at most 511 bytes with the id).
MAX_NAME_BYTES = 200
_ID = struct.Struct(">QQ")
_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")
_HEADER = struct.Struct(">QQQQQQQQQQ")   # cid, items, length, last (2), max deleted (2), added, groups, next node
_NODE = struct.Struct(">QQQQ")            # live, added, last id (2)
_GROUP = struct.Struct(">QQqQQ")          # last id (2), entries read, pending, consumers
_CONSUMER = struct.Struct(">qqQ")         # seen, active, pending
_NACK = struct.Struct(">qQ")              # delivery time, deliveries (+ consumer name)
INVALID_ENTRIES_READ = -1                 # Redis's SCG_INVALID_ENTRIES_READ


def encode_id(sid: StreamId) -> bytes:
    return _ID.pack(*sid)


def decode_id(data: bytes, offset: int = 0) -> StreamId:
    return _ID.unpack_from(data, offset)


def id_text(sid: StreamId) -> bytes:
    return b"%d-%d" % sid


def incr(sid: StreamId) -> StreamId | None:
    """The next id, None past the last possible one (streamIncrID)."""
    ms, seq = sid
    if seq < MAX_ID[1]:
        return ms, seq + 1
    return None if ms == MAX_ID[0] else (ms + 1, 0)


def decr(sid: StreamId) -> StreamId | None:
    """The previous id, None before 0-0 (streamDecrID)."""
    ms, seq = sid
    if seq:
        return ms, seq - 1
    return None if ms == 0 else (ms - 1, MAX_ID[1])


def _after(prefix: bytes) -> bytes:
    """The first key after every key starting with `prefix` (b"" when there is none)."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes((stripped[-1] + 1,)) if stripped else b""


def _name(name: bytes) -> bytes:
    return _U16.pack(len(name)) + name


@dataclasses.dataclass(slots=True)
class Group:
    last_id: StreamId
    entries_read: int
    pending: int = 0
    consumers: int = 0


@dataclasses.dataclass(slots=True)
class Consumer:
    seen: int
    active: int = -1
    pending: int = 0


@dataclasses.dataclass(slots=True)
class Nack:
    delivery_time: int
    deliveries: int
    consumer: bytes


class Stream:
    """One stream at (db, key); change it through the methods, then save()."""

    def __init__(self, txn, db: int, key: bytes, record: Record | None):
        self.txn, self.db, self.key, self.record = txn, db, key, record
        if record is None:
            self.cid = 0
            self.items = self.length = self.entries_added = self.groups = self.next_node = 0
            self.last_id = self.max_deleted = MIN_ID
        else:
            (self.cid, self.items, self.length, lm, ls, dm, ds, self.entries_added, self.groups,
             self.next_node) = _HEADER.unpack_from(record.value)
            self.last_id, self.max_deleted = (lm, ls), (dm, ds)

    @property
    def exists(self) -> bool:
        return self.record is not None or self.cid != 0

    def save(self, ctx) -> None:
        """Write the header (creating the key if needed), keeping the key's expiry."""
        if not self.cid:
            self.cid = self.txn.new_container_id()
        value = _HEADER.pack(self.cid, self.items, self.length, *self.last_id, *self.max_deleted,
                             self.entries_added, self.groups, self.next_node)
        self.record = c.store(self.txn, self.db, self.key, "STREAM", value, ctx, self.record, ITEMIZED)

    # -- item records (counted in the header: check_items compares the count)
    def _get(self, ikey: bytes) -> bytes | None:
        return self.txn.item_get(self.cid, ikey) if self.cid else None

    def _put(self, ikey: bytes, value: bytes) -> None:
        if not self.cid:
            self.cid = self.txn.new_container_id()
        if self.txn.item_put(self.cid, ikey, value):
            self.items += 1

    def _delete(self, ikey: bytes) -> bool:
        if self.cid and self.txn.item_delete(self.cid, ikey):
            self.items -= 1
            return True
        return False

    def _scan(self, prefix: bytes, start: bytes = b"", reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """(item key without `prefix`, value) of the items under `prefix`, from `start`."""
        if not self.cid:
            return
        if reverse and not start:
            probe = _after(prefix)
            for ikey, value in self.txn.items(self.cid, probe, reverse=True):
                if ikey == probe:
                    continue
                if not ikey.startswith(prefix):
                    return
                yield ikey[len(prefix):], value
            return
        for ikey, value in self.txn.items(self.cid, prefix + start, reverse=reverse):
            if not ikey.startswith(prefix):
                return
            yield ikey[len(prefix):], value

    # -- entries
    def entry(self, sid: StreamId) -> list[bytes] | None:
        raw = self._get(b"E" + encode_id(sid))
        return None if raw is None else c.decode_items(raw[8:])

    def entries(self, start: StreamId = MIN_ID, end: StreamId = MAX_ID, rev: bool = False):
        """(id, [field, value, …]) from start to end inclusive, in id order (or reversed)."""
        if rev:
            scan = self._scan(b"E", encode_id(end), reverse=True)
        else:
            scan = self._scan(b"E", encode_id(start))
        for ikey, raw in scan:
            sid = decode_id(ikey)
            if (sid < start) if rev else (sid > end):
                return
            if rev and sid > end:
                continue
            yield sid, c.decode_items(raw[8:])

    def first_entry_id(self) -> StreamId | None:
        return next((decode_id(k) for k, _ in self._scan(b"E")), None)

    def last_entry_id(self) -> StreamId | None:
        return next((decode_id(k) for k, _ in self._scan(b"E", reverse=True)), None)

    def next_id(self, now_ms: int) -> StreamId | None:
        """streamNextID: the clock's millisecond, or the last id's successor."""
        if now_ms > self.last_id[0]:
            return now_ms, 0
        return incr(self.last_id)

    def append(self, sid: StreamId, fields: list[bytes], node_max_entries: int) -> None:
        """Add an entry (the caller checked sid > last_id) to the tail node or a new one."""
        tail = next(self._scan(b"N", reverse=True), None)
        node = None
        if tail is not None:
            live, added, _, _ = _NODE.unpack(tail[1])
            if not node_max_entries or added < node_max_entries:
                node = _U64.unpack(tail[0])[0]
        if node is None:
            node, live, added = self.next_node, 0, 0
            self.next_node += 1
        self._put(b"N" + _U64.pack(node), _NODE.pack(live + 1, added + 1, *sid))
        self._put(b"E" + encode_id(sid), _U64.pack(node) + c.encode_items(fields))
        self.length += 1
        self.entries_added += 1
        self.last_id = sid

    def delete(self, sid: StreamId) -> bool:
        """Remove one entry; its node goes with its last live entry (streamIteratorRemoveEntry)."""
        raw = self._get(b"E" + encode_id(sid))
        if raw is None:
            return False
        self._delete(b"E" + encode_id(sid))
        self._drop_from_node(raw[:8])
        self.length -= 1
        return True

    def _drop_from_node(self, node_key: bytes) -> None:
        raw = self._get(b"N" + node_key)
        live, added, lm, ls = _NODE.unpack(raw)
        if live <= 1:
            self._delete(b"N" + node_key)
        else:
            self._put(b"N" + node_key, _NODE.pack(live - 1, added, lm, ls))

    def trim(self, maxlen: int | None, minid: StreamId | None, approx: bool, limit: int) -> int:
        """streamTrim: remove entries from the head while the stream is longer than maxlen
        (or its ids below minid). Whole nodes go first; with `approx` only whole nodes;
        `limit` (0: none) caps the entries removed. Returns how many were removed."""
        deleted = 0
        while True:
            head = next(self._scan(b"N"), None)   # the head node (the one before it is gone)
            if head is None or (maxlen is not None and self.length <= maxlen):
                break
            node_key, raw = head
            live, _, lm, ls = _NODE.unpack(raw)
            if limit and deleted + live > limit:
                break
            whole = (self.length - live >= maxlen) if maxlen is not None else (lm, ls) < minid
            if not whole and approx:
                break
            for sid, _ in list(self._node_entries(node_key)):
                if not whole and (self.length <= maxlen if maxlen is not None else sid >= minid):
                    break
                self.delete(sid)
                deleted += 1
            if not whole:
                break
            self._delete(b"N" + node_key)   # gone with its last entry; never left behind
        return deleted

    def _node_entries(self, node_key: bytes):
        for ikey, raw in self._scan(b"E"):
            if raw[:8] != node_key:
                return
            yield decode_id(ikey), raw

    def node_count(self) -> int:
        return sum(1 for _ in self._scan(b"N"))

    # -- consumer groups
    def group(self, name: bytes) -> Group | None:
        raw = self._get(b"G" + name)
        if raw is None:
            return None
        lm, ls, read, pending, consumers = _GROUP.unpack(raw)
        return Group((lm, ls), read, pending, consumers)

    def put_group(self, name: bytes, group: Group) -> None:
        if self._get(b"G" + name) is None:
            self.groups += 1
        self._put(b"G" + name, _GROUP.pack(*group.last_id, group.entries_read, group.pending, group.consumers))

    def group_names(self) -> list[bytes]:
        return [name for name, _ in self._scan(b"G")]

    def destroy_group(self, name: bytes) -> bool:
        if not self._delete(b"G" + name):
            return False
        self.groups -= 1
        for prefix in (b"C", b"P", b"Q"):
            for rest, _ in list(self._scan(prefix + _name(name))):
                self._delete(prefix + _name(name) + rest)
        return True

    def consumer(self, group: bytes, name: bytes) -> Consumer | None:
        raw = self._get(b"C" + _name(group) + name)
        return None if raw is None else Consumer(*_CONSUMER.unpack(raw))

    def put_consumer(self, group: bytes, name: bytes, consumer: Consumer) -> None:
        self._put(b"C" + _name(group) + name, _CONSUMER.pack(consumer.seen, consumer.active, consumer.pending))

    def consumers(self, group: bytes) -> list[tuple[bytes, Consumer]]:
        return [(name, Consumer(*_CONSUMER.unpack(raw))) for name, raw in self._scan(b"C" + _name(group))]

    def delete_consumer(self, group: bytes, name: bytes) -> int:
        """Remove a consumer and its pending entries; returns how many it had."""
        pending = [decode_id(rest) for rest, _ in self._scan(b"Q" + _name(group) + _name(name))]
        for sid in pending:
            self._delete(b"Q" + _name(group) + _name(name) + encode_id(sid))
            self._delete(b"P" + _name(group) + encode_id(sid))
        self._delete(b"C" + _name(group) + name)
        return len(pending)

    # -- pending entries (a group's and each consumer's)
    def nack(self, group: bytes, sid: StreamId) -> Nack | None:
        raw = self._get(b"P" + _name(group) + encode_id(sid))
        if raw is None:
            return None
        time_ms, deliveries = _NACK.unpack_from(raw)
        return Nack(time_ms, deliveries, raw[_NACK.size:])

    def put_nack(self, group: bytes, sid: StreamId, nack: Nack) -> None:
        self._put(b"P" + _name(group) + encode_id(sid), _NACK.pack(nack.delivery_time, nack.deliveries) + nack.consumer)
        self._put(b"Q" + _name(group) + _name(nack.consumer) + encode_id(sid), b"")

    def drop_nack(self, group: bytes, sid: StreamId, consumer: bytes) -> None:
        self._delete(b"P" + _name(group) + encode_id(sid))
        self._delete(b"Q" + _name(group) + _name(consumer) + encode_id(sid))

    def pending(self, group: bytes, start: StreamId = MIN_ID, end: StreamId = MAX_ID,
                consumer: bytes | None = None) -> Iterator[tuple[StreamId, Nack]]:
        """(id, Nack) of the group's pending entries (or one consumer's) from start to end."""
        if consumer is None:
            for rest, raw in self._scan(b"P" + _name(group), encode_id(start)):
                sid = decode_id(rest)
                if sid > end:
                    return
                time_ms, deliveries = _NACK.unpack_from(raw)
                yield sid, Nack(time_ms, deliveries, raw[_NACK.size:])
            return
        for rest, _ in self._scan(b"Q" + _name(group) + _name(consumer), encode_id(start)):
            sid = decode_id(rest)
            if sid > end:
                return
            yield sid, self.nack(group, sid)

    def last_pending(self, group: bytes) -> StreamId | None:
        return next((decode_id(rest) for rest, _ in self._scan(b"P" + _name(group), reverse=True)), None)

    # -- counters of a group's progress (Redis 7's entries-read and lag)
    def has_tombstones(self, start: StreamId | None) -> bool:
        """streamRangeHasTombstones(start, +): a deleted id at or after `start`."""
        if not self.length or self.max_deleted == MIN_ID:
            return False
        first = self.first_entry_id() or MIN_ID
        if first > self.max_deleted:
            return False
        return (start or MIN_ID) <= self.max_deleted

    def estimate_read(self, sid: StreamId) -> int:
        """streamEstimateDistanceFromFirstEverEntry: the read counter of `sid`, or
        INVALID_ENTRIES_READ when it cannot be known."""
        if not self.entries_added:
            return 0
        if not self.length and sid <= self.last_id:
            return self.entries_added
        if sid == self.last_id:
            return self.entries_added
        if sid > self.last_id:
            return INVALID_ENTRIES_READ
        first = self.first_entry_id() or MIN_ID
        if self.max_deleted == MIN_ID or self.max_deleted < first:
            if sid < first:
                return self.entries_added - self.length
            if sid == first:
                return self.entries_added - self.length + 1
        return INVALID_ENTRIES_READ

    def lag(self, group: Group) -> int | None:
        """A group's lag (entries not yet delivered), None when it cannot be known."""
        if not self.entries_added:
            return 0
        if group.entries_read != INVALID_ENTRIES_READ and not self.has_tombstones(group.last_id):
            return self.entries_added - group.entries_read
        read = self.estimate_read(group.last_id)
        return None if read == INVALID_ENTRIES_READ else self.entries_added - read


def load(txn, db: int, key: bytes, ctx):
    """(record, Stream) of the stream at key (record None when absent; the Stream is empty);
    (CommandError, None) when the key holds another type."""
    record = c.load(txn, db, key, ctx, "STREAM")
    if record is not None and not isinstance(record, Record):
        return record, None
    return record, Stream(txn, db, key, record)
