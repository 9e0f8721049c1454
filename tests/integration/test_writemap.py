"""Three real nodes with `--lmdb-writemap`: the keyspace's pages written in place, the script
that flushed and failed rolled back by applying its entry again (no nested transactions), and
every replica left with the same keys (tests/unit/test_writemap.py compares the modes entry by
entry)."""

from __future__ import annotations

import redis

from raftcache.proto import commands_pb2 as pb

FLUSH_THEN_FAIL = "redis.call('SET', 'inside', '1') redis.call('FLUSHALL') error('boom')"


def _maps_keyspace_writable(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as maps:
        return any(line.split()[1] == "rw-s" for line in maps if line.rstrip().endswith("keyspace/data.mdb"))


def test_a_writemap_cluster_serves_and_rolls_back_a_failed_flush_alike_on_every_replica(make_cluster):
    cluster = make_cluster(3, extra_args=["--lmdb-writemap"])
    assert all(_maps_keyspace_writable(node.pid) for node in cluster.nodes)
    leader = cluster.leader()
    r = redis.Redis(*leader.redis_address, socket_timeout=10)
    pipe = r.pipeline(transaction=False)
    for i in range(500):
        pipe.set(f"k{i}", i)
    pipe.execute()
    try:
        r.eval(FLUSH_THEN_FAIL, 0)
        raise AssertionError("the script's error was not answered")
    except redis.ResponseError as e:
        assert "boom" in str(e)
    tx = r.pipeline(transaction=True)
    tx.set("t1", "1")
    tx.eval(FLUSH_THEN_FAIL, 0)
    tx.incr("k1")
    replies = tx.execute(raise_on_error=False)
    assert replies[0] is True and isinstance(replies[1], redis.ResponseError) and replies[2] == 2
    assert r.dbsize() == 501 and r.get("inside") is None
    last = cluster.execute(leader, pb.Command(set=pb.Set(key=b"last", value=b"1")))
    cluster.wait_applied(last.index)
    for node in cluster.nodes:
        n = redis.Redis(*node.redis_address, socket_timeout=10)
        n.execute_command("CLIENT", "CONSISTENCY", "any")
        assert n.dbsize() == 502, node.id
        assert n.mget(["k0", "k1", "k499", "t1", "inside"]) == [b"0", b"2", b"499", b"1", None], node.id
        n.close()
    r.close()
