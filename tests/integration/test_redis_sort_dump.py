"""SORT / SORT_RO and DUMP / RESTORE against a real redis-server.

DUMP payloads move both ways between Redis (tests/real_redis.py) and
raftcache for every type Redis serializes compactly or plainly (small and
large: listpacks, intsets, quicklists, LZF strings), with their TTLs; the
values read back alike. SORT answers as Redis for the same data and options,
and SORT ... STORE stores what Redis stores.
"""

from __future__ import annotations

import pytest
import redis

from tests.integration.redis_helpers import client


def value_of(r: redis.Redis, key: str):
    kind = r.type(key)
    if kind == b"string":
        return kind, r.get(key)
    if kind == b"list":
        return kind, r.lrange(key, 0, -1)
    if kind == b"set":
        return kind, sorted(r.smembers(key))
    if kind == b"hash":
        return kind, sorted(r.hgetall(key).items())
    if kind == b"zset":
        return kind, r.zrange(key, 0, -1, withscores=True)
    return kind, None


def fill(r: redis.Redis) -> list[str]:
    """One key of each shape Redis encodes differently; returns their names."""
    r.set("s_short", "hello")
    r.set("s_int", 123456789)
    r.set("s_negint", -7)
    r.set("s_long", "abcdefgh" * 500)                       # LZF-compressed by Redis
    r.set("s_binary", bytes(range(256)) * 3)
    r.rpush("l_small", "a", 1, -300, 70000, 2**40, "x" * 100)  # listpack ints of every width
    r.rpush("l_large", *[f"element-{i}" for i in range(1000)])
    r.rpush("l_bigitems", *["y" * 9000, "z"])               # plain quicklist nodes in Redis 7
    r.sadd("set_ints", 1, 2, 300, -70000)                    # intset
    r.sadd("set_small", "a", "b", "c")
    r.sadd("set_large", *[f"m{i}" for i in range(600)])
    r.hset("h_small", mapping={"f1": "v1", "f2": 2, "f3": "v" * 50})
    r.hset("h_large", mapping={f"field{i}": f"value{i}" for i in range(700)})
    r.zadd("z_small", {"a": 1, "b": 2.5, "c": -3.25, "d": float("inf")})
    r.zadd("z_large", {f"m{i}": i / 7 for i in range(500)})
    return ["s_short", "s_int", "s_negint", "s_long", "s_binary", "l_small", "l_large", "l_bigitems", "set_ints",
            "set_small", "set_large", "h_small", "h_large", "z_small", "z_large"]


def test_dump_on_redis_restores_on_raftcache(cluster, real_redis):
    rc = client(cluster.leader(), 2)
    for key in fill(real_redis):
        payload = real_redis.dump(key)
        assert rc.restore(key, 0, payload) in (True, b"OK"), key
        assert value_of(rc, key) == value_of(real_redis, key), key


def test_dump_on_raftcache_restores_on_redis(cluster, real_redis):
    rc = client(cluster.leader(), 2)
    keys = fill(rc)
    for key in keys:
        payload = rc.dump(key)
        assert real_redis.restore(key, 0, payload) in (True, b"OK"), key
        assert value_of(real_redis, key) == value_of(rc, key), key
        assert rc.restore(key + "_again", 0, payload) in (True, b"OK")  # and back into raftcache
        assert value_of(rc, key + "_again") == value_of(rc, key)


def test_restore_options_and_errors_as_redis(cluster, real_redis):
    rc = client(cluster.leader(), 2)
    for r in (real_redis, rc):
        r.set("src", "v")
    payload = real_redis.dump("src")
    steps = [
        ("RESTORE", "k", 0, payload), ("RESTORE", "k", 0, payload), ("RESTORE", "k", 0, payload, "REPLACE"),
        ("RESTORE", "t", 100000, payload), ("RESTORE", "gone", 1000, payload, "ABSTTL"), ("EXISTS", "gone"),
        ("RESTORE", "i", 0, payload, "IDLETIME", 10), ("RESTORE", "f", 0, payload, "FREQ", 5),
        ("RESTORE", "x", 0, payload, "IDLETIME", 1, "FREQ", 2), ("RESTORE", "x", 0, payload, "FREQ", 300),
        ("RESTORE", "x", 0, payload, "IDLETIME", -1), ("RESTORE", "x", -1, payload), ("RESTORE", "x", "a", payload),
        ("RESTORE", "x", 0, payload, "BOGUS"), ("RESTORE", "x", 0, b"short"),
        ("RESTORE", "x", 0, payload[:-1] + bytes([payload[-1] ^ 1])), ("RESTORE", "x", 0, b"\x00\xff" + payload[2:]),
        ("DUMP", "nosuchkey"),
    ]
    replies = []
    for r in (real_redis, rc):
        seen = []
        for step in steps:
            try:
                seen.append(r.execute_command(*step))
            except redis.ResponseError as e:
                seen.append(("error", str(e)))
        replies.append(seen)
    assert replies[1] == replies[0]
    assert 0 < rc.pttl("t") <= 100000


def test_restore_keeps_an_absolute_ttl_and_dump_of_a_stream_is_refused(cluster):
    rc = client(cluster.leader(), 2)
    rc.set("s", "v")
    payload = rc.dump("s")
    deadline_ms = int(rc.time()[0]) * 1000 + 3_600_000
    assert rc.restore("k", deadline_ms, payload, absttl=True) in (True, b"OK")
    assert abs(rc.pexpiretime("k") - deadline_ms) <= 1
    rc.xadd("stream", {"f": "v"})
    with pytest.raises(redis.ResponseError, match="not supported"):
        rc.dump("stream")


SORT_DATA = [
    ("RPUSH", "nums", 3, 10, 1, 2.5, -4, 10), ("SADD", "tags", "b", "a", "c", "10"), ("RPUSH", "words", "b", "a", "B"),
    ("ZADD", "z", 3, "x", 1, "y", 2, "w"),
    ("MSET", "w_3", 30, "w_10", 5, "w_1", 20, "w_2.5", 1, "w_-4", 0),
    ("HSET", "obj_x", "age", 40, "name", "ex"), ("HSET", "obj_y", "age", 7, "name", "why"),
    ("HSET", "obj_w", "name", "double-u"), ("SET", "str", "s"),
]
SORTS = [
    ("SORT", "nums"), ("SORT", "nums", "DESC"), ("SORT", "nums", "LIMIT", 1, 3), ("SORT", "nums", "LIMIT", 10, 3),
    ("SORT", "nums", "LIMIT", -1, -1), ("SORT", "nums", "BY", "w_*"), ("SORT", "nums", "BY", "w_*", "DESC"),
    ("SORT", "nums", "BY", "nosort"), ("SORT", "nums", "BY", "w_*", "GET", "#", "GET", "w_*"),
    ("SORT", "tags", "ALPHA"), ("SORT", "tags"), ("SORT", "words", "ALPHA", "DESC"),
    ("SORT", "z", "BY", "nosort"), ("SORT", "z", "BY", "nosort", "DESC", "LIMIT", 0, 2),
    ("SORT", "z", "BY", "obj_*->age"), ("SORT", "z", "BY", "obj_*->name", "ALPHA"),
    ("SORT", "z", "ALPHA", "GET", "obj_*->name", "GET", "obj_*->age", "GET", "#"),
    ("SORT_RO", "nums", "DESC"), ("SORT_RO", "nums", "STORE", "d"), ("SORT", "str"), ("SORT", "nums", "BOGUS"),
    ("SORT", "nums", "LIMIT", "a", 1), ("SORT", "missing"),
    ("SORT", "nums", "BY", "w_*", "STORE", "stored"), ("LRANGE", "stored", 0, -1),
    ("SORT", "z", "ALPHA", "GET", "obj_*->age", "STORE", "stored2"), ("LRANGE", "stored2", 0, -1),
    ("SORT", "missing", "STORE", "stored"), ("EXISTS", "stored"),
]


def test_sort_as_redis(cluster, real_redis):
    rc = client(cluster.leader(), 2)
    replies = []
    for r in (real_redis, rc):
        for step in SORT_DATA:
            r.execute_command(*step)
        seen = []
        for step in SORTS:
            try:
                seen.append((step, r.execute_command(*step)))
            except redis.ResponseError as e:
                seen.append((step, ("error", str(e))))
        replies.append(seen)
    for (step, expected), (_, got) in zip(*replies):
        assert got == expected, step


def test_restore_and_sort_store_inside_multi_as_redis(cluster, real_redis):
    rc = client(cluster.leader(), 2)
    replies = []
    for r in (real_redis, rc):
        r.rpush("l", 3, 1, 2)
        payload = r.dump("l")
        pipe = r.pipeline(transaction=True)
        pipe.restore("copy", 0, payload)
        pipe.restore("l", 0, payload)  # BUSYKEY, in its place
        pipe.execute_command("SORT", "copy", "DESC", "STORE", "sorted")
        pipe.execute_command("SORT_RO", "sorted", "LIMIT", 0, 2)
        pipe.lrange("sorted", 0, -1)
        replies.append([str(x) if isinstance(x, Exception) else x
                        for x in pipe.execute(raise_on_error=False)])
    assert replies[1] == replies[0]
    assert replies[0][2] == 3


def test_sort_patterns_need_access_to_every_key_as_redis(cluster, real_redis):
    """A user limited to some keys may SORT them, but not with BY/GET patterns (they read
    keys the command does not name): Redis 7's rule and error texts."""
    rc = client(cluster.leader(), 2)
    replies = []
    for r in (real_redis, rc):
        r.rpush("app:l", 2, 1)
        r.execute_command("ACL", "SETUSER", "sorter", "on", ">pw", "~app:*", "+@all")
        port = r.connection_pool.connection_kwargs["port"]
        limited = redis.Redis(host="127.0.0.1", port=port, username="sorter", password="pw")
        seen = []
        for step in (("SORT", "app:l"), ("SORT", "app:l", "BY", "w_*"), ("SORT", "app:l", "BY", "nosort"),
                     ("SORT_RO", "app:l", "GET", "#")):
            try:
                seen.append(limited.execute_command(*step))
            except redis.ResponseError as e:
                seen.append(("error", str(e)))
        limited.close()
        r.execute_command("ACL", "DELUSER", "sorter")
        replies.append(seen)
    assert replies[1] == replies[0]
    assert replies[0][1] == ("error", "BY option of SORT denied due to insufficient ACL permissions.")
