"""The invariants a fuzz batch must leave standing, checked on a real cluster.

After every batch:

1. every node process is alive and answers PING (RESP), a memcached
   `version` and gRPC Status;
2. the replicas agree: once every node applied the leader's commit index,
   the keyspace digest of every node is the same. The digest is the one a
   backup carries (node/keyspace.snapshot_info: sha256 over every data and
   item record), read through the Admin.Backup RPC;
3. the canary keys written before the batch are unchanged, read on every
   node.

Every wait is bounded by a deadline; a failure raises InvariantBroken with
the node logs' tails.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time

import redis

from raftcache.node.ops import backup
from raftcache.proto import admin_pb2, admin_pb2_grpc
from raftcache.proto import commands_pb2 as pb
from raftcache.localcluster import Node, WaitTimeout, wait_until
from raftcache.localcluster import LocalCluster


class InvariantBroken(AssertionError):
    """A node died, stopped answering, diverged from the others, or a canary changed."""


def node_digest(cluster: LocalCluster, node: Node, timeout_s: float = 20.0) -> tuple[int, str, int]:
    """(applied_index, digest, key_count) of `node`'s keyspace, from an online backup of it."""
    stub = admin_pb2_grpc.AdminStub(cluster.channel(node))
    with tempfile.TemporaryDirectory(prefix="fuzz-digest-") as work:
        path = os.path.join(work, "node" + backup.SUFFIX)
        with open(path, "wb") as f:
            for chunk in stub.Backup(admin_pb2.BackupRequest(), timeout=timeout_s, metadata=cluster.metadata()):
                f.write(chunk.data)
        meta, _ = backup.read_meta(path)
    return meta.applied_index, meta.digest, meta.key_count


def ping_all(cluster: LocalCluster, timeout_s: float = 10.0) -> None:
    """Every node is alive and answers RESP PING, memcached `version` and gRPC Status."""
    dead = [n for n in cluster.nodes if not n.alive]
    if dead:
        raise InvariantBroken(f"node process(es) exited: {[(n.id, n.proc.returncode) for n in dead]}")
    for node in cluster.nodes:
        host, port = node.redis_address
        r = redis.Redis(host=host, port=port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        try:
            if r.ping() is not True:
                raise InvariantBroken(f"{node.id}: PING did not answer PONG")
        finally:
            r.close()
        with socket.create_connection(node.memcached_address, timeout=timeout_s) as s:
            s.sendall(b"version\r\n")
            reply = _read_line(s, timeout_s)
            if not reply.startswith(b"VERSION "):
                raise InvariantBroken(f"{node.id}: memcached version answered {reply!r}")
        cluster.status(node, timeout_s)


def _read_line(s: socket.socket, timeout_s: float) -> bytes:
    deadline = time.monotonic() + timeout_s
    buf = b""
    while b"\r\n" not in buf:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def wait_converged(cluster: LocalCluster, timeout_s: float = 30.0) -> tuple[int, str]:
    """Wait until every node applied the same index with the same digest; returns (index, digest).

    Background writes (active expiry) may move the index between two
    backups: the comparison is retried until the deadline.
    """
    last: dict = {}

    def same():
        leader = cluster.leader(timeout_s)
        target = cluster.status(leader).commit_index
        cluster.wait_applied(target, timeout_s=timeout_s)
        last.clear()
        for node in cluster.nodes:
            last[node.id] = node_digest(cluster, node)
        indexes = {v[0] for v in last.values()}
        digests = {v[1] for v in last.values()}
        return (indexes.pop(), digests.pop()) if len(indexes) == 1 and len(digests) == 1 else None

    try:
        return wait_until(same, timeout_s, "every replica to hold the same keyspace", interval_s=0.2)
    except WaitTimeout as e:
        raise InvariantBroken(f"replicas disagree: {last} ({e})") from None


def check_cluster(cluster: LocalCluster, canaries: "Canaries | None" = None, timeout_s: float = 30.0) -> None:
    """All three invariants; raises InvariantBroken (with log tails) when one fails."""
    try:
        ping_all(cluster)
        wait_converged(cluster, timeout_s)
        if canaries is not None:
            canaries.check(cluster)
    except InvariantBroken as e:
        raise InvariantBroken(f"{e}\n{cluster.tail_logs(40)}") from None
    except Exception as e:  # noqa: BLE001 - a node that cannot answer is a broken invariant
        raise InvariantBroken(f"{e!r}\n{cluster.tail_logs(40)}") from None


class Canaries:
    """Keys of every type written before a batch, in a key space the fuzzer never names:
    prefix b"canary:" in database 0 and every key of the last database (CANARY_DB)."""

    PREFIX = b"canary:"

    def __init__(self, db: int):
        self.db = db
        self.expected: dict[tuple[int, bytes], object] = {}

    def _writes(self, db: int) -> list[pb.Command]:
        p = self.PREFIX
        far = 4_102_444_800_000  # 2100-01-01, absolute: the TTL does not move
        return [
            pb.Command(db=db, set=pb.Set(key=p + b"str", value=b"\x00\xffcanary\r\n", flags=7)),
            pb.Command(db=db, set=pb.Set(key=p + b"ttl", value=b"v", expiry=pb.Expiry(expire_at_ms=far))),
            pb.Command(db=db, set=pb.Set(key=p + b"ctr", value=b"9223372036854775806")),
            pb.Command(db=db, hset=pb.HSet(key=p + b"hash", pairs=[pb.KeyValue(key=b"f", value=b"1"),
                                                                    pb.KeyValue(key=b"g", value=b"")])),
            pb.Command(db=db, push=pb.Push(key=p + b"list", values=[b"a", b"b", b"a"])),
            pb.Command(db=db, sadd=pb.SAdd(key=p + b"set", members=[b"x", b"y"])),
            pb.Command(db=db, zadd=pb.ZAdd(key=p + b"zset", members=[pb.ScoreMember(score=-1.5, member=b"m"),
                                                                      pb.ScoreMember(score=2.0, member=b"n")])),
            pb.Command(db=db, setbit=pb.SetBit(key=p + b"bits", offset=9, value=1)),
        ]

    def _reads(self, db: int) -> list[tuple[bytes, pb.Command]]:
        p = self.PREFIX
        reads = []
        for name in (b"str", b"ttl", b"ctr", b"bits"):
            reads.append((name, pb.Command(db=db, get_meta=pb.GetMeta(key=p + name))))
        reads.append((b"hash", pb.Command(db=db, hgetall=pb.HGetAll(key=p + b"hash"))))
        reads.append((b"list", pb.Command(db=db, lrange=pb.LRange(key=p + b"list", start=0, stop=-1))))
        reads.append((b"set", pb.Command(db=db, smembers=pb.SMembers(key=p + b"set"))))
        reads.append((b"zset", pb.Command(db=db, zrange=pb.ZRange(key=p + b"zset", start=0, stop=-1,
                                                                   with_scores=True))))
        return reads

    def write(self, cluster: LocalCluster) -> None:
        """(Re)write every canary on the leader, then record what the leader reads back."""
        leader = cluster.leader()
        for db in (0, self.db):
            for command in self._writes(db):
                cluster.execute(leader, command)
        self.expected = {key: value for key, value in self._read_all(cluster, leader).items()}

    def _read_all(self, cluster: LocalCluster, node: Node) -> dict:
        out = {}
        for db in (0, self.db):
            for name, command in self._reads(db):
                value = cluster.execute(node, command, level="any").value
                if name in (b"hash", b"set"):  # unordered replies: compare as sets
                    out[(db, name)] = sorted(v.SerializeToString() for v in value.array.items)
                else:
                    out[(db, name)] = value.SerializeToString()
        return out

    def check(self, cluster: LocalCluster) -> None:
        """Every node (after wait_converged) reads exactly what was recorded."""
        for node in cluster.nodes:
            got = self._read_all(cluster, node)
            changed = {k: (self.expected.get(k), v) for k, v in got.items() if self.expected.get(k) != v}
            if changed:
                raise InvariantBroken(f"{node.id}: canaries changed: {changed}")
