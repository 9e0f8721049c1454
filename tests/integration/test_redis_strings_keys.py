"""Strings and generic key commands through redis-py, RESP2 and RESP3, against real nodes.

Every string command (SET and its options, GET, GETDEL, GETEX, counters,
APPEND, ranges, MSET/MSETNX/MGET, SETNX/SETEX/PSETEX/GETSET) and key command
(DEL, UNLINK, EXISTS, TYPE, RENAME(NX), KEYS, SCAN, RANDOMKEY, the EXPIRE
family, PERSIST, TTL/PTTL, COPY, OBJECT), with Redis 7's replies and error
texts, WRONGTYPE and arity errors, expiry making keys invisible, and writes
through a follower reaching every replica. Expected values were checked
against redis-server 7 (see redis_helpers.py to run them against one).
"""

from __future__ import annotations

import time

import pytest
import redis

from raftcache.localcluster import wait_until
from tests.integration.redis_helpers import (
    NOT_INTEGER,
    WRONGTYPE,
    assert_arity_errors,
    assert_wrongtype,
    client,
    error,
    leader_and_follower,
    linearizable,
    replica_clients,
    same_on_every_node,
)

INVALID_EXPIRE = "invalid expire time in '{}' command"
NOT_FLOAT = "value is not a valid float"


def test_set_and_its_options(r):
    assert r.set("k", "v") is True and r.get("k") == b"v"
    assert r.set("k", "x", nx=True) is None and r.get("k") == b"v"
    assert r.set("k", "x", xx=True) is True and r.get("k") == b"x"
    assert r.set("absent", "x", xx=True) is None and r.exists("absent") == 0
    assert r.set("k", "y", get=True) == b"x" and r.get("k") == b"y"
    assert r.set("new", "v", get=True) is None and r.get("new") == b"v"
    assert r.set("k", "z", nx=True, get=True) == b"y" and r.get("k") == b"y"  # NX+GET: old value, no write
    assert r.set("fresh", "v", nx=True, get=True) is None and r.get("fresh") == b"v"

    assert r.set("k", "v", ex=100) and 90 <= r.ttl("k") <= 100
    assert r.set("k", "v2", keepttl=True) and 90 <= r.ttl("k") <= 100 and r.get("k") == b"v2"
    assert r.set("k", "v3") and r.ttl("k") == -1  # a plain SET drops the TTL
    assert r.set("k", "v", px=100_000) and 90_000 < r.pttl("k") <= 100_000
    now_s = int(time.time())
    assert r.set("k", "v", exat=now_s + 1000) and 980 <= r.ttl("k") <= 1000
    assert r.set("k", "v", pxat=(now_s + 1000) * 1000) and 980 <= r.ttl("k") <= 1000
    assert r.set("k", "v", exat=1) and r.exists("k") == 0  # a deadline in the past: written, then gone

    assert error(r, "SET", "k", "v", "EX", "0") == INVALID_EXPIRE.format("set")
    assert error(r, "SET", "k", "v", "PX", "-1") == INVALID_EXPIRE.format("set")
    assert error(r, "SET", "k", "v", "EX", "9223372036854775") == INVALID_EXPIRE.format("set")
    assert error(r, "SET", "k", "v", "PX", "9223372036854775807") == INVALID_EXPIRE.format("set")
    assert error(r, "SET", "k", "v", "EX", "ten") == NOT_INTEGER
    for args in (["NX", "XX"], ["EX", "10", "PX", "100"], ["KEEPTTL", "EX", "10"], ["EX"], ["FOO"]):
        assert error(r, "SET", "k", "v", *args) == "syntax error", args

    r.rpush("list", "a")
    assert error(r, "SET", "list", "v", "GET") == WRONGTYPE
    assert r.set("list", "v") is True and r.type("list") == b"string"  # SET overwrites any type


def test_setnx_setex_psetex_getset(r):
    assert r.setnx("k", "1") is True and r.setnx("k", "2") is False and r.get("k") == b"1"
    assert r.execute_command("SETEX", "k", 100, "v") is True and 90 <= r.ttl("k") <= 100 and r.get("k") == b"v"
    assert r.execute_command("PSETEX", "k", 100_000, "w") is True and 90_000 < r.pttl("k") <= 100_000
    for name, ttl in (("setex", "0"), ("setex", "-5"), ("psetex", "0"), ("setex", "9223372036854775"),
                      ("psetex", "9223372036854775807")):
        assert error(r, name.upper(), "k", ttl, "v") == INVALID_EXPIRE.format(name)
    assert error(r, "SETEX", "k", "abc", "v") == NOT_INTEGER
    assert r.getset("k", "new") == b"w" and r.ttl("k") == -1  # GETSET drops the TTL
    assert r.getset("other", "x") is None and r.get("other") == b"x"
    r.hset("h", "f", "v")
    assert error(r, "GETSET", "h", "x") == WRONGTYPE


def test_get_getdel_getex(r):
    assert r.get("missing") is None
    r.set("k", "v")
    assert r.getdel("k") == b"v" and r.exists("k") == 0 and r.getdel("k") is None

    r.set("k", "v")
    assert r.getex("k", ex=100) == b"v" and 90 <= r.ttl("k") <= 100
    assert r.getex("k", persist=True) == b"v" and r.ttl("k") == -1
    assert r.getex("k", px=50_000) == b"v" and 40_000 < r.pttl("k") <= 50_000
    assert r.getex("k", exat=int(time.time()) + 500) == b"v" and 480 <= r.ttl("k") <= 500
    assert r.getex("k", pxat=(int(time.time()) + 600) * 1000) == b"v" and 580 <= r.ttl("k") <= 600
    assert r.getex("k") == b"v" and 580 <= r.ttl("k") <= 600  # no option: TTL untouched
    assert r.getex("missing", ex=10) is None and r.exists("missing") == 0
    assert error(r, "GETEX", "k", "EX", "0") == INVALID_EXPIRE.format("getex")
    assert error(r, "GETEX", "k", "PX", "9223372036854775807") == INVALID_EXPIRE.format("getex")
    for args in (["EX", "10", "PX", "10"], ["KEEPTTL"], ["FOO"], ["PERSIST", "EX", "10"]):
        assert error(r, "GETEX", "k", *args) == "syntax error", args

    r.hset("h", "f", "v")
    assert_wrongtype(r, [["GET", "h"], ["GETDEL", "h"], ["GETEX", "h"]])
    assert r.exists("h") == 1  # GETDEL of the wrong type deletes nothing


def test_integer_counters(r):
    assert r.incr("n") == 1 and r.incr("n") == 2 and r.decr("n") == 1
    assert r.incrby("n", 10) == 11 and r.decrby("n", 3) == 8 and r.incrby("n", -8) == 0
    assert r.get("n") == b"0"
    r.set("n", "5", ex=100)
    assert r.incr("n") == 6 and 90 <= r.ttl("n") <= 100  # counters keep the TTL
    assert error(r, "INCRBY", "n", "abc") == NOT_INTEGER
    assert error(r, "INCRBY", "n", "1.5") == NOT_INTEGER
    for text in ("abc", " 1", "01", "1.0", "+1", ""):
        r.set("s", text)
        assert error(r, "INCR", "s") == NOT_INTEGER, text
    r.set("max", str(2**63 - 1))
    assert error(r, "INCR", "max") == "increment or decrement would overflow"
    r.set("min", str(-(2**63)))
    assert error(r, "DECR", "min") == "increment or decrement would overflow"
    assert error(r, "DECRBY", "n", str(-(2**63))) == "decrement would overflow"
    assert r.get("max") == str(2**63 - 1).encode()


def test_incrbyfloat(r):
    assert r.incrbyfloat("f", 10.5) == 10.5 and r.incrbyfloat("f", 0.1) == 10.6
    assert r.get("f") == b"10.6"
    for _ in range(2):
        r.incrbyfloat("tenths", 0.1)
    assert r.incrbyfloat("tenths", 0.1) == 0.3 and r.get("tenths") == b"0.3"  # not 0.30000000000000004
    assert r.incrbyfloat("f", -5) == 5.6
    r.set("e", "5.0e3")
    assert r.incrbyfloat("e", 0) == 5000 and r.get("e") == b"5000"
    r.set("big", "1e10")
    assert r.incrbyfloat("big", 1) == 10000000001 and r.get("big") == b"10000000001"
    r.set("n", "3", px=100_000)
    assert r.incrbyfloat("n", 1.5) == 4.5 and r.pttl("n") > 0

    assert error(r, "INCRBYFLOAT", "f", "abc") == NOT_FLOAT
    assert error(r, "INCRBYFLOAT", "f", "nan") == NOT_FLOAT
    assert error(r, "INCRBYFLOAT", "f", "1_0") == NOT_FLOAT
    assert error(r, "INCRBYFLOAT", "f", "inf") == "increment would produce NaN or Infinity"
    for text in ("abc", "1_0", " 1", "nan", "1e9999999", ""):
        r.set("s", text)
        assert error(r, "INCRBYFLOAT", "s", "1") == NOT_FLOAT, text
    r.set("s", "inf")
    assert error(r, "INCRBYFLOAT", "s", "1") == "increment would produce NaN or Infinity"
    assert r.get("f") == b"5.6" and r.get("s") == b"inf"
    r.hset("h", "f", "1")
    assert error(r, "INCRBYFLOAT", "h", "1") == WRONGTYPE


def test_append_strlen_getrange_setrange(r):
    assert r.append("a", "Hello") == 5 and r.append("a", " World") == 11 and r.get("a") == b"Hello World"
    assert r.strlen("a") == 11 and r.strlen("missing") == 0
    assert r.getrange("a", 0, 4) == b"Hello"
    assert r.getrange("a", -5, -1) == b"World"
    assert r.getrange("a", 0, -1) == b"Hello World"
    assert r.getrange("a", 5, 2) == b"" and r.getrange("a", -1, -5) == b""
    assert r.getrange("a", -100, 100) == b"Hello World"
    assert r.getrange("a", 100, 200) == b"" and r.getrange("missing", 0, -1) == b""
    assert r.execute_command("SUBSTR", "a", 0, 2) == b"Hel"
    assert error(r, "GETRANGE", "a", "0", "x") == NOT_INTEGER

    assert r.setrange("a", 6, "Redis") == 11 and r.get("a") == b"Hello Redis"
    assert r.setrange("pad", 5, "x") == 6 and r.get("pad") == b"\x00\x00\x00\x00\x00x"
    assert r.setrange("pad", 1000, "y") == 1001 and r.strlen("pad") == 1001
    assert r.setrange("empty", 10, "") == 0 and r.exists("empty") == 0  # nothing to write: no key
    assert r.setrange("a", 100, "") == 11 and r.strlen("a") == 11
    assert error(r, "SETRANGE", "a", "-1", "x") == "offset is out of range"
    # Redis adds " (proto-max-bulk-len)"; see the report of node/commands/__init__.py's check.
    assert error(r, "SETRANGE", "a", str(512 * 1024 * 1024), "x").startswith("string exceeds maximum allowed size")
    r.set("t", "v", ex=100)
    assert r.append("t", "w") == 2 and r.setrange("t", 0, "x") == 2 and 90 <= r.ttl("t") <= 100

    r.rpush("l", "a")
    assert_wrongtype(r, [["APPEND", "l", "x"], ["STRLEN", "l"], ["GETRANGE", "l", "0", "1"],
                         ["SETRANGE", "l", "0", "x"]])


def test_mset_msetnx_mget(r):
    assert r.mset({"a": "1", "b": "2"}) is True
    r.rpush("l", "x")
    assert r.mget("a", "b", "missing", "l") == [b"1", b"2", None, None]  # wrong type reads as nil
    assert r.msetnx({"a": "x", "c": "y"}) is False and r.exists("c") == 0 and r.get("a") == b"1"
    assert r.msetnx({"c": "x", "d": "y"}) is True and r.mget("c", "d") == [b"x", b"y"]
    r.set("t", "v", ex=100)
    assert r.mset({"t": "w"}) and r.ttl("t") == -1
    assert error(r, "MSET", "a", "1", "b") == "wrong number of arguments for 'mset' command"
    assert error(r, "MSETNX", "a") == "wrong number of arguments for 'msetnx' command"


def test_string_arity_and_wrongtype(r):
    assert_arity_errors(r, [
        ["GET"], ["SET", "k"], ["SETNX", "k"], ["SETEX", "k", "1"], ["PSETEX", "k", "1"], ["GETSET", "k"],
        ["GETDEL"], ["GETEX"], ["INCR"], ["DECR"], ["INCRBY", "k"], ["DECRBY", "k"], ["INCRBYFLOAT", "k"],
        ["APPEND", "k"], ["STRLEN"], ["GETRANGE", "k", "0"], ["SETRANGE", "k", "0"], ["MSET"], ["MSET", "k"],
        ["MSETNX", "k"], ["MGET"], ["GET", "a", "b"], ["INCR", "a", "b"],
    ])
    r.sadd("s", "m")
    assert_wrongtype(r, [["INCR", "s"], ["DECR", "s"], ["INCRBY", "s", "1"], ["DECRBY", "s", "1"],
                         ["INCRBYFLOAT", "s", "1"], ["GETEX", "s", "PERSIST"], ["SET", "s", "v", "GET"]])
    assert r.smembers("s") == {b"m"}


def test_del_unlink_exists_type(r):
    r.mset({"a": "1", "b": "2", "c": "3"})
    assert r.delete("a", "b", "missing") == 2 and r.unlink("c", "missing") == 1
    r.set("s", "v")
    assert r.exists("s", "s", "missing") == 2  # a key named twice counts twice
    r.rpush("l", "x")
    r.hset("h", "f", "v")
    r.sadd("st", "m")
    r.zadd("z", {"m": 1})
    assert [r.type(k) for k in ("s", "l", "h", "st", "z", "missing")] == \
        [b"string", b"list", b"hash", b"set", b"zset", b"none"]
    assert r.delete("s", "l", "h", "st", "z") == 5 and r.dbsize() == 0
    assert_arity_errors(r, [["DEL"], ["UNLINK"], ["EXISTS"], ["TYPE"], ["TYPE", "a", "b"]])


def test_rename_renamenx(r):
    r.set("s", "v", ex=100)
    assert r.rename("s", "s2") is True and r.get("s2") == b"v" and r.exists("s") == 0
    assert 90 <= r.ttl("s2") <= 100  # the TTL moves with the value
    assert error(r, "RENAME", "missing", "x") == "no such key"
    assert error(r, "RENAMENX", "missing", "x") == "no such key"
    assert r.rename("s2", "s2") is True and r.get("s2") == b"v"
    r.rpush("l", "a", "b")
    assert r.renamenx("s2", "l") is False and r.get("s2") == b"v"
    assert r.renamenx("s2", "s3") is True and r.exists("s2") == 0
    assert r.rename("l", "s3") is True and r.type("s3") == b"list"  # RENAME overwrites any type
    assert r.lrange("s3", 0, -1) == [b"a", b"b"] and r.ttl("s3") == -1
    assert_arity_errors(r, [["RENAME", "a"], ["RENAMENX", "a"], ["RENAME", "a", "b", "c"]])


def test_keys_scan_randomkey(r):
    assert r.randomkey() is None and r.keys("*") == []
    r.mset({"s1": "1", "s2": "2", "sx": "3", "other": "4"})
    r.rpush("list1", "a")
    r.hset("hash1", "f", "v")
    assert sorted(r.keys("*")) == [b"hash1", b"list1", b"other", b"s1", b"s2", b"sx"]
    assert sorted(r.keys("s?")) == [b"s1", b"s2", b"sx"]
    assert sorted(r.keys("s[0-9]")) == [b"s1", b"s2"]
    assert sorted(r.keys("*1")) == [b"hash1", b"list1", b"s1"]
    assert r.keys("nomatch*") == []
    assert r.randomkey() in {b"hash1", b"list1", b"other", b"s1", b"s2", b"sx"}

    assert sorted(r.scan_iter(count=2)) == [b"hash1", b"list1", b"other", b"s1", b"s2", b"sx"]
    assert sorted(r.scan_iter(match="s*", count=1)) == [b"s1", b"s2", b"sx"]
    assert list(r.scan_iter(_type="list")) == [b"list1"]
    assert list(r.scan_iter(_type="HASH")) == [b"hash1"]
    assert sorted(r.scan_iter(match="*1", _type="string", count=100)) == [b"s1"]
    assert list(r.scan_iter(_type="nosuchtype")) == []
    cursor, keys = r.scan(0, count=1000)
    assert cursor == 0 and len(keys) == 6
    assert error(r, "SCAN", "0", "COUNT", "0") == "syntax error"
    assert error(r, "SCAN", "0", "COUNT", "abc") == NOT_INTEGER
    assert error(r, "SCAN", "0", "MATCH") == "syntax error"
    assert error(r, "SCAN", "abc") == "invalid cursor"
    assert_arity_errors(r, [["KEYS"], ["SCAN"], ["RANDOMKEY", "x"]])


def test_expire_family_and_ttl(r):
    assert r.ttl("missing") == -2 and r.pttl("missing") == -2
    r.set("k", "v")
    assert r.ttl("k") == -1 and r.pttl("k") == -1
    assert r.expire("k", 100) is True and 90 <= r.ttl("k") <= 100
    assert r.expire("k", 50, nx=True) is False and r.ttl("k") > 50
    assert r.expire("k", 200, xx=True) is True and 190 <= r.ttl("k") <= 200
    assert r.expire("k", 100, gt=True) is False and r.expire("k", 300, gt=True) is True
    assert r.expire("k", 400, lt=True) is False and r.expire("k", 10, lt=True) is True
    assert 0 < r.ttl("k") <= 10
    assert r.expire("k", 20, xx=True, gt=True) is True and 10 < r.ttl("k") <= 20
    assert r.expire("missing", 10) is False

    r.set("p", "v")
    assert r.expire("p", 100, xx=True) is False and r.expire("p", 100, gt=True) is False  # no TTL = infinite
    assert r.expire("p", 100, lt=True) is True and r.persist("p") is True and r.persist("p") is False
    assert r.persist("missing") is False and r.ttl("p") == -1
    assert r.expire("p", 100, nx=True) is True
    assert r.pexpire("p", 100_000, xx=True) is True and 90_000 < r.pttl("p") <= 100_000
    assert r.expireat("p", int(time.time()) + 1000) is True and 980 <= r.ttl("p") <= 1000
    assert r.pexpireat("p", (int(time.time()) + 2000) * 1000) is True and 1980 <= r.ttl("p") <= 2000
    assert r.pexpireat("p", (int(time.time()) + 10) * 1000, nx=True) is False

    for zero in (["EXPIRE", "0"], ["EXPIRE", "-1"], ["PEXPIREAT", "1"], ["EXPIREAT", "1"], ["PEXPIRE", "-100"]):
        r.set("gone", "v")
        assert r.execute_command(zero[0], "gone", zero[1]) == 1 and r.exists("gone") == 0, zero

    assert error(r, "EXPIRE", "k", "10", "NX", "XX") == \
        "NX and XX, GT or LT options at the same time are not compatible"
    assert error(r, "EXPIRE", "k", "10", "GT", "LT") == "GT and LT options at the same time are not compatible"
    assert error(r, "EXPIRE", "k", "10", "FOO") == "Unsupported option FOO"
    assert error(r, "EXPIRE", "k", "abc") == NOT_INTEGER
    assert error(r, "EXPIRE", "k", "9223372036854775") == INVALID_EXPIRE.format("expire")
    assert error(r, "PEXPIRE", "k", "9223372036854775807") == INVALID_EXPIRE.format("pexpire")
    assert error(r, "EXPIRE", "k", "9223372036854775807") == INVALID_EXPIRE.format("expire")
    assert 0 < r.ttl("k") <= 20  # the refused commands changed nothing
    assert_arity_errors(r, [["EXPIRE", "k"], ["PEXPIRE", "k"], ["EXPIREAT", "k"], ["PEXPIREAT", "k"],
                            ["PERSIST"], ["TTL"], ["PTTL"], ["TTL", "a", "b"], ["EXPIRETIME"],
                            ["PEXPIRETIME", "a", "b"]])


def test_expiretime_pexpiretime_touch(r):
    """Redis 7.0's absolute-deadline readers, and TOUCH (EXISTS here: there is no LRU clock)."""
    deadline_ms = (int(time.time()) + 1000) * 1000 + 123
    r.set("k", "v")
    r.set("plain", "v")
    assert r.pexpireat("k", deadline_ms) is True
    assert r.pexpiretime("k") == deadline_ms and r.expiretime("k") == (deadline_ms + 500) // 1000
    assert r.expiretime("plain") == -1 and r.pexpiretime("plain") == -1
    assert r.expiretime("missing") == -2 and r.pexpiretime("missing") == -2
    r.hset("h", "f", "v")
    assert r.expire("h", 100) is True and 0 < r.expiretime("h") - time.time() <= 101  # any type
    assert r.touch("k", "plain", "k", "missing") == 3  # a key named twice counts twice, as EXISTS
    assert r.pexpiretime("k") == deadline_ms  # TOUCH changed nothing
    assert_arity_errors(r, [["TOUCH"]])


def test_expiry_makes_keys_invisible(cluster, protocol, r):
    assert r.set("short", "v", px=200) is True
    r.hset("h", mapping={"f": "v"})
    assert r.pexpire("h", 200) is True  # 1: the hash existed when its TTL was set
    r.set("stays", "v")
    wait_until(lambda: r.exists("short", "h") == 0, 10, "the keys to expire")
    assert same_on_every_node(cluster, protocol, lambda c: (c.exists("short", "h"), c.get("short"))) == (0, None)
    assert r.get("short") is None and r.hgetall("h") == {} and r.type("h") == b"none"
    assert r.ttl("short") == -2 and r.pttl("h") == -2
    assert r.keys("*") == [b"stays"] and list(r.scan_iter()) == [b"stays"]
    assert r.randomkey() == b"stays"
    assert r.incr("short") == 1 and r.ttl("short") == -1  # an expired key counts as absent
    assert r.set("h", "new", nx=True) is True
    assert same_on_every_node(cluster, protocol, lambda c: sorted(c.keys("*"))) == [b"h", b"short", b"stays"]


def test_copy_and_object(r):
    r.set("c1", "v", ex=100)
    assert r.copy("c1", "c2") is True and r.get("c2") == b"v" and 90 <= r.ttl("c2") <= 100
    assert r.copy("c1", "c2") is False
    r.set("c1", "w")
    assert r.copy("c1", "c2", replace=True) is True and r.get("c2") == b"w" and r.ttl("c2") == -1
    assert r.copy("missing", "c3") is False and r.exists("c3") == 0
    assert error(r, "COPY", "c1", "c1") == "source and destination objects are the same"
    assert r.copy("c1", "c1", destination_db=1) is True
    assert r.copy("c1", "c9", destination_db=2) is True and r.exists("c9") == 0
    r.execute_command("SELECT", 2)
    assert r.get("c9") == b"w"
    r.execute_command("SELECT", 0)
    assert error(r, "COPY", "c1", "c9", "DB", "16") == "DB index is out of range"
    assert error(r, "COPY", "c1", "c9", "DB", "abc") == NOT_INTEGER
    assert error(r, "COPY", "c1", "c9", "FOO") == "syntax error"
    r.rpush("l", "a", "b")
    assert r.copy("l", "l2") and r.lrange("l2", 0, -1) == [b"a", b"b"]
    r.rpush("l2", "c")
    assert r.lrange("l", 0, -1) == [b"a", b"b"]  # a copy, not a shared value

    # OBJECT ENCODING names the stored layout as Redis 7.2 would: compact (one record) for
    # small values, hashtable/quicklist/skiplist once a container is stored one record per
    # element (docs/redis-compat.md).
    r.set("int", "12345")
    r.set("short", "x" * 44)
    r.rpush("smalllist", "a")
    r.hset("smallhash", "f", "v")
    r.sadd("intset", 1, 2, 3)
    r.sadd("smallset", "a", 1)
    r.zadd("smallzset", {"a": 1})
    assert [r.object("encoding", k) for k in ("int", "short", "smalllist", "smallhash", "intset", "smallset",
                                              "smallzset")] == \
        [b"int", b"embstr", b"listpack", b"listpack", b"intset", b"listpack", b"listpack"]
    r.set("long", "x" * 100)
    r.rpush("biglist", *range(600))
    r.hset("bighash", mapping={f"f{i}": i for i in range(600)})
    r.sadd("bigset", *(f"m{i}" for i in range(600)))
    r.zadd("bigzset", {f"m{i}": i for i in range(600)})
    assert [r.object("encoding", k) for k in ("long", "biglist", "bighash", "bigset", "bigzset")] == \
        [b"raw", b"quicklist", b"hashtable", b"hashtable", b"skiplist"]
    assert r.object("encoding", "missing") is None
    assert error(r, "OBJECT", "FREQ", "long").startswith("An LFU maxmemory policy is not selected")
    assert_arity_errors(r, [["COPY", "a"], ["OBJECT"]])


def test_writes_through_a_follower_reach_every_node(cluster, protocol):
    _, follower = leader_and_follower(cluster)
    f = linearizable(client(follower, protocol))
    assert f.set("k", "v", ex=1000) is True and f.get("k") == b"v"
    assert f.append("k", "w") == 2 and f.setrange("k", 0, "V") == 2
    assert f.incr("n") == 1 and f.incrbyfloat("n", 0.5) == 1.5
    assert f.mset({"a": "1", "b": "2"}) and f.rename("a", "c") and f.copy("c", "d")
    assert f.expire("d", 500) is True and f.getdel("b") == b"2"
    expected = [b"Vw", b"1.5", None, b"1", b"1", None]
    assert same_on_every_node(cluster, protocol, lambda c: c.mget("k", "n", "a", "c", "d", "b")) == expected
    assert same_on_every_node(cluster, protocol, lambda c: sorted(c.keys("*"))) == [b"c", b"d", b"k", b"n"]
    ttls = [c.ttl("d") for c in replica_clients(cluster, protocol)]
    assert all(480 <= t <= 500 for t in ttls), ttls
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        f.lpush("k", "x")
