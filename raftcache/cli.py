"""The `raftcache` command line: `node` (one node), `up` (a local cluster), `ctl` (admin).

Every command has --help; errors are one clear line on stderr and a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from raftcache import __version__
from raftcache.node.errors import RaftcacheError

DEFAULT_BASE_PORT = 7000


def _node_parser(sub) -> None:
    p = sub.add_parser(
        "node",
        help="run one node",
        description="Run one raftcache node. Options come from flags, then RAFTCACHE_* environment "
        "variables (e.g. RAFTCACHE_CLUSTER_SECRET), then a TOML file (--config), then defaults.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML file with the same keys as the flags (dashes as underscores)")
    p.add_argument("--id", help="node id (default n1)")
    p.add_argument("--zone", help="availability zone label (default a)")
    p.add_argument("--host", help="address to bind and advertise (default 127.0.0.1)")
    p.add_argument("--base-port", type=int, help="gRPC port; Redis +1, memcached +2, Raft +3, HTTP +4 (default 7000)")
    p.add_argument("--advertise", metavar="HOST:BASEPORT",
                   help="where clients outside the nodes' network reach this node (its ports follow BASEPORT); "
                   "the topology the SDK reads lists it (default: --host and --base-port)")
    p.add_argument("--peers", help="every member, this node included: ID@ZONE=HOST:BASEPORT,...")
    p.add_argument("--data-dir", help="directory for the log, snapshots and keyspace (default ./data)")
    p.add_argument("--cluster-secret", help="shared secret of the Raft and forwarding ports (prefer RAFTCACHE_CLUSTER_SECRET)")
    p.add_argument("--appendfsync", choices=["always", "everysec", "no"], help="log fsync policy (default everysec)")
    p.add_argument("--maxmemory", help="keyspace size at which writes are refused, e.g. 512mb, 2gb (default 1gb)")
    p.add_argument("--maxmemory-policy", metavar="POLICY",
                   help="what a full keyspace does until CONFIG SET maxmemory-policy: noeviction, allkeys-lru, "
                   "allkeys-lfu, allkeys-random, volatile-lru (default), volatile-lfu, volatile-random, volatile-ttl")
    p.add_argument("--memcached-item-size-max", metavar="SIZE",
                   help="largest memcached item, as memcached's -I (default 1mb; at most the value limit)")
    p.add_argument("--memcached-disable-evictions", action="store_const", const=True, default=None,
                   help="as memcached's -M: a full cache answers memcached sets with an error instead of "
                   "evicting the least recently used items")
    p.add_argument("--databases", type=int, help="number of databases (default 16)")
    p.add_argument("--default-read", metavar="LEVEL",
                   help="read level when a request names none: linearizable (default), lease, bounded:<ms>, any")
    p.add_argument("--redis-password", help="AUTH password for the Redis port (default none)")
    p.add_argument("--role", choices=["voter", "replica"],
                   help="voter (default), or replica: a non-voting read replica of the --peers voters")
    p.add_argument("--restore", metavar="FILE",
                   help="seed this node from a backup before its first start (an empty data dir; "
                   "every node of the new cluster gets the same file)")
    p.add_argument("--join", action="store_const", const=True, default=None,
                   help="this node is being added to a running cluster (ctl add-node): it waits for the "
                   "leader instead of standing for election while its log is empty")
    p.add_argument("--backup-dir", metavar="DIR", help="write automatic snapshots here (default: none)")
    p.add_argument("--backup-interval", type=float, metavar="SECONDS", help="seconds between automatic snapshots (default 3600)")
    p.add_argument("--backup-keep", type=int, metavar="N", help="automatic snapshots kept (default 24)")
    p.add_argument("--max-log-version", type=int, metavar="N",
                   help="newest log semantics version this node accepts (default: all its binary supports); "
                   "holding every node at the old version keeps a rolling upgrade reversible "
                   "(docs/operations.md)")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING")


def _up_parser(sub) -> None:
    p = sub.add_parser(
        "up",
        help="run a local cluster, one process per node",
        description="Run a local cluster: node i is n{i+1} in zone a, b, c, ... with ports B+10i+0 gRPC, "
        "+1 Redis, +2 memcached, +3 Raft, +4 HTTP. Writes DATA_DIR/cluster.json, prints a ready line once a "
        "leader is elected, stops every node on Ctrl-C or SIGTERM.",
    )
    p.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    p.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT, help=f"first port (default {DEFAULT_BASE_PORT})")
    p.add_argument("--data-dir", default="./raftcache-data", help="where each node keeps its data (default ./raftcache-data)")
    p.add_argument("--host", default="127.0.0.1", help="address every node binds (default 127.0.0.1)")
    p.add_argument("--appendfsync", choices=["always", "everysec", "no"], default="everysec")
    p.add_argument("--maxmemory", default=None, help="per-node maxmemory, e.g. 512mb")
    p.add_argument("--restart-dead", action="store_true", help="restart a node whose process dies (default: only report it)")
    p.add_argument("--ready-timeout", type=float, default=30.0, help="seconds to wait for a leader (default 30)")
    p.add_argument("--restore", metavar="FILE", help="seed every node of the new cluster from this backup "
                   "(checked first; the data dir must not hold a cluster)")


def _ctl_parser(sub) -> None:
    from raftcache import ctl

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
    ctl.add_verbs(p.add_subparsers(dest="verb", metavar="VERB", required=True))


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
            from raftcache import nodeconfig
            from raftcache.node import server

            config = nodeconfig.load(args, os.environ)
            ops = nodeconfig.load_operations(args, os.environ)
            server.configure_logging(args.log_level or os.environ.get("RAFTCACHE_LOG_LEVEL", "INFO"))
            return server.run(config, ops)
        if args.command == "up":
            from raftcache import localcluster

            return localcluster.run(args)
        from raftcache import ctl

        return ctl.run(args)
    except RaftcacheError as e:
        print(f"raftcache: error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        print(f"raftcache: error: {e}", file=sys.stderr)
        return 1
