"""Runtime parameters (CONFIG GET/SET): which exist, how values are checked,
and which the cluster changes together through the log.

Three kinds of parameter:

- ``cluster``: raftcache's own, with an effect. CONFIG SET proposes one
  `ConfigSet` log entry; every replica validates it again (the same pure
  function), stores it in the keyspace's meta table (snapshots and backups
  carry it) and switches at the same log index. `maxmemory` and
  `proto-max-bulk-len` are enforced at apply, so replicas must agree on
  them; `requirepass`, `timeout`, `maxclients`, `raftcache-default-read`
  and the client buffer limits (`client-query-buffer-limit`,
  `client-output-buffer-limit`, `maxmemory-clients`: see
  node/frontends/client_limits.py) affect each node's front ends;
  `hll-sparse-max-bytes` decides HyperLogLog encodings at apply.
- ``tuning``: Redis's knobs that mean nothing here (encodings, `save`, `hz`,
  …): replicated the same way, stored and reported back, no effect.
- ``fixed``: set by the node's configuration at start (`databases`,
  `appendfsync`, …); CONFIG SET refuses a different value.

Must not import grpc, lmdb or pysyncobj: the state machine calls `validate`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping

from raftcache.node.consistency import ReadConsistency

#: Largest value `proto-max-bulk-len` may take (Redis's default). One entry of that
#: size holds the Raft thread for many seconds: see docs/redis-compat.md "limits".
MAX_BULK_LIMIT = 512 << 20
_MEMORY = re.compile(r"^(\d+)(b|k|kb|m|mb|g|gb)?$")
_UNITS = {None: 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


class SettingError(ValueError):
    """A value CONFIG SET refuses; the text says why."""


def parse_memory(text: str) -> int:
    """Redis's memory notation: 1048576, 100mb, 1gb, 5k (k = 1000, kb = 1024)."""
    m = _MEMORY.match(text.strip().lower())
    if m is None:
        raise SettingError("argument must be a memory value")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _memory_at_least(minimum: int) -> Callable[[str], str]:
    def check(text: str) -> str:
        n = parse_memory(text)
        if n and n < minimum:
            raise SettingError(f"argument must be 0 or at least {minimum} bytes")
        return str(n)
    return check


def _bulk_len(text: str) -> str:
    n = parse_memory(text)
    if not (1 << 20) <= n <= MAX_BULK_LIMIT:
        raise SettingError(f"argument must be between {1 << 20} and {MAX_BULK_LIMIT} bytes")
    return str(n)


def _query_buffer_limit(text: str) -> str:
    n = parse_memory(text)
    if n < 1 << 20:
        raise SettingError(f"argument must be at least {1 << 20} bytes")
    return str(n)


def _non_negative_int(text: str) -> str:
    try:
        n = int(text)
    except ValueError:
        raise SettingError("argument couldn't be parsed into an integer") from None
    if n < 0:
        raise SettingError("argument must be a non-negative integer")
    return str(n)


def _positive_int(text: str) -> str:
    n = int(_non_negative_int(text))
    if n < 1:
        raise SettingError("argument must be at least 1")
    return str(n)


def _read_level(text: str) -> str:
    try:
        level = ReadConsistency.parse(text)
    except ValueError as e:
        raise SettingError(str(e)) from None
    if level.level == "min_index":
        raise SettingError("min_index is a per-request level, not a default")
    return str(level)


def _eviction_policy(text: str) -> str:
    if text.lower() != "noeviction":
        raise SettingError("raftcache supports only 'noeviction' (writes get OOM at maxmemory)")
    return "noeviction"


def _any(text: str) -> str:
    return text


#: Redis's client classes of `client-output-buffer-limit`, as CONFIG GET shows them.
OUTPUT_CLASSES = ("normal", "slave", "pubsub")
_CLASS_ALIASES = {"normal": "normal", "slave": "slave", "replica": "slave", "pubsub": "pubsub"}
DEFAULT_OUTPUT_LIMITS = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"


def parse_output_limits(text: str) -> dict[str, tuple[int, int, int]]:
    """`<class> <hard> <soft> <soft seconds>` groups -> {class: (hard_bytes, soft_bytes, soft_s)}."""
    words = text.split()
    if not words or len(words) % 4:
        raise SettingError("wrong number of arguments in buffer limit configuration.")
    out: dict[str, tuple[int, int, int]] = {}
    for i in range(0, len(words), 4):
        name = _CLASS_ALIASES.get(words[i].lower())
        if name is None:
            raise SettingError("Invalid client class specified in buffer limit configuration.")
        hard, soft = parse_memory(words[i + 1]), parse_memory(words[i + 2])
        try:
            soft_s = int(words[i + 3])
        except ValueError:
            raise SettingError("Error in soft_seconds setting in buffer limit configuration.") from None
        if soft_s < 0:
            raise SettingError("Error in soft_seconds setting in buffer limit configuration.")
        out[name] = (hard, soft, soft_s)
    return out


def merge_output_limits(current: str, change: str) -> str:
    """CONFIG SET of some classes keeps the others, as in Redis: the full normalised value."""
    merged = parse_output_limits(current or DEFAULT_OUTPUT_LIMITS)
    merged.update(parse_output_limits(change))
    return " ".join(f"{c} {merged[c][0]} {merged[c][1]} {merged[c][2]}" for c in OUTPUT_CLASSES if c in merged)


def _output_limits(text: str) -> str:
    limits = parse_output_limits(text)
    return " ".join(f"{c} {limits[c][0]} {limits[c][1]} {limits[c][2]}" for c in OUTPUT_CLASSES if c in limits)


def parse_maxmemory_clients(text: str, maxmemory_bytes: int) -> int:
    """`maxmemory-clients` in bytes: a memory value, or `N%` of maxmemory; 0 = off."""
    text = text.strip()
    if text.endswith("%"):
        try:
            percent = int(text[:-1])
        except ValueError:
            raise SettingError("argument must be a memory or percent value") from None
        if not 0 <= percent <= 100:
            raise SettingError("percentage argument must be between 0 and 100")
        return maxmemory_bytes * percent // 100
    return parse_memory(text)


def _maxmemory_clients(text: str) -> str:
    parse_maxmemory_clients(text, 1)
    return text.strip().lower() if text.strip().endswith("%") else str(parse_memory(text))


@dataclasses.dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str                               # "cluster" | "tuning" | "fixed"
    check: Callable[[str], str] = _any      # normalises a value or raises SettingError


_CLUSTER = [
    Param("maxmemory", "cluster", _memory_at_least(1 << 20)),
    Param("proto-max-bulk-len", "cluster", _bulk_len),
    Param("requirepass", "cluster"),
    Param("timeout", "cluster", _non_negative_int),
    Param("maxclients", "cluster", _positive_int),
    Param("raftcache-default-read", "cluster", _read_level),
    Param("maxmemory-policy", "cluster", _eviction_policy),
    Param("client-query-buffer-limit", "cluster", _query_buffer_limit),
    Param("client-output-buffer-limit", "cluster", _output_limits),
    Param("maxmemory-clients", "cluster", _maxmemory_clients),
    Param("hll-sparse-max-bytes", "cluster", _memory_at_least(0)),
]
#: Defaults of the client buffer limits (node/frontends/client_limits.py applies them).
CLIENT_LIMIT_DEFAULTS = {
    "client-query-buffer-limit": str(1 << 30),   # Redis's 1gb, capped at use by proto-max-bulk-len
    "client-output-buffer-limit": DEFAULT_OUTPUT_LIMITS,
    "maxmemory-clients": "25%",                  # of maxmemory; Redis's default is 0 (off)
}
_FIXED = ["databases", "appendonly", "appendfsync", "appendfilename", "dir", "bind", "port"]
#: Redis's tuning parameters and their Redis defaults: accepted, reported back, no effect.
TUNING_DEFAULTS = {
    "save": "", "tcp-keepalive": "300",
    "hash-max-listpack-entries": "512", "hash-max-listpack-value": "64",
    "hash-max-ziplist-entries": "512", "hash-max-ziplist-value": "64",
    "list-max-listpack-size": "-2", "list-max-ziplist-size": "-2", "list-compress-depth": "0",
    "set-max-intset-entries": "512", "set-max-listpack-entries": "128", "set-max-listpack-value": "64",
    "zset-max-listpack-entries": "128", "zset-max-listpack-value": "64",
    "zset-max-ziplist-entries": "128", "zset-max-ziplist-value": "64",
    "activerehashing": "yes", "lazyfree-lazy-eviction": "no", "lazyfree-lazy-expire": "no",
    "lazyfree-lazy-server-del": "no", "lazyfree-lazy-user-del": "no", "lazyfree-lazy-user-flush": "no",
    "hz": "10", "dynamic-hz": "yes", "slowlog-log-slower-than": "10000", "slowlog-max-len": "128",
    "latency-monitor-threshold": "0", "notify-keyspace-events": "", "maxmemory-samples": "5",
    "lfu-log-factor": "10", "lfu-decay-time": "1", "loglevel": "notice", "protected-mode": "no",
    "min-replicas-to-write": "0", "min-replicas-max-lag": "10", "replica-read-only": "yes",
    "stop-writes-on-bgsave-error": "no", "rdbcompression": "yes", "busy-reply-threshold": "5000",
    "lua-time-limit": "5000", "close-on-oom": "no", "enable-debug-command": "no",
}

PARAMS: dict[str, Param] = {
    **{p.name: p for p in _CLUSTER},
    **{name: Param(name, "tuning") for name in TUNING_DEFAULTS},
    **{name: Param(name, "fixed") for name in _FIXED},
}


def validate(name: str, value: str, current: str | None = None) -> str:
    """The normalised value CONFIG SET stores for `name`, or SettingError.

    Pure (the state machine runs it at apply): `current` is the node's value
    of a fixed parameter, which may only be "set" to what it already is.
    """
    param = PARAMS.get(name)
    if param is None:
        raise SettingError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
    if param.kind == "fixed":
        if current is not None and value == current:
            return value
        raise SettingError(f"raftcache sets '{name}' in the node configuration (restart the node to change it)")
    return param.check(value)


def node_defaults(config) -> dict[str, str]:
    """Every parameter's value before any CONFIG SET, from a NodeConfig."""
    limits = config.keyspace
    return {
        "maxmemory": str(limits.maxmemory_bytes),
        "proto-max-bulk-len": str(limits.max_value_bytes),
        "requirepass": config.frontend.redis_password,
        "timeout": "0",
        "maxclients": str(config.frontend.max_connections),
        "raftcache-default-read": str(ReadConsistency.parse(config.service.default_read)),
        "maxmemory-policy": "noeviction",
        "databases": str(limits.databases),
        "appendonly": "yes",
        "appendfsync": config.replication.appendfsync,
        "appendfilename": "raft.journal",
        "dir": os.path.abspath(config.replication.data_dir),
        "bind": config.host,
        "port": str(config.port("redis")),
        "hll-sparse-max-bytes": "3000",
        **CLIENT_LIMIT_DEFAULTS,
        **TUNING_DEFAULTS,
    }


def effective(defaults: Mapping[str, str], replicated: Mapping[str, str]) -> dict[str, str]:
    """The values in force on a node: its defaults overlaid with the cluster's CONFIG SETs."""
    return {**defaults, **replicated}
