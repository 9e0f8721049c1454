"""ChaosCluster: raftcache.localcluster.LocalCluster, optionally with every node in its own network namespace.

Without a network it is exactly the loopback launcher (kill, pause and
restart faults work; partitions do not). With a `NetnsNetwork`, node i binds
and advertises 10.77.0.(11+i) on the same base port, and is started through `ip netns exec`
(which execs in place, so PIDs are the nodes' own). The process that drives
it must itself run in the network's client namespace (run.py arranges that).

With `disk_faults=True` (root only) every node's data dir is a tmpfs of
`disk_bytes`, mounted before the nodes start and unmounted by close(), so
that the read_only_disk and full_disk faults (scripts/chaos/diskfault.py) can act
on one node's disk alone.
"""

from __future__ import annotations

import dataclasses
import os
import signal

from raftcache.localcluster import LocalCluster, Node, cluster_peers
from scripts.chaos import diskfault

NETNS_BASE_PORT = 7000


class ChaosCluster(LocalCluster):
    def __init__(self, root: str, n: int = 3, *, network=None, appendfsync: str = "everysec",
                 extra_args: list[str] | None = None, env: dict | None = None, disk_faults: bool = False,
                 disk_bytes: int = 128 << 20):
        peers = exec_prefix = None
        if network is not None:
            peers = [dataclasses.replace(p, host=network.address[p.id], base_port=NETNS_BASE_PORT)
                     for p in cluster_peers(n, base_port=NETNS_BASE_PORT)]
            exec_prefix = network.exec_prefix
        super().__init__(root, n, appendfsync=appendfsync, extra_args=extra_args, env=env, peers=peers,
                         exec_prefix=exec_prefix)
        self.network = network
        self.disk_faults = disk_faults
        self.disk_bytes = disk_bytes

    def start(self, timeout_s: float = 30.0, wait_ports: bool = False) -> "ChaosCluster":
        if self.disk_faults:
            for node in self.nodes:
                diskfault.mount_tmpfs(node.data_dir, self.disk_bytes)
        return super().start(timeout_s, wait_ports)

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
            for node in self.nodes:
                diskfault.unmount_all(node.data_dir)


__all__ = ["ChaosCluster"]
