"""Cluster mode: this node's view of which shard owns each of the 16,384 hash slots.

A sharded cluster is S independent Raft groups (docs/cluster-mode.md). Each
shard's log records the slots it owns and the epoch that ownership holds from
(ClaimSlots, node/commands/slot_claims.py); the static cluster map the node was
started with (raftcache/clustermap.py) gives every shard's members and the
initial assignment (epoch 0). `ClusterView` merges the claims it knows: its
own shard's from the state machine (as it is applied), every other shard's by
asking one of its members for Admin.Status (the cluster secret in the call
metadata, like Internal calls) every POLL_INTERVAL_S -- no gossip. Per slot,
the claim of the highest epoch wins (ties: the lower shard number), so a slot
moved by resharding (a claim at a higher epoch) is routed to its new owner as
soon as a node has heard of the claim.

The shard's leader proposes the initial claim (epoch 1, the static slots) once
the log runs at commands.CLUSTER_VERSION. The front ends ask `owner_of(slot)`
and `address_of(shard)` (the Redis port of the shard's leader, else of its
first member) for -MOVED. Resharding: the view exposes the shard's recorded
slot move (`migration`, node/commands/slot_migration.py) to the front ends
(`importing`, `moving`) and gives the state machine the addresses -ASK and
-MOVED at apply name; it re-reads the map file when it changes (shards added
or removed, `ctl add-shard`). Must not touch the keyspace or Raft directly.
"""

from __future__ import annotations

import asyncio
import logging
import os

import grpc

from raftcache import slots as slotmath
from raftcache.clustermap import ClusterMap, ClusterMapError, Shard
from raftcache.commandkeys import command_keys
from raftcache.node import commands
from raftcache.node.commands.slot_claims import SlotClaim
from raftcache.node.errors import CommandError, RaftcacheError, Reason
from raftcache.node.service.forwarding import SECRET_METADATA, peer_channel
from raftcache.peers import Peer
from raftcache.proto import admin_pb2, admin_pb2_grpc
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger(__name__)

#: How often the other shards are asked for their slots and leader.
POLL_INTERVAL_S = 1.0
#: Deadline of one Admin.Status call to another shard's member.
POLL_TIMEOUT_S = 1.0


def _stamp(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return (st.st_mtime_ns, st.st_size)


def _slots(ranges) -> set[int]:
    return {s for first, last in ranges for s in range(first, last + 1)}


class ClusterView:
    """The slot owners as this node knows them (see the module docstring)."""

    def __init__(self, cluster_map: ClusterMap, shard: int, service, secret: str,
                 credentials: grpc.ChannelCredentials | None = None, map_path: str = ""):
        self.map = cluster_map
        self._map_path = map_path   # re-read when it changes: shards added or removed (ctl add-shard)
        self._map_stamp = _stamp(map_path)
        self.shard = shard
        self.me: Shard = cluster_map.shard(shard)
        self._service = service
        self._metadata = ((SECRET_METADATA, secret),)
        self._credentials = credentials
        #: shard -> the claim it is known by (its log's, else the static slots at epoch 0)
        self.claims: dict[int, SlotClaim] = {s.id: SlotClaim(s.id, 0, s.slots) for s in cluster_map.shards}
        #: shard -> its leader's member id ("" = not known)
        self.leaders: dict[int, str] = {s.id: "" for s in cluster_map.shards}
        #: slot -> owning shard (0: no shard claims it)
        self.owners = bytearray(slotmath.SLOTS) if len(cluster_map.shards) < 256 else [0] * slotmath.SLOTS
        self._stubs: dict[str, admin_pb2_grpc.AdminStub] = {}
        self._channels: list = []
        self._next_member: dict[int, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Resharding: the slots this shard's log says are moving (node/commands/slot_migration.py)
        self.migration = service.migration
        self.migration.address_of = self.address_of   # -ASK / -MOVED at apply name the shard's leader
        self.migration.owner_of = self._redirect
        self._rebuild()
        self._own_claim(service.slot_claim)
        service.on_slots_change(self._claim_applied)

    # ------------------------------------------------------------ the merged map

    def _rebuild(self) -> None:
        """Per slot, the claim of the highest epoch; a slot no known claim covers (its old owner
        gave it up, its new owner's claim is not heard of yet) keeps its owner, which redirects."""
        owners = self.owners
        epochs = [-1] * slotmath.SLOTS
        for shard in sorted(self.claims):   # ties go to the lower shard number
            claim = self.claims[shard]
            for first, last in claim.ranges:
                for slot in range(first, last + 1):
                    if claim.epoch > epochs[slot]:
                        epochs[slot], owners[slot] = claim.epoch, shard

    def _learn(self, shard: int, claim: SlotClaim) -> None:
        """A claim heard of; the map changes only for a newer one."""
        if claim.epoch > self.claims[shard].epoch:
            log.info("shard %d owns slots %s from epoch %d", shard, slotmath.format_ranges(claim.ranges), claim.epoch)
            self.claims[shard] = claim
            self._rebuild()

    def _own_claim(self, claim: SlotClaim, moved_to: int = 0) -> None:
        if claim.epoch and claim.shard != self.shard:
            log.error("this node's log records slots of shard %d, but it runs as shard %d: check --shard",
                      claim.shard, self.shard)
            return
        if claim.epoch and moved_to in self.claims and claim.epoch > self.claims[moved_to].epoch:
            # This shard gave slots to `moved_to`, which claimed them at this epoch first (the mover
            # flips the target, then the source): known here before the next poll says so.
            given = _slots(self.claims[self.shard].ranges) - _slots(claim.ranges)
            ranges = slotmath.normalise([*self.claims[moved_to].ranges, *((s, s) for s in sorted(given))])
            self._learn(moved_to, SlotClaim(moved_to, claim.epoch, tuple(ranges)))
        if claim.epoch:
            self._learn(self.shard, claim)

    def _claim_applied(self, claim: SlotClaim) -> None:
        """From the Raft thread (node/commands/statemachine.py on_slots_change)."""
        epoch, peer = self.migration.gave_to
        moved_to = peer if claim.epoch and epoch == claim.epoch else 0
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._own_claim, claim, moved_to)
        else:
            self._own_claim(claim, moved_to)

    @property
    def epoch(self) -> int:
        """The cluster's current epoch: the highest a shard's claim is known at."""
        return max(c.epoch for c in self.claims.values())

    def owner_of(self, slot: int) -> int:
        return self.owners[slot]

    def leader_of(self, shard: int) -> Peer:
        """The shard's leader when known, else its first member."""
        members = self.map.shard(shard).members
        leader = self._service.leader_id if shard == self.shard else self.leaders.get(shard)
        return next((p for p in members if p.id == leader), members[0])

    def client_peer(self, shard: int, peer: Peer) -> Peer:
        """A member as clients reach it (the map's advertised address, else its own)."""
        return self.map.shard(shard).client_peer(peer)

    def address_of(self, shard: int) -> str:
        """Where -MOVED sends a client: the Redis port of the shard's leader."""
        return self.client_peer(shard, self.leader_of(shard)).address("redis")

    def misrouted(self, command) -> CommandError | None:
        """The error for a command whose keys this shard does not serve (every protocol's last
        check: the Redis port answers -MOVED before; memcached and gRPC clients get this), else None."""
        keys = command_keys(command)
        if not keys:
            return None
        slot = slotmath.key_slot(keys[0])
        if any(slotmath.key_slot(key) != slot for key in keys[1:]):
            return CommandError("Keys in request don't hash to the same slot", Reason.CROSS_SLOT)
        owner = self.owners[slot]
        if owner == self.shard:
            return None
        if command.asking and self.importing(slot):
            return None   # sent by the migrating shard's -ASK (docs/cluster-mode.md "Resharding")
        if owner == 0:
            return CommandError(f"hash slot {slot} is not served", Reason.UNAVAILABLE)
        return CommandError(f"{slot} {self.address_of(owner)}", Reason.WRONG_SHARD)   # Redis's -MOVED text

    def _redirect(self, slot: int) -> int:
        """The shard a command the log refuses for `slot` is sent to (-MOVED at apply): the view's
        owner, else, while the view still names this shard, the one the last move gave the slot to."""
        owner = self.owners[slot]
        return owner if owner != self.shard else self.migration.gave_to[1]

    def importing(self, slot: int) -> bool:
        """Whether this shard's log says `slot` is moving into it (served after ASKING)."""
        return bool(self.migration.moving[slot]) and self.migration.current.role == self.migration.current.IMPORTING

    def moving(self, slot: int) -> bool:
        """Whether `slot` is moving into or out of this shard (served through the log's -ASK check)."""
        return bool(self.migration.moving[slot])

    def status(self) -> dict:
        """This shard's slots for Admin.Status and /status (and the move in progress, if any)."""
        claim = self._service.slot_claim
        record = self.migration.current
        return {"shard": self.shard, "epoch": claim.epoch,
                "slots": [list(r) for r in (claim.ranges if claim.epoch else self.me.slots)],
                **({"migration": {"role": "migrating" if record.role == record.MIGRATING else "importing",
                                  "peer": record.peer, "epoch": record.epoch,
                                  "slots": [[r.first, r.last] for r in record.ranges],
                                  "frozen_keys": len(record.frozen)}} if self.migration.active else {})}

    def shard_views(self) -> list[dict]:
        """Every shard as this node knows it, for Admin.Status's `cluster` (what the SDK routes by):
        its claim, its leader's id ("" unknown) and its members as clients reach them."""
        views = []
        for shard in self.map.shards:
            claim = self.claims[shard.id]
            leader = self._service.leader_id if shard.id == self.shard else self.leaders.get(shard.id, "")
            views.append({"shard": shard.id, "epoch": claim.epoch, "slots": [list(r) for r in claim.ranges],
                          "leader_id": leader or "", "members": [shard.client_peer(p) for p in shard.members]})
        return views

    # ------------------------------------------------------------ background

    async def run(self) -> None:
        """Poll the other shards and, on the leader, record the initial claim; until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._own_claim(self._service.slot_claim)
        try:
            while True:
                self._reload_map()
                await asyncio.gather(*(self._poll(s) for s in self.map.shards if s.id != self.shard))
                await self._claim_initial()
                await asyncio.sleep(POLL_INTERVAL_S)
        finally:
            for channel in self._channels:
                await channel.close()

    async def _claim_initial(self) -> None:
        """Record the static slots in this shard's log (epoch 1) once, when the log's version allows."""
        service = self._service
        if service.slot_claim.epoch or not service.is_leader or service.log_version < commands.CLUSTER_VERSION:
            return
        command = pb.Command()
        command.claim_slots.CopyFrom(SlotClaim(self.shard, 1, self.me.slots).to_proto())
        try:
            result, index = await service.propose_leader_only(command)
        except RaftcacheError as e:
            log.info("the initial slot claim is not recorded yet: %s", e)
            return
        if isinstance(result, CommandError):   # another claim got there first (a newer epoch)
            log.warning("the initial slot claim was refused at index %d: %s", index, result.message)
        else:
            log.info("recorded this shard's slots %s at epoch 1 (index %d)", slotmath.format_ranges(self.me.slots), index)

    def _reload_map(self) -> None:
        """Adopt the map file's shards when it changed: a shard added (with no slots, or its static
        ones) joins the view; a shard removed leaves it only if no slot is known to be its."""
        stamp = _stamp(self._map_path)
        if stamp == self._map_stamp:
            return
        self._map_stamp = stamp
        try:
            new = ClusterMap.load(self._map_path)
            new.shard(self.shard)
        except ClusterMapError as e:
            log.warning("the cluster map %s changed but cannot be used: %s", self._map_path, e)
            return
        ids = {s.id for s in new.shards}
        kept = [s for s in self.map.shards if s.id not in ids and self.claims[s.id].ranges]
        if kept:
            log.warning("the cluster map dropped shards %s, which still own slots: kept", [s.id for s in kept])
        self.map = ClusterMap(tuple(sorted((*new.shards, *kept), key=lambda s: s.id)))
        for shard in self.map.shards:
            self.claims.setdefault(shard.id, SlotClaim(shard.id, 0, shard.slots))
            self.leaders.setdefault(shard.id, "")
        for gone in set(self.claims) - {s.id for s in self.map.shards}:
            del self.claims[gone], self.leaders[gone]
        log.info("the cluster map now has shards %s", [s.id for s in self.map.shards])
        self._rebuild()

    def _stub(self, peer: Peer) -> admin_pb2_grpc.AdminStub:
        stub = self._stubs.get(peer.id)
        if stub is None:
            channel = peer_channel(peer.address("grpc"), self._credentials)
            self._channels.append(channel)
            stub = self._stubs[peer.id] = admin_pb2_grpc.AdminStub(channel)
        return stub

    async def _poll(self, shard: Shard) -> None:
        """Ask one member of `shard` (the one that answered last, else the next) for its status."""
        start = self._next_member.get(shard.id, 0)
        for i in range(len(shard.members)):
            peer = shard.members[(start + i) % len(shard.members)]
            try:
                reply = await self._stub(peer).Status(admin_pb2.StatusRequest(), metadata=self._metadata,
                                                      timeout=POLL_TIMEOUT_S)
            except grpc.aio.AioRpcError:
                continue
            self._next_member[shard.id] = (start + i) % len(shard.members)
            self.leaders[shard.id] = reply.leader_id
            if reply.HasField("shard") and reply.shard.shard == shard.id and reply.shard.epoch:
                self._learn(shard.id, SlotClaim(shard.id, reply.shard.epoch,
                                                tuple((r.first, r.last) for r in reply.shard.slots)))
            return
        self.leaders[shard.id] = ""


class OtherShardsPeers:
    """The members of the other shards in a ClusterView's current map, by node id: the cross-shard
    forwarder's peers (node/service/shard_forward.py), so a shard added to the map file later is
    reached too. Only `get` (what GrpcForwarder asks)."""

    def __init__(self, view: ClusterView):
        self._view = view

    def get(self, node_id: str, default: Peer | None = None) -> Peer | None:
        view = self._view
        for shard in view.map.shards:
            if shard.id != view.shard:
                for peer in shard.members:
                    if peer.id == node_id:
                        return peer
        return default
