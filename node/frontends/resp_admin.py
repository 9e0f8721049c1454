"""Connection and server commands of the Redis front end: PING, ECHO, HELLO,
AUTH, SELECT, COMMAND, CONFIG, TIME, WAIT, KEYS, RANDOMKEY, OBJECT,
LASTSAVE, READONLY/READWRITE, ROLE, LOLWUT, CLUSTER (CLIENT is resp_client.py's, INFO
resp_info.py's, the diagnostic ones, MEMORY among them, resp_diag.py's, MULTI/EXEC
resp_transactions.py's).

Each handler is `async def handler(conn, args) -> reply value`, encoded for
the connection's protocol by resp.py (bytes are bulk strings). State
lives on the Connection (resp.py) and the RespServer; cluster facts come
from `service.status()`. Nothing here touches the keyspace directly.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import time

from raftcache.commandkeys import keys_of
from raftcache.node import commands
from raftcache.node.config import settings
from raftcache.node.frontends import (resp_blocking, resp_cluster, resp_command_docs, resp_hyperloglog,
                                      resp_stream_groups, resp_streams, resp_tracking)
from raftcache.node.commands import OK, Status
from raftcache.node.errors import CommandError
from raftcache.node.service.identity import AuthError
from raftcache.node.frontends.resp_args import cmd, to_int
from raftcache.node.frontends.resp_table import TABLE
from raftcache.node.storage.glob import glob_match
from raftcache.proto import commands_pb2 as pb
from raftcache.node.frontends.resp_protocol import RespError, RespMap, Verbatim

#: What HELLO, INFO and LOLWUT report: the Redis version whose behaviour the node follows (the one
#: COMMAND INFO/DOCS were taken from, scripts/gen_redis_commands.py).
REDIS_VERSION = resp_command_docs.redis_version()
#: Commands Redis refuses inside MULTI (its no-multi flag); every other command is queued,
#: and a connection or server command runs at EXEC in its place.
REFUSED_IN_MULTI = frozenset({"save", "shutdown", "sync", "psync"})
_rng = random.SystemRandom()


#: Container commands: subcommand -> Redis arity (counting the command and the subcommand).
SUBCOMMANDS = {
    "client": {"setname": 3, "getname": 2, "id": 2, "info": 2, "list": -2, "setinfo": 4, "consistency": -2,
               "no-evict": 3, "no-touch": 3, "kill": -3, "reply": 3, "unblock": -3, "help": 2,
               "pause": -3, "unpause": 2, **resp_tracking.SUBCOMMANDS},
    "command": {"count": 2, "info": -2, "docs": -2, "list": -2, "getkeys": -3, "help": 2},
    "config": {"get": -3, "set": -4, "resetstat": 2, "rewrite": 2, "help": 2},
    "object": {"encoding": 3, "freq": 3, "idletime": 3, "refcount": 3, "help": 2},
    "memory": {"usage": -3, "doctor": 2, "stats": 2, "help": 2},
    # resp_diag.py's
    "slowlog": {"get": -2, "len": 2, "reset": 2, "help": 2},
    "latency": {"latest": 2, "history": 3, "reset": -2, "doctor": 2, "graph": 3, "histogram": -2, "help": 2},
    # resp_script_admin.py's
    "script": {"load": 3, "exists": -3, "flush": -2, "kill": 2, "help": 2},
    "function": {"load": -3, "delete": 3, "flush": -2, "list": -2, "dump": 2, "restore": -3, "stats": 2,
                 "kill": 2, "help": 2},
    "cluster": resp_cluster.SUBCOMMANDS,
    **resp_stream_groups.SUBCOMMANDS,
    "acl": {"cat": -2, "deluser": -3, "dryrun": -4, "genpass": -2, "getuser": 3, "list": 2, "load": 2, "log": -2,
            "save": 2, "setuser": -3, "users": 2, "whoami": 2, "help": 2},
}


def check_subcommand(container: str, args: list[bytes]) -> bytes:
    """The lower-cased subcommand, or Redis's error for an unknown one or a wrong argument count."""
    sub = args[1].lower()
    arity = SUBCOMMANDS[container].get(sub.decode(errors="replace"))
    if arity is None:
        raise RespError(f"ERR unknown subcommand '{args[1].decode(errors='replace')[:128]}'. "
                        f"Try {container.upper()} HELP.")
    if (arity > 0 and len(args) != arity) or len(args) < -arity:
        raise RespError(f"ERR wrong number of arguments for '{container}|{sub.decode()}' command")
    return sub


def parse_db(conn, arg: bytes) -> int:
    n = to_int(arg)
    if not 0 <= n < conn.service.limits.databases:
        raise RespError("ERR DB index is out of range")
    if n and conn.service.cluster is not None:
        raise RespError("ERR SELECT is not allowed in cluster mode")
    return n


# ---------------------------------------------------------------- connection


def ping_now(conn, args):
    if len(args) > 2:
        raise RespError("ERR wrong number of arguments for 'ping' command")
    subs = conn.session.subscriptions
    if subs is not None and subs.active and conn.proto == 2:  # RESP2 subscriber mode: Redis's ["pong", arg]
        return [b"pong", args[1] if len(args) == 2 else b""]
    return Status("PONG") if len(args) == 1 else args[1]


def echo_now(conn, args):
    return args[1]


#: Connection commands answered at once, with no waiting: the RESP connection answers them
#: inline when nothing is before them (resp_inline.InlinePaths._answer_inline), the command loop otherwise.
IMMEDIATE = {"ping": ping_now, "echo": echo_now}


async def ping(conn, args):
    return ping_now(conn, args)


async def echo(conn, args):
    return echo_now(conn, args)


def _check_password(conn, username: bytes | None, password: bytes) -> None:
    """AUTH [username] password against the ACL users (node/service/identity.py). The
    one-argument form is the default user's; while that user has nopass it is an
    error, as in Redis."""
    identity = conn.service.identity
    if username is None and identity.users["default"].nopass:
        raise RespError("ERR AUTH <password> called without any password configured for the default user. "
                        "Are you sure your configuration is correct?")
    try:
        conn.login(identity.authenticate(username, password, conn.client_info()))
    except AuthError as e:
        raise RespError(e.message) from None


async def auth(conn, args):
    if len(args) == 2:
        _check_password(conn, None, args[1])
    elif len(args) == 3:
        _check_password(conn, args[1], args[2])
    else:
        raise RespError("ERR syntax error")
    return OK


def valid_name(name: bytes) -> bool:
    """A name HELLO SETNAME, CLIENT SETNAME and CLIENT SETINFO accept: printable ASCII, no space."""
    return all(33 <= b <= 126 for b in name)


async def hello(conn, args):
    proto = conn.proto
    i = 1
    if len(args) > 1:
        try:
            proto = to_int(args[1])
        except RespError:
            raise RespError("ERR Protocol version is not an integer or out of range") from None
        if proto not in (2, 3):
            raise RespError("NOPROTO unsupported protocol version")
        i = 2
    name = None
    while i < len(args):
        opt = args[i].upper()
        if opt == b"AUTH" and i + 2 < len(args):
            _check_password(conn, args[i + 1], args[i + 2])
            i += 3
        elif opt == b"SETNAME" and i + 1 < len(args):
            name = args[i + 1]
            if not valid_name(name):
                raise RespError("ERR Client names cannot contain spaces, newlines or special characters.")
            i += 2
        else:
            raise RespError(f"ERR Syntax error in HELLO option '{args[i].decode(errors='replace')}'")
    if not conn.authenticated:
        raise RespError("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                        "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                        "select the RESP protocol version at the same time")
    if name is not None:
        conn.session.name = name.decode()
    conn.proto = proto
    status = node_status(conn)
    return RespMap([
        ("server", "redis"), ("version", REDIS_VERSION), ("proto", proto), ("id", conn.id),
        ("mode", "standalone"), ("role", "master" if status.get("role") == "leader" else "replica"),
        ("modules", []),
    ])


async def select(conn, args):
    conn.session.db = parse_db(conn, args[1])
    return OK


def node_status(conn) -> dict:
    try:
        return conn.service.status()
    except Exception:  # status is best effort for INFO/HELLO
        return {}


# ---------------------------------------------------------------- COMMAND


def _command_info(name: str):
    """COMMAND INFO's entry: Redis's own (resp_command_docs), its subcommands limited to those
    implemented here; a minimal one for a command Redis does not have."""
    container = name.partition("|")[0]
    found = resp_command_docs.info(name, SUBCOMMANDS.get(container, ()))
    spec = TABLE.get(name.encode())
    if found is not None or spec is None:
        return found
    flags = [Status(f) for f in spec.flags if f in ("write", "readonly", "denyoom", "admin", "noauth", "fast",
                                                     "stale", "loading", "noscript")]
    return [spec.name.encode(), spec.arity, flags, spec.first_key, spec.last_key, spec.step,
            [Status("@" + spec.group)], [], [], []]


def _command_names() -> list[str]:
    """Every command and implemented subcommand name (COMMAND LIST)."""
    names = []
    for key in TABLE:
        name = key.decode()
        names.append(name)
        names.extend(resp_command_docs.subcommand_names(name, SUBCOMMANDS.get(name, ())))
    return names


def _command_list(args) -> list[bytes]:
    names = _command_names()
    if len(args) == 2:
        return [n.encode() for n in names]
    if len(args) != 5 or args[2].upper() != b"FILTERBY":
        raise RespError("ERR syntax error")
    kind, value = args[3].upper(), args[4].decode(errors="replace")
    if kind == b"MODULE":
        return []
    if kind == b"ACLCAT":
        return [n.encode() for n in names if value.lower() in resp_command_docs.acl_categories(n)]
    if kind == b"PATTERN":
        return [n.encode() for n in names if glob_match(args[4], n.encode())]
    raise RespError("ERR syntax error")


def _movable_keys(spec, args: list[bytes]) -> list[bytes] | None:
    """The keys of a command whose keys move with its arguments (ZUNIONSTORE, XREAD, GEORADIUS
    … STORE, LMPOP, EVAL): read from the command its parser builds ([] for none, as EVAL … 0);
    None for a command whose keys do not move, or whose parser builds nothing."""
    info = resp_command_docs.info(spec.name)
    if spec.build is None or info is None or Status("movablekeys") not in info[2]:
        return None
    try:
        built = spec.build(args, 0)
    except RespError:
        raise RespError("ERR Invalid arguments specified for command") from None
    if built is None:
        return None
    return [key for key in _keys_in(getattr(built, built.WhichOneof("op"))) if key]


def _keys_in(op) -> list[bytes]:
    """An op's keys, then those of the messages inside it (ZUNIONSTORE's sources, ZRANGESTORE's)."""
    keys = keys_of(op)
    for field, value in op.ListFields():
        if field.message_type is not None and not field.is_repeated:
            keys += _keys_in(value)
    return keys


async def command(conn, args):
    if len(args) == 1:
        return [_command_info(n.decode()) for n in TABLE]
    sub = check_subcommand("command", args)
    if sub == b"count":
        return len(TABLE)
    if sub == b"info":
        names = [n.decode(errors="replace").lower() for n in args[2:]] or [k.decode() for k in TABLE]
        return [_command_info(n) if n.partition("|")[0].encode() in TABLE else None for n in names]
    if sub == b"docs":
        names = [n.decode(errors="replace").lower() for n in args[2:]] or [k.decode() for k in TABLE]
        found = []
        for n in names:
            if n.partition("|")[0].encode() in TABLE:
                doc = resp_command_docs.docs(n, SUBCOMMANDS.get(n.partition("|")[0], ()))
                if doc is not None:
                    found.append((n.encode(), doc))
        return RespMap(found)
    if sub == b"list":
        return _command_list(args)
    if sub == b"getkeys" and len(args) >= 3:
        spec = TABLE.get(args[2].lower())
        rest = args[2:]
        if spec is None:
            raise RespError("ERR Invalid command specified")
        if (spec.arity > 0 and len(rest) != spec.arity) or len(rest) < -spec.arity:
            raise RespError("ERR Invalid number of arguments specified for command")
        movable = _movable_keys(spec, rest)
        if movable is not None:
            return movable
        first, last_key, step = spec.first_key, spec.last_key, spec.step
        if first == 0 and len(rest) > 1:   # a container's subcommand has its own key positions (MEMORY USAGE)
            sub = rest[1].lower().decode(errors="replace")
            entry = resp_command_docs.info(f"{spec.name}|{sub}", (sub,))
            if entry is not None:
                first, last_key, step = entry[3], entry[4], entry[5]
        if first == 0:
            raise RespError("ERR The command has no key arguments")
        last = len(rest) + last_key if last_key < 0 else last_key + 1
        return list(rest[first:last:step])
    if sub == b"help":
        return [b"COMMAND [<subcommand> [<arg> ...]]", b"COUNT", b"DOCS [<command-name> ...]",
                b"GETKEYS <full-command>", b"INFO [<command-name> ...]",
                b"LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]"]
    raise RespError("ERR syntax error")


# ---------------------------------------------------------------- CONFIG (INFO: resp_info.py)


async def config(conn, args):
    """CONFIG GET from this node's values; CONFIG SET through the log, cluster-wide, except the
    node-local ones (node/config/settings.py says which parameters exist and what they change)."""
    sub = check_subcommand("config", args)
    if sub == b"get" and len(args) >= 3:
        values = conn.service.settings
        found: dict[str, str] = {}
        for pattern in args[2:]:
            pat = pattern.decode(errors="replace").lower()
            for k, v in values.items():
                if k not in found and fnmatch.fnmatchcase(k, pat):
                    found[k] = v
        return RespMap((k.encode(), v.encode()) for k, v in found.items())
    if sub == b"set" and len(args) >= 4 and len(args) % 2 == 0:
        return await _config_set(conn, [(args[i].decode(errors="replace").lower(), args[i + 1].decode(errors="replace"))
                                        for i in range(2, len(args), 2)])
    if sub == b"resetstat" and len(args) == 2:
        conn.server.stats.clear()
        conn.server.cmdstats.clear()
        conn.server.errorstats.clear()
        conn.service.reset_stats()
        return OK
    if sub == b"rewrite":
        return OK
    if sub == b"help":
        return [b"CONFIG <subcommand> [<arg> ...]", b"GET <pattern> [<pattern> ...]",
                b"SET <directive> <value> [<directive> <value> ...]", b"RESETSTAT", b"REWRITE"]
    raise RespError("ERR wrong number of arguments for 'config|set' command")


async def _config_set(conn, pairs: list[tuple[str, str]]):
    """Check every pair here (clear errors before proposing), then one ConfigSet
    entry; reply once this node applied it, so the caller reads its own change.
    The node-local parameters are set on this node once the rest succeeded."""
    current = conn.service.settings
    command = pb.Command()
    command.config_set.SetInParent()
    names = set()
    local: dict[str, str] = {}
    for name, value in pairs:
        if name in names:
            raise RespError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - "
                            f"duplicate parameter")
        names.add(name)
        try:
            if name == "client-output-buffer-limit":  # the classes not named keep their limits, as in Redis
                value = settings.merge_output_limits(current.get(name, ""), value)
            if name in settings.NODE_LOCAL:   # slowlog-*, latency-*: this node's own, not proposed
                local[name] = settings.check_local(name, value)
                continue
            version = conn.service.log_version
            normalised = settings.validate(name, value, current.get(name),
                                           before_eviction=version < commands.EVICTION_VERSION,
                                           any_maxmemory=version >= commands.ANY_MAXMEMORY_VERSION)
        except settings.SettingError as e:
            if name not in settings.SETTINGS:
                raise RespError(f"ERR {e}") from None
            raise RespError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {e}") from None
        if settings.SETTINGS[name].kind != "fixed":
            command.config_set.parameters.add(name=name, value=normalised)
    if command.config_set.parameters:
        result, index = await conn.call(command)
        if isinstance(result, CommandError):
            return result
        await conn.service.wait_applied(index)
        conn.server.refresh_limits()  # other nodes follow within resp_server.CHECK_INTERVAL_S
    for name, value in local.items():   # this node's own (slowlog-*, latency-*): after the rest succeeded
        conn.service.set_local(name, value)
    return OK


async def time_(conn, args):
    ns = time.time_ns()
    return [b"%d" % (ns // 1_000_000_000), b"%d" % ((ns // 1000) % 1_000_000)]


async def lastsave(conn, args):
    return int(conn.server.started_s)


async def wait(conn, args):
    """WAIT numreplicas timeout: how many other members hold this connection's last write.

    An acknowledged write is already on a majority (Raft), so the answer is at
    least majority-1 as soon as it is asked; WAIT waits (up to timeout ms, 0 =
    forever) for more members' match_index to reach the write.
    """
    wanted, timeout_ms = to_int(args[1]), to_int(args[2])
    if timeout_ms < 0:
        raise RespError("ERR timeout is negative")
    if conn.in_exec:
        wanted = 0   # inside MULTI nothing blocks (Redis): answer with what holds now
    deadline = time.monotonic() + (timeout_ms / 1000.0 if timeout_ms else 1e9)
    while True:
        status = node_status(conn)
        members = status.get("members", [])
        others = [m for m in members if m.get("id") != status.get("id")]
        if status.get("role") == "leader":
            count = sum(1 for m in others if m.get("match_index", 0) >= conn.session.last_write_index)
        else:
            count = len(members) // 2 if status.get("commit_index", 0) >= conn.session.last_write_index else 0
        count = max(count, len(members) // 2 if conn.session.last_write_index else len(others))
        if count >= wanted or time.monotonic() >= deadline:
            return min(count, len(others))
        await asyncio.sleep(0.01)


async def readonly(conn, args):
    """READONLY / READWRITE: OK. Every member of a shard serves its slots (docs/cluster-mode.md),
    reads at the connection's read level (CLIENT CONSISTENCY): neither changes what a connection may do."""
    return OK


async def cluster(conn, args):
    """CLUSTER …: node/frontends/resp_cluster.py (Redis's error without cluster mode)."""
    if conn.service.cluster is None:
        raise RespError(resp_cluster.DISABLED)
    return await resp_cluster.run(conn, check_subcommand("cluster", args), args, node_status(conn))


async def role(conn, args):
    """ROLE: the leader is Redis's master, listing the followers (address, Redis port, match
    index); a follower is a replica of the leader, "connected" while it has one."""
    status = node_status(conn)
    members = status.get("members", [])
    if status.get("role") == "leader":
        followers = [m for m in members if m.get("id") != status.get("id")]
        return [b"master", status.get("commit_index", 0),
                [[_peer_host(m).encode(), str(_peer_port(m)).encode(), str(m.get("match_index", 0)).encode()]
                 for m in followers]]
    leader = next((m for m in members if m.get("id") == status.get("leader_id")), {})
    return [b"slave", _peer_host(leader).encode(), _peer_port(leader),
            b"connected" if status.get("leader_id") else b"connect", status.get("applied_index", 0)]


def _peer_host(member: dict) -> str:
    return getattr(member.get("peer"), "host", "")


def _peer_port(member: dict) -> int:
    peer = member.get("peer")
    return peer.port("redis") if peer is not None and hasattr(peer, "port") else 0


async def lolwut(conn, args):
    """LOLWUT [VERSION v]: no art here, the version line Redis ends it with."""
    if len(args) not in (1, 3) or (len(args) == 3 and args[1].upper() != b"VERSION"):
        raise RespError("ERR syntax error")
    if len(args) == 3:
        to_int(args[2])
    return Verbatim(f"Redis ver. {REDIS_VERSION}\n".encode())


# ---------------------------------------------------------------- keys that need several steps


async def keys(conn, args):
    pattern = args[1]
    found: list[bytes] = []
    cursor = 0
    while True:
        command = cmd(conn.session.db, "scan", cursor=cursor, match=b"" if pattern == b"*" else pattern, count=1000)
        result, _ = await conn.call(command)
        if isinstance(result, CommandError):
            return result
        cursor = int(result[0])
        found.extend(result[1])
        if cursor == 0:
            return found


async def randomkey(conn, args):
    result, _ = await conn.call(cmd(conn.session.db, "random_key", seed=_rng.getrandbits(63)))
    return result


async def object_(conn, args):
    sub = check_subcommand("object", args)
    if sub == b"help":
        return [b"OBJECT <subcommand>", b"ENCODING <key>", b"FREQ <key>", b"IDLETIME <key>", b"REFCOUNT <key>"]
    if sub == b"encoding":
        result, _ = await conn.call(cmd(conn.session.db, "object_encoding", key=args[2]))
        return result
    kind, _ = await conn.call(cmd(conn.session.db, "type", key=args[2]))
    if isinstance(kind, CommandError):
        return kind
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind == "none":
        return None
    if sub == b"refcount":
        return 1
    lfu = conn.service.setting("maxmemory-policy").endswith("-lfu")
    if sub == b"freq" and not lfu:
        raise RespError("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
                        "that when switching between policies at runtime LRU and LFU data will take some time "
                        "to adjust.")
    if sub == b"idletime" and lfu:
        raise RespError("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
                        "switching between policies at runtime LRU and LFU data will take some time to adjust.")
    if conn.service.log_version < commands.EVICTION_VERSION:
        return 0
    # the access table of the node that serves the read (the leader's counts every node's reads)
    result, _ = await conn.call(cmd(conn.session.db, "object_access", key=args[2]))
    if not isinstance(result, list):
        return result
    return result[0] if sub == b"idletime" else result[1]




HANDLERS = {
    "ping": ping, "echo": echo, "auth": auth, "hello": hello, "select": select,
    "command": command, "config": config, "time": time_, "lastsave": lastsave,
    "wait": wait, "readonly": readonly, "readwrite": readonly, "keys": keys, "randomkey": randomkey,
    "role": role, "lolwut": lolwut, "cluster": cluster, "asking": resp_cluster.asking,
    "object": object_,
    **resp_blocking.COMMANDS,
    **resp_hyperloglog.LOCAL,
    **resp_streams.LOCAL,
    **resp_stream_groups.LOCAL,
}
