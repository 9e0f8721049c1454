"""Large hashes, sets, lists and sorted sets (stored one record per element past 128
elements) through redis-py on real node processes: everyday commands, every replica
answering the same, keys moved and copied, and a node added afterwards receiving them
in its snapshot."""

from __future__ import annotations

import pytest

from tests.cluster import Cluster
from tests.integration.redis_helpers import client, linearizable, same_on_every_node

N = 1000


def _fill(r):
    r.hset("h", mapping={f"f{i}": f"v{i}" for i in range(N)})
    r.sadd("s", *(f"m{i}" for i in range(N)))
    r.rpush("l", *(f"e{i}" for i in range(N)))
    r.zadd("z", {f"p{i}": i for i in range(N)})


def _snapshot(r) -> dict:
    """Everything a user would read back from the four keys (plus their copies)."""
    return {
        "h": r.hgetall("h"), "h2": r.hgetall("h2"), "s": sorted(r.smembers("s")),
        "l": r.lrange("l", 0, -1), "z": r.zrange("z", 0, -1, withscores=True),
        "zrank": r.zrevrank("z", "p10"), "enc": [r.object("encoding", k) for k in ("h", "s", "l", "z")],
    }


@pytest.mark.parametrize("protocol", [2, 3])
def test_large_collections_behave_and_every_replica_agrees(cluster, protocol):
    r = linearizable(client(cluster.leader(), protocol))
    _fill(r)
    assert [r.object("encoding", k) for k in ("h", "s", "l", "z")] == [
        b"hashtable", b"hashtable", b"quicklist", b"skiplist"]
    assert r.hlen("h") == N and r.hget("h", "f500") == b"v500" and r.hset("h", "f500", "new") == 0
    assert r.sismember("s", "m999") and r.scard("s") == N and r.srem("s", "m0", "nope") == 1
    assert r.lindex("l", -1) == b"e999" and r.lpush("l", "head") == N + 1 and r.rpop("l") == b"e999"
    assert r.lrange("l", 0, 2) == [b"head", b"e0", b"e1"] and r.llen("l") == N
    assert r.ltrim("l", 1, 800) and r.llen("l") == 800 and r.lindex("l", 0) == b"e0"
    assert r.zscore("z", "p7") == 7.0 and r.zincrby("z", 1000, "p7") == 1007.0
    assert r.zrevrange("z", 0, 1) == [b"p7", b"p999"] and r.zrank("z", "p8") == 7
    assert r.zcount("z", 100, 199) == 100 and [tuple(p) for p in r.zpopmin("z", 2)] == [(b"p0", 0.0), (b"p1", 1.0)]
    cursor, seen = 0, set()
    while True:
        cursor, chunk = r.sscan("s", cursor, count=50)
        seen.update(chunk)
        if cursor == 0:
            break
    assert len(seen) == N - 1
    assert r.rename("h", "hh") and r.copy("hh", "h2") and r.rename("hh", "h")
    assert r.hdel("h2", "f1") == 1 and r.hlen("h") == N and r.hlen("h2") == N - 1
    same_on_every_node(cluster, protocol, _snapshot)
    assert r.delete("h", "h2", "s", "l", "z") == 5
    assert same_on_every_node(cluster, protocol, lambda c: c.dbsize()) == 0


def test_a_node_added_later_gets_large_collections_in_its_snapshot(tmp_path):
    c = Cluster(str(tmp_path / "cluster"), 3).start(wait_ports=True)
    try:
        r = linearizable(client(c.leader(), 2))
        _fill(r)
        r.copy("h", "h2")
        expected = _snapshot(r)
        n4 = c.add_node("n4", "a")
        c.wait_applied(c.status(c.leader()).commit_index, [n4])
        assert _snapshot(linearizable(client(n4, 2))) == expected
        r.hset("h", "after", "join")  # and the new node keeps applying writes to them
        assert linearizable(client(n4, 2)).hget("h", "after") == b"join"
    finally:
        c.close()
