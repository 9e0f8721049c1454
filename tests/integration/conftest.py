"""Fixtures of the integration tests: `protocol` and `r` for the redis-py modules
(test_redis_*.py: every test that takes them runs once over RESP2 and once over
RESP3), and `clusters` for the operations modules (clusters started ready for
admin calls, their logs printed when a test fails)."""

from __future__ import annotations

import pytest

from raftcache.node import commands
from tests.cluster import Cluster, wait_until
from tests.integration.redis_helpers import PROTOCOLS, client


@pytest.fixture(params=PROTOCOLS, ids=["resp2", "resp3"])
def protocol(request):
    return request.param


@pytest.fixture(scope="module")
def current_log_version(_shared_cluster):
    """The shared cluster at this binary's log semantics version: the leader raises it a
    second or so after start, and commands added since version 2 wait for it
    (docs/operations.md). Modules that use them: pytestmark usefixtures."""
    c = _shared_cluster
    wait_until(lambda: c.status(c.leader()).log_version == commands.MAX_VERSION, 30, "the log version")
    return commands.MAX_VERSION


@pytest.fixture
def r(cluster, protocol):
    """A redis-py client on the leader, speaking `protocol`."""
    return client(cluster.leader(), protocol)


@pytest.fixture
def clusters(tmp_path, request):
    made: list[Cluster] = []

    def make(n: int = 3, **options) -> Cluster:
        c = Cluster(str(tmp_path / f"cluster{len(made)}"), n, **options)
        made.append(c)
        return c.start_ready()

    yield make
    failed = any(getattr(request.node, f"rep_{w}", None) is not None and getattr(request.node, f"rep_{w}").failed
                 for w in ("setup", "call"))
    for c in made:
        if failed:
            print(c.tail_logs())
        c.close()
