"""Regression test for PySyncObj's follower log-truncation bug (docs/design.md, PySyncObj note 7).

A follower that receives an overlapping (re-sent) append_entries batch must
truncate only from the first conflicting entry (Raft paper, Figure 2), and a
leader must never move nextIndex backwards on a success acknowledgement.
PySyncObj 0.3.17's handler truncates everything after prevLogIdx: entries the
follower had acknowledged disappear, and if a log compaction completes in that
window the in-memory log becomes empty and every tick raises IndexError.

The nodes here are built with autoTick=False and a fake transport that only
records what is sent: no sockets, no threads. Each test also runs against the
unpatched PySyncObj handler, where it must fail (strict xfail), which shows it
detects the bug.
"""

from __future__ import annotations

import pysyncobj.pickle as ps_pickle
import pytest

from raftcache.localcluster import wait_until
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.node import TCPNode
from pysyncobj.transport import Transport

from raftcache.node.raft import journal
from raftcache.node.raft.raftnode import RaftNode

SELF, PEER = "127.0.0.1:10003", "127.0.0.1:10013"


class FakeTransport(Transport):
    """Records every message; never connects anything."""

    def __init__(self, syncObj, selfNode, otherNodes):  # noqa: N803 (PySyncObj's signature)
        super().__init__(syncObj, selfNode, otherNodes)
        self.sent: list[tuple[object, dict]] = []

    def send(self, node, message):
        self.sent.append((node, message))
        return True


class UnpatchedNode(RaftNode):
    """RaftNode with PySyncObj's own append_entries / next_node_idx handling."""

    _SyncObj__onMessageReceived = SyncObj._SyncObj__onMessageReceived
    _SyncObj__deleteEntriesTo = SyncObj._SyncObj__deleteEntriesTo


_UNPATCHED = pytest.param(UnpatchedNode, marks=pytest.mark.xfail(
    run=True, strict=True, raises=(AssertionError, IndexError), reason="PySyncObj 0.3.17's own handler has the truncation bug"))


class Hooks:
    def __init__(self):
        self.applied = 0

    @property
    def applied_index(self) -> int:
        return self.applied

    def save(self, path: str) -> int:
        with open(path, "wb") as f:
            f.write(b"keyspace")
        return self.applied

    def load(self, path: str) -> None:
        raise AssertionError("a node ahead of the snapshot must keep its keyspace")


def entry(index: int, term: int) -> tuple[bytes, int, int]:
    """A log entry as PySyncObj stores it: a regular call of method 0 (apply_entry)."""
    return b"\x00" + ps_pickle.dumps((0, (b"e%d" % index,))), index, term


def make_node(tmp_path, cls=RaftNode):
    journal.install_durable_journal()
    hooks = Hooks()
    applied: list[int] = []

    def apply(index, data):
        assert data == b"e%d" % index
        applied.append(index)
        hooks.applied = index
        return index

    snapshot = str(tmp_path / "raft.snapshot")
    conf = SyncObjConf(
        autoTick=False, dynamicMembershipChange=True, useFork=False,
        journalFile=str(tmp_path / "raft.journal"), fullDumpFile=snapshot,
        serializer=lambda path, state: journal.write_snapshot(path, state, hooks.save),
        deserializer=lambda path: journal.read_snapshot(path, lambda: hooks.applied, hooks.load),
        logCompactionMinEntries=10**9, logCompactionMinTime=10**9,
    )
    node = cls(SELF, [PEER], conf, apply=apply, transport_class=FakeTransport)
    return node, node._SyncObj__transport, applied


def append_entries(node, leader, prev: tuple[int, int], entries, commit: int, term: int = 1):
    node._SyncObj__onMessageReceived(leader, {
        "type": "append_entries", "term": term, "commit_index": commit,
        "entries": entries, "prevLogIdx": prev[0], "prevLogTerm": prev[1],
    })


def log_entries(node) -> list[tuple]:
    return list(node.raft_log[:])


@pytest.mark.parametrize("cls", [RaftNode, _UNPATCHED])
def test_overlapping_batch_around_compaction_loses_nothing(tmp_path, cls):
    node, transport, applied = make_node(tmp_path, cls)
    leader = TCPNode(PEER)
    leader_log = [entry(1, 0)] + [entry(i, 1) for i in range(2, 23)]

    def acked() -> int:
        """Highest index the follower acknowledged."""
        oks = [m["next_node_idx"] - 1 for _, m in transport.sent if m["type"] == "next_node_idx" and m["success"]]
        return max(oks, default=0)

    # Two pipelined batches, both acknowledged; the second commits 20.
    append_entries(node, leader, (1, 0), leader_log[1:10], commit=1)    # 2..10
    append_entries(node, leader, (10, 1), leader_log[10:20], commit=20)  # 11..20
    assert acked() == 20
    node.doTick(0)
    assert node.raftLastApplied == 20

    # A log compaction starts…
    node.forceLogCompaction()
    node.doTick(0)
    # …and, before it completes, the leader re-sends a shorter batch starting
    # at 11 (its nextIndex moved back when the first acknowledgement arrived).
    append_entries(node, leader, (10, 1), leader_log[10:15], commit=20)  # 11..15
    # The compaction completes: entries up to 19 are dropped. (RaftNode writes
    # snapshots on a thread: tick until it is done; SyncObj's own is synchronous.)
    wait_until(lambda: node.doTick(0) or node.raft_log[0][1] > 1 or cls is not RaftNode, 10, "the log compaction")

    # Every entry the follower acknowledged is still there (or in the snapshot).
    first = node.raft_log[0][1]
    assert first <= 19
    assert node.raft_log[-1][1] >= acked() == 20
    # New entries keep flowing, with no IndexError.
    append_entries(node, leader, (20, 1), leader_log[20:22], commit=22)  # 21..22
    node.doTick(0)
    assert log_entries(node) == leader_log[first - 1:22]
    assert node.raftCommitIndex == 22 and node.raftLastApplied == 22
    assert applied == list(range(2, 23))  # each entry applied once, in order


@pytest.mark.parametrize("cls", [RaftNode, _UNPATCHED])
def test_success_ack_never_moves_next_index_backwards(tmp_path, cls):
    node, _transport, _applied = make_node(tmp_path, cls)
    peer = next(iter(node.otherNodes))
    node._SyncObj__setCurrentTerm(1, None)
    node._SyncObj__onBecomeLeader()  # appends its no-op at 2; nothing is connected
    for i in range(3, 21):
        node.raft_log.add(*entry(i, 1))
    next_index, match_index = node._SyncObj__raftNextIndex, node.match_index
    next_index[peer] = 21  # batches 2..10 and 11..20 are in flight

    def ack(next_idx, success=True, reset=False):
        node._SyncObj__onMessageReceived(peer, {
            "type": "next_node_idx", "next_node_idx": next_idx, "success": success, "reset": reset})

    ack(11)  # the first batch's acknowledgement arrives
    assert (match_index[peer], next_index[peer]) == (10, 21)
    ack(21)
    assert (match_index[peer], next_index[peer]) == (20, 21)
    ack(11)  # a late duplicate
    assert (match_index[peer], next_index[peer]) == (20, 21)
    ack(5, success=False, reset=True)  # a real mismatch still backs nextIndex up
    assert next_index[peer] == 5


def test_conflicting_tail_is_replaced_and_never_committed(tmp_path):
    node, _transport, applied = make_node(tmp_path)
    old_leader, new_leader = TCPNode(PEER), TCPNode("127.0.0.1:10023")
    # From a deposed leader (term 1): 2..8, of which only 2..4 were committed.
    append_entries(node, old_leader, (1, 0), [entry(i, 1) for i in range(2, 9)], commit=4)
    node.doTick(0)
    assert applied == [2, 3, 4]
    # The new leader (term 2) has 2..5 from term 1 and writes 6.. in term 2. Its
    # heartbeat proves only the prefix up to 5, so the stale 6..8 must not be
    # committed even though its commit index says 7.
    append_entries(node, new_leader, (5, 1), [], commit=7, term=2)
    node.doTick(0)
    assert node.raftCommitIndex == 5 and applied == [2, 3, 4, 5]
    # A batch that matches up to 5 and conflicts from 6: truncate from 6 only.
    append_entries(node, new_leader, (4, 1), [entry(5, 1), entry(6, 2), entry(7, 2)], commit=7, term=2)
    node.doTick(0)
    assert log_entries(node)[1:] == [entry(i, 1) for i in range(2, 6)] + [entry(6, 2), entry(7, 2)]
    assert node.raftCommitIndex == 7 and applied == [2, 3, 4, 5, 6, 7]


def test_a_long_conflicting_tail_is_skipped_in_one_round_trip(tmp_path):
    """A deposed leader's follower with a long uncommitted tail asks the new
    leader to resume just past its commit index, not one entry further back
    per round trip (which livelocked against the leader's pipelined sends)."""
    node, transport, applied = make_node(tmp_path)
    old_leader, new_leader = TCPNode(PEER), TCPNode("127.0.0.1:10023")
    append_entries(node, old_leader, (1, 0), [entry(i, 1) for i in range(2, 501)], commit=10)
    node.doTick(0)
    assert node.raftCommitIndex == 10
    transport.sent.clear()
    # The new leader (term 2) rewrote everything after 10; its probe at 400 conflicts.
    append_entries(node, new_leader, (400, 2), [], commit=12, term=2)
    replies = [m for _, m in transport.sent if m["type"] == "next_node_idx"]
    assert replies[-1]["reset"] and not replies[-1]["success"]
    assert replies[-1]["next_node_idx"] == 11
    # From there one batch repairs the log.
    append_entries(node, new_leader, (10, 1), [entry(11, 2), entry(12, 2)], commit=12, term=2)
    node.doTick(0)
    assert log_entries(node)[-1] == entry(12, 2) and len(log_entries(node)) == 12
    assert applied[-2:] == [11, 12]


def test_a_missing_prev_entry_also_resumes_past_the_commit_index(tmp_path):
    """Pipelined append-entries beyond our log must not push the leader back
    past a conflict we reported: both rejections name the same point."""
    node, transport, _applied = make_node(tmp_path)
    old_leader, new_leader = TCPNode(PEER), TCPNode("127.0.0.1:10023")
    append_entries(node, old_leader, (1, 0), [entry(i, 1) for i in range(2, 101)], commit=40)
    node.doTick(0)
    transport.sent.clear()
    append_entries(node, new_leader, (100, 2), [], commit=150, term=2)   # conflicts at 100
    append_entries(node, new_leader, (700, 2), [], commit=150, term=2)   # beyond our log
    replies = [m["next_node_idx"] for _, m in transport.sent if m["type"] == "next_node_idx"]
    assert replies == [41, 41]


def test_a_power_cut_after_a_replaced_tail_applies_nothing_uncommitted(tmp_path):
    """A follower replaces a deposed leader's uncommitted tail, learns a commit index over the
    new entries, and its meta file is stored before the journal's next flush; the power goes
    (the journal back to its last flush). The restart must not apply the old tail."""
    node, _transport, applied = make_node(tmp_path)
    old_leader, new_leader = TCPNode(PEER), TCPNode("127.0.0.1:10023")
    append_entries(node, old_leader, (1, 0), [entry(i, 1) for i in range(2, 6)], commit=3)
    node.doTick(0)
    log = node.raft_log
    log.flush()
    on_disk = (tmp_path / "raft.journal").read_bytes()   # what a power cut leaves of the journal
    log.onOneSecondTimer()
    # The new leader (term 2) replaces 4 and 5 (never committed) and commits up to 7.
    append_entries(node, new_leader, (3, 1), [entry(i, 2) for i in range(4, 9)], commit=7, term=2)
    node.doTick(0)
    assert applied == [2, 3, 4, 5, 6, 7] and node.raft_log[3] == entry(4, 2)
    log.onOneSecondTimer()   # the meta file's once-a-second store, before the journal's flush
    meta = (tmp_path / "raft.journal.meta").read_bytes()
    log._FileJournal__journalFile._destroy()   # the power goes: nothing flushed after `on_disk`
    (tmp_path / "raft.journal").write_bytes(on_disk)
    (tmp_path / "raft.journal.meta").write_bytes(meta)

    restarted, _transport, applied_again = make_node(tmp_path)
    try:
        for _ in range(3):
            restarted.doTick(0)
        assert log_entries(restarted)[3:] == [entry(4, 1), entry(5, 1)]   # the old tail is back on disk
        assert applied_again == [2, 3]   # and none of it applied: 4 and 5 of term 1 were never committed
    finally:
        restarted.raft_log._destroy()
