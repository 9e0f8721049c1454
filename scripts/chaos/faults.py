"""Reusable faults, each a start() and a heal(), usable from tests and scripts.

A fault acts only on processes the cluster started (by PID) and on the
network namespaces of the run. `heal()` is idempotent and safe to call when
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
        cluster.network.isolate([leader.id])


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
    "kill_all": lambda zone: KillAll(),
}
NEEDS_NETWORK = {"partition_zone", "partition_leader"}


def heal_everything(cluster) -> None:
    """Continue paused nodes, heal the network, restart dead nodes (end of a run)."""
    for node in cluster.nodes:
        if node.alive:
            cluster.signal(node, signal.SIGCONT)
    if cluster.network is not None:
        cluster.network.heal()
    _restart_dead(cluster, cluster.nodes)
