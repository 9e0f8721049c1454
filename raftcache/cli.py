"""The `raftcache` command line: `node` (one node), `up` (a local cluster), `ctl` (admin).

Every command has --help; errors are one clear line on stderr and a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from raftcache import __version__
from raftcache.node.config import sources
from raftcache.node.errors import RaftcacheError

DEFAULT_BASE_PORT = 7000


def _node_parser(sub) -> None:
    p = sub.add_parser(
        "node",
        help="run one node",
        description="Run one raftcache node. Options come from flags, then RAFTCACHE_* environment "
        "variables (e.g. RAFTCACHE_CLUSTER_SECRET), then a TOML file (--config), then defaults.",
    )
    sources.add_flags(p)


def _up_parser(sub) -> None:
    p = sub.add_parser(
        "up",
        help="run a local cluster, one process per node",
        description="Run a local cluster: node i is n{i+1} in zone a, b, c, ... with ports B+10i+0 gRPC, "
        "+1 Redis, +2 memcached, +3 Raft, +4 HTTP. Writes DATA_DIR/cluster.json, prints a ready line once a "
        "leader is elected, stops every node on Ctrl-C or SIGTERM.",
    )
    p.add_argument("--shards", type=int, default=1,
                   help="cluster mode: this many shards of --nodes nodes each, node k (shard 1's first) s{shard}n{i} "
                   "on ports B+10k+…, Redis Cluster protocol on every Redis port (default 1: not sharded; "
                   "docs/cluster-mode.md)")
    p.add_argument("--nodes", type=int, default=3, help="number of nodes (per shard with --shards; default 3)")
    p.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT, help=f"first port (default {DEFAULT_BASE_PORT})")
    p.add_argument("--data-dir", default="./raftcache-data", help="where each node keeps its data (default ./raftcache-data)")
    p.add_argument("--host", default="127.0.0.1", help="address every node binds (default 127.0.0.1)")
    p.add_argument("--appendfsync", choices=["always", "everysec", "no"], default="everysec")
    p.add_argument("--maxmemory", default=None, help="per-node maxmemory, e.g. 512mb")
    p.add_argument("--restart-dead", action="store_true", help="restart a node whose process dies (default: only report it)")
    p.add_argument("--ready-timeout", type=float, default=30.0, help="seconds to wait for a leader (default 30)")
    p.add_argument("--restore", metavar="FILE", help="seed every node of the new cluster from this backup "
                   "(checked first; the data dir must not hold a cluster)")
    p.add_argument("--backup-key", metavar="KEYFILE", help="the key of an encrypted --restore backup")
    p.add_argument("--tls", action="store_true", help="make a local CA and certificates in DATA_DIR/tls/ and start "
                   "every node TLS-only (redis-cli --tls --cacert DATA_DIR/tls/ca.crt …)")


def _ctl_parser(sub) -> None:
    from raftcache import ctl, offline, reshard

    p = sub.add_parser("ctl", help="admin command line (gRPC)", description="Talk to a node over gRPC.")
    p.add_argument("--endpoint", action="append", default=None, metavar="HOST:PORT",
                   help="a node's gRPC address; repeat it (or separate with commas) to name several, tried in "
                   f"turn (default: every node of --data-dir, else {ctl.DEFAULT_ENDPOINT})")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="the data dir of `raftcache up`: its cluster.json gives the endpoints and its "
                   "cluster.secret the secret")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per call (default 5)")
    p.add_argument("--cluster-secret", default=None,
                   help="cluster secret for backup and membership verbs (default: RAFTCACHE_CLUSTER_SECRET, "
                   "else DATA_DIR/cluster.secret with --data-dir)")
    p.add_argument("--user", default=None, help="ACL user (default: RAFTCACHE_USERNAME; with only a password: "
                   "the default user)")
    p.add_argument("--password", default=None, help="its password (prefer RAFTCACHE_PASSWORD)")
    p.add_argument("--tls-ca", default=None, metavar="FILE", help="CA of the nodes' certificates: connect with TLS "
                   "(default: RAFTCACHE_TLS_CA, else DATA_DIR/tls/ca.crt of `up --tls`)")
    p.add_argument("--tls-cert", default=None, metavar="FILE", help="client certificate (RAFTCACHE_TLS_CERT)")
    p.add_argument("--tls-key", default=None, metavar="FILE", help="its key (RAFTCACHE_TLS_KEY)")
    p.add_argument("--client-config", default=None, metavar="FILE", help="TOML with username, password, tls_ca, "
                   "tls_cert, tls_key (default: RAFTCACHE_CLIENT_CONFIG)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    ctl.add_verbs(verbs)
    offline.add_verbs(verbs)
    reshard.add_verbs(verbs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raftcache", description="A replicated in-memory data store.")
    parser.add_argument("--version", action="version", version=f"raftcache {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _node_parser(sub)
    _up_parser(sub)
    _ctl_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "node":
            from raftcache.node import server

            config = sources.load(args, os.environ)
            server.configure_logging(config.log_level, config.log_format, config.id)
            return server.run(config)
        if args.command == "up":
            from raftcache import localcluster, shardedcluster

            return (localcluster if args.shards == 1 else shardedcluster).run(args)
        from raftcache import ctl, offline, reshard

        if args.verb in reshard.VERBS:
            return reshard.run(args)
        return (offline if args.verb in offline.VERBS else ctl).run(args)
    except RaftcacheError as e:
        print(f"raftcache: error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        print(f"raftcache: error: {e}", file=sys.stderr)
        return 1
