"""Shared fixtures.

- `make_cluster(n=3, **options)`: start a fresh cluster for a test that breaks
  things (kills, restarts); every cluster it made is stopped at teardown.
- `cluster`: a 3-node cluster shared by a test module; before each test dead
  nodes are restarted, a leader is awaited and every database is flushed on
  every node.
Node logs are printed when a test that used a cluster fails.

The processes the tests start (nodes, `raftcache ctl`, `raftcache up`) keep
their bytecode under the temp dir when PYTHONDONTWRITEBYTECODE is set: each
would otherwise compile raftcache's sources again at every start (a third of
a node's start-up CPU).
"""

from __future__ import annotations

import os
import tempfile

import pytest

from raftcache.node import commands
from raftcache.proto import commands_pb2 as pb
from tests.cluster import Cluster

if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):  # children only; the source tree stays clean
    os.environ.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "raftcache-test-pycache"))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _failed(request) -> bool:
    return any(getattr(request.node, f"rep_{w}", None) is not None and getattr(request.node, f"rep_{w}").failed
               for w in ("setup", "call"))


@pytest.fixture
def make_cluster(tmp_path, request):
    made: list[Cluster] = []

    def make(n: int = 3, **options) -> Cluster:
        c = Cluster(str(tmp_path / f"cluster{len(made)}"), n, **options)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        if _failed(request):
            print(c.tail_logs())
        c.close()


@pytest.fixture(scope="module")
def _shared_cluster(tmp_path_factory):
    c = Cluster(str(tmp_path_factory.mktemp("shared")), 3)
    try:
        c.start()
        # settled: the leader's own log entry that raises the version cannot land inside a test
        c.wait_log_version(commands.MAX_VERSION)
        yield c
    finally:
        c.close()


@pytest.fixture
def cluster(_shared_cluster, request):
    c = _shared_cluster
    for node in c.nodes:
        if not node.alive:
            c.restart(node)
    leader = c.leader()
    flushed = c.execute(leader, pb.Command(flush_all=pb.FlushAll()))
    # every node, not just the leader: a follower's own reads (level any, blocking pops)
    # must not see the previous test's keys
    c.wait_applied(flushed.index)
    yield c
    if _failed(request):
        print(c.tail_logs())
