"""Service.execute with a real state machine and keyspace, and a fake Raft neighbour.

The fake replicator applies proposals in order (as a one-node Raft would)
and counts them and its ReadIndex rounds, so these tests can check round
sharing, stamping, forwarding, read floors and retry decisions without sockets.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from raftcache.node import commands
from raftcache.node.config import KeyspaceConfig, NodeConfig, ReplicationConfig, ServiceConfig
from raftcache.node.errors import CommandError, DeadlineError, NotLeaderError, Reason, UnavailableError
from raftcache.node.storage.keyspace import Keyspace, Record, ValueType
from raftcache.node.service import access, group_commit
from raftcache.node.service.service import NOT_NOW, PARKED, ReadConsistency, Service, stamp
from raftcache.node.service.session import Session
from raftcache.node.commands.statemachine import StateMachine
from raftcache.proto import commands_pb2 as pb


async def pipeline(service: Service, requests: list) -> list:
    """Run `requests` [(command, level, client_id, sequence)] as one pipeline of a session: their outcomes."""
    run = Session(service, "grpc").run()
    for command, consistency, client_id, sequence in requests:
        await run.add(command, lambda outcome: outcome, consistency, client_id, sequence)
    await run.settle()
    return run.take()


class FakeRaft:
    """Applies each proposal at the next index, on the next loop turn."""

    def __init__(self, sm: StateMachine):
        self.sm = sm
        self.is_leader = True
        self.leader_id = "n1"
        self.term = 1
        self.applied_index = 0
        self.proposals: list[pb.LogEntry] = []
        self.lease = True
        self.contact_s = 0.0
        self.reject_with: Exception | None = None
        self.read_rounds = 0                 # as leader: heartbeat rounds
        self.asks: list[bool] = []           # as follower: requests to the leader (lease?)
        self.leader_index = 0                # what the leader answers them
        self.held: list | None = None        # when a list: the leader's answers wait here
        self.apply_blocked = ""
        self.read_index_error: Exception | None = None
        self.read_index_at_once = False      # as follower: the leader answers without a round
        self.peer_request_counts = {}

    def propose(self, data, callback):
        if self.reject_with is not None:
            callback(None, 0, self.reject_with)
            return
        self.proposals.extend(commands.decode_entries(data))

        def apply():
            self.applied_index += 1
            callback(self.sm.apply(self.applied_index, data), self.applied_index, None)

        asyncio.get_running_loop().call_soon(apply)

    def read_index(self, callback, timeout_s, lease=False):
        """On the leader one heartbeat round: answers the applied index (= commit index here);
        on a follower a request to the leader, answered `leader_index`; next loop turn."""
        loop = asyncio.get_running_loop()
        error = self.read_index_error
        if self.is_leader:
            self.read_rounds += 1
            loop.call_soon(callback, None, self.applied_index, error)
            return
        self.asks.append(lease)
        answer = (callback, None, self.leader_index, error)
        if self.held is not None:
            self.held.append(answer)
        else:
            loop.call_soon(*answer)

    def release(self):
        held, self.held = self.held, []
        for answer in held:
            answer[0](*answer[1:])

    def lease_read_index(self):
        return self.applied_index if self.is_leader and self.lease else None

    def lease_valid(self):
        return self.lease

    def last_leader_contact_s(self):
        return self.contact_s


class FakeForwarder:
    def __init__(self):
        self.calls = []

    index = 99

    async def forward(self, node_id, command, consistency, client_id, sequence):
        self.calls.append((node_id, command.WhichOneof("op"), consistency))
        return commands.OK, self.index

    async def forward_batch(self, node_id, requests):
        self.calls.append((node_id, "batch", len(requests)))
        return [(commands.OK, 99)] * len(requests)


def service_on_fake_raft(tmp_path) -> tuple[Service, FakeRaft, FakeForwarder, Keyspace]:
    """A leader's Service whose Raft applies what it is given at once (close the keyspace after)."""
    limits = KeyspaceConfig(path=str(tmp_path / "ks"), maxmemory_bytes=1 << 24)
    config = NodeConfig(keyspace=limits, replication=ReplicationConfig(cluster_secret="s"),
                        service=ServiceConfig(request_timeout_s=0.3))
    keyspace = Keyspace(limits)
    sm = StateMachine(keyspace, limits)
    raft = FakeRaft(sm)
    forwarder = FakeForwarder()
    return Service(config, sm, raft, keyspace, forwarder), raft, forwarder, keyspace


@pytest.fixture
def env(tmp_path):
    service, raft, forwarder, keyspace = service_on_fake_raft(tmp_path)
    yield service, raft, forwarder
    keyspace.close()


def run(coro):
    return asyncio.run(coro)


def test_write_then_read(env):
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        result, index = await service.execute(pb.Command(set=pb.Set(key=b"k", value=b"v")))
        assert (result, index) == (commands.OK, 1)
        assert await service.execute(pb.Command(get=pb.Get(key=b"k"))) == (b"v", 1)  # no log entry for the read
        assert raft.read_rounds == 1 and len(raft.proposals) == 1

    run(go())


def test_linearizable_reads_share_one_heartbeat_round_and_write_nothing(env):
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        reads = [service.execute(pb.Command(get=pb.Get(key=b"k")), ReadConsistency("linearizable")) for _ in range(50)]
        results = await asyncio.gather(*reads)
        assert all(r == (None, 0) for r in results)
        assert raft.read_rounds == 1 and raft.proposals == []
        assert service.stats["read_index_requests"] == 1

    run(go())


def test_any_and_lease_reads_propose_nothing(env):
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        await service.execute(pb.Command(get=pb.Get(key=b"k")), ReadConsistency("any"))
        await service.execute(pb.Command(get=pb.Get(key=b"k")), ReadConsistency("lease"))
        assert raft.proposals == []
        assert raft.read_rounds == 0
        raft.lease = False  # a lease that does not hold falls back to a heartbeat round
        await service.execute(pb.Command(get=pb.Get(key=b"k")), ReadConsistency("lease"))
        assert raft.read_rounds == 1 and raft.proposals == []

    run(go())


def test_leader_stamps_relative_ttl_and_seed(env):
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        cmd = pb.Command(set=pb.Set(key=b"k", value=b"v"))
        cmd.set.expiry.ttl_ms = 5000
        await service.execute(cmd)
        entry = raft.proposals[0]
        assert not entry.command.set.expiry.HasField("ttl_ms")
        assert entry.command.set.expiry.expire_at_ms == entry.now_ms + 5000
        assert entry.seed != 0
        assert not cmd.set.expiry.HasField("expire_at_ms"), "the caller's command must not be modified"

    run(go())


def test_follower_forwards_writes_and_serves_linearizable_reads_after_a_read_index(env):
    service, raft, forwarder = env
    raft.is_leader, raft.leader_id = False, "n2"

    async def go():
        service.attach(asyncio.get_running_loop())
        assert await service.execute(pb.Command(set=pb.Set(key=b"k", value=b"v"))) == (commands.OK, 99)
        assert await service.execute(pb.Command(get=pb.Get(key=b"k")), ReadConsistency("linearizable")) == (None, 0)
        assert await service.execute(pb.Command(get=pb.Get(key=b"k")), ReadConsistency("lease")) == (None, 0)
        assert await service.execute(pb.Command(get=pb.Get(key=b"k")), ReadConsistency("any")) == (None, 0)
        assert forwarder.calls == [("n2", "set", None)], "reads are not forwarded"
        assert raft.asks == [False, True], "one ReadIndex request each, linearizable then lease"

    run(go())


@pytest.mark.parametrize("at_once", [False, True])
def test_follower_reads_waiting_together_share_one_read_index_request(env, at_once):
    """Reads arriving while ASK_WINDOW ReadIndex requests are in flight (ASK_WINDOW_AT_ONCE when
    the leader answers without a round) wait for the next one: one request per round, not per
    read; each read is served once this node applied the answer."""
    from raftcache.node.service.reads import ASK_WINDOW, ASK_WINDOW_AT_ONCE

    window = ASK_WINDOW_AT_ONCE if at_once else ASK_WINDOW
    service, raft, _ = env
    raft.is_leader, raft.leader_id = False, "n2"
    raft.read_index_at_once = at_once
    raft.leader_index = 2
    raft.held = []
    get = pb.Command(get=pb.Get(key=b"k"))

    async def go():
        service.attach(asyncio.get_running_loop())
        groups = []
        for _ in range(window + 1):
            groups.append([asyncio.ensure_future(service.execute(get)) for _ in range(20)])
            for _ in range(3):
                await asyncio.sleep(0)  # this group's request is sent (while a slot is free)
        assert len(raft.asks) == window, "the last group waits for a free slot"
        raft.release()
        for _ in range(5):
            await asyncio.sleep(0)
        raft.release()  # the last group's request went out when a slot was freed
        for _ in range(5):
            await asyncio.sleep(0)
        assert raft.asks == [False] * (window + 1)
        first, second = groups[0], sum(groups[1:], [])
        assert not any(f.done() for f in first + second), "nothing is read before the index is applied"
        for i in (1, 2):  # the leader's entries reach this node
            raft.applied_index = i
            raft.sm.apply(i, commands.encode_entry(pb.LogEntry(version=1, command=pb.Command(
                set=pb.Set(key=b"k", value=b"v%d" % i)))))
            service.on_applied(i)
        results = await asyncio.gather(*first, *second)
        assert results == [(b"v2", 2)] * 20 * (window + 1)
        assert service.stats["read_index_requests"] == window + 1

    run(go())


def test_start_read_serves_reads_from_the_shared_rounds_callback(env):
    """Service.start_read: a future per read, no task, one round for the reads started together;
    a read whose index is not applied yet, or whose round failed, still gets its answer."""
    service, raft, forwarder = env
    raft.is_leader, raft.leader_id = False, "n2"
    get = pb.Command(get=pb.Get(key=b"k"))
    linearizable = ReadConsistency("linearizable")

    async def go():
        service.attach(asyncio.get_running_loop())
        futures = [service.start_read(get, linearizable) for _ in range(30)]
        assert all(isinstance(f, asyncio.Future) and not isinstance(f, asyncio.Task) for f in futures)
        assert await asyncio.gather(*futures) == [(None, 0)] * 30
        assert raft.asks == [False] and forwarder.calls == []
        raft.leader_index = 1  # the leader is ahead: served once applied here
        late = service.start_read(get, linearizable)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not late.done()
        raft.applied_index = 1
        raft.sm.apply(1, commands.encode_entry(pb.LogEntry(version=1, command=pb.Command(
            set=pb.Set(key=b"k", value=b"v")))))
        service.on_applied(1)
        assert await late == (b"v", 1)
        raft.is_leader = True  # on the leader: its own round; a failed round is retried
        raft.read_index_error = NotLeaderError("deposed meanwhile")
        failing = service.start_read(get, linearizable)
        await asyncio.sleep(0.05)
        raft.read_index_error = None
        assert await failing == (b"v", 1)
        assert (await service.start_read(pb.Command(set=pb.Set(key=b"k", value=b"x"))))[0].reason \
            is Reason.INVALID_ARGUMENT, "not a read"

    run(go())


def test_gets_answers_a_rounds_gets_from_its_completion_in_one_loop_turn(env):
    """Service.gets (the Redis port's GETs at linearizable): the GETs started together
    share one ReadIndex request and are all answered from the round's completion, in the same
    loop turn, with what the node holds once the leader's index is applied; a failed round or
    a floor this node has not applied answers None (the ordinary path serves it)."""
    service, raft, forwarder = env
    raft.is_leader, raft.leader_id = False, "n2"
    linearizable = ReadConsistency("linearizable")

    async def go():
        loop = asyncio.get_running_loop()
        service.attach(loop)
        assert service.gets(0, [b"k"], ReadConsistency("any"), 0, print) == [None], "served at once"
        raft.leader_index = 1   # the leader is ahead: answered once this node applied index 1
        answers, turns, turn = [], [], [0]

        def count_turns():     # one call per loop turn
            turn[0] += 1
            loop.call_soon(count_turns)

        count_turns()
        for _ in range(10):
            parked = service.gets(0, [b"k"], linearizable, 0,
                                  lambda outcome: (answers.append(outcome), turns.append(turn[0])))
            assert parked is PARKED and not parked.done()
        raft.apply_blocked = "needs an upgrade"   # while reads wait: the next one goes the ordinary way at once
        assert service.gets(0, [b"k"], linearizable, 0, answers.append) is NOT_NOW
        raft.apply_blocked = ""
        for _ in range(5):
            await asyncio.sleep(0)
        assert answers == [], "nothing is read before the index is applied"
        raft.applied_index = 1
        raft.sm.apply(1, commands.encode_entry(pb.LogEntry(version=1, command=pb.Command(
            set=pb.Set(key=b"k", value=b"v")))))
        service.on_applied(1)
        for _ in range(5):
            await asyncio.sleep(0)
        assert answers == [([b"v"],)] * 10 and len(set(turns)) == 1
        assert raft.asks == [False], "one ReadIndex request for the ten"
        assert forwarder.calls == []
        raft.read_index_error = NotLeaderError("the leader changed")
        failed = []
        service.gets(0, [b"k"], linearizable, 0, failed.append)
        for _ in range(5):
            await asyncio.sleep(0)
        assert failed == [None], "a failed round: the ordinary path answers"
        raft.read_index_error = None
        floor = []
        service.gets(0, [b"k"], linearizable, 5, floor.append)   # a write of this connection not applied here
        for _ in range(5):
            await asyncio.sleep(0)
        assert floor == [None]
        # cluster mode: the key's slot starts moving after the GET joined the round, before its
        # index is applied here: the ordinary path answers (-ASK / -MOVED), not a read of this node
        moving = [False]
        service.cluster, service._not_here = object(), lambda key: moving[0]
        moved = []
        assert service.gets(0, [b"k"], linearizable, 0, moved.append) is not None
        moving[0] = True
        for _ in range(5):
            await asyncio.sleep(0)
        assert moved == [None]

    run(go())


def test_a_rounds_gets_read_together_each_answered_with_its_own_keys(env):
    """The GETs of one read round are read in one lookup (Service._round_values): each caller
    gets the values of its own keys in its own order, whatever the mix of one-key and
    many-key GETs and databases; one whose floor this node has not applied goes the ordinary
    path (None)."""
    service, raft, _ = env
    raft.is_leader, raft.leader_id = False, "n2"
    linearizable = ReadConsistency("linearizable")
    writes = [(0, b"a", b"1"), (0, b"b", b"2"), (0, b"c", b"3"), (1, b"a", b"db1")]
    for index, (db, key, value) in enumerate(writes, start=1):
        raft.sm.apply(index, commands.encode_entry(pb.LogEntry(version=1, command=pb.Command(
            db=db, set=pb.Set(key=key, value=value)))))
    raft.applied_index = raft.leader_index = len(writes)

    async def go():
        service.attach(asyncio.get_running_loop())
        asked = [(0, [b"c"], 0), (0, [b"b", b"zz", b"a"], 0), (0, [b"a"], 99), (0, [b"a", b"c"], 4)]
        answers: dict[int, object] = {}
        for n, (db, keys, floor) in enumerate(asked):
            assert service.gets(db, keys, linearizable, floor, lambda outcome, n=n: answers.__setitem__(n, outcome)) is PARKED
        for _ in range(5):
            await asyncio.sleep(0)
        assert answers == {0: ([b"3"],), 1: ([b"2", None, b"1"],), 2: None, 3: ([b"1", b"3"],)}
        # two databases in one round: each read in its own
        mixed: dict[int, object] = {}
        service.gets(1, [b"a"], linearizable, 0, lambda outcome: mixed.__setitem__(1, outcome))
        service.gets(0, [b"a", b"b"], linearizable, 0, lambda outcome: mixed.__setitem__(0, outcome))
        for _ in range(5):
            await asyncio.sleep(0)
        assert mixed == {1: ([b"db1"],), 0: ([b"1", b"2"],)}
        # a round that reports twice (a failure after answering) answers its GETs once
        once: list = []
        gets = [(0, 0, [b"a"], once.append)]
        service._reads._serve_gets(gets, len(writes), None)
        service._reads._serve_gets(gets, 0, RuntimeError("reported again"))
        assert once == [([b"1"],)]

    run(go())


def test_get_now_answers_as_gets_does_when_it_serves_at_once_and_leaves_the_rest_to_it(env):
    """Service.get_now (a -P 1 client's GET): whatever `gets` serves at once, get_now serves
    with the same value and the same bookkeeping (counters, hits and misses, the key's access);
    whatever `gets` would wait for or refuse (a level that waits for a read index, a floor not
    applied here, an over-long key, cluster mode) is NOT_NOW, with nothing counted."""
    service, raft, _ = env
    keyspace = raft.sm._keyspace

    async def go():
        service.attach(asyncio.get_running_loop())
        for command in (pb.Command(set=pb.Set(key=b"s", value=b"v")),
                        pb.Command(hset=pb.HSet(key=b"h", pairs=[pb.KeyValue(key=b"f", value=b"1")]))):
            await service.execute(command)
        raft.applied_index += 1
        with keyspace.writer(raft.applied_index) as w:   # a string whose deadline has passed
            w.put(0, b"gone", Record(ValueType.STRING, b"x", 1, raft.applied_index))

        def bookkeeping():
            return (dict(service.stats), keyspace.hits, keyspace.misses, sorted(service.access._keys))

        any_level = ReadConsistency("any")
        for key in (b"s", b"missing", b"gone", b"h"):
            before = bookkeeping()
            [expected] = service.gets(0, [key], any_level, 0)
            after_gets = bookkeeping()
            service.access._keys.clear()
            service.access._keys.update(dict.fromkeys(before[3], 0))
            service.stats.clear()
            service.stats.update(before[0])
            keyspace.hits, keyspace.misses = before[1], before[2]
            got = service.get_now(0, key, any_level, 0)
            assert (type(got), str(got)) == (type(expected), str(expected)), key   # (WRONGTYPE's error too)
            assert bookkeeping() == after_gets, key
        assert isinstance(service.get_now(0, b"h", any_level), CommandError)   # WRONGTYPE

        linearizable, lease = ReadConsistency("linearizable"), ReadConsistency("lease")
        refused = [(b"s", linearizable, 0), (b"s", any_level, raft.applied_index + 1),
                   (b"k" * (raft.sm.limits.max_key_bytes + 1), any_level, 0)]
        service._default = linearizable
        refused.append((b"s", None, 0))                      # the node's default level waits
        raft.lease = False
        refused.append((b"s", lease, 0))                     # a leader without its lease
        before = bookkeeping()
        for key, level, floor in refused:
            assert service.get_now(0, key, level, floor) is NOT_NOW, (key[:3], level, floor)
        assert bookkeeping() == before
        raft.lease = True
        assert service.get_now(0, b"s", lease) == b"v"       # the leader's lease covers it
        service._default = any_level
        assert service.get_now(0, b"s", None) == b"v"        # the node's default level serves at once
        service.cluster = object()
        assert service.get_now(0, b"s", any_level) is NOT_NOW   # cluster mode: gets decides -MOVED / -ASK

    run(go())


def test_a_leader_without_read_index_is_sent_the_read(env):
    """An older leader (no ReadIndex) during a rolling upgrade: the read is forwarded."""
    from raftcache.node.errors import ReadIndexUnsupported

    service, raft, forwarder = env
    raft.is_leader, raft.leader_id = False, "n2"
    raft.read_index_error = ReadIndexUnsupported("n2 has no ReadIndex")

    async def go():
        service.attach(asyncio.get_running_loop())
        assert await service.execute(pb.Command(get=pb.Get(key=b"k"))) == (commands.OK, 99)
        assert [c[:2] for c in forwarder.calls] == [("n2", "get")]

    run(go())


def test_a_read_waits_for_the_connections_floor_at_every_level(env):
    """Read-your-writes: a follower serves a connection's read only once it applied
    that connection's newest write (its floor), whatever the level."""

    service, raft, forwarder = env
    raft.is_leader, raft.leader_id = False, "n2"
    get = pb.Command(get=pb.Get(key=b"k"))

    async def go():
        service.attach(asyncio.get_running_loop())
        any_level = ReadConsistency("any")
        assert service.read_now(get, any_level) == (None, 0)
        assert service.read_now(get, any_level, floor=1) is None
        assert service.gets(0, [b"k"], any_level, floor=1) is NOT_NOW
        reads = [asyncio.ensure_future(service.execute(get, level, floor=1))
                 for level in (any_level, ReadConsistency("min_index", min_index=0), ReadConsistency("linearizable"),
                               ReadConsistency("bounded", bound_ms=1000))]
        for _ in range(5):
            await asyncio.sleep(0)
        assert not any(r.done() for r in reads)
        raft.applied_index = 1
        raft.sm.apply(1, commands.encode_entry(pb.LogEntry(version=1, command=pb.Command(
            set=pb.Set(key=b"k", value=b"mine")))))
        service.on_applied(1)
        assert [r[0] for r in await asyncio.gather(*reads)] == [b"mine"] * 4
        assert service.gets(0, [b"k"], any_level, floor=1) == [b"mine"]

    run(go())


def test_a_pipelines_reads_wait_for_its_forwarded_writes(env):
    """On a follower the leader answers a forwarded write once it applied it; the read
    after it in the pipeline waits until this node applied it too."""
    service, raft, forwarder = env
    raft.is_leader, raft.leader_id = False, "n2"
    forwarder.index = 1

    class OneByOne(FakeForwarder):
        async def forward_batch(self, node_id, requests):
            raise UnavailableError("no batch today")

    service.forwarder = one = OneByOne()
    one.index = 1

    async def go():
        service.attach(asyncio.get_running_loop())
        out = asyncio.ensure_future(pipeline(service, [
            (pb.Command(set=pb.Set(key=b"k", value=b"v")), None, "", 0),
            (pb.Command(get=pb.Get(key=b"k")), ReadConsistency("any"), "", 0)]))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not out.done()
        raft.applied_index = 1
        raft.sm.apply(1, commands.encode_entry(pb.LogEntry(version=1, command=pb.Command(
            set=pb.Set(key=b"k", value=b"v")))))
        service.on_applied(1)
        assert [o[0] for o in await out] == [commands.OK, b"v"]

    run(go())


def test_a_forwarded_write_is_retried_with_one_dedup_identity(env):
    """The leader may have logged a write whose forward failed (it died after
    committing): the retry must carry the same client id and sequence, so the
    state machine applies it once. Found by the chaos smoke run."""
    service, raft, _ = env
    raft.is_leader, raft.leader_id = False, "n2"
    seen = []

    class FlakyForwarder:
        async def forward(self, node_id, command, consistency, client_id, sequence):
            seen.append((client_id, sequence))
            if len(seen) == 1:
                raise UnavailableError("connection to the leader lost")
            return commands.OK, 7

    service.forwarder = FlakyForwarder()

    async def go():
        service.attach(asyncio.get_running_loop())
        assert await service.execute(pb.Command(set=pb.Set(key=b"k", value=b"v"))) == (commands.OK, 7)
        assert len(seen) == 2 and seen[0] == seen[1] and seen[0][0].startswith("fwd/") and seen[0][1] == 1
        await service.execute(pb.Command(set=pb.Set(key=b"k", value=b"w")))  # the lane is reused, next sequence
        assert seen[2] == (seen[0][0], 2)
        await service.execute(pb.Command(set=pb.Set(key=b"k", value=b"x")), client_id="sdk", sequence=9)
        assert seen[3] == ("sdk", 9)  # a client's own identity is kept

    run(go())


def test_a_forwarded_write_that_found_no_leader_again_is_answered_outcome_unknown(env):
    """A forward that failed may still have been logged (the leader died after committing it):
    when no leader answers a retry before the request timeout, the client must not be told the
    write can be sent again (TRYAGAIN) but that its outcome is unknown (TIMEOUT). A write that
    never found a leader to send it to is still UNAVAILABLE, safe to retry."""
    service, raft, _ = env
    raft.is_leader, raft.leader_id = False, "n2"

    class LostLeader:
        async def forward(self, node_id, command, consistency, client_id, sequence):
            raft.leader_id = None   # the leader went away with the write, maybe logged
            raise UnavailableError("the connection to the leader dropped; retry")

    service.forwarder = LostLeader()

    async def go():
        service.attach(asyncio.get_running_loop())
        with pytest.raises(DeadlineError, match="outcome is unknown"):
            await service.execute(pb.Command(incr_by=pb.IncrBy(key=b"n", delta=1)))
        with pytest.raises(UnavailableError, match="retry"):   # no leader from the start: never sent
            await service.execute(pb.Command(incr_by=pb.IncrBy(key=b"n", delta=1)))

    run(go())


def test_a_forwarded_batch_is_retried_with_the_identities_it_was_sent_with(env):
    """A follower's run of pipelined writes forwarded as one batch may be logged in
    part before the link fails: the one-by-one retry must reuse each write's
    identity (not add new ones), so nothing is applied twice. Own identities stay;
    the read after them is this node's, at its level."""
    service, raft, _ = env
    raft.is_leader, raft.leader_id = False, "n2"
    batches, retried = [], []

    class FlakyForwarder:
        async def forward_batch(self, node_id, requests):
            batches.append([(r[2], r[3]) for r in requests])
            raise UnavailableError("connection to the leader lost")

        async def forward(self, node_id, command, consistency, client_id, sequence):
            retried.append((client_id, sequence))
            return commands.OK, 7

    service.forwarder = FlakyForwarder()
    raft.applied_index = 7  # this follower applied what the leader answers (the read's floor)
    requests = [
        (pb.Command(set=pb.Set(key=b"a", value=b"1")), None, "", 0),
        (pb.Command(set=pb.Set(key=b"b", value=b"2")), None, "", 0),
        (pb.Command(set=pb.Set(key=b"c", value=b"3")), None, "sdk", 4),
        (pb.Command(get=pb.Get(key=b"a")), ReadConsistency("any"), "", 0),
    ]

    async def go():
        service.attach(asyncio.get_running_loop())
        results = await pipeline(service, requests)
        assert [r[0] for r in results] == [commands.OK, commands.OK, commands.OK, None]
        sent = batches[0]
        assert len(sent) == 3 and sent[2] == ("sdk", 4)
        assert sent[0][0].startswith("fwd/") and sent[1][0].startswith("fwd/") and sent[0] != sent[1]
        assert retried == sent
        assert len(batches) == 1, "the retries went one by one (forward), in order, not as another batch"
        retried.clear()
        await pipeline(service, requests[:2])  # the lanes were given back: reused, next sequence
        assert retried[0] in ((sent[0][0], sent[0][1] + 1), (sent[1][0], sent[1][1] + 1))

    run(go())


def test_a_followers_pipeline_of_plain_sets_goes_to_the_leader_as_one_batch(env):
    """Session.forward_plain_sets (a pipeline of plain SETs on a follower): one batch, each write
    under an identity of its own, `done` once with the outcomes in order, the connection's
    read-your-writes floor raised to the highest index; a batch that fails is retried one by one
    with the same identities, and `done` still comes once."""
    service, raft, _ = env
    raft.is_leader, raft.leader_id = False, "n2"
    batches, retried = [], []
    failing = []

    class Forwarder:
        async def forward_batch(self, node_id, requests):
            batches.append([(r[0].set.key, r[2], r[3]) for r in requests])
            if failing:
                raise UnavailableError("connection to the leader lost")
            return [(commands.OK, 10 + i) for i in range(len(requests))]

        async def forward(self, node_id, command, consistency, client_id, sequence):
            retried.append((command.set.key, client_id, sequence))
            return commands.OK, 20

    service.forwarder = Forwarder()

    async def go():
        service.attach(asyncio.get_running_loop())
        session = Session(service, "resp")
        answers = []
        sets = [pb.Command(set=pb.Set(key=b"k%d" % i, value=b"v")) for i in range(3)]
        session.forward_plain_sets(sets, answers.append)
        for _ in range(100):
            if answers:
                break
            await asyncio.sleep(0.01)
        assert answers == [[(commands.OK, 10), (commands.OK, 11), (commands.OK, 12)]]
        assert [key for key, _, _ in batches[0]] == [b"k0", b"k1", b"k2"]
        assert len({(client, sequence) for _, client, sequence in batches[0]}) == 3
        assert session.last_write_index == 12
        failing.append(True)
        answers.clear()
        session.forward_plain_sets(sets, answers.append)
        for _ in range(100):
            if answers:
                break
            await asyncio.sleep(0.01)
        assert answers == [[(commands.OK, 20)] * 3]
        assert retried == batches[1], "retried one by one, in order, with the identities sent"
        await asyncio.sleep(0.02)
        assert len(answers) == 1

    run(go())


def test_writes_forwarded_in_one_loop_turn_go_as_one_batch_with_their_own_outcomes(env):
    """A follower serving many -P 1 clients sends their writes to the leader
    as one ForwardBatch per loop turn; each caller gets its own slot's outcome."""
    service, raft, _ = env
    raft.is_leader, raft.leader_id = False, "n2"
    calls = []

    class Forwarder:
        async def forward_batch(self, node_id, requests):
            calls.append([r[0].set.key for r in requests])
            return [(commands.OK, 1), DeadlineError("lost in the middle"), (commands.OK, 3)][:len(requests)]

    service.forwarder = Forwarder()

    async def go():
        service.attach(asyncio.get_running_loop())
        futures = [service.start_write(pb.Command(set=pb.Set(key=b"k%d" % i, value=b"v")))[0] for i in range(3)]
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        assert calls == [[b"k0", b"k1", b"k2"]]
        assert outcomes[0] == (commands.OK, 1) and outcomes[2] == (commands.OK, 3)
        assert isinstance(outcomes[1], DeadlineError)

    run(go())


def test_a_retried_write_reports_the_index_it_was_first_applied_at(env):
    """A retry answered from the dedup table gets the first application's index, not its
    own entry's: the write's effect is at the first one (a later write may sit between)."""
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        cas = pb.Command(set=pb.Set(key=b"k", value=b"v"))
        assert await service.execute(cas, client_id="c", sequence=1) == (commands.OK, 1)
        assert await service.execute(pb.Command(set=pb.Set(key=b"k", value=b"w"))) == (commands.OK, 2)
        assert await service.execute(cas, client_id="c", sequence=1) == (commands.OK, 1)

    run(go())


def test_bounded_reads_prove_freshness_with_the_leader_not_with_message_arrival(env):
    service, raft, forwarder = env
    raft.is_leader, raft.leader_id = False, "n2"
    bounded = ReadConsistency("bounded", bound_ms=200)
    get = pb.Command(get=pb.Get(key=b"k"))

    async def go():
        service.attach(asyncio.get_running_loop())
        raft.contact_s = 0.0  # fresh-looking heartbeats prove nothing by themselves
        assert service.read_now(get, bounded) is None, "no proof yet"
        await service.execute(get, bounded)
        assert raft.asks == [True], "one lease ReadIndex, then a local read"
        await service.execute(get, bounded)
        assert service.read_now(get, bounded) == (None, 0), "the proof is reused within the bound"
        assert raft.asks == [True] and forwarder.calls == []
        await asyncio.sleep(0.25)  # the proof is older than the bound: a new one
        await service.execute(get, bounded)
        assert raft.asks == [True, True]

    run(go())


def test_no_leader_fails_with_a_retryable_error(env):
    service, raft, _ = env
    raft.is_leader, raft.leader_id = False, None

    async def go():
        service.attach(asyncio.get_running_loop())
        with pytest.raises(UnavailableError) as info:
            await service.execute(pb.Command(set=pb.Set(key=b"k", value=b"v")))
        assert info.value.retryable

    run(go())


def test_forwarded_request_on_a_non_leader_is_refused_not_forwarded_again(env):
    service, raft, forwarder = env
    raft.is_leader, raft.leader_id = False, "n3"

    async def go():
        service.attach(asyncio.get_running_loop())
        with pytest.raises(NotLeaderError):
            await service.execute_forwarded(pb.Command(set=pb.Set(key=b"k")), None, "", 0)
        assert forwarder.calls == []

    run(go())


def test_min_index_waits_for_apply(env):
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        read = asyncio.ensure_future(
            service.execute(pb.Command(get=pb.Get(key=b"k")), ReadConsistency("min_index", min_index=1)))
        await asyncio.sleep(0)
        assert not read.done()
        await service.execute(pb.Command(set=pb.Set(key=b"k", value=b"v")))
        service.on_applied(1)
        assert await read == (b"v", 1)

    run(go())


def test_limits_are_checked_before_proposing(env):
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        result, index = await service.execute(pb.Command(set=pb.Set(key=b"k" * 501, value=b"v")))
        assert isinstance(result, CommandError) and result.reason is Reason.KEY_TOO_LARGE
        assert raft.proposals == []

    run(go())


def test_a_relative_ttl_past_int64_is_refused_before_proposing(env):
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        command = pb.Command(set=pb.Set(key=b"k", value=b"v"))
        command.set.expiry.ttl_ms = (1 << 63) - 1
        result, index = await service.execute(command)
        assert isinstance(result, CommandError) and result.reason is Reason.INVALID_EXPIRE
        assert result.message == "invalid expire time in 'set' command" and index == 0
        assert raft.proposals == []

    run(go())


def test_pipeline_reads_see_earlier_writes(env):
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        any_level = ReadConsistency("any")
        out = await pipeline(service, [
            (pb.Command(set=pb.Set(key=b"a", value=b"1")), None, "", 0),
            (pb.Command(incr_by=pb.IncrBy(key=b"a", delta=2)), None, "", 0),
            (pb.Command(get=pb.Get(key=b"a")), any_level, "", 0),
        ])
        assert [o[0] for o in out] == [commands.OK, 3, b"3"]

    run(go())


def test_read_consistency_parse():
    assert ReadConsistency.parse("bounded:250") == ReadConsistency("bounded", bound_ms=250)
    assert ReadConsistency.parse("min_index:7") == ReadConsistency("min_index", min_index=7)
    assert str(ReadConsistency.parse("LEASE")) == "lease"
    with pytest.raises(ValueError, match="unknown read level"):
        ReadConsistency.parse("strong")


def test_stamp_leaves_absolute_deadlines_alone():
    cmd = pb.Command(expire=pb.Expire(key=b"k"))
    cmd.expire.expiry.expire_at_ms = 123
    stamp(cmd, 1000)
    assert cmd.expire.expiry.expire_at_ms == 123


def test_writes_in_one_loop_turn_are_group_committed(env):
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        writes = [service.execute(pb.Command(incr_by=pb.IncrBy(key=b"n", delta=1))) for _ in range(10)]
        results = await asyncio.gather(*writes)
        assert sorted(r[0] for r in results) == list(range(1, 11))
        assert {r[1] for r in results} == {1}, "one log index for the whole group"
        assert raft.applied_index == 1 and len(raft.proposals) == 10

    run(go())


def test_a_pipelines_publishes_are_logged_as_one_entry_and_each_answers_its_receivers(env):
    service, raft, _ = env
    service._sm.log_version = commands.PUBLISH_BATCH_VERSION

    def publish(message: bytes) -> tuple:
        return pb.Command(publish=pb.Publish(channel=b"c", message=message)), None, "", 0

    async def go():
        service.attach(asyncio.get_running_loop())
        subs = service.pubsub.subscriptions(lambda frame: None)
        service.pubsub.subscribe(subs, b"c")
        mixed = [publish(b"1"), publish(b"2"), (pb.Command(set=pb.Set(key=b"k", value=b"v")), None, "", 0),
                 publish(b"3")]
        assert await pipeline(service, mixed) == [(1, 1), (1, 1), (commands.OK, 1), (1, 1)]
        assert [e.command.WhichOneof("op") for e in raft.proposals] == ["publish_batch", "set", "publish"]
        assert await pipeline(service, [publish(b"4"), publish(b"5")]) == [(1, 2), (1, 2)], \
            "a group commit of PUBLISHes only: one entry, not a batch"
        assert [m.message for m in raft.proposals[-1].command.publish_batch.messages] == [b"4", b"5"]

    run(go())


def test_a_group_commits_plain_sets_are_logged_as_one_entry_and_each_answers_for_itself(env):
    """From log version 29 a run of plain SETs in a group commit is one SetBatch entry; each SET
    still gets its own result, among other writes and alone."""
    service, raft, _ = env
    service._sm.log_version = commands.SET_BATCH_VERSION

    def set_(key: bytes) -> tuple:
        return pb.Command(set=pb.Set(key=key, value=b"v")), None, "", 0

    async def go():
        service.attach(asyncio.get_running_loop())
        incr = (pb.Command(incr_by=pb.IncrBy(key=b"n", delta=2)), None, "", 0)
        mixed = [set_(b"a"), set_(b"b"), incr, set_(b"c"), set_(b"d")]
        assert await pipeline(service, mixed) == [(commands.OK, 1), (commands.OK, 1), (2, 1), (commands.OK, 1),
                                                  (commands.OK, 1)]
        assert [e.command.WhichOneof("op") for e in raft.proposals] == ["set_batch", "incr_by", "set_batch"]
        alone = await pipeline(service, [set_(b"e"), set_(b"f"), set_(b"g")])
        assert alone == [(commands.OK, 2)] * 3, "a group commit of SETs only: one entry, not a batch"
        assert [s.key for s in raft.proposals[-1].command.set_batch.sets] == [b"e", b"f", b"g"]
        assert await service.execute(pb.Command(get=pb.Get(key=b"g"))) == (b"v", 2)

    run(go())


def _first_proposal_fails(raft: FakeRaft, error: Exception) -> list:
    """Make `raft`'s next proposal fail with `error` (not logged) and the later ones pass: the
    data of every proposal, in order."""
    original, calls = raft.propose, []

    def flaky(data, callback):
        calls.append(data)
        if len(calls) == 1:
            callback(None, 0, error)
        else:
            original(data, callback)

    raft.propose = flaky
    return calls


def test_pipeline_write_not_logged_because_leadership_moved_is_retried(env):
    service, raft, _ = env

    class OnceNotLeader(NotLeaderError):
        pass

    async def go():
        service.attach(asyncio.get_running_loop())
        calls = _first_proposal_fails(raft, OnceNotLeader("lost leadership"))
        out = await pipeline(service, [(pb.Command(set=pb.Set(key=b"a", value=b"1")), None, "", 0)])
        assert out == [(commands.OK, 1)]
        assert len(calls) == 2

    run(go())


def test_plain_sets_started_together_answer_once_in_order_and_are_retried_in_order_when_not_logged(env):
    """Session.start_plain_sets (a RESP client's plain SETs on the leader): every write proposed at once,
    `done` called once with the outcomes in request order (a refused one in its place); when
    leadership moved before the entry was logged, the writes are executed again one by one, in
    order (the later SET of a key wins), and `done` still comes once."""
    service, raft, _ = env
    service._sm.log_version = commands.MAX_VERSION   # (below EVICTION_VERSION plain SETs take start_write)
    too_long = b"k" * (service._sm.limits.max_key_bytes + 1)

    async def go():
        service.attach(asyncio.get_running_loop())
        session = Session(service, "resp")
        answers = []
        writes = [pb.Command(set=pb.Set(key=b"a", value=b"1")), pb.Command(set=pb.Set(key=too_long, value=b"x")),
                  pb.Command(set=pb.Set(key=b"a", value=b"2"))]
        parked = session.start_plain_sets(writes, answers.append)
        assert not parked.done() and answers == []
        await asyncio.sleep(0.01)
        assert len(answers) == 1
        outcomes = answers[0]
        assert outcomes[0] == (commands.OK, outcomes[0][1]) and outcomes[2][0] == commands.OK
        assert isinstance(outcomes[1][0], CommandError)
        assert session.last_write_index == outcomes[2][1] > 0   # read-your-writes' floor
        assert await service.execute(pb.Command(get=pb.Get(key=b"a"))) == (b"2", outcomes[2][1])
        answers.clear()   # the last one settled first (refused at once): the others waited for
        session.start_plain_sets([pb.Command(set=pb.Set(key=b"a", value=b"3")), writes[1]], answers.append)
        await asyncio.sleep(0.01)
        assert len(answers) == 1 and answers[0][0][0] == commands.OK and isinstance(answers[0][1][0], CommandError)
        assert (await service.execute(pb.Command(get=pb.Get(key=b"a"))))[0] == b"3"

        calls = _first_proposal_fails(raft, NotLeaderError("lost leadership"))
        answers.clear()
        session.start_plain_sets([pb.Command(set=pb.Set(key=b"b", value=b"%d" % i)) for i in range(3)], answers.append)
        for _ in range(100):
            if answers:
                break
            await asyncio.sleep(0.01)
        assert [outcome[0] for outcome in answers[0]] == [commands.OK] * 3
        assert len(calls) == 4   # the batch, then each write again, in order
        assert (await service.execute(pb.Command(get=pb.Get(key=b"b"))))[0] == b"2"
        await asyncio.sleep(0.01)
        assert len(answers) == 1

    run(go())


def test_a_plain_set_is_logged_and_counted_as_start_write_logs_it(env):
    """Service.start_plain_set (a RESP client's `SET key value`) proposes the entry start_write
    would (the same fields but the clock's and the seed), counts it the same, tells the access
    table the same, and leaves a SET it cannot take plainly (over a limit, on an old log
    version, in cluster mode, on a follower) to start_write; start_plain_sets counts each."""
    service, raft, _ = env
    service._sm.log_version = commands.MAX_VERSION

    async def go():
        service.attach(asyncio.get_running_loop())
        await service.execute(pb.Command(set=pb.Set(key=b"first", value=b"v")))   # (a term's first forgets sizes)
        outcomes = []
        for start, key in [(service.start_write, b"generic"), (service.start_plain_set, b"plain")]:
            before = dict(service.stats)
            fut, proposed_here = start(pb.Command(db=2, set=pb.Set(key=key, value=b"v" * 100)))
            outcomes.append((proposed_here, (await fut)[0]))
            entry = raft.proposals[-1]
            entry.now_ms, entry.seed = 0, 0
            entry.command.set.key = b"k"
            stats = {name: service.stats[name] - before.get(name, 0) for name in ("commands", "writes")}
            outcomes.append((entry.SerializeToString(), stats, (service.access._keys[(2, key)] >> access._SIZE_SHIFT) - len(key)))
        assert outcomes[0] == outcomes[2]
        assert outcomes[1] == outcomes[3]
        assert outcomes[0] == (True, commands.OK)
        proposals = len(raft.proposals)
        too_long = pb.Command(set=pb.Set(key=b"k" * (service._sm.limits.max_key_bytes + 1), value=b"v"))
        fut, proposed_here = service.start_plain_set(too_long)
        assert not proposed_here and isinstance((await fut)[0], CommandError) and len(raft.proposals) == proposals
        before = dict(service.stats)
        started = service.start_plain_sets([pb.Command(set=pb.Set(key=b"p%d" % i, value=b"v")) for i in range(3)])
        assert [proposed_here for _, proposed_here in started] == [True] * 3
        assert [(await fut)[0] for fut, _ in started] == [commands.OK] * 3
        assert {name: service.stats[name] - before.get(name, 0) for name in ("commands", "writes")} == \
            {"commands": 3, "writes": 3}
        for name, value in [("cluster", object()), ("_sm.log_version", commands.EVICTION_VERSION - 1)]:
            owner, attribute = (service._sm, "log_version") if name.startswith("_sm") else (service, name)
            saved = getattr(owner, attribute)
            setattr(owner, attribute, value)
            assert not service._plain_sets_ok([pb.Command(set=pb.Set(key=b"k", value=b"v"))]), name
            setattr(owner, attribute, saved)
        raft.is_leader = False
        fut, proposed_here = service.start_plain_set(pb.Command(set=pb.Set(key=b"f", value=b"v")))
        assert not proposed_here   # forwarded by start_write

    run(go())


def test_plain_sets_are_within_the_limits_exactly_when_check_limits_passes_them(env):
    """Service._plain_sets_ok's limits are commands.check_limits' for a SET (the database, the
    key's and the value's size): a SET it lets through, start_write would not have refused."""
    service, _, _ = env
    service._sm.log_version = commands.MAX_VERSION
    service._sm._limits = limits = dataclasses.replace(service._sm.limits, databases=4, max_key_bytes=8,
                                                        max_value_bytes=16)
    for db in (0, 3, 4, 5):
        for key_bytes in (0, 8, 9):
            for value_bytes in (0, 16, 17):
                command = pb.Command(db=db, set=pb.Set(key=b"k" * key_bytes, value=b"v" * value_bytes))
                refused = commands.check_limits(command, databases=limits.databases, max_key_bytes=limits.max_key_bytes,
                                                max_value_bytes=limits.max_value_bytes)
                assert service._plain_sets_ok([command]) == (refused is None), (db, key_bytes, value_bytes)


def test_a_forwarded_request_is_checked_as_a_clients_is(env):
    """The leader checks what a follower forwards (a node of another version may not have):
    a database number past the keyspace is refused, not read (it raised struct.error)."""
    service, raft, _ = env

    async def go():
        service.attach(asyncio.get_running_loop())
        result, index = await service.execute_forwarded(pb.Command(db=2**32 - 1, str_len=pb.StrLen(key=b"k")),
                                                        None, "", 0)
        assert isinstance(result, CommandError) and result.message == "DB index is out of range"
        assert (index, raft.proposals) == (0, [])

    run(go())


def test_a_forwarded_batch_that_times_out_answers_timeout_in_every_slot(env):
    """The leader did not answer a follower's batch in time: every request's outcome is
    unknown (a write may have been applied); each slot says so instead of the whole
    pipeline failing."""
    service, raft, _ = env
    raft.is_leader, raft.leader_id = False, "n2"

    class SlowLeader:
        async def forward_batch(self, node_id, requests):
            raise DeadlineError("the leader did not answer in time")

    service.forwarder = SlowLeader()
    requests = [(pb.Command(set=pb.Set(key=b"a", value=b"1")), None, "", 0),
                (pb.Command(set=pb.Set(key=b"b", value=b"2")), None, "", 0)]

    async def go():
        service.attach(asyncio.get_running_loop())
        results = await pipeline(service, requests)
        assert len(results) == 2 and all(isinstance(r, DeadlineError) for r in results)

    run(go())


def test_string_edits_of_a_large_string_are_split_over_log_entries(env, monkeypatch):
    """SETBIT, SETRANGE, APPEND and BITFIELD write their string again whole: a batch holds edits
    of at most MAX_BATCH_EDIT_BYTES of strings, whether the string is stored already or made by
    an edit of the same loop turn, so the apply yields between entries; small edits still go
    together."""
    service, raft, _ = env
    monkeypatch.setattr(group_commit, "MAX_BATCH_EDIT_BYTES", 4 << 20)
    size = 2 << 20

    def setbits(key: bytes, n: int) -> list:
        return [service.execute(pb.Command(setbit=pb.SetBit(key=key, offset=i * 8000, value=1))) for i in range(n)]

    async def go():
        service.attach(asyncio.get_running_loop())
        await service.execute(pb.Command(set_range=pb.SetRange(key=b"stored", offset=size - 1, value=b"\x00")))
        results = await asyncio.gather(*setbits(b"stored", 8))
        assert [r[0] for r in results] == [0] * 8
        assert len({r[1] for r in results}) == 4, "two 2 MB edits to an entry"
        made = [service.execute(pb.Command(set_range=pb.SetRange(key=b"made", offset=size - 1, value=b"\x00")))]
        results = await asyncio.gather(*made, *setbits(b"made", 7))
        assert results[0][0] == size and len({r[1] for r in results}) == 4
        appends = [service.execute(pb.Command(append=pb.Append(key=b"log", value=b"line\n"))) for _ in range(20)]
        assert len({r[1] for r in await asyncio.gather(*appends)}) == 1

    run(go())


def test_a_lone_write_waits_for_the_logs_version_as_execute_does(env):
    """A command the log's semantics version does not allow yet (a new cluster raises the version
    within a second or two of electing a leader) waits for it on the lone-write path
    (Service.start_write, the Redis port's -P 1 writes) as through execute(), not answered
    UNAVAILABLE at once."""
    service, raft, _ = env
    since = commands.SINCE_VERSION["publish"]
    service._sm.log_version = since - 1
    publish = pb.Command(publish=pb.Publish(channel=b"c", message=b"m"))

    async def go():
        loop = asyncio.get_running_loop()
        service.attach(loop)
        loop.call_later(0.05, setattr, service._sm, "log_version", since)
        fut, _ = service.start_write(publish)
        assert await fut == (0, 1)
        service._sm.log_version = since - 1
        fut, _ = service.start_write(publish)   # never raised: UNAVAILABLE after the request timeout
        result, index = await fut
        assert isinstance(result, CommandError) and result.reason == Reason.UNAVAILABLE and index == 0

    run(go())


def test_reads_served_without_a_task_wait_for_the_logs_version_too(env):
    """The read fast paths (read_now: answered inline; start_read: a lone read) leave a read the
    log's version does not allow yet to execute(), which waits for it."""
    service, raft, _ = env
    since = commands.SINCE_VERSION["xlen"]
    service._sm.log_version = since - 1
    xlen = pb.Command(xlen=pb.XLen(key=b"s"))

    async def go():
        loop = asyncio.get_running_loop()
        service.attach(loop)
        counted = service.stats["commands"]
        assert service.read_now(xlen, ReadConsistency("any")) is None, "not answered UNAVAILABLE inline"
        loop.call_later(0.05, setattr, service._sm, "log_version", since)
        assert (await service.start_read(xlen, ReadConsistency("any")))[0] == 0
        assert service.stats["commands"] == counted + 1, "the read is counted once"
        service._sm.log_version = since - 1
        refused = service.start_read(pb.Command(xadd=pb.XAdd(key=b"s", fields=[b"f", b"v"])), ReadConsistency("any"))
        assert refused.done() and isinstance(refused.result()[0], CommandError) and raft.proposals == [], \
            "a write given to start_read is answered at once, never run, even one waiting for the log's version"

    run(go())


def test_a_slot_no_shard_serves_is_refused_on_every_path(env):
    """Cluster mode: a command for a slot no shard serves is answered UNAVAILABLE (retryable),
    never run here because its refusal looked like the wait for the log's version."""
    service, raft, _ = env

    class Unserved:
        def misrouted(self, command):
            return CommandError("hash slot 1 is not served", Reason.UNAVAILABLE)

    async def go():
        service.attach(asyncio.get_running_loop())
        service.cluster = Unserved()
        result, _ = await service.execute(pb.Command(set=pb.Set(key=b"k", value=b"v")))
        assert isinstance(result, CommandError) and result.reason == Reason.UNAVAILABLE
        fut, _ = service.start_write(pb.Command(set=pb.Set(key=b"k", value=b"v")))
        refused, _ = await fut
        assert isinstance(refused, CommandError) and refused.reason == Reason.UNAVAILABLE
        # one that also needs a newer log: refused at once, not after a wait for that version
        since = commands.SINCE_VERSION["publish"]
        service._sm.log_version = since - 1
        publish = pb.Command(publish=pb.Publish(channel=b"c", message=b"m"))
        result, _ = await asyncio.wait_for(service.execute(publish), 0.5 * service._timeout_s)
        assert isinstance(result, CommandError) and "not served" in result.message
        fut, _ = service.start_write(publish)
        refused, _ = await asyncio.wait_for(fut, 0.5 * service._timeout_s)
        assert isinstance(refused, CommandError) and "not served" in refused.message
        assert raft.proposals == [], "nothing was logged"

    run(go())
