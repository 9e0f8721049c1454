"""The command line as a new user meets it: `raftcache up`, `ctl`, and clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.cluster import free_base_port, wait_until

RAFTCACHE = [sys.executable, "-m", "raftcache"]


def run(*args, timeout=30, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*RAFTCACHE, *args], capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture
def up(tmp_path):
    base = free_base_port()  # node 1's ports are checked free; nodes 2-3 use base+10, base+20
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
