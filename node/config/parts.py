"""NodeConfig and its parts: frozen dataclasses whose fields are the rows of PARAMS.

Each part's fields are the rows of node/config/params.py whose `field` is
`PART.NAME` (NodeConfig's own: a name without a dot), with the row's default;
the classes here add only what the values mean together: validate(), which
raises ConfigError, never `assert` (python -O drops asserts), and derived
values. Configuration is loaded once at start-up (node/config/sources.py)
and each component receives only its own part. Fields are keyword-only.
"""

from __future__ import annotations

import dataclasses
import re

from raftcache import readlevel
from raftcache.node.config.params import PARAMS
from raftcache.node.config.values import (
    EVICTION_POLICIES,
    FSYNC_POLICIES,
    MAX_KEY_BYTES_LIMIT,
    PORT_OFFSETS,
    READ_LEVELS,
    ROLES,
    TLS_PROTOCOLS,
    Peer,
)
from raftcache.node.errors import ConfigError

_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _fields_of(part: str):
    """Class decorator: a frozen, keyword-only dataclass with the rows of `part` as fields."""
    def build(cls):
        rows = [p for p in PARAMS if p.field and p.part == part]
        for p in rows:
            setattr(cls, p.attr, p.default)
        cls.__annotations__ = {**{p.attr: p.type for p in rows}, **cls.__dict__.get("__annotations__", {})}
        return dataclasses.dataclass(frozen=True, kw_only=True)(cls)
    return build


@_fields_of("keyspace")
class KeyspaceConfig:
    """The keyspace and its limits (node/storage/keyspace/, node/commands/statemachine.py)."""

    def effective_map_size(self) -> int:
        if self.map_size_bytes:
            return self.map_size_bytes
        # Page overhead of small records can triple their size; copies on
        # write need room for a second version of touched pages.
        return max(4 * self.maxmemory_bytes + (256 << 20), 512 << 20)

    def validate(self) -> None:
        if not 1 <= self.databases <= 1024:
            raise ConfigError("databases must be between 1 and 1024")
        if self.maxmemory_bytes < 1 << 20:
            raise ConfigError("maxmemory must be at least 1 MiB")
        if not 1 <= self.max_key_bytes <= MAX_KEY_BYTES_LIMIT:
            raise ConfigError(f"max_key_bytes must be between 1 and {MAX_KEY_BYTES_LIMIT}")
        if not 1 <= self.max_value_bytes <= 1 << 30:
            raise ConfigError("max_value_bytes must be between 1 byte and 1 GiB")
        if self.map_size_bytes and self.map_size_bytes < 2 * self.maxmemory_bytes:
            raise ConfigError("map_size_bytes must be at least twice maxmemory")


@_fields_of("replication")
class ReplicationConfig:
    """Raft: the journal, timing, compaction and the Raft port's limits (node/raft/)."""

    def validate(self) -> None:
        if self.max_log_version < 0:
            raise ConfigError("max_log_version must be 0 (all this binary supports) or a version number")
        if self.appendfsync not in FSYNC_POLICIES:
            raise ConfigError(f"appendfsync must be one of {', '.join(FSYNC_POLICIES)}")
        if not self.cluster_secret:
            raise ConfigError("a cluster secret is required (--cluster-secret or RAFTCACHE_CLUSTER_SECRET)")
        if not 0 <= self.lease_drift < 1:
            raise ConfigError("lease_drift must be within [0, 1)")
        if not 0 < self.election_timeout_min_s < self.election_timeout_max_s:
            raise ConfigError("election timeouts must satisfy 0 < min < max")
        if self.heartbeat_s * 3 > self.election_timeout_min_s:
            raise ConfigError("heartbeat_s must be well under a third of the election timeout")
        if self.leader_fallback_s <= self.election_timeout_min_s:
            raise ConfigError("leader_fallback_s must exceed the minimum election timeout")
        if self.proposal_timeout_s <= 0:
            raise ConfigError("proposal_timeout_s must be positive")
        if not 256 <= self.peer_first_frame_max_bytes <= self.peer_frame_max_bytes:
            raise ConfigError("peer frame limits must satisfy 256 <= first frame <= frame")
        if self.peer_frame_max_bytes < 4 << 20 or self.peer_frame_max_bytes >= 1 << 31:
            raise ConfigError("peer_frame_max_bytes must be in [4 MiB, 2 GiB) (a node sends ~1.1 MiB frames)")
        if not 1 <= self.peer_max_pending <= self.peer_max_connections:
            raise ConfigError("peer connection caps must satisfy 1 <= pending <= connections")
        if self.peer_auth_timeout_s <= 0:
            raise ConfigError("peer_auth_timeout_s must be positive")


@_fields_of("service")
class ServiceConfig:
    """How the service serves requests (node/service/service.py)."""

    def validate(self) -> None:
        try:
            level = readlevel.parse(self.default_read)[0]
        except readlevel.ReadLevelError as e:
            raise ConfigError(f"default read level: {e}") from None
        if level not in READ_LEVELS:
            raise ConfigError("the default read level must be linearizable, lease, bounded:<ms> or any")
        if self.request_timeout_s <= 0:
            raise ConfigError("request_timeout_s must be positive")
        if self.expiry_interval_s <= 0 or self.expiry_batch <= 0:
            raise ConfigError("expiry interval and batch must be positive")
        if self.maxmemory_policy not in EVICTION_POLICIES:
            raise ConfigError(f"maxmemory policy must be one of {', '.join(EVICTION_POLICIES)}")


@_fields_of("frontend")
class FrontendConfig:
    """The Redis and memcached ports (node/frontends/resp.py, memcache.py)."""

    def validate(self) -> None:
        if self.memcached_item_size_max_bytes < 1024:
            raise ConfigError("item_size_max must be at least 1 KiB")


@_fields_of("tls")
class TlsConfig:
    """TLS of every client port (Redis, memcached, gRPC, HTTP) and of node-to-node gRPC,
    with Redis's parameter names (node/service/tls.py). Configured = TLS only."""

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file or self.key_file)

    def validate(self) -> None:
        if not self.enabled:
            if self.plaintext_port_offset:
                raise ConfigError("--tls-plaintext-port-offset needs TLS (--tls-cert-file, --tls-key-file): "
                                  "without it every port is plaintext already")
            return
        if not (self.cert_file and self.key_file):
            raise ConfigError("TLS needs both --tls-cert-file and --tls-key-file")
        if self.auth_clients != "no" and not (self.ca_cert_file or self.ca_cert_dir):
            raise ConfigError("--tls-auth-clients yes|optional needs --tls-ca-cert-file or --tls-ca-cert-dir")
        unknown = set(self.protocols.split()) - set(TLS_PROTOCOLS)
        if unknown:
            raise ConfigError(f"--tls-protocols: unknown {' '.join(sorted(unknown))} (use TLSv1.2 and/or TLSv1.3)")
        if self.reload_interval_s <= 0:
            raise ConfigError("the TLS reload interval must be positive")
        if self.replication == "yes" and not (self.ca_cert_file or self.ca_cert_dir):
            raise ConfigError("--tls-replication yes (the default with TLS) needs --tls-ca-cert-file or "
                              "--tls-ca-cert-dir to check the peers' certificates (or --tls-replication no)")

    @property
    def peers_use_tls(self) -> bool:
        """The Raft port speaks mutual TLS (`--tls-replication yes` with TLS configured)."""
        return self.enabled and self.replication == "yes"


@_fields_of("backup")
class BackupConfig:
    """Automatic snapshots of one node (node/ops/backup.py); no dir = none."""

    def validate(self) -> None:
        if self.dir and self.interval_s < 1:
            raise ConfigError("backup interval must be at least 1 second")
        if self.keep < 1:
            raise ConfigError("backup retention (keep) must be at least 1")


@_fields_of("")
class NodeConfig:
    """One node: who it is, its members, how it takes part (role, restore, join), and its parts."""

    keyspace: KeyspaceConfig = dataclasses.field(default_factory=KeyspaceConfig)
    replication: ReplicationConfig = dataclasses.field(default_factory=ReplicationConfig)
    service: ServiceConfig = dataclasses.field(default_factory=ServiceConfig)
    frontend: FrontendConfig = dataclasses.field(default_factory=FrontendConfig)
    backup: BackupConfig = dataclasses.field(default_factory=BackupConfig)
    tls: TlsConfig = dataclasses.field(default_factory=TlsConfig)

    @classmethod
    def from_fields(cls, values: dict[str, object]) -> "NodeConfig":
        """A NodeConfig from {field: value} (fields as PARAMS names them); the others keep their defaults."""
        parts: dict[str, dict[str, object]] = {}
        for name, value in values.items():
            part, _, attr = name.rpartition(".")
            parts.setdefault(part, {})[attr] = value
        own = parts.pop("", {})
        return cls(**own, **{part: _PARTS[part](**fields) for part, fields in parts.items()})

    def value(self, field: str) -> object:
        """The value of a field as PARAMS names it, e.g. "keyspace.maxmemory_bytes"."""
        part, _, attr = field.rpartition(".")
        return getattr(getattr(self, part) if part else self, attr)

    @property
    def self_peer(self) -> Peer:
        return Peer(self.id, self.zone, self.host, self.base_port)

    @property
    def advertised_peer(self) -> Peer:
        """This node as clients outside its network reach it (--advertise), else self_peer."""
        if not self.advertise:
            return self.self_peer
        host, _, port = self.advertise.rpartition(":")
        return Peer(self.id, self.zone, host, int(port))

    @property
    def members(self) -> tuple[Peer, ...]:
        """Every voting member; a node started with no peers is a one-node cluster."""
        return self.peers or (self.self_peer,)

    def port(self, kind: str) -> int:
        return self.base_port + PORT_OFFSETS[kind]

    def validate(self) -> None:
        if not _NODE_ID.match(self.id):
            raise ConfigError(f"bad node id {self.id!r}: letters, digits, '_', '.', '-'")
        if not 1 <= self.base_port <= 65535 - max(PORT_OFFSETS.values()):
            raise ConfigError("base port out of range")
        if self.advertise:
            host, _, port = self.advertise.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535 - max(PORT_OFFSETS.values()):
                raise ConfigError(f"bad --advertise {self.advertise!r}: use HOST:BASEPORT, e.g. localhost:7010")
        ids = [p.id for p in self.members]
        if len(set(ids)) != len(ids):
            raise ConfigError("peer ids must be unique")
        if self.id not in ids:
            raise ConfigError(f"this node ({self.id}) must be one of the peers")
        me = next(p for p in self.members if p.id == self.id)
        if (me.host, me.base_port) != (self.host, self.base_port):
            raise ConfigError(f"peer entry for {self.id} does not match --host/--base-port")
        if self.shard < 0 or bool(self.shard) != bool(self.cluster_map):
            raise ConfigError("cluster mode needs both --shard (1..S) and --cluster-map, or neither")
        if self.role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}")
        for part in _PARTS:
            getattr(self, part).validate()
        if self.frontend.memcached_item_size_max_bytes > self.keyspace.max_value_bytes:
            raise ConfigError(f"memcached item size max must not exceed the value limit "
                              f"({self.keyspace.max_value_bytes} bytes)")

    def replace(self, **changes) -> "NodeConfig":
        return dataclasses.replace(self, **changes)


#: NodeConfig's parts: name (as PARAMS prefixes their fields) -> class.
_PARTS = {f.name: f.default_factory for f in dataclasses.fields(NodeConfig)
          if f.default_factory is not dataclasses.MISSING}
