"""The keyspace: the LMDB environment and everything stored in it.

This is the only module that imports lmdb. It owns the environment, its
four sub-databases and their byte layouts, the logical memory accounting
and the snapshot file format (a compacted LMDB image). It knows nothing of
commands, Raft, sockets or clocks: every time it sees is a `now_ms` handed
in by the caller, so the state machine above it stays deterministic.

Layout (all integers big-endian):

    data    db u16 | crc32(key) u32 | key  ->  type u8 | expires_at_ms u64 | index u64 | flags u32 | value
            (a string's type byte also holds its memcached item state in bits 6-7: ITEM_STALE, ITEM_WIN_SENT)
    expiry  deadline u64 | db u16 | key    ->  b""            (deadline index for active expiry)
    fexpiry deadline u64 | db u16 | key    ->  b""            (a hash's earliest field deadline: active field expiry)
    items   container id u64 | item key    ->  item value    (elements of a large container)
    meta    b"applied_index" -> u64;  b"used_bytes" -> u64;  b"keys/" db u16 -> u64;
            b"restored_from_index" -> u64  (only in a keyspace seeded from a backup);
            b"old_log_indexes_upto" -> u64 (the same, the highest of a chain of restores);
            b"t/" name -> bytes       (small state-machine tables: meta_get / meta_put);
            b"next_container_id" -> u64;
            b"watch_floor" -> u64;  b"flushed/" db u16 -> u64  (WATCH: see below)
    gone    db u16 | crc32(key) u32 | key  ->  u64   (WATCH: the last index at which a deleted key existed)

WATCH (docs/design.md, "Transactions"): a record's index changes with every write,
so a watched key that exists is checked by its index alone. A key absent when it
was watched needs to know whether it existed at any point since: while the state
machine turns `watch_tracking` on (log semantics version 6), every deletion writes
the index of the key's last existence to `gone` (the deleting entry's index for a
live key, the record's own index for one already expired), a flush records per
database the newest record index it removed (`flushed/`; from log version 14 an
eviction of a record written long before does the same, `WriteTxn.evict`), and `gone` is bounded:
past GONE_LIMIT entries it is emptied and `watch_floor` moves to the current index
(a transaction watching an absent key since before the floor aborts).

A container (hash, list, set, sorted set) is stored one of two ways (a stream,
node/storage/stream.py, always the second, its header in the record). Small,
it is one record whose value encodes every element (node/storage/containers.py).
Large, it is "itemized": its record's flags hold ITEMIZED and its value is
`container id u64 | element count u64` (a list adds its head position), and
each element is its own record in `items` under that id (node/storage/itemview.py,
itemmap.py, itemlist.py, itemzset.py), so a write costs O(log n). The id stays
with the record when the key is renamed, moved or swapped to another
database; deleting or overwriting the record deletes its items; a copy gets
a new id and copies of the items.

A hash whose fields have deadlines (HEXPIRE, log semantics version 9) carries
FIELD_TTLS in its record's flags and ends its value with a u64 lower bound of
its fields' deadlines (node/storage/itemmap.py owns the rest of that layout);
put/delete/flush keep `fexpiry` in step with that bound, as `expiry` with the
key's own deadline, so the leader finds the hashes with fields to expire.

Keys are ordered by a hash prefix within a database so that a SCAN cursor is
simply "the next hash value + 1": a batch never ends inside one hash value,
so a key present for the whole scan is returned at least once (Redis's
guarantee) whatever is inserted or deleted meanwhile.

The environment runs without per-commit fsync (the Raft log rebuilds it);
`applied_index` is committed in the same transaction as the data it covers
(docs/design.md invariant 3). Snapshots written by `copy_to` are fsynced.
"""

from __future__ import annotations

import enum
import itertools
import os
import shutil
import struct
import threading
import zlib
from collections.abc import Container
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

import lmdb

from raftcache.node import pulse
from raftcache.node.config import MAX_KEY_BYTES_LIMIT, KeyspaceConfig
from raftcache.node.storage.glob import glob_match

#: Logical bytes charged per key on top of len(key) + len(value): the record
#: header, the key prefixes and the deadline index entry, rounded up. Part of
#: the replicated state (it decides OOM replies): never change it without a
#: log format bump, or replicas of two versions would disagree.
RECORD_OVERHEAD_BYTES = 64

_HEADER = struct.Struct(">BQQI")      # type, expires_at_ms, index, flags
_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")
_HASH = struct.Struct(">I")
_DB_HASH = struct.Struct(">HI")        # a data key's prefix: database, key_hash
_TYPE_EXPIRY = struct.Struct(">BQ")    # the start of _HEADER: what a GET looks at
_MAX_U64 = (1 << 64) - 1
_APPLIED = b"applied_index"
_USED = b"used_bytes"
_KEYS = b"keys/"
_EXPIRES = b"expires/"                   # + db: how many of its keys have a deadline
_EXPIRES_COUNTED = b"expires_counted"     # set once the expires/ counters exist (older data: counted at open)
_TABLE = b"t/"
_NEXT_CONTAINER_ID = b"next_container_id"
_RESTORED_FROM = b"restored_from_index"
#: The highest log index a record may carry from an earlier cluster's log (a backup seeding a
#: cluster itself seeded from a backup keeps the older one's indexes too); absent: restored_from_index.
_OLD_LOG_INDEXES = b"old_log_indexes_upto"
_WATCH_FLOOR = b"watch_floor"
_FLUSHED = b"flushed/"                    # + db: the newest record index its flushes (and quiet evictions) removed
#: Most entries of the `gone` table; reaching it empties the table and raises the watch floor.
GONE_LIMIT = 100_000   # set by rebase_copy: the backup's applied index
_SNAPSHOT_FILE = "data.mdb"


class ValueType(enum.IntEnum):
    STRING = 1
    HASH = 2
    LIST = 3
    SET = 4
    ZSET = 5
    STREAM = 6        # always itemized: node/storage/stream.py


#: Record.flags of an itemized container (elements in the items database).
ITEMIZED = 1
#: Record.state bits of a string: memcached's item state (meta protocol), kept in the
#: top two bits of the stored type byte. Stale: invalidated (md I), served with X.
ITEM_STALE = 1
#: A recache win (W) was handed out for this item: others get Z until it is replaced.
ITEM_WIN_SENT = 2
_STATE_SHIFT = 6
_TYPE_MASK = (1 << _STATE_SHIFT) - 1
#: Logical bytes charged per container element stored as its own record, on top of
#: len(item key) + len(item value). Replicated state, as RECORD_OVERHEAD_BYTES.
ITEM_OVERHEAD_BYTES = 16
_CONTAINER = struct.Struct(">QQ")     # container id, element count
#: Record.flags of a hash whose fields may have deadlines: its value ends with the
#: u64 field-deadline bound indexed in `fexpiry` (see the module docstring).
FIELD_TTLS = 2


class Record(NamedTuple):
    """One stored value with its header (a named tuple: built on every read)."""

    type: ValueType
    value: bytes
    expires_at_ms: int = 0    # absolute Unix ms; 0 = no expiry
    index: int = 0            # log index that last wrote the value (memcached CAS unique)
    flags: int = 0            # u32 memcached client flags; 0 for everything else
    state: int = 0            # a string's memcached item state: ITEM_STALE | ITEM_WIN_SENT


class Sample(NamedTuple):
    """A key found by sampling (eviction): where it is, its logical size and header."""

    db: int
    key: bytes
    size: int                 # logical bytes deleting it frees (an itemized container's items estimated)
    expires_at_ms: int
    index: int


_VALUE_TYPES = {t.value: t for t in ValueType}
_STRING = int(ValueType.STRING)
_HASH_TYPE = int(ValueType.HASH)
_HEADER_SIZE = _HEADER.size


@dataclass(frozen=True, slots=True)
class KeyspaceStats:
    keys: list[int]           # keys per database (expired keys not yet deleted included, as Redis's DBSIZE)
    used_bytes: int           # logical size: sum of len(key) + len(value) + RECORD_OVERHEAD_BYTES
    maxmemory_bytes: int
    applied_index: int
    expires: list[int] = field(default_factory=list)  # keys with a deadline, per database


class KeyspaceFullError(RuntimeError):
    """The LMDB map filled up. Fatal: the entry cannot be applied, the node must stop."""


#: LMDB errors that a command's own data can cause (the same on every replica).
_COMMAND_LMDB_ERRORS = (lmdb.BadValsizeError, lmdb.KeyExistsError, lmdb.NotFoundError)


def is_environment_error(exc: BaseException) -> bool:
    """True when `exc` is a fault of this node's machine (storage full or failing, out
    of memory), which another replica need not meet, rather than of the command."""
    if isinstance(exc, lmdb.Error):
        return not isinstance(exc, _COMMAND_LMDB_ERRORS)
    return isinstance(exc, (KeyspaceFullError, MemoryError, OSError))


def record_bytes(key: bytes, value_len: int) -> int:
    """Logical size charged for one key holding a value of `value_len` bytes."""
    return len(key) + value_len + RECORD_OVERHEAD_BYTES


def key_hash(key: bytes) -> int:
    """The 32-bit hash that orders keys within a database (and SCAN cursors)."""
    return zlib.crc32(key) & 0xFFFFFFFF


def _data_key(db: int, key: bytes) -> bytes:
    return _DB_HASH.pack(db, key_hash(key)) + key


def _expiry_key(deadline_ms: int, db: int, key: bytes) -> bytes:
    return _U64.pack(deadline_ms) + _U16.pack(db) + key


def is_string(raw: bytes) -> bool:
    """Whether a stored record (header and value, as stored, or its header) holds a string."""
    return raw[0] & _TYPE_MASK == ValueType.STRING


def is_itemized(record: Record) -> bool:
    return record.type != ValueType.STRING and bool(record.flags & ITEMIZED)


def container_ref(record: Record) -> tuple[int, int]:
    """(container id, element count) of an itemized container record."""
    return _CONTAINER.unpack_from(record.value)


def container_value(cid: int, count: int) -> bytes:
    return _CONTAINER.pack(cid, count)


def _itemized_id(raw: bytes, vtype: int, flags: int) -> int:
    """The container id of a stored raw record whose header holds `vtype` and `flags`,
    0 when it is not an itemized container."""
    if vtype & _TYPE_MASK == ValueType.STRING or not flags & ITEMIZED:
        return 0
    return _U64.unpack_from(raw, _HEADER.size)[0]


def _field_bound(raw: bytes | None) -> int:
    """The field-deadline bound of a stored raw record, 0 when it is not a hash with FIELD_TTLS."""
    if raw is None:
        return 0
    vtype, _, _, flags = _HEADER.unpack_from(raw)
    if vtype & _TYPE_MASK != ValueType.HASH or not flags & FIELD_TTLS or len(raw) < _HEADER.size + _U64.size:
        return 0
    return _U64.unpack_from(raw, len(raw) - _U64.size)[0]


def _raw_itemized_id(raw: bytes) -> int:
    vtype, _, _, flags = _HEADER.unpack_from(raw)
    return _itemized_id(raw, vtype, flags)


def _item_key(cid: int, ikey: bytes) -> bytes:
    return _U64.pack(cid) + ikey


def item_bytes(ikey: bytes, value_len: int) -> int:
    """Logical size charged for one element stored as its own record."""
    return len(ikey) + value_len + ITEM_OVERHEAD_BYTES


def _decode(raw: bytes) -> Record:
    vtype, expires_at_ms, index, flags = _HEADER.unpack_from(raw)
    return Record(_VALUE_TYPES[vtype & _TYPE_MASK], raw[_HEADER.size:], expires_at_ms, index, flags,
                  vtype >> _STATE_SHIFT)


#: Logical bytes assumed per element of an itemized container when sampling
#: (its items are not read): an estimate only the leader's eviction choice uses.
_SAMPLED_ITEM_BYTES = 32


def _sample(db: int, key: bytes, raw: bytes) -> Sample:
    vtype, expires_at_ms, index, flags = _HEADER.unpack_from(raw)
    size = record_bytes(key, len(raw) - _HEADER.size)
    if _itemized_id(raw, vtype, flags):
        size += _CONTAINER.unpack_from(raw, _HEADER.size)[1] * _SAMPLED_ITEM_BYTES
    return Sample(db, key, size, expires_at_ms, index)


class ReadTxn:
    """A consistent read view of the keyspace. Valid only inside `Keyspace.reader()`."""

    def __init__(self, keyspace: "Keyspace", txn: lmdb.Transaction):
        self._ks = keyspace
        self._txn = txn
        #: What was read so far (what a script's reads cost: its budget, node/scripting/engine.py):
        #: the bytes of the records and items read, and the reads in units of ~0.4 µs of Python's
        #: work: a record or an item looked up counts 2, a record or an item stepped over one by
        #: one (scan, items) 1, eight items read in one run by the cursor in C (item_keys,
        #: item_pairs, item_values) 1.
        self.bytes_read = 0
        self.reads = 0

    def applied_index(self) -> int:
        """The log index this transaction's view of the data reflects."""
        raw = self._txn.get(_APPLIED, db=self._ks._meta)
        return 0 if raw is None else _U64.unpack(raw)[0]

    def _raw(self, db: int, key: bytes) -> Record | None:
        raw = self._txn.get(_data_key(db, key), db=self._ks._data)
        self.reads += 2
        if raw is None:
            return None
        self.bytes_read += len(raw)
        return _decode(raw)

    def get(self, db: int, key: bytes, now_ms: int) -> Record | None:
        """The record at `key`, or None when it is absent or expired at `now_ms`.

        Counts a keyspace hit or miss (Redis's keyspace_hits/misses): this is a read command's lookup.
        """
        record = _live(self._raw(db, key), now_ms)
        if record is None:
            self._ks.misses += 1
        else:
            self._ks.hits += 1
        return record

    def string_values(self, db: int, keys: list[bytes], now_ms: int) -> list:
        """GET's lookups of `keys`, in one pass without a Record each: a live string's value,
        None when the key is absent or expired at `now_ms`, or the ValueType of a key that
        holds something else. Counts hits and misses as `get` does."""
        get, data = self._txn.get, self._ks._data
        pack_prefix, crc32 = _DB_HASH.pack, zlib.crc32
        unpack_header = _TYPE_EXPIRY.unpack_from
        out = []
        hits = 0
        for key in keys:
            raw = get(pack_prefix(db, crc32(key)) + key, None, data)   # _data_key, inlined (crc32 is unsigned)
            if raw is None:
                out.append(None)
                continue
            vtype, expires_at_ms = unpack_header(raw)
            if expires_at_ms and expires_at_ms <= now_ms:
                out.append(None)
                continue
            hits += 1
            vtype &= _TYPE_MASK
            out.append(raw[_HEADER_SIZE:] if vtype == _STRING else _VALUE_TYPES[vtype])
        self._ks.hits += hits
        self._ks.misses += len(keys) - hits
        return out

    def get_raw(self, db: int, key: bytes) -> Record | None:
        """The stored record even when expired (active expiry and tests)."""
        return self._raw(db, key)

    def stored_record(self, db: int, key: bytes) -> bytes | None:
        """The record stored at `key` as stored (header and value), expired or not; None when absent."""
        return self._txn.get(_data_key(db, key), db=self._ks._data)

    def stored_header(self, db: int, key: bytes) -> bytes:
        """The header of the record stored at `key` (type and item state, deadline, log index,
        flags), expired or not; b"" when none: what a script's logged effects are guarded by
        (node/scripting/effects.py; every change of a value stamps its entry's index, and a
        memcached touch, which keeps the index, changes the deadline)."""
        raw = self._txn.get(_data_key(db, key), db=self._ks._data)
        return b"" if raw is None else raw[:_HEADER.size]

    def old_log_indexes(self) -> int:
        """The highest log index a record may carry from the log of a cluster whose backup seeded
        this one (0: none; rebase_copy): until the log passes it, one index may name two records."""
        return self._ks.old_log_indexes

    def scan(self, db: int, cursor: int, count: int, now_ms: int, match: bytes = b"",
             type: ValueType | None = None) -> tuple[int, list[bytes]]:
        """One SCAN step: (next cursor, keys). Cursor 0 starts; a returned 0 means done.

        Visits at least `count` stored keys (matching or not, as Redis does),
        then finishes the hash value it is in. Expired keys are skipped.
        """
        if cursor < 0 or cursor > 1 << 32:
            return 0, []
        count = max(count, 1)
        use_match = bool(match) and match != b"*"
        prefix = _U16.pack(db)
        start = prefix + _HASH.pack(max(cursor - 1, 0))
        keys: list[bytes] = []
        visited = read = 0
        current_hash = -1
        # A read walks a view of its own that hands out records in place (buffers): only their
        # headers are read, where the read's own view would copy every value (a SCAN or KEYS over
        # large values copied them all: ~0.1 ms per MB); only when it sees the read's snapshot
        # (nothing committed since: with Raft on its own thread an apply may have). A write walks
        # its own transaction (it must see its own writes) and copies them.
        txn = self._txn
        in_place = False
        if self.__class__ is ReadTxn:   # (`type` is the filter here)
            view = self._ks._env.begin(buffers=True)
            if view.id() == txn.id():
                txn, in_place = view, True
            else:
                view.abort()
        try:
            with txn.cursor(db=self._ks._data) as cur:
                if not cur.set_range(start):
                    return 0, []
                for data_key, raw in cur:
                    if data_key[:2] != prefix:
                        return 0, keys
                    h = _HASH.unpack_from(data_key, 2)[0]
                    if visited >= count and h != current_hash:
                        return h + 1, keys
                    current_hash = h
                    visited += 1
                    if not visited & pulse.MASK:
                        pulse.beat()   # KEYS over millions of keys: the leader's heartbeats go on
                    if in_place:
                        key = bytes(data_key[6:])
                    else:
                        read += len(raw)
                        key = data_key[6:]
                    vtype, expires_at_ms, _, _ = _HEADER.unpack_from(raw)
                    if expires_at_ms and expires_at_ms <= now_ms:
                        continue
                    if type is not None and vtype & _TYPE_MASK != type:
                        continue
                    if use_match and not glob_match(match, key):
                        continue
                    keys.append(key)
            return 0, keys
        finally:
            if in_place:
                txn.abort()
            self.reads += visited
            self.bytes_read += read

    def db_size(self, db: int) -> int:
        """Keys stored in `db`, counting expired keys not yet deleted (as Redis's DBSIZE)."""
        raw = self._txn.get(_KEYS + _U16.pack(db), db=self._ks._meta)
        return 0 if raw is None else _U64.unpack(raw)[0]

    def used_bytes(self) -> int:
        raw = self._txn.get(_USED, db=self._ks._meta)
        return 0 if raw is None else _U64.unpack(raw)[0]

    def expires(self, db: int) -> int:
        """Keys of `db` with a deadline (INFO keyspace's expires=), expired ones not yet deleted included."""
        raw = self._txn.get(_EXPIRES + _U16.pack(db), db=self._ks._meta)
        return 0 if raw is None else _U64.unpack(raw)[0]

    def expired(self, now_ms: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` (db, key) whose deadline is <= now_ms, earliest first."""
        out: list[tuple[int, bytes]] = []
        if limit <= 0 or now_ms <= 0:
            return out
        with self._txn.cursor(db=self._ks._expiry) as cur:
            if not cur.first():
                return out
            for ekey in cur.iternext(keys=True, values=False):
                if _U64.unpack_from(ekey)[0] > now_ms or len(out) >= limit:
                    break
                out.append((_U16.unpack_from(ekey, 8)[0], ekey[10:]))
        return out

    def fields_expiring(self, now_ms: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` (db, key) of hashes whose field-deadline bound is <= now_ms, earliest first."""
        out: list[tuple[int, bytes]] = []
        if limit <= 0 or now_ms <= 0:
            return out
        with self._txn.cursor(db=self._ks._fexpiry) as cur:
            if not cur.first():
                return out
            for ekey in cur.iternext(keys=True, values=False):
                if _U64.unpack_from(ekey)[0] > now_ms or len(out) >= limit:
                    break
                out.append((_U16.unpack_from(ekey, 8)[0], ekey[10:]))
        return out

    # -- sampling (the leader's eviction choice: node/service/evictor.py)
    def sample(self, db: int, start_hash: int, count: int) -> list[Sample]:
        """Up to `count` keys of `db` in key-hash order from `start_hash` (a random
        start makes them random keys), wrapping round to the database's first key."""
        prefix = _U16.pack(db)
        out: list[Sample] = []
        with self._txn.cursor(db=self._ks._data) as cur:
            for start in (prefix + _HASH.pack(start_hash & 0xFFFFFFFF), prefix):
                if not cur.set_range(start):
                    continue
                for data_key, raw in cur:
                    if data_key[:2] != prefix or len(out) >= count or (out and data_key[6:] == out[0].key):
                        break
                    out.append(_sample(db, data_key[6:], raw))
                if len(out) >= count or start_hash == 0:
                    break
        return out

    def sample_key(self, db: int, key: bytes) -> Sample | None:
        """`key` as sampling sees it (expired or not), None when absent."""
        raw = self._txn.get(_data_key(db, key), db=self._ks._data)
        return None if raw is None else _sample(db, key, raw)

    def holds_key(self, db: int, key: bytes) -> bool:
        """Whether `key` is stored (expired or not)."""
        return self._txn.get(_data_key(db, key), db=self._ks._data) is not None

    def sample_from(self, db: int, start_hash: int, count: int) -> tuple[list[Sample], int | None]:
        """Up to `count` keys of `db` in key-hash order from `start_hash`, never wrapping; and
        the hash to go on from, None when the database has no more. Keys sharing a hash
        all come in one call (it may return a few more than `count`)."""
        prefix = _U16.pack(db)
        out: list[Sample] = []
        last = None
        with self._txn.cursor(db=self._ks._data) as cur:
            if not cur.set_range(prefix + _HASH.pack(start_hash & 0xFFFFFFFF)):
                return out, None
            for data_key, raw in cur:
                if data_key[:2] != prefix:
                    return out, None
                h = data_key[2:6]
                if len(out) >= count and h != last:
                    following = _HASH.unpack(h)[0]
                    return out, following
                last = h
                out.append(_sample(db, data_key[6:], raw))
        return out, None

    def deadline_bounds(self) -> tuple[int, int] | None:
        """(earliest, latest) deadline of any key with one, None when no key has one."""
        with self._txn.cursor(db=self._ks._expiry) as cur:
            if not cur.first():
                return None
            first = _U64.unpack_from(cur.key())[0]
            cur.last()
            return first, _U64.unpack_from(cur.key())[0]

    def sample_expiring(self, from_deadline: int, count: int, wrap: bool = True) -> list[Sample]:
        """Up to `count` keys with a deadline, in deadline order from `from_deadline`
        (0: the nearest deadlines first), wrapping round to the earliest (unless not `wrap`)."""
        out: list[Sample] = []
        seen: set[bytes] = set()
        data = self._ks._data
        with self._txn.cursor(db=self._ks._expiry) as cur:
            for start in (_U64.pack(max(from_deadline, 0)), b""):
                if not (cur.set_range(start) if start else cur.first()):
                    continue
                for ekey in cur.iternext(keys=True, values=False):
                    if len(out) >= count or ekey in seen:
                        break
                    seen.add(ekey)
                    db, key = _U16.unpack_from(ekey, 8)[0], ekey[10:]
                    raw = self._txn.get(_data_key(db, key), db=data)
                    if raw is not None:
                        out.append(_sample(db, key, raw))
                if len(out) >= count or from_deadline <= 0 or not wrap:
                    break
        return out

    # -- container items
    def item_get(self, cid: int, ikey: bytes) -> bytes | None:
        """One element of itemized container `cid`, or None."""
        value = self._txn.get(_item_key(cid, ikey), db=self._ks._items)
        self.reads += 2
        if value is not None:
            self.bytes_read += len(value)
        return value

    def items(self, cid: int, start: bytes = b"", reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """(item key, value) of container `cid` in item-key order, from the first
        key >= `start` (reverse: from the last key <= `start`, or the last when
        `start` is empty). Do not write to the container while iterating."""
        prefix = _U64.pack(cid)
        skip = len(prefix)
        with self._txn.cursor(db=self._ks._items) as cur:
            if not reverse:
                if cur.set_range(prefix + start):
                    for k, value in cur.iternext():   # (key, value) pairs made in C
                        if k[:skip] != prefix:
                            return
                        self.reads += 1
                        if not self.reads & pulse.MASK:
                            pulse.beat()   # a long read: the leader's heartbeats go on
                        self.bytes_read += len(value)
                        yield k[skip:], value
                return
            probe = prefix + start if start else _U64.pack(cid + 1)
            found = cur.set_range(probe)
            if not found:
                found = cur.last()
            elif not start or cur.key() != probe:
                found = cur.prev()
            if found:
                for k, value in cur.iterprev():   # from the current pair backwards, made in C
                    if k[:skip] != prefix:
                        return
                    self.reads += 1
                    if not self.reads & pulse.MASK:
                        pulse.beat()
                    self.bytes_read += len(value)
                    yield k[skip:], value

    def item_keys(self, cid: int, strip: int = 0) -> list[bytes]:
        """The item keys of container `cid`, in order, without their first `strip` bytes; their
        values not read (a set's members)."""
        return self._item_run(cid, strip, False)

    def item_pairs(self, cid: int, strip: int = 0) -> list[tuple[bytes, bytes]]:
        """(item key without its first `strip` bytes, value) of container `cid`, in order, in one
        list (a hash's fields and values)."""
        return self._item_run(cid, strip, True)

    def _item_run(self, cid: int, strip: int, values: bool) -> list:
        """item_keys / item_pairs: one pass of the cursor's C iterator over the container."""
        prefix = _U64.pack(cid)
        skip = len(prefix)
        start = skip + strip
        out: list = []
        with self._txn.cursor(db=self._ks._items) as cur:
            if not cur.set_range(prefix):
                return out
            pairs = cur.iternext(values=values)
            size = 64   # runs of 64, 128, … pulse.EVERY records (a small container reads little past
            while True:  # its end), a beat after each full run of EVERY (a set of millions: seconds)
                run = list(itertools.islice(pairs, size))
                if not run:
                    break
                last = run[-1][0] if values else run[-1]
                ended = last[:skip] != prefix   # the container ends in this run (its keys are contiguous)
                if ended:
                    run = list(itertools.takewhile(
                        (lambda kv: kv[0][:skip] == prefix) if values else (lambda k: k[:skip] == prefix), run))
                if values:
                    out += [(k[start:], value) for k, value in run]
                    self.bytes_read += sum(len(value) for _, value in run)
                else:
                    out += [k[start:] for k in run]
                if ended or len(run) < size:
                    break
                if size == pulse.EVERY:
                    pulse.beat()
                else:
                    size *= 2
        self.reads += len(out) >> 3
        return out

    def item_values(self, cid: int, start: bytes, count: int) -> list[bytes]:
        """The values of at most `count` items of container `cid` from the first key >= `start`,
        in item-key order (LRANGE's run of consecutive elements), read by the cursor in C."""
        prefix = _U64.pack(cid)
        with self._txn.cursor(db=self._ks._items) as cur:
            if not cur.set_range(prefix + start):
                return []
            run = cur.iternext(keys=False)
            values = list(itertools.islice(run, min(count, pulse.EVERY)))
            while len(values) < count and len(values) % pulse.EVERY == 0:   # runs, a beat between them
                pulse.beat()
                more = list(itertools.islice(run, min(count - len(values), pulse.EVERY)))
                if not more:
                    break
                values += more
            if cur.key().startswith(prefix):   # the last one read is the container's: so are all (keys are sorted)
                self.reads += len(values) >> 3
                self.bytes_read += sum(map(len, values))
                return values
        return [value for _, value in itertools.islice(self.items(cid, start), count)]

    def watch_floor(self) -> int | None:
        """The index from which deletions are tracked for WATCH (None: not yet tracking)."""
        raw = self._txn.get(_WATCH_FLOOR, db=self._ks._meta)
        return None if raw is None else _U64.unpack(raw)[0]

    def vanished_at(self, db: int, key: bytes) -> int:
        """The last index at which `key`, absent now, may have existed: its deletion
        record or its database's last flush (0 when neither is known)."""
        gone = self._txn.get(_data_key(db, key), db=self._ks._gone)
        flushed = self._txn.get(_FLUSHED + _U16.pack(db), db=self._ks._meta)
        return max(0 if gone is None else _U64.unpack(gone)[0], 0 if flushed is None else _U64.unpack(flushed)[0])

    def meta_get(self, name: bytes) -> bytes | None:
        """A small state-machine table entry (dedup, config), or None."""
        return self._txn.get(_TABLE + name, db=self._ks._meta)

    def meta_usage(self, prefix: bytes) -> tuple[int, int]:
        """(how many table entries' names start with `prefix`, the bytes of those names
        and values), in one pass over them."""
        full = _TABLE + prefix
        n = size = 0
        with self._txn.cursor(db=self._ks._meta) as cur:
            if cur.set_range(full):
                for name, value in cur.iternext(keys=True, values=True):
                    if not name.startswith(full):
                        break
                    n += 1
                    size += len(name) - len(_TABLE) + len(value)
        return n, size

    def meta_range(self, prefix: bytes, limit: int, start: bytes = b"") -> list[tuple[bytes, bytes]]:
        """Up to `limit` (name, value) table entries whose name starts with `prefix`, in name order,
        from `prefix + start` on."""
        out: list[tuple[bytes, bytes]] = []
        full = _TABLE + prefix
        with self._txn.cursor(db=self._ks._meta) as cur:
            if not cur.set_range(full + start):
                return out
            for name, value in cur:
                if len(out) >= limit or not name.startswith(full):
                    break
                out.append((name[len(_TABLE):], value))
        return out


def _live(record: Record | None, now_ms: int) -> Record | None:
    if record is None or (record.expires_at_ms and record.expires_at_ms <= now_ms):
        return None
    return record


class WriteTxn(ReadTxn):
    """The one write transaction of an apply. Valid only inside `Keyspace.writer()`.

    Keeps the deadline index, per-database key counts and used bytes in step
    with every put/delete; the counters are written when the writer commits.
    """

    def __init__(self, keyspace: "Keyspace", txn: lmdb.Transaction):
        super().__init__(keyspace, txn)
        self._counts: dict[int, int] = {}
        self._expiring: dict[int, int] = {}
        self._used = ReadTxn.used_bytes(self)
        self._used_dirty = False
        self._undo: list | None = None   # records replaced inside an undo_scope()
        #: Records put or deleted so far (a command that wrote nothing changed nothing).
        self.writes = 0
        #: Bytes of the records and items put so far (what a script's writes cost: the budget).
        self.bytes_put = 0
        #: When a set: (db, key) of every record put or deleted (keyspace notifications).
        self.touched: set[tuple[int, bytes]] | None = None
        #: When a dict (insertion-ordered): (db, key) of every record put where none was (`new` events).
        self.created: dict[tuple[int, bytes], None] | None = None
        #: When a list: keyspace events handlers noted beyond their command's own, as
        #: (db, class, event, key) (hash fields expired, HEXPIRE's outcome).
        self.notes: list[tuple[int, str, str, bytes]] | None = None
        #: (index, now_ms) of the entry being applied while deletions are tracked for WATCH.
        self._tracking: tuple[int, int] | None = None
        self._gone_checked = False
        #: When a dict: data key -> the index each deletion recorded for WATCH (the leader's
        #: trial of a script, node/scripting/effects.py).
        self.gone_noted: dict[bytes, int] | None = None

    def watch_tracking(self, index: int, now_ms: int) -> None:
        """Track deletions and flushes for WATCH while applying the entry at `index`
        (log semantics version 6 on; see the module docstring)."""
        if self._tracking is None and self.watch_floor() is None:
            self._txn.put(_WATCH_FLOOR, _U64.pack(index), db=self._ks._meta)
        self._tracking = (index, now_ms)
        self._gone_checked = False

    def stop_watch_tracking(self) -> None:
        self._tracking = None

    def _note_gone(self, db: int, key: bytes, raw: bytes, data_key: bytes | None = None) -> None:
        """Record that `key` (whose stored record was `raw`, under `data_key` when the
        caller has it) no longer exists."""
        index, now_ms = self._tracking
        _, deadline, last, _ = _HEADER.unpack_from(raw)
        if deadline and deadline <= now_ms:
            index = last  # already expired: it last existed when it was last written
        self._put_gone(data_key or _data_key(db, key), index)

    def _put_gone(self, data_key: bytes, index: int) -> None:
        gone = self._ks._gone
        # The bound is checked once per entry (one entry may pass it by its own deletions).
        if not self._gone_checked:
            self._gone_checked = True
            if self._txn.stat(gone)["entries"] >= GONE_LIMIT:
                self._txn.drop(gone, delete=False)
                self._txn.put(_WATCH_FLOOR, _U64.pack(self._tracking[0]), db=self._ks._meta)
        self._txn.put(data_key, _U64.pack(index), db=gone)
        if self.gone_noted is not None:
            self.gone_noted[data_key] = index

    def noted_gone(self, db: int, key: bytes) -> int:
        """The index the last deletion of `key` recorded for WATCH since gone_noted was set (0: none)."""
        return self.gone_noted.get(_data_key(db, key), 0)

    def count_write(self, db: int, key: bytes) -> None:
        """Count a write of `key` that left nothing to store (a script's key set and deleted
        again: its logged effect changes nothing, yet the script wrote)."""
        self.writes += 1
        if self.touched is not None:
            self.touched.add((db, key))

    def note_gone_at(self, db: int, key: bytes, index: int) -> None:
        """Record, while deletions are tracked for WATCH, that `key` last existed at log `index`
        (what its deletion inside a script recorded: node/scripting/effects.py)."""
        if self._tracking is not None:
            self._put_gone(_data_key(db, key), index)

    def _note_flushed(self, db: int, newest: int) -> None:
        """A flush of `db` removed records written up to index `newest`."""
        name = _FLUSHED + _U16.pack(db)
        raw = self._txn.get(name, db=self._ks._meta)
        if newest and (raw is None or _U64.unpack(raw)[0] < newest):
            self._txn.put(name, _U64.pack(newest), db=self._ks._meta)

    def get(self, db: int, key: bytes, now_ms: int) -> Record | None:
        """As ReadTxn.get; a write's own lookups are not counted as hits or misses."""
        return _live(self._raw(db, key), now_ms)

    # -- counters
    def _count(self, db: int) -> int:
        if db not in self._counts:
            self._counts[db] = ReadTxn.db_size(self, db)
        return self._counts[db]

    def _adjust(self, db: int, keys: int, size: int) -> None:
        counts = self._counts
        counts[db] = (counts[db] if db in counts else self._count(db)) + keys
        self._used += size
        self._used_dirty = True

    def _adjust_expiring(self, db: int, change: int) -> None:
        if db not in self._expiring:
            self._expiring[db] = ReadTxn.expires(self, db)
        self._expiring[db] += change

    def expires(self, db: int) -> int:
        return self._expiring[db] if db in self._expiring else ReadTxn.expires(self, db)

    def db_size(self, db: int) -> int:
        return self._count(db)

    def used_bytes(self) -> int:
        return self._used

    def maxmemory_bytes(self) -> int:
        return self._ks.maxmemory_bytes

    def would_exceed(self, extra_bytes: int) -> bool:
        """True when used bytes plus `extra_bytes` would pass maxmemory (logical, replica-independent)."""
        return self._used + extra_bytes > self._ks.maxmemory_bytes

    # -- records
    def put(self, db: int, key: bytes, record: Record) -> None:
        """Store `record` at `key`, replacing any record (of any type, expired or not)."""
        if len(key) > MAX_KEY_BYTES_LIMIT:
            raise ValueError(f"key of {len(key)} bytes exceeds {MAX_KEY_BYTES_LIMIT}")
        if not (0 <= record.expires_at_ms <= _MAX_U64 and 0 <= record.index <= _MAX_U64
                and 0 <= record.flags < 1 << 32):
            raise ValueError("expires_at_ms and index must be u64, flags u32")
        vtype = int(record.type)
        if record.state:
            if record.type != ValueType.STRING or not 0 < record.state <= ITEM_STALE | ITEM_WIN_SENT:
                raise ValueError("only a string holds a memcached item state (ITEM_STALE | ITEM_WIN_SENT)")
            vtype |= record.state << _STATE_SHIFT
        raw = _HEADER.pack(vtype, record.expires_at_ms, record.index, record.flags) + record.value
        self._put_raw(db, key, raw, record.expires_at_ms)

    def _put_raw(self, db: int, key: bytes, raw: bytes, deadline: int, keep_items: bool = False) -> None:
        dkey = _data_key(db, key)
        old = self._txn.get(dkey, db=self._ks._data)
        keys, size = 1, record_bytes(key, len(raw) - _HEADER_SIZE)
        expiring = 1 if deadline else 0
        old_cid = 0
        indexed = False   # the expiry index already holds (deadline, key)
        hashes = raw[0] & _TYPE_MASK == _HASH_TYPE   # (only a hash has field deadlines to index)
        if old is not None:
            old_type, old_deadline, _, old_flags = _HEADER.unpack_from(old)
            hashes = hashes or old_type & _TYPE_MASK == _HASH_TYPE
            if not keep_items:
                old_cid = _itemized_id(old, old_type, old_flags)
            if old_deadline:
                indexed = old_deadline == deadline
                if not indexed:
                    self._txn.delete(_expiry_key(old_deadline, db, key), db=self._ks._expiry)
                expiring -= 1
            keys, size = 0, size - record_bytes(key, len(old) - _HEADER.size)
        if expiring:
            self._adjust_expiring(db, expiring)
        if self._undo is not None:
            self._undo.append((db, key, old))
        if self.touched is not None:
            self.touched.add((db, key))
            if old is None and self.created is not None:
                self.created[(db, key)] = None
        self.writes += 1
        if not self.writes & pulse.MASK:
            pulse.beat()   # one command writing for seconds: the leader's heartbeats go on
        self.bytes_put += len(raw)
        self._txn.put(dkey, raw, db=self._ks._data)
        if old_cid and old_cid != _raw_itemized_id(raw):
            self._drop_items(old_cid)  # the key now holds another value
        if deadline and not indexed:
            self._txn.put(_expiry_key(deadline, db, key), b"", db=self._ks._expiry)
        if hashes:
            self._index_fields(db, key, _field_bound(old), _field_bound(raw))
        self._adjust(db, keys, size)

    def _index_fields(self, db: int, key: bytes, old_bound: int, new_bound: int) -> None:
        """Move a hash's entry in `fexpiry` from `old_bound` to `new_bound` (0: none)."""
        if old_bound == new_bound:
            return
        if old_bound:
            self._txn.delete(_expiry_key(old_bound, db, key), db=self._ks._fexpiry)
        if new_bound:
            self._txn.put(_expiry_key(new_bound, db, key), b"", db=self._ks._fexpiry)

    def put_stored(self, db: int, key: bytes, raw: bytes, index: int) -> None:
        """Store a string's record as stored_record() gave it, written at log `index` (a script's
        effect: node/scripting/effects.py)."""
        vtype, deadline, _, flags = _HEADER.unpack_from(raw)
        if vtype & _TYPE_MASK != ValueType.STRING:
            raise ValueError("only a string's record is put as stored")
        self._put_raw(db, key, _HEADER.pack(vtype, deadline, index, flags) + raw[_HEADER.size:], deadline)

    def delete(self, db: int, key: bytes, keep_items: bool = False) -> bool:
        """Remove `key` (expired or not); True when something was stored.

        An itemized container's items go with it, unless `keep_items` (the
        record is being moved: RENAME, MOVE), when the caller puts it back.
        """
        dkey = _data_key(db, key)
        old = self._txn.pop(dkey, db=self._ks._data)
        if old is None:
            return False
        if self._tracking is not None:
            self._note_gone(db, key, old, dkey)
        self._removed(db, key, old, keep_items)
        return True

    def evict(self, victims, limit: int, spare_db: int = -1, spare: Container[bytes] = (),
              quiet_before: int | None = None) -> list:
        """Delete `victims` (a deque of (db, key, tag), taken from its left) in order while
        used bytes exceed `limit`; keys `spare` of database `spare_db` are dropped unharmed.
        Returns the (db, key, tag) deleted.

        `quiet_before` (log semantics version 14 on): a victim whose record was last
        written before that index gets no `gone` record for WATCH; its database's
        `flushed/` index rises to the record's index instead, as a flush of it would
        (a transaction watching since then, absent keys only, aborts: exact for keys
        written since, conservative for the others). One meta write per call instead
        of a random `gone` page per victim.
        """
        deleted = []
        tracking = self._tracking is not None
        newest: dict[int, int] = {}
        with self._txn.cursor(db=self._ks._data) as cursor:    # one cursor: Transaction.pop opens one a call
            while victims and self._used > limit:
                victim = victims.popleft()
                db, key = victim[0], victim[1]
                if db == spare_db and key in spare:
                    continue
                dkey = _data_key(db, key)
                old = cursor.pop(dkey)
                if old is None:
                    continue
                if tracking:
                    written = _HEADER.unpack_from(old)[2]
                    if quiet_before is not None and written < quiet_before:
                        if written > newest.get(db, 0):
                            newest[db] = written
                    else:
                        self._note_gone(db, key, old, dkey)
                self._removed(db, key, old)
                deleted.append(victim)
        for db, index in newest.items():
            self._note_flushed(db, index)
        return deleted

    def _removed(self, db: int, key: bytes, old: bytes, keep_items: bool = False) -> None:
        """The bookkeeping of a record `old` just removed from `key`: undo, notifications,
        its items, deadline and field-deadline index entries, the counters."""
        if self._undo is not None:
            self._undo.append((db, key, old))
        if self.touched is not None:
            self.touched.add((db, key))
        self.writes += 1
        if not self.writes & pulse.MASK:
            pulse.beat()   # one command writing for seconds: the leader's heartbeats go on
        vtype, deadline, _, flags = _HEADER.unpack_from(old)
        if flags:   # an itemized container, a hash with field deadlines (a string's flags are 0 or memcached's)
            cid = 0 if keep_items else _itemized_id(old, vtype, flags)
            if cid:
                self._drop_items(cid)
            self._index_fields(db, key, _field_bound(old), 0)
        if deadline:
            self._txn.delete(_expiry_key(deadline, db, key), db=self._ks._expiry)
            self._adjust_expiring(db, -1)
        self._adjust(db, -1, -record_bytes(key, len(old) - _HEADER.size))

    def flush_db(self, db: int, keep_items: Container[int] = (), watched: bool = True) -> None:
        """Delete every key of `db` with their items, except the items of the
        containers whose ids are in `keep_items` (SWAPDB puts those records back).
        `watched`: record the flush for WATCH; else each key is recorded as gone (SWAPDB
        deletes the keys it moves one by one and flushes the expired rest)."""
        self._no_undo("flush_db")
        prefix = _U16.pack(db)
        freed = removed = expiring = newest = 0
        with self._txn.cursor(db=self._ks._data) as cur:
            found = cur.set_range(prefix)
            while found and cur.key()[:2] == prefix:
                data_key, raw = cur.item()
                if not watched and self._tracking is not None:
                    self._note_gone(db, data_key[6:], raw, data_key)
                vtype, deadline, written, flags = _HEADER.unpack_from(raw)
                newest = max(newest, written)
                if deadline:
                    self._txn.delete(_expiry_key(deadline, db, data_key[6:]), db=self._ks._expiry)
                    expiring += 1
                self._index_fields(db, data_key[6:], _field_bound(raw), 0)
                freed += record_bytes(data_key[6:], len(raw) - _HEADER.size)
                removed += 1
                cid = _itemized_id(raw, vtype, flags)
                if cid and cid not in keep_items:
                    self._drop_items(cid)
                found = cur.delete()      # moves to the next item
        if watched and self._tracking is not None:
            self._note_flushed(db, newest)
        self.writes += removed
        self._adjust(db, -removed, -freed)
        if expiring:
            self._adjust_expiring(db, -expiring)

    def flush_all(self) -> None:
        self._no_undo("flush_all")
        if self._tracking is not None:  # a read pass: the newest record of each database
            newest: dict[int, int] = {}
            with self._txn.cursor(db=self._ks._data) as cur:
                for data_key, raw in cur:
                    db = _U16.unpack_from(data_key)[0]
                    newest[db] = max(newest.get(db, 0), _HEADER.unpack_from(raw)[2])
            for db, index in newest.items():
                self._note_flushed(db, index)
        self.writes += 1
        self._txn.drop(self._ks._data, delete=False)
        self._txn.drop(self._ks._expiry, delete=False)
        self._txn.drop(self._ks._fexpiry, delete=False)
        self._txn.drop(self._ks._items, delete=False)
        with self._txn.cursor(db=self._ks._meta) as cur:
            if cur.set_range(_KEYS):
                for name in cur.iternext(keys=True, values=False):
                    if not name.startswith(_KEYS):
                        break
                    self._counts[_U16.unpack_from(name, len(_KEYS))[0]] = 0
            if cur.set_range(_EXPIRES):
                for name in cur.iternext(keys=True, values=False):
                    if not name.startswith(_EXPIRES):
                        break
                    self._expiring[_U16.unpack_from(name, len(_EXPIRES))[0]] = 0
        for db in self._counts:
            self._counts[db] = 0
        for db in self._expiring:
            self._expiring[db] = 0
        self._used = 0
        self._used_dirty = True

    # -- container items (see the module docstring; callers keep the record's count)
    def new_container_id(self) -> int:
        """A container id never used before in this keyspace (the same on every replica)."""
        raw = self._txn.get(_NEXT_CONTAINER_ID, db=self._ks._meta)
        cid = 1 if raw is None else _U64.unpack(raw)[0]
        self._txn.put(_NEXT_CONTAINER_ID, _U64.pack(cid + 1), db=self._ks._meta)
        return cid

    def item_put(self, cid: int, ikey: bytes, value: bytes) -> bool:
        """Store one element; True when it is new."""
        k = _item_key(cid, ikey)
        old = self._txn.get(k, db=self._ks._items)
        self._set_item(k, value, old)
        return old is None

    def item_delete(self, cid: int, ikey: bytes) -> bool:
        """Remove one element; True when it was there."""
        k = _item_key(cid, ikey)
        old = self._txn.get(k, db=self._ks._items)
        if old is None:
            return False
        self._set_item(k, None, old)
        return True

    def duplicate(self, record: Record) -> Record:
        """`record` to store under a second key (COPY): an itemized container gets
        a new id and a copy of every item; any other record is returned as is."""
        if not is_itemized(record):
            return record
        src, count = container_ref(record)
        dst = self.new_container_id()
        for ikey, value in list(self.items(src)):
            self._set_item(_item_key(dst, ikey), value, None)
        return record._replace(value=container_value(dst, count) + record.value[_CONTAINER.size:])

    def _set_item(self, k: bytes, value: bytes | None, old: bytes | None) -> None:
        """Put (value) or delete (None) the item record at full key `k`, whose current value is `old`."""
        if self._undo is not None:
            self._undo.append((None, k, old))
        self.writes += 1
        if not self.writes & pulse.MASK:
            pulse.beat()   # one command writing for seconds: the leader's heartbeats go on
        size = 0
        if old is not None:
            size -= item_bytes(k, len(old)) - _U64.size
        if value is None:
            self._txn.delete(k, db=self._ks._items)
        else:
            self._txn.put(k, value, db=self._ks._items)
            self.bytes_put += len(value)
            size += item_bytes(k, len(value)) - _U64.size
        self._used += size
        self._used_dirty = True

    def _drop_items(self, cid: int) -> None:
        prefix = _U64.pack(cid)
        freed = 0
        dropped = 0
        with self._txn.cursor(db=self._ks._items) as cur:
            found = cur.set_range(prefix)
            while found and cur.key()[:8] == prefix:
                k, value = cur.item()
                if self._undo is not None:
                    self._undo.append((None, k, value))
                freed += item_bytes(k, len(value)) - _U64.size
                found = cur.delete()
                dropped += 1
                if not dropped & pulse.MASK:
                    pulse.beat()
        self.writes += 1
        self._used -= freed
        self._used_dirty = True

    # -- tables
    def meta_put(self, name: bytes, value: bytes) -> None:
        self._txn.put(_TABLE + name, value, db=self._ks._meta)

    def meta_delete(self, name: bytes) -> bool:
        return self._txn.delete(_TABLE + name, db=self._ks._meta)

    @contextmanager
    def savepoint(self) -> Iterator["Savepoint"]:
        """A nested transaction: `sp.rollback()` undoes everything done inside it.

        Lets the state machine refuse a command after running it (out of
        memory, an error after a partial write) without partial effects.
        """
        self._no_undo("savepoint")
        parent = self._txn
        saved = (dict(self._counts), dict(self._expiring), self._used, self._used_dirty)
        child = self._ks._env.begin(write=True, parent=parent)
        sp = Savepoint()
        self._txn = child
        try:
            yield sp
        except BaseException:
            self._txn = parent
            child.abort()
            self._counts, self._expiring, self._used, self._used_dirty = saved
            raise
        self._txn = parent
        if sp.rolled_back:
            child.abort()
            self._counts, self._expiring, self._used, self._used_dirty = saved
        else:
            child.commit()

    def begin_undo(self) -> None:
        """Start remembering the records that put() and delete() replace, so that
        end_undo(rollback=True) can write them back: savepoint() without a nested
        LMDB transaction, for commands that only put and delete records (the hot
        path). Flushes and savepoints before end_undo() are refused."""
        if self._undo is not None:
            raise RuntimeError("undo scopes do not nest")
        self._undo = []

    def end_undo(self, rollback: bool) -> None:
        undo, self._undo = self._undo, None
        if rollback and undo:
            self._write_back(undo)

    @property
    def undoing(self) -> bool:
        """Whether an undo scope is open (begin_undo without end_undo)."""
        return self._undo is not None

    def undo_mark(self) -> int:
        """A point inside the open undo scope that undo_to() can return to (nested undo:
        one command of a script rolled back alone, the scope kept for the whole script)."""
        return len(self._undo)

    def undo_to(self, mark: int) -> None:
        """Write back what was replaced since `mark`; the scope stays open (the earlier
        entries still undo the whole scope)."""
        undo, self._undo = self._undo, None
        try:
            self._write_back(undo[mark:])
        finally:
            del undo[mark:]
            self._undo = undo

    def _write_back(self, undo: list[tuple[int, bytes, bytes | None]]) -> None:
        # Every item the scope changed has its own entry here: records are written back
        # with keep_items, or undoing a RENAME of a large container would drop its items.
        # A key that comes and goes inside the undone scope never existed: no `gone` record.
        tracking, self._tracking = self._tracking, None
        try:
            self._write_back_records(undo)
        finally:
            self._tracking = tracking

    def _write_back_records(self, undo: list[tuple[int, bytes, bytes | None]]) -> None:
        for db, key, old in reversed(undo):
            if db is None:  # a container item (full item key)
                self._set_item(key, old, self._txn.get(key, db=self._ks._items))
            elif old is None:
                self.delete(db, key, keep_items=True)
            else:
                self._put_raw(db, key, old, _HEADER.unpack_from(old)[1], keep_items=True)

    def _no_undo(self, what: str) -> None:
        if self._undo is not None:
            raise RuntimeError(f"{what} inside an undo scope cannot be undone; use savepoint()")

    def _finish(self, index: int) -> None:
        meta = self._ks._meta
        for db, n in self._counts.items():
            self._txn.put(_KEYS + _U16.pack(db), _U64.pack(n), db=meta)
        for db, n in self._expiring.items():
            self._txn.put(_EXPIRES + _U16.pack(db), _U64.pack(n), db=meta)
        if self._used_dirty:
            self._txn.put(_USED, _U64.pack(self._used), db=meta)
        self._txn.put(_APPLIED, _U64.pack(index), db=meta)


class Savepoint:
    __slots__ = ("rolled_back",)

    def __init__(self) -> None:
        self.rolled_back = False

    def rollback(self) -> None:
        self.rolled_back = True


# ---------------------------------------------------------------- keyspace

class _SwapLock:
    """Many readers at once; an environment swap waits for them and holds new ones off.

    On every read's path: a reader takes only the plain lock (no Condition
    machinery) unless a swap is under way, and wakes the swapper only when
    one is waiting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._readers = 0
        self._swapping = False

    def acquire_shared(self) -> None:
        with self._lock:
            while self._swapping:
                self._cond.wait()
            self._readers += 1

    def try_acquire_shared(self) -> bool:
        """acquire_shared, unless a swap is under way (False: not acquired, never waits)."""
        with self._lock:
            if self._swapping:
                return False
            self._readers += 1
            return True

    def release_shared(self) -> None:
        with self._lock:
            self._readers -= 1
            if self._swapping and not self._readers:
                self._cond.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        self.acquire_shared()
        try:
            yield
        finally:
            self.release_shared()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._swapping:
                self._cond.wait()
            self._swapping = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._swapping = False
                self._cond.notify_all()


class _Reading:
    """Keyspace.reader()'s context manager (a class: it is on every read's hot path)."""

    __slots__ = ("_ks", "_txn")

    def __init__(self, keyspace: "Keyspace"):
        self._ks = keyspace
        self._txn = None

    def __enter__(self) -> ReadTxn:
        swap = self._ks._swap
        swap.acquire_shared()
        try:
            self._txn = self._ks._env.begin()
        except BaseException:
            swap.release_shared()
            raise
        return ReadTxn(self._ks, self._txn)

    def __exit__(self, *exc) -> None:
        try:
            self._txn.abort()
        finally:
            self._ks._swap.release_shared()


class _SharedReading:
    """Keyspace.reads_together()'s transaction, as `reader()` hands it out: opened by the first
    `with`, kept open by the others' exits, closed by `close`."""

    __slots__ = ("_reading", "_txn", "thread", "applied_index", "generation")

    def __init__(self, keyspace: "Keyspace"):
        self._reading = _Reading(keyspace)
        self._txn: ReadTxn | None = None
        self.thread = threading.get_ident()
        self.applied_index = keyspace.applied_index
        self.generation = keyspace.generation

    def __enter__(self) -> ReadTxn:
        if self._txn is None:
            self._txn = self._reading.__enter__()
        return self._txn

    def __exit__(self, *exc) -> None:
        pass

    def close(self) -> None:
        if self._txn is not None:
            self._txn = None
            self._reading.__exit__(None, None, None)


class Keyspace:
    """The LMDB environment at `config.path` (a directory, created if needed)."""

    def __init__(self, config: KeyspaceConfig):
        self._config = config
        self.maxmemory_bytes = config.maxmemory_bytes or (1 << 30)
        #: Bumped each time the environment is (re)opened: state derived from it must be reloaded.
        self.generation = 0
        #: The logical size as of the last commit (a plain attribute: the leader reads it per batch).
        self.used_bytes = 0
        #: Read commands' key lookups that found a live key / did not (this node, since start or reset_stats).
        self.hits = 0
        self.misses = 0
        self._swap = _SwapLock()
        self._together: _SharedReading | None = None   # reads_together()'s, while it lasts
        os.makedirs(config.path, exist_ok=True)
        self._open()

    def _open(self) -> None:
        # sync/metasync off: the Raft log, not LMDB, is the durable record;
        # an LMDB lost in an OS crash is rebuilt from a snapshot and the log.
        self._env = lmdb.open(
            self._config.path, map_size=self._config.effective_map_size(), max_dbs=8,
            metasync=False, sync=False, readahead=False, max_readers=512,
        )
        self._data = self._env.open_db(b"data")
        self._expiry = self._env.open_db(b"expiry")
        self._meta = self._env.open_db(b"meta")
        self._items = self._env.open_db(b"items")
        self._gone = self._env.open_db(b"gone")
        self._fexpiry = self._env.open_db(b"fexpiry")
        with self._env.begin() as txn:
            raw = txn.get(_APPLIED, db=self._meta)
            counted = txn.get(_EXPIRES_COUNTED, db=self._meta) is not None
            used = txn.get(_USED, db=self._meta)
            #: ReadTxn.old_log_indexes (written once, by rebase_copy, before any node opens the
            #: copy, and carried by snapshots).
            self.old_log_indexes = _stored_old_log_indexes(txn, self._meta)
        self._applied_index = 0 if raw is None else _U64.unpack(raw)[0]
        self.used_bytes = 0 if used is None else _U64.unpack(used)[0]
        if not counted:
            self._count_expiring()
        self.generation += 1

    def _count_expiring(self) -> None:
        """Data written before the expires/ counters existed: count once from the
        deadline index (deterministic, so every replica gets the same counters)."""
        per_db: dict[int, int] = {}
        with self._env.begin(write=True) as txn:
            with txn.cursor(db=self._expiry) as cur:
                for name in cur.iternext(keys=True, values=False):
                    db = _U16.unpack_from(name, _U64.size)[0]
                    per_db[db] = per_db.get(db, 0) + 1
            for db, n in per_db.items():
                txn.put(_EXPIRES + _U16.pack(db), _U64.pack(n), db=self._meta)
            txn.put(_EXPIRES_COUNTED, b"", db=self._meta)

    @property
    def databases(self) -> int:
        return self._config.databases

    @property
    def applied_index(self) -> int:
        """Index of the last log entry whose effects are committed here."""
        return self._applied_index

    def stored_bytes(self, db: int, key: bytes) -> int:
        """The size of the record stored at `key` (0: none, expired or not, or an environment
        swap under way: this never waits, as the thread may hold a read of its own, `reads_together`),
        read in place: the value is not copied (the leader's batcher asks it of a string edit's key)."""
        swap = self._swap
        if not swap.try_acquire_shared():
            return 0
        try:
            txn = self._env.begin(buffers=True)
            try:
                raw = txn.get(_data_key(db, key), db=self._data)
                return 0 if raw is None else len(raw)
            finally:
                txn.abort()
        finally:
            swap.release_shared()

    def reader(self) -> "_Reading":
        """`with keyspace.reader() as txn:` a consistent ReadTxn.

        Reads run on the event-loop thread while restore_from may swap the
        environment on the Raft thread: closing an LMDB env under an open
        transaction is undefined behaviour, so the two exclude each other.
        """
        together = self._together
        if together is not None and together.thread == threading.get_ident():
            if together.applied_index != self._applied_index or together.generation != self.generation:
                # something was applied since it opened: a new view, and the old one closed first
                # (restore_from, on another thread, may be waiting for every reader to end)
                together.close()
                together = self._together = _SharedReading(self)
            return together
        return _Reading(self)

    @contextmanager
    def reads_together(self) -> Iterator[None]:
        """Within it, this thread's `reader()`s share one read transaction while nothing is
        applied (many reads answered in one event-loop turn, such as a ReadIndex round's:
        one begin and one abort for them all). Closed at the end."""
        if self._together is not None:   # nested: the outer one shares
            yield
            return
        self._together = _SharedReading(self)
        try:
            yield
        finally:
            together, self._together = self._together, None
            together.close()

    @contextmanager
    def writer(self, index: int) -> Iterator[WriteTxn]:
        """One write transaction; its commit also stores applied_index = `index`.

        Raises ValueError when `index` does not advance applied_index, and
        KeyspaceFullError (fatal) when the LMDB map is full.
        """
        if index <= self._applied_index:
            raise ValueError(f"index {index} does not advance applied_index {self._applied_index}")
        txn = self._env.begin(write=True)
        wtxn = WriteTxn(self, txn)
        try:
            yield wtxn
            wtxn._finish(index)
            txn.commit()
            self.used_bytes = wtxn._used
        except lmdb.MapFullError as exc:
            txn.abort()
            raise KeyspaceFullError(
                f"LMDB map of {self._config.effective_map_size()} bytes is full at index {index}; "
                "raise keyspace map_size_bytes (or lower maxmemory) and restart: the entry was not applied"
            ) from exc
        except BaseException:
            txn.abort()
            raise
        finally:
            wtxn._txn = None
        self._applied_index = index

    @contextmanager
    def scratch(self) -> Iterator[WriteTxn]:
        """A write transaction that is always aborted: what a write would do, found without
        doing it (the leader's trial of a script, node/scripting/effects.py). Only where a
        writer() could be opened (the applying thread, between entries)."""
        txn = self._env.begin(write=True)
        wtxn = WriteTxn(self, txn)
        try:
            yield wtxn
        finally:
            txn.abort()
            wtxn._txn = None

    def stats(self) -> KeyspaceStats:
        with self.reader() as r:
            keys = [r.db_size(db) for db in range(self._config.databases)]
            expires = [r.expires(db) for db in range(self._config.databases)]
            return KeyspaceStats(keys, r.used_bytes(), self.maxmemory_bytes, self._applied_index, expires)

    def map_used_bytes(self) -> int:
        """Bytes of the LMDB map in use (pages up to the last one written): the
        node's real footprint, which INFO compares with the logical size."""
        with self._swap.shared():
            return (self._env.info()["last_pgno"] + 1) * self._env.stat()["psize"]

    def copy_to(self, path: str) -> int:
        """Write a consistent, compacted copy of the environment to the file `path`.

        The copy is taken from one read transaction, written beside `path`,
        fsynced, then renamed into place (and the directory fsynced). Returns
        the applied_index the copy covers.
        """
        tmp = path + ".tmp"
        with self._swap.shared(), self._env.begin() as txn:
            raw = txn.get(_APPLIED, db=self._meta)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                self._env.copyfd(fd, compact=True, txn=txn)
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(os.path.dirname(os.path.abspath(path)))
        return 0 if raw is None else _U64.unpack(raw)[0]

    def restore_from(self, path: str) -> None:
        """Replace the whole environment with a copy written by `copy_to`.

        `path` is that file (or a directory holding data.mdb). The copy is
        checked, copied beside the live data file and fsynced before the
        environment is closed; the swap is one atomic rename. Read
        transactions still open on the old environment become invalid.
        """
        if os.path.isdir(path):
            path = os.path.join(path, _SNAPSHOT_FILE)
        live = os.path.join(self._config.path, _SNAPSHOT_FILE)
        if os.path.abspath(path) == os.path.abspath(live):
            raise ValueError("cannot restore the keyspace from its own data file")
        _check_snapshot(path)
        tmp = live + ".restore"
        shutil.copyfile(path, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        with self._swap.exclusive():  # no read transaction is open on the old env
            self._env.close()
            try:
                os.replace(tmp, live)
                _fsync_dir(self._config.path)
            finally:
                self._open()

    def close(self) -> None:
        self._env.close()


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What a keyspace copy (`Keyspace.copy_to`) holds, read offline."""

    applied_index: int
    keys_per_db: dict[int, int]   # databases with a key counter (expired keys not yet deleted included)
    used_bytes: int
    digest: str                   # sha256 over every (key, record) of the data, then the items database
    restored_from_index: int      # applied index of the backup this copy was restored from (0: none)

    @property
    def key_count(self) -> int:
        return sum(self.keys_per_db.values())


def _open_copy(path: str, write: bool = False):
    size = os.path.getsize(path)
    return lmdb.open(path, subdir=False, readonly=not write, lock=False, max_dbs=8,
                     map_size=max(size * 2, size + (64 << 20)))


@contextmanager
def _reading_copy(path: str) -> Iterator[tuple]:
    """(env, read txn) of a copy made by `copy_to`; any LMDB error is ValueError."""
    try:
        env = _open_copy(path)
    except lmdb.Error as exc:
        raise ValueError(f"not a keyspace snapshot: {exc}") from exc
    try:
        with env.begin() as txn:
            yield env, txn
    except lmdb.Error as exc:
        raise ValueError(f"not a keyspace snapshot: {exc}") from exc
    finally:
        env.close()


def _items_db(env, txn):
    """The items database of a copy, None in one written before containers had items."""
    try:
        return env.open_db(b"items", txn=txn, create=False)
    except lmdb.NotFoundError:
        return None


def snapshot_info(path: str, digest: bool = True) -> SnapshotInfo:
    """Read a copy made by `copy_to` (not in use by a node); ValueError when it is not one."""
    import hashlib

    with _reading_copy(path) as (env, txn):
        meta = env.open_db(b"meta", txn=txn, create=False)
        data = env.open_db(b"data", txn=txn, create=False)
        raw = txn.get(_APPLIED, db=meta)
        used = txn.get(_USED, db=meta)
        restored = txn.get(_RESTORED_FROM, db=meta)
        keys: dict[int, int] = {}
        with txn.cursor(db=meta) as cur:
            if cur.set_range(_KEYS):
                for name, value in cur:
                    if not name.startswith(_KEYS):
                        break
                    keys[_U16.unpack_from(name, len(_KEYS))[0]] = _U64.unpack(value)[0]
        h = hashlib.sha256()
        if digest:
            for db in (data, _items_db(env, txn)):
                if db is None:
                    continue
                with txn.cursor(db=db) as cur:
                    for k, v in cur:
                        h.update(_U64.pack(len(k)) + k + _U64.pack(len(v)) + v)
    return SnapshotInfo(
        applied_index=0 if raw is None else _U64.unpack(raw)[0],
        keys_per_db={db: n for db, n in keys.items() if n},
        used_bytes=0 if used is None else _U64.unpack(used)[0],
        digest=h.hexdigest() if digest else "",
        restored_from_index=0 if restored is None else _U64.unpack(restored)[0],
    )


#: Item records per element of an itemized container (a sorted set keeps two:
#: by member and by score, node/storage/itemzset.py).
_ITEMS_PER_ELEMENT = {ValueType.HASH: 1, ValueType.LIST: 1, ValueType.SET: 1, ValueType.ZSET: 2,
                      ValueType.STREAM: 1}   # a stream's header counts its item records, not its entries


def check_items(path: str) -> int:
    """Check that a copy made by `copy_to` holds the items of its itemized containers.

    Every itemized record of the data database must find exactly its element
    count (times the item records per element) in the items database, and
    every item must belong to such a record. A copy that lost its items
    database, or part of it, fails here even though its own digest (computed
    from what it holds) is consistent. Returns the number of item records;
    raises ValueError naming the first container that does not match.
    """
    with _reading_copy(path) as (env, txn):
        data = env.open_db(b"data", txn=txn, create=False)
        expected: dict[int, tuple[int, bytes]] = {}
        with txn.cursor(db=data) as cur:
            for k, raw in cur:
                vtype, _, _, flags = _HEADER.unpack_from(raw)
                cid = _itemized_id(raw, vtype, flags)
                if cid:
                    count = _CONTAINER.unpack_from(raw, _HEADER.size)[1]
                    expected[cid] = (count * _ITEMS_PER_ELEMENT[_VALUE_TYPES[vtype]], k)
        found: dict[int, int] = {}
        items = _items_db(env, txn)
        if items is not None:
            with txn.cursor(db=items) as cur:
                for k in cur.iternext(keys=True, values=False):
                    cid = _U64.unpack_from(k)[0]
                    found[cid] = found.get(cid, 0) + 1
    for cid, (want, key) in expected.items():
        got = found.get(cid, 0)
        if got != want:
            raise ValueError(f"container {key[6:]!r} (id {cid}) has {got} of its {want} item records")
    orphans = set(found) - set(expected)
    if orphans:
        raise ValueError(f"{len(orphans)} container ids in the items database belong to no key")
    return sum(found.values())


def _stored_old_log_indexes(txn, meta) -> int:
    """The meta table's old_log_indexes_upto, else its restored_from_index (0: neither)."""
    raw = txn.get(_OLD_LOG_INDEXES, db=meta) or txn.get(_RESTORED_FROM, db=meta)
    return 0 if raw is None else _U64.unpack(raw)[0]


def rebase_copy(path: str) -> int:
    """Prepare a copy made by `copy_to` to seed a node of a NEW cluster (a restore).

    The new cluster's Raft log starts again at index 1, so the copy's
    applied_index is reset to 0 (otherwise the state machine would skip the
    new log's entries as already applied, docs/design.md, PySyncObj note 6); the index the
    copy covered is kept as `restored_from_index` for status and audits, and as
    `old_log_indexes_upto` unless a restore before it left a higher one (ReadTxn.old_log_indexes).
    Record.index values (memcached CAS uniques) are kept as they are.
    Returns the old applied_index. Call before any node opens the copy.
    """
    env = _open_copy(path, write=True)
    try:
        with env.begin(write=True) as txn:
            meta = env.open_db(b"meta", txn=txn, create=False)
            raw = txn.get(_APPLIED, db=meta)
            old = 0 if raw is None else _U64.unpack(raw)[0]
            older = _stored_old_log_indexes(txn, meta)
            txn.put(_RESTORED_FROM, _U64.pack(old), db=meta)
            txn.put(_OLD_LOG_INDEXES, _U64.pack(max(old, older)), db=meta)
            txn.put(_APPLIED, _U64.pack(0), db=meta)
        env.sync(True)
    finally:
        env.close()
    return old


def _check_snapshot(path: str) -> int:
    """Open a snapshot file read-only and return its applied_index; ValueError if it is not one."""
    try:
        env = lmdb.open(path, subdir=False, readonly=True, lock=False, max_dbs=8)
    except lmdb.Error as exc:
        raise ValueError(f"{path} is not a keyspace snapshot: {exc}") from exc
    try:
        with env.begin() as txn:
            meta = env.open_db(b"meta", txn=txn, create=False)
            raw = txn.get(_APPLIED, db=meta)
    except lmdb.Error as exc:
        raise ValueError(f"{path} is not a keyspace snapshot: {exc}") from exc
    finally:
        env.close()
    return 0 if raw is None else _U64.unpack(raw)[0]


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
