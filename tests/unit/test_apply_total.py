"""Apply is total: no committed entry stops a replica.

A command that raises while it is applied becomes its own INTERNAL error
reply, its writes rolled back, the rest of its batch applied as usual; the
same entry gives the same answer and the same keyspace on every replica. Only
faults of the node's own machine (storage, memory) stop it. The handler that
raises here is a stand-in for a bug in a real handler (the state machine is
the unit under test; handlers are its neighbours).
"""

from __future__ import annotations

import pytest

from raftcache.node import commands
from raftcache.node.commands import statemachine
from raftcache.node.errors import Reason
from raftcache.node.storage.keyspace import KeyspaceFullError
from raftcache.node.commands.statemachine import FatalApplyError
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import NOW, Node, Set, err


def _entry(**op) -> pb.LogEntry:
    return pb.LogEntry(version=commands.MAX_VERSION, now_ms=NOW, command=pb.Command(**op))


@pytest.fixture
def buggy_append(monkeypatch):
    """APPEND writes its key, then raises (as a handler bug would, half-way)."""
    real = statemachine.HANDLERS["append"]

    def append_then_raise(ctx, op):
        real(ctx, op)
        raise ValueError(f"bug at {id(op):#x}")  # an address: must not reach the reply

    monkeypatch.setitem(statemachine.HANDLERS, "append", append_then_raise)


def test_a_command_that_raises_answers_internal_and_changes_nothing(tmp_path, buggy_append):
    node = Node(str(tmp_path / "ks"))
    node.run(set=Set(b"k", b"v"))
    result = node.run(append=pb.Append(key=b"k", value=b"tail"))
    assert err(Reason.INTERNAL)(result)
    assert result.message == "internal error while applying 'append' (ValueError); nothing was changed"
    assert node.get(b"k") == b"v", "its half-done write was rolled back"
    assert node.ks.applied_index == node.index, "the entry counts as applied"
    assert node.run(set=Set(b"after", b"1")) == commands.OK


def test_a_command_refused_for_unknown_fields_stays_refused_when_another_raises(tmp_path, buggy_append):
    node = Node(str(tmp_path / "ks"))
    unknown = pb.Command(set=Set(b"k", b"v")).SerializeToString() + bytes([0xF8, 0x06, 0x01])   # field 111
    raw = pb.LogEntry(version=commands.MAX_VERSION, now_ms=NOW).SerializeToString()
    refused = raw + bytes([0x32, len(unknown)]) + unknown
    raises = _entry(append=pb.Append(key=b"b", value=b"x")).SerializeToString()
    batch = commands.BATCH_MARKER + b"".join(bytes([0x0A, len(e)]) + e for e in (refused, raises))
    results = node.sm.apply(1, batch)
    assert err(Reason.INVALID_ARGUMENT)(results[0]) and err(Reason.INTERNAL)(results[1])
    assert node.get(b"k") is None, "the second pass refuses it too"


def test_one_bad_command_in_a_batch_leaves_the_others_applied(tmp_path, buggy_append):
    node = Node(str(tmp_path / "ks"))
    batch = commands.encode_batch([
        _entry(set=Set(b"a", b"1")),
        _entry(append=pb.Append(key=b"b", value=b"x")),
        _entry(incr_by=pb.IncrBy(key=b"a", delta=4)),
        _entry(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="maxmemory", value="100mb")])),
    ])
    results = node.sm.apply(1, batch)
    assert results[0] == commands.OK and results[2] == 5 and results[3] == commands.OK
    assert err(Reason.INTERNAL)(results[1])
    assert node.get(b"a") == b"5" and node.get(b"b") is None
    assert node.sm.limits.maxmemory_bytes == 100 << 20
    assert node.sm.changes == 2, "the rolled-back command is not counted as a change"


def test_replicas_fed_the_same_bad_entries_stay_identical(tmp_path, buggy_append):
    replicas = [Node(str(tmp_path / f"r{i}")) for i in range(2)]
    entries = [
        commands.encode_entry(_entry(set=Set(b"k", b"v"))),
        commands.encode_batch([_entry(append=pb.Append(key=b"k", value=b"1")), _entry(set=Set(b"j", b"2"))]),
        commands.encode_entry(_entry(append=pb.Append(key=b"new", value=b"3"))),
        b"\x01not a log entry",
    ]
    answers = [[r.sm.apply(i, data) for i, data in enumerate(entries, 1)] for r in replicas]
    assert answers[0] == answers[1]
    with replicas[0].ks.reader() as a, replicas[1].ks.reader() as b:
        assert a.applied_index() == b.applied_index() == len(entries)
    assert [r.get(b"k") for r in replicas] == [b"v", b"v"]
    assert [r.get(b"j") for r in replicas] == [b"2", b"2"]
    assert [r.get(b"new") for r in replicas] == [None, None]


def test_a_retried_request_gets_the_same_error_again(tmp_path, buggy_append):
    node = Node(str(tmp_path / "ks"))
    first = node.run(append=pb.Append(key=b"k", value=b"x"), client_id="c", sequence=1)
    again = node.run(append=pb.Append(key=b"k", value=b"x"), client_id="c", sequence=1)
    assert err(Reason.INTERNAL)(first) and again == first
    assert node.get(b"k") is None


def test_memcached_counter_past_2_63_is_stored_and_deduplicated(tmp_path):
    """The reported crash: incr past 2**63 with a client id (the dedup record)."""
    node = Node(str(tmp_path / "ks"))
    node.run(set=Set(b"ctr", b"9223372036854775807"))
    op = pb.McIncr(key=b"ctr", delta=1)
    assert node.run(mc_incr=op, client_id="c", sequence=1) == 1 << 63
    assert node.get(b"ctr") == b"9223372036854775808"
    assert node.run(mc_incr=op, client_id="c", sequence=1) == commands.Replayed(1 << 63, node.index - 1)
    assert node.run(mc_incr=pb.McIncr(key=b"ctr", delta=(1 << 64) - 1), client_id="c", sequence=2) == (1 << 63) - 1


def test_a_full_keyspace_still_stops_the_node(tmp_path, monkeypatch):
    """A fault of this node's storage is not an answer: another replica may have room."""
    node = Node(str(tmp_path / "ks"))

    def full(ctx, op):
        raise KeyspaceFullError("LMDB map is full")

    monkeypatch.setitem(statemachine.HANDLERS, "append", full)
    with pytest.raises(FatalApplyError):
        node.run(append=pb.Append(key=b"k", value=b"x"))
    assert node.ks.applied_index == node.index - 1
