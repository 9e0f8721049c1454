"""HyperLogLog through redis-py, RESP2 and RESP3, on real nodes, compared with a
real redis-server: PFADD, PFCOUNT (one key and a union), PFMERGE, PFDEBUG,
PFSELFTEST; the stored value is Redis's HYLL string byte for byte (GET), its
cached cardinality included; errors, WRONGTYPE, TTLs, WATCH, MULTI; writes
through a follower and every replica holding the same bytes."""

from __future__ import annotations

import random

import pytest
import redis

from tests.integration.redis_helpers import (
    WRONGTYPE,
    arity,
    client,
    error,
    leader_and_follower,
    raw,
    same_on_every_node,
)


NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."
CORRUPTED = "INVALIDOBJ Corrupted HLL object detected"


def _same(r, real, *args):
    """Run one command on the node and on Redis: the replies (or error texts) must agree."""
    def run(c):
        try:
            return raw(c, *args)
        except redis.ResponseError as e:
            return f"error: {e}"
    mine, theirs = run(r), run(real)
    assert mine == theirs, (args, mine, theirs)
    return mine


def _hll_elements(rng, n):
    return [str(rng.random()).encode() for _ in range(n)]


def test_pfadd_and_pfcount(r):
    assert r.execute_command("PFADD", "hll") == 1 and r.exists("hll") == 1
    assert r.pfcount("hll") == 0
    assert r.pfadd("hll", "a", "b", "c") == 1
    assert r.pfadd("hll", "a", "b", "c") == 0
    assert r.pfadd("hll", "") == 1
    r.delete("hll")
    r.pfadd("hll", 1, 2, 3, 4, 5)
    assert r.pfcount("hll") == 5
    r.pfadd("hll", 6, 7, 8, 8, 9, 10)
    assert r.pfcount("hll") == 10
    assert r.pfcount("missing") == 0
    assert r.type("hll") in (b"string", "string")


def test_values_and_replies_match_redis(r, real_redis):
    rng = random.Random(5)
    elements = _hll_elements(rng, 400)
    for key, chunk in (("a", elements[:3]), ("b", elements[:60]), ("c", elements[100:400])):
        _same(r, real_redis, "PFADD", key, *chunk)
    for args in (["PFCOUNT", "a"], ["GETRANGE", "a", 15, 15], ["PFADD", "a", "x"], ["GETRANGE", "a", 15, 15],
                 ["PFCOUNT", "a", "b", "c", "missing"], ["PFMERGE", "m", "a", "b"], ["PFCOUNT", "m"],
                 ["PFDEBUG", "ENCODING", "c"], ["PFDEBUG", "DECODE", "a"], ["PFDEBUG", "TODENSE", "c"],
                 ["PFDEBUG", "TODENSE", "c"], ["PFMERGE", "m", "c"], ["PFDEBUG", "ENCODING", "m"],
                 ["PFCOUNT", "m"], ["PFMERGE", "empty"], ["PFMERGE", "b"], ["PFDEBUG", "DECODE", "c"]):
        _same(r, real_redis, *args)
    assert len(_same(r, real_redis, "PFDEBUG", "GETREG", "b")) == 16384   # b becomes dense
    for key in ("a", "b", "c", "m", "empty"):
        assert r.get(key) == real_redis.get(key), key


def test_a_value_written_by_redis_counts_the_same(r, real_redis):
    rng = random.Random(9)
    for n in (2, 500, 5000):
        real_redis.delete("k")
        real_redis.pfadd("k", *_hll_elements(rng, n))
        r.set("k", real_redis.get("k"))
        assert r.pfcount("k") == real_redis.pfcount("k")
        assert r.get("k") == real_redis.get("k")
        more = _hll_elements(rng, 50)
        assert r.pfadd("k", *more) == real_redis.pfadd("k", *more)
        assert r.get("k") == real_redis.get("k")


def test_sparse_max_bytes_is_a_cluster_setting(cluster, r):
    try:
        r.config_set("hll-sparse-max-bytes", 3000)
        r.pfadd("hll", *"abcdefghijk")
        assert raw(r, "PFDEBUG", "ENCODING", "hll") == b"sparse"
        r.config_set("hll-sparse-max-bytes", 30)
        assert r.config_get("hll-sparse-max-bytes") == {"hll-sparse-max-bytes": "30"} or \
            r.config_get("hll-sparse-max-bytes") == {b"hll-sparse-max-bytes": b"30"}
        r.pfadd("hll", "new_element")
        assert raw(r, "PFDEBUG", "ENCODING", "hll") == b"dense"
        # every replica converted at the same entry
        same_on_every_node(cluster, 2, lambda c: c.get("hll"))
        assert "argument must be a memory value" in error(r, "CONFIG", "SET", "hll-sparse-max-bytes", "x")
    finally:
        r.config_set("hll-sparse-max-bytes", 3000)


def test_errors(r):
    r.set("s", "bar")
    for args in (["PFADD", "s", 1], ["PFCOUNT", "s"], ["PFMERGE", "x", "s"], ["PFMERGE", "s", "x"],
                 ["PFCOUNT", "x", "s"], ["PFDEBUG", "GETREG", "s"]):
        assert error(r, *args) == NOT_HLL, args
    r.lpush("l", 1)
    assert error(r, "PFADD", "l", 1) == WRONGTYPE
    r.pfadd("h", "a", "b", "c")
    r.append("h", "hello")
    assert error(r, "PFCOUNT", "h") == CORRUPTED
    r.delete("h")
    r.pfadd("h", "a", "b", "c")
    r.setrange("h", 4, "x")
    assert error(r, "PFCOUNT", "h") == NOT_HLL
    r.setrange("h", 4, "\x00")
    assert error(r, "PFCOUNT", "h") == NOT_HLL   # dense of the wrong length
    assert error(r, "PFDEBUG", "GETREG", "missing") == "The specified key does not exist"
    assert error(r, "PFDEBUG", "NOPE", "h") == "Unknown PFDEBUG subcommand 'NOPE'"
    for args in (["PFADD"], ["PFCOUNT"], ["PFMERGE"], ["PFDEBUG", "GETREG"]):
        assert error(r, *args) == arity(args[0].lower())


def test_pfadd_keeps_the_ttl_and_pfcount_counts_as_a_write(r):
    r.pfadd("h", "a")
    r.expire("h", 100)
    r.pfadd("h", "b")
    assert 90 <= r.ttl("h") <= 100
    # As in Redis, PFCOUNT storing a fresh cardinality modifies the key: a WATCH fails.
    kwargs = r.connection_pool.connection_kwargs
    other = redis.Redis(host=kwargs["host"], port=kwargs["port"])
    with r.pipeline() as pipe:
        pipe.watch("h")
        assert other.pfcount("h") == 2
        pipe.multi()
        pipe.set("x", 1)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    with r.pipeline() as pipe:   # the cache is fresh now: PFCOUNT writes nothing
        pipe.watch("h")
        assert other.pfcount("h") == 2
        pipe.multi()
        pipe.set("x", 1)
        assert pipe.execute() == [True]


def test_in_multi(r):
    with r.pipeline() as pipe:
        pipe.pfadd("h", "a", "b")
        pipe.pfcount("h")
        pipe.pfmerge("m", "h", "missing")
        pipe.pfcount("m", "h")
        assert pipe.execute() == [1, 2, True, 2]


def test_through_a_follower_every_replica_holds_the_same_bytes(cluster, protocol):
    leader, follower = leader_and_follower(cluster)
    f = client(follower, protocol)
    assert f.pfadd("h", *range(300)) == 1
    assert abs(f.pfcount("h") - 300) < 10
    f.pfmerge("m", "h")
    assert same_on_every_node(cluster, protocol, lambda c: c.get("h")) is not None
    assert same_on_every_node(cluster, protocol, lambda c: c.pfcount("h", "m")) == f.pfcount("h")


def test_pfselftest(r):
    assert raw(r, "PFSELFTEST") == b"OK"
