"""ReadTxn: a consistent read view of the keyspace (records, items, scans, samples, tables)."""

from __future__ import annotations

import bisect
import itertools
import zlib
from typing import Iterator

import lmdb

from raftcache.node import pulse
from raftcache.node.storage.glob import glob_match
from raftcache.node.storage.keyspace.layout import (
    _APPLIED,
    _DB_HASH,
    _EXPIRES,
    _FLUSHED,
    _HASH,
    _HEADER,
    _HEADER_SIZE,
    _KEYS,
    _STRING,
    _TABLE,
    _TYPE_EXPIRY,
    _TYPE_MASK,
    _U16,
    _U64,
    _USED,
    _VALUE_TYPES,
    _WATCH_FLOOR,
    Record,
    Sample,
    ValueType,
    _data_key,
    _decode,
    _item_key,
    _sample,
)


def _runs(items: Iterator) -> Iterator[list]:
    """`items` (a cursor's iterator, made in C) in lists of 64, 128, … pulse.EVERY (a small
    container reads little past its end), a beat after each full run of EVERY that the caller
    reads on from (a set of millions: seconds); the last list is short, or empty."""
    size = 64
    while True:
        run = list(itertools.islice(items, size))
        yield run
        if len(run) < size:
            return
        if size == pulse.EVERY:
            pulse.beat()
        else:
            size *= 2


class ReadTxn:
    """A consistent read view of the keyspace. Valid only inside `Keyspace.reader()`."""

    def __init__(self, keyspace, txn: lmdb.Transaction):   # keyspace: the Keyspace (environment.py) that made it
        self._ks = keyspace
        self._txn = txn
        #: What was read so far (what a script's reads cost: its budget, node/scripting/budget.py):
        #: the bytes of the records and items read, and the reads in units of ~0.4 µs of Python's
        #: work: a record or an item looked up counts 2, a record or an item stepped over one by
        #: one (scan, items) 1, eight items read in one run by the cursor in C (item_keys,
        #: item_pairs, item_values) 1. And what such runs read, an item's key and its value each
        #: (from log version 28 a script's command counts them one unit more each: Python still
        #: handles every one).
        self.bytes_read = 0
        self.reads = 0
        self.run_items = 0

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
        """GET's lookups of `keys` in this view (string_values)."""
        return string_values(self._ks, self._txn, db, keys, now_ms)

    def string_value(self, db: int, key: bytes, now_ms: int):
        """GET's lookup of one key in this view (string_value)."""
        return string_value(self._ks, self._txn, db, key, now_ms)

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
        return self._due(self._ks._expiry, now_ms, limit)

    def fields_expiring(self, now_ms: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` (db, key) of hashes whose field-deadline bound is <= now_ms, earliest first."""
        return self._due(self._ks._fexpiry, now_ms, limit)

    def _due(self, index, now_ms: int, limit: int) -> list[tuple[int, bytes]]:
        """The first `limit` (db, key) of a deadline index (`expiry` or `fexpiry`) due at now_ms."""
        out: list[tuple[int, bytes]] = []
        if limit <= 0 or now_ms <= 0:
            return out
        with self._txn.cursor(db=index) as cur:
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

    def count_items(self, cid: int, start: bytes, end: bytes) -> int:
        """How many items of container `cid` have keys from `start` up to `end` (excluded): the
        keys read by the cursor in C in runs (_runs), each run's end found by bisection (a
        sorted set's score range, ZCOUNT: ~30 times less Python per item than `items`)."""
        prefix = _U64.pack(cid)
        high = prefix + end
        counted = 0
        with self._txn.cursor(db=self._ks._items) as cur:
            if cur.set_range(prefix + start):
                for run in _runs(cur.iternext(values=False)):
                    inside = bisect.bisect_left(run, high)
                    counted += inside
                    if inside < len(run):
                        break
        self.reads += counted >> 3
        self.run_items += counted
        return counted

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
            for run in _runs(cur.iternext(values=values)):
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
                if ended:
                    break
        self.reads += len(out) >> 3
        self.run_items += len(out) << values   # (a pair: its key and its value)
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
                self.run_items += len(values)
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


def string_value(keyspace, txn: lmdb.Transaction, db: int, key: bytes, now_ms: int):
    """string_values of one key (a -P 1 client's GET), without the list."""
    raw = txn.get(_DB_HASH.pack(db, zlib.crc32(key)) + key, None, keyspace._data)   # _data_key, inlined
    if raw is not None:
        vtype, expires_at_ms = _TYPE_EXPIRY.unpack_from(raw)
        if not expires_at_ms or expires_at_ms > now_ms:
            keyspace.hits += 1
            vtype &= _TYPE_MASK
            return raw[_HEADER_SIZE:] if vtype == _STRING else _VALUE_TYPES[vtype]
    keyspace.misses += 1
    return None


def string_values(keyspace, txn: lmdb.Transaction, db: int, keys: list[bytes], now_ms: int) -> list:
    """GET's lookups of `keys` in `txn` (a transaction of `keyspace`), in one pass without a
    Record each: a live string's value, None when the key is absent or expired at `now_ms`,
    or the ValueType of a key that holds something else. Counts hits and misses as `get` does."""
    get, data = txn.get, keyspace._data
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
    keyspace.hits += hits
    keyspace.misses += len(keys) - hits
    return out
