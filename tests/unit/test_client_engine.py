"""Unit tests of the client's routing, failover and write identity against an in-memory
fake cluster (raftcache.client.testing.FakeCluster): no sockets."""

import asyncio

import pytest
from raftcache.client import AsyncClient, RetryPolicy
from raftcache.client.errors import (
    ConnectionFailedError,
    DeadlineExceededError,
    NotIntegerError,
    NotLeaderError,
    UnavailableError,
    WrongTypeError,
)
from raftcache.client.testing import FakeCluster
from raftcache.proto import cache_pb2

FAST = RetryPolicy(initial_backoff_s=0.001, max_backoff_s=0.01)


def make(fake: FakeCluster, **options) -> AsyncClient:
    options.setdefault("retry", FAST)
    return AsyncClient(fake.seeds, transport=fake, **options)


def run(coro):
    return asyncio.run(coro)


def test_writes_go_to_the_leader_with_client_id_and_increasing_sequences():
    fake = FakeCluster(leader=1)

    async def main():
        async with make(fake) as c:
            assert await c.set("k", "v") is True
            assert await c.incr("n") == 1
            assert await c.incr("n", 5) == 6
    run(main())
    writes = fake.executes()
    assert {fake.node(a).id for m, a, _ in fake.calls if m == "execute"} == {"n2"}
    assert len({w.client_id for w in writes}) == 1          # one lane: calls were sequential
    assert [w.sequence for w in writes] == sorted({w.sequence for w in writes})
    assert all(w.client_id and w.sequence for w in writes)


def test_failover_retries_the_same_write_identity_on_the_new_leader():
    fake = FakeCluster(leader=0)

    async def main():
        async with make(fake) as c:
            await c.incr("n")
            fake.node("n1").down = True     # the leader dies…
            fake.elect("n3")                # …and n3 takes over
            assert await c.incr("n") == 2
    run(main())
    last_attempts = fake.executes()[1:]
    assert len(last_attempts) >= 2
    assert len({(r.client_id, r.sequence) for r in last_attempts}) == 1   # same identity on every attempt
    assert fake.applied == 2


def test_a_retried_write_that_was_applied_is_not_applied_again():
    fake = FakeCluster()

    async def main():
        async with make(fake) as c:
            await c.incr("n")
            original = fake.transport_execute = fake.execute

            calls = 0

            async def lose_first_reply(address, request, timeout_s):
                nonlocal calls
                calls += 1
                reply = await original(address, request, timeout_s)
                if calls == 1:  # applied, but the reply is lost: the client sees a timeout
                    raise DeadlineExceededError("client deadline")
                return reply

            fake.execute = lose_first_reply
            assert await c.incr("n") == 2
            assert calls == 2
    run(main())
    assert fake.applied == 2 and fake.data[b"n"] == b"2"


def test_concurrent_writes_use_distinct_lanes_and_reuse_them():
    fake = FakeCluster()
    fake.delay_s = 0.01

    async def main():
        async with make(fake) as c:
            await asyncio.gather(*(c.incr("n") for _ in range(20)))
            await asyncio.gather(*(c.incr("n") for _ in range(20)))
            return c._engine.lanes
    lanes = run(main())
    assert lanes == 20                     # peak concurrency, not the number of calls
    assert fake.data[b"n"] == b"40"
    ids = [r.client_id for r in fake.executes()]
    assert len(set(ids)) == 20


def test_not_leader_refreshes_the_topology_and_goes_to_the_named_leader():
    fake = FakeCluster(leader=0)

    async def main():
        async with make(fake) as c:
            await c.set("a", 1)
            fake.elect("n2")
            fake.node("n1").errors.append(NotLeaderError("not the leader"))
            await c.set("a", 2)
    run(main())
    last = [a for m, a, _ in fake.calls if m == "execute"][-1]
    assert fake.node(last).id == "n2"


def test_command_errors_are_raised_and_never_retried():
    fake = FakeCluster()

    async def main():
        async with make(fake) as c:
            await c.set("s", "text")
            with pytest.raises(NotIntegerError):
                await c.incr("s")
    run(main())
    assert len(fake.executes()) == 2


def test_non_retryable_error_from_the_node_is_raised_at_once():
    fake = FakeCluster()
    fake.nodes[0].errors.append(WrongTypeError("nope"))

    async def main():
        async with make(fake) as c:
            with pytest.raises(WrongTypeError):
                await c.get("k")
    run(main())


def test_the_deadline_bounds_retries_and_the_last_error_surfaces():
    fake = FakeCluster()
    for n in fake.nodes:
        n.errors.extend(UnavailableError("no quorum") for _ in range(10_000))

    async def main():
        async with make(fake, timeout_s=0.3) as c:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(UnavailableError):
                await c.incr("n")
            return loop.time() - start
    elapsed = run(main())
    assert 0.25 <= elapsed < 1.5


def test_max_attempts_limits_retries():
    fake = FakeCluster()
    for n in fake.nodes:
        n.errors.extend(ConnectionFailedError("refused") for _ in range(100))

    async def main():
        async with make(fake, retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.001)) as c:
            with pytest.raises(ConnectionFailedError):
                await c.get("k")
    run(main())
    assert len(fake.executes()) == 3


@pytest.mark.parametrize("zone,expected", [("a", "n1"), ("b", "n2"), ("c", "n3")])
def test_any_reads_prefer_the_callers_zone(zone, expected):
    fake = FakeCluster(leader=0)

    async def main():
        async with make(fake, zone=zone, read_consistency="any") as c:
            for _ in range(5):
                await c.get("k")
            await c.set("k", 1)   # writes still go to the leader
    run(main())
    reads = [fake.node(a).id for m, a, r in fake.calls if m == "execute" and r.command.WhichOneof("op") == "get"]
    assert reads == [expected] * 5
    write = [fake.node(a).id for m, a, r in fake.calls if m == "execute" and r.command.WhichOneof("op") == "set"]
    assert write == ["n1"]


def test_linearizable_reads_go_to_the_leader_even_with_a_zone():
    fake = FakeCluster(leader=2)

    async def main():
        async with make(fake, zone="a", read_consistency="linearizable") as c:
            await c.get("k")
    run(main())
    (read,) = [a for m, a, _ in fake.calls if m == "execute"]
    assert fake.node(read).id == "n3"


def test_a_read_in_a_dead_zone_moves_to_another_node():
    fake = FakeCluster(leader=0)
    fake.node("n2").down = True

    async def main():
        async with make(fake, zone="b", read_consistency="any") as c:
            assert await c.get("k") is None
            assert await c.get("k") is None
    run(main())
    served = [fake.node(a).id for m, a, _ in fake.calls if m == "execute"]
    assert served[-1] != "n2"
    assert served.count("n2") <= 1     # marked down after one refusal


def test_session_reads_carry_the_last_write_index():
    fake = FakeCluster()

    async def main():
        async with make(fake, zone="b") as c:
            await c.set("other", 1)
            s = c.session()
            await s.set("k", "v")
            index = s.last_index
            assert await s.get("k") == b"v"
            plain = await c.get("k")
            return index, plain
    index, plain = run(main())
    reads = [r for r in fake.executes() if r.command.WhichOneof("op") == "get"]
    session_read, plain_read = reads
    assert index == 2
    assert session_read.consistency.level == cache_pb2.ReadConsistency.MIN_INDEX
    assert session_read.consistency.min_index == 2
    assert plain_read.consistency.level == cache_pb2.ReadConsistency.DEFAULT
    assert plain == b"v"


def test_pipeline_resend_after_a_broken_stream_applies_each_write_once():
    fake = FakeCluster()

    async def main():
        async with make(fake) as c:
            original = fake.pipeline
            calls = 0

            async def break_after_apply(address, batch, timeout_s):
                nonlocal calls
                calls += 1
                reply = await original(address, batch, timeout_s)
                if calls == 1:
                    raise ConnectionFailedError("stream reset")
                return reply

            fake.pipeline = break_after_apply
            pipe = c.pipeline(transaction=False)
            pipe.incr("a").incr("b").incr("a").get("a")
            return await pipe.execute()
    assert run(main()) == [1, 1, 2, b"2"]
    assert fake.applied == 3


def test_pipeline_command_errors_stay_in_place_when_asked():
    fake = FakeCluster()

    async def main():
        async with make(fake) as c:
            await c.set("s", "x")
            pipe = c.pipeline(transaction=False)
            pipe.incr("s").incr("n")
            return await pipe.execute(raise_on_error=False)
    err, ok = run(main())
    assert isinstance(err, NotIntegerError) and ok == 1


def test_unreachable_seeds_eventually_raise_unavailable():
    fake = FakeCluster()
    for n in fake.nodes:
        n.down = True

    async def main():
        async with make(fake, timeout_s=0.2) as c:
            with pytest.raises(UnavailableError):
                await c.get("k")
    run(main())


def test_decode_responses():
    fake = FakeCluster()

    async def main():
        async with make(fake, decode_responses=True) as c:
            await c.set("k", "héllo")
            return await c.get("k"), await c.mget(["k", "missing"])
    assert run(main()) == ("héllo", ["héllo", None])


def test_topology_is_refreshed_periodically_while_calls_are_made():
    fake = FakeCluster(leader=0)

    async def main():
        async with make(fake, topology_refresh_s=0.05) as c:
            await c.set("k", 1)
            fake.elect("n3")           # a leader change nobody told the client about
            await asyncio.sleep(0.1)
            await c.get("k")           # notices the topology is stale: refreshes in the background
            await asyncio.sleep(0.05)
            return c.topology.leader_id
    assert run(main()) == "n3"
    assert sum(1 for m, _, _ in fake.calls if m == "topology") >= 6   # two rounds over three nodes


def test_topology_prints_what_it_knows():
    from raftcache.client.topology import Topology
    from raftcache.proto import admin_pb2

    topo = Topology(["127.0.0.1:7000"], zone="b")
    assert "not yet discovered" in repr(topo) and "127.0.0.1:7000" in repr(topo)
    reply = admin_pb2.TopologyReply(leader_id="n1", term=4)
    for i, zone in enumerate("ab"):
        reply.members.add(id=f"n{i + 1}", zone=zone, grpc_address=f"127.0.0.1:70{i}0", voter=True)
    topo.apply([reply], now=0.0)
    assert str(topo) == "Topology(term 4, leader n1: n1@a=127.0.0.1:7000 (leader), n2@b=127.0.0.1:7010)"
