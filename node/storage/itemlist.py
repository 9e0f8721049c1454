"""A list's elements, inline or itemized (node/storage/itemview.py).

Itemized, element i is the item record at position head + i, keyed by the
position as a biased big-endian u64 so that the items database keeps them in
list order; the record's value adds the head position to the id and length.
Pushes and pops at either end, LINDEX, LSET and LTRIM then touch only the
elements they name; LRANGE reads only its range. LREM and LINSERT (remove_at,
insert) move the elements on the shorter side of the change, so near either
end they touch only what lies between it and the end (Redis moves the
elements after it, in memory); before log semantics version 21 they rewrote
the whole list (replace_all).

Must not import lmdb, grpc or time: handlers run inside apply.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from raftcache.node.storage import containers as c
from raftcache.node.storage import itemview
from raftcache.node.storage.keyspace import Record

_POSITION = struct.Struct(">Q")
_HEAD = struct.Struct(">q")
_BIAS = 1 << 63


def _ikey(position: int) -> bytes:
    return _POSITION.pack(position + _BIAS)


class ItemList(itemview.ContainerView):
    """Indexable list view; call save() after changing anything."""

    __slots__ = ("_head", "_inline")

    def __init__(self, txn, db: int, key: bytes, record: Record | None):
        self._head = 0
        self._inline = None
        super().__init__(txn, db, key, "LIST", record)

    def _open_itemized(self, record: Record) -> None:
        self._head = _HEAD.unpack_from(record.value, 16)[0]

    def _open_inline(self, value: bytes | None) -> None:
        self._inline = c.decode_items(value) if value else []

    def _inline_len(self) -> int:
        return len(self._inline)

    def _inline_value(self) -> bytes | None:
        return c.encode_items(self._inline) if self._inline else None

    def _itemize(self) -> None:
        values, self._inline = self._inline, None
        self._head = 0
        self.push(values, left=False)

    def _header(self) -> bytes:
        return super()._header() + _HEAD.pack(self._head)

    def __len__(self) -> int:
        return self._count if self._inline is None else len(self._inline)

    # -- reading
    def get(self, i: int) -> bytes | None:
        """Element i (0 = head; negative from the tail), None when out of range."""
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            return None
        if self._inline is not None:
            return self._inline[i]
        return self._txn.item_get(self._cid, _ikey(self._head + i))

    def range(self, start: int, stop: int) -> list[bytes]:
        """Elements start..stop inclusive (0 <= start <= stop < len)."""
        if self._inline is not None:
            return self._inline[start:stop + 1]
        return self._txn.item_values(self._cid, _ikey(self._head + start), stop - start + 1)

    def iterate(self, reverse: bool = False) -> Iterator[tuple[int, bytes]]:
        """(index, element) from the head, or from the tail when `reverse`."""
        if self._inline is not None:
            items = self._inline
            order = range(len(items) - 1, -1, -1) if reverse else range(len(items))
            for i in order:
                yield i, items[i]
            return
        start = _ikey(self._head + self._count - 1) if reverse else _ikey(self._head)
        for ikey, value in self._txn.items(self._cid, start, reverse=reverse):
            yield _POSITION.unpack(ikey)[0] - _BIAS - self._head, value

    def all(self) -> list[bytes]:
        return list(self._inline) if self._inline is not None else [v for _, v in self.iterate()]

    # -- writing
    def set(self, i: int, value: bytes) -> None:
        """Replace element i (0 <= i < len)."""
        self._dirty = True
        if self._inline is not None:
            self._inline[i] = value
        else:
            self._txn.item_put(self._cid, _ikey(self._head + i), value)

    def push(self, values, left: bool) -> None:
        """LPUSH (each value becomes the new head in turn) or RPUSH."""
        self._dirty = True
        if self._inline is not None:
            if left:
                self._inline[:0] = reversed(values)
            else:
                self._inline.extend(values)
            return
        for value in values:
            if left:
                self._head -= 1
                self._txn.item_put(self._cid, _ikey(self._head), value)
            else:
                self._txn.item_put(self._cid, _ikey(self._head + self._count), value)
            self._count += 1

    def pop(self, n: int, left: bool) -> list[bytes]:
        """Remove up to n elements from one end, in pop order."""
        n = min(n, len(self))
        if n <= 0:
            return []
        self._dirty = True
        if self._inline is not None:
            if left:
                taken, self._inline[:n] = self._inline[:n], []
            else:
                taken = self._inline[len(self._inline) - n:][::-1]
                del self._inline[len(self._inline) - n:]
            return taken
        first = 0 if left else self._count - n
        taken = self.range(first, first + n - 1)
        for i in range(first, first + n):
            self._txn.item_delete(self._cid, _ikey(self._head + i))
        self._count -= n
        if left:
            self._head += n
            return taken
        return taken[::-1]

    def trim(self, start: int, stop: int) -> None:
        """Keep elements start..stop inclusive (an empty range empties the list)."""
        n = len(self)
        if start > stop or start >= n:
            start, stop = n, n - 1
        if start == 0 and stop >= n - 1:
            return
        self._dirty = True
        if self._inline is not None:
            self._inline = self._inline[start:stop + 1]
            return
        for i in list(range(0, start)) + list(range(stop + 1, n)):
            self._txn.item_delete(self._cid, _ikey(self._head + i))
        self._head += start
        self._count = max(stop - start + 1, 0)

    def remove_at(self, indexes: list[int]) -> None:
        """Remove the elements at `indexes` (non-empty, ascending, each in range) (LREM), closing the gaps
        from the side that moves fewer elements: the tail's towards the head, or the head's
        towards the tail (the head position moves)."""
        self._dirty = True
        if self._inline is not None:
            drop = set(indexes)
            self._inline = [x for i, x in enumerate(self._inline) if i not in drop]
            return
        n, k, drop = self._count, len(indexes), set(indexes)
        first, last = indexes[0], indexes[-1]
        if n - first <= last + 1:
            kept = [v for i, v in enumerate(self.range(first, n - 1), first) if i not in drop]
            base, gone = self._head + first, range(self._head + n - k, self._head + n)
        else:
            kept = [v for i, v in enumerate(self.range(0, last)) if i not in drop]
            base, gone = self._head + k, range(self._head, self._head + k)
            self._head += k
        for offset, value in enumerate(kept):
            self._txn.item_put(self._cid, _ikey(base + offset), value)
        for position in gone:
            self._txn.item_delete(self._cid, _ikey(position))
        self._count = n - k

    def insert(self, i: int, value: bytes) -> None:
        """Insert `value` before element i (0 <= i <= len) (LINSERT), moving the elements on the
        shorter side one place out: those before it towards the head, or those after it towards
        the tail."""
        self._dirty = True
        if self._inline is not None:
            self._inline.insert(i, value)
            return
        n = self._count
        if i <= n - i:
            moved = self.range(0, i - 1) if i else []
            self._head -= 1
            base = self._head
        else:
            moved = self.range(i, n - 1) if i < n else []
            base = self._head + i + 1
        for offset, element in enumerate(moved):
            self._txn.item_put(self._cid, _ikey(base + offset), element)
        self._txn.item_put(self._cid, _ikey(self._head + i), value)
        self._count = n + 1

    def replace_all(self, values: list[bytes]) -> None:
        """Make the list `values` (LREM, LINSERT in entries before log semantics version 21)."""
        self._dirty = True
        if self._inline is not None:
            self._inline = list(values)
            return
        self.trim(1, 0)
        self._head = 0
        self.push(values, left=False)


def load(txn, db: int, key: bytes, ctx):
    """(record, ItemList) of the list at key, record None when absent;
    (CommandError, None) when the key holds another type."""
    return itemview.load(txn, db, key, ctx, "LIST", lambda record: ItemList(txn, db, key, record))
