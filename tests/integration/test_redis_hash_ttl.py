"""Hash field expiration (Redis 7.4) and redis-py's built-in client-side cache, on real node processes.

HEXPIRE / HPEXPIRE / HEXPIREAT / HPEXPIREAT with NX|XX|GT|LT, HTTL / HPTTL / HEXPIRETIME /
HPEXPIRETIME and HPERSIST with Redis 7.4's per-field replies and error texts; a field past its
deadline is invisible to every read on every node, then deleted everywhere by the leader's
active expiry (`hexpired`, and `del` with the last field); writes keep or drop a field's TTL
as Redis does; WATCH, RENAME, COPY, MOVE, and DUMP / RESTORE with field TTLs (Redis 7.4's
payloads, a real Redis 7.4.1's among them). Last, the example issue 17
is judged by: `redis.Redis(protocol=3, cache_config=CacheConfig())` on a follower (redis-py
refuses a server below 7.4), invalidated by writes through another node.
"""

from __future__ import annotations

import time

import pytest
import redis
from redis.cache import CacheConfig

from raftcache.localcluster import wait_until
from raftcache.node import commands
from tests.integration.redis_helpers import WRONGTYPE, client, linearizable


@pytest.fixture
def hfe(cluster):
    """The cluster, once its log runs the version with hash field expiration."""
    cluster.wait_log_version(commands.HFE_VERSION)
    return cluster


def _now_ms() -> int:
    return int(time.time() * 1000)


def _past(deadline_ms: int, what: str) -> None:
    """Wait (bounded) until the wall clock is past `deadline_ms`."""
    wait_until(lambda: _now_ms() > deadline_ms + 5, 10, what)


def test_the_hexpire_family_replies_per_field_with_each_condition(hfe, protocol):
    r = client(hfe.leader(), protocol)
    r.hset("h", mapping={"f1": "v1", "f2": "v2", "f3": "v3"})
    cmd = r.execute_command
    assert cmd("HEXPIRE", "h", 100, "FIELDS", 2, "f1", "nope") == [1, -2]
    assert cmd("HEXPIRE", "h", 200, "NX", "FIELDS", 2, "f1", "f2") == [0, 1]
    assert cmd("HEXPIRE", "h", 300, "XX", "FIELDS", 2, "f1", "f3") == [1, 0]
    # GT: a field without a TTL is infinite (never set); LT: always set
    assert cmd("HPEXPIRE", "h", 1000, "GT", "FIELDS", 2, "f1", "f3") == [0, 0]
    assert cmd("HPEXPIRE", "h", 50_000, "LT", "FIELDS", 2, "f1", "f3") == [1, 1]
    assert cmd("HPEXPIRE", "h", 60_000, "gt", "FIELDS", 1, "f1") == [1]
    ttl = cmd("HTTL", "h", "FIELDS", 4, "f1", "f2", "f3", "nope")
    assert 50 < ttl[0] <= 60 and 150 < ttl[1] <= 200 and 0 < ttl[2] <= 50 and ttl[3] == -2
    pttl = cmd("HPTTL", "h", "FIELDS", 2, "f1", "nope")
    assert 50_000 < pttl[0] <= 60_000 and pttl[1] == -2
    at_s = int(time.time()) + 1000
    assert cmd("HEXPIREAT", "h", at_s, "FIELDS", 1, "f2") == [1]
    assert cmd("HEXPIRETIME", "h", "FIELDS", 2, "f2", "nope") == [at_s, -2]
    assert cmd("HPEXPIRETIME", "h", "FIELDS", 1, "f2") == [at_s * 1000]
    at_ms = _now_ms() + 2_000_000
    assert cmd("HPEXPIREAT", "h", at_ms, "FIELDS", 1, "f3") == [1]
    assert cmd("HPEXPIRETIME", "h", "FIELDS", 1, "f3") == [at_ms]
    assert cmd("HEXPIRETIME", "h", "FIELDS", 1, "f3") == [at_ms // 1000]
    # redis-py's own methods speak the same commands
    assert r.hpersist("h", "f1", "nope") == [1, -2]
    assert r.hpersist("h", "f1") == [-1]
    assert r.httl("h", "f1") == [-1]
    assert r.hexpire("h", 500, "f1", nx=True) == [1]
    # a deadline not in the future deletes the field: 2
    assert cmd("HEXPIRE", "h", 0, "FIELDS", 1, "f1") == [2]
    assert cmd("HPEXPIREAT", "h", 1, "FIELDS", 1, "f2") == [2]
    assert r.hget("h", "f1") is None and r.hlen("h") == 1
    assert cmd("HEXPIRE", "h", 0, "FIELDS", 1, "f3") == [2]
    assert r.exists("h") == 0, "a hash whose last field goes is deleted"
    for command in (("HEXPIRE", "h", 10), ("HTTL", "h"), ("HPERSIST", "h"), ("HPEXPIRETIME", "h")):
        assert cmd(*command, "FIELDS", 2, "a", "b") == [-2, -2]


def test_writes_keep_or_drop_a_fields_ttl_as_redis(hfe, protocol):
    r = client(hfe.leader(), protocol)
    r.hset("h", mapping={"a": "1", "b": "2", "c": "x", "d": "1.5", "e": "e"})
    assert r.hexpire("h", 100, "a", "b", "c", "d", "e") == [1, 1, 1, 1, 1]
    r.hset("h", "a", "new")                     # HSET sets a value: the TTL goes
    assert r.hsetnx("h", "c", "y") == 0          # HSETNX on an existing field: nothing changes
    assert r.hincrby("h", "b", 5) == 7           # HINCRBY / HINCRBYFLOAT keep the TTL
    assert float(r.hincrbyfloat("h", "d", 1)) == 2.5
    r.execute_command("HMSET", "h", "e", "e2")
    ttl = r.httl("h", "a", "b", "c", "d", "e")
    assert ttl[0] == -1 and ttl[4] == -1 and all(0 < t <= 100 for t in ttl[1:4])
    r.hdel("h", "b")
    r.hset("h", "b", "back")
    assert r.httl("h", "b") == [-1], "a field deleted and set again has no TTL"


def test_argument_errors_use_redis_7_4s_texts(hfe, protocol):
    r = client(hfe.leader(), protocol)
    r.hset("h", "f", "v")
    r.set("s", "v")
    cases = [
        (("HEXPIRE", "h", 100, "FIELDS", 1), "wrong number of arguments for 'hexpire' command"),
        (("HTTL", "h", "FIELDS", 1), "wrong number of arguments for 'httl' command"),
        (("HEXPIRE", "h", "x", "FIELDS", 1, "f"), "value is not an integer or out of range"),
        (("HEXPIRE", "h", -1, "FIELDS", 1, "f"), "invalid expire time, must be >= 0"),
        (("HEXPIRE", "h", (1 << 48) // 1000 + 1, "FIELDS", 1, "f"), "invalid expire time in 'hexpire' command"),
        (("HPEXPIREAT", "h", 1 << 48, "FIELDS", 1, "f"), "invalid expire time in 'hpexpireat' command"),
        (("HEXPIRE", "h", 100, "BADCOND", "FIELDS", 1, "f"),
         "Mandatory argument FIELDS is missing or not at the right position"),
        (("HEXPIRE", "h", 100, "NX", "XX", "FIELDS", 1, "f"),
         "Mandatory argument FIELDS is missing or not at the right position"),
        (("HTTL", "h", "NOTFIELDS", 1, "f"), "Mandatory argument FIELDS is missing or not at the right position"),
        (("HEXPIRE", "h", 100, "FIELDS", 0, "f"), "Parameter `numFields` should be greater than 0"),
        (("HEXPIRE", "h", 100, "FIELDS", "x", "f"), "Parameter `numFields` should be greater than 0"),
        (("HTTL", "h", "FIELDS", 0, "f"), "Number of fields must be a positive integer"),
        (("HPERSIST", "h", "FIELDS", "x", "f"), "Number of fields must be a positive integer"),
        (("HEXPIRE", "h", 100, "FIELDS", 2, "f"), "The `numfields` parameter must match the number of arguments"),
        (("HTTL", "h", "FIELDS", 1, "f", "g"), "The `numfields` parameter must match the number of arguments"),
        (("HEXPIRE", "s", 100, "FIELDS", 1, "f"), WRONGTYPE),
        (("HTTL", "s", "FIELDS", 1, "f"), WRONGTYPE),
        (("HPERSIST", "s", "FIELDS", 1, "f"), WRONGTYPE),
    ]
    for args, text in cases:
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command(*args)
        assert str(e.value) == text, args
    assert r.httl("h", "f") == [-1], "nothing was changed"


def test_a_field_past_its_deadline_is_hidden_on_every_node_then_deleted_everywhere(hfe):
    leader = client(hfe.leader(), 3)
    small = {"a": "1", "b": "2", "c": "3"}
    big = {f"f{i}": str(i) for i in range(300)}     # past 128 fields: one record per field
    leader.hset("small", mapping=small)
    leader.hset("big", mapping=big)
    leader.hset("gone", "only", "x")
    expiring = [f"f{i}" for i in range(0, 300, 2)]
    deadline = _now_ms() + 1500
    assert leader.hpexpireat("small", deadline, "a") == [1]
    assert leader.hpexpireat("big", deadline, *expiring) == [1] * 150
    assert leader.hpexpireat("gone", deadline, "only") == [1]
    assert leader.hexpire("big", 1000, "f1") == [1], "a field with a later deadline stays"
    nodes = [linearizable(client(node, 3)) for node in hfe.alive_nodes()]
    for r in nodes:   # before the deadline every node sees every field
        assert r.hlen("big") == 300 and r.hget("small", "a") == b"1"
    _past(deadline, "the fields' deadline")
    live_small = {k.encode(): v.encode() for k, v in small.items() if k != "a"}
    live_big = {k.encode(): v.encode() for k, v in big.items() if k not in expiring}
    for r in [*nodes, *(client(node, 2) for node in hfe.alive_nodes())]:   # linearizable and local reads
        assert r.hgetall("small") == live_small and r.hlen("small") == 2
        assert r.hget("small", "a") is None and not r.hexists("small", "a") and r.hmget("small", "a") == [None]
        assert r.hgetall("big") == live_big and r.hlen("big") == 150
        assert sorted(r.hkeys("big")) == sorted(live_big) and len(r.hvals("big")) == 150
        assert dict(r.hscan_iter("big")) == live_big
        assert set(r.hrandfield("big", -400)) <= set(live_big)
        assert r.hget("big", "f0") is None and r.hexists("big", "f1")
        assert r.hgetall("gone") == {} and r.hlen("gone") == 0
        assert r.httl("small", "a") == [-2]
    for node in hfe.alive_nodes():   # the leader's active expiry deletes them on every replica
        r = client(node, 2)
        wait_until(lambda: r.exists("gone") == 0, 10, f"{node.id}: the emptied hash deleted")
    leader.hset("big", "f0", "new")    # a field that expired is absent: HSET adds it afresh
    assert leader.hget("big", "f0") == b"new" and leader.hlen("big") == 151 and leader.httl("big", "f0") == [-1]


def test_hash_field_events_on_a_follower(hfe, protocol):
    leader = client(hfe.leader(), protocol)
    follower = hfe.followers()[0]
    assert leader.config_set("notify-keyspace-events", "KEA")
    try:
        wait_until(lambda: client(follower, protocol).config_get("notify-keyspace-events")
                   ["notify-keyspace-events"] in ("AKE", b"AKE"), 10, "the setting on the follower")
        p = client(follower, protocol).pubsub()
        p.psubscribe("__keyevent@0__:*")
        wait_until(lambda: (m := p.get_message(timeout=0.5)) is not None and m["type"] == "psubscribe", 10,
                   "the psubscribe confirmation")
        leader.hset("h", mapping={"a": "1", "b": "2"})
        leader.hexpire("h", 100, "a", "b")
        leader.hpersist("h", "a")
        leader.hexpire("h", 0, "a")          # deleted at once: hdel
        leader.hpexpire("h", 200, "b")       # the last field: hexpired, then del
        want = [("hset", b"h"), ("hexpire", b"h"), ("hpersist", b"h"), ("hdel", b"h"), ("hexpire", b"h"),
                ("hexpired", b"h"), ("del", b"h")]
        got = []
        deadline_s = time.monotonic() + 15
        while len(got) < len(want) and time.monotonic() < deadline_s:
            m = p.get_message(timeout=0.5)
            if m is not None and m["type"] == "pmessage":
                got.append((m["channel"].split(b":", 1)[1].decode(), m["data"]))
        assert got == want
    finally:
        leader.config_set("notify-keyspace-events", "")


def test_watch_rename_copy_move_and_dump_with_field_ttls(hfe, protocol):
    r = client(hfe.leader(), protocol)
    other = client(hfe.leader(), protocol)
    r.hset("h", mapping={"a": "1", "b": "2"})
    with r.pipeline() as pipe:
        pipe.watch("h")
        other.hexpire("h", 100, "a")        # a change of the watched key, as in Redis
        pipe.multi()
        pipe.hget("h", "a")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    r.rename("h", "h2")
    assert 0 < r.httl("h2", "a")[0] <= 100 and r.httl("h2", "b") == [-1]
    assert r.copy("h2", "h3")
    assert 0 < r.httl("h3", "a")[0] <= 100
    assert r.move("h3", 1)
    r1 = client(hfe.leader(), protocol, db=1)
    assert 0 < r1.httl("h3", "a")[0] <= 100 and r1.hgetall("h3") == {b"a": b"1", b"b": b"2"}
    r1.flushdb()
    assert r.hpersist("h2", "a") == [1]
    assert r.dump("h2")[0] == 4, "no field TTL left: the plain RDB_TYPE_HASH every Redis 7 loads"


#: DUMP of a hash with field TTLs by a real Redis 7.4.1 (HASH_LISTPACK_EX, RDB version 12):
#: a -> 1 until 2100-01-01T00:00:00.000Z, c -> 3 until .123, b -> two without a TTL.
REDIS_74_HASH = bytes.fromhex("1900d8c32cbb0300002f2f00000009008161020101f400d8c32cbb030000098163020301f47bd8c32cbb"
                              "030000098162028374776f040001ff0c00d0843604636854da")
Y2100_MS = 4102444800000


def test_dump_and_restore_keep_field_ttls_as_redis_7_4(hfe, protocol):
    hfe.wait_log_version(commands.RESTORE_74_VERSION)
    r = client(hfe.leader(), protocol)
    assert r.restore("from74", 0, REDIS_74_HASH) in (True, b"OK")
    assert r.hpexpiretime("from74", "a", "b", "c") == [Y2100_MS, -1, Y2100_MS + 123]
    assert r.hgetall("from74") == {b"a": b"1", b"b": b"two", b"c": b"3"}
    # and back: DUMP writes Redis 7.4's HASH_METADATA (RDB version 12), which RESTORE reads
    r.hset("big", mapping={f"f{i}": f"v{i}" for i in range(300)})   # itemized, past 128 fields
    assert r.hexpire("big", 600, "f7", "f8") == [1, 1]
    deadlines = r.hpexpiretime("big", "f7", "f8", "f9")
    for key in ("from74", "big"):
        payload = r.dump(key)
        assert payload[0] == 24 and payload[-10:-8] == b"\x0c\x00"
        assert r.restore(key + "-copy", 0, payload) in (True, b"OK")
    assert r.hpexpiretime("from74-copy", "a", "b", "c") == [Y2100_MS, -1, Y2100_MS + 123]
    assert r.hpexpiretime("big-copy", "f7", "f8", "f9") == deadlines and deadlines[2] == -1
    assert r.hlen("big-copy") == 300
    # a field whose deadline passed is not restored; a hash left with none is not created
    soon = r.dump("from74")
    started = _now_ms()
    r.hpexpire("from74", 500, "b")
    r.hpexpire("big", 500, *[f"f{i}" for i in range(300)])
    payload, gone = r.dump("from74"), r.dump("big")
    _past(started + 500, "the fields' deadlines")
    assert r.dump("big") is None   # no field left: DUMP answers as for a missing key
    assert r.restore("partly", 0, payload) in (True, b"OK") and r.restore("none", 0, gone) in (True, b"OK")
    assert r.hgetall("partly") == {b"a": b"1", b"c": b"3"} and r.exists("none") == 0
    assert r.restore("partly", 0, soon, replace=True) in (True, b"OK") and r.hlen("partly") == 3
    for node in hfe.alive_nodes():   # every replica restored the same deadlines
        assert linearizable(client(node, protocol)).hpexpiretime("from74-copy", "a", "b", "c") == \
            [Y2100_MS, -1, Y2100_MS + 123]


def test_redis_py_built_in_client_side_cache_on_a_follower_is_invalidated_by_writes_through_another_node(hfe):
    leader, follower = hfe.leader(), hfe.followers()[0]
    writer = client(leader, 3)
    host, port = follower.redis_address
    cached = redis.Redis(host=host, port=port, protocol=3, cache_config=CacheConfig(), socket_timeout=10)
    assert cached.info("server")["redis_version"].startswith("7.4")
    writer.set("greeting", "v1")
    wait_until(lambda: cached.get("greeting") == b"v1", 10, "the follower to apply v1")
    assert cached.get("greeting") == b"v1"
    assert cached.get_cache().size >= 1, "redis-py cached the read"
    writer.set("greeting", "v2")
    wait_until(lambda: cached.get("greeting") == b"v2", 10, "the invalidation of the cached v1")
    writer.hset("profile", "name", "ann")
    wait_until(lambda: cached.hget("profile", "name") == b"ann", 10, "the follower to apply the hash")
    writer.hpexpire("profile", 300, "name")
    wait_until(lambda: cached.hget("profile", "name") is None, 10, "the field's expiry to invalidate the cache")
    cached.close()
