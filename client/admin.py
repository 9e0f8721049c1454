"""Operator calls of the Admin API (proto/admin.proto): `client.admin`.

Status, topology and gRPC health of one node; online backups; adding and
removing voters; moving leadership. `raftcache ctl` is built on these, as
etcdctl is on clientv3. Replies are the messages of proto/admin.proto
(`StatusReply`, `TopologyReply`, `BackupInfo`, `MembershipReply`,
`TransferLeaderReply`), as clientv3 returns its protobuf responses.

Which node answers:
- status, topology, health and backup: the node at `address`, else the
  first seed (in the order given) that answers; when none does, a
  ConnectionFailedError names every seed tried and why;
- add_node, remove_node and transfer_leader: the leader, found from the
  topology (and found again when leadership moves during the call).

Calls that change the cluster or read all of its data (backup, add_node,
remove_node, transfer_leader) send the cluster secret,
`ClientOptions.cluster_secret`, in the `x-raftcache-secret` metadata; no
other call sends it. `AsyncAdmin` is the implementation; `Admin` (on a sync
Client) blocks on the same coroutines.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import os
from collections.abc import Awaitable, Callable

from raftcache import backup_crypto
from raftcache.client._engine import Engine
from raftcache.client.errors import (
    ConfigError,
    ConnectionFailedError,
    DeadlineExceededError,
    NotLeaderError,
    UnavailableError,
)
from raftcache.peers import PORT_OFFSETS, Peer, PeerSpecError
from raftcache.proto import admin_pb2

SECRET_METADATA = "x-raftcache-secret"
#: A backup file ends with b"RCBKEND1" and the SHA-256 of every byte before those 40 bytes;
#: BackupInfo.sha256 announces that checksum (node/ops/backup.py documents the format).
_TRAILER_BYTES = 8 + 32
_POLL_S = 0.2


def parse_member(spec: str | Peer) -> Peer:
    """A member given as `ID@ZONE=HOST:BASEPORT` (or a Peer) as a Peer; ConfigError when malformed."""
    if isinstance(spec, Peer):
        return spec
    try:
        return Peer.parse(spec)
    except PeerSpecError as e:
        raise ConfigError(str(e)) from None


class AsyncAdmin:
    """Operator calls through an AsyncClient's channels (`client.admin`); see the module docstring."""

    def __init__(self, engine: Engine):
        self._engine = engine

    @property
    def _transport(self):
        return self._engine.transport

    def _clock(self) -> float:
        return self._engine.now()

    # ------------------------------------------------------------ one node

    async def _first(self, call: Callable[[str], Awaitable], address: str | None):
        """`call(address)`, or the first seed that answers it: (address, result)."""
        if address is not None:
            return address, await call(address)
        failures = []
        for seed in self._engine.options.seeds:
            try:
                return seed, await call(seed)
            except (ConnectionFailedError, DeadlineExceededError) as e:
                failures.append(f"cannot reach {seed}: {e.message}")
        raise ConnectionFailedError("; ".join(failures))

    async def find_node(self) -> str:
        """The address of the first seed (in the order given) that answers Admin.Status."""
        t = self._engine.options.attempt_timeout_s
        return (await self._first(lambda a: self._transport.status(a, t), None))[0]

    async def status(self, address: str | None = None) -> admin_pb2.StatusReply:
        """Admin.Status of one node: its role, term, indexes, keys, members and their lag (on the leader)."""
        t = self._engine.options.attempt_timeout_s
        return (await self._first(lambda a: self._transport.status(a, t), address))[1]

    async def topology(self, address: str | None = None) -> admin_pb2.TopologyReply:
        """Admin.Topology as one node sees it: the members (voters, then read replicas), the leader, the term."""
        t = self._engine.options.attempt_timeout_s
        return (await self._first(lambda a: self._transport.topology(a, t), address))[1]

    async def health(self, address: str | None = None) -> str:
        """The node's gRPC health: "SERVING" when it is ready (docs/operations.md "Health"), else "NOT_SERVING"."""
        t = self._engine.options.attempt_timeout_s
        return (await self._first(lambda a: self._transport.health(a, t), address))[1]

    async def backup(self, path: str, *, address: str | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     timeout_s: float = 3600.0, encrypt_key: bytes | None = None) -> admin_pb2.BackupInfo:
        """Stream an online, consistent backup of one node's keyspace into the file `path`.

        The node takes it from one read transaction and checks it before
        sending it. The bytes go to `path`.part (created 0600: a backup holds
        every value), which is fsynced and renamed to `path` only once its
        size and SHA-256 match what the node announced. `progress(done,
        total)` is called after each chunk. Returns the node's BackupInfo
        (cluster id, applied index, term, key count, size, node id).
        With `encrypt_key` (32 bytes) the file is sealed with AES-256-GCM as it
        arrives (raftcache/backup_crypto.py): no plaintext copy is written; the
        checksums are checked on the plaintext stream.
        """
        metadata = self._secret_metadata("backup")
        address = address or await self.find_node()
        part = os.path.abspath(path) + ".part"
        try:
            info = await self._receive(address, part, metadata, progress, timeout_s, encrypt_key)
            os.replace(part, path)
        except BaseException:
            _remove(part)
            raise
        return info

    async def _receive(self, address, part, metadata, progress, timeout_s, encrypt_key=None) -> admin_pb2.BackupInfo:
        info = None
        done = 0
        digest = hashlib.sha256()
        tail = b""
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            sink = backup_crypto.Sealer(encrypt_key, f) if encrypt_key is not None else f
            async for chunk in self._transport.backup(address, timeout_s, metadata):
                if chunk.HasField("info"):
                    info = chunk.info
                    continue
                await asyncio.to_thread(sink.write, chunk.data)
                data = tail + chunk.data
                digest.update(data[:-_TRAILER_BYTES])
                tail = data[-_TRAILER_BYTES:]
                done += len(chunk.data)
                if progress is not None and info is not None:
                    progress(done, info.total_bytes)
            if encrypt_key is not None:
                await asyncio.to_thread(sink.close)
            await asyncio.to_thread(_flush_and_sync, f)
        if info is None or done != info.total_bytes:
            raise ConnectionFailedError(f"backup stream from {address} ended early ({done} bytes)")
        if digest.hexdigest() != info.sha256 or tail[8:].hex() != info.sha256:
            raise ConnectionFailedError(f"backup from {address} arrived corrupted: checksum mismatch")
        return info

    # ------------------------------------------------------------ the leader

    async def leader_address(self, timeout_s: float = 10.0) -> str:
        """The gRPC address of the current leader (from the topology; waits up to `timeout_s` for one)."""
        deadline = self._clock() + timeout_s
        topology = self._engine.topology
        while True:
            await self._engine.refresh(deadline)
            if topology.leader is not None:
                return topology.leader.address
            if self._clock() >= deadline:
                seeds = ", ".join(self._engine.options.seeds)
                if not topology.known:
                    raise ConnectionFailedError(f"cannot reach any of {seeds}")
                raise UnavailableError(f"no leader known to {seeds}; retry later")
            await asyncio.sleep(_POLL_S)

    async def _on_leader(self, what: str, method: str, request, timeout_s: float):
        metadata = self._secret_metadata(what)
        deadline = self._clock() + timeout_s
        while True:
            address = await self.leader_address(max(deadline - self._clock(), 0.001))
            try:
                return await self._transport.admin(address, method, request, max(deadline - self._clock(), 0.001),
                                                   metadata)
            except NotLeaderError:
                if self._clock() >= deadline:
                    raise
                await asyncio.sleep(_POLL_S)   # leadership moved: not applied; ask the new leader

    async def add_node(self, member_spec: str | Peer, *, timeout_s: float = 30.0) -> admin_pb2.MembershipReply:
        """Add a voter, `ID@ZONE=HOST:BASEPORT` (start it first with the full new --peers list and --join).

        Returns the voters once the change is committed; `wait_caught_up`
        then waits for the new node to hold the log.
        """
        peer = parse_member(member_spec)
        request = admin_pb2.AddNodeRequest(member=admin_pb2.Member(
            id=peer.id, zone=peer.zone, voter=True, **{f"{kind}_address": peer.address(kind) for kind in PORT_OFFSETS}))
        return await self._on_leader("add_node", "AddNode", request, timeout_s)

    async def wait_caught_up(self, member_spec: str | Peer, *, timeout_s: float = 60.0,
                             progress: Callable[[int, int], None] | None = None,
                             snapshot_progress: Callable[[int, int], None] | None = None) -> int:
        """Wait until the member has applied the leader's current commit index; returns its applied index.

        At each poll, `progress(applied, target)` (applied is -1 while the member does not
        answer) and, while the member receives the leader's snapshot, `snapshot_progress(bytes
        received, the leader's snapshot size)`. Raises DeadlineExceededError after `timeout_s`,
        naming the index it reached.
        """
        peer = parse_member(member_spec)
        t = self._engine.options.attempt_timeout_s
        leader = await self._transport.status(await self.leader_address(), t)
        target = leader.commit_index
        deadline = self._clock() + timeout_s
        while True:
            try:
                status = await self._transport.status(peer.address("grpc"), t)
                applied = status.applied_index
                if snapshot_progress is not None and status.snapshot_received_bytes:
                    snapshot_progress(status.snapshot_received_bytes,
                                      max(leader.snapshot_bytes, status.snapshot_received_bytes))
            except (UnavailableError, DeadlineExceededError):
                applied = -1
            if progress is not None:
                progress(applied, target)
            if applied >= target:
                return applied
            if self._clock() >= deadline:
                raise DeadlineExceededError(f"{peer.id} has not caught up to index {target} after "
                                            f"{timeout_s:.0f}s (applied {applied})")
            await asyncio.sleep(_POLL_S)

    async def remove_node(self, member_id: str, *, timeout_s: float = 30.0) -> admin_pb2.MembershipReply:
        """Remove a voter by id (the leader hands leadership over first when it removes itself).

        Returns the voters once the change is committed; stop the removed node's process then.
        """
        return await self._on_leader("remove_node", "RemoveNode", admin_pb2.RemoveNodeRequest(id=member_id), timeout_s)

    async def transfer_leader(self, to: str | None = None, *, timeout_s: float = 15.0) -> admin_pb2.TransferLeaderReply:
        """Hand leadership to voter `to` (default: the most caught-up voter); returns the new leader and term."""
        return await self._on_leader("transfer_leader", "TransferLeader",
                                     admin_pb2.TransferLeaderRequest(to=to or ""), timeout_s)

    # ------------------------------------------------------------ helpers

    def _secret_metadata(self, what: str) -> tuple[tuple[str, str], ...]:
        secret = self._engine.options.cluster_secret
        if not secret:
            raise ConfigError(f"{what} needs the cluster secret: set ClientOptions.cluster_secret")
        return ((SECRET_METADATA, secret),)


def _flush_and_sync(f) -> None:
    f.flush()
    os.fsync(f.fileno())


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class Admin:
    """The blocking face of AsyncAdmin (`client.admin` on a sync Client): the same methods, each blocking."""

    def __init__(self, runner, admin: AsyncAdmin):
        self._runner = runner
        self._admin = admin


def _blocking(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        return self._runner.run(method(self._admin, *args, **kwargs))

    return call


for _name, _method in inspect.getmembers(AsyncAdmin, inspect.iscoroutinefunction):
    if not _name.startswith("_"):
        setattr(Admin, _name, _blocking(_method))
