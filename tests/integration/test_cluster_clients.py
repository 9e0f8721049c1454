"""Cluster mode for the clients that do not speak Redis Cluster: the Python SDK routing by slot,
the memcached port of any node serving every key, PUBLISH reaching every shard. 2 shards x 3
nodes (raftcache/shardedcluster.py, as `raftcache up --shards 2` starts them), one cluster
for the whole module.
"""

from __future__ import annotations

import asyncio

import pytest
import redis

from raftcache import slots as slotmath
from raftcache.client import AsyncClient, Client, cluster_file_seeds
from raftcache.localcluster import wait_until

from tests.cluster import running_sharded


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, request):
    with running_sharded(tmp_path_factory, request, "sharded-clients") as cluster:
        yield cluster


def _shard_of(key: str) -> int:
    return 1 if slotmath.key_slot(key.encode()) < 8192 else 2


def _keys_on(shard: int, prefix: str, n: int) -> list[str]:
    out, i = [], 0
    while len(out) < n:
        if _shard_of(f"{prefix}{i}") == shard:
            out.append(f"{prefix}{i}")
        i += 1
    return out


def _dbsize(sharded, shard: int) -> int:
    host, port = sharded.shards[shard - 1].leader().redis_address
    with redis.Redis(host=host, port=port, socket_timeout=10) as r:
        return r.dbsize()


# ---------------------------------------------------------------- SDK


def test_sdk_seeded_with_one_node_spreads_keys_over_both_shards(sharded):
    before = [_dbsize(sharded, s) for s in (1, 2)]
    with Client([sharded.shards[0].nodes[1].grpc_address]) as cache:
        for i in range(120):
            assert cache.set(f"sdk:{i}", i)
        assert [int(cache.get(f"sdk:{i}")) for i in range(120)] == list(range(120))
        assert cache.shards is not None and sorted(cache.shards.topologies) == [1, 2]
        assert cache.incr("sdk:counter") == 1 and cache.incr("sdk:counter") == 2
        assert cache.dbsize() == _dbsize(sharded, 1) + _dbsize(sharded, 2)   # DBSIZE: every shard's, summed
    added = [_dbsize(sharded, s) - b for s, b in zip((1, 2), before)]
    assert sum(added) == 121 and min(added) > 30, f"keys per shard: {added}"


def test_sdk_from_cluster_file_reads_what_redis_cluster_wrote(sharded):
    from redis.cluster import RedisCluster
    host, port = sharded.nodes[4].redis_address
    with RedisCluster(host=host, port=port, socket_timeout=10) as rc:
        for key in _keys_on(1, "rc:", 5) + _keys_on(2, "rc:", 5):
            rc.set(key, key.upper())
    with Client(cluster_file_seeds(sharded.path), read_consistency="any") as cache:
        for key in _keys_on(1, "rc:", 5) + _keys_on(2, "rc:", 5):
            assert cache.get(key) == key.upper().encode()


def test_sdk_pipeline_is_split_per_shard_and_answers_in_order(sharded):
    one, two = _keys_on(1, "pipe:", 3), _keys_on(2, "pipe:", 3)
    with Client([sharded.shards[1].nodes[0].grpc_address]) as cache:
        pipe = cache.pipeline(transaction=False)
        for a, b in zip(one, two):
            pipe.set(a, "1:" + a).set(b, "2:" + b)
        for a, b in zip(one, two):
            pipe.get(b).incr(a + ":n").get(a)
        results = pipe.execute()
        assert results[:6] == [True] * 6
        assert results[6:] == [x for a, b in zip(one, two) for x in (("2:" + b).encode(), 1, ("1:" + a).encode())]
        with cache.pipeline() as tx:   # a transaction is one slot: routed to its shard as a whole
            tx.set("{user:7}.a", 1).incr("{user:7}.a").get("{user:7}.a")
            assert tx.execute() == [True, 2, b"2"]


def test_sdk_follows_wrong_shard_when_its_map_is_stale(sharded):
    """As after a slot moved: the client's map sends a key to the wrong shard, the node answers
    WRONG_SHARD naming the owner, the client goes there and re-reads the map."""
    key = _keys_on(2, "stale:", 1)[0]
    slot = slotmath.key_slot(key.encode())
    with Client([sharded.shards[0].nodes[0].grpc_address]) as cache:
        cache.ping()
        cache.shards.owners[slot] = 1            # stale: shard 1 does not own it
        assert cache.set(key, "v") and cache.get(key) == b"v"
        cache.shards.owners[slot] = 1
        pipe = cache.pipeline(transaction=False)
        assert pipe.get(key).set(key, "w").get(key).execute() == [b"v", True, b"w"]
        assert cache.shards.shard_of(slot) == 2


def test_sdk_finds_the_new_leader_when_one_shards_leader_dies(sharded):
    shard2 = sharded.shards[1]
    keys = _keys_on(2, "failover:", 5)
    with Client([sharded.shards[0].nodes[0].grpc_address], timeout_s=30) as cache:
        for key in keys:
            cache.set(key, "before")
        old = shard2.leader()
        assert cache.shards.topologies[2].leader_id == old.id
        shard2.kill(old)
        try:
            for key in keys:   # the client's shard-2 leader is gone: it fails over within the call
                assert cache.set(key, "after")
            assert [cache.get(k) for k in keys] == [b"after"] * 5
            new = shard2.leader()
            assert new is not old

            def refreshed():   # refresh_topology re-reads every shard's topology and the slot map
                cache.refresh_topology()
                return cache.shards.topologies[2].leader_id == new.id
            wait_until(refreshed, 20, "the client names shard 2's new leader")
            assert cache.shards.topologies[1].leader_id == sharded.shards[0].leader().id
        finally:
            shard2.restart(old)


def test_async_sdk_routes_by_slot(sharded):
    async def main():
        async with AsyncClient([n.grpc_address for n in sharded.shards[1].nodes]) as cache:
            keys = _keys_on(1, "async:", 10) + _keys_on(2, "async:", 10)
            await asyncio.gather(*(cache.set(k, k) for k in keys))
            return await asyncio.gather(*(cache.get(k) for k in keys)), keys

    values, keys = asyncio.run(main())
    assert values == [k.encode() for k in keys]


# ---------------------------------------------------------------- memcached


def _memcached(node):
    from pymemcache.client.base import Client as Memcache
    host, port = node.memcached_address
    return Memcache((host, port), timeout=10, connect_timeout=10)


def test_memcached_port_of_one_node_serves_keys_of_both_shards(sharded):
    one, two = _keys_on(1, "mc:", 4), _keys_on(2, "mc:", 4)
    mc = _memcached(sharded.shards[0].nodes[2])   # a follower of shard 1, most likely
    try:
        for key in one + two:
            assert mc.set(key, key.upper(), noreply=False)
        for key in one + two:
            assert mc.get(key) == key.upper().encode()
        assert mc.get_many(one + two) == {k: k.upper().encode() for k in one + two}   # one `get`, both shards
        assert mc.set(two[0] + ":n", "41", noreply=False) and mc.incr(two[0] + ":n", 1) == 42
        assert mc.decr(two[0] + ":n", 2) == 40
        value, cas = mc.gets(two[1])
        assert mc.cas(two[1], "changed", cas, noreply=False) and not mc.cas(two[1], "again", cas, noreply=False)
        assert mc.add(two[2], "x", noreply=False) is False and mc.add(two[2] + ":new", "x", noreply=False)
        assert mc.delete(two[3], noreply=False) and mc.get(two[3]) is None
        many = [f"pipelined:{i}" for i in range(40)]
        mc.set_many({k: k for k in many}, noreply=True)   # pipelined sets, answered in order
        assert mc.get_many(many) == {k: k.encode() for k in many}
    finally:
        mc.close()
    # what the memcached port stored is where Redis Cluster clients find it
    from redis.cluster import RedisCluster
    host, port = sharded.nodes[0].redis_address
    with RedisCluster(host=host, port=port, socket_timeout=10) as rc:
        assert rc.get(two[1]) == b"changed" and rc.get(two[0] + ":n") == b"40"
        assert rc.get(one[0]) == one[0].upper().encode()


# ---------------------------------------------------------------- PUBLISH


def _subscribed(node, channel: str):
    host, port = node.redis_address
    client = redis.Redis(host=host, port=port, socket_timeout=10)
    pubsub = client.pubsub()
    pubsub.subscribe(channel)
    assert pubsub.get_message(timeout=10)["type"] == "subscribe"
    return client, pubsub


def _messages(pubsub, n: int, timeout_s: float = 20.0) -> list[bytes]:
    got: list[bytes] = []

    def arrived() -> bool:
        message = pubsub.get_message(timeout=0.2)
        if message is not None and message["type"] == "message":
            got.append(message["data"])
        return len(got) >= n
    wait_until(arrived, timeout_s, f"{n} messages")
    return got


def test_publish_reaches_subscribers_on_every_shard(sharded):
    one, two = sharded.shards
    subscribers = [_subscribed(two.nodes[1], "news"), _subscribed(two.nodes[2], "news"),
                   _subscribed(one.nodes[1], "news")]
    try:
        host, port = one.nodes[0].redis_address
        with redis.Redis(host=host, port=port, socket_timeout=10) as publisher:
            for i in range(5):
                publisher.publish("news", f"m{i}")
        for _, pubsub in subscribers:   # every node of both shards, in the order published
            assert _messages(pubsub, 5) == [f"m{i}".encode() for i in range(5)]
        # SPUBLISH stays with the shard of its channel's slot, as in Redis Cluster
        shard_channel = _keys_on(1, "events:", 1)[0]
        host, port = one.leader().redis_address
        with redis.Redis(host=host, port=port, socket_timeout=10) as publisher:
            remote = subscribers[0][1]
            remote.subscribe(shard_channel)   # a plain SUBSCRIBE of that name on shard 2: not the shard channel
            assert remote.get_message(timeout=10)["type"] == "subscribe"
            publisher.spublish(shard_channel, "only-here")
            publisher.publish("news", "after")
            assert _messages(remote, 1) == [b"after"]
    finally:
        for client, pubsub in subscribers:
            pubsub.close()
            client.close()
