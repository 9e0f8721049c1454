"""Client options and read-consistency levels (docs/client.md, docs/consistency.md).

`ClientOptions` is frozen and validated once; `ReadLevel` names how fresh a
read must be, and decides whether the leader must serve it. No I/O.
"""

from __future__ import annotations

import dataclasses

import grpc
from raftcache import readlevel
from raftcache.client.auth import TLSConfig, basic_metadata
from raftcache.client.errors import ConfigError
from raftcache.client.retry import RetryPolicy
from raftcache.proto import cache_pb2

_LEVELS = {
    "": cache_pb2.ReadConsistency.DEFAULT,
    "linearizable": cache_pb2.ReadConsistency.LINEARIZABLE,
    "lease": cache_pb2.ReadConsistency.LEASE,
    "bounded": cache_pb2.ReadConsistency.BOUNDED,
    "any": cache_pb2.ReadConsistency.ANY,
    "min_index": cache_pb2.ReadConsistency.MIN_INDEX,
}
#: Levels any node may serve (the rest are served by the leader; a follower would forward).
_ANY_NODE = {"bounded", "any", "min_index"}


@dataclasses.dataclass(frozen=True, slots=True)
class ReadLevel:
    """A read consistency level: `linearizable`, `lease`, `bounded:<ms>`, `any`, `min_index:<n>`,
    or "" for the node's configured default (served by the leader)."""

    level: str = ""
    bound_ms: int = 0
    min_index: int = 0

    @classmethod
    def parse(cls, value: str | ReadLevel | None) -> ReadLevel:
        if value is None:
            return DEFAULT_LEVEL
        if isinstance(value, ReadLevel):
            return value
        try:
            level, bound_ms, min_index = readlevel.parse(str(value))
        except readlevel.ReadLevelError as e:
            raise ConfigError(str(e)) from None
        return cls(level, bound_ms=bound_ms, min_index=min_index)

    @property
    def any_node(self) -> bool:
        """True when a follower may serve the read locally (so the client may pick a near node)."""
        return self.level in _ANY_NODE

    def with_min_index(self, index: int) -> ReadLevel:
        """For sessions: a min_index read at `index`, unless this level is linearizable or lease
        (served by the leader, which has every acknowledged write anyway)."""
        if self.level in ("linearizable", "lease"):
            return self
        return ReadLevel("min_index", min_index=max(index, self.min_index))

    def to_proto(self, out: cache_pb2.ReadConsistency) -> None:
        out.level = _LEVELS[self.level]
        out.bound_ms = self.bound_ms
        out.min_index = self.min_index

    def __str__(self) -> str:
        return readlevel.spell(self.level, self.bound_ms, self.min_index)


DEFAULT_LEVEL = ReadLevel()


@dataclasses.dataclass(frozen=True)
class ClientOptions:
    """Everything a Client/AsyncClient is configured with (all have defaults but `seeds`)."""

    seeds: tuple[str, ...] = ()                 # gRPC endpoints "host:port" to discover the cluster from
    zone: str | None = None                     # the caller's zone; reads that any node may serve prefer it
    read_consistency: str | ReadLevel | None = None  # default level of reads; None = the node's default (leader)
    db: int = 0                                 # numbered database of every command
    decode_responses: bool = False              # return str (decoded with `encoding`) instead of bytes
    encoding: str = "utf-8"
    timeout_s: float = 15.0                     # overall deadline of one call, retries included
    attempt_timeout_s: float = 6.0              # deadline of one attempt (> the server's 5 s request timeout)
    connect_timeout_s: float = 2.0              # deadline of one topology query
    topology_refresh_s: float = 30.0            # re-read the topology this often while calls are made; 0 = only on errors
    retry: RetryPolicy = RetryPolicy()
    node_down_s: float = 1.0                    # route around a node that refused a connection for this long
    credentials: grpc.ChannelCredentials | None = None  # TLS channel credentials; None = plaintext (or `tls`)
    metadata: tuple[tuple[str, str], ...] = ()  # sent with every call
    username: str | None = None                 # ACL user (None with a password: the default user)
    password: str | None = None                 # its password; None = no credentials (docs/security.md)
    tls: TLSConfig | None = None                # TLS to the nodes (client/auth.py); or pass `credentials`
    channel_options: tuple[tuple[str, object], ...] = ()  # extra grpc channel options
    client_id: str | None = None                # None = random per client (the dedup identity of writes)
    near_cache: int = 0                         # GET results kept in process, at most this many (0 = off); see near_cache.py
    cluster_secret: str | None = None           # sent only with the operator calls that need it (client.admin)

    def validate(self) -> None:
        if not self.seeds:
            raise ConfigError("at least one seed endpoint (host:port) is required")
        for seed in self.seeds:
            if not isinstance(seed, str) or ":" not in seed:
                raise ConfigError(f"bad seed endpoint {seed!r}: expected host:port")
        ReadLevel.parse(self.read_consistency)
        if self.db < 0:
            raise ConfigError("db must be >= 0")
        for name in ("timeout_s", "attempt_timeout_s", "connect_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.topology_refresh_s < 0 or self.node_down_s < 0:
            raise ConfigError("topology_refresh_s and node_down_s must be >= 0")
        if self.near_cache < 0:
            raise ConfigError("near_cache must be >= 0 (0 = off)")
        if self.client_id is not None and not self.client_id:
            raise ConfigError("client_id must be non-empty (or None for a random one)")
        if self.username is not None and self.password is None:
            raise ConfigError("a username needs a password")
        if self.tls is not None and self.credentials is not None:
            raise ConfigError("pass tls= or credentials=, not both")
        self.retry.validate()

    def grpc_settings(self) -> tuple[grpc.ChannelCredentials | None, tuple, tuple]:
        """(channel credentials, metadata of every call, channel options) from these options."""
        credentials = self.tls.channel_credentials() if self.tls is not None else self.credentials
        metadata = tuple(self.metadata)
        if self.password is not None:
            metadata += (basic_metadata(self.username, self.password),)
        options = tuple(self.channel_options) + (self.tls.channel_options() if self.tls is not None else ())
        return credentials, metadata, options
