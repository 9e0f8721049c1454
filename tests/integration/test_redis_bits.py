"""Bit commands and LCS through redis-py, RESP2 and RESP3, against real nodes.

SETBIT, GETBIT, BITCOUNT (BYTE|BIT), BITPOS (with Redis's bit-0 edge cases),
BITOP AND|OR|XOR|NOT, BITFIELD/BITFIELD_RO (GET/SET/INCRBY, OVERFLOW,
"#n" offsets) and LCS (LEN, IDX, MINMATCHLEN, WITHMATCHLEN), with Redis's
replies and error texts, WRONGTYPE and arity errors, TTLs kept or dropped as
Redis does, and writes through a follower reaching every replica. Expected
values were checked against redis-server 7 (see redis_helpers.py); the few
that changed in Redis 7.2 (errors for bad BITCOUNT/BITPOS arguments on a
missing key) are skipped when comparing with an older server.
"""

from __future__ import annotations

import pytest

from raftcache.localcluster import wait_until
from tests.integration.redis_helpers import (
    COMPARING_WITH_REDIS,
    NOT_INTEGER,
    WRONGTYPE,
    assert_arity_errors,
    assert_wrongtype,
    client,
    error,
    leader_and_follower,
    linearizable,
    raw,
    same_on_every_node,
)

BIT_OFFSET = "bit offset is not an integer or out of range"
SYNTAX = "syntax error"


def test_setbit_getbit(r):
    assert r.setbit("k", 7, 1) == 0 and r.get("k") == b"\x01"
    assert r.setbit("k", 7, 1) == 1 and r.setbit("k", 7, 0) == 1
    assert r.setbit("k", 100, 1) == 0 and r.strlen("k") == 13
    assert r.getbit("k", 100) == 1 and r.getbit("k", 101) == 0 and r.getbit("k", 10_000) == 0
    assert r.getbit("missing", 0) == 0
    r.delete("k")
    for bad in ("-1", "4294967296", "abc", "1.5"):
        assert error(r, "SETBIT", "k", bad, 1) == BIT_OFFSET
        assert error(r, "GETBIT", "k", bad) == BIT_OFFSET
    for bad in ("2", "-1", "x"):
        assert error(r, "SETBIT", "k", 0, bad) == "bit is not an integer or out of range"
    assert r.exists("k") == 0


def test_setbit_keeps_ttl_and_expired_keys_are_invisible(r):
    r.set("t", "a", ex=100)
    r.setbit("t", 0, 1)
    assert 90 <= r.ttl("t") <= 100 and r.get("t") == b"\xe1"
    r.set("gone", b"\xff", px=50)
    wait_until(lambda: r.exists("gone") == 0, 10, "the key to expire")
    assert r.getbit("gone", 0) == 0 and r.bitcount("gone") == 0 and r.bitpos("gone", 0) == 0
    assert r.setbit("gone", 1, 1) == 0 and r.get("gone") == b"\x40" and r.ttl("gone") == -1


def test_bitcount(r):
    r.set("s", "foobar")
    assert r.bitcount("s") == 26
    assert r.bitcount("s", 0, 0) == 4 and r.bitcount("s", 1, 1) == 6
    assert r.bitcount("s", 1, 1, "BIT") == 1 and r.bitcount("s", 5, 30, "bit") == 17
    assert r.bitcount("s", 1, 1, "byte") == 6
    assert r.bitcount("s", -1, -2) == 0 and r.bitcount("s", 100, 200) == 0 and r.bitcount("s", -100, -1) == 26
    assert r.bitcount("missing") == 0 and r.bitcount("missing", 0, 10) == 0
    assert error(r, "BITCOUNT", "s", 0) == SYNTAX
    assert error(r, "BITCOUNT", "s", 0, 1, "hello") == SYNTAX
    assert error(r, "BITCOUNT", "s", 0, 1, "bit", "x") == SYNTAX
    assert error(r, "BITCOUNT", "s", "a", "b") == NOT_INTEGER
    if not COMPARING_WITH_REDIS:  # Redis >= 7.2: errors even for a missing key (7.0 answered 0)
        assert error(r, "BITCOUNT", "missing", "a", "b") == NOT_INTEGER
        assert error(r, "BITCOUNT", "missing", 0) == SYNTAX


def test_bitpos(r):
    r.set("ff", b"\xff\xff\xff")
    assert r.bitpos("ff", 0) == 24 and r.bitpos("ff", 0, 0) == 24
    assert r.bitpos("ff", 0, 0, -1) == -1 and r.bitpos("ff", 0, 0, -1, "bit") == -1
    assert r.bitpos("ff", 1) == 0 and r.bitpos("ff", 1, 1) == 8 and r.bitpos("ff", 1, 3, 10, "BIT") == 3
    r.set("z", b"\x00\x00\x01")
    assert r.bitpos("z", 1) == 23 and r.bitpos("z", 1, 0, 1) == -1 and r.bitpos("z", 0, 2) == 16
    assert r.bitpos("z", 1, 17, 22, "bit") == -1 and r.bitpos("z", 1, -7, -1, "bit") == 23
    assert r.bitpos("z", 0, 10, 5) == -1
    assert r.bitpos("missing", 0) == 0 and r.bitpos("missing", 1) == -1 and r.bitpos("missing", 0, 5, 10) == 0
    r.set("empty", "")
    assert r.bitpos("empty", 0) == -1 and r.bitpos("empty", 1) == -1
    assert error(r, "BITPOS", "z", 2) == "The bit argument must be 1 or 0."
    assert error(r, "BITPOS", "z", "a") == NOT_INTEGER
    assert error(r, "BITPOS", "z", 0, "a") == NOT_INTEGER
    assert error(r, "BITPOS", "z", 0, 0, 1, "hello") == SYNTAX
    assert error(r, "BITPOS", "z", 0, 1, "hello", "hello2") == SYNTAX
    assert error(r, "BITPOS", "z", 0, 0, 1, "bit", "x") == SYNTAX


def test_bitop(r):
    r.set("a", b"\xff\xf0")
    r.set("b", b"\x0f")
    assert r.bitop("AND", "d", "a", "b") == 2 and r.get("d") == b"\x0f\x00"
    assert r.bitop("or", "d", "a", "b") == 2 and r.get("d") == b"\xff\xf0"
    assert r.bitop("XOR", "d", "a", "b", "missing") == 2 and r.get("d") == b"\xf0\xf0"
    assert r.bitop("NOT", "d", "a") == 2 and r.get("d") == b"\x00\x0f"
    assert r.bitop("AND", "a", "a") == 2 and r.get("a") == b"\xff\xf0"
    r.set("d", "x", ex=100)
    assert r.bitop("NOT", "d", "b") == 1 and r.get("d") == b"\xf0" and r.ttl("d") == -1
    r.set("e", "")
    assert r.bitop("OR", "d", "missing", "e") == 0 and r.exists("d") == 0
    assert error(r, "BITOP", "NOT", "d", "a", "b") == "BITOP NOT must be called with a single source key."
    assert error(r, "BITOP", "NAND", "d", "a") == SYNTAX
    r.lpush("l", "x")
    assert error(r, "BITOP", "AND", "d", "a", "l") == WRONGTYPE


def test_bitfield(r):
    assert r.bitfield("bits").set("i8", 0, -100).set("i8", 0, 101).get("i8", 0).execute() == [0, -100, 101]
    assert raw(r, "BITFIELD", "bits", "SET", "u8", "#1", 66, "SET", "u8", "#2", 67, "GET", "u8", "#1") == [0, 0, 66]
    assert raw(r, "BITFIELD", "u", "SET", "u2", 0, 3, "INCRBY", "u2", 0, 1) == [0, 0]
    assert raw(r, "BITFIELD", "u", "OVERFLOW", "SAT", "INCRBY", "u2", 0, 10, "INCRBY", "u2", 0, -10) == [3, 0]
    assert raw(r, "BITFIELD", "u", "OVERFLOW", "FAIL", "INCRBY", "u2", 0, 10, "GET", "u2", 0) == [None, 0]
    assert raw(r, "BITFIELD", "i", "SET", "i64", 0, 9223372036854775807, "INCRBY", "i64", 0, 1) == \
        [0, -9223372036854775808]
    assert raw(r, "BITFIELD_RO", "bits", "GET", "u8", 8, "GET", "i4", 0) == [66, 6]
    assert raw(r, "BITFIELD", "missing") == [] and r.exists("missing") == 0
    assert raw(r, "BITFIELD_RO", "missing", "GET", "u8", 0) == [0]
    assert error(r, "BITFIELD_RO", "bits", "SET", "u8", 0, 1) == "BITFIELD_RO only supports the GET subcommand"
    assert error(r, "BITFIELD", "bits", "GET", "u64", 0).startswith("Invalid bitfield type. Use something like i16 u8.")
    assert error(r, "BITFIELD", "bits", "OVERFLOW", "NONE") == "Invalid OVERFLOW type specified"
    assert error(r, "BITFIELD", "bits", "GET", "u8") == SYNTAX
    assert error(r, "BITFIELD", "bits", "GET", "u8", -1) == BIT_OFFSET
    assert error(r, "BITFIELD", "bits", "SET", "u8", 0, "x") == NOT_INTEGER


def test_lcs(r, protocol):
    r.set("key1", "ohmytext")
    r.set("key2", "mynewtext")
    assert r.lcs("key1", "key2") == b"mytext"
    assert r.lcs("key1", "key2", len=True) == 6
    reply = raw(r, "LCS", "key1", "key2", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN")
    ranges = [[[4, 7], [5, 8], 4]]
    if protocol == 3:
        assert reply == {b"matches": ranges, b"len": 6}
    else:
        assert reply == [b"matches", ranges, b"len", 6]
    reply = raw(r, "LCS", "key1", "key2", "idx")
    assert (reply[b"matches"] if protocol == 3 else reply[1]) == [[[4, 7], [5, 8]], [[2, 3], [0, 1]]]
    assert r.lcs("key1", "missing") == b"" and r.lcs("missing", "missing", len=True) == 0
    assert error(r, "LCS", "key1", "key2", "LEN", "IDX") == "If you want both the length and indexes, please just use IDX."
    assert error(r, "LCS", "key1", "key2", "MINMATCHLEN") == SYNTAX
    assert error(r, "LCS", "key1", "key2", "MINMATCHLEN", "x") == NOT_INTEGER
    assert error(r, "LCS", "key1", "key2", "FOO") == SYNTAX
    r.lpush("l", "x")
    assert error(r, "LCS", "key1", "l") == "The specified keys must contain string values"


def test_wrongtype_and_arity(r):
    r.lpush("l", "x")
    assert_wrongtype(r, [["SETBIT", "l", 0, 1], ["GETBIT", "l", 0], ["BITCOUNT", "l"], ["BITPOS", "l", 1],
                         ["BITPOS", "l", 1, 10, 100], ["BITFIELD", "l", "GET", "u8", 0],
                         ["BITFIELD_RO", "l", "GET", "u8", 0], ["BITFIELD", "l", "SET", "u8", 0, 1]])
    assert_arity_errors(r, [["SETBIT", "k", 0], ["GETBIT", "k"], ["BITCOUNT"], ["BITPOS", "k"],
                            ["BITOP", "AND", "d"], ["LCS", "k"], ["BITFIELD"], ["BITFIELD_RO"]])


def test_writes_through_a_follower_reach_every_replica(cluster, protocol):
    if COMPARING_WITH_REDIS:
        pytest.skip("needs raftcache's replicas")
    _, follower = leader_and_follower(cluster)
    w = linearizable(client(follower, protocol))
    w.setbit("b", 3, 1)
    w.set("x", b"\x0f")
    assert w.bitop("OR", "d", "b", "x") == 1
    assert raw(w, "BITFIELD", "f", "SET", "u8", 8, 200) == [0]
    assert same_on_every_node(cluster, protocol, lambda c: (c.get("d"), c.get("f"), c.bitcount("d"))) == \
        (b"\x1f", b"\x00\xc8", 5)
    assert same_on_every_node(cluster, protocol, lambda c: c.lcs("d", "x")) == b""
