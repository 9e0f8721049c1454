"""Cluster mode end to end: 2 shards x 3 nodes (raftcache/shardedcluster.py, as `raftcache up
--shards 2` starts them), driven by unmodified Redis Cluster clients: redis-py's RedisCluster
and `redis-cli -c`. One cluster for the whole module (six nodes start slowly on a small box).

What a user of ElastiCache's cluster mode checks: keys spread over both shards, a node
answers -MOVED for another shard's key and the clients follow it, multi-key commands and
transactions across slots are -CROSSSLOT while hash-tagged ones work, CLUSTER SLOTS / NODES
/ SHARDS / INFO describe the cluster, and each shard's log records the slots it owns.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys

import pytest
import redis
from redis.cluster import LoadBalancingStrategy, RedisCluster
from redis.exceptions import ClusterCrossSlotError, MovedError

from raftcache.clustermap import redis_node_id
from raftcache.localcluster import free_base_port, wait_until
from raftcache.node import commands
from tests.cluster import running_sharded
from tests.real_redis import RealRedis


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, request):
    with running_sharded(tmp_path_factory, request, "sharded") as cluster:
        yield cluster


def _plain(node) -> redis.Redis:
    host, port = node.redis_address
    return redis.Redis(host=host, port=port, socket_timeout=10)


@pytest.fixture
def rc(sharded):
    host, port = sharded.nodes[0].redis_address
    client = RedisCluster(host=host, port=port, socket_timeout=10)
    yield client
    client.close()


def _shard_keys(sharded, shard: int) -> int:
    """The keys a shard holds (DBSIZE on its leader)."""
    with _plain(sharded.shards[shard - 1].leader()) as r:
        return r.dbsize()


def test_redis_cluster_client_spreads_keys_over_both_shards(sharded, rc):
    before = [_shard_keys(sharded, s) for s in (1, 2)]
    for i in range(200):
        rc.set(f"spread:{i}", i)
    assert [int(rc.get(f"spread:{i}")) for i in range(200)] == list(range(200))
    added = [_shard_keys(sharded, s) - b for s, b in zip((1, 2), before)]
    assert sum(added) == 200 and min(added) > 50, f"keys per shard: {added}"


def test_redis_cluster_client_over_resp3(sharded):
    host, port = sharded.nodes[3].redis_address
    with RedisCluster(host=host, port=port, protocol=3, socket_timeout=10) as client:
        assert client.set("resp3:{x}", "a") and client.hset("resp3:{x}h", mapping={"f": "v"})
        assert client.get("resp3:{x}") == b"a" and client.hgetall("resp3:{x}h") == {b"f": b"v"}
        assert len(client.get_primaries()) == 2


def test_replica_reads_see_every_acknowledged_write(sharded, rc):
    """RedisCluster reading from replicas (READONLY on each follower): a follower serves the read at
    the connection's level, linearizable by default, so it sees the write just acknowledged."""
    host, port = sharded.nodes[0].redis_address
    with RedisCluster(host=host, port=port, socket_timeout=10,
                      load_balancing_strategy=LoadBalancingStrategy.RANDOM_REPLICA) as replicas:
        for i in range(30):
            rc.set(f"replica:{i}", i)
            assert replicas.get(f"replica:{i}") == str(i).encode()


def test_a_node_answers_moved_for_another_shards_key(sharded):
    shard2_ports = {n.redis_address[1] for n in sharded.shards[1].nodes}
    with _plain(sharded.shards[0].nodes[0]) as r:
        with pytest.raises(MovedError) as moved:
            r.get("foo")   # slot 12182: shard 2
        assert moved.value.slot_id == 12182 and moved.value.port in shard2_ports
        assert r.cluster("keyslot", "foo") == 12182
    with redis.Redis(host=moved.value.host, port=moved.value.port, socket_timeout=10) as r2:
        assert r2.set("foo", "there") and r2.get("foo") == b"there"


def test_every_member_of_the_owning_shard_serves_its_slots(sharded):
    # slot 5061 ("bar") is shard 1's: a follower forwards the write, no -MOVED
    for node in sharded.shards[0].nodes:
        with _plain(node) as r:
            assert r.set("bar", node.id) and r.get("bar") == node.id.encode()


def test_a_script_run_as_a_read_is_cached_by_the_node_in_cluster_mode(sharded):
    """EVAL_RO on a shard's follower, then EVALSHA_RO and EVALSHA there (the write carries the
    script to the shard's other replicas), as on an unsharded cluster."""
    body = "return 'ro ' .. KEYS[1]"
    sha = hashlib.sha1(body.encode()).hexdigest()
    with _plain(sharded.shards[0].followers()[0]) as r:
        assert r.eval_ro(body, 1, "bar") == b"ro bar"
        assert r.evalsha_ro(sha, 1, "bar") == b"ro bar" and r.evalsha(sha, 1, "bar") == b"ro bar"


def test_multi_key_commands_across_slots_are_crossslot(sharded, rc):
    with _plain(sharded.shards[0].nodes[0]) as r:
        with pytest.raises(ClusterCrossSlotError):
            r.execute_command("MSET", "{a}1", "x", "{b}1", "y")
        with pytest.raises(ClusterCrossSlotError):
            r.execute_command("SUNIONSTORE", "{user1000}.d", "{user1000}.s", "other")
        pipe = r.pipeline(transaction=True)
        pipe.set("{user1000}.a", 1).set("{bar}.b", 2)   # slots 3443 and 5061: both shard 1's
        with pytest.raises(ClusterCrossSlotError):
            pipe.execute()
        assert r.exists("{user1000}.a") == 0, "a refused transaction ran nothing"
    assert rc.mset({"{user1000}.following": "a", "{user1000}.followers": "b"})
    assert rc.mget("{user1000}.following", "{user1000}.followers") == [b"a", b"b"]
    with rc.pipeline(transaction=True) as pipe:
        assert pipe.incr("{tx}.n").incr("{tx}.n").execute() == [1, 2]


def test_key_slots_match_a_real_redis_cluster_node(sharded):
    """CLUSTER KEYSLOT of random keys (binary, empty, with and without hash tags) on a node and on a
    cluster-enabled redis-server."""
    import random

    rng = random.Random(16384)
    keys = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12))) for _ in range(600)]
    keys += [k[:2] + b"{" + k[2:5] + b"}" + k[5:] for k in keys[:300]] + [b"{}", b"{}{a}", b"a{b}{c}", b"{{x}}"]
    # the cluster bus port (default: port + 10000) from the launcher's free ports too
    real = RealRedis("--cluster-enabled", "yes", "--cluster-port", str(free_base_port())).start()
    try:
        with real.client() as theirs, _plain(sharded.nodes[0]) as ours:
            pipe_theirs, pipe_ours = theirs.pipeline(transaction=False), ours.pipeline(transaction=False)
            for key in keys:
                pipe_theirs.execute_command("CLUSTER", "KEYSLOT", key)
                pipe_ours.execute_command("CLUSTER", "KEYSLOT", key)
            assert pipe_ours.execute() == pipe_theirs.execute()
    finally:
        real.stop()


def test_redis_cli_follows_moved(sharded):
    if shutil.which("redis-cli") is None:
        pytest.skip("no redis-cli")
    host, port = sharded.shards[0].nodes[0].redis_address   # "foo" lives on shard 2

    def cli(*args: str) -> str:
        return subprocess.run(["redis-cli", "-c", "-h", host, "-p", str(port), *args], capture_output=True,
                              text=True, timeout=30, check=True).stdout.strip()

    assert cli("SET", "foo", "via-cli") == "OK"
    assert cli("GET", "foo") == "via-cli"


def test_cluster_commands_describe_the_cluster(sharded, rc):
    node = sharded.shards[0].nodes[0]
    with _plain(node) as r:
        info = r.cluster("info")
        assert info["cluster_state"] == "ok" and info["cluster_size"] == "2" and info["cluster_known_nodes"] == "6"
        assert r.info("cluster")["cluster_enabled"] == 1
        assert r.execute_command("CLUSTER", "MYID") == redis_node_id(node.id).encode()
        slots = sorted((entry[0], entry[1]) for entry in r.execute_command("CLUSTER", "SLOTS"))
        assert slots == [(0, 8191), (8192, 16383)]
        shards = r.execute_command("CLUSTER", "SHARDS")   # redis-py parses each shard into a dict
        assert sorted(s[b"slots"] for s in shards) == [[0, 8191], [8192, 16383]]
        assert all(len(s[b"nodes"]) == 3 and s[b"nodes"][0][b"role"] == b"master" for s in shards)
        r.set("bar", "x")
        assert r.execute_command("CLUSTER", "COUNTKEYSINSLOT", 5061) == 1
        assert r.execute_command("CLUSTER", "GETKEYSINSLOT", 5061, 10) == [b"bar"]
        assert r.execute_command("ASKING") is True and r.execute_command("READONLY") is True
        with pytest.raises(redis.ResponseError, match="SELECT is not allowed in cluster mode"):
            r.select(1)
    assert len(rc.get_nodes()) == 6 and len(rc.get_primaries()) == 2


def test_each_shards_log_records_its_slots(sharded):
    sharded.wait_log_version(commands.MAX_VERSION, timeout_s=60)
    expected = {1: [(0, 8191)], 2: [(8192, 16383)]}
    for number, shard in enumerate(sharded.shards, start=1):
        for node in shard.nodes:
            status = wait_until(lambda: (s := shard.status(node)).shard.epoch == 1 and s, 30,
                                f"{node.id} to apply its shard's slot claim")
            assert status.shard.shard == number
            assert [(r.first, r.last) for r in status.shard.slots] == expected[number]
    node = sharded.shards[1].nodes[0]
    out = subprocess.run([sys.executable, "-m", "raftcache", "ctl", "--endpoint", node.grpc_address, "status"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "shard 2: slots 8192-16383, epoch 1" in out


def test_grpc_refuses_another_shards_key_and_memcached_forwards_it(sharded):
    """No key is stored in the wrong shard: the gRPC API answers WRONG_SHARD (the SDK routes by slot
    itself), the memcached port forwards the key to its shard (tests/integration/test_cluster_clients.py)."""
    import socket

    import grpc
    from raftcache.client.errors import reason_from_metadata
    from raftcache.proto import commands_pb2 as pb

    node = sharded.shards[0].nodes[0]
    with socket.create_connection(node.memcached_address, timeout=10) as s:
        s.sendall(b"set foo 0 0 1\r\nv\r\nset bar 0 0 1\r\nv\r\n")
        replies = b""
        while replies.count(b"\r\n") < 2:
            replies += s.recv(4096)
    assert replies.split(b"\r\n")[:2] == [b"STORED", b"STORED"]
    with pytest.raises(grpc.RpcError) as refused:
        sharded.shards[0].execute(node, pb.Command(set=pb.Set(key=b"foo", value=b"w")))
    assert reason_from_metadata(refused.value.trailing_metadata()) == "WRONG_SHARD"
    assert refused.value.details().startswith("12182 127.0.0.1:")
    with _plain(sharded.shards[1].leader()) as r:
        assert r.get("foo") == b"v"


def test_a_transaction_with_another_shards_key_is_aborted(sharded):
    with _plain(sharded.shards[0].nodes[0]) as r:
        pipe = r.pipeline(transaction=True)
        pipe.set("bar", "in-tx").set("foo", "elsewhere")   # "foo" is shard 2's: -MOVED while queued
        with pytest.raises(redis.ResponseError):
            pipe.execute()
        assert r.get("bar") != b"in-tx", "EXECABORT: nothing of the transaction ran"


def test_the_cluster_client_keeps_working_when_a_zone_dies(sharded, rc):
    """Last in the module: zone a's node of every shard is killed; RedisCluster finds the new
    leaders (CLUSTER SLOTS from the nodes left) and every acknowledged write is still there."""
    written = {f"zone:{i}": str(i) for i in range(100)}
    for key, value in written.items():
        rc.set(key, value)
    for shard in sharded.shards:
        shard.kill_zone("a")
    sharded.leaders(timeout_s=30)
    survivor = next(n for n in sharded.nodes if n.alive)
    host, port = survivor.redis_address
    with RedisCluster(host=host, port=port, socket_timeout=10) as after:
        assert {key: after.get(key).decode() for key in written} == written
        for i in range(100, 150):
            assert after.set(f"zone:{i}", str(i))
        assert after.get("zone:149") == b"149"
