"""ReadIndex (Raft thesis 6.4) on the leader's tick thread: the index a linearizable read must reach.

A request asks "which index must a reader have applied to see every write
acknowledged before now?". The leader answers with its commit index, once

1. it has committed an entry of its current term (PySyncObj appends a no-op
   on election), so its commit index covers every write an earlier leader
   acknowledged; and
2. a majority of the voters, itself included, acknowledged append-entries it
   sent after the request was registered (RaftNode.quorum_ack_time: the send
   times followers echo back, the same clock the lease uses, compared on this
   node only). A voter that answered was in this term when the message
   reached it, so no other leader had been elected when the request was
   registered: nothing was acknowledged that this commit index misses.

No log entry is written. Requests that arrive while a round is in flight wait
and share the next one: one heartbeat (one append-entries per follower)
confirms every request waiting, however many. A leader cut off from a
majority never confirms a round: its requests fail with UnavailableError at
their deadline, or with NotLeaderError once it steps down.

`request` may be called from any thread (a deque append); `step` runs on the
tick thread only. Must not touch: the keyspace, the event loop.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Callable

from raftcache.node.errors import NotLeaderError, RaftcacheError, UnavailableError

#: callback(None, index, error): the shape of a proposal's callback (replication.ProposeCallback).
ReadIndexCallback = Callable[[None, int, "RaftcacheError | None"], None]


@dataclass
class _Round:
    term: int
    started: float             # time.monotonic() at registration; sends after it confirm the round
    index: int                 # the commit index at registration: the answer
    waiters: list = field(default_factory=list)   # [(callback, deadline)]


class ReadIndex:
    """Leadership confirmations for reads, one heartbeat round at a time (module docstring)."""

    def __init__(self) -> None:
        self._incoming: collections.deque = collections.deque()   # (callback, deadline), any thread
        self._waiting: list = []                                   # not yet in a round
        self._round: _Round | None = None
        #: (term, commit index) once this leader committed an entry of `term` (0, 0: not yet)
        self.ready: tuple[int, int] = (0, 0)
        self.rounds = 0        # heartbeat rounds started (status)

    def request(self, callback: ReadIndexCallback, deadline: float) -> None:
        """Ask for a read index; `callback(None, index, error)` runs once, on the tick thread.
        `deadline` is a time.monotonic() after which it fails with UnavailableError. Any thread."""
        self._incoming.append((callback, deadline))

    def ready_index(self, node) -> int | None:
        """The read index a leader may answer without a round (under its lease): its commit
        index once it committed an entry of its current term; else None. Any thread."""
        term, _ = self.ready
        return node.raftCommitIndex if term and term == node.raftCurrentTerm and node._isLeader() else None

    def step(self, node) -> None:
        """Tick thread, every tick: confirm, expire, start the next round."""
        incoming = self._incoming
        while incoming:
            self._waiting.append(incoming.popleft())
        if not node._isLeader():
            self.ready = (0, 0)
            if self._round is not None or self._waiting:
                self._fail_all(NotLeaderError("leadership lost before the read could be confirmed; retry"))
            return
        term = node.raftCurrentTerm
        if self.ready[0] != term:
            commit = node.raftCommitIndex
            if commit and node.term_at(commit) == term:
                self.ready = (term, commit)
        current = self._round
        if current is not None:
            if current.term != term:
                self._round = None
                self._answer(current.waiters, 0, NotLeaderError("the term changed before the read was confirmed"))
            elif node.quorum_ack_time() > current.started:
                self._round = None
                self._answer(current.waiters, current.index, None)
        self._expire(time.monotonic())
        if self._round is None and self._waiting and self.ready[0] == term:
            self._start(node, term)

    def _start(self, node, term: int) -> None:
        self.rounds += 1
        started = time.monotonic()
        current = _Round(term, started, node.raftCommitIndex, self._waiting)
        self._waiting = []
        if node.quorum_ack_time() > started:  # no other voter: nobody to ask
            self._answer(current.waiters, current.index, None)
            return
        self._round = current
        node.send_heartbeat()

    def _expire(self, now: float) -> None:
        lists = [self._waiting] + ([self._round.waiters] if self._round is not None else [])
        for waiters in lists:
            if waiters and waiters[0][1] <= now:  # same timeout for all: the oldest expires first
                expired = [w for w in waiters if w[1] <= now]
                waiters[:] = [w for w in waiters if w[1] > now]
                self._answer(expired, 0, UnavailableError("leadership could not be confirmed in time; retry"))

    def close(self) -> None:
        """Fail every request (the tick thread has stopped)."""
        self._fail_all(UnavailableError("replicator closed"))

    def _fail_all(self, error: RaftcacheError) -> None:
        incoming = self._incoming
        while incoming:
            self._waiting.append(incoming.popleft())
        waiters = self._waiting + (self._round.waiters if self._round is not None else [])
        self._waiting, self._round = [], None
        self._answer(waiters, 0, error)

    @staticmethod
    def _answer(waiters: list, index: int, error: RaftcacheError | None) -> None:
        for callback, _ in waiters:
            callback(None, index, error)
