"""Which Redis command a request is, for the ACL: names, categories, subcommands, keys.

Redis's ACL speaks of Redis commands (`+get`, `-config|set`, `+@read`), so
every port's requests are checked as the Redis command they are:

- RESP: the command as sent (its name, subcommand, and the keys of the
  `Command` it builds);
- memcached and gRPC: each `Command` as the Redis command that does the same
  (`op_command`: memcached `flush_all` is FLUSHALL, `set` is SET, a gRPC
  ConfigSet is CONFIG SET …), checked by `command_guard`, the session guard
  of those ports (node/service/session.py).

Categories are Redis's own, from its command table (node/frontends/
resp_command_docs.py, taken from redis-server); the few commands that table
lacks (ACL itself, the Admin verbs: `_EXPLICIT`, and raftcache's own) get
theirs here. tests/unit/test_acl.py checks every command and every `Command`
op has categories.

The same answers serve two other readers on the Redis port: cluster mode's
slot check (`slot_keys`: the keys a command's slot is taken from) and the
diagnostics' command names (`resp_name`: `client|list`, as Redis names them).
"""

from __future__ import annotations

import functools
from typing import Callable

from raftcache.commandkeys import command_keys
from raftcache.node.commands import SCRIPT_ACL_VERSION, SCRIPT_CALLER_VERSION
from raftcache.node.commands.acl_keys import access_keys
from raftcache.node.errors import RaftcacheError, Reason
from raftcache.node.frontends import resp_blocking, resp_command_docs, resp_sort_dump
from raftcache.node.frontends.resp_admin import SUBCOMMANDS
from raftcache.node.frontends.resp_protocol import RespError
from raftcache.node.frontends.resp_table import TABLE, Spec
from raftcache.proto import commands_pb2 as pb

_ADMIN = "admin slow dangerous"
#: Categories of what Redis's command table (resp_command_docs, from redis-server) does not hold:
#: the ACL command itself and the Admin API's operator verbs (node/frontends/grpc_admin.py), as
#: Redis's commands of the same effect.
_EXPLICIT = {
    "acl": "slow", **{f"acl|{sub}": "slow" for sub in ("cat", "genpass", "whoami", "help")},
    **{f"acl|{sub}": _ADMIN for sub in ("deluser", "dryrun", "getuser", "list", "load", "log", "save", "setuser",
                                         "users")},
    "save": _ADMIN, "failover": _ADMIN, "cluster|meet": _ADMIN, "cluster|forget": _ADMIN,
}
_GROUPS = {"string": "string", "hash": "hash", "list": "list", "set": "set", "sortedset": "sortedset",
           "sorted-set": "sortedset", "bitmap": "bitmap", "generic": "keyspace", "pubsub": "pubsub",
           "hyperloglog": "hyperloglog", "geo": "geo", "stream": "stream", "transactions": "transaction",
           "connection": "connection"}


@functools.cache
def categories(name: str) -> frozenset[str]:
    """Redis's categories of `name` (`cmd` or `cmd|sub`): Redis's own command table's, else (a
    command or subcommand only raftcache has) its container's, or what its flags and group say."""
    explicit = _EXPLICIT.get(name)
    if explicit is not None:
        return frozenset(explicit.split())
    redis = resp_command_docs.acl_categories(name)
    if redis:
        return frozenset(redis)
    parent, _, sub = name.partition("|")
    if sub:
        return categories(parent)
    spec = TABLE.get(name.encode())
    if spec is None:
        return frozenset()
    out = {"fast" if "fast" in spec.flags else "slow"}
    for flag, category in (("readonly", "read"), ("write", "write"), ("blocking", "blocking")):
        if flag in spec.flags:
            out.add(category)
    group = _GROUPS.get(spec.group)
    if group is not None:
        out.add(group)
    return frozenset(out)


def known(name: bytes) -> bool:
    """Whether ACL rules may name `name` (`cmd` or `cmd|sub`, lower case)."""
    cmd, _, sub = name.decode("latin-1").partition("|")
    if cmd.encode() not in TABLE:
        return False
    return not sub or sub in SUBCOMMANDS.get(cmd, ())


def all_names() -> list[str]:
    """Every command and subcommand the ACL knows (ACL CAT <category> lists from these)."""
    names = []
    for key in TABLE:
        cmd = key.decode()
        names.append(cmd)
        names += [f"{cmd}|{sub}" for sub in SUBCOMMANDS.get(cmd, ())]
    return names


def in_category(category: str) -> list[str]:
    return [n for n in all_names() if category in categories(n)]


# ---------------------------------------------------------------- RESP commands

def resp_name(spec: Spec, args: list[bytes]) -> tuple[str, str]:
    """(name, parent) of a RESP command as ACL rules name it: `config|get`, `config`; `get`, ``."""
    subs = SUBCOMMANDS.get(spec.name)
    if subs is not None and len(args) > 1:
        sub = args[1].lower().decode("latin-1")
        if sub in subs:
            return f"{spec.name}|{sub}", spec.name
    return spec.name, ""


def resp_keys(spec: Spec, args: list[bytes], db: int) -> list:
    """The keys of a RESP command and how it uses them (node/commands/acl_keys.py)."""
    try:
        if spec.build is not None:
            return access_keys(spec.build(args, db))
        if "blocking" in spec.flags:
            return access_keys(resp_blocking.in_multi(spec.name, args, db)[1])
    except RespError:
        return positional_keys(spec, args)  # bad arguments: refused for them next, unless the keys are not the user's
    if "pubsub" in spec.flags:
        return []   # SSUBSCRIBE's "keys" are shard channels: the ACL checks them as channels (Redis: NOT_KEY)
    return positional_keys(spec, args)   # WATCH, OBJECT: the keys they name


def positional_keys(spec: Spec, args: list[bytes]) -> list:
    """The arguments at the command's key positions (Redis's first/last/step range) as keys of
    access 0 (any pattern of the user's must match): the keys of a command with no Command to
    read them from, or whose arguments do not parse (Redis checks the ACL before them)."""
    first = spec.first_key
    if first <= 0 or len(args) <= first:
        return []
    if spec.last_key == first:   # most commands: one key (a script's every call asks)
        return [(args[first], 0)]
    last = min(spec.last_key if spec.last_key >= 0 else len(args) + spec.last_key, len(args) - 1)
    return [(args[i], 0) for i in range(first, last + 1, max(spec.step, 1))]


#: Pub/sub commands -> whether the channels they name are patterns (PSUBSCRIBE: a pattern must
#: equal one the user may use, Redis's rule) and where they start in the arguments.
_CHANNEL_ARGS = {"subscribe": (False, 1, None), "ssubscribe": (False, 1, None), "psubscribe": (True, 1, None),
                 "publish": (False, 1, 2), "spublish": (False, 1, 2)}


def resp_channels(spec: Spec, args: list[bytes]) -> list[tuple[bytes, bool]]:
    """The channels a RESP pub/sub command names, with whether each is a pattern."""
    found = _CHANNEL_ARGS.get(spec.name)
    if found is None:
        return []
    pattern, start, end = found
    return [(channel, pattern) for channel in args[start:end]]


# ---------------------------------------------------------------- Commands (memcached, gRPC)

_SET_OPS = {pb.SET_UNION: "union", pb.SET_INTER: "inter", pb.SET_DIFF: "diff"}
_OP_NAMES = {
    "noop": "ping", "delete_expired": "del", "mc_incr": "incrby", "get_meta": "get", "get_and_touch": "getex",
    "delete_expired_fields": "hdel",   # proposed by the leader only
    "element_scan": "hscan", "zremrange": "zremrangebyscore", "random_key": "randomkey", "swap_db": "swapdb",
    "key_version": "watch", "object_encoding": "object|encoding", "transaction": "exec", "config_set": "config|set",
    "set_version": "config|set", "acl_set_user": "acl|setuser", "acl_del_user": "acl|deluser",
    "acl_load": "acl|load", "bitfield_ro": "bitfield_ro", "pfcount_ro": "pfcount", "pfdebug_ro": "pfdebug",
    "xprobe": "xread", "object_access": "object|freq", "meta_get": "get", "meta_invalidate": "del",
    "evict": "config|set",   # proposed by the leader only (refused from clients anyway)
    "sort": "sort_ro", "sort_store": "sort",
    "eval_ro": "eval_ro", "script_load": "script|load", "script_exists": "script|exists",
    "script_flush": "script|flush", "function_load": "function|load", "function_delete": "function|delete",
    "function_flush": "function|flush", "function_restore": "function|restore", "function_list": "function|list",
    "claim_slots": "cluster|addslots",   # likewise
    "publish_batch": "publish",          # likewise (the leader's grouping of PUBLISHes)
    "set_batch": "set",                  # likewise (the leader's grouping of plain SETs)
    **{name: "cluster|setslot" for name in (   # resharding's steps: likewise
       "begin_migration", "migrate_keys", "restore_keys", "drop_migrated", "finish_migration",
       "export_dedup", "import_dedup")},
}


def op_command(command: pb.Command) -> str:
    """The Redis command (`cmd` or `cmd|sub`) that does what `command` does."""
    name = command.WhichOneof("op") or "noop"
    op = getattr(command, name)
    if name in ("eval", "eval_ro") and op.function:
        return "fcall" if name == "eval" else "fcall_ro"
    fixed = _OP_NAMES.get(name)
    if fixed is not None:
        return fixed
    if name == "push":
        return "lpush" if op.left else "rpush"
    if name == "pop":
        return "lpop" if op.left else "rpop"
    if name == "zpop":
        return "zpopmax" if op.max else "zpopmin"
    if name in ("set_op", "set_op_store"):
        card = name == "set_op" and op.card
        return "sintercard" if card else f"s{_SET_OPS.get(op.op, 'unknownop')}{'store' if name == 'set_op_store' else ''}"
    if name in ("zset_op", "zset_op_store"):
        kind = op.op if name == "zset_op" else op.source.op
        return f"z{_SET_OPS.get(kind, 'unknownop')}{'store' if name == 'zset_op_store' else ''}"
    return name.replace("_", "")


def command_checks(command: pb.Command) -> list[tuple[str, list, list]]:
    """(Redis command, its keys, its channels) for `command` and, for a transaction, each command in it."""
    name = op_command(command)
    op = command.WhichOneof("op")
    if op == "publish":
        return [("spublish" if command.publish.sharded else "publish", [], [(command.publish.channel, False)])]
    if op != "transaction":
        return [(name, access_keys(command), [])]
    out = [(name, [(w.key, 0) for w in command.transaction.watches], [])]
    for nested in command.transaction.commands:
        out += command_checks(nested)
    return out


def check_command(identity, username: str | None, command: pb.Command, client_info: str = "",
                  context: str = "toplevel") -> RaftcacheError | None:
    """None when `username` may run `command`; else the error to answer (NOPERM / NOAUTH)."""
    user = identity.user(username)
    if user is None:
        return RaftcacheError("Authentication required.", Reason.UNAUTHENTICATED)
    if user.unrestricted:
        return None
    for name, keys, channels in command_checks(command):
        parent = name.partition("|")[0] if "|" in name else ""
        error = identity.check(username, name, categories(name), keys, channels, parent=parent, context=context,
                             client_info=client_info)
        if error is not None:
            return error
    for sort_name, op in _sorts(command):   # BY / GET patterns read keys the command does not name
        refused = resp_sort_dump.patterns_refusal(user, sort_name, categories(sort_name),
                                                  resp_sort_dump.op_pattern_option(op))
        if refused is not None:
            return RaftcacheError(refused.removeprefix("ERR "), Reason.NO_PERMISSION)
    return None


def _sorts(command: pb.Command) -> list[tuple[str, pb.Sort]]:
    """(Redis command, op) of each SORT `command` runs (in a transaction, each one)."""
    name = command.WhichOneof("op")
    if name == "transaction":
        return [found for nested in command.transaction.commands for found in _sorts(nested)]
    if name in ("sort", "sort_store"):
        return [(op_command(command), getattr(command, name))]
    return []


def check_subscription(identity, username: str | None, request, client_info: str = "") -> RaftcacheError | None:
    """None when `username` may make the gRPC subscription `request` (cache.proto SubscribeRequest):
    SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE of its channels, and CLIENT TRACKING for invalidations."""
    checks = [("subscribe", [(c, False) for c in request.channels]),
              ("psubscribe", [(p, True) for p in request.patterns]),
              ("ssubscribe", [(c, False) for c in request.shard_channels])]
    checks = [(name, channels) for name, channels in checks if channels]
    if request.invalidations:
        checks.append(("client|tracking", []))
    for name, channels in checks:
        parent = name.partition("|")[0] if "|" in name else ""
        error = identity.check(username, name, categories(name), (), channels, parent=parent,
                             client_info=client_info)
        if error is not None:
            return error
    return None


def command_guard(session, command: pb.Command) -> RaftcacheError | None:
    """The session guard of the memcached and gRPC ports (node/service/session.py); a script
    the command runs is stamped with its caller (stamp_script_caller)."""
    error = check_command(session.service.identity, session.user, command, session.client_info())
    if error is None:
        stamp_script_caller(command, session.user, session.service, session.client_info)
    return error


#: RESP commands whose op runs a script (stamp_script_caller)
SCRIPT_RUNNERS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})


def stamp_script_caller(command: pb.Command, username: str | None, service,
                        client_info: Callable[[], str] | None = None) -> None:
    """A script `command` runs (in a transaction, each one) carries its caller (Eval.user:
    every command the script runs is checked at apply against that user's rules as the log
    has them, log version 17; a client's own value is replaced). Once the log runs version 17
    every caller is named, and apply decides from the log's rules; before, only a caller this
    node knows as restricted (its scripts wait for the upgrade: -TRYAGAIN). From version 18 a
    restricted caller's script also names this node (Eval.caller; Service.script_caller keeps
    the connection's `client_info()`): this node's ACL LOG records the script's refusals."""
    name = command.WhichOneof("op")
    if name == "transaction":
        for sub in command.transaction.commands:
            stamp_script_caller(sub, username, service, client_info)
    elif name in ("eval", "eval_ro"):
        op = getattr(command, name)
        username = username or "default"
        user = service.identity.users.get(username)
        restricted = user is None or not user.unrestricted   # (a deleted user may run nothing)
        op.user = username if (user is not None and restricted) or service.log_version >= SCRIPT_ACL_VERSION else ""
        op.caller = (service.script_caller(client_info()) if restricted and client_info is not None
                     and service.log_version >= SCRIPT_CALLER_VERSION else "")


#: Shard channels are routed by their slot, as keys are (Redis 7's sharded pub/sub).
_SHARD_CHANNELS = {"spublish": slice(1, 2), "ssubscribe": slice(1, None), "sunsubscribe": slice(1, None)}


def slot_keys(spec: Spec, args: list[bytes], db: int, command=None) -> list[bytes]:
    """What cluster mode's slot check hashes: the keys of the command built from `args`
    (raftcache/commandkeys.py), or of a command the connection runs itself (blocking pops,
    WATCH, OBJECT: acl_catalog.resp_keys), or a sharded pub/sub command's channels."""
    if command is not None:
        return command_keys(command)
    channels = _SHARD_CHANNELS.get(spec.name)
    if channels is not None:
        return args[channels]
    return [key for key, _ in resp_keys(spec, args, db)]
