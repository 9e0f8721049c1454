from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Condition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALWAYS: _ClassVar[Condition]
    IF_ABSENT: _ClassVar[Condition]
    IF_PRESENT: _ClassVar[Condition]

class ExpireCondition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPIRE_ALWAYS: _ClassVar[ExpireCondition]
    EXPIRE_NX: _ClassVar[ExpireCondition]
    EXPIRE_XX: _ClassVar[ExpireCondition]
    EXPIRE_GT: _ClassVar[ExpireCondition]
    EXPIRE_LT: _ClassVar[ExpireCondition]
    EXPIRE_LT_XX: _ClassVar[ExpireCondition]

class BitOpKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BITOP_AND: _ClassVar[BitOpKind]
    BITOP_OR: _ClassVar[BitOpKind]
    BITOP_XOR: _ClassVar[BitOpKind]
    BITOP_NOT: _ClassVar[BitOpKind]

class BitFieldKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BITFIELD_GET: _ClassVar[BitFieldKind]
    BITFIELD_SET: _ClassVar[BitFieldKind]
    BITFIELD_INCRBY: _ClassVar[BitFieldKind]

class BitFieldOverflow(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OVERFLOW_WRAP: _ClassVar[BitFieldOverflow]
    OVERFLOW_SAT: _ClassVar[BitFieldOverflow]
    OVERFLOW_FAIL: _ClassVar[BitFieldOverflow]

class PfDebugKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PFDEBUG_GETREG: _ClassVar[PfDebugKind]
    PFDEBUG_DECODE: _ClassVar[PfDebugKind]
    PFDEBUG_ENCODING: _ClassVar[PfDebugKind]
    PFDEBUG_TODENSE: _ClassVar[PfDebugKind]

class SetOpKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SET_UNION: _ClassVar[SetOpKind]
    SET_INTER: _ClassVar[SetOpKind]
    SET_DIFF: _ClassVar[SetOpKind]

class RangeBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BY_RANK: _ClassVar[RangeBy]
    BY_SCORE: _ClassVar[RangeBy]
    BY_LEX: _ClassVar[RangeBy]

class Aggregate(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGG_SUM: _ClassVar[Aggregate]
    AGG_MIN: _ClassVar[Aggregate]
    AGG_MAX: _ClassVar[Aggregate]

class EvictionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVICT_BY_POLICY: _ClassVar[EvictionMode]
    EVICT_LRU: _ClassVar[EvictionMode]
    EVICT_NEVER: _ClassVar[EvictionMode]

class GeoSort(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GEO_UNSORTED: _ClassVar[GeoSort]
    GEO_ASC: _ClassVar[GeoSort]
    GEO_DESC: _ClassVar[GeoSort]

class StreamTrimBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIM_NONE: _ClassVar[StreamTrimBy]
    TRIM_MAXLEN: _ClassVar[StreamTrimBy]
    TRIM_MINID: _ClassVar[StreamTrimBy]

class XGroupKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    XGROUP_CREATE: _ClassVar[XGroupKind]
    XGROUP_SETID: _ClassVar[XGroupKind]
    XGROUP_DESTROY: _ClassVar[XGroupKind]
    XGROUP_CREATECONSUMER: _ClassVar[XGroupKind]
    XGROUP_DELCONSUMER: _ClassVar[XGroupKind]

class XInfoKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    XINFO_STREAM: _ClassVar[XInfoKind]
    XINFO_GROUPS: _ClassVar[XInfoKind]
    XINFO_CONSUMERS: _ClassVar[XInfoKind]
ALWAYS: Condition
IF_ABSENT: Condition
IF_PRESENT: Condition
EXPIRE_ALWAYS: ExpireCondition
EXPIRE_NX: ExpireCondition
EXPIRE_XX: ExpireCondition
EXPIRE_GT: ExpireCondition
EXPIRE_LT: ExpireCondition
EXPIRE_LT_XX: ExpireCondition
BITOP_AND: BitOpKind
BITOP_OR: BitOpKind
BITOP_XOR: BitOpKind
BITOP_NOT: BitOpKind
BITFIELD_GET: BitFieldKind
BITFIELD_SET: BitFieldKind
BITFIELD_INCRBY: BitFieldKind
OVERFLOW_WRAP: BitFieldOverflow
OVERFLOW_SAT: BitFieldOverflow
OVERFLOW_FAIL: BitFieldOverflow
PFDEBUG_GETREG: PfDebugKind
PFDEBUG_DECODE: PfDebugKind
PFDEBUG_ENCODING: PfDebugKind
PFDEBUG_TODENSE: PfDebugKind
SET_UNION: SetOpKind
SET_INTER: SetOpKind
SET_DIFF: SetOpKind
BY_RANK: RangeBy
BY_SCORE: RangeBy
BY_LEX: RangeBy
AGG_SUM: Aggregate
AGG_MIN: Aggregate
AGG_MAX: Aggregate
EVICT_BY_POLICY: EvictionMode
EVICT_LRU: EvictionMode
EVICT_NEVER: EvictionMode
GEO_UNSORTED: GeoSort
GEO_ASC: GeoSort
GEO_DESC: GeoSort
TRIM_NONE: StreamTrimBy
TRIM_MAXLEN: StreamTrimBy
TRIM_MINID: StreamTrimBy
XGROUP_CREATE: XGroupKind
XGROUP_SETID: XGroupKind
XGROUP_DESTROY: XGroupKind
XGROUP_CREATECONSUMER: XGroupKind
XGROUP_DELCONSUMER: XGroupKind
XINFO_STREAM: XInfoKind
XINFO_GROUPS: XInfoKind
XINFO_CONSUMERS: XInfoKind

class Value(_message.Message):
    __slots__ = ("bulk", "nil", "integer", "status", "array", "number", "error", "unsigned")
    BULK_FIELD_NUMBER: _ClassVar[int]
    NIL_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    UNSIGNED_FIELD_NUMBER: _ClassVar[int]
    bulk: bytes
    nil: bool
    integer: int
    status: str
    array: ValueList
    number: float
    error: Error
    unsigned: int
    def __init__(self, bulk: _Optional[bytes] = ..., nil: bool = ..., integer: _Optional[int] = ..., status: _Optional[str] = ..., array: _Optional[_Union[ValueList, _Mapping]] = ..., number: _Optional[float] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., unsigned: _Optional[int] = ...) -> None: ...

class ValueList(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, items: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("reason", "message")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Expiry(_message.Message):
    __slots__ = ("ttl_ms", "expire_at_ms", "keep_ttl", "persist")
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_AT_MS_FIELD_NUMBER: _ClassVar[int]
    KEEP_TTL_FIELD_NUMBER: _ClassVar[int]
    PERSIST_FIELD_NUMBER: _ClassVar[int]
    ttl_ms: int
    expire_at_ms: int
    keep_ttl: bool
    persist: bool
    def __init__(self, ttl_ms: _Optional[int] = ..., expire_at_ms: _Optional[int] = ..., keep_ttl: bool = ..., persist: bool = ...) -> None: ...

class KeyValue(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class Noop(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Get(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class Set(_message.Message):
    __slots__ = ("key", "value", "condition", "expiry", "get", "flags", "cas_index", "stale_if_older")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CAS_INDEX_FIELD_NUMBER: _ClassVar[int]
    STALE_IF_OLDER_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    condition: Condition
    expiry: Expiry
    get: bool
    flags: int
    cas_index: int
    stale_if_older: bool
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., condition: _Optional[_Union[Condition, str]] = ..., expiry: _Optional[_Union[Expiry, _Mapping]] = ..., get: bool = ..., flags: _Optional[int] = ..., cas_index: _Optional[int] = ..., stale_if_older: bool = ...) -> None: ...

class GetDel(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class GetEx(_message.Message):
    __slots__ = ("key", "expiry")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    expiry: Expiry
    def __init__(self, key: _Optional[bytes] = ..., expiry: _Optional[_Union[Expiry, _Mapping]] = ...) -> None: ...

class Del(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Exists(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class IncrBy(_message.Message):
    __slots__ = ("key", "delta")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    delta: int
    def __init__(self, key: _Optional[bytes] = ..., delta: _Optional[int] = ...) -> None: ...

class IncrByFloat(_message.Message):
    __slots__ = ("key", "delta")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    delta: float
    def __init__(self, key: _Optional[bytes] = ..., delta: _Optional[float] = ...) -> None: ...

class Append(_message.Message):
    __slots__ = ("key", "value", "prepend")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PREPEND_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    prepend: bool
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., prepend: bool = ...) -> None: ...

class StrLen(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class GetRange(_message.Message):
    __slots__ = ("key", "start", "end")
    KEY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    start: int
    end: int
    def __init__(self, key: _Optional[bytes] = ..., start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class SetRange(_message.Message):
    __slots__ = ("key", "offset", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    offset: int
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., offset: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...

class MSet(_message.Message):
    __slots__ = ("pairs",)
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    pairs: _containers.RepeatedCompositeFieldContainer[KeyValue]
    def __init__(self, pairs: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ...) -> None: ...

class MSetNx(_message.Message):
    __slots__ = ("pairs",)
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    pairs: _containers.RepeatedCompositeFieldContainer[KeyValue]
    def __init__(self, pairs: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ...) -> None: ...

class MGet(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Expire(_message.Message):
    __slots__ = ("key", "expiry", "condition")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    expiry: Expiry
    condition: ExpireCondition
    def __init__(self, key: _Optional[bytes] = ..., expiry: _Optional[_Union[Expiry, _Mapping]] = ..., condition: _Optional[_Union[ExpireCondition, str]] = ...) -> None: ...

class Persist(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class Ttl(_message.Message):
    __slots__ = ("key", "millis", "absolute")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MILLIS_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    millis: bool
    absolute: bool
    def __init__(self, key: _Optional[bytes] = ..., millis: bool = ..., absolute: bool = ...) -> None: ...

class Type(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class Rename(_message.Message):
    __slots__ = ("key", "new_key", "if_absent")
    KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_FIELD_NUMBER: _ClassVar[int]
    IF_ABSENT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    new_key: bytes
    if_absent: bool
    def __init__(self, key: _Optional[bytes] = ..., new_key: _Optional[bytes] = ..., if_absent: bool = ...) -> None: ...

class Scan(_message.Message):
    __slots__ = ("cursor", "match", "count", "type")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    match: bytes
    count: int
    type: str
    def __init__(self, cursor: _Optional[int] = ..., match: _Optional[bytes] = ..., count: _Optional[int] = ..., type: _Optional[str] = ...) -> None: ...

class DbSize(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FlushAll(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FlushDb(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteExpired(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class McIncr(_message.Message):
    __slots__ = ("key", "delta", "decrement")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    DECREMENT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    delta: int
    decrement: bool
    def __init__(self, key: _Optional[bytes] = ..., delta: _Optional[int] = ..., decrement: bool = ...) -> None: ...

class GetMeta(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class GetAndTouch(_message.Message):
    __slots__ = ("key", "expiry")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    expiry: Expiry
    def __init__(self, key: _Optional[bytes] = ..., expiry: _Optional[_Union[Expiry, _Mapping]] = ...) -> None: ...

class SetBit(_message.Message):
    __slots__ = ("key", "offset", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    offset: int
    value: int
    def __init__(self, key: _Optional[bytes] = ..., offset: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...

class GetBit(_message.Message):
    __slots__ = ("key", "offset")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    offset: int
    def __init__(self, key: _Optional[bytes] = ..., offset: _Optional[int] = ...) -> None: ...

class BitCount(_message.Message):
    __slots__ = ("key", "ranged", "start", "end", "by_bit")
    KEY_FIELD_NUMBER: _ClassVar[int]
    RANGED_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    BY_BIT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    ranged: bool
    start: int
    end: int
    by_bit: bool
    def __init__(self, key: _Optional[bytes] = ..., ranged: bool = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., by_bit: bool = ...) -> None: ...

class BitPos(_message.Message):
    __slots__ = ("key", "bit", "start", "end", "by_bit")
    KEY_FIELD_NUMBER: _ClassVar[int]
    BIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    BY_BIT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    bit: int
    start: int
    end: int
    by_bit: bool
    def __init__(self, key: _Optional[bytes] = ..., bit: _Optional[int] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., by_bit: bool = ...) -> None: ...

class BitOp(_message.Message):
    __slots__ = ("key", "op", "keys")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    op: BitOpKind
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., op: _Optional[_Union[BitOpKind, str]] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Lcs(_message.Message):
    __slots__ = ("keys", "len", "idx", "min_match_len", "with_match_len")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    LEN_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    MIN_MATCH_LEN_FIELD_NUMBER: _ClassVar[int]
    WITH_MATCH_LEN_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    len: bool
    idx: bool
    min_match_len: int
    with_match_len: bool
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ..., len: bool = ..., idx: bool = ..., min_match_len: _Optional[int] = ..., with_match_len: bool = ...) -> None: ...

class BitFieldOp(_message.Message):
    __slots__ = ("kind", "signed", "bits", "offset", "value", "overflow")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIGNED_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    OVERFLOW_FIELD_NUMBER: _ClassVar[int]
    kind: BitFieldKind
    signed: bool
    bits: int
    offset: int
    value: int
    overflow: BitFieldOverflow
    def __init__(self, kind: _Optional[_Union[BitFieldKind, str]] = ..., signed: bool = ..., bits: _Optional[int] = ..., offset: _Optional[int] = ..., value: _Optional[int] = ..., overflow: _Optional[_Union[BitFieldOverflow, str]] = ...) -> None: ...

class BitField(_message.Message):
    __slots__ = ("key", "ops")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    ops: _containers.RepeatedCompositeFieldContainer[BitFieldOp]
    def __init__(self, key: _Optional[bytes] = ..., ops: _Optional[_Iterable[_Union[BitFieldOp, _Mapping]]] = ...) -> None: ...

class PfAdd(_message.Message):
    __slots__ = ("key", "elements")
    KEY_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    elements: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., elements: _Optional[_Iterable[bytes]] = ...) -> None: ...

class PfCount(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class PfMerge(_message.Message):
    __slots__ = ("key", "keys")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class PfDebug(_message.Message):
    __slots__ = ("key", "kind")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    kind: PfDebugKind
    def __init__(self, key: _Optional[bytes] = ..., kind: _Optional[_Union[PfDebugKind, str]] = ...) -> None: ...

class HSet(_message.Message):
    __slots__ = ("key", "pairs", "if_absent")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    IF_ABSENT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    pairs: _containers.RepeatedCompositeFieldContainer[KeyValue]
    if_absent: bool
    def __init__(self, key: _Optional[bytes] = ..., pairs: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., if_absent: bool = ...) -> None: ...

class HGet(_message.Message):
    __slots__ = ("key", "field")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    field: bytes
    def __init__(self, key: _Optional[bytes] = ..., field: _Optional[bytes] = ...) -> None: ...

class HMGet(_message.Message):
    __slots__ = ("key", "fields")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    fields: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., fields: _Optional[_Iterable[bytes]] = ...) -> None: ...

class HDel(_message.Message):
    __slots__ = ("key", "fields")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    fields: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., fields: _Optional[_Iterable[bytes]] = ...) -> None: ...

class HLen(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class HExists(_message.Message):
    __slots__ = ("key", "field")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    field: bytes
    def __init__(self, key: _Optional[bytes] = ..., field: _Optional[bytes] = ...) -> None: ...

class HGetAll(_message.Message):
    __slots__ = ("key", "keys", "values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    keys: bool
    values: bool
    def __init__(self, key: _Optional[bytes] = ..., keys: bool = ..., values: bool = ...) -> None: ...

class HIncrBy(_message.Message):
    __slots__ = ("key", "field", "delta")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    field: bytes
    delta: int
    def __init__(self, key: _Optional[bytes] = ..., field: _Optional[bytes] = ..., delta: _Optional[int] = ...) -> None: ...

class HIncrByFloat(_message.Message):
    __slots__ = ("key", "field", "delta")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    field: bytes
    delta: float
    def __init__(self, key: _Optional[bytes] = ..., field: _Optional[bytes] = ..., delta: _Optional[float] = ...) -> None: ...

class HStrLen(_message.Message):
    __slots__ = ("key", "field")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    field: bytes
    def __init__(self, key: _Optional[bytes] = ..., field: _Optional[bytes] = ...) -> None: ...

class HRandField(_message.Message):
    __slots__ = ("key", "count", "with_values", "seed")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    WITH_VALUES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    count: int
    with_values: bool
    seed: int
    def __init__(self, key: _Optional[bytes] = ..., count: _Optional[int] = ..., with_values: bool = ..., seed: _Optional[int] = ...) -> None: ...

class HExpire(_message.Message):
    __slots__ = ("key", "expiry", "condition", "fields")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    expiry: Expiry
    condition: ExpireCondition
    fields: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., expiry: _Optional[_Union[Expiry, _Mapping]] = ..., condition: _Optional[_Union[ExpireCondition, str]] = ..., fields: _Optional[_Iterable[bytes]] = ...) -> None: ...

class HPersist(_message.Message):
    __slots__ = ("key", "fields")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    fields: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., fields: _Optional[_Iterable[bytes]] = ...) -> None: ...

class HTtl(_message.Message):
    __slots__ = ("key", "fields", "millis", "absolute")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    MILLIS_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    fields: _containers.RepeatedScalarFieldContainer[bytes]
    millis: bool
    absolute: bool
    def __init__(self, key: _Optional[bytes] = ..., fields: _Optional[_Iterable[bytes]] = ..., millis: bool = ..., absolute: bool = ...) -> None: ...

class DeleteExpiredFields(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ElementScan(_message.Message):
    __slots__ = ("key", "cursor", "match", "count", "no_values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    NO_VALUES_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    cursor: int
    match: bytes
    count: int
    no_values: bool
    def __init__(self, key: _Optional[bytes] = ..., cursor: _Optional[int] = ..., match: _Optional[bytes] = ..., count: _Optional[int] = ..., no_values: bool = ...) -> None: ...

class Push(_message.Message):
    __slots__ = ("key", "values", "left", "if_exists")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    LEFT_FIELD_NUMBER: _ClassVar[int]
    IF_EXISTS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    values: _containers.RepeatedScalarFieldContainer[bytes]
    left: bool
    if_exists: bool
    def __init__(self, key: _Optional[bytes] = ..., values: _Optional[_Iterable[bytes]] = ..., left: bool = ..., if_exists: bool = ...) -> None: ...

class Pop(_message.Message):
    __slots__ = ("key", "left", "count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    LEFT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    left: bool
    count: int
    def __init__(self, key: _Optional[bytes] = ..., left: bool = ..., count: _Optional[int] = ...) -> None: ...

class LRange(_message.Message):
    __slots__ = ("key", "start", "stop")
    KEY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    start: int
    stop: int
    def __init__(self, key: _Optional[bytes] = ..., start: _Optional[int] = ..., stop: _Optional[int] = ...) -> None: ...

class LLen(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class LIndex(_message.Message):
    __slots__ = ("key", "index")
    KEY_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    index: int
    def __init__(self, key: _Optional[bytes] = ..., index: _Optional[int] = ...) -> None: ...

class LSet(_message.Message):
    __slots__ = ("key", "index", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    index: int
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., index: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...

class LRem(_message.Message):
    __slots__ = ("key", "count", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    count: int
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., count: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...

class LTrim(_message.Message):
    __slots__ = ("key", "start", "stop")
    KEY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    start: int
    stop: int
    def __init__(self, key: _Optional[bytes] = ..., start: _Optional[int] = ..., stop: _Optional[int] = ...) -> None: ...

class LInsert(_message.Message):
    __slots__ = ("key", "before", "pivot", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    PIVOT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    before: bool
    pivot: bytes
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., before: bool = ..., pivot: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class LPos(_message.Message):
    __slots__ = ("key", "element", "rank", "count", "maxlen")
    KEY_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MAXLEN_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    element: bytes
    rank: int
    count: int
    maxlen: int
    def __init__(self, key: _Optional[bytes] = ..., element: _Optional[bytes] = ..., rank: _Optional[int] = ..., count: _Optional[int] = ..., maxlen: _Optional[int] = ...) -> None: ...

class LMove(_message.Message):
    __slots__ = ("key", "new_key", "from_left", "to_left")
    KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_FIELD_NUMBER: _ClassVar[int]
    FROM_LEFT_FIELD_NUMBER: _ClassVar[int]
    TO_LEFT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    new_key: bytes
    from_left: bool
    to_left: bool
    def __init__(self, key: _Optional[bytes] = ..., new_key: _Optional[bytes] = ..., from_left: bool = ..., to_left: bool = ...) -> None: ...

class LMPop(_message.Message):
    __slots__ = ("keys", "left", "count")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    LEFT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    left: bool
    count: int
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ..., left: bool = ..., count: _Optional[int] = ...) -> None: ...

class SAdd(_message.Message):
    __slots__ = ("key", "members")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    members: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., members: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SRem(_message.Message):
    __slots__ = ("key", "members")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    members: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., members: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SMembers(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class SIsMember(_message.Message):
    __slots__ = ("key", "members", "multi")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    MULTI_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    members: _containers.RepeatedScalarFieldContainer[bytes]
    multi: bool
    def __init__(self, key: _Optional[bytes] = ..., members: _Optional[_Iterable[bytes]] = ..., multi: bool = ...) -> None: ...

class SCard(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class SPop(_message.Message):
    __slots__ = ("key", "count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    count: int
    def __init__(self, key: _Optional[bytes] = ..., count: _Optional[int] = ...) -> None: ...

class SRandMember(_message.Message):
    __slots__ = ("key", "count", "seed")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    count: int
    seed: int
    def __init__(self, key: _Optional[bytes] = ..., count: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class SMove(_message.Message):
    __slots__ = ("key", "new_key", "member")
    KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    new_key: bytes
    member: bytes
    def __init__(self, key: _Optional[bytes] = ..., new_key: _Optional[bytes] = ..., member: _Optional[bytes] = ...) -> None: ...

class SetOp(_message.Message):
    __slots__ = ("op", "keys", "limit", "card")
    OP_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    op: SetOpKind
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    limit: int
    card: bool
    def __init__(self, op: _Optional[_Union[SetOpKind, str]] = ..., keys: _Optional[_Iterable[bytes]] = ..., limit: _Optional[int] = ..., card: bool = ...) -> None: ...

class SetOpStore(_message.Message):
    __slots__ = ("key", "op", "keys")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    op: SetOpKind
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., op: _Optional[_Union[SetOpKind, str]] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ScoreMember(_message.Message):
    __slots__ = ("score", "member")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    score: float
    member: bytes
    def __init__(self, score: _Optional[float] = ..., member: _Optional[bytes] = ...) -> None: ...

class ScoreBound(_message.Message):
    __slots__ = ("value", "exclusive")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EXCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    value: float
    exclusive: bool
    def __init__(self, value: _Optional[float] = ..., exclusive: bool = ...) -> None: ...

class LexBound(_message.Message):
    __slots__ = ("value", "exclusive", "infinite")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EXCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    INFINITE_FIELD_NUMBER: _ClassVar[int]
    value: bytes
    exclusive: bool
    infinite: int
    def __init__(self, value: _Optional[bytes] = ..., exclusive: bool = ..., infinite: _Optional[int] = ...) -> None: ...

class ZAdd(_message.Message):
    __slots__ = ("key", "members", "condition", "gt", "lt", "ch", "incr")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    GT_FIELD_NUMBER: _ClassVar[int]
    LT_FIELD_NUMBER: _ClassVar[int]
    CH_FIELD_NUMBER: _ClassVar[int]
    INCR_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    members: _containers.RepeatedCompositeFieldContainer[ScoreMember]
    condition: Condition
    gt: bool
    lt: bool
    ch: bool
    incr: bool
    def __init__(self, key: _Optional[bytes] = ..., members: _Optional[_Iterable[_Union[ScoreMember, _Mapping]]] = ..., condition: _Optional[_Union[Condition, str]] = ..., gt: bool = ..., lt: bool = ..., ch: bool = ..., incr: bool = ...) -> None: ...

class ZRem(_message.Message):
    __slots__ = ("key", "members")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    members: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., members: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ZScore(_message.Message):
    __slots__ = ("key", "members", "multi")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    MULTI_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    members: _containers.RepeatedScalarFieldContainer[bytes]
    multi: bool
    def __init__(self, key: _Optional[bytes] = ..., members: _Optional[_Iterable[bytes]] = ..., multi: bool = ...) -> None: ...

class ZCard(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class ZRange(_message.Message):
    __slots__ = ("key", "by", "start", "stop", "min_score", "max_score", "min_lex", "max_lex", "rev", "offset", "count", "with_scores", "count_only")
    KEY_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    MAX_SCORE_FIELD_NUMBER: _ClassVar[int]
    MIN_LEX_FIELD_NUMBER: _ClassVar[int]
    MAX_LEX_FIELD_NUMBER: _ClassVar[int]
    REV_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    WITH_SCORES_FIELD_NUMBER: _ClassVar[int]
    COUNT_ONLY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    by: RangeBy
    start: int
    stop: int
    min_score: ScoreBound
    max_score: ScoreBound
    min_lex: LexBound
    max_lex: LexBound
    rev: bool
    offset: int
    count: int
    with_scores: bool
    count_only: bool
    def __init__(self, key: _Optional[bytes] = ..., by: _Optional[_Union[RangeBy, str]] = ..., start: _Optional[int] = ..., stop: _Optional[int] = ..., min_score: _Optional[_Union[ScoreBound, _Mapping]] = ..., max_score: _Optional[_Union[ScoreBound, _Mapping]] = ..., min_lex: _Optional[_Union[LexBound, _Mapping]] = ..., max_lex: _Optional[_Union[LexBound, _Mapping]] = ..., rev: bool = ..., offset: _Optional[int] = ..., count: _Optional[int] = ..., with_scores: bool = ..., count_only: bool = ...) -> None: ...

class ZRemRange(_message.Message):
    __slots__ = ("key", "range")
    KEY_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    range: ZRange
    def __init__(self, key: _Optional[bytes] = ..., range: _Optional[_Union[ZRange, _Mapping]] = ...) -> None: ...

class ZRangeStore(_message.Message):
    __slots__ = ("key", "range")
    KEY_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    range: ZRange
    def __init__(self, key: _Optional[bytes] = ..., range: _Optional[_Union[ZRange, _Mapping]] = ...) -> None: ...

class ZRank(_message.Message):
    __slots__ = ("key", "member", "rev", "with_score")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    REV_FIELD_NUMBER: _ClassVar[int]
    WITH_SCORE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    member: bytes
    rev: bool
    with_score: bool
    def __init__(self, key: _Optional[bytes] = ..., member: _Optional[bytes] = ..., rev: bool = ..., with_score: bool = ...) -> None: ...

class ZPop(_message.Message):
    __slots__ = ("key", "max", "count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    max: bool
    count: int
    def __init__(self, key: _Optional[bytes] = ..., max: bool = ..., count: _Optional[int] = ...) -> None: ...

class ZMPop(_message.Message):
    __slots__ = ("keys", "max", "count")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    max: bool
    count: int
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ..., max: bool = ..., count: _Optional[int] = ...) -> None: ...

class ZRandMember(_message.Message):
    __slots__ = ("key", "count", "with_scores", "seed")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    WITH_SCORES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    count: int
    with_scores: bool
    seed: int
    def __init__(self, key: _Optional[bytes] = ..., count: _Optional[int] = ..., with_scores: bool = ..., seed: _Optional[int] = ...) -> None: ...

class ZSetOp(_message.Message):
    __slots__ = ("op", "keys", "weights", "aggregate", "with_scores", "limit", "card")
    OP_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    WITH_SCORES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    op: SetOpKind
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    weights: _containers.RepeatedScalarFieldContainer[float]
    aggregate: Aggregate
    with_scores: bool
    limit: int
    card: bool
    def __init__(self, op: _Optional[_Union[SetOpKind, str]] = ..., keys: _Optional[_Iterable[bytes]] = ..., weights: _Optional[_Iterable[float]] = ..., aggregate: _Optional[_Union[Aggregate, str]] = ..., with_scores: bool = ..., limit: _Optional[int] = ..., card: bool = ...) -> None: ...

class ZSetOpStore(_message.Message):
    __slots__ = ("key", "source")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    source: ZSetOp
    def __init__(self, key: _Optional[bytes] = ..., source: _Optional[_Union[ZSetOp, _Mapping]] = ...) -> None: ...

class DbKey(_message.Message):
    __slots__ = ("db", "key")
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    db: int
    key: bytes
    def __init__(self, db: _Optional[int] = ..., key: _Optional[bytes] = ...) -> None: ...

class Evict(_message.Message):
    __slots__ = ("candidates", "until_bytes", "mode", "policy")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    UNTIL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[DbKey]
    until_bytes: int
    mode: EvictionMode
    policy: str
    def __init__(self, candidates: _Optional[_Iterable[_Union[DbKey, _Mapping]]] = ..., until_bytes: _Optional[int] = ..., mode: _Optional[_Union[EvictionMode, str]] = ..., policy: _Optional[str] = ...) -> None: ...

class ObjectAccess(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class MetaGet(_message.Message):
    __slots__ = ("key", "vivify_ttl_ms", "recache_below_ms", "expiry")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VIVIFY_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    RECACHE_BELOW_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    vivify_ttl_ms: int
    recache_below_ms: int
    expiry: Expiry
    def __init__(self, key: _Optional[bytes] = ..., vivify_ttl_ms: _Optional[int] = ..., recache_below_ms: _Optional[int] = ..., expiry: _Optional[_Union[Expiry, _Mapping]] = ...) -> None: ...

class MetaInvalidate(_message.Message):
    __slots__ = ("key", "expiry", "cas_index")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    CAS_INDEX_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    expiry: Expiry
    cas_index: int
    def __init__(self, key: _Optional[bytes] = ..., expiry: _Optional[_Union[Expiry, _Mapping]] = ..., cas_index: _Optional[int] = ...) -> None: ...

class GeoMembers(_message.Message):
    __slots__ = ("key", "members")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    members: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, key: _Optional[bytes] = ..., members: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GeoDist(_message.Message):
    __slots__ = ("key", "member", "other", "unit")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    OTHER_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    member: bytes
    other: bytes
    unit: float
    def __init__(self, key: _Optional[bytes] = ..., member: _Optional[bytes] = ..., other: _Optional[bytes] = ..., unit: _Optional[float] = ...) -> None: ...

class GeoPoint(_message.Message):
    __slots__ = ("longitude", "latitude")
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    longitude: float
    latitude: float
    def __init__(self, longitude: _Optional[float] = ..., latitude: _Optional[float] = ...) -> None: ...

class GeoSearch(_message.Message):
    __slots__ = ("key", "new_key", "member", "point", "radius", "by_box", "width", "height", "unit", "count", "any", "sort", "with_dist", "with_hash", "with_coord", "store_dist")
    KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    POINT_FIELD_NUMBER: _ClassVar[int]
    RADIUS_FIELD_NUMBER: _ClassVar[int]
    BY_BOX_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ANY_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    WITH_DIST_FIELD_NUMBER: _ClassVar[int]
    WITH_HASH_FIELD_NUMBER: _ClassVar[int]
    WITH_COORD_FIELD_NUMBER: _ClassVar[int]
    STORE_DIST_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    new_key: bytes
    member: bytes
    point: GeoPoint
    radius: float
    by_box: bool
    width: float
    height: float
    unit: float
    count: int
    any: bool
    sort: GeoSort
    with_dist: bool
    with_hash: bool
    with_coord: bool
    store_dist: bool
    def __init__(self, key: _Optional[bytes] = ..., new_key: _Optional[bytes] = ..., member: _Optional[bytes] = ..., point: _Optional[_Union[GeoPoint, _Mapping]] = ..., radius: _Optional[float] = ..., by_box: bool = ..., width: _Optional[float] = ..., height: _Optional[float] = ..., unit: _Optional[float] = ..., count: _Optional[int] = ..., any: bool = ..., sort: _Optional[_Union[GeoSort, str]] = ..., with_dist: bool = ..., with_hash: bool = ..., with_coord: bool = ..., store_dist: bool = ...) -> None: ...

class StreamId(_message.Message):
    __slots__ = ("ms", "seq")
    MS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ms: int
    seq: int
    def __init__(self, ms: _Optional[int] = ..., seq: _Optional[int] = ...) -> None: ...

class StreamTrim(_message.Message):
    __slots__ = ("by", "approx", "maxlen", "minid", "limit")
    BY_FIELD_NUMBER: _ClassVar[int]
    APPROX_FIELD_NUMBER: _ClassVar[int]
    MAXLEN_FIELD_NUMBER: _ClassVar[int]
    MINID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    by: StreamTrimBy
    approx: bool
    maxlen: int
    minid: StreamId
    limit: int
    def __init__(self, by: _Optional[_Union[StreamTrimBy, str]] = ..., approx: bool = ..., maxlen: _Optional[int] = ..., minid: _Optional[_Union[StreamId, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class XAdd(_message.Message):
    __slots__ = ("key", "fields", "id", "seq_auto", "no_mkstream", "trim")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_AUTO_FIELD_NUMBER: _ClassVar[int]
    NO_MKSTREAM_FIELD_NUMBER: _ClassVar[int]
    TRIM_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    fields: _containers.RepeatedScalarFieldContainer[bytes]
    id: StreamId
    seq_auto: bool
    no_mkstream: bool
    trim: StreamTrim
    def __init__(self, key: _Optional[bytes] = ..., fields: _Optional[_Iterable[bytes]] = ..., id: _Optional[_Union[StreamId, _Mapping]] = ..., seq_auto: bool = ..., no_mkstream: bool = ..., trim: _Optional[_Union[StreamTrim, _Mapping]] = ...) -> None: ...

class XLen(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class XRange(_message.Message):
    __slots__ = ("key", "start", "end", "rev", "count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    REV_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    start: StreamId
    end: StreamId
    rev: bool
    count: int
    def __init__(self, key: _Optional[bytes] = ..., start: _Optional[_Union[StreamId, _Mapping]] = ..., end: _Optional[_Union[StreamId, _Mapping]] = ..., rev: bool = ..., count: _Optional[int] = ...) -> None: ...

class XDel(_message.Message):
    __slots__ = ("key", "ids")
    KEY_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    ids: _containers.RepeatedCompositeFieldContainer[StreamId]
    def __init__(self, key: _Optional[bytes] = ..., ids: _Optional[_Iterable[_Union[StreamId, _Mapping]]] = ...) -> None: ...

class XTrim(_message.Message):
    __slots__ = ("key", "trim")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TRIM_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    trim: StreamTrim
    def __init__(self, key: _Optional[bytes] = ..., trim: _Optional[_Union[StreamTrim, _Mapping]] = ...) -> None: ...

class XSetId(_message.Message):
    __slots__ = ("key", "id", "entries_added", "max_deleted")
    KEY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_ADDED_FIELD_NUMBER: _ClassVar[int]
    MAX_DELETED_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    id: StreamId
    entries_added: int
    max_deleted: StreamId
    def __init__(self, key: _Optional[bytes] = ..., id: _Optional[_Union[StreamId, _Mapping]] = ..., entries_added: _Optional[int] = ..., max_deleted: _Optional[_Union[StreamId, _Mapping]] = ...) -> None: ...

class XRead(_message.Message):
    __slots__ = ("keys", "ids", "count")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    ids: _containers.RepeatedCompositeFieldContainer[StreamId]
    count: int
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ..., ids: _Optional[_Iterable[_Union[StreamId, _Mapping]]] = ..., count: _Optional[int] = ...) -> None: ...

class XReadGroup(_message.Message):
    __slots__ = ("group", "consumer", "keys", "ids", "count", "noack")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    NOACK_FIELD_NUMBER: _ClassVar[int]
    group: bytes
    consumer: bytes
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    ids: _containers.RepeatedCompositeFieldContainer[StreamId]
    count: int
    noack: bool
    def __init__(self, group: _Optional[bytes] = ..., consumer: _Optional[bytes] = ..., keys: _Optional[_Iterable[bytes]] = ..., ids: _Optional[_Iterable[_Union[StreamId, _Mapping]]] = ..., count: _Optional[int] = ..., noack: bool = ...) -> None: ...

class XAck(_message.Message):
    __slots__ = ("key", "group", "ids")
    KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    group: bytes
    ids: _containers.RepeatedCompositeFieldContainer[StreamId]
    def __init__(self, key: _Optional[bytes] = ..., group: _Optional[bytes] = ..., ids: _Optional[_Iterable[_Union[StreamId, _Mapping]]] = ...) -> None: ...

class XPending(_message.Message):
    __slots__ = ("key", "group", "extended", "min_idle", "start", "end", "count", "consumer")
    KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_FIELD_NUMBER: _ClassVar[int]
    MIN_IDLE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    group: bytes
    extended: bool
    min_idle: int
    start: StreamId
    end: StreamId
    count: int
    consumer: bytes
    def __init__(self, key: _Optional[bytes] = ..., group: _Optional[bytes] = ..., extended: bool = ..., min_idle: _Optional[int] = ..., start: _Optional[_Union[StreamId, _Mapping]] = ..., end: _Optional[_Union[StreamId, _Mapping]] = ..., count: _Optional[int] = ..., consumer: _Optional[bytes] = ...) -> None: ...

class XClaim(_message.Message):
    __slots__ = ("key", "group", "consumer", "min_idle", "ids", "idle", "time", "retry_count", "force", "justid", "last_id")
    KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    MIN_IDLE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    IDLE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    JUSTID_FIELD_NUMBER: _ClassVar[int]
    LAST_ID_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    group: bytes
    consumer: bytes
    min_idle: int
    ids: _containers.RepeatedCompositeFieldContainer[StreamId]
    idle: int
    time: int
    retry_count: int
    force: bool
    justid: bool
    last_id: StreamId
    def __init__(self, key: _Optional[bytes] = ..., group: _Optional[bytes] = ..., consumer: _Optional[bytes] = ..., min_idle: _Optional[int] = ..., ids: _Optional[_Iterable[_Union[StreamId, _Mapping]]] = ..., idle: _Optional[int] = ..., time: _Optional[int] = ..., retry_count: _Optional[int] = ..., force: bool = ..., justid: bool = ..., last_id: _Optional[_Union[StreamId, _Mapping]] = ...) -> None: ...

class XAutoClaim(_message.Message):
    __slots__ = ("key", "group", "consumer", "min_idle", "start", "count", "justid")
    KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    MIN_IDLE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    JUSTID_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    group: bytes
    consumer: bytes
    min_idle: int
    start: StreamId
    count: int
    justid: bool
    def __init__(self, key: _Optional[bytes] = ..., group: _Optional[bytes] = ..., consumer: _Optional[bytes] = ..., min_idle: _Optional[int] = ..., start: _Optional[_Union[StreamId, _Mapping]] = ..., count: _Optional[int] = ..., justid: bool = ...) -> None: ...

class XGroup(_message.Message):
    __slots__ = ("key", "kind", "group", "id", "last", "mkstream", "entries_read", "consumer")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    MKSTREAM_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_READ_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    kind: XGroupKind
    group: bytes
    id: StreamId
    last: bool
    mkstream: bool
    entries_read: int
    consumer: bytes
    def __init__(self, key: _Optional[bytes] = ..., kind: _Optional[_Union[XGroupKind, str]] = ..., group: _Optional[bytes] = ..., id: _Optional[_Union[StreamId, _Mapping]] = ..., last: bool = ..., mkstream: bool = ..., entries_read: _Optional[int] = ..., consumer: _Optional[bytes] = ...) -> None: ...

class XInfo(_message.Message):
    __slots__ = ("key", "kind", "group", "full", "count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    kind: XInfoKind
    group: bytes
    full: bool
    count: int
    def __init__(self, key: _Optional[bytes] = ..., kind: _Optional[_Union[XInfoKind, str]] = ..., group: _Optional[bytes] = ..., full: bool = ..., count: _Optional[int] = ...) -> None: ...

class XProbe(_message.Message):
    __slots__ = ("key", "group")
    KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    group: bytes
    def __init__(self, key: _Optional[bytes] = ..., group: _Optional[bytes] = ...) -> None: ...

class RandomKey(_message.Message):
    __slots__ = ("seed",)
    SEED_FIELD_NUMBER: _ClassVar[int]
    seed: int
    def __init__(self, seed: _Optional[int] = ...) -> None: ...

class ObjectEncoding(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class Copy(_message.Message):
    __slots__ = ("key", "new_key", "destination_db", "replace")
    KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_DB_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    new_key: bytes
    destination_db: int
    replace: bool
    def __init__(self, key: _Optional[bytes] = ..., new_key: _Optional[bytes] = ..., destination_db: _Optional[int] = ..., replace: bool = ...) -> None: ...

class Move(_message.Message):
    __slots__ = ("key", "destination_db")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_DB_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    destination_db: int
    def __init__(self, key: _Optional[bytes] = ..., destination_db: _Optional[int] = ...) -> None: ...

class SwapDb(_message.Message):
    __slots__ = ("other_db",)
    OTHER_DB_FIELD_NUMBER: _ClassVar[int]
    other_db: int
    def __init__(self, other_db: _Optional[int] = ...) -> None: ...

class KeyVersion(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Watched(_message.Message):
    __slots__ = ("db", "key", "index", "seen_at")
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    db: int
    key: bytes
    index: int
    seen_at: int
    def __init__(self, db: _Optional[int] = ..., key: _Optional[bytes] = ..., index: _Optional[int] = ..., seen_at: _Optional[int] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("commands", "watches")
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    WATCHES_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[Command]
    watches: _containers.RepeatedCompositeFieldContainer[Watched]
    def __init__(self, commands: _Optional[_Iterable[_Union[Command, _Mapping]]] = ..., watches: _Optional[_Iterable[_Union[Watched, _Mapping]]] = ...) -> None: ...

class ConfigPair(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class ConfigSet(_message.Message):
    __slots__ = ("parameters", "default_user_rules")
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_USER_RULES_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.RepeatedCompositeFieldContainer[ConfigPair]
    default_user_rules: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, parameters: _Optional[_Iterable[_Union[ConfigPair, _Mapping]]] = ..., default_user_rules: _Optional[_Iterable[bytes]] = ...) -> None: ...

class AclSetUser(_message.Message):
    __slots__ = ("name", "rules")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    name: str
    rules: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, name: _Optional[str] = ..., rules: _Optional[_Iterable[bytes]] = ...) -> None: ...

class AclDelUser(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class AclUserRules(_message.Message):
    __slots__ = ("name", "rules")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    name: str
    rules: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, name: _Optional[str] = ..., rules: _Optional[_Iterable[bytes]] = ...) -> None: ...

class AclLoad(_message.Message):
    __slots__ = ("users",)
    USERS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[AclUserRules]
    def __init__(self, users: _Optional[_Iterable[_Union[AclUserRules, _Mapping]]] = ...) -> None: ...

class SetVersion(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class SlotRange(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ...) -> None: ...

class ClaimSlots(_message.Message):
    __slots__ = ("shard", "epoch", "ranges")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    shard: int
    epoch: int
    ranges: _containers.RepeatedCompositeFieldContainer[SlotRange]
    def __init__(self, shard: _Optional[int] = ..., epoch: _Optional[int] = ..., ranges: _Optional[_Iterable[_Union[SlotRange, _Mapping]]] = ...) -> None: ...

class BeginMigration(_message.Message):
    __slots__ = ("role", "peer", "epoch", "ranges", "frozen")
    class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NONE: _ClassVar[BeginMigration.Role]
        MIGRATING: _ClassVar[BeginMigration.Role]
        IMPORTING: _ClassVar[BeginMigration.Role]
    NONE: BeginMigration.Role
    MIGRATING: BeginMigration.Role
    IMPORTING: BeginMigration.Role
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    FROZEN_FIELD_NUMBER: _ClassVar[int]
    role: BeginMigration.Role
    peer: int
    epoch: int
    ranges: _containers.RepeatedCompositeFieldContainer[SlotRange]
    frozen: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, role: _Optional[_Union[BeginMigration.Role, str]] = ..., peer: _Optional[int] = ..., epoch: _Optional[int] = ..., ranges: _Optional[_Iterable[_Union[SlotRange, _Mapping]]] = ..., frozen: _Optional[_Iterable[bytes]] = ...) -> None: ...

class MigrateKeys(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class MigratedKey(_message.Message):
    __slots__ = ("key", "payload", "expire_at_ms", "record")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_AT_MS_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    payload: bytes
    expire_at_ms: int
    record: StoredRecord
    def __init__(self, key: _Optional[bytes] = ..., payload: _Optional[bytes] = ..., expire_at_ms: _Optional[int] = ..., record: _Optional[_Union[StoredRecord, _Mapping]] = ...) -> None: ...

class StoredRecord(_message.Message):
    __slots__ = ("type", "value", "flags", "items", "state")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    type: int
    value: bytes
    flags: int
    items: _containers.RepeatedCompositeFieldContainer[StoredItem]
    state: int
    def __init__(self, type: _Optional[int] = ..., value: _Optional[bytes] = ..., flags: _Optional[int] = ..., items: _Optional[_Iterable[_Union[StoredItem, _Mapping]]] = ..., state: _Optional[int] = ...) -> None: ...

class StoredItem(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class RestoreKeys(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[MigratedKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[MigratedKey, _Mapping]]] = ...) -> None: ...

class DropMigrated(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class FinishMigration(_message.Message):
    __slots__ = ("epoch",)
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    def __init__(self, epoch: _Optional[int] = ...) -> None: ...

class ExportDedup(_message.Message):
    __slots__ = ("after",)
    AFTER_FIELD_NUMBER: _ClassVar[int]
    after: str
    def __init__(self, after: _Optional[str] = ...) -> None: ...

class DedupEntry(_message.Message):
    __slots__ = ("client_id", "sequence", "now_ms", "result")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    NOW_MS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    sequence: int
    now_ms: int
    result: bytes
    def __init__(self, client_id: _Optional[str] = ..., sequence: _Optional[int] = ..., now_ms: _Optional[int] = ..., result: _Optional[bytes] = ...) -> None: ...

class ImportDedup(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[DedupEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[DedupEntry, _Mapping]]] = ...) -> None: ...

class Publish(_message.Message):
    __slots__ = ("channel", "message", "sharded")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SHARDED_FIELD_NUMBER: _ClassVar[int]
    channel: bytes
    message: bytes
    sharded: bool
    def __init__(self, channel: _Optional[bytes] = ..., message: _Optional[bytes] = ..., sharded: bool = ...) -> None: ...

class PublishBatch(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Publish]
    def __init__(self, messages: _Optional[_Iterable[_Union[Publish, _Mapping]]] = ...) -> None: ...

class SetBatch(_message.Message):
    __slots__ = ("sets",)
    SETS_FIELD_NUMBER: _ClassVar[int]
    sets: _containers.RepeatedCompositeFieldContainer[SetBatchItem]
    def __init__(self, sets: _Optional[_Iterable[_Union[SetBatchItem, _Mapping]]] = ...) -> None: ...

class SetBatchItem(_message.Message):
    __slots__ = ("db", "key", "value", "client_id", "sequence")
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    db: int
    key: bytes
    value: bytes
    client_id: str
    sequence: int
    def __init__(self, db: _Optional[int] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., client_id: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class Eval(_message.Message):
    __slots__ = ("body", "sha", "keys", "args", "function", "user", "caller")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SHA_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    sha: str
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    args: _containers.RepeatedScalarFieldContainer[bytes]
    function: str
    user: str
    caller: str
    def __init__(self, body: _Optional[bytes] = ..., sha: _Optional[str] = ..., keys: _Optional[_Iterable[bytes]] = ..., args: _Optional[_Iterable[bytes]] = ..., function: _Optional[str] = ..., user: _Optional[str] = ..., caller: _Optional[str] = ...) -> None: ...

class ScriptLoad(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    def __init__(self, body: _Optional[bytes] = ...) -> None: ...

class ScriptExists(_message.Message):
    __slots__ = ("shas",)
    SHAS_FIELD_NUMBER: _ClassVar[int]
    shas: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, shas: _Optional[_Iterable[str]] = ...) -> None: ...

class ScriptFlush(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FunctionLoad(_message.Message):
    __slots__ = ("code", "replace")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    code: bytes
    replace: bool
    def __init__(self, code: _Optional[bytes] = ..., replace: bool = ...) -> None: ...

class FunctionDelete(_message.Message):
    __slots__ = ("library",)
    LIBRARY_FIELD_NUMBER: _ClassVar[int]
    library: str
    def __init__(self, library: _Optional[str] = ...) -> None: ...

class FunctionFlush(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FunctionRestore(_message.Message):
    __slots__ = ("payload", "policy")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    policy: str
    def __init__(self, payload: _Optional[bytes] = ..., policy: _Optional[str] = ...) -> None: ...

class FunctionList(_message.Message):
    __slots__ = ("what", "pattern", "with_code")
    WHAT_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    WITH_CODE_FIELD_NUMBER: _ClassVar[int]
    what: str
    pattern: bytes
    with_code: bool
    def __init__(self, what: _Optional[str] = ..., pattern: _Optional[bytes] = ..., with_code: bool = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("db", "eviction", "asking", "noop", "get", "set", "get_del", "get_ex", "exists", "incr_by", "incr_by_float", "append", "str_len", "get_range", "set_range", "mset", "mset_nx", "mget", "expire", "persist", "ttl", "type", "rename", "scan", "db_size", "flush_all", "flush_db", "delete_expired", "mc_incr", "get_meta", "get_and_touch", "setbit", "getbit", "bitcount", "bitpos", "bitop", "lcs", "bitfield", "bitfield_ro", "pfadd", "pfcount", "pfcount_ro", "pfmerge", "pfdebug", "pfdebug_ro", "hset", "hget", "hmget", "hdel", "hlen", "hexists", "hgetall", "hincrby", "hincrbyfloat", "hstrlen", "hrandfield", "element_scan", "hexpire", "hpersist", "httl", "delete_expired_fields", "push", "pop", "lrange", "llen", "lindex", "lset", "lrem", "ltrim", "linsert", "lpos", "lmove", "lmpop", "sadd", "srem", "smembers", "sismember", "scard", "spop", "srandmember", "smove", "set_op", "set_op_store", "zadd", "zrem", "zscore", "zcard", "zrange", "zremrange", "zrangestore", "zrank", "zpop", "zrandmember", "zset_op", "zset_op_store", "zmpop", "geopos", "geohash", "geodist", "geosearch", "geosearch_store", "xadd", "xlen", "xrange", "xdel", "xtrim", "xsetid", "xread", "xreadgroup", "xack", "xpending", "xclaim", "xautoclaim", "xgroup", "xinfo", "xprobe", "random_key", "copy", "move", "swap_db", "key_version", "object_encoding", "object_access", "transaction", "config_set", "set_version", "acl_set_user", "acl_del_user", "acl_load", "publish", "publish_batch", "evict", "meta_get", "meta_invalidate", "sort", "sort_store", "dump", "restore", "claim_slots", "begin_migration", "migrate_keys", "restore_keys", "drop_migrated", "finish_migration", "export_dedup", "import_dedup", "eval", "eval_ro", "script_load", "script_exists", "script_flush", "function_load", "function_delete", "function_flush", "function_restore", "function_list", "set_batch")
    DB_FIELD_NUMBER: _ClassVar[int]
    EVICTION_FIELD_NUMBER: _ClassVar[int]
    ASKING_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    GET_DEL_FIELD_NUMBER: _ClassVar[int]
    GET_EX_FIELD_NUMBER: _ClassVar[int]
    DEL_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    INCR_BY_FIELD_NUMBER: _ClassVar[int]
    INCR_BY_FLOAT_FIELD_NUMBER: _ClassVar[int]
    APPEND_FIELD_NUMBER: _ClassVar[int]
    STR_LEN_FIELD_NUMBER: _ClassVar[int]
    GET_RANGE_FIELD_NUMBER: _ClassVar[int]
    SET_RANGE_FIELD_NUMBER: _ClassVar[int]
    MSET_FIELD_NUMBER: _ClassVar[int]
    MSET_NX_FIELD_NUMBER: _ClassVar[int]
    MGET_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_FIELD_NUMBER: _ClassVar[int]
    PERSIST_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RENAME_FIELD_NUMBER: _ClassVar[int]
    SCAN_FIELD_NUMBER: _ClassVar[int]
    DB_SIZE_FIELD_NUMBER: _ClassVar[int]
    FLUSH_ALL_FIELD_NUMBER: _ClassVar[int]
    FLUSH_DB_FIELD_NUMBER: _ClassVar[int]
    DELETE_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    MC_INCR_FIELD_NUMBER: _ClassVar[int]
    GET_META_FIELD_NUMBER: _ClassVar[int]
    GET_AND_TOUCH_FIELD_NUMBER: _ClassVar[int]
    SETBIT_FIELD_NUMBER: _ClassVar[int]
    GETBIT_FIELD_NUMBER: _ClassVar[int]
    BITCOUNT_FIELD_NUMBER: _ClassVar[int]
    BITPOS_FIELD_NUMBER: _ClassVar[int]
    BITOP_FIELD_NUMBER: _ClassVar[int]
    LCS_FIELD_NUMBER: _ClassVar[int]
    BITFIELD_FIELD_NUMBER: _ClassVar[int]
    BITFIELD_RO_FIELD_NUMBER: _ClassVar[int]
    PFADD_FIELD_NUMBER: _ClassVar[int]
    PFCOUNT_FIELD_NUMBER: _ClassVar[int]
    PFCOUNT_RO_FIELD_NUMBER: _ClassVar[int]
    PFMERGE_FIELD_NUMBER: _ClassVar[int]
    PFDEBUG_FIELD_NUMBER: _ClassVar[int]
    PFDEBUG_RO_FIELD_NUMBER: _ClassVar[int]
    HSET_FIELD_NUMBER: _ClassVar[int]
    HGET_FIELD_NUMBER: _ClassVar[int]
    HMGET_FIELD_NUMBER: _ClassVar[int]
    HDEL_FIELD_NUMBER: _ClassVar[int]
    HLEN_FIELD_NUMBER: _ClassVar[int]
    HEXISTS_FIELD_NUMBER: _ClassVar[int]
    HGETALL_FIELD_NUMBER: _ClassVar[int]
    HINCRBY_FIELD_NUMBER: _ClassVar[int]
    HINCRBYFLOAT_FIELD_NUMBER: _ClassVar[int]
    HSTRLEN_FIELD_NUMBER: _ClassVar[int]
    HRANDFIELD_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_SCAN_FIELD_NUMBER: _ClassVar[int]
    HEXPIRE_FIELD_NUMBER: _ClassVar[int]
    HPERSIST_FIELD_NUMBER: _ClassVar[int]
    HTTL_FIELD_NUMBER: _ClassVar[int]
    DELETE_EXPIRED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    PUSH_FIELD_NUMBER: _ClassVar[int]
    POP_FIELD_NUMBER: _ClassVar[int]
    LRANGE_FIELD_NUMBER: _ClassVar[int]
    LLEN_FIELD_NUMBER: _ClassVar[int]
    LINDEX_FIELD_NUMBER: _ClassVar[int]
    LSET_FIELD_NUMBER: _ClassVar[int]
    LREM_FIELD_NUMBER: _ClassVar[int]
    LTRIM_FIELD_NUMBER: _ClassVar[int]
    LINSERT_FIELD_NUMBER: _ClassVar[int]
    LPOS_FIELD_NUMBER: _ClassVar[int]
    LMOVE_FIELD_NUMBER: _ClassVar[int]
    LMPOP_FIELD_NUMBER: _ClassVar[int]
    SADD_FIELD_NUMBER: _ClassVar[int]
    SREM_FIELD_NUMBER: _ClassVar[int]
    SMEMBERS_FIELD_NUMBER: _ClassVar[int]
    SISMEMBER_FIELD_NUMBER: _ClassVar[int]
    SCARD_FIELD_NUMBER: _ClassVar[int]
    SPOP_FIELD_NUMBER: _ClassVar[int]
    SRANDMEMBER_FIELD_NUMBER: _ClassVar[int]
    SMOVE_FIELD_NUMBER: _ClassVar[int]
    SET_OP_FIELD_NUMBER: _ClassVar[int]
    SET_OP_STORE_FIELD_NUMBER: _ClassVar[int]
    ZADD_FIELD_NUMBER: _ClassVar[int]
    ZREM_FIELD_NUMBER: _ClassVar[int]
    ZSCORE_FIELD_NUMBER: _ClassVar[int]
    ZCARD_FIELD_NUMBER: _ClassVar[int]
    ZRANGE_FIELD_NUMBER: _ClassVar[int]
    ZREMRANGE_FIELD_NUMBER: _ClassVar[int]
    ZRANGESTORE_FIELD_NUMBER: _ClassVar[int]
    ZRANK_FIELD_NUMBER: _ClassVar[int]
    ZPOP_FIELD_NUMBER: _ClassVar[int]
    ZRANDMEMBER_FIELD_NUMBER: _ClassVar[int]
    ZSET_OP_FIELD_NUMBER: _ClassVar[int]
    ZSET_OP_STORE_FIELD_NUMBER: _ClassVar[int]
    ZMPOP_FIELD_NUMBER: _ClassVar[int]
    GEOPOS_FIELD_NUMBER: _ClassVar[int]
    GEOHASH_FIELD_NUMBER: _ClassVar[int]
    GEODIST_FIELD_NUMBER: _ClassVar[int]
    GEOSEARCH_FIELD_NUMBER: _ClassVar[int]
    GEOSEARCH_STORE_FIELD_NUMBER: _ClassVar[int]
    XADD_FIELD_NUMBER: _ClassVar[int]
    XLEN_FIELD_NUMBER: _ClassVar[int]
    XRANGE_FIELD_NUMBER: _ClassVar[int]
    XDEL_FIELD_NUMBER: _ClassVar[int]
    XTRIM_FIELD_NUMBER: _ClassVar[int]
    XSETID_FIELD_NUMBER: _ClassVar[int]
    XREAD_FIELD_NUMBER: _ClassVar[int]
    XREADGROUP_FIELD_NUMBER: _ClassVar[int]
    XACK_FIELD_NUMBER: _ClassVar[int]
    XPENDING_FIELD_NUMBER: _ClassVar[int]
    XCLAIM_FIELD_NUMBER: _ClassVar[int]
    XAUTOCLAIM_FIELD_NUMBER: _ClassVar[int]
    XGROUP_FIELD_NUMBER: _ClassVar[int]
    XINFO_FIELD_NUMBER: _ClassVar[int]
    XPROBE_FIELD_NUMBER: _ClassVar[int]
    RANDOM_KEY_FIELD_NUMBER: _ClassVar[int]
    COPY_FIELD_NUMBER: _ClassVar[int]
    MOVE_FIELD_NUMBER: _ClassVar[int]
    SWAP_DB_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ACCESS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_SET_FIELD_NUMBER: _ClassVar[int]
    SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACL_SET_USER_FIELD_NUMBER: _ClassVar[int]
    ACL_DEL_USER_FIELD_NUMBER: _ClassVar[int]
    ACL_LOAD_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_BATCH_FIELD_NUMBER: _ClassVar[int]
    EVICT_FIELD_NUMBER: _ClassVar[int]
    META_GET_FIELD_NUMBER: _ClassVar[int]
    META_INVALIDATE_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    SORT_STORE_FIELD_NUMBER: _ClassVar[int]
    DUMP_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FIELD_NUMBER: _ClassVar[int]
    CLAIM_SLOTS_FIELD_NUMBER: _ClassVar[int]
    BEGIN_MIGRATION_FIELD_NUMBER: _ClassVar[int]
    MIGRATE_KEYS_FIELD_NUMBER: _ClassVar[int]
    RESTORE_KEYS_FIELD_NUMBER: _ClassVar[int]
    DROP_MIGRATED_FIELD_NUMBER: _ClassVar[int]
    FINISH_MIGRATION_FIELD_NUMBER: _ClassVar[int]
    EXPORT_DEDUP_FIELD_NUMBER: _ClassVar[int]
    IMPORT_DEDUP_FIELD_NUMBER: _ClassVar[int]
    EVAL_FIELD_NUMBER: _ClassVar[int]
    EVAL_RO_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_LOAD_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_EXISTS_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_FLUSH_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_LOAD_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_DELETE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FLUSH_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_RESTORE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_LIST_FIELD_NUMBER: _ClassVar[int]
    SET_BATCH_FIELD_NUMBER: _ClassVar[int]
    db: int
    eviction: EvictionMode
    asking: bool
    noop: Noop
    get: Get
    set: Set
    get_del: GetDel
    get_ex: GetEx
    exists: Exists
    incr_by: IncrBy
    incr_by_float: IncrByFloat
    append: Append
    str_len: StrLen
    get_range: GetRange
    set_range: SetRange
    mset: MSet
    mset_nx: MSetNx
    mget: MGet
    expire: Expire
    persist: Persist
    ttl: Ttl
    type: Type
    rename: Rename
    scan: Scan
    db_size: DbSize
    flush_all: FlushAll
    flush_db: FlushDb
    delete_expired: DeleteExpired
    mc_incr: McIncr
    get_meta: GetMeta
    get_and_touch: GetAndTouch
    setbit: SetBit
    getbit: GetBit
    bitcount: BitCount
    bitpos: BitPos
    bitop: BitOp
    lcs: Lcs
    bitfield: BitField
    bitfield_ro: BitField
    pfadd: PfAdd
    pfcount: PfCount
    pfcount_ro: PfCount
    pfmerge: PfMerge
    pfdebug: PfDebug
    pfdebug_ro: PfDebug
    hset: HSet
    hget: HGet
    hmget: HMGet
    hdel: HDel
    hlen: HLen
    hexists: HExists
    hgetall: HGetAll
    hincrby: HIncrBy
    hincrbyfloat: HIncrByFloat
    hstrlen: HStrLen
    hrandfield: HRandField
    element_scan: ElementScan
    hexpire: HExpire
    hpersist: HPersist
    httl: HTtl
    delete_expired_fields: DeleteExpiredFields
    push: Push
    pop: Pop
    lrange: LRange
    llen: LLen
    lindex: LIndex
    lset: LSet
    lrem: LRem
    ltrim: LTrim
    linsert: LInsert
    lpos: LPos
    lmove: LMove
    lmpop: LMPop
    sadd: SAdd
    srem: SRem
    smembers: SMembers
    sismember: SIsMember
    scard: SCard
    spop: SPop
    srandmember: SRandMember
    smove: SMove
    set_op: SetOp
    set_op_store: SetOpStore
    zadd: ZAdd
    zrem: ZRem
    zscore: ZScore
    zcard: ZCard
    zrange: ZRange
    zremrange: ZRemRange
    zrangestore: ZRangeStore
    zrank: ZRank
    zpop: ZPop
    zrandmember: ZRandMember
    zset_op: ZSetOp
    zset_op_store: ZSetOpStore
    zmpop: ZMPop
    geopos: GeoMembers
    geohash: GeoMembers
    geodist: GeoDist
    geosearch: GeoSearch
    geosearch_store: GeoSearch
    xadd: XAdd
    xlen: XLen
    xrange: XRange
    xdel: XDel
    xtrim: XTrim
    xsetid: XSetId
    xread: XRead
    xreadgroup: XReadGroup
    xack: XAck
    xpending: XPending
    xclaim: XClaim
    xautoclaim: XAutoClaim
    xgroup: XGroup
    xinfo: XInfo
    xprobe: XProbe
    random_key: RandomKey
    copy: Copy
    move: Move
    swap_db: SwapDb
    key_version: KeyVersion
    object_encoding: ObjectEncoding
    object_access: ObjectAccess
    transaction: Transaction
    config_set: ConfigSet
    set_version: SetVersion
    acl_set_user: AclSetUser
    acl_del_user: AclDelUser
    acl_load: AclLoad
    publish: Publish
    publish_batch: PublishBatch
    evict: Evict
    meta_get: MetaGet
    meta_invalidate: MetaInvalidate
    sort: Sort
    sort_store: Sort
    dump: Dump
    restore: Restore
    claim_slots: ClaimSlots
    begin_migration: BeginMigration
    migrate_keys: MigrateKeys
    restore_keys: RestoreKeys
    drop_migrated: DropMigrated
    finish_migration: FinishMigration
    export_dedup: ExportDedup
    import_dedup: ImportDedup
    eval: Eval
    eval_ro: Eval
    script_load: ScriptLoad
    script_exists: ScriptExists
    script_flush: ScriptFlush
    function_load: FunctionLoad
    function_delete: FunctionDelete
    function_flush: FunctionFlush
    function_restore: FunctionRestore
    function_list: FunctionList
    set_batch: SetBatch
    def __init__(self, db: _Optional[int] = ..., eviction: _Optional[_Union[EvictionMode, str]] = ..., asking: bool = ..., noop: _Optional[_Union[Noop, _Mapping]] = ..., get: _Optional[_Union[Get, _Mapping]] = ..., set: _Optional[_Union[Set, _Mapping]] = ..., get_del: _Optional[_Union[GetDel, _Mapping]] = ..., get_ex: _Optional[_Union[GetEx, _Mapping]] = ..., exists: _Optional[_Union[Exists, _Mapping]] = ..., incr_by: _Optional[_Union[IncrBy, _Mapping]] = ..., incr_by_float: _Optional[_Union[IncrByFloat, _Mapping]] = ..., append: _Optional[_Union[Append, _Mapping]] = ..., str_len: _Optional[_Union[StrLen, _Mapping]] = ..., get_range: _Optional[_Union[GetRange, _Mapping]] = ..., set_range: _Optional[_Union[SetRange, _Mapping]] = ..., mset: _Optional[_Union[MSet, _Mapping]] = ..., mset_nx: _Optional[_Union[MSetNx, _Mapping]] = ..., mget: _Optional[_Union[MGet, _Mapping]] = ..., expire: _Optional[_Union[Expire, _Mapping]] = ..., persist: _Optional[_Union[Persist, _Mapping]] = ..., ttl: _Optional[_Union[Ttl, _Mapping]] = ..., type: _Optional[_Union[Type, _Mapping]] = ..., rename: _Optional[_Union[Rename, _Mapping]] = ..., scan: _Optional[_Union[Scan, _Mapping]] = ..., db_size: _Optional[_Union[DbSize, _Mapping]] = ..., flush_all: _Optional[_Union[FlushAll, _Mapping]] = ..., flush_db: _Optional[_Union[FlushDb, _Mapping]] = ..., delete_expired: _Optional[_Union[DeleteExpired, _Mapping]] = ..., mc_incr: _Optional[_Union[McIncr, _Mapping]] = ..., get_meta: _Optional[_Union[GetMeta, _Mapping]] = ..., get_and_touch: _Optional[_Union[GetAndTouch, _Mapping]] = ..., setbit: _Optional[_Union[SetBit, _Mapping]] = ..., getbit: _Optional[_Union[GetBit, _Mapping]] = ..., bitcount: _Optional[_Union[BitCount, _Mapping]] = ..., bitpos: _Optional[_Union[BitPos, _Mapping]] = ..., bitop: _Optional[_Union[BitOp, _Mapping]] = ..., lcs: _Optional[_Union[Lcs, _Mapping]] = ..., bitfield: _Optional[_Union[BitField, _Mapping]] = ..., bitfield_ro: _Optional[_Union[BitField, _Mapping]] = ..., pfadd: _Optional[_Union[PfAdd, _Mapping]] = ..., pfcount: _Optional[_Union[PfCount, _Mapping]] = ..., pfcount_ro: _Optional[_Union[PfCount, _Mapping]] = ..., pfmerge: _Optional[_Union[PfMerge, _Mapping]] = ..., pfdebug: _Optional[_Union[PfDebug, _Mapping]] = ..., pfdebug_ro: _Optional[_Union[PfDebug, _Mapping]] = ..., hset: _Optional[_Union[HSet, _Mapping]] = ..., hget: _Optional[_Union[HGet, _Mapping]] = ..., hmget: _Optional[_Union[HMGet, _Mapping]] = ..., hdel: _Optional[_Union[HDel, _Mapping]] = ..., hlen: _Optional[_Union[HLen, _Mapping]] = ..., hexists: _Optional[_Union[HExists, _Mapping]] = ..., hgetall: _Optional[_Union[HGetAll, _Mapping]] = ..., hincrby: _Optional[_Union[HIncrBy, _Mapping]] = ..., hincrbyfloat: _Optional[_Union[HIncrByFloat, _Mapping]] = ..., hstrlen: _Optional[_Union[HStrLen, _Mapping]] = ..., hrandfield: _Optional[_Union[HRandField, _Mapping]] = ..., element_scan: _Optional[_Union[ElementScan, _Mapping]] = ..., hexpire: _Optional[_Union[HExpire, _Mapping]] = ..., hpersist: _Optional[_Union[HPersist, _Mapping]] = ..., httl: _Optional[_Union[HTtl, _Mapping]] = ..., delete_expired_fields: _Optional[_Union[DeleteExpiredFields, _Mapping]] = ..., push: _Optional[_Union[Push, _Mapping]] = ..., pop: _Optional[_Union[Pop, _Mapping]] = ..., lrange: _Optional[_Union[LRange, _Mapping]] = ..., llen: _Optional[_Union[LLen, _Mapping]] = ..., lindex: _Optional[_Union[LIndex, _Mapping]] = ..., lset: _Optional[_Union[LSet, _Mapping]] = ..., lrem: _Optional[_Union[LRem, _Mapping]] = ..., ltrim: _Optional[_Union[LTrim, _Mapping]] = ..., linsert: _Optional[_Union[LInsert, _Mapping]] = ..., lpos: _Optional[_Union[LPos, _Mapping]] = ..., lmove: _Optional[_Union[LMove, _Mapping]] = ..., lmpop: _Optional[_Union[LMPop, _Mapping]] = ..., sadd: _Optional[_Union[SAdd, _Mapping]] = ..., srem: _Optional[_Union[SRem, _Mapping]] = ..., smembers: _Optional[_Union[SMembers, _Mapping]] = ..., sismember: _Optional[_Union[SIsMember, _Mapping]] = ..., scard: _Optional[_Union[SCard, _Mapping]] = ..., spop: _Optional[_Union[SPop, _Mapping]] = ..., srandmember: _Optional[_Union[SRandMember, _Mapping]] = ..., smove: _Optional[_Union[SMove, _Mapping]] = ..., set_op: _Optional[_Union[SetOp, _Mapping]] = ..., set_op_store: _Optional[_Union[SetOpStore, _Mapping]] = ..., zadd: _Optional[_Union[ZAdd, _Mapping]] = ..., zrem: _Optional[_Union[ZRem, _Mapping]] = ..., zscore: _Optional[_Union[ZScore, _Mapping]] = ..., zcard: _Optional[_Union[ZCard, _Mapping]] = ..., zrange: _Optional[_Union[ZRange, _Mapping]] = ..., zremrange: _Optional[_Union[ZRemRange, _Mapping]] = ..., zrangestore: _Optional[_Union[ZRangeStore, _Mapping]] = ..., zrank: _Optional[_Union[ZRank, _Mapping]] = ..., zpop: _Optional[_Union[ZPop, _Mapping]] = ..., zrandmember: _Optional[_Union[ZRandMember, _Mapping]] = ..., zset_op: _Optional[_Union[ZSetOp, _Mapping]] = ..., zset_op_store: _Optional[_Union[ZSetOpStore, _Mapping]] = ..., zmpop: _Optional[_Union[ZMPop, _Mapping]] = ..., geopos: _Optional[_Union[GeoMembers, _Mapping]] = ..., geohash: _Optional[_Union[GeoMembers, _Mapping]] = ..., geodist: _Optional[_Union[GeoDist, _Mapping]] = ..., geosearch: _Optional[_Union[GeoSearch, _Mapping]] = ..., geosearch_store: _Optional[_Union[GeoSearch, _Mapping]] = ..., xadd: _Optional[_Union[XAdd, _Mapping]] = ..., xlen: _Optional[_Union[XLen, _Mapping]] = ..., xrange: _Optional[_Union[XRange, _Mapping]] = ..., xdel: _Optional[_Union[XDel, _Mapping]] = ..., xtrim: _Optional[_Union[XTrim, _Mapping]] = ..., xsetid: _Optional[_Union[XSetId, _Mapping]] = ..., xread: _Optional[_Union[XRead, _Mapping]] = ..., xreadgroup: _Optional[_Union[XReadGroup, _Mapping]] = ..., xack: _Optional[_Union[XAck, _Mapping]] = ..., xpending: _Optional[_Union[XPending, _Mapping]] = ..., xclaim: _Optional[_Union[XClaim, _Mapping]] = ..., xautoclaim: _Optional[_Union[XAutoClaim, _Mapping]] = ..., xgroup: _Optional[_Union[XGroup, _Mapping]] = ..., xinfo: _Optional[_Union[XInfo, _Mapping]] = ..., xprobe: _Optional[_Union[XProbe, _Mapping]] = ..., random_key: _Optional[_Union[RandomKey, _Mapping]] = ..., copy: _Optional[_Union[Copy, _Mapping]] = ..., move: _Optional[_Union[Move, _Mapping]] = ..., swap_db: _Optional[_Union[SwapDb, _Mapping]] = ..., key_version: _Optional[_Union[KeyVersion, _Mapping]] = ..., object_encoding: _Optional[_Union[ObjectEncoding, _Mapping]] = ..., object_access: _Optional[_Union[ObjectAccess, _Mapping]] = ..., transaction: _Optional[_Union[Transaction, _Mapping]] = ..., config_set: _Optional[_Union[ConfigSet, _Mapping]] = ..., set_version: _Optional[_Union[SetVersion, _Mapping]] = ..., acl_set_user: _Optional[_Union[AclSetUser, _Mapping]] = ..., acl_del_user: _Optional[_Union[AclDelUser, _Mapping]] = ..., acl_load: _Optional[_Union[AclLoad, _Mapping]] = ..., publish: _Optional[_Union[Publish, _Mapping]] = ..., publish_batch: _Optional[_Union[PublishBatch, _Mapping]] = ..., evict: _Optional[_Union[Evict, _Mapping]] = ..., meta_get: _Optional[_Union[MetaGet, _Mapping]] = ..., meta_invalidate: _Optional[_Union[MetaInvalidate, _Mapping]] = ..., sort: _Optional[_Union[Sort, _Mapping]] = ..., sort_store: _Optional[_Union[Sort, _Mapping]] = ..., dump: _Optional[_Union[Dump, _Mapping]] = ..., restore: _Optional[_Union[Restore, _Mapping]] = ..., claim_slots: _Optional[_Union[ClaimSlots, _Mapping]] = ..., begin_migration: _Optional[_Union[BeginMigration, _Mapping]] = ..., migrate_keys: _Optional[_Union[MigrateKeys, _Mapping]] = ..., restore_keys: _Optional[_Union[RestoreKeys, _Mapping]] = ..., drop_migrated: _Optional[_Union[DropMigrated, _Mapping]] = ..., finish_migration: _Optional[_Union[FinishMigration, _Mapping]] = ..., export_dedup: _Optional[_Union[ExportDedup, _Mapping]] = ..., import_dedup: _Optional[_Union[ImportDedup, _Mapping]] = ..., eval: _Optional[_Union[Eval, _Mapping]] = ..., eval_ro: _Optional[_Union[Eval, _Mapping]] = ..., script_load: _Optional[_Union[ScriptLoad, _Mapping]] = ..., script_exists: _Optional[_Union[ScriptExists, _Mapping]] = ..., script_flush: _Optional[_Union[ScriptFlush, _Mapping]] = ..., function_load: _Optional[_Union[FunctionLoad, _Mapping]] = ..., function_delete: _Optional[_Union[FunctionDelete, _Mapping]] = ..., function_flush: _Optional[_Union[FunctionFlush, _Mapping]] = ..., function_restore: _Optional[_Union[FunctionRestore, _Mapping]] = ..., function_list: _Optional[_Union[FunctionList, _Mapping]] = ..., set_batch: _Optional[_Union[SetBatch, _Mapping]] = ..., **kwargs) -> None: ...

class Sort(_message.Message):
    __slots__ = ("key", "by", "no_sort", "limited", "offset", "count", "get", "desc", "alpha", "store")
    KEY_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    NO_SORT_FIELD_NUMBER: _ClassVar[int]
    LIMITED_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    DESC_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    by: bytes
    no_sort: bool
    limited: bool
    offset: int
    count: int
    get: _containers.RepeatedScalarFieldContainer[bytes]
    desc: bool
    alpha: bool
    store: bytes
    def __init__(self, key: _Optional[bytes] = ..., by: _Optional[bytes] = ..., no_sort: bool = ..., limited: bool = ..., offset: _Optional[int] = ..., count: _Optional[int] = ..., get: _Optional[_Iterable[bytes]] = ..., desc: bool = ..., alpha: bool = ..., store: _Optional[bytes] = ...) -> None: ...

class Dump(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ...) -> None: ...

class Restore(_message.Message):
    __slots__ = ("key", "ttl_ms", "absttl", "replace", "payload", "idle_s", "freq")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    ABSTTL_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    IDLE_S_FIELD_NUMBER: _ClassVar[int]
    FREQ_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    ttl_ms: int
    absttl: bool
    replace: bool
    payload: bytes
    idle_s: int
    freq: int
    def __init__(self, key: _Optional[bytes] = ..., ttl_ms: _Optional[int] = ..., absttl: bool = ..., replace: bool = ..., payload: _Optional[bytes] = ..., idle_s: _Optional[int] = ..., freq: _Optional[int] = ...) -> None: ...

class LogBatch(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("version", "now_ms", "client_id", "sequence", "seed", "command", "effects")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NOW_MS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    version: int
    now_ms: int
    client_id: str
    sequence: int
    seed: int
    command: Command
    effects: ScriptEffects
    def __init__(self, version: _Optional[int] = ..., now_ms: _Optional[int] = ..., client_id: _Optional[str] = ..., sequence: _Optional[int] = ..., seed: _Optional[int] = ..., command: _Optional[_Union[Command, _Mapping]] = ..., effects: _Optional[_Union[ScriptEffects, _Mapping]] = ...) -> None: ...

class ScriptEffects(_message.Message):
    __slots__ = ("keys", "writes", "reply", "growth", "rules_index", "calls", "errors", "tried_at")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    GROWTH_FIELD_NUMBER: _ClassVar[int]
    RULES_INDEX_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    TRIED_AT_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[EffectKey]
    writes: _containers.RepeatedCompositeFieldContainer[EffectWrite]
    reply: Value
    growth: int
    rules_index: int
    calls: _containers.RepeatedCompositeFieldContainer[EffectCalls]
    errors: _containers.RepeatedCompositeFieldContainer[EffectErrors]
    tried_at: int
    def __init__(self, keys: _Optional[_Iterable[_Union[EffectKey, _Mapping]]] = ..., writes: _Optional[_Iterable[_Union[EffectWrite, _Mapping]]] = ..., reply: _Optional[_Union[Value, _Mapping]] = ..., growth: _Optional[int] = ..., rules_index: _Optional[int] = ..., calls: _Optional[_Iterable[_Union[EffectCalls, _Mapping]]] = ..., errors: _Optional[_Iterable[_Union[EffectErrors, _Mapping]]] = ..., tried_at: _Optional[int] = ...) -> None: ...

class EffectCalls(_message.Message):
    __slots__ = ("name", "calls", "usec", "failed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    USEC_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    name: str
    calls: int
    usec: int
    failed: int
    def __init__(self, name: _Optional[str] = ..., calls: _Optional[int] = ..., usec: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class EffectErrors(_message.Message):
    __slots__ = ("prefix", "count")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    count: int
    def __init__(self, prefix: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class EffectKey(_message.Message):
    __slots__ = ("db", "key", "header")
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    db: int
    key: bytes
    header: bytes
    def __init__(self, db: _Optional[int] = ..., key: _Optional[bytes] = ..., header: _Optional[bytes] = ...) -> None: ...

class EffectWrite(_message.Message):
    __slots__ = ("db", "key", "record", "gone")
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    GONE_FIELD_NUMBER: _ClassVar[int]
    db: int
    key: bytes
    record: bytes
    gone: int
    def __init__(self, db: _Optional[int] = ..., key: _Optional[bytes] = ..., record: _Optional[bytes] = ..., gone: _Optional[int] = ...) -> None: ...
