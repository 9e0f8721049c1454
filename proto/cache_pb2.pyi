from raftcache.proto import commands_pb2 as _commands_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReadConsistency(_message.Message):
    __slots__ = ("level", "bound_ms", "min_index")
    class Level(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DEFAULT: _ClassVar[ReadConsistency.Level]
        LINEARIZABLE: _ClassVar[ReadConsistency.Level]
        LEASE: _ClassVar[ReadConsistency.Level]
        BOUNDED: _ClassVar[ReadConsistency.Level]
        ANY: _ClassVar[ReadConsistency.Level]
        MIN_INDEX: _ClassVar[ReadConsistency.Level]
    DEFAULT: ReadConsistency.Level
    LINEARIZABLE: ReadConsistency.Level
    LEASE: ReadConsistency.Level
    BOUNDED: ReadConsistency.Level
    ANY: ReadConsistency.Level
    MIN_INDEX: ReadConsistency.Level
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    BOUND_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_INDEX_FIELD_NUMBER: _ClassVar[int]
    level: ReadConsistency.Level
    bound_ms: int
    min_index: int
    def __init__(self, level: _Optional[_Union[ReadConsistency.Level, str]] = ..., bound_ms: _Optional[int] = ..., min_index: _Optional[int] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("command", "consistency", "client_id", "sequence")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    command: _commands_pb2.Command
    consistency: ReadConsistency
    client_id: str
    sequence: int
    def __init__(self, command: _Optional[_Union[_commands_pb2.Command, _Mapping]] = ..., consistency: _Optional[_Union[ReadConsistency, _Mapping]] = ..., client_id: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("value", "index")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    value: _commands_pb2.Value
    index: int
    def __init__(self, value: _Optional[_Union[_commands_pb2.Value, _Mapping]] = ..., index: _Optional[int] = ...) -> None: ...

class RequestBatch(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[Request]
    def __init__(self, requests: _Optional[_Iterable[_Union[Request, _Mapping]]] = ...) -> None: ...

class ReplyBatch(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[Reply]
    def __init__(self, replies: _Optional[_Iterable[_Union[Reply, _Mapping]]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("channels", "patterns", "shard_channels", "invalidations")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    SHARD_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    INVALIDATIONS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[bytes]
    patterns: _containers.RepeatedScalarFieldContainer[bytes]
    shard_channels: _containers.RepeatedScalarFieldContainer[bytes]
    invalidations: bool
    def __init__(self, channels: _Optional[_Iterable[bytes]] = ..., patterns: _Optional[_Iterable[bytes]] = ..., shard_channels: _Optional[_Iterable[bytes]] = ..., invalidations: bool = ...) -> None: ...

class PubSubMessage(_message.Message):
    __slots__ = ("kind", "channel", "data", "pattern", "keys", "index", "all")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    kind: str
    channel: bytes
    data: bytes
    pattern: bytes
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    index: int
    all: bool
    def __init__(self, kind: _Optional[str] = ..., channel: _Optional[bytes] = ..., data: _Optional[bytes] = ..., pattern: _Optional[bytes] = ..., keys: _Optional[_Iterable[bytes]] = ..., index: _Optional[int] = ..., all: bool = ...) -> None: ...
