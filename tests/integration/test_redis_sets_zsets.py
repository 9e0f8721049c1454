"""Sets and sorted sets through redis-py, RESP2 and RESP3, against real nodes.

Every set command (SADD … SINTERCARD, the *STORE forms, SSCAN) and sorted
set command (ZADD with NX/XX/GT/LT/CH/INCR, ZRANGE in all its forms, ranks,
ZREMRANGEBY*, pops, ZRANDMEMBER, ZSCAN, ZUNIONSTORE/ZINTERSTORE with WEIGHTS
and AGGREGATE) with Redis 7's replies and error texts, the documented edge
cases, WRONGTYPE and arity errors, and random commands through a follower:
SPOP's choice is the same on every replica, SRANDMEMBER writes nothing.
Set replies are compared as sets (raftcache keeps insertion order, Redis
its own: docs/redis-compat.md).
"""

from __future__ import annotations

from tests.integration.redis_helpers import (
    NOT_INTEGER,
    assert_arity_errors,
    assert_wrongtype,
    client,
    error,
    leader_and_follower,
    linearizable,
    pairs,
    same_on_every_node,
)

NOT_FLOAT = "value is not a valid float"
INF = float("inf")


# ---------------------------------------------------------------- sets


def test_set_members(r):
    assert r.sadd("s", "a", "b", "c") == 3 and r.sadd("s", "a", "d") == 1
    assert r.smembers("s") == {b"a", b"b", b"c", b"d"} and r.smembers("missing") == set()
    assert r.srem("s", "d", "nope") == 1 and r.srem("missing", "a") == 0
    assert r.scard("s") == 3 and r.scard("missing") == 0
    assert r.sismember("s", "a") == 1 and r.sismember("s", "z") == 0 and r.sismember("missing", "a") == 0
    assert r.smismember("s", ["a", "z", "b"]) == [1, 0, 1] and r.smismember("missing", ["a", "b"]) == [0, 0]
    r.expire("s", 100)
    assert r.sadd("s", "e") == 1 and 90 <= r.ttl("s") <= 100
    assert r.srem("s", "a", "b", "c", "e") == 4 and r.exists("s") == 0  # no empty sets
    r.sadd("ints", 3, 1, 2)
    assert r.smembers("ints") == {b"1", b"2", b"3"}


def test_spop_srandmember(r):
    assert r.spop("missing") is None and r.spop("missing", 2) == []
    members = {b"a", b"b", b"c", b"d", b"e"}
    r.sadd("s", *members)
    one = r.spop("s")
    assert one in members and r.sismember("s", one) == 0 and r.scard("s") == 4
    two = set(r.spop("s", 2))
    assert len(two) == 2 and two <= members - {one} and r.scard("s") == 2
    assert set(r.spop("s", 0)) == set() and r.scard("s") == 2
    rest = set(r.spop("s", 10))
    assert rest == members - {one} - two and r.exists("s") == 0  # popping everything deletes the key
    r.sadd("one", "x")
    assert r.spop("one") == b"x" and r.exists("one") == 0
    assert error(r, "SPOP", "s", "-1") == "value is out of range, must be positive"
    assert error(r, "SPOP", "s", "abc") == "value is out of range, must be positive"
    assert error(r, "SPOP", "s", "1", "2") == "syntax error"

    r.sadd("s", *members)
    assert r.srandmember("s") in members and r.scard("s") == 5  # SRANDMEMBER removes nothing
    three = r.srandmember("s", 3)
    assert len(three) == 3 and len(set(three)) == 3 and set(three) <= members
    assert sorted(r.srandmember("s", 10)) == sorted(members)  # at most every member
    repeats = r.srandmember("s", -12)
    assert len(repeats) == 12 and set(repeats) <= members  # negative count: may repeat
    assert r.srandmember("s", 0) == [] and r.smembers("s") == members
    assert r.srandmember("missing") is None and r.srandmember("missing", 3) == [] and \
        r.srandmember("missing", -3) == []
    assert error(r, "SRANDMEMBER", "s", "abc") == NOT_INTEGER
    assert error(r, "SRANDMEMBER", "s", str(-(2**63))) == \
        "value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    assert error(r, "SRANDMEMBER", "s", "1", "2") == "syntax error"


def test_smove(r):
    r.sadd("m1", "a", "b")
    r.sadd("m2", "c")
    assert r.smove("m1", "m2", "a") is True and r.smembers("m2") == {b"a", b"c"}
    assert r.smove("m1", "m2", "zz") is False and r.smove("missing", "m2", "a") is False
    assert r.smove("m1", "m1", "b") is True and r.smove("m1", "m1", "zz") is False
    assert r.smove("m1", "m3", "b") is True and r.exists("m1") == 0 and r.smembers("m3") == {b"b"}
    r.set("str", "v")
    assert_wrongtype(r, [["SMOVE", "m2", "str", "c"], ["SMOVE", "str", "m2", "c"], ["SMOVE", "m2", "str", "zz"]])
    assert r.smove("missing", "str", "x") is False  # a missing source answers before the target's type
    assert r.smembers("m2") == {b"a", b"c"}


def test_set_algebra_and_store(r):
    r.sadd("s1", "a", "b", "c", "d")
    r.sadd("s2", "c", "d", "e")
    r.sadd("s3", "d", "e", "f")
    assert r.sinter("s1", "s2") == {b"c", b"d"} and r.sinter("s1", "s2", "s3") == {b"d"}
    assert r.sinter("s1", "missing") == set() and r.sunion("missing") == set()
    assert r.sunion("s1", "s2", "s3") == {b"a", b"b", b"c", b"d", b"e", b"f"}
    assert r.sdiff("s1", "s2", "s3") == {b"a", b"b"} and r.sdiff("missing", "s1") == set()
    assert r.sdiff("s1", "missing") == {b"a", b"b", b"c", b"d"}

    assert r.sinterstore("d", ["s1", "s2"]) == 2 and r.smembers("d") == {b"c", b"d"}
    assert r.sinterstore("d", ["s1", "missing"]) == 0 and r.exists("d") == 0  # empty result: no key
    r.set("d", "v", ex=100)
    assert r.sunionstore("d", ["s1", "s2"]) == 5 and r.type("d") == b"set" and r.ttl("d") == -1
    assert r.sdiffstore("d", ["s1", "s2", "s3"]) == 2 and r.smembers("d") == {b"a", b"b"}
    assert r.sdiffstore("d", ["s1", "s1"]) == 0 and r.exists("d") == 0
    assert r.sunionstore("s1", ["s1", "s3"]) == 6  # the destination may be a source

    assert r.sintercard(2, ["s2", "s3"]) == 2 and r.sintercard(2, ["s2", "s3"], limit=1) == 1
    assert r.sintercard(2, ["s2", "s3"], limit=0) == 2 and r.sintercard(3, ["s1", "s2", "s3"]) == 2
    assert r.sintercard(1, ["missing"]) == 0
    assert error(r, "SINTERCARD", "0", "s1") == "numkeys should be greater than 0"
    assert error(r, "SINTERCARD", "abc", "s1") == "numkeys should be greater than 0"
    assert error(r, "SINTERCARD", "3", "s1", "s2") == "Number of keys can't be greater than number of args"
    assert error(r, "SINTERCARD", "2", "s1", "s2", "LIMIT", "-1") == "LIMIT can't be negative"
    assert error(r, "SINTERCARD", "2", "s1", "s2", "LIMIT", "abc") == "LIMIT can't be negative"
    assert error(r, "SINTERCARD", "2", "s1", "s2", "FOO", "1") == "syntax error"

    r.set("str", "v")
    assert_wrongtype(r, [["SINTER", "s1", "str"], ["SINTER", "missing", "str"], ["SUNION", "s1", "str"],
                         ["SDIFF", "str", "s1"], ["SDIFF", "s1", "str"], ["SINTERSTORE", "d", "str", "s1"],
                         ["SUNIONSTORE", "d", "s1", "str"], ["SDIFFSTORE", "d", "s1", "str"],
                         ["SINTERCARD", "2", "s1", "str"]])
    assert r.exists("d") == 0


def test_sscan(r):
    members = {f"m{i}".encode() for i in range(40)}
    r.sadd("s", *members)
    cursor, found = 0, set()
    while True:
        cursor, chunk = r.sscan("s", cursor, count=9)
        found.update(chunk)
        if cursor == 0:
            break
    assert found == members
    assert set(r.sscan_iter("s", match="m1?")) == {f"m1{i}".encode() for i in range(10)}
    assert r.sscan("missing", 0) == (0, [])
    assert error(r, "SSCAN", "s", "abc") == "invalid cursor"


def test_set_wrongtype_and_arity(r):
    r.set("str", "v")
    assert_wrongtype(r, [
        ["SADD", "str", "a"], ["SREM", "str", "a"], ["SMEMBERS", "str"], ["SISMEMBER", "str", "a"],
        ["SMISMEMBER", "str", "a"], ["SCARD", "str"], ["SPOP", "str"], ["SPOP", "str", "2"], ["SRANDMEMBER", "str"],
        ["SRANDMEMBER", "str", "2"], ["SSCAN", "str", "0"],
    ])
    assert_arity_errors(r, [
        ["SADD", "s"], ["SREM", "s"], ["SMEMBERS"], ["SISMEMBER", "s"], ["SMISMEMBER", "s"], ["SCARD"], ["SPOP"],
        ["SRANDMEMBER"], ["SMOVE", "a", "b"], ["SINTER"], ["SUNION"], ["SDIFF"], ["SINTERSTORE", "d"],
        ["SUNIONSTORE", "d"], ["SDIFFSTORE", "d"], ["SINTERCARD", "1"], ["SSCAN", "s"], ["SCARD", "a", "b"],
    ])


def test_random_set_commands_through_a_follower(cluster, protocol):
    _, follower = leader_and_follower(cluster)
    f = linearizable(client(follower, protocol))
    members = {f"m{i}".encode() for i in range(20)}
    assert f.sadd("s", *members) == 20
    popped = {f.spop("s")} | set(f.spop("s", 5))
    assert len(popped) == 6 and popped <= members
    remaining = same_on_every_node(cluster, protocol, lambda c: c.smembers("s"))
    assert remaining == members - popped  # every replica removed the same members
    assert len(f.srandmember("s", 5)) == 5 and f.srandmember("s") in remaining
    assert same_on_every_node(cluster, protocol, lambda c: c.smembers("s")) == remaining
    assert f.smove("s", "t", min(remaining)) is True and f.sinterstore("u", ["s", "s"]) == 13
    assert same_on_every_node(cluster, protocol, lambda c: (c.scard("s"), c.smembers("t"), c.scard("u"))) == \
        (13, {min(remaining)}, 13)


# ---------------------------------------------------------------- sorted sets


def test_zadd_flags(r):
    assert r.zadd("z", {"a": 1, "b": 2, "c": 3}) == 3
    assert r.zadd("z", {"a": 10, "d": 4}, nx=True) == 1 and r.zscore("z", "a") == 1.0
    assert r.zadd("z", {"a": 10, "e": 5}, xx=True) == 0 and r.zscore("z", "a") == 10.0 and r.zscore("z", "e") is None
    assert r.zadd("z", {"a": 5}, gt=True) == 0 and r.zscore("z", "a") == 10.0
    assert r.zadd("z", {"a": 20}, gt=True, ch=True) == 1 and r.zscore("z", "a") == 20.0
    assert r.zadd("z", {"a": 30, "b": 1}, lt=True, ch=True) == 1 and r.zscore("z", "b") == 1.0
    assert r.zadd("z", {"new": 0}, lt=True) == 1  # GT/LT still add new members
    assert r.zadd("z", {"b": 2, "c": 3}, ch=True) == 1 and r.zadd("z", {"b": 100, "c": 3, "f": 7}, ch=True) == 2
    assert r.zadd("z", {"a": 5}, incr=True) == 25.0
    assert r.zadd("z", {"a": -1}, incr=True, gt=True) is None and r.zscore("z", "a") == 25.0
    assert r.zadd("z", {"a": 1}, incr=True, nx=True) is None
    assert r.zadd("z", {"nope": 1}, incr=True, xx=True) is None and r.zscore("z", "nope") is None
    assert r.zadd("z", {"pinf": INF, "ninf": -INF}) == 2
    assert r.zscore("z", "pinf") == INF and r.zscore("z", "ninf") == -INF
    assert r.zadd("zz", {"half": 0.5}) == 1 and r.zscore("zz", "half") == 0.5
    assert r.execute_command("ZADD", "zz", "0x1p-2", "hex", ".5e1", "e") == 2  # strtod's forms
    assert r.zmscore("zz", ["hex", "e"]) == [0.25, 5.0]

    assert error(r, "ZADD", "z", "NX", "XX", "1", "a") == "XX and NX options at the same time are not compatible"
    for flags in (["GT", "LT"], ["GT", "NX"], ["LT", "NX"]):
        assert error(r, "ZADD", "z", *flags, "1", "a") == \
            "GT, LT, and/or NX options at the same time are not compatible"
    assert error(r, "ZADD", "z", "INCR", "1", "a", "2", "b") == "INCR option supports a single increment-element pair"
    assert error(r, "ZADD", "z", "NX", "1") == "syntax error" and error(r, "ZADD", "z", "1", "a", "2") == "syntax error"
    assert error(r, "ZADD", "z", "FOO", "1", "a") == "syntax error" and error(r, "ZADD", "z", "FOO", "a") == NOT_FLOAT
    for score in ("abc", "nan", "1_0", "1e400", " 1"):
        assert error(r, "ZADD", "z", score, "a") == NOT_FLOAT, score
    r.zadd("zi", {"x": INF})
    assert error(r, "ZINCRBY", "zi", "-inf", "x") == "resulting score is not a number (NaN)"
    assert error(r, "ZADD", "zi", "INCR", "-inf", "x") == "resulting score is not a number (NaN)"
    assert r.zscore("zi", "x") == INF


def test_zscore_zincrby_zcard_zcount_zlexcount(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zscore("z", "nope") is None and r.zscore("missing", "a") is None
    assert r.zmscore("z", ["a", "nope", "c"]) == [1.0, None, 3.0] and r.zmscore("missing", ["a"]) == [None]
    assert r.zincrby("z", 2.5, "b") == 4.5 and r.zincrby("z", 1, "new") == 1.0 and r.zincrby("z", -1, "new") == 0
    assert r.zincrby("fresh", 3, "x") == 3.0
    assert error(r, "ZINCRBY", "z", "abc", "b") == NOT_FLOAT
    assert r.zrem("z", "new", "nope") == 1 and r.zrem("missing", "a") == 0
    assert r.zcard("z") == 5 and r.zcard("missing") == 0
    assert r.zcount("z", 2, 4) == 2 and r.zcount("z", "(1", 4.5) == 3 and r.zcount("z", "-inf", "+inf") == 5
    assert r.zcount("z", "(1", "(3") == 0 and r.zcount("z", 5, 1) == 0 and r.zcount("missing", 0, 1) == 0
    assert error(r, "ZCOUNT", "z", "abc", "1") == "min or max is not a float"
    # Redis reads score bounds with a bare strtod(): leading space skipped, "" and "(" are 0.
    assert [r.execute_command("ZCOUNT", "z", lo, "5") for lo in (" 3", "", "(", "( 4", "0x3")] == [4, 5, 5, 2, 4]
    assert error(r, "ZCOUNT", "z", "1_0", "20") == "min or max is not a float"
    r.zadd("lex", {"a": 0, "b": 0, "c": 0, "d": 0, "e": 0})
    assert r.zlexcount("lex", "-", "+") == 5 and r.zlexcount("lex", "[b", "(d") == 2
    assert r.zlexcount("lex", "(a", "[c") == 2 and r.zlexcount("missing", "-", "+") == 0
    assert error(r, "ZLEXCOUNT", "lex", "b", "d") == "min or max not valid string range item"
    assert r.zrem("z", "a", "b", "c", "d", "e") == 5 and r.exists("z") == 0


def test_zrange_forms(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zrange("z", 0, -1) == [b"a", b"b", b"c", b"d", b"e"]
    assert pairs(r.zrange("z", -2, -1, withscores=True)) == [(b"d", 4.0), (b"e", 5.0)]
    assert r.zrange("z", 3, 1) == [] and r.zrange("z", 0, 100) == [b"a", b"b", b"c", b"d", b"e"]
    assert r.zrange("z", 0, -1, desc=True) == [b"e", b"d", b"c", b"b", b"a"]
    assert r.zrange("z", 2, 4, byscore=True) == [b"b", b"c", b"d"]
    assert pairs(r.zrange("z", "(2", "+inf", byscore=True, offset=1, num=2, withscores=True)) == \
        [(b"d", 4.0), (b"e", 5.0)]
    assert r.zrange("z", 4, 2, byscore=True, desc=True) == [b"d", b"c", b"b"]
    assert r.zrange("z", "+inf", "-inf", byscore=True, desc=True, offset=0, num=2) == [b"e", b"d"]
    assert r.zrange("z", 1, 5, byscore=True, offset=2, num=-1) == [b"c", b"d", b"e"]
    assert r.zrange("z", 1, 5, byscore=True, offset=-1, num=2) == []
    assert r.execute_command("ZRANGE", "z", "0", "-1", "LIMIT", "1", "-1") == [b"a", b"b", b"c", b"d", b"e"]
    assert r.zrange("missing", 0, -1) == []
    r.zadd("lex", {"a": 0, "b": 0, "c": 0, "d": 0, "e": 0})
    assert r.zrange("lex", "[b", "(e", bylex=True) == [b"b", b"c", b"d"]
    assert r.zrange("lex", "(e", "[b", bylex=True, desc=True) == [b"d", b"c", b"b"]
    assert r.zrange("lex", "-", "+", bylex=True, offset=1, num=2) == [b"b", b"c"]
    assert r.zrangebylex("lex", "(a", "+") == [b"b", b"c", b"d", b"e"]
    assert r.zrevrangebylex("lex", "+", "-", start=0, num=1) == [b"e"]

    assert error(r, "ZRANGE", "z", "0", "-1", "LIMIT", "0", "1") == \
        "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    assert error(r, "ZRANGE", "lex", "-", "+", "BYLEX", "WITHSCORES") == \
        "syntax error, WITHSCORES not supported in combination with BYLEX"
    assert error(r, "ZRANGEBYLEX", "lex", "-", "+", "WITHSCORES") == \
        "syntax error, WITHSCORES not supported in combination with BYLEX"
    for extra in (["FOO"], ["REV", "REV"], ["BYSCORE", "BYLEX"], ["BYSCORE", "BYSCORE"], ["LIMIT", "0"]):
        assert error(r, "ZRANGE", "z", "1", "5", *extra) == "syntax error", extra
    assert error(r, "ZRANGE", "z", "abc", "1", "BYSCORE") == "min or max is not a float"
    assert error(r, "ZRANGE", "lex", "a", "c", "BYLEX") == "min or max not valid string range item"
    assert error(r, "ZRANGE", "z", "0", "abc") == NOT_INTEGER


def test_zrangebyscore_zrevrange_zrank(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zrangebyscore("z", 2, 4) == [b"b", b"c", b"d"]
    assert pairs(r.zrangebyscore("z", "(2", 4, withscores=True)) == [(b"c", 3.0), (b"d", 4.0)]
    assert r.zrangebyscore("z", "-inf", "+inf", start=1, num=2) == [b"b", b"c"]
    assert r.zrangebyscore("z", 4, 2) == [] and r.zrevrangebyscore("z", 4, 2) == [b"d", b"c", b"b"]
    assert r.zrevrange("z", 0, 1) == [b"e", b"d"]
    assert pairs(r.zrevrange("z", 0, 1, withscores=True)) == [(b"e", 5.0), (b"d", 4.0)]
    assert r.execute_command("ZREVRANGE", "z", "0", "-1", "LIMIT", "0", "-1") == [b"e", b"d", b"c", b"b", b"a"]
    assert error(r, "ZREVRANGE", "z", "0", "1", "LIMIT", "0", "1") == \
        "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    for args in (["ZRANGEBYSCORE", "z", "1", "5", "REV"], ["ZREVRANGE", "z", "0", "1", "BYSCORE"],
                 ["ZRANGEBYSCORE", "z", "1", "5", "LIMIT", "1"]):
        assert error(r, *args) == "syntax error", args
    assert r.zrank("z", "c") == 2 and r.zrevrank("z", "c") == 2 and r.zrevrank("z", "a") == 4
    assert r.zrank("z", "nope") is None and r.zrank("missing", "a") is None and r.zrevrank("z", "nope") is None


def test_zremrange(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zremrangebyscore("z", 2, 3) == 2 and r.zrange("z", 0, -1) == [b"a", b"d", b"e"]
    assert r.zremrangebyscore("z", "(100", 200) == 0 and r.zremrangebyscore("missing", 1, 2) == 0
    assert r.zremrangebyrank("z", 0, 0) == 1 and r.zrange("z", 0, -1) == [b"d", b"e"]
    assert r.zremrangebyrank("z", -1, -1) == 1 and r.zremrangebyrank("z", 5, 10) == 0
    assert r.zremrangebyrank("z", 0, -1) == 1 and r.exists("z") == 0
    r.zadd("lex", {"a": 0, "b": 0, "c": 0, "d": 0})
    assert r.zremrangebylex("lex", "[b", "[c") == 2 and r.zrange("lex", 0, -1) == [b"a", b"d"]
    assert error(r, "ZREMRANGEBYLEX", "lex", "foo", "bar") == "min or max not valid string range item"
    assert error(r, "ZREMRANGEBYSCORE", "lex", "x", "1") == "min or max is not a float"
    assert error(r, "ZREMRANGEBYRANK", "lex", "x", "1") == NOT_INTEGER
    assert r.zremrangebylex("lex", "-", "+") == 2 and r.exists("lex") == 0


def test_zpop_zrandmember_zscan(r):
    r.zadd("p", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert pairs(r.zpopmin("p")) == [(b"a", 1.0)] and pairs(r.zpopmax("p")) == [(b"d", 4.0)]
    assert r.zpopmin("p", 0) == [] and r.zcard("p") == 2
    assert pairs(r.zpopmin("p", 5)) == [(b"b", 2.0), (b"c", 3.0)] and r.exists("p") == 0
    assert r.zpopmin("missing") == [] and r.zpopmax("missing", 2) == []
    assert error(r, "ZPOPMAX", "p", "-1") == "value is out of range, must be positive"
    assert error(r, "ZPOPMIN", "p", "abc") == "value is out of range, must be positive"
    assert error(r, "ZPOPMAX", "p", "1", "2") == "syntax error"

    scores = {b"a": 1.0, b"b": 2.0, b"c": 3.0}
    r.zadd("r", scores)
    assert r.zrandmember("r") in scores and r.zrandmember("missing") is None
    two = r.zrandmember("r", 2)
    assert len(two) == 2 and len(set(two)) == 2 and set(two) <= set(scores)
    assert sorted(r.zrandmember("r", 5)) == [b"a", b"b", b"c"] and r.zrandmember("r", 0) == []
    repeats = r.zrandmember("r", -7)
    assert len(repeats) == 7 and set(repeats) <= set(scores)
    with_scores = pairs(r.zrandmember("r", -4, withscores=True), float)
    assert len(with_scores) == 4 and all(scores[m] == s for m, s in with_scores)
    assert r.zrandmember("missing", 2) == [] and r.zcard("r") == 3
    assert error(r, "ZRANDMEMBER", "r", "1", "FOO") == "syntax error"
    assert error(r, "ZRANDMEMBER", "r", str(-(2**63))) == \
        "value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    assert error(r, "ZRANDMEMBER", "r", str(2**62), "WITHSCORES") == "value is out of range"

    r.zadd("big", {f"m{i}": i for i in range(30)})
    found = dict(r.zscan_iter("big", count=7))
    assert found == {f"m{i}".encode(): float(i) for i in range(30)}
    assert dict(r.zscan_iter("big", match="m2?")) == {f"m2{i}".encode(): float(20 + i) for i in range(10)}
    assert r.zscan("missing", 0) == (0, [])


def test_zunionstore_zinterstore(r):
    r.zadd("u1", {"a": 1, "b": 2, "c": 3})
    r.zadd("u2", {"b": 10, "c": 20, "d": 30})
    r.sadd("us", "x", "b")  # a plain set counts with score 1

    def stored(key="out"):
        return pairs(r.zrange(key, 0, -1, withscores=True))

    assert r.zunionstore("out", ["u1", "u2"]) == 4
    assert stored() == [(b"a", 1.0), (b"b", 12.0), (b"c", 23.0), (b"d", 30.0)]
    assert r.zunionstore("out", {"u1": 2, "u2": 3}) == 4
    assert stored() == [(b"a", 2.0), (b"b", 34.0), (b"c", 66.0), (b"d", 90.0)]
    assert r.zunionstore("out", ["u1", "u2"], aggregate="MAX") == 4
    assert stored() == [(b"a", 1.0), (b"b", 10.0), (b"c", 20.0), (b"d", 30.0)]
    assert r.zunionstore("out", {"u1": 1, "u2": -1}, aggregate="MIN") == 4
    assert stored() == [(b"d", -30.0), (b"c", -20.0), (b"b", -10.0), (b"a", 1.0)]
    assert r.zinterstore("out", ["u1", "u2"]) == 2 and stored() == [(b"b", 12.0), (b"c", 23.0)]
    assert r.zinterstore("out", {"u1": 1, "u2": 0.5}, aggregate="MAX") == 2
    assert stored() == [(b"b", 5.0), (b"c", 10.0)]
    assert r.zinterstore("out", ["u1", "us"]) == 1 and stored() == [(b"b", 3.0)]
    assert r.zunionstore("out", ["u1", "u2", "us"]) == 5
    assert stored() == [(b"a", 1.0), (b"x", 1.0), (b"b", 13.0), (b"c", 23.0), (b"d", 30.0)]
    assert r.zinterstore("out", ["u1", "missing"]) == 0 and r.exists("out") == 0
    r.zadd("i1", {"a": 1})
    assert r.zunionstore("out", {"i1": INF, "u1": -INF}) == 3  # inf + -inf sums to 0, not NaN
    assert stored() == [(b"b", -INF), (b"c", -INF), (b"a", 0.0)]
    r.set("out", "v", ex=100)
    assert r.zunionstore("out", ["u1"]) == 3 and r.type("out") == b"zset" and r.ttl("out") == -1

    assert error(r, "ZUNIONSTORE", "out", "0", "u1") == "at least 1 input key is needed for 'zunionstore' command"
    assert error(r, "ZINTERSTORE", "out", "-1", "u1") == "at least 1 input key is needed for 'zinterstore' command"
    assert error(r, "ZUNIONSTORE", "out", "abc", "u1") == NOT_INTEGER
    for args in (["3", "u1", "u2"], ["2", "u1", "u2", "WEIGHTS", "1"], ["2", "u1", "u2", "AGGREGATE", "AVG"],
                 ["2", "u1", "u2", "WITHSCORES"], ["1", "u1", "FOO"]):
        assert error(r, "ZUNIONSTORE", "out", *args) == "syntax error", args
    assert error(r, "ZUNIONSTORE", "out", "2", "u1", "u2", "WEIGHTS", "1", "abc") == "weight value is not a float"
    r.set("str", "v")
    assert_wrongtype(r, [["ZUNIONSTORE", "out", "2", "u1", "str"], ["ZINTERSTORE", "out", "2", "str", "u1"]])


def test_zset_wrongtype_and_arity(r):
    r.set("str", "v")
    assert_wrongtype(r, [
        ["ZADD", "str", "1", "a"], ["ZREM", "str", "a"], ["ZSCORE", "str", "a"], ["ZMSCORE", "str", "a"],
        ["ZINCRBY", "str", "1", "a"], ["ZCARD", "str"], ["ZCOUNT", "str", "0", "1"], ["ZLEXCOUNT", "str", "-", "+"],
        ["ZRANGE", "str", "0", "1"], ["ZRANGEBYSCORE", "str", "0", "1"], ["ZREVRANGE", "str", "0", "1"],
        ["ZRANK", "str", "a"], ["ZREVRANK", "str", "a"], ["ZREMRANGEBYSCORE", "str", "0", "1"],
        ["ZREMRANGEBYRANK", "str", "0", "1"], ["ZREMRANGEBYLEX", "str", "-", "+"], ["ZPOPMIN", "str"],
        ["ZPOPMAX", "str", "2"], ["ZRANDMEMBER", "str"], ["ZSCAN", "str", "0"],
    ])
    assert r.get("str") == b"v"
    assert_arity_errors(r, [
        ["ZADD", "z", "1"], ["ZREM", "z"], ["ZSCORE", "z"], ["ZMSCORE", "z"], ["ZINCRBY", "z", "1"], ["ZCARD"],
        ["ZCOUNT", "z", "0"], ["ZLEXCOUNT", "z", "-"], ["ZRANGE", "z", "0"], ["ZRANGEBYSCORE", "z", "0"],
        ["ZREVRANGE", "z", "0"], ["ZRANK", "z"], ["ZREVRANK", "z"], ["ZREMRANGEBYSCORE", "z", "0"],
        ["ZREMRANGEBYRANK", "z", "0"], ["ZREMRANGEBYLEX", "z", "-"], ["ZPOPMIN"], ["ZPOPMAX"], ["ZRANDMEMBER"],
        ["ZSCAN", "z"], ["ZUNIONSTORE", "d", "1"], ["ZINTERSTORE", "d", "1"], ["ZCARD", "a", "b"],
    ])


def test_zset_writes_through_a_follower(cluster, protocol):
    _, follower = leader_and_follower(cluster)
    f = linearizable(client(follower, protocol))
    assert f.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4}) == 4 and f.zincrby("z", 10, "a") == 11.0
    assert pairs(f.zpopmin("z")) == [(b"b", 2.0)] and f.zremrangebyscore("z", 4, 4) == 1
    assert f.zunionstore("u", {"z": 2}) == 2
    assert same_on_every_node(cluster, protocol, lambda c: pairs(c.zrange("z", 0, -1, withscores=True))) == \
        [(b"c", 3.0), (b"a", 11.0)]
    assert same_on_every_node(cluster, protocol, lambda c: pairs(c.zrange("u", 0, -1, withscores=True))) == \
        [(b"c", 6.0), (b"a", 22.0)]
