"""The leader's group commit: the writes proposed in one event-loop turn become one log entry.

`propose` stamps a write (the leader's clock, relative TTLs made absolute, a
random seed) and queues it; the queue is flushed once per loop turn, or sooner
when it reaches MAX_BATCH_ENTRIES, MAX_BATCH_BYTES or MAX_BATCH_EDIT_BYTES,
as one LogBatch (one Raft entry, one keyspace transaction on every replica;
its runs of PUBLISHes or plain SETs as one entry each: node/service/entry_groups.py), in
the order the writes were queued. Before it is proposed a batch's write
scripts are tried for their effects (StateMachine.trial_scripts) and the
Evicts it needs go at its head (node/service/evictor.py); its futures are
answered when it is applied, or with the proposal's error. The leader's
writes are accesses of their keys (node/service/access.py). `submit`
proposes one encoded entry on its own.

Owns the batch being gathered and its bounds, the growth estimates of the
queued and the proposed-not-applied writes (what eviction plans for), the
sizes of strings edited lately, and the term this node last proposed in
(`note_leading`: the evictor's state is reset once per term).

Runs on the event loop only. Must not parse protocols or touch LMDB directly
(a string's stored size is read through the keyspace's own call).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time

from raftcache.commandkeys import command_keys
from raftcache.node import commands
from raftcache.node.commands import Command, stamp_named
from raftcache.node.errors import UnavailableError
from raftcache.node.service import entry_groups
from raftcache.node.service.access import AccessTable
from raftcache.node.service.evictor import Evictor, edit_size, estimate_growth
from raftcache.node.service.waiters import Completions, settle, settle_batch
from raftcache.node.storage.keyspace import record_bytes
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger(__name__)

#: Most writes grouped into one Raft entry (one LogBatch).
MAX_BATCH_ENTRIES = 256
#: …and at most about this many bytes of commands (a large value goes alone).
MAX_BATCH_BYTES = 1 << 20
#: …and string edits of at most about this many stored bytes: SETBIT, SETRANGE, APPEND and
#: BITFIELD write their string again whole (~0.7-1 ms per MB on every replica), and a node
#: applies a log entry whole between two heartbeats, yielding only between entries
#: (node/raft/loop_driver.py): a pipeline of 100 SETBITs on a 16 MB bitmap was one entry of
#: seconds, and elections; now four to an entry, ~65 ms. Not much less: each entry's commit
#: writes the strings it edited once more (~25 ms for 16 MB).
MAX_BATCH_EDIT_BYTES = 64 << 20
#: The ops whose apply writes their string again whole (MAX_BATCH_EDIT_BYTES).
_STRING_EDITS = frozenset({"setbit", "set_range", "append", "bitfield"})
#: The strings edited lately whose size the leader remembers (GroupCommit._edited_bytes).
_EDIT_SIZES_MAX = 1024
#: Writes whose keys are not touched: they delete them.
_DELETES = frozenset({"del", "delete_expired", "evict", "get_del", "flush_all", "flush_db"})


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class GroupCommit:
    """The leader's queue of writes on their way to the log (module docstring)."""

    def __init__(self, statemachine, replicator, keyspace, access: AccessTable, evictor: Evictor,
                 rng: random.Random, stats: dict):
        self._sm = statemachine
        self._raft = replicator
        self._keyspace = keyspace
        self._access = access
        self._evictor = evictor
        self._rng = rng
        self._stats = stats          # the service's counters: "batches" (those of two writes or more)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._completions: Completions | None = None
        self._batch: list[tuple[pb.LogEntry, asyncio.Future]] = []
        self._batch_bytes = 0
        self._batch_edit_bytes = 0   # the stored bytes the batch's string edits rewrite
        self._edit_sizes: dict[tuple[int, bytes], int] = {}   # strings edited lately: their size then
        self._batch_growth = 0       # an upper bound of what the queued writes add (evictor.estimate_growth)
        self._batch_scripts = 0      # write scripts queued (StateMachine.trial_scripts)
        self._in_flight_growth = 0   # …and of what the proposed, not yet applied ones add
        self._led_term = -1          # the term of the last batch this node proposed as leader

    def attach(self, loop: asyncio.AbstractEventLoop, completions: Completions) -> None:
        self._loop, self._completions = loop, completions

    def note_leading(self) -> None:
        """This node proposes as leader: the first time in a term, the evictor forgets what it
        knew of an earlier term (no stale eviction state); until that worked, again each call."""
        term = self._raft.term
        if self._led_term != term:
            self._evictor.began_leading()
            self._led_term = term

    def propose(self, command_in: Command, client_id: str, sequence: int) -> asyncio.Future:
        """Stamp a copy of `command_in` and queue it for the next group commit; the future gives
        (result, index).

        Writes queued in the same event-loop turn become one LogBatch (one Raft
        entry, one keyspace transaction), in the order they were queued. No
        timeout of our own: the Replicator answers every proposal exactly once,
        with DeadlineError after its proposal timeout at the latest.
        """
        now_ms = wall_ms()
        entry = self._entry(now_ms, command_in, client_id, sequence)
        command = entry.command
        name = command.WhichOneof("op")   # (validated: one is set)
        op = getattr(command, name)
        error = stamp_named(name, op, now_ms)
        if error is not None:
            fut = self._loop.create_future()
            fut.set_result((error, 0))
            return fut
        if name == "eval":
            self._batch_scripts += 1
        growth = estimate_growth(command, self._sm.limits.max_value_bytes)
        self._touch_written(command, name, op, now_ms, growth)
        self._batch_growth += growth
        if name in _STRING_EDITS:
            self._batch_edit_bytes += self._edited_bytes(command.db, name, op)
        return self._queue(entry, command.ByteSize())

    def propose_plain_set(self, command_in: Command, client_id: str = "", sequence: int = 0) -> asyncio.Future:
        """propose() of `SET key value` with no option (strings.is_plain_set), its limits already
        checked (Service.start_plain_sets), without the steps such a SET needs none of: no deadline
        to stamp, its growth and its access the record it writes (as estimate_growth and
        _touch_written find for it)."""
        now_ms = wall_ms()
        entry = self._entry(now_ms, command_in, client_id, sequence)
        command = entry.command
        op = command.set
        growth = record_bytes(op.key, len(op.value))
        self._access.record(command.db, op.key, now_ms, growth)
        self._batch_growth += growth
        return self._queue(entry, command.ByteSize())

    def _entry(self, now_ms: int, command_in: Command, client_id: str, sequence: int) -> pb.LogEntry:
        """A write's entry: the log's version in force, the leader's clock, a seed of its own, a
        copy of `command_in`, and its client identity when it has one."""
        entry = pb.LogEntry(version=self._sm.log_version, now_ms=now_ms, seed=self._rng.getrandbits(63))
        if client_id or sequence:
            entry.client_id, entry.sequence = client_id, sequence
        entry.command.CopyFrom(command_in)
        return entry

    def _queue(self, entry: pb.LogEntry, size: int) -> asyncio.Future:
        """Queue `entry` (`size` bytes) for this turn's group commit: its write's future."""
        fut = self._loop.create_future()
        batch = self._batch
        batch.append((entry, fut))
        self._batch_bytes += size
        if len(batch) == 1:
            self._loop.call_soon(self._flush)
        if len(batch) >= MAX_BATCH_ENTRIES or self._batch_bytes >= MAX_BATCH_BYTES \
                or self._batch_edit_bytes >= MAX_BATCH_EDIT_BYTES:
            self._flush()
        return fut

    def _edited_bytes(self, db: int, name: str, op) -> int:
        """About how many bytes a string edit rewrites (MAX_BATCH_EDIT_BYTES): the string as stored,
        as its own offset makes it, or as an edit proposed here lately left it (not applied yet:
        a SETRANGE that made it 16 MB, then SETBITs in the same batch); `_edit_sizes` remembers
        those, bounded, and may overstate a string deleted since (an entry split sooner)."""
        try:
            size = self._keyspace.stored_bytes(db, op.key)
        except Exception:  # noqa: BLE001 - a size read must not stop a write; the estimate is 0
            log.exception("reading a string's size for the batcher failed")
            size = 0
        sizes = self._edit_sizes
        size = max(size, edit_size(name, op), sizes.get((db, op.key), 0))
        if name == "append":
            size += len(op.value)
        if len(sizes) >= _EDIT_SIZES_MAX:
            sizes.clear()
        sizes[(db, op.key)] = size
        return size

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        growth, self._batch_growth = self._batch_growth, 0
        self._batch_bytes = self._batch_edit_bytes = 0
        if not batch:
            return
        entries = [entry for entry, _ in batch]
        futures = [fut for _, fut in batch]
        if self._batch_scripts:   # write scripts: logged with their effects when they qualify
            self._batch_scripts = 0
            self._sm.trial_scripts(entries, MAX_BATCH_BYTES)
        try:
            self.note_leading()
        except Exception:  # noqa: BLE001 - the evictor's bookkeeping must not lose the writes
            log.exception("resetting the evictor for a new term failed")
        evicts, named = self._plan_evictions(entries, growth)
        if len(batch) > 1:
            self._stats["batches"] += 1
            entries, runs = entry_groups.group(entries)
        else:
            runs = None
        entries[:0] = evicts
        data = commands.encode_entry(entries[0]) if len(entries) == 1 else commands.encode_batch(entries)
        self._in_flight_growth += growth
        target = (futures, growth, named, len(evicts), len(entries) > 1, runs)
        try:
            self._raft.propose(data, functools.partial(self._completions.put, self._settle, target))
        except Exception as e:  # never leave a caller waiting forever
            log.exception("proposal failed")
            self._settle(target, None, 0, UnavailableError(f"proposal failed: {e}"))

    def _settle(self, target: tuple, results, index: int, error) -> None:
        """A proposed batch's outcome: release its eviction bookkeeping, answer its writes
        (the results of the Evicts at its head answer nobody)."""
        futures, growth, named, evicts, batched, runs = target
        self._in_flight_growth -= growth
        applied = error is None and isinstance(results, list)
        if named:
            self._evictor.release(named, results[:evicts] if applied else None)
        if not batched and runs is None:
            settle(futures[0], results, index, error)
            return
        if applied:
            results = results[evicts:]
        if runs is not None and error is None:   # runs of PUBLISHes or SETs logged as one entry each
            results = entry_groups.expand(results if batched else [results], runs)
        settle_batch(futures, results, index, error)

    def _plan_evictions(self, entries: list[pb.LogEntry], growth: int) -> tuple[list[pb.LogEntry], list]:
        """The Evicts to put ahead of a batch that needs room (the leader's choice; none before version 4)."""
        version = self._sm.log_version
        if version < commands.EVICTION_VERSION:
            return [], []
        try:
            evicts, named = self._evictor.plan(entries, growth, self._in_flight_growth, entries[0].now_ms,
                                               self._sm.limits.max_value_bytes)
        except Exception:  # a bug here must not lose the writes: they go without room (OOM at worst)
            log.exception("choosing eviction victims failed")
            return [], []
        for entry in evicts:
            entry.version = version
        return evicts, named

    def _touch_written(self, command: Command, name: str, op, now_ms: int, growth: int) -> None:
        """A write proposed here (the leader) is an access to its keys, as in Redis; the keys
        it deletes leave the access table (a flush or SWAPDB empties it, and the keys left
        are seeded again). A plain SET or MSET tells the table its keys' sizes (the eviction
        choice then needs no keyspace read); other writes leave them unknown. `name`, `op`:
        the command's op; `growth`: its estimate_growth (a SET's record size)."""
        access = self._access
        db = command.db
        if name == "set":
            access.record(db, op.key, now_ms, 0 if op.condition else growth)
            return
        if name == "mset":
            for pair in op.pairs:
                access.record(db, pair.key, now_ms, record_bytes(pair.key, len(pair.value)))
            return
        if name in _DELETES or name == "swap_db":
            if name in ("flush_all", "flush_db", "swap_db"):
                access.clear()
                self._evictor.start_seeding()
            else:
                for key in command_keys(command):
                    access.forget(db, key)
            return
        record = access.record
        for key in command_keys(command):
            record(db, key, now_ms, 0)

    def submit(self, data: bytes) -> asyncio.Future:
        """Propose an encoded entry on its own (the log version's raise); the future gives (result, index)."""
        fut = self._loop.create_future()
        self._raft.propose(data, functools.partial(self._completions.put, settle, fut))
        return fut
