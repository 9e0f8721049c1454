"""Property: applying any well-formed Command never raises, on a real StateMachine + Keyspace.

An exception while applying a committed entry happens on every replica (and
again after every restart), so apply must answer every command with a result
or a CommandError. Commands come from scripts/fuzz/strategies.command(): every
op, every field at its type's extremes, unknown enum values, nested
transactions; applied with and without a client id (the dedup record stores
the result), reads run as reads. The keys hold one value of every type first.
Memcached counters stay below 2**63 and no unknown fields are sent: those are
the known apply-totality bugs (tests/fuzz/test_fuzz_cluster.py).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftcache.node import commands, scripting
from raftcache.node.errors import CommandError, Reason
from raftcache.proto import cache_pb2
from raftcache.proto import commands_pb2 as pb
from scripts.fuzz import strategies
from tests.unit.test_statemachine import Node


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    scripting.install()   # as a node does (run alone, nothing else in the process installs it)
    n = Node(str(tmp_path_factory.mktemp("apply-fuzz") / "ks"))
    for _, _, data in strategies.seed_actions(list(range(len(strategies.KEYS)))):
        command = cache_pb2.Request.FromString(data).command
        name = command.WhichOneof("op")
        n.run(db=command.db, **{name: getattr(command, name)})
    yield n
    n.ks.close()


def _apply_or_read(node, command: pb.Command, dedup: bool):
    if command.WhichOneof("op") in commands.READ_COMMANDS:
        return node.sm.read(command, node.now_ms)
    node.index += 1
    entry = pb.LogEntry(version=commands.MAX_VERSION, now_ms=node.now_ms, client_id="fuzz" if dedup else "",
                        sequence=node.index if dedup else 0, command=command)
    return node.sm.apply(node.index, commands.encode_entry(entry))


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(st.tuples(strategies.command(), st.booleans(), st.booleans()), min_size=1, max_size=10))
def test_any_command_applies_or_reads_without_raising(node, batch):
    for command, dedup, in_db0 in batch:
        if in_db0:
            command.db = 0  # where the typed keys are, most of the time
        result = _apply_or_read(node, command, dedup)
        commands.to_value(result)  # every result can be answered on the wire
        # Apply is total, so a handler that raises still answers: as INTERNAL, which is a bug here.
        assert not (isinstance(result, CommandError) and result.reason is Reason.INTERNAL), (command, result)
