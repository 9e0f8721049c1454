"""`Replicator.lease_valid()` at its edges, on a real RaftNode without sockets.

The leader is a RaftNode built with autoTick=False and a recording transport
(tests/unit/test_replication_truncation.py); followers' replies are fed to its
`_on_next_node_idx` as they would arrive. Time is a fake monotonic clock
installed in the two modules that read it (node/raft/replication.py for the lease
horizon, node/raft/raftnode.py for the send stamps), so the window's edges are
exact.
"""

from __future__ import annotations

import types

import pytest
from pysyncobj import SyncObjConf
from pysyncobj.node import TCPNode
from pysyncobj.syncobj import _RAFT_STATE

from raftcache.node.raft import journal
from raftcache.node.raft import raftnode as raftnode_module
from raftcache.node.raft import replication as replication_module
from raftcache.node.raft import transfer as transfer_module
from raftcache.node.config import Peer, ReplicationConfig
from raftcache.node.raft.raftnode import RaftNode
from raftcache.node.raft.replication import Replicator
from raftcache.node.raft.transfer import Transfer

from tests.unit.test_replication_truncation import FakeTransport, Hooks

TIMEOUT = 0.6  # election_timeout_min_s
DRIFT = ReplicationConfig().lease_drift
WINDOW = TIMEOUT * (1 - DRIFT)  # how long an acknowledgement holds the lease
TERM = 3


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    fake_time = types.SimpleNamespace(monotonic=c)
    monkeypatch.setattr(replication_module, "time", fake_time)
    monkeypatch.setattr(raftnode_module, "time", fake_time)
    monkeypatch.setattr(transfer_module, "time", fake_time)
    return c


def leader(tmp_path, voters: int = 3) -> tuple[Replicator, RaftNode, list[TCPNode]]:
    """A Replicator whose RaftNode leads term TERM among `voters` voters (no sockets, no tick thread)."""
    journal.install_durable_journal()
    peers = [Peer(f"n{i + 1}", "abcde"[i], "127.0.0.1", 21000 + 100 * i) for i in range(voters)]
    conf = SyncObjConf(autoTick=False, dynamicMembershipChange=True, useFork=False,
                       journalFile=str(tmp_path / "raft.journal"), fullDumpFile=str(tmp_path / "raft.snapshot"),
                       logCompactionMinEntries=10**9, logCompactionMinTime=10**9)
    node = RaftNode(peers[0].address("raft"), [p.address("raft") for p in peers[1:]], conf,
                    apply=lambda index, data: index, transport_class=FakeTransport)
    node._SyncObj__raftState = _RAFT_STATE.LEADER
    node._SyncObj__raftCurrentTerm = TERM
    config = ReplicationConfig(data_dir=str(tmp_path), cluster_secret="secret", election_timeout_min_s=TIMEOUT)
    rep = Replicator(config, peers[0], peers, apply=lambda index, data: None, snapshot=Hooks())
    rep._node = node
    others = sorted(node.otherNodes, key=lambda n: n.address)
    return rep, node, others


def ack(node: RaftNode, peer: TCPNode, sent: float) -> None:
    """A follower's successful reply to the append-entries the leader sent at `sent` arrives now."""
    node._on_next_node_idx(peer, {"type": "next_node_idx", "next_node_idx": 2, "success": True, "reset": False,
                                  "rc_echo": sent})


def test_no_acks_no_lease(tmp_path, clock):
    rep, _node, _ = leader(tmp_path)
    assert rep.lease_valid() is False


def test_an_ack_sent_just_inside_the_window_holds_the_lease(tmp_path, clock):
    rep, node, (peer, _) = leader(tmp_path)
    ack(node, peer, clock.now - WINDOW + 0.001)
    assert rep.lease_valid() is True
    clock.now += 0.002  # the same ack, now sent just outside the window
    assert rep.lease_valid() is False


def test_an_ack_sent_exactly_one_window_ago_does_not_hold_it(tmp_path, clock):
    rep, node, (peer, _) = leader(tmp_path)
    ack(node, peer, clock.now - WINDOW - 0.001)
    assert rep.lease_valid() is False
    ack(node, peer, clock.now - WINDOW)  # on the edge: the window is open at its old end
    assert rep.lease_valid() is False


def test_the_lease_ends_a_drift_margin_before_the_election_timeout(tmp_path, clock):
    """Clock drift bound: an acknowledgement inside the election timeout but past the lease
    window does not hold the lease, so the lease ends before a follower whose clock runs up to
    DRIFT faster could time out and help elect another leader."""
    assert 0 < DRIFT < 1
    rep, node, (peer, _) = leader(tmp_path)
    ack(node, peer, clock.now - TIMEOUT * (1 - DRIFT / 2))  # within the timeout, outside the lease
    assert rep.lease_valid() is False
    ack(node, peer, clock.now - WINDOW + 0.001)
    assert rep.lease_valid() is True


def test_acks_from_an_old_term_do_not_count(tmp_path, clock):
    rep, node, (a, b) = leader(tmp_path)
    ack(node, a, clock.now)
    ack(node, b, clock.now)
    assert rep.lease_valid() is True
    node._SyncObj__raftCurrentTerm = TERM + 1  # re-elected in a later term: the old acks answered the old leader
    assert rep.lease_valid() is False
    ack(node, a, clock.now)
    assert node.ack_times[a][0] == TERM + 1 and rep.lease_valid() is True


def test_a_minority_of_fresh_acks_is_no_lease(tmp_path, clock):
    rep, node, peers = leader(tmp_path, voters=5)
    ack(node, peers[0], clock.now)                 # 2 of 5 with the leader itself
    ack(node, peers[1], clock.now - WINDOW - 0.1)  # stale
    ack(node, peers[2], clock.now - 10.0)          # stale
    assert rep.lease_valid() is False
    ack(node, peers[3], clock.now - 0.1)           # 3 of 5: a majority
    assert rep.lease_valid() is True


def test_a_paused_leader_is_not_renewed_by_replies_queued_during_the_pause(tmp_path, clock):
    rep, node, peers = leader(tmp_path)
    transport = node._SyncObj__transport
    for peer in peers:  # heartbeats go out at t, stamped with their send time
        transport.send(peer, {"type": "append_entries", "term": TERM})
    stamps = [m["rc_sent"] for _, m in transport.sent[-2:]]
    assert stamps == [clock.now, clock.now]
    clock.now += 3.0  # SIGSTOP for 3 s (longer than the election timeout), then SIGCONT
    for peer, sent in zip(peers, stamps):  # the replies queued in the sockets arrive now
        ack(node, peer, sent)
    assert rep.lease_valid() is False, "replies to pre-pause heartbeats renewed the lease"
    # Only replies to heartbeats sent after the pause renew it.
    for peer in peers:
        transport.send(peer, {"type": "append_entries", "term": TERM})
    clock.now += 0.05
    ack(node, peers[0], transport.sent[-1][1]["rc_sent"])
    assert rep.lease_valid() is True


def test_a_late_reply_to_an_older_send_does_not_move_the_ack_back(tmp_path, clock):
    rep, node, (peer, _) = leader(tmp_path)
    ack(node, peer, clock.now)
    ack(node, peer, clock.now - 5.0)
    assert rep.lease_valid() is True


def test_no_lease_while_leadership_is_being_transferred(tmp_path, clock):
    rep, node, (a, b) = leader(tmp_path)
    ack(node, a, clock.now)
    ack(node, b, clock.now)
    assert rep.lease_valid() is True
    rep._transfers._current = Transfer(b.address, clock.now + 5.0, lambda *_: None)
    assert rep.lease_valid() is False
    rep._transfers._current = None
    assert rep.lease_valid() is True


def test_a_follower_holds_no_lease_whatever_its_acks(tmp_path, clock):
    rep, node, (a, b) = leader(tmp_path)
    ack(node, a, clock.now)
    ack(node, b, clock.now)
    node._SyncObj__raftState = _RAFT_STATE.FOLLOWER
    assert rep.lease_valid() is False
