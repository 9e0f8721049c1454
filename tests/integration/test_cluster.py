"""A three-zone cluster of real node processes, driven over gRPC.

Replication to every node, write forwarding, follower reads at each
consistency level, and the safety claims: killing the leader, or kill -9 of
every node followed by a restart, loses no acknowledged write, and no entry
is applied twice.
"""

from __future__ import annotations

import threading

import grpc
import pytest

from raftcache.node import commands
from raftcache.proto import cache_pb2
from raftcache.proto import commands_pb2 as pb
from raftcache.localcluster import wait_until
from tests.cluster import Cluster


def set_cmd(key: bytes, value: bytes, **kw) -> pb.Command:
    return pb.Command(set=pb.Set(key=key, value=value, **kw))


def get_cmd(key: bytes, db: int = 0) -> pb.Command:
    return pb.Command(db=db, get=pb.Get(key=key))


def value_of(reply) -> object:
    return commands.from_value(reply.value)


def test_write_on_one_node_is_read_on_every_node(cluster):
    leader = cluster.leader()
    reply = cluster.execute(leader, set_cmd(b"greeting", b"hello"))
    assert value_of(reply) == "OK"
    assert reply.index > 0
    cluster.wait_applied(reply.index)
    for node in cluster.nodes:
        assert value_of(cluster.execute(node, get_cmd(b"greeting"), level="any")) == b"hello"


@pytest.fixture(scope="module")
def lagging(tmp_path_factory):
    """A cluster whose follower n3 applies nothing new: restarted as a binary that supports
    only log version 1 after the cluster moved to version 2, it keeps replicating and
    answering but stays exactly where it was (docs/operations.md), so every read level
    can be checked against a follower that is really behind."""
    c = Cluster(str(tmp_path_factory.mktemp("lagging")), 3)
    try:
        c.start()
        c.wait_log_version(commands.MAX_VERSION)
        leader = c.leader()
        old = c.execute(leader, set_cmd(b"lag", b"old"))
        c.wait_applied(old.index)
        behind = next(n for n in c.nodes if n is not leader)
        c.stop(behind)
        behind.argv = [*behind.argv, "--max-log-version", "1"]
        c.restart(behind)
        new = c.execute(c.leader(), set_cmd(b"lag", b"new"))
        wait_until(lambda: c.status(behind).apply_blocked, 20, f"{behind.id} to stop applying")
        assert c.status(behind).applied_index < new.index
        yield c, behind, old.index, new.index
    finally:
        c.close()


def test_write_through_a_follower_is_forwarded_to_the_leader(lagging):
    c, behind, _, _ = lagging
    reply = c.execute(behind, set_cmd(b"via-follower", b"1"))
    assert value_of(reply) == "OK" and reply.index > c.status(behind).applied_index
    # a linearizable read sees it on every node, the one that has not applied it included
    for node in c.nodes:
        assert value_of(c.execute(node, get_cmd(b"via-follower"), level="linearizable")) == b"1"


@pytest.mark.parametrize("level", ["linearizable", "lease", "bounded:2000"])
def test_a_lagging_follower_never_answers_older_than_its_level_allows(lagging, level):
    c, behind, _, new_index = lagging
    reply = c.execute(behind, get_cmd(b"lag"), level=level)
    assert value_of(reply) == b"new" and reply.index >= new_index, "the leader answered for it"


def test_a_lagging_follower_answers_any_from_its_own_copy(lagging):
    c, behind, old_index, new_index = lagging
    reply = c.execute(behind, get_cmd(b"lag"), level="any")
    assert value_of(reply) == b"old" and old_index <= reply.index < new_index


def test_a_lagging_follower_has_the_leader_serve_a_min_index_it_cannot_reach(lagging):
    c, behind, old_index, new_index = lagging
    assert value_of(c.execute(behind, get_cmd(b"lag"), level=f"min_index:{old_index}")) == b"old"
    reply = c.execute(behind, get_cmd(b"lag"), level=f"min_index:{new_index}", timeout_s=15)
    assert value_of(reply) == b"new" and reply.index >= new_index, "never older than min_index"
    assert c.status(behind).applied_index < new_index, "served by the leader: this node still lags"


def test_min_index_read_your_writes_on_a_follower(cluster):
    leader = cluster.leader()
    follower = cluster.followers()[1]
    for i in range(20):
        index = cluster.execute(leader, set_cmd(b"ryw", str(i).encode())).index
        reply = cluster.execute(follower, get_cmd(b"ryw"), level=f"min_index:{index}")
        assert value_of(reply) == str(i).encode()
        assert reply.index >= index


def test_databases_are_separate_keyspaces(cluster):
    leader = cluster.leader()
    cluster.execute(leader, pb.Command(db=0, set=pb.Set(key=b"k", value=b"zero")))
    cluster.execute(leader, pb.Command(db=5, set=pb.Set(key=b"k", value=b"five")))
    assert value_of(cluster.execute(leader, get_cmd(b"k", db=0))) == b"zero"
    assert value_of(cluster.execute(leader, get_cmd(b"k", db=5))) == b"five"
    assert value_of(cluster.execute(leader, pb.Command(db=7, db_size=pb.DbSize()))) == 0


def test_every_write_returns_an_increasing_index(cluster):
    leader = cluster.leader()
    indexes = [cluster.execute(leader, set_cmd(b"i", str(i).encode())).index for i in range(10)]
    assert indexes == sorted(indexes) and len(set(indexes)) == 10


def test_active_expiry_deletes_keys_on_every_replica(cluster):
    leader = cluster.leader()
    for i in range(30):
        cmd = set_cmd(f"ttl{i}".encode(), b"x")
        cmd.set.expiry.ttl_ms = 200
        cluster.execute(leader, cmd)
    cluster.execute(leader, set_cmd(b"stays", b"x"))
    # invisible at once after the deadline...
    wait_until(lambda: value_of(cluster.execute(leader, get_cmd(b"ttl0"))) is None, 5, "ttl0 to expire")
    # ...and deleted by the leader's expiry loop on every node
    for node in cluster.nodes:
        wait_until(lambda: value_of(cluster.execute(node, pb.Command(db_size=pb.DbSize()), level="any")) == 1,
                   10, f"{node.id} to delete expired keys")


def test_ttl_is_stamped_once_by_the_leader(cluster):
    cmd = set_cmd(b"t", b"v")
    cmd.set.expiry.ttl_ms = 100_000
    index = cluster.execute(cluster.followers()[0], cmd).index
    cluster.wait_applied(index)
    ttls = [value_of(cluster.execute(n, pb.Command(ttl=pb.Ttl(key=b"t", millis=True)), level="any"))
            for n in cluster.nodes]
    # same absolute deadline everywhere: the remaining TTLs differ only by read timing
    assert all(90_000 < t <= 100_000 for t in ttls), ttls
    assert max(ttls) - min(ttls) < 2_000


def test_bad_requests_get_clear_errors_and_the_node_keeps_serving(cluster):
    leader = cluster.leader()
    stub = cluster.cache(leader)
    cases = [
        (cache_pb2.Request(command=pb.Command(set=pb.Set(key=b"k" * 10_000, value=b"v"))), "KEY_TOO_LARGE"),
        (cache_pb2.Request(command=pb.Command(db=99, get=pb.Get(key=b"k"))), "INVALID_ARGUMENT"),
        (cache_pb2.Request(), "SYNTAX"),  # no operation at all
    ]
    for request, reason in cases:
        with pytest.raises(grpc.RpcError) as info:
            stub.Execute(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason.encode() in dict(info.value.trailing_metadata())["grpc-status-details-bin"]
    # wrong type
    cluster.execute(leader, set_cmd(b"n", b"not a number"))
    with pytest.raises(grpc.RpcError) as info:
        cluster.execute(leader, pb.Command(incr_by=pb.IncrBy(key=b"n", delta=1)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # a message that is not a Request at all: unknown fields / garbage bytes
    raw = cluster.channel(leader).unary_unary("/raftcache.v1.Cache/Execute")
    with pytest.raises(grpc.RpcError) as info:
        raw(b"\xff\xff\xff\xff garbage", timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed request" in info.value.details()
    # a Request carrying a field this server does not know: ignored, as protobuf promises
    request = cache_pb2.Request(command=get_cmd(b"n")).SerializeToString() + b"\xa2\x06\x03abc"
    assert value_of(cache_pb2.Reply.FromString(raw(request, timeout=5))) == b"not a number"
    assert value_of(cluster.execute(leader, get_cmd(b"n"))) == b"not a number"


def test_pipeline_keeps_order_and_reports_errors_in_place(cluster):
    follower = cluster.followers()[0]
    batch = cache_pb2.RequestBatch()
    batch.requests.add(command=set_cmd(b"p", b"1"))
    batch.requests.add(command=pb.Command(incr_by=pb.IncrBy(key=b"p", delta=5)))
    batch.requests.add(command=get_cmd(b"p"))
    batch.requests.add(command=set_cmd(b"q", b"text"))
    batch.requests.add(command=pb.Command(incr_by=pb.IncrBy(key=b"q", delta=1)))
    batch.requests.add(command=get_cmd(b"q"))
    replies = list(cluster.cache(follower).Pipeline(iter([batch]), timeout=10))
    values = [value_of(r) for r in replies[0].replies]
    assert values[:4] == ["OK", 6, b"6", "OK"]
    assert values[4].reason.value == "NOT_INTEGER"
    assert values[5] == b"text"


def _write_loop(cluster, stop: threading.Event, acked: list, errors: list, prefix: str):
    """Write unique keys through any live node; record what was acknowledged."""
    i = 0
    while not stop.is_set() and i < 5000:
        key = f"{prefix}{i}".encode()
        for node in list(cluster.alive_nodes()):
            try:
                cluster.execute(node, set_cmd(key, b"v"), timeout_s=8)
                acked.append(key)
                break
            except grpc.RpcError as e:
                errors.append(e.code())
        i += 1


def _assert_all_present(cluster, keys):
    leader = cluster.leader()
    missing = []
    for chunk_start in range(0, len(keys), 200):
        chunk = keys[chunk_start:chunk_start + 200]
        reply = cluster.execute(leader, pb.Command(mget=pb.MGet(keys=chunk)))
        missing += [k for k, v in zip(chunk, value_of(reply)) if v is None]
    assert missing == [], f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"


def test_killing_the_leader_loses_no_acknowledged_write(make_cluster):
    cluster = make_cluster(3)
    old = cluster.leader()
    stop, acked, errors = threading.Event(), [], []
    writer = threading.Thread(target=_write_loop, args=(cluster, stop, acked, errors, "lk"))
    writer.start()
    wait_until(lambda: len(acked) >= 50, 20, "50 acknowledged writes")
    cluster.kill(old)
    new = cluster.leader(timeout_s=20)
    assert new is not old
    count = len(acked)
    wait_until(lambda: len(acked) >= count + 50, 20, "writes to resume under the new leader")
    stop.set()
    writer.join(30)
    _assert_all_present(cluster, acked)
    cluster.restart(old)
    index = cluster.status(new).commit_index
    cluster.wait_applied(index, [old])
    reply = cluster.execute(old, pb.Command(db_size=pb.DbSize()), level="any")
    assert value_of(reply) >= len(set(acked))


def test_kill_minus_nine_of_every_node_loses_nothing(make_cluster):
    cluster = make_cluster(3)
    leader = cluster.leader()
    acked = []
    for i in range(300):
        cluster.execute(leader, set_cmd(f"k{i}".encode(), str(i).encode()))
        acked.append(f"k{i}".encode())
    counter_calls = 0
    for _ in range(50):
        cluster.execute(leader, pb.Command(incr_by=pb.IncrBy(key=b"counter", delta=1)))
        counter_calls += 1
    for node in cluster.nodes:
        cluster.kill(node)
    for node in cluster.nodes:
        cluster.restart(node)
    leader = cluster.leader(timeout_s=30)
    _assert_all_present(cluster, acked)
    # exactly once across restarts: replaying the journal did not re-apply the increments
    for node in cluster.nodes:
        wait_until(lambda: value_of(cluster.execute(node, get_cmd(b"counter"), level="any")) == str(counter_calls).encode(),
                   20, f"{node.id} to replay to counter={counter_calls}")
    # and the cluster keeps working
    assert value_of(cluster.execute(leader, pb.Command(incr_by=pb.IncrBy(key=b"counter", delta=1)))) == counter_calls + 1


def test_losing_one_zone_keeps_the_cluster_writable(make_cluster):
    cluster = make_cluster(3)
    leader = cluster.leader()
    cluster.execute(leader, set_cmd(b"before", b"1"))
    victims = cluster.kill_zone(cluster.followers()[0].zone)
    assert len(victims) == 1
    survivor = cluster.alive_nodes()[0]
    assert value_of(cluster.execute(survivor, set_cmd(b"after", b"2"))) == "OK"
    assert value_of(cluster.execute(survivor, get_cmd(b"before"), level="linearizable")) == b"1"


def test_grpc_health_reports_serving_once_a_leader_is_known(cluster):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    for node in cluster.nodes:
        stub = health_pb2_grpc.HealthStub(cluster.channel(node))
        wait_until(lambda: stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                   == health_pb2.HealthCheckResponse.SERVING, 10, f"{node.id} health SERVING")


def test_http_metrics_and_status(cluster):
    import json
    import urllib.request

    node = cluster.followers()[0]
    host, port = node.http_address
    metrics = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5).read().decode()
    assert 'raftcache_is_leader{node="%s"' % node.id in metrics
    assert "raftcache_raft_applied_index" in metrics
    status = json.loads(urllib.request.urlopen(f"http://{host}:{port}/status", timeout=5).read())
    assert status["role"] == "follower" and status["leader_id"] == cluster.leader().id
    assert {m["id"] for m in status["members"]} == {"n1", "n2", "n3"}


class _Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def test_raft_port_refuses_messages_without_the_cluster_secret(cluster, tmp_path):
    """Peers unpickle what they receive: without the secret nothing must be unpickled."""
    import pickle
    import socket
    import struct
    import zlib

    marker = str(tmp_path / "exploited")
    payload = zlib.compress(pickle.dumps(_Exploit(marker)), 3)
    follower = cluster.followers()[0]
    host, port = follower.peer.host, follower.peer.port("raft")
    for frame in (payload, b"\x01" + b"\x00" * 8 + b"n" * 12 + payload):  # plain, and a forged token
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(struct.pack("i", len(frame)) + frame)
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass  # the node answers with its key-exchange hello at most, then drops us
            except (socket.timeout, ConnectionResetError):
                pass
    import os

    assert not os.path.exists(marker), "a message without the cluster secret was unpickled"
    leader = cluster.leader()
    assert value_of(cluster.execute(follower, set_cmd(b"after", b"ok"))) == "OK"
    assert value_of(cluster.execute(leader, get_cmd(b"after"))) == b"ok"


def test_forwarding_api_requires_the_cluster_secret(cluster):
    from raftcache.proto import admin_pb2_grpc

    stub = admin_pb2_grpc.InternalStub(cluster.channel(cluster.leader()))
    request = cache_pb2.Request(command=set_cmd(b"sneaky", b"1"))
    for metadata in ((), (("x-raftcache-secret", "wrong"),)):
        with pytest.raises(grpc.RpcError) as info:
            stub.Forward(request, metadata=metadata, timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert value_of(cluster.execute(cluster.leader(), get_cmd(b"sneaky"))) is None
