"""`raftcache ctl`: the admin command line, talking gRPC to one node.

Verbs: status, topology, get, set, del, incr, ttl, expire, scan, dbsize,
flushall; operations: backup, verify (offline), add-node, remove-node,
transfer-leader, health. Values are printed as text when they are valid
UTF-8, as Python bytes literals otherwise. Errors are one line on stderr
and exit status 1.

Endpoints: every --endpoint given, else every node of --data-dir's
cluster.json (as `raftcache up` writes it), else 127.0.0.1:7000; they are
tried in turn until one answers. Membership and leadership verbs find the
leader themselves (Status, then the leader's address from Topology). Backup
and the membership verbs send the cluster secret (--cluster-secret, else
RAFTCACHE_CLUSTER_SECRET, else DATA_DIR/cluster.secret with --data-dir);
an authentication error names where the secret came from. An ACL user's
credentials and TLS come from --user/--password/--tls-* (else the SDK's
RAFTCACHE_USERNAME, RAFTCACHE_PASSWORD, RAFTCACHE_TLS_* variables or
--client-config file: raftcache/client/auth.py), else, with --data-dir, the
TLS files `raftcache up --tls` names in cluster.json.
"""

from __future__ import annotations

import json
import os
import sys
import time

import grpc

from raftcache import readlevel
from raftcache.node import commands
from raftcache.node.service import grpc_codec
from raftcache.node.consistency import ReadConsistency, ReadLevelError
from raftcache.node.errors import CommandError, RaftcacheError, Reason
from raftcache.proto import admin_pb2, admin_pb2_grpc, cache_pb2, cache_pb2_grpc
from raftcache.proto import commands_pb2 as pb



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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--encrypt-key", metavar="KEYFILE", help="seal the backup with AES-256-GCM under this key "
                   "(32 random bytes, raw or hex; docs/security.md)")
    p = sub.add_parser("verify", help="check a backup file offline (no node needed)")
    p.add_argument("file")
    p.add_argument("--key", metavar="KEYFILE", help="the key of an encrypted backup")
    p.add_argument("--json", action="store_true", help="print the backup's header as JSON")
    p = sub.add_parser("add-node", help="add a voter (start it first with the full new --peers list)")
    p.add_argument("member", metavar="ID@ZONE=HOST:BASEPORT", help="the new member, as in --peers")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the new node to catch up")
    p.add_argument("--wait-timeout", type=float, default=60.0, help="seconds to wait for catch-up (default 60)")
    p = sub.add_parser("remove-node", help="remove a voter (the leader hands leadership over first)")
    p.add_argument("id", help="member id")
    p = sub.add_parser("transfer-leader", help="hand leadership to another voter")
    p.add_argument("--to", default="", metavar="NODE", help="target member id (default: the most caught-up voter)")
    sub.add_parser("health", help="gRPC health check of the node: exit 0 when it is ready (SERVING)")


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


def security(args) -> tuple:
    """(channel credentials or None, metadata of every call, channel options) from the flags,
    the environment / client config file, and --data-dir's cluster.json."""
    from raftcache.client.auth import TLSConfig, basic_metadata, from_environment
    from raftcache.client.errors import ConfigError

    try:
        given = from_environment(os.environ, getattr(args, "client_config", None))
    except ConfigError as e:
        raise RaftcacheError(str(e)) from None
    username = getattr(args, "user", None) or given.get("username")
    password = getattr(args, "password", None) or given.get("password")
    tls = given.get("tls")
    if getattr(args, "tls_ca", None) or getattr(args, "tls_cert", None):
        tls = TLSConfig(ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key)
    elif tls is None and getattr(args, "data_dir", None):
        tls = _cluster_tls(args.data_dir)
    metadata = (basic_metadata(username, password),) if password is not None else ()
    try:
        credentials = tls.channel_credentials() if tls is not None else None
    except ConfigError as e:
        raise RaftcacheError(str(e)) from None
    return credentials, metadata, tls.channel_options() if tls is not None else ()


def _cluster_tls(data_dir: str):
    from raftcache.client.auth import TLSConfig

    try:
        with open(os.path.join(data_dir, "cluster.json")) as f:
            tls = json.load(f).get("tls")
    except (OSError, ValueError):
        return None
    return TLSConfig(ca=tls["ca"], cert=tls.get("cert"), key=tls.get("key")) if tls else None


class _Node:
    #: (credentials, metadata, options) of every call: set by run() from the flags (security()).
    security: tuple = (None, (), ())

    def __init__(self, endpoint: str, timeout_s: float):
        credentials, _, options = self.security
        # values may be larger than gRPC's default 4 MiB message limit
        options = tuple(grpc_codec.MESSAGE_SIZE_OPTIONS) + tuple(options)
        if credentials is not None:
            self._channel = grpc.secure_channel(endpoint, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(endpoint, options=options)
        self.cache = cache_pb2_grpc.CacheStub(self._channel)
        self.admin = admin_pb2_grpc.AdminStub(self._channel)
        self.timeout_s = timeout_s
        self.endpoint = endpoint

    def call(self, method, request):
        return self.call_md(method, request, None)

    def call_md(self, method, request, metadata):
        metadata = tuple(self.security[1]) + tuple(metadata or ())
        try:
            return method(request, timeout=self.timeout_s, metadata=metadata or None)
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and not e.trailing_metadata():
                raise RaftcacheError(f"cannot reach {self.endpoint}: {e.details()}") from None
            raise grpc_codec.error_from_status(e.code(), e.details(), e.trailing_metadata()) from None

    def execute(self, command: pb.Command, level: str | None = None):
        req = cache_pb2.Request(command=command)
        if level:
            try:
                grpc_codec.consistency_to_proto(ReadConsistency.parse(level), req.consistency)
            except ReadLevelError as e:
                raise RaftcacheError(str(e)) from None
        return commands.from_value(self.call(self.cache.Execute, req).value)


def run(args) -> int:
    try:
        _Node.security = security(args)
        node = _first_answering(endpoints(args), args.timeout) if args.verb != "verify" else None
        return _dispatch(node, args)
    except CommandError as e:
        message = e.message
        if e.reason is Reason.UNAUTHENTICATED:
            message += f" (the cluster secret came from {secret_source(args)})"
        print(f"raftcache: error: {e.reason.value}: {message}", file=sys.stderr)
    except RaftcacheError as e:
        print(f"raftcache: error: {e.message}", file=sys.stderr)
    return 1


DEFAULT_ENDPOINT = "127.0.0.1:7000"


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


def _first_answering(addresses: list[str], timeout_s: float) -> "_Node":
    """A _Node for the first endpoint that answers Status; a clear error naming every one tried."""
    failures = []
    for address in addresses:
        node = _Node(address, timeout_s)
        try:
            node.call(node.admin.Status, admin_pb2.StatusRequest())
            return node
        except RaftcacheError as e:
            failures.append(e.message)
    hint = "" if len(addresses) > 1 else " (name the cluster with --endpoint HOST:PORT or --data-dir DIR)"
    raise RaftcacheError("; ".join(failures) + hint)


def _dispatch(node: _Node, args) -> int:
    verb = args.verb
    if verb in OPERATIONS:
        return OPERATIONS[verb](node, args)
    if verb in ("status", "topology"):
        if verb == "status":
            reply = node.call(node.admin.Status, admin_pb2.StatusRequest())
        else:
            reply = node.call(node.admin.Topology, admin_pb2.TopologyRequest())
        if args.json:
            from google.protobuf import json_format

            print(json.dumps(json_format.MessageToDict(reply, always_print_fields_with_no_presence=True), indent=2))
        else:
            _print_status(reply, verb)
        return 0
    db = getattr(args, "db", 0)
    if verb == "get":
        result = node.execute(pb.Command(db=db, get=pb.Get(key=args.key.encode())), args.consistency)
    elif verb == "set":
        op = pb.Set(key=args.key.encode(), value=args.value.encode())
        if args.ex is not None:
            op.expiry.ttl_ms = args.ex * 1000
        result = node.execute(pb.Command(db=db, set=op))
    elif verb == "del":
        result = node.execute(pb.Command(db=db, **{"del": pb.Del(keys=[k.encode() for k in args.keys])}))
    elif verb == "incr":
        result = node.execute(pb.Command(db=db, incr_by=pb.IncrBy(key=args.key.encode(), delta=args.by)))
    elif verb == "ttl":
        result = node.execute(pb.Command(db=db, ttl=pb.Ttl(key=args.key.encode())))
    elif verb == "expire":
        op = pb.Expire(key=args.key.encode())
        op.expiry.ttl_ms = args.seconds * 1000
        result = node.execute(pb.Command(db=db, expire=op))
    elif verb == "scan":
        cursor, keys = 0, []
        while True:
            cursor_b, batch = node.execute(pb.Command(db=db, scan=pb.Scan(cursor=cursor, match=args.pattern.encode(), count=500)))
            keys.extend(batch)
            cursor = int(cursor_b)
            if cursor == 0:
                break
        result = keys
    elif verb == "dbsize":
        result = node.execute(pb.Command(db=db, db_size=pb.DbSize()))
    elif verb == "flushall":
        if not args.yes:
            raise RaftcacheError("flushall deletes every key: add --yes to confirm")
        result = node.execute(pb.Command(flush_all=pb.FlushAll()))
    else:  # argparse keeps this unreachable
        raise RaftcacheError(f"unknown verb {verb}")
    if result is not None or verb == "get":
        print(_text(result))
    return 0


def _print_status(reply, verb: str) -> None:
    if verb == "status":
        print(f"node {reply.id} (zone {reply.zone}) role={reply.role} leader={reply.leader_id or '-'} term={reply.term}")
        print(f"index: commit={reply.commit_index} applied={reply.applied_index} last={reply.last_index}")
        print(f"keys={reply.keys} used={reply.used_bytes}B maxmemory={reply.maxmemory_bytes}B appendfsync={reply.appendfsync}")
        print(f"log version={reply.log_version} (this node supports up to {reply.max_log_version})")
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
    else:
        print(f"leader={reply.leader_id or '-'} term={reply.term}")
        for m in reply.members:
            print(f"  {m.id:<6} zone {m.zone:<4} grpc {m.grpc_address} redis {m.redis_address} memcached {m.memcached_address}")


# ---------------------------------------------------------------- operations

SECRET_METADATA = "x-raftcache-secret"
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


def _metadata(args) -> tuple:
    return ((SECRET_METADATA, cluster_secret(args)),)


def leader_node(node: _Node, timeout_s: float = 10.0) -> _Node:
    """A _Node talking to the current leader (found from --endpoint's view)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = node.call(node.admin.Status, admin_pb2.StatusRequest())
        if status.role == "leader":
            return node
        if status.leader_id:
            topo = node.call(node.admin.Topology, admin_pb2.TopologyRequest())
            for m in topo.members:
                if m.id == status.leader_id:
                    return _Node(m.grpc_address, node.timeout_s)
        if time.monotonic() >= deadline:
            raise RaftcacheError(f"no leader known to {node.endpoint}; retry later")
        time.sleep(0.2)


def _progress(done: int, total: int, start: float) -> None:
    width = 30
    frac = done / total if total else 1.0
    rate = done / max(time.monotonic() - start, 1e-6) / (1 << 20)
    bar = "#" * int(frac * width)
    print(f"\r[{bar:<{width}}] {frac * 100:5.1f}%  {done / (1 << 20):.1f}/{total / (1 << 20):.1f} MiB  {rate:.1f} MiB/s",
          end="", file=sys.stderr, flush=True)


def _backup(node: _Node, args) -> int:
    from raftcache.node.ops import backup, backup_crypto

    key = backup_crypto.load_key(args.encrypt_key) if args.encrypt_key else None
    out = os.path.abspath(args.out)
    part = out + ".part"
    stream = node.admin.Backup(admin_pb2.BackupRequest(), metadata=tuple(node.security[1]) + _metadata(args),
                               timeout=max(node.timeout_s, 3600))
    info = None
    done = 0
    start = time.monotonic()
    show = False
    try:
        with backup.open_private(part) as f:
            sink = backup_crypto.Sealer(key, f) if key is not None else f   # sealed as it arrives
            for chunk in stream:
                if chunk.HasField("info"):
                    info = chunk.info
                    show = not args.quiet and (info.total_bytes >= 8 << 20 or sys.stderr.isatty())
                    continue
                sink.write(chunk.data)
                done += len(chunk.data)
                if show:
                    _progress(done, info.total_bytes, start)
            if key is not None:
                sink.close()
            f.flush()
            os.fsync(f.fileno())
        if show:
            print(file=sys.stderr)
        if info is None or done != info.total_bytes:
            raise RaftcacheError(f"backup stream from {node.endpoint} ended early ({done} bytes)")
        # An encrypted one is checked through a decrypted copy in a private scratch dir, removed after.
        with backup_crypto.plaintext(part, args.encrypt_key, os.path.dirname(out)) as plain:
            meta = backup.verify(plain, deep=True)
        os.replace(part, out)
    except grpc.RpcError as e:
        _remove(part)
        if e.code() == grpc.StatusCode.UNAVAILABLE and not e.trailing_metadata():
            raise RaftcacheError(f"cannot reach {node.endpoint}: {e.details()}") from None
        raise grpc_codec.error_from_status(e.code(), e.details(), e.trailing_metadata()) from None
    except BaseException:
        _remove(part)
        raise
    print(f"backup {out}: cluster {meta.cluster_id}, index {meta.applied_index}, term {meta.term}, "
          f"{meta.key_count} keys, {done} bytes, from {meta.node_id}{', encrypted' if key else ''}")
    return 0


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _verify(node: _Node, args) -> int:
    from raftcache.node.ops import backup, backup_crypto

    with backup_crypto.plaintext(args.file, args.key, os.path.dirname(os.path.abspath(args.file))) as plain:
        meta = backup.verify(plain, deep=True)
    if args.json:
        print(json.dumps(meta.to_json(), indent=2))
    else:
        print(f"ok: {args.file}: format {meta.format_version}, cluster {meta.cluster_id}, index {meta.applied_index}, "
              f"term {meta.term}, {meta.key_count} keys, digest {meta.digest[:16]}, taken on {meta.node_id} "
              f"at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(meta.created_ms / 1000))}")
    return 0


def _add_node(node: _Node, args) -> int:
    from raftcache.node.config import Peer
    from raftcache.node.frontends.grpc_admin import member_proto

    peer = Peer.parse(args.member)
    leader = leader_node(node)
    leader.timeout_s = max(leader.timeout_s, 30.0)
    reply = leader.call_md(leader.admin.AddNode, admin_pb2.AddNodeRequest(member=member_proto(peer)), _metadata(args))
    print(f"added {peer.id}: voters {', '.join(m.id for m in reply.members)}")
    if not args.no_wait:
        target = leader.call(leader.admin.Status, admin_pb2.StatusRequest()).commit_index
        new = _Node(peer.address("grpc"), node.timeout_s)
        deadline = time.monotonic() + args.wait_timeout
        while True:
            try:
                applied = new.call(new.admin.Status, admin_pb2.StatusRequest()).applied_index
            except RaftcacheError:
                applied = -1
            if applied >= target:
                print(f"{peer.id} caught up (applied index {applied})")
                break
            if time.monotonic() >= deadline:
                raise RaftcacheError(f"{peer.id} has not caught up to index {target} after {args.wait_timeout:.0f}s "
                                     f"(applied {applied}); is it running with the full new --peers list?")
            time.sleep(0.2)
    return 0


def _remove_node(node: _Node, args) -> int:
    leader = leader_node(node)
    leader.timeout_s = max(leader.timeout_s, 30.0)
    reply = leader.call_md(leader.admin.RemoveNode, admin_pb2.RemoveNodeRequest(id=args.id), _metadata(args))
    print(f"removed {args.id}: voters {', '.join(m.id for m in reply.members)}, leader {reply.leader_id or '-'}; "
          f"stop its process now")
    return 0


def _transfer_leader(node: _Node, args) -> int:
    leader = leader_node(node)
    leader.timeout_s = max(leader.timeout_s, 15.0)
    reply = leader.call_md(leader.admin.TransferLeader, admin_pb2.TransferLeaderRequest(to=args.to), _metadata(args))
    print(f"leader is now {reply.leader_id} (term {reply.term})")
    return 0


def _health(node: _Node, args) -> int:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(node._channel)
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=node.timeout_s)
    except grpc.RpcError as e:
        raise RaftcacheError(f"{node.endpoint}: health check failed: {e.code().name}") from None
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{node.endpoint}: {name}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


OPERATIONS = {
    "backup": _backup,
    "verify": _verify,
    "add-node": _add_node,
    "remove-node": _remove_node,
    "transfer-leader": _transfer_leader,
    "health": _health,
}
