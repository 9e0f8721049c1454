"""The leader's eviction choices: which keys an Evict names, and when.

Apply frees room only by deleting keys the log names (node/commands/eviction.py);
this module names them, on the leader alone, with Redis's algorithms (evict.c).

- `plan(entries, growth)`: for each group commit. When the keyspace, plus the
  writes in flight less what the Evicts in flight will delete, plus this batch
  (`growth`: an upper bound of what its writes add, `estimate_growth`) would
  pass maxmemory, it returns Evict entries to put at the head of the batch,
  one per eviction mode its writes use. Each deletes at once (`until_bytes`)
  down to maxmemory less the batch's growth less a little hysteresis
  (`headroom`: 1/128 of maxmemory, at most HEADROOM_MAX_BYTES), so that one
  Evict makes room for the next several batches, and offers a few candidates
  more (a reserve) to the batch's own writes should they need them.
  A batch that fits only thanks to the Evicts in flight still gets an Evict
  of candidates for its own growth, without `until_bytes` (deleted only if
  its writes need them): should those Evicts fall short, it finds room.
- `overdue()`: an Evict that deletes now down to maxmemory when the
  keyspace is over it already (maxmemory lowered, a leader change during a
  burst); the upkeep loop (node/service/upkeep.py) proposes it every EVICTION_INTERVAL_S until it fits.
- `start_seeding()` / `seed_step()`: a new leader's access table knows nothing
  of what was used before it led; the leader scans the keyspace, a bounded
  slice at a time, and seeds the table with every key it lacks as colder than
  any it holds, oldest write first within a slice (node/service/access.py).

Choosing a victim, by policy:
- *-lru (and memcached writes, Command.eviction = EVICT_LRU: allkeys-lru over
  database 0): a key the access table (node/service/access.py) does not hold
  is colder than any it holds, so first, while sampling finds such keys, the
  oldest-written of each `maxmemory-samples` sampled keys (Redis's
  approximation, used where there is nothing better: while a new leader's
  table is being seeded, or past the table's capacity); then the table's own
  recency order, least recently used first — exact, where Redis samples (and
  cheap: the table keeps the size of the keys the leader wrote with SET, so
  most victims need no keyspace read). volatile-lru takes keys with a deadline
  only. When LRU_SCAN_MAX of the table's oldest entries, or all of them, gave
  too few (keys without a deadline, keys gone since), it samples with the
  pool below.
- *-lfu: Redis's eviction pool. Each pick samples `maxmemory-samples` keys
  from every non-empty database (allkeys-*, at a random key hash) or from the
  deadline index (volatile-*, at a random deadline), scores them with the
  access table (255 - LFU counter, then idle time), keeps the
  EVICTION_POOL_SIZE best across picks and takes the best of them.
- *-random: a random key (allkeys) or key with a deadline (volatile).
- volatile-ttl: the nearest deadlines, in order (exact, where Redis samples).

Keys the batch names are never offered. Candidates of Evicts still in flight
(proposed, not applied) are not chosen again; under volatile-ttl an Evict
repeats them, in their order, ahead of its new ones: the writes before it
may not need them all, and the ones they leave must go first. The table's
entries of the candidates LRU names leave it while they are in flight; once
their entry is applied (`release`) the ones still stored go back as the
coldest, the others are forgotten. Work is bounded: at most MAX_CANDIDATES
keys per Evict, LRU_SCAN_MAX table entries looked at per batch, SEED_SLICE
keys scanned per seeding step.
Runs on the event loop; reads the keyspace through read transactions only.
"""

from __future__ import annotations

import bisect
import random
import time

from raftcache.commandkeys import command_keys
from raftcache.node import commands
from raftcache.node.commands import bits
from raftcache.node.config import settings
from raftcache.node.storage.keyspace import Sample, record_bytes
from raftcache.proto import commands_pb2 as pb

#: Most keys one Evict offers (apply ignores any past its own, larger bound).
MAX_CANDIDATES = 512
#: Redis's EVPOOL_SIZE: the best candidates kept between picks.
EVICTION_POOL_SIZE = 16
#: How long after a sample found every key in the access table LRU looks for keys it lacks again.
UNTRACKED_RECHECK_S = 0.1
#: Most access-table entries one batch's LRU choice looks at before sampling instead.
LRU_SCAN_MAX = 512
#: How often the leader checks for a keyspace already past maxmemory.
EVICTION_INTERVAL_S = 0.1
#: The most hysteresis an Evict deletes below what its batch needs (see `headroom`).
HEADROOM_MAX_BYTES = 64 << 10
#: Keys of the keyspace one seeding step looks at (the eviction loop takes one a turn).
SEED_SLICE = 4096
#: The label memcached's own LRU evictions are counted under.
MEMCACHED_POLICY = "memcached-lru"
#: Logical bytes charged per element a container command adds, on top of twice its encoded
#: size (a sorted set stores each member twice, each item record has ITEM_OVERHEAD_BYTES).
_ELEMENT_BYTES = 48
#: Writes that delete or only read: they add nothing.
_NO_GROWTH = frozenset({"del", "delete_expired", "evict", "get_del", "pop", "lmpop", "spop", "zpop", "zmpop",
                        "srem", "hdel", "zrem", "zremrange", "ltrim", "lrem", "persist", "expire", "rename",
                        "move", "swap_db", "flush_all", "flush_db", "noop", "config_set", "set_version", "claim_slots",
                        "get_and_touch", "meta_invalidate"})
#: Writes whose result is built from other keys: the sources' sizes bound it (looked up when planning).
_FROM_SOURCES = frozenset({"copy", "set_op_store", "zset_op_store", "zrangestore", "bitop"})


def estimate_growth(command: pb.Command, max_value_bytes: int = 1 << 62) -> int:
    """An upper bound of the logical bytes `command` adds (0 for reads and deletes); for
    commands built from other keys, only the part their arguments give (see _FROM_SOURCES).
    A string edit (SETRANGE, SETBIT, BITFIELD) whose value would pass `max_value_bytes`
    (proto-max-bulk-len) adds nothing: apply refuses it before it writes."""
    name = command.WhichOneof("op")
    if name == "set":
        op = command.set
        return record_bytes(op.key, len(op.value))
    if name is None or name in _NO_GROWTH or name in commands.READ_COMMANDS:
        return 0
    op = getattr(command, name)
    if name == "eval":   # its repeated fields known: no ListFields (a script is sent often)
        return _general_bound(command, len(op.keys) + len(op.args))
    if name in ("mset", "mset_nx"):
        return sum(record_bytes(p.key, len(p.value)) for p in op.pairs)
    if name == "append":
        return record_bytes(op.key, len(op.value))
    if name == "set_range":
        return _edit_growth(op.key, edit_size(name, op), max_value_bytes)
    if name == "setbit":
        if op.value not in (0, 1) or not bits.offset_ok(op.offset, max_value_bytes):
            return 0   # refused at apply
        return record_bytes(op.key, edit_size(name, op))
    if name == "bitfield":
        if not all(bits.bitfield_op_ok(o, max_value_bytes) for o in op.ops):
            return 0   # apply refuses the whole command, GETs' faults included
        return _edit_growth(op.key, edit_size(name, op), max_value_bytes)
    return _general_bound(command, sum(len(value) for field, value in op.ListFields() if field.is_repeated))


def _general_bound(command: pb.Command, elements: int) -> int:
    """The growth bound of a command without a rule of its own: twice its size, plus a record's
    and each of its `elements`' overhead."""
    return 2 * command.ByteSize() + _ELEMENT_BYTES * elements + record_bytes(b"", 0)


def edit_size(name: str, op) -> int:
    """How long a string edit (SETRANGE, SETBIT, BITFIELD: `name` and its op) makes its string
    at least, from its own arguments (0: it writes nothing of its own, or it is another op)."""
    if name == "set_range":
        return op.offset + len(op.value) if op.value and op.offset >= 0 else 0
    if name == "setbit":
        return (op.offset >> 3) + 1
    if name == "bitfield":
        return max((((o.offset + o.bits - 1) >> 3) + 1 for o in op.ops if o.kind != pb.BITFIELD_GET), default=0)
    return 0


def _edit_growth(key: bytes, size: int, max_value_bytes: int) -> int:
    """A string edit's growth bound: the whole value it makes (`size` bytes), or 0 when it
    makes none or apply refuses that size. (An offset far past the limit once asked the leader
    to evict room for it, keys with a deadline deleted for a write that was then refused.)"""
    return record_bytes(key, size) if 0 < size <= max_value_bytes else 0


class Evictor:
    """Chooses victims for the leader (see the module docstring)."""

    def __init__(self, keyspace, access, setting, rng: random.Random | None = None):
        """`setting(name)`: this node's value of a CONFIG parameter (maxmemory-policy, maxmemory-samples)."""
        self._keyspace = keyspace
        self._access = access
        self._setting = setting
        self._rng = rng or random.Random()
        self._pools: dict[tuple[str, int], list] = {}
        self._dbs: list[int] = []
        self._dbs_checked = float("-inf")
        self._all_tracked_at: dict[tuple[str, int], float] = {}   # (policy, mode) -> when a sample found no gap
        #: mode -> candidates named by Evicts not yet applied (in the order named) -> how many name them
        self._in_flight: dict[int, dict[tuple[int, bytes], int]] = {}
        #: (db, key) -> the access table entry taken while it is a candidate in flight (None: none)
        self._taken: dict[tuple[int, bytes], int | None] = {}
        #: Bytes the Evicts in flight are planned to delete.
        self._freeing = 0
        #: The seeding scan: (database, next key hash) still to look at; None when not seeding.
        self._seed_at: tuple[int, int] | None = None

    # ------------------------------------------------------------ when

    def plan(self, entries: list[pb.LogEntry], growth: int, in_flight_bytes: int,
             now_ms: int, max_value_bytes: int = 1 << 62) -> tuple[list[pb.LogEntry], list]:
        """Evict entries for the head of a batch whose writes add at most `growth` bytes
        while `in_flight_bytes` more are proposed and not yet applied; and the candidates
        to hand back to `release` once the batch is applied (`max_value_bytes`: as
        estimate_growth's)."""
        maxmemory = self._keyspace.maxmemory_bytes
        used = self._keyspace.used_bytes
        derived = [e for e in entries if e.command.WhichOneof("op") in _FROM_SOURCES]
        if derived:
            with self._keyspace.reader() as txn:
                growth += self._sources_bytes(txn, derived)
        projected = used + in_flight_bytes - self._freeing + growth
        if used + in_flight_bytes + growth <= maxmemory:
            return [], []
        # the Evicts in flight make room for this batch unless their deletions fall short (a
        # write that added more than its estimate, candidates gone since): then this batch
        # still gets candidates for its own growth, deleted only if its writes need them
        spare = projected <= maxmemory
        modes = {e.command.eviction for e in entries} - {pb.EVICT_NEVER}
        if not modes:
            return [], []
        exclude = {(e.command.db, k) for e in entries for k in command_keys(e.command)}
        target = maxmemory - headroom(maxmemory)
        out, named = [], []
        with self._keyspace.reader() as txn:
            for mode in sorted(modes):
                policy = self._policy(mode)
                if policy == "noeviction":
                    continue
                # this mode's writes' share of the batch (a batch mixes modes only when memcached
                # and Redis writes meet in one event-loop turn)
                share = growth if len(modes) == 1 else sum(
                    estimate_growth(e.command, max_value_bytes) for e in entries if e.command.eviction == mode)
                need = share if spare else max(projected - target, 0) - growth + share
                if need <= 0:
                    continue
                victims, freed = self._choose(txn, policy, mode, need + need // 8, exclude, now_ms)
                if victims:
                    again = []
                    if policy == "volatile-ttl":  # the order is the promise: what is left in flight goes first
                        held = self._in_flight.get(mode, {})
                        again = [k for k in held if k not in exclude][:MAX_CANDIDATES - len(victims)]
                    entry = _evict_entry(again + [k for k, _ in victims], mode, policy, now_ms)
                    # delete now, down to what leaves this mode's writes room and some to spare: one
                    # Evict serves the next batches too; the rest of the candidates are this entry's
                    # reserve (Redis evicts what it can, too, when the candidates run short)
                    if not spare:
                        entry.command.evict.until_bytes = max(target - share, 0)
                    out.append(entry)
                    # an Evict's head (the bytes it should delete, the candidates ahead of the
                    # ones named here), then its candidates
                    named.append((mode, None, (0 if spare else min(freed, need), len(again))))
                    named += [(mode, k, size) for k, size in victims]
        self._hold(named)
        return out, named

    def overdue(self, now_ms: int) -> tuple[pb.LogEntry | None, list]:
        """An Evict deleting now down to maxmemory when the keyspace is past it, else None."""
        maxmemory = self._keyspace.maxmemory_bytes
        excess = self._keyspace.used_bytes - maxmemory
        policy = self._policy(pb.EVICT_BY_POLICY)
        if excess <= 0 or policy == "noeviction":
            return None, []
        with self._keyspace.reader() as txn:
            victims, _ = self._choose(txn, policy, pb.EVICT_BY_POLICY, excess, set(), now_ms)
        if not victims:
            return None, []
        entry = _evict_entry([k for k, _ in victims], pb.EVICT_BY_POLICY, policy, now_ms)
        entry.command.evict.until_bytes = maxmemory
        named = [(pb.EVICT_BY_POLICY, None, (0, 0))] + [(pb.EVICT_BY_POLICY, k, size) for k, size in victims]
        self._hold(named)
        return entry, named

    def release(self, named: list, replies: list | None = None) -> None:
        """The Evicts naming these candidates were applied (or failed): they may be chosen
        again. Those still stored go back to the access table as the coldest keys (in the
        order named); those gone leave it. `replies`: the Evicts' own replies, in order,
        when applied (keys each deleted: its first that many candidates are gone for sure,
        as apply deletes in order; only the others are looked up)."""
        access = self._access
        back, gone = [], []
        evict, pos, deleted, held = -1, 0, -1, {}
        for mode, k, size in named:
            if k is None:               # an Evict's head: the bytes it was planned to delete
                freed, offset = size
                self._freeing -= freed
                evict, pos = evict + 1, 0
                held = self._in_flight.get(mode, {})
                reply = replies[evict] if replies is not None and evict < len(replies) else None
                # its first `reply` candidates are gone for sure (apply deletes in order)
                deleted = reply - offset if type(reply) is int else -1
                continue
            pos += 1
            n = held.get(k, 0) - 1
            if n > 0:
                held[k] = n
                continue
            held.pop(k, None)
            if pos <= deleted:
                gone.append(k)
            else:
                back.append(k)
        taken = self._taken
        for k in gone:
            taken.pop(k, None)
            access.forget(*k)
        if not back:
            return
        with self._keyspace.reader() as txn:
            stored = [txn.holds_key(db, key) for db, key in back]
        for (db, key), kept in zip(reversed(back), reversed(stored)):
            packed = self._taken.pop((db, key), None)
            if kept:
                access.put_back(db, key, packed)
            else:
                access.forget(db, key)

    def _hold(self, named: list) -> None:
        for mode, k, size in named:
            if k is None:
                self._freeing += size[0]
            else:
                held = self._in_flight.setdefault(mode, {})
                held[k] = held.get(k, 0) + 1

    # ------------------------------------------------------------ seeding a new leader's table

    def began_leading(self) -> None:
        """This node begins to lead (its term): forget what an earlier term left in flight
        (its outcome may never be reported here) and the sizes its access table kept (keys
        changed or deleted since), and seed the table."""
        self._in_flight.clear()
        self._taken.clear()
        self._freeing = 0
        self._access.forget_sizes()
        self.start_seeding()

    def start_seeding(self) -> None:
        """Begin (again) to seed the access table with the keys it lacks (this node began
        to lead, or its table was emptied while keys stayed)."""
        self._seed_at = (0, 0)

    def seed_step(self, budget: int = SEED_SLICE) -> int:
        """Look at up to `budget` keys of the seeding scan and seed the table with those
        it lacks (the oldest write first as the coldest); returns how many were added."""
        if self._seed_at is None:
            return 0
        access = self._access
        if not access.room():
            self._seed_at = None
            return 0
        db, start = self._seed_at
        with self._keyspace.reader() as txn:
            found, following = txn.sample_from(db, start, budget)
        if following is not None:
            self._seed_at = (db, following)
        elif db + 1 < self._keyspace.databases:
            self._seed_at = (db + 1, 0)
        else:
            self._seed_at = None
        held = self._taken
        lacking = [s for s in found if not access.holds(s.db, s.key) and (s.db, s.key) not in held]
        lacking.sort(key=lambda s: s.index, reverse=True)
        # seeded without their size: the scan sees the applied keyspace, and a deletion proposed
        # but not yet applied (a FLUSHALL that just emptied the table) must not leave an entry
        # that the choice would trust without reading the keyspace
        return access.seed((s.db, s.key, 0) for s in lacking)

    def _samples_setting(self) -> int:
        name = "maxmemory-samples"
        return min(max(settings.eviction_number({name: self._setting(name)}, name), 1), 64)

    def _policy(self, mode: int) -> str:
        return MEMCACHED_POLICY if mode == pb.EVICT_LRU else self._setting("maxmemory-policy")

    @staticmethod
    def _sources_bytes(txn, entries: list[pb.LogEntry]) -> int:
        """What the batch's COPY / *STORE / BITOP commands may add: their sources' sizes."""
        total = 0
        for e in entries:
            sources = _sources(e.command)
            if sources:
                found = (txn.sample_key(e.command.db, k) for k in sources)
                total += sum(s.size for s in found if s is not None)
        return total

    # ------------------------------------------------------------ which

    def _choose(self, txn, policy: str, mode: int, need: int, exclude: set, now_ms: int) -> tuple[list, int]:
        """Victims [((db, key), size)] whose sizes add up to `need` (or as many as there are,
        at most MAX_CANDIDATES), and the bytes they hold."""
        skip = set(exclude)
        for held in self._in_flight.values():
            skip.update(held)
        if policy == "volatile-ttl":
            pick = _pairs(self._nearest_deadlines(txn, skip))
        elif policy.endswith("-random"):
            pick = _pairs(self._random(txn, policy.startswith("volatile"), mode, skip))
        elif policy.endswith("-lru"):
            pick = self._lru(txn, policy, mode, skip, now_ms)
        else:
            pick = _pairs(self._pooled(txn, policy, mode, skip, now_ms))
        victims: list = []
        freed = 0
        if need > 0:
            add, append = skip.add, victims.append
            for victim in pick:
                add(victim[0])
                append(victim)
                freed += victim[1]
                if freed >= need or len(victims) >= MAX_CANDIDATES:
                    break
        pick.close()     # now: the LRU choice takes the table entries of its victims on closing
        return victims, freed

    def _databases(self, txn, mode: int) -> list[int]:
        """The databases holding keys (looked up again at most once a second: 16 lookups a batch add up)."""
        if mode == pb.EVICT_LRU:
            return [0] if txn.db_size(0) else []
        now = time.monotonic()
        if not self._dbs or now - self._dbs_checked > 1.0:
            self._dbs = [db for db in range(self._keyspace.databases) if txn.db_size(db)]
            self._dbs_checked = now
        return self._dbs

    def _samples(self, txn, volatile: bool, dbs: list[int], count: int):
        """`count` random keys from each database of `dbs` (volatile: `count` keys with a deadline)."""
        if volatile:
            bounds = txn.deadline_bounds()
            if bounds is None:
                return []
            return txn.sample_expiring(self._rng.randint(*bounds), count)
        out: list[Sample] = []
        for db in dbs:
            out += txn.sample(db, self._rng.getrandbits(32), count)
        return out

    def _random(self, txn, volatile: bool, mode: int, skip: set):
        dbs = self._databases(txn, mode)
        misses = 0
        while misses < 16 and (dbs or volatile):
            db = [self._rng.choice(dbs)] if dbs else []
            found = [s for s in self._samples(txn, volatile, db, 1) if (s.db, s.key) not in skip]
            if not found:
                misses += 1
                continue
            misses = 0
            yield found[0]

    def _lru(self, txn, policy: str, mode: int, skip: set, now_ms: int):
        access = self._access
        volatile = policy.startswith("volatile")
        samples = self._samples_setting()
        dbs = self._databases(txn, mode)
        # keys the table does not hold: the oldest write of each sample, while samples hold any (once a
        # sample held none, looked for again UNTRACKED_RECHECK_S later: the table usually holds every key)
        fruitless = 0
        now = time.monotonic()
        while fruitless < 8 and now - self._all_tracked_at.get((policy, mode), float("-inf")) > UNTRACKED_RECHECK_S:
            sampled = self._samples(txn, volatile, dbs, samples)
            untracked = [s for s in sampled if not access.holds(s.db, s.key)]
            if not untracked:
                if sampled:
                    self._all_tracked_at[(policy, mode)] = now
                break
            fresh = [s for s in untracked if (s.db, s.key) not in skip]
            if not fresh:
                fruitless += 1      # only keys already offered: sample again, a few times
                continue
            fruitless = 0
            oldest = min(fresh, key=lambda s: s.index)
            yield (oldest.db, oldest.key), oldest.size
        # then the table, least recently used first: an entry that knows its key's size needs
        # no keyspace read; the entries of the keys offered leave the table until `release`
        # (a key found deleted is forgotten)
        only_db = 0 if mode == pb.EVICT_LRU else None
        size_shift = access.SIZE_SHIFT
        looked, forget, taken = 0, [], []
        try:
            for k, packed in access.oldest():
                looked += 1
                if looked > LRU_SCAN_MAX:
                    break
                if k in skip or (only_db is not None and k[0] != only_db):
                    continue
                size = packed >> size_shift
                if size and not volatile:
                    taken.append(k)
                    yield k, size
                    continue
                sample = txn.sample_key(*k)
                if sample is None:
                    forget.append(k)
                elif not volatile or sample.expires_at_ms:
                    taken.append(k)
                    yield k, sample.size
        finally:
            for db, key in forget:
                access.forget(db, key)
            for k in taken:
                self._taken[k] = access.take(*k)
        # still more to find (the oldest entries had no deadline or were gone, or the table ran
        # out before the keyspace did): sample instead
        yield from _pairs(self._pooled(txn, policy, mode, skip, now_ms))

    def _nearest_deadlines(self, txn, skip: set):
        start = 0
        while True:
            batch = txn.sample_expiring(start, 16, wrap=False)
            fresh = [s for s in batch if (s.db, s.key) not in skip]
            yield from fresh
            if len(batch) < 16:
                return
            if batch[-1].expires_at_ms == start and not fresh:
                return  # 16 keys at one deadline, all taken already: give up rather than spin
            start = batch[-1].expires_at_ms

    def _pooled(self, txn, policy: str, mode: int, skip: set, now_ms: int):
        """Redis's eviction pool: sample, keep the EVICTION_POOL_SIZE best, take the best (the
        pool outlives the batch, as Redis's; what it holds is checked again when taken)."""
        volatile = policy.startswith("volatile")
        lfu = policy.endswith("-lfu")
        access = self._access
        samples = self._samples_setting()
        pool = self._pools.setdefault((policy, mode), [])
        dbs = self._databases(txn, mode)
        while True:
            pooled = {(p[1], p[2]) for p in pool}
            for sample in self._samples(txn, volatile, dbs, samples):
                k = (sample.db, sample.key)
                if k in skip or k in pooled:
                    continue
                entry = self._scored(sample, lfu, access, now_ms)
                if len(pool) >= EVICTION_POOL_SIZE and entry <= pool[0]:
                    continue
                bisect.insort(pool, entry)
                pooled.add(k)
                if len(pool) > EVICTION_POOL_SIZE:
                    del pool[0]
            while pool:
                score, db, key, _ = pool.pop()
                if (db, key) in skip:
                    continue
                sample = txn.sample_key(db, key)
                if sample is None:
                    continue
                fresh = self._scored(sample, lfu, access, now_ms)
                if fresh[0] < score and pool and fresh <= pool[-1]:
                    bisect.insort(pool, fresh)   # used since it was sampled: not the coldest any more
                    continue
                yield sample
                break
            else:
                return

    @staticmethod
    def _scored(sample: Sample, lfu: bool, access, now_ms: int) -> tuple:
        """(score, db, key, size): a higher score is evicted first."""
        idle = access.idle_ms(sample.db, sample.key, now_ms)
        # the oldest write first among equally idle keys (keys the table never saw)
        score = (idle, -sample.index) if not lfu else (255 - access.freq(sample.db, sample.key, now_ms), idle,
                                                       -sample.index)
        return (score, sample.db, sample.key, sample.size)


def _pairs(samples):
    """((db, key), size) of each Sample."""
    for sample in samples:
        yield (sample.db, sample.key), sample.size


def headroom(maxmemory: int) -> int:
    """How far below maxmemory an Evict deletes beyond what its batch needs (hysteresis:
    one Evict makes room for several batches), 1/128 of maxmemory, at most HEADROOM_MAX_BYTES."""
    return min(maxmemory // 128, HEADROOM_MAX_BYTES)


def _sources(command: pb.Command) -> list[bytes]:
    """The keys a COPY / *STORE / BITOP builds its result from ([] for any other command)."""
    name = command.WhichOneof("op")
    if name not in _FROM_SOURCES:
        return []
    op = getattr(command, name)
    if name == "copy":
        return [op.key]
    if name == "zset_op_store":
        return list(op.source.keys)
    if name == "zrangestore":
        return [op.range.key]
    return list(op.keys)      # set_op_store, bitop


def _evict_entry(victims: list, mode: int, policy: str, now_ms: int) -> pb.LogEntry:
    entry = pb.LogEntry(now_ms=now_ms)
    op = entry.command.evict
    op.mode = mode
    op.policy = policy
    add = op.candidates.add      # built in place: a DbKey made apart and copied in costs ~5x more
    for db, key in victims:
        candidate = add()
        candidate.key = key
        if db:
            candidate.db = db
    return entry
