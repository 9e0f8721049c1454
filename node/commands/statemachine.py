"""The deterministic state machine: applies committed log entries to the keyspace.

`apply(index, data)` decodes one log entry and runs it in one keyspace write
transaction whose commit also records `applied_index` (docs/design.md invariant 3),
through a chain of thin wrappers, etcd-style:

    skip replays → decode (version gate) → dedup (invariant 5)
        → limits (check_limits again) → quota (OOM, rollback on error) → handler

Apply is total: no entry stops a replica. An entry that does not decode, or
a command this binary cannot run (unknown fields, an exception in a handler),
becomes that command's INTERNAL error reply with its writes rolled back; every
replica runs the same code on the same bytes, so they all answer alike. The
exceptions are an entry stamped with a newer semantics version (the node waits
for an upgrade: UpgradeRequiredError) and faults of this node's own machine
(storage, memory: FatalApplyError), where answering would let replicas differ.

Handlers live in small modules by family (strings, memcache_ops, hashes,
lists, sets, zsets, transactions, scripting), each exporting `HANDLERS`; `HANDLERS` here
is their merge, one dispatch table over `Command.WhichOneof("op")`, called as
`handler(ctx, op)` with node/strings.Ctx. `read(command, now_ms)` runs a
read command on a read transaction.

Must not touch: `time`, `random`, sockets, grpc, Raft, lmdb. The only clock is
the entry's `now_ms`; any random choice would come from `random.Random(entry.seed)`.
Semantic failures are returned as `CommandError` values, never raised.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading

from raftcache.commandkeys import command_keys
from raftcache.node import commands
from raftcache.node.commands import READ_COMMANDS, Command, LogEntry
from raftcache.node.config import KeyspaceConfig, settings
from raftcache.node.errors import CommandError, Reason, UpgradeRequiredError, failed, wrong_type
from raftcache.node.pulse import beat
from raftcache.node.storage.containers import mixed_seed
from raftcache.node.storage.keyspace import Keyspace, WriteTxn, is_environment_error
from raftcache.node.commands import (
    acl, bits, dedup, dump_restore, eviction, geo, hashes, hyperloglog, lists, memcache_ops, notifications, pubsub_ops,
    scripting, sets, sort, stream_groups, streams, strings, transactions, zsets,
)
from raftcache.node.commands.acl_store import AclStore
from raftcache.node.commands.quota import run_in_undo_scope, run_with_quota
from raftcache.node.commands.slot_claims import SlotClaims
from raftcache.node.commands.trial_choice import TrialChoice
from raftcache.node.commands import script_read_cache, slot_migration
from raftcache.node.commands.strings import Ctx
from raftcache.proto import commands_pb2 as pb

# The dedup table (invariant 5): node/commands/dedup.py
DEDUP_WINDOW_MS = dedup.DEDUP_WINDOW_MS
DEDUP_PRUNE_BATCH = dedup.DEDUP_PRUNE_BATCH
# CONFIG SET values in keyspace meta:  setting/<name> -> normalised value
_SETTING = b"setting/"
# The log's semantics version in force (SetVersion), u32; absent: 1
log = logging.getLogger(__name__)
_MISS = object()
#: _apply_plain_set's answer for an entry it leaves to _apply_entry (None is a reply: nil).
_NOT_PLAIN = object()
#: Entries that change what a script runs under: from log version 23 each records its index
#: (scripting.rules_changed), which a script logged with its effects is guarded by.
_RULE_CHANGES = frozenset({"config_set", "acl_set_user", "acl_del_user", "acl_load"})


#: Handler modules, merged in this order (later ones win: memcache_ops wraps set/append).
HANDLER_MODULES = (strings, bits, hyperloglog, hashes, lists, sets, zsets, geo, streams, stream_groups, transactions,
                   eviction, memcache_ops, pubsub_ops, sort, dump_restore, scripting)


def _merge_handlers() -> dict:
    table: dict = {}
    for module in HANDLER_MODULES:
        table.update(module.HANDLERS)
    return table


#: Resharding's steps (node/commands/slot_migration.py), and the refusals that ran nothing here
#: (not kept for retries: their text names another node, which each replica knows on its own).
_NOT_HERE = frozenset((Reason.ASK, Reason.TRY_AGAIN, Reason.WRONG_SHARD))
#: Entries that name no slot of their own: never refused by the slot check at apply.
_UNCHECKED = frozenset(("config_set", "set_version", "acl_set_user", "acl_del_user", "acl_load", "publish", "evict",
                        "delete_expired"))

#: Writes that change keys they do not name: a tracking client forgets every key.
_FLUSHES = frozenset(("flush_all", "flush_db", "swap_db"))


def _invalidated(command: Command, name: str, touched: set | None) -> list[bytes] | None:
    """The keys a write changed, for CLIENT TRACKING (None: any key may have changed)."""
    steps = [sub.WhichOneof("op") for sub in command.transaction.commands] if name == "transaction" else [name]
    if _FLUSHES.intersection(steps):
        return None
    if touched:
        return sorted({key for _, key in touched})
    return command_keys(command)   # only a large collection's elements changed


def _writes_in(entries: list[LogEntry]) -> int:
    """How many writes `entries` stand for: a SetBatch's SETs each (the dedup table's pruning is
    bounded per write, as it was when each SET was an entry of its own)."""
    return sum(len(e.command.set_batch.sets) if e.command.WhichOneof("op") == "set_batch" else 1 for e in entries)


class FatalApplyError(RuntimeError):
    """This node's machine cannot apply a committed entry (its storage is full or
    failing, it is out of memory). The node must stop: answering differently from
    the other replicas would make it diverge."""


class StateMachine:
    """Applies log entries to a Keyspace; every replica computes the same results."""

    def __init__(self, keyspace: Keyspace, limits: KeyspaceConfig, max_version: int = commands.MAX_VERSION):
        """`limits`: databases, max_key_bytes and max_value_bytes enforced at apply
        (CONFIG SET of maxmemory / proto-max-bulk-len replaces them cluster-wide).
        `max_version`: the newest log semantics version applied; an entry stamped
        with a newer one raises UpgradeRequiredError."""
        if not 1 <= max_version <= commands.MAX_VERSION:
            raise ValueError(f"max_version must be within 1..{commands.MAX_VERSION}")
        self.max_version = max_version
        self._keyspace = keyspace
        self._node_limits = limits
        self._limits = limits
        self._settings: dict[str, str] = {}
        self._settings_generation = -1
        #: The log's semantics version in force (replicated; raised by SetVersion only).
        self.log_version = 1
        #: Write commands applied here since start that changed something (INFO's
        #: rdb_changes_since_last_save); local, not part of the replicated state.
        self.changes = 0
        #: Keys evicted here since start, by the policy that chose them (INFO evicted_keys,
        #: /metrics); local counters, equal on every replica that applied the same entries.
        self.evicted: dict[str, int] = {}
        #: The node's access table (node/service/access.py), given to reads only
        #: (OBJECT IDLETIME/FREQ); apply never sees it (invariant 2).
        self.access = None
        #: Called (on the Raft thread) with the replicated settings after they change.
        self.on_settings_change: list = []
        #: The replicated ACL users (node/commands/acl_store.py); callbacks get them after a change.
        self.acl = AclStore()
        self.on_users_change: list = []
        #: Cluster mode: the hash slots this shard's log records (node/commands/slot_claims.py);
        #: callbacks (on the Raft thread) get the claim after it changes.
        self.slots = SlotClaims()
        self.on_slots_change: list = []
        #: Resharding: the slots this shard is moving out or in (node/commands/slot_migration.py).
        self.migration = slot_migration.SlotMigration()
        #: Called (on the Raft thread) after each applied entry that published something, with
        #: its messages in log order, ("message", channel, message, sharded): PUBLISH's, and
        #: the keyspace notifications that are on (node/commands/notifications.py).
        self.on_events = None
        #: Set while someone watches the log (MONITOR LOG): called (on the Raft thread) with
        #: (index, entries) after each applied entry. An observer: it changes nothing.
        self.on_entries = None
        self._events: list = []
        #: What scripts did on this node (never replicated state): INFO commandstats of the
        #: commands they called, and where their ACL refusals go (commands/scripting.ScriptStats).
        self.script_stats = scripting.ScriptStats()
        self._notify: frozenset[str] = frozenset()   # notify-keyspace-events classes in force
        #: Set (set_track_writes) while a client of this node tracks keys (CLIENT TRACKING):
        #: every write then also hands on ("invalidate", index, keys it touched | None: a flush).
        self.track_writes = False
        self._apply_lock = threading.Lock()   # apply vs. set_track_writes, restore and trial_scripts
        #: Write scripts whose logged effects were applied here, and those run instead because
        #: their guard no longer held (node/scripting/effects.py; local counters).
        self.effects_applied = 0
        self.effects_missed = 0
        self._choice = TrialChoice()     # which scripts trial_scripts tries (node/commands/trial_choice.py)
        #: the entries being applied carry no field this binary does not know (commands.decode_for_apply)
        self._fields_known = False
        self._sync_settings()

    @property
    def applied_index(self) -> int:
        return self._keyspace.applied_index

    @property
    def limits(self) -> KeyspaceConfig:
        """The limits in force: the node's, with the cluster's CONFIG SET values."""
        return self._limits

    @property
    def settings(self) -> dict[str, str]:
        """Parameters changed by CONFIG SET (replicated; name -> normalised value)."""
        self._sync_settings()
        return dict(self._settings)

    @property
    def users(self) -> dict[str, acl.User]:
        """The replicated ACL users (name -> User); do not mutate."""
        self._sync_settings()
        return self.acl.users

    # ------------------------------------------------------------ apply

    def apply(self, index: int, data: bytes) -> object:
        """Apply the entry at log `index`; `data` = commands.encode_entry(LogEntry),
        or commands.encode_batch([...]) whose result is the list of each entry's.

        Returns the command's result (a CommandError is a result), or None
        when `index` was already applied (a replay after restart). Raises
        UpgradeRequiredError for an entry of a newer semantics version and
        FatalApplyError when this node's storage or memory fails; nothing else.
        """
        if index <= self._keyspace.applied_index:
            return None
        with self._apply_lock:
            return self._apply(index, data)

    def set_track_writes(self, on: bool) -> int:
        """Switch the reporting of written keys; returns the applied index from which on every
        later entry is reported (no entry is being applied while it switches)."""
        with self._apply_lock:
            self.track_writes = on
            return self._keyspace.applied_index

    def _apply(self, index: int, data: bytes) -> object:
        batch = data[:1] == commands.BATCH_MARKER
        try:
            entries, self._fields_known = commands.decode_for_apply(bytes(data), self.max_version)
        except commands.NewerVersionError as exc:
            raise UpgradeRequiredError(index, exc.version, self.max_version) from exc
        except Exception as exc:  # DecodeError, ValueError: the same bytes fail alike everywhere
            log.error("log entry %d does not decode (%s); recorded as an error reply", index, exc)
            with self._writer(index):
                pass  # applied: applied_index moves on, nothing else changes
            return CommandError(f"log entry {index} does not decode", Reason.INTERNAL)
        self._sync_settings()  # a snapshot may have replaced the keyspace since the last apply
        changes = self.changes
        try:
            result = self._apply_entries(index, entries, batch, isolated=False)
        except FatalApplyError:
            raise
        except Exception:
            # A command raised (a bug: handlers return errors). The transaction was
            # aborted; apply the entry again with each command in its own savepoint, so
            # the one that raises is rolled back alone and answers INTERNAL.
            self.changes = changes
            self._events.clear()
            self._settings_generation = -1  # CONFIG SET may have switched in memory only
            self._sync_settings()
            # afresh: the first pass's check for unknown fields dropped them from the commands it measured
            entries, self._fields_known = commands.decode_for_apply(bytes(data), self.max_version)
            result = self._apply_entries(index, entries, batch, isolated=True)
        if self._events:
            events, self._events = self._events, []
            if self.on_events is not None:
                self.on_events(events)
        watcher = self.on_entries
        if watcher is not None:
            try:
                watcher(index, entries)
            except Exception:  # noqa: BLE001 - a watcher's bug must not stop apply
                log.exception("the log watcher failed at index %d", index)
        return result

    @contextlib.contextmanager
    def _writer(self, index: int):
        try:
            with self._keyspace.writer(index) as txn:
                yield txn
        except Exception as exc:
            if is_environment_error(exc):
                raise FatalApplyError(f"cannot apply log entry {index}: {exc}") from exc
            raise

    def _apply_entries(self, index: int, entries: list[LogEntry], batch: bool, isolated: bool) -> object:
        # an Evict at the head of a batch offers room to the writes after it
        room = eviction.Room(self._evicted_event if "e" in self._notify else None)
        with self._writer(index) as txn:
            dedup.prune(txn, entries[-1].now_ms, DEDUP_PRUNE_BATCH * _writes_in(entries))
            apply_one = self._apply_isolated if isolated else self._apply_entry
            plain = not isolated and self._fields_known and not self.track_writes
            if batch:
                # one result per entry, in order (a batch of group-committed writes)
                # a beat after each: the leader's heartbeats go on through a long batch (node/pulse.py)
                results = []
                for entry in entries:
                    result = self._apply_plain_set(txn, index, entry) if plain else _NOT_PLAIN
                    if result is _NOT_PLAIN:
                        result = self._apply_entry_or_set_batch(txn, index, entry, room, plain, apply_one)
                    results.append(result)
                    beat()
            else:
                results = self._apply_plain_set(txn, index, entries[0]) if plain else _NOT_PLAIN
                if results is _NOT_PLAIN:
                    results = self._apply_entry_or_set_batch(txn, index, entries[0], room, plain, apply_one)
        for policy, n in room.evicted.items():
            self.evicted[policy] = self.evicted.get(policy, 0) + n
        return results

    def _apply_entry_or_set_batch(self, txn: WriteTxn, index: int, entry: LogEntry, room: eviction.Room,
                                  plain: bool, apply_one) -> object:
        """`apply_one` of `entry`, or, for a SetBatch of its version, _apply_set_batch."""
        if entry.version >= commands.SET_BATCH_VERSION and entry.command.WhichOneof("op") == "set_batch":
            return self._apply_set_batch(txn, index, entry, room, plain, apply_one)
        return apply_one(txn, index, entry, room)

    def _apply_set_batch(self, txn: WriteTxn, index: int, entry: LogEntry, room: eviction.Room, plain: bool,
                         apply_one) -> list | CommandError:
        """A SetBatch (the leader's run of plain SETs: node/service/entry_groups.py): its SETs in
        order, each as a SET entry of its own would be (the batch's version, clock and eviction
        mode, a seed of its own, its client identity); the list of their results (one error for
        them all when the entry carries fields this version does not know, as _execute refuses
        a command). Where _apply_plain_set would take such an entry (`plain`, no keyspace
        notifications, no cluster slots) and the SET fits (strings.plain_set_fits) it is stored
        as there (_store_plain_set); any other goes as an entry of its own through `apply_one`."""
        command = entry.command
        if not self._fields_known and commands.has_unknown_fields(command):
            return CommandError("the command carries fields this version does not know", Reason.INVALID_ARGUMENT)
        fast = plain and not self._notify and not self.slots.current.epoch
        limits, now_ms = self._limits, entry.now_ms
        results = []
        for n, item in enumerate(command.set_batch.sets, 1):
            db, key, value, client_id, sequence = item.db, item.key, item.value, item.client_id, item.sequence
            if fast and strings.plain_set_fits(txn, db, key, value, limits):
                results.append(self._store_plain_set(txn, index, now_ms, db, key, value, 0, client_id, sequence))
                continue
            single = LogEntry(version=entry.version, now_ms=now_ms, seed=mixed_seed(entry.seed, n),
                              client_id=client_id, sequence=sequence,
                              command=Command(db=db, eviction=command.eviction, set=pb.Set(key=key, value=value)))
            results.append(apply_one(txn, index, single, room))
            beat()   # (as after each entry of a batch: this SET may have evicted, notified…)
        return results

    def _apply_plain_set(self, txn: WriteTxn, index: int, entry: LogEntry) -> object:
        """A plain SET (strings.plain_set_deadline) applied as _apply_entry would, without its
        dispatch: the most common write, on every node; with a client identity (a write a
        follower forwarded, an SDK's) deduplicated as there. _NOT_PLAIN (nothing done) for any
        other entry. The caller takes this path only where _apply_entry would do nothing more for a
        SET: no unknown fields in the batch, no tracking client on this node; keyspace
        notifications and cluster slots are looked at here, per entry (a CONFIG SET or
        ClaimSlots earlier in the batch switches them)."""
        command = entry.command
        if entry.version < commands.WATCH_VERSION or self._notify or self.slots.current.epoch \
                or command.WhichOneof("op") != "set":
            return _NOT_PLAIN
        deadline = strings.plain_set_deadline(txn, command, entry.now_ms, self._limits)
        if deadline is None:
            return _NOT_PLAIN
        op = command.set
        return self._store_plain_set(txn, index, entry.now_ms, command.db, op.key, op.value, deadline,
                                     entry.client_id, entry.sequence)

    def _store_plain_set(self, txn: WriteTxn, index: int, now_ms: int, db: int, key: bytes, value: bytes,
                         deadline: int, client_id: str, sequence: int) -> object:
        """A plain SET that nothing can refuse (strings.plain_set_fits) stored as _apply_entry
        stores it: a replay of its client identity answered with its first outcome, else written
        with WATCH's tracking on, counted as a change and its outcome kept for its identity."""
        deduped = client_id and sequence != 0
        if deduped:
            previous = dedup.lookup(txn, client_id, sequence)
            if previous is not dedup.MISS:
                return previous   # a replay: its first outcome
        txn.watch_tracking(index, now_ms)   # (its first call may store WATCH's floor)
        try:
            result = strings.store_plain_set(txn, db, key, value, deadline, index)
        finally:
            txn.stop_watch_tracking()
        self.changes += 1   # (a SET always writes)
        if deduped:
            dedup.store(txn, client_id, sequence, now_ms, result, index)
        return result

    def _apply_isolated(self, txn: WriteTxn, index: int, entry: LogEntry, room: eviction.Room) -> object:
        """_apply_entry in a savepoint: an exception rolls back this command alone
        and becomes its error reply (the same on every replica: no exception text,
        which could name addresses, goes into it)."""
        changes, events = self.changes, len(self._events)
        try:
            with txn.savepoint():
                return self._apply_entry(txn, index, entry, room)
        except Exception as exc:
            if is_environment_error(exc):
                raise
            self.changes = changes
            del self._events[events:]
            name = entry.command.WhichOneof("op")
            log.error("applying '%s' at log index %d raised; answered as an internal error", name, index,
                      exc_info=exc)
            return CommandError(f"internal error while applying '{name}' ({type(exc).__name__}); "
                                f"nothing was changed", Reason.INTERNAL)

    def _apply_entry(self, txn: WriteTxn, index: int, entry: LogEntry, room: eviction.Room) -> object:
        name = entry.command.WhichOneof("op")
        deduped = bool(entry.client_id) and entry.sequence != 0 and name not in READ_COMMANDS
        if deduped:
            previous = dedup.lookup(txn, entry.client_id, entry.sequence)
            if previous is not dedup.MISS:
                return previous
        writes = txn.writes
        noting = notifications.NOTING_SINCE_20 if entry.version >= commands.SCRIPT_NOTIFY_VERSION \
            else notifications.NOTING
        notify = self._notify if name in notifications.EVENTS or name in noting else None
        track = self.track_writes and name not in READ_COMMANDS
        if notify or track:
            txn.touched = set()
            txn.created = {} if notify and "n" in self._notify else None
        if notify:
            txn.notes = []
        try:
            if commands.required_version(entry.command) > max(entry.version, 1):
                # An op an older release does not know, in an entry of its version: answered as it answers it.
                result = CommandError("the command carries fields this version does not know", Reason.INVALID_ARGUMENT)
            else:
                if entry.version >= commands.WATCH_VERSION:
                    txn.watch_tracking(index, entry.now_ms)
                effects = entry.effects if entry.version >= commands.SCRIPT_EFFECTS_VERSION \
                    and entry.HasField("effects") else None
                result = self._execute(txn, index, entry.command, entry.now_ms, entry.seed, room, entry.version or 1,
                                       effects)
            touched, created, notes = txn.touched, txn.created, txn.notes
        finally:
            txn.touched = txn.created = txn.notes = None
            txn.stop_watch_tracking()
        if txn.writes != writes and not failed(result):   # (a script's returned error kept its writes)
            self.changes += 1  # as Redis's dirty counter: a write that changed nothing is not counted
            if notify:
                self._notify_keyspace(txn, entry, name, touched, created, notes)
            if track:
                self._events.append(("invalidate", index, _invalidated(entry.command, name, touched)))
        if deduped and not (isinstance(result, CommandError) and result.reason in _NOT_HERE):
            dedup.store(txn, entry.client_id, entry.sequence, entry.now_ms, result, index)
        return result

    def _execute(self, txn: WriteTxn, index: int, command: Command, now_ms: int, seed: int,
                 room: eviction.Room, version: int, effects: pb.ScriptEffects | None = None) -> object:
        name = command.WhichOneof("op")
        if not self._fields_known and commands.has_unknown_fields(command):
            # The leader refuses these (INVALID_ARGUMENT); one that got into the log
            # is refused here alike by every replica of this version.
            return CommandError("the command carries fields this version does not know", Reason.INVALID_ARGUMENT)
        if name is None:
            return CommandError("empty command: no operation set", Reason.SYNTAX)
        error = self._check_limits(command)
        if error is not None:
            return error
        if name in _RULE_CHANGES and max(version, self.log_version) >= commands.SCRIPT_EFFECTS_VERSION:
            # the guard of scripts logged with their effects (an entry stamped before the log's
            # version was raised to 23 may be applied after it: it counts too)
            scripting.rules_changed(txn, index)
        if name == "config_set":
            return self._config_set(txn, command.config_set, version)
        if name == "set_version":
            return self._set_version(txn, command.set_version.version)
        if name == "claim_slots":
            return self._slots_changed(self.slots.claim(txn, command.claim_slots))
        if name in slot_migration.STEPS or (self.slots.current.epoch and name not in _UNCHECKED):
            # cluster mode, once the log records this shard's slots: the slot check at apply
            error = self._migration_step(txn, index, command, now_ms, seed, name, version)
            if error is not _MISS:
                return error
        if name == "acl_set_user":
            return self._users_changed(self.acl.set_user(txn, command.acl_set_user))
        if name == "acl_del_user":
            return self._users_changed(self.acl.del_users(txn, command.acl_del_user))
        if name == "acl_load":
            return self._users_changed(self.acl.load_all(txn, command.acl_load))
        handler = HANDLERS.get(name)
        if handler is None:
            return CommandError(f"unknown command '{name}'", Reason.SYNTAX)
        ctx = self._context(txn, command.db, now_ms, index, seed, room=room, mode=command.eviction, version=version)
        op = getattr(command, name)
        if name in READ_COMMANDS:
            return handler(ctx, op)
        if effects is not None and name == "eval" and not op.function and not self._notify \
                and not self.slots.current.epoch:
            result = scripting.apply_effects(ctx, op, effects)
            if result is not scripting.FALLBACK:
                self.effects_applied += 1
                return result
            self.effects_missed += 1
        return run_with_quota(txn, handler, ctx, op)

    def trial_scripts(self, entries: list[LogEntry], room_bytes: int) -> None:
        """The leader, just before it logs `entries` (stamped): each write script among them that
        may be logged with its effects (log version 23) is run on the applied state (in one write
        transaction that is aborted) and gets entry.effects when it qualifies (node/scripting/
        effects.py), while their effects fit in `room_bytes` in all; which scripts are tried is
        TrialChoice's (node/commands/trial_choice.py: not those that keep failing to qualify, and
        few while most recent effects were not used). Never raises; never waits for an apply in
        progress (then none is tried)."""
        scripts = [entry for entry in entries if self._may_try(entry)]
        if not scripts or not self._apply_lock.acquire(blocking=False):
            return
        trying = None
        try:
            self._sync_settings()
            index = scripting.TRIAL_INDEX
            with self._keyspace.scratch() as txn:
                tried_at = self.applied_index
                if tried_at < txn.old_log_indexes():
                    return   # records of a restored backup may carry this log's indexes yet
                rules_index = scripting.rules_index(txn)   # (no script that qualifies can change it)
                stats = scripting.ScriptStats()   # a script's counts, carried to every node by its effects
                for trying in scripts:
                    command = trying.command
                    stats.reset()
                    ctx = self._context(txn, command.db, trying.now_ms, index, trying.seed, mode=command.eviction,
                                        version=trying.version, events=[], script_stats=stats)
                    effects = trying.effects
                    effects.tried_at, effects.rules_index = tried_at, rules_index
                    size = scripting.try_effects(
                        txn, trying.now_ms, lambda: run_in_undo_scope(txn, HANDLERS["eval"], ctx, command.eval),
                        effects, stats)
                    self._choice.qualified(command.eval, size > 0)
                    if not size or size > room_bytes:
                        trying.ClearField("effects")
                        if size:
                            break   # the batch's effects are as large as it may carry
                        continue
                    room_bytes -= size
        except Exception:  # noqa: BLE001 - that script and the rest are logged alone; apply runs them
            log.exception("trying a script for its effects failed")
            if trying is not None:
                trying.ClearField("effects")
        finally:
            self._apply_lock.release()

    def _may_try(self, entry: LogEntry) -> bool:
        command = entry.command
        return entry.version >= commands.SCRIPT_EFFECTS_VERSION and command.WhichOneof("op") == "eval" \
            and not command.eval.function and not self._notify and not self.slots.current.epoch \
            and self._choice.worth_trying(command.eval) \
            and self._choice.due(self.effects_applied, self.effects_missed)

    def _migration_step(self, txn: WriteTxn, index: int, command: Command, now_ms: int, seed: int,
                        name: str, version: int) -> object:
        """Resharding (node/commands/slot_migration.py): a step's result, a command's -ASK /
        -TRYAGAIN refusal while slots migrate, -MOVED for a slot the log does not give this shard,
        or _MISS (run the command as usual)."""
        migration = self.migration
        if name == "begin_migration":
            return migration.begin(txn, command.begin_migration, self.slots.current)
        if name == "migrate_keys":
            return migration.migrate_keys(self._context(txn, 0, now_ms, index, seed, version=version),
                                          command.migrate_keys)
        if name == "restore_keys":
            return migration.restore_keys(self._context(txn, 0, now_ms, index, seed), command.restore_keys)
        if name == "export_dedup":
            return migration.export_dedup(txn, command.export_dedup)
        if name == "import_dedup":
            return migration.import_dedup(txn, command.import_dedup)
        if name == "drop_migrated":
            return migration.drop_migrated(txn, command.drop_migrated)
        if name == "finish_migration":
            result, claim = migration.finish(command.finish_migration, self.slots.current)
            if claim is not None:
                result = self.slots.claim(txn, claim)
                if not isinstance(result, CommandError):
                    migration.clear(txn)
                self._slots_changed(result)
            return result
        error = migration.check(txn, command, now_ms, self.slots.owned)
        return _MISS if error is None else error

    def _context(self, txn, db: int, now_ms: int, index: int, seed: int, room: eviction.Room | None = None,
                 mode: int = 0, access=None, version: int = 1, events: list | None = None,
                 script_stats: scripting.ScriptStats | None = None) -> Ctx:
        limits = self._limits
        return Ctx(txn, db, now_ms, index, limits.max_value_bytes, seed, limits.databases, limits, HANDLERS,
                   self._events if events is None else events, room, mode, access, self._settings, version,
                   self.script_stats if script_stats is None else script_stats)

    def _notify_keyspace(self, txn: WriteTxn, entry: LogEntry, name: str, touched: set,
                         created: dict | None = None, notes: list | None = None) -> None:
        command = entry.command
        exists = notifications.key_exists(txn, entry.now_ms)

        # MULTI/EXEC: each queued command's events, in order, over what the transaction touched
        steps = [(sub.WhichOneof("op"), sub) for sub in command.transaction.commands] \
            if name == "transaction" else [(name, command)]
        found = [(db, "new", key) for db, key in created or ()]   # Redis's `n`: a key added (before its command's event)
        groups = notifications.by_step(notes, len(steps)) if name == "transaction" and notes else None
        # e.g. hash fields expired before the write; from log version 20 each queued command's
        # notes come just before its own events
        found += notifications.noted_events(notes if groups is None else groups[0], self._notify)
        for i, (step_name, step) in enumerate(steps):
            if groups is not None:
                found += notifications.noted_events(groups[i + 1], self._notify)
            op = getattr(step, step_name)
            keys = touched if touched or not hasattr(op, "key") else {(step.db, op.key)}  # only items changed
            found += notifications.events_for(step_name, op, step.db, keys, exists, self._notify)
        found += notifications.noted_deletions(notes, found, exists, self._notify)
        for db, event, key in found:
            self._events += notifications.messages(db, event, key, self._notify)

    def _evicted_event(self, db: int, key: bytes) -> None:
        """A key evicted to make room (Redis's `evicted`, class `e`), before its write's own events."""
        self._events += notifications.messages(db, "evicted", key, self._notify)

    def _check_limits(self, command: Command) -> CommandError | None:
        limits = self._limits
        return commands.check_limits(command, databases=limits.databases,
                                     max_key_bytes=limits.max_key_bytes,
                                     max_value_bytes=limits.max_value_bytes)

    # ------------------------------------------------------------ replicated settings (CONFIG SET)

    def _config_set(self, txn: WriteTxn, op: pb.ConfigSet, version: int) -> object:
        """Validate every pair (all or nothing, as Redis's CONFIG SET) by the rules of the
        entry's semantics version, store them, switch.

        From ACL_VERSION `requirepass` is the default user's password: the
        proposer sends its rules (`default_user_rules`, a digest) and only the
        digest is stored, with the ACL users. An entry of an older version is
        applied as that version did (the value stored as a setting), so
        replicas of both releases agree during an upgrade.
        """
        changes = {}
        for pair in op.parameters:
            try:
                changes[pair.name] = settings.validate(pair.name, pair.value,
                                                       before_eviction=version < commands.EVICTION_VERSION,
                                                       any_maxmemory=version >= commands.ANY_MAXMEMORY_VERSION)
            except settings.SettingError as e:
                return CommandError(f"CONFIG SET failed (possibly related to argument '{pair.name}') - {e}",
                                    Reason.INVALID_ARGUMENT)
        rules = list(op.default_user_rules)
        if "requirepass" in changes and version >= commands.ACL_VERSION:
            rules += settings.requirepass_rules(changes.pop("requirepass"))
        if rules:
            error = self.acl.set_default_rules(txn, rules)
            if error is not None:
                return CommandError(f"CONFIG SET failed (possibly related to argument 'requirepass') - "
                                    f"{error.message}", Reason.INVALID_ARGUMENT)
            txn.meta_delete(_SETTING + b"requirepass")  # a plaintext value of an older version
            self._settings.pop("requirepass", None)
            self._users_changed(None)
        for name, value in changes.items():
            txn.meta_put(_SETTING + name.encode(), value.encode())
        self._settings.update(changes)
        self._enforce_settings()
        for callback in self.on_settings_change:
            callback(dict(self._settings))
        return commands.OK

    def _users_changed(self, result: object) -> object:
        for callback in self.on_users_change:
            callback(self.acl.users)
        return result

    def _slots_changed(self, result: object) -> object:
        for callback in self.on_slots_change:
            callback(self.slots.current)
        return result

    def _set_version(self, txn: WriteTxn, version: int) -> object:
        """Raise the log's semantics version (never lowers it: a late duplicate is a no-op)."""
        if version > self.log_version:
            txn.meta_put(commands.LOG_VERSION_KEY, commands.log_version_bytes(version))
            self.log_version = version
            log.info("the log's semantics version is now %d", version)
        return commands.OK

    def _sync_settings(self) -> None:
        """Reload the replicated settings when the keyspace was replaced (start, snapshot install)."""
        generation = self._keyspace.generation
        if generation == self._settings_generation:
            return
        with self._keyspace.reader() as txn:
            stored = {name[len(_SETTING):].decode(): value.decode()
                      for name, value in txn.meta_range(_SETTING, len(settings.SETTINGS))}
            version = commands.stored_log_version(txn)
            self.acl.load(txn)
            self.slots.load(txn)
            self.migration.load(txn)
        self._users_changed(None)
        self._slots_changed(None)
        self.log_version = version
        self._settings, self._settings_generation = stored, generation
        self._enforce_settings()
        for callback in self.on_settings_change:
            callback(dict(stored))

    def _enforce_settings(self) -> None:
        """Put maxmemory and proto-max-bulk-len in force for the following applies.

        maxmemory never exceeds what this node was started with: its LMDB map
        was sized from that (a node started smaller logs the difference).
        """
        node = self._node_limits
        maxmemory = int(self._settings.get("maxmemory", 0)) or node.maxmemory_bytes
        if maxmemory > node.maxmemory_bytes:
            log.warning("maxmemory %d is above this node's configured %d; keeping %d",
                        maxmemory, node.maxmemory_bytes, node.maxmemory_bytes)
            maxmemory = node.maxmemory_bytes
        max_value = int(self._settings.get("proto-max-bulk-len", 0)) or node.max_value_bytes
        self._limits = dataclasses.replace(node, maxmemory_bytes=maxmemory, max_value_bytes=max_value)
        self._keyspace.maxmemory_bytes = maxmemory
        flags = notifications.flags_of(self._settings)
        self._notify = flags if notifications.enabled(flags) else frozenset()

    # ------------------------------------------------------------ reads, snapshots

    def read(self, command: Command, now_ms: int) -> object:
        """Run a READ_COMMANDS command on a fresh read transaction at `now_ms`.

        Raises ValueError for a command that is not a read (a caller's bug).
        """
        return self.read_at(command, now_ms)[0]

    def read_at(self, command: Command, now_ms: int, checked: bool = False) -> tuple[object, int]:
        """Like read(), and also the applied index of the state the read saw.

        `checked`: the caller already applied commands.check_limits.
        """
        name = command.WhichOneof("op")
        if name not in READ_COMMANDS:
            raise ValueError(f"{name!r} is not a read command")
        error = None if checked else self._check_limits(command)
        if error is not None:
            return error, self._keyspace.applied_index
        handler = HANDLERS.get(name)
        if handler is None:
            return CommandError(f"unknown command '{name}'", Reason.SYNTAX), self._keyspace.applied_index
        with self._keyspace.reader() as txn:
            if self.slots.current.epoch:   # cluster mode: as at apply (_migration_step)
                error = self.migration.check(txn, command, now_ms, self.slots.owned, read=True)
                if error is not None:
                    return error, txn.applied_index()
            ctx = self._context(txn, command.db, now_ms, 0, 0, access=self.access)
            return handler(ctx, getattr(command, name)), txn.applied_index()

    def get_strings(self, db: int, keys: list[bytes], now_ms: int) -> list:
        """GETs without a Command, in one read transaction (the front ends' hot path: one GET, a
        pipeline's or a ReadIndex round's; limits already checked): each value bytes, None or
        WRONGTYPE's CommandError."""
        return strings.as_string_values(self._keyspace.string_values(db, keys, now_ms))

    def get_string(self, db: int, key: bytes, now_ms: int):
        """get_strings of one key (a -P 1 client's GET), without the lists."""
        value = self._keyspace.string_value(db, key, now_ms)
        return value if value is None or type(value) is bytes else wrong_type()

    def scripts_evicted_total(self) -> int:
        """How many scripts EVAL's cache evicted since the log began (replicated, so exact)."""
        with self._keyspace.reader() as txn:
            return scripting.evicted_total(txn)

    def script_usage(self) -> dict[str, int]:
        """INFO memory's scripting fields: the stored scripts, functions and libraries (counts
        and bytes), the Lua runtime's bytes (node/commands/scripting.usage)."""
        with self._keyspace.reader() as txn:
            return scripting.usage(txn)

    def snapshot(self, path: str) -> int:
        """Write a consistent, fsynced copy of the keyspace to `path`; returns the index it covers."""
        return self._keyspace.copy_to(path)

    def restore(self, path: str) -> None:
        """Replace the keyspace (data, applied_index, dedup table, replicated settings)
        with a snapshot; the settings it holds are in force at once (status, CONFIG GET)."""
        with self._apply_lock:   # (not while the leader tries scripts on the keyspace: trial_scripts)
            self._keyspace.restore_from(path)
            self._sync_settings()
        script_read_cache.forget()   # the snapshot may be past a SCRIPT FLUSH


#: The merged dispatch table (a MULTI/EXEC transaction gets it through Ctx.handlers).
HANDLERS: dict = _merge_handlers()
