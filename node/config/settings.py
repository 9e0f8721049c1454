"""Runtime parameters (CONFIG GET/SET): the rows of PARAMS with a CONFIG name,
how values are checked, and which the cluster changes together through the log.

Three kinds of parameter (a row's `kind`):

- ``cluster``: raftcache's own, with an effect. CONFIG SET proposes one
  `ConfigSet` log entry; every replica validates it again (the same pure
  function), stores it in the keyspace's meta table (snapshots and backups
  carry it) and switches at the same log index. `maxmemory` and
  `proto-max-bulk-len` are enforced at apply, so replicas must agree on
  them; `maxmemory-policy`, `maxmemory-samples`, `lfu-log-factor` and
  `lfu-decay-time` steer the leader's evictions (node/service/evictor.py);
  `requirepass` (the default user's password: node/commands/acl_store.py),
  `timeout`, `maxclients`, `raftcache-default-read`
  and the client buffer limits (`client-query-buffer-limit`,
  `client-output-buffer-limit`, `maxmemory-clients`: see
  node/frontends/client_limits.py) affect each node's front ends.
- ``tuning``: Redis's knobs that mean nothing here (encodings, `save`, `hz`,
  …): replicated the same way, stored and reported back, no effect.
- ``fixed``: set by the node's configuration at start (`databases`,
  `appendfsync`, …); CONFIG SET refuses a different value.
- ``node``: this node's diagnostics (`slowlog-*`, `latency-*`): CONFIG SET
  checks them with `check_local` and changes them on the node it is sent to,
  as each Redis server has its own; nothing goes through the log.

Must not import grpc, lmdb or pysyncobj: the state machine calls `validate`
(tests/unit/test_config.py checks what importing this package loads).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from raftcache.node.config.params import BY_CONFIG, Param
from raftcache.node.config.parts import NodeConfig
from raftcache.node.config.values import (
    SettingError, any_text, int_within, memory_at_least, only_noeviction, parse_output_limits, spell_output_limits,
)

#: The smallest maxmemory CONFIG SET took before log version 19 (commands.ANY_MAXMEMORY_VERSION).
MAXMEMORY_MIN_BEFORE_19 = 1 << 20

#: Every CONFIG parameter, by name.
SETTINGS: dict[str, Param] = BY_CONFIG
DEFAULT_OUTPUT_LIMITS: str = SETTINGS["client-output-buffer-limit"].default


#: Node-local parameters that older releases replicated as `tuning` ones: a ConfigSet entry
#: naming them (proposed by an older node) is still applied as it was (any text, no effect).
WAS_TUNING = ("slowlog-log-slower-than", "slowlog-max-len", "latency-monitor-threshold")
#: The node-local parameters, by name.
NODE_LOCAL = frozenset(name for name, p in SETTINGS.items() if p.kind == "node")


#: The eviction tunables: their checks before the log's semantics version with eviction took any text.
EVICTION_TUNABLES = ("maxmemory-samples", "lfu-log-factor", "lfu-decay-time")


def validate(name: str, value: str, current: str | None = None, before_eviction: bool = False,
             any_maxmemory: bool = True) -> str:
    """The normalised value CONFIG SET stores for `name`, or SettingError.

    Pure (the state machine runs it at apply): `current` is the node's value
    of a fixed parameter, which may only be "set" to what it already is.
    `before_eviction`: the change is applied under a log semantics version
    older than eviction, whose replicas accepted only `noeviction` and took
    any text for the eviction tunables: every replica must store the same.
    `any_maxmemory=False`: the version is older than the one that takes any maxmemory
    (commands.ANY_MAXMEMORY_VERSION), whose replicas refused one under 1 MiB.
    """
    param = SETTINGS.get(name)
    if name == "maxmemory" and not any_maxmemory:
        return memory_at_least(MAXMEMORY_MIN_BEFORE_19)(value)
    if before_eviction and name == "maxmemory-policy":
        return only_noeviction(value)
    if before_eviction and name in EVICTION_TUNABLES:
        return any_text(value)
    if param is None:
        raise SettingError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
    if param.kind == "node":  # only in an entry an older node proposed (see WAS_TUNING)
        if name in WAS_TUNING:
            return any_text(value)
        raise SettingError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
    if param.kind == "fixed":
        if current is not None and value == current:
            return value
        raise SettingError(f"raftcache sets '{name}' in the node configuration (restart the node to change it)")
    return param.check(value)


def check_local(name: str, value: str) -> str:
    """The normalised value of a node-local parameter, or SettingError."""
    return SETTINGS[name].check(value)


def requirepass_rules(value: str) -> list[bytes]:
    """`requirepass` as ACL rules for the default user (Redis: it is that user's password):
    "" -> nopass, else the password's SHA-256 only. Pure: proposers and apply share it."""
    if not value:
        return [b"nopass"]
    return [b"resetpass", b"#" + hashlib.sha256(value.encode()).hexdigest().encode()]


def merge_output_limits(current: str, change: str) -> str:
    """CONFIG SET of some classes keeps the others, as in Redis: the full normalised value."""
    merged = parse_output_limits(current or DEFAULT_OUTPUT_LIMITS)
    merged.update(parse_output_limits(change))
    return spell_output_limits(merged)


def node_defaults(config: NodeConfig) -> dict[str, str]:
    """Every parameter's value before any CONFIG SET, from a NodeConfig."""
    return {name: p.show(config.value(p.field) if p.field else p.default) for name, p in SETTINGS.items()}


def eviction_number(values: Mapping[str, str], name: str) -> int:
    """An eviction tunable as an int: its default when the stored value is not one
    (set under a log version that took any text for it)."""
    try:
        return int(int_within(0, 2**31 - 1)(values.get(name, SETTINGS[name].default)))
    except SettingError:
        return int(SETTINGS[name].default)


def effective(defaults: Mapping[str, str], replicated: Mapping[str, str]) -> dict[str, str]:
    """The values in force on a node: its defaults overlaid with the cluster's CONFIG SETs
    (a node-local parameter an older release replicated keeps the node's own value)."""
    return {**defaults, **{k: v for k, v in replicated.items() if k not in NODE_LOCAL}}
