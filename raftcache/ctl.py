"""`raftcache ctl`: the admin command line, a thin layer over the SDK (raftcache.client).

Verbs: status, topology, get, set, del, incr, ttl, expire, scan, dbsize,
flushall; operations: backup, add-node, remove-node, transfer-leader, health;
verify (offline, raftcache/offline.py); and, for cluster mode, reshard,
rebalance and shards (raftcache/reshard.py). Values are printed as text when
they are valid UTF-8, as Python bytes literals otherwise. Errors are one line
on stderr and exit status 1.

This module parses arguments, formats output and picks exit codes; every
call goes through `raftcache.client.Client` and its `admin`
(client/admin.py), as etcdctl is built on clientv3. It imports nothing from
raftcache.node (tests/unit/test_import_graph.py checks).

Endpoints: every --endpoint given, else every node of --data-dir's
cluster.json (as `raftcache up` writes it), else 127.0.0.1:7000; they are the
client's seeds, tried in turn until one answers. Membership and leadership
verbs find the leader themselves. Backup and the membership verbs send the
cluster secret (--cluster-secret, else RAFTCACHE_CLUSTER_SECRET, else
DATA_DIR/cluster.secret with --data-dir); an authentication error names
where the secret came from. An ACL user's credentials and TLS come from
--user/--password/--tls-* (else the SDK's RAFTCACHE_USERNAME,
RAFTCACHE_PASSWORD, RAFTCACHE_TLS_* variables or --client-config file:
client/auth.py), else, with --data-dir, the TLS files `raftcache up --tls`
names in cluster.json (docs/security.md).
"""

from __future__ import annotations

import json
import os
import sys

from raftcache import readlevel
from raftcache.client import (
    AuthenticationError,
    Client,
    ConnectionFailedError,
    DeadlineExceededError,
    InternalError,
    RaftcacheError,
    ResponseError,
)
from raftcache import backup_crypto
from raftcache.progress import Progress
from raftcache.client.admin import parse_member
from raftcache.client.auth import TLSConfig, from_environment

DEFAULT_ENDPOINT = "127.0.0.1:7000"
#: Verbs that send the cluster secret.
SECRET_VERBS = ("backup", "add-node", "remove-node", "transfer-leader")


def add_verbs(sub) -> None:
    p = sub.add_parser("status", help="the node's Raft and keyspace status")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("topology", help="members, zones and the leader")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("get", help="GET a key")
    p.add_argument("key")
    p.add_argument("--db", type=int, default=0)
    p.add_argument("--consistency", default=None, metavar="LEVEL",
                   help=f"read level: {readlevel.USAGE} (default: the node's)")
    p = sub.add_parser("set", help="SET a key")
    p.add_argument("key")
    p.add_argument("value")
    p.add_argument("--db", type=int, default=0)
    p.add_argument("--ex", type=int, help="expire after this many seconds")
    p = sub.add_parser("del", help="DEL keys")
    p.add_argument("keys", nargs="+")
    p.add_argument("--db", type=int, default=0)
    p = sub.add_parser("incr", help="INCRBY a key")
    p.add_argument("key")
    p.add_argument("by", nargs="?", type=int, default=1)
    p.add_argument("--db", type=int, default=0)
    p = sub.add_parser("ttl", help="TTL of a key in seconds (-2 missing, -1 no expiry)")
    p.add_argument("key")
    p.add_argument("--db", type=int, default=0)
    p = sub.add_parser("expire", help="EXPIRE a key after SECONDS")
    p.add_argument("key")
    p.add_argument("seconds", type=int)
    p.add_argument("--db", type=int, default=0)
    p = sub.add_parser("scan", help="list keys matching a glob pattern")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--db", type=int, default=0)
    p = sub.add_parser("dbsize", help="number of keys in a database")
    p.add_argument("--db", type=int, default=0)
    p = sub.add_parser("flushall", help="delete every key of every database")
    p.add_argument("--yes", action="store_true", help="confirm")
    _operation_verbs(sub)


def _operation_verbs(sub) -> None:
    p = sub.add_parser("backup", help="stream an online, consistent backup of the node's keyspace to a file")
    p.add_argument("--out", required=True, metavar="FILE", help="backup file to write (written atomically)")
    p.add_argument("--quiet", action="store_true", help="no progress (a bar on a terminal, else a line per 10%%)")
    p.add_argument("--encrypt-key", metavar="KEYFILE", help="seal the backup with AES-256-GCM under this key "
                   "(32 random bytes, raw or hex; docs/security.md)")
    p = sub.add_parser("add-node", help="add a voter (start it first with the full new --peers list)")
    p.add_argument("member", metavar="ID@ZONE=HOST:BASEPORT", help="the new member, as in --peers")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the new node to catch up")
    p.add_argument("--wait-timeout", type=float, default=60.0, help="seconds to wait for catch-up (default 60)")
    p.add_argument("--quiet", action="store_true", help="no catch-up progress")
    p = sub.add_parser("remove-node", help="remove a voter (the leader hands leadership over first)")
    p.add_argument("id", help="member id")
    p = sub.add_parser("transfer-leader", help="hand leadership to another voter")
    p.add_argument("--to", default="", metavar="NODE", help="target member id (default: the most caught-up voter)")
    sub.add_parser("health", help="gRPC health check of the node: exit 0 when it is ready (SERVING)")


def run(args) -> int:
    try:
        seeds = endpoints(args)
        secret = cluster_secret(args) if args.verb in SECRET_VERBS else None
        with Client(seeds, timeout_s=args.timeout, attempt_timeout_s=args.timeout, connect_timeout_s=args.timeout,
                    cluster_secret=secret, **credentials(args)) as client:
            return VERBS[args.verb](client, args)
    except (ResponseError, AuthenticationError, InternalError) as e:   # the node refused, for a stated reason
        message = e.message
        if isinstance(e, AuthenticationError) and args.verb in SECRET_VERBS:
            message += f" (the cluster secret came from {secret_source(args)})"
        print(f"raftcache: error: {e.reason}: {message}", file=sys.stderr)
    except ConnectionFailedError as e:
        hint = "" if len(seeds) > 1 else " (name the cluster with --endpoint HOST:PORT or --data-dir DIR)"
        print(f"raftcache: error: {e.message}{hint}", file=sys.stderr)
    except RaftcacheError as e:
        print(f"raftcache: error: {e.message}", file=sys.stderr)
    except backup_crypto.BackupKeyError as e:
        print(f"raftcache: error: {e}", file=sys.stderr)
    return 1


def endpoints(args) -> list[str]:
    """The gRPC endpoints to try: --endpoint (repeatable, comma-separated), else the
    nodes of --data-dir's cluster.json, else the default."""
    given = [e.strip() for value in (getattr(args, "endpoint", None) or []) for e in value.split(",") if e.strip()]
    if given:
        return given
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        path = os.path.join(data_dir, "cluster.json")
        try:
            with open(path) as f:
                nodes = json.load(f)["nodes"]
            return [n["grpc"] for n in nodes]
        except FileNotFoundError:
            raise RaftcacheError(f"{path} does not exist: is --data-dir the directory `raftcache up` was "
                                 "given?") from None
        except (ValueError, KeyError, TypeError) as e:
            raise RaftcacheError(f"{path} is not a cluster description: {e}") from None
    return [DEFAULT_ENDPOINT]


# ---------------------------------------------------------------- credentials and TLS

def credentials(args) -> dict:
    """Client keywords (username, password, tls): the flags, else the environment or the
    --client-config file (client/auth.py), else the TLS files of --data-dir's cluster.json."""
    given = from_environment(os.environ, getattr(args, "client_config", None))
    if getattr(args, "user", None):
        given["username"] = args.user
    if getattr(args, "password", None):
        given["password"] = args.password
    if getattr(args, "tls_ca", None) or getattr(args, "tls_cert", None):
        given["tls"] = TLSConfig(ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key)
    elif "tls" not in given and getattr(args, "data_dir", None):
        try:
            with open(os.path.join(args.data_dir, "cluster.json")) as f:
                tls = json.load(f).get("tls")
        except (OSError, ValueError):
            tls = None
        if tls:
            given["tls"] = TLSConfig(ca=tls["ca"], cert=tls.get("cert"), key=tls.get("key"))
    if "username" in given and "password" not in given:
        raise RaftcacheError("--user needs a password (--password or RAFTCACHE_PASSWORD)")
    return given


# ---------------------------------------------------------------- the cluster secret

def _secret_and_source(args) -> tuple[str, str]:
    if getattr(args, "cluster_secret", None):
        return args.cluster_secret, "--cluster-secret"
    if os.environ.get("RAFTCACHE_CLUSTER_SECRET"):
        return os.environ["RAFTCACHE_CLUSTER_SECRET"], "RAFTCACHE_CLUSTER_SECRET"
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        path = os.path.join(data_dir, "cluster.secret")
        try:
            with open(path) as f:
                return f.read().strip(), path
        except FileNotFoundError:
            raise RaftcacheError(f"{args.verb} needs the cluster secret and {path} does not exist") from None
    raise RaftcacheError(
        f"{args.verb} needs the cluster secret: pass --data-dir (its cluster.secret), --cluster-secret, "
        "or set RAFTCACHE_CLUSTER_SECRET")


def cluster_secret(args) -> str:
    return _secret_and_source(args)[0]


def secret_source(args) -> str:
    """Where the cluster secret this command sent came from (for error messages)."""
    try:
        return _secret_and_source(args)[1]
    except RaftcacheError:
        return "nowhere: none was given"


# ---------------------------------------------------------------- verbs

def _text(value) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return repr(value)
    if value is None:
        return "(nil)"
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    return str(value)


def _show(client: Client, args) -> int:
    reply = client.admin.status() if args.verb == "status" else client.admin.topology()
    if args.json:
        from google.protobuf import json_format

        print(json.dumps(json_format.MessageToDict(reply, always_print_fields_with_no_presence=True), indent=2))
    elif args.verb == "status":
        _print_status(reply)
    else:
        print(f"leader={reply.leader_id or '-'} term={reply.term}")
        for m in reply.members:
            print(f"  {m.id:<6} zone {m.zone:<4} grpc {m.grpc_address} redis {m.redis_address} memcached {m.memcached_address}")
    return 0


def _print_status(reply) -> None:
    print(f"node {reply.id} (zone {reply.zone}) role={reply.role} leader={reply.leader_id or '-'} term={reply.term}")
    print(f"index: commit={reply.commit_index} applied={reply.applied_index} last={reply.last_index}")
    print(f"keys={reply.keys} used={reply.used_bytes}B maxmemory={reply.maxmemory_bytes}B appendfsync={reply.appendfsync}")
    print(f"log version={reply.log_version} (this node supports up to {reply.max_log_version})")
    if reply.HasField("shard"):   # cluster mode (docs/cluster-mode.md)
        slots = ",".join(f"{r.first}-{r.last}" for r in reply.shard.slots)
        recorded = f"epoch {reply.shard.epoch}" if reply.shard.epoch else "the cluster map's (not yet in the log)"
        print(f"shard {reply.shard.shard}: slots {slots or '-'}, {recorded}")
    if reply.apply_blocked:
        print(f"warning: applying nothing: {reply.apply_blocked}")
    for m in reply.members:
        extra = f" lag={m.lag}" if reply.role == "leader" and m.member.id != reply.id else ""
        if m.max_log_version:
            extra += f" supports-log-version={m.max_log_version}"
        state = "up" if m.connected else "down"
        print(f"  {m.member.id:<6} zone {m.member.zone:<4} {m.member.grpc_address:<22} {state}{extra}")
    voters = [m for m in reply.members if m.member.voter]
    if voters and len(voters) % 2 == 0:
        print(f"warning: {len(voters)} voters: an even number tolerates no more failures than "
              f"{len(voters) - 1} would (a majority is {len(voters) // 2 + 1}); use an odd number")
    zones = {m.member.zone for m in voters}
    if len(zones) < 3:
        print(f"warning: voters span {len(zones)} zone(s); losing one zone may lose the quorum (use at least 3)")


def _data(client: Client, args) -> int:
    """The key-value verbs: one SDK call each, printed as the node's reply reads."""
    verb, db = args.verb, client.using_db(getattr(args, "db", 0))
    if verb == "get":
        result = (db.reading(args.consistency) if args.consistency else db).get(args.key)
    elif verb == "set":
        result = db.set(args.key, args.value, ex=args.ex) and "OK"
    elif verb == "del":
        result = db.delete(*args.keys)
    elif verb == "incr":
        result = db.incrby(args.key, args.by)
    elif verb == "ttl":
        result = db.ttl(args.key)
    elif verb == "expire":
        result = int(db.expire(args.key, args.seconds))
    elif verb == "scan":
        result = list(db.scan_iter(match=args.pattern, count=500))
    elif verb == "dbsize":
        result = db.dbsize()
    else:  # flushall
        if not args.yes:
            raise RaftcacheError("flushall deletes every key: add --yes to confirm")
        result = client.flushall() and "OK"
    print(_text(result))
    return 0


def _backup(client: Client, args) -> int:
    out = os.path.abspath(args.out)
    key = backup_crypto.load_key(args.encrypt_key) if args.encrypt_key else None
    bar = Progress("backup", quiet=args.quiet)
    try:
        info = client.admin.backup(out, progress=bar, timeout_s=max(args.timeout, 3600), encrypt_key=key)
    finally:
        bar.close()
    print(f"backup {out}: cluster {info.cluster_id}, index {info.applied_index}, term {info.term}, "
          f"{info.key_count} keys, {info.total_bytes} bytes, from {info.node_id}{', encrypted' if key else ''}")
    return 0


def _add_node(client: Client, args) -> int:
    peer = parse_member(args.member)
    reply = client.admin.add_node(peer, timeout_s=max(args.timeout, 30.0))
    print(f"added {peer.id}: voters {', '.join(m.id for m in reply.members)}")
    if not args.no_wait:
        # the leader's snapshot arriving (bytes), then the log (entries)
        snapshot = Progress(f"{peer.id} snapshot", quiet=args.quiet)
        bar = Progress(f"{peer.id} catching up", unit="entries", quiet=args.quiet)
        try:
            applied = client.admin.wait_caught_up(
                peer, timeout_s=args.wait_timeout, snapshot_progress=snapshot,
                progress=lambda applied, target: bar(min(max(applied, 0), target), target))
        except DeadlineExceededError as e:
            raise DeadlineExceededError(f"{e.message}; is it running with the full new --peers list?") from None
        finally:
            snapshot.close()
            bar.close()
        print(f"{peer.id} caught up (applied index {applied})")
    return 0


def _remove_node(client: Client, args) -> int:
    reply = client.admin.remove_node(args.id, timeout_s=max(args.timeout, 30.0))
    print(f"removed {args.id}: voters {', '.join(m.id for m in reply.members)}, leader {reply.leader_id or '-'}; "
          f"stop its process now")
    return 0


def _transfer_leader(client: Client, args) -> int:
    reply = client.admin.transfer_leader(args.to or None, timeout_s=max(args.timeout, 15.0))
    print(f"leader is now {reply.leader_id} (term {reply.term})")
    return 0


def _health(client: Client, args) -> int:
    address = client.admin.find_node()
    status = client.admin.health(address)
    print(f"{address}: {status}")
    return 0 if status == "SERVING" else 1


VERBS = {
    "status": _show,
    "topology": _show,
    **dict.fromkeys(("get", "set", "del", "incr", "ttl", "expire", "scan", "dbsize", "flushall"), _data),
    "backup": _backup,
    "add-node": _add_node,
    "remove-node": _remove_node,
    "transfer-leader": _transfer_leader,
    "health": _health,
}
