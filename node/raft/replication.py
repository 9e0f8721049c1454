"""PySyncObj wiring: the one replicated entry point, durability, status.

Owns the `Replicator` (docs/interfaces.md) over `RaftNode` (node/raft/raftnode.py:
a `SyncObj` subclass with exactly one `@replicated` method taking encoded
entry bytes): the fsync policy of the Raft journal (our AOF), the leader-lease
and leader-contact clocks, what runs at the end of each tick, and the wiring
of its parts: PySyncObj's settings (syncobj_conf.py), proposals in flight
(proposals.py), snapshots (snapshots.py), ReadIndex (readindex.py), writes
forwarded on the Raft link (forwards.py), leadership transfer (transfer.py),
the members' states (members.py). Must not touch: protocol parsing, lmdb
(snapshots go through the injected `SnapshotHooks`), the command set.

Durability (`ReplicationConfig.appendfsync`), like Redis's appendfsync:

* ``always`` — group commit. The journal is flushed (msync + fsync) before a
  follower acknowledges entries and before the leader sends (and thereby
  counts toward a majority) its own new entries. An acknowledged write is on
  stable storage on a majority: it survives power loss of every node.
* ``everysec`` (default) — the journal is flushed at most once a second from
  the Raft thread. An acknowledged write survives kill -9 of any number of
  processes (it is in the page cache) and a power loss of a minority; a power
  loss of a majority within the same second can lose up to ~1 s of writes.
* ``no`` — the OS writes the journal back when it likes (typically within
  30 s). Same as everysec for process crashes; a majority power loss can
  lose more.

In every policy term and votedFor are fsynced (tmp + fsync + rename + dir
fsync) before PySyncObj uses them, and snapshot files are fsynced and their
rename made durable before the journal is compacted (node/raft/journal.py).

Threading: either PySyncObj's own tick thread (`start()`), or the node's
event loop (`start(on_loop=True)` then `attach_loop(loop)`: node/raft/loop_driver.py,
what the server runs): the loop watches the Raft sockets and runs the ticks,
so a node is one thread and nothing of a write crosses threads. Whichever
runs them, ticks do networking, journal writes, apply, callbacks and
snapshots and must not block ("the Raft thread" below). With the thread,
`propose` and the read-only properties are safe from any thread; they rely
on CPython's atomic dict/deque/list operations rather than locks, so the
tick thread never waits on a caller. On the loop, call them on the loop.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import time
from typing import Callable, Sequence

from pysyncobj.config import FAIL_REASON
from pysyncobj.pipe_notifier import PipeNotifier
from pysyncobj.syncobj import SyncObjException

from raftcache.node.raft import journal as _journal
from raftcache.node.raft.loop_driver import LoopDriver, LoopPoller
from raftcache.node.raft.raftnode import RaftNode
from raftcache.node.raft.forwards import ForwardCallback, RaftForwards
from raftcache.node.raft.members import MemberState, all_support, member_states
from raftcache.node.raft.proposals import ProposeCallback, Proposals, failure
from raftcache.node.raft.readindex import ReadIndex
from raftcache.node.raft.snapshots import SnapshotFiles, SnapshotHooks
from raftcache.node.raft.syncobj_conf import syncobj_conf
from raftcache.node.raft.transfer import LeadershipTransfer
from raftcache.node.raft.watch import RaftWatch
from raftcache.node.config import Peer, ReplicationConfig
from raftcache.node.errors import (
    NotLeaderError,
    RaftcacheError,
    UnavailableError,
)

logger = logging.getLogger(__name__)

__all__ = ["MemberState", "Replicator", "SnapshotHooks", "JOURNAL_NAME", "SNAPSHOT_NAME"]

JOURNAL_NAME = "raft.journal"     # in ReplicationConfig.data_dir; its meta is raft.journal.meta
SNAPSHOT_NAME = "raft.snapshot"   # PySyncObj's fullDumpFile
#: On the event loop, the longest one tick applies committed entries before it lets the loop serve.
APPLY_BUDGET_S = 0.01
#: On the event loop, how long the leader holds back an append-entries that would only carry a
#: new commit index (followers apply that much later at most; the next batch's entries usually
#: carry it first). Sent, it asks for no acknowledgement (RaftNode.send_commit_notice).
COMMIT_NOTICE_S = 0.002

class Replicator:
    """Raft replication of opaque entries through PySyncObj (docs/interfaces.md).

    Parameters:
        config: this component's configuration (validated here).
        me: this node; its Raft port is bound on `me.host` only.
        members: every voting member, `me` included.
        apply: `apply(index, data) -> result`, called on the Raft thread for
            every committed entry, in order; it must not raise for a semantic
            failure (an exception stops this node's progress, docs/design.md, PySyncObj note 4).
        snapshot: keyspace hooks for log compaction and snapshot install.
        on_fatal: called once, on the Raft thread, when `apply` raises; the
            node then makes no further progress (replicas must never diverge).
            Default: log it.
    """

    def __init__(self, config: ReplicationConfig, me: Peer, members: Sequence[Peer],
                 apply: Callable[[int, bytes], object], snapshot: SnapshotHooks,
                 on_fatal: Callable[[BaseException], None] | None = None, readonly: bool = False,
                 join: bool = False, max_version: int = 1, peer_tls=None):
        config.validate()
        self._peer_tls = peer_tls   # node/raft/peer_tls.PeerTls: the Raft port speaks mutual TLS
        if not readonly and me.id not in {p.id for p in members}:
            raise RaftcacheError(f"{me.id} is not one of the members")
        # readonly: a non-voting read replica (PySyncObj's SyncObj(None, members)):
        # it follows the log, never votes or stands, and is not counted in a quorum.
        self.readonly = readonly
        # join: this node is being added to a running cluster. While its log is
        # empty it does not stand for election (it could not win, and its
        # ever higher terms would depose the leader once it is added: PySyncObj
        # has no pre-vote); it waits for the leader to contact it.
        self._join_wait = join
        self._tick_calls: collections.deque[Callable[[], None]] = collections.deque()
        #: Leadership handed to another voter (node/raft/transfer.py), one at a time.
        self._transfers = LeadershipTransfer(config.election_timeout_min_s, self._peer_id, self._tick_calls.append)
        self._first_index = 0
        self.config = config
        self.me = me
        self._members = tuple(members)
        self._apply = apply
        self.max_version = max_version  # newest log semantics version `apply` supports
        self._on_fatal = on_fatal
        self._id_by_address = {p.address("raft"): p.id for p in members}
        self._node: RaftNode | None = None
        self._notifier: PipeNotifier | None = None
        self._driver: LoopDriver | None = None    # set when the event loop runs the ticks
        self._loop_poller: LoopPoller | None = None
        self._proposals = Proposals(config.proposal_timeout_s)   # in flight: callbacks and deadlines
        self._reads = ReadIndex()
        self._forwards = RaftForwards()
        self._last_everysec_flush = time.monotonic()
        self._last_index = 0
        self.fatal_error: BaseException | None = None
        #: Latency events and progress lines (node/raft/watch.py); the server gives it the node's monitor.
        self.watch = RaftWatch(me=me.id)
        self._snapshots = SnapshotFiles(snapshot, self.watch, os.path.join(config.data_dir, SNAPSHOT_NAME))

    # --- lifecycle ------------------------------------------------------------

    def start(self, on_loop: bool = False) -> None:
        """Open the journal, bind the Raft port and start the tick thread.

        Call from the main thread: PySyncObj's tick thread stops when the
        thread that created it dies. Raises RaftcacheError when the Raft
        port cannot be bound. `on_loop`: no tick thread; nothing ticks until
        `attach_loop` hands the node to an event loop.
        """
        if self._node is not None:
            raise RaftcacheError("replicator already started")
        cfg = self.config
        os.makedirs(cfg.data_dir, exist_ok=True)
        _journal.install_durable_journal()
        snapshot_path = self._snapshots.path
        conf = syncobj_conf(cfg, self.me.address("raft"), os.path.join(cfg.data_dir, JOURNAL_NAME), snapshot_path,
                            lambda path, raft_state: self._snapshots.write(path, raft_state, self.term),
                            lambda path: self._snapshots.read(path, self.term), on_loop)
        others = [p.address("raft") for p in self._members if p.id != self.me.id]
        self._loop_poller = LoopPoller() if on_loop else None
        try:
            node = RaftNode(
                None if self.readonly else self.me.address("raft"), others, conf,
                apply=self.watch.wrap_apply(self._apply), on_fatal=self._fatal,
                flush_before_ack=cfg.appendfsync == "always", peer_limits=cfg, max_version=self.max_version,
                peer_tls=self._peer_tls, poller=self._loop_poller,
                apply_budget_s=APPLY_BUDGET_S if on_loop else None,
            )
        except SyncObjException as exc:   # on_loop: PySyncObj binds while it is constructed
            raise RaftcacheError(f"cannot bind the Raft port {self.me.address('raft')}") from exc
        if self._join_wait and (node.raft_log[-1][1] > 1 or os.path.exists(snapshot_path)):
            self._join_wait = False  # it has a log: an ordinary restart
        self._node = node
        node.rc_on_read_index = lambda peer, message: self._reads.on_request(node, peer, message,
                                                                              self.lease_read_index)
        node.rc_on_read_index_reply = self._reads.on_reply
        node.rc_acks_awaited = lambda: self._reads.awaits_acks or self._transfers.in_progress
        if on_loop:   # forwarded writes over the Raft connection need the loop's thread (forwards.py)
            node.rc_on_forward = lambda peer, message: self._forwards.on_request(node, peer, message)
            node.rc_on_forward_reply = self._forwards.on_reply
            node.rc_serves_forwards = self._forwards.handler is not None
        node.rc_on_snapshot_piece = self.watch.snapshot_received
        if hasattr(node.raft_log, "on_flush"):   # the durable journal: every fsync, whatever the policy
            node.raft_log.on_flush = self.watch.fsync_done
        node.addOnTickCallback(self._on_tick)
        if on_loop:
            self._driver = LoopDriver(lambda: node._onTick(0), lambda: node.apply_behind, cfg.tick_s)
            node.rc_tick_soon = self._driver.soon
            self._loop_poller.on_event = self._after_raft_event
            return  # bound already (SyncObj.__init__ does it without a tick thread)
        if self.readonly:
            return  # binds nothing (and PySyncObj never signals "bound" for it)
        try:
            node.waitBinded()
        except SyncObjException as exc:
            node.destroy()
            raise RaftcacheError(f"cannot bind the Raft port {self.me.address('raft')}") from exc

    def _after_raft_event(self) -> None:
        """The loop dispatched a Raft socket event: a tick in the next iteration, unless the
        event only carried messages that need none (a follower's ReadIndex answer, a read
        index the leader answered at once, an acknowledgement that changes nothing:
        RaftNode.took_only_quiet). The timer's ticks go on."""
        if not self._node.took_only_quiet():
            self._driver.soon()

    def attach_loop(self, loop) -> None:
        """After `start(on_loop=True)`: the event loop watches the Raft sockets and runs the
        ticks from now on (call on that loop, before serving)."""
        if self._driver is None:
            raise RaftcacheError("replicator not started on_loop")
        self._loop_poller.attach(loop)
        self._driver.attach(loop)

    @property
    def on_loop(self) -> bool:
        """The event loop runs the ticks (one thread per node)."""
        return self._driver is not None

    def close(self) -> None:
        """Stop the tick thread, flush and close the journal. Pending proposals fail."""
        node, self._node = self._node, None
        if node is None:
            return
        if self._driver is not None:
            self._driver.close()
            node.destroy()   # without a tick thread it closes the sockets and the journal now
            self._loop_poller.detach()
        else:
            node.destroy_synchronous()
        self._reads.close()
        self._forwards.close()
        self._proposals.fail_all(lambda: UnavailableError("replicator closed"))

    # --- proposals ------------------------------------------------------------

    def propose(self, data: bytes, callback: ProposeCallback) -> None:
        """Replicate `data`; `callback(result, index, error)` reports the outcome once.

        Thread-safe. The callback runs on the Raft thread once the entry is
        applied locally (error None), or with UnavailableError / NotLeaderError
        (not applied: safe to retry) or DeadlineError (outcome unknown; also
        after `proposal_timeout_s`). A proposal rejected before it is queued
        (not the leader, queue full) calls back on the caller's thread.
        """
        node = self._node
        if node is None:
            callback(None, 0, UnavailableError("replicator not started"))
            return
        if not node._isLeader():
            callback(None, 0, NotLeaderError(f"leader is {self.leader_id}"))
            return
        if self._transfers.in_progress:
            # Raft thesis 3.10: no new entries while leadership is handed over,
            # so that the target can catch up; callers retry (the service does).
            callback(None, 0, NotLeaderError("leadership transfer in progress"))
            return
        pid = self._proposals.add(self.watch.wrap_commit(callback))
        node.apply_entry(data, callback=functools.partial(self._proposals.answer, pid))
        if self._driver is not None:
            self._driver.send_soon(self._send_proposals)   # the turn's proposals together, no tick
        else:
            self._wake()

    def _send_proposals(self) -> None:
        """On the loop, once per turn with proposals: append and send them (RaftNode.append_and_send),
        or ask for a tick when that cannot be done here."""
        node = self._node
        if node is not None and not node.append_and_send():
            self._wake()

    def read_index(self, callback: ProposeCallback, timeout_s: float, lease: bool = False) -> None:
        """ReadIndex (node/raft/readindex.py): `callback(None, index, error)` once, with the index a
        reader must have applied to see every write acknowledged before this call: on the
        leader after a heartbeat round confirmed it still leads (`lease`: from its lease when
        it holds one), on a follower as the leader answers it over the Raft connection.
        Writes nothing to the log.

        Thread-safe; the callback runs on the Raft thread. Errors: NotLeaderError (the
        leader changed: retry), UnavailableError (no leader, or not confirmed within
        `timeout_s`), ReadIndexUnsupported (the leader is of an older release).
        """
        node = self._node
        if node is None:
            callback(None, 0, UnavailableError("replicator not started"))
            return
        if self._driver is not None and not node._isLeader():
            # on the event loop a follower asks the leader now rather than from the next tick
            self._reads.ask(node, callback, time.monotonic() + timeout_s, lease)
            return
        self._reads.request(callback, time.monotonic() + timeout_s, lease)
        self._wake()

    def forward(self, data: bytes, timeout_s: float, callback: ForwardCallback) -> bool:
        """Follower with Raft on the event loop: send the leader `data` (a serialized RequestBatch
        of forwarded writes) over the Raft connection (node/raft/forwards.py); `callback(reply,
        error)` runs once, on the loop. False when nothing was sent (no leader, a leader that does
        not answer rc_forward, a batch too large, Raft off the loop): send it over gRPC."""
        node = self._node
        if node is None or self._driver is None:
            return False
        return self._forwards.ask(node, data, time.monotonic() + timeout_s, callback)

    def serve_forwards(self, handler) -> None:
        """As leader, run followers' forwarded batches with `handler(data, reply)` (it calls
        `reply(reply_bytes, error)` once, on the loop); only with Raft on the event loop."""
        self._forwards.handler = handler
        if self._node is not None and self._driver is not None:
            self._node.rc_serves_forwards = True

    @property
    def peer_request_counts(self) -> dict[str, int]:
        """ReadIndex heartbeat rounds started and followers' requests answered (and how many of
        those without a round: readindex.py), as leader; batches of forwarded writes sent over
        the Raft connection (as follower) and answered (as leader); commit notices sent (as
        leader: append-entries that carried only a commit index no entries carried in time);
        commit indexes taken from the leader's answers (as follower: FollowerLog.learn_commit)."""
        node = self._node
        return {"read_index_heartbeat_rounds": self._reads.rounds, "read_index_served": self._reads.served,
                "read_index_vouched": self._reads.vouched,
                "raft_forward_batches_sent": self._forwards.sent, "raft_forward_batches_served": self._forwards.served,
                "raft_commit_notices": node.rc_commit_notices if node is not None else 0,
                "raft_commits_learnt": node.follower_log.commits_learnt if node is not None else 0}

    @property
    def read_index_at_once(self) -> bool:
        """A follower whose ReadIndex requests the leader answers without a round: it and the
        leader are a majority of the voters (node/raft/readindex.py). Any thread."""
        node = self._node
        if node is None or node._isLeader():
            return False
        leader = node.leader_node
        return leader is not None and node.majority_with(leader)

    def lease_read_index(self) -> int | None:
        """The read index this leader answers from its lease, without a heartbeat round: its
        commit index while lease_valid() and once it committed an entry of its term; None
        otherwise (then ask read_index). Any thread."""
        if not self.lease_valid():
            return None
        return self._reads.ready_index(self._node)

    def _wake(self) -> None:
        driver = self._driver
        if driver is not None:
            driver.soon()  # a tick in the next loop iteration (one for every request of this turn)
            return
        notifier = self._notifier
        if notifier is not None:
            try:
                notifier.notify()  # wake the tick thread now rather than after tick_s
            except BlockingIOError:
                pass  # pipe full: the tick thread has plenty of wake-ups pending

    # --- membership (one change at a time; call on the leader) -------------------

    def add_member(self, peer: Peer, callback: Callable[["RaftcacheError | None"], None]) -> None:
        """Add a voting member; callback(None) once the change is committed.

        Start the new node with the full new member list first. The leader
        refuses (UnavailableError) while another change is pending.
        """
        self._id_by_address[peer.address("raft")] = peer.id
        self._change_membership(self._require_node().addNodeToCluster, peer, callback)

    def remove_member(self, peer: Peer, callback: Callable[["RaftcacheError | None"], None]) -> None:
        """Remove a voting member; callback(None) once the change is committed."""
        self._change_membership(self._require_node().removeNodeFromCluster, peer, callback)

    def _change_membership(self, change, peer: Peer, callback) -> None:
        def done(_result, reason):
            callback(None if reason == FAIL_REASON.SUCCESS else failure(reason))
        change(peer.address("raft"), callback=done)

    def register_peer(self, peer: Peer) -> None:
        """Name a member this node learnt of after start (leader_id reports its id)."""
        self._id_by_address[peer.address("raft")] = peer.id

    def voter_addresses(self) -> list[str]:
        """Raft addresses of the current voting members as this node's log has them."""
        node = self._node
        if node is None:
            return [p.address("raft") for p in self._members]
        own = [] if self.readonly else [self.me.address("raft")]
        return own + sorted(n.address for n in node.otherNodes)

    @property
    def replicas_connected(self) -> int:
        """Read replicas connected to this node (they connect to every voter)."""
        node = self._node
        return 0 if node is None else len(node.readonlyNodes)

    @property
    def first_index(self) -> int:
        """Index of the first entry of the local log (grows with log compaction)."""
        return self._first_index

    def force_compaction(self) -> None:
        """Take a snapshot and compact the log at the next tick (any thread).

        Used before adding a member: the new node then catches up through a
        snapshot (which carries a restored keyspace) and then the log.
        """
        node = self._require_node()
        node.forceLogCompaction()

    def transfer_leadership(self, target: Peer | None, timeout_s: float,
                            callback: Callable[[str | None, "RaftcacheError | None"], None]) -> None:
        """Hand leadership to `target` (None: the most caught-up connected voter).

        Call on the leader. New proposals are refused (NotLeaderError, which
        the service retries) while the target catches up; then it is sent
        Raft's TimeoutNow. `callback(new_leader_id, error)` runs on the Raft
        thread once another node leads, or with UnavailableError after
        `timeout_s`.
        """
        node = self._require_node()
        if not node._isLeader():
            callback(None, NotLeaderError(f"not the leader; leader is {self.leader_id}"))
            return
        address = None if target is None else target.address("raft")
        self._tick_calls.append(lambda: self._transfers.start(node, address, timeout_s, callback))

    def _require_node(self) -> RaftNode:
        if self._node is None:
            raise UnavailableError("replicator not started")
        return self._node

    # --- the tick thread ------------------------------------------------------

    def _on_tick(self) -> None:
        """End of every tick, on the Raft thread: wake-ups, eager append-entries,
        everysec flush, proposal deadlines."""
        node = self._node
        if node is None:
            return
        if self._notifier is None and self._driver is None:
            # Created here so the poller is only ever touched by its own thread.
            self._notifier = PipeNotifier(node._poller)
        if self._join_wait:
            if node.last_leader_contact is not None:
                self._join_wait = False
            else:
                node.postpone_election()
        calls = self._tick_calls
        for _ in range(len(calls)):
            calls.popleft()()
        if self._transfers.in_progress:
            self._transfers.step(node)
        self._reads.step(node, self.lease_read_index)
        self._forwards.step(node, time.monotonic())
        driver = self._driver
        if driver is None:
            node.send_if_new_entries()
        elif node.send_if_new_entries(commit_only=False):
            # Only the commit index moved: tell the followers COMMIT_NOTICE_S later, unless the
            # next batch's append-entries carries it first (at -P 1 it nearly always does).
            driver.later(COMMIT_NOTICE_S, self._commit_notice)
        self._first_index = node.raft_log[0][1]
        if self.config.appendfsync == "everysec":
            now = time.monotonic()
            if now - self._last_everysec_flush >= 1.0:
                self._last_everysec_flush = now
                node.raft_log.flush()
        self._last_index = node.raft_log[-1][1]
        self._proposals.expire()
        self.watch.tick(self._peer_id(node._getLeader()), node.raftCurrentTerm, node.raftCommitIndex,
                        node.raftLastApplied, node.last_leader_contact)

    def _commit_notice(self) -> None:
        """COMMIT_NOTICE_S after the commit index moved with no entries to carry it: tell the
        followers, unless an append-entries told them since; if it moved again after that,
        wait until that index has waited COMMIT_NOTICE_S (the bound each commit index keeps)."""
        node, driver = self._node, self._driver
        if node is None or driver is None:
            return
        due_in = node.commit_notice_due_in(COMMIT_NOTICE_S)
        if due_in is None:
            return
        if due_in > 0:
            driver.later(due_in, self._commit_notice)
            return
        node.send_commit_notice()

    def _fatal(self, exc: BaseException) -> None:
        if self.fatal_error is not None:
            return
        self.fatal_error = exc
        logger.critical("apply failed; this node stops applying entries", exc_info=exc)
        if self._on_fatal is not None:
            self._on_fatal(exc)

    def counters(self) -> dict:
        """Raft activity for /status and /metrics (any thread: it reads copies): proposals
        waiting for their commit, elections this node started, snapshot timings and the
        journal's fsync latency (node/latency.py snapshot; None without a file journal)."""
        node = self._node
        fsync = getattr(node.raft_log, "fsync_latency", None) if node is not None else None
        return {
            "proposals_in_flight": len(self._proposals),
            "elections_started": node.elections_started if node is not None else 0,
            "snapshots": self._snapshots.timings(),
            "fsync": fsync.snapshot() if fsync is not None else None,
        }

    # --- status (cheap, any thread) ---------------------------------------------

    def _peer_id(self, node) -> str | None:
        if node is None:
            return None
        return self._id_by_address.get(node.address, node.address)

    @property
    def is_leader(self) -> bool:
        node = self._node
        return node is not None and node._isLeader()

    @property
    def leader_id(self) -> str | None:
        node = self._node
        return None if node is None else self._peer_id(node._getLeader())

    @property
    def term(self) -> int:
        node = self._node
        return 0 if node is None else node.raftCurrentTerm

    @property
    def commit_index(self) -> int:
        node = self._node
        return 0 if node is None else node.raftCommitIndex

    @property
    def applied_index(self) -> int:
        node = self._node
        return 0 if node is None else node.raftLastApplied

    @property
    def last_index(self) -> int:
        """Index of the last entry in the local log (refreshed every tick)."""
        return self._last_index

    def last_leader_contact_s(self) -> float:
        """Seconds since this node accepted append-entries from a leader; 0.0 on
        the leader, +inf when it never has."""
        node = self._node
        if node is None:
            return float("inf")
        if node._isLeader():
            return 0.0
        last = node.last_leader_contact
        return float("inf") if last is None else max(0.0, time.monotonic() - last)

    def heartbeat_if_due(self) -> None:
        """Leader: send a heartbeat now if one is due (RaftNode.heartbeat_if_due): what
        node/pulse.py's beat does in a node, from long applies and reads."""
        node = self._node
        if node is not None:
            node.heartbeat_if_due()

    def lease_valid(self) -> bool:
        """Leader, and a majority (itself included) acknowledged append-entries
        that this node *sent* within the last election_timeout_min_s × (1 −
        lease_drift): the drift share is what a lease gives up so that it ends
        before any follower's election timeout can, even if the two clocks run
        at rates that differ by up to that share.

        Counted from our own send times echoed back (RaftNode), so a leader
        that was paused or cut off cannot renew its lease with replies that
        were queued meanwhile. RaftNode's pre-vote makes followers that heard
        from this leader within that time refuse to help elect another, so
        the lease holds unless clocks drift apart faster than lease_drift (the
        "lease" read level of docs/design.md, not a proof of leadership). No lease
        while leadership is being handed over: the target may already lead.
        """
        node = self._node
        if node is None or not node._isLeader() or self._transfers.in_progress:
            return False
        cfg = self.config
        return node.quorum_ack_time() > time.monotonic() - cfg.election_timeout_min_s * (1 - cfg.lease_drift)

    def quorum_contact_s(self) -> float:
        """On the leader: seconds since a majority of the voters (itself included)
        last acknowledged append-entries, counted from when this node sent what
        they acknowledged (as lease_valid). 0.0 for a single voter; +inf on a
        non-leader or before a majority ever answered in this term."""
        node = self._node
        if node is None or not node._isLeader():
            return float("inf")
        return max(0.0, time.monotonic() - node.quorum_ack_time())

    def members_status(self) -> list[MemberState]:
        """Every voting member as this node sees it; match_index and the others'
        versions on the leader only (node/raft/members.py)."""
        node = self._node
        if node is None:
            return []
        leader = node._isLeader()
        own = None if self.readonly else MemberState(
            self.me.id, self.me.address("raft"), True, self._last_index if leader else None,
            is_self=True, max_version=self.max_version)
        return member_states(node, leader, own, self._peer_id)

    def members_support(self, version: int) -> bool:
        """On the leader: every other voter and read replica has reported (in its
        acknowledgements) that it supports log semantics `version`."""
        node = self._node
        return node is not None and node._isLeader() and self.max_version >= version and all_support(node, version)

    @property
    def snapshot_bytes(self) -> int:
        """Size of this node's latest snapshot file (what a new or lagging follower is sent); 0: none."""
        return self._snapshots.size_bytes

    @property
    def waiting_to_join(self) -> bool:
        """Started with --join and not yet contacted by a leader (it does not campaign)."""
        return self._join_wait

    @property
    def apply_blocked(self) -> str:
        """Why this node applies nothing right now ("" when it does): an entry that
        needs a newer binary (see UpgradeRequiredError)."""
        node = self._node
        blocked = None if node is None else node.apply_blocked
        return "" if blocked is None else blocked.message
