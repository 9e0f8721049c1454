"""The plain SET's own apply path (StateMachine._apply_plain_set, strings.plain_set) against
the generic one: the same replies, the same records in every table, the same counters.

A node with a tracking client applies every SET the generic way (the plain path leaves
that case to it), so two nodes fed the same entries, one of them tracking, compare the
two paths entry by entry.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from raftcache.node import commands
from raftcache.node.commands import OK, strings
from raftcache.node.errors import CommandError, Reason
from raftcache.node.frontends.resp_table import TABLE
from raftcache.node.storage.keyspace import Record, ValueType
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_script_effects import tables
from tests.unit.test_statemachine import NOW, Node

KEYS = [b"a", b"b", b"c", b"h"]


def cmd(*argv, db: int = 0) -> pb.Command:
    argv = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
    command = TABLE[argv[0].lower()].build(argv, db)
    assert commands.stamp(command, NOW) is None   # as the leader does before it logs a write
    return command


class Pair:
    """Two nodes fed the same batches: `plain` takes the plain SET path, `generic` (a tracking
    client) does not."""

    def __init__(self, root, raise_version: bool = True, **limits):
        self.plain, self.generic = (Node(str(root / name), **limits) for name in ("p", "g"))
        self.generic.sm.set_track_writes(True)
        if raise_version:
            self.apply([pb.Command(set_version=pb.SetVersion(version=commands.MAX_VERSION))])

    def apply(self, batch: list[pb.Command], now_ms: int = NOW) -> list:
        entries = [pb.LogEntry(version=commands.MAX_VERSION, now_ms=now_ms, seed=i, command=c)
                   for i, c in enumerate(batch)]
        data = commands.encode_entry(entries[0]) if len(entries) == 1 else commands.encode_batch(entries)
        results = []
        for node in (self.plain, self.generic):
            node.index += 1
            results.append(node.sm.apply(node.index, data))
        assert _comparable(results[0]) == _comparable(results[1])
        return results[0]

    def same(self) -> None:
        assert tables(self.plain) == tables(self.generic)
        assert self.plain.sm.changes == self.generic.sm.changes


def _comparable(result):
    if isinstance(result, list):
        return [_comparable(r) for r in result]
    return (type(result).__name__, result.message, result.reason) if isinstance(result, CommandError) else result


@pytest.fixture
def pair(tmp_path):
    return Pair(tmp_path)


def test_a_plain_set_is_written_by_its_own_path(pair):
    with pair.plain.ks.writer(pair.plain.index + 1) as txn:
        assert strings.plain_set(txn, cmd("SET", "k", "v"), NOW, 9, pair.plain.config) == OK
        assert strings.plain_set(txn, cmd("SET", "t", "v", "PX", 500), NOW, 9, pair.plain.config) == OK
        assert txn.get(0, b"k", NOW) == Record(ValueType.STRING, b"v", 0, 9, 0)
        assert txn.get(0, b"t", NOW) == Record(ValueType.STRING, b"v", NOW + 500, 9, 0)


@pytest.mark.parametrize("argv", [
    ("SET", "k", "v", "NX"), ("SET", "k", "v", "XX"), ("SET", "k", "v", "GET"), ("SET", "k", "v", "KEEPTTL"),
    ("SET", "k", "v", "PXAT", NOW), ("SET", "k", "v", "PXAT", NOW - 5), ("SET", "k" * 501, "v"),
])
def test_any_other_set_is_left_to_the_generic_path_untouched(pair, argv):
    with pair.plain.ks.writer(pair.plain.index + 1) as txn:
        assert strings.plain_set(txn, cmd(*argv), NOW, 9, pair.plain.config) is None
        assert txn.get(0, b"k", 0) is None and txn.writes == 0


def test_a_memcached_set_and_an_unknown_database_are_left_to_the_generic_path(pair):
    with pair.plain.ks.writer(pair.plain.index + 1) as txn:
        flagged = pb.Command(set=pb.Set(key=b"k", value=b"v", flags=3))
        assert strings.plain_set(txn, flagged, NOW, 9, pair.plain.config) is None
        assert strings.plain_set(txn, cmd("SET", "k", "v", db=16), NOW, 9, pair.plain.config) is None
        assert txn.writes == 0


def test_a_set_that_could_pass_maxmemory_is_left_to_the_generic_path(tmp_path):
    pair = Pair(tmp_path, maxmemory_bytes=1 << 20)
    big = b"x" * 300_000
    *taken, refused = pair.apply([cmd("SET", f"k{i}", big) for i in range(4)])
    assert taken == [OK, OK, OK] and refused.reason == Reason.OUT_OF_MEMORY
    replaced, refused = pair.apply([cmd("SET", "k0", big), cmd("SET", "k9", big)])
    assert replaced == OK and refused.reason == Reason.OUT_OF_MEMORY   # a write that does not grow the data is taken
    pair.same()


@st.composite
def plans(draw):
    out = []
    for _ in range(draw(st.integers(1, 6))):
        batch = []
        for _ in range(draw(st.integers(1, 6))):
            key = draw(st.sampled_from(KEYS))
            batch.append(draw(st.sampled_from([
                ("SET", key, "v1"), ("SET", key, "v2", "EX", 9), ("SET", key, "v3", "PX", 1),
                ("SET", key, "v4", "PXAT", NOW - 1), ("SET", key, "v5", "NX"), ("SET", key, "v6", "XX", "GET"),
                ("SET", key, "v7", "KEEPTTL"), ("SET", key, "x" * 200), ("DEL", key), ("PEXPIRE", key, 1),
                ("HSET", key, "f", "x" * 150), ("HSET", key, "g", "1"), ("RPUSH", key, "e"), ("INCR", key),
                ("SET", "k" * 501, "v"), ("MEMCACHED", key), ("SET", key, "v8", "db16"),
            ])))
        out.append((batch, draw(st.integers(0, 3))))
    return out


def _command(argv: tuple) -> pb.Command:
    if argv[0] == "MEMCACHED":
        return pb.Command(set=pb.Set(key=argv[1], value=b"mc", flags=7))
    if argv[-1] == "db16":
        return cmd(*argv[:-1], db=16)
    return cmd(*argv)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans())
def test_any_mix_of_writes_ends_alike_by_either_path(tmp_path_factory, plan):
    pair = Pair(tmp_path_factory.mktemp("mix"), raise_version=False)
    now = NOW
    with pair.plain.ks.reader() as r:
        assert r.watch_floor() is None   # the first entry stores WATCH's floor, by either path alike
    for batch, advance in plan:
        pair.apply([_command(argv) for argv in batch], now)
        pair.same()
        now += advance   # keys set to expire in 1 ms are gone for the next batch
