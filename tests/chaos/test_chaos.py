"""Chaos runs against a real cluster, checked by scripts/chaos/checker.py.

- test_smoke_chaos_run: in the default suite (< 60 s): loopback, a leader
  kill, a zone pause and kill -9 of every node while clients run (writes
  with an unknown outcome are certain), reads spread over every node; the
  checker's verdict must be valid (exit status 0): linearizable, no
  acknowledged write lost, no anomaly.
- test_chaos_run (marker `chaos`, `make test-chaos`): 90 s with every fault,
  partitions included when the process may create network namespaces.
- test_follower_reads_chaos_run (marker `chaos`): 60 s of leader and zone
  faults (partitions and a leader cut from its peers with network
  namespaces) while every gRPC read goes to a node drawn at random: the
  linearizable reads are served by followers through ReadIndex.
- test_chaos_disk_faults (marker `chaos`): 40 s on loopback with a read-only
  and a full data dir (tmpfs per node; skipped with the reason unless root
  may mount); the node must stop with EXIT_DISK_ERROR and rejoin when healed.
- test_bounded_read_after_pause (marker `chaos`): the staleness bound of
  `bounded` reads right after a paused follower resumes (docs/reliability.md).

Each run goes through scripts/chaos/run.py in a subprocess, exactly as a
long run does, and reads its verdict.json.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


RUN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "scripts", "chaos", "run.py")


def _run(tmp_path, *args: str, timeout_s: float) -> dict:
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, RUN, "--out", str(out), *args], capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    path = out / "verdict.json"
    if not path.exists():
        raise AssertionError(f"run.py wrote no verdict (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    verdict = json.loads(path.read_text())
    verdict["_exit"] = proc.returncode
    verdict["_logs"] = (out / "cluster-logs-tail.txt").read_text() if (out / "cluster-logs-tail.txt").exists() else ""
    return verdict


def _assert_safe(v: dict) -> None:
    summary = {k: v.get(k) for k in ("linearizable", "lease_linearizable", "acknowledged_writes",
                                     "acknowledged_writes_lost", "staleness_violations", "faults_injected")}
    assert not v["run"].get("aborted"), f"run aborted: {v['run'].get('aborted')}\n{v['_logs']}"
    assert v["operations"]["ok"] > 100, f"too little work was done: {v['operations']}\n{v['_logs']}"
    assert v["faults_injected"] >= 2, summary
    assert not v["run"]["nemesis_errors"], v["run"]["nemesis_errors"]
    assert v["linearizable"] == "yes", (summary, v["linearizability"])
    assert v["acknowledged_writes_lost"] == 0, v["lost_writes"]
    assert v["lost_writes"]["phantom"] == 0, v["lost_writes"]
    assert v["script_not_atomic"] == 0 and v["replicas_differ"] == 0, v["scripts"]
    if v["run"].get("script_clients"):
        assert v["scripts"]["acknowledged"] > 0, v["operations"]


def test_smoke_chaos_run(tmp_path):
    # kill_all (kill -9 of every node, leader included, while writes are in flight) held
    # longer than the workers' 2.5 s write timeout: writes with an unknown outcome are certain.
    v = _run(tmp_path, "--duration", "30", "--seed", "3", "--network", "loopback",
             "--script", "kill_leader:4:4,pause_zone@b:3:3,kill_all:3:4",
             "--grpc-clients", "3", "--redis-clients", "1", "--write-timeout", "2.5", "--follower-reads",
             timeout_s=110)
    _assert_safe(v)
    assert v["operations"].get("unknown", 0) >= 1, v["operations"]
    assert v["anomalies"] == [] and v["undecided"] == [], (v["anomalies"], v["undecided"])
    assert v["valid"] is True and v["_exit"] == 0, (v["valid"], v["_exit"])


@pytest.mark.chaos
def test_chaos_run(tmp_path):
    v = _run(tmp_path, "--duration", "90", "--seed", str(int(os.environ.get("CHAOS_SEED", "11"))),
             "--quiet", "2,5", "--hold", "3,8", timeout_s=400)
    _assert_safe(v)
    assert v["lease_linearizable"] in ("yes", None), v["lease_linearizability"]
    assert v["staleness_violations"] == 0, v["staleness"]


@pytest.mark.chaos
def test_write_scripts_chaos_run(tmp_path):
    """EVALSHA / FCALL of one write script (INCRBY + RPUSH) from three clients under leader
    kills, pauses and partitions: every acknowledged run in the list once, the counter the sum
    of the listed increments, every node's copy the same (docs/reliability.md)."""
    v = _run(tmp_path, "--duration", "60", "--seed", str(int(os.environ.get("CHAOS_SEED", "23"))),
             "--script-clients", "3", "--grpc-clients", "2", "--sdk-clients", "0",
             "--quiet", "2,4", "--hold", "3,6",
             "--faults", "kill_leader,pause_leader,pause_zone,kill_zone,partition_zone,partition_leader",
             timeout_s=400)
    _assert_safe(v)
    assert v["scripts"]["acknowledged"] > 50 and not v["scripts"]["replicas_differ"], v["scripts"]
    assert v["valid"] is True, (v["anomalies"], v["undecided"])


@pytest.mark.chaos
def test_follower_reads_chaos_run(tmp_path):
    v = _run(tmp_path, "--duration", "60", "--seed", str(int(os.environ.get("CHAOS_SEED", "17"))),
             "--follower-reads", "--quiet", "2,4", "--hold", "3,6",
             "--faults", "kill_leader,pause_leader,pause_zone,kill_zone,partition_zone,partition_leader,"
             "cut_leader_from_peers", timeout_s=400)
    _assert_safe(v)
    assert v["lease_linearizable"] in ("yes", None), v["lease_linearizability"]
    assert v["staleness_violations"] == 0, v["staleness"]
    assert len(v["operations"]["linearizable_reads_by_node"]) == 3, v["operations"]


@pytest.mark.chaos
def test_chaos_disk_faults(tmp_path):
    v = _run(tmp_path, "--duration", "40", "--seed", "5", "--network", "loopback",
             "--script", "read_only_disk@b:4:6,full_disk@c:4:6,read_only_disk@a:4:6",
             "--grpc-clients", "3", "--redis-clients", "1", timeout_s=240)
    if v["run"].get("disk_problem"):
        print(f"skipping: {v['run']['disk_problem']}")
        pytest.skip(v["run"]["disk_problem"])
    _assert_safe(v)
    disk = [f for f in v["faults"] if f["kind"] in ("read_only_disk", "full_disk")]
    assert len(disk) == 3, v["faults"]
    for fault in disk:
        # fail-stop: the node stopped with EXIT_DISK_ERROR (74) and was restarted at heal
        assert fault["stopped"] == fault["nodes"], fault
        assert set(fault["exit_status"].values()) == {74}, fault


@pytest.mark.chaos
def test_bounded_read_after_pause(tmp_path):
    """A follower paused for 3 s must not serve `bounded:250` reads from its old state when it wakes up.

    Reproduces the anomaly of docs/reliability.md ("bounded reads after a
    pause"): contact with the leader is refreshed before the follower has
    caught up, so the bound on contact is not a bound on staleness.
    """
    from raftcache.proto import commands_pb2 as pb

    from scripts.chaos.cluster import ChaosCluster

    cluster = ChaosCluster(str(tmp_path / "cluster"), 3).start()
    try:
        leader = cluster.leader()
        follower = next(n for n in cluster.nodes if n is not leader)
        cluster.execute(leader, pb.Command(set=pb.Set(key=b"k", value=b"0")))
        cluster.wait_applied(cluster.status(leader).commit_index, [follower])
        acked = {}  # value written -> when its write was acknowledged
        os.kill(follower.pid, signal.SIGSTOP)
        try:
            paused_at = time.monotonic()
            i = 0
            while time.monotonic() - paused_at < 3.0 and i < 5000:  # writes the paused follower misses
                i += 1
                cluster.execute(leader, pb.Command(set=pb.Set(key=b"k", value=str(i).encode())))
                acked[i] = time.monotonic()
        finally:
            os.kill(follower.pid, signal.SIGCONT)
        stale = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            reply = cluster.execute(follower, pb.Command(get=pb.Get(key=b"k")), level="bounded:250")
            seen = int(reply.value.bulk)
            if seen == i:
                break
            staleness_s = t0 - acked[seen + 1]  # the first acknowledged write this read did not see
            if staleness_s > 0.25:
                stale.append({"staleness_s": round(staleness_s, 3), "seen": seen, "newest": i,
                              "since_resume_s": round(t0 - acked[i], 3)})
        assert not stale, f"bounded:250 reads returned state older than 250 ms: {stale[:5]}"
    finally:
        cluster.close()

