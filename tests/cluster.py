"""The test suite's cluster: raftcache.localcluster.LocalCluster plus what only tests use.

Starting, killing, restarting, adding and removing nodes, waiting for a
leader: the launcher's (raftcache/localcluster.py), shared with `raftcache up`
and the scripts. Here: `Cluster.ctl()` runs the `raftcache ctl` command line
against a node with the cluster's secret, and `rss_bytes` reads a node's
resident memory. Helpers raise on timeout or mismatch; they never return a
boolean that a caller could forget to check.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from raftcache.localcluster import LocalCluster, Node, free_base_port, wait_until
from raftcache.node import commands
from raftcache.shardedcluster import ShardedCluster


class Cluster(LocalCluster):
    """A LocalCluster (n nodes on free loopback ports) that tests drive; see tests/conftest.py."""

    def close(self, graceful: bool = False) -> None:
        """Tear down at once (SIGKILL): a test of graceful stops calls stop() itself."""
        super().close(graceful)

    def ctl(self, *args: str, endpoint: Node | None = None, timeout_s: float = 90.0,
            check: bool = True) -> subprocess.CompletedProcess:
        """Run `raftcache ctl` against `endpoint` (default: the first live node) with the cluster secret."""
        target = endpoint or self.alive_nodes()[0]
        argv = [sys.executable, "-m", "raftcache", "ctl", "--endpoint", target.grpc_address, *args]
        env = dict(os.environ, RAFTCACHE_CLUSTER_SECRET=self.secret)
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s)
        if check and proc.returncode != 0:
            raise AssertionError(f"ctl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc


def rss_bytes(node: Node) -> int:
    """The node process's resident memory (VmRSS of /proc/PID/status), in bytes."""
    with open(f"/proc/{node.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {node}")


def _knows_every_slot(node: Node) -> bool:
    """`node`'s CLUSTER SLOTS covers all 16,384 slots (every shard claimed its slots and the node
    learned them): before that, a PUBLISH is not relayed to a shard it does not know yet."""
    import redis

    host, port = node.redis_address
    with redis.Redis(host=host, port=port, socket_timeout=5) as r:
        return sum(last - first + 1 for first, last, *_ in r.execute_command("CLUSTER", "SLOTS")) == 16384


@contextlib.contextmanager
def running_sharded(tmp_path_factory, request, name: str, shards: int = 2, nodes: int = 3, spare_shards: int = 0):
    """A started `up --shards` cluster for a module's tests; its nodes' logs are printed when a
    test of the module failed, and it is stopped at the end. `spare_shards`: the ports of that
    many more shards after its own are reserved too (`ctl add-shard` lays a new shard out there:
    another test worker must not take them meanwhile)."""
    base_port = free_base_port((shards + spare_shards) * nodes) if spare_shards else None
    cluster = ShardedCluster(str(tmp_path_factory.mktemp(name)), shards, nodes, base_port=base_port)
    failed = request.session.testsfailed
    try:
        cluster.start(timeout_s=90)
        cluster.wait_log_version(commands.MAX_VERSION)   # a command of a newer version answers TRYAGAIN before
        wait_until(lambda: all(_knows_every_slot(node) for node in cluster.nodes), 60,
                   "every node's cluster map to hold every shard's slots")
        yield cluster
    finally:
        if request.session.testsfailed != failed:
            print(cluster.tail_logs())
        cluster.close()
