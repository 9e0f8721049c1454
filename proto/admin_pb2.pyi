from raftcache.proto import cache_pb2 as _cache_pb2
from raftcache.proto import commands_pb2 as _commands_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Member(_message.Message):
    __slots__ = ("id", "zone", "grpc_address", "redis_address", "memcached_address", "raft_address", "http_address", "voter")
    ID_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    GRPC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REDIS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MEMCACHED_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RAFT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HTTP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VOTER_FIELD_NUMBER: _ClassVar[int]
    id: str
    zone: str
    grpc_address: str
    redis_address: str
    memcached_address: str
    raft_address: str
    http_address: str
    voter: bool
    def __init__(self, id: _Optional[str] = ..., zone: _Optional[str] = ..., grpc_address: _Optional[str] = ..., redis_address: _Optional[str] = ..., memcached_address: _Optional[str] = ..., raft_address: _Optional[str] = ..., http_address: _Optional[str] = ..., voter: bool = ...) -> None: ...

class MemberStatus(_message.Message):
    __slots__ = ("member", "connected", "match_index", "lag", "max_log_version")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    MATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    MAX_LOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    member: Member
    connected: bool
    match_index: int
    lag: int
    max_log_version: int
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ..., connected: bool = ..., match_index: _Optional[int] = ..., lag: _Optional[int] = ..., max_log_version: _Optional[int] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusReply(_message.Message):
    __slots__ = ("id", "zone", "role", "leader_id", "term", "commit_index", "applied_index", "last_index", "members", "keys", "used_bytes", "maxmemory_bytes", "last_leader_contact_s", "appendfsync", "version", "cluster_id", "voter", "replicas", "replicas_connected", "log_version", "max_log_version", "apply_blocked", "advertised", "snapshot_received_bytes", "snapshot_bytes", "shard", "cluster")
    ID_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAST_INDEX_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAXMEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    LAST_LEADER_CONTACT_S_FIELD_NUMBER: _ClassVar[int]
    APPENDFSYNC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    VOTER_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    LOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_LOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    APPLY_BLOCKED_FIELD_NUMBER: _ClassVar[int]
    ADVERTISED_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_RECEIVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    id: str
    zone: str
    role: str
    leader_id: str
    term: int
    commit_index: int
    applied_index: int
    last_index: int
    members: _containers.RepeatedCompositeFieldContainer[MemberStatus]
    keys: int
    used_bytes: int
    maxmemory_bytes: int
    last_leader_contact_s: float
    appendfsync: str
    version: str
    cluster_id: str
    voter: bool
    replicas: _containers.RepeatedCompositeFieldContainer[Member]
    replicas_connected: int
    log_version: int
    max_log_version: int
    apply_blocked: str
    advertised: Member
    snapshot_received_bytes: int
    snapshot_bytes: int
    shard: ShardStatus
    cluster: _containers.RepeatedCompositeFieldContainer[ShardView]
    def __init__(self, id: _Optional[str] = ..., zone: _Optional[str] = ..., role: _Optional[str] = ..., leader_id: _Optional[str] = ..., term: _Optional[int] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., last_index: _Optional[int] = ..., members: _Optional[_Iterable[_Union[MemberStatus, _Mapping]]] = ..., keys: _Optional[int] = ..., used_bytes: _Optional[int] = ..., maxmemory_bytes: _Optional[int] = ..., last_leader_contact_s: _Optional[float] = ..., appendfsync: _Optional[str] = ..., version: _Optional[str] = ..., cluster_id: _Optional[str] = ..., voter: bool = ..., replicas: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., replicas_connected: _Optional[int] = ..., log_version: _Optional[int] = ..., max_log_version: _Optional[int] = ..., apply_blocked: _Optional[str] = ..., advertised: _Optional[_Union[Member, _Mapping]] = ..., snapshot_received_bytes: _Optional[int] = ..., snapshot_bytes: _Optional[int] = ..., shard: _Optional[_Union[ShardStatus, _Mapping]] = ..., cluster: _Optional[_Iterable[_Union[ShardView, _Mapping]]] = ...) -> None: ...

class ShardStatus(_message.Message):
    __slots__ = ("shard", "epoch", "slots", "migration")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_FIELD_NUMBER: _ClassVar[int]
    shard: int
    epoch: int
    slots: _containers.RepeatedCompositeFieldContainer[_commands_pb2.SlotRange]
    migration: _commands_pb2.BeginMigration
    def __init__(self, shard: _Optional[int] = ..., epoch: _Optional[int] = ..., slots: _Optional[_Iterable[_Union[_commands_pb2.SlotRange, _Mapping]]] = ..., migration: _Optional[_Union[_commands_pb2.BeginMigration, _Mapping]] = ...) -> None: ...

class ShardView(_message.Message):
    __slots__ = ("shard", "epoch", "slots", "leader_id", "members")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    shard: int
    epoch: int
    slots: _containers.RepeatedCompositeFieldContainer[_commands_pb2.SlotRange]
    leader_id: str
    members: _containers.RepeatedCompositeFieldContainer[Member]
    def __init__(self, shard: _Optional[int] = ..., epoch: _Optional[int] = ..., slots: _Optional[_Iterable[_Union[_commands_pb2.SlotRange, _Mapping]]] = ..., leader_id: _Optional[str] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ...) -> None: ...

class TopologyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TopologyReply(_message.Message):
    __slots__ = ("members", "leader_id", "term")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    leader_id: str
    term: int
    def __init__(self, members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., leader_id: _Optional[str] = ..., term: _Optional[int] = ...) -> None: ...

class BackupRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BackupInfo(_message.Message):
    __slots__ = ("format_version", "cluster_id", "applied_index", "term", "key_count", "total_bytes", "node_id", "sha256")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    KEY_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    cluster_id: str
    applied_index: int
    term: int
    key_count: int
    total_bytes: int
    node_id: str
    sha256: str
    def __init__(self, format_version: _Optional[int] = ..., cluster_id: _Optional[str] = ..., applied_index: _Optional[int] = ..., term: _Optional[int] = ..., key_count: _Optional[int] = ..., total_bytes: _Optional[int] = ..., node_id: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class BackupChunk(_message.Message):
    __slots__ = ("info", "data")
    INFO_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    info: BackupInfo
    data: bytes
    def __init__(self, info: _Optional[_Union[BackupInfo, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class AddNodeRequest(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class RemoveNodeRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class MembershipReply(_message.Message):
    __slots__ = ("members", "leader_id")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    leader_id: str
    def __init__(self, members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., leader_id: _Optional[str] = ...) -> None: ...

class TransferLeaderRequest(_message.Message):
    __slots__ = ("to",)
    TO_FIELD_NUMBER: _ClassVar[int]
    to: str
    def __init__(self, to: _Optional[str] = ...) -> None: ...

class TransferLeaderReply(_message.Message):
    __slots__ = ("leader_id", "term")
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    leader_id: str
    term: int
    def __init__(self, leader_id: _Optional[str] = ..., term: _Optional[int] = ...) -> None: ...

class MigrationRequest(_message.Message):
    __slots__ = ("begin", "export", "restore", "drop", "finish", "export_dedup", "import_dedup")
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    EXPORT_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FIELD_NUMBER: _ClassVar[int]
    DROP_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    EXPORT_DEDUP_FIELD_NUMBER: _ClassVar[int]
    IMPORT_DEDUP_FIELD_NUMBER: _ClassVar[int]
    begin: _commands_pb2.BeginMigration
    export: ExportKeys
    restore: _commands_pb2.RestoreKeys
    drop: _commands_pb2.DropMigrated
    finish: _commands_pb2.FinishMigration
    export_dedup: _commands_pb2.ExportDedup
    import_dedup: _commands_pb2.ImportDedup
    def __init__(self, begin: _Optional[_Union[_commands_pb2.BeginMigration, _Mapping]] = ..., export: _Optional[_Union[ExportKeys, _Mapping]] = ..., restore: _Optional[_Union[_commands_pb2.RestoreKeys, _Mapping]] = ..., drop: _Optional[_Union[_commands_pb2.DropMigrated, _Mapping]] = ..., finish: _Optional[_Union[_commands_pb2.FinishMigration, _Mapping]] = ..., export_dedup: _Optional[_Union[_commands_pb2.ExportDedup, _Mapping]] = ..., import_dedup: _Optional[_Union[_commands_pb2.ImportDedup, _Mapping]] = ...) -> None: ...

class ExportKeys(_message.Message):
    __slots__ = ("cursor", "count")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    count: int
    def __init__(self, cursor: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class MigrationReply(_message.Message):
    __slots__ = ("keys", "cursor", "index", "dedup", "dedup_after")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DEDUP_FIELD_NUMBER: _ClassVar[int]
    DEDUP_AFTER_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[_commands_pb2.MigratedKey]
    cursor: int
    index: int
    dedup: _containers.RepeatedCompositeFieldContainer[_commands_pb2.DedupEntry]
    dedup_after: str
    def __init__(self, keys: _Optional[_Iterable[_Union[_commands_pb2.MigratedKey, _Mapping]]] = ..., cursor: _Optional[int] = ..., index: _Optional[int] = ..., dedup: _Optional[_Iterable[_Union[_commands_pb2.DedupEntry, _Mapping]]] = ..., dedup_after: _Optional[str] = ...) -> None: ...

class AccessedKey(_message.Message):
    __slots__ = ("db", "key", "count", "age_ms")
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    AGE_MS_FIELD_NUMBER: _ClassVar[int]
    db: int
    key: bytes
    count: int
    age_ms: int
    def __init__(self, db: _Optional[int] = ..., key: _Optional[bytes] = ..., count: _Optional[int] = ..., age_ms: _Optional[int] = ...) -> None: ...

class AccessReport(_message.Message):
    __slots__ = ("node_id", "keys")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    keys: _containers.RepeatedCompositeFieldContainer[AccessedKey]
    def __init__(self, node_id: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[AccessedKey, _Mapping]]] = ...) -> None: ...

class AccessReportReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
