"""When a node may stand for election: pre-vote (Raft thesis 9.6) and the grace after its own stall.

Owns the pre-vote round (a node asks its peers whether they would vote for it
before it raises its term: one that cannot reach a majority, partitioned or
rejoining, never deposes a working leader) and the grace a node gives its
peers after it stalled itself (a long apply or read, a pause: what they sent
meanwhile is still unread in its sockets). `ElectionGuard` is RaftNode's
(node/raft/raftnode.py), run on the thread that ticks; it reads and moves
PySyncObj's election deadline, state and answer times through that node.
Timers only: elections stay safe whatever they say, and leases count from
acknowledged sends (RaftNode.ack_times), which this does not touch. Must not
touch: the log, the keyspace.
"""

from __future__ import annotations

import logging
import time

from pysyncobj.monotonic import monotonic as _ps_monotonic
from pysyncobj.syncobj import _RAFT_STATE

logger = logging.getLogger(__name__)


#: A gap this long (or four ticks, if longer) between two runs of this node's Raft code is the
#: node's own stall: a tick that applied one long entry, an event loop held by a long read, a
#: paused process (ElectionGuard.after_run). Normal ticks are tick_s (20 ms) apart.
OWN_STALL_S = 0.15


class ElectionGuard:
    """One RaftNode's pre-vote round and own-stall grace (module docstring)."""

    def __init__(self, node, tick_s: float | None):
        self._node = node
        self.stall_s = max(OWN_STALL_S, 4 * (tick_s or 0))
        self.ran_at: float | None = None     # when the node's Raft code last ran (after_run)
        self.credited_at = 0.0               # stall time up to then (time.monotonic()) is credited to connections
        self.grace_until = 0.0               # follower: until then (time.monotonic()) it grants no pre-vote
        #: Set while a grace was given since the last contact (no other until one): the voters
        #: that answered since (a leader's, now or once elected, re-arms with a majority).
        self.grace_answers: set | None = None
        self.own_stalls = 0                  # stalls this node gave a grace for
        self.elections_started = 0           # elections this node stood in (its term raised to campaign)
        # The current pre-vote round, the yes votes it got, and whether it won (the next tick
        # then lets PySyncObj start the election).
        self.round = 0
        self.grants = 0
        self.won = False

    # --- the node's own stall ----------------------------------------------------

    def after_run(self) -> None:
        """After this node stalled (it applied one long entry — a MULTI rewriting a large
        string, and so did its peers, at about the same time — or its loop ran a long read, or
        it was paused), what its peers sent meanwhile is still unread in its sockets: judge no
        one silent until it could read it. A follower neither stands for election nor grants a
        pre-vote for one election timeout (the leader kept sending heartbeats through its own
        apply: they are waiting; the first message from the leader ends the refusal). A leader
        does not step down for want of answers (PySyncObj's leader fallback) for as long again
        as it stalled (its followers stalled on the same entry, from a little later, on cores
        they share), one election timeout at least, at most leader_fallback_s plus the largest
        election timeout. Once per contact: the next grace waits for a message from the leader
        (a follower) or answers from a majority (the leader), so stalls that keep coming (a
        loop always held, a dead leader's followers applying a backlog of long entries) delay
        an election or a step-down once. Called before and after each tick."""
        now = time.monotonic()
        self.credit_connections(now)
        stalled = now - (self.ran_at or now)
        self.ran_at = now
        if stalled < self.stall_s or self.grace_answers is not None:
            return
        self.grace_answers = set()
        self.own_stalls += 1
        node = self._node
        conf = node._SyncObj__conf
        logger.log(logging.INFO if stalled >= conf.raftMinTimeout else logging.DEBUG,
                   "this node did not run for %d ms (a long apply or read, or a pause): its peers get "
                   "time to be heard before it judges them silent", stalled * 1000)
        if node._SyncObj__raftState == _RAFT_STATE.LEADER:
            grace = min(max(conf.raftMinTimeout, stalled), conf.leaderFallbackTimeout + conf.raftMaxTimeout)
            answered = node._SyncObj__lastResponseTime
            floor = _ps_monotonic() + grace - conf.leaderFallbackTimeout   # PySyncObj's clock
            for peer in answered:
                answered[peer] = max(answered[peer], floor)
        else:
            self.grace_until = now + conf.raftMinTimeout
            node._SyncObj__raftElectionDeadline = max(node._SyncObj__raftElectionDeadline,
                                                      _ps_monotonic() + conf.raftMinTimeout)
            self.round += 1   # a pre-vote won before the stall is stale: ask again later
            self.won = False

    def credit_connections(self, now: float) -> None:
        """PySyncObj drops a connection it has not read from for connectionTimeout (3.5 s), checked
        when it sends on it or reads from it: a node that stalls longer (a long apply or read)
        dropped every peer at its first heartbeat, or at its first read afterwards, and lost the
        heartbeats waiting there. Time this node did not run is added to each connection's last
        read, once (a peer silent while the node ran is dropped as before)."""
        ran_at = self.ran_at
        if ran_at is None:
            return
        gap = now - max(ran_at, self.credited_at)
        if now - ran_at < self.stall_s or gap <= 0:
            return
        self.credited_at = now
        ps_now = _ps_monotonic()
        for conn in getattr(self._node._SyncObj__transport, "_connections", {}).values():   # TCPTransport's
            conn._TcpConnection__lastReadTime = min(conn._TcpConnection__lastReadTime + gap, ps_now)

    # --- contact -------------------------------------------------------------------

    def heard_leader(self) -> None:
        """A leader's append-entries was accepted: no grace pending, the usual rule (a leader
        heard lately) refuses pre-votes, and any pre-vote in progress is forgotten."""
        self.grace_answers = None
        self.grace_until = 0.0
        self.round += 1
        self.won = False

    def became_leader(self) -> None:
        self.grace_answers = None   # elected: as good as heard from

    def answered(self, peer) -> None:
        """Leader: `peer` acknowledged append-entries. A later stall has its grace once a
        majority of the voters answered since this one."""
        since = self.grace_answers
        voters = self._node._SyncObj__otherNodes
        if since is not None and peer in voters:
            since.add(peer)
            if len(since & voters) + 1 > (len(voters) + 1) / 2:
                self.grace_answers = None

    # --- pre-vote --------------------------------------------------------------------

    def pre_vote_step(self) -> None:
        """When PySyncObj is about to start an election (which raises the term),
        ask the others first whether they would vote for us; postpone the
        election until a majority says yes. Leadership transfer skips this."""
        node = self._node
        if node._SyncObj__selfNode is None or node._SyncObj__raftState == _RAFT_STATE.LEADER:
            return
        if node._SyncObj__raftElectionDeadline >= _ps_monotonic() or not node._SyncObj__otherNodes:
            return
        if node.apply_blocked is not None:
            # A leader that cannot apply the log could not serve: leave it to upgraded nodes.
            node.postpone_election()
            return
        if self.won or node._SyncObj__transferInProgress:
            self.won = False  # the parent starts the election on this tick
            self.elections_started += 1
            return
        if not node._SyncObj__connectedToAnyone():
            return  # the parent would not start one either
        self.round += 1
        self.grants = 1  # our own
        node._SyncObj__raftElectionDeadline = _ps_monotonic() + node._SyncObj__generateRaftTimeout()
        for other in node._SyncObj__otherNodes:
            node._SyncObj__transport.send(other, {
                "type": "rc_pre_vote", "round": self.round,
                "term": node._SyncObj__raftCurrentTerm + 1,
                "last_log_index": node._SyncObj__getCurrentLogIndex(),
                "last_log_term": node._SyncObj__getCurrentLogTerm(),
            })

    def on_pre_vote(self, peer, message) -> None:
        """Would we vote for this candidate? Never changes our own term or vote."""
        node = self._node
        recent_leader = (node._isLeader() or (
            node.last_leader_contact is not None
            and time.monotonic() - node.last_leader_contact < node._SyncObj__conf.raftMinTimeout)
            or time.monotonic() < self.grace_until)   # we just stalled: what we were sent is unread
        last_term, last_index = node._SyncObj__getCurrentLogTerm(), node._SyncObj__getCurrentLogIndex()
        up_to_date = (message["last_log_term"], message["last_log_index"]) >= (last_term, last_index)
        granted = message["term"] > node._SyncObj__raftCurrentTerm and up_to_date and not recent_leader
        node._SyncObj__transport.send(peer, {
            "type": "rc_pre_vote_response", "round": message["round"], "granted": granted})

    def on_pre_vote_response(self, message) -> None:
        node = self._node
        if message["round"] != self.round or not message["granted"] or node._isLeader():
            return
        self.grants += 1
        if self.grants > (len(node._SyncObj__otherNodes) + 1) / 2:
            self.round += 1  # the round is decided; late answers are ignored
            self.won = True
            node._SyncObj__raftElectionDeadline = 0  # elect at the next tick
