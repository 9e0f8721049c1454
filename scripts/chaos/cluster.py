"""ChaosCluster: tests.cluster.Cluster, optionally with every node in its own network namespace.

Without a network it is exactly the loopback test cluster (kill, pause and
restart faults work; partitions do not). With a `NetnsNetwork`, node i binds
and advertises 10.77.0.(11+i) on the same base port, and is started through
`ip netns exec` (which execs in place, so PIDs are the nodes' own). The
process that drives it must itself run in the network's client namespace
(run.py arranges that).

With `disk_faults=True` (root only) every node's data dir is a tmpfs of
`disk_bytes`, mounted before the nodes start and unmounted by close(), so
that the read_only_disk and full_disk faults (tests/diskfault.py) can act
on one node's disk alone.
"""

from __future__ import annotations

import os
import signal
import sys

from raftcache.node.config import Peer

from tests.cluster import ZONES, Cluster, Node

NETNS_BASE_PORT = 7000


class ChaosCluster(Cluster):
    def __init__(self, root: str, n: int = 3, *, network=None, appendfsync: str = "everysec",
                 extra_args: list[str] | None = None, env: dict | None = None, disk_faults: bool = False,
                 disk_bytes: int = 128 << 20):
        super().__init__(root, n, appendfsync=appendfsync, extra_args=extra_args, env=env)
        self.network = network
        self.disk_faults = disk_faults
        self.disk_bytes = disk_bytes
        if network is None:
            return
        peers = [Peer(node.id, node.zone, network.address[node.id], NETNS_BASE_PORT) for node in self.nodes]
        spec = ",".join(p.spec() for p in peers)
        nodes = []
        for node, peer in zip(self.nodes, peers):
            argv = [
                *network.exec_prefix(peer.id), sys.executable, "-m", "raftcache", "node", "--id", peer.id,
                "--zone", peer.zone, "--host", peer.host, "--base-port", str(peer.base_port), "--peers", spec,
                "--data-dir", node.data_dir, "--appendfsync", appendfsync, *(extra_args or []),
            ]
            nodes.append(Node(peer, node.data_dir, node.log_path, argv, node.env))
        self.nodes = nodes

    def start(self, timeout_s: float = 30.0) -> "ChaosCluster":
        if self.disk_faults:
            from tests import diskfault

            for node in self.nodes:
                diskfault.mount_tmpfs(node.data_dir, self.disk_bytes)
        return super().start(timeout_s)

    @property
    def zones(self) -> list[str]:
        return sorted({n.zone for n in self.nodes})

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def signal(self, node: Node, sig: int) -> None:
        """Send a signal to a node process this cluster started (no-op when it is not running)."""
        if node.alive:
            os.kill(node.pid, sig)

    def pids(self) -> dict[str, int | None]:
        return {n.id: n.pid for n in self.nodes}

    def close(self) -> None:
        for node in self.nodes:  # a stopped process ignores SIGTERM until continued
            if node.alive:
                try:
                    os.kill(node.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        super().close()
        if self.disk_faults:
            from tests import diskfault

            for node in self.nodes:
                diskfault.unmount_all(node.data_dir)


__all__ = ["ZONES", "ChaosCluster"]
