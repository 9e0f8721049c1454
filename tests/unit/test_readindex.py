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
from pysyncobj.node import TCPNode
from pysyncobj.syncobj import _RAFT_STATE

from raftcache.node.errors import NotLeaderError, ReadIndexUnsupported, UnavailableError
from raftcache.node.raft import readindex as readindex_module

from tests.unit.test_replication_lease import TERM, ack, clock, leader  # noqa: F401 - clock is a fixture
from tests.unit.test_replication_truncation import PEER, make_node


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
    reads.step(node, rep.lease_read_index)
    assert heartbeats(node) == sent_before + 2, "one heartbeat to each follower"
    started = reads._rounds[0].started
    node._SyncObj__raftCommitIndex = 3      # commits after the request do not change its answer
    reads.step(node, rep.lease_read_index)
    assert answers.got == [], "acks of earlier sends confirm nothing"
    ack(node, a, started)                   # sent at the very moment of registration: not after it
    reads.step(node, rep.lease_read_index)
    assert answers.got == []
    ack(node, b, started + 0.001)           # with the leader itself: 2 of 3
    reads.step(node, rep.lease_read_index)
    assert answers.got == [(2, None)]


def test_requests_waiting_while_rounds_are_in_flight_share_the_next_one(tmp_path, reads_clock):
    rep, node, (a, b) = ready_leader(tmp_path)
    reads = rep._reads
    groups = []
    for i in range(readindex_module.ROUND_WINDOW + 1):
        node._SyncObj__raftCommitIndex = 2 + i   # each round answers the commit index of its start
        groups.append([Answers() for _ in range(10)])
        for answers in groups[-1]:
            reads.request(answers, reads_clock.now + 5)
        reads.step(node, rep.lease_read_index)
        reads_clock.now += 0.01
    assert reads.rounds == readindex_module.ROUND_WINDOW, "the last group waits for a round to end"
    before = heartbeats(node)
    ack(node, a, reads._rounds[0].started + 0.001)  # confirms the first round only
    reads.step(node, rep.lease_read_index)       # ... and the waiting group's round starts
    assert all(x.got == [(2, None)] for x in groups[0]) and all(x.got == [] for g in groups[1:] for x in g)
    assert reads.rounds == readindex_module.ROUND_WINDOW + 1 and heartbeats(node) == before + 2
    reads_clock.now += 0.01
    ack(node, b, reads_clock.now)
    reads.step(node, rep.lease_read_index)
    for i, group in enumerate(groups[1:], start=1):
        assert all(x.got == [(2 + i, None)] for x in group)


def test_a_leader_cut_off_from_its_majority_never_answers(tmp_path, reads_clock):
    """The deposed-leader case: its followers elected another leader and answer nobody
    here (or only with acks of old sends), so the read fails at its deadline."""
    rep, node, (a, b) = ready_leader(tmp_path, voters=3)
    reads, answers = rep._reads, Answers()
    ack(node, a, reads_clock.now)
    ack(node, b, reads_clock.now)
    reads_clock.now += 0.5
    reads.request(answers, reads_clock.now + 1.0)
    reads.step(node, rep.lease_read_index)
    for _ in range(10):
        reads_clock.now += 0.05
        ack(node, a, reads_clock.now - 0.6)  # replies queued before the cut arrive late
        reads.step(node, rep.lease_read_index)
    assert answers.got == []
    reads_clock.now += 1.0
    reads.step(node, rep.lease_read_index)
    (index, error), = answers.got
    assert isinstance(error, UnavailableError) and error.retryable


def test_acks_of_an_older_term_confirm_nothing(tmp_path, reads_clock):
    rep, node, (a, b) = ready_leader(tmp_path)
    reads, answers = rep._reads, Answers()
    reads.request(answers, reads_clock.now + 5)
    reads.step(node, rep.lease_read_index)
    node.ack_times[a] = (TERM - 1, reads_clock.now + 1)
    node.ack_times[b] = (TERM - 1, reads_clock.now + 1)
    reads.step(node, rep.lease_read_index)
    assert answers.got == []


def test_no_round_before_the_leader_committed_an_entry_of_its_term(tmp_path, reads_clock):
    rep, node, (a, b) = leader(tmp_path)
    node.raft_log.add(b"\x01", 2, TERM)      # the election no-op, not committed yet
    node._SyncObj__raftCommitIndex = 1       # an entry of an earlier term
    reads, answers = rep._reads, Answers()
    reads.request(answers, reads_clock.now + 5)
    reads.step(node, rep.lease_read_index)
    assert reads.rounds == 0 and reads._rounds == []
    ack(node, a, reads_clock.now + 1)
    node._SyncObj__raftCommitIndex = 2
    reads.step(node, rep.lease_read_index)                         # ready now: the round starts
    assert reads.rounds == 1
    reads_clock.now += 0.01
    ack(node, a, reads_clock.now)
    reads.step(node, rep.lease_read_index)
    assert answers.got == [(2, None)]


def test_losing_leadership_fails_the_waiting_reads_with_not_leader(tmp_path, reads_clock):
    rep, node, _ = ready_leader(tmp_path)
    reads, waiting, in_round = rep._reads, Answers(), Answers()
    reads.request(in_round, reads_clock.now + 5)
    reads.step(node, rep.lease_read_index)
    reads.request(waiting, reads_clock.now + 5)
    reads.step(node, rep.lease_read_index)  # waits for the next round
    node._SyncObj__raftState = _RAFT_STATE.FOLLOWER
    reads.step(node, rep.lease_read_index)
    for answers in (in_round, waiting):
        (_, error), = answers.got
        assert isinstance(error, NotLeaderError)


def test_a_new_term_fails_the_round_of_the_old_one(tmp_path, reads_clock):
    rep, node, (a, b) = ready_leader(tmp_path)
    reads, answers = rep._reads, Answers()
    reads.request(answers, reads_clock.now + 5)
    reads.step(node, rep.lease_read_index)
    node._SyncObj__raftCurrentTerm = TERM + 1
    reads_clock.now += 0.01
    ack(node, a, reads_clock.now)
    reads.step(node, rep.lease_read_index)
    (_, error), = answers.got
    assert isinstance(error, NotLeaderError)


def test_a_single_voter_answers_without_a_round_trip(tmp_path, reads_clock):
    rep, node, _ = ready_leader(tmp_path, voters=1)
    reads, answers = rep._reads, Answers()
    reads.request(answers, reads_clock.now + 5)
    reads.step(node, rep.lease_read_index)
    assert answers.got == [(2, None)]


def sent(node, kind: str) -> list[tuple]:
    return [(peer, m) for peer, m in node._SyncObj__transport.sent if m.get("type") == kind]


def follower_of(tmp_path, leader_supports: bool = True):
    """A follower whose leader is its first peer (which stamps rc_ri when `leader_supports`)."""
    rep, node, peers = ready_leader(tmp_path)
    node._SyncObj__raftState = _RAFT_STATE.FOLLOWER
    node._SyncObj__raftLeader = peers[0]
    node.rc_leader_read_index = leader_supports
    return rep, node, peers


def test_a_follower_asks_its_leader_and_gets_the_answer_back(tmp_path, reads_clock):
    rep, node, (leader, other) = follower_of(tmp_path)
    answers = Answers()
    rep.read_index(answers, 2.0, lease=True)
    rep._reads.step(node, rep.lease_read_index)
    (peer, message), = sent(node, "rc_read_index")
    assert peer == leader and message["lease"] is True and 0 < message["timeout"] <= 2.0
    assert message["term"] == node.raftCurrentTerm   # the leader may take it as this follower's acknowledgement
    rep._reads.on_reply(other, {"type": "rc_read_index_reply", "id": message["id"], "index": 40, "error": None})
    assert answers.got == [], "only the leader asked answers"
    rep._reads.on_reply(leader, {"type": "rc_read_index_reply", "id": message["id"], "index": 41, "error": None})
    assert answers.got == [(41, None)]
    rep._reads.on_reply(leader, {"type": "rc_read_index_reply", "id": message["id"], "index": 42, "error": None})
    assert answers.got == [(41, None)], "an answer counts once"


def test_a_followers_request_fails_when_the_leader_changes_errs_or_stays_silent(tmp_path, reads_clock):
    rep, node, (leader, other) = follower_of(tmp_path)
    moved, refused, silent = Answers(), Answers(), Answers()
    for answers in (moved, refused):
        rep.read_index(answers, 2.0)
    rep._reads.step(node, rep.lease_read_index)
    (_, first), (_, second) = sent(node, "rc_read_index")
    rep._reads.on_reply(leader, {"type": "rc_read_index_reply", "id": second["id"], "index": 0,
                                 "error": ("NOT_LEADER", "not the leader")})
    assert isinstance(refused.got[0][1], NotLeaderError)
    node._SyncObj__raftLeader = other  # a new leader before the first one answered
    rep._reads.step(node, rep.lease_read_index)
    assert isinstance(moved.got[0][1], NotLeaderError)
    rep.read_index(silent, 1.0)
    rep._reads.step(node, rep.lease_read_index)
    reads_clock.now += 1.5
    rep._reads.step(node, rep.lease_read_index)
    (_, error), = silent.got
    assert isinstance(error, UnavailableError)


def test_a_followers_request_fails_when_its_link_drops_or_the_term_moves_on(tmp_path, reads_clock):
    """The request or its answer may be lost: the reads waiting on it retry at once rather than
    waiting out their deadline (one request is in flight at a time)."""
    rep, node, (leader, _) = follower_of(tmp_path)
    dropped, newer = Answers(), Answers()
    rep.read_index(dropped, 5.0)
    rep._reads.step(node, rep.lease_read_index)
    node._SyncObj__connectedNodes.discard(leader)
    rep._reads.step(node, rep.lease_read_index)
    (_, error), = dropped.got
    assert isinstance(error, UnavailableError)
    node._SyncObj__connectedNodes.add(leader)
    rep.read_index(newer, 5.0)
    rep._reads.step(node, rep.lease_read_index)
    node._SyncObj__raftCurrentTerm = TERM + 1   # the same leader, elected again
    rep._reads.step(node, rep.lease_read_index)
    (_, error), = newer.got
    assert isinstance(error, NotLeaderError)


def test_a_follower_of_an_older_leader_or_of_none_gets_an_error_at_once(tmp_path, reads_clock):
    rep, node, _ = follower_of(tmp_path, leader_supports=False)
    answers = Answers()
    rep.read_index(answers, 1.0)
    rep._reads.step(node, rep.lease_read_index)
    assert isinstance(answers.got[0][1], ReadIndexUnsupported) and sent(node, "rc_read_index") == []
    node._SyncObj__raftLeader = None
    rep.read_index(answers, 1.0)
    rep._reads.step(node, rep.lease_read_index)
    assert isinstance(answers.got[1][1], UnavailableError)


def test_the_leader_answers_a_followers_request_after_its_round_or_from_its_lease(tmp_path, reads_clock):
    rep, node, (a, b) = ready_leader(tmp_path)
    reads = rep._reads
    reads.on_request(node, a, {"type": "rc_read_index", "id": 7, "lease": True, "timeout": 2.0},
                     rep.lease_read_index)          # no lease yet: it waits for a round
    reads.on_request(node, b, {"type": "rc_read_index", "id": 8, "lease": False, "timeout": 2.0},
                     rep.lease_read_index)
    reads.step(node, rep.lease_read_index)
    assert sent(node, "rc_read_index_reply") == []
    reads_clock.now += 0.01
    ack(node, a, reads_clock.now)
    reads.step(node, rep.lease_read_index)
    replies = {m["id"]: (peer, m["index"], m["error"]) for peer, m in sent(node, "rc_read_index_reply")}
    assert replies == {7: (a, 2, None), 8: (b, 2, None)}
    assert rep.lease_read_index() == 2  # the ack holds the lease now: answered at once
    reads.on_request(node, a, {"type": "rc_read_index", "id": 9, "lease": True, "timeout": 2.0},
                     rep.lease_read_index)
    assert sent(node, "rc_read_index_reply")[-1][1]["index"] == 2 and reads.served == 3
    node._SyncObj__raftState = _RAFT_STATE.FOLLOWER
    reads.on_request(node, a, {"type": "rc_read_index", "id": 10, "lease": False, "timeout": 2.0},
                     rep.lease_read_index)
    assert sent(node, "rc_read_index_reply")[-1][1]["error"][0] == "NOT_LEADER"


def test_a_request_sent_in_the_leaders_term_by_a_voter_of_three_needs_no_round(tmp_path, reads_clock):
    rep, node, (a, b) = ready_leader(tmp_path)
    reads = rep._reads

    def ask(peer, rid, **fields):
        reads.on_request(node, peer, {"type": "rc_read_index", "id": rid, "lease": False, "timeout": 2.0, **fields},
                         rep.lease_read_index)

    ask(a, 1, term=TERM)   # before the leader committed an entry of its term: it waits
    assert sent(node, "rc_read_index_reply") == []
    reads.step(node, rep.lease_read_index)   # ready now: the waiting request takes a round
    node.raft_log.add(b"\x02", 3, TERM)
    node._SyncObj__raftCommitIndex = 3
    ask(b, 2, term=TERM)
    assert sent(node, "rc_read_index_reply")[-1][1] == {"type": "rc_read_index_reply", "id": 2, "index": 3,
                                                        "error": None, "rc_commit": (3, TERM)}
    assert reads.vouched == 1 and reads.rounds == 1, "the first request's round is still the only one"
    before = heartbeats(node)
    for rid, fields in ((3, {"term": TERM - 1}), (4, {}), (5, {"term": "x"})):   # older term, older release
        ask(b, rid, **fields)
    ask(TCPNode("127.0.0.1:9"), 6, term=TERM)   # not a voter
    reads.step(node, rep.lease_read_index)
    assert [m["id"] for _, m in sent(node, "rc_read_index_reply")] == [2], "those wait for a round"
    assert heartbeats(node) > before and reads.vouched == 1


def test_with_five_voters_a_followers_request_takes_a_round(tmp_path, reads_clock):
    rep, node, peers = ready_leader(tmp_path, voters=5)
    reads = rep._reads
    reads.step(node, rep.lease_read_index)
    reads.on_request(node, peers[0], {"type": "rc_read_index", "id": 1, "lease": False, "timeout": 2.0,
                                      "term": TERM}, rep.lease_read_index)
    reads.step(node, rep.lease_read_index)
    assert sent(node, "rc_read_index_reply") == [] and reads.rounds == 1 and reads.vouched == 0
    reads_clock.now += 0.01
    ack(node, peers[1], reads_clock.now)
    ack(node, peers[2], reads_clock.now)
    reads.step(node, rep.lease_read_index)
    assert [m["index"] for _, m in sent(node, "rc_read_index_reply")] == [2]


def test_the_lease_answers_the_commit_index_only_when_ready_and_held(tmp_path, reads_clock):
    rep, node, (a, b) = leader(tmp_path)
    node.raft_log.add(b"\x01", 2, TERM)
    node._SyncObj__raftCommitIndex = 1
    ack(node, a, reads_clock.now)
    assert rep.lease_valid() and rep.lease_read_index() is None, "no entry of its term committed yet"
    node._SyncObj__raftCommitIndex = 2
    rep._reads.step(node, rep.lease_read_index)
    node._SyncObj__raftCommitIndex = 5
    assert rep.lease_read_index() == 5
    reads_clock.now += 10  # the lease ran out
    assert rep.lease_read_index() is None


def test_the_raft_node_stamps_rc_ri_and_routes_read_index_messages(tmp_path, reads_clock):
    node, transport, _ = make_node(tmp_path)
    peer = TCPNode(PEER)
    transport.send(peer, {"type": "append_entries", "term": 1})
    assert transport.sent[-1][1]["rc_ri"] == 1, "a leader says it answers rc_read_index"
    node._SyncObj__onMessageReceived(peer, {"type": "append_entries", "term": 1, "commit_index": 0,
                                            "entries": [], "prevLogIdx": 1, "prevLogTerm": 0, "rc_ri": 1})
    assert node.rc_leader_read_index is True
    node._SyncObj__onMessageReceived(peer, {"type": "append_entries", "term": 1, "commit_index": 0,
                                            "entries": [], "prevLogIdx": 1, "prevLogTerm": 0})
    assert node.rc_leader_read_index is False, "an older leader"
    got = []
    node.rc_on_read_index = lambda sender, message: got.append(("request", sender, message["id"]))
    node.rc_on_read_index_reply = lambda sender, message: got.append(("reply", sender, message["id"]))
    node._SyncObj__onMessageReceived(peer, {"type": "rc_read_index", "id": 3, "lease": False})
    node._SyncObj__onMessageReceived(peer, {"type": "rc_read_index_reply", "id": 4, "index": 1, "error": None})
    assert got == [("request", peer, 3), ("reply", peer, 4)]


def test_a_follower_without_a_connection_to_its_leader_is_answered_at_once(tmp_path, reads_clock):
    rep, node, (leader, _) = follower_of(tmp_path)
    node._SyncObj__connectedNodes.discard(leader)
    answers = Answers()
    rep.read_index(answers, 2.0)
    rep._reads.step(node, rep.lease_read_index)
    assert sent(node, "rc_read_index") == [] and isinstance(answers.got[0][1], UnavailableError)


def test_only_read_index_traffic_answered_at_once_skips_the_tick_after_it(tmp_path, reads_clock):
    rep, node, (a, b) = ready_leader(tmp_path)
    node.rc_on_read_index = lambda peer, message: rep._reads.on_request(node, peer, message, rep.lease_read_index)
    rep._reads.step(node, rep.lease_read_index)   # ready: a vouched request is answered at once
    assert node.took_only_quiet() is False, "no message at all: the event still ticks"
    node._SyncObj__onMessageReceived(a, {"type": "rc_read_index", "id": 1, "lease": False, "term": TERM})
    node._SyncObj__onMessageReceived(b, {"type": "rc_read_index", "id": 2, "lease": False, "term": TERM})
    assert [m["id"] for _, m in sent(node, "rc_read_index_reply")] == [1, 2]
    assert node.took_only_quiet() is True
    node._SyncObj__onMessageReceived(a, {"type": "rc_read_index", "id": 3, "lease": False})   # an older release's
    assert node.took_only_quiet() is False, "it waits for a round, which a tick starts"
    node._SyncObj__onMessageReceived(a, {"type": "rc_read_index", "id": 4, "lease": False, "term": TERM})
    node._SyncObj__onMessageReceived(b, {"type": "next_node_idx", "next_node_idx": 3, "success": True,
                                         "reset": False, "rc_echo": reads_clock.now})
    assert node.took_only_quiet() is False, "an append-entries answer in the same event: the tick runs"
    assert node.took_only_quiet() is False, "each call starts the count again"


def test_a_followers_read_index_answer_needs_no_tick(tmp_path, reads_clock):
    rep, node, (leader, _) = follower_of(tmp_path)
    node.rc_on_read_index_reply = rep._reads.on_reply
    answers = Answers()
    rep.read_index(answers, 2.0)
    rep._reads.step(node, rep.lease_read_index)
    (_, message), = sent(node, "rc_read_index")
    node._SyncObj__onMessageReceived(leader, {"type": "rc_read_index_reply", "id": message["id"], "index": 9,
                                              "error": None})
    assert answers.got == [(9, None)] and node.took_only_quiet() is True


def follower_behind(tmp_path):
    """A follower holding entries 3..5 of its leader's term, committed only up to 2 (the
    append-entries that would tell it more has not come)."""
    rep, node, (leader, other) = follower_of(tmp_path)
    node.rc_on_read_index_reply = rep._reads.on_reply
    for index in (3, 4, 5):
        node.raft_log.add(b"\x01", index, TERM)   # (no-ops)
    return rep, node, leader


def answer_read_index(rep, node, leader, index: int, stamp) -> list:
    answers = Answers()
    rep.read_index(answers, 2.0)
    rep._reads.step(node, rep.lease_read_index)
    message = sent(node, "rc_read_index")[-1][1]
    node._SyncObj__onMessageReceived(leader, {"type": "rc_read_index_reply", "id": message["id"], "index": index,
                                              "error": None, "rc_commit": stamp})
    return answers.got


def test_a_follower_commits_up_to_the_commit_index_a_read_index_answer_carries(tmp_path, reads_clock):
    rep, node, leader = follower_behind(tmp_path)
    node.raft_log.flush()   # (the journal keeps a commit index no further than what it flushed)
    assert answer_read_index(rep, node, leader, 4, [4, TERM]) == [(4, None)]
    assert node.raftCommitIndex == 4 and node.raft_log.getRaftCommitIndex() == 4
    assert node.took_only_quiet() is False, "a tick follows: it applies what is now committed"
    assert node.follower_log.commits_learnt == 1
    node._SyncObj__applyLogEntries()   # (the tick's apply)
    assert node.raftLastApplied == 4, "entries up to the learnt index applied, the one past it not"
    node._SyncObj__onMessageReceived(leader, {"type": "append_entries", "term": TERM, "commit_index": 3,
                                              "entries": [], "prevLogIdx": 5, "prevLogTerm": TERM})
    assert node.raftCommitIndex == 4, "an append-entries sent before the answer does not take it back"


@pytest.mark.parametrize("stamp, why", [
    ([5, TERM - 1], "its entry at 5 is of another term: another log"),
    ([6, TERM], "it does not hold entry 6"),
    ([2, TERM], "committed already"),
    (None, "a leader of an older release"),
    ([4], "malformed"),
    (["4", TERM], "malformed"),
])
def test_a_follower_keeps_its_commit_index_unless_it_holds_the_answers_entry(tmp_path, reads_clock, stamp, why):
    rep, node, leader = follower_behind(tmp_path)
    assert answer_read_index(rep, node, leader, 5, stamp) == [(5, None)], "the read still gets its index"
    assert node.raftCommitIndex == 2, why
    assert node.took_only_quiet() is True and node.follower_log.commits_learnt == 0


def test_the_tick_that_applies_a_learnt_commit_is_asked_for_before_the_answer_is_handed_on(tmp_path, reads_clock):
    """The reads an answer serves then find its index applied when their turn comes (no task
    waiting for the apply): the loop runs the tick first."""
    rep, node, leader = follower_behind(tmp_path)
    order = []
    node.rc_tick_soon = lambda: order.append("tick")
    node.rc_on_read_index_reply = lambda sender, message: order.append(("answer", message["index"])) or True
    reply = {"type": "rc_read_index_reply", "id": 1, "error": None}
    node._SyncObj__onMessageReceived(leader, dict(reply, index=4, rc_commit=[4, TERM]))
    node._SyncObj__onMessageReceived(leader, dict(reply, index=5, rc_commit=[5, TERM - 1]))   # nothing learnt
    assert order == ["tick", ("answer", 4), ("answer", 5)]


def test_a_forwarded_batchs_answer_commits_nothing(tmp_path, reads_clock):
    """A write's client is answered without waiting for this node's apply: the answer to a
    forwarded batch sets no commit index (a read that must see the writes asks for a read index)."""
    rep, node, leader = follower_behind(tmp_path)
    node._SyncObj__onMessageReceived(leader, {"type": "rc_forward_reply", "id": 1, "data": b"r", "error": None,
                                              "rc_commit": [4, TERM]})
    assert node.raftCommitIndex == 2 and node.follower_log.commits_learnt == 0


def test_a_leader_does_not_take_a_commit_index_from_a_message(tmp_path, reads_clock):
    rep, node, (a, _) = ready_leader(tmp_path)
    node.raft_log.add(b"\x02", 3, TERM)
    assert node.follower_log.learn_commit([3, TERM]) is False and node.raftCommitIndex == 2


def test_the_loop_ticks_after_a_raft_event_unless_it_was_quiet(tmp_path, reads_clock):
    rep, node, (a, _) = ready_leader(tmp_path)
    ticks = []
    rep._driver = types.SimpleNamespace(soon=lambda: ticks.append(1))
    node.rc_on_read_index = lambda peer, message: rep._reads.on_request(node, peer, message, rep.lease_read_index)
    rep._reads.step(node, rep.lease_read_index)
    node._SyncObj__onMessageReceived(a, {"type": "rc_read_index", "id": 1, "lease": False, "term": TERM})
    rep._after_raft_event()
    assert ticks == [], "a request answered at once"
    rep._after_raft_event()   # an event that carried no message (a write-ready socket, a partial frame)
    assert ticks == [1]
