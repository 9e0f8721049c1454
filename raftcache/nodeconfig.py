"""Builds a NodeConfig from flags, RAFTCACHE_* environment variables and a TOML file.

Precedence: flag > environment > TOML file > default. Keys are the flag names
with dashes as underscores (`base_port`, `cluster_secret`, …); `peers` is a
comma-separated string or, in TOML, a list of ID@ZONE=HOST:BASEPORT strings.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Mapping

from raftcache.node.config import (
    FrontendConfig,
    KeyspaceConfig,
    NodeConfig,
    Peer,
    ReplicationConfig,
    ServiceConfig,
)
from raftcache.node.errors import ConfigError

KEYS = (
    "id", "zone", "host", "base_port", "advertise", "peers", "data_dir", "cluster_secret", "appendfsync",
    "maxmemory", "databases", "default_read", "redis_password",
    "role", "restore", "join", "backup_dir", "backup_interval", "backup_keep", "max_log_version",
    "maxmemory_policy", "memcached_item_size_max", "memcached_disable_evictions",
)
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """`512mb`, `2gb`, `1048576` -> bytes (binary units, as Redis's maxmemory)."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ConfigError(f"bad size {text!r}: use e.g. 512mb or 2gb")
    unit = (m[2] or "").lower().rstrip("b").rstrip("i")
    return int(m[1]) * _UNITS[unit]


def _merged(args: argparse.Namespace, env: Mapping[str, str]) -> dict:
    values: dict = {}
    path = getattr(args, "config", None) or env.get("RAFTCACHE_CONFIG")
    if path:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"bad TOML in {path}: {e}") from None
        unknown = set(data) - set(KEYS)
        if unknown:
            raise ConfigError(f"unknown keys in {path}: {', '.join(sorted(unknown))}")
        values.update(data)
    for key in KEYS:
        if f"RAFTCACHE_{key.upper()}" in env:
            values[key] = env[f"RAFTCACHE_{key.upper()}"]
    for key in KEYS:
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    return values


def load(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> NodeConfig:
    v = _merged(args, env)
    try:
        base_port = int(v.get("base_port", 7000))
        databases = int(v.get("databases", 16))
        max_log_version = int(v.get("max_log_version", 0))
    except (TypeError, ValueError):
        raise ConfigError("base_port, databases and max_log_version must be integers") from None
    peers_value = v.get("peers", "")
    specs = peers_value if isinstance(peers_value, list) else [s for s in str(peers_value).split(",") if s.strip()]
    data_dir = os.path.abspath(str(v.get("data_dir", "data")))
    keyspace = KeyspaceConfig(path=os.path.join(data_dir, "keyspace"), databases=databases)
    if "maxmemory" in v:
        keyspace = KeyspaceConfig(
            path=keyspace.path, databases=databases, maxmemory_bytes=parse_size(v["maxmemory"])
        )
    peers = tuple(Peer.parse(s) for s in specs)
    node_id, zone, host = str(v.get("id", "n1")), str(v.get("zone", "a")), str(v.get("host", "127.0.0.1"))
    if str(v.get("role", "voter")) == "replica" and peers and node_id not in {p.id for p in peers}:
        # A read replica is not a voter: --peers lists the voters it follows.
        peers = peers + (Peer(node_id, zone, host, base_port),)
    config = NodeConfig(
        id=node_id,
        zone=zone,
        host=host,
        base_port=base_port,
        advertise=str(v.get("advertise", "") or ""),
        peers=peers,
        keyspace=keyspace,
        replication=ReplicationConfig(
            data_dir=os.path.join(data_dir, "raft"),
            appendfsync=str(v.get("appendfsync", "everysec")),
            cluster_secret=str(v.get("cluster_secret", "")),
            max_log_version=max_log_version,
        ),
        service=ServiceConfig(default_read=str(v.get("default_read", "linearizable")),
                              maxmemory_policy=str(v.get("maxmemory_policy", "volatile-lru")).lower()),
        frontend=FrontendConfig(
            redis_password=str(v.get("redis_password", "")),
            memcached_item_size_max_bytes=parse_size(v.get("memcached_item_size_max", 1 << 20)),
            memcached_evictions=str(v.get("memcached_disable_evictions", "")).lower() not in ("1", "true", "yes", "on"),
        ),
    )
    config.validate()
    return config


def load_operations(args: argparse.Namespace, env: Mapping[str, str] = os.environ):
    """The node's OperationsConfig (role, restore, automatic snapshots) from the same sources."""
    from raftcache.node.ops.backup import BackupSchedule
    from raftcache.node.server import OperationsConfig

    v = _merged(args, env)
    try:
        interval = float(v.get("backup_interval", 3600))
        keep = int(v.get("backup_keep", 24))
    except (TypeError, ValueError):
        raise ConfigError("backup_interval must be a number of seconds and backup_keep an integer") from None
    backup_dir = str(v.get("backup_dir", "") or "")
    ops = OperationsConfig(
        role=str(v.get("role", "voter")),
        restore=os.path.abspath(str(v["restore"])) if v.get("restore") else "",
        join=str(v.get("join", "")).lower() in ("1", "true", "yes", "on"),
        backup=BackupSchedule(dir=os.path.abspath(backup_dir) if backup_dir else "", interval_s=interval, keep=keep),
    )
    ops.validate()
    return ops
