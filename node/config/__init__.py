"""A node's configuration, in one place.

Every parameter is declared once, as a row of the table in params.py: its
NodeConfig field, default (and so type), its flag / RAFTCACHE_* variable /
TOML key, and its CONFIG GET/SET name and kind. The rest is derived from it:

- parts.py: NodeConfig and its frozen parts (keyspace, replication, service,
  frontend, backup), fields from the table, and their validate();
- sources.py: `raftcache node`'s flags, and loading a NodeConfig from flags,
  the environment and a TOML file;
- settings.py: CONFIG GET/SET (which parameters exist, how values are checked);
- values.py: the value syntaxes the rows use (sizes, memory, peers, limits).

A leaf of the node (docs/architecture.md): imports nothing of the node but
its errors and read levels, and never grpc, lmdb or pysyncobj.
"""

from raftcache.node.config.parts import (
    BackupConfig,
    FrontendConfig,
    KeyspaceConfig,
    NodeConfig,
    ReplicationConfig,
    ServiceConfig,
    TlsConfig,
)
from raftcache.node.config.values import (
    FSYNC_POLICIES,
    MAX_KEY_BYTES_LIMIT,
    PORT_OFFSETS,
    READ_LEVELS,
    ROLES,
    Peer,
)

__all__ = [
    "BackupConfig", "FrontendConfig", "KeyspaceConfig", "NodeConfig", "ReplicationConfig", "ServiceConfig",
    "TlsConfig",
    "FSYNC_POLICIES", "MAX_KEY_BYTES_LIMIT", "PORT_OFFSETS", "READ_LEVELS", "ROLES", "Peer",
]
