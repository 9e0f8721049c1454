"""Redis semantics of the data-type commands through the RESP front end
(raw bytes in, raw bytes out) over a real StateMachine + Keyspace."""

from __future__ import annotations

WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"


def bulk(*items) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(b"$%d\r\n%s\r\n" % (len(i), i) for i in items)


def test_strings_and_keys(r):
    assert r("SET", "k", "v", "EX", "100", "GET") == b"$-1\r\n"
    assert r("TTL", "k") == b":100\r\n"
    assert r("SET", "k", "w", "KEEPTTL", "GET") == b"$1\r\nv\r\n"
    assert r("SETNX", "k", "x") == b":0\r\n"
    assert r("GETEX", "k", "PERSIST") == b"$1\r\nw\r\n"
    assert r("TTL", "k") == b":-1\r\n"
    assert r("EXPIRE", "k", "100", "NX", "XX") == \
        b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
    assert r("INCRBYFLOAT", "f", "1.5") == b"$3\r\n1.5\r\n"
    assert r("MSET", "a", "1", "b") == b"-ERR wrong number of arguments for 'mset' command\r\n"
    assert r("TYPE", "k") == b"+string\r\n"
    assert r("RENAMENX", "k", "f") == b":0\r\n"
    assert r("SCAN", "x") == b"-ERR invalid cursor\r\n"


def test_hashes(r):
    assert r("HSET", "h", "a", "1", "b", "2") == b":2\r\n"
    assert r("HSET", "h", "a", "1", "b") == b"-ERR wrong number of arguments for 'hset' command\r\n"
    assert r("HSETNX", "h", "a", "9") == b":0\r\n"
    assert r("HMSET", "h", "c", "3") == b"+OK\r\n"
    assert r("HGETALL", "h") == bulk(b"a", b"1", b"b", b"2", b"c", b"3")
    assert r("HINCRBY", "h", "a", "10") == b":11\r\n"
    assert r("HINCRBYFLOAT", "h", "a", "0.5") == b"$4\r\n11.5\r\n"
    assert r("HINCRBY", "h", "a", "1") == b"-ERR hash value is not an integer\r\n"
    assert r("HSTRLEN", "h", "a") == b":4\r\n"
    assert r("HDEL", "h", "a", "b", "c", "zz") == b":3\r\n"
    assert r("EXISTS", "h") == b":0\r\n"  # an emptied hash is deleted
    r("SET", "s", "x")
    assert r("HGET", "s", "f") == WRONGTYPE
    assert r("HRANDFIELD", "nope", "3") == b"*0\r\n"


def test_lists(r):
    assert r("RPUSH", "l", "a", "b", "c") == b":3\r\n"
    assert r("LPUSH", "l", "x", "y") == b":5\r\n"
    assert r("LRANGE", "l", "0", "-1") == bulk(b"y", b"x", b"a", b"b", b"c")
    assert r("LPUSHX", "nope", "a") == b":0\r\n"
    assert r("LINSERT", "l", "BEFORE", "a", "z") == b":6\r\n"
    assert r("LINSERT", "l", "MIDDLE", "a", "z") == b"-ERR syntax error\r\n"
    assert r("LSET", "l", "100", "q") == b"-ERR index out of range\r\n"
    assert r("LSET", "nope", "0", "q") == b"-ERR no such key\r\n"
    assert r("LPOS", "l", "a", "RANK", "0").startswith(b"-ERR RANK can't be zero")
    assert r("LPOS", "l", "c") == b":5\r\n"
    assert r("LREM", "l", "0", "z") == b":1\r\n"
    assert r("LPOP", "l", "2") == bulk(b"y", b"x")
    assert r("LPOP", "nope", "2") == b"*-1\r\n"
    assert r("LPOP", "l", "-1") == b"-ERR value is out of range, must be positive\r\n"
    assert r("LMOVE", "l", "m", "RIGHT", "LEFT") == b"$1\r\nc\r\n"
    assert r("RPOPLPUSH", "l", "l") == b"$1\r\nb\r\n"
    assert r("LTRIM", "l", "5", "10") == b"+OK\r\n"
    assert r("EXISTS", "l") == b":0\r\n"


def test_sets(r):
    assert r("SADD", "s", "a", "b", "c", "a") == b":3\r\n"
    assert r("SMISMEMBER", "s", "a", "z") == b"*2\r\n:1\r\n:0\r\n"
    r("SADD", "t", "b", "c", "d")
    assert r("SINTER", "s", "t") == bulk(b"b", b"c")
    assert r("SINTERCARD", "2", "s", "t", "LIMIT", "1") == b":1\r\n"
    assert r("SDIFFSTORE", "d", "s", "t") == b":1\r\n"
    assert r("SMEMBERS", "d") == bulk(b"a")
    assert r("SMOVE", "s", "t", "a") == b":1\r\n"
    assert r("SPOP", "s", "10") in (bulk(b"b", b"c"), bulk(b"c", b"b"))
    assert r("EXISTS", "s") == b":0\r\n"
    assert r("SRANDMEMBER", "t", "-5").startswith(b"*5\r\n")


def test_random_picks_with_repeats_are_capped(r):
    """SRANDMEMBER k -10^12 would build the reply on a Raft member's event loop: refused, nothing built."""
    r("SADD", "s", "a")
    r("HSET", "h", "f", "v")
    r("ZADD", "z", "1", "m")
    refused = b"-ERR value is out of range, at most 100000 elements can be picked with repeats\r\n"
    assert r("SRANDMEMBER", "s", "-1000000000000") == refused
    assert r("HRANDFIELD", "h", "-100001") == refused
    assert r("ZRANDMEMBER", "z", "-100001", "WITHSCORES") == refused
    assert r("SRANDMEMBER", "s", "-3") == b"*3\r\n" + b"$1\r\na\r\n" * 3
    assert r("SRANDMEMBER", "s", "1000000000000") == b"*1\r\n$1\r\na\r\n"  # distinct: at most the set


def test_sorted_sets(r):
    assert r("ZADD", "z", "1", "a", "2", "b", "3", "c") == b":3\r\n"
    assert r("ZADD", "z", "NX", "XX", "1", "a") == b"-ERR XX and NX options at the same time are not compatible\r\n"
    assert r("ZADD", "z", "GT", "CH", "0", "a", "5", "b") == b":1\r\n"
    assert r("ZADD", "z", "INCR", "1", "a", "2", "b") == b"-ERR INCR option supports a single increment-element pair\r\n"
    assert r("ZADD", "z", "x", "a") == b"-ERR value is not a valid float\r\n"
    assert r("ZRANGE", "z", "0", "-1", "WITHSCORES") == bulk(b"a", b"1", b"c", b"3", b"b", b"5")
    assert r("ZRANGE", "z", "(1", "+inf", "BYSCORE", "LIMIT", "1", "1") == bulk(b"b")
    assert r("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV") == bulk(b"b", b"c", b"a")
    assert r("ZRANGE", "z", "0", "1", "LIMIT", "0", "1") == \
        b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"
    assert r("ZCOUNT", "z", "(1", "5") == b":2\r\n"
    assert r("ZRANGEBYSCORE", "z", "x", "5") == b"-ERR min or max is not a float\r\n"
    assert r("ZRANK", "z", "c") == b":1\r\n"
    assert r("ZREVRANK", "z", "c", "WITHSCORE") == b"*2\r\n:1\r\n$1\r\n3\r\n"
    assert r("ZINCRBY", "z", "2.5", "a") == b"$3\r\n3.5\r\n"
    assert r("ZPOPMIN", "z") == bulk(b"c", b"3")
    assert r("ZUNIONSTORE", "u", "2", "z", "z", "WEIGHTS", "1", "2", "AGGREGATE", "MAX") == b":2\r\n"
    assert r("ZRANGE", "u", "0", "-1", "WITHSCORES") == bulk(b"a", b"7", b"b", b"10")
    assert r("ZREMRANGEBYSCORE", "u", "-inf", "(10") == b":1\r\n"
    r("ZADD", "lex", "0", "a", "0", "b", "0", "c")
    assert r("ZRANGEBYLEX", "lex", "(a", "+") == bulk(b"b", b"c")
    assert r("ZLEXCOUNT", "lex", "-", "[b") == b":2\r\n"
    assert r("ZRANGEBYLEX", "lex", "a", "+") == b"-ERR min or max not valid string range item\r\n"
    assert r("ZSCORE", "nope", "a") == b"$-1\r\n"
    assert r("ZINTERCARD", "0", "z") == b"-ERR at least 1 input key is needed for 'zintercard' command\r\n"
