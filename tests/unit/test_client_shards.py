"""client/shards.py: the SDK's slot map, merged from Admin.Status answers as the nodes merge claims."""

from __future__ import annotations

import pytest

from raftcache import slots as slotmath
from raftcache.client.errors import ConfigError
from raftcache.client.shards import ShardMap, cluster_file_seeds, command_slot
from raftcache.client.topology import Topology
from raftcache.proto import admin_pb2
from raftcache.proto import commands_pb2 as pb


def _status(shard: int, epoch: int, views: list[tuple[int, int, list[tuple[int, int]]]]) -> admin_pb2.StatusReply:
    reply = admin_pb2.StatusReply()
    reply.shard.shard, reply.shard.epoch = shard, epoch
    own = next(v for v in views if v[0] == shard)
    reply.shard.slots.extend(pb.SlotRange(first=a, last=b) for a, b in own[2])
    for s, e, ranges in views:
        view = reply.cluster.add(shard=s, epoch=e, slots=[pb.SlotRange(first=a, last=b) for a, b in ranges])
        for i in range(2):
            view.members.add(id=f"s{s}n{i}", grpc_address=f"h:{s}{i}0", redis_address=f"h:{s}{i}1")
    return reply


def _map() -> ShardMap:
    shards = ShardMap(None, 1.0, 1, Topology(["h:100"]))
    shards.apply([_status(1, 1, [(1, 1, [(0, 8191)]), (2, 1, [(8192, 16383)])])], 0.0)
    return shards


def test_slots_route_to_their_owner_and_each_shard_has_its_topology():
    shards = _map()
    assert sorted(shards.topologies) == [1, 2]
    assert shards.shard_of(slotmath.key_slot(b"bar")) == 1 and shards.shard_of(slotmath.key_slot(b"foo")) == 2
    assert shards.topology_for(pb.Command(get={"key": b"foo"})) is shards.topologies[2]
    assert shards.topology_for(pb.Command(db_size={})) is shards.topologies[1]   # keyless: the home shard
    assert shards.members(2) == ["h:200", "h:210"]


def test_the_highest_epoch_wins_and_older_claims_are_ignored():
    shards = _map()
    moved = _status(2, 2, [(1, 1, [(0, 8191)]), (2, 2, [(100, 199), (8192, 16383)])])
    assert shards.apply([moved], 1.0)
    assert shards.shard_of(150) == 2 and shards.shard_of(99) == 1 and shards.epoch == 2
    assert not shards.apply([_status(2, 1, [(1, 1, [(0, 8191)]), (2, 1, [(8192, 16383)])])], 2.0)
    assert shards.shard_of(150) == 2


def test_wrong_shard_moves_the_slot_to_the_shard_of_the_named_address():
    shards = _map()
    assert shards.moved("5061 h:211") and shards.shard_of(5061) == 2
    assert not shards.moved("5061 elsewhere:1") and not shards.moved("garbage")


def test_command_slot_of_shard_channels_and_keyless_commands():
    assert command_slot(pb.Command(publish={"channel": b"foo", "sharded": True})) == slotmath.key_slot(b"foo")
    assert command_slot(pb.Command(publish={"channel": b"foo"})) is None
    assert command_slot(pb.Command(set={"key": b"{user1000}.a"})) == slotmath.key_slot(b"user1000")


def test_cluster_file_seeds(tmp_path):
    path = tmp_path / "cluster.json"
    path.write_text('{"nodes": [{"id": "s1n1", "grpc": "127.0.0.1:7000"}, {"id": "s2n1", "grpc": "127.0.0.1:7030"}]}')
    assert cluster_file_seeds(str(path)) == ["127.0.0.1:7000", "127.0.0.1:7030"]
    with pytest.raises(ConfigError):
        cluster_file_seeds(str(tmp_path / "missing.json"))
