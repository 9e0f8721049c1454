"""ReadIndex (Raft thesis 6.4) on the Raft thread: the index a linearizable read must reach.

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

A `lease` request is answered at once while the leader holds its lease
(`lease_index`, node/raft/replication.py), without a round.

A follower's request carries the follower's term. When the leader and that
follower alone are a majority of the voters (three voters, or two) and the
request was sent in the leader's current term, the request itself is the
follower's acknowledgement: it is answered at once, with no round and no
clock assumption. Why that is enough: any newer leader needs a vote from the
leader or from the follower; the leader had given none when it answered (it
is still leader of the term), and the follower had given none when it sent
the request (it was still in the term), which was after every read the
answer serves arrived. A newer leader elected with the follower's vote after
that can only acknowledge writes that completed after those reads began:
concurrent with them, so a read may miss them and stay linearizable. Four or
more voters (and requests from an older release, which carry no term) take a
round.

No log entry is written. Requests that arrive while ROUND_WINDOW rounds are
in flight wait and share the next one: one heartbeat (one append-entries per
follower) confirms every request waiting, however many. A leader cut off from a
majority never confirms a round: its requests fail with UnavailableError at
their deadline, or with NotLeaderError once it steps down.

On a follower a request goes to the leader as an `rc_read_index` message on
the Raft connection (authenticated and encrypted like every peer message)
and comes back as `rc_read_index_reply` (with the leader's commit index and
that entry's term, from which the follower may commit at once:
FollowerLog.learn_commit); the leader registers it like its own. A leader
that does not stamp `rc_ri` on its append-entries (an older release) gets
none: ReadIndexUnsupported, and the service sends it the read.

`request` may be called from any thread (a deque append; the next tick takes
it); everything else runs on the tick thread, `ask` included (a follower's
request sent at once: when the event loop runs the ticks, the reads waiting on
it need not wait for a tick first). Must not touch: the keyspace, the event loop.
"""

from __future__ import annotations

import collections
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from raftcache.node.errors import NotLeaderError, RaftcacheError, ReadIndexUnsupported, Reason, UnavailableError

#: callback(None, index, error): the shape of a proposal's callback (proposals.ProposeCallback).
ReadIndexCallback = Callable[[None, int, "RaftcacheError | None"], None]
#: The longest a leader keeps a follower's request (the follower gives up at its own deadline).
REMOTE_TIMEOUT_S = 10.0
#: Heartbeat rounds in flight at once; requests arriving meanwhile share the next one.
ROUND_WINDOW = 2

_WIRE_ERRORS = {Reason.NOT_LEADER.value: NotLeaderError, Reason.UNAVAILABLE.value: UnavailableError}


def error_from_wire(error, errors: dict) -> RaftcacheError:
    """A peer's (reason, message) answer as its exception (`errors`: reason -> class; any other
    reason, or a malformed answer, is UnavailableError)."""
    if isinstance(error, tuple) and len(error) == 2 and type(error[0]) is str:
        return errors.get(error[0], UnavailableError)(str(error[1]))
    return UnavailableError("malformed answer from the leader")


@dataclass
class _Round:
    term: int
    started: float             # time.monotonic() at registration; sends after it confirm the round
    index: int                 # the commit index at registration: the answer
    waiters: list = field(default_factory=list)   # [(callback, deadline)]


class ReadIndex:
    """Leadership confirmations for reads, one heartbeat round at a time (module docstring)."""

    def __init__(self) -> None:
        self._incoming: collections.deque = collections.deque()   # (callback, deadline, lease), any thread
        self._waiting: list = []                                   # leader: not yet in a round
        self._rounds: list[_Round] = []                            # in flight, oldest first
        self._asks: dict[int, tuple] = {}                          # follower: id -> (callback, deadline, leader, term)
        # random first id: a reply meant for this node's previous process never matches an ask
        self._ids = itertools.count(random.getrandbits(62))
        #: (term, commit index) once this leader committed an entry of `term` (0, 0: not yet)
        self.ready: tuple[int, int] = (0, 0)
        self.rounds = 0        # heartbeat rounds started
        self.served = 0        # followers' requests answered (as leader)
        self.vouched = 0       # ... of them, answered at once on the follower's own term (no round)

    @property
    def awaits_acks(self) -> bool:
        """Leader: reads wait for a heartbeat round (in flight, or to start at the next tick)."""
        return bool(self._rounds or self._waiting or self._incoming)

    def request(self, callback: ReadIndexCallback, deadline: float, lease: bool = False) -> None:
        """Ask for a read index; `callback(None, index, error)` runs once, on the tick thread.
        `deadline` is a time.monotonic() after which it fails with UnavailableError. Any thread."""
        self._incoming.append((callback, deadline, lease))

    def ask(self, node, callback: ReadIndexCallback, deadline: float, lease: bool = False) -> None:
        """`request` on a follower, sent to the leader now: only from the thread that ticks."""
        self._take(node, callback, deadline, lease, lambda: None)

    def ready_index(self, node) -> int | None:
        """The read index a leader may answer without a round (under its lease): its commit
        index once it committed an entry of its current term; else None. Any thread."""
        term, _ = self.ready
        return node.raftCommitIndex if term and term == node.raftCurrentTerm and node._isLeader() else None

    # ------------------------------------------------------------ tick thread

    def step(self, node, lease_index: Callable[[], int | None]) -> None:
        """Every tick: take new requests, confirm, expire, start the next round."""
        now = time.monotonic()
        incoming = self._incoming
        while incoming:
            callback, deadline, lease = incoming.popleft()
            self._take(node, callback, deadline, lease, lease_index)
        self._step_asks(node, now)
        if not node._isLeader():
            self.ready = (0, 0)
            if self._rounds or self._waiting:
                self._fail_rounds_and_waiting(NotLeaderError("leadership lost before the read was confirmed; retry"))
            return
        term = node.raftCurrentTerm
        if self.ready[0] != term:
            commit = node.raftCommitIndex
            if commit and node.term_at(commit) == term:
                self.ready = (term, commit)
        if self._rounds:
            acked = node.quorum_ack_time()
            for current in list(self._rounds):
                if current.term != term:
                    self._rounds.remove(current)
                    self._answer(current.waiters, 0, NotLeaderError("the term changed before the read was confirmed"))
                elif acked > current.started:
                    self._rounds.remove(current)
                    self._answer(current.waiters, current.index, None)
        self._expire(now)
        if len(self._rounds) < ROUND_WINDOW and self._waiting and self.ready[0] == term:
            self._start(node, term)

    def _take(self, node, callback, deadline: float, lease: bool, lease_index, vouched: bool = False) -> bool:
        """Answer, queue or send one request; `vouched`: a follower's request that acknowledges
        this leader's term for a majority (module docstring), answered without a round. True
        when the leader answered it here (False: queued for a round, or sent, or failed)."""
        if node._isLeader():
            index = lease_index() if lease else None
            if index is None and vouched:
                index = self.ready_index(node)
                self.vouched += index is not None
            if index is not None:
                callback(None, index, None)
                return True
            self._waiting.append((callback, deadline))
            return False
        leader = node.leader_node
        if leader is None:
            callback(None, 0, UnavailableError("no leader to ask for a read index"))
        elif not node.rc_leader_read_index:
            callback(None, 0, ReadIndexUnsupported("the leader runs a release without ReadIndex"))
        else:
            rid = next(self._ids)
            if not node.send_read_index(leader, rid, lease, max(0.0, deadline - time.monotonic())):
                callback(None, 0, UnavailableError("no connection to the leader to ask for a read index"))
                return False
            self._asks[rid] = (callback, deadline, leader, node.raftCurrentTerm)
        return False

    def _step_asks(self, node, now: float) -> None:
        """Follower: fail the requests whose leader or term changed, whose connection to the
        leader dropped (the request or its answer may be lost: a read waiting on it would wait
        out its deadline), or whose deadline passed."""
        if not self._asks:
            return
        leader = None if node._isLeader() else node.leader_node
        connected = leader is not None and node.connected_to(leader)
        term = node.raftCurrentTerm
        for rid, (callback, deadline, asked, asked_in) in list(self._asks.items()):
            if asked != leader or asked_in != term:
                del self._asks[rid]
                callback(None, 0, NotLeaderError("the leader or the term changed before the leader answered the "
                                                  "read index"))
            elif not connected:
                del self._asks[rid]
                callback(None, 0, UnavailableError("the connection to the leader dropped; retry"))
            elif deadline <= now:
                del self._asks[rid]
                callback(None, 0, UnavailableError("the leader did not answer the read index in time"))

    def on_request(self, node, peer, message: dict, lease_index: Callable[[], int | None]) -> bool:
        """Leader: a follower's `rc_read_index` message; the answer goes back to `peer`. True
        when it was answered here and now (no tick needed after it: RaftNode.took_only_quiet)."""
        rid = message.get("id")

        def reply(_result, index: int, error: RaftcacheError | None) -> None:
            self.served += 1
            node.send_read_index_reply(peer, rid, index, None if error is None else (error.reason.value, error.message))

        if not node._isLeader():
            reply(None, 0, NotLeaderError("not the leader"))
            return True
        timeout = message.get("timeout", REMOTE_TIMEOUT_S)
        timeout = max(0.0, min(float(timeout), REMOTE_TIMEOUT_S)) if type(timeout) in (int, float) else REMOTE_TIMEOUT_S
        term = message.get("term")
        vouched = type(term) is int and term == node.raftCurrentTerm and node.majority_with(peer)
        return self._take(node, reply, time.monotonic() + timeout, bool(message.get("lease")), lease_index, vouched)

    def on_reply(self, sender, message: dict) -> bool:
        """Follower: the leader's `rc_read_index_reply` (from `sender`: only the leader asked
        counts). True: an answer needs no tick after it (RaftNode.took_only_quiet)."""
        rid = message.get("id")
        ask = self._asks.get(rid) if type(rid) is int else None
        if ask is None or ask[2] != sender:
            return True  # expired or failed already, or not the answer to our ask
        del self._asks[rid]
        error, index = message.get("error"), message.get("index")
        if error is None and type(index) is int:
            ask[0](None, index, None)
        else:
            ask[0](None, 0, error_from_wire(error, _WIRE_ERRORS))
        return True

    def _start(self, node, term: int) -> None:
        self.rounds += 1
        started = time.monotonic()
        current = _Round(term, started, node.raftCommitIndex, self._waiting)
        self._waiting = []
        if node.quorum_ack_time() > started:  # no other voter: nobody to ask
            self._answer(current.waiters, current.index, None)
            return
        self._rounds.append(current)
        node.send_heartbeat()

    def _expire(self, now: float) -> None:
        lists = [self._waiting] + [r.waiters for r in self._rounds]
        for waiters in lists:
            if any(w[1] <= now for w in waiters):
                expired = [w for w in waiters if w[1] <= now]
                waiters[:] = [w for w in waiters if w[1] > now]
                self._answer(expired, 0, UnavailableError("leadership could not be confirmed in time; retry"))

    def close(self) -> None:
        """Fail every request (the tick thread has stopped)."""
        incoming = self._incoming
        while incoming:
            callback, deadline, _ = incoming.popleft()
            self._waiting.append((callback, deadline))
        asks = [(callback, deadline) for callback, deadline, _, _ in self._asks.values()]
        self._asks = {}
        self._waiting += asks
        self._fail_rounds_and_waiting(UnavailableError("replicator closed"))

    def _fail_rounds_and_waiting(self, error: RaftcacheError) -> None:
        waiters = self._waiting + [w for r in self._rounds for w in r.waiters]
        self._waiting, self._rounds = [], []
        self._answer(waiters, 0, error)

    @staticmethod
    def _answer(waiters: list, index: int, error: RaftcacheError | None) -> None:
        for callback, _ in waiters:
            callback(None, index, error)
