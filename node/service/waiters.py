"""Handing Raft-thread outcomes to the event loop: proposal completions and applied-index waits.

The Raft (PySyncObj tick) thread must never block and must not touch
asyncio objects directly; these two helpers batch its notifications into
`call_soon_threadsafe` calls. When the event loop runs the Raft ticks itself
(node/raft/loop_driver.py), outcomes are settled at once, on the loop.
No Raft or keyspace logic here.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import threading
from collections.abc import Callable

from raftcache.node.commands import Replayed
from raftcache.node.errors import DeadlineError, RaftcacheError


class AppliedWatcher:
    """Lets coroutines wait until the local applied index reaches a value.

    `notify(index)` is called on the Raft thread after every apply; it costs
    one comparison unless somebody waits.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, applied: Callable[[], int]):
        self._loop = loop
        self._applied = applied
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._lowest = float("inf")
        self._counter = 0

    def notify(self, index: int) -> None:
        if index >= self._lowest:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        applied = self._applied()
        while self._waiters and self._waiters[0][0] <= applied:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
        self._lowest = self._waiters[0][0] if self._waiters else float("inf")

    async def wait(self, index: int, timeout_s: float) -> None:
        if self._applied() >= index:
            return
        fut = self._loop.create_future()
        self._counter += 1
        heapq.heappush(self._waiters, (index, self._counter, fut))
        self._lowest = min(self._lowest, index)
        self._wake()  # the index may have been reached in between
        try:
            await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            raise DeadlineError(f"applied index did not reach {index} in {timeout_s:.1f}s") from None


class Completions:
    """Hands proposal outcomes from the Raft thread to the event loop in bursts.

    One `call_soon_threadsafe` (one wake-up of the loop) per burst of
    outcomes rather than one per outcome: under load the Raft thread
    completes hundreds of proposals per tick.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._loop_thread = threading.get_ident()   # created on the loop (Service.attach)
        self._queue: collections.deque = collections.deque()
        self._scheduled = False

    def put(self, settle, target, result, index, error) -> None:  # any thread
        if threading.get_ident() == self._loop_thread:
            settle(target, result, index, error)   # the loop runs the Raft ticks: answer now
            return
        self._queue.append((settle, target, result, index, error))
        # append before reading the flag: a drain that cleared it after our
        # append sees our item; one that cleared it before makes us schedule.
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self._drain)

    def call(self, fn) -> None:  # any thread
        """`fn()` on the loop: at once when called there, else with the next burst."""
        self.put(_call, fn, None, 0, None)

    def _drain(self) -> None:
        self._scheduled = False
        queue = self._queue
        while queue:
            settle, target, result, index, error = queue.popleft()
            settle(target, result, index, error)


def _call(fn, _result, _index, _error) -> None:
    fn()


def settle_batch(futures: list[asyncio.Future], results, index, error) -> None:
    if error is None and (not isinstance(results, list) or len(results) != len(futures)):
        error = RaftcacheError(f"batch at index {index} returned {results!r}")  # cannot happen: apply's contract
    for i, fut in enumerate(futures):
        settle(fut, None if error is not None else results[i], index, error)


def settle(fut: asyncio.Future, result, index, error) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    elif type(result) is Replayed:  # a retry of a write applied before: its first index
        fut.set_result((result.result, result.index))
    else:
        fut.set_result((result, index))


def when_settled(futures: list[asyncio.Future], callback: Callable[[], None]) -> None:
    """`callback()` once every one of `futures` (writes proposed in order) is done, from the loop:
    it waits on the last one (the log settles writes in order), then on any still pending (one
    settled out of order, as a failure may be)."""
    def check(_: asyncio.Future | None = None) -> None:
        for fut in futures:
            if not fut.done():
                fut.add_done_callback(check)
                return
        callback()

    futures[-1].add_done_callback(check)
