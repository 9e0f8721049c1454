"""The near cache: GET results kept in the client process, dropped when the cluster says the
key changed (`Client(..., near_cache=N)`).

The client follows an invalidation stream (Cache.Subscribe with invalidations:
every write the node applies, its keys and its log index, as CLIENT TRACKING
BCAST) from one node. The stream starts at index S (the node's applied index
when it began reporting): every later write is on it. A GET's reply carries the index its node had
applied, i; the value is kept only when i >= S and no invalidation of the key
newer than i arrived while the read was in flight. So a kept value is never
older than an invalidation the client was told of, whichever node served the
read; and a miss is read at min_index = the newest index the stream told of,
so not even a miss returns such a value. The client's own writes count as told of
(read-your-writes at level `any`). Losing the stream (its node failed) empties the cache until a new one
is in place. At most `capacity` keys, least recently used first out.
"""

from __future__ import annotations

import collections
import dataclasses

MISS = object()


@dataclasses.dataclass
class NearCacheStats:
    hits: int = 0
    misses: int = 0
    invalidations: int = 0
    size: int = 0


class NearCache:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._entries: collections.OrderedDict = collections.OrderedDict()   # (db, key) -> value
        self._dbs_of: dict[bytes, set[int]] = {}
        self._reading: dict[tuple[int, bytes], int] = {}   # reads in flight per (db, key)
        self._newest: dict[bytes, int] = {}                # key -> newest invalidation index seen while read
        self._flushed_at = 0
        #: The stream's first index; None while no stream is in place (nothing is kept).
        self.floor: int | None = None
        #: The newest index the stream told of: a miss reads at least this fresh (min_index),
        #: so no read returns a value older than an invalidation the client was told of.
        self.seen = 0
        self.stats = NearCacheStats()

    # ------------------------------------------------------------ reads

    def get(self, db: int, key: bytes):
        entry = self._entries.get((db, key), MISS)
        if entry is MISS:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
            self._entries.move_to_end((db, key))
        return entry

    def begin(self, db: int, key: bytes) -> None:
        self._reading[(db, key)] = self._reading.get((db, key), 0) + 1

    def end(self, db: int, key: bytes, value, index: int | None) -> None:
        """The read of (db, key) returned `value`, seen at applied index `index` (None: failed)."""
        slot = (db, key)
        left = self._reading.pop(slot) - 1
        if left:
            self._reading[slot] = left
        newest = max(self._newest.get(key, 0), self._flushed_at)
        if not any(k == key for _, k in self._reading):
            self._newest.pop(key, None)
        if index is None or self.floor is None or index < self.floor or newest > index:
            return
        self._entries[slot] = value
        self._entries.move_to_end(slot)
        self._dbs_of.setdefault(key, set()).add(db)
        while len(self._entries) > self.capacity:
            (old_db, old_key), _ = self._entries.popitem(last=False)
            self._unindex(old_db, old_key)

    def _unindex(self, db: int, key: bytes) -> None:
        dbs = self._dbs_of.get(key)
        if dbs is not None:
            dbs.discard(db)
            if not dbs:
                del self._dbs_of[key]

    # ------------------------------------------------------------ invalidations

    def drop(self, keys) -> None:
        """Forget `keys` in every database (this client writes them)."""
        for key in keys:
            for db in self._dbs_of.pop(key, ()):
                self._entries.pop((db, key), None)

    def wrote(self, keys, index: int) -> None:
        """This client's write of `keys` was applied at `index`: later misses read at least
        that fresh (read-your-writes at level `any`, whichever replica serves them), and a
        read of these keys still in flight keeps nothing older."""
        self._forget(list(keys), index)

    def invalidate(self, keys: list[bytes], index: int) -> None:
        self.stats.invalidations += 1
        self._forget(keys, index)

    def _forget(self, keys: list[bytes], index: int) -> None:
        self.seen = max(self.seen, index)
        for key in keys:
            if any(k == key for _, k in self._reading):
                self._newest[key] = max(self._newest.get(key, 0), index)
        self.drop(keys)

    def invalidate_all(self, index: int) -> None:
        self.stats.invalidations += 1
        self.seen = max(self.seen, index)
        self._flushed_at = max(self._flushed_at, index)
        self._entries.clear()
        self._dbs_of.clear()

    def lost(self) -> None:
        """The invalidation stream is gone: keep nothing until the next one is in place."""
        self.floor = None
        self._entries.clear()
        self._dbs_of.clear()

    def snapshot_stats(self) -> NearCacheStats:
        return dataclasses.replace(self.stats, size=len(self._entries))
