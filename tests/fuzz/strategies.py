"""Hypothesis strategies for hostile client traffic, one action per request.

An action is a small tuple the driver (tests/fuzz/driver.py) knows how to send:

    ("resp", node, [arg, ...])           redis-py execute_command
    ("resp_raw", node, bytes)            raw socket, possibly malformed RESP
    ("mc", node, method, args)           pymemcache Client method
    ("mc_raw", node, bytes)              raw socket, possibly malformed memcached text
    ("grpc", node, Request bytes)        Cache.Execute with a well-formed Request
    ("grpc_pipeline", node, [bytes])     Cache.Pipeline, one batch
    ("grpc_raw", node, bytes)            Cache.Execute with arbitrary request bytes

`node` is an index into the cluster's nodes (followers forward writes).

Keys come from a small pool (KEYS) that `seed_actions` fills with one value
of every type, so that every command meets every type (WRONGTYPE paths).
The fuzzer never names the canary keys (tests/fuzz/checks.Canaries) nor
their database (CANARY_DB), and never sends what legitimately erases them
(FLUSHALL, FLUSHDB, SWAPDB, memcached flush_all, CONFIG SET).

KNOWN APPLY CRASHERS. Some requests make the state machine raise while
applying a committed entry, which stops every node for good (status 70,
again on every restart) until apply is made total (node/statemachine.py,
node/commands.py, node/service.py). They are generated only by the
strategies in `APPLY_CRASHERS` (and with `known_bugs=True`), so that the
default fuzz run keeps exercising everything else:

- `mc_counter_overflow`: memcached incr/decr whose result is >= 2**63 (the
  unsigned result does not fit the dedup record's sint64 Value.integer);
- `grpc_unknown_fields`: a Command (or an op inside it) carrying a field
  number this binary does not know;
- `grpc_raw_bytes`: arbitrary bytes as a Request (they often decode into
  unknown fields).

Without `known_bugs`, memcached counters (incr/decr through memcached or the
McIncr command) are confined to MC_COUNTERS, set from small values and
moved by small deltas, so no result reaches 2**63.
"""

from __future__ import annotations

from hypothesis import strategies as st
from google.protobuf.descriptor import FieldDescriptor as FD

from raftcache.node.frontends.resp_commands import TABLE
from raftcache.proto import cache_pb2
from raftcache.proto import commands_pb2 as pb

#: Databases the cluster has (node/config.py default); canaries live in the last one.
DATABASES = 16
CANARY_DB = DATABASES - 1
KEYS = [b"k0", b"k1", b"k2", b"k3", b"k4", b"k5", b"k6", b"k7"]
#: Keys only memcached counters (and their seeding) write, in safe mode.
MC_COUNTERS = [b"mc0", b"mc1"]
NODES = 3

# ---------------------------------------------------------------- atoms

EXTREME_INTS = [
    0, 1, -1, 2, 7, 8, 63, 64, 255, 256, 1023, 65535, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1,
    2**53, 2**53 + 1, 2**62, 2**63 - 2, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1, 2**64, 2**64 + 1,
    -(2**31), -(2**32), -(2**53), -(2**63) + 1, -(2**63), -(2**63) - 1, -(2**64), 10**20, -(10**20),
    512 * 1024 * 1024 - 1, 512 * 1024 * 1024, 4 * 1024 ** 3 - 1, 4 * 1024 ** 3,
]
NUMBER_TEXTS = [
    b"-0", b"+0", b"+1", b"00", b"007", b"1e3", b"1E308", b"1e309", b"-1e309", b"4.9e-324", b"1e-400",
    b"nan", b"NaN", b"-nan", b"inf", b"-inf", b"+inf", b"Infinity", b"-Infinity", b"1.5", b"-1.5", b"0.0",
    b"-0.0", b".5", b"5.", b"0x10", b" 1", b"1 ", b"", b"-", b"+", b"1_000", b"\x001", b"9" * 40,
    b"-" + b"9" * 40, b"1" * 400, b"(1", b"(-inf", b"(nan", b"[a", b"(a", b"-", b"+", b"#1", b"#-1",
    b"#9223372036854775807",
]
KEYWORDS = [
    b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"WITHSCORES", b"WITHSCORE", b"LIMIT", b"COUNT", b"RANK",
    b"MAXLEN", b"BYSCORE", b"BYLEX", b"REV", b"EX", b"PX", b"EXAT", b"PXAT", b"KEEPTTL", b"GET", b"SET",
    b"PERSIST", b"BYTE", b"BIT", b"OVERFLOW", b"SAT", b"WRAP", b"FAIL", b"INCRBY", b"u1", b"u8", b"i8",
    b"u63", b"u64", b"i64", b"i65", b"u0", b"i0", b"LEFT", b"RIGHT", b"BEFORE", b"AFTER", b"MATCH", b"TYPE",
    b"IDX", b"LEN", b"MINMATCHLEN", b"WITHMATCHLEN", b"WEIGHTS", b"AGGREGATE", b"SUM", b"MIN", b"MAX",
    b"WITHVALUES", b"DB", b"REPLACE", b"AND", b"OR", b"XOR", b"NOT", b"ENCODING", b"string", b"hash",
    b"list", b"set", b"zset", b"NOVALUES", b"GETNAME", b"SETNAME", b"ID", b"INFO", b"LIST", b"USAGE",
    b"DOCS", b"COUNTKEYS", b"*", b"?", b"[", b"\\",
]


def ints() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(EXTREME_INTS), st.integers(-300, 300),
                     st.integers(-(2**65), 2**65))


def int_texts() -> st.SearchStrategy[bytes]:
    return ints().map(lambda i: str(i).encode())


def floats_text() -> st.SearchStrategy[bytes]:
    return st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode()),
                     st.sampled_from(NUMBER_TEXTS))


def numberish() -> st.SearchStrategy[bytes]:
    return st.one_of(int_texts(), floats_text())


def keys() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS), st.binary(max_size=12))


def values() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=24), numberish(),
                     st.sampled_from([b"", b"\x00" * 64, b"a" * 300, b"b" * 494, b"c" * 495, b"d" * 511, b"e" * 600]))


def resp_arg() -> st.SearchStrategy[bytes]:
    return st.one_of(keys(), keys(), int_texts(), floats_text(), st.sampled_from(KEYWORDS), values())


def case(name: bytes) -> st.SearchStrategy[bytes]:
    return st.sampled_from([name, name.upper(), name.capitalize()])


# ---------------------------------------------------------------- RESP

#: Never generated: they legitimately erase canaries or change the cluster's settings.
RESP_EXCLUDED = {b"flushall", b"flushdb", b"swapdb", b"config", b"hello", b"select", b"wait",
                 b"blpop", b"brpop", b"blmove", b"brpoplpush", b"bzpopmin", b"bzpopmax", b"blmpop", b"bzmpop"}
RESP_NAMES = sorted(n for n in TABLE if n not in RESP_EXCLUDED)
#: Shapes that reach huge counts, offsets and ranges (memory blow-ups at apply or read time).
N = "int"
K = "key"
V = "val"
RESP_SHAPES = [
    [b"srandmember", K, N], [b"hrandfield", K, N], [b"hrandfield", K, N, b"WITHVALUES"],
    [b"zrandmember", K, N], [b"zrandmember", K, N, b"WITHSCORES"], [b"spop", K, N], [b"lpop", K, N],
    [b"rpop", K, N], [b"zpopmin", K, N], [b"zpopmax", K, N], [b"lpos", K, V, b"COUNT", N],
    [b"lpos", K, V, b"RANK", N, b"COUNT", N, b"MAXLEN", N], [b"bitfield", K, b"SET", b"u8", N, N],
    [b"bitfield", K, b"INCRBY", b"i64", N, N, b"GET", b"u63", N],
    [b"bitfield", K, b"OVERFLOW", b"FAIL", b"SET", b"u8", b"#" + b"4294967295", N],
    [b"bitfield_ro", K, b"GET", b"u8", N], [b"setrange", K, N, V], [b"setbit", K, N, N], [b"getbit", K, N],
    [b"getrange", K, N, N], [b"lrange", K, N, N], [b"ltrim", K, N, N], [b"lindex", K, N], [b"lset", K, N, V],
    [b"lrem", K, N, V], [b"zrange", K, N, N], [b"zrange", K, N, N, b"BYSCORE", b"LIMIT", N, N],
    [b"zrangebyscore", K, b"-inf", b"+inf", b"LIMIT", N, N], [b"zremrangebyrank", K, N, N],
    [b"bitcount", K, N, N, b"BIT"], [b"bitpos", K, N, N, N, b"BIT"], [b"incrby", K, N], [b"decrby", K, N],
    [b"incrbyfloat", K, N], [b"hincrby", K, V, N], [b"hincrbyfloat", K, V, N], [b"expire", K, N],
    [b"pexpire", K, N], [b"expireat", K, N], [b"pexpireat", K, N], [b"set", K, V, b"EX", N],
    [b"set", K, V, b"PXAT", N], [b"getex", K, b"PX", N], [b"zadd", K, N, V], [b"zincrby", K, N, V],
    [b"scan", N, b"COUNT", N], [b"hscan", K, N, b"COUNT", N], [b"sscan", K, N, b"COUNT", N],
    [b"zscan", K, N, b"COUNT", N], [b"sintercard", N, K, K, b"LIMIT", N], [b"lmpop", N, K, b"LEFT", b"COUNT", N],
    [b"zmpop", N, K, b"MIN", b"COUNT", N], [b"lcs", K, K, b"IDX", b"MINMATCHLEN", N, b"WITHMATCHLEN"],
    [b"copy", K, K, b"DB", N, b"REPLACE"], [b"move", K, N], [b"object", b"ENCODING", K], [b"lmove", K, K, b"LEFT", b"RIGHT"],
    [b"zunionstore", K, N, K, K, b"WEIGHTS", N, N], [b"zinter", N, K, K, b"WEIGHTS", N, N, b"AGGREGATE", b"MAX"],
    [b"append", K, V], [b"linsert", K, b"BEFORE", V, V], [b"smove", K, K, V], [b"rename", K, K],
    [b"getset", K, V], [b"msetnx", K, V, K, V], [b"psetex", K, N, V], [b"setex", K, N, V],
]


def _slot(slot) -> st.SearchStrategy[bytes]:
    if slot == K:
        return keys()
    if slot == N:
        return numberish()
    if slot == V:
        return values()
    return case(slot)


@st.composite
def resp_shaped(draw) -> list[bytes]:
    shape = draw(st.sampled_from(RESP_SHAPES))
    return [draw(_slot(s)) for s in shape]


@st.composite
def resp_many(draw) -> list[bytes]:
    """A write adding more elements than itemview.INLINE_MAX (itemized containers), maybe one long."""
    name = draw(st.sampled_from([b"sadd", b"zadd", b"hset", b"rpush", b"lpush"]))
    n = draw(st.integers(100, 300))
    elements = [b"m%d" % i for i in range(n)]
    if draw(st.booleans()):
        elements[draw(st.integers(0, n - 1))] = draw(values())
    if name == b"zadd":
        return [name, draw(keys())] + [x for i, m in enumerate(elements) for x in (b"%d" % i, m)]
    if name == b"hset":
        return [name, draw(keys())] + [x for m in elements for x in (m, b"v")]
    return [name, draw(keys())] + elements


@st.composite
def resp_random(draw) -> list[bytes]:
    """A known command name (any case) with 0..7 arguments of any kind: random arities."""
    name = draw(st.sampled_from(RESP_NAMES).flatmap(case))
    return [name] + draw(st.lists(resp_arg(), max_size=7))


def resp_safe_extras() -> st.SearchStrategy[list[bytes]]:
    """The excluded commands, with arguments that cannot reach the canaries."""
    return st.one_of(
        st.tuples(case(b"select"), st.sampled_from([b"0", b"1", b"14", b"16", b"-1", b"4294967296", b"x"])).map(list),
        st.tuples(case(b"config"), st.sampled_from([b"GET", b"get"]), st.sampled_from([b"*", b"maxmemory", b""])
                  ).map(list),
        st.tuples(st.sampled_from([b"blpop", b"brpop", b"bzpopmin", b"bzpopmax"]), keys(),
                  st.sampled_from([b"0.01", b"0.001", b"-1", b"nan", b"x", b"1e-9"])).map(list),
        st.tuples(case(b"wait"), st.sampled_from([b"0", b"1", b"-1", b"x"]), st.sampled_from([b"1", b"-1", b"x"])
                  ).map(list),
    )


def resp_commands() -> st.SearchStrategy[list[bytes]]:
    return st.one_of(resp_random(), resp_shaped(), resp_shaped(), resp_safe_extras(), resp_many())


def _frame(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


@st.composite
def resp_malformed(draw) -> bytes:
    """Bytes on a raw RESP connection: broken framing, lying lengths, odd types, inline commands."""
    args = draw(st.one_of(resp_random(), resp_shaped()))
    frame = _frame(args)
    kind = draw(st.integers(0, 11))
    if kind == 0:  # random bytes
        return draw(st.binary(min_size=1, max_size=64))
    if kind == 1:  # truncated
        return frame[: draw(st.integers(0, max(0, len(frame) - 1)))]
    if kind == 2:  # lying array length
        n = draw(st.sampled_from([b"-1", b"-2", b"0", b"9223372036854775807", b"9223372036854775808",
                                  b"4294967296", b"1048577", b"x", b"", b"-0", b"99999999999999999999"]))
        return b"*" + n + frame[frame.index(b"\r\n"):]
    if kind == 3:  # lying bulk length
        n = draw(st.sampled_from([b"-1", b"-2", b"9223372036854775807", b"536870913", b"4294967296", b"x", b""]))
        return b"*1\r\n$" + n + b"\r\nPING\r\n"
    if kind == 4:  # bulk length one off
        a = args[0]
        return b"*1\r\n$%d\r\n%s\r\n" % (len(a) + draw(st.sampled_from([-1, 1, 2])), a)
    if kind == 5:  # inline command with odd quoting
        parts = [a.replace(b"\r", b"").replace(b"\n", b"") for a in args]
        quote = draw(st.sampled_from([b"", b'"', b"'", b'"\\x', b"\\"]))
        return b" ".join(parts) + quote + b"\r\n"
    if kind == 6:  # RESP3 / non-bulk element types as a request
        t = draw(st.sampled_from([b"%1\r\n+a\r\n+b\r\n", b"~1\r\n$1\r\na\r\n", b":1\r\n", b"+PING\r\n",
                                  b"*1\r\n:1\r\n", b"*2\r\n*1\r\n$4\r\nPING\r\n$1\r\na\r\n", b"_\r\n",
                                  b"*1\r\n$4\r\nPING", b"*1\r\n$4\r\nPINGxx", b"\r\n\r\n", b"*\r\n", b"$4\r\nPING\r\n"]))
        return t
    if kind == 7:  # bare LF line ends
        return frame.replace(b"\r\n", b"\n")
    if kind == 8:  # a huge inline line without end
        return b"PING " + b"a" * draw(st.sampled_from([1024, 70000]))
    if kind == 9:  # pipelined valid frames
        return frame * draw(st.integers(2, 20))
    if kind == 10:  # HELLO with odd versions and options
        v = draw(st.sampled_from([b"3", b"2", b"4", b"-1", b"x", b"9223372036854775808"]))
        return _frame([b"HELLO", v] + draw(st.lists(st.sampled_from([b"AUTH", b"SETNAME", b"a", b""]), max_size=3)))
    return frame


# ---------------------------------------------------------------- memcached

@st.composite
def mc_client_call(draw, known_bugs: bool = False):
    """A pymemcache Client call with extreme expirations, flags and numbers."""
    key = draw(st.sampled_from([k.decode() for k in KEYS]))
    value = draw(values())
    expire = draw(st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 60 * 60 * 24 * 30 + 1]))
    flags = draw(st.sampled_from([0, 1, 2**31, 2**32 - 1, 2**32, 2**64 - 1, -1]))
    method = draw(st.sampled_from(["set", "add", "replace", "append", "prepend", "cas", "get", "gets",
                                   "get_many", "delete", "touch", "counter"]))
    if method in ("set", "add", "replace"):
        return (method, (key, value), {"expire": expire, "flags": flags, "noreply": False})
    if method in ("append", "prepend"):
        return (method, (key, value), {"noreply": False})
    if method == "cas":
        return (method, (key, value, str(draw(ints().filter(lambda i: i >= -1)))), {"expire": expire, "noreply": False})
    if method in ("get", "gets", "delete"):
        return (method, (key,), {} if method != "delete" else {"noreply": False})
    if method == "get_many":
        return (method, (draw(st.lists(st.sampled_from([k.decode() for k in KEYS]), min_size=1, max_size=4)),), {})
    if method == "touch":
        return (method, (key, expire), {"noreply": False})
    # counter
    if known_bugs:
        return (draw(st.sampled_from(["incr", "decr"])), (draw(st.sampled_from([k.decode() for k in KEYS + MC_COUNTERS])),
                                                          draw(ints().filter(lambda i: i >= 0))), {"noreply": False})
    return (draw(st.sampled_from(["incr", "decr"])), (draw(st.sampled_from([k.decode() for k in MC_COUNTERS])),
                                                      draw(st.integers(0, 2**32))), {"noreply": False})


MC_NAMES = [b"set", b"add", b"replace", b"append", b"prepend", b"cas", b"get", b"gets", b"gat", b"gats", b"delete",
            b"touch", b"version", b"verbosity", b"stats", b"mn", b"mg", b"ms", b"md", b"ma", b"me", b"quit",
            b"consistency", b"cache_memlimit"]


@st.composite
def mc_malformed(draw, known_bugs: bool = False) -> bytes:
    """Raw memcached text: storage headers with lying sizes, meta commands with odd flags, random lines."""
    key = draw(keys()) if draw(st.booleans()) else draw(st.sampled_from(KEYS))
    num = lambda: draw(st.one_of(int_texts(), st.sampled_from([b"-0", b"x", b"", b"1.5"])))  # noqa: E731
    kind = draw(st.integers(0, 7))
    if kind == 0:
        name = draw(st.sampled_from([b"set", b"add", b"replace", b"append", b"prepend", b"cas"]))
        data = draw(values())
        n = draw(st.sampled_from([str(len(data)).encode(), str(len(data) + 1).encode(), b"-1", b"4294967296",
                                  b"9223372036854775808", b"x", str(max(0, len(data) - 1)).encode()]))
        extra = [num()] if name == b"cas" else []
        tokens = [name, key, num(), num(), n] + extra + draw(st.lists(st.sampled_from([b"noreply", b"x"]), max_size=1))
        return b" ".join(tokens) + b"\r\n" + data + b"\r\n"
    if kind == 1:
        meta = draw(st.sampled_from([b"mg", b"ms", b"md", b"me", b"mn"] + ([b"ma"] if known_bugs else [])))
        flags = draw(st.lists(st.one_of(
            st.sampled_from([b"v", b"f", b"t", b"c", b"k", b"s", b"h", b"l", b"q", b"O", b"b", b"I", b"E"]),
            st.tuples(st.sampled_from([b"T", b"F", b"N", b"C", b"E", b"M", b"R", b"O", b"S"]), int_texts()).map(b"".join)),
            max_size=5))
        line = b" ".join([meta, key] + ([num()] if meta == b"ms" else []) + flags) + b"\r\n"
        if meta == b"ms":
            line += draw(values()) + b"\r\n"
        return line
    if kind == 2 and known_bugs:
        return b"ma " + draw(st.sampled_from(KEYS + MC_COUNTERS)) + b" D" + num() + b" M" + draw(
            st.sampled_from([b"I", b"D", b"+", b"-", b"x"])) + b"\r\n"
    if kind == 2:
        return b"ma " + draw(st.sampled_from(MC_COUNTERS)) + b" D" + str(draw(st.integers(0, 2**32))).encode() + \
            b" M" + draw(st.sampled_from([b"I", b"D", b"+", b"-"])) + b"\r\n"
    if kind == 3:
        tokens = [draw(st.sampled_from(MC_NAMES).flatmap(case))] + draw(st.lists(st.one_of(
            st.just(key), int_texts(), st.sampled_from([b"noreply", b"default", b""])), max_size=8))
        tokens = [t for t in tokens if t.lower() not in (b"incr", b"decr", b"ma", b"flush_all")]
        return b" ".join(tokens) + b"\r\n"
    if kind == 4:
        return draw(st.binary(min_size=1, max_size=64))
    if kind == 5:
        return b"get " + b" ".join([key] * draw(st.integers(1, 300))) + b"\r\n"
    if kind == 6:
        return b"get " + b"a" * draw(st.sampled_from([250, 251, 4096, 70000])) + b"\r\n"
    return b"set " + key + b" 0 0 5\n" + b"abcde\n"


# ---------------------------------------------------------------- gRPC

#: Never generated over gRPC (erase canaries or change settings); mc_incr is confined (module docstring).
GRPC_EXCLUDED = {"flush_all", "flush_db", "swap_db", "config_set"}
OPS = [f for f in pb.Command.DESCRIPTOR.oneofs_by_name["op"].fields if f.name not in GRPC_EXCLUDED]
_INT_RANGES = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1), FD.TYPE_SINT32: (-(2**31), 2**31 - 1), FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1), FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1), FD.TYPE_SINT64: (-(2**63), 2**63 - 1), FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1), FD.TYPE_FIXED64: (0, 2**64 - 1),
}
_KEY_FIELDS = {"key", "keys", "new_key"}


def _scalar(draw, field, known_bugs: bool):
    t = field.type
    if t in _INT_RANGES:
        lo, hi = _INT_RANGES[t]
        if field.name == "db":  # >= 65536 only with known_bugs (HUGE_DB)
            return draw(st.sampled_from([0, 0, 0, 1, 14, DATABASES, 65535] + ([hi] if known_bugs else [])))
        if field.name in ("destination_db", "other_db"):
            return draw(st.sampled_from([v for v in (-1, 0, 1, 14, DATABASES, hi) if lo <= v <= hi]))
        return draw(st.one_of(st.sampled_from([v for v in EXTREME_INTS if lo <= v <= hi]), st.integers(lo, hi),
                              st.integers(max(lo, -300), min(hi, 300))))
    if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return draw(st.one_of(st.sampled_from([0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1e308, -1e308,
                                               5e-324, 2.0**53, 2.0**63, 2.0**64, 1.5]),
                              st.floats(width=64 if t == FD.TYPE_DOUBLE else 32)))
    if t == FD.TYPE_BOOL:
        return draw(st.booleans())
    if t == FD.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return draw(st.one_of(st.sampled_from(known), st.sampled_from([-1, 99, 2**31 - 1])))
    if t == FD.TYPE_STRING:
        return draw(st.one_of(st.text(max_size=8), st.sampled_from(["string", "hash", "list", "set", "zset", "x"])))
    if t == FD.TYPE_BYTES:
        return draw(keys() if field.name in _KEY_FIELDS else st.one_of(values(), keys(), st.sampled_from(KEYWORDS)))
    raise AssertionError(f"unhandled field type {t} of {field.full_name}")


def _fill(draw, message, depth: int, known_bugs: bool) -> None:
    for field in message.DESCRIPTOR.fields:
        if message.DESCRIPTOR.name == "Command" and field.containing_oneof is not None:
            continue  # the op is chosen by command()
        if field.message_type is not None:
            if field.is_repeated:
                for _ in range(draw(st.integers(0, 3))):
                    if field.message_type.name == "Command":
                        if depth >= 1:
                            break
                        getattr(message, field.name).append(draw(command(depth=depth + 1, known_bugs=known_bugs)))
                    else:
                        _fill(draw, getattr(message, field.name).add(), depth + 1, known_bugs)
            elif draw(st.booleans()):
                _fill(draw, getattr(message, field.name), depth + 1, known_bugs)
                getattr(message, field.name).SetInParent()
            continue
        if field.is_repeated:
            getattr(message, field.name).extend(
                [_scalar(draw, field, known_bugs) for _ in range(draw(st.integers(0, 4)))])
            continue
        if field.has_presence and not draw(st.booleans()):
            continue
        setattr(message, field.name, _scalar(draw, field, known_bugs))


@st.composite
def command(draw, depth: int = 0, known_bugs: bool = False) -> pb.Command:
    """A Command with any op, every field drawn at its type's extremes (confined mc_incr unless known_bugs)."""
    op = draw(st.sampled_from(OPS))
    c = pb.Command()
    _fill(draw, c, depth, known_bugs)
    sub = getattr(c, op.name)
    sub.SetInParent()
    _fill(draw, sub, depth + 1, known_bugs)
    if op.name == "mc_incr" and not known_bugs:
        sub.key = draw(st.sampled_from(MC_COUNTERS))
        sub.delta = draw(st.integers(0, 2**32))
    if op.name == "transaction" and not known_bugs:
        for nested in sub.commands:  # nested McIncr, too
            if nested.WhichOneof("op") == "mc_incr":
                nested.mc_incr.key = MC_COUNTERS[0]
                nested.mc_incr.delta %= 2**32
    return c


@st.composite
def request(draw, known_bugs: bool = False) -> bytes:
    """A serialized cache.Request: a command plus odd consistency levels and dedup ids."""
    req = cache_pb2.Request(command=draw(command(known_bugs=known_bugs)))
    if draw(st.booleans()):
        req.consistency.level = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 99]))
        req.consistency.bound_ms = draw(st.sampled_from([0, 1, 2**32 - 1]))
        # a far min_index through a follower's Pipeline is a known bug (KNOWN_BUGS["pipeline_forward_deadline"])
        req.consistency.min_index = draw(st.sampled_from([0, 1] + ([2**40] if known_bugs else [])))
    if draw(st.booleans()):
        req.client_id = draw(st.sampled_from(["c1", "c2", "", "\x00", "é" * 40]))
        req.sequence = draw(st.sampled_from([0, 1, 2, 2**63, 2**64 - 1]))
    return req.SerializeToString()


# ---------------------------------------------------------------- known apply known_bugs

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


@st.composite
def grpc_unknown_fields(draw) -> bytes:
    """A Request whose Command (or its op) carries an unknown field, e.g. field 999 (KNOWN APPLY CRASHER)."""
    cmd = draw(command())
    number = draw(st.sampled_from([999, 9, 2**29 - 1, 15, 50]))
    extra = _varint(number << 3) + _varint(draw(st.integers(0, 2**64 - 1)))
    if draw(st.booleans()):
        raw = cmd.SerializeToString() + extra
    else:  # inside the op message
        name = cmd.WhichOneof("op")
        inner = getattr(cmd, name).SerializeToString() + extra
        field = pb.Command.DESCRIPTOR.fields_by_name[name].number
        rest = pb.Command(db=cmd.db).SerializeToString()
        raw = rest + _varint(field << 3 | 2) + _varint(len(inner)) + inner
    return _varint(1 << 3 | 2) + _varint(len(raw)) + raw  # Request.command = 1


def grpc_raw_bytes() -> st.SearchStrategy[bytes]:
    """Arbitrary Request bytes (KNOWN APPLY CRASHER: they often decode into unknown fields)."""
    return st.binary(max_size=64)


@st.composite
def mc_counter_overflow(draw) -> bytes:
    """memcached set of a big decimal then incr/decr past 2**63 (KNOWN APPLY CRASHER)."""
    key = draw(st.sampled_from(MC_COUNTERS))
    start = draw(st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64 - 2]))
    verb = draw(st.sampled_from([b"incr", b"decr"]))
    text = str(start).encode()
    return b"set %s 0 0 %d\r\n%s\r\n%s %s 1\r\n" % (key, len(text), text, verb, key)


# ---------------------------------------------------------------- actions and batches

def node_index() -> st.SearchStrategy[int]:
    return st.integers(0, NODES - 1)


def action(known_bugs: bool = False) -> st.SearchStrategy[tuple]:
    strategies = [
        st.tuples(st.just("resp"), node_index(), resp_commands()),
        st.tuples(st.just("resp"), node_index(), resp_commands()),
        st.tuples(st.just("resp_raw"), node_index(), resp_malformed()),
        st.tuples(st.just("mc"), node_index(), mc_client_call(known_bugs=known_bugs)),
        st.tuples(st.just("mc_raw"), node_index(), mc_malformed(known_bugs=known_bugs)),
        st.tuples(st.just("grpc"), node_index(), request(known_bugs=known_bugs)),
        st.tuples(st.just("grpc"), node_index(), request(known_bugs=known_bugs)),
        st.tuples(st.just("grpc_pipeline"), node_index(), st.lists(request(known_bugs=known_bugs), min_size=1, max_size=5)),
    ]
    if known_bugs:
        strategies += [s for s in APPLY_CRASHERS.values()]
    return st.one_of(strategies)


#: The KNOWN APPLY CRASHER strategies by name (module docstring); each makes a whole action.
APPLY_CRASHERS = {
    "mc_counter_overflow": st.tuples(st.just("mc_raw"), node_index(), mc_counter_overflow()),
    "grpc_unknown_fields": st.tuples(st.just("grpc"), node_index(), grpc_unknown_fields()),
    "grpc_raw_bytes": st.tuples(st.just("grpc_raw"), node_index(), grpc_raw_bytes()),
}


def seed_actions(order: list[int]) -> list[tuple]:
    """gRPC writes giving the pool keys one value of every type (`order` permutes which key gets which)."""
    typed = [
        lambda k: pb.Command(set=pb.Set(key=k, value=b"hello")),
        lambda k: pb.Command(set=pb.Set(key=k, value=b"9223372036854775807")),
        lambda k: pb.Command(hset=pb.HSet(key=k, pairs=[pb.KeyValue(key=b"f", value=b"1"),
                                                         pb.KeyValue(key=b"k0", value=b"1.5")])),
        lambda k: pb.Command(push=pb.Push(key=k, values=[b"a", b"1", b"a", b"k1"])),
        lambda k: pb.Command(sadd=pb.SAdd(key=k, members=[b"a", b"1", b"k1"])),
        lambda k: pb.Command(zadd=pb.ZAdd(key=k, members=[pb.ScoreMember(score=1, member=b"a"),
                                                           pb.ScoreMember(score=float("inf"), member=b"b")])),
        lambda k: pb.Command(set=pb.Set(key=k, value=b"1.5e308")),
        lambda k: pb.Command(setbit=pb.SetBit(key=k, offset=8 * 1024 - 1, value=1)),
    ]
    wipe = pb.Command(**{"del": pb.Del(keys=KEYS + MC_COUNTERS)})
    actions = [("grpc", 0, cache_pb2.Request(command=wipe).SerializeToString())]
    for key, i in zip(KEYS, order):
        actions.append(("grpc", 0, cache_pb2.Request(command=typed[i % len(typed)](key)).SerializeToString()))
    for key in MC_COUNTERS:
        actions.append(("grpc", 0, cache_pb2.Request(command=pb.Command(set=pb.Set(key=key, value=b"7"))).SerializeToString()))
    return actions


def batch(known_bugs: bool = False, max_actions: int = 25) -> st.SearchStrategy[list[tuple]]:
    """Seed writes (every type in the pool) followed by 1..max_actions hostile actions."""
    return st.tuples(st.permutations(list(range(len(KEYS)))),
                     st.lists(action(known_bugs), min_size=1, max_size=max_actions)).map(
        lambda t: seed_actions(t[0]) + t[1])


@st.composite
def huge_db_reads(draw) -> list[tuple]:
    """A write then a read with a database number >= 65536 in a Pipeline sent to every node (a
    follower forwards the batch to the leader): KNOWN BUG, the leader runs the forwarded read
    without check_limits (struct.error) and the Pipeline fails with gRPC UNKNOWN, the write's
    reply lost with it."""
    cmd = pb.Command(db=draw(st.sampled_from([65536, 2**32 - 1])), str_len=pb.StrLen(key=draw(st.sampled_from(KEYS))))
    write = cache_pb2.Request(command=pb.Command(set=pb.Set(key=b"k0", value=b"v"))).SerializeToString()
    data = cache_pb2.Request(command=cmd).SerializeToString()
    return [("grpc_pipeline", i, [write, data]) for i in range(NODES)]


@st.composite
def pipeline_forward_deadline(draw) -> list[tuple]:
    """A Pipeline through every node holding a read at MIN_INDEX far ahead: KNOWN BUG, on a
    follower the forwarded batch times out and the DeadlineError escapes the Pipeline
    servicer (gRPC UNKNOWN), the batch's other replies lost with it."""
    req = cache_pb2.Request(command=pb.Command(get=pb.Get(key=draw(st.sampled_from(KEYS)))))
    req.consistency.level = 5  # MIN_INDEX
    req.consistency.min_index = 2**40
    other = cache_pb2.Request(command=pb.Command(set=pb.Set(key=b"k0", value=b"v")))
    return [("grpc_pipeline", i, [other.SerializeToString(), req.SerializeToString()]) for i in range(NODES)]


#: Every known-bug strategy by name, each a strategy of a list of actions (tests/fuzz/test_fuzz_cluster.py).
def _on_every_node(action_strategy) -> st.SearchStrategy[list[tuple]]:
    """The same action sent to every node in turn (a follower forwards it with a client id and a
    sequence, which is what makes the dedup record store the result)."""
    return action_strategy.map(lambda a: [(a[0], i, *a[2:]) for i in range(NODES)])


KNOWN_BUGS = {
    **{name: _on_every_node(s) for name, s in APPLY_CRASHERS.items()},
    "huge_db_forwarded_read": huge_db_reads(),
    "pipeline_forward_deadline": pipeline_forward_deadline(),
}
