"""Cluster mode in the client: which shard owns each hash slot, and each shard's Topology.

Pure bookkeeping, no I/O (the engine feeds it Admin.Status answers). A sharded
cluster (docs/cluster-mode.md) is S Raft groups; every node's Admin.Status
carries its own shard's claim (`shard`: the slots its log records, at an
epoch) and its view of every shard (`cluster`: claim, leader, members as
clients reach them). The client keeps, per shard, the freshest claim it heard
of and merges them as the nodes do: per slot, the claim of the highest epoch
wins (ties: the lower shard number). Each shard gets its own Topology
(client/topology.py), so leader routing, read levels and failover work inside
a shard exactly as in an unsharded cluster.

A key is routed by raftcache.slots.key_slot; a WRONG_SHARD answer
("SLOT HOST:PORT", the Redis address of the owner's leader, as -MOVED)
moves that slot at once to the shard that address belongs to, and the
engine re-reads the map.
"""

from __future__ import annotations

import json

from raftcache import slots as slotmath
from raftcache.client.errors import ConfigError
from raftcache.client.topology import Topology
from raftcache.commandkeys import command_keys
from raftcache.proto import admin_pb2
from raftcache.proto import commands_pb2 as pb


def cluster_file_seeds(path: str) -> list[str]:
    """The gRPC endpoints of every node a cluster.json lists (`raftcache up` writes one into its
    data dir): seeds for Client/AsyncClient, e.g. `Client(cluster_file_seeds("data/cluster.json"))`."""
    try:
        with open(path) as f:
            return [node["grpc"] for node in json.load(f)["nodes"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is not a cluster description: {e}") from None


def command_slot(command: pb.Command) -> int | None:
    """The slot a command is routed by: its first key's (SPUBLISH: its shard channel's); None for
    a keyless command. Keys of several slots go by the first: the owner answers CROSS_SLOT."""
    if command.WhichOneof("op") == "publish":
        return slotmath.key_slot(command.publish.channel) if command.publish.sharded else None
    keys = command_keys(command)
    return slotmath.key_slot(keys[0]) if keys else None


class ShardMap:
    """slot -> shard, and a Topology per shard (see the module docstring)."""

    def __init__(self, zone: str | None, node_down_s: float, home: int, home_topology: Topology):
        self.zone = zone
        self.node_down_s = node_down_s
        #: the shard keyless commands go to: the one the client discovered the cluster through
        self.home = home
        self.topologies: dict[int, Topology] = {home: home_topology}
        self.claims: dict[int, tuple[int, tuple[slotmath.Range, ...]]] = {}
        self.owners = bytearray(slotmath.SLOTS)   # slot -> shard; 0: none known to own it (< 256 shards)
        self._redis_addresses: dict[str, int] = {}   # a member's Redis address -> its shard
        self._members: dict[int, tuple[str, ...]] = {}   # shard -> its members' gRPC addresses
        self.updated_at: float | None = None

    def __repr__(self) -> str:
        shards = "; ".join(f"shard {s}: slots {slotmath.format_ranges(self.claims.get(s, (0, ()))[1]) or '-'} "
                           f"{self.topologies[s]!r}" for s in sorted(self.topologies))
        return f"ShardMap(epoch {self.epoch}: {shards})"

    @property
    def epoch(self) -> int:
        return max((epoch for epoch, _ in self.claims.values()), default=0)

    def shard_of(self, slot: int) -> int:
        """The shard owning `slot` (the home shard while none is known to)."""
        shard = self.owners[slot]
        return shard if shard in self.topologies else self.home

    def topology_for(self, command: pb.Command) -> Topology:
        slot = command_slot(command)
        return self.topologies[self.home if slot is None else self.shard_of(slot)]

    def members(self, shard: int) -> list[str]:
        """The gRPC addresses of a shard's members, as the nodes' views name them."""
        return list(self._members.get(shard, ()))

    def status_addresses(self) -> list[str]:
        """One node per shard to ask for its status: its leader when known, else its first node."""
        out = []
        for topology in self.topologies.values():
            leader = topology.leader
            out.append(leader.address if leader is not None else topology.nodes()[0].address)
        return out

    # ------------------------------------------------------------ updates

    def apply(self, replies: list[admin_pb2.StatusReply], now: float) -> bool:
        """Merge Status answers (their own claims and their views of every shard);
        True when the slot owners changed."""
        changed = False
        for reply in replies:
            for view in reply.cluster:
                changed |= self._learn(view.shard, view.epoch, view.slots)
                if view.shard not in self.topologies:
                    self.topologies[view.shard] = Topology(
                        [m.grpc_address for m in view.members], self.zone, self.node_down_s)
                for m in view.members:
                    self._redis_addresses[m.redis_address] = view.shard
                self._members[view.shard] = tuple(m.grpc_address for m in view.members)
            if reply.HasField("shard"):
                changed |= self._learn(reply.shard.shard, reply.shard.epoch, reply.shard.slots)
        if changed:
            self._rebuild()
        self.updated_at = now
        return changed

    def _learn(self, shard: int, epoch: int, ranges) -> bool:
        claim = (epoch, tuple((r.first, r.last) for r in ranges))
        known = self.claims.get(shard)
        if known is not None and (epoch < known[0] or claim == known):
            return False
        self.claims[shard] = claim
        return True

    def _rebuild(self) -> None:
        epochs = [-1] * slotmath.SLOTS
        for shard in sorted(self.claims):   # ties go to the lower shard number
            epoch, ranges = self.claims[shard]
            for first, last in ranges:
                for slot in range(first, last + 1):
                    if epoch > epochs[slot]:
                        epochs[slot], self.owners[slot] = epoch, shard

    def shard_at(self, message: str) -> int | None:
        """The shard whose member's Redis address a WRONG_SHARD / ASK answer ("SLOT HOST:PORT") names."""
        return self._redis_addresses.get(message.strip().partition(" ")[2].strip())

    def moved(self, message: str) -> bool:
        """A WRONG_SHARD answer ("SLOT HOST:PORT"): route the slot to the shard that owns HOST:PORT
        now; True when that shard is known (else only a map refresh can tell)."""
        slot_text, _, address = message.strip().partition(" ")
        shard = self._redis_addresses.get(address.strip())
        if not slot_text.isdigit() or shard is None or not 0 <= int(slot_text) < slotmath.SLOTS:
            return False
        self.owners[int(slot_text)] = shard
        return True
