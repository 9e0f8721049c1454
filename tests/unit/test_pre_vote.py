"""Pre-vote (node/raft/raftnode.py): a node asks before it raises its term.

RaftNode instances with a recording transport (nothing connects); messages
are handed to the handlers directly, as PySyncObj's transport would.
"""

from __future__ import annotations

from pysyncobj import SyncObjConf
from pysyncobj.node import TCPNode

from raftcache.node.raft.raftnode import RaftNode
from tests.unit.test_replication_truncation import FakeTransport, append_entries, entry

SELF, PEER_A, PEER_B = "127.0.0.1:10103", "127.0.0.1:10113", "127.0.0.1:10123"


def make(tmp_path, name="n"):
    conf = SyncObjConf(autoTick=False, dynamicMembershipChange=True, useFork=False,
                       journalFile=str(tmp_path / f"{name}.journal"),
                       raftMinTimeout=0.6, raftMaxTimeout=1.2)
    node = RaftNode(SELF, [PEER_A, PEER_B], conf, apply=lambda index, data: None, transport_class=FakeTransport)
    node._SyncObj__connectedNodes.update(node._SyncObj__otherNodes)  # as if both peers were connected
    return node, node._SyncObj__transport


def sent(transport, kind):
    return [(node, m) for node, m in transport.sent if m.get("type") == kind]


def test_a_node_that_cannot_win_never_raises_its_term(tmp_path):
    node, transport = make(tmp_path)
    term = node.raftCurrentTerm
    for _ in range(5):  # five election timeouts with nobody answering (a partition)
        node._SyncObj__raftElectionDeadline = 0
        node.doTick(0)
    asks = sent(transport, "rc_pre_vote")
    assert len(asks) == 10 and {m["term"] for _, m in asks} == {term + 1}
    assert sent(transport, "request_vote") == []
    assert node.raftCurrentTerm == term and not node._isLeader()


def test_a_majority_of_yes_starts_the_election_and_stale_answers_do_not(tmp_path):
    node, transport = make(tmp_path)
    term = node.raftCurrentTerm
    node._SyncObj__raftElectionDeadline = 0
    node.doTick(0)
    first_round = sent(transport, "rc_pre_vote")[0][1]["round"]
    node._SyncObj__raftElectionDeadline = 0
    node.doTick(0)  # a second round: answers to the first no longer count
    peer = next(iter(node._SyncObj__otherNodes))
    node._SyncObj__onMessageReceived(peer, {"type": "rc_pre_vote_response", "round": first_round, "granted": True})
    node.doTick(0)
    assert sent(transport, "request_vote") == []
    current = sent(transport, "rc_pre_vote")[-1][1]["round"]
    node._SyncObj__onMessageReceived(peer, {"type": "rc_pre_vote_response", "round": current, "granted": True})
    node.doTick(0)  # self + one peer of three: a majority
    votes = sent(transport, "request_vote")
    assert len(votes) == 2 and {m["term"] for _, m in votes} == {term + 1}
    assert node.raftCurrentTerm == term + 1


def test_a_node_that_hears_from_a_leader_says_no_and_keeps_its_term(tmp_path):
    node, transport = make(tmp_path)
    leader = TCPNode(PEER_A)
    append_entries(node, leader, (1, 0), [entry(2, 3)], commit=1, term=3)
    candidate = TCPNode(PEER_B)
    ask = {"type": "rc_pre_vote", "round": 7, "term": 4, "last_log_index": 10, "last_log_term": 3}
    node._SyncObj__onMessageReceived(candidate, dict(ask))
    assert sent(transport, "rc_pre_vote_response")[-1][1] == {"type": "rc_pre_vote_response", "round": 7, "granted": False}
    node.last_leader_contact -= 10  # the leader has been silent for longer than an election timeout
    node._SyncObj__onMessageReceived(candidate, dict(ask))
    assert sent(transport, "rc_pre_vote_response")[-1][1]["granted"] is True
    behind = dict(ask, last_log_term=2)  # a log older than ours
    node._SyncObj__onMessageReceived(candidate, behind)
    assert sent(transport, "rc_pre_vote_response")[-1][1]["granted"] is False
    assert node.raftCurrentTerm == 3 and node._SyncObj__votedForNodeId is None  # nothing changed


def test_leadership_transfer_skips_the_pre_vote(tmp_path):
    node, transport = make(tmp_path)
    term = node.raftCurrentTerm
    node._SyncObj__transferInProgress = True  # as set by the leader's TimeoutNow
    node._SyncObj__raftElectionDeadline = 0
    node.doTick(0)
    assert sent(transport, "rc_pre_vote") == [] and len(sent(transport, "request_vote")) == 2
    assert node.raftCurrentTerm == term + 1
