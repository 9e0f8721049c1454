"""Operations on real clusters: rolling restart, leadership, read replicas, schedules.

- scripts/rolling_restart.py restarts every voter (leader last, after a
  transfer) while a client writes and reads: zero failed requests.
- `ctl transfer-leader --to` moves leadership.
- A `--role replica` node follows the log and serves any/min_index/bounded
  reads, forwards writes, and is not counted in the quorum.
- Automatic snapshots are written on schedule and pruned to the retention count.
- `raftcache up --restore FILE` seeds a new local cluster.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import grpc
import pytest

from raftcache.node.ops import backup
from raftcache.proto import admin_pb2
from raftcache.proto import commands_pb2 as pb
from raftcache.localcluster import free_base_port, wait_port, wait_until
from tests.integration.ops_load import Load
from tests.integration.test_operations import _offline_backup, addresses, get

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _rolling_restart_module():
    spec = importlib.util.spec_from_file_location("rolling_restart", ROOT / "scripts" / "rolling_restart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rolling_restart_with_zero_failed_requests(make_cluster):
    c = make_cluster(3)
    rr = _rolling_restart_module()
    first_leader = c.leader()
    by_id = {n.id: n for n in c.nodes}

    def restart(member) -> None:
        node = by_id[member.id]
        c.stop(node)
        c.spawn_ready(node)

    with Load(addresses(c), prefix="rr", max_ops=50_000, reads=True) as load:
        load.wait_for(50)
        order = rr.rolling_restart(c.nodes[0].grpc_address, restart, secret=c.secret, log=lambda _: None)
        mark = len(load.acked)
        load.wait_for(mark + 50)
    assert order[-1] == first_leader.id and sorted(order) == sorted(by_id)
    assert load.failures == [], load.failures[:5]  # reads compared with what was written, too
    assert load.reads_done > 0
    leader = c.leader()
    c.wait_applied(c.status(leader).commit_index)
    strings = [(key, value) for key, value in load.acked.items() if not key.endswith(b"9")]  # every 10th: a hash
    for node in c.nodes:
        for key, value in strings[::5]:
            assert get(c, node, key) == value, (node.id, key)


def test_transfer_leader_to_a_named_node(make_cluster):
    c = make_cluster(3)
    old = c.leader()
    target = c.followers()[0]
    before = c.status(old)
    with Load(addresses(c), prefix="tl", max_ops=20_000) as load:
        load.wait_for(50)
        out = c.ctl("transfer-leader", "--to", target.id)
        load.wait_for(len(load.acked) + 50)
    assert f"leader is now {target.id}" in out.stdout
    assert c.leader().id == target.id
    assert load.failures == [], load.failures[:5]  # no write failed across the handover
    assert c.status(target).term > before.term
    # every write acknowledged before, during and after the handover is on every node
    c.wait_applied(c.status(target).commit_index)
    for node in c.nodes:
        for key, value in [(k, v) for k, v in load.acked.items() if not k.endswith(b"9")][::7]:
            assert get(c, node, key, "any") == value, (node.id, key)
    # and writes go on through any node
    reply = c.execute(c.nodes[0], pb.Command(set=pb.Set(key=b"after", value=b"1")))
    assert reply.index > 0


def test_read_replica_serves_reads_and_is_not_in_the_quorum(make_cluster, tmp_path):
    c = make_cluster(3, extra_args=["--backup-dir", str(tmp_path / "snaps"), "--backup-interval", "1",
                                "--backup-keep", "2"])
    leader = c.leader()
    for i in range(20):
        index = c.execute(leader, pb.Command(set=pb.Set(key=b"k%d" % i, value=b"%d" % i))).index
    replica = c.new_node("r1", "b", role="replica")
    c.spawn_ready(replica)
    wait_until(lambda: c.status(replica).applied_index >= index, 20, "the replica to catch up")
    status = c.status(replica)
    assert status.role == "replica" and not status.voter and status.leader_id == leader.id

    # reads at the local levels are served by the replica itself
    for level in ("any", f"min_index:{index}", "bounded:5000"):
        assert get(c, replica, b"k19", level) == b"19"
    # writes and linearizable reads are forwarded to the leader
    w = c.execute(replica, pb.Command(set=pb.Set(key=b"via-replica", value=b"yes")))
    assert get(c, replica, b"via-replica", "linearizable") == b"yes"
    assert get(c, replica, b"via-replica", f"min_index:{w.index}") == b"yes"

    # not a voter anywhere, but connected to the leader
    topo = c.admin(leader).Topology(admin_pb2.TopologyRequest(), timeout=2)
    assert sorted(m.id for m in topo.members) == ["n1", "n2", "n3"]
    assert c.status(leader).replicas_connected == 1

    # quorum: with two of three voters gone the replica does not make a majority
    voters_down = [n for n in c.nodes if n.id in ("n1", "n2", "n3") and n is not leader][:2]
    for node in voters_down:
        c.kill(node)
    with pytest.raises(grpc.RpcError) as err:
        c.execute(replica, pb.Command(set=pb.Set(key=b"no-quorum", value=b"x")), timeout_s=8)
    assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert get(c, replica, b"k3") == b"3"                 # still serves local reads
    for node in voters_down:
        c.spawn_ready(node)
    c.leader()

    # automatic snapshots: written atomically on schedule, pruned to 2 per node
    snaps = tmp_path / "snaps"
    wait_until(lambda: len([p for p in os.listdir(snaps) if "-n1-" in p]) == 2, 15, "two n1 snapshots")
    # a snapshot being written is a hidden temporary file until its atomic rename
    names = sorted(n for n in os.listdir(snaps) if not n.startswith(".backup-"))
    assert all(n.endswith(backup.SUFFIX) for n in names), names
    newest = max((p for p in names if "-n1-" in p))
    assert backup.verify(str(snaps / newest)).key_count >= 20


def test_up_restore_seeds_a_new_local_cluster(tmp_path):
    good = _offline_backup(tmp_path)
    base = free_base_port(nodes=3)
    data_dir = tmp_path / "up"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "raftcache", "up", "--nodes", "3", "--base-port", str(base),
                             "--data-dir", str(data_dir), "--restore", good],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("raftcache ready"):
                break
        assert any(text.startswith("raftcache: seeded 3 nodes") for text in lines), lines
        assert any(text.startswith("raftcache ready") for text in lines), lines
        nodes = json.loads((data_dir / "cluster.json").read_text())["nodes"]
        for n in nodes:
            wait_port(n["grpc"])
            out = subprocess.run([sys.executable, "-m", "raftcache", "ctl", "--endpoint", n["grpc"], "get", "k",
                                  "--consistency", "any"], capture_output=True, text=True, timeout=30)
            assert out.stdout.strip() == "v", out.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
