"""A node's grace after its own stall (node/raft/elections.py `ElectionGuard.after_run`) and the
credit of that time to its peer connections (`credit_connections`).

A node that did not run for a while (one long entry applied on every replica at about the
same time, a long read on its loop, a pause) has its peers' messages still unread: a follower
neither stands for election nor grants a pre-vote for one election timeout (the leader's first
message ends the refusal); a leader does not step down for want of answers for as long again as
it stalled, capped. Once per contact, so stalls that keep coming delay an election or a
step-down once. RaftNode instances with a recording transport; a stall is made by moving the
node's record of when it last ran back in time.
"""

from __future__ import annotations

import threading
import time

import pytest
from pysyncobj.monotonic import monotonic as raft_clock   # PySyncObj's deadlines and answer times
from pysyncobj.syncobj import _RAFT_STATE

from raftcache.node.raft.raftnode import RaftNode
from tests.unit.test_pre_vote import make, sent
from tests.unit.test_replication_truncation import append_entries

TIMEOUT = 0.6   # raftMinTimeout of test_pre_vote.make


def stall(node: RaftNode, seconds: float = 5.0) -> None:
    """The node's Raft code last ran `seconds` ago; it runs now."""
    node.elections.ran_at = time.monotonic() - seconds
    node.elections.after_run()


def _ask_pre_vote(node, peer) -> None:
    node._SyncObj__onMessageReceived(peer, {"type": "rc_pre_vote", "round": 1, "term": node.raftCurrentTerm + 1,
                                            "last_log_index": 10**6, "last_log_term": 10**6})


def test_a_follower_that_stalled_waits_an_election_timeout_before_standing(tmp_path):
    node, transport = make(tmp_path)
    node._SyncObj__raftElectionDeadline = 0   # its leader has been silent for long
    stalled_at = raft_clock()
    stall(node, 5.0)
    assert node._SyncObj__raftElectionDeadline >= stalled_at + TIMEOUT
    node.doTick(0)
    assert sent(transport, "rc_pre_vote") == []   # what the leader sent is still unread
    peer = next(iter(node._SyncObj__otherNodes))
    _ask_pre_vote(node, peer)
    assert [m["granted"] for _, m in sent(transport, "rc_pre_vote_response")] == [False]


def test_the_leaders_first_message_after_a_stall_ends_the_pre_vote_refusal(tmp_path):
    node, transport = make(tmp_path)
    stall(node, 5.0)
    leader, other = sorted(node._SyncObj__otherNodes, key=lambda n: n.address)
    append_entries(node, leader, (0, 0), [], 0, term=node.raftCurrentTerm + 1)
    assert node.elections.grace_until == 0.0   # from now on the usual rule: a leader heard within the timeout
    node.last_leader_contact -= 2 * TIMEOUT   # ... and then silent for two timeouts
    _ask_pre_vote(node, other)
    assert [m["granted"] for _, m in sent(transport, "rc_pre_vote_response")] == [True]


def test_stalls_that_keep_coming_hold_an_election_off_once_per_contact(tmp_path):
    node, transport = make(tmp_path)
    stall(node)
    node._SyncObj__raftElectionDeadline = 0
    node.elections.grace_until = 0.0
    stall(node)   # no word from a leader since the last grace: none this time
    node.doTick(0)
    assert len(sent(transport, "rc_pre_vote")) == 2   # it asks both peers
    leader = next(iter(node._SyncObj__otherNodes))
    append_entries(node, leader, (0, 0), [], 0, term=node.raftCurrentTerm + 1)
    node._SyncObj__raftElectionDeadline = 0
    stall(node)   # a leader was heard since: this stall has its grace again
    assert node._SyncObj__raftElectionDeadline > raft_clock()


def test_a_leader_that_stalled_waits_as_long_again_for_its_followers_to_answer(tmp_path):
    node, _ = make(tmp_path)
    node._SyncObj__raftState = _RAFT_STATE.LEADER
    fallback = node._SyncObj__conf.leaderFallbackTimeout
    answered = node._SyncObj__lastResponseTime
    long_ago = raft_clock() - fallback - 10   # no answer for longer than the fallback: it would step down
    for peer in node._SyncObj__otherNodes:
        answered[peer] = long_ago
    stalled_at = raft_clock()
    stall(node, 2.0)
    assert all(t >= stalled_at + 2.0 - fallback for t in answered.values())   # as long again as it stalled
    for peer in node._SyncObj__otherNodes:
        answered[peer] = long_ago
    stall(node)   # no follower answered since: no second grace
    assert all(t == long_ago for t in answered.values())
    peer = next(iter(node._SyncObj__otherNodes))
    node._on_next_node_idx(peer, {"type": "next_node_idx", "next_node_idx": 1, "success": True, "reset": False})
    answered[peer] = long_ago
    stall(node)   # a majority (itself and one of two) answered since: the next stall has its grace
    assert answered[peer] > raft_clock() - fallback


def test_a_leaders_grace_is_capped(tmp_path):
    node, _ = make(tmp_path)
    node._SyncObj__raftState = _RAFT_STATE.LEADER
    answered = node._SyncObj__lastResponseTime
    for peer in node._SyncObj__otherNodes:
        answered[peer] = raft_clock() - 1000
    stall(node, 1000.0)   # paused for a quarter of an hour: not as long again, fallback + 1.2 s at most
    assert all(t <= raft_clock() + node._SyncObj__conf.raftMaxTimeout for t in answered.values())
    assert all(t >= raft_clock() + node._SyncObj__conf.raftMaxTimeout - 0.5 for t in answered.values())


def test_a_short_gap_is_no_stall(tmp_path):
    node, _ = make(tmp_path)
    node._SyncObj__raftElectionDeadline = 0
    stall(node, 0.05)
    assert node._SyncObj__raftElectionDeadline == 0 and node.elections.own_stalls == 0


class _Connection:
    """The one field of PySyncObj's TcpConnection the credit touches."""

    def __init__(self, last_read: float):
        self._TcpConnection__lastReadTime = last_read


def test_a_stall_is_credited_to_the_connections_once(tmp_path):
    """PySyncObj drops a connection unread for 3.5 s at its next send or read: the time a node
    did not run is added to each connection's last read, once; a peer silent while the node
    ran keeps its age."""
    node, transport = make(tmp_path)
    quiet, silent = _Connection(raft_clock() - 3.0), _Connection(raft_clock() - 100.0)
    transport._connections = {"a": quiet, "b": silent}
    node._rc_thread = threading.get_ident()   # this thread ticks it
    node.elections.ran_at = time.monotonic() - 5.0   # stalled 5 s so far
    node.heartbeat_if_due()   # a beat in the middle of the stall (a follower: credits, sends nothing)
    assert quiet._TcpConnection__lastReadTime == pytest.approx(raft_clock(), abs=0.05)   # capped at now
    assert silent._TcpConnection__lastReadTime == pytest.approx(raft_clock() - 95.0, abs=0.05)
    node.heartbeat_if_due()   # the same stall again: nothing more
    node.elections.after_run()   # and when the node runs again: nothing more either
    assert silent._TcpConnection__lastReadTime == pytest.approx(raft_clock() - 95.0, abs=0.05)
    node.elections.ran_at = time.monotonic() - 0.05   # ran 50 ms ago: no stall
    node.elections.credited_at = 0.0
    node.heartbeat_if_due()
    assert silent._TcpConnection__lastReadTime == pytest.approx(raft_clock() - 95.0, abs=0.1)
