"""node/service/shard_forward.py: another shard's commands (memcached) and PUBLISH relays, over a
fake forwarder and the real cluster map and slot hashing (the forwarding itself runs end to end in
tests/integration/test_cluster_clients.py)."""

from __future__ import annotations

import asyncio

from raftcache.clustermap import ClusterMap
from raftcache.node.errors import CommandError, NotLeaderError, Reason
from raftcache.node.service import shard_forward
from raftcache.node.service.shard_forward import ShardForwarder
from raftcache.proto import commands_pb2 as pb

MAP = ClusterMap.layout(3, 3, "127.0.0.1", 7000)   # shard 1: 0-5461, 2: 5462-10922, 3: 10923-16383


class View:
    shard = 1
    map = MAP

    def __init__(self):
        self.leaders = {s.id: s.members[0] for s in MAP.shards}

    def owner_of(self, slot: int) -> int:
        return 1 if slot <= 5461 else 2 if slot <= 10922 else 3

    def leader_of(self, shard: int):
        return self.leaders[shard]

    def client_peer(self, shard: int, peer):
        return peer


class Service:
    def __init__(self):
        self.taken, self.given_back = 0, 0

    def lanes_for(self, requests):
        out, lanes = [], []
        for command, consistency, _, _ in requests:
            if command.WhichOneof("op") in ("get",):
                out.append((command, consistency, "", 0))
            else:
                self.taken += 1
                lanes.append(self.taken)
                out.append((command, consistency, "s1n1.fwd", self.taken))
        return out, lanes

    def give_back_lanes(self, lanes):
        self.given_back += len(lanes)


class Forwarder:
    def __init__(self, raises: dict | None = None, results: dict | None = None):
        self.calls: list = []
        self.raises = raises or {}     # node id -> the exception it raises
        self.results = results or {}   # node id -> the result it answers (else "OK" at index 7)

    async def forward(self, node_id, command, consistency, client_id, sequence):
        self.calls.append((node_id, command, client_id, sequence))
        if node_id in self.raises:
            raise self.raises[node_id]
        return (self.results[node_id], 0) if node_id in self.results else ("OK", 7)

    async def forward_batch(self, node_id, requests):
        self.calls.append((node_id, [r[0].publish.message for r in requests]))
        return [("1", 8) for _ in requests]

    async def close(self):
        pass


def _forwarder(raises=None, results=None):
    service, forwarder = Service(), Forwarder(raises, results)
    return ShardForwarder(View(), service, forwarder, timeout_s=1.0), service, forwarder


def test_owner_is_the_other_shard_of_the_keys_slot_else_zero():
    sf, _, _ = _forwarder()
    assert sf.owner(pb.Command(get=pb.Get(key=b"foo"))) == 3     # slot 12182
    assert sf.owner(pb.Command(get=pb.Get(key=b"bar"))) == 0     # slot 5061: this shard's
    assert sf.owner(pb.Command(publish=pb.Publish(channel=b"foo"))) == 0   # keyless
    assert sf.owner(pb.Command(**{"del": pb.Del(keys=[b"foo", b"bar"])})) == 0   # two slots: CROSS_SLOT here


def test_a_write_carries_a_lane_and_tries_the_next_member_when_the_leader_moved():
    sf, service, forwarder = _forwarder({"s3n1": NotLeaderError("not the leader")})
    result = asyncio.run(sf.execute(3, pb.Command(set=pb.Set(key=b"foo", value=b"v")), None))
    assert result == ("OK", 7)
    assert [(c[0], c[2], c[3]) for c in forwarder.calls] == [("s3n1", "s1n1.fwd", 1), ("s3n2", "s1n1.fwd", 1)]
    assert service.given_back == 1


def test_wrong_shard_from_the_owner_is_followed_one_hop():
    moved = CommandError("12182 127.0.0.1:7031", Reason.WRONG_SHARD)   # s2n1's Redis port: shard 2
    sf, _, forwarder = _forwarder(results={"s3n1": moved})
    assert asyncio.run(sf.execute(3, pb.Command(get=pb.Get(key=b"foo")), None)) == ("OK", 7)
    assert [c[0] for c in forwarder.calls] == ["s3n1", "s2n1"]


def test_publish_is_relayed_to_every_other_shard_in_order_and_the_queue_is_bounded(monkeypatch):
    monkeypatch.setattr(shard_forward, "MAX_RELAY_QUEUE", 3)
    sf, _, forwarder = _forwarder()

    async def main():
        for i in range(5):
            sf.relay_publish(pb.Command(publish=pb.Publish(channel=b"news", message=b"m%d" % i)))
        await asyncio.gather(*list(sf._relay_tasks.values()))

    asyncio.run(main())
    assert sorted(forwarder.calls) == [("s2n1", [b"m0", b"m1", b"m2"]), ("s3n1", [b"m0", b"m1", b"m2"])]
    assert (sf.relayed, sf.relay_dropped) == (6, 4)
