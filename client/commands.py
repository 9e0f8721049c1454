"""Typed commands named as redis-py names them: strings, keys and the server.

Each method builds a `Command` protobuf and hands it to `self._run(command,
post, read)` with `post`, the function that turns the reply into what
redis-py would return. The methods are written once and shared by every
client shape, which differ only in `_run`:

- AsyncClient: returns a coroutine that executes the command;
- Client (sync): runs that coroutine on the client's private event loop;
- pipelines: queue the command and return the pipeline.

Hash, list, set and sorted-set commands are in client/commands_containers.py.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Iterable, Mapping

from raftcache.client.errors import ConfigError, error_for_reason
from raftcache.proto import commands_pb2 as pb

READ, WRITE = True, False

KeyT = str | bytes | memoryview
EncodableT = str | bytes | memoryview | int | float
Post = Callable[[object], object] | None


class Status(str):
    """A simple status reply such as OK, distinct from a byte string."""

    __slots__ = ()


def to_python(v: pb.Value):
    """A reply Value as Python: bytes, None, int, float, Status, list, or an exception instance."""
    kind = v.WhichOneof("kind")
    if kind == "bulk":
        return v.bulk
    if kind in ("integer", "unsigned"):  # unsigned: above sint64 (memcached counters)
        return getattr(v, kind)
    if kind == "nil" or kind is None:
        return None
    if kind == "status":
        return Status(v.status)
    if kind == "array":
        return [to_python(item) for item in v.array.items]
    if kind == "number":
        return v.number
    if kind == "error":
        return error_for_reason(v.error.reason, v.error.message)
    raise ValueError(f"unknown reply kind {kind!r}")


def _ms(value, scale: int, what: str) -> int:
    """A duration in units of `scale` ms (or a timedelta) as whole milliseconds."""
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a number or a timedelta")
    return int(value * scale)


def ttl_ms(ex=None, px=None) -> int | None:
    """EX (seconds or timedelta) / PX (ms or timedelta) as milliseconds."""
    if ex is not None:
        return _ms(ex, 1000, "ex")
    if px is not None:
        return _ms(px, 1, "px")
    return None


def deadline_ms(exat=None, pxat=None) -> int | None:
    """EXAT (Unix seconds or datetime) / PXAT (Unix ms or datetime) as Unix milliseconds."""
    for value, scale in ((exat, 1000), (pxat, 1)):
        if value is None:
            continue
        if isinstance(value, datetime.datetime):
            return int(value.timestamp() * 1000)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError("exat/pxat must be a number or a datetime")
        return int(value * scale)
    return None


def expiry(ex=None, px=None, exat=None, pxat=None, keepttl=False, persist=False) -> dict | None:
    given = [x for x in (ex, px, exat, pxat) if x is not None]
    if len(given) + bool(keepttl) + bool(persist) > 1:
        raise ConfigError("``ex``, ``px``, ``exat``, ``pxat``, ``keepttl`` and ``persist`` are mutually exclusive")
    out: dict = {}
    if ex is not None or px is not None:
        out["ttl_ms"] = ttl_ms(ex, px)
    elif exat is not None or pxat is not None:
        out["expire_at_ms"] = deadline_ms(exat, pxat)
    if keepttl:
        out["keep_ttl"] = True
    if persist:
        out["persist"] = True
    return out or None


def _list_of(keys, args) -> list:
    items = list(keys) if isinstance(keys, (list, tuple, set, frozenset)) else [keys]
    items.extend(args)
    return items


def _random_seed() -> int:
    # Read-only random commands carry their seed so that a read is a pure
    # function of the command and the keyspace (commands.proto).
    return random.getrandbits(63) or 1


class CoreCommands:
    """Encoding helpers shared by every command mixin; subclasses provide `_run` and the settings."""

    _db: int = 0
    _encoding: str = "utf-8"
    _decode_responses: bool = False

    def _run(self, command: pb.Command, post: Post, read: bool):  # pragma: no cover - abstract
        raise NotImplementedError

    def _cmd(self, op_name: str, /, **fields) -> pb.Command:
        return pb.Command(db=self._db, **{op_name: fields})

    def _enc(self, value: EncodableT) -> bytes:
        """Keys and values as redis-py encodes them: bytes as is, str in the encoding, numbers as text."""
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode(self._encoding)
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, bool):
            raise ConfigError("invalid input of type 'bool': convert to bytes, str, int or float first")
        if isinstance(value, int):
            return b"%d" % value
        if isinstance(value, float):
            return repr(value).encode()
        raise ConfigError(f"invalid input of type {type(value).__name__!r}: convert to bytes, str, int or float first")

    def _encs(self, values: Iterable) -> list[bytes]:
        return [self._enc(v) for v in values]

    # ---- reply conversions (post functions)

    def _dec(self, v):
        """A bulk string (or a list of them, recursively) as str when decode_responses is on."""
        if not self._decode_responses:
            return v
        if isinstance(v, bytes):
            return v.decode(self._encoding)
        if isinstance(v, list):
            return [self._dec(x) for x in v]
        return v

    def _text(self, v):
        """A status-like reply (TYPE) as bytes, or str with decode_responses (redis-py does so)."""
        if isinstance(v, str) and not self._decode_responses:
            return v.encode()
        return v

    @staticmethod
    def _ok(v) -> bool | None:
        """OK -> True, nil -> None (SET NX/XX not performed)."""
        return None if v is None else True

    @staticmethod
    def _bool(v) -> bool:
        return bool(v)

    @staticmethod
    def _float(v) -> float | None:
        return None if v is None else float(v)

    def _scan_reply(self, v):
        cursor, keys = v
        return int(cursor), self._dec(keys)

    def _pairs(self, v) -> dict:
        flat = self._dec(v) or []
        return dict(zip(flat[0::2], flat[1::2]))


class StringCommands(CoreCommands):
    """Strings, keys and whole-keyspace commands."""

    # ---------------------------------------------------------------- strings

    def get(self, name: KeyT):
        """GET: the value, or None."""
        return self._run(self._cmd("get", key=self._enc(name)), self._dec, READ)

    def set(self, name: KeyT, value: EncodableT, ex=None, px=None, nx: bool = False, xx: bool = False,
            keepttl: bool = False, get: bool = False, exat=None, pxat=None):
        """SET. Returns True, or None when NX/XX stopped it; with get=True the old value instead."""
        if nx and xx:
            raise ConfigError("``nx`` and ``xx`` are mutually exclusive")
        op = dict(key=self._enc(name), value=self._enc(value), get=get,
                  condition=pb.IF_ABSENT if nx else pb.IF_PRESENT if xx else pb.ALWAYS,
                  expiry=expiry(ex, px, exat, pxat, keepttl))
        return self._run(self._cmd("set", **op), self._dec if get else self._ok, WRITE)

    def setnx(self, name: KeyT, value: EncodableT):
        return self._run(self._cmd("set", key=self._enc(name), value=self._enc(value), condition=pb.IF_ABSENT),
                         self._bool, WRITE)

    def setex(self, name: KeyT, time, value: EncodableT):
        return self.set(name, value, ex=time)

    def psetex(self, name: KeyT, time_ms, value: EncodableT):
        return self.set(name, value, px=time_ms)

    def getset(self, name: KeyT, value: EncodableT):
        return self.set(name, value, get=True)

    def getdel(self, name: KeyT):
        return self._run(self._cmd("get_del", key=self._enc(name)), self._dec, WRITE)

    def getex(self, name: KeyT, ex=None, px=None, exat=None, pxat=None, persist: bool = False):
        """GETEX: the value, changing its expiry (or removing it with persist=True)."""
        return self._run(self._cmd("get_ex", key=self._enc(name), expiry=expiry(ex, px, exat, pxat, persist=persist)),
                         self._dec, WRITE)

    def incrby(self, name: KeyT, amount: int = 1):
        return self._run(self._cmd("incr_by", key=self._enc(name), delta=amount), None, WRITE)

    incr = incrby

    def decrby(self, name: KeyT, amount: int = 1):
        return self.incrby(name, -amount)

    decr = decrby

    def incrbyfloat(self, name: KeyT, amount: float = 1.0):
        return self._run(self._cmd("incr_by_float", key=self._enc(name), delta=amount), self._float, WRITE)

    def append(self, key: KeyT, value: EncodableT):
        return self._run(self._cmd("append", key=self._enc(key), value=self._enc(value)), None, WRITE)

    def strlen(self, name: KeyT):
        return self._run(self._cmd("str_len", key=self._enc(name)), None, READ)

    def getrange(self, key: KeyT, start: int, end: int):
        return self._run(self._cmd("get_range", key=self._enc(key), start=start, end=end), self._dec, READ)

    substr = getrange

    def setrange(self, name: KeyT, offset: int, value: EncodableT):
        return self._run(self._cmd("set_range", key=self._enc(name), offset=offset, value=self._enc(value)),
                         None, WRITE)

    def mset(self, mapping: Mapping):
        pairs = [pb.KeyValue(key=self._enc(k), value=self._enc(v)) for k, v in mapping.items()]
        return self._run(self._cmd("mset", pairs=pairs), self._ok, WRITE)

    def msetnx(self, mapping: Mapping):
        pairs = [pb.KeyValue(key=self._enc(k), value=self._enc(v)) for k, v in mapping.items()]
        return self._run(self._cmd("mset_nx", pairs=pairs), self._bool, WRITE)

    def mget(self, keys, *args):
        return self._run(self._cmd("mget", keys=self._encs(_list_of(keys, args))), self._dec, READ)

    # ---------------------------------------------------------------- pub/sub

    def publish(self, channel: KeyT, message: EncodableT):
        """Publish `message` on `channel`: through the log, so the subscribers of every node get it,
        in one order; returns how many subscribers of the node that answered it reaches."""
        op = pb.Publish(channel=self._enc(channel), message=self._enc(message))
        return self._run(pb.Command(publish=op), None, WRITE)

    def spublish(self, shard_channel: KeyT, message: EncodableT):
        """Publish on a shard channel (SPUBLISH; shard channels are their own namespace)."""
        op = pb.Publish(channel=self._enc(shard_channel), message=self._enc(message), sharded=True)
        return self._run(pb.Command(publish=op), None, WRITE)

    # ---------------------------------------------------------------- keys

    def delete(self, *names: KeyT):
        return self._run(self._cmd("del", keys=self._encs(names)), None, WRITE)

    unlink = delete

    def exists(self, *names: KeyT):
        return self._run(self._cmd("exists", keys=self._encs(names)), None, READ)

    def _expire(self, name, ttl=None, at=None, nx=False, xx=False, gt=False, lt=False):
        if sum(map(bool, (nx, xx, gt, lt))) > 1:
            raise ConfigError("only one of nx, xx, gt, lt may be given")
        cond = (pb.EXPIRE_NX if nx else pb.EXPIRE_XX if xx else pb.EXPIRE_GT if gt
                else pb.EXPIRE_LT if lt else pb.EXPIRE_ALWAYS)
        exp = {"ttl_ms": ttl} if ttl is not None else {"expire_at_ms": at}
        return self._run(self._cmd("expire", key=self._enc(name), expiry=exp, condition=cond), self._bool, WRITE)

    def expire(self, name: KeyT, time, nx=False, xx=False, gt=False, lt=False):
        """EXPIRE: `time` in seconds (or a timedelta). True when the timeout was set."""
        return self._expire(name, ttl=ttl_ms(ex=time), nx=nx, xx=xx, gt=gt, lt=lt)

    def pexpire(self, name: KeyT, time, nx=False, xx=False, gt=False, lt=False):
        return self._expire(name, ttl=ttl_ms(px=time), nx=nx, xx=xx, gt=gt, lt=lt)

    def expireat(self, name: KeyT, when, nx=False, xx=False, gt=False, lt=False):
        """EXPIREAT: `when` as Unix seconds or a datetime."""
        return self._expire(name, at=deadline_ms(exat=when), nx=nx, xx=xx, gt=gt, lt=lt)

    def pexpireat(self, name: KeyT, when, nx=False, xx=False, gt=False, lt=False):
        return self._expire(name, at=deadline_ms(pxat=when), nx=nx, xx=xx, gt=gt, lt=lt)

    def persist(self, name: KeyT):
        return self._run(self._cmd("persist", key=self._enc(name)), self._bool, WRITE)

    def ttl(self, name: KeyT):
        """Seconds to live; -1 without expiry, -2 when the key does not exist."""
        return self._run(self._cmd("ttl", key=self._enc(name)), None, READ)

    def pttl(self, name: KeyT):
        return self._run(self._cmd("ttl", key=self._enc(name), millis=True), None, READ)

    def expiretime(self, name: KeyT):
        """The Unix time (seconds) at which the key expires; -1 without expiry, -2 when absent."""
        return self._run(self._cmd("ttl", key=self._enc(name), absolute=True), None, READ)

    def pexpiretime(self, name: KeyT):
        return self._run(self._cmd("ttl", key=self._enc(name), millis=True, absolute=True), None, READ)

    def touch(self, *names: KeyT):
        """How many of the keys exist (there is no LRU clock to update: EXISTS)."""
        return self.exists(*names)

    def type(self, name: KeyT):
        """b"string", b"hash", b"list", b"set", b"zset" or b"none" (str with decode_responses)."""
        return self._run(self._cmd("type", key=self._enc(name)), self._text, READ)

    def rename(self, src: KeyT, dst: KeyT):
        return self._run(self._cmd("rename", key=self._enc(src), new_key=self._enc(dst)), self._ok, WRITE)

    def renamenx(self, src: KeyT, dst: KeyT):
        return self._run(self._cmd("rename", key=self._enc(src), new_key=self._enc(dst), if_absent=True),
                         self._bool, WRITE)

    def copy(self, source: KeyT, destination: KeyT, destination_db: int | None = None, replace: bool = False):
        op = dict(key=self._enc(source), new_key=self._enc(destination), replace=replace,
                  destination_db=-1 if destination_db is None else destination_db)
        return self._run(self._cmd("copy", **op), self._bool, WRITE)

    def move(self, name: KeyT, db: int):
        return self._run(self._cmd("move", key=self._enc(name), destination_db=db), self._bool, WRITE)

    def randomkey(self):
        return self._run(self._cmd("random_key", seed=_random_seed()), self._dec, READ)

    def scan(self, cursor: int = 0, match: EncodableT | None = None, count: int | None = None,
             _type: str | None = None):
        """SCAN: (next cursor, keys); cursor 0 ends the iteration."""
        op = dict(cursor=cursor, match=self._enc(match) if match is not None else b"", count=count or 0,
                  type=_type or "")
        return self._run(self._cmd("scan", **op), self._scan_reply, READ)

    # ---------------------------------------------------------------- server

    def dbsize(self):
        return self._run(self._cmd("db_size"), None, READ)

    def flushall(self, asynchronous: bool = False):
        """FLUSHALL: every database of the cluster."""
        return self._run(self._cmd("flush_all"), self._ok, WRITE)

    def flushdb(self, asynchronous: bool = False):
        return self._run(self._cmd("flush_db"), self._ok, WRITE)

    def swapdb(self, first: int, second: int):
        return self._run(pb.Command(db=first, swap_db={"other_db": second}), self._ok, WRITE)
