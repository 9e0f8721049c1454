"""Reusable faults, each a start() and a heal(), usable from tests and scripts.

A fault acts only on processes the cluster started (by PID), on the
network namespaces of the run and on the tmpfs data dirs the cluster
mounted (disk faults, scripts/chaos/diskfault.py). `heal()` is idempotent and safe to call when
start() failed halfway. Every fault records what it hit in `detail`.
"""

from __future__ import annotations

import logging
import signal

log = logging.getLogger("chaos.faults")


class Fault:
    kind = "fault"

    def __init__(self, target: str | None = None):
        self.target = target
        self.detail: dict = {}

    def start(self, cluster) -> None:
        raise NotImplementedError

    def heal(self, cluster) -> None:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"kind": self.kind, "target": self.target, **self.detail}

    def __repr__(self) -> str:
        return f"{self.kind}({self.target or ''})"


def _restart_dead(cluster, nodes, timeout_s: float = 60.0) -> list[str]:
    restarted = []
    for node in nodes:
        if not node.alive:
            cluster.restart(node, timeout_s)
            restarted.append(node.id)
    return restarted


class KillZone(Fault):
    """SIGKILL every node of a zone; heal restarts them on the same data."""

    kind = "kill_zone"

    def start(self, cluster) -> None:
        self.detail["nodes"] = [n.id for n in cluster.kill_zone(self.target)]

    def heal(self, cluster) -> None:
        _restart_dead(cluster, [n for n in cluster.nodes if n.zone == self.target])


class KillLeader(Fault):
    """SIGKILL the current leader; heal restarts it."""

    kind = "kill_leader"

    def start(self, cluster) -> None:
        leader = cluster.leader(timeout_s=10)
        self.target = leader.id
        cluster.kill(leader)
        self.detail["zone"] = leader.zone

    def heal(self, cluster) -> None:
        if self.target:
            _restart_dead(cluster, [cluster.node(self.target)])


class PauseZone(Fault):
    """SIGSTOP every node of a zone (a long GC / VM freeze); heal sends SIGCONT."""

    kind = "pause_zone"

    def start(self, cluster) -> None:
        self._nodes = [n for n in cluster.nodes if n.zone == self.target and n.alive]
        self.detail["nodes"] = [n.id for n in self._nodes]
        for node in self._nodes:
            cluster.signal(node, signal.SIGSTOP)

    def heal(self, cluster) -> None:
        for node in getattr(self, "_nodes", []):
            cluster.signal(node, signal.SIGCONT)


class PauseLeader(PauseZone):
    """SIGSTOP the leader: a deposed leader that wakes up still believing it leads."""

    kind = "pause_leader"

    def start(self, cluster) -> None:
        leader = cluster.leader(timeout_s=10)
        self.target = leader.id
        self._nodes = [leader]
        self.detail["zone"] = leader.zone
        cluster.signal(leader, signal.SIGSTOP)


class PartitionZone(Fault):
    """Cut a zone off from the other zones and from the clients (needs the netns network)."""

    kind = "partition_zone"

    def start(self, cluster) -> None:
        if cluster.network is None:
            raise RuntimeError("partition faults need the netns network (run as root with --network netns)")
        ids = [n.id for n in cluster.nodes if n.zone == self.target]
        self.detail["nodes"] = ids
        cluster.network.isolate(ids)

    def heal(self, cluster) -> None:
        if cluster.network is not None:
            cluster.network.heal()


class PartitionLeader(PartitionZone):
    kind = "partition_leader"

    def start(self, cluster) -> None:
        if cluster.network is None:
            raise RuntimeError("partition faults need the netns network")
        leader = cluster.leader(timeout_s=10)
        self.target = leader.id
        self.detail["nodes"] = [leader.id]
        self._cut(cluster.network, [leader.id])

    @staticmethod
    def _cut(network, node_ids) -> None:
        network.isolate(node_ids)


class CutLeaderFromPeers(PartitionLeader):
    """Cut the leader off from the other nodes only: clients still reach it. It keeps
    believing it leads until PySyncObj's leader fallback, and keeps getting lease
    reads meanwhile, while the others elect a new leader and take writes. A lease
    that outlived leadership would answer those reads stale (docs/reliability.md)."""

    kind = "cut_leader_from_peers"

    @staticmethod
    def _cut(network, node_ids) -> None:
        network.cut_from_peers(node_ids)


class _DiskFault(Fault):
    """A fault of the data dirs of every node of a zone (tmpfs per node, root); the node
    is expected to stop with EXIT_DISK_ERROR. Heal: undo it, restart the stopped nodes."""

    def start(self, cluster) -> None:
        if not cluster.disk_faults:
            raise RuntimeError("disk faults need tmpfs data dirs (ChaosCluster(disk_faults=True), root)")
        self._nodes = [n for n in cluster.nodes if n.zone == self.target and n.alive]
        self.detail["nodes"] = [n.id for n in self._nodes]
        for node in self._nodes:
            self._break(cluster, node)

    def heal(self, cluster) -> None:
        nodes = getattr(self, "_nodes", [])
        for node in nodes:
            self._mend(node)
        self.detail["stopped"] = [n.id for n in nodes if not n.alive]
        self.detail["exit_status"] = {n.id: n.proc.poll() for n in nodes if not n.alive}
        self._before_restart(cluster, nodes)
        _restart_dead(cluster, nodes)

    def _break(self, cluster, node) -> None:
        raise NotImplementedError

    def _mend(self, node) -> None:
        raise NotImplementedError

    def _before_restart(self, cluster, nodes) -> None:
        pass


class ReadOnlyDisk(_DiskFault):
    """Make the data dir of every node of a zone read-only (EROFS) (docs/durability.md "Disk faults")."""

    kind = "read_only_disk"

    def _break(self, cluster, node) -> None:
        from scripts.chaos import diskfault

        diskfault.make_readonly(node.data_dir, pid=node.pid if cluster.network is not None else None)

    def _mend(self, node) -> None:
        from scripts.chaos import diskfault

        diskfault.make_writable(node.data_dir)  # (in netns mode the bind mount died with the node's namespace)

    def _before_restart(self, cluster, nodes) -> None:
        if cluster.network is not None:
            for node in nodes:  # a node that is still running keeps its read-only view: restart it
                if node.alive:
                    cluster.kill(node)


class FullDisk(_DiskFault):
    """Fill the data dir file system of every node of a zone (ENOSPC)."""

    kind = "full_disk"

    def _break(self, cluster, node) -> None:
        from scripts.chaos import diskfault

        diskfault.fill(node.data_dir)

    def _mend(self, node) -> None:
        from scripts.chaos import diskfault

        diskfault.unfill(node.data_dir)


class KillAll(Fault):
    """kill -9 every node at once; heal restarts them all (the journal must bring back every acknowledged write)."""

    kind = "kill_all"

    def start(self, cluster) -> None:
        victims = []
        for zone in cluster.zones:
            victims += [n.id for n in cluster.kill_zone(zone)]
        self.detail["nodes"] = victims

    def heal(self, cluster) -> None:
        _restart_dead(cluster, cluster.nodes)


#: name -> factory(target zone or None); what the nemesis draws from.
FAULTS = {
    "kill_zone": lambda zone: KillZone(zone),
    "kill_leader": lambda zone: KillLeader(),
    "pause_zone": lambda zone: PauseZone(zone),
    "pause_leader": lambda zone: PauseLeader(),
    "partition_zone": lambda zone: PartitionZone(zone),
    "partition_leader": lambda zone: PartitionLeader(),
    "cut_leader_from_peers": lambda zone: CutLeaderFromPeers(),
    "kill_all": lambda zone: KillAll(),
    "read_only_disk": lambda zone: ReadOnlyDisk(zone),
    "full_disk": lambda zone: FullDisk(zone),
}
NEEDS_NETWORK = {"partition_zone", "partition_leader", "cut_leader_from_peers"}
#: Need every data dir on its own tmpfs (root; run.py mounts them or drops these kinds).
NEEDS_DISK = {"read_only_disk", "full_disk"}


def heal_everything(cluster) -> None:
    """Continue paused nodes, heal the network and the disks, restart dead nodes (end of a run)."""
    for node in cluster.nodes:
        if node.alive:
            cluster.signal(node, signal.SIGCONT)
    if cluster.network is not None:
        cluster.network.heal()
    if cluster.disk_faults:
        from scripts.chaos import diskfault

        for node in cluster.nodes:
            diskfault.unfill(node.data_dir)
            diskfault.make_writable(node.data_dir)
    _restart_dead(cluster, cluster.nodes)
