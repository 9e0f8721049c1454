"""Handler bugs found by the cluster fuzzer (tests/fuzz), one test each.

Each command is applied as a log entry through a real StateMachine and
Keyspace (tests/unit/test_statemachine.Node), as every replica would apply
it; arguments are what a gRPC client can send, which the RESP front end
would have refused.
"""

from __future__ import annotations

import pytest

from raftcache.node.storage.containers import MAX_ELEMENT_BYTES
from raftcache.node.errors import CommandError, Reason
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import Node


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    yield n
    n.ks.close()


@pytest.mark.parametrize("count", [-1, -5, -(2**63)])
def test_spop_refuses_a_negative_count(node, count):
    """SPOP with count -2**63 (gRPC) picked 2**63 members with repeats in apply: every
    replica hung; a small negative count removed a repeated member twice (KeyError)."""
    node.run(sadd=pb.SAdd(key=b"s", members=[b"a", b"b", b"c"]))
    result = node.run(spop=pb.SPop(key=b"s", count=count))
    assert isinstance(result, CommandError) and result.reason == Reason.INVALID_ARGUMENT
    assert sorted(node.read(smembers=pb.SMembers(key=b"s"))) == [b"a", b"b", b"c"]


def test_spop_with_counts_still_works(node):
    node.run(sadd=pb.SAdd(key=b"s", members=[b"a", b"b", b"c"]))
    assert node.run(spop=pb.SPop(key=b"s", count=0)) == []
    assert len(node.run(spop=pb.SPop(key=b"s", count=2))) == 2
    assert len(node.run(spop=pb.SPop(key=b"s", count=2**63 - 1))) == 1
    assert node.run(spop=pb.SPop(key=b"s", count=-1)).reason == Reason.INVALID_ARGUMENT  # empty set: still refused


def test_set_diff_of_no_keys_is_empty(node):
    """SetOp / SetOpStore SET_DIFF with no keys (gRPC) raised IndexError: in apply on every
    replica for the STORE form, in the servicer for the read."""
    assert node.read(set_op=pb.SetOp(op=pb.SET_DIFF)) == []
    assert node.run(set_op_store=pb.SetOpStore(key=b"d", op=pb.SET_DIFF)) == 0


def test_a_watch_on_a_database_number_past_the_keyspace_is_refused(node):
    """Transaction.watches[].db = 2**32-1 (gRPC) raised struct.error in apply on every replica."""
    tx = pb.Transaction(commands=[pb.Command(set=pb.Set(key=b"k", value=b"v"))],
                        watches=[pb.Watched(db=2**32 - 1, key=b"k", index=0)])
    result = node.run(transaction=tx)
    assert isinstance(result, CommandError) and result.reason == Reason.INVALID_ARGUMENT
    assert node.get(b"k") is None


_MANY = 200  # past itemview.INLINE_MAX: the container is itemized, one LMDB key per element
_BIG = b"x" * (MAX_ELEMENT_BYTES + 1)


@pytest.mark.parametrize("write", [
    lambda k, m: pb.Command(sadd=pb.SAdd(key=k, members=[m])),
    lambda k, m: pb.Command(zadd=pb.ZAdd(key=k, members=[pb.ScoreMember(score=1, member=m)])),
    lambda k, m: pb.Command(hset=pb.HSet(key=k, pairs=[pb.KeyValue(key=m, value=b"1")])),
], ids=["sadd", "zadd", "hset"])
@pytest.mark.parametrize("itemized", [False, True], ids=["inline", "itemized"])
def test_an_element_too_long_for_an_item_key_is_refused(node, write, itemized):
    """SADD/ZADD/HSET of a 495..511-byte element into an itemized container (or into an
    inline one that later grows past INLINE_MAX) made LMDB refuse the key inside apply
    (MDB_BAD_VALSIZE) on every replica; HSET's 500-byte check_limits allowed 500."""
    fill = [write(b"c", b"e%d" % i) for i in range(_MANY if itemized else 3)]
    for command in fill:
        node.run(**{command.WhichOneof("op"): getattr(command, command.WhichOneof("op"))})
    big = write(b"c", _BIG)
    name = big.WhichOneof("op")
    result = node.run(**{name: getattr(big, name)})
    assert isinstance(result, CommandError) and result.reason == Reason.KEY_TOO_LARGE
    ok = write(b"c", _BIG[:-1])  # the longest element that fits
    assert not isinstance(node.run(**{name: getattr(ok, name)}), CommandError)
    for command in (write(b"c", b"g%d" % i) for i in range(_MANY)):  # grows past INLINE_MAX: still fine
        assert not isinstance(node.run(**{name: getattr(command, name)}), CommandError)


@pytest.mark.parametrize("op", ["hincrby", "hincrbyfloat"])
def test_hincrby_of_a_field_too_long_for_an_item_key_is_refused(node, op):
    node.run(hset=pb.HSet(key=b"h", pairs=[pb.KeyValue(key=b"f%d" % i, value=b"1") for i in range(_MANY)]))
    message = pb.HIncrBy(key=b"h", field=_BIG, delta=1) if op == "hincrby" else \
        pb.HIncrByFloat(key=b"h", field=_BIG, delta=1.0)
    result = node.run(**{op: message})
    assert isinstance(result, CommandError) and result.reason == Reason.KEY_TOO_LARGE


@pytest.mark.parametrize("make", [
    lambda members: pb.Command(sismember=pb.SIsMember(key=b"c", members=members)),
    lambda members: pb.Command(zscore=pb.ZScore(key=b"c", members=members)),
], ids=["sismember", "zscore"])
def test_single_member_reads_need_exactly_one_member(node, make):
    """SIsMember / ZScore without `multi` and no member (gRPC) raised IndexError: in the
    servicer as a read, and in apply on every replica inside a Transaction."""
    node.run(sadd=pb.SAdd(key=b"c", members=[b"a"])) if make([]).WhichOneof("op") == "sismember" else \
        node.run(zadd=pb.ZAdd(key=b"c", members=[pb.ScoreMember(score=1, member=b"a")]))
    for members in ([], [b"a", b"b"]):
        command = make(members)
        name = command.WhichOneof("op")
        result = node.read(**{name: getattr(command, name)})
        assert isinstance(result, CommandError) and result.reason == Reason.SYNTAX
        [in_tx] = node.run(transaction=pb.Transaction(commands=[command]))
        assert isinstance(in_tx, CommandError) and in_tx.reason == Reason.SYNTAX
    command = make([b"a"])
    name = command.WhichOneof("op")
    assert node.read(**{name: getattr(command, name)}) in (1, 1.0)


@pytest.mark.parametrize("by", [pb.BY_SCORE, pb.BY_LEX])
def test_zrange_limit_past_sys_maxsize(node, by):
    """ZRANGE BY_SCORE/BY_LEX with LIMIT offset 2**63-2 count 26 (gRPC) made islice raise
    ValueError: in the read servicer, and in apply for ZRANGESTORE / ZREMRANGE."""
    node.run(zadd=pb.ZAdd(key=b"z", members=[pb.ScoreMember(score=1, member=b"a"),
                                            pb.ScoreMember(score=2, member=b"b")]))
    rng = pb.ZRange(key=b"z", by=by, min_score=pb.ScoreBound(value=float("-inf")),
                    max_score=pb.ScoreBound(value=float("inf")), min_lex=pb.LexBound(infinite=-1),
                    max_lex=pb.LexBound(infinite=1), offset=2**63 - 2, count=26)
    assert node.read(zrange=rng) == []
    assert node.run(zrangestore=pb.ZRangeStore(key=b"d", range=rng)) == 0
    rng.offset, rng.count = 1, 2**63 - 1
    assert node.read(zrange=rng) == [b"b"]
    assert node.run(zrangestore=pb.ZRangeStore(key=b"d", range=rng)) == 1


def test_sort_takes_a_bounded_number_of_get_options(node):
    """SORT l BY nosort with 10,000 `GET #` built 10 million values on the node's one thread:
    more than MAX_GETS are refused on a read and at apply from log version 20, and an older
    entry still stores what it stored."""
    from raftcache.node import commands
    from raftcache.node.commands.sort import MAX_GETS
    node.run(push=pb.Push(key=b"l", values=[b"%d" % i for i in range(3)]))
    many, allowed = [b"#"] * (MAX_GETS + 1), [b"#"] * MAX_GETS
    refused = node.read(sort=pb.Sort(key=b"l", no_sort=True, get=many))
    assert isinstance(refused, CommandError) and "at most 64 GET options" in refused.message
    assert len(node.read(sort=pb.Sort(key=b"l", no_sort=True, get=allowed))) == 3 * MAX_GETS
    stored = node.run(sort_store=pb.Sort(key=b"l", no_sort=True, get=many, store=b"out"))
    assert isinstance(stored, CommandError) and node.read(llen=pb.LLen(key=b"out")) == 0
    node.index += 1
    old = commands.encode_entry(pb.LogEntry(version=commands.SORT_GETS_VERSION - 1, now_ms=node.now_ms, command=pb.Command(
        sort_store=pb.Sort(key=b"l", no_sort=True, get=many, store=b"out"))))
    assert node.sm.apply(node.index, old) == 3 * (MAX_GETS + 1)
