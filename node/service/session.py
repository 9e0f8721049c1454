"""The session runner: one client connection's ordered stream of commands, for every protocol.

A front end parses bytes into `Command`s and renders outcomes; a `Session`
runs the commands. It owns what the Redis, memcached and gRPC front ends
share, so a behaviour is fixed once for all three:

- the connection's state: its database, read level, client name, and the
  index of its latest write (read-your-writes: every read, on any node and
  at any level, waits until this node applied it; WAIT counts from it);
- the fast paths (`read_now`, `gets`, `start_read`, `start_write`): a read
  its level lets this node serve without waiting is answered inline, with no
  task; a lone read that waits for a read index, and a lone write on the
  leader, are answered from their future's callback;
- the order of a pipeline (`Run`): outcomes come back in request order;
  consecutive writes on the leader are proposed back to back (one group
  commit); a follower's run of writes goes to the leader as one batch, and
  one by one in order when that fails; a read waits for the writes before
  it; at most MAX_IN_FLIGHT commands are outstanding;
- the identity of forwarded requests (Service.execute_forwarded for a batch
  a follower sent, where each request carries its own identity and level);
- who the connection is: `user`, the ACL user it authenticated as (None:
  not authenticated; node/service/identity.py), and `guard`, the check a port
  puts before every command it runs through `execute` or `Run.add` (the
  memcached and gRPC ports: node/frontends/acl_catalog.command_guard; the
  Redis port checks each command by its Redis name itself).

The stream transports' shared mechanics (half-close, back-pressure,
connection limits, idle timeouts) are node/service/stream.py's.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable

from raftcache.node import commands
from raftcache.node.consistency import ReadConsistency
from raftcache.commandkeys import command_keys
from raftcache.node.errors import CommandError, DeadlineError, NotLeaderError, RaftcacheError, Reason, UnavailableError
from raftcache.node.service.reads import Parked
from raftcache.node.service.service import NOT_NOW, PARKED
from raftcache.node.service.waiters import when_settled
from raftcache.proto.commands_pb2 import Command

log = logging.getLogger(__name__)

#: (result, index) of a command, or the RaftcacheError it failed with.
Outcome = tuple[object, int] | RaftcacheError
#: A front end's rendering of one outcome (bytes for the stream protocols, a Reply for gRPC).
Render = Callable[[Outcome], object]

#: Outstanding commands of one Run before it waits for them to finish…
MAX_IN_FLIGHT = 1024
#: …and reads waiting at once (their replies may be large: at most this many values are held).
MAX_READS_IN_FLIGHT = 32

_ids = itertools.count(1)


def internal_error(what: str, error: BaseException | None = None) -> RaftcacheError:
    """A bug costs one reply, never the connection: logged here (`error`, or the exception
    being handled), answered as INTERNAL."""
    log.error("%s failed", what, exc_info=error if error is not None else True)
    return RaftcacheError("internal error", Reason.INTERNAL)


class Session:
    """One client connection's state and the way its commands reach the service."""

    def __init__(self, service, protocol: str, addr: str = "", forwarded: bool = False,
                 user: str | None = None, guard: Callable | None = None):
        self.service = service
        self.protocol = protocol             # "resp" | "memcache" | "grpc"
        self.id = next(_ids)
        self.addr = addr
        self.db = 0
        self.consistency: ReadConsistency | None = None   # None: the node's default level
        self.name = ""
        self.last_write_index = 0            # the index of this connection's latest write
        self.subscriptions = None            # node/service/pubsub.Subscriptions, once it subscribes
        self.tracking = None                 # node/service/tracking.Tracking while CLIENT TRACKING is on
        self.created_s = time.time()
        self.last_s = time.monotonic()
        #: A batch a follower forwarded to this leader: each request keeps its own identity
        #: and level, and nothing is forwarded again.
        self.forwarded = forwarded
        #: The ACL user this connection acts as; None until it authenticates.
        self.user = user
        #: guard(session, command) -> the error to answer instead of running it, or None.
        self.guard = guard
        #: Cluster mode, memcached: a ShardForwarder running other shards' commands there; None: refused
        #: (WRONG_SHARD) as on the other ports.
        self.remote = None

    def client_info(self) -> str:
        """The connection as ACL LOG entries describe it."""
        return (f"id={self.id} addr={self.addr} name={self.name} age={int(time.time() - self.created_s)} "
                f"db={self.db} user={self.user or ''} proto={self.protocol}")

    def finished(self, name: str, args: list[bytes], usec: int, fast: bool = False, blocking: bool = False) -> None:
        """A command this connection sent was answered after `usec` µs: the node's slow log,
        latency histograms and events, and MONITOR see it (node/service/diagnostics.py).
        `name` is Redis's (`client|list`), `args` what the client sent (passwords included:
        they are redacted there). A batch a follower forwarded is not recorded again here."""
        if not self.forwarded:
            self.service.diagnostics.finished(name, args, usec, self.db, self.addr, self.name, fast, blocking)

    def finished_many(self, name: str, calls: list[list[bytes]], usec: int, fast: bool = True) -> None:
        """`finished` for commands served together, `usec` each (Diagnostics.finished_many)."""
        if not self.forwarded:
            self.service.diagnostics.finished_many(name, calls, usec, self.db, self.addr, self.name, fast)

    # ------------------------------------------------------------ outcomes

    def _note(self, command: Command, outcome: Outcome) -> Outcome:
        """Bookkeeping of a finished command: the connection's last write, PUBLISH's count,
        and what CLIENT TRACKING learns (the keys a read saw; a NOLOOP client's own write)."""
        if self.tracking is not None:
            self._track(command, outcome)
        if type(outcome) is tuple and outcome[1] and not commands.is_read(command):
            if outcome[1] > self.last_write_index:
                self.last_write_index = outcome[1]
            if command.HasField("publish"):
                if (type(outcome[0]) is int and not command.publish.sharded and not self.forwarded
                        and self.service.shard_forwarder is not None):
                    self.service.shard_forwarder.relay_publish(command)   # cluster mode: every shard's too
                return self.publish_reply(command, outcome[0]), outcome[1]
        return outcome

    def publish_reply(self, command: Command, result: object) -> object:
        """PUBLISH answers how many of this node's subscribers the message reaches (alone or in EXEC)."""
        if type(result) is not int:
            return result
        op = command.publish
        return self.service.pubsub.receivers(op.channel, op.sharded)

    def _track(self, command: Command, outcome: Outcome) -> None:
        keys = command_keys(command)
        tracker = self.service.tracking
        if not commands.is_read(command):
            if self.tracking.noloop:
                tracker.written(self.tracking, keys, outcome[1] if type(outcome) is tuple else 0)
        elif type(outcome) is tuple and not isinstance(outcome[0], CommandError):
            tracker.remember(self.tracking, keys)

    def _writing(self, command: Command) -> None:
        """A write is sent: a NOLOOP client's invalidations of its keys wait for its outcome."""
        if self.tracking is not None and self.tracking.noloop:
            self.service.tracking.writing(self.tracking, command_keys(command))

    async def execute(self, command: Command, consistency: ReadConsistency | None = None,
                      client_id: str = "", sequence: int = 0) -> Outcome:
        """Run one command and wait for it: its outcome (never raises for a RaftcacheError)."""
        if self.guard is not None:
            refused = self.guard(self, command)
            if refused is not None:
                return refused
        if self.tracking is not None and not commands.is_read(command):
            self._writing(command)
        try:
            if self.forwarded:
                outcome = await self.service.execute_forwarded(command, consistency, client_id, sequence)
            elif self.remote is not None and (shard := self.remote.owner(command)):
                # another shard's log index: not this connection's read-your-writes floor here
                return await self.remote.execute(shard, command, consistency or self.consistency)
            else:
                outcome = await self.service.execute(command, consistency or self.consistency, client_id, sequence,
                                                     self.last_write_index)
        except RaftcacheError as e:
            return self._note(command, e)
        except Exception:
            return self._note(command, internal_error(f"executing {commands.op_name(command)}"))
        return self._note(command, outcome)

    # ------------------------------------------------------------ fast paths

    def read_now(self, command: Command, consistency: ReadConsistency | None = None) -> Outcome | None:
        """The outcome of a read servable now at the connection's level; None: it must wait."""
        outcome = self.service.read_now(command, consistency or self.consistency, self.last_write_index)
        if outcome is not None and self.tracking is not None:
            self._track(command, outcome)
        return outcome

    def get_now(self, key: bytes):
        """A GET of `key` served now at the connection's level, after its own writes
        (Service.get_now): its value, or NOT_NOW: take `gets` (so always under CLIENT
        TRACKING, which must remember the key)."""
        if self.tracking is not None:
            return NOT_NOW
        return self.service.get_now(self.db, key, self.consistency, self.last_write_index)

    def gets(self, keys: list[bytes], done: Callable[[tuple | None], None] | None = None):
        """GETs of `keys` in the connection's database at its level, after its own writes
        (Service.gets): their values now, PARKED (they joined the shared round, and `done` will answer),
        or NOT_NOW. Under CLIENT TRACKING the keys answered are remembered, and GETs of
        more than one key never join a round (OPTIN/OPTOUT's choice is per command)."""
        if self.tracking is None:
            return self.service.gets(self.db, keys, self.consistency, self.last_write_index, done)
        got = None
        if done is not None and len(keys) == 1:
            def got(outcome: tuple | None) -> None:
                if outcome is not None and self.tracking is not None:
                    self._track_gets(keys, outcome[0])
                done(outcome)
        result = self.service.gets(self.db, keys, self.consistency, self.last_write_index, got)
        if type(result) is list:
            self._track_gets(keys, result)
        return result

    def _track_gets(self, keys: list[bytes], values: list) -> None:
        """CLIENT TRACKING learns the keys of GETs answered with a value or nil (not WRONGTYPE)."""
        self.service.tracking.remember(self.tracking, [key for key, value in zip(keys, values)
                                                       if not isinstance(value, CommandError)])

    def start_write(self, command: Command, done: Callable[[Outcome], None], plain_set: bool = False) -> asyncio.Future:
        """A lone write, begun now: on the leader it is proposed before this returns (so writes
        started one after another are logged in that order) and `done(outcome)` is called from
        its future's callback, with no task; a leadership change before it was logged retries
        it through execute(). `plain_set`: `command` is a `SET key value` with no option
        (Service.start_plain_set). Returns the write's future (cancel it to give up)."""
        if self.tracking is not None:
            self._writing(command)
        fut, proposed_here = (self.service.start_plain_set if plain_set else self.service.start_write)(command)

        def finished(f: asyncio.Future) -> None:
            if f.cancelled():
                return
            if proposed_here and _not_logged(f):
                _when_done(asyncio.ensure_future(self.execute(command)), done)
                return
            done(self._settled_outcome(command, f))

        fut.add_done_callback(finished)
        return fut

    def start_plain_sets(self, sets: list[Command], done: Callable[[list[Outcome]], None]) -> Parked:
        """`SET key value` writes with no option, begun now, in order (a pipeline's, on the
        leader: Service.start_plain_sets). `done(outcomes)` is called once, in request order,
        when all are settled, with no task (waiters.when_settled); those a leadership change
        kept out of the log are retried one by one through execute(), in order (a task then).
        Returns what the caller keeps as its task meanwhile (cancelling it does nothing: the
        caller ignores the answer instead)."""
        if self.tracking is not None:
            for command in sets:
                self._writing(command)
        started = self.service.start_plain_sets(sets)

        def finished() -> None:
            if any(fut.exception() is not None for fut, _ in started):
                if any(proposed_here and _not_logged(fut) for fut, proposed_here in started):
                    _when_done(asyncio.ensure_future(self._retried(sets, started)), done)
                    return
            elif self.tracking is None:   # (_note's bookkeeping for SETs: the floor alone)
                outcomes = [fut.result() for fut, _ in started]
                self.last_write_index = max(self.last_write_index, max(index for _, index in outcomes))
                done(outcomes)
                return
            done([self._settled_outcome(command, fut) for command, (fut, _) in zip(sets, started)])

        when_settled([fut for fut, _ in started], finished)
        return PARKED

    def forward_plain_sets(self, sets: list[Command], done: Callable[[list[Outcome]], None]) -> asyncio.Future:
        """A follower's `SET key value` writes with no option (a pipeline's), sent to the leader as
        one batch, as the command loop sends a run of writes (Run._forward_batch: each with an
        identity it keeps for a one-by-one retry); `done(outcomes)` once, in request order,
        from the task's callback. Returns the task (cancel it to give up)."""
        if self.tracking is not None:
            for command in sets:
                self._writing(command)
        task = asyncio.ensure_future(Run(self)._forward_batch([(command, None, "", 0) for command in sets]))

        def finished(t: asyncio.Future) -> None:
            if t.cancelled():
                return
            error = t.exception()
            outcomes = [internal_error("forwarding a pipeline of writes", error)] * len(sets) if error else t.result()
            done([self._note(command, outcome) for command, outcome in zip(sets, outcomes)])

        task.add_done_callback(finished)
        return task

    async def _retried(self, sets: list[Command], started: list[tuple[asyncio.Future, bool]]) -> list[Outcome]:
        """start_plain_sets' outcomes when some were not logged: those executed again, in order."""
        outcomes = []
        for command, (fut, proposed_here) in zip(sets, started):
            if proposed_here and _not_logged(fut):
                outcomes.append(await self.execute(command))
            else:
                outcomes.append(self._settled_outcome(command, fut))
        return outcomes

    def start_read(self, command: Command, done: Callable[[Outcome], None]) -> asyncio.Future:
        """A lone read that must wait (for a read index, or the connection's floor), begun now:
        `done(outcome)` is called from the shared round's callback, with no task (as start_write).
        Returns the read's future (cancel it to give up)."""
        fut = self.service.start_read(command, self.consistency, self.last_write_index)
        fut.add_done_callback(lambda f: f.cancelled() or done(self._settled_outcome(command, f)))
        return fut

    def _settled_outcome(self, command: Command, fut: asyncio.Future) -> Outcome:
        error = fut.exception()
        if isinstance(error, RaftcacheError):
            return self._note(command, error)
        if error is not None:
            return self._note(command, internal_error(f"executing {commands.op_name(command)}", error))
        return self._note(command, fut.result())

    def run(self) -> Run:
        """A new pipeline run on this connection."""
        return Run(self)


class Run:
    """One pipeline's commands, their outcomes rendered in request order.

    `add` a command with the function that renders its outcome, `reply` an
    answer the front end already has, `settle` before anything that must see
    every earlier command done (a connection command, a blocking pop), and
    `take` the rendered replies. `add` may wait (bounds, and a read waits for
    the writes before it); nothing here raises for a command's failure.
    """

    __slots__ = ("session", "out", "size", "_writes", "_reads", "_forward")

    def __init__(self, session: Session):
        self.session = session
        self.out: list = []       # rendered replies; None where one is still coming
        self.size = 0             # bytes of the rendered replies that are bytes
        self._writes: list = []   # (position, future, render, request, proposed_here): writes proposed here
        self._reads: list = []    # (position, task, render): reads waiting for their level
        self._forward: list = []  # (position, render, request): a follower's run of writes, not sent yet

    @property
    def in_flight(self) -> int:
        return len(self._writes) + len(self._reads) + len(self._forward)

    @property
    def pending(self) -> bool:
        """Replies are still coming (some command has not finished)."""
        return self.in_flight > 0

    def reply(self, rendered) -> None:
        self._put(len(self.out), rendered, append=True)

    def _put(self, position: int, rendered, append: bool = False) -> None:
        if append:
            self.out.append(rendered)
        else:
            self.out[position] = rendered
        if type(rendered) is bytes:
            self.size += len(rendered)

    async def add(self, command: Command, render: Render, consistency: ReadConsistency | None = None,
                  client_id: str = "", sequence: int = 0) -> None:
        session = self.session
        if session.guard is not None:
            refused = session.guard(session, command)
            if refused is not None:
                self.reply(render(refused))
                return
        if self.in_flight >= MAX_IN_FLIGHT:
            await self.settle()
        request = (command, consistency, client_id, sequence)
        if session.remote is not None and session.remote.owner(command):   # another shard's key (memcached)
            await self.settle()
            self.reply(render(await session.execute(*request)))
            return
        if commands.is_read(command):
            if not self._writes and not self._forward and not session.forwarded:
                served = session.read_now(command, consistency)
                if served is not None:  # no waiting needed: answered inline, no task
                    self.reply(render(served))
                    return
            await self._settle_writes()
            if len(self._reads) >= MAX_READS_IN_FLIGHT:
                await self._settle_reads()
            task = asyncio.ensure_future(session.execute(*request))
            self._reads.append((len(self.out), task, render))
            self.out.append(None)
            return
        if self._reads:
            await self._settle_reads()   # the reads before this write see the state before it
        service = session.service
        if session.tracking is not None:
            session._writing(command)
        if service.is_leader or session.forwarded:
            if self._forward:
                await self._flush_forward()  # forwarded before this node became the leader: first
            fut, proposed_here = service.start_write(command, client_id, sequence,
                                                     forward=not session.forwarded)
            if not proposed_here and not fut.done():
                # Waiting for a leader: one by one, so that a write retried after a
                # failure cannot land after a later one.
                await asyncio.wait((fut,))
            self._writes.append((len(self.out), fut, render, request, proposed_here and not session.forwarded))
            self.out.append(None)
            return
        if self._writes:
            await self._settle_writes()      # proposed here before leadership moved: first
        self._forward.append((len(self.out), render, request))
        self.out.append(None)

    async def settle(self) -> None:
        """Wait until every command added so far has its rendered reply in `out`."""
        await self._settle_writes()
        await self._settle_reads()

    def take(self) -> list:
        """The rendered replies so far, in order (call after settle), and start afresh."""
        out, self.out, self.size = self.out, [], 0
        return out

    async def _settle_reads(self) -> None:
        reads, self._reads = self._reads, []
        for position, task, render in reads:
            self._put(position, render(await task))

    async def _settle_writes(self) -> None:
        if self._forward:
            await self._flush_forward()
        writes, self._writes = self._writes, []
        session = self.session
        for position, fut, render, request, retry_if_unlogged in writes:
            if not fut.done():
                await asyncio.wait((fut,))
            if retry_if_unlogged and _not_logged(fut):
                # Leadership moved before it was logged: execute() finds the new leader.
                command, _, client_id, sequence = request
                outcome = await session.execute(command, None, client_id, sequence)
            else:
                outcome = session._settled_outcome(request[0], fut)
            self._put(position, render(outcome))

    async def _flush_forward(self) -> None:
        """A follower's run of writes, to the leader as one batch (one RPC, one group commit)."""
        forward, self._forward = self._forward, []
        session = self.session
        if len(forward) == 1:
            position, render, request = forward[0]
            self._put(position, render(await session.execute(*request)))
            return
        outcomes = await self._forward_batch([request for _, _, request in forward])
        for (position, render, request), outcome in zip(forward, outcomes):
            self._put(position, render(session._note(request[0], outcome)))

    async def _forward_batch(self, requests: list) -> list:
        service = self.session.service
        leader = service.leader_id
        if leader and leader != service.config.id and service.forwarder is not None:
            # A batch that fails may still have been logged in part (the leader died
            # after committing it): its writes carry identities the one-by-one retry
            # reuses, so each is applied once (docs/design.md invariant 5).
            requests, lanes = service.lanes_for(requests)
            try:
                try:
                    return await service.forwarder.forward_batch(leader, requests)
                except (NotLeaderError, UnavailableError):
                    pass  # one by one, which waits for a leader
                except DeadlineError as e:
                    # The leader did not answer in time: every request's outcome is
                    # unknown (a write may have been applied), so each slot says so.
                    return [e] * len(requests)
                except Exception:
                    return [internal_error("forwarding a pipeline of writes")] * len(requests)
                return [await self.session.execute(*request) for request in requests]
            finally:
                service.give_back_lanes(lanes)
        return [await self.session.execute(*request) for request in requests]


def _not_logged(fut: asyncio.Future) -> bool:
    """A write proposed here failed before it was logged (leadership moved): retry it."""
    return not fut.cancelled() and isinstance(fut.exception(), (NotLeaderError, UnavailableError))


def _when_done(retry: asyncio.Future, done: Callable) -> None:
    """`done(outcome)` once the retry `retry` has it (nothing when it was cancelled)."""
    retry.add_done_callback(lambda r: r.cancelled() or done(r.result()))
