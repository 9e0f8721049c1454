"""Pub/Sub on one node: who is subscribed to what, and the delivery of what the log publishes.

Every node applies every PUBLISH (and every keyspace notification) in log
order, so each node's `Hub` delivers to its own subscribers: a message
published through any node reaches the subscribers of every node, in the
order of the log. The state machine hands an applied entry's events over
from the Raft thread (Service wires `StateMachine.on_events` to
`deliver_threadsafe`); delivery runs on the event loop, once per loop turn
for whatever was applied since the last one.

Delivery is grouped: a message's frame is one `Message` shared by every
subscriber it goes to (a front end renders it once per protocol and keeps
the rendering on it), and each subscriber gets the frames of one delivery
round in one `push_many` call (one socket write), in log order.

A connection's subscriptions are a `Subscriptions` (held by its Session):
channels, patterns (Redis glob) and shard channels (SSUBSCRIBE, their own
namespace), and a `push` callback through which the front end renders and
writes a message. Counts (PUBSUB NUMSUB …, PUBLISH's reply) are this node's.
Invalidations of tracked keys travel the same way and go to `on_invalidate`
(node/service/tracking.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable

from raftcache.node.storage.glob import Glob, compile_glob, glob_match

#: Subscribed patterns up to this long are kept compiled with the subscription.
KEPT_GLOB_BYTES = 64 << 10

log = logging.getLogger(__name__)


class Message(list):
    """One delivered frame ([kind, …]), shared by every subscriber it goes to: a front end
    keeps its rendering in `rendered` (protocol -> bytes), so it is rendered once."""

    __slots__ = ("rendered",)

    def __init__(self, items: list):
        super().__init__(items)
        self.rendered: dict = {}


class Subscriptions:
    """One connection's channels, patterns and shard channels."""

    __slots__ = ("hub", "push", "push_many", "channels", "patterns", "shard_channels")

    def __init__(self, hub: Hub, push: Callable[[list], None], push_many: Callable[[list], None] | None = None):
        self.hub = hub
        self.push = push        # push([kind, …]): render and write one message frame
        #: push_many([frame, …]): render and write several frames at once, in order
        self.push_many = push_many or (lambda frames: [push(frame) for frame in frames])
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_channels: set[bytes] = set()

    @property
    def count(self) -> int:
        """What (P)SUBSCRIBE and (P)UNSUBSCRIBE report: channels and patterns."""
        return len(self.channels) + len(self.patterns)

    @property
    def active(self) -> bool:
        return bool(self.channels or self.patterns or self.shard_channels)


class Hub:
    """The node's subscriptions and their delivery."""

    def __init__(self) -> None:
        self._channels: dict[bytes, set[Subscriptions]] = {}
        self._patterns: dict[bytes, set[Subscriptions]] = {}
        #: the subscribed patterns up to KEPT_GLOB_BYTES compiled once (matched per message; a longer
        #: one comes from glob.compile_glob's bounded cache: kept here, it could hold ~10 bytes per byte)
        self._globs: dict[bytes, Glob] = {}
        self._shard: dict[bytes, set[Subscriptions]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Events applied and not yet delivered (handed over by the Raft thread), and whether
        #: a delivery round is scheduled on the loop for them.
        self._applied: list = []
        self._scheduled = False
        self._handover = threading.Lock()
        self.delivered = 0      # messages handed to subscribers (INFO, /metrics)
        #: (index, keys | None): the keys the writes applied at index changed (CLIENT TRACKING).
        self.on_invalidate: Callable[[int, list | None], None] = lambda index, keys: None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscriptions(self, push: Callable[[list], None],
                      push_many: Callable[[list], None] | None = None) -> Subscriptions:
        return Subscriptions(self, push, push_many)

    # ------------------------------------------------------------ changes

    @staticmethod
    def _add(table: dict, name: bytes, sub: Subscriptions, mine: set) -> None:
        if name not in mine:
            mine.add(name)
            table.setdefault(name, set()).add(sub)

    @staticmethod
    def _remove(table: dict, name: bytes, sub: Subscriptions, mine: set) -> None:
        if name in mine:
            mine.discard(name)
            members = table.get(name)
            if members is not None:
                members.discard(sub)
                if not members:
                    del table[name]

    def subscribe(self, sub: Subscriptions, channel: bytes) -> None:
        self._add(self._channels, channel, sub, sub.channels)

    def unsubscribe(self, sub: Subscriptions, channel: bytes) -> None:
        self._remove(self._channels, channel, sub, sub.channels)

    def psubscribe(self, sub: Subscriptions, pattern: bytes) -> None:
        self._add(self._patterns, pattern, sub, sub.patterns)
        if len(pattern) <= KEPT_GLOB_BYTES and pattern not in self._globs:
            self._globs[pattern] = compile_glob(pattern)

    def punsubscribe(self, sub: Subscriptions, pattern: bytes) -> None:
        self._remove(self._patterns, pattern, sub, sub.patterns)
        if pattern not in self._patterns:
            self._globs.pop(pattern, None)

    def _glob(self, pattern: bytes) -> Glob:
        glob = self._globs.get(pattern)
        return glob if glob is not None else compile_glob(pattern)

    def ssubscribe(self, sub: Subscriptions, channel: bytes) -> None:
        self._add(self._shard, channel, sub, sub.shard_channels)

    def sunsubscribe(self, sub: Subscriptions, channel: bytes) -> None:
        self._remove(self._shard, channel, sub, sub.shard_channels)

    def drop(self, sub: Subscriptions) -> None:
        """The connection is gone (or RESET): every subscription of it ends."""
        for channel in list(sub.channels):
            self.unsubscribe(sub, channel)
        for pattern in list(sub.patterns):
            self.punsubscribe(sub, pattern)
        for channel in list(sub.shard_channels):
            self.sunsubscribe(sub, channel)

    # ------------------------------------------------------------ questions (PUBSUB, PUBLISH's reply)

    def receivers(self, channel: bytes, sharded: bool = False) -> int:
        """How many of this node's clients a message on `channel` reaches."""
        if sharded:
            return len(self._shard.get(channel, ()))
        count = len(self._channels.get(channel, ()))
        for pattern, members in self._patterns.items():
            if self._glob(pattern).match(channel):
                count += len(members)
        return count

    def channels(self, pattern: bytes | None = None, sharded: bool = False) -> list[bytes]:
        names = self._shard if sharded else self._channels
        return [c for c in names if pattern is None or glob_match(pattern, c)]

    def numsub(self, channels: Iterable[bytes], sharded: bool = False) -> list:
        names = self._shard if sharded else self._channels
        out: list = []
        for channel in channels:
            out += [channel, len(names.get(channel, ()))]
        return out

    def numpat(self) -> int:
        return len(self._patterns)

    # ------------------------------------------------------------ delivery

    def deliver_threadsafe(self, events: list) -> None:
        """From the Raft thread: deliver an applied entry's events on the event loop, in order.
        What is applied before the loop takes it joins the same delivery round (one wake-up
        of the loop, one write per subscriber). Messages are dropped when nobody on this node
        is subscribed at apply (a SUBSCRIBE answered before the PUBLISH was proposed is in
        place by then), and before the loop runs (replaying the log at start)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if not (self._channels or self._patterns or self._shard):
            events = [event for event in events if event[0] == "invalidate"]
            if not events:
                return
        with self._handover:
            self._applied += events
            if self._scheduled:
                return
            self._scheduled = True
        try:
            loop.call_soon_threadsafe(self._deliver_applied)
        except RuntimeError:  # the loop closed meanwhile: nobody is left to deliver to
            pass

    def _deliver_applied(self) -> None:
        with self._handover:
            events, self._applied = self._applied, []
            self._scheduled = False
        self.deliver(events)

    def deliver(self, events: list) -> None:
        """Deliver `events` in order: each subscriber's frames in one push_many (an
        invalidation goes out after the messages before it)."""
        rounds: dict[Subscriptions, list] = {}
        for event in events:
            if event[0] == "invalidate":
                if rounds:
                    self._flush(rounds)
                    rounds = {}
                self.on_invalidate(event[1], event[2])
                continue
            _, channel, message, sharded = event
            if sharded:
                members = self._shard.get(channel)
                if members:
                    frame = Message([b"smessage", channel, message])
                    for sub in members:
                        rounds.setdefault(sub, []).append(frame)
                continue
            members = self._channels.get(channel)
            if members:
                frame = Message([b"message", channel, message])
                for sub in members:
                    rounds.setdefault(sub, []).append(frame)
            for pattern, members in self._patterns.items():
                if self._glob(pattern).match(channel):
                    frame = Message([b"pmessage", pattern, channel, message])
                    for sub in members:
                        rounds.setdefault(sub, []).append(frame)
        if rounds:
            self._flush(rounds)

    def _flush(self, rounds: dict) -> None:
        for sub, frames in rounds.items():
            try:
                sub.push_many(frames)
                self.delivered += len(frames)
            except Exception:  # one broken subscriber must not cost the others their messages
                log.exception("delivering a message to a subscriber failed")
