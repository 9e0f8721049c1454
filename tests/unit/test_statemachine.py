"""Unit tests for node/statemachine and node/strings: real encoded LogEntry bytes
applied to a temporary LMDB (no Raft, no sockets, no threads), checked against
Redis's documented semantics, plus the invariants apply owns: exactly-once
across restarts, deduplicated retries, OOM, determinism."""

from __future__ import annotations

import dataclasses
import random

import pytest

from raftcache.node import commands, pulse, scripting
from raftcache.node.frontends import resp_protocol
from raftcache.node.commands import OK, Replayed, Status
from raftcache.node.config import KeyspaceConfig
from raftcache.node.errors import CommandError, Reason
from raftcache.node.storage.keyspace import Keyspace, Record, ValueType
from raftcache.node.errors import UpgradeRequiredError
from raftcache.node.commands.statemachine import DEDUP_WINDOW_MS, StateMachine
from raftcache.node.commands.strings import Ctx
from raftcache.node.commands.statemachine import HANDLERS
from raftcache.node.commands import slot_migration
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_rdb import REDIS_74, Y2100_MS

NOW = 1_700_000_000_000


class Node:
    """A keyspace + state machine fed encoded entries with increasing indexes."""

    def __init__(self, path: str, **limits):
        self.config = KeyspaceConfig(path=path, **limits)
        self.ks = Keyspace(self.config)
        self.sm = StateMachine(self.ks, self.config)
        self.index = self.ks.applied_index
        self.now_ms = NOW

    @staticmethod
    def entry(db=0, now_ms=NOW, client_id="", sequence=0, **op) -> bytes:
        return commands.encode_entry(pb.LogEntry(
            version=commands.MAX_VERSION, now_ms=now_ms, client_id=client_id, sequence=sequence,
            command=pb.Command(db=db, **op)))

    def run(self, db=0, now_ms=None, client_id="", sequence=0, **op):
        self.index += 1
        data = self.entry(db, self.now_ms if now_ms is None else now_ms, client_id, sequence, **op)
        return self.sm.apply(self.index, data)

    def read(self, db=0, now_ms=None, **op):
        return self.sm.read(pb.Command(db=db, **op), self.now_ms if now_ms is None else now_ms)

    def get(self, key, db=0, now_ms=None):
        return self.read(db, now_ms, get=pb.Get(key=key))

    def put_hash(self, key, db=0):
        """Simulate a key of another type, written straight through a WriteTxn."""
        self.index += 1
        with self.ks.writer(self.index) as w:
            w.put(db, key, Record(ValueType.HASH, b"field=value", 0, self.index))

    def dump(self):
        with self.ks.reader() as r:
            data = {}
            for db in range(self.config.databases):
                cursor = 0
                while True:
                    cursor, keys = r.scan(db, cursor, 100, 0)
                    data.update({(db, k): r.get_raw(db, k) for k in keys})
                    if cursor == 0:
                        break
            return data, r.meta_range(b"", 10_000), self.ks.stats()


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    yield n
    n.ks.close()


def Set(key, value, **kw):
    return pb.Set(key=key, value=value, **kw)


def err(reason: Reason, message: str | None = None):
    def check(result):
        assert isinstance(result, CommandError), result
        assert result.reason is reason
        if message is not None:
            assert result.message == message
        return True
    return check


def test_a_beat_checks_at_most_every_check_every_s(monkeypatch):
    monkeypatch.setattr(pulse, "_next_check", 0.0)   # (a beat of an earlier test, a script's, may be <20 ms old)
    seen = []
    pulse.install(lambda: seen.append(1))
    try:
        for _ in range(1000):
            pulse.beat()
    finally:
        pulse.install(None)
    assert 1 <= len(seen) < 1000   # a thousand beats in well under 20 ms: one check, or a few


def test_long_applies_and_reads_beat_every_few_thousand_items(node, beats):
    """node/pulse.py's beat (a leader's heartbeats through a long apply or read) comes every
    pulse.EVERY records or items one command writes, deletes or reads, between the entries of a
    batch, and every pulse.EVERY elements of a reply; what they answer does not change."""
    members = [b"m%07d" % i for i in range(10_000)]
    assert node.run(sadd=pb.SAdd(key=b"big", members=members)) == 10_000
    assert len(beats) == 10_000 // pulse.EVERY   # the items written
    del beats[:]
    assert sorted(node.read(smembers=pb.SMembers(key=b"big"))) == members
    assert len(beats) == 1   # the items read, in runs of 64 … 4,096: one full run of 4,096 in 10,000
    assert node.run(push=pb.Push(key=b"list", values=members)) == 10_000
    del beats[:]
    assert node.read(lrange=pb.LRange(key=b"list", start=0, stop=-1)) == members
    assert len(beats) == 10_000 // pulse.EVERY
    del beats[:]
    reply = resp_protocol.encode(members, 2)
    assert reply == b"*10000\r\n" + b"".join(b"$8\r\n%s\r\n" % m for m in members)
    assert len(beats) == 10_000 // pulse.EVERY + 1   # after each run of the reply, the last one too
    del beats[:]
    resp_protocol.encode(resp_protocol.RespPairs(members), 3)   # ZRANGE … WITHSCORES: pairs
    assert len(beats) == 3   # one every 2,048 pairs (4,096 elements) from the first
    del beats[:]
    assert node.run(**{"del": pb.Del(keys=[b"big"])}) == 1
    assert len(beats) == 10_000 // pulse.EVERY   # the items dropped
    del beats[:]
    node.index += 1
    batch = commands.encode_batch([pb.LogEntry(version=commands.MAX_VERSION, now_ms=NOW,
                                               command=pb.Command(set=Set(b"k%d" % i, b"v"))) for i in range(5)])
    assert node.sm.apply(node.index, batch) == [OK] * 5
    assert len(beats) == 5   # after each entry
    assert node.get(b"k4") == b"v" and node.read(scard=pb.SCard(key=b"big")) == 0


def test_a_batch_applies_in_order_at_one_index_and_only_once(node):
    entries = [
        pb.LogEntry(version=1, now_ms=NOW, command=pb.Command(set=Set(b"k", b"1"))),
        pb.LogEntry(version=1, now_ms=NOW, command=pb.Command(incr_by=pb.IncrBy(key=b"k", delta=2))),
        pb.LogEntry(version=1, now_ms=NOW, command=pb.Command(incr_by=pb.IncrBy(key=b"k", delta=1)),
                    client_id="c", sequence=1),
        pb.LogEntry(version=1, now_ms=NOW, command=pb.Command(append=pb.Append(key=b"k", value=b"x"))),
    ]
    data = commands.encode_batch(entries)
    results = node.sm.apply(5, data)
    assert results == [OK, 3, 4, 2]
    assert node.get(b"k") == b"4x"
    assert node.ks.applied_index == 5
    assert node.sm.apply(5, data) is None, "a replayed batch is skipped"
    assert node.get(b"k") == b"4x"
    # the same client/sequence in a later entry is answered from the dedup table, with its first index
    node.index = 5
    assert node.run(client_id="c", sequence=1, incr_by=pb.IncrBy(key=b"n", delta=1)) == Replayed(4, 5)


def test_a_batch_that_does_not_decode_is_an_error_reply(node):
    result = node.sm.apply(1, commands.BATCH_MARKER + b"\xff\xff")
    assert err(Reason.INTERNAL)(result) and "does not decode" in result.message
    assert node.ks.applied_index == 1, "the entry counts as applied: the next one follows"


def test_every_command_has_a_handler():
    ops = {f.name for f in pb.Command.DESCRIPTOR.oneofs_by_name["op"].fields}
    applied_by_the_state_machine = {"config_set", "set_version", "acl_set_user", "acl_del_user", "acl_load",
                                    "claim_slots", "set_batch", *slot_migration.STEPS}
    assert ops - applied_by_the_state_machine <= set(HANDLERS)


# ---------------------------------------------------------------- SET / GET

def test_set_get_and_conditions(node):
    assert node.run(set=Set(b"k", b"v1")) == OK
    assert node.get(b"k") == b"v1"
    assert node.run(set=Set(b"k", b"v2", condition=pb.IF_ABSENT)) is None
    assert node.run(set=Set(b"new", b"x", condition=pb.IF_PRESENT)) is None
    assert node.get(b"new") is None
    assert node.run(set=Set(b"k", b"v3", condition=pb.IF_PRESENT)) == OK
    assert node.run(set=Set(b"k", b"v4", get=True)) == b"v3"
    assert node.run(set=Set(b"k", b"v5", get=True, condition=pb.IF_ABSENT)) == b"v4"   # NX GET: old value, no set
    assert node.get(b"k") == b"v4"
    assert node.run(set=Set(b"fresh", b"x", get=True)) is None
    assert node.get(b"missing") is None


def test_set_get_on_another_type_is_wrongtype_and_changes_nothing(node):
    node.put_hash(b"h")
    assert err(Reason.WRONGTYPE, "Operation against a key holding the wrong kind of value")(
        node.run(set=Set(b"h", b"x", get=True)))
    assert err(Reason.WRONGTYPE)(node.get(b"h"))
    assert node.read(type=pb.Type(key=b"h")) == Status("hash")
    assert node.run(set=Set(b"h", b"plain")) == OK       # plain SET overwrites any type
    assert node.get(b"h") == b"plain"


def test_set_expiry_forms(node):
    node.run(set=Set(b"ex", b"v", expiry=pb.Expiry(ttl_ms=10_000)))
    assert node.read(ttl=pb.Ttl(key=b"ex", millis=True)) == 10_000
    node.run(set=Set(b"at", b"v", expiry=pb.Expiry(expire_at_ms=NOW + 5_000)))
    assert node.read(ttl=pb.Ttl(key=b"at")) == 5
    node.run(set=Set(b"at", b"w", expiry=pb.Expiry(keep_ttl=True)))
    assert node.read(ttl=pb.Ttl(key=b"at", millis=True)) == 5_000 and node.get(b"at") == b"w"
    node.run(set=Set(b"at", b"x"))                       # plain SET clears the TTL
    assert node.read(ttl=pb.Ttl(key=b"at")) == -1
    assert node.run(set=Set(b"past", b"v", expiry=pb.Expiry(expire_at_ms=NOW))) == OK
    assert node.get(b"past") is None and node.read(db_size=pb.DbSize()) == 2   # written then expired: deleted


@pytest.mark.parametrize("expiry", [pb.Expiry(ttl_ms=0), pb.Expiry(ttl_ms=-1), pb.Expiry(expire_at_ms=0),
                                    pb.Expiry(ttl_ms=(1 << 63) - 1)])
def test_set_invalid_expire(node, expiry):
    assert err(Reason.INVALID_EXPIRE, "invalid expire time in 'set' command")(
        node.run(set=Set(b"k", b"v", expiry=expiry)))
    assert node.get(b"k") is None


def test_set_keepttl_with_a_deadline_is_a_syntax_error(node):
    assert err(Reason.SYNTAX)(node.run(set=Set(b"k", b"v", expiry=pb.Expiry(ttl_ms=5, keep_ttl=True))))


def test_getdel_and_getex(node):
    node.run(set=Set(b"k", b"v"))
    assert node.run(get_del=pb.GetDel(key=b"k")) == b"v"
    assert node.get(b"k") is None and node.run(get_del=pb.GetDel(key=b"k")) is None
    node.put_hash(b"h")
    assert err(Reason.WRONGTYPE)(node.run(get_del=pb.GetDel(key=b"h")))
    assert node.read(exists=pb.Exists(keys=[b"h"])) == 1

    node.run(set=Set(b"k", b"v"))
    assert node.run(get_ex=pb.GetEx(key=b"k", expiry=pb.Expiry(ttl_ms=3_000))) == b"v"
    assert node.read(ttl=pb.Ttl(key=b"k", millis=True)) == 3_000
    assert node.run(get_ex=pb.GetEx(key=b"k", expiry=pb.Expiry(persist=True))) == b"v"
    assert node.read(ttl=pb.Ttl(key=b"k")) == -1
    assert node.run(get_ex=pb.GetEx(key=b"k")) == b"v"
    assert err(Reason.INVALID_EXPIRE, "invalid expire time in 'getex' command")(
        node.run(get_ex=pb.GetEx(key=b"k", expiry=pb.Expiry(ttl_ms=-5))))
    assert node.run(get_ex=pb.GetEx(key=b"k", expiry=pb.Expiry(expire_at_ms=NOW - 1))) == b"v"
    assert node.get(b"k") is None                         # a past deadline deletes
    assert node.run(get_ex=pb.GetEx(key=b"nope", expiry=pb.Expiry(ttl_ms=5))) is None


# ---------------------------------------------------------------- counters

@pytest.mark.parametrize("value", [b" 1", b"+1", b"01", b"-0", b"1.0", b"", b"abc", b"9223372036854775808"])
def test_incrby_refuses_non_integers(node, value):
    node.run(set=Set(b"n", value))
    assert err(Reason.NOT_INTEGER, "value is not an integer or out of range")(
        node.run(incr_by=pb.IncrBy(key=b"n", delta=1)))
    assert node.get(b"n") == value


def test_incrby_decrby(node):
    assert node.run(incr_by=pb.IncrBy(key=b"n", delta=5)) == 5
    assert node.run(incr_by=pb.IncrBy(key=b"n", delta=-7)) == -2
    assert node.get(b"n") == b"-2"
    node.run(set=Set(b"max", b"9223372036854775807", expiry=pb.Expiry(ttl_ms=60_000)))
    assert err(Reason.OVERFLOW, "increment or decrement would overflow")(
        node.run(incr_by=pb.IncrBy(key=b"max", delta=1)))
    assert node.run(incr_by=pb.IncrBy(key=b"max", delta=-1)) == (1 << 63) - 2
    assert node.read(ttl=pb.Ttl(key=b"max")) == 60                 # INCR keeps the TTL
    node.run(set=Set(b"min", b"-9223372036854775808"))
    assert err(Reason.OVERFLOW)(node.run(incr_by=pb.IncrBy(key=b"min", delta=-1)))
    node.put_hash(b"h")
    assert err(Reason.WRONGTYPE)(node.run(incr_by=pb.IncrBy(key=b"h", delta=1)))


@pytest.mark.parametrize("start, delta, expected", [
    (b"10.50", 0.1, b"10.6"), (b"5.0e3", 200.0, b"5200"), (b"3", 1.5, b"4.5"),
    (None, 0.1, b"0.1"), (b"0.1", 0.2, b"0.3"), (b"1", -1.0, b"0"), (b"-1.5", -1.0, b"-2.5"),
    (b"1", 1e20, b"100000000000000000001"[:17] + b"0000"), (b".5", 0.0, b"0.5"),
])
def test_incrbyfloat_formats_like_redis(node, start, delta, expected):
    if start is not None:
        node.run(set=Set(b"f", start))
    assert node.run(incr_by_float=pb.IncrByFloat(key=b"f", delta=delta)) == expected
    assert node.get(b"f") == expected


@pytest.mark.parametrize("start", [b"abc", b"1_0", b" 1", b"nan", b"0x10", b""])
def test_incrbyfloat_refuses_non_floats(node, start):
    node.run(set=Set(b"f", start))
    assert err(Reason.NOT_FLOAT, "value is not a valid float")(
        node.run(incr_by_float=pb.IncrByFloat(key=b"f", delta=1.0)))


@pytest.mark.parametrize("start, delta", [(b"1", float("inf")), (b"1e308", 1e308), (b"inf", 1.0)])
def test_incrbyfloat_refuses_nan_or_infinity(node, start, delta):
    node.run(set=Set(b"f", start))
    assert err(Reason.NOT_FLOAT, "increment would produce NaN or Infinity")(
        node.run(incr_by_float=pb.IncrByFloat(key=b"f", delta=delta)))
    assert node.get(b"f") == start


# ---------------------------------------------------------------- string edits

def test_append_strlen(node):
    assert node.run(append=pb.Append(key=b"a", value=b"Hello")) == 5
    node.run(expire=pb.Expire(key=b"a", expiry=pb.Expiry(ttl_ms=9_000)))
    assert node.run(append=pb.Append(key=b"a", value=b" World")) == 11
    assert node.get(b"a") == b"Hello World"
    assert node.read(ttl=pb.Ttl(key=b"a", millis=True)) == 9_000
    assert node.read(str_len=pb.StrLen(key=b"a")) == 11
    assert node.read(str_len=pb.StrLen(key=b"none")) == 0
    node.put_hash(b"h")
    assert err(Reason.WRONGTYPE)(node.read(str_len=pb.StrLen(key=b"h")))
    assert err(Reason.WRONGTYPE)(node.run(append=pb.Append(key=b"h", value=b"x")))


def test_append_past_max_value_bytes_is_refused(tmp_path):
    n = Node(str(tmp_path / "ks"), max_value_bytes=10)
    n.run(set=Set(b"a", b"123456"))
    assert err(Reason.VALUE_TOO_LARGE)(n.run(append=pb.Append(key=b"a", value=b"12345")))
    assert n.get(b"a") == b"123456"
    n.ks.close()


@pytest.mark.parametrize("start, end, expected", [
    (0, 3, b"This"), (-3, -1, b"ing"), (0, -1, b"This is a string"), (10, 100, b"string"),
    (-1, -5, b""), (5, 3, b""), (-100, 3, b"This"), (16, 20, b""), (-3, 100, b"ing"),
])
def test_getrange(node, start, end, expected):
    node.run(set=Set(b"s", b"This is a string"))
    assert node.read(get_range=pb.GetRange(key=b"s", start=start, end=end)) == expected


def test_getrange_missing_key_is_empty(node):
    assert node.read(get_range=pb.GetRange(key=b"none", start=0, end=-1)) == b""


def test_setrange(node):
    node.run(set=Set(b"s", b"Hello World"))
    assert node.run(set_range=pb.SetRange(key=b"s", offset=6, value=b"Redis")) == 11
    assert node.get(b"s") == b"Hello Redis"
    assert node.run(set_range=pb.SetRange(key=b"pad", offset=6, value=b"Redis")) == 11
    assert node.get(b"pad") == b"\x00" * 6 + b"Redis"
    assert node.run(set_range=pb.SetRange(key=b"empty", offset=3, value=b"")) == 0
    assert node.read(exists=pb.Exists(keys=[b"empty"])) == 0          # not created
    assert node.run(set_range=pb.SetRange(key=b"s", offset=100, value=b"")) == 11
    assert err(Reason.VALUE_TOO_LARGE)(
        node.run(set_range=pb.SetRange(key=b"s", offset=512 << 20, value=b"x")))
    assert err(Reason.INVALID_ARGUMENT)(node.run(set_range=pb.SetRange(key=b"s", offset=-1, value=b"x")))


def test_mset_msetnx_mget(node):
    node.run(set=Set(b"a", b"old", expiry=pb.Expiry(ttl_ms=1000)))
    node.put_hash(b"h")
    assert node.run(mset=pb.MSet(pairs=[pb.KeyValue(key=b"a", value=b"1"), pb.KeyValue(key=b"b", value=b"2"),
                                        pb.KeyValue(key=b"a", value=b"3")])) == OK
    assert node.read(mget=pb.MGet(keys=[b"a", b"b", b"h", b"zz"])) == [b"3", b"2", None, None]
    assert node.read(ttl=pb.Ttl(key=b"a")) == -1                      # MSET clears the TTL
    assert node.run(mset_nx=pb.MSetNx(pairs=[pb.KeyValue(key=b"c", value=b"1"),
                                             pb.KeyValue(key=b"b", value=b"x")])) == 0
    assert node.get(b"c") is None and node.get(b"b") == b"2"          # all or nothing
    assert node.run(mset_nx=pb.MSetNx(pairs=[pb.KeyValue(key=b"c", value=b"1"),
                                             pb.KeyValue(key=b"d", value=b"2")])) == 1
    assert node.read(mget=pb.MGet(keys=[b"c", b"d"])) == [b"1", b"2"]


# ---------------------------------------------------------------- keys

def test_exists_counts_duplicates(node):
    node.run(mset=pb.MSet(pairs=[pb.KeyValue(key=k, value=b"v") for k in (b"a", b"b")]))
    assert node.read(exists=pb.Exists(keys=[b"a", b"a", b"b", b"zz"])) == 3


def test_del_counts_live_keys_once(node):
    node.run(mset=pb.MSet(pairs=[pb.KeyValue(key=k, value=b"v") for k in (b"a", b"b")]))
    node.run(set=Set(b"old", b"v", expiry=pb.Expiry(expire_at_ms=NOW + 10)))
    result = node.sm.apply(node.index + 1, node.entry(now_ms=NOW + 10, **{"del": pb.Del(keys=[b"a", b"a", b"old", b"zz"])}))
    node.index += 1
    assert result == 1
    assert node.read(db_size=pb.DbSize()) == 1                      # the expired key was removed too


@pytest.mark.parametrize("condition, current_ttl_ms, new_ttl_ms, expected", [
    (pb.EXPIRE_ALWAYS, None, 5000, 1), (pb.EXPIRE_NX, None, 5000, 1), (pb.EXPIRE_NX, 1000, 5000, 0),
    (pb.EXPIRE_XX, None, 5000, 0), (pb.EXPIRE_XX, 1000, 5000, 1),
    (pb.EXPIRE_GT, None, 5000, 0), (pb.EXPIRE_GT, 1000, 5000, 1), (pb.EXPIRE_GT, 5000, 5000, 0),
    (pb.EXPIRE_LT, None, 5000, 1), (pb.EXPIRE_LT, 9000, 5000, 1), (pb.EXPIRE_LT, 1000, 5000, 0),
])
def test_expire_conditions(node, condition, current_ttl_ms, new_ttl_ms, expected):
    expiry = pb.Expiry(ttl_ms=current_ttl_ms) if current_ttl_ms else None
    node.run(set=Set(b"k", b"v", expiry=expiry))
    assert node.run(expire=pb.Expire(key=b"k", expiry=pb.Expiry(ttl_ms=new_ttl_ms), condition=condition)) == expected
    want = new_ttl_ms if expected else (current_ttl_ms or -1)
    assert node.read(ttl=pb.Ttl(key=b"k", millis=True)) == want


def test_expire_in_the_past_deletes_and_missing_key_is_zero(node):
    node.run(set=Set(b"k", b"v"))
    assert node.run(expire=pb.Expire(key=b"k", expiry=pb.Expiry(ttl_ms=-1))) == 1
    assert node.get(b"k") is None and node.read(db_size=pb.DbSize()) == 0
    assert node.run(expire=pb.Expire(key=b"k", expiry=pb.Expiry(ttl_ms=100))) == 0
    node.run(set=Set(b"k", b"v"))
    assert node.run(expire=pb.Expire(key=b"k", expiry=pb.Expiry(expire_at_ms=1))) == 1
    assert node.get(b"k") is None
    assert err(Reason.SYNTAX)(node.run(expire=pb.Expire(key=b"k", expiry=pb.Expiry())))


def test_ttl_pttl_persist(node):
    assert node.read(ttl=pb.Ttl(key=b"none")) == -2
    node.run(set=Set(b"k", b"v"))
    assert node.read(ttl=pb.Ttl(key=b"k")) == -1
    assert node.run(persist=pb.Persist(key=b"k")) == 0
    node.run(expire=pb.Expire(key=b"k", expiry=pb.Expiry(ttl_ms=1499)))
    assert node.read(ttl=pb.Ttl(key=b"k")) == 1                     # (ms + 500) // 1000
    assert node.read(ttl=pb.Ttl(key=b"k"), now_ms=NOW - 1) == 2
    assert node.read(ttl=pb.Ttl(key=b"k", millis=True)) == 1499
    assert node.run(persist=pb.Persist(key=b"k")) == 1
    assert node.read(ttl=pb.Ttl(key=b"k")) == -1
    assert node.run(persist=pb.Persist(key=b"none")) == 0


def test_expired_keys_are_invisible_to_every_read(node):
    node.run(set=Set(b"k", b"v", expiry=pb.Expiry(ttl_ms=100)))
    later = NOW + 100
    assert node.get(b"k", now_ms=later) is None
    assert node.read(exists=pb.Exists(keys=[b"k"]), now_ms=later) == 0
    assert node.read(ttl=pb.Ttl(key=b"k"), now_ms=later) == -2
    assert node.read(type=pb.Type(key=b"k"), now_ms=later) == Status("none")
    assert node.read(mget=pb.MGet(keys=[b"k"]), now_ms=later) == [None]
    assert node.read(str_len=pb.StrLen(key=b"k"), now_ms=later) == 0
    assert node.read(scan=pb.Scan(), now_ms=later) == [b"0", []]
    assert node.get(b"k", now_ms=later - 1) == b"v"
    # and writes see it as absent: SET NX succeeds, INCR starts from 0
    assert node.run(set=Set(b"k", b"1", condition=pb.IF_ABSENT), now_ms=later) == OK


def test_type(node):
    node.run(set=Set(b"s", b"v"))
    node.put_hash(b"h")
    assert node.read(type=pb.Type(key=b"s")) == Status("string")
    assert node.read(type=pb.Type(key=b"h")) == Status("hash")
    assert node.read(type=pb.Type(key=b"x")) == Status("none")


def test_rename_and_renamenx(node):
    assert err(Reason.NO_SUCH_KEY, "no such key")(node.run(rename=pb.Rename(key=b"a", new_key=b"b")))
    node.run(set=Set(b"a", b"1", expiry=pb.Expiry(ttl_ms=7000)))
    node.put_hash(b"dst")
    assert node.run(rename=pb.Rename(key=b"a", new_key=b"a")) == OK
    assert node.run(rename=pb.Rename(key=b"a", new_key=b"a", if_absent=True)) == 0
    assert node.run(rename=pb.Rename(key=b"a", new_key=b"dst", if_absent=True)) == 0
    assert node.run(rename=pb.Rename(key=b"a", new_key=b"dst")) == OK
    assert node.get(b"a") is None and node.get(b"dst") == b"1"
    assert node.read(ttl=pb.Ttl(key=b"dst", millis=True)) == 7000    # TTL travels with the value
    assert node.run(rename=pb.Rename(key=b"dst", new_key=b"c", if_absent=True)) == 1
    assert node.read(db_size=pb.DbSize()) == 1


def test_scan_through_the_state_machine(node):
    keys = [b"k%d" % i for i in range(55)]
    node.run(mset=pb.MSet(pairs=[pb.KeyValue(key=k, value=b"") for k in keys]))
    node.put_hash(b"h1")
    seen, cursor = [], 0
    while True:
        cursor_bytes, batch = node.read(scan=pb.Scan(cursor=cursor, count=5))
        seen += batch
        cursor = int(cursor_bytes)
        if cursor == 0:
            break
    assert sorted(seen) == sorted(keys + [b"h1"])
    _, batch = node.read(scan=pb.Scan(count=1000, type="hash"))
    assert batch == [b"h1"]
    assert node.read(scan=pb.Scan(count=1000, type="stream")) == [b"0", []]
    _, batch = node.read(scan=pb.Scan(count=1000, match=b"k[1-2]"))
    assert sorted(batch) == [b"k1", b"k2"]


def test_dbsize_flushdb_flushall_are_per_database(node):
    node.run(db=0, set=Set(b"a", b"1"))
    node.run(db=1, set=Set(b"a", b"1"))
    node.run(db=1, set=Set(b"b", b"1"))
    assert node.read(db=1, db_size=pb.DbSize()) == 2
    assert node.run(db=1, flush_db=pb.FlushDb()) == OK
    assert node.read(db=1, db_size=pb.DbSize()) == 0 and node.get(b"a") == b"1"
    assert node.run(db=3, flush_all=pb.FlushAll()) == OK
    assert node.read(db_size=pb.DbSize()) == 0


def test_delete_expired_deletes_only_keys_expired_at_the_entry_clock(node):
    node.run(set=Set(b"a", b"v", expiry=pb.Expiry(expire_at_ms=NOW + 10)))
    node.run(set=Set(b"b", b"v", expiry=pb.Expiry(expire_at_ms=NOW + 20)))
    node.run(set=Set(b"c", b"v"))
    node.run(db=1, set=Set(b"a", b"v", expiry=pb.Expiry(expire_at_ms=NOW + 10)))
    assert node.run(now_ms=NOW + 15, delete_expired=pb.DeleteExpired(keys=[b"a", b"b", b"c", b"zz"])) == 1
    with node.ks.reader() as r:
        assert r.get_raw(0, b"a") is None and r.get_raw(0, b"b") is not None
        assert r.get_raw(1, b"a") is not None                      # only the command's database
        assert r.expired(NOW + 15, 10) == [(1, b"a")]


def test_noop_and_empty_command(node):
    assert node.run(noop=pb.Noop()) == OK
    assert err(Reason.SYNTAX)(node.run())
    assert node.ks.applied_index == node.index


def test_records_carry_the_writing_index(node):
    node.run(set=Set(b"k", b"v"))
    written = node.index
    node.index += 1  # before log version 6 a TTL change kept the CAS
    node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(version=5, now_ms=NOW, command=pb.Command(
        expire=pb.Expire(key=b"k", expiry=pb.Expiry(expire_at_ms=NOW + 100_000))))))
    with node.ks.reader() as r:
        assert r.get(0, b"k", NOW).index == written
    node.run(expire=pb.Expire(key=b"k", expiry=pb.Expiry(ttl_ms=200_000)))   # from it, a change WATCH sees
    with node.ks.reader() as r:
        assert r.get(0, b"k", NOW).index == node.index
    node.run(append=pb.Append(key=b"k", value=b"w"))
    with node.ks.reader() as r:
        assert r.get(0, b"k", NOW).index == node.index


# ---------------------------------------------------------------- limits, read()

def test_apply_rechecks_limits(tmp_path):
    n = Node(str(tmp_path / "ks"), max_key_bytes=8, max_value_bytes=4, databases=2)
    assert err(Reason.INVALID_ARGUMENT, "DB index is out of range")(n.run(db=2, set=Set(b"k", b"v")))
    assert err(Reason.KEY_TOO_LARGE)(n.run(set=Set(b"k" * 9, b"v")))
    assert err(Reason.VALUE_TOO_LARGE)(n.run(mset=pb.MSet(pairs=[pb.KeyValue(key=b"a", value=b"1"),
                                                                 pb.KeyValue(key=b"b", value=b"12345")])))
    assert n.get(b"a") is None
    assert err(Reason.INVALID_ARGUMENT)(n.read(db=5, get=pb.Get(key=b"k")))
    assert n.ks.applied_index == n.index
    n.ks.close()


def test_read_refuses_write_commands(node):
    with pytest.raises(ValueError):
        node.read(set=Set(b"k", b"v"))


# ---------------------------------------------------------------- exactly once

def test_replayed_indexes_are_skipped_even_after_restart(tmp_path):
    path = str(tmp_path / "ks")
    n = Node(path)
    entries = [n.entry(append=pb.Append(key=b"log", value=b"x%d" % i)) for i in range(3)]
    for i, data in enumerate(entries, 1):
        n.sm.apply(i, data)
    assert n.sm.apply(2, entries[1]) is None and n.sm.apply(3, entries[2]) is None
    n.ks.close()
    n = Node(path)                                                 # restart: PySyncObj replays the log
    assert n.ks.applied_index == 3
    for i, data in enumerate(entries, 1):
        assert n.sm.apply(i, data) is None
    assert n.get(b"log") == b"x0x1x2"
    assert n.sm.apply(4, entries[0]) == 8
    n.ks.close()


@pytest.mark.parametrize("data", [b"", b"\x02garbage", b"\x01\xff\xff\xff", b"\x07"])
def test_undecodable_entries_are_error_replies(node, data):
    node.run(set=Set(b"k", b"v"))
    result = node.sm.apply(node.index + 1, data)
    assert err(Reason.INTERNAL)(result)
    assert node.ks.applied_index == node.index + 1 and node.get(b"k") == b"v"


def test_a_command_unknown_to_this_binary_is_refused_alike_everywhere(node):
    raw = pb.LogEntry(version=1, now_ms=NOW).SerializeToString()
    unknown_command = pb.Command(db=0).SerializeToString() + bytes([0xF8, 0x06, 0x01])   # field 111
    data = commands.ENTRY_MARKER + raw + bytes([0x32, len(unknown_command)]) + unknown_command
    result = node.sm.apply(1, data)
    assert err(Reason.INVALID_ARGUMENT)(result) and "does not know" in result.message
    assert node.ks.applied_index == 1


def test_in_a_batch_only_the_entry_carrying_an_unknown_field_is_refused(node):
    known = pb.LogEntry(version=1, now_ms=NOW, command=pb.Command(set=Set(b"k", b"v"))).SerializeToString()
    raw = pb.LogEntry(version=1, now_ms=NOW).SerializeToString()
    unknown_command = pb.Command(set=Set(b"k2", b"v2")).SerializeToString() + bytes([0xF8, 0x06, 0x01])
    unknown = raw + bytes([0x32, len(unknown_command)]) + unknown_command
    def batch(*entries: bytes) -> bytes:   # LogBatch: entries = 1
        return commands.BATCH_MARKER + b"".join(bytes([0x0A, len(e)]) + e for e in entries)

    results = node.sm.apply(1, batch(known, unknown, known))
    assert results[0] == commands.OK and results[2] == commands.OK
    assert err(Reason.INVALID_ARGUMENT)(results[1]) and "does not know" in results[1].message
    assert node.get(b"k") == b"v" and node.get(b"k2") is None
    assert node.sm.apply(2, batch(known, known)) == [commands.OK, commands.OK], "the next batch is checked afresh"


def test_an_entry_of_a_newer_version_waits_for_an_upgrade(node):
    node.run(set=Set(b"k", b"v"))
    newer = commands.encode_entry(pb.LogEntry(version=commands.MAX_VERSION + 1, now_ms=NOW,
                                              command=pb.Command(set=Set(b"k", b"new"))))
    for _ in range(2):  # asked again on every tick: still waiting, nothing applied
        with pytest.raises(UpgradeRequiredError, match="upgrade this node") as info:
            node.sm.apply(node.index + 1, newer)
        assert info.value.index == node.index + 1
    assert node.ks.applied_index == node.index and node.get(b"k") == b"v"


def test_a_node_held_at_an_older_version_waits_too(tmp_path):
    held = Node(str(tmp_path / "held"))
    held.sm = StateMachine(held.ks, held.config, max_version=1)
    entry = commands.encode_entry(pb.LogEntry(version=2, now_ms=NOW, command=pb.Command(set=Set(b"k", b"v"))))
    with pytest.raises(UpgradeRequiredError):
        held.sm.apply(1, entry)
    assert StateMachine(held.ks, held.config).apply(1, entry) == OK  # the same keyspace, upgraded binary
    held.ks.close()


def test_set_version_raises_the_log_version_and_survives_restart(tmp_path):
    path = str(tmp_path / "ks")
    n = Node(path)
    assert n.sm.log_version == 1, "a new keyspace starts at version 1 until the leader raises it"
    assert n.run(set_version=pb.SetVersion(version=2)) == OK
    assert n.sm.log_version == 2
    assert n.run(set_version=pb.SetVersion(version=1)) == OK and n.sm.log_version == 2, "never lowered"
    n.ks.close()
    assert Node(path).sm.log_version == 2


def test_retried_write_with_the_same_client_sequence_applies_once(node):
    """A retry gets the first application's result and log index (what the client would have
    been told had the first answer arrived), and changes nothing."""
    assert node.run(append=pb.Append(key=b"k", value=b"ab"), client_id="c1", sequence=1) == 2
    first_index = node.index
    node.run(set=Set(b"other", b"x"))
    assert node.run(append=pb.Append(key=b"k", value=b"ab"), client_id="c1", sequence=1) == Replayed(2, first_index)
    assert node.get(b"k") == b"ab"
    assert node.run(append=pb.Append(key=b"k", value=b"ab"), client_id="c2", sequence=1) == 4   # another client
    assert node.run(append=pb.Append(key=b"k", value=b"cd"), client_id="c1", sequence=2) == 6
    stale = node.run(append=pb.Append(key=b"k", value=b"zz"), client_id="c1", sequence=1)
    assert err(Reason.STALE_SEQUENCE)(stale)
    assert node.get(b"k") == b"ababcd"
    node.put_hash(b"h")
    first = node.run(set=Set(b"h", b"x", get=True), client_id="c3", sequence=9)
    assert err(Reason.WRONGTYPE)(first)
    assert node.run(set=Set(b"h", b"x", get=True), client_id="c3", sequence=9).result == first  # errors replay too
    assert node.run(incr_by=pb.IncrBy(key=b"n", delta=1)) == 1                            # no client id: no dedup
    assert node.run(incr_by=pb.IncrBy(key=b"n", delta=1)) == 2


def test_dedup_table_survives_restart_and_snapshot(tmp_path):
    path = str(tmp_path / "ks")
    n = Node(path)
    n.run(incr_by=pb.IncrBy(key=b"n", delta=10), client_id="c", sequence=5)
    snap = str(tmp_path / "snap")
    n.sm.snapshot(snap)
    n.run(set=Set(b"other", b"x"))
    n.sm.restore(snap)
    n.index = n.ks.applied_index
    assert n.run(incr_by=pb.IncrBy(key=b"n", delta=10), client_id="c", sequence=5) == Replayed(10, 1)
    n.ks.close()
    n = Node(path)
    assert n.run(incr_by=pb.IncrBy(key=b"n", delta=10), client_id="c", sequence=5) == Replayed(10, 1)
    assert n.get(b"n") == b"10" and n.get(b"other") is None
    n.ks.close()


def test_dedup_entries_expire_after_an_hour_of_log_time(node):
    node.run(incr_by=pb.IncrBy(key=b"n", delta=1), client_id="old", sequence=1)
    node.run(incr_by=pb.IncrBy(key=b"n", delta=1), client_id="new", sequence=1, now_ms=NOW + DEDUP_WINDOW_MS - 1)
    with node.ks.reader() as r:
        assert len(r.meta_range(b"dedup/c/", 10)) == 2
    node.run(noop=pb.Noop(), now_ms=NOW + DEDUP_WINDOW_MS + 1)
    with node.ks.reader() as r:
        assert [name for name, _ in r.meta_range(b"dedup/c/", 10)] == [b"dedup/c/new"]
        assert [name for name, _ in r.meta_range(b"dedup/i/", 10)] == [b"dedup/i/new"]
    assert node.run(incr_by=pb.IncrBy(key=b"n", delta=1), client_id="new", sequence=1).result == 2


# ---------------------------------------------------------------- maxmemory

def test_out_of_memory_refuses_growth_but_serves_reads_and_deletes(tmp_path):
    n = Node(str(tmp_path / "ks"), maxmemory_bytes=1000)
    assert n.run(set=Set(b"a", b"x" * 600)) == OK
    before = n.ks.stats()
    oom = err(Reason.OUT_OF_MEMORY, "command not allowed when used memory > 'maxmemory'.")
    assert oom(n.run(set=Set(b"b", b"y" * 400)))
    assert oom(n.run(append=pb.Append(key=b"a", value=b"z" * 400)))
    assert oom(n.run(mset=pb.MSet(pairs=[pb.KeyValue(key=b"c", value=b"1"), pb.KeyValue(key=b"d", value=b"2" * 500)])))
    assert n.ks.stats().used_bytes == before.used_bytes and n.read(db_size=pb.DbSize()) == 1
    assert n.get(b"c") is None and n.get(b"a") == b"x" * 600                     # reads still work
    assert n.run(set=Set(b"a", b"short")) == OK                                   # shrinking writes allowed
    assert n.run(set=Set(b"b", b"y" * 400)) == OK                                 # room again
    assert n.run(**{"del": pb.Del(keys=[b"a", b"b"])}) == 2
    assert n.ks.stats().used_bytes == 0 and n.ks.applied_index == n.index
    n.ks.close()


# ---------------------------------------------------------------- determinism

def _random_entries(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    keys = [b"k%d" % i for i in range(20)]
    out = []
    for i in range(count):
        key, now = rng.choice(keys), NOW + i * 50
        kind = rng.randrange(9)
        if kind == 0:
            op = {"set": Set(key, b"v%d" % i, expiry=pb.Expiry(expire_at_ms=now + rng.randrange(1, 2000)))}
        elif kind == 1:
            op = {"incr_by": pb.IncrBy(key=key, delta=rng.randrange(-5, 5))}
        elif kind == 2:
            op = {"append": pb.Append(key=key, value=b"x")}
        elif kind == 3:
            op = {"del": pb.Del(keys=[key])}
        elif kind == 4:
            op = {"incr_by_float": pb.IncrByFloat(key=key, delta=rng.random())}
        elif kind == 5:
            op = {"rename": pb.Rename(key=key, new_key=rng.choice(keys))}
        elif kind == 6:
            op = {"delete_expired": pb.DeleteExpired(keys=keys)}
        elif kind == 7:
            op = {"expire": pb.Expire(key=key, expiry=pb.Expiry(expire_at_ms=now + rng.randrange(-500, 500)))}
        else:
            op = {"set_range": pb.SetRange(key=key, offset=rng.randrange(10), value=b"ab")}
        out.append(Node.entry(db=rng.randrange(2), now_ms=now, client_id=rng.choice(["", "a", "b"]),
                              sequence=i + 1, **op))
    return out


def test_two_replicas_fed_the_same_log_end_identical(tmp_path):
    entries = _random_entries(seed=7, count=400)
    a, b = Node(str(tmp_path / "a")), Node(str(tmp_path / "b"))
    results_a = [a.sm.apply(i, e) for i, e in enumerate(entries, 1)]
    results_b = [b.sm.apply(i, e) for i, e in enumerate(entries, 1)]
    assert results_a == results_b
    assert a.dump() == b.dump()
    assert any(isinstance(r, CommandError) for r in results_a) and len(a.dump()[0]) > 0
    a.ks.close()
    b.ks.close()


# ---------------------------------------------------------------- CONFIG SET (replicated settings)

def config_set(**pairs) -> pb.ConfigSet:
    return pb.ConfigSet(parameters=[pb.ConfigPair(name=k.replace("_", "-"), value=v) for k, v in pairs.items()])


def test_config_set_is_stored_with_the_data_and_survives_restart_and_snapshot(tmp_path):
    path = str(tmp_path / "ks")
    n = Node(path)
    seen = []
    n.sm.on_settings_change.append(seen.append)
    assert n.run(config_set=config_set(hz="20", timeout="30", raftcache_default_read="bounded:50")) == OK
    assert n.sm.settings == {"hz": "20", "timeout": "30", "raftcache-default-read": "bounded:50"}
    assert seen[-1] == n.sm.settings
    snap = str(tmp_path / "snap")
    n.sm.snapshot(snap)
    assert n.run(config_set=config_set(hz="50")) == OK
    n.sm.restore(snap)
    assert n.sm.settings["hz"] == "20"          # the snapshot's table, not the later change
    n.ks.close()
    n = Node(path)
    assert n.sm.settings["hz"] == "20" and n.sm.settings["timeout"] == "30"
    n.ks.close()


def test_config_set_is_all_or_nothing_and_refuses_fixed_parameters(node):
    bad = node.run(config_set=config_set(hz="20", maxmemory="lots"))
    assert isinstance(bad, CommandError) and "maxmemory" in bad.message and "memory value" in bad.message
    assert node.sm.settings == {}
    fixed = node.run(config_set=config_set(databases="32"))
    assert isinstance(fixed, CommandError) and "node configuration" in fixed.message
    unknown = node.run(config_set=config_set(no_such_thing="1"))
    assert isinstance(unknown, CommandError) and "Unknown option" in unknown.message
    unknown_policy = node.run(config_set=config_set(maxmemory_policy="most-lru"))
    assert isinstance(unknown_policy, CommandError) and "volatile-ttl" in unknown_policy.message
    assert node.run(config_set=config_set(maxmemory_policy="ALLKEYS-LRU")) == OK
    assert node.sm.settings["maxmemory-policy"] == "allkeys-lru"
    too_many = node.run(config_set=config_set(maxmemory_samples="65"))
    assert isinstance(too_many, CommandError) and "between 1 and 64" in too_many.message


def test_config_set_maxmemory_takes_effect_at_its_index_and_never_above_the_node_ceiling(tmp_path):
    n = Node(str(tmp_path / "ks"), maxmemory_bytes=4 << 20)
    assert n.run(set=Set(b"a", b"x" * (2 << 20))) == OK
    assert n.run(config_set=config_set(maxmemory="1mb")) == OK
    assert n.ks.stats().maxmemory_bytes == 1 << 20
    assert err(Reason.OUT_OF_MEMORY)(n.run(set=Set(b"b", b"y")))
    assert n.run(**{"del": pb.Del(keys=[b"a"])}) == 1  # deletes still work
    assert n.run(config_set=config_set(maxmemory="1gb")) == OK   # above the node's 4 MiB: capped
    assert n.ks.stats().maxmemory_bytes == 4 << 20
    assert n.run(config_set=config_set(maxmemory="0")) == OK     # 0 = the node's own value
    assert n.ks.stats().maxmemory_bytes == 4 << 20
    assert n.run(config_set=config_set(maxmemory="1000")) == OK  # any value from log version 19, as Redis
    assert n.ks.stats().maxmemory_bytes == 1000
    n.index += 1
    older = n.sm.apply(n.index, commands.encode_entry(pb.LogEntry(
        version=commands.ANY_MAXMEMORY_VERSION - 1, now_ms=n.now_ms,
        command=pb.Command(config_set=config_set(maxmemory="2000")))))
    assert isinstance(older, CommandError) and "at least 1048576" in older.message   # as that release did
    assert n.ks.stats().maxmemory_bytes == 1000
    n.ks.close()


def test_config_set_proto_max_bulk_len_limits_values_at_apply(node):
    assert node.run(config_set=config_set(proto_max_bulk_len="1mb")) == OK
    assert node.sm.limits.max_value_bytes == 1 << 20
    too_big = node.run(set=Set(b"k", b"x" * ((1 << 20) + 1)))
    assert isinstance(too_big, CommandError) and too_big.reason == Reason.VALUE_TOO_LARGE
    assert node.run(set=Set(b"k", b"x" * (1 << 20))) == OK


def test_changes_counts_writes_that_changed_something(node):
    """INFO's rdb_changes_since_last_save, as Redis's dirty counter: not reads, no-ops,
    errors, or writes that found nothing to change."""
    node.run(set=pb.Set(key=b"k", value=b"v"))
    node.run(setbit=pb.SetBit(key=b"b", offset=0, value=1))
    assert node.sm.changes == 2
    node.run(setbit=pb.SetBit(key=b"b", offset=0, value=1))   # the bit is already 1
    node.run(**{"del": pb.Del(keys=[b"missing"])})
    node.run(noop=pb.Noop())
    node.run(incr_by=pb.IncrBy(key=b"k", delta=1))             # not an integer: an error
    assert node.sm.changes == 2
    node.run(**{"del": pb.Del(keys=[b"k", b"b"])})
    assert node.sm.changes == 3


def test_a_restored_snapshot_puts_its_settings_in_force_at_once(tmp_path):
    """A node that joins through a snapshot reports the cluster's CONFIG SET values
    before it applies anything else (ctl status once showed the node's own maxmemory)."""
    source = Node(str(tmp_path / "source"), maxmemory_bytes=1 << 30)
    source.run(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="maxmemory", value="256mb")]))
    assert source.sm.snapshot(str(tmp_path / "snap")) == source.index
    joiner = Node(str(tmp_path / "joiner"), maxmemory_bytes=1 << 30)
    assert joiner.sm.limits.maxmemory_bytes == 1 << 30
    joiner.sm.restore(str(tmp_path / "snap"))
    assert joiner.sm.limits.maxmemory_bytes == 256 << 20
    assert joiner.sm.settings["maxmemory"] == str(256 << 20)


def test_ctx_using_copies_every_other_field():
    """Ctx.using (a queued command's context, made for each one) is dataclasses.replace: a field
    added to Ctx and not to `using` would reach a transaction's commands as its default."""
    ctx = Ctx(*(object() for _ in dataclasses.fields(Ctx)))
    assert ctx.using(7, 9) == dataclasses.replace(ctx, db=7, seed=9)


def test_restore_of_a_redis_7_4_hash_keeps_its_field_deadlines_from_log_version_27(node):
    """RESTORE of a payload a real Redis 7.4.1 wrote (tests/unit/test_rdb.py): its fields' deadlines
    kept at version 27, the entry refused unread in an entry of an older version (no release before
    27 logs such a payload: its front end refused it), the same on every replica."""
    def restore(key: bytes, version: int):
        node.index += 1
        entry = pb.LogEntry(version=version, now_ms=NOW, command=pb.Command(
            restore=pb.Restore(key=key, payload=bytes.fromhex(REDIS_74["listpack_ex"]))))
        return node.sm.apply(node.index, commands.encode_entry(entry))

    refused = restore(b"old", commands.RESTORE_74_VERSION - 1)
    assert isinstance(refused, CommandError) and "does not know" in refused.message
    assert node.read(exists=pb.Exists(keys=[b"old"])) == 0
    assert restore(b"new", commands.RESTORE_74_VERSION) == OK
    assert node.read(httl=pb.HTtl(key=b"new", fields=[b"a", b"b", b"c"], millis=True, absolute=True)) == \
        [Y2100_MS, -1, Y2100_MS + 123]


def test_dump_and_restore_inside_a_script_keep_their_older_rules_before_log_version_27(node):
    """A script's RESTORE and DUMP at apply follow the entry's version: a version-26 replica
    refused Redis 7.4's payload and DUMP of a hash with field TTLs; a newer one must too."""
    scripting.install()

    def run_script(body: str, key: bytes, version: int = commands.MAX_VERSION):
        node.index += 1
        return node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(version=version, now_ms=NOW, command=pb.Command(
            eval=pb.Eval(body=body.encode(), keys=[key], args=[bytes.fromhex(REDIS_74["listpack_ex"])])))))

    restore = "return redis.pcall('RESTORE', KEYS[1], 0, ARGV[1])"
    older = commands.RESTORE_74_VERSION - 1
    assert "DUMP payload version or checksum are wrong" in str(run_script(restore, b"old", older))
    assert run_script(restore, b"new") == OK
    dump = "return redis.pcall('DUMP', KEYS[1])"
    assert "field expirations is not supported" in str(run_script(dump, b"new", older))
    assert run_script(dump, b"new")[:1] == b"\x18"   # RDB_TYPE_HASH_METADATA
    assert commands.required_version(pb.Command(restore_keys=pb.RestoreKeys(keys=[
        pb.MigratedKey(key=b"k", payload=bytes.fromhex(REDIS_74["listpack_ex"]))]))) == commands.RESTORE_74_VERSION


def test_writes_that_change_nothing_are_a_change_of_the_key_from_log_version_27(node):
    """As Redis signals them (a WATCH of the key fails): an LTRIM that removes nothing writes the
    list with its index, a SET with an EXAT already past on an absent key records it as gone at
    its index; entries of older versions leave both untouched."""
    def written_at(key: bytes) -> int:
        with node.ks.reader() as txn:
            return txn.get(0, key, NOW).index

    def entry(version: int, **op):
        node.index += 1
        return node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(
            version=version, now_ms=NOW, command=pb.Command(**op))))

    node.run(push=pb.Push(key=b"l", values=[b"a", b"b"]))
    pushed = written_at(b"l")
    older, newest = commands.WATCH_NOOPS_VERSION - 1, commands.WATCH_NOOPS_VERSION
    assert entry(older, ltrim=pb.LTrim(key=b"l", start=0, stop=-1)) == OK and written_at(b"l") == pushed
    assert entry(newest, ltrim=pb.LTrim(key=b"l", start=0, stop=-1)) == OK and written_at(b"l") == node.index

    def vanished_at(key: bytes) -> int:
        with node.ks.reader() as txn:
            return txn.vanished_at(0, key)

    past = pb.Expiry(expire_at_ms=1)
    assert entry(older, set=pb.Set(key=b"x", value=b"v", expiry=past)) == OK and vanished_at(b"x") == 0
    assert entry(newest, set=pb.Set(key=b"y", value=b"v", expiry=past)) == OK and vanished_at(b"y") == node.index
    assert node.get(b"x") is None and node.get(b"y") is None
