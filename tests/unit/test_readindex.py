"""ReadIndex rounds (node/raft/readindex.py) on a real RaftNode without sockets.

The leader is built as in tests/unit/test_replication_lease.py (autoTick off,
a recording transport, a fake monotonic clock); followers' replies are fed to
its `_on_next_node_idx` with the send time they echo. A round must answer
only after a majority acknowledged append-entries sent after the request was
registered, with the commit index of that moment, and never on a leader cut
off from its majority.
"""

from __future__ import annotations

import types

import pytest
from pysyncobj.syncobj import _RAFT_STATE

from raftcache.node.errors import NotLeaderError, UnavailableError
from raftcache.node.raft import readindex as readindex_module

from tests.unit.test_replication_lease import TERM, ack, clock, leader  # noqa: F401 - clock is a fixture


@pytest.fixture
def reads_clock(clock, monkeypatch):  # noqa: F811 - the fixture imported above
    monkeypatch.setattr(readindex_module, "time", types.SimpleNamespace(monotonic=clock))
    return clock


class Answers:
    """Records callback(None, index, error) calls."""

    def __init__(self):
        self.got: list[tuple[int, object]] = []

    def __call__(self, _result, index, error):
        self.got.append((index, error))


def ready_leader(tmp_path, voters: int = 3):
    """A leader that committed an entry of its term (index 2) and has nothing else pending."""
    rep, node, peers = leader(tmp_path, voters)
    node.raft_log.add(b"\x01", 2, TERM)  # the no-op PySyncObj appends on election
    node._SyncObj__raftCommitIndex = 2
    for peer in peers:  # connected and up to date: a heartbeat carries no entries
        node._SyncObj__connectedNodes.add(peer)
        node._SyncObj__raftNextIndex[peer] = 3
    return rep, node, peers


def heartbeats(node) -> int:
    return sum(1 for _, m in node._SyncObj__transport.sent if m.get("type") == "append_entries")


def test_a_round_answers_once_a_majority_acked_a_heartbeat_sent_after_the_request(tmp_path, reads_clock):
    rep, node, (a, b) = ready_leader(tmp_path)
    reads, answers = rep._reads, Answers()
    ack(node, a, reads_clock.now)           # an acknowledgement from before the request
    reads_clock.now += 0.01
    reads.request(answers, reads_clock.now + 5)
    sent_before = heartbeats(node)
    reads.step(node)
    assert heartbeats(node) == sent_before + 2, "one heartbeat to each follower"
    started = reads._round.started
    node._SyncObj__raftCommitIndex = 3      # commits after the request do not change its answer
    reads.step(node)
    assert answers.got == [], "acks of earlier sends confirm nothing"
    ack(node, a, started)                   # sent at the very moment of registration: not after it
    reads.step(node)
    assert answers.got == []
    ack(node, b, started + 0.001)           # with the leader itself: 2 of 3
    reads.step(node)
    assert answers.got == [(2, None)]


def test_requests_waiting_during_a_round_share_the_next_one(tmp_path, reads_clock):
    rep, node, (a, b) = ready_leader(tmp_path)
    reads = rep._reads
    first = [Answers() for _ in range(10)]
    for answers in first:
        reads.request(answers, reads_clock.now + 5)
    reads.step(node)
    second = [Answers() for _ in range(10)]
    for answers in second:
        reads.request(answers, reads_clock.now + 5)
    reads.step(node)
    assert reads.rounds == 1, "one round in flight at a time"
    reads_clock.now += 0.01
    ack(node, a, reads_clock.now)
    node._SyncObj__raftCommitIndex = 3
    before = heartbeats(node)
    reads.step(node)  # the first round is confirmed and the next one starts for the second group
    assert all(x.got == [(2, None)] for x in first) and all(x.got == [] for x in second)
    assert reads.rounds == 2 and heartbeats(node) == before + 2
    reads_clock.now += 0.01
    ack(node, b, reads_clock.now)
    reads.step(node)
    assert all(x.got == [(3, None)] for x in second)


def test_a_leader_cut_off_from_its_majority_never_answers(tmp_path, reads_clock):
    """The deposed-leader case: its followers elected another leader and answer nobody
    here (or only with acks of old sends), so the read fails at its deadline."""
    rep, node, (a, b) = ready_leader(tmp_path, voters=3)
    reads, answers = rep._reads, Answers()
    ack(node, a, reads_clock.now)
    ack(node, b, reads_clock.now)
    reads_clock.now += 0.5
    reads.request(answers, reads_clock.now + 1.0)
    reads.step(node)
    for _ in range(10):
        reads_clock.now += 0.05
        ack(node, a, reads_clock.now - 0.6)  # replies queued before the cut arrive late
        reads.step(node)
    assert answers.got == []
    reads_clock.now += 1.0
    reads.step(node)
    (index, error), = answers.got
    assert isinstance(error, UnavailableError) and error.retryable


def test_acks_of_an_older_term_confirm_nothing(tmp_path, reads_clock):
    rep, node, (a, b) = ready_leader(tmp_path)
    reads, answers = rep._reads, Answers()
    reads.request(answers, reads_clock.now + 5)
    reads.step(node)
    node.ack_times[a] = (TERM - 1, reads_clock.now + 1)
    node.ack_times[b] = (TERM - 1, reads_clock.now + 1)
    reads.step(node)
    assert answers.got == []


def test_no_round_before_the_leader_committed_an_entry_of_its_term(tmp_path, reads_clock):
    rep, node, (a, b) = leader(tmp_path)
    node.raft_log.add(b"\x01", 2, TERM)      # the election no-op, not committed yet
    node._SyncObj__raftCommitIndex = 1       # an entry of an earlier term
    reads, answers = rep._reads, Answers()
    reads.request(answers, reads_clock.now + 5)
    reads.step(node)
    assert reads.rounds == 0 and reads._round is None
    ack(node, a, reads_clock.now + 1)
    node._SyncObj__raftCommitIndex = 2
    reads.step(node)                         # ready now: the round starts
    assert reads.rounds == 1
    reads_clock.now += 0.01
    ack(node, a, reads_clock.now)
    reads.step(node)
    assert answers.got == [(2, None)]


def test_losing_leadership_fails_the_waiting_reads_with_not_leader(tmp_path, reads_clock):
    rep, node, _ = ready_leader(tmp_path)
    reads, waiting, in_round = rep._reads, Answers(), Answers()
    reads.request(in_round, reads_clock.now + 5)
    reads.step(node)
    reads.request(waiting, reads_clock.now + 5)
    node._SyncObj__raftState = _RAFT_STATE.FOLLOWER
    reads.step(node)
    for answers in (in_round, waiting):
        (_, error), = answers.got
        assert isinstance(error, NotLeaderError)


def test_a_new_term_fails_the_round_of_the_old_one(tmp_path, reads_clock):
    rep, node, (a, b) = ready_leader(tmp_path)
    reads, answers = rep._reads, Answers()
    reads.request(answers, reads_clock.now + 5)
    reads.step(node)
    node._SyncObj__raftCurrentTerm = TERM + 1
    reads_clock.now += 0.01
    ack(node, a, reads_clock.now)
    reads.step(node)
    (_, error), = answers.got
    assert isinstance(error, NotLeaderError)


def test_a_single_voter_answers_without_a_round_trip(tmp_path, reads_clock):
    rep, node, _ = ready_leader(tmp_path, voters=1)
    reads, answers = rep._reads, Answers()
    reads.request(answers, reads_clock.now + 5)
    reads.step(node)
    assert answers.got == [(2, None)]


def test_the_replicator_refuses_at_once_on_a_follower(tmp_path, reads_clock):
    rep, node, _ = ready_leader(tmp_path)
    node._SyncObj__raftState = _RAFT_STATE.FOLLOWER
    answers = Answers()
    rep.read_index(answers, 1.0)
    (_, error), = answers.got
    assert isinstance(error, NotLeaderError)


def test_the_lease_answers_the_commit_index_only_when_ready_and_held(tmp_path, reads_clock):
    rep, node, (a, b) = leader(tmp_path)
    node.raft_log.add(b"\x01", 2, TERM)
    node._SyncObj__raftCommitIndex = 1
    ack(node, a, reads_clock.now)
    assert rep.lease_valid() and rep.lease_read_index() is None, "no entry of its term committed yet"
    node._SyncObj__raftCommitIndex = 2
    rep._reads.step(node)
    node._SyncObj__raftCommitIndex = 5
    assert rep.lease_read_index() == 5
    reads_clock.now += 10  # the lease ran out
    assert rep.lease_read_index() is None
