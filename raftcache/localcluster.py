"""`raftcache up`: a local cluster, one `raftcache node` process per node.

Node i (0-based) is n{i+1} in zone a, b, c, … with ports B+10i+0 gRPC, +1
Redis, +2 memcached, +3 Raft, +4 HTTP (docs/design.md "Ports and processes").
Writes DATA_DIR/cluster.json (id, zone, pid, endpoints, data dir and the
argv that restarts each node), prints a ready line once a leader is elected,
reports a node whose process dies and keeps the others running (restarting
it only with --restart-dead), and stops every node on Ctrl-C or SIGTERM.
With --tls it makes a throwaway CA and certificates in DATA_DIR/tls/
(raftcache/certs.py) and starts every node TLS-only; cluster.json then
names the CA and the client certificate (`ctl --data-dir` uses them).
Everything it writes is private to its user (umask 077).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import string
import subprocess
import sys
import time

import grpc

from raftcache.client.auth import TLSConfig
from raftcache.node.config import Peer
from raftcache.node.errors import ConfigError, UnavailableError
from raftcache.proto import admin_pb2, admin_pb2_grpc

ZONES = string.ascii_lowercase
SECRET_FILE = "cluster.secret"


def _stop_with_parent() -> None:
    """In the child: get SIGTERM when `up` dies, however it dies (Linux prctl)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the nodes outlive a killed `up`


def cluster_peers(nodes: int, host: str, base_port: int) -> list[Peer]:
    return [Peer(f"n{i + 1}", ZONES[i % len(ZONES)], host, base_port + 10 * i) for i in range(nodes)]


def load_or_create_secret(data_dir: str) -> str:
    """The cluster secret, kept 0600 in the data dir so a restarted cluster reuses it."""
    path = os.path.join(data_dir, SECRET_FILE)
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        secret = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        return secret


def tls_argv(pairs: dict, node_id: str) -> list[str]:
    """A node's TLS flags for `up --tls`: its own pair, the local CA; client certificates optional
    (redis-cli --tls --cacert works without one; a client certificate given is verified)."""
    return ["--tls-cert-file", pairs[node_id].cert, "--tls-key-file", pairs[node_id].key,
            "--tls-ca-cert-file", pairs["ca"].cert, "--tls-auth-clients", "optional"]


def node_argv(peer: Peer, peers: list[Peer], data_dir: str, appendfsync: str, maxmemory: str | None) -> list[str]:
    argv = [
        sys.executable, "-m", "raftcache", "node",
        "--id", peer.id, "--zone", peer.zone, "--host", peer.host, "--base-port", str(peer.base_port),
        "--peers", ",".join(p.spec() for p in peers),
        "--data-dir", os.path.join(data_dir, peer.id),
        "--appendfsync", appendfsync,
    ]
    if maxmemory:
        argv += ["--maxmemory", maxmemory]
    return argv


def node_record(peer: Peer, pid: int, data_dir: str, argv: list[str]) -> dict:
    return {
        "id": peer.id,
        "zone": peer.zone,
        "pid": pid,
        "data_dir": os.path.join(data_dir, peer.id),
        "grpc": peer.address("grpc"),
        "redis": peer.address("redis"),
        "memcached": peer.address("memcached"),
        "raft": peer.address("raft"),
        "http": peer.address("http"),
        "argv": argv,
    }


def write_cluster_json(data_dir: str, records: list[dict], tls: dict | None = None) -> str:
    path = os.path.join(data_dir, "cluster.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"nodes": records, **({"tls": tls} if tls else {})}, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return path


def wait_for_leader(addresses: list[str], timeout_s: float,
                    credentials: grpc.ChannelCredentials | None = None) -> admin_pb2.StatusReply:
    """The Status of a node that reports a leader every node agrees on; raises UnavailableError."""
    deadline = time.monotonic() + timeout_s
    # Fresh channels each round, each with its own subchannels: a node starts listening a
    # second or so after it is spawned, and a channel refused once backs off for seconds.
    options = [("grpc.use_local_subchannel_pool", 1)]
    while time.monotonic() < deadline:
        channels = [grpc.secure_channel(a, credentials, options) if credentials else grpc.insecure_channel(a, options)
                    for a in addresses]
        replies = []
        try:
            for channel in channels:
                try:
                    replies.append(admin_pb2_grpc.AdminStub(channel).Status(admin_pb2.StatusRequest(), timeout=1.0))
                except grpc.RpcError:
                    pass
        finally:
            for c in channels:
                c.close()
        leaders = {r.leader_id for r in replies}
        if len(replies) == len(addresses) and len(leaders) == 1 and "" not in leaders:
            return next((r for r in replies if r.role == "leader"), replies[0])
        time.sleep(0.1)
    raise UnavailableError(f"no leader elected within {timeout_s:.0f}s")


def seed_from_backup(path: str, data_dir: str, node_ids: list[str], key_path: str | None = None) -> None:
    """Seed every node's data dir from one backup before the first start (`up --restore`).

    The file is verified and every data dir checked before anything is
    written: a bad file or a data dir that already holds a cluster is
    refused with one line (BackupError) and nothing changes.
    """
    from raftcache.node.ops import backup_crypto

    with backup_crypto.plaintext(path, key_path, data_dir) as plain:
        _seed(plain, data_dir, node_ids, path)


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
    if not 1 <= args.nodes <= 26:
        raise ConfigError("--nodes must be between 1 and 26")
    data_dir = os.path.abspath(args.data_dir)
    restore = getattr(args, "restore", None)
    if restore:
        seed_from_backup(restore, data_dir, [f"n{i + 1}" for i in range(args.nodes)], getattr(args, "backup_key", None))
    os.umask(0o077)
    os.makedirs(data_dir, exist_ok=True)
    env = dict(os.environ, RAFTCACHE_CLUSTER_SECRET=load_or_create_secret(data_dir))
    peers = cluster_peers(args.nodes, args.host, args.base_port)
    pairs = tls = None
    if getattr(args, "tls", False):
        from raftcache import certs

        pairs = certs.ensure(os.path.join(data_dir, "tls"), [p.id for p in peers], [args.host])
        tls = {"ca": pairs["ca"].cert, "cert": pairs["client"].cert, "key": pairs["client"].key}
    procs: dict[str, subprocess.Popen] = {}
    argvs: dict[str, list[str]] = {}
    logs = {}

    def spawn(peer: Peer) -> None:
        os.makedirs(os.path.join(data_dir, peer.id), exist_ok=True)
        argv = argvs[peer.id] = node_argv(peer, peers, data_dir, args.appendfsync, args.maxmemory) + (
            tls_argv(pairs, peer.id) if pairs else [])
        logs[peer.id] = open(os.path.join(data_dir, f"{peer.id}.log"), "ab")
        procs[peer.id] = subprocess.Popen(
            argv, env=env, stdout=logs[peer.id], stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches `up`, which stops the nodes in order
            preexec_fn=_stop_with_parent,
        )

    def save() -> str:
        return write_cluster_json(data_dir, [node_record(p, procs[p.id].pid, data_dir, argvs[p.id]) for p in peers],
                                  tls)

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for peer in peers:
        spawn(peer)
    path = save()
    try:
        try:
            credentials = TLSConfig(tls["ca"], tls["cert"], tls["key"]).channel_credentials() if tls else None
            status = wait_for_leader([p.address("grpc") for p in peers], args.ready_timeout, credentials)
        except UnavailableError as e:
            print(f"raftcache: error: {e.message}; node logs are in {data_dir}", file=sys.stderr)
            return 1
        leader = next(p for p in peers if p.id == status.leader_id)
        first = peers[0]
        tls_note = f"--tls --cacert {tls['ca']} " if tls else ""
        print(
            f"raftcache ready: {len(peers)} nodes in zones {','.join(sorted({p.zone for p in peers}))}, "
            f"leader {leader.id} (zone {leader.zone}); redis-cli {tls_note}-p {first.port('redis')} | "
            f"memcached {first.address('memcached')} | grpc {first.address('grpc')} | {path}"
            f"{' (TLS only)' if tls else ''}",
            flush=True,
        )
        reported: set[int] = set()
        while not stopping:
            time.sleep(0.2)
            for peer in peers:
                proc = procs[peer.id]
                code = proc.poll()
                if code is None or proc.pid in reported:
                    continue
                reported.add(proc.pid)
                how = f"signal {-code}" if code < 0 else f"status {code}"
                print(f"raftcache: node {peer.id} (pid {proc.pid}) exited with {how}", flush=True)
                if args.restart_dead and not stopping:
                    spawn(peer)
                    save()
                    print(f"raftcache: restarted node {peer.id} (pid {procs[peer.id].pid})", flush=True)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in procs.values():
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for f in logs.values():
            f.close()
        print("raftcache: cluster stopped", flush=True)
    return 0
