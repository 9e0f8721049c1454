"""The one local-cluster launcher: `raftcache node` processes on this machine, driven by PID.

`LocalCluster` starts N nodes, n1, n2, … in zones a, b, c, …, each on its own
ports (free loopback ports, or node i at BASE+10i: +0 gRPC, +1 Redis, +2
memcached, +3 Raft, +4 HTTP; docs/design.md "Ports and processes"), waits for
a leader every live node agrees on, kills, stops, restarts, adds and removes
nodes, tails their logs, and talks to each node over gRPC. It serves
`raftcache up` (`run` below), the tests (tests/cluster.py adds what only
tests need) and the scripts (benchmarks, chaos, fuzzing, power cuts).

Its directory ROOT holds cluster.secret (0600; a cluster started again in
the same ROOT reuses it), cluster.json (each node's id, zone, pid, endpoints,
data dir and the argv that restarts it; `raftcache ctl --data-dir ROOT`
reads it), and per node the data dir ROOT/ID and the log ROOT/ID.log. Only
processes it started are ever signalled, by their PID. With `tls`, ROOT/tls
holds a throwaway CA and certificates (raftcache/certs.py), every node runs
TLS-only and cluster.json names the CA and the client certificate; with a
`password`, the nodes' default user needs it (docs/security.md) and the
launcher's own calls send it. `raftcache up` writes everything private to
its user (umask 077).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import random
import secrets
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import grpc

from raftcache import certs
from raftcache.client import Client, TLSConfig
from raftcache.client.admin import SECRET_METADATA
from raftcache.client.auth import basic_metadata
from raftcache.client.options import ReadLevel
from raftcache.node.errors import ConfigError
from raftcache.peers import PORT_OFFSETS, Peer
from raftcache.proto import admin_pb2, admin_pb2_grpc, cache_pb2, cache_pb2_grpc
from raftcache.proto import commands_pb2 as pb

HOST = "127.0.0.1"
ZONES = string.ascii_lowercase
SECRET_FILE = "cluster.secret"
CLUSTER_FILE = "cluster.json"
_used_bases: set[int] = set()
_port_locks: list[int] = []  # the descriptor of the reservations file, opened once per process
#: The launcher's channels retry a refused connection within half a second (gRPC's default
#: back-off grows from 1 s to 2 min: a node that restarts would answer late).
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 1 << 30),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


# ---------------------------------------------------------------- waiting and ports

class WaitTimeout(AssertionError):
    """A condition did not hold before its deadline (an AssertionError: in a test, a failed expectation)."""


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


def _ports_free(host: str, base: int) -> bool:
    for offset in PORT_OFFSETS.values():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, base + offset))
            except OSError:
                return False
    return True


def _ephemeral_ports() -> range:
    """The ports the kernel hands out to outgoing connections (Linux's default where unknown)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = map(int, f.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_base_port(nodes: int = 1, host: str = HOST) -> int:
    """A base port whose five ports (PORT_OFFSETS) are free right now, and those of
    `nodes` - 1 more nodes at base + 10, base + 20, … (as `raftcache up` lays them out).
    Never the same one twice in a process, and outside the ephemeral port range: an
    outgoing connection could take a port there between this check and the node's bind."""
    ephemeral = _ephemeral_ports()
    span = 10 * (nodes - 1) + max(PORT_OFFSETS.values())
    candidates = [b for b in range(10000, 65000 - span, 10)
                  if b + span < ephemeral.start or b >= ephemeral.stop]
    for _ in range(500):
        base = random.choice(candidates)
        bases = [base + 10 * i for i in range(nodes)]
        if (not _used_bases.intersection(bases) and all(_ports_free(host, b) for b in bases)
                and all(_reserve(b) for b in bases)):
            _used_bases.update(bases)
            return base
    raise RuntimeError("no free port range found")


def _reserve(base: int) -> bool:
    """Reserve `base` for this process against every other process on the machine that uses
    free_base_port (parallel test workers, other runs): a lock on byte `base` of a shared
    file, held until the process exits."""
    if not _port_locks:
        path = os.path.join(tempfile.gettempdir(), "raftcache-ports.lock")
        _port_locks.append(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
    try:
        fcntl.lockf(_port_locks[0], fcntl.LOCK_EX | fcntl.LOCK_NB, 1, base)
    except OSError:
        return False
    return True


def _ignore_connectivity(state: grpc.ChannelConnectivity) -> None:
    """LocalCluster.channel's connectivity watcher: watching is what counts."""


def wait_port(address: str, timeout_s: float = 30.0) -> None:
    """Wait until a TCP port accepts connections (before the first gRPC call: a
    channel that failed once backs off for seconds)."""
    host, _, port = address.rpartition(":")

    def accepts():
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True

    wait_until(accepts, timeout_s, f"{address} to accept connections", interval_s=0.05)


def cluster_peers(n: int, host: str = HOST, base_port: int | None = None) -> list[Peer]:
    """Members n1 … nN in zones a, b, c, …: node i at base_port + 10i, or on free ports without one."""
    return [Peer(f"n{i + 1}", ZONES[i % len(ZONES)], host,
                 base_port + 10 * i if base_port is not None else free_base_port(host=host)) for i in range(n)]


def load_or_create_secret(root: str) -> str:
    """The cluster secret, kept 0600 in ROOT so a cluster started again there reuses it."""
    path = os.path.join(root, SECRET_FILE)
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        secret = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        return secret


def _stop_with_parent() -> None:
    """In the child: get SIGTERM when the launcher dies, however it dies (Linux prctl)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the nodes outlive a killed launcher


# ---------------------------------------------------------------- the cluster

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

    def record(self) -> dict:
        """This node's entry in cluster.json."""
        return {"id": self.id, "zone": self.zone, "pid": self.pid, "data_dir": self.data_dir,
                **{kind: self.peer.address(kind) for kind in PORT_OFFSETS}, "argv": self.argv}

    def __repr__(self) -> str:
        return f"Node({self.id}@{self.zone}, pid={self.pid})"


class LocalCluster:
    """N `raftcache node` processes under ROOT; see the module docstring.

    `base_port`: node i at base_port + 10i (default: free ports). `peers`:
    the members to run instead (ids, zones, hosts, base ports), e.g. each on
    its own address. `exec_prefix(node_id)`: words put before a node's
    command (e.g. `ip netns exec NS`). `own_session`: the nodes get a
    session of their own (Ctrl-C reaches only the launcher, which stops them
    in order) and SIGTERM when the launcher dies, as `raftcache up` wants.
    """

    def __init__(self, root: str, n: int = 3, *, host: str = HOST, base_port: int | None = None,
                 appendfsync: str = "everysec", extra_args: list[str] | None = None, env: dict | None = None,
                 peers: list[Peer] | None = None, exec_prefix: Callable[[str], list[str]] | None = None,
                 own_session: bool = False, tls: str = "", password: str = ""):
        """`tls`: "" (plaintext) or the nodes' --tls-auth-clients (yes, no, optional); `password`:
        the default user's (RAFTCACHE_REDIS_PASSWORD of every node)."""
        os.umask(0o077)
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)
        self.secret = load_or_create_secret(self.root)
        self.password = password
        if password:
            env = {**(env or {}), "RAFTCACHE_REDIS_PASSWORD": password}
        self.appendfsync = appendfsync
        self.exec_prefix = exec_prefix or (lambda node_id: [])
        self.own_session = own_session
        self.env = dict(os.environ, RAFTCACHE_CLUSTER_SECRET=self.secret, PYTHONUNBUFFERED="1", **(env or {}))
        peers = peers or cluster_peers(n, host, base_port)
        self.pairs = certs.ensure(os.path.join(self.root, "tls"), [p.id for p in peers],
                                  sorted({p.host for p in peers})) if tls else None
        self.nodes: list[Node] = [self._node(p, peers, list(extra_args or []) + self._tls_argv(p.id, tls))
                                  for p in peers]
        self._channels: dict[str, grpc.Channel] = {}
        #: A ShardedCluster this cluster is one shard of (raftcache/shardedcluster.py): it writes cluster.json.
        self.owner = None

    def _tls_argv(self, node_id: str, auth_clients: str) -> list[str]:
        if self.pairs is None:
            return []
        return ["--tls-cert-file", self.pairs[node_id].cert, "--tls-key-file", self.pairs[node_id].key,
                "--tls-ca-cert-file", self.pairs["ca"].cert, "--tls-auth-clients", auth_clients]

    @property
    def tls(self) -> TLSConfig | None:
        """The clients' TLS settings (the CA, the client certificate), when the nodes speak TLS."""
        if self.pairs is None:
            return None
        return TLSConfig(ca=self.pairs["ca"].cert, cert=self.pairs["client"].cert, key=self.pairs["client"].key)

    def _node(self, peer: Peer, peers: list[Peer], extra: list[str]) -> Node:
        data_dir = os.path.join(self.root, peer.id)
        argv = [
            *self.exec_prefix(peer.id), sys.executable, "-m", "raftcache", "node", "--id", peer.id,
            "--zone", peer.zone, "--host", peer.host, "--base-port", str(peer.base_port),
            "--peers", ",".join(p.spec() for p in peers), "--data-dir", data_dir,
            "--appendfsync", self.appendfsync, *extra,
        ]
        return Node(peer, data_dir, os.path.join(self.root, f"{peer.id}.log"), argv, self.env)

    # ------------------------------------------------------------ processes

    def start(self, timeout_s: float = 30.0, wait_ports: bool = True) -> LocalCluster:
        """Start every node and wait for a leader every node agrees on.

        With `wait_ports`, first wait until every gRPC port accepts connections,
        so that no channel is refused and backs off: the leader is known sooner.
        """
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            self.spawn(node)
        for node in self.nodes if wait_ports else ():
            wait_port(node.grpc_address, max(deadline - time.monotonic(), 0.1))
        self.leader(max(deadline - time.monotonic(), 0.1))
        return self

    def spawn(self, node: Node) -> None:
        """Start the node's process (appending to its log) and record it in cluster.json."""
        os.makedirs(node.data_dir, exist_ok=True)
        session = {"start_new_session": True, "preexec_fn": _stop_with_parent} if self.own_session else {}
        with open(node.log_path, "ab") as log:
            node.proc = subprocess.Popen(node.argv, env=node.env, stdout=log, stderr=subprocess.STDOUT, **session)
        self.save()

    def spawn_ready(self, node: Node, timeout_s: float = 30.0) -> None:
        """Start a node process and wait until it answers Status."""
        self.spawn(node)
        wait_port(node.grpc_address, timeout_s)
        wait_until(lambda: self.status(node), timeout_s, f"{node.id} to answer")

    def save(self) -> str:
        """Write ROOT/cluster.json (atomically; a shard's owner writes every shard's); returns its path."""
        if self.owner is not None:
            return self.owner.save()
        path = os.path.join(self.root, CLUSTER_FILE)
        tls = self.tls
        with open(path + ".tmp", "w") as f:
            json.dump({"nodes": [n.record() for n in self.nodes],
                       **({"tls": {"ca": tls.ca, "cert": tls.cert, "key": tls.key}} if tls else {})}, f, indent=2)
            f.write("\n")
        os.replace(path + ".tmp", path)
        return path

    def kill(self, node: Node, sig: int = signal.SIGKILL, timeout_s: float = 15.0) -> None:
        """Send `sig` to the node's process and wait for it to exit."""
        # First: a node told to stop gives open gRPC connections its shutdown grace, and
        # the launcher's own (idle) channel would hold every SIGTERM that long.
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
        self.spawn(node)
        wait_port(node.grpc_address, timeout_s)
        wait_until(lambda: self.status(node), timeout_s, f"{node.id} to answer after restart")

    def close(self, graceful: bool = True) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 10 s; at once unless `graceful`) and
        close the channels."""
        self.close_channels()
        for node in self.nodes:
            if node.alive:
                node.proc.terminate() if graceful else node.proc.kill()
        for node in self.nodes:
            if node.proc is not None:
                try:
                    node.proc.wait(10)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()

    def close_channels(self) -> None:
        """Close the launcher's channels (and their watcher threads); later calls open new ones."""
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

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

    # ------------------------------------------------------------ membership

    def client(self, nodes: list[Node] | None = None, **options) -> Client:
        """An SDK client seeded with `nodes` (default: the live ones), holding the cluster secret (close it after use)."""
        auth = {"password": self.password} if self.password else {}
        return Client([n.grpc_address for n in nodes or self.alive_nodes()], cluster_secret=self.secret,
                      tls=self.tls, **auth, **options)

    def voter_specs(self) -> list[str]:
        topo = self.admin(self.alive_nodes()[0]).Topology(admin_pb2.TopologyRequest(), timeout=2)
        return [f"{m.id}@{m.zone}={m.grpc_address}" for m in topo.members if m.voter]

    def new_node(self, node_id: str, zone: str, *, role: str = "voter", host: str = HOST,
                 extra_args: list[str] | None = None) -> Node:
        """Create (not start) a node whose --peers are the current voters plus itself (a voter joins)."""
        peer = Peer(node_id, zone, host, free_base_port(host=host))
        peers = [Peer.parse(s) for s in self.voter_specs()] + ([peer] if role == "voter" else [])
        node = self._node(peer, peers, ["--role", role, *(["--join"] if role == "voter" else []), *(extra_args or [])])
        self.nodes.append(node)
        return node

    def add_node(self, node_id: str, zone: str, timeout_s: float = 30.0) -> Node:
        """Start a new voter, add it through the leader and wait until it has caught up."""
        node = self.new_node(node_id, zone)
        self.spawn_ready(node, timeout_s)
        with self.client() as client:
            client.admin.add_node(node.peer, timeout_s=timeout_s)
            client.admin.wait_caught_up(node.peer, timeout_s=timeout_s)
        return node

    def remove_node(self, node: Node, stop: bool = True) -> None:
        """Remove a voter through the leader, then stop its process (unless `stop` is False) and forget it."""
        with self.client([n for n in self.alive_nodes() if n is not node]) as client:
            client.admin.remove_node(node.id)
        if stop:
            self.stop(node)
        self.nodes.remove(node)

    # ------------------------------------------------------------ gRPC to one node

    def channel(self, node: Node) -> grpc.Channel:
        ch = self._channels.get(node.id)
        if ch is None:
            if self.pairs is not None:
                ch = grpc.secure_channel(node.grpc_address, self.tls.channel_credentials(), options=CHANNEL_OPTIONS)
            else:
                ch = grpc.insecure_channel(node.grpc_address, options=CHANNEL_OPTIONS)
            self._channels[node.id] = ch
            # A watched channel is polled: a sync channel that nobody watches runs its reconnect
            # timers only on gRPC's 5 s backup poll, so one made before its node listened
            # answered 5-10 s after the node was up.
            ch.subscribe(_ignore_connectivity)
        return ch

    def _drop_channel(self, node: Node) -> None:
        ch = self._channels.pop(node.id, None)
        if ch is not None:
            ch.close()

    def admin(self, node: Node) -> admin_pb2_grpc.AdminStub:
        return admin_pb2_grpc.AdminStub(self.channel(node))

    def metadata(self) -> tuple:
        """Call metadata carrying the cluster secret (for the Admin calls that need it)."""
        return ((SECRET_METADATA, self.secret),)

    def status(self, node: Node, timeout_s: float = 2.0) -> admin_pb2.StatusReply:
        # the secret identifies the launcher when the cluster needs a password (docs/security.md)
        return self.admin(node).Status(admin_pb2.StatusRequest(), timeout=timeout_s, metadata=self.metadata())

    def cache(self, node: Node) -> cache_pb2_grpc.CacheStub:
        return cache_pb2_grpc.CacheStub(self.channel(node))

    def execute(self, node: Node, command: pb.Command, level: str | None = None, timeout_s: float = 10.0,
                **request_fields) -> cache_pb2.Reply:
        """Cache.Execute on this node (no routing, no retries), at read level `level` (readlevel spelling)."""
        req = cache_pb2.Request(command=command, **request_fields)
        if level:
            ReadLevel.parse(level).to_proto(req.consistency)
        metadata = (basic_metadata(None, self.password),) if self.password else None
        return self.cache(node).Execute(req, timeout=timeout_s, metadata=metadata)

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
        """Wait until every live node runs the log at semantics `version` or newer (a leader
        raises the version on its own about a second after every member reported supporting it)."""
        wait_until(lambda: all(self.status(n).log_version >= version for n in self.alive_nodes()), timeout_s,
                   f"every node to run log version {version}")

    def followers(self) -> list[Node]:
        leader = self.leader()
        return [n for n in self.alive_nodes() if n is not leader]

    def wait_applied(self, index: int, nodes: list[Node] | None = None, timeout_s: float = 20.0) -> None:
        for node in nodes or self.alive_nodes():
            wait_until(lambda: self.status(node).applied_index >= index, timeout_s,
                       f"{node.id} to apply index {index}")


# ---------------------------------------------------------------- raftcache up

def seed_from_backup(path: str, data_dir: str, node_ids: list[str], key_path: str | None = None) -> None:
    """Seed every node's data dir from one backup before the first start (`up --restore`).

    The file is verified and every data dir checked before anything is
    written: a bad file or a data dir that already holds a cluster is
    refused with one line (BackupError) and nothing changes. An encrypted
    backup (raftcache/backup_crypto.py) needs `key_path`.
    """
    from raftcache import backup_crypto
    from raftcache.node.ops import backup

    try:
        with backup_crypto.plaintext(path, key_path, data_dir) as plain:
            _seed(plain, data_dir, node_ids, path)
    except backup_crypto.BackupKeyError as e:
        raise backup.BackupError(str(e)) from None


def _seed(path: str, data_dir: str, node_ids: list[str], named: str) -> None:
    from raftcache.node.ops import backup

    verified = backup.verify(path, deep=True)
    checksum = backup.file_sha256(path)
    for node_id in node_ids:
        node_dir = os.path.join(data_dir, node_id)
        marker = os.path.join(node_dir, backup.RESTORED_MARKER)
        if os.path.exists(marker):
            with open(marker) as f:
                if json.load(f).get("sha256") == checksum:
                    continue
        for sub in ("keyspace", "raft"):
            d = os.path.join(node_dir, sub)
            if os.path.isdir(d) and os.listdir(d):
                raise backup.BackupError(f"{data_dir} already holds a cluster ({node_id} has data); "
                                         "restore into a new --data-dir")
    for node_id in node_ids:
        node_dir = os.path.join(data_dir, node_id)
        meta, restored = backup.restore_into(path, node_dir, os.path.join(node_dir, "keyspace"),
                                             os.path.join(node_dir, "raft"), verified)
    print(f"raftcache: seeded {len(node_ids)} nodes from {named} (cluster {meta.cluster_id}, index "
          f"{meta.applied_index}, {meta.key_count} keys)", flush=True)


def run(args) -> int:
    """`raftcache up` (without --shards): start the cluster, print the ready line, watch the nodes
    until Ctrl-C or SIGTERM."""
    if not 1 <= args.nodes <= len(ZONES):
        raise ConfigError(f"--nodes must be between 1 and {len(ZONES)}")
    os.umask(0o077)  # cluster.json, logs, the secret: private to this user
    data_dir = os.path.abspath(args.data_dir)
    restore = getattr(args, "restore", None)
    if restore:
        seed_from_backup(restore, data_dir, [f"n{i + 1}" for i in range(args.nodes)], getattr(args, "backup_key", None))
    # `up --tls`: client certificates optional, so redis-cli --tls --cacert … connects without one.
    cluster = LocalCluster(data_dir, args.nodes, host=args.host, base_port=args.base_port,
                           appendfsync=args.appendfsync,
                           extra_args=["--maxmemory", args.maxmemory] if args.maxmemory else [], own_session=True,
                           tls="optional" if getattr(args, "tls", False) else "")

    def ready_line() -> str:
        leader = cluster.start(args.ready_timeout).leader()
        first = cluster.nodes[0].peer
        tls = f"--tls --cacert {cluster.tls.ca} " if cluster.tls else ""
        return (
            f"raftcache ready: {len(cluster.nodes)} nodes in zones {','.join(sorted({n.zone for n in cluster.nodes}))}, "
            f"leader {leader.id} (zone {leader.zone}); redis-cli {tls}-p {first.port('redis')} | "
            f"memcached {first.address('memcached')} | grpc {first.address('grpc')} | "
            f"dashboard {'https' if tls else 'http'}://{first.address('http')}/ | "
            f"{os.path.join(data_dir, CLUSTER_FILE)}{' (TLS only)' if tls else ''}"
        )
    return serve(cluster, ready_line, f"no leader elected within {args.ready_timeout:.0f}s; node logs are in {data_dir}",
                 cluster.spawn, args.restart_dead)


def serve(cluster, ready_line: Callable[[], str], not_ready: str, spawn: Callable[[Node], None],
          restart_dead: bool) -> int:
    """`up`'s life once its cluster is built (one shard or several): `ready_line()` starts it and
    says how to reach it; then watch the nodes until Ctrl-C or SIGTERM, and stop them. 1 when the
    cluster did not become ready (`not_ready` says why), else 0."""
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        try:
            line = ready_line()
        except WaitTimeout:
            print(f"raftcache: error: {not_ready}", file=sys.stderr)
            return 1
        print(line, flush=True)
        watch(cluster.nodes, spawn, restart_dead, lambda: stopping)
    finally:
        cluster.close()
        print("raftcache: cluster stopped", flush=True)
    return 0


def watch(nodes: list[Node], spawn: Callable[[Node], None], restart_dead: bool, stopped: Callable[[], bool]) -> None:
    """`up`'s watch until `stopped()`: report a node whose process exits, restart it when asked."""
    reported: set[int] = set()
    while not stopped():
        time.sleep(0.2)
        for node in nodes:
            code = node.proc.poll()
            if code is None or node.pid in reported:
                continue
            reported.add(node.pid)
            how = f"signal {-code}" if code < 0 else f"status {code}"
            print(f"raftcache: node {node.id} (pid {node.pid}) exited with {how}", flush=True)
            if restart_dead and not stopped():
                spawn(node)
                print(f"raftcache: restarted node {node.id} (pid {node.pid})", flush=True)
