"""Where a node's configuration comes from: `raftcache node` flags, RAFTCACHE_*
environment variables and a TOML file, for every row of PARAMS with a key.

Precedence: flag > environment > TOML file > default. Keys are the flag names
with dashes as underscores (`base_port`, `cluster_secret`, …); `peers` is a
comma-separated string or, in TOML, a list of ID@ZONE=HOST:BASEPORT strings.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping

from raftcache.node.config.params import BY_KEY, Param
from raftcache.node.config.parts import NodeConfig
from raftcache.node.config.values import Peer
from raftcache.node.errors import ConfigError

#: The keys a TOML file may hold.
TOML_KEYS = tuple(key for key, p in BY_KEY.items() if p.toml)


def add_flags(parser: argparse.ArgumentParser) -> None:
    """`raftcache node`'s flags: one per keyed row, unset (None) unless given."""
    for p in BY_KEY.values():
        options: dict = {"help": p.help}
        if p.type is bool:
            options.update(action="store_const", const=True, default=None)
        else:
            if p.type in (int, float) and p.parse is None:
                options["type"] = p.type
            if p.metavar:
                options["metavar"] = p.metavar
            if p.choices:
                options["choices"] = list(p.choices)
        parser.add_argument(p.flag, **options)


def _read_toml(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"bad TOML in {path}: {e}") from None
    unknown = set(data) - set(TOML_KEYS)
    if unknown:
        raise ConfigError(f"unknown keys in {path}: {', '.join(sorted(unknown))}")
    return data


def _given(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, object]:
    """key -> what was given for it, the source of highest precedence winning."""
    values: dict[str, object] = {}
    path = getattr(args, "config", None) or env.get(BY_KEY["config"].env)
    if path:
        values.update(_read_toml(path))
    for key, p in BY_KEY.items():
        if p.env in env:
            values[key] = env[p.env]
    for key in BY_KEY:
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    return values


def _value(p: Param, given: Mapping[str, object]) -> object:
    text = given.get(p.key, p.default)
    try:
        return p.value_of(text)
    except (TypeError, ValueError):
        raise ConfigError(p.error or f"bad {p.key}: {text!r}") from None


def load(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> NodeConfig:
    """The node's configuration from its flags (`args`), `env` and the TOML file they name; validated."""
    given = _given(args, env)
    fields = {p.field: _value(p, given) for p in BY_KEY.values() if p.field}
    data_dir = _value(BY_KEY["data_dir"], given)
    fields["keyspace.path"] = os.path.join(data_dir, "keyspace")
    fields["replication.data_dir"] = os.path.join(data_dir, "raft")
    peers = fields["peers"]
    if fields["role"] == "replica" and peers and fields["id"] not in {p.id for p in peers}:
        # A read replica is not a voter: --peers lists the voters it follows.
        fields["peers"] = peers + (Peer(fields["id"], fields["zone"], fields["host"], fields["base_port"]),)
    config = NodeConfig.from_fields(fields)
    config.validate()
    return config
