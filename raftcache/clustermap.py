"""Cluster mode's static configuration: the shards, their members and their initial slots.

A sharded cluster is S shards, each an independent Raft group (docs/cluster-mode.md).
This map is what every node is started with (`raftcache node --shard K
--cluster-map FILE`): the "shards" list of a JSON file, the one `raftcache up
--shards S` writes into DATA_DIR/cluster.json, or a hand-written one
(docker-compose.sharded.yml)::

    {"shards": [{"id": 1, "slots": "0-8191", "members": ["s1n1@a=10.0.0.1:7000", ...]},
                {"id": 2, "slots": "8192-16383", "members": [...]}]}

A shard may add `"advertise": {"s1n1": "localhost:7000", ...}`: where clients
outside the nodes' network reach a member (HOST:BASEPORT, as a node's
--advertise). CLUSTER SLOTS / NODES / SHARDS and -MOVED name those addresses;
the nodes reach each other at the members' own.

The slots here are the initial assignment only (epoch 0); what each shard
owns afterwards is what its own log records (node/commands/slot_claims.py).
Also here: the `up` layout (node k shard-major at BASE+10k, ids s{shard}n{i},
zones a, b, c … within each shard) and the 40-hex ids Redis Cluster clients
expect (CLUSTER MYID, NODES, SHARDS).

Imports nothing from raftcache.node or raftcache.client: both use it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import string

from raftcache import slots as slotmath
from raftcache.peers import Peer, PeerSpecError

ZONES = string.ascii_lowercase


class ClusterMapError(ValueError):
    """A cluster map that cannot be used; the text says why."""


@dataclasses.dataclass(frozen=True)
class Shard:
    """One Raft group: its number (1..S), its initial slots and its voting members."""

    id: int
    slots: tuple[slotmath.Range, ...]
    members: tuple[Peer, ...]
    advertise: tuple[tuple[str, str], ...] = ()   # (member id, HOST:BASEPORT clients use)

    def client_peer(self, peer: Peer) -> Peer:
        """`peer` as clients reach it: its advertised address, else its own."""
        address = dict(self.advertise).get(peer.id)
        if address is None:
            return peer
        host, _, base = address.rpartition(":")
        return Peer(peer.id, peer.zone, host, int(base))

    def to_json(self) -> dict:
        return {"id": self.id, "slots": slotmath.format_ranges(self.slots),
                "members": [p.spec() for p in self.members],
                **({"advertise": dict(self.advertise)} if self.advertise else {})}


@dataclasses.dataclass(frozen=True)
class ClusterMap:
    """Every shard of a sharded cluster (see the module docstring)."""

    shards: tuple[Shard, ...]

    def shard(self, shard_id: int) -> Shard:
        for shard in self.shards:
            if shard.id == shard_id:
                return shard
        raise ClusterMapError(f"the cluster map has no shard {shard_id}")

    def to_json(self) -> list[dict]:
        return [s.to_json() for s in self.shards]

    @classmethod
    def from_json(cls, shards: object) -> ClusterMap:
        """From the "shards" list; raises ClusterMapError for anything malformed."""
        if not isinstance(shards, list) or not shards:
            raise ClusterMapError('the cluster map needs a non-empty "shards" list')
        out = []
        for entry in shards:
            try:
                text = str(entry["slots"]).strip()   # "": a shard added with no slots (ctl add-shard)
                shard = Shard(int(entry["id"]), tuple(slotmath.parse_ranges(text)) if text else (),
                              tuple(Peer.parse(m) for m in entry["members"]),
                              tuple(sorted(dict(entry.get("advertise", {})).items())))
                for peer in shard.members:
                    shard.client_peer(peer)   # a bad advertised address fails here
                if not {node for node, _ in shard.advertise} <= {p.id for p in shard.members}:
                    raise ValueError("advertise names a node that is not a member")
                out.append(shard)
            except (KeyError, TypeError, ValueError, PeerSpecError) as e:
                raise ClusterMapError(f"bad shard entry {entry!r}: {e}") from None
        cmap = cls(tuple(out))
        cmap.validate()
        return cmap

    @classmethod
    def load(cls, path: str) -> ClusterMap:
        """The "shards" list of the JSON file at `path`."""
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise ClusterMapError(f"cannot read the cluster map {path}: {e}") from None
        return cls.from_json(doc.get("shards") if isinstance(doc, dict) else None)

    def validate(self) -> None:
        """Shards numbered 1..S, unique member ids, every slot assigned to exactly one shard (a shard
        may start with none: one added to a running cluster, which resharding gives slots)."""
        ids = sorted(s.id for s in self.shards)
        if ids != list(range(1, len(ids) + 1)):
            raise ClusterMapError(f"shards must be numbered 1..{len(ids)}, got {ids}")
        members = [p.id for s in self.shards for p in s.members]
        if len(set(members)) != len(members) or any(not s.members for s in self.shards):
            raise ClusterMapError("every shard needs members, and member ids must be unique across shards")
        try:
            ranges = slotmath.normalise(r for s in self.shards for r in s.slots)
        except ValueError as e:
            raise ClusterMapError(f"the shards' slots {e}") from None
        if ranges != [(0, slotmath.SLOTS - 1)]:
            raise ClusterMapError(f"the shards' slots must cover 0-{slotmath.SLOTS - 1} exactly once")

    @classmethod
    def layout(cls, shards: int, nodes: int, host: str, base_port: int) -> ClusterMap:
        """`raftcache up --shards S --nodes N`'s map: node k (shard-major) at base_port + 10k,
        `s{shard}n{i}` in zones a, b, c … within its shard, slots split evenly."""
        if not 1 <= nodes <= len(ZONES):
            raise ClusterMapError(f"--nodes must be between 1 and {len(ZONES)}")
        split = slotmath.split_evenly(shards)
        return cls(tuple(
            Shard(s + 1, tuple(split[s]), tuple(
                Peer(f"s{s + 1}n{i + 1}", ZONES[i], host, base_port + 10 * (s * nodes + i)) for i in range(nodes)))
            for s in range(shards)))


def redis_node_id(node_id: str) -> str:
    """The 40-hex node name Redis Cluster clients expect, stable for a raftcache node id."""
    return hashlib.sha1(b"raftcache-node:" + node_id.encode()).hexdigest()


def redis_shard_id(shard: int) -> str:
    """The 40-hex shard id of CLUSTER MYSHARDID / SHARDS."""
    return hashlib.sha1(b"raftcache-shard:%d" % shard).hexdigest()
