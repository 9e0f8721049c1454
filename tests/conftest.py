"""Shared fixtures.

- `make_cluster(n=3, **options)`: start a fresh cluster for a test that breaks
  things (kills, restarts); every cluster it made is stopped at teardown.
- `cluster`: a 3-node cluster shared by every test of a test process (each
  pytest-xdist worker has its own); before each test dead nodes are
  restarted, a leader is awaited and every database is flushed on every
  node. A module that changes cluster-wide settings (CONFIG SET) must put
  them back: at its end they are compared with the cluster's first ones
  (an error names what it left changed, which is then restored). A module
  that needs nodes started with other options overrides `_module_cluster`
  with a cluster of its own (test_eviction.py).
- `real_redis`: a client of a real redis-server (one per session, flushed for
  each test) for the tests that compare replies or stored bytes with Redis's.
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
import redis

from raftcache.node import commands
from raftcache.node.config import settings
from tests.real_redis import RealRedis
from raftcache.proto import commands_pb2 as pb
from tests.cluster import Cluster, Node

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


def _revive(c: Cluster) -> Node:
    """Restart the nodes a test left dead; returns the leader."""
    for node in c.nodes:
        if not node.alive:
            c.restart(node)
    return c.leader()


def _settings(c: Cluster) -> dict[str, dict[str, str]]:
    """Every node's CONFIG GET * but the node-local parameters (slowlog-*, latency-*: a test that
    changes them puts them back on each node itself), once it applied everything committed so far."""
    c.wait_applied(c.status(c.leader()).commit_index)
    out = {}
    for node in c.nodes:
        host, port = node.redis_address
        with redis.Redis(host=host, port=port, socket_timeout=10, decode_responses=True) as r:
            out[node.id] = {k: v for k, v in r.config_get("*").items() if k not in settings.NODE_LOCAL}
    return out


def _restore_settings(c: Cluster, baseline: dict[str, dict[str, str]]) -> dict[str, str]:
    """Put back every cluster-wide setting that differs from `baseline`; returns them as they were."""
    changed: dict[str, str] = {}
    for _ in range(2):  # a password left set hides the other settings until it is cleared
        fix = {}
        try:
            now = _settings(c)
        except redis.AuthenticationError:
            changed["requirepass"] = "(a password)"
            fix["requirepass"] = next(iter(baseline.values()))["requirepass"]
        else:
            for node, values in baseline.items():
                for name, value in values.items():
                    if now[node].get(name) != value:
                        fix[name], changed[name] = value, now[node].get(name)
        if not fix:
            break
        pairs = [pb.ConfigPair(name=name, value=value) for name, value in fix.items()]
        c.execute(c.leader(), pb.Command(config_set=pb.ConfigSet(parameters=pairs)))
    return changed


@pytest.fixture(scope="session")
def _shared_cluster(tmp_path_factory):
    c = Cluster(str(tmp_path_factory.mktemp("shared")), 3)
    try:
        c.start()
        # settled: the leader's own log entry that raises the version cannot land inside a test
        c.wait_log_version(commands.MAX_VERSION)
        yield c, _settings(c)
    finally:
        c.close()


@pytest.fixture(scope="module")
def _module_cluster(_shared_cluster, request):
    """The shared cluster, for one module. The module must leave the cluster-wide settings as it
    found them (a later module would inherit them): if not, they are restored and the module's
    last test gets an error that names them. The harness's channels are closed at the end, so
    no watcher thread runs while other modules do (unit tests replace time.time process-wide)."""
    c, baseline = _shared_cluster
    yield c
    try:
        _revive(c)
        changed = _restore_settings(c, baseline)
    finally:
        c.close_channels()
    if changed:
        pytest.fail(f"{request.module.__name__} left cluster-wide settings changed: {changed}")


@pytest.fixture
def cluster(_module_cluster, request):
    c = _module_cluster
    flushed = c.execute(_revive(c), pb.Command(flush_all=pb.FlushAll()))
    # every node, not just the leader: a follower's own reads (level any, blocking pops)
    # must not see the previous test's keys
    c.wait_applied(flushed.index)
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
