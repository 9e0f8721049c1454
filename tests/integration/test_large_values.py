"""Large values replicate: binary values from 64 KiB (PySyncObj splits such an
entry into pieces) up to tens of MB, written through a follower and read
back from every node; a value over the limit gets a clear error."""

from __future__ import annotations

import os
import socket

import redis

from raftcache.proto import commands_pb2 as pb


def client(node) -> redis.Redis:
    host, port = node.redis_address
    r = redis.Redis(host=host, port=port, socket_timeout=60)
    r.execute_command("CLIENT", "CONSISTENCY", "linearizable")
    return r


def _terms(cluster) -> dict:
    return {n.id: cluster.status(n).term for n in cluster.alive_nodes()}


def test_large_binary_values_reach_every_node(cluster):
    leader = cluster.leader()
    follower = next(n for n in cluster.alive_nodes() if n is not leader)
    values = {f"v{size}": os.urandom(size) for size in (70_000, 300_000, 3 << 20, 24 << 20)}
    writer = client(follower)  # forwarded to the leader: the gRPC hop carries the value too
    for key, value in values.items():
        assert writer.set(key, value)
    cluster.wait_applied(cluster.status(leader).commit_index)
    for node in cluster.alive_nodes():
        r = client(node)
        r.execute_command("CLIENT", "CONSISTENCY", "any")  # each node's own copy, not the leader's
        for key, value in values.items():
            assert r.get(key) == value, f"{key} on {node.id}"
    reply = cluster.execute(follower, pb.Command(get=pb.Get(key=b"v25165824")), level="linearizable")
    assert reply.value.bulk == values["v25165824"]  # and over gRPC, past its default 4 MiB limit


def test_a_value_over_the_limit_is_refused_clearly(cluster):
    node = cluster.leader()
    with socket.create_connection(node.redis_address, timeout=10) as sock:
        # a bulk string one byte over the default 64 MiB limit: refused from its header, as Redis does
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$7\r\ntoo-big\r\n$%d\r\n" % ((64 << 20) + 1))
        assert sock.recv(100) == b"-ERR Protocol error: invalid bulk length\r\n"
    assert client(node).exists("too-big") == 0


def test_pipelined_edits_of_a_large_bitmap_cause_no_election(cluster):
    """SETBIT, SETRANGE and APPEND write their string again whole on every replica (~2 ms per
    MB each): a pipeline of them on a 16 MB bitmap went into one log entry whose apply held
    every node for seconds (heartbeats too: elections). The leader's batcher counts the string
    each edit rewrites against a batch's size, so such edits go in entries of their own, between
    which the apply yields: the replies are right and the leader and its term stay."""
    leader = cluster.leader()
    r = client(leader)
    r.setrange("bitmap", (16 << 20) - 1, b"\x00")
    before = _terms(cluster)
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.setbit("bitmap", i * 8 * 1000, 1)
    pipe.setrange("bitmap", 3, b"\xff").append("bitmap", b"!")
    assert pipe.execute() == [0] * 100 + [16 << 20, (16 << 20) + 1]
    assert r.bitcount("bitmap") == 100 + 8 + 2   # the 100 bits, 0xff and "!" (0x21)
    assert _terms(cluster) == before
    assert cluster.status(cluster.leader()).leader_id == leader.id
    r.delete("bitmap")


def test_a_transaction_that_applies_for_seconds_causes_no_election(cluster):
    """A MULTI/EXEC is one log entry, however long its apply: 300 SETRANGEs of a 16 MB string
    rewrite it 300 times (seconds on every replica). The leader keeps sending heartbeats while it
    applies, and a node does not count the time it was itself busy applying as its leader's
    silence: before, the followers elected a new leader and the client got an error although the
    transaction had run. Now EXEC answers, and the leader and its term stay."""
    leader = cluster.leader()
    r = client(leader)
    r.setrange("big", (16 << 20) - 1, b"\x00")
    before = _terms(cluster)
    pipe = r.pipeline(transaction=True)
    for i in range(300):
        pipe.setrange("big", i * 1000, b"x")
    assert pipe.execute() == [16 << 20] * 300
    assert r.bitcount("big") == 300 * 4   # each "x" (0x78) has four bits set
    assert _terms(cluster) == before
    assert cluster.status(cluster.leader()).leader_id == leader.id
    r.delete("big")
