"""Forwarded writes over the Raft connection: node/raft/forwards.py on a real RaftNode without
sockets (the recording transport of test_replication_truncation), and the service's
RaftForwarder (node/service/forwarding.py) choosing between it and gRPC."""

from __future__ import annotations

import asyncio
import types

import pytest
from pysyncobj.node import TCPNode

from raftcache.node import commands
from raftcache.node.errors import CommandError, DeadlineError, NotLeaderError, Reason, UnavailableError
from raftcache.node.raft import forwards as forwards_module
from raftcache.node.raft.forwards import REMOTE_MAX_BYTES, RaftForwards, ResendOverGrpc
from raftcache.node.service import grpc_codec
from raftcache.node.service.forwarding import RaftForwarder
from raftcache.proto import cache_pb2, commands_pb2 as pb

from tests.unit.test_replication_truncation import PEER, make_node
from tests.unit.test_readindex import follower_of, ready_leader, sent
from tests.unit.test_replication_lease import clock  # noqa: F401 - a fixture


class Answers:
    """Records callback(data, error) calls."""

    def __init__(self):
        self.got: list[tuple] = []

    def __call__(self, data, error):
        self.got.append((data, error))


@pytest.fixture
def fw_clock(clock):  # noqa: F811 - the fixture imported above
    return clock


def forwarding_follower(tmp_path, leader_forwards: bool = True):
    """A follower whose leader (its first peer) stamps rc_fw when `leader_forwards`; the
    recording transport connects nothing, so `node.link_up` says whether the link is up."""
    rep, node, peers = follower_of(tmp_path)
    node.rc_leader_forwards = leader_forwards
    node.link_up = True
    node.connected_to = lambda peer: node.link_up
    return rep, node, peers


def test_the_raft_node_stamps_rc_fw_only_when_it_serves_forwards_and_routes_the_messages(tmp_path):
    node, transport, _ = make_node(tmp_path)
    peer = TCPNode(PEER)
    transport.send(peer, {"type": "append_entries", "term": 1})
    assert "rc_fw" not in transport.sent[-1][1], "no handler: the leader does not offer it"
    node.rc_serves_forwards = True
    transport.send(peer, {"type": "append_entries", "term": 1})
    assert transport.sent[-1][1]["rc_fw"] == 1
    heartbeat = {"type": "append_entries", "term": 1, "commit_index": 0, "entries": [], "prevLogIdx": 1,
                 "prevLogTerm": 0}
    node._SyncObj__onMessageReceived(peer, dict(heartbeat, rc_fw=1))
    assert node.rc_leader_forwards is True
    node._SyncObj__onMessageReceived(peer, dict(heartbeat))
    assert node.rc_leader_forwards is False, "an older leader"
    got = []
    node.rc_on_forward = lambda sender, message: got.append(("request", sender, message["id"]))
    node.rc_on_forward_reply = lambda sender, message: got.append(("reply", sender, message["id"]))
    node._SyncObj__onMessageReceived(peer, {"type": "rc_forward", "id": 3, "data": b"x"})
    node._SyncObj__onMessageReceived(peer, {"type": "rc_forward_reply", "id": 4, "data": b"y", "error": None})
    assert got == [("request", peer, 3), ("reply", peer, 4)]


def test_a_follower_sends_its_batch_to_the_leader_and_gets_the_reply(tmp_path, fw_clock):
    rep, node, (leader, other) = forwarding_follower(tmp_path)
    answers = Answers()
    assert rep._forwards.ask(node, b"batch", fw_clock.now + 2.0, answers)
    (peer, message), = sent(node, "rc_forward")
    assert peer == leader and message["data"] == b"batch"
    reply = {"type": "rc_forward_reply", "id": message["id"], "data": b"replies", "error": None}
    rep._forwards.on_reply(other, dict(reply, data=b"not ours"))
    assert answers.got == [], "only the leader asked answers"
    rep._forwards.on_reply(leader, reply)
    rep._forwards.on_reply(leader, dict(reply, data=b"again"))
    assert answers.got == [(b"replies", None)], "one answer per ask"


def test_a_restarted_follower_never_takes_its_previous_processs_answers():
    first, second = RaftForwards(), RaftForwards()
    assert next(first._ids) != next(second._ids), "ids start at random (a collision: 1 in 2**62)"


def test_malformed_answers_never_raise(tmp_path, fw_clock):
    rep, node, (leader, _) = forwarding_follower(tmp_path)
    answers = Answers()
    rep._forwards.ask(node, b"batch", fw_clock.now + 2.0, answers)
    (_, message), = sent(node, "rc_forward")
    for bad in ({"id": [1]}, {"id": "x"}, {}):
        rep._forwards.on_reply(leader, bad)
    rep._forwards.on_reply(leader, {"id": message["id"], "data": None, "error": ([1], "x")})
    assert isinstance(answers.got[0][1], UnavailableError)
    rep._forwards.on_request(node, leader, {"id": [2], "data": b"x"})
    rep._forwards.on_request(node, leader, {"data": b"x"})
    assert sent(node, "rc_forward_reply") == [], "no id: nothing to answer"


def test_a_follower_does_not_send_what_must_go_over_grpc(tmp_path, fw_clock):
    rep, node, _ = forwarding_follower(tmp_path, leader_forwards=False)
    assert not rep._forwards.ask(node, b"batch", fw_clock.now + 2.0, Answers()), "an older leader"
    node.rc_leader_forwards = True
    assert not rep._forwards.ask(node, b"x" * (REMOTE_MAX_BYTES + 1), fw_clock.now + 2.0, Answers()), "too large"
    transport_send = node._SyncObj__transport.send
    node._SyncObj__transport.send = lambda peer, message: False   # the link is down
    assert not rep._forwards.ask(node, b"batch", fw_clock.now + 2.0, Answers()), "not sent"
    node._SyncObj__transport.send = transport_send
    node._SyncObj__raftLeader = None
    assert not rep._forwards.ask(node, b"batch", fw_clock.now + 2.0, Answers()), "no leader"
    assert sent(node, "rc_forward") == [] and rep._forwards._asks == {}


def test_a_follower_keeps_at_most_max_asks_on_the_raft_connection(tmp_path, fw_clock):
    rep, node, (leader, _) = forwarding_follower(tmp_path)
    asks = [rep._forwards.ask(node, b"batch", fw_clock.now + 2.0, Answers()) for _ in range(forwards_module.MAX_ASKS + 1)]
    assert asks == [True] * forwards_module.MAX_ASKS + [False], "the next goes over gRPC"
    first = sent(node, "rc_forward")[0][1]["id"]
    rep._forwards.on_reply(leader, {"id": first, "data": b"r", "error": None})
    assert rep._forwards.ask(node, b"batch", fw_clock.now + 2.0, Answers()), "room again"
    big = b"x" * REMOTE_MAX_BYTES
    (tmp_path / "bytes").mkdir()
    rep2, node2, _ = forwarding_follower(tmp_path / "bytes")
    fits = forwards_module.MAX_ASK_BYTES // len(big)
    assert [rep2._forwards.ask(node2, big, fw_clock.now + 2.0, Answers()) for _ in range(fits + 1)] == \
        [True] * fits + [False], "and at most MAX_ASK_BYTES"


def test_an_ask_fails_when_the_leader_changes_or_its_deadline_passes(tmp_path, fw_clock):
    rep, node, (leader, other) = forwarding_follower(tmp_path)
    changed, late, dropped = Answers(), Answers(), Answers()
    rep._forwards.ask(node, b"one", fw_clock.now + 2.0, changed)
    node._SyncObj__raftLeader = other
    rep._forwards.ask(node, b"two", fw_clock.now + 2.0, late)
    rep._forwards.step(node, fw_clock.now)
    assert isinstance(changed.got[0][1], NotLeaderError) and late.got == []
    fw_clock.now += 2.5
    rep._forwards.step(node, fw_clock.now)
    assert isinstance(late.got[0][1], DeadlineError), "the outcome is unknown, as a gRPC deadline"
    rep._forwards.ask(node, b"three", fw_clock.now + 2.0, dropped)
    node.link_up = False   # the message or its answer may be lost: retry (the writes carry their identity)
    rep._forwards.step(node, fw_clock.now)
    assert type(dropped.got[0][1]) is UnavailableError


def test_a_leaders_errors_come_back_as_their_exceptions(tmp_path, fw_clock):
    rep, node, _ = forwarding_follower(tmp_path)
    answers = Answers()
    for _ in range(3):
        rep._forwards.ask(node, b"batch", fw_clock.now + 2.0, answers)
    ids = [m["id"] for _, m in sent(node, "rc_forward")]
    leader = node.leader_node
    rep._forwards.on_reply(leader, {"id": ids[0], "data": None, "error": (Reason.NOT_LEADER.value, "not the leader")})
    rep._forwards.on_reply(leader, {"id": ids[1], "data": None, "error": ("resend", "too large")})
    rep._forwards.on_reply(leader, {"id": ids[2], "data": None, "error": "garbage"})
    kinds = [type(error) for _, error in answers.got]
    assert kinds == [NotLeaderError, ResendOverGrpc, UnavailableError]


def test_closing_fails_every_ask(tmp_path, fw_clock):
    rep, node, _ = forwarding_follower(tmp_path)
    answers = Answers()
    rep._forwards.ask(node, b"batch", fw_clock.now + 2.0, answers)
    rep._forwards.close()   # (Replicator.close calls it once the node is down)
    assert isinstance(answers.got[0][1], UnavailableError)
    assert not rep._forwards.ask(node, b"batch", fw_clock.now + 2.0, answers), "nothing more is sent"


def test_the_leader_runs_a_batch_with_the_handler_and_answers_once(tmp_path):
    rep, node, (follower, _) = ready_leader(tmp_path)
    forwards = RaftForwards()
    running = []
    forwards.handler = lambda data, reply: running.append((data, reply))
    forwards.on_request(node, follower, {"type": "rc_forward", "id": 7, "data": b"batch"})
    (data, reply), = running
    assert data == b"batch" and sent(node, "rc_forward_reply") == []
    reply(b"replies", None)
    (peer, message), = sent(node, "rc_forward_reply")
    assert peer == follower and message == {"type": "rc_forward_reply", "id": 7, "data": b"replies", "error": None}
    assert forwards.served == 1


def test_the_leader_refuses_what_it_cannot_run(tmp_path):
    rep, node, (follower, _) = ready_leader(tmp_path)
    forwards = RaftForwards()
    forwards.on_request(node, follower, {"id": 1, "data": b"batch"})   # no handler installed
    forwards.handler = lambda data, reply: None                        # runs forever
    forwards.on_request(node, follower, {"id": 2, "data": "not bytes"})
    for i in range(forwards_module.MAX_RUNNING_PER_PEER + 1):
        forwards.on_request(node, follower, {"id": 10 + i, "data": b"batch"})
    errors = [m["error"] for _, m in sent(node, "rc_forward_reply")]
    assert errors[0][0] == Reason.NOT_LEADER.value and errors[1][0] == Reason.UNAVAILABLE.value
    assert len(errors) == 3 and errors[2][0] == "resend", "one more than the bound: nothing ran, over gRPC"
    assert forwards.served == 0


def test_a_reply_too_large_for_a_raft_message_asks_for_grpc(tmp_path):
    rep, node, (follower, _) = ready_leader(tmp_path)
    forwards = RaftForwards()
    forwards.handler = lambda data, reply: reply(b"x" * (REMOTE_MAX_BYTES + 1), None)
    forwards.on_request(node, follower, {"id": 1, "data": b"batch"})
    (_, message), = sent(node, "rc_forward_reply")
    assert message["data"] is None and message["error"][0] == "resend"


# ---------------------------------------------------------------- the service's RaftForwarder


class FakeReplicator:
    def __init__(self, leader_id="n1", accepts=True):
        self.leader_id = leader_id
        self.accepts = accepts
        self.sent: list[bytes] = []
        self.answer = None   # (data, error) given at once

    def forward(self, data, timeout_s, callback):
        if not self.accepts:
            return False
        self.sent.append(data)
        callback(*self.answer)
        return True


class FakeGrpc:
    def __init__(self):
        self.batches = []

    async def forward_batch(self, node_id, requests):
        self.batches.append((node_id, requests))
        return [("grpc", 0)] * len(requests)


def write(key: bytes, sequence: int = 1, client: str | None = None):
    """A SET as the service forwards it: its own client id (the key's unless given) and sequence."""
    return (pb.Command(set=pb.Set(key=key, value=b"v")), None, client or f"client-{key.decode()}", sequence)


def batch_of(*requests) -> bytes:
    """A follower's RequestBatch of `requests` (write()'s tuples), encoded."""
    out = cache_pb2.RequestBatch()
    for request in requests:
        grpc_codec.request_to_proto(*request, out=out.requests.add())
    return out.SerializeToString()


def replies_for(outcomes) -> bytes:
    batch = cache_pb2.ReplyBatch()
    for outcome in outcomes:
        grpc_codec.outcome_to_reply(outcome, batch.replies.add())
    return batch.SerializeToString()


def test_writes_with_identities_to_the_raft_leader_go_over_the_raft_connection():
    replicator, grpc_forwarder = FakeReplicator(), FakeGrpc()
    replicator.answer = (replies_for([(1, 5), (1, 6)]), None)
    forwarder = RaftForwarder(grpc_forwarder, replicator, 5.0)
    outcomes = asyncio.run(forwarder.forward_batch("n1", [write(b"a", 1), write(b"b", 2)]))
    assert outcomes == [(1, 5), (1, 6)]
    sent = cache_pb2.RequestBatch.FromString(replicator.sent[0])
    assert [r.command.set.key for r in sent.requests] == [b"a", b"b"] and [r.sequence for r in sent.requests] == [1, 2]
    assert grpc_forwarder.batches == []


def test_reads_writes_without_identity_and_other_leaders_go_over_grpc():
    replicator, grpc_forwarder = FakeReplicator(), FakeGrpc()
    forwarder = RaftForwarder(grpc_forwarder, replicator, 5.0)
    read = (pb.Command(get=pb.Get(key=b"a")), object(), "", 0)
    asyncio.run(forwarder.forward_batch("n1", [read]))
    asyncio.run(forwarder.forward_batch("n1", [write(b"a", 0)]))
    asyncio.run(forwarder.forward_batch("n2", [write(b"a")]))
    asyncio.run(forwarder.forward_batch("n1", [write(b"a", 1, "c"), write(b"b", 2, "c")]))   # one client twice
    replicator.accepts = False
    asyncio.run(forwarder.forward_batch("n1", [write(b"a")]))
    assert replicator.sent == [] and len(grpc_forwarder.batches) == 5


def test_a_reply_too_large_is_fetched_again_over_grpc_and_errors_raise():
    replicator, grpc_forwarder = FakeReplicator(), FakeGrpc()
    forwarder = RaftForwarder(grpc_forwarder, replicator, 5.0)
    replicator.answer = (None, ResendOverGrpc("too large"))
    assert asyncio.run(forwarder.forward_batch("n1", [write(b"a")])) == [("grpc", 0)]
    assert len(replicator.sent) == 1 and len(grpc_forwarder.batches) == 1
    replicator.answer = (None, NotLeaderError("the leader changed"))
    with pytest.raises(NotLeaderError):
        asyncio.run(forwarder.forward_batch("n1", [write(b"a")]))


def test_the_leader_end_refuses_a_malformed_batch_and_a_batch_it_cannot_lead():
    from raftcache.node.frontends.grpc import RaftForwardedBatches

    async def run(service, data: bytes):
        answers = Answers()
        RaftForwardedBatches(service)(data, answers)
        for _ in range(10):   # the batch runs in a task of its own
            await asyncio.sleep(0)
        return answers.got

    (data, error), = asyncio.run(run(types.SimpleNamespace(is_leader=True), b"\xff\xff\xff"))
    assert data is None and isinstance(error, UnavailableError) and "malformed" in error.message
    (data, error), = asyncio.run(run(types.SimpleNamespace(is_leader=False), cache_pb2.RequestBatch().SerializeToString()))
    assert data is None and isinstance(error, NotLeaderError)


def test_nothing_is_sent_to_a_leader_before_its_connection_is_up(tmp_path):
    """PySyncObj marks a dialled connection CONNECTED before the keys are exchanged; a message
    sent then would close it. Only a node PySyncObj counts as connected gets one."""
    node, transport, _ = make_node(tmp_path)
    peer = TCPNode(PEER)
    assert not node.send_forward(peer, 1, b"batch") and not node.send_read_index(peer, 2, False, 1.0)
    assert transport.sent == []
    node._SyncObj__connectedNodes.add(peer)
    assert node.send_forward(peer, 1, b"batch") and node.send_read_index(peer, 2, False, 1.0)
    assert [m["type"] for _, m in transport.sent] == ["rc_forward", "rc_read_index"]


# ---------------------------------------------------------------- the coalescer on the Raft path


class HeldReplicator(FakeReplicator):
    """Keeps each batch's callback until the test answers it."""

    def __init__(self):
        super().__init__()
        self.callbacks: list = []

    def forward(self, data, timeout_s, callback):
        self.sent.append(data)
        self.callbacks.append(callback)
        return True


def test_the_coalescer_sends_the_next_batch_from_the_answer_of_the_last_without_a_task():
    """WriteCoalescer with a RaftForwarder: a batch goes out as soon as a slot is free (at most
    `window` in flight), from the answer to the one before it, in the same call (no task
    between them); each write's future gets its own outcome in order; an error answers every
    write of its batch; a forwarder without start_batch (gRPC only) still sends through tasks."""
    from raftcache.node.service.forwarding import WriteCoalescer

    async def go():
        replicator = HeldReplicator()
        forwarder = RaftForwarder(FakeGrpc(), replicator, 5.0)
        coalescer = WriteCoalescer(max_batch=2, window=1)
        futures = [coalescer.forward(forwarder, "n1", pb.Command(set=pb.Set(key=key, value=b"v")), f"c{n}", n + 1)
                   for n, key in enumerate([b"a", b"b", b"c", b"d", b"e"])]
        await asyncio.sleep(0)   # the turn's writes joined: the first batch goes
        assert [len(cache_pb2.RequestBatch.FromString(d).requests) for d in replicator.sent] == [2]
        replicator.callbacks[0](replies_for([(1, 7), CommandError("ERR no")]), None)
        # the next batch left from that answer, before any other turn of the loop
        assert len(replicator.sent) == 2
        assert [r.command.set.key for r in cache_pb2.RequestBatch.FromString(replicator.sent[1]).requests] == [b"c", b"d"]
        replicator.callbacks[1](None, NotLeaderError("the leader changed"))
        assert len(replicator.sent) == 3
        replicator.callbacks[2](replies_for([(1, 9)]), None)
        assert futures[0].result() == (1, 7)
        assert isinstance(futures[1].result()[0], CommandError)
        for fut in futures[2:4]:
            assert isinstance(fut.exception(), NotLeaderError)
        assert futures[4].result() == (1, 9)
        # an answer this node cannot read fails its batch's writes (retryable), and frees the slot
        garbled = [coalescer.forward(forwarder, "n1", pb.Command(set=pb.Set(key=key, value=b"v")), f"g{n}", 1)
                   for n, key in enumerate([b"p", b"q", b"r"])]
        await asyncio.sleep(0)
        replicator.callbacks[3](b"\xff\xff not a reply batch", None)
        assert len(replicator.sent) == 5, "the next batch left from the garbled answer"
        replicator.callbacks[4](replies_for([(1, 11)]), None)
        assert [type(fut.exception()) for fut in garbled[:2]] == [UnavailableError] * 2
        assert garbled[2].result() == (1, 11)
        # a gRPC-only forwarder: the same outcomes through a task
        grpc_only = FakeGrpc()
        more = [coalescer.forward(grpc_only, "n1", pb.Command(set=pb.Set(key=key, value=b"v")), "c", n)
                for n, key in enumerate([b"x", b"y"], start=1)]
        assert await asyncio.gather(*more) == [("grpc", 0), ("grpc", 0)]
        assert [len(requests) for _, requests in grpc_only.batches] == [2]

    asyncio.run(go())


def test_the_leader_proposes_a_batch_of_writes_in_the_turn_it_arrives_and_answers_each(tmp_path):
    """RaftForwardedBatches: a follower's batch of writes, each of its own client, is proposed
    as it arrives (one group commit in that loop turn, no task first) and answered once, each
    write's reply in its place; a batch it does not take that way (a client twice) runs in a
    task and gets the same kind of answer."""
    from raftcache.node.frontends.grpc import RaftForwardedBatches
    from tests.unit.test_service import service_on_fake_raft

    service, raft, _, keyspace = service_on_fake_raft(tmp_path)

    async def go():
        service.attach(asyncio.get_running_loop())
        handler, answers = RaftForwardedBatches(service), Answers()
        incr = (pb.Command(incr_by=pb.IncrBy(key=b"a", delta=1)), None, "client-x", 1)
        handler(batch_of(write(b"a", 1), write(b"b", 2), incr), answers)
        await asyncio.sleep(0)   # one turn: the group commit of this turn proposed all three
        assert [entry.command.WhichOneof("op") for entry in raft.proposals] == ["set", "set", "incr_by"]
        for _ in range(5):
            await asyncio.sleep(0)
        (data, error), = answers.got
        replies = [grpc_codec.reply_to_outcome(r) for r in cache_pb2.ReplyBatch.FromString(data).replies]
        assert error is None and [result for result, _ in replies[:2]] == ["OK", "OK"]
        assert isinstance(replies[2][0], CommandError) and replies[2][0].reason == Reason.NOT_INTEGER
        twice = Answers()
        handler(batch_of(write(b"c", 1, "same"), write(b"d", 2, "same")), twice)
        await asyncio.sleep(0)
        assert len(raft.proposals) == 3, "a task runs that batch: nothing proposed in its first turn"
        for _ in range(10):
            await asyncio.sleep(0)
        (data, error), = twice.got
        assert error is None and len(cache_pb2.ReplyBatch.FromString(data).replies) == 2
        # a write the log's version in force does not allow yet (PFADD needs 4; this log is at 1):
        # the task runs the batch, which keeps that write's place (it waits, the next one after it)
        proposed = len(raft.proposals)
        later = Answers()
        pfadd = (pb.Command(pfadd=pb.PfAdd(key=b"h", elements=[b"x"])), None, "client-h", 1)
        handler(batch_of(pfadd, write(b"e", 1)), later)
        await asyncio.sleep(0)
        assert len(raft.proposals) == proposed
        # the malformed and the not-leader answers come at once
        refused = Answers()
        handler(b"\xff\xff\xff", refused)
        service._raft.is_leader = False
        handler(batch_of(write(b"f", 1)), refused)
        assert [type(error) for _, error in refused.got] == [UnavailableError, NotLeaderError]

    try:
        asyncio.run(go())
    finally:
        keyspace.close()


def test_a_followers_batch_of_plain_sets_is_proposed_as_the_leaders_own_each_with_its_identity(tmp_path):
    """RaftForwardedBatches: a follower's batch of plain SETs (strings.is_plain_set) is proposed in
    the turn it arrives as the leader's own plain SETs are (GroupCommit.propose_plain_set: one
    SetBatch entry), each SET with its write's identity; the same batch again (the follower's retry of an answer it
    lost) is answered from the dedup table, nothing applied twice; a batch holding a SET with an
    option goes the common way (start_write), each write still with its identity."""
    from raftcache.node.frontends.grpc import RaftForwardedBatches
    from tests.unit.test_service import service_on_fake_raft

    service, raft, _, keyspace = service_on_fake_raft(tmp_path)
    service._sm.log_version = commands.MAX_VERSION
    plain = []
    propose_plain_set = service._commits.propose_plain_set

    def spied(command, client_id="", sequence=0):
        plain.append((command.set.key, client_id, sequence))
        return propose_plain_set(command, client_id, sequence)

    service._commits.propose_plain_set = spied

    def logged(entries) -> list:
        """(key, client_id, sequence) of each SET the log got, a SetBatch's in its order."""
        out = []
        for e in entries:
            if e.command.WhichOneof("op") == "set_batch":
                out += [(s.key, s.client_id, s.sequence) for s in e.command.set_batch.sets]
            else:
                out.append((e.command.set.key, e.client_id, e.sequence))
        return out

    def results(answers: Answers) -> list:
        (data, error), = answers.got
        assert error is None
        return [grpc_codec.reply_to_outcome(r)[0] for r in cache_pb2.ReplyBatch.FromString(data).replies]

    async def settle():
        for _ in range(5):
            await asyncio.sleep(0)

    async def go():
        service.attach(asyncio.get_running_loop())
        handler = RaftForwardedBatches(service)
        sets = [write(b"a", 7, "lane-1"), write(b"b", 9, "lane-2")]
        first = Answers()
        handler(batch_of(*sets), first)
        await asyncio.sleep(0)
        assert logged(raft.proposals) == plain == [(b"a", "lane-1", 7), (b"b", "lane-2", 9)]
        assert [e.command.WhichOneof("op") for e in raft.proposals] == ["set_batch"], "one entry, as the leader's own"
        await settle()
        assert results(first) == ["OK", "OK"]
        changes, again = service._sm.changes, Answers()
        handler(batch_of(*sets), again)
        await settle()
        assert results(again) == ["OK", "OK"] and service._sm.changes == changes, "replays: nothing applied again"
        nx = (pb.Command(set=pb.Set(key=b"c", value=b"v", condition=pb.IF_ABSENT)), None, "lane-3", 1)
        mixed = Answers()
        handler(batch_of(write(b"d", 1, "lane-4"), nx), mixed)
        await asyncio.sleep(0)
        assert logged(raft.proposals[-2:]) == [(b"d", "lane-4", 1), (b"c", "lane-3", 1)]
        assert len(plain) == 4, "the plain ones of the batch sent again, none of the mixed batch"
        await settle()
        assert results(mixed) == ["OK", "OK"]

    try:
        asyncio.run(go())
    finally:
        keyspace.close()
