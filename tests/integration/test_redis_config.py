"""CONFIG GET/SET over the Redis protocol on a real three-node cluster.

CONFIG SET on any node is one log entry: every node switches, the change
survives restarts, raftcache's own parameters take effect everywhere
(maxmemory, requirepass, the default read level, proto-max-bulk-len), and
parameters fixed by the node configuration are refused with a clear error.
"""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from raftcache.localcluster import wait_until

#: What each test may change (the `nodes` fixture puts back the values it found).
CHANGED = ("maxmemory", "requirepass", "raftcache-default-read", "proto-max-bulk-len", "hz", "timeout")


def client(node, **kw) -> redis.Redis:
    host, port = node.redis_address
    # no retries: redis-py would retry a refused AUTH with backoff
    return redis.Redis(host=host, port=port, socket_timeout=10, retry=Retry(NoBackoff(), 0), **kw)


@pytest.fixture
def nodes(cluster):
    leader = cluster.leader()
    followers = [n for n in cluster.alive_nodes() if n is not leader]
    found = client(leader, decode_responses=True).config_get("*")
    yield leader, followers
    fixer = client(leader)
    try:
        fixer.ping()
    except redis.exceptions.AuthenticationError:  # a failed test left the password set
        fixer = client(leader, password="letmein")
    for name in CHANGED:
        fixer.execute_command("CONFIG", "SET", name, found[name])


def everywhere(cluster, name: str, value: str) -> None:
    for node in cluster.alive_nodes():
        c = client(node)
        wait_until(lambda: c.config_get(name) == {name: value}, 10, f"{name}={value} on {node.id}")


def test_config_set_on_a_follower_reaches_every_node_and_survives_a_restart(cluster, nodes):
    leader, followers = nodes
    f = client(followers[0], decode_responses=True)
    assert f.config_set("hz", "20") is True
    assert f.config_get("hz") == {"hz": "20"}  # read-your-write on the node that was asked
    everywhere(cluster, "hz", "20")
    assert f.execute_command("CONFIG", "SET", "hz", "30", "timeout", "120") == "OK"  # several at once
    everywhere(cluster, "timeout", "120")
    cluster.kill(followers[1])
    cluster.restart(followers[1])
    wait_until(lambda: client(followers[1], decode_responses=True).config_get("h*")["hz"] == "30", 20,
               "the restarted node keeps the cluster's settings")


def test_config_set_maxmemory_puts_every_replica_at_the_same_limit(cluster, nodes):
    leader, followers = nodes
    r = client(leader)
    f = client(followers[0])
    assert f.config_set("maxmemory", "1mb")
    for node in cluster.alive_nodes():
        wait_until(lambda: client(node).info("memory")["maxmemory"] == 1048576, 10, f"maxmemory on {node.id}")
    assert r.set("a", b"x" * 600_000)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        f.set("b", b"y" * 600_000)  # forwarded; refused at apply, on every replica alike
    assert r.get("a") == b"x" * 600_000 and r.exists("b") == 0
    assert f.config_set("maxmemory", "0")  # back to the node's configured value
    assert f.set("b", b"y" * 600_000)


def test_requirepass_is_cluster_wide(cluster, nodes):
    leader, followers = nodes
    admin = client(followers[0])
    assert admin.config_set("requirepass", "letmein")
    assert admin.ping()  # connections authenticated before keep working, as in Redis
    for node in cluster.alive_nodes():
        def refused():
            try:
                client(node).get("k")
            except redis.AuthenticationError:
                return True
            return False
        wait_until(refused, 10, f"{node.id} asks for the password")
        assert client(node, password="letmein").set("k", "v")
    assert admin.config_set("requirepass", "")
    wait_until(lambda: client(leader).ping(), 10, "no password needed again")


def test_default_read_level_is_cluster_wide(cluster, nodes):
    leader, followers = nodes
    assert client(leader).config_set("raftcache-default-read", "bounded:250")
    for node in cluster.alive_nodes():
        wait_until(lambda: client(node).info("clients")["raftcache_default_read"] == "bounded:250", 10,
                   f"default read on {node.id}")
    with pytest.raises(redis.ResponseError, match="per-request level"):
        client(leader).config_set("raftcache-default-read", "min_index:5")


def test_proto_max_bulk_len_limits_values_everywhere(cluster, nodes):
    leader, followers = nodes
    f = client(followers[0])
    assert f.config_set("proto-max-bulk-len", "1mb")
    assert f.config_get("proto-max-bulk-len") == {"proto-max-bulk-len": "1048576"}
    with pytest.raises(redis.ResponseError, match="limit is 1048576"):
        f.set("big", b"x" * ((1 << 20) + 1))
    assert f.set("fits", b"x" * (1 << 20))


def test_bad_config_set_is_refused_and_changes_nothing(cluster, nodes):
    leader, followers = nodes
    r = client(followers[0])
    with pytest.raises(redis.ResponseError, match="Unknown option or number of arguments for CONFIG SET - 'no-such'"):
        r.config_set("no-such", "1")
    with pytest.raises(redis.ResponseError, match="'databases'.*node configuration"):
        r.config_set("databases", "32")
    with pytest.raises(redis.ResponseError, match="'appendfsync'.*node configuration"):
        r.config_set("appendfsync", "always")
    with pytest.raises(redis.ResponseError, match="'maxmemory'.*memory value"):
        r.execute_command("CONFIG", "SET", "hz", "99", "maxmemory", "lots")  # all or nothing
    with pytest.raises(redis.ResponseError, match="'maxmemory-policy'.*volatile-ttl"):
        r.config_set("maxmemory-policy", "most-lru")
    assert r.config_get("hz") == {"hz": "10"}
    assert r.config_set("databases", "16")  # setting a fixed parameter to its value is fine
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}  # ElastiCache's default
