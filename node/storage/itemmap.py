"""A hash's fields or a set's members, inline or itemized (node/storage/itemview.py).

Itemized, each element is the item record crc32(element) | element, so a
random pick or an *SCAN cursor can work on that hash order. Iteration order
is insertion order inline and hash order itemized (Redis's order also
changes when a listpack becomes a hash table). A random pick is the first
element at or after a random 32-bit hash: O(log n), and it favours elements
after a gap in the hash space (Redis's picks are not uniform either). A
cursor is the next hash value, so an element present for the whole scan is
returned at least once.

Must not import lmdb, grpc or time: handlers run inside apply.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from raftcache.node.storage import containers as c
from raftcache.node.storage import itemview
from raftcache.node.storage.keyspace import Record

_HASH = struct.Struct(">I")
#: Random picks with repeats may ask this many times more lookups than the count
#: before a distinct pick falls back to reading every element.
_DISTINCT_TRIES = 4


def _ikey(element: bytes) -> bytes:
    return hashed_key(b"", element)


class ItemMap(itemview.ContainerView):
    """Dict-like view of a hash (`pairs`: field -> value) or a set (member -> None).

    Reads and writes go straight to an itemized container's items; an inline
    container is decoded once and re-encoded by save().
    """

    __slots__ = ("_pairs", "_inline")

    def __init__(self, txn, db: int, key: bytes, type_name: str, record: Record | None, pairs: bool):
        self._pairs = pairs
        self._inline = None
        super().__init__(txn, db, key, type_name, record)

    def _open_inline(self, value: bytes | None) -> None:
        if not value:
            self._inline = {}
            return
        items = c.decode_items(value)
        self._inline = dict(zip(items[0::2], items[1::2])) if self._pairs else dict.fromkeys(items)

    def _inline_len(self) -> int:
        return len(self._inline)

    def _inline_value(self) -> bytes | None:
        d = self._inline
        if not d:
            return None
        if not self._pairs:
            return c.encode_items(list(d))
        flat = []
        for k, v in d.items():
            flat.append(k)
            flat.append(v)
        return c.encode_items(flat)

    def _itemize(self) -> None:
        elements, self._inline = self._inline, None
        for element, value in elements.items():
            self[element] = value

    # -- reading
    def __len__(self) -> int:
        return self._count if self._inline is None else len(self._inline)

    def __contains__(self, element: bytes) -> bool:
        if self._inline is not None:
            return element in self._inline
        return self._txn.item_get(self._cid, _ikey(element)) is not None

    def get(self, element: bytes, default=None):
        if self._inline is not None:
            return self._inline.get(element, default)
        value = self._txn.item_get(self._cid, _ikey(element))
        if value is None:
            return default
        return value if self._pairs else None

    def __getitem__(self, element: bytes):
        if element not in self:
            raise KeyError(element)
        return self.get(element)

    def items(self) -> list[tuple[bytes, object]]:
        if self._inline is not None:
            return list(self._inline.items())
        return [(ikey[4:], value if self._pairs else None) for ikey, value in self._txn.items(self._cid)]

    def keys(self) -> list[bytes]:
        if self._inline is not None:
            return list(self._inline)
        return [ikey[4:] for ikey, _ in self._txn.items(self._cid)]

    def values(self) -> list:
        return [v for _, v in self.items()]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.keys())

    # -- writing
    def __setitem__(self, element: bytes, value) -> None:
        self._dirty = True
        if self._inline is not None:
            self._inline[element] = value
        elif self._txn.item_put(self._cid, _ikey(element), value if self._pairs else b""):
            self._count += 1

    def pop(self, element: bytes, default=None):
        if self._inline is not None:
            if element not in self._inline:
                return default
            self._dirty = True
            return self._inline.pop(element)
        ikey = _ikey(element)
        value = self._txn.item_get(self._cid, ikey)
        if value is None:
            return default
        self._txn.item_delete(self._cid, ikey)
        self._count -= 1
        self._dirty = True
        return value if self._pairs else None

    def __delitem__(self, element: bytes) -> None:
        if self.pop(element, KeyError) is KeyError:
            raise KeyError(element)

    # -- random picks (SRANDMEMBER, SPOP, HRANDFIELD) and SCAN
    def random_elements(self, rng, count: int | None):
        """Redis's *RANDMEMBER count rules over the elements: one element (count None),
        up to count distinct ones (count > 0), or |count| with repeats (count < 0)."""
        if self._inline is not None:
            return c.random_pick(rng, list(self._inline), count)
        return random_hashed(self._txn, self._cid, self._count, b"", rng, count)

    def scan(self, cursor: int, count: int, match: bytes) -> tuple[int, list[tuple[bytes, object]]]:
        """One *SCAN step: (next cursor, [(element, value)]). An inline container is
        returned whole (cursor 0), as Redis does for a listpack."""
        if self._inline is not None:
            return 0, [(k, v) for k, v in self._inline.items() if _matches(match, k)]
        cursor, found = scan_hashed(self._txn, self._cid, b"", cursor, count, match)
        return cursor, found if self._pairs else [(k, None) for k, _ in found]


# ---------------------------------------------------------------- hashed item families
# Items keyed by prefix | crc32(element) | element (a hash's or set's elements with an
# empty prefix; a sorted set's members under b"m"): random picks and SCAN cursors.

def hashed_key(prefix: bytes, element: bytes) -> bytes:
    return prefix + _HASH.pack(zlib.crc32(element) & 0xFFFFFFFF) + element


def _matches(match: bytes, element: bytes) -> bool:
    return not match or match == b"*" or c.glob_match(match, element)


def _hashed(txn, cid: int, prefix: bytes, start: bytes = b""):
    """(element, value) of one family from hash `start` on."""
    skip = len(prefix) + _HASH.size
    for ikey, value in txn.items(cid, prefix + start):
        if not ikey.startswith(prefix):
            return
        yield ikey[skip:], value


def _pick_one(txn, cid: int, prefix: bytes, rng) -> bytes:
    """The element at or after a random hash, wrapping to the first one."""
    for element, _ in _hashed(txn, cid, prefix, _HASH.pack(rng.getrandbits(32))):
        return element
    for element, _ in _hashed(txn, cid, prefix):
        return element
    raise KeyError("empty container")  # cannot happen: itemized containers are not empty


def random_hashed(txn, cid: int, size: int, prefix: bytes, rng, count: int | None):
    """*RANDMEMBER's count rules (see ItemMap.random_elements) over a family of `size` elements."""
    if count is None:
        return _pick_one(txn, cid, prefix, rng)
    if count < 0:
        return [_pick_one(txn, cid, prefix, rng) for _ in range(-count)]
    if count == 0:
        return []
    if count * _DISTINCT_TRIES >= size:
        everything = [element for element, _ in _hashed(txn, cid, prefix)]
        return everything if count >= len(everything) else rng.sample(everything, count)
    picked: dict[bytes, None] = {}
    for _ in range(count * _DISTINCT_TRIES):
        picked[_pick_one(txn, cid, prefix, rng)] = None
        if len(picked) == count:
            return list(picked)
    rest = [element for element, _ in _hashed(txn, cid, prefix) if element not in picked]  # unlucky draws
    return list(picked) + rng.sample(rest, count - len(picked))


def scan_hashed(txn, cid: int, prefix: bytes, cursor: int, count: int, match: bytes):
    """One SCAN step over a family: (next cursor, [(element, value)]). The cursor is the
    next hash value + 1 and a step never ends inside one hash value, so an element
    present for the whole scan is returned at least once."""
    if cursor < 0 or cursor > 1 << 32:
        return 0, []
    count = max(count or 10, 1)
    out = []
    visited = 0
    current = -1
    skip = len(prefix)
    for ikey, value in txn.items(cid, prefix + _HASH.pack(max(cursor - 1, 0))):
        if not ikey.startswith(prefix):
            break
        h = _HASH.unpack_from(ikey, skip)[0]
        if visited >= count and h != current:
            return h + 1, out
        current = h
        visited += 1
        element = ikey[skip + _HASH.size:]
        if _matches(match, element):
            out.append((element, value))
    return 0, out


def load(txn, db: int, key: bytes, ctx, type_name: str, pairs: bool):
    """(record, ItemMap) of the container at key, record None when absent;
    (CommandError, None) when the key holds another type."""
    return itemview.load(txn, db, key, ctx, type_name, lambda record: ItemMap(txn, db, key, type_name, record, pairs))
