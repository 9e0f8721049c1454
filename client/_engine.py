"""The engine under every client: routing, retries, topology refresh, write identity.

One Engine per AsyncClient (and per sync Client, which runs one on its
private event loop). It owns the Transport, the Topology and the write
identity; client views (sessions, read levels, pipelines) share it.

Write identity (docs/design.md invariant 5): every write carries a client id and
a sequence number. The server's state machine remembers only the *last*
(sequence, result) per client id and refuses an older sequence, so one id
must never have two writes in flight: the second could overtake the first
and make the first's retry look stale. The engine therefore writes through
*lanes*: ids "<client_id>.<n>", each carrying at most one write at a time.
A call takes a free lane (or opens one) for its whole life, retries
included, and returns it after; the number of lanes is this client's peak
write concurrency. Sequences come from one counter, so they increase per
lane and per client.

Cluster mode (client/shards.py): when the first Admin.Status the engine reads
names a shard, the engine routes by hash slot: each command to a Topology of
its own shard, a pipeline split per shard (the parts sent at once, the replies
merged in order), a WRONG_SHARD answer followed at once and the slot map
re-read. Lanes and sequences stay one set for the whole client (a slot's
dedup entries may move between shards with it). An unsharded cluster never
builds the map: nothing changes for it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable

from raftcache.client import retry
from raftcache.client.errors import AskError, RaftcacheError, TryAgainError, WrongShardError, error_for_reason
from raftcache.client.near_cache import NearCache
from raftcache.client.pubsub import Subscription
from raftcache.client.options import ClientOptions, ReadLevel
from raftcache.client.shards import ShardMap
from raftcache.client.topology import Topology
from raftcache.client.transport import GrpcTransport, Transport
from raftcache.proto import cache_pb2
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger("raftcache.client")

#: Reasons inside a pipeline reply that make the whole batch worth resending.
_RETRY_IN_BATCH = {"UNAVAILABLE", "NOT_LEADER", "TIMEOUT"}
#: Do not re-read the topology more often than this because of errors.
_MIN_REFRESH_INTERVAL_S = 0.05
#: WRONG_SHARD answers one call follows before giving up (Redis Cluster clients allow a few too).
_MAX_REDIRECTS = 5
#: Pause before resending what a moving slot answered TRY_AGAIN (a key being copied: a few commits).
_TRY_AGAIN_PAUSE_S = 0.02
#: Keyless commands a sharded cluster runs on every shard (DBSIZE's answers are summed).
_EVERY_SHARD = {"db_size", "flush_db", "flush_all"}


class Engine:
    def __init__(self, options: ClientOptions, transport: Transport | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Awaitable] = asyncio.sleep,
                 rng: random.Random | None = None):
        options.validate()
        self.options = options
        self.client_id = options.client_id or secrets.token_hex(8)
        self.topology = Topology(list(options.seeds), options.zone, options.node_down_s)
        self._transport = transport or GrpcTransport(*options.grpc_settings())
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sequence = itertools.count(1)
        self._free_lanes: list[int] = []
        self._lane_count = 0
        self._refresh_tasks: dict[int, asyncio.Task] = {}     # id(Topology) -> its refresh in progress
        self._last_refresh_end: dict[int, float] = {}
        #: cluster mode: slot -> shard and each shard's Topology; None for an unsharded cluster
        self.shards: ShardMap | None = None
        self._sharding_checked = False
        self._map_task: asyncio.Task | None = None
        self._map_refreshed = float("-inf")
        self._closed = False
        self.flights: dict = {}   # cache-aside single-flight table, shared by every view
        #: GET results kept in process (ClientOptions.near_cache), shared by every view.
        self.near_cache = NearCache(options.near_cache) if options.near_cache else None
        self._near_stream: asyncio.Task | None = None

    # ------------------------------------------------------------ identity

    def _take_lane(self) -> int:
        if self._free_lanes:
            return self._free_lanes.pop()
        self._lane_count += 1
        return self._lane_count

    def _stamp(self, request: cache_pb2.Request, lanes: list[int]) -> None:
        lane = self._take_lane()
        lanes.append(lane)
        request.client_id = f"{self.client_id}.{lane}"
        request.sequence = next(self._sequence)

    def follow_invalidations(self) -> None:
        """Start (once) the invalidation stream that keeps the near cache correct."""
        if self._near_stream is None and self.near_cache is not None and not self._closed:
            async def follow() -> None:
                async for _ in Subscription(self, [], [], [], invalidations=self.near_cache):
                    pass   # no channels: the stream only carries invalidations

            self._near_stream = asyncio.ensure_future(follow())

    @property
    def transport(self) -> Transport:
        return self._transport

    def now(self) -> float:
        return self._clock()

    @property
    def lanes(self) -> int:
        """How many write lanes (dedup identities) this client has opened."""
        return self._lane_count

    # ------------------------------------------------------------ calls

    async def execute(self, command: pb.Command, read: bool, level: ReadLevel | None = None,
                      timeout_s: float | None = None) -> cache_pb2.Reply:
        """Run one command with retries; raise a typed error for a command error or when out of time."""
        if self.shards is not None and command.WhichOneof("op") in _EVERY_SHARD:
            return await self._on_every_shard(command, read, level, timeout_s)
        request = cache_pb2.Request(command=command)
        lanes: list[int] = []
        if read:
            level = self._shard_level(level)
            (level or ReadLevel()).to_proto(request.consistency)
        else:
            self._stamp(request, lanes)
        try:
            return await self._with_retries(
                lambda address, t: self._transport.execute(address, request, t),
                any_node=read and level is not None and level.any_node, timeout_s=timeout_s,
                route=lambda: self.topology if self.shards is None else self.shards.topology_for(command),
                ask=request.command)
        finally:
            self._free_lanes.extend(lanes)

    async def _on_every_shard(self, command: pb.Command, read: bool, level: ReadLevel | None,
                              timeout_s: float | None) -> cache_pb2.Reply:
        """DBSIZE (summed), FLUSHDB, FLUSHALL on a sharded cluster: run on every shard, as Redis
        Cluster clients send them to every primary."""
        async def one(topology: Topology) -> cache_pb2.Reply:
            request = cache_pb2.Request(command=command)
            lanes: list[int] = []
            if read:
                (self._shard_level(level) or ReadLevel()).to_proto(request.consistency)
            else:
                self._stamp(request, lanes)
            try:
                return await self._with_retries(lambda address, t: self._transport.execute(address, request, t),
                                                any_node=False, timeout_s=timeout_s, route=lambda: topology)
            finally:
                self._free_lanes.extend(lanes)

        replies = await asyncio.gather(*(one(t) for t in list(self.shards.topologies.values())))
        if command.WhichOneof("op") != "db_size":
            return replies[0]
        total = cache_pb2.Reply(index=max(r.index for r in replies))
        total.value.integer = sum(r.value.integer for r in replies)
        return total

    def _shard_level(self, level: ReadLevel | None) -> ReadLevel | None:
        """Log indexes are per shard: a session's min_index read goes to the leader instead."""
        if self.shards is not None and level is not None and level.level == "min_index":
            return None
        return level

    async def execute_batch(self, requests: list[tuple[pb.Command, bool, ReadLevel | None]],
                            timeout_s: float | None = None) -> cache_pb2.ReplyBatch:
        """Run a pipeline over Cache.Pipeline; each write has its own lane, so resending the
        whole batch after a failure applies every write once. Command errors stay in the replies."""
        batch = cache_pb2.RequestBatch()
        lanes: list[int] = []
        any_node = True
        if not self.topology.known and not self._closed:
            await self.refresh(self._clock() + (timeout_s or self.options.timeout_s))
        for command, read, level in requests:
            request = batch.requests.add(command=command)
            if read:
                level = self._shard_level(level)
                (level or ReadLevel()).to_proto(request.consistency)
                any_node = any_node and level is not None and level.any_node
            else:
                self._stamp(request, lanes)
                any_node = False

        try:
            if self.shards is not None:
                return await self._sharded_batch(batch, any_node, timeout_s)
            return await self._with_retries(lambda address, t: self._send_batch(address, batch, t),
                                            any_node=any_node, timeout_s=timeout_s)
        finally:
            self._free_lanes.extend(lanes)

    async def _send_batch(self, address: str, batch: cache_pb2.RequestBatch, timeout_s: float) -> cache_pb2.ReplyBatch:
        reply = await self._transport.pipeline(address, batch, timeout_s)
        for item in reply.replies:
            if item.value.WhichOneof("kind") == "error" and item.value.error.reason in _RETRY_IN_BATCH:
                raise error_for_reason(item.value.error.reason, item.value.error.message)
        return reply

    async def _sharded_batch(self, batch: cache_pb2.RequestBatch, any_node: bool,
                             timeout_s: float | None) -> cache_pb2.ReplyBatch:
        """A pipeline over several shards: one sub-batch per shard, sent at once, the replies put
        back in order; requests answered WRONG_SHARD are routed again after the map is re-read,
        ASK sent marked `asking` to the shard named, TRY_AGAIN sent again after a pause (the
        others ran: a write keeps its lane and sequence, so nothing runs twice)."""
        deadline = self._clock() + (timeout_s or self.options.timeout_s)
        replies: list = [None] * len(batch.requests)
        pending = list(range(len(batch.requests)))
        asked: dict[int, Topology] = {}   # request -> the importing shard an ASK named
        redirects = 0

        def topology_of(i: int) -> Topology:
            return asked.get(i) or self.shards.topology_for(batch.requests[i].command)

        while True:
            groups: dict[int, list[int]] = {}
            for i in pending:
                groups.setdefault(id(topology_of(i)), []).append(i)
            parts = list(groups.values())

            async def send_part(part: list[int]) -> cache_pb2.ReplyBatch:
                sub = cache_pb2.RequestBatch(requests=[batch.requests[i] for i in part])
                topology = topology_of(part[0])
                return await self._with_retries(lambda address, t: self._send_batch(address, sub, t), any_node,
                                                max(deadline - self._clock(), 0.001), route=lambda: topology)

            answers = await asyncio.gather(*(send_part(p) for p in parts))
            pending, moved, redirected, again = [], False, False, False
            may_redirect = redirects < _MAX_REDIRECTS
            for part, answer in zip(parts, answers):
                for i, item in zip(part, answer.replies):
                    error = item.value.error if item.value.WhichOneof("kind") == "error" else None
                    reason = error.reason if error is not None else None
                    if reason == WrongShardError.reason and may_redirect:
                        self.shards.moved(error.message)
                        asked.pop(i, None)
                        batch.requests[i].command.asking = False
                        moved = redirected = True
                    elif reason == AskError.reason and may_redirect and self._asked(error) is not None:
                        asked[i] = self._asked(error)
                        batch.requests[i].command.asking = True
                        redirected = True
                    elif reason == TryAgainError.reason and self._clock() + _TRY_AGAIN_PAUSE_S < deadline:
                        again = True
                    else:
                        replies[i] = item
                        continue
                    pending.append(i)
            if not pending:
                break
            redirects += redirected
            if moved:
                await self.refresh_map(deadline)
            if again:
                await self._sleep(_TRY_AGAIN_PAUSE_S)
        out = cache_pb2.ReplyBatch()
        out.replies.extend(replies)
        return out

    async def _with_retries(self, send, any_node: bool, timeout_s: float | None, route=None,
                            ask: pb.Command | None = None):
        """send(address, timeout) on the node `route()` picks (the client's topology without one),
        retrying what may succeed elsewhere or later until the deadline. Cluster mode: WRONG_SHARD
        re-routes; ASK (the key is at the slot's importing shard) resends `ask`, the command `send`
        sends, marked `asking` to the shard named, for the rest of the call."""
        if self._closed:
            raise RuntimeError("the client is closed")
        opts = self.options
        deadline = self._clock() + (timeout_s or opts.timeout_s)
        if not self.topology.known:
            await self.refresh(deadline)
        else:
            self._maybe_periodic_refresh()
        failed: set[str] = set()
        attempt = 0
        redirects = 0
        asked: Topology | None = None   # the importing shard an ASK sent this call to
        while True:
            topology = asked or (self.topology if route is None else route())
            if topology is not self.topology and not topology.known:   # a shard not yet asked
                await self.refresh(deadline, topology)
            now = self._clock()
            node = topology.pick(any_node, now, failed)
            timeout = max(min(opts.attempt_timeout_s, deadline - now), 0.001)
            node.inflight += 1
            try:
                result = await send(node.address, timeout)
            except RaftcacheError as error:
                if (isinstance(error, WrongShardError) and route is not None and redirects < _MAX_REDIRECTS
                        and await self._redirected(error, node.address, deadline)):
                    redirects += 1
                    failed.clear()
                    if ask is not None:
                        ask.asking, asked = False, None
                    continue
                if isinstance(error, AskError) and ask is not None and redirects < _MAX_REDIRECTS:
                    asked = self._asked(error)
                    if asked is not None:
                        ask.asking = True
                        redirects += 1
                        failed.clear()
                        continue
                if not retry.is_retryable(error):
                    raise
                now = self._clock()
                log.debug("attempt %d on %s failed: %r", attempt + 1, node.address, error)
                if retry.node_failed(error):
                    topology.mark_failed(node.address, now)
                failed.add(node.address)
                if len(failed) >= len(topology.nodes()):
                    failed.clear()
                pause = retry.sleep_for(opts.retry, attempt, now, deadline, self._rng)
                if pause is None:
                    raise
                if retry.needs_refresh(error):
                    await self.refresh(deadline, topology)
                    pause = retry.sleep_for(opts.retry, attempt, self._clock(), deadline, self._rng)
                    if pause is None:
                        raise
                await self._sleep(pause)
                attempt += 1
            else:
                topology.mark_ok(node.address)
                return result
            finally:
                node.inflight -= 1

    def _asked(self, error) -> Topology | None:
        """The topology of the shard an ASK answer names, None when this client does not know it."""
        shard = None if self.shards is None else self.shards.shard_at(error.message)
        return None if shard is None else self.shards.topologies.get(shard)

    async def _redirected(self, error: WrongShardError, address: str, deadline: float) -> bool:
        """Follow a WRONG_SHARD answer: route its slot to the shard it names and re-read the map.
        False when the cluster turns out not to be one this client can route in (then it raises)."""
        if self.shards is None:
            await self._check_sharded(address)   # the first discovery missed it (no leader then)
            if self.shards is None:
                return False
        self.shards.moved(error.message)
        await self.refresh_map(deadline)
        return True

    # ------------------------------------------------------------ topology

    def _maybe_periodic_refresh(self) -> None:
        every = self.options.topology_refresh_s
        if not every:
            return
        now = self._clock()
        for topology in (self.topology,) if self.shards is None else self.shards.topologies.values():
            updated = topology.updated_at
            if updated is not None and now - updated > every and id(topology) not in self._refresh_tasks:
                self._refresh_tasks[id(topology)] = asyncio.ensure_future(self._refresh_once(topology))
        if self.shards is not None and now - self._map_refreshed > every and self._map_task is None:
            self._map_task = asyncio.ensure_future(self._refresh_map_once())

    async def refresh(self, deadline: float | None = None, topology: Topology | None = None) -> None:
        """Re-read a topology now (the client's, or one shard's; one refresh of each at a time,
        concurrent callers share it). On a sharded cluster, refreshing the client's own also
        re-reads the slot map."""
        if topology is None and self.shards is not None:
            await asyncio.gather(*(self.refresh(deadline, t) for t in self.shards.topologies.values()),
                                 self.refresh_map(deadline))
            return
        topology = topology or self.topology
        key = id(topology)
        if key not in self._refresh_tasks:
            if self._clock() - self._last_refresh_end.get(key, float("-inf")) < _MIN_REFRESH_INTERVAL_S \
                    and topology.known:
                return
            self._refresh_tasks[key] = asyncio.ensure_future(self._refresh_once(topology))
        await self._wait(self._refresh_tasks[key], deadline)

    async def _wait(self, task: asyncio.Task, deadline: float | None) -> None:
        timeout = None if deadline is None else max(deadline - self._clock(), 0.001)
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            pass

    async def refresh_map(self, deadline: float | None = None) -> None:
        """Cluster mode: re-read the slot map (Admin.Status of one node per shard) now."""
        if self.shards is None:
            return
        if self._map_task is None:
            if self._clock() - self._map_refreshed < _MIN_REFRESH_INTERVAL_S:
                return
            self._map_task = asyncio.ensure_future(self._refresh_map_once())
        await self._wait(self._map_task, deadline)

    async def _refresh_map_once(self) -> None:
        try:
            addresses = self.shards.status_addresses()
            answers = await asyncio.gather(
                *(self._transport.status(a, self.options.connect_timeout_s) for a in addresses),
                return_exceptions=True)
            replies = []
            for address, answer in zip(addresses, answers):
                if isinstance(answer, BaseException):
                    log.debug("status of %s failed: %r", address, answer)
                else:
                    replies.append(answer)
            self.shards.apply(replies, self._clock())
        finally:
            self._map_task = None
            self._map_refreshed = self._clock()

    async def _check_sharded(self, address: str) -> None:
        """Enter cluster mode when the node at `address` says it is in a shard (once per client)."""
        try:
            status = await self._transport.status(address, self.options.connect_timeout_s)
        except RaftcacheError as e:
            log.debug("status of %s failed: %r", address, e)
            return
        self._sharding_checked = True
        self._note_shard(status)

    def _note_shard(self, status) -> None:
        """From a node's Status: build the slot map the first time a node names its shard."""
        if self.shards is not None or not status.HasField("shard"):
            return
        if self.near_cache is not None:
            log.warning("the near cache is off on a sharded cluster (its invalidation stream is one shard's)")
            self.near_cache = None
        self.shards = ShardMap(self.options.zone, self.options.node_down_s, status.shard.shard, self.topology)
        self.shards.apply([status], self._clock())
        members = set(self.shards.members(status.shard.shard))
        if members:   # seeds of other shards are theirs: the home topology asks only its own
            self.topology.seeds = [a for a in self.topology.seeds if a in members]
        self._map_refreshed = self._clock()
        log.info("sharded cluster: %r", self.shards)

    async def _refresh_once(self, topology: Topology) -> None:
        try:
            addresses = topology.query_addresses()
            t = self.options.connect_timeout_s
            answers = await asyncio.gather(*(self._transport.topology(a, t) for a in addresses),
                                           return_exceptions=True)
            now = self._clock()
            replies = []
            for address, answer in zip(addresses, answers):
                if isinstance(answer, BaseException):
                    if retry.node_failed(answer):
                        topology.mark_failed(address, now)
                    log.debug("topology query to %s failed: %r", address, answer)
                else:
                    replies.append(answer)
            topology.apply(replies, now)
            leader = topology.leader
            if leader is not None:
                try:
                    status = await self._transport.status(leader.address, t)
                except RaftcacheError as e:
                    log.debug("status of leader %s failed: %r", leader.address, e)
                else:
                    topology.apply_lag(status)
                    self._sharding_checked = True
                    if self.shards is not None:
                        self.shards.apply([status], self._clock())
                    else:
                        self._note_shard(status)
            elif not self._sharding_checked and topology.known:
                await self._check_sharded(topology.nodes()[0].address)   # is it a shard? (first discovery only)
        finally:
            self._refresh_tasks.pop(id(topology), None)
            self._last_refresh_end[id(topology)] = self._clock()

    async def status(self, address: str | None = None) -> object:
        """Admin.Status of one node (the leader when known, else any)."""
        if not self.topology.known:
            await self.refresh(self._clock() + self.options.timeout_s)
        node = self.topology.pick(address is None and self.topology.leader is None, self._clock())  # home shard's
        return await self._transport.status(address or node.address, self.options.connect_timeout_s)

    async def close(self) -> None:
        self._closed = True
        if self._near_stream is not None:
            self._near_stream.cancel()
            await asyncio.gather(self._near_stream, return_exceptions=True)
        tasks = [*self._refresh_tasks.values(), *([self._map_task] if self._map_task is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._transport.close()

