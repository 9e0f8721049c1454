"""redis-py over RESP2 and RESP3 against real node processes (the `cluster` fixture).

Everyday use through any node (writes on followers are forwarded), every data
type, WRONGTYPE and arity errors, transactions with WATCH, the per-connection
read level, and a hostile-input run after which the node still serves and
nothing stored changed.
"""

from __future__ import annotations

import random
import socket

import pytest
import redis

PROTOCOLS = [2, 3]


def client(node, protocol: int) -> redis.Redis:
    host, port = node.redis_address
    return redis.Redis(host=host, port=port, protocol=protocol, socket_timeout=10)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_everyday_use_through_any_node(cluster, protocol):
    leader = cluster.leader()
    follower = next(n for n in cluster.alive_nodes() if n is not leader)
    r, f = client(leader, protocol), client(follower, protocol)
    assert r.ping() and f.ping()
    assert f.set("greeting", "hello", ex=100)  # forwarded to the leader
    f.execute_command("CLIENT", "CONSISTENCY", "linearizable")
    assert f.get("greeting") == b"hello"
    assert r.incrby("n", 5) == 5 and r.incrbyfloat("n", 0.5) == 5.5
    assert r.mset({"a": "1", "b": "2"}) and r.mget("a", "b", "c") == [b"1", b"2", None]
    assert 0 < r.ttl("greeting") <= 100
    assert r.hset("h", mapping={"f": "v", "g": "w"}) == 2 and r.hgetall("h") == {b"f": b"v", b"g": b"w"}
    assert r.rpush("l", "a", "b", "c") == 3 and r.lrange("l", 0, -1) == [b"a", b"b", b"c"]
    assert r.sadd("s", "x", "y") == 2 and r.smembers("s") == {b"x", b"y"}
    assert r.zadd("z", {"a": 1, "b": 2}) == 2
    assert r.zrange("z", 0, -1, withscores=True) in ([(b"a", 1.0), (b"b", 2.0)], [[b"a", 1.0], [b"b", 2.0]])
    assert sorted(r.keys("*")) == sorted([b"greeting", b"n", b"a", b"b", b"h", b"l", b"s", b"z"])
    assert r.dbsize() == 8
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.lpush("h", "x")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get' command"):
        r.execute_command("GET")
    r.select(3) if hasattr(r, "select") else r.execute_command("SELECT", 3)
    assert r.execute_command("SELECT", 3) and r.execute_command("DBSIZE") == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("where", ["leader", "follower"])
def test_a_pipeline_of_sets(cluster, protocol, where):
    """A pipeline of nothing but `SET key value` (proposed together from the read that brought
    it on the leader, forwarded as one batch by a follower): every reply in order, a refused one
    in its place, each SET counted by the node that served it, the last SET of a key winning,
    binary values intact, and every node holding the values afterwards."""
    leader = cluster.leader()
    r = client(leader if where == "leader" else next(n for n in cluster.alive_nodes() if n is not leader), protocol)
    calls = r.info("commandstats").get("cmdstat_set", {}).get("calls", 0)
    odd = b"\r\n*3\r\n$3\r\nSET\r\n$1\r\nx\r\n"   # looks like a frame: split by its length
    too_long = "k" * 4096   # (over the node's key limit; small enough to arrive in one read)
    with r.pipeline(transaction=False) as p:
        for i in range(200):
            p.set(f"pipe:{i % 150}", f"{where}:{protocol}:{i}")
        p.set("pipe:odd", odd)
        assert p.execute() == [True] * 201
    with r.pipeline(transaction=False) as p:
        p.set("pipe:before", "ok")
        p.set(too_long, "v")
        p.set("pipe:after", "ok")
        replies = p.execute(raise_on_error=False)
    assert replies[0] is True and replies[2] is True
    assert isinstance(replies[1], redis.ResponseError) and "the limit is" in str(replies[1]), replies[1]
    assert r.info("commandstats")["cmdstat_set"]["calls"] - calls == 204
    expected = {f"pipe:{i % 150}": f"{where}:{protocol}:{i}".encode() for i in range(200)}
    expected.update({"pipe:odd": odd, "pipe:before": b"ok", "pipe:after": b"ok"})
    for node in cluster.alive_nodes():
        reader = client(node, protocol)
        reader.execute_command("CLIENT", "CONSISTENCY", "linearizable")
        assert reader.mget(list(expected)) == list(expected.values()), node
        reader.close()
    r.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_transactions_and_watch(cluster, protocol):
    r = client(cluster.leader(), protocol)
    p = r.pipeline(transaction=True)
    p.set("t", 1).incr("t").get("t")
    assert p.execute() == [True, 2, b"2"]
    other = client(cluster.leader(), protocol)
    with r.pipeline(transaction=True) as p:
        p.watch("t")
        other.set("t", "changed")
        p.multi()
        p.set("t", "mine")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("t") == b"changed"


def test_info_and_consistency(cluster):
    leader = cluster.leader()
    r = client(leader, 2)
    info = r.info("replication")
    assert info["role"] == "master" and info["raftcache_leader_id"] == leader.id
    r.execute_command("CLIENT", "CONSISTENCY", "bounded", "500")
    assert r.info("clients")["raftcache_read_consistency"] == "bounded:500"
    r.execute_command("CLIENT", "CONSISTENCY", "bounded:250")   # the one spelling, as everywhere else
    assert r.execute_command("CLIENT", "CONSISTENCY") == b"bounded:250"
    with pytest.raises(redis.ResponseError, match="use linearizable, lease, bounded:<ms>, any, min_index:<n>"):
        r.execute_command("CLIENT", "CONSISTENCY", "strong")
    r.set("w", 1)
    assert r.execute_command("WAIT", 1, 1000) >= 1


def test_hostile_input_leaves_the_node_serving(cluster):
    leader = cluster.leader()
    r = client(leader, 2)
    r.set("keep", "value")
    r.rpush("list", "a", "b")
    host, port = leader.redis_address
    rng = random.Random(4)
    frames = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000))) for _ in range(30)]
    frames += [b"*1\r\n$2147483648\r\n", b"*" + b"9" * 30 + b"\r\n", b"*1\r\n*1\r\n*1\r\n" * 2000,
               b"*3\r\n$3\r\nSET\r\n$4\r\nkeep\r\n$100\r\nshort", b"\x00" * 100_000]
    for frame in frames:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"\x00" + frame)  # \x00 first: never a command that could write
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
    assert r.ping()
    assert r.get("keep") == b"value" and r.lrange("list", 0, -1) == [b"a", b"b"]
    assert r.dbsize() == 2
