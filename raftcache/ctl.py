"""`raftcache ctl`: the admin command line, talking gRPC to one node.

Verbs: status, topology, get, set, del, incr, ttl, expire, scan, dbsize,
flushall. Values are printed as text when they are valid UTF-8, as Python
bytes literals otherwise. Errors are one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
import sys

import grpc

from raftcache.node import commands, grpc_codec
from raftcache.node.errors import CommandError, RaftcacheError
from raftcache.proto import admin_pb2, admin_pb2_grpc, cache_pb2, cache_pb2_grpc
from raftcache.proto import commands_pb2 as pb

_LEVELS = ["linearizable", "lease", "any"]


def add_verbs(sub) -> None:
    p = sub.add_parser("status", help="the node's Raft and keyspace status")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("topology", help="members, zones and the leader")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("get", help="GET a key")
    p.add_argument("key")
    p.add_argument("--db", type=int, default=0)
    p.add_argument("--consistency", choices=_LEVELS, default=None, help="read level (default: the node's)")
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


class _Node:
    def __init__(self, endpoint: str, timeout_s: float):
        self._channel = grpc.insecure_channel(endpoint)
        self.cache = cache_pb2_grpc.CacheStub(self._channel)
        self.admin = admin_pb2_grpc.AdminStub(self._channel)
        self.timeout_s = timeout_s
        self.endpoint = endpoint

    def call(self, method, request):
        try:
            return method(request, timeout=self.timeout_s)
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and not e.trailing_metadata():
                raise RaftcacheError(f"cannot reach {self.endpoint}: {e.details()}") from None
            raise grpc_codec.error_from_status(e.code(), e.details(), e.trailing_metadata()) from None

    def execute(self, command: pb.Command, level: str | None = None):
        req = cache_pb2.Request(command=command)
        if level:
            req.consistency.level = cache_pb2.ReadConsistency.Level.Value(level.upper())
        return commands.from_value(self.call(self.cache.Execute, req).value)


def run(args) -> int:
    node = _Node(args.endpoint, args.timeout)
    try:
        return _dispatch(node, args)
    except CommandError as e:
        print(f"raftcache: error: {e.reason.value}: {e.message}", file=sys.stderr)
    except RaftcacheError as e:
        print(f"raftcache: error: {e.message}", file=sys.stderr)
    return 1


def _dispatch(node: _Node, args) -> int:
    verb = args.verb
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
        for m in reply.members:
            extra = f" lag={m.lag}" if reply.role == "leader" and m.member.id != reply.id else ""
            state = "up" if m.connected else "down"
            print(f"  {m.member.id:<6} zone {m.member.zone:<4} {m.member.grpc_address:<22} {state}{extra}")
        zones = {m.member.zone for m in reply.members if m.member.voter}
        if len(zones) < 3:
            print(f"warning: voters span {len(zones)} zone(s); losing one zone may lose the quorum (use at least 3)")
    else:
        print(f"leader={reply.leader_id or '-'} term={reply.term}")
        for m in reply.members:
            print(f"  {m.id:<6} zone {m.zone:<4} grpc {m.grpc_address} redis {m.redis_address} memcached {m.memcached_address}")
