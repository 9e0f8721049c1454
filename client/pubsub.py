"""Pub/Sub in the SDK: `publish`, and `subscribe` as an iterator of messages that
reconnects to another node when its node fails and subscribes again there. The
near cache's invalidation stream (client/near_cache.py) is a Subscription too.

A message published through any node reaches the subscribers of every node
(the node applies it from the Raft log), so any node serves a subscription:
the nearest one (as reads at level `any`). Messages published while a
subscription is being moved to another node are not delivered (Redis Pub/Sub
is at-most-once too); `Subscription.reconnects` counts the moves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterator

from raftcache.client.errors import RaftcacheError, UnavailableError
from raftcache.client.retry import node_failed
from raftcache.proto import cache_pb2

log = logging.getLogger(__name__)

#: Pause between attempts to subscribe again after a failure (doubled up to the cap).
_RETRY_S, _RETRY_CAP_S = 0.05, 2.0


@dataclasses.dataclass(frozen=True)
class Message:
    """One published message: its channel, its data and, for a pattern subscription, the pattern."""

    channel: bytes
    data: bytes
    pattern: bytes | None = None
    sharded: bool = False


class Subscription:
    """An async iterator of Messages on the channels, patterns and shard channels asked for."""

    def __init__(self, engine, channels: list[bytes], patterns: list[bytes], shard_channels: list[bytes],
                 invalidations=None):
        self._engine = engine
        self._request = cache_pb2.SubscribeRequest(channels=channels, patterns=patterns,
                                                   shard_channels=shard_channels,
                                                   invalidations=invalidations is not None)
        #: With invalidations (the near cache): the NearCache the stream keeps correct.
        self._cache = invalidations
        self._call = None
        self.reconnects = 0
        self.address: str | None = None

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def open(self, timeout_s: float | None = None) -> None:
        """Subscribe on the nearest healthy node, trying the others until one confirms; raises
        the last error after `timeout_s` (the client's timeout; None after a failure: retry for ever)."""
        engine = self._engine
        pause = _RETRY_S
        deadline = None if timeout_s is None else engine.now() + timeout_s
        while True:
            node = None
            try:
                if not engine.topology.known:
                    await engine.refresh()
                node = engine.topology.pick(True, engine.now(), set())
                call = engine.transport.subscribe(node.address, self._request)
                first = await call.read()
                if first is not None and first.kind == "subscribed":
                    self._call, self.address = call, node.address
                    engine.topology.mark_ok(node.address)
                    if self._cache is not None:
                        self._cache.floor = first.index
                    return
                call.cancel()
                error: RaftcacheError = UnavailableError(f"{node.address} ended the subscription")
            except RaftcacheError as e:
                error = e
                log.debug("subscribing failed: %r", e)
                if node is not None and node_failed(e):
                    engine.topology.mark_failed(node.address, engine.now())
            if deadline is not None and engine.now() + pause > deadline:
                raise error
            await asyncio.sleep(pause)
            pause = min(pause * 2, _RETRY_CAP_S)

    async def _messages(self) -> AsyncIterator[Message]:
        while True:
            if self._call is None:
                await self.open()   # retries for ever: a subscription outlives node failures
            try:
                item = await self._call.read()
            except RaftcacheError as error:
                item, failure = None, error
            else:
                failure = None
            if item is None:   # the node went away or ended the stream: subscribe elsewhere
                log.info("subscription on %s ended (%r); subscribing again", self.address, failure)
                if self._cache is not None:
                    self._cache.lost()
                if failure is not None and node_failed(failure):
                    self._engine.topology.mark_failed(self.address, self._engine.now())
                self._call = None
                self.reconnects += 1
                continue
            if item.kind == "invalidate":
                if self._cache is not None:
                    if item.all:
                        self._cache.invalidate_all(item.index)
                    else:
                        self._cache.invalidate(list(item.keys), item.index)
                continue
            yield Message(item.channel, item.data, item.pattern if item.kind == "pmessage" else None,
                          item.kind == "smessage")

    async def aclose(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None


class BlockingSubscription:
    """Subscription for the blocking Client: `for message in client.subscribe(...)`, run on the
    client's event-loop thread; `close()` ends it."""

    def __init__(self, runner, subscription: Subscription):
        self._runner = runner
        self._subscription = subscription
        self._messages = subscription.__aiter__()
        self._next: asyncio.Future | None = None

    @property
    def reconnects(self) -> int:
        return self._subscription.reconnects

    def __iter__(self) -> Iterator[Message]:
        return self

    def __next__(self) -> Message:
        return self._runner.run(self._take(None))

    def get(self, timeout_s: float) -> Message | None:
        """The next message, or None when none arrives within `timeout_s`."""
        return self._runner.run(self._take(timeout_s))

    async def _take(self, timeout_s: float | None) -> Message | None:
        # The message being awaited survives a timeout: the next call returns it.
        if self._next is None:
            self._next = asyncio.ensure_future(self._messages.__anext__())
        try:
            message = await asyncio.wait_for(asyncio.shield(self._next), timeout_s)
        except asyncio.TimeoutError:
            return None
        self._next = None
        return message

    def close(self) -> None:
        self._runner.run(self._subscription.aclose())

    def __enter__(self) -> BlockingSubscription:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
