"""The keyspace with `writemap` leaves what it leaves with nested transactions.

Under `writemap` LMDB cannot nest transactions, so a savepoint whose result is not kept (a
script that flushed and then failed, a transaction or a SCRIPT / FUNCTION write refused, a
command that raised) makes apply abort the entry and apply it again with that savepoint
answered by its result (WriteTxn.savepoint). Each test applies the same entries to two state
machines, one per mode, and compares every reply and every table.
"""

from __future__ import annotations

import random

import pytest

from raftcache.node import commands
from raftcache.node.commands import statemachine
from raftcache.node.errors import CommandError
from raftcache.node.config import KeyspaceConfig
from raftcache.node.storage.keyspace import Keyspace, Record, RolledBack, ValueType
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_script_effects import cmd, tables
from tests.unit.test_statemachine import Node

FLUSH_THEN_FAIL = "redis.call('SET', 'inside', '1') redis.call('FLUSHALL') redis.call('SET', KEYS[1], 'x') error('boom')"
FLUSH_AND_KEEP = "redis.call('FLUSHDB') redis.call('SET', KEYS[1], ARGV[1]) return 'flushed'"


class Pair:
    """A node with nested transactions and one with `writemap`, fed the same entries."""

    def __init__(self, root, **limits):
        self.nodes = [Node(str(root / "nested"), writemap=False, **limits),
                      Node(str(root / "writemap"), writemap=True, **limits)]
        assert [n.ks.writemap for n in self.nodes] == [False, True]
        self.seed = 0

    def apply(self, *batch: pb.Command) -> list:
        """The batch as one LogBatch on both; its replies (the same on both)."""
        self.seed += 1
        replies = []
        for node in self.nodes:
            node.index += 1
            entries = [pb.LogEntry(version=commands.MAX_VERSION, now_ms=node.now_ms, seed=self.seed, command=c)
                       for c in batch]
            replies.append(_plain(node.sm.apply(node.index, commands.encode_batch(entries))))
        assert replies[0] == replies[1]
        return replies[0]

    def assert_same_tables(self) -> None:
        assert tables(self.nodes[0]) == tables(self.nodes[1])
        assert self.nodes[0].sm.changes == self.nodes[1].sm.changes   # (INFO's dirty counter: counted once)


def _plain(result):
    if isinstance(result, list):
        return [_plain(r) for r in result]
    if isinstance(result, CommandError):
        return ("error", result.message, result.reason)
    return result


@pytest.fixture
def pair(tmp_path):
    return Pair(tmp_path)


def test_a_flushing_script_that_fails_is_rolled_back_alone_in_its_batch(pair):
    pair.apply(cmd("SET", "a", "1"), cmd("SET", "b", "2"))
    replies = pair.apply(cmd("SET", "c", "3"), cmd("EVAL", FLUSH_THEN_FAIL, 1, "k"), cmd("SET", "d", "4"),
                         cmd("EVAL", FLUSH_THEN_FAIL, 1, "k2"), cmd("INCR", "n"))
    assert replies[0] == "OK" and replies[2] == "OK" and replies[4] == 1
    assert replies[1][0] == "error" and "boom" in replies[1][1] and replies[3][0] == "error"
    for node in pair.nodes:
        assert [node.get(k) for k in (b"a", b"b", b"c", b"d", b"inside", b"k")] == [b"1", b"2", b"3", b"4", None, None]
    pair.assert_same_tables()


def test_a_flushing_script_that_succeeds_keeps_its_flush(pair):
    pair.apply(cmd("SET", "a", "1"))
    assert pair.apply(cmd("EVAL", FLUSH_AND_KEEP, 1, "k", "v"), cmd("SET", "after", "1")) == [b"flushed", "OK"]
    for node in pair.nodes:
        assert [node.get(k) for k in (b"a", b"k", b"after")] == [None, b"v", b"1"]
    pair.assert_same_tables()


def test_a_transaction_keeps_its_commands_around_a_failed_flushing_script(pair):
    pair.apply(cmd("SET", "a", "1"))
    exec_ = pb.Command(transaction=pb.Transaction(commands=[
        cmd("SET", "t1", "1"), cmd("EVAL", FLUSH_THEN_FAIL, 1, "k"), cmd("SET", "t2", "2"),
        cmd("EVAL", FLUSH_THEN_FAIL, 1, "k3")]))
    replies = pair.apply(cmd("SET", "before", "1"), exec_, cmd("SET", "after", "1"))
    assert replies[0] == "OK" and replies[2] == "OK"
    inner = replies[1]
    assert inner[0] == "OK" and inner[2] == "OK" and inner[1][0] == "error" and inner[3][0] == "error"
    for node in pair.nodes:
        assert [node.get(k) for k in (b"a", b"before", b"t1", b"t2", b"after", b"inside")] == \
            [b"1", b"1", b"1", b"2", b"1", None]
    pair.assert_same_tables()


def test_script_and_function_writes_refused_leave_the_meta_table_as_it_was(pair):
    library = b"#!lua name=lib\nredis.register_function('f', function(keys, args) return 1 end)"
    half = b"#!lua name=half\nredis.register_function('g', function() return 2 end)\nredis.register_function('f', 1)"
    replies = pair.apply(pb.Command(script_load=pb.ScriptLoad(body=b"return 1")),
                         pb.Command(script_load=pb.ScriptLoad(body=b"this is not lua")),
                         pb.Command(function_load=pb.FunctionLoad(code=library)),
                         pb.Command(function_load=pb.FunctionLoad(code=library)),
                         pb.Command(function_load=pb.FunctionLoad(code=half)),
                         pb.Command(function_restore=pb.FunctionRestore(payload=b"\x00not a payload")),
                         cmd("FCALL", "f", 0))
    assert [r[0] == "error" for r in replies[1:6]] == [True, False, True, True, True]
    assert replies[6] == 1
    pair.assert_same_tables()


def test_a_command_that_raises_is_answered_alone_as_an_internal_error(pair, monkeypatch):
    append = statemachine.HANDLERS["append"]

    def raising(ctx, op):
        if op.key == b"boom":
            ctx.txn.put(ctx.db, b"half-written", Record(ValueType.STRING, b"x", 0, 0))
            raise RuntimeError("a bug")
        return append(ctx, op)

    monkeypatch.setitem(statemachine.HANDLERS, "append", raising)
    replies = pair.apply(cmd("SET", "a", "1"), cmd("APPEND", "boom", "x"), cmd("APPEND", "a", "2"),
                         cmd("EVAL", FLUSH_THEN_FAIL, 1, "k"), cmd("SET", "c", "3"))
    assert replies[0] == "OK" and replies[1][0] == "error" and "internal error" in replies[1][1]
    assert replies[2] == 2 and replies[3][0] == "error" and replies[4] == "OK"
    for node in pair.nodes:
        assert [node.get(k) for k in (b"a", b"half-written", b"c")] == [b"12", None, b"3"]
    pair.assert_same_tables()


def test_random_batches_with_failing_flushes_leave_the_same_keyspace(pair):
    rng = random.Random(11)
    for _ in range(40):
        batch = []
        for _ in range(rng.randrange(1, 12)):
            roll = rng.random()
            key = f"k{rng.randrange(20)}"
            if roll < 0.1:
                batch.append(cmd("EVAL", FLUSH_THEN_FAIL, 1, key))
            elif roll < 0.13:
                batch.append(cmd("EVAL", FLUSH_AND_KEEP, 1, key, "v"))
            elif roll < 0.2:
                batch.append(pb.Command(transaction=pb.Transaction(commands=[
                    cmd("INCR", key), cmd("EVAL", FLUSH_THEN_FAIL, 1, key), cmd("RPUSH", f"l{key}", "x")])))
            elif roll < 0.6:
                batch.append(cmd("INCR", key))
            else:
                batch.append(cmd("SET", key, str(rng.random())))
        pair.apply(*batch)
    pair.assert_same_tables()


def test_under_writemap_a_savepoint_not_kept_names_itself_and_is_answered_when_forced(tmp_path):
    ks = Keyspace(KeyspaceConfig(path=str(tmp_path / "ks"), writemap=True))
    try:
        def not_kept():
            w.put(0, b"k", Record(ValueType.STRING, b"v", 0, 1))
            return "refused", False

        with pytest.raises(RolledBack) as raised:
            with ks.writer(1) as w:
                w.start_entry(3)
                assert w.savepoint(lambda: ("kept", True)) == "kept"
                w.savepoint(not_kept)
        assert raised.value.point == (3, 1) and raised.value.result == "refused"
        with ks.reader() as r:
            assert r.get(0, b"k", 0) is None
        ran = []
        with ks.writer(1) as w:
            w.forced = {(0, 0): "answered"}
            assert w.savepoint(lambda: ran.append(1) or ("ran", True)) == "answered"
        assert ran == []
    finally:
        ks.close()
