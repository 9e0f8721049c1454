"""No request and no log entry can stop a node; upgrades cannot split the cluster.

The requests a hostile-client review used to stop every node for good (a
memcached counter past 2**63, a gRPC command with a field this binary does not
know), sent to real node processes, now get their answer while every node
stays up and identical, including after kill -9 of every node and a restart.
The log's semantics version is raised only once every member supports it, and
a node that meets an entry it cannot apply waits for an upgrade instead of
exiting or applying it differently.
"""

from __future__ import annotations

import signal

import grpc
import pytest
from pymemcache.client.base import Client

from raftcache.node import commands
from raftcache.proto import cache_pb2
from raftcache.proto import commands_pb2 as pb
from raftcache.localcluster import wait_until
from tests.cluster import Cluster


def _value(reply: cache_pb2.Reply):
    return commands.from_value(reply.value)


def _get_everywhere(cluster: Cluster, key: bytes) -> list:
    index = cluster.status(cluster.leader()).commit_index
    cluster.wait_applied(index)
    return [_value(cluster.execute(n, pb.Command(get=pb.Get(key=key)), level="any")) for n in cluster.nodes]


def test_a_memcached_counter_past_2_63_is_answered_and_kept(make_cluster):
    cluster = make_cluster(3)
    follower = cluster.followers()[0]
    mc = Client(follower.memcached_address, connect_timeout=5, timeout=10)
    assert mc.set(b"ctr", b"9223372036854775807", noreply=False)
    assert mc.incr(b"ctr", 1) == 1 << 63
    assert mc.incr(b"ctr", (1 << 64) - 1) == (1 << 63) - 1, "memcached counters wrap at 2**64"
    assert mc.incr(b"ctr", 1) == 1 << 63
    mc.close()
    # the same through gRPC with a client id (the dedup record stores the unsigned result)
    leader = cluster.leader()
    incr = pb.Command(mc_incr=pb.McIncr(key=b"ctr", delta=(1 << 63) - 1))
    first = cluster.execute(leader, incr, client_id="app-1", sequence=1)
    again = cluster.execute(leader, incr, client_id="app-1", sequence=1)
    assert _value(first) == _value(again) == (1 << 64) - 1
    assert first.index == again.index
    assert all(n.alive for n in cluster.nodes)
    assert _get_everywhere(cluster, b"ctr") == [b"18446744073709551615"] * 3

    for node in cluster.nodes:  # every journal replays the entries: none may stop a node
        cluster.kill(node, signal.SIGKILL)
    for node in cluster.nodes:
        cluster.spawn(node)
    cluster.leader(timeout_s=30)
    assert _get_everywhere(cluster, b"ctr") == [b"18446744073709551615"] * 3
    assert all(n.alive for n in cluster.nodes)


def test_a_command_with_an_unknown_field_is_refused_before_it_is_logged(cluster):
    leader, follower = cluster.leader(), cluster.followers()[0]
    inner = pb.Set(key=b"k", value=b"v").SerializeToString() + bytes([0xB8, 0x3E, 0x01])  # field 999 in Set
    command = bytes([0x62, len(inner)]) + inner                                            # Command.set = 12
    request = bytes([0x0A, len(command)]) + command                                        # Request.command = 1
    before = cluster.status(leader).last_index
    for node in (leader, follower):
        raw = cluster.channel(node).unary_unary("/raftcache.v1.Cache/Execute")
        with pytest.raises(grpc.RpcError) as info:
            raw(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "does not know" in info.value.details()
    assert cluster.status(leader).last_index - before <= 2, "nothing was proposed (barriers aside)"
    assert _get_everywhere(cluster, b"k") == [None] * 3
    assert all(n.alive for n in cluster.nodes)


def test_clients_cannot_set_the_log_version(cluster):
    # The leader raises the version itself within a second or so of its election.
    wait_until(lambda: cluster.status(cluster.leader()).log_version == commands.MAX_VERSION, 15,
               "the leader to raise the log version")
    with pytest.raises(grpc.RpcError) as info:
        cluster.execute(cluster.leader(), pb.Command(set_version=pb.SetVersion(version=99)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert cluster.status(cluster.leader()).log_version == commands.MAX_VERSION


def _hold(node, version: int | None) -> None:
    """Run `node` as a binary that supports up to `version` (None: all this one does)."""
    argv = [a for a in node.argv]
    if "--max-log-version" in argv:
        i = argv.index("--max-log-version")
        del argv[i:i + 2]
    if version is not None:
        argv += ["--max-log-version", str(version)]
    node.argv = argv


def _write(cluster: Cluster, key: bytes, value: bytes) -> int:
    reply = cluster.execute(cluster.leader(), pb.Command(set=pb.Set(key=key, value=value)))
    assert _value(reply) == "OK"
    return reply.index


def test_rolling_upgrade_raises_the_version_only_when_every_member_supports_it(tmp_path):
    cluster = Cluster(str(tmp_path / "c"), 3)
    old = cluster.nodes[2]
    _hold(old, 1)  # n3 runs "the previous release"
    try:
        cluster.start()
        leader = cluster.leader()

        def reported():
            members = {m.member.id: m.max_log_version for m in cluster.status(leader).members}
            return members if all(members.values()) else None

        versions = wait_until(reported, 20, "every member to report its version to the leader")
        assert versions == {"n1": commands.MAX_VERSION, "n2": commands.MAX_VERSION, "n3": 1}
        _write(cluster, b"before", b"1")
        assert {cluster.status(n).log_version for n in cluster.nodes} == {1}, "held back by n3"

        # upgrade n3: the leader raises the version once n3 reports it supports it
        cluster.stop(old)
        _hold(old, None)
        cluster.restart(old)
        cluster.wait_log_version(commands.MAX_VERSION)
        index = _write(cluster, b"after", b"2")
        cluster.wait_applied(index)

        # downgrade n3 again: it cannot apply the new entries, so it waits (alive, not leading)
        cluster.stop(old)
        _hold(old, 1)
        cluster.restart(old)
        index = _write(cluster, b"while-held", b"3")
        status = wait_until(lambda: cluster.status(old).apply_blocked and cluster.status(old), 20,
                            "the downgraded node to report that it waits for an upgrade")
        assert "upgrade this node" in status.apply_blocked
        assert status.applied_index < index and status.role != "leader"
        assert old.alive
        with open(old.log_path, "rb") as f:
            assert b"needs semantics version" in f.read()
        assert _write(cluster, b"still-serving", b"4"), "the other two keep the cluster writable"

        # upgrade it back: it applies what it held and agrees with the others
        cluster.stop(old)
        _hold(old, None)
        cluster.restart(old)
        assert _get_everywhere(cluster, b"while-held") == [b"3"] * 3
        assert cluster.status(old).apply_blocked == ""
    except BaseException:
        print(cluster.tail_logs())
        raise
    finally:
        cluster.close()
