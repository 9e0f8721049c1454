"""Fixtures of the integration tests: `protocol` and `r` for the redis-py modules
(test_redis_*.py: every test that takes them runs once over RESP2 and once over
RESP3). Clusters come from tests/conftest.py (`cluster`, `make_cluster`)."""

from __future__ import annotations

import pytest

from tests.integration.redis_helpers import PROTOCOLS, client


@pytest.fixture(params=PROTOCOLS, ids=["resp2", "resp3"])
def protocol(request):
    return request.param


@pytest.fixture
def r(cluster, protocol):
    """A redis-py client on the leader, speaking `protocol`."""
    return client(cluster.leader(), protocol)
