"""The leader's grouping of a group commit's runs (node/service/entry_groups.py), and PublishBatch
and SetBatch at apply: consecutive PUBLISHes, or plain SETs, of a group commit become one entry,
applied as its writes in order; each write still gets its own result."""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.errors import CommandError, Reason
from raftcache.node.service import entry_groups
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import NOW, Node

V = commands.PUBLISH_BATCH_VERSION


def _publish(channel: bytes, message: bytes, version: int = V, client_id: str = "", sequence: int = 0,
             sharded: bool = False) -> pb.LogEntry:
    return pb.LogEntry(version=version, now_ms=NOW, client_id=client_id, sequence=sequence, seed=7,
                       command=pb.Command(publish=pb.Publish(channel=channel, message=message, sharded=sharded)))


def _set(key: bytes) -> pb.LogEntry:
    return pb.LogEntry(version=V, now_ms=NOW, command=pb.Command(set=pb.Set(key=key, value=b"v")))


def _ops(entries: list[pb.LogEntry]) -> list:
    out = []
    for entry in entries:
        name = entry.command.WhichOneof("op")
        if name == "publish_batch":
            out.append([m.message for m in entry.command.publish_batch.messages])
        else:
            out.append(name)
    return out


def test_runs_of_publishes_become_one_entry_each_in_log_order():
    entries = [_publish(b"c", b"1"), _publish(b"c", b"2", sharded=True), _set(b"k"), _publish(b"c", b"3"),
               _set(b"k2"), _publish(b"d", b"4"), _publish(b"c", b"5"), _publish(b"c", b"6")]
    grouped, sizes = entry_groups.group(entries)
    assert _ops(grouped) == [[b"1", b"2"], "set", "publish", "set", [b"4", b"5", b"6"]]
    assert sizes == [("publish", 2), entry_groups.ALONE, entry_groups.ALONE, entry_groups.ALONE, ("publish", 3)]
    first = grouped[0]
    assert (first.version, first.now_ms, first.seed, first.client_id) == (V, NOW, 7, "")
    assert [m.sharded for m in first.command.publish_batch.messages] == [False, True]
    assert [m.channel for m in grouped[-1].command.publish_batch.messages] == [b"d", b"c", b"c"]


def test_forwarded_publishes_and_older_log_versions_are_never_merged():
    forwarded = [_publish(b"c", b"%d" % i, client_id="lane", sequence=i + 1) for i in range(3)]
    assert entry_groups.group(forwarded) == (forwarded, None)
    older = [_publish(b"c", b"%d" % i, version=V - 1) for i in range(3)]
    assert entry_groups.group(older) == (older, None)
    assert entry_groups.group([_publish(b"c", b"1"), _set(b"k")])[1] is None


def test_expand_gives_each_publish_of_a_run_its_result_or_the_runs_error():
    error = CommandError("internal", Reason.INTERNAL)
    runs = [("publish", 2), entry_groups.ALONE, ("publish", 3)]
    assert entry_groups.expand([2, "OK", error], runs) == [0, 0, "OK", error, error, error]
    assert entry_groups.expand([1], runs) == [1], "a mismatch is left for the caller to report"


def test_a_publish_batch_publishes_its_messages_in_order_at_apply(tmp_path):
    node = Node(str(tmp_path))
    delivered = []
    node.sm.on_events = delivered.extend
    grouped, _ = entry_groups.group([_publish(b"c", b"1"), _publish(b"s", b"2", sharded=True),
                                       _publish(b"c", b"3")])
    node.index += 1
    assert node.sm.apply(node.index, commands.encode_entry(grouped[0])) == 3
    assert delivered == [("message", b"c", b"1", False), ("message", b"s", b"2", True),
                         ("message", b"c", b"3", False)]


def test_a_publish_batch_in_an_entry_of_an_older_version_is_refused_alike_everywhere(tmp_path):
    node = Node(str(tmp_path))
    delivered = []
    node.sm.on_events = delivered.extend
    entry = pb.LogEntry(version=V - 1, now_ms=NOW)
    entry.command.publish_batch.messages.add(channel=b"c", message=b"1")
    node.index += 1
    result = node.sm.apply(node.index, commands.encode_entry(entry))
    assert isinstance(result, CommandError) and result.reason == Reason.INVALID_ARGUMENT
    assert delivered == []
    assert commands.required_version(entry.command) == V
