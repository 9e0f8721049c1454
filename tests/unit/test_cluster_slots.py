"""Cluster mode without sockets: Redis's slot hashing (its own test vectors), slot ranges,
the static cluster map, the ClaimSlots log entry applied to a temporary LMDB, the merged
slot map of node/service/cluster.py and the replies of node/frontends/resp_cluster.py
(parsed with redis-py's own parsers)."""

from __future__ import annotations

import pytest
from redis._parsers.helpers import parse_cluster_nodes

from raftcache import slots
from raftcache.clustermap import ClusterMap, ClusterMapError, redis_node_id
from raftcache.node import commands
from raftcache.node.commands import OK
from raftcache.node.commands.slot_claims import SlotClaim
from raftcache.node.commands.slot_migration import SlotMigration
from raftcache.node.commands.statemachine import StateMachine
from raftcache.node.errors import CommandError, Reason
from raftcache.node.frontends import resp_cluster
from raftcache.node.service.cluster import ClusterView
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import Node


# ---------------------------------------------------------------- hashing

@pytest.mark.parametrize("key, slot", [
    (b"123456789", 12739),          # Redis's crc16.c test vector: CRC16("123456789") = 0x31C3
    (b"somekey", 11058),            # CLUSTER KEYSLOT's documented examples
    (b"foo{hash_tag}", 2515),
    (b"bar{hash_tag}", 2515),
    (b"foo", 12182),
    (b"", 0),
])
def test_key_slot_matches_redis(key, slot):
    assert slots.key_slot(key) == slot


def test_crc16_is_xmodem():
    assert slots.crc16(b"123456789") == 0x31C3


@pytest.mark.parametrize("key, hashed", [
    # The hash tag rules of the Redis Cluster specification, with its examples.
    (b"{user1000}.following", b"user1000"),
    (b"{user1000}.followers", b"user1000"),
    (b"foo{}{bar}", b"foo{}{bar}"),     # an empty first tag: the whole key
    (b"foo{{bar}}zap", b"{bar"),        # from the first { to the first } after it
    (b"foo{bar}{zap}", b"bar"),         # only the first tag counts
    (b"no tag}{", b"no tag}{"),
    (b"{unclosed", b"{unclosed"),
])
def test_hash_tags(key, hashed):
    assert slots.hash_tag(key) == hashed
    assert slots.key_slot(key) == slots.key_slot(hashed)


def test_split_evenly_covers_every_slot_once():
    assert slots.split_evenly(2) == [[(0, 8191)], [(8192, 16383)]]
    three = slots.split_evenly(3)
    assert three == [[(0, 5460)], [(5461, 10921)], [(10922, 16383)]]   # redis-cli --cluster create's split
    assert slots.normalise(r for shard in three for r in shard) == [(0, 16383)]


def test_ranges_parse_merge_and_refuse():
    assert slots.parse_ranges("10-20,0-9, 30") == [(0, 20), (30, 30)]
    assert slots.format_ranges([(0, 20), (30, 30)]) == "0-20,30"
    assert slots.count([(0, 20), (30, 30)]) == 22
    for bad in ("5-1", "0-16384", "-1", "a-b", "0-10,5-6"):
        with pytest.raises(ValueError):
            slots.parse_ranges(bad)


# ---------------------------------------------------------------- the static map

def test_up_layout_is_shard_major():
    cmap = ClusterMap.layout(2, 3, "127.0.0.1", 7000)
    s1, s2 = cmap.shards
    assert [p.id for p in s1.members] == ["s1n1", "s1n2", "s1n3"]
    assert [p.zone for p in s2.members] == ["a", "b", "c"]
    assert [p.base_port for p in s1.members + s2.members] == [7000, 7010, 7020, 7030, 7040, 7050]
    assert (s1.slots, s2.slots) == (((0, 8191),), ((8192, 16383),))
    assert ClusterMap.from_json(cmap.to_json()) == cmap


@pytest.mark.parametrize("change, error", [
    (lambda m: m[1].update(slots="8000-16383"), "overlap"),
    (lambda m: m[1].update(slots="9000-16383"), "cover"),
    (lambda m: m[1].update(id=3), "numbered"),
    (lambda m: m[1].update(members=m[0]["members"][:1]), "unique"),
    (lambda m: m[1].update(members=["not a peer"]), "bad shard"),
])
def test_bad_maps_are_refused(change, error):
    doc = ClusterMap.layout(2, 3, "127.0.0.1", 7000).to_json()
    change(doc)
    with pytest.raises(ClusterMapError, match=error):
        ClusterMap.from_json(doc)


# ---------------------------------------------------------------- ClaimSlots at apply

def _claim(shard: int, epoch: int, *ranges) -> dict:
    return {"claim_slots": pb.ClaimSlots(shard=shard, epoch=epoch,
                                         ranges=[pb.SlotRange(first=a, last=b) for a, b in ranges])}


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    yield n
    n.ks.close()


def test_a_claim_is_recorded_once_and_only_raised(node):
    seen = []
    node.sm.on_slots_change.append(seen.append)
    assert node.run(**_claim(1, 1, (0, 8191))) == OK
    assert node.sm.slots.current == SlotClaim(1, 1, ((0, 8191),))
    assert node.run(**_claim(1, 1, (0, 8191))) == OK, "the same claim again (a new leader's retry) is a no-op"
    stale = node.run(**_claim(1, 1, (0, 100)))
    assert isinstance(stale, CommandError) and "stale" in stale.message
    assert node.run(**_claim(1, 2, (0, 8191), (9000, 9000))) == OK
    assert node.sm.slots.current == SlotClaim(1, 2, ((0, 8191), (9000, 9000)))
    assert [c.epoch for c in seen] == [1, 1, 1, 2]


@pytest.mark.parametrize("claim", [_claim(1, 1, (5, 1)), _claim(1, 1, (0, 16384)), _claim(1, 1, (0, 9), (5, 20)),
                                   _claim(0, 1, (0, 1)), _claim(1, 0, (0, 1))])
def test_a_bad_claim_is_an_error_and_changes_nothing(node, claim):
    result = node.run(**claim)
    assert isinstance(result, CommandError) and result.reason == Reason.INVALID_ARGUMENT
    assert node.sm.slots.current == SlotClaim()


def test_the_claim_survives_a_restart(node):
    node.run(**_claim(2, 3, (8192, 16383)))
    again = StateMachine(node.ks, node.config)
    again.apply(node.index + 1, Node.entry(noop=pb.Noop()))   # the keyspace is read at the first apply
    assert again.slots.current == SlotClaim(2, 3, ((8192, 16383),))


def test_an_older_log_version_refuses_the_claim(node):
    data = commands.encode_entry(pb.LogEntry(version=commands.CLUSTER_VERSION - 1,
                                             command=pb.Command(**_claim(1, 1, (0, 1)))))
    node.index += 1
    result = node.sm.apply(node.index, data)
    assert isinstance(result, CommandError) and node.sm.slots.current == SlotClaim()
    assert commands.required_version(pb.Command(**_claim(1, 1, (0, 1)))) == commands.CLUSTER_VERSION


# ---------------------------------------------------------------- the merged map and the replies

class _Service:
    """What ClusterView reads of the service."""

    def __init__(self, leader_id: str = "s1n2"):
        self.slot_claim = SlotClaim()
        self.migration = SlotMigration()
        self.leader_id = leader_id
        self.callbacks = []

    def on_slots_change(self, callback) -> None:
        self.callbacks.append(callback)


@pytest.fixture
def view():
    return ClusterView(ClusterMap.layout(2, 3, "127.0.0.1", 7000), 1, _Service(), secret="s")


def test_moved_crossslot_or_served(view):
    assert resp_cluster.refusal(view, []) is None
    assert resp_cluster.refusal(view, [b"{user1000}.a", b"{user1000}.b"]) is None           # slot 3443: shard 1
    assert resp_cluster.refusal(view, [b"foo"]) == b"-MOVED 12182 127.0.0.1:7031\r\n"       # shard 2's first member
    view.leaders[2] = "s2n3"
    assert resp_cluster.refusal(view, [b"foo"]) == b"-MOVED 12182 127.0.0.1:7051\r\n"       # …its leader once known
    assert resp_cluster.refusal(view, [b"foo", b"somekey"]) == resp_cluster.CROSSSLOT
    assert resp_cluster.serves(view, b"somekey") is False and resp_cluster.serves(view, b"bar") is True


def test_a_claim_at_a_higher_epoch_moves_slots(view):
    view._learn(2, SlotClaim(2, 2, ((0, 99), (8192, 16383))))
    assert view.owner_of(50) == 2 and view.owner_of(100) == 1 and view.epoch == 2
    view._learn(2, SlotClaim(2, 1, ((8192, 16383),)))   # an older claim changes nothing
    assert view.owner_of(50) == 2
    view._service.callbacks[0](SlotClaim(1, 3, ((0, 8191),)))    # this shard's log takes them back at epoch 3
    assert view.owner_of(50) == 1
    assert [(a, b, s) for a, b, s in resp_cluster._owned_ranges(view)] == [(0, 8191, 1), (8192, 16383, 2)]


def test_cluster_nodes_parses_with_redis_py(view):
    nodes = parse_cluster_nodes(resp_cluster._nodes(view, "s1n1").decode())
    assert len(nodes) == 6
    leader = nodes["127.0.0.1:7011"]
    assert leader["node_id"] == redis_node_id("s1n2") and "master" in leader["flags"]
    assert leader["slots"] == [["0", "8191"]]
    me = nodes["127.0.0.1:7001"]
    assert "myself" in me["flags"] and "slave" in me["flags"] and me["master_id"] == redis_node_id("s1n2")


def test_cluster_slots_lists_the_leader_first(view):
    first, second = resp_cluster._slots(view)
    assert first[:2] == [0, 8191] and [m[1] for m in first[2:]] == [7011, 7001, 7021]
    assert second[:2] == [8192, 16383] and len(second) == 5


def test_the_service_refuses_keys_of_another_shard(view):
    """The last check of every protocol (memcached and gRPC have no -MOVED)."""
    assert view.misrouted(pb.Command(get=pb.Get(key=b"bar"))) is None
    assert view.misrouted(pb.Command(flush_all=pb.FlushAll())) is None
    moved = view.misrouted(pb.Command(set=pb.Set(key=b"foo", value=b"v")))
    assert (moved.reason, moved.message) == (Reason.WRONG_SHARD, "12182 127.0.0.1:7031")
    cross = pb.Command(mget=pb.MGet(keys=[b"bar", b"foo"]))
    assert view.misrouted(cross).reason == Reason.CROSS_SLOT


def test_hset_fields_are_not_keys(view):
    """HSET's pairs are (field, value): its one key decides the slot (MSET's pairs are keys)."""
    from raftcache.commandkeys import command_keys

    hset = pb.Command(hset=pb.HSet(key=b"{user1000}.h", pairs=[pb.KeyValue(key=b"foo", value=b"v")]))
    assert command_keys(hset) == [b"{user1000}.h"] and view.misrouted(hset) is None
    mset = pb.Command(mset=pb.MSet(pairs=[pb.KeyValue(key=b"a", value=b"1"), pb.KeyValue(key=b"b", value=b"2")]))
    assert command_keys(mset) == [b"a", b"b"]


def test_the_view_adopts_shards_added_to_and_removed_from_the_map_file(tmp_path):
    """`ctl add-shard` / `remove-shard` rewrite the map file; a node re-reads it when it changes."""
    import json
    import os

    path = str(tmp_path / "cluster.json")
    cmap = ClusterMap.layout(2, 3, "127.0.0.1", 7000)
    with open(path, "w") as f:
        json.dump({"shards": cmap.to_json()}, f)
    view = ClusterView(cmap, 1, _Service(), secret="s", map_path=path)
    added = [*cmap.to_json(), {"id": 3, "slots": "", "members": ["s3n1@a=127.0.0.1:7060"]}]
    with open(path, "w") as f:
        json.dump({"shards": added}, f)
    os.utime(path, ns=(1, 1))
    view._reload_map()
    assert sorted(view.claims) == [1, 2, 3] and view.map.shard(3).slots == ()
    assert view.owner_of(0) == 1 and view.owner_of(16383) == 2, "a shard with no slots changes no owner"
    with open(path, "w") as f:
        json.dump({"shards": cmap.to_json()}, f)
    os.utime(path, ns=(2, 2))
    view._reload_map()
    assert sorted(view.claims) == [1, 2]
