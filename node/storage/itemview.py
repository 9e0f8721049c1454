"""What the container views share: a container stored inline or itemized, and save().

A hash, set, list or sorted set of up to INLINE_MAX elements is one record
whose value encodes them all (as Redis keeps small containers in a listpack).
Past INLINE_MAX it is itemized (node/storage/keyspace/): the record holds a
container id and the element count and each element is its own item record,
so a write touches O(1) records instead of the whole value. A container is
never converted back. The subclasses — node/storage/itemmap.py (hashes, sets),
node/storage/itemlist.py (lists), node/storage/itemzset.py (sorted sets) — give the handlers
one interface over both layouts; this class loads the record and writes it
back.

Must not import lmdb, grpc or time: handlers run inside apply.
"""

from __future__ import annotations

from raftcache.node.storage import containers as c
from raftcache.node.storage.keyspace import (
    ITEMIZED,
    Record,
    container_ref,
    container_value,
    is_itemized,
)

#: Elements above which a container is itemized. Part of the replicated state
#: (it decides stored layouts, never results): change it only with a log format bump.
INLINE_MAX = 128


class ContainerView:
    """One container at (db, key). Change it through the subclass, then call save():
    it writes the inline value or the element count, itemizes a container that
    grew past INLINE_MAX, and deletes the key of an emptied container (Redis
    keeps no empty containers). The key's expiry is kept."""

    __slots__ = ("_txn", "_db", "_key", "_type", "_record", "_cid", "_count", "_dirty")

    def __init__(self, txn, db: int, key: bytes, type_name: str, record: Record | None):
        self._txn = txn
        self._db = db
        self._key = key
        self._type = type_name
        self._record = record
        self._dirty = False
        if record is not None and is_itemized(record):
            self._cid, self._count = container_ref(record)
            self._open_itemized(record)
        else:
            self._cid = self._count = 0
            self._open_inline(record.value if record is not None else None)

    @property
    def itemized(self) -> bool:
        return self._cid != 0

    @property
    def record(self) -> Record | None:
        """The container's record as last loaded or saved (None: the key is absent)."""
        return self._record

    # -- what a subclass provides
    def _open_itemized(self, record: Record) -> None:
        """Read anything beyond (id, count) from an itemized record."""

    def _open_inline(self, value: bytes | None) -> None:
        raise NotImplementedError

    def _inline_len(self) -> int:
        raise NotImplementedError

    def _inline_value(self) -> bytes | None:
        """The inline encoding, None when empty."""
        raise NotImplementedError

    def _itemize(self) -> None:
        """Move the inline elements into items (the id is set and the count 0)."""
        raise NotImplementedError

    def _header(self) -> bytes:
        return container_value(self._cid, self._count)

    def _layout_flags(self) -> int:
        """Record flags beyond ITEMIZED that the current layout needs (a hash's FIELD_TTLS)."""
        return 0

    # -- writing back
    def touch(self) -> None:
        """Written although nothing in it changed: save() writes the record with the writer's
        index (a change of the key for WATCH, as Redis signals LTRIM's whatever it removed)."""
        self._dirty = True

    def save(self, ctx) -> None:
        if not self._dirty:
            return
        self._dirty = False
        txn, old = self._txn, self._record
        if not self.itemized and self._inline_len() <= INLINE_MAX:
            self._record = c.store(txn, self._db, self._key, self._type, self._inline_value(), ctx, old,
                                   self._layout_flags())
            return
        if not self.itemized:  # grew past INLINE_MAX: one record per element from now on
            self._cid, self._count = txn.new_container_id(), 0
            self._itemize()
            self._dirty = False
        value = self._header() if self._count else None
        self._record = c.store(txn, self._db, self._key, self._type, value, ctx, old,
                               ITEMIZED | self._layout_flags())


def load(txn, db: int, key: bytes, ctx, type_name: str, view):
    """(record, view(record)) of the container at key, record None when absent;
    (CommandError, None) when the key holds another type."""
    record = c.load(txn, db, key, ctx, type_name)
    if record is not None and not isinstance(record, Record):
        return record, None
    return record, view(record)
