"""A real local cluster for tests: node processes on loopback, driven by PID.

Used by tests/conftest.py's fixtures and by scripts (chaos, benchmarks).
Helpers raise on timeout or mismatch; they never return a boolean that a
caller could forget to check.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import grpc

from raftcache.node.config import PORT_OFFSETS, Peer
from raftcache.proto import admin_pb2, admin_pb2_grpc, cache_pb2, cache_pb2_grpc
from raftcache.proto import commands_pb2 as pb

HOST = "127.0.0.1"
ZONES = "abcdefghij"
#: The test harness's channels retry a refused connection within half a second (gRPC's
#: default back-off grows from 1 s to 2 min: a node that restarts would answer late).
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 1 << 30),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]
_used_bases: set[int] = set()
_port_locks: list[int] = []  # the descriptor of the reservations file, opened once per process


def _ignore_connectivity(state: grpc.ChannelConnectivity) -> None:
    """Cluster.channel's connectivity watcher: watching is what counts."""


class WaitTimeout(AssertionError):
    """A condition did not hold before its deadline."""


def wait_until(condition: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.05):
    """Poll `condition` until it returns a truthy value (returned); raise WaitTimeout at the deadline.

    Exceptions raised by the condition count as "not yet" and are reported
    in the timeout message.
    """
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - reported below
            last_error = e
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise WaitTimeout(f"timed out after {timeout_s:.1f}s waiting for {what}{detail}")
        time.sleep(interval_s)


def _ports_free(base: int) -> bool:
    for offset in PORT_OFFSETS.values():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, base + offset))
            except OSError:
                return False
    return True


def _base_port_range() -> range:
    """Base ports (multiples of 10) below the kernel's ephemeral range, where no outgoing
    connection can take a port between the check and the node's bind; 20000-60000 when
    that range starts too low to leave room."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 0
    top = ephemeral_low - 10 if ephemeral_low >= 25000 else 60000
    return range(20000, top, 10)


def _reserve(base: int) -> bool:
    """Reserve `base` for this process against every other process on the machine (pytest-xdist
    workers, other test runs): a lock on byte `base` of a shared file, held until the process exits."""
    if not _port_locks:
        path = os.path.join(tempfile.gettempdir(), "raftcache-test-ports.lock")
        _port_locks.append(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
    try:
        fcntl.lockf(_port_locks[0], fcntl.LOCK_EX | fcntl.LOCK_NB, 1, base)
    except OSError:
        return False
    return True


def free_base_port(nodes: int = 1) -> int:
    """A base port whose five ports (PORT_OFFSETS) are free right now, and those of
    `nodes` - 1 more nodes at base + 10, base + 20, … (as `raftcache up` lays them out).

    Each base is handed out once per process and reserved against other processes
    using this function, so parallel workers never pick the same ports."""
    candidates = _base_port_range()
    for _ in range(500):
        base = random.choice(candidates[: len(candidates) - nodes + 1])
        bases = [base + 10 * i for i in range(nodes)]
        if (not _used_bases.intersection(bases) and all(_ports_free(b) for b in bases)
                and all(_reserve(b) for b in bases)):
            _used_bases.update(bases)
            return base
    raise RuntimeError("no free port range found")


@dataclasses.dataclass
class Node:
    peer: Peer
    data_dir: str
    log_path: str
    argv: list[str]
    env: dict
    proc: subprocess.Popen | None = None

    id = property(lambda self: self.peer.id)
    zone = property(lambda self: self.peer.zone)
    grpc_address = property(lambda self: self.peer.address("grpc"))
    redis_address = property(lambda self: (self.peer.host, self.peer.port("redis")))
    memcached_address = property(lambda self: (self.peer.host, self.peer.port("memcached")))
    http_address = property(lambda self: (self.peer.host, self.peer.port("http")))

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __repr__(self) -> str:
        return f"Node({self.id}@{self.zone}, pid={self.pid})"


class Cluster:
    """n node processes (zones a, b, c, …) on loopback; see tests/conftest.py."""

    def __init__(self, root: str, n: int = 3, *, appendfsync: str = "everysec", extra_args: list[str] | None = None,
                 env: dict | None = None):
        self.root = root
        self.secret = secrets.token_urlsafe(16)
        peers = [Peer(f"n{i + 1}", ZONES[i % len(ZONES)], HOST, free_base_port()) for i in range(n)]
        spec = ",".join(p.spec() for p in peers)
        base_env = dict(os.environ, RAFTCACHE_CLUSTER_SECRET=self.secret, PYTHONUNBUFFERED="1", **(env or {}))
        self.nodes: list[Node] = []
        for peer in peers:
            data_dir = os.path.join(root, peer.id)
            argv = [
                sys.executable, "-m", "raftcache", "node", "--id", peer.id, "--zone", peer.zone,
                "--host", HOST, "--base-port", str(peer.base_port), "--peers", spec,
                "--data-dir", data_dir, "--appendfsync", appendfsync, *(extra_args or []),
            ]
            self.nodes.append(Node(peer, data_dir, os.path.join(root, f"{peer.id}.log"), argv, base_env))
        self._channels: dict[str, grpc.Channel] = {}

    # ------------------------------------------------------------ processes

    def start(self, timeout_s: float = 30.0) -> "Cluster":
        """Start every node; return once each accepts gRPC connections and a leader is agreed."""
        for node in self.nodes:
            self._spawn(node)
        for node in self.nodes:
            wait_port(node.grpc_address, timeout_s)
        self.leader(timeout_s)
        return self

    def start_ready(self, timeout_s: float = 30.0) -> "Cluster":
        """start() (which waits for the ports too), under the name scripts/fuzz_cluster.py calls."""
        return self.start(timeout_s)

    def _spawn(self, node: Node) -> None:
        os.makedirs(node.data_dir, exist_ok=True)
        log = open(node.log_path, "ab")
        node.proc = subprocess.Popen(node.argv, env=node.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self, node: Node, sig: int = signal.SIGKILL, timeout_s: float = 15.0) -> None:
        """Send `sig` to the node's process and wait for it to exit."""
        # First: a node told to stop gives open gRPC connections its shutdown grace, and
        # the harness's own (idle) channel would hold every SIGTERM that long.
        self._drop_channel(node)
        if not node.alive:
            return
        node.proc.send_signal(sig)
        node.proc.wait(timeout_s)

    def stop(self, node: Node) -> None:
        self.kill(node, signal.SIGTERM)

    def kill_zone(self, zone: str) -> list[Node]:
        victims = [n for n in self.nodes if n.zone == zone and n.alive]
        for node in victims:
            node.proc.send_signal(signal.SIGKILL)
        for node in victims:
            node.proc.wait(15)
            self._drop_channel(node)
        return victims

    def restart(self, node: Node, timeout_s: float = 30.0) -> None:
        """Start a stopped node again with the same data dir; wait until it answers Status."""
        if node.alive:
            raise RuntimeError(f"{node} is still running")
        self._spawn(node)
        wait_port(node.grpc_address, timeout_s)
        wait_until(lambda: self.status(node), timeout_s, f"{node.id} to answer after restart")

    def close(self) -> None:
        """Tear down: kill every node (SIGKILL; a test of graceful stops calls stop()) and wait for it."""
        self.close_channels()
        for node in self.nodes:
            if node.alive:
                node.proc.kill()
        for node in self.nodes:
            if node.proc is not None:
                node.proc.wait(10)

    def tail_logs(self, lines: int = 60) -> str:
        out = []
        for node in self.nodes:
            try:
                with open(node.log_path, "rb") as f:
                    text = f.read().decode(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                text = ["(no log)"]
            out.append(f"----- {node.id} ({node.zone}) pid={node.pid} alive={node.alive} -----")
            out.extend(text)
        return "\n".join(out)

    # ------------------------------------------------------------ gRPC

    def channel(self, node: Node) -> grpc.Channel:
        ch = self._channels.get(node.id)
        if ch is None:
            ch = self._channels[node.id] = grpc.insecure_channel(node.grpc_address, options=CHANNEL_OPTIONS)
            # A watched channel is polled: a sync channel that nobody watches runs its reconnect
            # timers only on gRPC's 5 s backup poll, so one created before its node listened
            # answered 5-10 s after the node was up.
            ch.subscribe(_ignore_connectivity)
        return ch

    def close_channels(self) -> None:
        """Close the harness's channels (and their watcher threads); later calls open new ones."""
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def _drop_channel(self, node: Node) -> None:
        ch = self._channels.pop(node.id, None)
        if ch is not None:
            ch.close()

    def status(self, node: Node, timeout_s: float = 2.0) -> admin_pb2.StatusReply:
        return admin_pb2_grpc.AdminStub(self.channel(node)).Status(admin_pb2.StatusRequest(), timeout=timeout_s)

    def cache(self, node: Node) -> cache_pb2_grpc.CacheStub:
        return cache_pb2_grpc.CacheStub(self.channel(node))

    def execute(self, node: Node, command: pb.Command, level: str | None = None, timeout_s: float = 10.0,
                **request_fields) -> cache_pb2.Reply:
        req = cache_pb2.Request(command=command, **request_fields)
        if level:
            name, _, arg = level.partition(":")
            req.consistency.level = cache_pb2.ReadConsistency.Level.Value(name.upper())
            if name == "bounded":
                req.consistency.bound_ms = int(arg)
            if name == "min_index":
                req.consistency.min_index = int(arg)
        return self.cache(node).Execute(req, timeout=timeout_s)

    # ------------------------------------------------------------ conditions

    def alive_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.alive]

    def leader(self, timeout_s: float = 20.0) -> Node:
        """The node every live node agrees is the leader (and which says so itself)."""

        def agreed():
            statuses = {n.id: self.status(n) for n in self.alive_nodes()}
            leaders = {s.leader_id for s in statuses.values()}
            if len(leaders) != 1 or "" in leaders:
                return None
            (leader_id,) = leaders
            if leader_id not in statuses or statuses[leader_id].role != "leader":
                return None
            return next(n for n in self.nodes if n.id == leader_id)

        return wait_until(agreed, timeout_s, "a leader every live node agrees on")

    def wait_log_version(self, version: int, timeout_s: float = 20.0) -> None:
        """Wait until every live node runs the log at semantics `version` (a leader raises the
        version on its own about a second after every member reported supporting it)."""
        wait_until(lambda: all(self.status(n).log_version == version for n in self.alive_nodes()), timeout_s,
                   f"every node to run log version {version}")

    def followers(self) -> list[Node]:
        leader = self.leader()
        return [n for n in self.alive_nodes() if n is not leader]

    def wait_applied(self, index: int, nodes: list[Node] | None = None, timeout_s: float = 20.0) -> None:
        for node in nodes or self.alive_nodes():
            wait_until(lambda: self.status(node).applied_index >= index, timeout_s,
                       f"{node.id} to apply index {index}")


# ------------------------------------------------------------ operations helpers
# (backup, restore, membership; used by tests/integration/test_operations*.py)

SECRET_METADATA = "x-raftcache-secret"


def _cluster_admin(self, node: Node) -> admin_pb2_grpc.AdminStub:
    return admin_pb2_grpc.AdminStub(self.channel(node))


def _cluster_metadata(self) -> tuple:
    return ((SECRET_METADATA, self.secret),)


def _cluster_ctl(self, *args: str, endpoint: Node | None = None, timeout_s: float = 90.0,
                 check: bool = True) -> subprocess.CompletedProcess:
    """Run `raftcache ctl` against `endpoint` (default: the first live node) with the cluster secret."""
    target = endpoint or self.alive_nodes()[0]
    argv = [sys.executable, "-m", "raftcache", "ctl", "--endpoint", target.grpc_address, *args]
    env = dict(os.environ, RAFTCACHE_CLUSTER_SECRET=self.secret)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s)
    if check and proc.returncode != 0:
        raise AssertionError(f"ctl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _cluster_voter_specs(self) -> list[str]:
    topo = self.admin(self.alive_nodes()[0]).Topology(admin_pb2.TopologyRequest(), timeout=2)
    return [f"{m.id}@{m.zone}={m.grpc_address.rsplit(':', 1)[0]}:{m.grpc_address.rsplit(':', 1)[1]}"
            for m in topo.members if m.voter]


def _cluster_new_node(self, node_id: str, zone: str, *, role: str = "voter",
                      extra_args: list[str] | None = None) -> Node:
    """Create (not start) a node whose --peers are the current voters plus itself (voter)."""
    peer = Peer(node_id, zone, HOST, free_base_port())
    specs = self.voter_specs() + ([peer.spec()] if role == "voter" else [])
    data_dir = os.path.join(self.root, node_id)
    argv = [
        sys.executable, "-m", "raftcache", "node", "--id", peer.id, "--zone", peer.zone,
        "--host", HOST, "--base-port", str(peer.base_port), "--peers", ",".join(specs),
        "--data-dir", data_dir, "--appendfsync", "everysec", "--role", role,
        *(["--join"] if role == "voter" else []), *(extra_args or []),
    ]
    node = Node(peer, data_dir, os.path.join(self.root, f"{peer.id}.log"), argv, self.nodes[0].env)
    self.nodes.append(node)
    return node


def wait_port(address: str, timeout_s: float = 30.0) -> None:
    """Wait until a TCP port accepts connections (before the first gRPC call: a
    channel that failed once backs off for seconds)."""
    host, _, port = address.rpartition(":")

    def accepts():
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True

    wait_until(accepts, timeout_s, f"{address} to accept connections", interval_s=0.05)


def _cluster_spawn_ready(self, node: Node, timeout_s: float = 30.0) -> None:
    """Start a node process and wait until it answers Status."""
    self._spawn(node)
    wait_port(node.grpc_address, timeout_s)
    wait_until(lambda: self.status(node), timeout_s, f"{node.id} to answer")


def _cluster_add_node(self, node_id: str, zone: str, timeout_s: float = 30.0) -> Node:
    """Start a new voter and add it through `ctl add-node` (waits for it to catch up)."""
    node = self.new_node(node_id, zone)
    self.spawn_ready(node, timeout_s)
    self.ctl("add-node", node.peer.spec(), "--wait-timeout", str(timeout_s), endpoint=self.alive_nodes()[0])
    return node


def _cluster_remove_node(self, node: Node, stop: bool = True) -> None:
    """`ctl remove-node`, then stop the removed node's process and forget it."""
    self.ctl("remove-node", node.id, endpoint=next(n for n in self.alive_nodes() if n is not node))
    if stop:
        self.stop(node)
    self.nodes.remove(node)


Cluster.admin = _cluster_admin
Cluster.metadata = _cluster_metadata
Cluster.ctl = _cluster_ctl
Cluster.voter_specs = _cluster_voter_specs
Cluster.new_node = _cluster_new_node
Cluster.add_node = _cluster_add_node
Cluster.spawn_ready = _cluster_spawn_ready
Cluster.remove_node = _cluster_remove_node


def rss_bytes(node: Node) -> int:
    """The node process's resident memory (VmRSS of /proc/PID/status), in bytes."""
    with open(f"/proc/{node.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {node}")
