"""memcached 1.6's item state at apply (node/commands/memcache_ops.py): the recache
win (W) is decided by the log, so one client wins however many ask; the others
see Z until the item is replaced; `md I` marks an item stale (X) and `ms I`
stores over a newer CAS as stale."""

from __future__ import annotations

import pytest

from raftcache.node.commands import OK, Status
from raftcache.node.storage.keyspace import ITEM_STALE, ITEM_WIN_SENT, Record, ValueType
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import NOW, Node

WON, STALE, SENT = 4, 5, 6   # positions in meta_get's reply


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    yield n
    n.ks.close()


def state(node: Node, key: bytes) -> int:
    with node.ks.reader() as r:
        return r.get_raw(0, key).state


def test_the_item_state_is_stored_with_a_string_and_masked_from_its_type(node):
    node.index += 1
    with node.ks.writer(node.index) as w:
        w.put(0, b"k", Record(ValueType.STRING, b"v", 0, node.index, 0xFFFFFFFF, ITEM_STALE | ITEM_WIN_SENT))
        with pytest.raises(ValueError):
            w.put(0, b"h", Record(ValueType.HASH, b"", 0, node.index, 0, ITEM_STALE))
    assert node.read(type=pb.Type(key=b"k")) == "string"
    assert node.get(b"k") == b"v"
    with node.ks.reader() as r:
        assert r.scan(0, 0, 10, NOW, type=ValueType.STRING)[1] == [b"k"]
        rec = r.get_raw(0, b"k")
    assert (rec.type, rec.flags, rec.state) == (ValueType.STRING, 0xFFFFFFFF, ITEM_STALE | ITEM_WIN_SENT)


def test_vivify_on_miss_wins_once_and_later_readers_see_the_win_was_sent(node):
    first = node.run(meta_get=pb.MetaGet(key=b"k", vivify_ttl_ms=30_000))
    assert first[:2] == [b"", 0] and first[3] == NOW + 30_000 and first[WON] == 1
    second = node.run(meta_get=pb.MetaGet(key=b"k", vivify_ttl_ms=30_000))
    assert second[WON] == 0 and second[SENT] == 1
    assert node.read(get_meta=pb.GetMeta(key=b"k"))[4] == ITEM_WIN_SENT
    assert node.run(meta_get=pb.MetaGet(key=b"missing")) is None   # no N: a miss stays a miss


def test_recache_wins_once_when_the_remaining_ttl_is_below_the_threshold(node):
    assert node.run(set=pb.Set(key=b"k", value=b"v", flags=3, expiry=pb.Expiry(expire_at_ms=NOW + 20_000))) == OK
    assert node.run(meta_get=pb.MetaGet(key=b"k", recache_below_ms=10_000))[WON] == 0   # 20 s left
    hit = node.run(meta_get=pb.MetaGet(key=b"k", recache_below_ms=30_000))
    assert hit[:4] == [b"v", 3, hit[2], NOW + 20_000] and hit[WON] == 1 and hit[SENT] == 0
    again = node.run(meta_get=pb.MetaGet(key=b"k", recache_below_ms=30_000))
    assert again[WON] == 0 and again[SENT] == 1 and again[2] == hit[2], "a win keeps the CAS unique"
    assert node.run(set=pb.Set(key=b"k", value=b"new", flags=3)) == OK   # replaced: a fresh item
    assert state(node, b"k") == 0
    assert node.run(meta_get=pb.MetaGet(key=b"k", recache_below_ms=30_000))[WON] == 0, "no deadline, no win"


def test_invalidate_marks_stale_with_a_new_cas_and_the_first_reader_wins(node):
    assert node.run(set=pb.Set(key=b"k", value=b"v", flags=1)) == OK
    cas = node.read(get_meta=pb.GetMeta(key=b"k"))[2]
    assert node.run(meta_invalidate=pb.MetaInvalidate(key=b"k", cas_index=cas + 1)) == Status("EXISTS")
    assert node.run(meta_invalidate=pb.MetaInvalidate(key=b"k", expiry=pb.Expiry(expire_at_ms=NOW + 5000))) == OK
    item = node.read(get_meta=pb.GetMeta(key=b"k"))
    assert item[:2] == [b"v", 1] and item[2] > cas and item[3] == NOW + 5000 and item[4] == ITEM_STALE
    first = node.run(meta_get=pb.MetaGet(key=b"k"))
    assert first[WON] == 1 and first[STALE] == 1
    second = node.run(meta_get=pb.MetaGet(key=b"k"))
    assert second[WON] == 0 and second[STALE] == 1 and second[SENT] == 1
    # invalidating again clears the win: the next reader wins again
    assert node.run(meta_invalidate=pb.MetaInvalidate(key=b"k")) == OK
    assert node.run(meta_get=pb.MetaGet(key=b"k"))[WON] == 1
    assert node.run(meta_invalidate=pb.MetaInvalidate(key=b"nope")) is None


def test_a_set_with_an_older_cas_and_stale_if_older_stores_a_stale_value(node):
    assert node.run(set=pb.Set(key=b"k", value=b"v1", expiry=pb.Expiry(expire_at_ms=NOW + 9000))) == OK
    old_cas = node.read(get_meta=pb.GetMeta(key=b"k"))[2]
    assert node.run(meta_get=pb.MetaGet(key=b"k", recache_below_ms=60_000))[WON] == 1
    assert node.run(set=pb.Set(key=b"k", value=b"v2")) == OK
    assert node.run(meta_get=pb.MetaGet(key=b"k", recache_below_ms=60_000))[WON] == 0   # no deadline now
    newer = node.read(get_meta=pb.GetMeta(key=b"k"))[2]
    assert node.run(set=pb.Set(key=b"k", value=b"late", cas_index=old_cas)) == Status("EXISTS")
    assert node.run(set=pb.Set(key=b"k", value=b"late", cas_index=newer + 5, stale_if_older=True)) == Status("EXISTS")
    assert node.run(set=pb.Set(key=b"k", value=b"late", cas_index=old_cas, stale_if_older=True)) == OK
    item = node.read(get_meta=pb.GetMeta(key=b"k"))
    assert item[0] == b"late" and item[4] == ITEM_STALE


def test_touch_keeps_the_item_state(node):
    assert node.run(meta_get=pb.MetaGet(key=b"k", vivify_ttl_ms=0))[WON] == 1
    assert node.run(get_and_touch=pb.GetAndTouch(key=b"k", expiry=pb.Expiry(expire_at_ms=NOW + 1000)))[3] == NOW + 1000
    assert state(node, b"k") == ITEM_WIN_SENT
    touched = node.run(meta_get=pb.MetaGet(key=b"k", expiry=pb.Expiry(expire_at_ms=NOW + 2000)))
    assert touched[3] == NOW + 2000 and touched[SENT] == 1 and state(node, b"k") == ITEM_WIN_SENT
