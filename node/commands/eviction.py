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
from raftcache.node.storage import containers as c
from raftcache.node.storage.keyspace import WriteTxn
from raftcache.proto import commands_pb2 as pb

#: Most candidates one Evict offers; the rest are ignored (a bound on one entry's work).
MAX_CANDIDATES = 1024


class Room:
    """One log entry's eviction candidates by mode, and the keys evicted so far by policy.

    The state machine makes one per log index: an Evict at the head of a
    batch offers candidates to the writes after it in the same entry.
    """

    __slots__ = ("_pools", "evicted", "_on_evicted")

    def __init__(self, on_evicted=None) -> None:
        """`on_evicted(db, key)`: called for each eviction kept (keyspace notifications)."""
        self._pools: dict[int, deque] = {}
        #: policy name -> keys evicted by this entry (counted once the write that needed them is kept)
        self.evicted: dict[str, int] = {}
        self._on_evicted = on_evicted

    def offer(self, mode: int, candidates, policy: str) -> None:
        pool = self._pools.setdefault(mode, deque())
        pool.extend((db, key, policy) for db, key in candidates)

    def free(self, txn: WriteTxn, mode: int, until_bytes: int | None = None,
             exclude: frozenset = frozenset()) -> list[tuple[int, bytes, str]]:
        """Delete candidates of `mode` in order while used bytes exceed `until_bytes`
        (None: maxmemory) and candidates remain; the (db, key) pairs in `exclude` are
        dropped unharmed. Returns the deletions, (db, key, policy), for the caller to
        `count` once it keeps them."""
        pool = self._pools.get(mode)
        deleted: list[tuple[int, bytes, str]] = []
        while pool and (txn.would_exceed(0) if until_bytes is None else txn.used_bytes() > until_bytes):
            db, key, policy = pool.popleft()
            if (db, key) not in exclude and txn.delete(db, key):
                deleted.append((db, key, policy))
        return deleted

    def count(self, deleted: list[tuple[int, bytes, str]]) -> None:
        for db, key, policy in deleted:
            self.evicted[policy] = self.evicted.get(policy, 0) + 1
            if self._on_evicted is not None:
                self._on_evicted(db, key)

    def make_room(self, txn: WriteTxn, mode: int, db: int, op) -> bool:
        """A write of `mode` in `db` passed maxmemory: evict until it fits. True when it
        does (the deletions are counted); False when the candidates ran out."""
        deleted = self.free(txn, mode, exclude=frozenset((db, key) for key in keys_of(op)))
        if txn.would_exceed(0):
            return False
        self.count(deleted)
        return True


def evict(ctx, op: pb.Evict) -> int:
    """Offer the leader's candidates to this entry; delete now down to `until_bytes` when set."""
    room = ctx.room if ctx.room is not None else Room()
    databases = c.databases(ctx)
    candidates = [(k.db, k.key) for k in op.candidates[:MAX_CANDIDATES] if k.db < databases]
    room.offer(op.mode, candidates, op.policy or "unknown")
    if not op.HasField("until_bytes"):
        return 0
    deleted = room.free(ctx.txn, op.mode, op.until_bytes)
    room.count(deleted)
    return len(deleted)


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
