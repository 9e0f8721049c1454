"""An in-memory fake cluster implementing the client's Transport, for tests without sockets.

`FakeCluster` answers Topology, Status and a few string commands (get, set,
incr_by, mget, del, exists, noop) with the server's write deduplication
(last (sequence, reply) per client id), and the operator calls of
client.admin: health, a backup stream of `backup_bytes`, and AddNode,
RemoveNode and TransferLeader on the leader with the cluster secret `secret`. Tests script failures: take a node
down (its calls raise ConnectionFailedError), queue errors for a node's
next calls, move the leader, or delay replies. Every call is recorded in
`calls` as (method, address, request).

It is a tool for testing routing, retries and helpers (cache-aside), not a
model of the server's semantics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib

from raftcache.client.errors import (
    AuthenticationError,
    ConnectionFailedError,
    NotLeaderError,
    RaftcacheError,
    error_for_reason,
)
from raftcache.proto import admin_pb2, cache_pb2


@dataclasses.dataclass
class FakeNode:
    id: str
    zone: str
    address: str
    down: bool = False
    errors: list = dataclasses.field(default_factory=list)   # raised by the next Execute/Pipeline calls
    served: int = 0                                           # Execute/Pipeline calls answered


class FakeCluster:
    def __init__(self, zones: str = "abc", leader: int = 0):
        self.nodes = [FakeNode(f"n{i + 1}", z, f"fake{i + 1}:7000") for i, z in enumerate(zones)]
        self.leader_id = self.nodes[leader].id
        self.term = 1
        self.data: dict[bytes, bytes] = {}
        self.index = 0
        self.applied = 0                      # writes actually applied (not deduplicated)
        self.dedup: dict[str, tuple[int, cache_pb2.Reply]] = {}
        self.calls: list[tuple[str, str, object]] = []
        self.delay_s = 0.0                    # every Execute sleeps this long first
        self.closed = False
        self.secret = "fake-secret"           # what the operator calls must carry
        self.backup_bytes = backup_file(b"fake keyspace image" * 100)

    # ------------------------------------------------------------ scripting

    def node(self, key: str) -> FakeNode:
        return next(n for n in self.nodes if key in (n.id, n.address))

    def elect(self, node_id: str) -> None:
        self.leader_id = node_id
        self.term += 1

    @property
    def seeds(self) -> list[str]:
        return [n.address for n in self.nodes]

    def executes(self, address: str | None = None) -> list[cache_pb2.Request]:
        return [r for m, a, r in self.calls if m == "execute" and (address is None or a == address)]

    # ------------------------------------------------------------ Transport

    def _enter(self, method: str, address: str, request) -> FakeNode:
        self.calls.append((method, address, request))
        node = self.node(address)
        if node.down:
            raise ConnectionFailedError(f"UNAVAILABLE: {address} is down")
        if node.errors and method in ("execute", "pipeline"):
            raise node.errors.pop(0)
        return node

    async def execute(self, address, request, timeout_s):
        node = self._enter("execute", address, request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        node.served += 1
        reply = self._apply(request)
        if reply.value.WhichOneof("kind") == "error":
            raise error_for_reason(reply.value.error.reason, reply.value.error.message)
        return reply

    async def pipeline(self, address, batch, timeout_s):
        node = self._enter("pipeline", address, batch)
        node.served += 1
        return cache_pb2.ReplyBatch(replies=[self._apply(r) for r in batch.requests])

    async def topology(self, address, timeout_s):
        self._enter("topology", address, None)
        reply = admin_pb2.TopologyReply(leader_id=self.leader_id, term=self.term)
        for n in self.nodes:
            reply.members.add(id=n.id, zone=n.zone, grpc_address=n.address, voter=True)
        return reply

    async def status(self, address, timeout_s):
        node = self._enter("status", address, None)
        return admin_pb2.StatusReply(id=node.id, zone=node.zone, leader_id=self.leader_id, term=self.term,
                                     role="leader" if node.id == self.leader_id else "follower",
                                     commit_index=self.index, applied_index=self.index)

    async def admin(self, address, method, request, timeout_s, metadata=()):
        if method in ("Status", "Topology"):
            return await getattr(self, method.lower())(address, timeout_s)
        node = self._enter(method, address, request)
        self._check_secret(metadata)
        if node.id != self.leader_id:
            raise NotLeaderError(f"{node.id} is not the leader")
        if method == "AddNode":
            m = request.member
            self.nodes.append(FakeNode(m.id, m.zone, m.grpc_address))
        elif method == "RemoveNode":
            self.nodes.remove(self.node(request.id))
            if request.id == self.leader_id:
                self.elect(self.nodes[0].id)
        else:  # TransferLeader
            self.elect(request.to or next(n.id for n in self.nodes if n.id != self.leader_id))
            return admin_pb2.TransferLeaderReply(leader_id=self.leader_id, term=self.term)
        reply = admin_pb2.MembershipReply(leader_id=self.leader_id)
        for n in self.nodes:
            reply.members.add(id=n.id, zone=n.zone, grpc_address=n.address, voter=True)
        return reply

    async def backup(self, address, timeout_s, metadata=()):
        node = self._enter("backup", address, None)
        self._check_secret(metadata)
        data = self.backup_bytes
        yield admin_pb2.BackupChunk(info=admin_pb2.BackupInfo(
            format_version=1, cluster_id="rc-fake", applied_index=self.index, term=self.term,
            total_bytes=len(data), node_id=node.id, sha256=data[-32:].hex()))
        for start in range(0, len(data), 1000):
            yield admin_pb2.BackupChunk(data=data[start:start + 1000])

    async def health(self, address, timeout_s):
        self._enter("health", address, None)
        return "SERVING"

    def _check_secret(self, metadata) -> None:
        if dict(metadata).get("x-raftcache-secret") != self.secret:
            raise AuthenticationError("this admin call needs the cluster secret (x-raftcache-secret metadata)")

    async def close(self) -> None:
        self.closed = True

    # ------------------------------------------------------------ a tiny state machine

    def _apply(self, request: cache_pb2.Request) -> cache_pb2.Reply:
        name = request.command.WhichOneof("op")
        op = getattr(request.command, name)
        write = name not in ("get", "mget", "exists")
        if write and request.client_id:
            seen = self.dedup.get(request.client_id)
            if seen is not None and seen[0] == request.sequence:
                return seen[1]
            if seen is not None and request.sequence < seen[0]:
                return _error("STALE_SEQUENCE", "stale sequence")
        reply = cache_pb2.Reply()
        try:
            self._run(name, op, reply.value)
        except RaftcacheError as e:
            return _error(e.reason, e.message)
        if write:
            self.index += 1
            self.applied += 1
            reply.index = self.index
            if request.client_id:
                self.dedup[request.client_id] = (request.sequence, reply)
        else:
            reply.index = self.index
        return reply

    def _run(self, name, op, out) -> None:
        data = self.data
        if name == "get":
            if op.key in data:
                out.bulk = data[op.key]
            else:
                out.nil = True
        elif name == "mget":
            out.array.SetInParent()
            for key in op.keys:
                item = out.array.items.add()
                if key in data:
                    item.bulk = data[key]
                else:
                    item.nil = True
        elif name == "set":
            data[op.key] = op.value
            out.status = "OK"
        elif name == "incr_by":
            try:
                value = int(data.get(op.key, b"0")) + op.delta
            except ValueError:
                raise error_for_reason("NOT_INTEGER", "value is not an integer or out of range") from None
            data[op.key] = b"%d" % value
            out.integer = value
        elif name == "del":
            out.integer = sum(data.pop(k, None) is not None for k in op.keys)
        elif name == "exists":
            out.integer = sum(k in data for k in op.keys)
        elif name == "noop":
            out.status = "OK"
        else:
            raise error_for_reason("INTERNAL", f"FakeCluster does not implement {name}")


def backup_file(body: bytes) -> bytes:
    """Bytes shaped like a backup file for the client's checks: `body`, then b"RCBKEND1" and its SHA-256."""
    return body + b"RCBKEND1" + hashlib.sha256(body).digest()


def _error(reason: str, message: str) -> cache_pb2.Reply:
    reply = cache_pb2.Reply()
    reply.value.error.reason = reason
    reply.value.error.message = message
    return reply
