"""WATCH at apply (node/commands/transactions.py, the `gone` table of
node/storage/keyspace/): from log version 6 any change of a watched key
between WATCH and EXEC aborts EXEC, as in Redis — writes (the client's own
too), EXPIRE/PERSIST, deletions, expiry, eviction, FLUSHDB/FLUSHALL, SWAPDB,
RENAME into it — while a key nobody touched, or a stale key only deleted,
lets it run."""

from __future__ import annotations

import pytest

from raftcache.node import commands
from raftcache.node.commands import OK, eviction
from raftcache.node.storage import keyspace
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import NOW, Node


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    n.run(noop=pb.Noop())  # the first entry of version 6 starts the tracking
    yield n
    n.ks.close()


def watch(node: Node, key: bytes, db: int = 0) -> pb.Watched:
    """What the RESP front end's WATCH records: the key's version and the index it read at."""
    versions, seen_at = node.sm.read_at(pb.Command(db=db, key_version=pb.KeyVersion(keys=[key])), node.now_ms)
    return pb.Watched(db=db, key=key, index=versions[0], seen_at=seen_at)


def exec_(node: Node, *watched: pb.Watched):
    """EXEC of MULTI; GET probe; EXEC: None when it aborted."""
    tx = pb.Transaction(watches=watched, commands=[pb.Command(get=pb.Get(key=b"probe"))])
    return node.run(transaction=tx)


def put(node: Node, key: bytes, db: int = 0, **kw):
    return node.run(db=db, set=pb.Set(key=key, value=b"v", **kw))


def test_an_untouched_key_present_or_absent_lets_exec_run(node):
    put(node, b"x")
    wx, wy = watch(node, b"x"), watch(node, b"y")
    put(node, b"other")
    node.run(**{'del': pb.Del(keys=[b"other"])})
    assert exec_(node, wx, wy) == [None]


def test_the_clients_own_write_aborts(node):
    put(node, b"x")
    w = watch(node, b"x")
    put(node, b"x")
    assert exec_(node, w) is None


def test_a_key_created_then_deleted_after_watch_aborts(node):
    w = watch(node, b"x")
    put(node, b"x")
    node.run(**{'del': pb.Del(keys=[b"x"])})
    assert exec_(node, w) is None


def test_expire_and_persist_abort(node):
    put(node, b"x")
    w = watch(node, b"x")
    assert node.run(expire=pb.Expire(key=b"x", expiry=pb.Expiry(expire_at_ms=NOW + 100_000))) == 1
    assert exec_(node, w) is None
    w = watch(node, b"x")
    assert node.run(persist=pb.Persist(key=b"x")) == 1
    assert exec_(node, w) is None
    w = watch(node, b"x")
    assert node.run(persist=pb.Persist(key=b"x")) == 0  # nothing changed
    assert exec_(node, w) == [None]


def test_a_key_expiring_aborts_and_a_stale_key_deleted_does_not(node):
    put(node, b"x", expiry=pb.Expiry(expire_at_ms=NOW + 1000))
    w = watch(node, b"x")
    node.now_ms = NOW + 2000
    assert exec_(node, w) is None  # expired between WATCH and EXEC
    stale = watch(node, b"x")      # already expired when watched: absent
    assert stale.index == 0
    node.run(delete_expired=pb.DeleteExpired(keys=[b"x"]))
    assert exec_(node, stale) == [None]


def test_a_key_created_after_watch_that_expired_since_aborts(node):
    w = watch(node, b"x")
    put(node, b"x", expiry=pb.Expiry(expire_at_ms=NOW + 1000))
    node.now_ms = NOW + 2000
    assert exec_(node, w) is None  # still stored, expired
    node.run(delete_expired=pb.DeleteExpired(keys=[b"x"]))
    assert exec_(node, w) is None  # deleted by active expiry


def test_eviction_aborts(node):
    put(node, b"x")
    present, absent = watch(node, b"x"), watch(node, b"y")
    put(node, b"y")
    assert node.run(evict=pb.Evict(candidates=[pb.DbKey(db=0, key=b"x"), pb.DbKey(db=0, key=b"y")],
                                   policy="allkeys-lru", until_bytes=0)) == 2
    assert exec_(node, present) is None
    assert exec_(node, absent) is None


def evict_now(node: Node, *keys: bytes, version: int = commands.MAX_VERSION) -> int:
    """An Evict of `keys` deleting them all at once, in an entry of `version`."""
    node.index += 1
    op = pb.Evict(candidates=[pb.DbKey(db=0, key=k) for k in keys], policy="allkeys-lru", until_bytes=0)
    data = commands.encode_entry(pb.LogEntry(version=version, now_ms=NOW, command=pb.Command(evict=op)))
    return node.sm.apply(node.index, data)


def test_a_key_written_long_before_its_eviction_is_recorded_as_a_flush_of_its_database(node):
    """From log version 14 an eviction of a key last written QUIET_AGE_ENTRIES entries
    ago or more writes no `gone` record: its database's flush index rises to the key's
    own index, so absent keys watched since then stay unchanged, and anything created
    since and evicted still aborts."""
    put(node, b"old")
    written = node.index
    node.index += eviction.QUIET_AGE_ENTRIES
    present, absent = watch(node, b"old"), watch(node, b"never")
    assert evict_now(node, b"old") == 1
    with node.ks.reader() as r:
        assert r.vanished_at(0, b"old") == written      # no record of its own: the raised flush index
    assert exec_(node, present) is None                  # the watched key is gone
    assert exec_(node, absent) == [None]                 # nothing written since its WATCH was evicted
    w = watch(node, b"new")
    put(node, b"new")
    node.index += eviction.QUIET_AGE_ENTRIES
    assert evict_now(node, b"new") == 1
    assert exec_(node, w) is None                        # created after WATCH, evicted quietly since


def test_a_key_written_recently_or_evicted_by_an_older_entry_gets_its_gone_record(node):
    for version in (commands.MAX_VERSION, commands.EVICT_QUIET_VERSION - 1):
        put(node, b"x")
        node.index += 1 if version == commands.MAX_VERSION else eviction.QUIET_AGE_ENTRIES
        assert evict_now(node, b"x", version=version) == 1
        with node.ks.reader() as r:
            assert r.vanished_at(0, b"x") == node.index  # the evicting entry's own index


@pytest.mark.parametrize("flush", [{"flush_all": pb.FlushAll()}, {"flush_db": pb.FlushDb()}])
def test_flushes_abort_for_keys_that_existed_only(node, flush):
    put(node, b"x")
    present, absent = watch(node, b"x"), watch(node, b"y")
    node.run(**flush)
    assert exec_(node, present) is None
    assert exec_(node, absent) == [None]
    w = watch(node, b"y")
    put(node, b"y")
    node.run(**flush)
    assert exec_(node, w) is None


def test_swapdb_touches_keys_that_exist_in_either_database(node):
    put(node, b"a", db=0)
    put(node, b"b", db=1)
    wa, wb, wc = watch(node, b"a"), watch(node, b"b"), watch(node, b"c")
    assert node.run(swap_db=pb.SwapDb(other_db=1)) == OK
    assert exec_(node, wa) is None   # moved away
    assert exec_(node, wb) is None   # moved in
    assert exec_(node, wc) == [None]  # in neither


def test_same_index_in_two_databases_is_still_a_change_after_swapdb(node):
    both = [pb.Command(db=db, set=pb.Set(key=b"x", value=b"v")) for db in (0, 1)]
    node.run(transaction=pb.Transaction(commands=both))
    w = watch(node, b"x")
    node.run(swap_db=pb.SwapDb(other_db=1))
    assert exec_(node, w) is None


def test_rename_into_a_watched_key_aborts(node):
    put(node, b"src")
    w = watch(node, b"dst")
    node.run(rename=pb.Rename(key=b"src", new_key=b"dst"))
    assert exec_(node, w) is None


def test_the_gone_table_is_bounded_and_old_watches_of_absent_keys_abort(node, monkeypatch):
    monkeypatch.setattr(keyspace.writing, "GONE_LIMIT", 3)
    w = watch(node, b"never")
    for i in range(5):
        put(node, b"k%d" % i)
        node.run(**{'del': pb.Del(keys=[b"k%d" % i])})
    assert exec_(node, w) is None  # the floor passed its WATCH: cannot tell, so abort
    with node.ks.reader() as r:
        assert r.watch_floor() > w.seen_at
    fresh = watch(node, b"never")
    assert exec_(node, fresh) == [None]


def test_entries_before_version_6_compare_the_index_alone(node):
    put(node, b"x")
    node.run(**{'del': pb.Del(keys=[b"x"])})
    node.index += 1
    old = pb.LogEntry(version=5, now_ms=NOW, command=pb.Command(transaction=pb.Transaction(
        watches=[pb.Watched(db=0, key=b"x", index=0)], commands=[pb.Command(get=pb.Get(key=b"p"))])))
    assert node.sm.apply(node.index, commands.encode_entry(old)) == [None]


def test_swapdb_of_a_key_created_after_watch_that_expired_aborts(node):
    w = watch(node, b"x")
    put(node, b"x", expiry=pb.Expiry(expire_at_ms=NOW + 1000))
    node.now_ms = NOW + 2000
    node.run(swap_db=pb.SwapDb(other_db=1))
    assert exec_(node, w) is None
    stale = watch(node, b"y")
    node.run(swap_db=pb.SwapDb(other_db=1))
    assert exec_(node, stale) == [None]
