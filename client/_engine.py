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
from raftcache.client.errors import RaftcacheError, error_for_reason
from raftcache.client.near_cache import NearCache
from raftcache.client.pubsub import Subscription
from raftcache.client.options import ClientOptions, ReadLevel
from raftcache.client.topology import Topology
from raftcache.client.transport import GrpcTransport, Transport
from raftcache.proto import cache_pb2
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger("raftcache.client")

#: Reasons inside a pipeline reply that make the whole batch worth resending.
_RETRY_IN_BATCH = {"UNAVAILABLE", "NOT_LEADER", "TIMEOUT"}
#: Do not re-read the topology more often than this because of errors.
_MIN_REFRESH_INTERVAL_S = 0.05


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
        self._refresh_task: asyncio.Task | None = None
        self._last_refresh_end = float("-inf")
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
        request = cache_pb2.Request(command=command)
        lanes: list[int] = []
        if read:
            (level or ReadLevel()).to_proto(request.consistency)
        else:
            self._stamp(request, lanes)
        try:
            return await self._with_retries(
                lambda address, t: self._transport.execute(address, request, t),
                any_node=read and level is not None and level.any_node, timeout_s=timeout_s)
        finally:
            self._free_lanes.extend(lanes)

    async def execute_batch(self, requests: list[tuple[pb.Command, bool, ReadLevel | None]],
                            timeout_s: float | None = None) -> cache_pb2.ReplyBatch:
        """Run a pipeline over Cache.Pipeline; each write has its own lane, so resending the
        whole batch after a failure applies every write once. Command errors stay in the replies."""
        batch = cache_pb2.RequestBatch()
        lanes: list[int] = []
        any_node = True
        for command, read, level in requests:
            request = batch.requests.add(command=command)
            if read:
                (level or ReadLevel()).to_proto(request.consistency)
                any_node = any_node and level is not None and level.any_node
            else:
                self._stamp(request, lanes)
                any_node = False

        async def send(address, t):
            reply = await self._transport.pipeline(address, batch, t)
            for item in reply.replies:
                if item.value.WhichOneof("kind") == "error" and item.value.error.reason in _RETRY_IN_BATCH:
                    raise error_for_reason(item.value.error.reason, item.value.error.message)
            return reply

        try:
            return await self._with_retries(send, any_node=any_node, timeout_s=timeout_s)
        finally:
            self._free_lanes.extend(lanes)

    async def _with_retries(self, send, any_node: bool, timeout_s: float | None):
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
        while True:
            now = self._clock()
            node = self.topology.pick(any_node, now, failed)
            timeout = max(min(opts.attempt_timeout_s, deadline - now), 0.001)
            node.inflight += 1
            try:
                result = await send(node.address, timeout)
            except RaftcacheError as error:
                if not retry.is_retryable(error):
                    raise
                now = self._clock()
                log.debug("attempt %d on %s failed: %r", attempt + 1, node.address, error)
                if retry.node_failed(error):
                    self.topology.mark_failed(node.address, now)
                failed.add(node.address)
                if len(failed) >= len(self.topology.nodes()):
                    failed.clear()
                pause = retry.sleep_for(opts.retry, attempt, now, deadline, self._rng)
                if pause is None:
                    raise
                if retry.needs_refresh(error):
                    await self.refresh(deadline)
                    pause = retry.sleep_for(opts.retry, attempt, self._clock(), deadline, self._rng)
                    if pause is None:
                        raise
                await self._sleep(pause)
                attempt += 1
            else:
                self.topology.mark_ok(node.address)
                return result
            finally:
                node.inflight -= 1

    # ------------------------------------------------------------ topology

    def _maybe_periodic_refresh(self) -> None:
        every = self.options.topology_refresh_s
        updated = self.topology.updated_at
        if every and updated is not None and self._clock() - updated > every and self._refresh_task is None:
            self._refresh_task = asyncio.ensure_future(self._refresh_once())

    async def refresh(self, deadline: float | None = None) -> None:
        """Re-read the topology now (one refresh at a time; concurrent callers share it)."""
        if self._refresh_task is None:
            if self._clock() - self._last_refresh_end < _MIN_REFRESH_INTERVAL_S and self.topology.known:
                return
            self._refresh_task = asyncio.ensure_future(self._refresh_once())
        task = self._refresh_task
        timeout = None if deadline is None else max(deadline - self._clock(), 0.001)
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            pass

    async def _refresh_once(self) -> None:
        try:
            addresses = self.topology.query_addresses()
            t = self.options.connect_timeout_s
            answers = await asyncio.gather(*(self._transport.topology(a, t) for a in addresses),
                                           return_exceptions=True)
            now = self._clock()
            replies = []
            for address, answer in zip(addresses, answers):
                if isinstance(answer, BaseException):
                    if retry.node_failed(answer):
                        self.topology.mark_failed(address, now)
                    log.debug("topology query to %s failed: %r", address, answer)
                else:
                    replies.append(answer)
            self.topology.apply(replies, now)
            leader = self.topology.leader
            if leader is not None:
                try:
                    self.topology.apply_lag(await self._transport.status(leader.address, t))
                except RaftcacheError as e:
                    log.debug("status of leader %s failed: %r", leader.address, e)
        finally:
            self._refresh_task = None
            self._last_refresh_end = self._clock()

    async def status(self, address: str | None = None) -> object:
        """Admin.Status of one node (the leader when known, else any)."""
        if not self.topology.known:
            await self.refresh(self._clock() + self.options.timeout_s)
        node = self.topology.pick(address is None and self.topology.leader is None, self._clock())
        return await self._transport.status(address or node.address, self.options.connect_timeout_s)

    async def close(self) -> None:
        self._closed = True
        if self._near_stream is not None:
            self._near_stream.cancel()
            await asyncio.gather(self._near_stream, return_exceptions=True)
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            await asyncio.gather(self._refresh_task, return_exceptions=True)
        await self._transport.close()

