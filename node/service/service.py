"""execute(): where every command of a client goes, through its session (node/service/session.py).

Front ends do not call it directly: a connection's Session runs its commands
here (execute; the fast paths read_now, start_read, gets and start_write),
and the leader serves a follower's forwarded requests with execute_forwarded.
Owns the leader check, forwarding writes to the leader and waiting for
apply; the leader's writes are stamped, group-committed (those of one
event-loop turn as one LogBatch) and proposed through the Replicator by
node/service/group_commit.py. Reads at every level go through
node/service/reads.py (ReadIndex, lease, bounded proofs) and are served from
the local copy. Starts the node's upkeep loops (node/service/upkeep.py: active
expiry, eviction, access reports, the log version's raise).

Read-your-writes per connection: every write returns its index; the session
keeps the highest as the connection's *floor* and passes it with each
command (execute, read_now, start_read, gets, wait_applied):
a read is served only once this node applied the floor, on any node and at
any level.

When a write batch needs room, the leader's Evict (node/service/evictor.py)
goes at its head; the leader-only eviction loop proposes deletions too, and
the node keeps an access table (node/service/access.py): its reads, the
leader's writes, and on a follower the report of its reads it sends the
leader twice a second (ACCESS_REPORT_INTERVAL_S, upkeep.py).

Must not parse protocols or touch LMDB directly: reads go through
StateMachine.read, writes through Replicator.propose.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Callable, Protocol

from raftcache.commandkeys import command_keys
from raftcache.slots import key_slot
from raftcache.node import commands
from raftcache.node.commands import Command, stamp  # noqa: F401 (stamp re-exported)
from raftcache.node.config import NodeConfig, settings
from raftcache.node.consistency import LEVELS, LINEARIZABLE, ReadConsistency  # noqa: F401 (re-exported)
from raftcache.node.errors import (
    CommandError,
    DeadlineError,
    NotLeaderError,
    RaftcacheError,
    Reason,
    UnavailableError,
)
from raftcache.node.commands import slot_migration
from raftcache.node.service.access import AccessTable
from raftcache.node.service.diagnostics import Diagnostics, log_lines
from raftcache.node.service.evictor import Evictor
from raftcache.node.service.group_commit import MAX_BATCH_ENTRIES, GroupCommit, wall_ms
from raftcache.node.service.identity import Identity
from raftcache.node.service.forwarding import ForwardLanes, WriteCoalescer
from raftcache.node.service.opstats import OpStats
from raftcache.node.service.pubsub import Hub
from raftcache.node.service.reads import Parked, Reads
from raftcache.node.service.status import node_status
from raftcache.node.service.script_callers import ScriptCallers
from raftcache.node.service.tracking import Tracker
from raftcache.node.service.upkeep import Upkeep
from raftcache.node.service.waiters import AppliedWatcher, Completions
from raftcache.proto import commands_pb2 as pb

#: Reads that do not count as an access (Redis looks these keys up with LOOKUP_NOTOUCH).
_NO_TOUCH = frozenset({"object_access", "object_encoding", "key_version", "type", "ttl", "scan", "db_size",
                       "random_key"})
#: A write's client identity when it has none (client_id, sequence).
_NO_IDENTITY = ("", 0)
#: What only the leader proposes: refused from clients.
_LEADER_ONLY = frozenset({"set_version", "evict", "claim_slots", "publish_batch", "set_batch", *slot_migration.STEPS})


class Forwarder(Protocol):
    """Sends a request to another node's Internal.Forward (node/service/forwarding.py)."""

    async def forward(
        self, node_id: str, command: Command, consistency: ReadConsistency | None, client_id: str, sequence: int
    ) -> tuple[object, int]: ...

    async def forward_batch(self, node_id: str, requests: list) -> list: ...


#: Service.gets's answer when the read must take the ordinary path.
NOT_NOW = object()
#: Service.gets's answer when the GETs joined the read round (Reads.start_get): what the caller
#: keeps as its task meanwhile (never done; cancelling it does nothing).
PARKED = Parked()


class _VersionShort(CommandError):
    """_validate's refusal of a command the log's semantics version does not allow yet
    (UNAVAILABLE, retryable): the paths that can wait for the version (a new cluster raises it
    within a second or two of electing a leader) wait instead of answering it."""


class Service:
    """One execute() for all protocols; see the module docstring."""

    def __init__(self, config: NodeConfig, statemachine, replicator, keyspace, forwarder: Forwarder | None = None):
        self.config = config
        self._sm = statemachine
        #: This node's subscribers (node/service/pubsub.py) and tracking clients
        #: (node/service/tracking.py), fed by what the log publishes and invalidates.
        self.pubsub = Hub()
        self.tracking = Tracker(on_change=statemachine.set_track_writes)
        self.pubsub.on_invalidate = self.tracking.invalidate
        self._raft = replicator
        self._keyspace = keyspace
        #: When each key was last used, and how often: reads here, writes proposed here (as leader).
        self.access = AccessTable(wall_ms())
        statemachine.access = self.access
        self._coalescer = WriteCoalescer(MAX_BATCH_ENTRIES)
        self._default = ReadConsistency.parse(config.service.default_read)
        self._node_settings = settings.node_defaults(config)
        #: SLOWLOG, latency histograms and events, MONITOR (node/service/diagnostics.py).
        self.diagnostics = Diagnostics()
        self._configure_local()
        self._settings_changed(statemachine.settings)
        statemachine.on_settings_change.append(self._settings_changed)
        #: Who connections are and what they may do (node/service/identity.py).
        self.identity = Identity(config.frontend.redis_password, statemachine.users, self.setting)
        #: The scripts restricted users send through this node, for the ACL LOG (script_callers.py).
        self._script_callers = ScriptCallers(config.id, self.identity, lambda: self._completions)
        statemachine.script_stats.on_denial = self._script_callers.denied
        self._scripts_evicted_before = statemachine.scripts_evicted_total()   # INFO counts from here
        statemachine.on_users_change.append(self.identity.users_changed)
        self._timeout_s = config.service.request_timeout_s
        #: Cluster mode: which shard owns each hash slot (node/service/cluster.py); None when not sharded.
        self.cluster = None
        #: Cluster mode: runs another shard's commands there (node/service/shard_forward.py; memcached).
        self.shard_forwarder = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._completions: Completions | None = None
        self.watcher: AppliedWatcher | None = None
        self._background: list[asyncio.Task] = []
        self._rng = random.Random(random.SystemRandom().getrandbits(64))  # seeds need not be secret
        self._lanes = ForwardLanes(config.id, self._rng)
        self._evictor = Evictor(keyspace, self.access, self.setting, self._rng)
        self.stats = {"commands": 0, "reads": 0, "writes": 0, "forwarded": 0, "batches": 0,
                      "read_index_requests": 0}
        #: The leader's writes on their way to the log (node/service/group_commit.py).
        self._commits = GroupCommit(statemachine, replicator, keyspace, self.access, self._evictor, self._rng,
                                    self.stats)
        #: Requests answered and their latency per protocol (the front ends record; /status reads).
        self.opstats = OpStats()
        self._reads = Reads(config.id, replicator, self._local_read, self._timeout_s, self.stats,
                            reads_together=self._keyspace.reads_together, read_gets=self._round_values)
        self.forwarder = forwarder
        #: Active expiry, eviction, access reports and the log version's raise (node/service/upkeep.py).
        self._upkeep = Upkeep(config, statemachine, replicator, keyspace, self._commits, self._evictor,
                              self.access, lambda: self.forwarder)

    @property
    def forwarder(self) -> Forwarder | None:
        """How this node reaches the leader (node/service/forwarding.py)."""
        return self._forwarder

    @forwarder.setter
    def forwarder(self, forwarder: Forwarder | None) -> None:
        self._forwarder = self._reads.forwarder = forwarder

    @property
    def applied_index(self) -> int:
        """The last log index applied on this node."""
        return self._raft.applied_index

    @property
    def limits(self):
        """Key/value/memory limits in force (the node's, with the cluster's CONFIG SET)."""
        return self._sm.limits

    @property
    def settings(self) -> dict[str, str]:
        """Every CONFIG parameter's value on this node (node_defaults + replicated changes)."""
        values = settings.effective(self._node_settings, self._replicated)
        values["requirepass"] = self.identity.requirepass_text()  # the default user's digest, never a password
        return values

    def replicated_users(self) -> dict:
        """The ACL users the cluster replicated ({} until the first ACL change)."""
        return self._sm.users

    def setting(self, name: str) -> str:
        """One CONFIG parameter's value on this node."""
        return self._replicated.get(name, self._node_settings[name])

    def set_local(self, name: str, value: str) -> None:
        """CONFIG SET of a node-local parameter (checked by settings.check_local): this node only."""
        self._node_settings = {**self._node_settings, name: value}
        self._configure_local()

    def _configure_local(self) -> None:
        """The node-local settings to the parts that use them."""
        self.diagnostics.configure(self._node_settings)
        self.tracking.limit(int(self._node_settings["tracking-table-max-keys"]))

    def _settings_changed(self, replicated: dict[str, str]) -> None:
        # Raft thread: reference assignments only, read by the event loop.
        if not settings.NODE_LOCAL.isdisjoint(replicated):  # stored by an older release: not in force here
            replicated = {k: v for k, v in replicated.items() if k not in settings.NODE_LOCAL}
        self._replicated = replicated
        self._default = ReadConsistency.parse(self.setting("raftcache-default-read"))
        values = settings.effective(self._node_settings, replicated)
        self.access.configure(settings.eviction_number(values, "lfu-log-factor"),
                              settings.eviction_number(values, "lfu-decay-time"),
                              lfu=values["maxmemory-policy"].endswith("-lfu"))

    async def wait_applied(self, index: int) -> None:
        """Wait (bounded by the request timeout) until this node applied `index`: a connection's
        floor before it looks at the local copy outside execute (blocking pops). DeadlineError
        when it does not."""
        await self._reads.catch_up(index)

    def _level(self, consistency: ReadConsistency | None) -> ReadConsistency:
        """The level a read is served at: its own, else the node's default."""
        if consistency is not None and consistency.level:
            return consistency
        return self._default if self._default.level else LINEARIZABLE

    # ------------------------------------------------------------ lifecycle

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the event loop that runs the front ends (call before serving)."""
        self._loop = loop
        self.watcher = AppliedWatcher(loop, lambda: self._raft.applied_index)
        self._completions = Completions(loop)
        self._commits.attach(loop, self._completions)
        self._reads.attach(loop, self.watcher, self._completions)
        self.pubsub.attach(loop)
        self._sm.on_events = self.pubsub.deliver_threadsafe
        self.diagnostics.monitors.on_log_watch = self._watch_log

    def _watch_log(self, on: bool) -> None:
        """MONITOR LOG: the state machine hands over what it applies while someone watches."""
        monitors, loop = self.diagnostics.monitors, self._loop

        def applied(index: int, entries) -> None:   # Raft thread
            lines = log_lines(index, entries)
            if lines:
                loop.call_soon_threadsafe(monitors.feed_all, lines, True)

        self._sm.on_entries = applied if on else None

    def on_applied(self, index: int) -> None:
        """Called on the Raft thread after each apply."""
        if self.watcher is not None:
            self.watcher.notify(index)

    @property
    def log_version(self) -> int:
        """The log's semantics version in force (front ends send version 4 fields and commands from 4 on)."""
        return self._sm.log_version

    def start_background(self) -> None:
        """The leader's and followers' upkeep loops (node/service/upkeep.py)."""
        self._background = self._upkeep.start()

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    @property
    def is_leader(self) -> bool:
        return self._raft.is_leader

    @property
    def leader_id(self) -> str | None:
        return self._raft.leader_id

    # ------------------------------------------------------------ execute

    async def execute(
        self,
        command: Command,
        consistency: ReadConsistency | None = None,
        client_id: str = "",
        sequence: int = 0,
        floor: int = 0,
    ) -> tuple[object, int]:
        """Run one command; returns (result, index): a write's commit index, or the
        applied index a read saw.

        `floor` is the connection's read-your-writes floor (the module docstring):
        a read waits until this node applied it. A command error is returned as a
        CommandError result. Raises UnavailableError (no leader or quorum within the
        request timeout: retryable) or DeadlineError (a write's outcome is unknown,
        or this node did not reach the floor in time).
        """
        command, error = self._prepare(command)
        if error is not None:
            error = await self._once_version_allows(command, error)
            if error is not None:
                return error, 0
        if command.WhichOneof("op") in commands.READ_COMMANDS:
            self.stats["reads"] += 1
            return await self._reads.read(command, self._level(consistency), floor, forward=True)
        self.stats["writes"] += 1
        return await self._write(command, client_id, sequence, forward=True)

    def _prepare(self, command: Command) -> tuple[Command, RaftcacheError | None]:
        """`command` as it may be proposed, or the error to answer instead.

        Passwords never reach the log in the clear: ACL rules `>pass`/`<pass`
        become digests, and CONFIG SET requirepass becomes the default user's
        rules (node/commands/acl.py). A command of a newer semantics version
        than the log's waits for it (UNAVAILABLE: retryable).
        """
        command = self.identity.without_passwords(command)
        return command, self._validate(command)

    @staticmethod
    def _awaits_version(error: RaftcacheError) -> bool:
        """Whether `error` (from _prepare) says only that the log's semantics version is below what
        the command needs (a refusal _validate makes before it, such as a slot no shard serves in
        cluster mode, is final)."""
        return type(error) is _VersionShort

    async def _once_version_allows(self, command: Command, error: RaftcacheError) -> RaftcacheError | None:
        """`error` (from _prepare), unless it only said that the log's version is below what
        `command` needs: then, once the log reached it (waited for up to the request timeout: a
        new cluster raises it within a second or two of electing a leader), `command` checked
        again (slots and limits come after the version in _validate), None when it passes."""
        if not self._awaits_version(error):
            return error
        deadline = self._loop.time() + self._timeout_s
        while commands.required_version(command) > self._sm.log_version:
            if self._loop.time() >= deadline:
                return error
            await asyncio.sleep(0.05)
        return self._validate(command, count=False)

    def _validate(self, command: Command, count: bool = True) -> RaftcacheError | None:
        """The error to answer instead of running `command`, or None (`count`: one more in
        stats["commands"]; a command checked again is not counted again)."""
        if count:
            self.stats["commands"] += 1
        try:
            name = commands.op_name(command)
        except RaftcacheError as e:
            return e
        if name in _LEADER_ONLY:
            return CommandError(f"{name} is proposed by the leader itself", Reason.INVALID_ARGUMENT)
        if self.cluster is not None:   # cluster mode: no key is stored in a shard that does not own its slot
            error = self.cluster.misrouted(command)
            if error is not None:
                return error
        needed = commands.required_version(command)
        if needed > self._sm.log_version:
            return _VersionShort(f"'{name}' needs the log's semantics version {needed} (in force: "
                                 f"{self._sm.log_version}): the cluster is being upgraded; retry", Reason.UNAVAILABLE)
        if self._sm.log_version < commands.EVICTION_VERSION:
            # older replicas would refuse these fields; they never evict nor keep item state
            command.ClearField("eviction")
            if name == "set":
                command.set.ClearField("stale_if_older")
        limits = self._sm.limits
        return commands.check_limits(
            command,
            databases=limits.databases,
            max_key_bytes=limits.max_key_bytes,
            max_value_bytes=limits.max_value_bytes,
        )

    def start_write(self, command: Command, client_id: str = "", sequence: int = 0,
                    forward: bool = True) -> tuple[asyncio.Future, bool]:
        """Begin a write now: (future of (result, index), proposed_here).

        On the leader the entry is proposed before this returns, so writes
        started one after the other are logged in that order (pipelines), and
        no task is created. When `proposed_here`, a NotLeaderError or
        UnavailableError from the future means the entry was not logged: the
        caller may retry it with execute(). On a follower, and for a command
        that waits for the log's semantics version (as in execute()), a task
        forwards or proposes it.
        """
        command, error = self._prepare(command)
        if error is not None and self._awaits_version(error):
            return asyncio.ensure_future(self._write_once_version_allows(command, error, client_id, sequence,
                                                                         forward)), False
        if error is not None:
            fut = self._loop.create_future()
            fut.set_result((error, 0))
            return fut, False
        self.stats["writes"] += 1
        if self._raft.is_leader:
            return self._commits.propose(command, client_id, sequence), True
        if not forward:
            fut = self._loop.create_future()
            fut.set_exception(NotLeaderError("not the leader"))
            return fut, False
        return asyncio.ensure_future(self._write(command, client_id, sequence, forward=True)), False

    def start_plain_set(self, command: Command) -> tuple[asyncio.Future, bool]:
        """start_write of `command`, a `SET key value` with no option (a RESP client's plain SET):
        on the leader, within the limits, proposed without the checks nothing else in such a
        SET could fail (_prepare's: no password, no newer log version, no cluster slot)."""
        return self.start_plain_sets((command,))[0]

    def start_plain_sets(self, sets, identities=None, forward: bool = True) -> list[tuple[asyncio.Future, bool]]:
        """start_plain_set of each of `sets`, in order (a pipeline's plain SETs), checked together;
        `identities`: each one's (client_id, sequence) when they carry one (a follower's forwarded
        batch), and `forward` as start_write's."""
        if identities is None:
            identities = itertools.repeat(_NO_IDENTITY)   # (a -P 1 SET's: no list to build)
        if not self._plain_sets_ok(sets):   # (a refusal: its error)
            return [self.start_write(command, client_id, sequence, forward)
                    for command, (client_id, sequence) in zip(sets, identities)]
        stats = self.stats
        stats["commands"] += len(sets)
        stats["writes"] += len(sets)
        propose = self._commits.propose_plain_set
        return [(propose(command, client_id, sequence), True)
                for command, (client_id, sequence) in zip(sets, identities)]

    def _plain_sets_ok(self, sets) -> bool:
        """Plain SETs (`sets`) may be proposed without _prepare: this node leads, outside cluster
        mode, on a log that knows every field, and each is within the limits (those
        commands.check_limits checks for a SET: the database, the key's and the value's size)."""
        if not self._raft.is_leader or self.cluster is not None or self._sm.log_version < commands.EVICTION_VERSION:
            return False
        limits = self._sm.limits
        max_key, max_value, databases = limits.max_key_bytes, limits.max_value_bytes, limits.databases
        for command in sets:
            op = command.set
            if command.db >= databases or len(op.key) > max_key or len(op.value) > max_value:
                return False
        return True

    async def _write_once_version_allows(self, command: Command, error: RaftcacheError, client_id: str,
                                         sequence: int, forward: bool) -> tuple[object, int]:
        error = await self._once_version_allows(command, error)
        if error is not None:
            return error, 0
        self.stats["writes"] += 1
        return await self._write(command, client_id, sequence, forward)

    def lanes_for(self, requests: list) -> tuple[list, list]:
        """`requests` with a forwarding lane as the identity of each write that has
        none, and the lanes taken (give them back with give_back_lanes)."""
        out, lanes = [], []
        for request in requests:
            command, consistency, client_id, _ = request
            if not client_id and not commands.is_read(command):
                lane = self._lanes.take()
                lanes.append(lane)
                request = (command, consistency, *lane)
            out.append(request)
        return out, lanes

    def give_back_lanes(self, lanes: list) -> None:
        for lane in lanes:
            self._lanes.give_back(lane)

    async def execute_forwarded(
        self, command: Command, consistency: ReadConsistency | None, client_id: str, sequence: int
    ) -> tuple[object, int]:
        """A request another node forwarded: serve it here or raise NotLeaderError (never forward again).
        Checked as a request from a client is (the forwarding node may be of another version)."""
        if not self._raft.is_leader:
            raise NotLeaderError("not the leader")
        command, error = self._prepare(command)
        if error is not None:
            return error, 0
        if commands.is_read(command):
            return await self._reads.read(command, consistency if consistency and consistency.level
                                          else LINEARIZABLE, 0, forward=False)
        return await self._write(command, client_id, sequence, forward=False)

    # ------------------------------------------------------------ writes

    async def _write(self, command: Command, client_id: str, sequence: int, forward: bool) -> tuple[object, int]:
        deadline = self._loop.time() + self._timeout_s
        delay_s = 0.01
        lane = None
        forwarded = False   # a forward was sent: the write may be in the log, whatever came back
        try:
            while True:
                try:
                    if self._raft.is_leader:
                        return await self._commits.propose(command, client_id, sequence)
                    if not forward:
                        raise NotLeaderError("not the leader")
                    leader = self._raft.leader_id
                    if leader is not None and leader != self.config.id and self.forwarder is not None:
                        if not client_id:
                            # A forward that fails may still have been logged (the leader died
                            # after committing it): retries carry one identity, so the state
                            # machine applies the write once (docs/design.md invariant 5).
                            lane = self._lanes.take()
                            client_id, sequence = lane
                        self.stats["forwarded"] += 1
                        forwarded = True
                        return await self._coalescer.forward(self.forwarder, leader, command, client_id, sequence)
                except (NotLeaderError, UnavailableError):
                    if not forward:
                        raise
                remaining = deadline - self._loop.time()
                if remaining <= 0:
                    if forwarded:
                        # A leader may have logged it before it changed or went quiet (our retries
                        # carried one identity, so it is applied once at most): not safe to resend.
                        raise DeadlineError("no leader answered the write in time; the outcome is unknown")
                    raise UnavailableError("no leader could take the write; retry")
                await asyncio.sleep(min(delay_s, remaining))
                delay_s = min(delay_s * 2, 0.2)
        finally:
            if lane is not None:
                self._lanes.give_back(lane)

    # ------------------------------------------------------------ reads

    def _local_read(self, command: Command) -> tuple[object, int]:
        now_ms = wall_ms()
        outcome = self._sm.read_at(command, now_ms, checked=True)  # execute() validated it
        if command.WhichOneof("op") not in _NO_TOUCH:
            record = self.access.record
            db = command.db
            for key in command_keys(command):
                record(db, key, now_ms)
        return outcome

    def read_now(self, command: Command, consistency: ReadConsistency | None,
                 floor: int = 0) -> tuple[object, int] | None:
        """Serve a read without waiting when its level and the connection's `floor` allow
        (node/service/reads.py: any; min_index, lease, bounded already covered here);
        None when it needs execute(). Front ends use it to skip a task per read on the hot path."""
        if command.WhichOneof("op") not in commands.READ_COMMANDS:
            return None
        if not self._reads.servable_now(self._level(consistency), floor):
            return None
        error = self._validate(command, count=False)
        if error is not None and self._awaits_version(error):
            return None   # execute() waits for the log's version
        self.stats["commands"] += 1
        if error is not None:
            return error, 0
        self.stats["reads"] += 1
        return self._local_read(command)

    def start_read(self, command: Command, consistency: ReadConsistency | None = None,
                   floor: int = 0) -> asyncio.Future:
        """Begin a read now: a future of (result, index), as execute() would answer it.
        Reads that wait for a read index are served from the shared round's callback, with
        no task per read (front ends' hot path for one read at a time, like start_write); one
        that waits for the log's semantics version is a task of execute()'s."""
        read = command.WhichOneof("op") in commands.READ_COMMANDS
        error = self._validate(command, count=False)
        if read and error is not None and self._awaits_version(error):   # as execute(): wait for it
            return asyncio.ensure_future(self.execute(command, consistency, floor=floor))
        self.stats["commands"] += 1
        if error is not None or not read:
            fut = self._loop.create_future()
            fut.set_result((error or CommandError("not a read", Reason.INVALID_ARGUMENT), 0))
            return fut
        self.stats["reads"] += 1
        return self._reads.start(command, self._level(consistency), floor)

    def gets(self, db: int, keys: list[bytes], consistency: ReadConsistency | None, floor: int = 0,
             done: Callable[[tuple | None], None] | None = None) -> list | object:
        """GETs of `keys` in `db` without a Command (the Redis port's hot path), in one of two ways:

        - no waiting is needed: their values now, read in one transaction (each bytes, None when
          absent, or WRONGTYPE's CommandError);
        - the level waits for a read index (linearizable, lease) and `done` is given: they join
          this moment's shared round with no Command, task or future of their own
          (Reads.start_get), PARKED is returned, and `done((values,))` follows once the round's
          index is applied here, or `done(None)`: take the ordinary path. Nothing cancels it:
          a caller that gave up ignores `done`.

        NOT_NOW: the caller takes the ordinary path (read_now / execute) now: a level neither
        way serves here, an over-long key (reported there), a key whose slot is elsewhere or
        moving (cluster mode). `db` must be valid."""
        if not self._gets_here(keys):
            return NOT_NOW
        reads = self._reads
        consistency = self._level(consistency)
        if reads.servable_now(consistency, floor):
            return self._read_strings(db, keys)
        if done is None or not reads.start_get(consistency, floor, db, keys, done):
            return NOT_NOW
        return PARKED

    def get_now(self, db: int, key: bytes, consistency: ReadConsistency | None, floor: int = 0):
        """One GET served now (a -P 1 client's), as `gets` serves it without waiting, in fewer
        steps: its value (bytes, None, or WRONGTYPE's CommandError), or NOT_NOW: the caller
        takes `gets` (a level that waits for a read index, an over-long key, cluster mode)."""
        if len(key) > self._sm.limits.max_key_bytes or self.cluster is not None:
            return NOT_NOW
        if not self._reads.servable_now(self._level(consistency), floor):
            return NOT_NOW
        return self._read_string(db, key)

    def script_usage(self) -> dict[str, int]:
        """INFO memory's scripting fields on this node (StateMachine.script_usage)."""
        return self._sm.script_usage()

    def script_call_stats(self) -> dict[str, list[int]]:
        """INFO commandstats of the commands scripts called on this node (every replica runs
        them): name -> [calls, usec, rejected_calls, failed_calls] (copies)."""
        return {name: list(stat) for name, stat in list(self._sm.script_stats.calls.items())}

    def script_error_stats(self) -> dict[str, int]:
        """INFO errorstats of the errors commands in scripts answered on this node that no reply
        carried (node/commands/scripting.ScriptStats.errors): prefix -> count (a copy)."""
        return dict(self._sm.script_stats.errors)

    def script_caller(self, client_info: str) -> str:
        """Eval.caller of a script a restricted user sends through this node (script_callers.py)."""
        return self._script_callers.stamp(client_info)

    def scripts_evicted(self) -> int:
        """INFO's evicted_scripts: scripts EVAL's cache evicted since this process started or
        CONFIG RESETSTAT (docs/scripting.md)."""
        return max(self._sm.scripts_evicted_total() - self._scripts_evicted_before, 0)

    def _gets_here(self, keys: list[bytes]) -> bool:
        """GETs of `keys` may take the fast paths: no key over the length limit (the ordinary
        path reports it), none whose slot is moving or elsewhere (cluster mode: -ASK / -MOVED)."""
        return max(map(len, keys)) <= self._sm.limits.max_key_bytes and (
            self.cluster is None or not any(self._not_here(key) for key in keys))

    def _not_here(self, key: bytes) -> bool:
        """Cluster mode: the read path decides -ASK / -MOVED against the log's slots."""
        slot = key_slot(key)
        return bool(self._sm.migration.moving[slot] or not self._sm.slots.owned[slot] and self._sm.slots.current.epoch)

    def _round_values(self, gets: list[tuple[int, list[bytes]]]) -> list:
        """A read round's GETs (Reads._serve_gets), each (db, keys), read once the round's index
        is applied: each one's values, or None when a key's slot has started moving or moved since
        they joined (cluster mode: the ordinary path answers -ASK / -MOVED). Outside cluster mode
        and within one database (the common case) they are one lookup of all their keys."""
        db = gets[0][0]
        if self.cluster is not None or any(get[0] != db for get in gets):
            return [self._get_values(get_db, keys) for get_db, keys in gets]
        values = self._read_strings(db, [key for _, keys in gets for key in keys])
        out, at = [], 0
        for _, keys in gets:
            out.append(values[at:at + len(keys)])
            at += len(keys)
        return out

    def _get_values(self, db: int, keys: list[bytes]) -> list | None:
        """One GET's values (a round's, in cluster mode or across databases); None: a key's
        slot has started moving or moved since the GET joined (the ordinary path answers -ASK /
        -MOVED)."""
        if self.cluster is not None and any(self._not_here(key) for key in keys):
            return None
        return self._read_strings(db, keys)

    def _read_string(self, db: int, key: bytes):
        """_read_strings of one key (-P 1's GET), without the lists."""
        stats = self.stats
        stats["commands"] += 1
        stats["reads"] += 1
        now_ms = wall_ms()
        value = self._sm.get_string(db, key, now_ms)
        if value is not None:
            self.access.record(db, key, now_ms)
        return value

    def _read_strings(self, db: int, keys: list[bytes]) -> list:
        """GETs' values in one read transaction; every key found counts as an access."""
        if len(keys) == 1:   # (a round's -P 1 GET)
            return [self._read_string(db, keys[0])]
        stats = self.stats
        stats["commands"] += len(keys)
        stats["reads"] += len(keys)
        now_ms = wall_ms()
        values = self._sm.get_strings(db, keys, now_ms)
        record = self.access.record
        for key, value in zip(keys, values):
            if value is not None:
                record(db, key, now_ms)
        return values

    def merge_access_report(self, report: list) -> None:
        """A follower's reads (Internal.ReportAccess): counted in the leader's table."""
        if self._raft.is_leader:
            self.access.merge(report, wall_ms())

    async def propose_leader_only(self, command: Command) -> tuple[object, int]:
        """Propose one of the commands only the leader proposes (a shard's ClaimSlots,
        node/service/cluster.py), stamped with the log's version in force: (result, index).
        Raises NotLeaderError on a follower."""
        if not self._raft.is_leader:
            raise NotLeaderError("not the leader")
        needed = commands.required_version(command)
        if needed > self._sm.log_version:
            raise UnavailableError(f"needs the log's semantics version {needed} (in force: {self._sm.log_version})")
        entry = pb.LogEntry(version=self._sm.log_version, now_ms=wall_ms())
        entry.command.CopyFrom(command)
        return await self._commits.submit(commands.encode_entry(entry))

    def local_read(self, command: Command) -> tuple[object, int]:
        """A read of this node's keyspace as it is now, without any wait or check (resharding's export)."""
        return self._sm.read_at(command, wall_ms())

    @property
    def migration(self):
        """Cluster mode: the slots this shard's log says are moving (node/commands/slot_migration.SlotMigration)."""
        return self._sm.migration

    @property
    def slot_claim(self):
        """Cluster mode: the slots this shard's log records (node/commands/slot_claims.SlotClaim)."""
        return self._sm.slots.current

    def on_slots_change(self, callback) -> None:
        """Call `callback(claim)` (on the Raft thread) whenever the recorded claim changes."""
        self._sm.on_slots_change.append(callback)

    # ------------------------------------------------------------ status

    def role(self) -> str:
        raft = self._raft
        if raft.is_leader:
            return "leader"
        if raft.leader_id:
            return "follower"
        return "joining" if raft.waiting_to_join else "candidate"

    def health_fields(self) -> dict:
        """The part of status() node/service/health.assess reads, without the rest (keyspace
        sizes, latency and per-op figures): what a health check polled several times a second needs."""
        raft = self._raft
        return {"role": self.role(), "commit_index": raft.commit_index, "applied_index": raft.applied_index,
                "last_leader_contact_s": 0.0 if raft.is_leader else raft.last_leader_contact_s(),
                "quorum_contact_s": raft.quorum_contact_s()}

    def status(self) -> dict:
        """What Admin.Status, INFO and /status report about this node (node/service/status.py)."""
        return node_status(self, self._raft, self._keyspace, self._sm, str(self._default))

    def reset_stats(self) -> None:
        """CONFIG RESETSTAT: zero the request counters, the keyspace hits and misses and the evictions."""
        for name in self.stats:
            self.stats[name] = 0
        self._keyspace.hits = self._keyspace.misses = 0
        self._sm.evicted.clear()
        self.diagnostics.reset_stats()
        self._sm.script_stats.reset()
        self._scripts_evicted_before = self._sm.scripts_evicted_total()
