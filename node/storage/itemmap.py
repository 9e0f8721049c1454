"""A hash's fields or a set's members, inline or itemized (node/storage/itemview.py).

Itemized, each element is the item record crc32(element) | element, so a
random pick or an *SCAN cursor can work on that hash order. Iteration order
is insertion order inline and hash order itemized (Redis's order also
changes when a listpack becomes a hash table). A random pick is the first
element at or after a random 32-bit hash: O(log n), and it favours elements
after a gap in the hash space (Redis's picks are not uniform either). A
cursor is the next hash value, so an element present for the whole scan is
returned at least once.

Field deadlines (a hash's HEXPIRE, Redis 7.4; record flag keyspace.FIELD_TTLS):
inline, the value is field, value, deadline (u64, 0: none) triples, then the
u64 earliest deadline; itemized, each item value is its u64 deadline then the
field's value, and the record ends with a u64 lower bound of the deadlines
(never later than the earliest: removing a field leaves it as it was). A view
opened at `now_ms` hides every field whose deadline is <= now_ms, so no read
sees one; purge_expired() deletes them (a write's first step, and the
leader's DeleteExpiredFields). An inline hash whose last deadline goes
returns to the plain layout; an itemized one keeps its deadline prefixes.

Must not import lmdb, grpc or time: handlers run inside apply.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from raftcache.node.storage import containers as c
from raftcache.node.storage import itemview
from raftcache.node.storage.keyspace import FIELD_TTLS, Record

_HASH = struct.Struct(">I")
_DEADLINE = struct.Struct(">Q")
_NO_DEADLINE = _DEADLINE.pack(0)
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

    __slots__ = ("_pairs", "_inline", "_now", "_deadlines", "_prefixed", "_bound", "_hidden")

    def __init__(self, txn, db: int, key: bytes, type_name: str, record: Record | None, pairs: bool,
                 now_ms: int = 0):
        self._pairs = pairs
        self._inline = None
        self._now = now_ms
        self._deadlines: dict[bytes, int] = {}   # inline: field -> deadline, only fields with one
        self._prefixed = False                   # itemized: item values start with a u64 deadline
        self._bound = 0                          # itemized: lower bound of the deadlines (0: none)
        self._hidden: list[bytes] = []           # inline: fields found expired at open
        super().__init__(txn, db, key, type_name, record)

    def _open_inline(self, value: bytes | None) -> None:
        if not value:
            self._inline = {}
            return
        items = c.decode_items(value)
        if not self._pairs:
            self._inline = dict.fromkeys(items)
        elif self._record.flags & FIELD_TTLS:
            self._inline = {}
            for i in range(0, len(items), 3):
                field, deadline = items[i], _DEADLINE.unpack(items[i + 2])[0]
                if deadline and deadline <= self._now:
                    self._hidden.append(field)
                    continue
                self._inline[field] = items[i + 1]
                if deadline:
                    self._deadlines[field] = deadline
        else:
            self._inline = dict(zip(items[0::2], items[1::2]))

    def _open_itemized(self, record: Record) -> None:
        if self._pairs and record.flags & FIELD_TTLS:
            self._prefixed = True
            self._bound = _DEADLINE.unpack_from(record.value, len(record.value) - _DEADLINE.size)[0]

    @property
    def _stale(self) -> bool:
        """Itemized fields may be past their deadline: reads filter them one by one."""
        return self._prefixed and 0 < self._bound <= self._now

    def _live(self, raw: bytes | None) -> bytes | None:
        """An itemized hash's stored item value without its deadline; None when absent or expired."""
        if raw is None or not self._prefixed:
            return raw
        deadline = _DEADLINE.unpack_from(raw)[0]
        if deadline and deadline <= self._now:
            return None
        return raw[_DEADLINE.size:]

    def _layout_flags(self) -> int:
        return FIELD_TTLS if (self._deadlines if self._inline is not None else self._prefixed) else 0

    def _header(self) -> bytes:
        header = super()._header()
        return header + _DEADLINE.pack(self._bound) if self._prefixed else header

    def _inline_len(self) -> int:
        return len(self._inline)

    def _inline_value(self) -> bytes | None:
        d = self._inline
        if not d:
            return None
        if not self._pairs:
            return c.encode_items(list(d))
        flat = []
        deadlines = self._deadlines
        for k, v in d.items():
            flat.append(k)
            flat.append(v)
            if deadlines:
                flat.append(_DEADLINE.pack(deadlines.get(k, 0)))
        if deadlines:
            return c.encode_items(flat) + _DEADLINE.pack(min(deadlines.values()))
        return c.encode_items(flat)

    def _itemize(self) -> None:
        elements, self._inline = self._inline, None
        deadlines, self._deadlines = self._deadlines, {}
        if deadlines:
            self._prefixed = True
            self._bound = min(deadlines.values())
        for element, value in elements.items():
            self._put_item(element, value, deadlines.get(element, 0))

    def _put_item(self, element: bytes, value, deadline: int) -> None:
        """Store one itemized element (with its deadline when the items carry them)."""
        self._dirty = True
        if not self._pairs:
            value = b""
        elif self._prefixed:
            value = _DEADLINE.pack(deadline) + value
        if self._txn.item_put(self._cid, _ikey(element), value):
            self._count += 1

    # -- reading
    def __len__(self) -> int:
        if self._inline is not None:
            return len(self._inline)
        return len(self.keys()) if self._stale else self._count

    def __contains__(self, element: bytes) -> bool:
        if self._inline is not None:
            return element in self._inline
        return self._live(self._txn.item_get(self._cid, _ikey(element))) is not None

    def get(self, element: bytes, default=None):
        if self._inline is not None:
            return self._inline.get(element, default)
        value = self._live(self._txn.item_get(self._cid, _ikey(element)))
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
        if self._prefixed:
            live = ((ikey[4:], self._live(raw)) for ikey, raw in self._txn.items(self._cid))
            return [(k, v) for k, v in live if v is not None]
        if self._pairs:
            return self._txn.item_pairs(self._cid, _HASH.size)
        return [(member, None) for member in self._txn.item_keys(self._cid, _HASH.size)]

    def items_with_deadlines(self) -> list[tuple[bytes, bytes, int]]:
        """A hash's live (field, value, deadline) triples, deadline 0 for none (DUMP)."""
        if self._inline is not None:
            deadlines = self._deadlines
            return [(k, v, deadlines.get(k, 0)) for k, v in self._inline.items()]
        if not self._prefixed:
            return [(k, v, 0) for k, v in self.items()]
        out = []
        for ikey, raw in self._txn.items(self._cid):
            deadline = _DEADLINE.unpack_from(raw)[0]
            if not deadline or deadline > self._now:
                out.append((ikey[4:], raw[_DEADLINE.size:], deadline))
        return out

    def keys(self) -> list[bytes]:
        if self._inline is not None:
            return list(self._inline)
        if self._prefixed:
            return [k for k, _ in self.items()]
        return self._txn.item_keys(self._cid, _HASH.size)

    def values(self) -> list:
        return [v for _, v in self.items()]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.keys())

    # -- writing
    def __setitem__(self, element: bytes, value) -> None:
        """Set an element; a hash field's deadline goes (HSET clears a field's TTL)."""
        self._dirty = True
        if self._inline is not None:
            self._inline[element] = value
            self._deadlines.pop(element, None)
        else:
            self._put_item(element, value, 0)

    def set_keep_ttl(self, element: bytes, value: bytes) -> None:
        """Set a hash field's value keeping its deadline (HINCRBY, HINCRBYFLOAT)."""
        if self._inline is not None:
            self._dirty = True
            self._inline[element] = value
        else:
            self._put_item(element, value, self.deadline(element) or 0)

    def pop(self, element: bytes, default=None):
        if self._inline is not None:
            if element not in self._inline:
                return default
            self._dirty = True
            self._deadlines.pop(element, None)
            return self._inline.pop(element)
        ikey = _ikey(element)
        value = self._live(self._txn.item_get(self._cid, ikey))
        if value is None:
            return default
        self._txn.item_delete(self._cid, ikey)
        self._count -= 1
        self._dirty = True
        return value if self._pairs else None

    # -- field deadlines (hashes only)
    def deadline(self, field: bytes) -> int | None:
        """A live field's deadline (0: none); None when the field is absent or expired."""
        if self._inline is not None:
            return self._deadlines.get(field, 0) if field in self._inline else None
        raw = self._txn.item_get(self._cid, _ikey(field))
        if self._live(raw) is None:
            return None
        return _DEADLINE.unpack_from(raw)[0] if self._prefixed else 0

    def has_deadlines(self) -> bool:
        """Whether a live field has a deadline."""
        if self._inline is not None:
            return bool(self._deadlines)
        return self._prefixed and any(_DEADLINE.unpack_from(raw)[0] > self._now for _, raw in self._txn.items(self._cid))

    def set_deadline(self, field: bytes, deadline: int) -> None:
        """Give a live field a deadline (0: none, HPERSIST). The deadline must be in the future."""
        self._dirty = True
        if self._inline is not None:
            if deadline:
                self._deadlines[field] = deadline
            else:
                self._deadlines.pop(field, None)
            return
        if not self._prefixed:
            if not deadline:
                return
            self._prefix_items()
        if deadline and (not self._bound or deadline < self._bound):
            self._bound = deadline
        value = self._txn.item_get(self._cid, _ikey(field))[_DEADLINE.size:]
        self._put_item(field, value, deadline)

    def _prefix_items(self) -> None:
        """The first deadline of an itemized hash: every item value gets its u64 prefix."""
        for ikey, value in list(self._txn.items(self._cid)):
            self._txn.item_put(self._cid, ikey, _NO_DEADLINE + value)
        self._prefixed = True

    def purge_expired(self) -> list[bytes]:
        """Delete every field whose deadline is <= now_ms (call save() after); the fields deleted."""
        if self._inline is not None:
            gone, self._hidden = self._hidden, []
            if gone:
                self._dirty = True
            return gone
        if not self._stale:
            return []
        gone: list[bytes] = []
        bound = 0
        for ikey, raw in list(self._txn.items(self._cid)):
            deadline = _DEADLINE.unpack_from(raw)[0]
            if deadline and deadline <= self._now:
                self._txn.item_delete(self._cid, ikey)
                gone.append(ikey[4:])
            elif deadline and (not bound or deadline < bound):
                bound = deadline
        self._count -= len(gone)
        self._bound = bound
        self._dirty = True
        return gone

    def __delitem__(self, element: bytes) -> None:
        if self.pop(element, KeyError) is KeyError:
            raise KeyError(element)

    # -- random picks (SRANDMEMBER, SPOP, HRANDFIELD) and SCAN
    def random_elements(self, rng, count: int | None, one_pass: bool = True):
        """Redis's *RANDMEMBER count rules over the elements: one element (count None),
        up to count distinct ones (count > 0), or |count| with repeats (count < 0; see
        random_hashed for `one_pass`)."""
        if self._inline is not None:
            return c.random_pick(rng, list(self._inline), count)
        if self._stale:
            return c.random_pick(rng, self.keys(), count)
        return random_hashed(self._txn, self._cid, self._count, b"", rng, count, one_pass)

    def scan(self, cursor: int, count: int, match: bytes) -> tuple[int, list[tuple[bytes, object]]]:
        """One *SCAN step: (next cursor, [(element, value)]). An inline container is
        returned whole (cursor 0), as Redis does for a listpack."""
        if self._inline is not None:
            return 0, [(k, v) for k, v in self._inline.items() if _matches(match, k)]
        cursor, found = scan_hashed(self._txn, self._cid, b"", cursor, count, match)
        if self._prefixed:
            live = ((k, self._live(raw)) for k, raw in found)
            return cursor, [(k, v) for k, v in live if v is not None]
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


#: Repeated picks (a negative count) are drawn from one pass over the elements once they are
#: at least 1 / _REPEATS_PER_SCAN of them (a seek costs several steps of a pass).
_REPEATS_PER_SCAN = 4


def random_hashed(txn, cid: int, size: int, prefix: bytes, rng, count: int | None, one_pass: bool = True):
    """*RANDMEMBER's count rules (see ItemMap.random_elements) over a family of `size` elements.
    `one_pass` (commands.one_pass_picks): many picks with repeats may come from one pass over the
    elements; without it (an entry of an older log version at apply) every pick seeks."""
    if count is None:
        return _pick_one(txn, cid, prefix, rng)
    if count < 0:
        if not one_pass or -count * _REPEATS_PER_SCAN < size:
            return [_pick_one(txn, cid, prefix, rng) for _ in range(-count)]
        # as many picks as a fraction of the elements: one pass over them costs less than a
        # seek per pick (a million picks of 200 fields took seconds)
        return rng.choices([element for element, _ in _hashed(txn, cid, prefix)], k=-count)
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
    (CommandError, None) when the key holds another type. The view hides the
    hash fields past their deadline at the context's clock."""
    return itemview.load(txn, db, key, ctx, type_name,
                         lambda record: ItemMap(txn, db, key, type_name, record, pairs, ctx.now_ms))
