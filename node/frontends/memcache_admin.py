"""memcached's `stats` and its tuning commands that have sub-commands: `slabs`, `lru`, `lru_crawler`.

`stats` (and `stats settings`, `items`, `slabs`, `reset`, `detail`…) answers
memcached's fields from this node's counters and status, with raftcache's
own (`raftcache_role`, `raftcache_leader_id`, `raftcache_applied_index`).

raftcache has no slabs, LRU or crawler (the keyspace is LMDB, memory is
bounded by maxmemory), so these change nothing; they are answered with
memcached 1.6's texts for the same arguments, so tools that tune a memcached
keep working and a bad argument gets the error memcached gives: `slabs
automove` 0-2 is OK, another number ERROR and a word "CLIENT_ERROR bad
command line format"; `slabs reassign` finds no spare page; unknown
sub-commands are ERROR. `lru_crawler metadump` has nothing to walk here
and answers as memcached with its crawler off.

Each handler in COMMANDS takes the tokens of the request line (noreply
included) and returns the reply bytes; `render_stats` takes the port's state,
the arguments after `stats` and the version `version` reports.
"""

from __future__ import annotations

import os
import time

from raftcache.node.frontends.memcache_meta import BAD_FORMAT, ERROR

_NOREPLY = b"noreply"
#: The slab class ids of a default memcached (1.6: classes 1-39 with a 1 MiB item_size_max).
_LARGEST_CLASS = 39
OK = b"OK\r\n"


def _int(token: bytes) -> int | None:
    """strtol's whole-token integer (memcached's safe_strtol), None when it is not one."""
    try:
        return int(token)
    except ValueError:
        return None


def _reply(tokens: list[bytes], line: bytes) -> bytes:
    return b"" if tokens[-1] == _NOREPLY and line == OK else line


def slabs(tokens: list[bytes]) -> bytes:
    sub = tokens[1] if len(tokens) > 1 else b""
    if sub == b"automove" and len(tokens) in (3, 4):
        mode = _int(tokens[2])
        if mode is None or mode < 0:
            return BAD_FORMAT
        return _reply(tokens, OK) if mode <= 2 else ERROR
    if sub == b"reassign" and len(tokens) == 4:
        src, dst = _int(tokens[2]), _int(tokens[3])
        if src is None or dst is None:
            return BAD_FORMAT
        if src == dst:
            return b"SAME src and dst class are identical\r\n"
        if not (0 <= src <= _LARGEST_CLASS and 0 <= dst <= _LARGEST_CLASS):
            return b"BADCLASS invalid src or dst class id\r\n"
        return b"NOSPARE source class has no spare pages\r\n"
    return ERROR


def lru(tokens: list[bytes]) -> bytes:
    sub, args = (tokens[1] if len(tokens) > 1 else b""), [t for t in tokens[2:] if t != _NOREPLY]
    if sub == b"tune" and len(args) == 4 and all(_number(a) for a in args):
        return _reply(tokens, OK)
    if sub == b"mode" and len(args) == 1 and args[0] in (b"flat", b"segmented"):
        return _reply(tokens, OK)
    if sub == b"temp_ttl" and len(args) == 1 and _int(args[0]) is not None:
        return _reply(tokens, OK)
    return ERROR


def _number(token: bytes) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def lru_crawler(tokens: list[bytes]) -> bytes:
    sub = tokens[1] if len(tokens) > 1 else b""
    if sub in (b"enable", b"disable") and len(tokens) == 2:
        return OK
    if sub in (b"sleep", b"tocrawl") and len(tokens) == 3:
        n = _int(tokens[2])
        if n is None or n < 0:
            return BAD_FORMAT
        if sub == b"sleep" and n > 1_000_000:
            return b"CLIENT_ERROR sleep must be one second or less\r\n"
        return OK
    if sub in (b"crawl", b"metadump") and len(tokens) == 3:
        if not _class_ids(tokens[2]):
            return b"BADCLASS invalid class id\r\n"
        return OK if sub == b"crawl" else b"CLIENT_ERROR lru crawler disabled\r\n"
    return ERROR


def _class_ids(arg: bytes) -> bool:
    if arg == b"all":
        return True
    ids = [_int(part) for part in arg.split(b",")]
    return all(i is not None and 1 <= i <= _LARGEST_CLASS for i in ids)


#: name -> handler(tokens); memcache.py merges them into its text commands.
COMMANDS = {b"slabs": slabs, b"lru": lru, b"lru_crawler": lru_crawler}


def render_stats(state, args: list[bytes], version: bytes) -> bytes:
    """`stats`, `stats settings`, `stats items`, `stats slabs`, `stats reset`: enough for common
    tools. `state`: the port's ServerState (memcache.py); `version`: what `version` reports."""
    service, config = state.service, state.config
    stats = dict(state.stats)
    total_items = stats.pop("total_items")
    if not args:
        status = _status(service)
        now = time.time()
        usage = os.times()
        rows = [
            ("pid", os.getpid()), ("uptime", int(now - state.started)), ("time", int(now)),
            ("version", version.decode()), ("libevent", "asyncio"), ("pointer_size", 64),
            ("rusage_user", f"{usage.user:.6f}"), ("rusage_system", f"{usage.system:.6f}"),
            ("max_connections", config.max_connections), ("curr_connections", len(state.port.connections)),
            ("total_connections", state.port.stats["total_connections_received"]),
            ("rejected_connections", state.port.stats["rejected_connections"]), *stats.items(),
            ("curr_items", status.get("keys_per_db", [0])[0] if status.get("keys_per_db") else status.get("keys", 0)),
            ("total_items", total_items), ("bytes", status.get("used_bytes", 0)),
            ("limit_maxbytes", service.limits.maxmemory_bytes), ("threads", 1),
            ("evictions", status.get("evicted_keys", 0)),
            ("raftcache_role", status.get("role", "")), ("raftcache_leader_id", status.get("leader_id", "") or "-"),
            ("raftcache_applied_index", status.get("applied_index", 0)),
        ]
    elif args[0] == b"settings":
        rows = [
            ("maxbytes", service.limits.maxmemory_bytes), ("maxconns", config.max_connections),
            ("tcpport", state.port_number), ("udpport", 0), ("verbosity", 0),
            ("evictions", "off" if config.memcached_disable_evictions else "on"),
            ("item_size_max", state.item_max), ("cas_enabled", "yes"), ("num_threads", 1),
            ("flush_enabled", "yes"), ("raftcache_default_read", _status(service).get("default_read", "")),
        ]
    elif args[0] == b"items":
        status = _status(service)
        count = status.get("keys_per_db", [0])[0] if status.get("keys_per_db") else 0
        rows = [("items:1:number", count), ("items:1:age", 0), ("items:1:evicted", status.get("evicted_keys", 0)),
                ("items:1:outofmemory", 0)]
    elif args[0] == b"slabs":
        rows = [("active_slabs", 1), ("total_malloced", _status(service).get("used_bytes", 0))]
    elif args[0] in (b"sizes", b"conns", b"extstore", b"cachedump"):
        rows = []
    elif args[0] == b"detail":   # per-prefix stats: nothing recorded here
        if args[1:] in ([b"on"], [b"off"]):
            return b"OK\r\n"
        if args[1:] == [b"dump"]:
            return b"END\r\n"
        return b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"
    elif args[0] == b"reset":
        for name in state.stats:
            state.stats[name] = 0
        state.port.stats["rejected_connections"] = 0
        return b"RESET\r\n"
    else:
        return ERROR
    lines = [f"STAT {name} {value}\r\n" for name, value in rows]
    lines.append("END\r\n")
    return "".join(lines).encode()


def _status(service) -> dict:
    try:
        return service.status()
    except Exception:  # stats must answer even while the node is still starting
        return {}
