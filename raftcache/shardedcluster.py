"""A local sharded cluster: S shards, each a LocalCluster of N `raftcache node` processes.

`raftcache up --shards S --nodes N --base-port B` (docs/cluster-mode.md): node k,
counting shard-major (shard 1's nodes first), is `s{shard}n{i}` in zone a, b,
c … of its shard, on ports B+10k+{0 gRPC, 1 Redis, 2 memcached, 3 Raft, 4 HTTP}
(raftcache/clustermap.py `ClusterMap.layout`). Every node is started with
`--shard K --cluster-map ROOT/cluster.json`: the "shards" list of that file is
the static cluster map (members, initial slots), written before any node
starts; its "nodes" list is LocalCluster's (each node's id, zone, pid,
endpoints, argv) with each node's shard. The shards share ROOT, the cluster
secret and the per-node data dirs and logs under it; each shard is a
LocalCluster (raftcache/localcluster.py), so the tests and scripts drive one
shard's nodes as they drive any cluster (kill, restart, leader).
"""

from __future__ import annotations

import json
import os

from raftcache.clustermap import ClusterMap
from raftcache.localcluster import CLUSTER_FILE, HOST, LocalCluster, Node, free_base_port, serve
from raftcache.node.errors import ConfigError


class ShardedCluster:
    """S LocalClusters under one ROOT (see the module docstring)."""

    def __init__(self, root: str, shards: int = 2, nodes: int = 3, *, host: str = HOST, base_port: int | None = None,
                 appendfsync: str = "everysec", extra_args: list[str] | None = None, env: dict | None = None,
                 own_session: bool = False, password: str = "", tls: str = ""):
        # 1 shard is cluster mode over one Raft group (scripts/bench_cluster.py's baseline);
        # `raftcache up --shards 1` runs the unsharded cluster instead (raftcache/cli.py).
        os.umask(0o077)
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)
        base = base_port if base_port is not None else free_base_port(shards * nodes, host)
        try:
            self.map = ClusterMap.layout(shards, nodes, host, base)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.path = os.path.join(self.root, CLUSTER_FILE)
        self.shards: list[LocalCluster] = []
        for shard in self.map.shards:
            cluster = LocalCluster(self.root, peers=list(shard.members), appendfsync=appendfsync,
                                   extra_args=[*(extra_args or []), "--shard", str(shard.id), "--cluster-map", self.path],
                                   env=env, own_session=own_session, password=password, tls=tls)
            cluster.owner = self
            self.shards.append(cluster)
        self.secret = self.shards[0].secret
        #: the clients' TLS settings when the nodes speak TLS (one CA for every shard: DATA_DIR/tls)
        self.tls = self.shards[0].tls
        self.save()   # the nodes read the map from it

    @property
    def nodes(self) -> list[Node]:
        return [node for shard in self.shards for node in shard.nodes]

    def shard_of(self, node: Node) -> int:
        return next(i + 1 for i, shard in enumerate(self.shards) if node in shard.nodes)

    def save(self) -> str:
        """Write ROOT/cluster.json (atomically): every node with its shard, and the cluster map. Shards
        `ctl add-shard` added to the file since (not this launcher's) are kept, with their nodes."""
        records = [{**node.record(), "shard": i + 1} for i, shard in enumerate(self.shards) for node in shard.nodes]
        shards = self.map.to_json()
        try:
            with open(self.path) as f:
                before = json.load(f)
            mine = {s["id"] for s in shards}
            added = [s for s in before["shards"] if s["id"] not in mine]
            shards += added
            records += [n for n in before["nodes"] if n.get("shard") in {s["id"] for s in added}]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        with open(self.path + ".tmp", "w") as f:
            tls = self.tls
            json.dump({"nodes": records, "shards": shards,
                       **({"tls": {"ca": tls.ca, "cert": tls.cert, "key": tls.key}} if tls else {})}, f, indent=2)
            f.write("\n")
        os.replace(self.path + ".tmp", self.path)
        return self.path

    def start(self, timeout_s: float = 60.0) -> ShardedCluster:
        """Start every node, then wait until every shard has a leader its members agree on."""
        for shard in self.shards:
            for node in shard.nodes:
                shard.spawn(node)
        self.leaders(timeout_s)
        return self

    def leaders(self, timeout_s: float = 30.0) -> list[Node]:
        """Each shard's leader, in shard order (waiting up to `timeout_s` for each)."""
        return [shard.leader(timeout_s) for shard in self.shards]

    def wait_log_version(self, version: int, timeout_s: float = 30.0) -> None:
        for shard in self.shards:
            shard.wait_log_version(version, timeout_s)

    def close(self, graceful: bool = True) -> None:
        for shard in self.shards:
            shard.close(graceful)

    def tail_logs(self, lines: int = 60) -> str:
        return "\n".join(shard.tail_logs(lines) for shard in self.shards)


def run(args) -> int:
    """`raftcache up --shards S`: start every shard, print the ready line, watch the nodes until stopped."""
    if getattr(args, "restore", None):
        raise ConfigError("--restore is not supported with --shards (a backup is one shard's keyspace; "
                          "docs/cluster-mode.md)")
    # `up --tls`: one CA for every shard (the nodes of different shards talk TLS to each other too)
    cluster = ShardedCluster(args.data_dir, args.shards, args.nodes, host=args.host, base_port=args.base_port,
                             appendfsync=args.appendfsync,
                             extra_args=["--maxmemory", args.maxmemory] if args.maxmemory else [], own_session=True,
                             tls="optional" if getattr(args, "tls", False) else "")

    def ready_line() -> str:
        leaders = cluster.start(args.ready_timeout).leaders(args.ready_timeout)
        first = cluster.nodes[0].peer
        tls = f"--tls --cacert {cluster.tls.ca} " if cluster.tls else ""
        return (
            f"raftcache ready: {len(cluster.shards)} shards x {args.nodes} nodes, leaders "
            f"{','.join(n.id for n in leaders)}; redis-cli -c {tls}-p {first.port('redis')} | "
            f"memcached {first.address('memcached')} | grpc {first.address('grpc')} | {cluster.path}"
        )
    return serve(cluster, ready_line,
                 f"not every shard elected a leader within {args.ready_timeout:.0f}s; node logs are in {cluster.root}",
                 lambda node: cluster.shards[cluster.shard_of(node) - 1].spawn(node), args.restart_dead)
