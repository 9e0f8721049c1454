"""WriteTxn: the one write transaction of an apply, and its undo scopes and savepoints."""

from __future__ import annotations

from collections.abc import Container
from contextlib import contextmanager
from typing import Iterator

import lmdb

from raftcache.node import pulse
from raftcache.node.config import MAX_KEY_BYTES_LIMIT
from raftcache.node.storage.keyspace.layout import (
    _APPLIED,
    _CONTAINER,
    _EXPIRES,
    _FLUSHED,
    _HASH_TYPE,
    _HEADER,
    _HEADER_SIZE,
    _KEYS,
    _MAX_U64,
    _NEXT_CONTAINER_ID,
    _STATE_SHIFT,
    _TABLE,
    _TYPE_MASK,
    _U16,
    _U64,
    _USED,
    _WATCH_FLOOR,
    GONE_LIMIT,
    ITEM_STALE,
    ITEM_WIN_SENT,
    Record,
    ValueType,
    _data_key,
    _expiry_key,
    _field_bound,
    _item_key,
    _itemized_id,
    _raw_itemized_id,
    container_ref,
    container_value,
    is_itemized,
    item_bytes,
    record_bytes,
)
from raftcache.node.storage.keyspace.reading import (
    ReadTxn,
    _live,
)

class WriteTxn(ReadTxn):
    """The one write transaction of an apply. Valid only inside `Keyspace.writer()`.

    Keeps the deadline index, per-database key counts and used bytes in step
    with every put/delete; the counters are written when the writer commits.
    """

    def __init__(self, keyspace, txn: lmdb.Transaction):   # keyspace: the Keyspace (environment.py) that made it
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
        self._floor_stored = False   # watch_floor() is known not to be None (read once per transaction)
        #: When a dict: data key -> the index each deletion recorded for WATCH (the leader's
        #: trial of a script, node/scripting/effects.py).
        self.gone_noted: dict[bytes, int] | None = None

    def watch_tracking(self, index: int, now_ms: int) -> None:
        """Track deletions and flushes for WATCH while applying the entry at `index`
        (log semantics version 6 on; see the package docstring)."""
        if self._tracking is None and not self._floor_stored:
            if self.watch_floor() is None:
                self._txn.put(_WATCH_FLOOR, _U64.pack(index), db=self._ks._meta)
            self._floor_stored = True   # (a savepoint rolled back restores it)
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
        self._counts[db] = self._count(db) + keys
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
        old = self._txn.replace(_data_key(db, key), raw, db=self._ks._data)   # (one call: the old record and the put)
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

    # -- container items (see the package docstring; callers keep the record's count)
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

    def meta_replace(self, name: bytes, value: bytes) -> bytes | None:
        """meta_put, giving the value it replaced (None: none), in one lookup."""
        return self._txn.replace(_TABLE + name, value, db=self._ks._meta)

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
        saved = (dict(self._counts), dict(self._expiring), self._used, self._used_dirty, self._floor_stored)
        child = self._ks._env.begin(write=True, parent=parent)
        sp = Savepoint()
        self._txn = child
        try:
            yield sp
        except BaseException:
            self._txn = parent
            child.abort()
            self._counts, self._expiring, self._used, self._used_dirty, self._floor_stored = saved
            raise
        self._txn = parent
        if sp.rolled_back:
            child.abort()
            self._counts, self._expiring, self._used, self._used_dirty, self._floor_stored = saved
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
