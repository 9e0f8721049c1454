"""RaftNode: PySyncObj's SyncObj with raftcache's one replicated entry point and handler fixes.

Owns the overrides of PySyncObj 0.3.17's private handlers (pinned; re-check
on upgrade): the routing of peer messages (append-entries to the Figure-2
handling of node/raft/follower.py, which fixes the follower truncation bug of
docs/design.md, PySyncObj note 7; pre-votes to node/raft/elections.py),
next-index handling that never moves backwards on success, journal flushes
before acknowledgements (appendfsync=always), the leader's sends without a
tick, and the peer cipher. The Replicator (node/raft/replication.py) is its
only user. Must not touch: lmdb, protocol parsing, the command set.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from typing import Callable, Sequence

import pysyncobj.pickle as _ps_pickle
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.config import FAIL_REASON
from pysyncobj.monotonic import monotonic as _ps_monotonic
from pysyncobj.syncobj import _RAFT_STATE

from raftcache.node.raft import ps_speedups, raft_wire
from raftcache.node.errors import UpgradeRequiredError
from raftcache.node.raft.elections import ElectionGuard
from raftcache.node.raft.follower import FollowerLog
from raftcache.node.raft.peer_crypto import PeerCipher
from raftcache.node.raft.peer_guard import GuardedTransport
from raftcache.node.raft.snapshot_serializer import BackgroundSerializer

logger = logging.getLogger(__name__)

# PySyncObj pickles log entries and peer messages with protocol 2 (for Python 2
# peers): bytes become latin-1 text, up to 4x larger for binary values and ~20x
# slower to pickle. Every member runs Python 3, so use the highest protocol
# (pickle.loads reads any, so journals written before keep loading).
setattr(_ps_pickle, "__protocol", pickle.HIGHEST_PROTOCOL)
raft_wire.install()  # linear buffers for large messages, faster compression
ps_speedups.install()   # peers hashed in one Python frame, the clock read in none


#: Peer messages of raftcache's own -> the RaftNode attribute holding their handler(node, message).
_PEER_REQUESTS = {"rc_read_index": "rc_on_read_index", "rc_read_index_reply": "rc_on_read_index_reply",
                  "rc_forward": "rc_on_forward", "rc_forward_reply": "rc_on_forward_reply"}


class RaftNode(SyncObj):
    """SyncObj with raftcache's one replicated entry point and handler fixes.

    Overrides three name-mangled private methods of pysyncobj 0.3.17 (pinned;
    re-check on upgrade), each delegating to the parent where it can:

    * `_SyncObj__onMessageReceived`: append_entries follows Figure 2 of the
      Raft paper (`follower_log`, node/raft/follower.py); next_node_idx never
      moves nextIndex backwards on success. Every other message goes to the
      parent.
    * `_SyncObj__sendAppendEntries` / `_SyncObj__sendNextNodeIdx`: flush the
      journal first when `flush_before_ack` (appendfsync=always).

    Also answers append-entries of a lower term with its own term
    (`rc_term`), and a leader that gets such an answer steps down; overrides
    `_onTick`, which runs a pre-vote before PySyncObj would start an
    election and gives its peers a grace after the node itself stalled (both
    `elections`, node/raft/elections.py); `heartbeat_if_due`,
    which long applies and reads call (node/pulse.py), so a leader busy with one
    for seconds still sends heartbeats; and the public `encryptor` property, so peer messages use PeerCipher
    (ChaCha20-Poly1305) rather than Fernet. Snapshots are written by
    node/snapshot_serializer.BackgroundSerializer, off the tick thread.
    """

    def __init__(self, self_address: str | None, other_addresses: Sequence[str], conf: SyncObjConf, *,
                 apply: Callable[[int, bytes], object],
                 on_fatal: Callable[[BaseException], None] | None = None,
                 flush_before_ack: bool = False, transport_class=None, peer_limits=None,
                 max_version: int = 1, peer_tls=None, poller=None, apply_budget_s: float | None = None):
        # Set before SyncObj.__init__, which starts the tick thread.
        #: The poller PySyncObj's sockets use instead of its own (node/raft/loop_driver.LoopPoller:
        #: the event loop watches them; then conf.autoTick is off and the loop ticks).
        self._rc_poller_override = poller
        #: Longest one tick applies committed entries (None: all of them); the rest waits for the next tick.
        self._rc_apply_budget_s = apply_budget_s
        self._rc_max_version = max_version     # newest log semantics version apply supports (reported to the leader)
        #: Leader: node -> the newest semantics version it reported in its acknowledgements.
        self.member_versions: dict = {}
        #: Set while apply waits for an upgrade (the entry it stopped at needs a newer binary).
        self.apply_blocked: UpgradeRequiredError | None = None
        self._rc_cipher = PeerCipher(conf.password) if conf.password else None
        self._rc_apply = apply
        self._rc_on_fatal = on_fatal
        self._rc_flush_before_ack = flush_before_ack
        self._rc_sent = (0, 0)                 # (last log index, commit index) last sent as leader
        self._rc_commit_unsent_since: float | None = None   # when the commit index first passed _rc_sent's
        self.rc_commit_notices = 0             # append-entries sent only for a new commit index
        self._rc_commit_notice = False         # sending a commit-only notice (send_commit_notice)
        self.last_leader_contact: float | None = None   # time.monotonic() of the last accepted append_entries
        self._rc_thread: int | None = None     # the thread that ticks (heartbeat_if_due acts only there)
        #: Pre-vote and the grace after this node's own stall (node/raft/elections.py).
        self.elections = ElectionGuard(self, conf.autoTickPeriod)
        self._rc_beat_quiet_until = 0.0        # heartbeat_if_due failed: it tries again after this
        # node -> (term, time.monotonic() at which *we sent* the append-entries
        # its latest reply answers): the lease counts from sends, so replies
        # queued while this process was paused cannot renew it.
        self.ack_times: dict = {}
        self.rc_echo: float | None = None      # follower: the leader's send time to echo back
        #: The append-entries this node takes as a follower (node/raft/follower.py).
        self.follower_log = FollowerLog(self)
        self.stale_term_stepdowns = 0          # times a peer's higher term (rc_term) made us adopt it
        # ReadIndex (node/raft/readindex.py): whether our leader answers rc_read_index (it stamps
        # rc_ri on its append-entries), and the Replicator's handlers of the two messages
        self.rc_leader_read_index = False
        self.rc_on_read_index: Callable[[object, dict], bool] | None = None         # True: answered at once
        self.rc_on_read_index_reply: Callable[[object, dict], bool] | None = None   # True: always
        #: The loop's request for a tick in its next iteration (LoopDriver.soon; None: Raft ticks
        #: on its own thread)
        self.rc_tick_soon: Callable[[], None] | None = None
        self._rc_quiet = 0   # messages since took_only_quiet's last call that need no tick ...
        self._rc_loud = 0    # ... and the others
        #: The Replicator's: whether something waits on followers' acknowledgements at the next
        #: tick (a ReadIndex round, a leadership transfer): then every acknowledgement ticks.
        self.rc_acks_awaited: Callable[[], bool] = lambda: True
        # Forwarded writes over the Raft connection (node/raft/forwards.py): whether our leader
        # answers rc_forward (it stamps rc_fw), whether we do as leader, and the two handlers
        self.rc_leader_forwards = False
        self.rc_serves_forwards = False
        self.rc_on_forward: Callable[[object, dict], None] | None = None
        self.rc_on_forward_reply: Callable[[object, dict], None] | None = None
        #: (bytes, last) for each piece of a leader's snapshot this follower receives (progress lines).
        self.rc_on_snapshot_piece: Callable[[int, bool], None] | None = None
        self.rc_peer_limits = peer_limits      # ReplicationConfig read by node/peer_guard.GuardedTransport
        self.rc_peer_tls = peer_tls            # node/raft/peer_tls.PeerTls (mutual TLS on the Raft port), or None
        if transport_class is None and peer_limits is not None:
            transport_class = GuardedTransport
        kwargs = {"transportClass": transport_class} if transport_class is not None else {}
        super().__init__(self_address, list(other_addresses), conf, **kwargs)
        if conf.fullDumpFile and conf.serializer is not None:
            # Snapshots off the tick thread (heartbeats go on while a large keyspace is copied).
            self._SyncObj__serializer = BackgroundSerializer(
                conf.fullDumpFile, conf.logCompactionBatchSize, conf.serializer, conf.deserializer)
        self._stamp_sends()

    def _stamp_sends(self) -> None:
        """Tag our append-entries with their send time and echo the leader's
        tag in our next_node_idx replies (extra dict keys; PySyncObj ignores them).

        And never forward a proposal: a node that lost leadership between
        queueing an entry and its tick would send it to the new leader as one
        `apply_command` message, which for a large value exceeds the Raft
        port's frame bound (peer_guard.py) and is never answered. The proposal
        fails NOT_LEADER instead (nothing was logged), and the service retries
        it through the leader's client API, as it does any write on a follower."""
        transport = self._SyncObj__transport
        send = transport.send

        def stamped_send(node, message, _send=send):
            if type(message) is dict:
                kind = message.get("type")
                if kind == "apply_command":
                    callback = self._SyncObj__commandsWaitingReply.pop(message.get("request_id"), None)
                    if callback is not None:
                        callback(None, FAIL_REASON.NOT_LEADER)
                    return True
                if kind == "append_entries":
                    message["rc_sent"] = time.monotonic()
                    message["rc_ri"] = 1  # this leader answers rc_read_index
                    if self.rc_serves_forwards:
                        message["rc_fw"] = 1  # ... and rc_forward
                    if self._rc_commit_notice and "prevLogIdx" in message and not message.get("entries"):
                        message["rc_noack"] = 1  # only a new commit index: no acknowledgement wanted
                elif kind == "next_node_idx":
                    message["rc_version"] = self._rc_max_version
                    if self.rc_echo is not None:
                        message["rc_echo"] = self.rc_echo
            return _send(node, message)

        transport.send = stamped_send

    @property
    def _poller(self):
        return self._rc_poller

    @_poller.setter
    def _poller(self, poller):  # SyncObj.__init__ creates its own: use ours when given
        self._rc_poller = poller if self._rc_poller_override is None else self._rc_poller_override

    @property
    def apply_behind(self) -> bool:
        """Committed entries wait to be applied (a tick stopped at its apply budget)."""
        return self._SyncObj__raftCommitIndex > self._SyncObj__raftLastApplied and self.apply_blocked is None

    @property
    def elections_started(self) -> int:
        """Elections this node stood in (its term raised to campaign)."""
        return self.elections.elections_started

    @property
    def encryptor(self):
        """The peer-message cipher PySyncObj's transport uses (node/raft/peer_crypto.py)."""
        return self._rc_cipher

    # The one replicated entry point. Its name is part of the journal format
    # (PySyncObj numbers replicated methods by sorted name): never rename it
    # and never add another @replicated method.
    @replicated
    def apply_entry(self, data):
        index = self.raftLastApplied + 1
        try:
            return index, self._rc_apply(index, data)
        except UpgradeRequiredError:
            raise  # _SyncObj__applyLogEntries stops here and tries again later
        except Exception as exc:
            # Not marked applied: PySyncObj retries it next tick, so this node
            # stops making progress instead of diverging from the others.
            if self._rc_on_fatal is not None:
                self._rc_on_fatal(exc)
            raise

    def _SyncObj__applyLogEntries(self):
        """Apply committed entries in order (PySyncObj's loop), stopping at an entry
        that needs an upgrade: it stays unapplied and its waiters keep waiting, the
        node keeps replicating, and the next tick tries again (a cheap header check)."""
        last_applied = self._SyncObj__raftLastApplied
        count = self._SyncObj__raftCommitIndex - last_applied
        if count <= 0:
            return False
        waiting = self._SyncObj__commandsWaitingCommit
        budget = self._rc_apply_budget_s
        stop_at = time.monotonic() + budget if budget is not None else None
        for data, index, term in self._SyncObj__getEntries(last_applied + 1, count):
            if stop_at is not None and index > last_applied + 1 and time.monotonic() > stop_at:
                break  # the rest next tick: heartbeats and client I/O go on meanwhile
            try:
                result = self._SyncObj__doApplyCommand(data)
            except UpgradeRequiredError as exc:
                if self.apply_blocked is None or self.apply_blocked.index != exc.index:
                    logger.critical("%s", exc)
                self.apply_blocked = exc
                return False
            self.apply_blocked = None
            for subscriber_term, callback in waiting.pop(index, ()):
                callback(result, FAIL_REASON.SUCCESS if subscriber_term == term else FAIL_REASON.DISCARDED)
            self._SyncObj__raftLastApplied += 1
            self.heartbeat_if_due()   # a backlog without an apply budget (Raft on its own thread)
        return False  # appendEntriesUseBatch: the tick sends append-entries on its own schedule

    # --- helpers over PySyncObj's private state (tick thread only) --------------

    @property
    def raft_log(self):
        return self._SyncObj__raftLog

    @property
    def match_index(self) -> dict:
        return self._SyncObj__raftMatchIndex

    def quorum_ack_time(self) -> float:
        """The latest send time T (time.monotonic() of this node) such that a majority
        of the voters, this node included, acknowledged append-entries this node sent
        at T or later in its current term: +inf with no other voter, -inf before a
        majority answered in this term. The lease and ReadIndex rounds both count
        from it. Any thread (it reads copies)."""
        voters = self._SyncObj__otherNodes.copy()
        others_needed = (len(voters) + 1) // 2   # a majority of len(voters) + 1, minus ourselves
        if others_needed == 0:
            return float("inf")
        term = self._SyncObj__raftCurrentTerm
        acks = self.ack_times.copy()
        sent = sorted((acks[n][1] for n in voters if n in acks and acks[n][0] == term), reverse=True)
        return sent[others_needed - 1] if len(sent) >= others_needed else float("-inf")

    def majority_with(self, node) -> bool:
        """Whether this node and `node`, a voter, alone are a majority of the voters (two or
        three voters): a ReadIndex request `node` sent in this term needs no round. Tick thread
        for that answer (readindex.py); Replicator.read_index_at_once asks from any thread, where
        a stale view changes only how many requests a follower keeps in flight."""
        voters = self._SyncObj__otherNodes
        return (len(voters) + 1) // 2 == 1 and node in voters

    def term_at(self, index: int) -> int | None:
        """Term of the local log entry at `index`; None when it is compacted or absent (tick thread)."""
        entries = self._SyncObj__getEntries(index, 1)
        return entries[0][2] if entries else None

    def send_heartbeat(self) -> None:
        """Send append-entries to every follower now (a ReadIndex round; tick thread, leader)."""
        if self._isLeader():
            self._SyncObj__sendAppendEntries()

    @property
    def leader_node(self):
        """The leader this node knows of (a Node; None when unknown). Tick thread."""
        return self._SyncObj__raftLeader

    def send_read_index(self, leader, rid: int, lease: bool, timeout_s: float) -> bool:
        """Follower: ask `leader` for a read index (readindex.py); False when the connection to
        it is not up (nothing sent). Tick thread."""
        return self.connected_to(leader) and bool(self._SyncObj__transport.send(
            leader, {"type": "rc_read_index", "id": rid, "lease": lease, "timeout": timeout_s,
                     "term": self._SyncObj__raftCurrentTerm}))

    def send_read_index_reply(self, peer, rid: int, index: int, error: tuple | None) -> None:
        """Leader: answer a follower's rc_read_index (error: (reason, message)). Tick thread."""
        self._SyncObj__transport.send(peer, {"type": "rc_read_index_reply", "id": rid, "index": index,
                                            "error": error, "rc_commit": self.commit_stamp()})

    def commit_stamp(self) -> tuple[int, int] | None:
        """(commit index, that entry's term), which a leader's ReadIndex answers carry so the
        asking follower commits up to it at once (FollowerLog.learn_commit; an error answer from
        a node that just stepped down carries its own, as true); None when that entry is
        compacted or nothing is committed. Tick thread."""
        commit = self._SyncObj__raftCommitIndex
        term = self.term_at(commit) if commit else None
        return None if term is None else (commit, term)

    def send_forward(self, leader, fid: int, data: bytes) -> bool:
        """Follower: send `leader` a batch of forwarded writes (forwards.py); False when the
        connection to it is not up (nothing sent). Tick thread."""
        return self.connected_to(leader) and bool(
            self._SyncObj__transport.send(leader, {"type": "rc_forward", "id": fid, "data": data}))

    def connected_to(self, node) -> bool:
        """Whether the Raft connection to `node` is up, its keys exchanged: PySyncObj marks a
        dialled connection CONNECTED before that, and a message sent then closes it. Tick thread."""
        return self.isNodeConnected(node)

    def send_forward_reply(self, peer, fid: int, data: bytes | None, error: tuple | None) -> None:
        """Leader: answer a follower's rc_forward (error: (reason, message)). Tick thread."""
        self._SyncObj__transport.send(peer, {"type": "rc_forward_reply", "id": fid, "data": data, "error": error})

    def postpone_election(self) -> None:
        """Push the election deadline one election timeout into the future (tick thread)."""
        self._SyncObj__raftElectionDeadline = _ps_monotonic() + self._SyncObj__generateRaftTimeout()

    def send_if_new_entries(self, commit_only: bool = True) -> bool:
        """On the leader, send append-entries now when entries were appended or the
        commit index moved since the last send, instead of waiting a heartbeat.

        `commit_only=False`: when only the commit index moved, send nothing and return
        True (the caller sends it with send_commit_notice a moment later, unless the
        next entries carry it first)."""
        if not self._isLeader():
            return False
        last = self._SyncObj__raftLog[-1][1]
        sent = self._rc_sent
        if (last, self._SyncObj__raftCommitIndex) == sent:
            return False
        if last == sent[0] and not commit_only:
            if self._rc_commit_unsent_since is None:
                self._rc_commit_unsent_since = time.monotonic()
            return True
        self._SyncObj__sendAppendEntries()
        return False

    def append_and_send(self) -> bool:
        """On the leader, from the thread that ticks, with other voters: take the queued
        proposals into the log and send them (one append-entries to each follower, one journal
        flush under appendfsync always), which is what a tick would do first (the rest of a
        tick has nothing to act on for them). False when it cannot (not the leader, another
        thread, no other voter: the caller asks for a tick instead)."""
        if not self._on_tick_thread() or not self._isLeader() or not self._SyncObj__otherNodes:
            return False
        self._checkCommandsToApply()
        self.send_if_new_entries()
        return True

    def commit_notice_due_in(self, delay_s: float) -> float | None:
        """On the leader, how long until a commit index no append-entries carried yet has waited
        `delay_s` (<= 0: now); None when the followers were sent the current one (an
        append-entries for new entries carried it meanwhile: under a steady stream of lone
        writes each one's carries the one before's, and no notice is needed)."""
        if not self._commit_unsent():
            return None
        since = self._rc_commit_unsent_since
        return 0.0 if since is None else since + delay_s - time.monotonic()

    def _commit_unsent(self) -> bool:
        """Leader: the commit index moved past what the last append-entries carried."""
        return self._isLeader() and self._SyncObj__raftCommitIndex != self._rc_sent[1]

    def _on_tick_thread(self) -> bool:
        """Whether this is the thread that ticks (the event loop's): PySyncObj's state is its alone."""
        return self._rc_thread == threading.get_ident()

    def send_commit_notice(self) -> None:
        """On the leader, tell the followers a commit index no append-entries carried yet.
        A follower that has every entry does not acknowledge such a message (`rc_noack`):
        heartbeats and entries keep the leader's view of it (leases, ReadIndex) current."""
        if not self._commit_unsent():
            return
        self._rc_commit_notice = True
        self.rc_commit_notices += 1
        try:
            self._SyncObj__sendAppendEntries()
        finally:
            self._rc_commit_notice = False

    def _SyncObj__sendAppendEntries(self):
        log = self._SyncObj__raftLog
        if self._rc_flush_before_ack:
            log.flush()  # the leader's own copy counts toward the majority
        self._rc_sent = (log[-1][1], self._SyncObj__raftCommitIndex)
        self._rc_commit_unsent_since = None
        SyncObj._SyncObj__sendAppendEntries(self)

    def _SyncObj__sendNextNodeIdx(self, node, reset=False, nextNodeIdx=None, success=False):  # PySyncObj's name
        if success and self._rc_flush_before_ack:
            self._SyncObj__raftLog.flush()  # acknowledge only what is on disk
        SyncObj._SyncObj__sendNextNodeIdx(self, node, reset=reset, nextNodeIdx=nextNodeIdx, success=success)

    def _SyncObj__getEntries(self, fromIDx, count=None, maxSizeBytes=None):  # PySyncObj's name
        # PySyncObj fills an append-entries batch until it *reaches* maxSizeBytes,
        # so a large entry after a small one went unchunked in one frame (as
        # large as the value). Stop before an entry that would overflow a
        # non-empty batch: a large entry then always travels alone, in
        # maxSizeBytes pieces, and frames stay under raft_wire.FRAME_MAX_BYTES.
        entries = SyncObj._SyncObj__getEntries(self, fromIDx, count, maxSizeBytes)
        if maxSizeBytes is None or len(entries) < 2:
            return entries
        total = 0
        for i, entry in enumerate(entries):
            total += len(entry[0])
            if total > maxSizeBytes and i > 0:
                return entries[:i]
        return entries

    def _SyncObj__deleteEntriesTo(self, toIDx):  # PySyncObj's name
        # Defence in depth for the item-7 failure mode: compacting past the end
        # of the log would leave it empty (IndexError on every tick).
        if toIDx > self._SyncObj__raftLog[-1][1]:
            logger.critical("log compaction to %d past the log end %d skipped", toIDx, self._SyncObj__raftLog[-1][1])
            return
        SyncObj._SyncObj__deleteEntriesTo(self, toIDx)

    # --- ticks: pre-vote and the own-stall grace (node/raft/elections.py), heartbeats ---

    def _onTick(self, timeToWait=0.0):  # noqa: N803 (PySyncObj's name)
        self._rc_thread = threading.get_ident()
        self.elections.after_run()   # the event loop (or the process) held since the last tick
        self.elections.pre_vote_step()
        super()._onTick(timeToWait)
        self.elections.after_run()   # this tick's apply

    def _SyncObj__onBecomeLeader(self):  # PySyncObj's name
        self.elections.became_leader()
        SyncObj._SyncObj__onBecomeLeader(self)

    def heartbeat_if_due(self) -> None:
        """Leader: send append-entries now if a heartbeat is due (node/pulse.py's beat: long
        work on the thread that ticks calls it, an apply inside a tick, a read between ticks).
        One entry that applies, or one read that runs, for seconds would otherwise hold every
        heartbeat until it ends and the followers would elect another leader meanwhile (they
        also learn the commit index from it, and apply a long entry alongside). On any node,
        the time stalled so far is credited to the connections first (ElectionGuard.credit_connections).
        Nothing on another thread (a read there must not touch PySyncObj). Never raises."""
        now = time.monotonic()
        if not self._on_tick_thread() or now < self._rc_beat_quiet_until:
            return
        try:
            self.elections.credit_connections(now)
            if self._SyncObj__raftState == _RAFT_STATE.LEADER and _ps_monotonic() > self._SyncObj__newAppendEntriesTime:
                self._SyncObj__sendAppendEntries()
        except Exception:   # noqa: BLE001 - never into apply: the entry would roll back here alone
            self._rc_beat_quiet_until = time.monotonic() + 1.0   # this path only; ticks send as usual
            logger.exception("sending a heartbeat during a long apply or read failed")

    # --- message handling -------------------------------------------------------

    def _SyncObj__onMessageReceived(self, node, message):
        if self._on_message(node, message) is True:
            self._rc_quiet += 1
        else:
            self._rc_loud += 1

    def took_only_quiet(self) -> bool:
        """Whether every message handled since the last call needs no tick after it (a
        ReadIndex request answered at once, a ReadIndex answer, an acknowledgement that changes
        nothing: _ack_changes_nothing), and there was at least one. Resets the count: the event loop asks after
        each Raft socket event (node/raft/replication.py)."""
        quiet = self._rc_quiet > 0 and self._rc_loud == 0
        self._rc_quiet = self._rc_loud = 0
        return quiet

    def _on_message(self, node, message) -> bool | None:
        """One peer message; True when it needs no tick after it (took_only_quiet)."""
        mtype = message.get("type") if isinstance(message, dict) else None
        if mtype == "append_entries" and message["term"] >= self._SyncObj__raftCurrentTerm:
            self.follower_log.on_append_entries(node, message)
        elif mtype == "append_entries":
            # Raft's reply to a stale leader carries our term (PySyncObj drops the
            # message silently): without it a node whose term rose past the
            # cluster's (e.g. one that campaigned while its peers were leaderless)
            # ignores the leader's heartbeats and, refused every pre-vote while that
            # leader lives, stays out of the cluster forever.
            self._SyncObj__transport.send(node, {"type": "rc_term", "term": self._SyncObj__raftCurrentTerm})
        elif mtype == "rc_term":
            self._on_higher_term(message["term"])
        elif mtype == "next_node_idx" and self._isLeader():
            self._on_next_node_idx(node, message)
            return self._ack_changes_nothing(node, message)
        elif mtype == "rc_pre_vote" and self._SyncObj__selfNode is not None:
            self.elections.on_pre_vote(node, message)
        elif mtype == "rc_pre_vote_response":
            self.elections.on_pre_vote_response(message)
        elif mtype in _PEER_REQUESTS:   # ReadIndex and forwarded writes: the Replicator's handlers
            # a ReadIndex answer carries the leader's commit index: a tick applies what it commits
            # here, asked for before the answer is handed on, so that the reads it answers find
            # that index applied when their turn comes
            learnt = mtype == "rc_read_index_reply" and self.follower_log.learn_commit(message.get("rc_commit"))
            if learnt and self.rc_tick_soon is not None:
                self.rc_tick_soon()
            handler = getattr(self, _PEER_REQUESTS[mtype])
            if handler is not None:   # (loud when learnt: the tick also for Raft on its own thread)
                return handler(node, message) and not learnt
        else:
            SyncObj._SyncObj__onMessageReceived(self, node, message)
        return None

    def _on_higher_term(self, term: int) -> None:
        """A peer answered our append-entries with a higher term: step down and
        adopt it (persisted first), so the next election includes that peer."""
        if term <= self._SyncObj__raftCurrentTerm:
            return
        was_leader = self._isLeader()
        logger.warning("a peer has term %d > ours (%d): %s", term, self._SyncObj__raftCurrentTerm,
                       "stepping down" if was_leader else "adopting it")
        self._SyncObj__setCurrentTerm(term, None)
        self._SyncObj__setState(_RAFT_STATE.FOLLOWER)
        if self._SyncObj__raftLeader is not None:
            self._SyncObj__raftLeader = None
            self._SyncObj__onLeaderChanged()
        self.stale_term_stepdowns += 1

    def _on_next_node_idx(self, node, message) -> None:
        next_idx = message["next_node_idx"]
        if message["success"]:
            # Acknowledgements of pipelined batches arrive in order but after
            # nextIndex has moved past them: only ever move both forward.
            if self._SyncObj__raftMatchIndex.get(node, 0) < next_idx - 1:
                self._SyncObj__raftMatchIndex[node] = next_idx - 1
            if self._SyncObj__raftNextIndex.get(node, 0) < next_idx:
                self._SyncObj__raftNextIndex[node] = next_idx
        elif message["reset"]:
            self._SyncObj__raftNextIndex[node] = next_idx  # the follower lacks or conflicts: back up
        self.member_versions[node] = message.get("rc_version", 1)  # nodes from before versions: 1
        now = _ps_monotonic()
        self._SyncObj__lastResponseTime[node] = now
        self.elections.answered(node)
        sent = message.get("rc_echo")
        if sent is not None:
            previous = self.ack_times.get(node)
            if previous is None or previous[0] != self._SyncObj__raftCurrentTerm or previous[1] < sent:
                self.ack_times[node] = (self._SyncObj__raftCurrentTerm, sent)

    def _ack_changes_nothing(self, node, message) -> bool:
        """Whether a follower's acknowledgement leaves a tick nothing to do: it cannot move the
        commit index (what it acknowledges is committed already: the second follower's answer to
        a lone write), the follower has been sent every entry, and nothing waits on
        acknowledgements (rc_acks_awaited). The timer's ticks still see it (step-down, lag)."""
        return (message["success"] is True
                and self._SyncObj__raftMatchIndex.get(node, 0) <= self._SyncObj__raftCommitIndex
                and self._SyncObj__raftNextIndex.get(node, 0) > self._SyncObj__raftLog[-1][1]
                and not self.rc_acks_awaited())
