"""Hashes and lists through redis-py, RESP2 and RESP3, against real nodes.

Every hash command (HSET … HRANDFIELD, HSCAN) and list command (pushes,
pops with counts, LRANGE … LPOS, LMOVE, RPOPLPUSH) with Redis 7's replies
and error texts, the documented edge cases (LPOP count 0, negative and
out-of-range indexes, HRANDFIELD's negative count with repeats, counters on
non-numbers), WRONGTYPE and arity errors, and writes through a follower
reaching every replica. Fields come back in insertion order (raftcache's
documented order; Redis's small hashes agree).
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
    wire,
)

# ---------------------------------------------------------------- hashes


def test_hash_fields(r):
    assert r.hset("h", mapping={"f1": "v1", "f2": "v2"}) == 2
    assert r.hset("h", mapping={"f1": "x", "f3": "v3"}) == 1  # counts only new fields
    assert r.execute_command("HMSET", "h", "f4", "v4") is True
    assert r.hsetnx("h", "f1", "y") == 0 and r.hsetnx("h", "new", "y") == 1
    assert r.hget("h", "f1") == b"x" and r.hget("h", "nope") is None and r.hget("missing", "f") is None
    assert r.hmget("h", ["f1", "nope", "f2"]) == [b"x", None, b"v2"]
    assert r.hmget("missing", ["a", "b"]) == [None, None]
    assert r.hlen("h") == 5 and r.hlen("missing") == 0
    assert r.hexists("h", "f1") is True and r.hexists("h", "nope") is False and r.hexists("missing", "f") is False
    assert r.hgetall("h") == {b"f1": b"x", b"f2": b"v2", b"f3": b"v3", b"f4": b"v4", b"new": b"y"}
    assert r.hkeys("h") == [b"f1", b"f2", b"f3", b"f4", b"new"]
    assert r.hvals("h") == [b"x", b"v2", b"v3", b"v4", b"y"]
    assert r.hgetall("missing") == {} and r.hkeys("missing") == [] and r.hvals("missing") == []
    assert r.hstrlen("h", "f2") == 2 and r.hstrlen("h", "nope") == 0 and r.hstrlen("missing", "f") == 0
    assert r.hdel("h", "f4", "nope") == 1 and r.hdel("missing", "f") == 0
    r.expire("h", 100)
    assert r.hset("h", "f5", "v") == 1 and 90 <= r.ttl("h") <= 100  # writes keep the key's TTL
    assert r.hdel("h", "f1", "f2", "f3", "f5", "new") == 5 and r.exists("h") == 0  # no empty hashes
    assert error(r, "HSET", "h", "f1", "v1", "f2") == "wrong number of arguments for 'hset' command"
    assert error(r, "HMSET", "h", "f1") == "wrong number of arguments for 'hmset' command"


def test_hash_counters(r):
    assert r.hincrby("h", "n", 5) == 5 and r.hincrby("h", "n", -10) == -5
    assert r.hget("h", "n") == b"-5"
    r.hset("h", mapping={"s": "abc", "big": str(2**63 - 1), "sp": " 1"})
    assert error(r, "HINCRBY", "h", "s", "1") == "hash value is not an integer"
    assert error(r, "HINCRBY", "h", "sp", "1") == "hash value is not an integer"
    assert error(r, "HINCRBY", "h", "n", "abc") == NOT_INTEGER
    assert error(r, "HINCRBY", "h", "big", "1") == "increment or decrement would overflow"

    assert r.hincrbyfloat("h", "f", 10.5) == 10.5 and r.hincrbyfloat("h", "f", 0.1) == 10.6
    assert r.hget("h", "f") == b"10.6"
    for _ in range(2):
        r.hincrbyfloat("h", "tenths", 0.1)
    assert r.hincrbyfloat("h", "tenths", 0.1) == 0.3 and r.hget("h", "tenths") == b"0.3"
    r.hset("h", mapping={"e": "5.0e3", "huge": "1e20", "inf": "inf"})
    assert r.hincrbyfloat("h", "e", 0) == 5000 and r.hget("h", "e") == b"5000"
    assert r.hincrbyfloat("h", "huge", 1) == 1e20 and r.hget("h", "huge") == b"100000000000000000000"
    assert r.hincrbyfloat("h", "small", 1.5e-7) == 1.5e-7 and r.hget("h", "small") == b"0.00000015"
    assert error(r, "HINCRBYFLOAT", "h", "s", "1") == "hash value is not a float"
    assert error(r, "HINCRBYFLOAT", "h", "sp", "1") == "hash value is not a float"
    assert error(r, "HINCRBYFLOAT", "h", "f", "abc") == "value is not a valid float"
    assert error(r, "HINCRBYFLOAT", "h", "f", "1_0") == "value is not a valid float"
    assert error(r, "HINCRBYFLOAT", "h", "f", "inf") == "value is NaN or Infinity"
    assert error(r, "HINCRBYFLOAT", "h", "inf", "1") == "increment would produce NaN or Infinity"
    r.set("str", "v")
    assert error(r, "HINCRBYFLOAT", "str", "f", "inf") == "value is NaN or Infinity"  # checked first
    assert r.hget("h", "f") == b"10.6" and r.hget("h", "inf") == b"inf"


def test_hrandfield(r):
    fields = {b"a": b"1", b"b": b"2", b"c": b"3"}
    r.hset("h", mapping=fields)
    assert r.hrandfield("h") in fields
    assert r.hrandfield("missing") is None
    assert r.hrandfield("missing", 3) == [] and r.hrandfield("missing", -3) == []
    assert r.hrandfield("missing", 3, withvalues=True) == []
    assert r.hrandfield("h", 0) == [] and r.hrandfield("h", 0, withvalues=True) == []
    two = r.hrandfield("h", 2)
    assert len(two) == 2 and len(set(two)) == 2 and set(two) <= set(fields)  # positive: distinct
    assert sorted(r.hrandfield("h", 10)) == [b"a", b"b", b"c"]  # at most every field
    many = r.hrandfield("h", -20)
    assert len(many) == 20 and set(many) <= set(fields) and len(set(many)) < 20  # negative: repeats
    with_values = pairs(r.hrandfield("h", 2, withvalues=True))
    assert len(with_values) == 2 and all(fields[f] == v for f, v in with_values)
    repeated = pairs(r.hrandfield("h", -5, withvalues=True))
    assert len(repeated) == 5 and all(fields[f] == v for f, v in repeated)
    assert error(r, "HRANDFIELD", "h", "abc") == NOT_INTEGER
    assert error(r, "HRANDFIELD", "h", "1", "FOO") == "syntax error"
    assert error(r, "HRANDFIELD", "h", "1", "WITHVALUES", "x") == "syntax error"
    assert error(r, "HRANDFIELD", "h", str(-(2**63))) == \
        "value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    assert error(r, "HRANDFIELD", "h", str(2**62), "WITHVALUES") == "value is out of range"
    assert error(r, "HRANDFIELD", "h", str(-(2**63) + 1), "WITHVALUES") == "value is out of range"


def test_hscan(r):
    r.hset("h", mapping={f"f{i}": str(i) for i in range(30)})
    cursor, found = 0, {}
    while True:
        cursor, chunk = r.hscan("h", cursor, count=7)
        found.update(chunk)
        if cursor == 0:
            break
    assert found == {f"f{i}".encode(): str(i).encode() for i in range(30)}
    assert dict(r.hscan_iter("h", match="f1*")) == {b"f1": b"1", **{f"f1{i}".encode(): f"1{i}".encode()
                                                                    for i in range(10)}}
    assert r.hscan("missing", 0) == (0, {})
    assert error(r, "HSCAN", "h", "abc") == "invalid cursor"
    assert error(r, "HSCAN", "h", "0", "COUNT", "0") == "syntax error"


def test_hash_wrongtype_and_arity(r):
    r.set("str", "v")
    assert_wrongtype(r, [
        ["HSET", "str", "f", "v"], ["HSETNX", "str", "f", "v"], ["HMSET", "str", "f", "v"], ["HGET", "str", "f"],
        ["HMGET", "str", "f"], ["HDEL", "str", "f"], ["HLEN", "str"], ["HEXISTS", "str", "f"], ["HGETALL", "str"],
        ["HKEYS", "str"], ["HVALS", "str"], ["HINCRBY", "str", "f", "1"], ["HINCRBYFLOAT", "str", "f", "1"],
        ["HSTRLEN", "str", "f"], ["HRANDFIELD", "str"], ["HRANDFIELD", "str", "2"], ["HSCAN", "str", "0"],
    ])
    assert r.get("str") == b"v"
    assert_arity_errors(r, [
        ["HSET", "h"], ["HSET", "h", "f"], ["HSETNX", "h", "f"], ["HMSET", "h", "f"], ["HGET", "h"], ["HMGET", "h"],
        ["HDEL", "h"], ["HLEN"], ["HEXISTS", "h"], ["HGETALL"], ["HKEYS"], ["HVALS"], ["HINCRBY", "h", "f"],
        ["HINCRBYFLOAT", "h", "f"], ["HSTRLEN", "h"], ["HRANDFIELD"], ["HSCAN", "h"], ["HGET", "h", "f", "x"],
    ])


# ---------------------------------------------------------------- lists


def test_push_and_pop(r):
    assert r.lpush("l", "a", "b", "c") == 3 and r.rpush("l", "d", "e") == 5
    assert r.lrange("l", 0, -1) == [b"c", b"b", b"a", b"d", b"e"]
    assert r.lpushx("l", "z") == 6 and r.rpushx("l", "y") == 7
    assert r.lpushx("nol", "z") == 0 and r.rpushx("nol", "y") == 0 and r.exists("nol") == 0
    assert r.llen("l") == 7 and r.llen("missing") == 0
    assert r.lpop("l") == b"z" and r.rpop("l") == b"y"
    assert r.lpop("l", 2) == [b"c", b"b"] and r.rpop("l", 2) == [b"e", b"d"]
    assert r.lpop("l", 0) == [] and r.rpop("l", 0) == [] and r.lrange("l", 0, -1) == [b"a"]
    assert r.lpop("missing") is None and r.rpop("missing") is None
    assert r.lpop("missing", 2) is None and r.rpop("missing", 0) is None  # nil array, not []
    assert wire(r, ["LPOP", "missing"], ["RPOP", "missing", "2"], ["LPOP", "l", "0"]) == b"$-1\r\n*-1\r\n*0\r\n"
    r.expire("l", 100)
    assert r.rpush("l", "b") == 2 and 90 <= r.ttl("l") <= 100
    assert r.lpop("l", 10) == [b"a", b"b"] and r.exists("l") == 0  # the emptied list is gone
    for name in ("LPOP", "RPOP"):
        assert error(r, name, "l", "-1") == "value is out of range, must be positive"
        assert error(r, name, "l", "abc") == "value is out of range, must be positive"
        assert error(r, name, "l", "1", "2") == f"wrong number of arguments for '{name.lower()}' command"


def test_lrange_lindex_lset(r):
    r.rpush("l", "a", "b", "c", "d", "e", "f")
    assert r.lrange("l", -3, -1) == [b"d", b"e", b"f"]
    assert r.lrange("l", -100, 100) == [b"a", b"b", b"c", b"d", b"e", b"f"]
    assert r.lrange("l", 5, 2) == [] and r.lrange("l", 10, 20) == [] and r.lrange("l", -1, -3) == []
    assert r.lrange("missing", 0, -1) == []
    assert r.lindex("l", 0) == b"a" and r.lindex("l", -1) == b"f"
    assert r.lindex("l", 100) is None and r.lindex("l", -100) is None and r.lindex("missing", 0) is None
    assert r.lset("l", 0, "A") is True and r.lset("l", -1, "F") is True
    assert r.lrange("l", 0, -1) == [b"A", b"b", b"c", b"d", b"e", b"F"]
    assert error(r, "LSET", "l", "100", "x") == "index out of range"
    assert error(r, "LSET", "missing", "0", "x") == "no such key"
    assert error(r, "LRANGE", "l", "0", "abc") == NOT_INTEGER
    assert error(r, "LINDEX", "l", "abc") == NOT_INTEGER
    assert error(r, "LSET", "l", "abc", "x") == NOT_INTEGER


def test_lrem_ltrim_linsert(r):
    r.rpush("r", "a", "b", "a", "c", "a", "b", "a")
    assert r.lrem("r", 2, "a") == 2 and r.lrange("r", 0, -1) == [b"b", b"c", b"a", b"b", b"a"]
    assert r.lrem("r", -1, "a") == 1 and r.lrange("r", 0, -1) == [b"b", b"c", b"a", b"b"]
    assert r.lrem("r", 0, "b") == 2 and r.lrange("r", 0, -1) == [b"c", b"a"]
    assert r.lrem("r", 0, "zz") == 0 and r.lrem("missing", 0, "a") == 0
    assert r.lrem("r", 0, "c") == 1 and r.lrem("r", 0, "a") == 1 and r.exists("r") == 0
    assert error(r, "LREM", "r", "abc", "a") == NOT_INTEGER

    r.rpush("t", "a", "b", "c", "d", "e")
    assert r.ltrim("t", 1, -2) is True and r.lrange("t", 0, -1) == [b"b", b"c", b"d"]
    assert r.ltrim("t", -100, 100) is True and r.lrange("t", 0, -1) == [b"b", b"c", b"d"]
    assert r.ltrim("t", 5, 10) is True and r.exists("t") == 0  # an empty range deletes the list
    assert r.ltrim("missing", 0, 1) is True and r.exists("missing") == 0

    r.rpush("i", "a", "b", "c")
    assert r.linsert("i", "BEFORE", "b", "X") == 4 and r.linsert("i", "AFTER", "c", "Y") == 5
    assert r.lrange("i", 0, -1) == [b"a", b"X", b"b", b"c", b"Y"]
    assert r.linsert("i", "AFTER", "nope", "Y") == -1 and r.linsert("missing", "AFTER", "a", "Y") == 0
    assert error(r, "LINSERT", "i", "MIDDLE", "a", "Y") == "syntax error"


def test_lpos(r):
    r.rpush("p", "a", "b", "c", "1", "2", "3", "c", "c")
    assert r.lpos("p", "c") == 2 and r.lpos("p", "c", rank=2) == 6 and r.lpos("p", "c", rank=-1) == 7
    assert r.lpos("p", "c", count=2) == [2, 6] and r.lpos("p", "c", count=0) == [2, 6, 7]
    assert r.lpos("p", "c", rank=-1, count=2) == [7, 6]
    assert r.lpos("p", "c", maxlen=2) is None and r.lpos("p", "c", count=0, maxlen=3) == [2]
    assert r.lpos("p", "c", rank=10) is None and r.lpos("p", "c", rank=10, count=0) == []
    assert r.lpos("p", "nope") is None and r.lpos("p", "nope", count=0) == []
    assert r.lpos("missing", "a") is None and r.lpos("missing", "a", count=1) == []
    assert error(r, "LPOS", "p", "c", "RANK", "0") == ("RANK can't be zero: use 1 to start from the first match, "
                                                       "2 from the second ... or use negative to start from the "
                                                       "end of the list")
    assert error(r, "LPOS", "p", "c", "COUNT", "-1") == "COUNT can't be negative"
    assert error(r, "LPOS", "p", "c", "MAXLEN", "-1") == "MAXLEN can't be negative"
    assert error(r, "LPOS", "p", "c", "FOO", "1") == "syntax error"
    assert error(r, "LPOS", "p", "c", "RANK") == "syntax error"
    assert error(r, "LPOS", "p", "c", "RANK", "abc") == NOT_INTEGER


def test_lmove_rpoplpush(r):
    r.rpush("src", "1", "2", "3")
    assert r.lmove("src", "dst", "LEFT", "RIGHT") == b"1" and r.lmove("src", "dst", "RIGHT", "LEFT") == b"3"
    assert r.lrange("src", 0, -1) == [b"2"] and r.lrange("dst", 0, -1) == [b"3", b"1"]
    r.rpush("src", "4", "5")
    assert r.lmove("src", "src", "LEFT", "RIGHT") == b"2" and r.lrange("src", 0, -1) == [b"4", b"5", b"2"]
    assert r.lmove("missing", "dst", "LEFT", "LEFT") is None and r.exists("missing") == 0
    assert r.rpoplpush("dst", "src") == b"1" and r.lrange("src", 0, -1) == [b"1", b"4", b"5", b"2"]
    assert r.rpoplpush("src", "src") == b"2" and r.lrange("src", 0, -1) == [b"2", b"1", b"4", b"5"]
    assert r.rpoplpush("missing", "src") is None
    assert r.rpoplpush("dst", "new") == b"3" and r.exists("dst") == 0 and r.lrange("new", 0, -1) == [b"3"]
    assert error(r, "LMOVE", "src", "dst", "UP", "LEFT") == "syntax error"
    r.set("str", "v")
    assert_wrongtype(r, [["LMOVE", "str", "dst", "LEFT", "LEFT"], ["LMOVE", "src", "str", "LEFT", "LEFT"],
                         ["RPOPLPUSH", "str", "src"], ["RPOPLPUSH", "src", "str"]])
    assert r.lrange("src", 0, -1) == [b"2", b"1", b"4", b"5"]  # nothing moved on WRONGTYPE
    assert r.lmove("missing", "str", "LEFT", "LEFT") is None  # an empty source wins over a bad target


def test_list_wrongtype_and_arity(r):
    r.set("str", "v")
    assert_wrongtype(r, [
        ["LPUSH", "str", "a"], ["RPUSH", "str", "a"], ["LPUSHX", "str", "a"], ["RPUSHX", "str", "a"],
        ["LPOP", "str"], ["RPOP", "str", "2"], ["LRANGE", "str", "0", "1"], ["LLEN", "str"], ["LINDEX", "str", "0"],
        ["LSET", "str", "0", "a"], ["LREM", "str", "0", "a"], ["LTRIM", "str", "0", "1"],
        ["LINSERT", "str", "BEFORE", "a", "b"], ["LPOS", "str", "a"],
    ])
    assert_arity_errors(r, [
        ["LPUSH", "l"], ["RPUSH", "l"], ["LPUSHX", "l"], ["RPUSHX", "l"], ["LPOP"], ["RPOP"], ["LRANGE", "l", "0"],
        ["LLEN"], ["LINDEX", "l"], ["LSET", "l", "0"], ["LREM", "l", "0"], ["LTRIM", "l", "0"],
        ["LINSERT", "l", "BEFORE", "a"], ["LPOS", "l"], ["LMOVE", "a", "b", "LEFT"], ["RPOPLPUSH", "a"],
        ["LLEN", "a", "b"],
    ])


# ---------------------------------------------------------------- replicas


def test_writes_through_a_follower_reach_every_node(cluster, protocol):
    _, follower = leader_and_follower(cluster)
    f = linearizable(client(follower, protocol))
    assert f.hset("h", mapping={"a": "1", "b": "2"}) == 2 and f.hincrby("h", "a", 5) == 6
    assert f.hincrbyfloat("h", "c", 0.5) == 0.5 and f.hdel("h", "b") == 1 and f.hsetnx("h", "d", "x") == 1
    assert f.rpush("l", "a", "b", "c", "d") == 4 and f.lpop("l") == b"a" and f.rpop("l", 2) == [b"d", b"c"]
    assert f.lpush("l", "z") == 2 and f.lset("l", 0, "Z") and f.linsert("l", "AFTER", "Z", "y") == 3
    assert f.lmove("l", "l2", "LEFT", "RIGHT") == b"Z" and f.rpoplpush("l", "l2") == b"b"
    assert same_on_every_node(cluster, protocol, lambda c: c.hgetall("h")) == {b"a": b"6", b"c": b"0.5", b"d": b"x"}
    assert same_on_every_node(cluster, protocol, lambda c: (c.lrange("l", 0, -1), c.lrange("l2", 0, -1))) == \
        ([b"y"], [b"b", b"Z"])
