"""The lease counts from the leader's own send times, echoed back by followers.

A leader that was paused (SIGSTOP) or cut off must not renew its lease with
replies that were queued meanwhile: those answer messages it sent before.
"""

from __future__ import annotations

from pysyncobj.node import TCPNode

from tests.unit.test_replication_truncation import PEER, append_entries, entry, make_node


def test_a_follower_echoes_the_leaders_send_time(tmp_path):
    node, transport, _ = make_node(tmp_path)
    leader = TCPNode(PEER)
    node._SyncObj__onMessageReceived(leader, {
        "type": "append_entries", "term": 1, "commit_index": 1, "entries": [entry(2, 1)],
        "prevLogIdx": 1, "prevLogTerm": 0, "rc_sent": 1234.5,
    })
    replies = [m for _, m in transport.sent if m["type"] == "next_node_idx"]
    assert replies[-1]["success"] and replies[-1]["rc_echo"] == 1234.5


def test_the_leader_stamps_its_append_entries(tmp_path):
    node, transport, _ = make_node(tmp_path)
    node._SyncObj__transport.send(TCPNode(PEER), {"type": "append_entries", "term": 1})
    assert isinstance(transport.sent[-1][1]["rc_sent"], float)


def test_lease_acks_use_the_echoed_send_time_not_the_arrival_time(tmp_path):
    node, _transport, _ = make_node(tmp_path)
    peer = TCPNode(PEER)
    term = node._SyncObj__raftCurrentTerm
    reply = {"type": "next_node_idx", "next_node_idx": 2, "success": True, "reset": False}
    node._on_next_node_idx(peer, dict(reply))  # no echo (an old peer): no lease credit
    assert peer not in node.ack_times
    node._on_next_node_idx(peer, dict(reply, rc_echo=100.0))
    assert node.ack_times[peer] == (term, 100.0)
    node._on_next_node_idx(peer, dict(reply, rc_echo=90.0))  # a reply to an older send arrives late
    assert node.ack_times[peer] == (term, 100.0)


def test_append_entries_helper_still_works_without_a_stamp(tmp_path):
    node, transport, _ = make_node(tmp_path)
    append_entries(node, TCPNode(PEER), (1, 0), [entry(2, 1)], commit=1)
    replies = [m for _, m in transport.sent if m["type"] == "next_node_idx"]
    assert replies[-1]["success"] and "rc_echo" not in replies[-1]


def test_a_follower_never_forwards_a_proposal_over_the_raft_port(tmp_path):
    """A proposal queued just before this node lost leadership: PySyncObj would send it to the
    leader as one apply_command message (for a large value, past the frame bound, never
    answered). It fails NOT_LEADER instead, so the service retries it through the leader."""
    from pysyncobj.config import FAIL_REASON

    node, transport, _ = make_node(tmp_path)
    append_entries(node, TCPNode(PEER), (1, 0), [entry(2, 1)], commit=1)   # a leader is known
    outcomes = []
    node.apply_entry(b"x" * 1000, callback=lambda result, error: outcomes.append(error))
    node._onTick(0.0)
    assert outcomes == [FAIL_REASON.NOT_LEADER]
    assert not [m for _, m in transport.sent if m.get("type") == "apply_command"]
