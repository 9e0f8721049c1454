"""The node's access table: when each key was last used and how often (Redis's LRU
clock and LFU counter), for the leader's eviction choices and OBJECT IDLETIME/FREQ.

Every node records the keys its own reads touch; the leader also records the
keys of the writes it proposes. A follower keeps what it read since its last
report apart (sampled: at most REPORT_MAX_KEYS keys per report, the first
ones read) and sends it to the leader twice a second
(Internal.ReportAccess); the leader merges it, so its clocks and counters
count the reads every node served. A follower's own table takes those same
kept reads when the report is taken (a read costs one dict lookup on its
path, not a table update), and a key's kept reads at once when OBJECT
IDLETIME/FREQ asks about it; reads past the sample are not recorded there
either. A key's last access from a report is the
leader's clock less the age the follower reported, so the nodes' clocks need
not agree.

Bounded: at most `capacity` keys, in recency order; past it the least
recently used one is forgotten. A key the table does not hold is colder than
any it holds (idle since the table began, LFU counter 0) — for LRU that is
exact: it was not used since the oldest key still held was. Redis's own LRU
is approximated the same way, by sampling (docs/redis-compat.md "Eviction").
A new leader's table knows only what happened since it began, so the leader
seeds it (`seed`) with the keys it lacks, as the coldest, oldest write first:
Redis's approximation for keys whose clock is old.

Each entry also keeps the key's logical size when the leader knows it (a
plain SET it proposed: the table changes when a write is proposed, so it
never lags the log), so that choosing a victim needs no keyspace read; 0
means unknown (the evictor looks it up).

LFU follows Redis (evict.c): a logarithmic 8-bit counter, new keys start at
LFU_INIT_VAL, each access increments with probability
1 / ((counter - LFU_INIT_VAL) * lfu-log-factor + 1), and the counter loses one
per lfu-decay-time minutes without access. As in Redis (an object's one field holds
either its LRU clock or its LFU data), the counters are kept only while an LFU
maxmemory-policy is in force (`configure(lfu=...)`); under any other policy an access
leaves a key's counter as it was (a key first seen then holds LFU_INIT_VAL), and
OBJECT FREQ is refused there anyway.

Not replicated and never consulted by apply (docs/design.md invariant 2): it
only steers which keys the leader names in an Evict. Runs on the event loop.
"""

from __future__ import annotations

import random
from collections import OrderedDict

#: Keys a table remembers (about 250 bytes each: 100,000 keys ~ 25 MB).
DEFAULT_CAPACITY = 100_000
#: Most keys one follower report carries (~40 bytes each plus the key): a sample, the first
#: distinct keys read in the interval (4,096 cost a follower serving 25,000 GET/s ~5 % of its CPU
#: and the leader as much again to merge; docs/eviction.md).
REPORT_MAX_KEYS = 1024
#: Redis's starting LFU counter of a new key, and the counter's ceiling.
LFU_INIT_VAL = 5
_LFU_MAX = 255
#: Most log-increments one access report applies to a key (the counter is logarithmic).
_MAX_INCREMENTS = 64
_MINUTE_MS = 60_000
#: An entry is packed as `size << _SIZE_SHIFT | last_ms << 8 | counter` (last_ms: 48 bits).
_SIZE_SHIFT = 56
_MS_MASK = (1 << 48) - 1
_NO_SIZE = (1 << _SIZE_SHIFT) - 1


class AccessTable:
    """(db, key) -> size, last access (ms) and LFU counter, packed as
    `size << 56 | last_ms << 8 | counter` (size 0: unknown)."""

    #: An entry's logical size is `packed >> SIZE_SHIFT` (0: unknown).
    SIZE_SHIFT = _SIZE_SHIFT

    def __init__(self, now_ms: int, capacity: int = DEFAULT_CAPACITY, rng: random.Random | None = None):
        self.capacity = capacity
        #: When this table began: the idle time of a key it does not hold is counted from here.
        self.since_ms = now_ms
        self.lfu_log_factor = 10
        self.lfu_decay_time = 1          # minutes; 0: counters never decay
        #: Whether an LFU policy is in force: only then do accesses count and counters decay.
        self.lfu = True
        #: True on a follower: reads are also kept for the next report to the leader.
        self.reporting = False
        self.reports_dropped = 0         # keys left out of full reports (sampling)
        self._keys: OrderedDict = OrderedDict()
        self._pending: dict = {}
        self._random = (rng or random.Random()).random

    def __len__(self) -> int:
        return len(self._keys)

    def configure(self, lfu_log_factor: int, lfu_decay_time: int, lfu: bool = True) -> None:
        self.lfu_log_factor, self.lfu_decay_time, self.lfu = lfu_log_factor, lfu_decay_time, lfu

    # ------------------------------------------------------------ recording

    def record(self, db: int, key: bytes, now_ms: int, size: int | None = None) -> None:
        """One access to `key` (a read this node served, or a write the leader proposed).
        `size`: the key's logical size after a write (0: unknown); None (a read) keeps
        what the table knows. On every read's path: _touch for one access, inlined."""
        k = (db, key)
        if self.reporting and size is None:
            # A follower's read: kept for the next report only; this table takes it then
            # (take_report), so a read costs one dict lookup here (module docstring).
            pending = self._pending.get(k)
            if pending is not None:
                pending[0] += 1
                pending[1] = now_ms
            elif len(self._pending) < REPORT_MAX_KEYS:
                self._pending[k] = [1, now_ms, 0]
            else:
                self.reports_dropped += 1
            return
        keys = self._keys
        packed = keys.get(k)
        if packed is None:
            keys[k] = (size or 0) << _SIZE_SHIFT | now_ms << 8 | LFU_INIT_VAL
            if len(keys) > self.capacity:
                keys.popitem(last=False)
        else:
            last_ms = packed >> 8 & _MS_MASK
            counter = packed & 0xFF
            if self.lfu:
                if now_ms - last_ms >= _MINUTE_MS:
                    counter = self._decayed(packed, now_ms)
                if counter < _LFU_MAX and self._random() < 1.0 / (max(counter - LFU_INIT_VAL, 0) * self.lfu_log_factor + 1):
                    counter += 1
            keys[k] = ((packed >> _SIZE_SHIFT if size is None else size) << _SIZE_SHIFT
                       | (now_ms if now_ms > last_ms else last_ms) << 8 | counter)
            keys.move_to_end(k)

    def forget(self, db: int, key: bytes) -> None:
        self._keys.pop((db, key), None)

    def clear(self) -> None:
        self._keys.clear()

    def holds(self, db: int, key: bytes) -> bool:
        return (db, key) in self._keys

    def oldest(self):
        """((db, key), packed entry), least recently used first: do not change the table
        until done with it (`packed >> SIZE_SHIFT` is an entry's size, 0: unknown)."""
        return iter(self._keys.items())

    def take(self, db: int, key: bytes) -> int | None:
        """Remove `key`'s entry and return it (for `put_back`), None when the table holds none."""
        return self._keys.pop((db, key), None)

    def put_back(self, db: int, key: bytes, packed: int | None) -> None:
        """Return an entry `take` removed, as the coldest, unless the key was used since
        (the table holds a newer entry) or the table is full; without its size (a deletion
        proposed before and applied after this may be on its way)."""
        k = (db, key)
        keys = self._keys
        if k in keys or len(keys) >= self.capacity:
            return
        keys[k] = self.since_ms << 8 | LFU_INIT_VAL if packed is None else packed & _NO_SIZE
        keys.move_to_end(k, last=False)

    def forget_sizes(self) -> None:
        """Drop every entry's size (a node that begins to lead: while it followed, the
        leader's writes and evictions changed keys it does not know of)."""
        keys = self._keys
        for k in list(keys):
            keys[k] &= _NO_SIZE

    def room(self) -> int:
        """How many more keys the table can hold."""
        return max(self.capacity - len(self._keys), 0)

    def seed(self, keys) -> int:
        """Keys the table lacks, [(db, key, size)] coldest last, as colder than every key it
        holds: idle since the table began, Redis's starting LFU counter (decayed since).
        At most `room()` of them; returns how many were added."""
        table = self._keys
        added = 0
        base = self.since_ms << 8 | LFU_INIT_VAL
        for db, key, size in keys:
            k = (db, key)
            if k in table:
                continue
            if len(table) >= self.capacity:
                break
            table[k] = size << _SIZE_SHIFT | base
            table.move_to_end(k, last=False)
            added += 1
        return added

    def _touch(self, k: tuple, now_ms: int, count: int) -> None:
        keys = self._keys
        packed = keys.get(k)
        if packed is None:  # first seen: as a key Redis creates, LFU_INIT_VAL (the first access is that)
            last_ms, counter, count, size = now_ms, LFU_INIT_VAL, count - 1, 0
        else:
            last_ms = max(packed >> 8 & _MS_MASK, now_ms)
            counter = self._decayed(packed, now_ms) if self.lfu else packed & 0xFF
            size = packed >> _SIZE_SHIFT
        for _ in range(min(count, _MAX_INCREMENTS) if self.lfu else 0):
            if counter >= _LFU_MAX:
                break
            if self._random() < 1.0 / (max(counter - LFU_INIT_VAL, 0) * self.lfu_log_factor + 1):
                counter += 1
        keys[k] = size << _SIZE_SHIFT | last_ms << 8 | counter
        if packed is not None:
            keys.move_to_end(k)
        elif len(keys) > self.capacity:
            keys.popitem(last=False)

    def _decayed(self, packed: int, now_ms: int) -> int:
        counter = packed & 0xFF
        if self.lfu_decay_time <= 0:
            return counter
        periods = max(now_ms - (packed >> 8 & _MS_MASK), 0) // _MINUTE_MS // self.lfu_decay_time
        return max(counter - periods, 0)

    # ------------------------------------------------------------ reading

    def _catch_up(self, k: tuple) -> None:
        """A follower: the reads of `k` kept for the next report, into this table now (OBJECT
        IDLETIME/FREQ see them at once); the report still carries them."""
        pending = self._pending.get(k)
        if pending is not None and pending[0] > pending[2]:
            self._touch(k, pending[1], pending[0] - pending[2])
            pending[2] = pending[0]

    def idle_ms(self, db: int, key: bytes, now_ms: int) -> int:
        """Milliseconds since the key's last access (since the table began when it holds none)."""
        if self._pending:
            self._catch_up((db, key))
        packed = self._keys.get((db, key))
        last_ms = self.since_ms if packed is None else packed >> 8 & _MS_MASK
        return max(now_ms - last_ms, 0)

    def freq(self, db: int, key: bytes, now_ms: int) -> int:
        """The key's LFU counter after decay (OBJECT FREQ); 0 when the table holds none."""
        if self._pending:
            self._catch_up((db, key))
        packed = self._keys.get((db, key))
        return 0 if packed is None else self._decayed(packed, now_ms)

    def idle_and_freq(self, db: int, key: bytes, now_ms: int) -> tuple[int, int]:
        return self.idle_ms(db, key, now_ms), self.freq(db, key, now_ms)

    # ------------------------------------------------------------ follower reports

    def take_report(self, now_ms: int) -> list[tuple[int, bytes, int, int]]:
        """The reads kept since the last report: [(db, key, count, age_ms)], and start a new one.
        They enter this table here (a follower's own reads wait for this, see record)."""
        pending, self._pending = self._pending, {}
        touch = self._touch
        for k, (count, last_ms, applied) in pending.items():
            if count > applied:
                touch(k, last_ms, count - applied)
        return [(db, key, count, max(now_ms - last_ms, 0)) for (db, key), (count, last_ms, _) in pending.items()]

    def merge(self, report, now_ms: int) -> None:
        """A follower's report, [(db, key, count, age_ms)], into this (the leader's) table."""
        for db, key, count, age_ms in report:
            self._touch((db, key), now_ms - age_ms, count)
