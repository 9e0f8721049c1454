"""One power-cut run: a 3-node cluster on powercut_fs mounts, acknowledged writes, a cut, a check.

Used by tests/integration/test_power_cut.py and scripts/power_cut.py.

`run_power_cut` starts three real nodes whose data dirs are each a
scripts/powercut/mount.py mount, has `writers` redis-py clients SET unique keys on the
leader and record every acknowledged write with the time of its +OK, then
cuts the power of every node at once: kill -9 of every node (the instant
of the cut), then every mount discards what was not synced and is unmounted.
It remounts, restarts the nodes, and reads every acknowledged key back
through the new leader. The result lists what was lost, how long before
the cut each lost write had been acknowledged, and which of the files the
node writes durably (DURABLE_FILES) the cut took away.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time

import redis

from raftcache.localcluster import LocalCluster, wait_until
from scripts.powercut.mount import PowerCutMount

#: What a node writes durably (fsync, rename, directory fsync) in its data dir: each must survive a cut.
DURABLE_FILES = ("cluster.id", "membership.json", "raft/raft.journal", "raft/raft.journal.meta")


@dataclasses.dataclass
class PowerCutResult:
    appendfsync: str
    acked: int                      # writes acknowledged (+OK) before the cut
    lost: list[str]                 # acknowledged keys missing or wrong after the restart
    lost_ages_s: list[float]        # for each lost key: cut time - its +OK time
    acked_last_s: int               # writes acknowledged in the last second before the cut
    writing_s: float
    cut_reports: list[str]          # what each mount discarded
    missing_files: list[str]        # files the node writes durably that a cut took away

    @property
    def max_lost_age_s(self) -> float:
        return max(self.lost_ages_s, default=0.0)

    def summary(self) -> str:
        return (f"appendfsync={self.appendfsync}: {self.acked} writes acknowledged in {self.writing_s:.1f}s "
                f"({self.acked_last_s} in the last second), {len(self.lost)} lost"
                + (f", acknowledged {min(self.lost_ages_s):.3f}-{self.max_lost_age_s:.3f}s before the cut"
                   if self.lost else "")
                + (f"; MISSING after the cut: {self.missing_files}" if self.missing_files else "")
                + "; mounts: " + " | ".join(self.cut_reports))


def _writer(address, prefix: str, acked: dict, stop: threading.Event) -> None:
    """SET prefix-0, prefix-1, … until `stop` or the first error; record each +OK's time."""
    client = redis.Redis(host=address[0], port=address[1], socket_timeout=5, socket_connect_timeout=5)
    i = 0
    try:
        while not stop.is_set():
            key = f"{prefix}-{i}"
            value = f"{key}:{os.urandom(4).hex()}"
            if client.set(key, value) is not True:
                return
            acked[key] = (value, time.monotonic())
            i += 1
    except (redis.RedisError, OSError):
        return  # the node died under it: this write's outcome is unknown, not acknowledged
    finally:
        client.close()


def _read_back(cluster: LocalCluster, acked: dict, timeout_s: float) -> dict[str, bytes | None]:
    """Every acknowledged key's value through the leader, after one write in the new term."""

    def read():
        leader = cluster.leader(timeout_s)
        client = redis.Redis(host=leader.redis_address[0], port=leader.redis_address[1], socket_timeout=10)
        stage = "SET powercut-marker"
        try:
            client.set("powercut-marker", "1")  # commits everything before it in the new term
            keys = list(acked)
            found = {}
            for start in range(0, len(keys), 500):
                batch = keys[start:start + 500]
                stage = f"MGET of {len(batch)} keys"
                found.update(zip(batch, client.mget(batch)))
            return found
        except redis.ResponseError as exc:
            raise AssertionError(f"{stage} on {leader.id}: {exc}") from exc
        finally:
            client.close()

    return wait_until(read, timeout_s, "the acknowledged keys to be readable after the restart", interval_s=0.5)


def run_power_cut(root: str, appendfsync: str, writing_s: float = 4.0, writers: int = 2,
                  timeout_s: float = 60.0, extra_args: list[str] | None = None,
                  strict_metadata: bool = False) -> PowerCutResult:
    """One run (module docstring); `strict_metadata`: name changes survive only after a directory fsync."""
    cluster = LocalCluster(root, 3, appendfsync=appendfsync, extra_args=extra_args)
    mounts = [PowerCutMount(node.data_dir + ".backing", node.data_dir, log_path=node.data_dir + ".fs.log",
                            strict_metadata=strict_metadata)
              for node in cluster.nodes]
    try:
        for mount in mounts:
            mount.mount()
        cluster.start(timeout_s, wait_ports=True)
        leader = cluster.leader(timeout_s)
        acked: dict[str, tuple[str, float]] = {}
        stop = threading.Event()
        threads = [threading.Thread(target=_writer, args=(leader.redis_address, f"w{i}", acked, stop), daemon=True)
                   for i in range(writers)]
        started = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(writing_s)
        # The cut: every node dies at once (SIGKILL sent to all before waiting for any).
        cut_at = time.monotonic()
        snapshot = dict(acked)  # writes acknowledged before the cut
        for node in cluster.nodes:
            node.proc.send_signal(signal.SIGKILL)
        for node in cluster.nodes:
            cluster.kill(node)  # waits for the exit, drops the gRPC channel
        stop.set()
        for t in threads:
            t.join(15)
        reports = [mount.cut(timeout_s) for mount in mounts]
        missing = [f"{node.id}/{name}" for node, mount in zip(cluster.nodes, mounts) for name in DURABLE_FILES
                   if not os.path.exists(os.path.join(mount.backing, name))]
        for mount in mounts:
            mount.mount()
        cluster.start(timeout_s, wait_ports=True)
        found = _read_back(cluster, snapshot, timeout_s)
        lost = sorted((k for k, (v, _) in snapshot.items() if found.get(k) != v.encode()),
                      key=lambda k: snapshot[k][1])
        return PowerCutResult(
            appendfsync=appendfsync, acked=len(snapshot), lost=lost,
            lost_ages_s=[cut_at - snapshot[k][1] for k in lost],
            acked_last_s=sum(1 for _, at in snapshot.values() if at >= cut_at - 1.0),
            writing_s=cut_at - started, cut_reports=reports, missing_files=missing)
    except Exception:
        print(cluster.tail_logs(30))  # what the nodes said, for the failure report
        raise
    finally:
        cluster.close()
        for mount in mounts:
            mount.close()
