"""Unit tests of the typed command layer: the Command each method builds and the reply it returns."""

import datetime

import pytest
from raftcache.client.commands import Status, StringCommands
from raftcache.client.commands_containers import ContainerCommands
from raftcache.client.errors import ConfigError
from raftcache.proto import commands_pb2 as pb


class Recorder(StringCommands, ContainerCommands):
    """`_run` returns (command, post, read) so tests can look at both halves."""

    def __init__(self, decode=False, db=0):
        self._decode_responses = decode
        self._db = db

    def _run(self, command, post, read):
        return command, post, read


def reply(recorder_result, value):
    _, post, _ = recorder_result
    return post(value) if post else value


def test_set_options_build_one_command():
    c = Recorder(db=3)
    cmd, post, read = c.set("k", 12, ex=10, nx=True)
    assert not read and cmd.db == 3
    assert cmd.set.key == b"k" and cmd.set.value == b"12" and cmd.set.condition == pb.IF_ABSENT
    assert cmd.set.expiry.ttl_ms == 10_000
    assert post(Status("OK")) is True and post(None) is None
    cmd, _, _ = c.set("k", "v", px=datetime.timedelta(seconds=1.5), xx=True)
    assert cmd.set.expiry.ttl_ms == 1500 and cmd.set.condition == pb.IF_PRESENT
    cmd, post, _ = c.set("k", "v", keepttl=True, get=True)
    assert cmd.set.expiry.keep_ttl and cmd.set.get and post(b"old") == b"old"
    cmd, _, _ = c.set("k", "v", exat=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC))
    assert cmd.set.expiry.expire_at_ms == 1893456000000
    with pytest.raises(ConfigError):
        c.set("k", "v", nx=True, xx=True)
    with pytest.raises(ConfigError):
        c.set("k", "v", ex=1, px=1)


def test_values_encode_like_redis_py():
    c = Recorder()
    assert c._enc("é") == "é".encode() and c._enc(5) == b"5" and c._enc(1.5) == b"1.5"
    assert c._enc(memoryview(b"ab")) == b"ab"
    with pytest.raises(ConfigError):
        c._enc(True)
    with pytest.raises(ConfigError):
        c._enc(object())


def test_read_and_write_classes():
    c = Recorder()
    assert c.get("k")[2] is True and c.mget(["a", "b"])[2] is True and c.ttl("k")[2] is True
    assert c.incr("k")[2] is False and c.delete("a", "b")[2] is False and c.getex("k", ex=1)[2] is False


def test_counters():
    c = Recorder()
    assert c.incr("k")[0].incr_by.delta == 1
    assert c.incrby("k", 7)[0].incr_by.delta == 7
    assert c.decr("k", 2)[0].incr_by.delta == -2
    cmd, post, _ = c.incrbyfloat("k", 0.5)
    assert cmd.incr_by_float.delta == 0.5 and post(b"1.5") == 1.5


def test_expire_family():
    c = Recorder()
    assert c.expire("k", 5)[0].expire.expiry.ttl_ms == 5000
    assert c.pexpire("k", 5)[0].expire.expiry.ttl_ms == 5
    assert c.expireat("k", 100)[0].expire.expiry.expire_at_ms == 100_000
    assert c.pexpireat("k", 100)[0].expire.expiry.expire_at_ms == 100
    assert c.expire("k", 5, gt=True)[0].expire.condition == pb.EXPIRE_GT
    assert c.pttl("k")[0].ttl.millis and not c.ttl("k")[0].ttl.millis
    assert c.expiretime("k")[0].ttl.absolute and not c.expiretime("k")[0].ttl.millis
    assert c.pexpiretime("k")[0].ttl.absolute and c.pexpiretime("k")[0].ttl.millis
    assert list(c.touch("a", "b")[0].exists.keys) == [b"a", b"b"]
    _, post, _ = c.expire("k", 1)
    assert post(1) is True and post(0) is False


def test_reply_shapes_follow_redis_py():
    c, d = Recorder(), Recorder(decode=True)
    assert reply(c.type("k"), Status("string")) == b"string"
    assert reply(d.type("k"), Status("string")) == "string"
    assert reply(c.scan(0, match="a*", count=5), [b"17", [b"a1"]]) == (17, [b"a1"])
    assert reply(c.hgetall("h"), [b"f", b"v", b"g", b"w"]) == {b"f": b"v", b"g": b"w"}
    assert reply(d.hgetall("h"), [b"f", b"v"]) == {"f": "v"}
    assert reply(c.smembers("s"), [b"a", b"b"]) == {b"a", b"b"}
    assert reply(c.zrange("z", 0, -1, withscores=True), [b"a", 1.0, b"b", 2.5]) == [(b"a", 1.0), (b"b", 2.5)]
    assert reply(c.zpopmin("z"), [b"a", 1.0]) == [(b"a", 1.0)]
    assert reply(c.smismember("s", ["a", "b"]), [1, 0]) == [True, False]
    assert reply(c.msetnx({"a": 1}), 0) is False
    assert reply(c.rename("a", "b"), Status("OK")) is True


def test_sorted_set_bounds():
    c = Recorder()
    cmd = c.zrangebyscore("z", "(1", "+inf", start=0, num=10)[0].zrange
    assert cmd.by == pb.BY_SCORE and cmd.min_score.exclusive and cmd.min_score.value == 1
    assert cmd.max_score.value == float("inf") and cmd.offset == 0 and cmd.count == 10
    cmd = c.zrangebylex("z", "-", "[m")[0].zrange
    assert cmd.by == pb.BY_LEX and cmd.min_lex.infinite == -1 and cmd.max_lex.value == b"m"
    cmd = c.zrevrangebyscore("z", 10, 1)[0].zrange
    assert cmd.rev and cmd.min_score.value == 1 and cmd.max_score.value == 10
    assert c.zcount("z", 1, 2)[0].zrange.count_only
    cmd = c.zunionstore("d", {"a": 2, "b": 3}, aggregate="max")[0].zset_op_store
    assert list(cmd.source.weights) == [2, 3] and cmd.source.aggregate == pb.AGG_MAX
    with pytest.raises(ConfigError):
        c.zrangebylex("z", "a", "b")


def test_hashes_lists_sets():
    c = Recorder()
    cmd = c.hset("h", "f", "v", mapping={"g": 1})[0].hset
    assert [(p.key, p.value) for p in cmd.pairs] == [(b"f", b"v"), (b"g", b"1")]
    assert c.hsetnx("h", "f", "v")[0].hset.if_absent
    assert c.lpush("l", 1, 2)[0].push.left and not c.rpush("l", 1)[0].push.left
    assert c.rpushx("l", 1)[0].push.if_exists
    cmd = c.lmove("a", "b", "RIGHT", "LEFT")[0].lmove
    assert not cmd.from_left and cmd.to_left
    assert c.lpop("l", 2)[0].pop.count == 2 and not c.lpop("l")[0].pop.HasField("count")
    assert c.sinter(["a", "b"], "c")[0].set_op.keys == [b"a", b"b", b"c"]
    assert c.srandmember("s")[0].srandmember.seed != 0
