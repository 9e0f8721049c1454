"""Membership and leadership operations of a running node.

Owns the node's *membership view*: which Peers (id, zone, ports) the voters
are, kept in step with the Raft log (PySyncObj only knows Raft addresses;
NodeConfig.peers is the static start-up list) and persisted in
DATA_DIR/membership.json; and the operator verbs that change the cluster
(add/remove a voter, transfer leadership) as awaitable calls over the
Replicator's callback API. Must not touch: LMDB, protocol parsing.

A member this node learns of from the log (added on another node) is named
by asking its gRPC port (Raft port - 3 by the port convention) for Status;
the same answer gives the member's *advertised* address (its --advertise:
where clients outside the nodes' network reach it), which the Topology the
SDK reads lists.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import grpc

from raftcache.node.config import PORT_OFFSETS, Peer
from raftcache.node.fsync import fsync_dir
from raftcache.node.errors import CommandError, NotLeaderError, RaftcacheError, Reason, UnavailableError
from raftcache.node.service.forwarding import SECRET_METADATA, peer_channel
from raftcache.proto import admin_pb2, admin_pb2_grpc
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger(__name__)

MEMBERSHIP_FILE = "membership.json"
_RAFT_TO_GRPC = PORT_OFFSETS["raft"] - PORT_OFFSETS["grpc"]
#: How long after a failed probe a member is asked again.
PROBE_RETRY_S = 2.0


def peer_from_raft_address(address: str, id: str | None = None, zone: str = "?") -> Peer:
    host, _, port = address.rpartition(":")
    return Peer(id or address, zone, host, int(port) - _RAFT_TO_GRPC)


class Membership:
    """Voters as Peers, from the Raft log's addresses and what this node knows of them.

    `forwarder_peers` is the forwarder's id -> Peer dict, updated in place
    so that writes reach a leader that joined after start.
    """

    def __init__(self, path: str, me: Peer, configured: list[Peer], replicator, forwarder_peers: dict,
                 advertised: Peer | None = None, credentials=None, secret: str = ""):
        self._path = path
        self._credentials = credentials   # TLS to the peers' gRPC ports (node/service/tls.py); None: plaintext
        self._secret = secret             # node-to-node Admin calls identify with the cluster secret
        self.me = me
        #: id -> the member as clients reach it (from its Status); this node's from its config.
        self._advertised: dict[str, Peer] = {me.id: advertised or me}
        self._probe_failed: dict[str, float] = {}   # raft address -> time.monotonic() of the last failure
        self._replicator = replicator
        self._forwarder_peers = forwarder_peers
        self._known: dict[str, Peer] = {}          # raft address -> Peer
        for peer in self._load() + list(configured):
            self._known[peer.address("raft")] = peer
        for peer in self._known.values():
            self._register(peer)
        self._probing: set[str] = set()
        self._saved_voters: list[str] | None = None

    def _load(self) -> list[Peer]:
        try:
            with open(self._path) as f:
                return [Peer.parse(s) for s in json.load(f).get("known", [])]
        except (FileNotFoundError, ValueError, RaftcacheError):
            return []

    def _save(self) -> None:
        data = {
            "voters": [p.spec() for p in self.voters()],
            "known": sorted(p.spec() for p in self._known.values()),
        }
        tmp = self._path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)
        # The rename survives a power cut only once the directory is synced
        # (found by the power cuts with --strict-metadata: docs/durability.md).
        fsync_dir(os.path.dirname(self._path))

    def _register(self, peer: Peer) -> None:
        self._replicator.register_peer(peer)
        self._forwarder_peers[peer.id] = peer

    def learn(self, peer: Peer) -> None:
        """Record what a member is called (from an AddNode request or a probe)."""
        if self._known.get(peer.address("raft")) == peer:
            return
        self._known[peer.address("raft")] = peer
        self._register(peer)
        self._save()

    def voters(self) -> list[Peer]:
        """The current voting members (unknown ones named by their Raft address)."""
        out = []
        for address in self._replicator.voter_addresses():
            peer = self._known.get(address) or peer_from_raft_address(address)
            out.append(peer)
        return sorted(out, key=lambda p: p.id)

    def find(self, name: str) -> Peer | None:
        """A voter by id or Raft address."""
        for peer in self.voters():
            if name in (peer.id, peer.address("raft")):
                return peer
        return None

    def advertised(self, peer: Peer) -> Peer:
        """`peer` as clients reach it (its --advertise, once its Status told us), else itself."""
        return self._advertised.get(peer.id, peer)

    async def refresh(self) -> None:
        """Name voters learnt from the log and learn their advertised addresses;
        persist the view when it changed."""
        now = time.monotonic()
        for address in self._replicator.voter_addresses():
            peer = self._known.get(address)
            if peer is not None and peer.id in self._advertised:
                continue
            if address in self._probing or now - self._probe_failed.get(address, -PROBE_RETRY_S) < PROBE_RETRY_S:
                continue
            self._probing.add(address)
            asyncio.ensure_future(self._probe(address))
        snapshot = [p.spec() for p in self.voters()]
        if snapshot != self._saved_voters:
            self._saved_voters = snapshot
            self._save()  # a few hundred bytes; on the loop thread so saves never race

    async def named_voters(self, timeout_s: float = 1.0) -> list[Peer]:
        """voters(), after waiting (up to `timeout_s`) for new members to be named."""
        await self.refresh()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._probing.difference(self._known) and loop.time() < deadline:  # members still unnamed
            await asyncio.sleep(0.02)
        return self.voters()

    async def _probe(self, address: str) -> None:
        guess = self._known.get(address) or peer_from_raft_address(address)
        try:
            async with self.channel(guess.address("grpc")) as channel:
                reply = await admin_pb2_grpc.AdminStub(channel).Status(admin_pb2.StatusRequest(), timeout=1.0,
                                                                       metadata=self.metadata)
            peer = Peer(reply.id, reply.zone, guess.host, guess.base_port)
            self.learn(peer)
            advertised = reply.advertised.grpc_address if reply.HasField("advertised") else ""
            host, _, port = advertised.rpartition(":")
            self._advertised[peer.id] = Peer(peer.id, peer.zone, host, int(port)) if port.isdigit() else peer
            self._probe_failed.pop(address, None)
        except grpc.aio.AioRpcError:
            self._probe_failed[address] = time.monotonic()  # asked again after PROBE_RETRY_S
        finally:
            self._probing.discard(address)

    def channel(self, address: str) -> grpc.aio.Channel:
        """A channel to another node's gRPC port (TLS when this node has it)."""
        return peer_channel(address, self._credentials)

    @property
    def metadata(self) -> tuple:
        """Node-to-node Admin calls carry the cluster secret: it identifies a member."""
        return ((SECRET_METADATA, self._secret),)

    async def run(self, interval_s: float = 0.2) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - keep the view alive
                log.exception("membership refresh failed")
            await asyncio.sleep(interval_s)


class Operations:
    """The operator verbs of one node (Admin AddNode/RemoveNode/TransferLeader).

    `service` gives execute() (a no-op write makes sure the keyspace has
    applied an entry of the current log before a snapshot is taken for a new
    member); `replicator` the Raft calls; `membership` the view above.
    """

    def __init__(self, service, replicator, membership: Membership, *, role: str, cluster_id: str,
                 secret: str, keyspace=None, data_dir: str = ""):
        self.service = service
        self.replicator = replicator
        self.membership = membership
        self.role = role
        self.cluster_id = cluster_id
        self.secret = secret
        self.keyspace = keyspace      # the live Keyspace (backups copy it)
        self.data_dir = data_dir      # the node's data dir (backup scratch space)
        self._change_lock = asyncio.Lock()

    @property
    def voter(self) -> bool:
        return self.role != "replica"

    def _require_leader(self) -> None:
        if not self.replicator.is_leader:
            leader = self.replicator.leader_id
            raise NotLeaderError(f"not the leader; ask {leader}" if leader else "not the leader; no leader is known")

    async def _call(self, start, timeout_s: float):
        """Run start(callback) and await callback(*args) (called on the Raft thread)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def done(*args):
            loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(args))

        start(done)
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            raise UnavailableError(f"no answer from Raft within {timeout_s:.0f}s") from None

    async def _change(self, method, peer: Peer, timeout_s: float) -> None:
        """One membership change; retried while another change is still pending."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            self._require_leader()
            (error,) = await self._call(lambda cb: method(peer, cb), max(deadline - loop.time(), 0.1))
            if error is None:
                return
            if not isinstance(error, UnavailableError) or loop.time() >= deadline:
                raise error
            await asyncio.sleep(0.2)

    async def add_node(self, peer: Peer, timeout_s: float = 20.0) -> list[Peer]:
        async with self._change_lock:
            self._require_leader()
            for v in self.membership.voters():
                if v.id == peer.id or v.address("raft") == peer.address("raft"):
                    raise CommandError(f"{peer.id} ({peer.address('raft')}) is already a voter as {v.id}", Reason.INVALID_ARGUMENT)
            # The new node catches up through a snapshot, then the log: make the
            # keyspace cover an entry of this log (a restored keyspace is not in
            # the log at all) and compact, so that the leader sends a snapshot.
            await self.service.execute(pb.Command(noop=pb.Noop()))
            before = self.replicator.first_index
            self.replicator.force_compaction()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10.0
            while self.replicator.first_index <= before and loop.time() < deadline:
                await asyncio.sleep(0.02)
            if self.replicator.first_index <= before:
                raise UnavailableError("the leader could not take a snapshot for the new member")
            self.membership.learn(peer)
            await self._change(self.replicator.add_member, peer, timeout_s)
            log.info("added %s (%s, zone %s) to the cluster", peer.id, peer.address("raft"), peer.zone)
            return self.membership.voters()

    async def remove_node(self, name: str, timeout_s: float = 20.0) -> list[Peer]:
        async with self._change_lock:
            self._require_leader()
            peer = self.membership.find(name)
            if peer is None:
                raise CommandError(f"{name} is not a voting member", Reason.INVALID_ARGUMENT)
            if len(self.membership.voters()) <= 1:
                raise CommandError("cannot remove the last voter", Reason.INVALID_ARGUMENT)
            if peer.id == self.membership.me.id:
                new_leader = await self.transfer_leader(None)
                return await self._remove_on(new_leader, peer.id, timeout_s)
            await self._change(self.replicator.remove_member, peer, timeout_s)
            log.info("removed %s (%s) from the cluster", peer.id, peer.address("raft"))
            return self.membership.voters()

    async def _remove_on(self, leader_id: str, member_id: str, timeout_s: float) -> list[Peer]:
        """After handing leadership over: ask the new leader to remove us."""
        target = next((p for p in self.membership.voters() if p.id == leader_id), None)
        if target is None:
            raise UnavailableError(f"leadership moved to {leader_id}; retry remove-node there")
        async with self.membership.channel(target.address("grpc")) as channel:
            stub = admin_pb2_grpc.AdminStub(channel)
            try:
                reply = await stub.RemoveNode(admin_pb2.RemoveNodeRequest(id=member_id), timeout=timeout_s,
                                              metadata=self.membership.metadata)
            except grpc.aio.AioRpcError as e:
                raise UnavailableError(f"leadership moved to {leader_id}, which refused the removal: {e.details()}") from None
        return [peer_from_raft_address(m.raft_address, m.id, m.zone) for m in reply.members]

    async def transfer_leader(self, to: str | None, timeout_s: float = 10.0) -> str:
        """Hand leadership to `to` (an id; None = the most caught-up voter); returns the new leader's id."""
        self._require_leader()
        target = None
        if to:
            target = self.membership.find(to)
            if target is None:
                raise CommandError(f"{to} is not a voting member", Reason.INVALID_ARGUMENT)
            if target.id == self.membership.me.id:
                return target.id
        leader, error = await self._call(
            lambda cb: self.replicator.transfer_leadership(target, timeout_s, cb), timeout_s + 2.0)
        if error is not None:
            raise error
        return leader
