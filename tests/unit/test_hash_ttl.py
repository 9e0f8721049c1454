"""Hash field expiration at apply (node/commands/hashes.py, node/storage/itemmap.py): field
deadlines survive the inline and itemized layouts and the switch between them, reads at a
clock past a deadline hide the field, the `fexpiry` index names exactly the hashes the
leader must propose DeleteExpiredFields for, and an entry of log version 8 carrying HExpire
is refused as a binary of that version refuses it. No sockets: a keyspace and a state machine."""

from __future__ import annotations

import pytest

from raftcache.node import commands, scripting
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import NOW, Node


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    yield n
    n.ks.close()


def _hset(n: Node, key: bytes, fields: dict) -> None:
    n.run(hset=pb.HSet(key=key, pairs=[pb.KeyValue(key=f, value=v) for f, v in fields.items()]))


def _expire_at(n: Node, key: bytes, deadline: int, *fields: bytes, condition=pb.EXPIRE_ALWAYS):
    return n.run(hexpire=pb.HExpire(key=key, fields=list(fields), condition=condition,
                                    expiry=pb.Expiry(expire_at_ms=deadline)))


def _due(n: Node, now_ms: int) -> list:
    with n.ks.reader() as r:
        return r.fields_expiring(now_ms, 100)


def test_deadlines_survive_itemizing_and_expired_fields_are_hidden_then_purged(node):
    fields = {b"f%d" % i: b"v%d" % i for i in range(100)}
    _hset(node, b"h", fields)
    assert _expire_at(node, b"h", NOW + 1000, b"f0", b"f1", b"nope") == [1, 1, -2]
    assert _due(node, NOW + 1000) == [(0, b"h")] and _due(node, NOW + 999) == []
    _hset(node, b"h", {b"g%d" % i: b"x" for i in range(100)})           # past 128 fields: itemized
    assert node.read(httl=pb.HTtl(key=b"h", fields=[b"f0", b"f2"], millis=True, absolute=True)) == [NOW + 1000, -1]
    assert node.read(now_ms=NOW + 1000, hlen=pb.HLen(key=b"h")) == 198
    assert node.read(now_ms=NOW + 1000, hget=pb.HGet(key=b"h", field=b"f0")) is None
    assert node.read(now_ms=NOW + 999, hget=pb.HGet(key=b"h", field=b"f0")) == b"v0"
    assert node.run(now_ms=NOW + 1000, delete_expired_fields=pb.DeleteExpiredFields(keys=[b"h"])) == 2
    assert _due(node, 1 << 47) == [], "no deadline left: the hash leaves the index"
    assert node.read(now_ms=NOW + 1000, hlen=pb.HLen(key=b"h")) == 198


def test_a_stale_bound_is_made_exact_so_the_leader_does_not_propose_the_hash_again(node):
    _hset(node, b"big", {b"f%d" % i: b"v" for i in range(200)})
    _expire_at(node, b"big", NOW + 100, b"f1")
    _expire_at(node, b"big", NOW + 5000, b"f2")
    node.run(hdel=pb.HDel(key=b"big", fields=[b"f1"]))      # the earliest deadline goes with its field
    assert _due(node, NOW + 100) == [(0, b"big")], "a lower bound: still due"
    assert node.run(now_ms=NOW + 100, delete_expired_fields=pb.DeleteExpiredFields(keys=[b"big"])) == 0
    assert _due(node, NOW + 4999) == [] and _due(node, NOW + 5000) == [(0, b"big")]


def test_the_last_field_expiring_deletes_the_hash_and_a_write_purges_first(node):
    _hset(node, b"h", {b"a": b"1", b"b": b"2"})
    _expire_at(node, b"h", NOW + 10, b"a", b"b")
    assert node.run(now_ms=NOW + 10, hset=pb.HSet(key=b"h", pairs=[pb.KeyValue(key=b"a", value=b"3")])) == 1
    assert node.read(now_ms=NOW + 10, hgetall=pb.HGetAll(key=b"h")) == [b"a", b"3"]
    _expire_at(node, b"h", NOW + 20, b"a")
    assert node.run(now_ms=NOW + 20, delete_expired_fields=pb.DeleteExpiredFields(keys=[b"h"])) == 1
    assert node.read(now_ms=NOW + 20, exists=pb.Exists(keys=[b"h"])) == 0
    assert _due(node, 1 << 47) == []


def test_an_entry_of_log_version_8_with_hexpire_is_refused_as_version_8_refuses_it(node):
    _hset(node, b"h", {b"a": b"1"})
    node.index += 1
    entry = pb.LogEntry(version=commands.CLUSTER_VERSION, now_ms=NOW, command=pb.Command(
        hexpire=pb.HExpire(key=b"h", fields=[b"a"], expiry=pb.Expiry(expire_at_ms=NOW + 10))))
    result = node.sm.apply(node.index, commands.encode_entry(entry))
    assert isinstance(result, commands.CommandError) and "does not know" in result.message
    assert commands.required_version(entry.command) == commands.HFE_VERSION
    assert node.read(httl=pb.HTtl(key=b"h", fields=[b"a"])) == [-1]


def test_a_script_applied_under_log_version_8_does_not_know_the_field_expiration_commands(node):
    scripting.install()
    _hset(node, b"h", {b"a": b"1"})
    body = b"return redis.pcall('HPEXPIRE', KEYS[1], 1000, 'FIELDS', 1, 'a')"
    for version, want in ((commands.CLUSTER_VERSION, "Unknown Redis command called from script"), (None, None)):
        node.index += 1
        entry = pb.LogEntry(version=version or commands.MAX_VERSION, now_ms=NOW,
                            command=pb.Command(eval=pb.Eval(body=body, keys=[b"h"])))
        result = node.sm.apply(node.index, commands.encode_entry(entry))
        if want:
            assert isinstance(result, commands.CommandError) and want in result.message, result
        else:
            assert result == [1]


def test_the_field_index_follows_a_hash_overwritten_by_a_string_or_renamed_onto_one(node):
    """A put replacing a hash that has field deadlines drops its `fexpiry` entry, and one
    putting such a hash where a string was adds it (the put skips the index only when
    neither record is a hash)."""
    _hset(node, b"h", {b"a": b"1"})
    _expire_at(node, b"h", NOW + 10, b"a")
    node.run(set=pb.Set(key=b"h", value=b"s"))
    assert _due(node, 1 << 47) == [], "SET replaced the hash: nothing of it is due"
    _hset(node, b"g", {b"a": b"1"})
    _expire_at(node, b"g", NOW + 10, b"a")
    node.run(set=pb.Set(key=b"s", value=b"x"))
    node.run(rename=pb.Rename(key=b"g", new_key=b"s"))
    assert _due(node, NOW + 10) == [(0, b"s")] and _due(node, NOW + 9) == []
    assert node.read(now_ms=NOW + 9, hget=pb.HGet(key=b"s", field=b"a")) == b"1"


def test_object_encoding_names_a_small_hash_with_field_ttls_listpackex(node):
    """As Redis 7.4 (log version 27: a read served off the log names it so); a large hash stays
    hashtable, and one without a TTL listpack."""
    _hset(node, b"h", {b"a": b"1", b"b": b"2"})
    assert node.read(object_encoding=pb.ObjectEncoding(key=b"h")) == b"listpack"
    _expire_at(node, b"h", NOW + 10_000, b"a")
    assert node.read(object_encoding=pb.ObjectEncoding(key=b"h")) == b"listpackex"
    _hset(node, b"big", {b"f%d" % i: b"v" for i in range(200)})
    _expire_at(node, b"big", NOW + 10_000, b"f1")
    assert node.read(object_encoding=pb.ObjectEncoding(key=b"big")) == b"hashtable"
