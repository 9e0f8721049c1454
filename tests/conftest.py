"""Shared fixtures.

- `make_cluster(n=3, **options)`: start a fresh cluster for a test that breaks
  things (kills, restarts); every cluster it made is stopped at teardown.
- `cluster`: a 3-node cluster shared by a test module; before each test dead
  nodes are restarted, a leader is awaited and every database is flushed.
- `real_redis`: a client of a real redis-server (one per session, flushed for
  each test) for the tests that compare replies or stored bytes with Redis's.
Node logs are printed when a test that used a cluster fails.
"""

from __future__ import annotations

import pytest

from tests.cluster import Cluster
from tests.real_redis import RealRedis
from raftcache.proto import commands_pb2 as pb


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
    c.execute(leader, pb.Command(flush_all=pb.FlushAll()))
    yield c
    if _failed(request):
        print(c.tail_logs())


@pytest.fixture(scope="session")
def _redis_server():
    server = RealRedis().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def real_redis(_redis_server):
    """A client of a real redis-server (tests/real_redis.py), flushed for each test."""
    r = _redis_server.client()
    r.flushall()
    r.config_set("hll-sparse-max-bytes", 3000)
    return r
