"""Handler bugs found by the cluster fuzzer (tests/fuzz), one test each.

Each command is applied as a log entry through a real StateMachine and
Keyspace (tests/unit/test_statemachine.Node), as every replica would apply
it; arguments are what a gRPC client can send, which the RESP front end
would have refused.
"""

from __future__ import annotations

import pytest

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
