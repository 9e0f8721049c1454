"""A sorted set's members, inline or itemized (node/storage/itemview.py).

Inline, the record encodes member, score… in (score, member) order (`encode`
below). Itemized, each member has two item records under the container id:

    b"m" | crc32(member) | member            ->  score   (lookups, random picks, ZSCAN)
    b"s" | ordered(score) | member           ->  score   (the ranking order)

`ordered` maps a double to 8 bytes whose byte order is the number order
(-0.0 ranks as 0.0, as in the inline order), so the b"s" family is sorted
exactly as Redis ranks. ZADD, ZREM, ZSCORE and ZINCRBY cost O(log n); a
score range costs O(log n + its length); a rank (ZRANK, ZRANGE by index)
costs O(distance from the nearer end) — Redis's skip list does that in
O(log n). ZRANGEBYLEX reads every member (it is meant for sets whose
members share one score).

Must not import lmdb, grpc or time: handlers run inside apply.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator

from raftcache.node.storage import containers as c
from raftcache.node.storage import itemview
from raftcache.node.storage.itemmap import hashed_key, random_hashed, scan_hashed
from raftcache.node.storage.keyspace import Record

_D = struct.Struct("<d")
_BITS = struct.Struct(">d")
_U64 = struct.Struct(">Q")
_MEMBERS = b"m"
_ORDER = b"s"
_ORDER_END = b"t"   # the first key after every b"s" key
_SIGN = 1 << 63
_ALL = (1 << 64) - 1


def decode(value: bytes) -> list[tuple[float, bytes]]:
    items = c.decode_items(value)
    return [(_D.unpack(items[i + 1])[0], items[i]) for i in range(0, len(items), 2)]


def encode(entries) -> bytes | None:
    if not entries:
        return None
    flat = []
    for score, member in entries:
        flat.append(member)
        flat.append(_D.pack(score))
    return c.encode_items(flat)


def _ordered_u64(score: float) -> int:
    (bits,) = _U64.unpack(_BITS.pack(score + 0.0 if score == 0 else score))  # -0.0 ranks as 0.0
    return bits ^ _ALL if bits & _SIGN else bits | _SIGN


def _order_key(score: float, member: bytes = b"") -> bytes:
    return _ORDER + _U64.pack(_ordered_u64(score)) + member


class ItemZSet(itemview.ContainerView):
    """The members of one sorted set; call save() after changing anything."""

    __slots__ = ("_entries", "_scores")

    def __init__(self, txn, db: int, key: bytes, record: Record | None):
        self._entries = self._scores = None
        super().__init__(txn, db, key, "ZSET", record)

    def _open_inline(self, value: bytes | None) -> None:
        self._entries = decode(value) if value else []   # (score, member), ranked
        self._scores = {m: s for s, m in self._entries}

    def _inline_len(self) -> int:
        return len(self._entries)

    def _inline_value(self) -> bytes | None:
        return encode(self._entries)

    def _itemize(self) -> None:
        entries, self._entries, self._scores = self._entries, None, None
        for score, member in entries:
            self.set(member, score)

    def __len__(self) -> int:
        return self._count if self._entries is None else len(self._entries)

    @property
    def itemized(self) -> bool:
        """The members are item records (past the inline limit), not one record."""
        return self._entries is None

    # -- reading
    def score(self, member: bytes) -> float | None:
        if self._entries is not None:
            return self._scores.get(member)
        raw = self._txn.item_get(self._cid, hashed_key(_MEMBERS, member))
        return None if raw is None else _D.unpack(raw)[0]

    def _ranked(self, reverse: bool = False, start: bytes = b"") -> Iterator[tuple[float, bytes]]:
        """(score, member) of an itemized set in rank order (or reverse) from order key `start`."""
        skip = len(_ORDER) + _U64.size
        probe = start or (_ORDER_END if reverse else _ORDER)
        for ikey, raw in self._txn.items(self._cid, probe, reverse=reverse):
            if not ikey.startswith(_ORDER):
                return
            yield _D.unpack(raw)[0], ikey[skip:]

    def entries(self) -> list[tuple[float, bytes]]:
        """Every (score, member) in rank order."""
        return list(self._entries) if self._entries is not None else list(self._ranked())

    def by_rank(self, start: int, stop: int) -> list[tuple[float, bytes]]:
        """Ranks start..stop inclusive (0 <= start <= stop < len), in rank order."""
        if self._entries is not None:
            return self._entries[start:stop + 1]
        n = self._count
        out = []
        if start <= n - 1 - stop:  # nearer the lowest rank: walk up from it
            for i, entry in enumerate(self._ranked()):
                if i > stop:
                    break
                if i >= start:
                    out.append(entry)
            return out
        for i, entry in enumerate(self._ranked(reverse=True)):
            rank = n - 1 - i
            if rank < start:
                break
            if rank <= stop:
                out.append(entry)
        out.reverse()
        return out

    def by_score(self, low: float, high: float, reverse: bool = False) -> Iterator[tuple[float, bytes]]:
        """(score, member) with low <= score <= high, in rank order (or reverse), lazily."""
        if self._entries is not None:
            entries = self._entries
            lo = bisect.bisect_left(entries, (low, b""))
            picked = []
            for e in entries[lo:]:
                if e[0] > high:
                    break
                picked.append(e)
            yield from reversed(picked) if reverse else picked
            return
        if reverse:
            after_high = _ORDER + _U64.pack(min(_ordered_u64(high) + 1, _ALL))
            for score, member in self._ranked(True, after_high):
                if score < low:
                    return
                if score <= high:
                    yield score, member
            return
        for score, member in self._ranked(False, _order_key(low)):
            if score > high:
                return
            yield score, member

    def count_by_score(self, low: float, high: float, low_exclusive: bool = False,
                       high_exclusive: bool = False) -> int:
        """How many members of an itemized set (`itemized`) have a score within low..high, each
        end included unless exclusive (ZCOUNT): the order records between the two ends counted
        by the cursor, no member decoded (O(log n + the count), in C)."""
        start = _ordered_u64(low) + low_exclusive   # (past every member of score `low`)
        end = _ordered_u64(high) + (not high_exclusive)
        if start > _ALL:
            return 0
        end_key = _ORDER_END if end > _ALL else _ORDER + _U64.pack(end)
        return self._txn.count_items(self._cid, _ORDER + _U64.pack(start), end_key)

    def rank(self, member: bytes) -> tuple[int, float] | None:
        """(rank from the lowest, score) of `member`, or None."""
        if self._entries is not None:
            score = self._scores.get(member)
            if score is None:
                return None
            return bisect.bisect_left(self._entries, (score, member)), score
        score = self.score(member)
        if score is None:
            return None
        # Walk from both ends at once: O(distance from the nearer end).
        target = _order_key(score, member)
        up = self._txn.items(self._cid, _ORDER)
        down = self._txn.items(self._cid, _ORDER_END, reverse=True)
        for steps in range(self._count):
            if next(up)[0] == target:
                return steps, score
            if next(down)[0] == target:
                return self._count - 1 - steps, score
        raise KeyError(member)  # cannot happen: the member has an order record

    # -- writing
    def set(self, member: bytes, score: float) -> None:
        """Add `member` or move it to `score`."""
        old = self.score(member)
        if old is not None and old == score:
            return
        self._dirty = True
        if self._entries is not None:
            if old is not None:
                del self._entries[bisect.bisect_left(self._entries, (old, member))]
            bisect.insort(self._entries, (score, member))
            self._scores[member] = score
            return
        txn, cid = self._txn, self._cid
        if old is None:
            self._count += 1
        else:
            txn.item_delete(cid, _order_key(old, member))
        raw = _D.pack(score)
        txn.item_put(cid, hashed_key(_MEMBERS, member), raw)
        txn.item_put(cid, _order_key(score, member), raw)

    def remove(self, member: bytes) -> bool:
        old = self.score(member)
        if old is None:
            return False
        self._dirty = True
        if self._entries is not None:
            del self._entries[bisect.bisect_left(self._entries, (old, member))]
            del self._scores[member]
            return True
        self._txn.item_delete(self._cid, hashed_key(_MEMBERS, member))
        self._txn.item_delete(self._cid, _order_key(old, member))
        self._count -= 1
        return True

    # -- random picks (ZRANDMEMBER) and ZSCAN
    def random_members(self, rng, count: int | None, one_pass: bool = True):
        if self._entries is not None:
            return c.random_pick(rng, [m for _, m in self._entries], count)
        return random_hashed(self._txn, self._cid, self._count, _MEMBERS, rng, count, one_pass)

    def scan(self, cursor: int, count: int, match: bytes) -> tuple[int, list[tuple[bytes, float]]]:
        """One ZSCAN step: (next cursor, [(member, score)]); an inline set comes whole."""
        if self._entries is not None:
            return 0, [(m, s) for s, m in self._entries if not match or match == b"*" or c.glob_match(match, m)]
        cursor, found = scan_hashed(self._txn, self._cid, _MEMBERS, cursor, count, match)
        return cursor, [(m, _D.unpack(raw)[0]) for m, raw in found]


def load(txn, db: int, key: bytes, ctx):
    """(record, ItemZSet) of the sorted set at key, record None when absent;
    (CommandError, None) when the key holds another type."""
    return itemview.load(txn, db, key, ctx, "ZSET", lambda record: ItemZSet(txn, db, key, record))
