"""Running PySyncObj on the node's asyncio event loop instead of its own tick thread.

Owns `LoopPoller` (PySyncObj's poller interface over `loop.add_reader` /
`loop.add_writer`: the Raft sockets are watched by the event loop itself) and
`LoopDriver` (when a tick runs: once per loop turn after a Raft socket event
— unless its messages need none, RaftNode.took_only_quiet: ReadIndex traffic
answered on the spot, an acknowledgement that changes nothing — or a
read-index request, and on a `tick_s` timer for election timeouts and
heartbeats). With both, a node is one thread: proposals, apply, completions
and replies never cross threads, and the entries proposed in a turn are
appended and sent to the followers together in the next iteration of the
loop (`send_soon`), without a tick.

A tick applies for at most `apply_budget_s` (RaftNode's apply loop stops
there) and schedules the next one at once, so a long apply backlog leaves the
loop free between slices: client I/O and the Raft sockets (heartbeats,
acknowledgements) are served in between and elections keep their timing.

Must not touch: Raft state (RaftNode owns it), the keyspace, protocols.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from pysyncobj.poller import POLL_EVENT_TYPE

logger = logging.getLogger(__name__)

_READ = POLL_EVENT_TYPE.READ
_WRITE = POLL_EVENT_TYPE.WRITE


class LoopPoller:
    """PySyncObj's Poller over an asyncio loop (level-triggered, like its PollPoller).

    Subscriptions made before `attach` (PySyncObj binds its port while it is
    constructed, before the loop runs) are recorded and registered at attach.
    ERROR is not watched on its own: PySyncObj's connections check SO_ERROR on
    every read or write event, and a hung-up socket reads as closed.
    `on_event` runs after each dispatched event (the Replicator schedules a tick, unless
    the event needs none: RaftNode.took_only_quiet).
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subs: dict[int, tuple[Callable, int]] = {}   # fd -> (callback, mask registered)
        self.on_event: Callable[[], None] = lambda: None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for fd, (callback, mask) in list(self._subs.items()):
            self._subs.pop(fd)
            self.subscribe(fd, callback, mask)

    def detach(self) -> None:
        """Stop watching every descriptor (the loop may be closed already)."""
        for fd in list(self._subs):
            self.unsubscribe(fd)
        self._loop = None

    def subscribe(self, descr, callback, eventMask) -> None:  # noqa: N803 (PySyncObj's names)
        mask = eventMask & (_READ | _WRITE)
        old = self._subs.get(descr)
        if old is not None and old[0] == callback and old[1] == mask:
            return   # PySyncObj re-subscribes on every write event: nothing changes
        self._subs[descr] = (callback, mask)
        loop = self._loop
        if loop is None:
            return
        old_mask = 0 if old is None else old[1]
        if mask & _READ:
            if not old_mask & _READ or old[0] != callback:
                loop.add_reader(descr, self._dispatch, descr, _READ)
        elif old_mask & _READ:
            loop.remove_reader(descr)
        if mask & _WRITE:
            if not old_mask & _WRITE or old[0] != callback:
                loop.add_writer(descr, self._dispatch, descr, _WRITE)
        elif old_mask & _WRITE:
            loop.remove_writer(descr)

    def unsubscribe(self, descr) -> None:
        old = self._subs.pop(descr, None)
        loop = self._loop
        if old is None or loop is None or loop.is_closed():
            return
        try:
            if old[1] & _READ:
                loop.remove_reader(descr)
            if old[1] & _WRITE:
                loop.remove_writer(descr)
        except (OSError, ValueError):
            pass   # PySyncObj closes a socket before it unsubscribes it

    def _dispatch(self, descr, event) -> None:
        sub = self._subs.get(descr)
        if sub is None:
            return
        try:
            sub[0](descr, event)
        finally:
            self.on_event()

    def poll(self, timeout) -> None:
        """The loop polls; a tick has nothing to wait for."""


class LoopDriver:
    """Runs `tick()` (RaftNode._onTick(0) plus the Replicator's end-of-tick work) on the loop.

    `soon()` asks for one tick in the next loop iteration (coalesced: any
    number of requests in a turn make one tick); the timer ticks every
    `tick_s` whatever happens; `more()` (after the tick) says whether work
    was left for another tick right away (an apply backlog).
    """

    def __init__(self, tick: Callable[[], None], more: Callable[[], bool], tick_s: float):
        self._tick = tick
        self._more = more
        self._tick_s = tick_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self._sending = False
        self._timer: asyncio.TimerHandle | None = None
        self._later: asyncio.TimerHandle | None = None
        self.ticks = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer = loop.call_later(self._tick_s, self._on_timer)
        self.soon()

    def close(self) -> None:
        for handle in (self._timer, self._later):
            if handle is not None:
                handle.cancel()
        self._timer = self._later = None
        self._loop = None

    def later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """`callback()` on the loop in `delay_s`, unless one is pending already (one at a time)."""
        if self._later is not None or self._loop is None:
            return
        self._later = self._loop.call_later(delay_s, self._run_later, callback)

    def _run_later(self, callback: Callable[[], None]) -> None:
        self._later = None
        if self._loop is not None:
            callback()

    def send_soon(self, send: Callable[[], None]) -> None:
        """`send()` in the next loop iteration, once however often asked meanwhile (the
        proposals of a turn go out together, without a tick: Replicator.propose)."""
        if self._sending or self._loop is None:
            return
        self._sending = True
        self._loop.call_soon(self._run_send, send)

    def _run_send(self, send: Callable[[], None]) -> None:
        self._sending = False
        if self._loop is not None:
            send()

    def soon(self) -> None:
        if self._scheduled or self._loop is None:
            return
        self._scheduled = True
        self._loop.call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        if self._loop is None:
            return
        try:
            self.ticks += 1
            self._tick()
        except Exception:
            logger.exception("Raft tick failed")   # as PySyncObj's tick thread: log, go on
        if self._more():
            self.soon()

    def _on_timer(self) -> None:
        if self._loop is None:
            return
        self._timer = self._loop.call_later(self._tick_s, self._on_timer)
        if not self._scheduled:
            self._run()
