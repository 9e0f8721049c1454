"""Reads on followers, against real nodes: read-your-writes per connection and ReadIndex.

- Every command on a connection sees that connection's earlier writes, on
  whichever node serves it and at every read level (docs/consistency.md).
  Issue 14's sequence `RPUSH a 1 2; RPUSH b 3 4; BLPOP b a 1` on a follower
  took `a` in ~12 % of tries when the blocking pop looked at the follower's
  copy before the second push was applied there; it runs hundreds of times
  on each follower here, as do SET-then-GET at `any`, a memcached set/get and
  an XREAD BLOCK from `$` after the connection's own XADD.
- A follower serves linearizable reads from its own copy after asking the
  leader for a read index (over the Raft connection), never by forwarding the read,
  and reads waiting together share one request; the leader writes nothing to
  its log for them and, with three voters, answers without a heartbeat round.
"""

from __future__ import annotations

import socket

import pytest
import redis

from raftcache.proto import commands_pb2 as pb
from tests.integration.redis_helpers import Resp

ROUNDS = 200


def _follower_clients(cluster, level: str | None = None) -> list[tuple[object, redis.Redis]]:
    leader = cluster.leader()
    out = []
    for node in cluster.nodes:
        if node is leader:
            continue
        host, port = node.redis_address
        r = redis.Redis(host=host, port=port, socket_timeout=10)
        if level:
            r.execute_command("CLIENT", "CONSISTENCY", level)
        out.append((node, r))
    return out


def _info(r: redis.Redis, field: str) -> int:
    return int(r.info("stats")[field])


@pytest.mark.parametrize("level", ["linearizable", "any"])
def test_a_blocking_pop_on_a_follower_sees_the_connections_own_pushes(cluster, level):
    for node, r in _follower_clients(cluster, level):
        for i in range(ROUNDS):
            a, b = f"{node.id}:a{i}", f"{node.id}:b{i}"
            assert r.rpush(a, 1, 2) == 2
            assert r.rpush(b, 3, 4) == 2
            assert r.blpop([b, a], timeout=1) == (b.encode(), b"3"), f"round {i} on {node.id}"
        r.close()


@pytest.mark.parametrize("level", ["any", "linearizable"])
def test_a_blocking_xread_from_dollar_on_a_follower_starts_after_the_connections_own_xadd(cluster, level):
    """`$` is the stream's last entry as the connection's own XADDs left it: `XREAD BLOCK … $`
    right after an XADD waits for a later entry (and times out), never answers the connection's
    own entry, which it did when the follower resolved `$` before it applied that XADD."""
    for node, r in _follower_clients(cluster, level):
        key = f"{node.id}:stream:{level}"
        for i in range(ROUNDS // 4):
            r.xadd(key, {"n": i})
            assert not r.xread({key: "$"}, block=20), f"round {i} on {node.id}"
        r.close()


@pytest.mark.parametrize("level", ["any", "bounded:1000", "lease", "linearizable"])
def test_a_read_on_a_follower_sees_the_connections_own_write(cluster, level):
    for node, r in _follower_clients(cluster, level):
        for i in range(ROUNDS):
            assert r.set("ryw", i)
            assert r.get("ryw") == str(i).encode(), f"round {i} on {node.id}"
        with r.pipeline(transaction=False) as p:  # a pipeline's reads see the writes before them
            for i in range(50):
                p.incr("ryw-counter")
                p.get("ryw-counter")
            replies = p.execute()
        assert replies[1::2] == [str(i + 1).encode() for i in range(50)]
        r.delete("ryw-counter")
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_a_lone_get_served_at_once_on_a_follower_answers_and_counts_as_any_get(cluster, protocol):
    """A client's GET alone in its read (-P 1) at `any` is served without the command loop;
    its reply (a value, nil in either protocol, WRONGTYPE) and what INFO counts for it
    (commandstats, errorstats, keyspace hits and misses) are a GET's, and under CLIENT
    TRACKING the key read is remembered (a later write invalidates it)."""
    leader = cluster.leader()
    writer = redis.Redis(*leader.redis_address, socket_timeout=10)
    writer.set("lone:s", "v")
    writer.hset("lone:h", "f", "1")
    for node in cluster.followers():
        r = redis.Redis(*node.redis_address, protocol=protocol, socket_timeout=10)
        r.execute_command("CLIENT", "CONSISTENCY", "any")
        r.set("lone:mine", "1")   # read-your-writes: the follower has applied everything before it
        r.config_resetstat()
        assert r.get("lone:s") == b"v" and r.get("lone:missing") is None
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            r.get("lone:h")
        info = r.info("all")
        assert info["cmdstat_get"]["calls"] == 3 and info["cmdstat_get"]["failed_calls"] == 1
        assert info["errorstat_WRONGTYPE"]["count"] == 1
        assert (info["keyspace_hits"], info["keyspace_misses"]) == (2, 1)
        r.close()
        if protocol == 3:
            tracked = Resp(node)
            try:
                assert tracked.call("CLIENT", "CONSISTENCY", "any") == b"OK"
                assert tracked.call("CLIENT", "TRACKING", "ON") == b"OK"
                assert tracked.call("GET", "lone:s") == b"v"
                writer.set("lone:s", "w")
                assert tracked.frame() == [b"invalidate", [b"lone:s"]]
                writer.set("lone:s", "v")
            finally:
                tracked.close()
    writer.close()


def test_a_memcached_get_on_a_follower_sees_the_connections_own_set(cluster):
    leader = cluster.leader()
    for node in cluster.nodes:
        if node is leader:
            continue
        with socket.create_connection(node.memcached_address, timeout=10) as sock:
            sock.sendall(b"consistency any\r\n")
            assert sock.recv(100) == b"OK\r\n"
            for i in range(ROUNDS):
                value = b"%d" % i
                sock.sendall(b"set mc 0 0 %d\r\n%s\r\nget mc\r\n" % (len(value), value))
                want = b"STORED\r\nVALUE mc 0 %d\r\n%s\r\nEND\r\n" % (len(value), value)
                got = b""
                while len(got) < len(want) and not got.endswith(b"END\r\n"):
                    got += sock.recv(4096)
                assert got == want, f"round {i} on {node.id}"


def test_a_follower_serves_linearizable_reads_itself_after_one_shared_read_index(cluster):
    leader = cluster.leader()
    (node, r), _ = _follower_clients(cluster, "linearizable")
    r.set("shared", "v")
    at_leader = redis.Redis(*leader.redis_address, socket_timeout=10)
    forwarded, requests = _info(r, "raftcache_forwarded"), _info(r, "raftcache_read_index_requests")
    served = _info(at_leader, "raftcache_read_index_served")
    vouched = _info(at_leader, "raftcache_read_index_vouched")
    last_index = cluster.status(leader).last_index
    with r.pipeline(transaction=False) as p:  # 200 reads: the connection runs 32 at a time (resp.py)
        for _ in range(200):
            p.get("shared")
        assert p.execute() == [b"v"] * 200
    asked = _info(r, "raftcache_read_index_requests") - requests
    assert 1 <= asked <= 8, f"{asked} ReadIndex requests for 200 reads, 32 waiting together at a time"
    assert _info(r, "raftcache_forwarded") == forwarded, "no read was forwarded to the leader"
    assert _info(at_leader, "raftcache_read_index_served") - served == asked
    # three voters: the leader and the asking follower are a majority, the request its own
    # acknowledgement: every request answered without a heartbeat round
    assert _info(at_leader, "raftcache_read_index_vouched") - vouched == asked
    assert cluster.status(leader).last_index - last_index <= 1, "reads wrote to the log"  # (an expiry round aside)
    for _ in range(20):  # and one at a time
        assert r.get("shared") == b"v"
    assert _info(r, "raftcache_forwarded") == forwarded
    r.close()
    at_leader.close()


def test_a_follower_read_index_read_sees_a_write_made_through_another_node(cluster):
    leader = cluster.leader()
    followers = [n for n in cluster.nodes if n is not leader]
    writer = redis.Redis(*followers[0].redis_address, socket_timeout=10)
    reader = redis.Redis(*followers[1].redis_address, socket_timeout=10)
    reader.execute_command("CLIENT", "CONSISTENCY", "linearizable")
    for i in range(ROUNDS):
        writer.set("other", i)  # acknowledged before the read begins: the read must see it
        assert reader.get("other") == str(i).encode(), f"round {i}"
    cluster.execute(leader, pb.Command(set=pb.Set(key=b"other", value=b"last")))
    assert reader.get("other") == b"last"
    writer.close()
    reader.close()


def test_followers_commit_what_the_leaders_read_index_answers_say_is_committed(cluster):
    """A write through one follower, then a linearizable read of it on the other and on the
    writer: the leader's answers to their ReadIndex requests carry its commit index, and each
    follower commits up to it at once rather than waiting for the next append-entries (which
    the leader holds back up to 2 ms when it carries nothing else)."""
    leader = cluster.leader()
    followers = [n for n in cluster.nodes if n is not leader]
    writer = redis.Redis(*followers[0].redis_address, socket_timeout=10)
    reader = redis.Redis(*followers[1].redis_address, socket_timeout=10)
    reader.execute_command("CLIENT", "CONSISTENCY", "linearizable")
    learnt_by_writer, learnt_by_reader = (_info(c, "raftcache_raft_commits_learnt") for c in (writer, reader))
    for i in range(ROUNDS):
        writer.set("learnt", i)
        assert reader.get("learnt") == str(i).encode(), f"round {i}"
        assert writer.get("learnt") == str(i).encode(), f"round {i}: the writer's own write"
    assert _info(writer, "raftcache_raft_commits_learnt") > learnt_by_writer
    assert _info(reader, "raftcache_raft_commits_learnt") > learnt_by_reader
    writer.close()
    reader.close()


@pytest.mark.parametrize("level", ["linearizable", "lease"])
def test_a_pipeline_of_gets_between_other_commands_is_answered_in_order_on_a_follower(cluster, level):
    """GETs waiting for a read index share one round and are answered together (resp.py's
    round GETs); the commands around them, errors included, keep their order and see them."""
    for node, r in _follower_clients(cluster, level):
        for i in range(20):
            a, h = f"{node.id}:pa{i}", f"{node.id}:ph{i}"
            with r.pipeline(transaction=False) as p:
                p.get(a)
                p.set(a, "1")
                p.get(a)
                p.get(a)
                p.hset(h, "f", "v")
                p.get(h)
                p.incr(a)
                p.get(a)
                p.get(a)
                p.delete(a)
                p.get(a)
                replies = p.execute(raise_on_error=False)
            assert replies[:5] == [None, True, b"1", b"1", 1], f"round {i} on {node.id}"
            assert isinstance(replies[5], redis.ResponseError) and "WRONGTYPE" in str(replies[5])
            assert replies[6:] == [2, b"2", b"2", 1, None], f"round {i} on {node.id}"
        r.close()
