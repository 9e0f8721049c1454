"""Apply side of eviction: the leader's `Evict` and the room it gives a log entry's writes.

The leader chooses the victims (node/service/evictor.py: sampling, its access
table, the policy); apply never does. It only deletes keys the log names, in
the order the log names them, while the replicated used-bytes counter says
there is no room. Every replica holds the same keyspace and applies the same
entry, so every replica deletes the same keys (docs/design.md invariant 2):

    Evict(candidates, until_bytes, mode, policy)
        deletes candidates in order while used bytes > until_bytes (when set),
        and keeps the rest as this log entry's room for writes of `mode`;
    a write that would pass maxmemory (node/commands/quota.py)
        deletes the next candidates of its own mode (Command.eviction), never
        a key it names, until it fits; when they run out it is refused with
        OOM and its deletions are undone with it.

Work is bounded: an Evict offers at most MAX_CANDIDATES keys (more are
ignored). Each eviction kept is handed to the Room's `on_evicted` (the state
machine's `evicted` keyspace notification, class `e`, as Redis's). Also OBJECT IDLETIME / FREQ (`object_access`), a read that asks the
serving node's access table (`Ctx.access`; apply never has one).

Must not touch: time, random, grpc, Raft, lmdb (the keyspace does).
"""

from __future__ import annotations

from collections import deque

from raftcache.commandkeys import keys_of
from raftcache.node.commands import EVICT_QUIET_VERSION
from raftcache.node.storage import containers as c
from raftcache.node.storage.keyspace import WriteTxn
from raftcache.proto import commands_pb2 as pb

#: Most candidates one Evict offers; the rest are ignored (a bound on one entry's work).
MAX_CANDIDATES = 1024
#: From EVICT_QUIET_VERSION on, a victim last written more than this many log entries before
#: the entry that evicts it is not recorded one by one for WATCH (`quiet_before`).
QUIET_AGE_ENTRIES = 1024


class Room:
    """One log entry's eviction candidates by mode, and the keys evicted so far by policy.

    The state machine makes one per log index: an Evict at the head of a
    batch offers candidates to the writes after it in the same entry.
    """

    __slots__ = ("_pools", "evicted", "_on_evicted", "_held")

    def __init__(self, on_evicted=None) -> None:
        """`on_evicted(db, key)`: called for each eviction kept (keyspace notifications)."""
        self._pools: dict[int, deque] = {}
        #: policy name -> keys evicted by this entry (counted once the write that needed them is kept)
        self.evicted: dict[str, int] = {}
        self._on_evicted = on_evicted
        self._held: list | None = None   # hold(): deletions counted once the write is kept

    def offer(self, mode: int, candidates, policy: str, databases: int) -> None:
        """Add an Evict's candidates (DbKey messages, at most MAX_CANDIDATES of them are
        taken) to the pool of `mode`; those of databases past `databases` are ignored."""
        pool = self._pools.setdefault(mode, deque())
        pool.extend((k.db, k.key, policy) for k in candidates[:MAX_CANDIDATES] if k.db < databases)

    def free(self, txn: WriteTxn, mode: int, until_bytes: int | None = None,
             spare_db: int = -1, spare: tuple | list = (), quiet_before: int | None = None) -> list[tuple[int, bytes, str]]:
        """Delete candidates of `mode` in order while used bytes exceed `until_bytes`
        (None: maxmemory) and candidates remain; the keys `spare` of database `spare_db`
        are dropped unharmed. `quiet_before`: what the module's `quiet_before(ctx)` gives
        (None: every victim gets its `gone` record). Returns the deletions,
        (db, key, policy), for the caller to `count` once it keeps them."""
        pool = self._pools.get(mode)
        if not pool:
            return []
        limit = txn.maxmemory_bytes() if until_bytes is None else until_bytes
        return txn.evict(pool, limit, spare_db, spare, quiet_before)

    def count(self, deleted: list[tuple[int, bytes, str]]) -> None:
        if self._held is not None:
            self._held.extend(deleted)
            return
        for db, key, policy in deleted:
            self.evicted[policy] = self.evicted.get(policy, 0) + 1
            if self._on_evicted is not None:
                self._on_evicted(db, key)

    def hold(self) -> list | None:
        """Until `release`, deletions are kept aside rather than counted (a script: the
        evictions its commands made count only if the script's writes are kept). Returns
        what `release` needs (holds nest)."""
        outer, self._held = self._held, []
        return outer

    def release(self, outer: list | None, keep: bool) -> None:
        """End a `hold`: count the deletions held (`keep`), or forget them (undone)."""
        held, self._held = self._held, outer
        if keep and held:
            self.count(held)

    def make_room(self, ctx, op) -> bool:
        """A write (`ctx.eviction`'s mode, in `ctx.db`) passed maxmemory: evict until it fits.
        True when it does (the deletions are counted); False when the candidates ran out."""
        txn = ctx.txn
        deleted = self.free(txn, ctx.eviction, spare_db=ctx.db, spare=(op.key,) if type(op) is pb.Set else keys_of(op),
                            quiet_before=quiet_before(ctx))
        if txn.would_exceed(0):
            return False
        self.count(deleted)
        return True


def evict(ctx, op: pb.Evict) -> int:
    """Offer the leader's candidates to this entry; delete now down to `until_bytes` when set."""
    room = ctx.room if ctx.room is not None else Room()
    room.offer(op.mode, op.candidates, op.policy or "unknown", c.databases(ctx))
    if not op.HasField("until_bytes"):
        return 0
    deleted = room.free(ctx.txn, op.mode, op.until_bytes, quiet_before=quiet_before(ctx))
    room.count(deleted)
    return len(deleted)


def quiet_before(ctx) -> int | None:
    """From log semantics version 14 (EVICT_QUIET_VERSION): the log index before which a
    victim's last write makes its eviction a raise of its database's flush index rather
    than a `gone` record of its own (WriteTxn.evict); None before."""
    if ctx.version < EVICT_QUIET_VERSION:
        return None
    return max(ctx.index - QUIET_AGE_ENTRIES, 0)


def object_access(ctx, op: pb.ObjectAccess):
    """OBJECT IDLETIME / FREQ: nil, or [idle seconds, LFU counter] from the serving node's access table."""
    record = ctx.txn.get_raw(ctx.db, op.key)
    if record is None or (record.expires_at_ms and record.expires_at_ms <= ctx.now_ms):
        return None
    if ctx.access is None:
        return [0, 0]
    idle_ms, freq = ctx.access.idle_and_freq(ctx.db, op.key, ctx.now_ms)
    return [idle_ms // 1000, freq]


HANDLERS = {"evict": evict, "object_access": object_access}
