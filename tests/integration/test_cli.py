"""The command line as a new user meets it: `raftcache up`, `ctl`, and clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from raftcache.localcluster import free_base_port, wait_until

RAFTCACHE = [sys.executable, "-m", "raftcache"]


def run(*args, timeout=30, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*RAFTCACHE, *args], capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture
def up(tmp_path):
    base = free_base_port(nodes=3)
    data = tmp_path / "data"
    proc = subprocess.Popen([*RAFTCACHE, "up", "--nodes", "3", "--base-port", str(base), "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError("raftcache up exited before it was ready:\n" + "".join(lines))
            lines.append(line)
            if line.startswith("raftcache ready"):
                break
        yield proc, base, data, line
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def test_up_runs_a_three_zone_cluster_and_stops_it(up):
    proc, base, data, ready = up
    assert "3 nodes in zones a,b,c" in ready
    assert f"dashboard http://127.0.0.1:{base + 4}/" in ready, ready
    with urllib.request.urlopen(f"http://127.0.0.1:{base + 4}/", timeout=10) as page:
        assert page.status == 200 and b"/dashboard.js" in page.read()
    info = json.loads((data / "cluster.json").read_text())
    nodes = info["nodes"]
    assert [(n["id"], n["zone"]) for n in nodes] == [("n1", "a"), ("n2", "b"), ("n3", "c")]
    assert nodes[1]["grpc"] == f"127.0.0.1:{base + 10}"
    assert nodes[2]["redis"] == f"127.0.0.1:{base + 21}"
    for n in nodes:
        os.kill(n["pid"], 0)  # alive
    # written through one node, read through another
    assert run("ctl", "--endpoint", nodes[0]["grpc"], "set", "greeting", "hello").stdout.strip() == "OK"
    got = run("ctl", "--endpoint", nodes[2]["grpc"], "get", "greeting")
    assert got.returncode == 0 and got.stdout.strip() == "hello"
    status = run("ctl", "--endpoint", nodes[1]["grpc"], "status")
    assert "role=" in status.stdout and "n3" in status.stdout
    # a node killed by PID is reported; the others keep serving
    os.kill(nodes[2]["pid"], signal.SIGKILL)
    line = proc.stdout.readline()
    assert f"node n3 (pid {nodes[2]['pid']}) exited" in line
    assert run("ctl", "--endpoint", nodes[0]["grpc"], "set", "k", "v").returncode == 0
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    assert proc.returncode == 0
    for n in nodes[:2]:
        wait_until(lambda: not _alive(n["pid"]), 10, f"{n['id']} to stop")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of `up` counts as stopped
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_ctl_errors_are_one_line_without_traceback():
    port = free_base_port()
    r = run("ctl", "--endpoint", f"127.0.0.1:{port}", "--timeout", "1", "get", "k")
    assert r.returncode != 0
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("raftcache: error:")


def test_node_with_bad_configuration_says_what_is_wrong(tmp_path):
    env = dict(os.environ)
    env.pop("RAFTCACHE_CLUSTER_SECRET", None)
    r = run("node", "--data-dir", str(tmp_path), env=env)
    assert r.returncode != 0 and "cluster secret" in r.stderr and "Traceback" not in r.stderr
    r = run("node", "--data-dir", str(tmp_path), "--cluster-secret", "s", "--peers", "nonsense", env=env)
    assert r.returncode != 0 and "ID@ZONE=HOST:BASEPORT" in r.stderr and "Traceback" not in r.stderr
    r = run("node", "--data-dir", str(tmp_path), "--cluster-secret", "s", "--maxmemory", "lots", env=env)
    assert r.returncode != 0 and "bad size" in r.stderr


@pytest.mark.parametrize("args", [[], ["node"], ["up"], ["ctl"], ["ctl", "status"]])
def test_every_command_has_help(args):
    r = run(*args, "--help")
    assert r.returncode == 0 and "usage: raftcache" in r.stdout


def test_ctl_finds_the_cluster_from_its_data_dir(up, tmp_path):
    proc, base, data, ready = up
    assert run("ctl", "--data-dir", str(data), "set", "k", "from-data-dir").stdout.strip() == "OK"
    nodes = json.loads((data / "cluster.json").read_text())["nodes"]
    os.kill(nodes[0]["pid"], signal.SIGKILL)  # the first endpoint is dead: the next one answers
    # (after an election when it was the leader: more than ctl's default 5 s on a loaded machine)
    got = run("ctl", "--data-dir", str(data), "--timeout", "20", "get", "k")
    assert got.returncode == 0 and got.stdout.strip() == "from-data-dir", got.stderr
    status = run("ctl", "--data-dir", str(data), "status")
    assert status.returncode == 0 and "log version=" in status.stdout
    # the secret comes from DATA_DIR/cluster.secret; a wrong one is named in the error
    env = {k: v for k, v in os.environ.items() if k != "RAFTCACHE_CLUSTER_SECRET"}
    moved = run("ctl", "--data-dir", str(data), "transfer-leader", env=env, timeout=60)
    assert moved.returncode == 0, moved.stderr
    wrong = run("ctl", "--data-dir", str(data), "--cluster-secret", "not-it", "transfer-leader", env=env)
    assert wrong.returncode == 1 and "came from --cluster-secret" in wrong.stderr
    other = tmp_path / "elsewhere"
    other.mkdir()
    missing = run("ctl", "--data-dir", str(other), "status")
    assert missing.returncode == 1 and "cluster.json does not exist" in missing.stderr


def test_ctl_names_what_it_tried():
    ports = [free_base_port(), free_base_port()]
    r = run("ctl", "--timeout", "1", "--endpoint", f"127.0.0.1:{ports[0]}", "--endpoint", f"127.0.0.1:{ports[1]}",
            "status")
    assert r.returncode == 1 and str(ports[0]) in r.stderr and str(ports[1]) in r.stderr
    r = run("ctl", "--timeout", "1", "--endpoint", f"127.0.0.1:{ports[0]}", "status")
    assert "--data-dir" in r.stderr


def test_up_shards_runs_a_sharded_cluster(tmp_path):
    """`raftcache up --shards 2 --nodes 2`: s1n1, s1n2, s2n1, s2n2 shard-major on BASE+10k, zones a, b in
    each shard, cluster.json with each node's shard and the cluster map, Redis Cluster on every Redis port."""
    from redis.cluster import RedisCluster

    base = free_base_port(nodes=4)
    data = tmp_path / "data"
    proc = subprocess.Popen([*RAFTCACHE, "up", "--shards", "2", "--nodes", "2", "--base-port", str(base),
                             "--data-dir", str(data)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = proc.stdout.readline()
        assert ready.startswith("raftcache ready: 2 shards x 2 nodes"), ready + proc.stdout.read()
        info = json.loads((data / "cluster.json").read_text())
        assert [(n["id"], n["zone"], n["shard"], n["redis"]) for n in info["nodes"]] == [
            ("s1n1", "a", 1, f"127.0.0.1:{base + 1}"), ("s1n2", "b", 1, f"127.0.0.1:{base + 11}"),
            ("s2n1", "a", 2, f"127.0.0.1:{base + 21}"), ("s2n2", "b", 2, f"127.0.0.1:{base + 31}")]
        assert [s["slots"] for s in info["shards"]] == ["0-8191", "8192-16383"]
        with RedisCluster(host="127.0.0.1", port=base + 1, socket_timeout=10) as rc:
            assert rc.set("foo", "bar") and rc.set("bar", "foo")   # slots 12182 and 5061: both shards
            assert (rc.get("foo"), rc.get("bar")) == (b"bar", b"foo")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
    for n in info["nodes"]:
        wait_until(lambda: not _alive(n["pid"]), 10, f"{n['id']} to stop")


def test_up_shards_tls_serves_every_shard_over_tls(tmp_path):
    """`raftcache up --shards 2 --tls`: one CA for every shard; RedisCluster, the memcached port
    (forwarding to the other shard, node to node over TLS) and the SDK connect with the CA alone."""
    import ssl

    from pymemcache.client.base import Client as Memcache
    from redis.cluster import RedisCluster

    from raftcache.client import Client, TLSConfig, cluster_file_seeds

    base = free_base_port(nodes=2)
    data = tmp_path / "data"
    proc = subprocess.Popen([*RAFTCACHE, "up", "--shards", "2", "--nodes", "1", "--tls", "--base-port", str(base),
                             "--data-dir", str(data)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = proc.stdout.readline()
        assert ready.startswith("raftcache ready: 2 shards x 1 nodes") and "--tls --cacert" in ready, \
            ready + proc.stdout.read()
        ca = str(data / "tls" / "ca.crt")
        assert json.loads((data / "cluster.json").read_text())["tls"]["ca"] == ca
        with RedisCluster(host="127.0.0.1", port=base + 1, ssl=True, ssl_ca_certs=ca, socket_timeout=10) as rc:
            assert rc.set("foo", "bar") and rc.set("bar", "foo")   # slots 12182 and 5061: both shards
        mc = Memcache(("127.0.0.1", base + 2), tls_context=ssl.create_default_context(cafile=ca), timeout=10)
        try:
            assert mc.get_many(["foo", "bar"]) == {"foo": b"bar", "bar": b"foo"}
        finally:
            mc.close()
        with Client(cluster_file_seeds(str(data / "cluster.json")), tls=TLSConfig(ca=ca)) as sdk:
            assert (sdk.get("foo"), sdk.get("bar")) == (b"bar", b"foo")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0


def test_up_shards_refuses_restore(tmp_path):
    """A backup is one Raft group's keyspace image: `up --shards --restore` says so and starts nothing."""
    out = subprocess.run([*RAFTCACHE, "up", "--shards", "2", "--restore", str(tmp_path / "x.rcbak"),
                          "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "--restore is not supported with --shards" in out.stderr + out.stdout
    assert not (tmp_path / "data" / "cluster.json").exists()
