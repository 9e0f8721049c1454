"""Chaos tooling for raftcache: faults, a nemesis, a recording workload and a checker.

- `net`      network namespaces per node (root + iproute2) so a zone can be cut off
- `cluster`  ChaosCluster: raftcache.localcluster.LocalCluster on loopback or inside those namespaces
- `diskfault` a tmpfs data dir per node, made read-only or full, then healed
- `faults`   kill / restart a zone, kill the leader, pause (SIGSTOP) a zone,
             partition a zone, kill -9 the whole cluster — each with a heal
- `nemesis`  a seeded random (or scripted) schedule of those faults
- `workload` concurrent clients (gRPC, redis-py) recording every operation
- `checker`  linearizability / lost writes / staleness (standard library only)
- `run`      `python scripts/chaos/run.py --duration 600 --seed N`

Only PIDs this code started are ever signalled; all traffic stays on
loopback or inside network namespaces this code creates and deletes.
"""
