"""The C libraries Redis links into its Lua (bit, cjson, cmsgpack, struct), written in
Python for the sandbox (node/scripting/sandbox.py exposes them as read-only tables).

Each function takes and returns what lupa passes (Lua strings as bytes, numbers as
int/float, tables as lupa tables) and builds Lua tables with the `Tables` helper it is
given. Errors are raised as `LuaLibError` with Lua's message, which the sandbox turns
into a Lua error at the caller's position. Deterministic and pure: no clock, no
randomness, no I/O.
"""

from __future__ import annotations

import json
import math
import re
import struct as _struct

import msgpack
from lupa import lua51

from raftcache.node.scripting import copies

#: Deepest nesting cjson and cmsgpack encode or decode (lua-cjson's default is 1000; a lower
#: fixed bound keeps every replica far from Python's recursion limit, whose distance depends
#: on the thread's stack: the same input must fail alike everywhere).
MAX_DEPTH = 128
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_JSON_BRACKETS = re.compile(rb"[\[\]{}]")


class LuaLibError(Exception):
    """A library function's error, raised as a Lua error with this message."""


def lua_type(value) -> str | None:
    return lua51.lua_type(value)


def number_text(n) -> bytes:
    """A Lua number as Lua 5.1 writes it (LUA_NUMBER_FMT "%.14g")."""
    if isinstance(n, bool):
        raise TypeError("not a number")
    if isinstance(n, int) and abs(n) < 10**14:
        return b"%d" % n
    f = float(n)
    if math.isinf(f):
        return b"inf" if f > 0 else b"-inf"
    if math.isnan(f):
        return b"nan" if math.copysign(1, f) > 0 else b"-nan"
    return (b"%.14g" % f)


def lua_tonumber(text: bytes) -> int | float | None:
    """Lua 5.1's tonumber of a string: decimal (with exponent) or 0x hex, blanks around; else None."""
    t = text.strip()
    try:
        return int(t, 16) if t[:2].lower() in (b"0x",) or t[:3].lower() in (b"-0x", b"+0x") else float(t)
    except ValueError:
        return None


#: The largest integer every smaller one of which a double holds exactly (2**53).
_EXACT = 1 << 53


def command_number_text(n) -> bytes:
    """A Lua number given to redis.call, as Redis 7.2+ writes it: an integral value within
    64 bits as an integer, another as the shortest text that reads back the same double."""
    if type(n) is int and -_EXACT <= n <= _EXACT:
        return b"%d" % n   # what the float route gives an int a double holds exactly
    f = float(n)
    if f.is_integer() and -2.0**63 <= f < 2.0**63:
        return b"%d" % int(f)
    if math.isinf(f):
        return b"inf" if f > 0 else b"-inf"
    if math.isnan(f):
        return b"nan"
    return repr(f).encode()


def array_length(table) -> int | None:
    """n when the keys of `table` are exactly 1..n (n may be 0), else None."""
    n = 0
    for key in table.keys():
        if type(key) not in (int, float) or key != int(key) or key < 1:
            return None
        n += 1
    for i in range(1, n + 1):
        if table[i] is None:
            return None
    return n


# ---------------------------------------------------------------- bit (LuaBitOp semantics)

def _tobit(x) -> int:
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        raise LuaLibError("bad argument to bit function (number expected)")
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return 0
        x = math.floor(x + 0.5) if x - math.floor(x) == 0.5 else round(x)  # LuaBitOp rounds via 2^52+2^51
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def _u32(x) -> int:
    return _tobit(x) & 0xFFFFFFFF


def _signed(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def _tohex(x, n=8) -> bytes:
    n = 8 if n is None else int(n)
    digits = "0123456789ABCDEF" if n < 0 else "0123456789abcdef"
    n = min(abs(n), 8) or 8 if n != 0 else 8
    v = _u32(x)
    return "".join(digits[(v >> (4 * i)) & 15] for i in reversed(range(n))).encode()


def _fold(op):
    def f(*args):
        if not args:
            raise LuaLibError("bad argument #1 to bit function (number expected, got no value)")
        acc = _u32(args[0])
        for a in args[1:]:
            acc = op(acc, _u32(a))
        return _signed(acc)
    return f


BIT = {
    "tobit": _tobit,
    "tohex": _tohex,
    "bnot": lambda x: _signed(~_u32(x)),
    "band": _fold(lambda a, b: a & b),
    "bor": _fold(lambda a, b: a | b),
    "bxor": _fold(lambda a, b: a ^ b),
    "lshift": lambda x, n: _signed(_u32(x) << (_u32(n) & 31)),
    "rshift": lambda x, n: _signed(_u32(x) >> (_u32(n) & 31)),
    "arshift": lambda x, n: _signed(_tobit(x) >> (_u32(n) & 31)),
    "rol": lambda x, n: _signed((_u32(x) << (_u32(n) & 31)) | (_u32(x) >> ((32 - (_u32(n) & 31)) & 31))),
    "ror": lambda x, n: _signed((_u32(x) >> (_u32(n) & 31)) | (_u32(x) << ((32 - (_u32(n) & 31)) & 31))),
    "bswap": lambda x: _signed(int.from_bytes(_u32(x).to_bytes(4, "little"), "big")),
}


# ---------------------------------------------------------------- cjson

_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                 "\t": "\\t"}
#: What cjson escapes: the escapes above, other control characters and DEL as \u00XX.
_JSON_ESCAPED = {c: _JSON_ESCAPES.get(chr(c)) or "\\u%04x" % c for c in [*range(0x20), 0x22, 0x2F, 0x5C, 0x7F]}
_JSON_TO_ESCAPE = re.compile('[\x00-\x1f"/\\\\\x7f]')
#: From log version 26, cjson.encode charges a string that has characters to escape this many
#: instructions a byte besides what reading it costs (escaping is ~50 ns a byte here).
ESCAPE_INSTRUCTIONS = 1


def _json_string(data: bytes, charge=None) -> str:
    """`data` as a JSON string (cjson escapes bytes, never decodes UTF-8); `charge`: the
    budget's, for what escaping costs (log version 26)."""
    text = data.decode("latin-1")
    if _JSON_TO_ESCAPE.search(text) is None:
        return '"' + text + '"'
    if charge is not None:
        charge(len(data) * ESCAPE_INSTRUCTIONS)
    return '"' + text.translate(_JSON_ESCAPED) + '"'


#: cjson.encode and cmsgpack.pack charge the budget this many instructions per value they visit
#: (~1 µs of Python each; log version 24), every CHARGE_EVERY values and at the end.
INSTRUCTIONS_PER_VALUE = 20
CHARGE_EVERY = 256


class Cjson:
    """cjson.encode / cjson.decode with lua-cjson 2.1's rules (Redis's)."""

    def __init__(self, tables, null):
        self._tables = tables
        self.null = null
        self.depth_settable = True
        #: charge(instructions) per value encoded (log version 24: node/scripting/charged.py), or None
        self.charge = None
        #: ... and per string's bytes as they are read (log version 26: node/scripting/copies.py)
        self.copies = False
        #: log version 27's rule (set per run): a decoding error is lua-cjson's text, not Python's
        self.plain_errors = False
        self._values = 0
        self.reset()

    def reset(self) -> None:
        """Back to lua-cjson's defaults: every run starts alike, whatever ran before on this node."""
        self.encode_depth = self.decode_depth = MAX_DEPTH
        self.invalid_numbers = False

    def encode_max_depth(self, n=None) -> int:
        return self._set_depth("encode_depth", "encode_max_depth", n)

    def decode_max_depth(self, n=None) -> int:
        return self._set_depth("decode_depth", "decode_max_depth", n)

    def encode_invalid_numbers(self, allowed=None) -> bool:
        """cjson.encode_invalid_numbers(true): NaN and Inf encode as `nan` / `inf` (lua-cjson's
        %.14g) for the rest of this run; a no-op under the rules of older log versions."""
        if allowed is not None and self.depth_settable:
            self.invalid_numbers = bool(allowed)
        return self.invalid_numbers

    def _set_depth(self, attribute: str, name: str, n) -> int:
        """cjson.encode_max_depth / decode_max_depth: set for the rest of this run (reset() at
        the next); a no-op under the rules of log versions before 7.4's (depth_settable)."""
        if n is None:
            return getattr(self, attribute)
        if not isinstance(n, (int, float)) or not 1 <= n <= 2**31 - 1:
            raise LuaLibError(f"bad argument #1 to '{name}' (expected integer between 1 and 2147483647)")
        if self.depth_settable:
            setattr(self, attribute, int(n))
        return int(n)

    def encode(self, value) -> bytes:
        out: list[str] = []
        self._values = 0
        self._encode(value, out, 0)
        if self.charge is not None:
            self.charge(self._values % CHARGE_EVERY * INSTRUCTIONS_PER_VALUE)
        return "".join(out).encode("latin-1")

    def _encode(self, value, out: list, depth: int) -> None:
        if self.charge is not None:
            self._values += 1
            if self._values % CHARGE_EVERY == 0:   # (a failing encode is charged up to where it failed)
                self.charge(CHARGE_EVERY * INSTRUCTIONS_PER_VALUE)
        if not self.depth_settable and depth > MAX_DEPTH:   # the check of log versions before 7.4's rules
            raise LuaLibError("Cannot serialise, excessive nesting (1001)")
        if value is None or value is self.null or (lua_type(value) == "userdata" and value == self.null):
            out.append("null")
        elif value is True or value is False:
            out.append("true" if value else "false")
        elif isinstance(value, (int, float)):
            if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
                if not self.invalid_numbers:
                    raise LuaLibError("Cannot serialise number: must not be NaN or Inf")
                out.append("nan" if math.isnan(value) else "inf" if value > 0 else "-inf")
                return
            out.append(number_text(value).decode())
        elif isinstance(value, bytes):
            out.append(self._string(value))
        elif lua_type(value) == "table":
            if self.depth_settable and depth + 1 > self.encode_depth:   # lua-cjson counts tables from 1
                raise LuaLibError(f"Cannot serialise, excessive nesting ({depth + 1})")
            n = array_length(value)
            if n is not None and n > 0:
                out.append("[")
                for i in range(1, n + 1):
                    if i > 1:
                        out.append(",")
                    self._encode(value[i], out, depth + 1)
                out.append("]")
                return
            out.append("{")
            first = True
            for k, v in value.items():
                if isinstance(k, bytes):
                    name = k
                elif isinstance(k, (int, float)) and not isinstance(k, bool):
                    name = number_text(k)
                else:
                    raise LuaLibError("Cannot serialise table: table key must be a number or string")
                if not first:
                    out.append(",")
                first = False
                out.append(self._string(name))
                out.append(":")
                self._encode(v, out, depth + 1)
            out.append("}")
        else:
            raise LuaLibError(f"Cannot serialise {lua_type(value) or type(value).__name__}: type not supported")

    def _string(self, data: bytes) -> str:
        """`data` as a JSON string, charged (log version 26 on) by all its bytes (a table may
        hold many references to one string) and what escaping it costs."""
        if not self.copies:
            return _json_string(data)
        self.charge(len(data) / copies.COPY_BYTES)
        return _json_string(data, self.charge)

    def decode(self, text) -> object:
        if not isinstance(text, bytes):
            raise LuaLibError("bad argument #1 to 'decode' (string expected)")
        depth = deepest = 0
        for bracket in _JSON_BRACKETS.findall(_JSON_STRING.sub(b"", text)):
            depth += 1 if bracket in b"[{" else -1
            deepest = max(deepest, depth)
        if deepest > self.decode_depth:
            raise LuaLibError(f"Found too many nested data structures ({self.decode_depth + 1})")
        try:
            parsed = json.loads(text.decode("utf-8", "surrogateescape"), parse_constant=_no_constant)
        except (ValueError, RecursionError) as e:
            if self.plain_errors:   # (Python's own text, and where it says, differ between its releases)
                raise LuaLibError("Expected value but found invalid token") from None
            raise LuaLibError(f"Expected value but found invalid token ({e})") from None
        return self._to_lua(parsed, 0)

    def _to_lua(self, value, depth: int):
        if depth > MAX_DEPTH:
            raise LuaLibError("Found too many nested data structures")
        if value is None:
            return self.null
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if isinstance(value, list):
            return self._tables.table_from([self._to_lua(v, depth + 1) for v in value])
        if isinstance(value, dict):
            return self._tables.table_from({k.encode("utf-8", "surrogateescape"): self._to_lua(v, depth + 1)
                                            for k, v in value.items()})
        return _plain(value, self.plain_errors)


def _plain(value, doubles: bool):
    """A decoded scalar as a script may hold it: nil, a boolean, a string, or a number (with
    `doubles`, log version 27's rule, an integer outside 64 bits as the double Lua makes of it;
    before, lupa refused it with a Python error); anything else (an object of the decoder's:
    msgpack's Timestamp) is nil, at every version: no Python object reaches a script."""
    t = type(value)
    if t is int:
        return float(value) if doubles and not -(1 << 63) <= value < 1 << 63 else value
    if value is None or t is bytes or t is float or t is bool:
        return value
    return None


def _no_constant(name):
    raise ValueError(f"invalid number {name}")


# ---------------------------------------------------------------- cmsgpack

#: Lua's types whose table keys are ordered by address (Cmsgpack.plain_keys), and what log
#: version 27 answers a walk of a table keyed by them (here and in the sandbox's prelude).
OBJECT_TYPES = frozenset({"table", "function", "thread", "userdata"})
KEYED_BY_OBJECTS = "a table keyed by tables, functions, coroutines or userdata has no order every replica shares"


def keyed_by_objects(keys) -> bool:
    """Whether one of `keys` (a Lua table's) is of a type Lua orders by address."""
    return any(lua_type(k) in OBJECT_TYPES for k in keys)


class Cmsgpack:
    """cmsgpack.pack / cmsgpack.unpack (Redis's lua-cmsgpack): tables whose keys are 1..n are
    arrays, other tables maps; integral numbers are integers, others doubles."""

    def __init__(self, tables):
        self._tables = tables
        #: log version 15's rule (set per run): a table 16 deep packs as nil; before, any value
        #: deeper than 16 did (one level more of tables)
        self.compat = True
        #: charge(instructions) per value packed (log version 24: node/scripting/charged.py), or None
        self.charge = None
        #: ... and per string's bytes as they are read (log version 26: node/scripting/copies.py)
        self.copies = False
        #: log version 27's rule (set per run): a table keyed by tables, functions or userdata is
        #: refused (the order of its entries is Lua's, by address: no two replicas share it)
        self.plain_keys = False
        #: ... and its decoding errors are lua-cmsgpack's texts alone, not msgpack's too
        self.plain_errors = False
        self._values = 0

    def pack(self, *values) -> bytes:
        if not values:
            raise LuaLibError("MessagePack pack needs input.")
        self._values = 0
        packed = b"".join(msgpack.packb(self._to_py(v, 0), use_bin_type=False) for v in values)
        if self.charge is not None:
            self.charge(self._values % CHARGE_EVERY * INSTRUCTIONS_PER_VALUE)
        return packed

    def _to_py(self, value, depth: int):
        if self.charge is not None:
            self._values += 1
            if self._values % CHARGE_EVERY == 0:
                self.charge(CHARGE_EVERY * INSTRUCTIONS_PER_VALUE)
        if not self.compat and depth > 16:
            return None
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, bytes):
            if self.copies:   # (all its bytes: a table may hold many references to one string)
                self.charge(len(value) / copies.COPY_BYTES)
            return value
        if isinstance(value, (int, float)):
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
                return int(value)
            return value
        if lua_type(value) == "table":
            if depth >= 16 and self.compat:  # lua-cmsgpack's LUACMSGPACK_MAX_NESTING: a table that deep packs as nil
                return None
            n = array_length(value)
            if n is not None and n > 0:
                return [self._to_py(value[i], depth + 1) for i in range(1, n + 1)]
            items = list(value.items())
            if self.plain_keys and keyed_by_objects(k for k, _ in items):
                raise LuaLibError("cmsgpack.pack: " + KEYED_BY_OBJECTS)
            return {self._to_py(k, depth + 1): self._to_py(v, depth + 1) for k, v in items}
        return None

    def unpack(self, data):
        if not isinstance(data, bytes):
            raise LuaLibError("bad argument #1 to 'unpack' (string expected)")
        unpacker = msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=max(len(data), 1))
        unpacker.feed(data)
        try:
            out = [self._to_lua(v, 0) for v in unpacker]
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
            raise LuaLibError("Missing bytes in input." if self.plain_errors else f"Missing bytes in input. ({e})") from None
        return tuple(out)

    def unpack_one(self, data, offset=0):
        return self.unpack_limit(data, 1, offset)

    def unpack_limit(self, data, limit, offset=0):
        """At most `limit` values from byte `offset` on, after the offset of the next value (-1 when
        the input is used up); lua-cmsgpack's rule: limit and offset both 0 decode everything, with
        no offset returned."""
        if not isinstance(data, bytes):
            raise LuaLibError("bad argument #1 to 'unpack_limit' (string expected)")
        limit, offset = int(limit), int(offset)
        if limit < 0 or offset < 0:
            raise LuaLibError(f"Invalid request to unpack with offset of {offset} and limit of {limit}.")
        if offset > len(data):
            raise LuaLibError(f"Start offset {offset} greater than input length {len(data)}.")
        if limit == 0 and offset == 0:
            return self.unpack(data)
        rest = data[offset:]
        unpacker = msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=max(len(rest), 1))
        unpacker.feed(rest)
        out: list = []
        try:
            while len(out) < limit and unpacker.tell() < len(rest):
                out.append(self._to_lua(unpacker.unpack(), 0))
        except msgpack.OutOfData:
            raise LuaLibError("Missing bytes in input.") from None
        except (ValueError, msgpack.FormatError, msgpack.StackError):
            raise LuaLibError("Bad data format in input.") from None
        consumed = offset + unpacker.tell()
        return (-1 if consumed == len(data) else consumed, *out)

    def _to_lua(self, value, depth: int):
        if depth > MAX_DEPTH:
            raise LuaLibError(f"MessagePack data nested deeper than {MAX_DEPTH}")
        if isinstance(value, list):
            return self._tables.table_from([self._to_lua(v, depth + 1) for v in value])
        if isinstance(value, dict):
            return self._tables.table_from({self._to_lua(k, depth + 1): self._to_lua(v, depth + 1)
                                            for k, v in value.items() if k is not None})
        return _plain(value, self.plain_errors)   # an extension type (a timestamp too): nil


# ---------------------------------------------------------------- struct (Roberto Ierusalimschy's)

_INTS = {b"b": (1, True), b"B": (1, False), b"h": (2, True), b"H": (2, False), b"l": (8, True),
         b"L": (8, False), b"T": (8, False)}


def _formats(fmt: bytes):
    """Yield (option, size) from a struct format, with '<' '>' '=' '!' applied as endianness."""
    i, endian = 0, "<"
    while i < len(fmt):
        opt = fmt[i:i + 1]
        i += 1
        j = i
        while j < len(fmt) and fmt[j:j + 1].isdigit():
            j += 1
        num = int(fmt[i:j]) if j > i else None
        i = j
        if opt in (b"<", b"="):
            endian = "<"
        elif opt == b">":
            endian = ">"
        elif opt in (b" ", b"!"):
            continue
        else:
            yield opt, num, endian


def _int_size(opt: bytes, num):
    if opt in (b"i", b"I"):
        size = 4 if num is None else num
        if not 1 <= size <= 8:
            raise LuaLibError(f"integral size {size} is larger than limit of 8")
        return size, opt == b"i"
    return _INTS[opt]


def struct_pack(fmt, *args) -> bytes:
    out = bytearray()
    args = list(args)
    for opt, num, endian in _formats(fmt):
        if opt == b"x":
            out += b"\0"
            continue
        if not args:
            raise LuaLibError("bad argument to 'pack' (no value)")
        arg = args.pop(0)
        if opt in _INTS or opt in (b"i", b"I"):
            size, signed = _int_size(opt, num)
            n = int(arg) & ((1 << (8 * size)) - 1)
            out += n.to_bytes(size, "little" if endian == "<" else "big")
        elif opt in (b"f", b"d"):
            out += _struct.pack(endian + opt.decode(), float(arg))
        elif opt == b"c":
            data = arg if isinstance(arg, bytes) else number_text(arg)
            size = len(data) if not num else num
            if len(data) < size:
                raise LuaLibError("bad argument to 'pack' (string too short)")
            out += data[:size]
        elif opt == b"s":
            data = arg if isinstance(arg, bytes) else number_text(arg)
            out += data + b"\0"
        else:
            raise LuaLibError(f"invalid format option '{opt.decode(errors='replace')}'")
    return bytes(out)


def struct_unpack(fmt, data, pos=1, *, bounded_offset: bool = False):
    """struct.unpack; `bounded_offset` (log version 27): an offset before the data's start or
    past its end is lua-struct's error (before, a negative one read from the end, Python's way)."""
    out: list = []
    i = int(pos) - 1
    if bounded_offset and not 0 <= i <= len(data):
        raise LuaLibError("bad argument #3 to 'unpack' (offset out of bounds)")
    prev_size = None
    for opt, num, endian in _formats(fmt):
        if opt == b"x":
            i += 1
            continue
        if opt in _INTS or opt in (b"i", b"I"):
            size, signed = _int_size(opt, num)
            if i + size > len(data):
                raise LuaLibError("bad argument #2 to 'unpack' (data string too short)")
            n = int.from_bytes(data[i:i + size], "little" if endian == "<" else "big", signed=signed)
            out.append(n)
            prev_size = n
            i += size
        elif opt in (b"f", b"d"):
            size = 4 if opt == b"f" else 8
            if i + size > len(data):
                raise LuaLibError("bad argument #2 to 'unpack' (data string too short)")
            out.append(_struct.unpack(endian + opt.decode(), data[i:i + size])[0])
            i += size
        elif opt == b"c":
            size = num if num else (prev_size or 0) if num == 0 else 1
            if num == 0:
                out.pop() if out else None
            if i + size > len(data):
                raise LuaLibError("bad argument #2 to 'unpack' (data string too short)")
            out.append(data[i:i + size])
            i += size
        elif opt == b"s":
            end = data.find(b"\0", i)
            if end < 0:
                raise LuaLibError("bad argument #2 to 'unpack' (unfinished string in data)")
            out.append(data[i:end])
            i = end + 1
        else:
            raise LuaLibError(f"invalid format option '{opt.decode(errors='replace')}'")
    out.append(i + 1)
    return tuple(out)


def struct_size(fmt) -> int:
    size = 0
    for opt, num, _ in _formats(fmt):
        if opt == b"x":
            size += 1
        elif opt in _INTS or opt in (b"i", b"I"):
            size += _int_size(opt, num)[0]
        elif opt in (b"f", b"d"):
            size += 4 if opt == b"f" else 8
        elif opt == b"c":
            size += num or 1
        else:
            raise LuaLibError("options 's' and 'c0' have no fixed size")
    return size


STRUCT = {"pack": struct_pack, "unpack": struct_unpack, "size": struct_size}
