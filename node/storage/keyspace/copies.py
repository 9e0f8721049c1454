"""A keyspace copy read or rewritten offline: snapshot_info, check_items, rebase_copy."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import lmdb

from raftcache.node.storage.keyspace.layout import (
    _APPLIED,
    _CONTAINER,
    _HEADER,
    _KEYS,
    _OLD_LOG_INDEXES,
    _RESTORED_FROM,
    _U16,
    _U64,
    _USED,
    _VALUE_TYPES,
    ValueType,
    _itemized_id,
)


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
