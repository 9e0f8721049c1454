"""Frozen, typed configuration for every node component, with validate().

One dataclass per component; `NodeConfig` holds them and the cluster's
membership. Configuration is loaded once at start-up (flags, a TOML file,
RAFTCACHE_* environment variables: raftcache.cli builds it) and each
component receives only its own part. validate() raises ConfigError, never
`assert` (python -O drops asserts).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from raftcache import readlevel
from raftcache.node.errors import ConfigError

#: Port offsets from a node's base port (docs/design.md "Ports and processes").
PORT_OFFSETS = {"grpc": 0, "redis": 1, "memcached": 2, "raft": 3, "http": 4}
FSYNC_POLICIES = ("always", "everysec", "no")
READ_LEVELS = ("linearizable", "lease", "bounded", "any")
#: Redis's maxmemory policies (docs/redis-compat.md "Eviction"); volatile-lru is ElastiCache's default.
EVICTION_POLICIES = ("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                     "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")
#: LMDB's key limit (511 bytes) less the prefixes the keyspace adds.
MAX_KEY_BYTES_LIMIT = 500
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Peer:
    """A cluster member as the others reach it; its ports follow PORT_OFFSETS from `base_port`."""

    id: str
    zone: str
    host: str
    base_port: int

    def port(self, kind: str) -> int:
        return self.base_port + PORT_OFFSETS[kind]

    def address(self, kind: str) -> str:
        return f"{self.host}:{self.port(kind)}"

    @classmethod
    def parse(cls, spec: str) -> "Peer":
        """Parse `ID@ZONE=HOST:BASEPORT`, e.g. `n2@b=127.0.0.1:7010`."""
        m = re.fullmatch(r"([^@=\s]+)@([^=\s]+)=([^\s:]+|\[[0-9a-fA-F:]+\]):(\d+)", spec.strip())
        if not m:
            raise ConfigError(f"bad peer {spec!r}: expected ID@ZONE=HOST:BASEPORT")
        return cls(id=m[1], zone=m[2], host=m[3], base_port=int(m[4]))

    def spec(self) -> str:
        return f"{self.id}@{self.zone}={self.host}:{self.base_port}"


@dataclass(frozen=True)
class KeyspaceConfig:
    path: str = "data/keyspace"          # directory of the LMDB environment
    databases: int = 16                  # numbered databases, as Redis's SELECT expects
    maxmemory_bytes: int = 1 << 30       # logical size (keys + values + headers) at which writes get OOM; 0 = 1 GiB
    max_key_bytes: int = 500             # longest key accepted; at most 500 (LMDB keys are <= 511 bytes with our prefixes)
    max_value_bytes: int = 64 << 20      # longest value accepted (Redis's proto-max-bulk-len; Redis: 512 MiB)
    map_size_bytes: int = 0              # LMDB map size; 0 = derived from maxmemory so the map never fills first

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


@dataclass(frozen=True)
class ReplicationConfig:
    data_dir: str = "data"               # journal (the AOF), its .meta, and snapshots live here
    appendfsync: str = "everysec"        # always | everysec | no (see docs/durability.md)
    cluster_secret: str = ""             # required: encrypts and authenticates Raft traffic
    heartbeat_s: float = 0.05            # leader's append-entries period when idle
    tick_s: float = 0.02                 # longest the Raft thread sleeps with nothing to do
    election_timeout_min_s: float = 0.6  # Raft election timeout range
    election_timeout_max_s: float = 1.2
    lease_drift: float = 0.1             # share of election_timeout_min_s a lease gives up to bound clock-rate drift
    connection_retry_s: float = 0.5      # how soon a lost peer connection is retried
    leader_fallback_s: float = 2.0       # a leader without majority contact this long steps down
    compaction_min_entries: int = 50_000  # compact the log when it holds more entries than this…
    compaction_min_s: float = 600.0      # …or this long after the last compaction
    proposal_timeout_s: float = 5.0      # a proposal not committed by then fails with TIMEOUT
    max_log_version: int = 0             # newest log semantics version this node accepts; 0 = all its binary knows
    # Raft port limits (node/raft/peer_guard.py, node/raft/raft_wire.py; docs/operations.md "Raft port limits")
    peer_first_frame_max_bytes: int = 4096     # a connection's first message, before it authenticated
    peer_frame_max_bytes: int = 32 << 20       # any later message (a node sends <= ~1.1 MiB)
    peer_max_connections: int = 32             # incoming Raft connections; excess closed at accept
    peer_max_pending: int = 16                 # of which not yet authenticated and identified
    peer_auth_timeout_s: float = 5.0           # a pending connection is closed after this long

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


@dataclass(frozen=True)
class ServiceConfig:
    default_read: str = "linearizable"   # read level when a request names none (see docs/consistency.md)
    request_timeout_s: float = 5.0       # total time a request may wait for a leader, commit or barrier
    expiry_interval_s: float = 0.1       # how often the leader looks for expired keys
    expiry_batch: int = 200              # most keys deleted by one active-expiry proposal
    maxmemory_policy: str = "volatile-lru"  # until CONFIG SET maxmemory-policy (one of EVICTION_POLICIES)

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


@dataclass(frozen=True)
class FrontendConfig:
    redis_password: str = ""             # AUTH password for the Redis port; empty = no auth
    memcached_item_size_max_bytes: int = 1 << 20   # memcached's item_size_max (-I)
    memcached_evictions: bool = True     # False: memcached's -M (a full cache refuses sets instead of evicting)
    max_connections: int = 10_000

    def validate(self) -> None:
        if self.memcached_item_size_max_bytes < 1024:
            raise ConfigError("item_size_max must be at least 1 KiB")


@dataclass(frozen=True)
class NodeConfig:
    id: str = "n1"
    zone: str = "a"
    host: str = "127.0.0.1"              # address this node binds (and its peers reach it at)
    base_port: int = 7000                # ports: base + PORT_OFFSETS
    advertise: str = ""                  # HOST:BASEPORT clients reach this node at (topology); "" = host:base_port
    peers: tuple[Peer, ...] = ()         # every voting member, this node included
    keyspace: KeyspaceConfig = field(default_factory=KeyspaceConfig)
    replication: ReplicationConfig = field(default_factory=ReplicationConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)

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
        for part in (self.keyspace, self.replication, self.service, self.frontend):
            part.validate()
        if self.frontend.memcached_item_size_max_bytes > self.keyspace.max_value_bytes:
            raise ConfigError(f"memcached item size max must not exceed the value limit "
                              f"({self.keyspace.max_value_bytes} bytes)")

    def replace(self, **changes) -> "NodeConfig":
        return dataclasses.replace(self, **changes)
