"""Redis's DUMP serialization (an RDB object, its RDB version, a CRC64): encode and decode.

`encode(value)` writes the plain RDB encodings every Redis since 7.0 loads
(RDB_TYPE_STRING, LIST, SET, ZSET_2, HASH) with RDB version 10 (Redis 7.0's),
and a hash with field TTLs as Redis 7.4 writes a large one (RDB_TYPE_HASH_METADATA,
RDB version 12: only Redis 7.4 and later load it, as only they have field TTLs).
`decode(payload)` reads those and the compact encodings Redis 7.0 - 7.4 emit:
integer and LZF-compressed strings, listpacks (small hashes, sorted sets,
sets, and the nodes of LIST_QUICKLIST_2), intsets, the old ZSET, Redis 7.4's
hashes with field TTLs (HASH_METADATA, HASH_LISTPACK_EX, and the forms of its
release candidates); RDB versions up to 12 (Redis 7.4's); and the ziplists of
Redis 3.2 - 6.2 (small hashes and sorted sets, LIST_QUICKLIST's nodes). Streams,
modules and the zipmap of Redis 2 are refused with RdbError, as is any payload
whose footer or checksum is wrong or whose bytes do not parse to the end.

A value is (kind, data): ("string", bytes), ("list", [bytes]), ("set", [bytes]),
("hash", [(field, value)]), ("zset", [(member, score)]); a hash whose payload can
carry field TTLs is ("hash", [(field, value, deadline_ms)]), deadline 0 for none.

Also FUNCTION DUMP's payload (`function_libraries`, `decode_function_libraries`): each
library's code as an RDB string after the RDB_OPCODE_FUNCTION2 byte, with the same footer.
Pure: no lmdb, no clocks; every length read is checked against the payload,
so a hostile payload costs at most its own size.
"""

from __future__ import annotations

import math
import struct

import anycrc

#: The RDB version DUMP writes (Redis 7.0's), and the newest RESTORE reads (Redis 7.4's).
DUMP_RDB_VERSION = 10
MAX_RDB_VERSION = 12
#: The RDB version of a hash with field TTLs (Redis 7.4's; what RESTORE takes from log version
#: 27 on: commands.restores_redis74).
FIELD_TTLS_RDB_VERSION = 12
#: The newest RDB version a FUNCTION RESTORE payload may say (Redis 7.4's: its format is 7.0's).
FUNCTIONS_MAX_RDB_VERSION = 12

STRING, LIST, SET, ZSET, HASH, ZSET_2 = 0, 1, 2, 3, 4, 5
LIST_ZIPLIST, SET_INTSET, ZSET_ZIPLIST, HASH_ZIPLIST, LIST_QUICKLIST = 10, 11, 12, 13, 14
HASH_LISTPACK, ZSET_LISTPACK, LIST_QUICKLIST_2, SET_LISTPACK = 16, 17, 18, 20
_STREAMS = (15, 19, 21)
#: Redis 7.4's hashes with field TTLs (and their forms in its release candidates).
HASH_METADATA_PRE_GA, HASH_LISTPACK_EX_PRE_GA, HASH_METADATA, HASH_LISTPACK_EX = 22, 23, 24, 25
FIELD_TTL_TYPES = (HASH_METADATA_PRE_GA, HASH_LISTPACK_EX_PRE_GA, HASH_METADATA, HASH_LISTPACK_EX)
#: The latest field deadline Redis 7.4 stores (ms; its EB_EXPIRE_TIME_MAX; what HEXPIRE may set is
#: lower: commands/hashes.py MAX_FIELD_DEADLINE_MS, 2^46 - 1, as Redis).
MAX_STORED_FIELD_DEADLINE_MS = (1 << 48) - 1
#: FUNCTION DUMP's opcodes: a library's code (Redis 7.0 GA on), and the release candidates' format.
FUNCTION2, FUNCTION_PRE_GA = 245, 246
_CRC64 = anycrc.Model("CRC64-REDIS")
_F64 = struct.Struct("<d")
_U64 = struct.Struct("<Q")


STREAMS_UNSUPPORTED = "streams are not supported by DUMP/RESTORE in raftcache"
BAD_CHECKSUM = "DUMP payload version or checksum are wrong"
NOT_A_FUNCTION = "given type is not a function"
PRE_GA_FUNCTIONS = "Pre-GA function format not supported"


class RdbError(ValueError):
    """A payload RESTORE cannot take (Redis: "Bad data format")."""


def crc64(data: bytes) -> int:
    return _CRC64.calc(data)


# ---------------------------------------------------------------- encoding

def _length(n: int) -> bytes:
    if n < 1 << 6:
        return bytes([n])
    if n < 1 << 14:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    if n < 1 << 32:
        return b"\x80" + struct.pack(">I", n)
    return b"\x81" + struct.pack(">Q", n)


def _string(s: bytes) -> bytes:
    return _length(len(s)) + s


def encode(kind: str, data) -> bytes:
    """The DUMP payload of one value (see the module docstring for `kind`, `data`)."""
    if kind == "string":
        body = bytes([STRING]) + _string(data)
    elif kind in ("list", "set"):
        body = b"".join([bytes([LIST if kind == "list" else SET]), _length(len(data)), *map(_string, data)])
    elif kind == "hash":
        if any(len(entry) == 3 and entry[2] for entry in data):
            return _hash_with_ttls(data)
        body = b"".join([bytes([HASH]), _length(len(data)), *(_string(e[0]) + _string(e[1]) for e in data)])
    elif kind == "zset":
        body = b"".join([bytes([ZSET_2]), _length(len(data)), *(_string(m) + _F64.pack(s) for m, s in data)])
    else:
        raise RdbError(f"cannot serialize a {kind}")
    return sealed(body)


def _hash_with_ttls(data) -> bytes:
    """RDB_TYPE_HASH_METADATA (Redis 7.4): the earliest deadline, then per field its deadline
    relative to it (+1; 0: none), the field and the value; RDB version 12."""
    earliest = min(entry[2] for entry in data if len(entry) == 3 and entry[2])
    parts = [bytes([HASH_METADATA]), _U64.pack(earliest), _length(len(data))]
    for entry in data:
        deadline = entry[2] if len(entry) == 3 else 0
        parts += [_length(deadline - earliest + 1 if deadline else 0), _string(entry[0]), _string(entry[1])]
    return sealed(b"".join(parts), FIELD_TTLS_RDB_VERSION)


def function_libraries(codes) -> bytes:
    """FUNCTION DUMP's payload as Redis 7 writes it: each library's code after
    RDB_OPCODE_FUNCTION2, then DUMP's footer."""
    return sealed(b"".join(bytes([FUNCTION2]) + _string(code) for code in codes))


def sealed(body: bytes, version: int = DUMP_RDB_VERSION) -> bytes:
    """`body` (an RDB type byte and object) with DUMP's footer: RDB version and CRC64."""
    body += struct.pack("<H", version)
    return body + _U64.pack(crc64(body))


# ---------------------------------------------------------------- decoding

class _Reader:
    __slots__ = ("buf", "pos", "max_string_bytes", "expansion_left")

    def __init__(self, buf: bytes, max_string_bytes: int, max_expanded_bytes: int | None = None):
        self.buf, self.pos, self.max_string_bytes = buf, 0, max_string_bytes
        self.expansion_left = max_expanded_bytes   # (None: every string bounded alone)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise RdbError("payload truncated")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def length(self) -> tuple[int, bool]:
        """(length, is_encoded): an RDB length, or a special string encoding's number."""
        b = self.byte()
        kind = b >> 6
        if kind == 0:
            return b & 0x3F, False
        if kind == 1:
            return ((b & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return b & 0x3F, True
        if b == 0x80:
            return struct.unpack(">I", self.take(4))[0], False
        if b == 0x81:
            return struct.unpack(">Q", self.take(8))[0], False
        raise RdbError("bad length encoding")

    def count(self) -> int:
        n, encoded = self.length()
        if encoded or n > len(self.buf):  # each element takes a byte at least
            raise RdbError("bad element count")
        return n

    def string(self) -> bytes:
        n, encoded = self.length()
        if not encoded:
            return self.take(n)
        if n == 0:
            return b"%d" % struct.unpack("<b", self.take(1))[0]
        if n == 1:
            return b"%d" % struct.unpack("<h", self.take(2))[0]
        if n == 2:
            return b"%d" % struct.unpack("<i", self.take(4))[0]
        if n == 3:
            clen, _ = self.length()
            size, _ = self.length()
            if size > self.max_string_bytes:
                raise RdbError("string too large")
            if self.expansion_left is not None:
                self.expansion_left -= size
                if self.expansion_left < 0:
                    raise RdbError(EXPANDS_TOO_FAR)
            return lzf_decompress(self.take(clen), size)
        raise RdbError("unknown string encoding")

    def old_double(self) -> float:
        n = self.byte()
        if n == 253:
            return math.nan
        if n == 254:
            return math.inf
        if n == 255:
            return -math.inf
        try:
            return float(self.take(n).decode("ascii"))
        except ValueError:
            raise RdbError("bad double") from None


#: Most bytes one LZF string may expand to (proto-max-bulk-len's default, 512 MB).
MAX_STRING_BYTES = 512 << 20
#: Most bytes the LZF strings of one payload may expand to together, where `decode` is asked
#: to bound them (max_expanded_bytes): a string of LZF back-references grows ~90 times, so a
#: 64 MB payload of them asked ~5.6 GB, each string under its own bound.
MAX_EXPANDED_BYTES = 512 << 20
EXPANDS_TOO_FAR = "DUMP payload expands past 512 MB"


def lzf_decompress(data: bytes, size: int) -> bytes:
    """liblzf's lzf_decompress; RdbError unless `data` expands to exactly `size` bytes."""
    if size > MAX_STRING_BYTES:
        raise RdbError("LZF string too large")
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # a literal run of ctrl + 1 bytes
            end = i + ctrl + 1
            if end > n or len(out) + ctrl + 1 > size:
                raise RdbError("bad LZF data")
            out += data[i:end]
            i = end
            continue
        length = ctrl >> 5
        if length == 7:
            if i >= n:
                raise RdbError("bad LZF data")
            length += data[i]
            i += 1
        if i >= n:
            raise RdbError("bad LZF data")
        ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        length += 2
        if ref < 0 or len(out) + length > size:
            raise RdbError("bad LZF data")
        if ref + length <= len(out):
            out += out[ref:ref + length]
        else:  # the copy overlaps what it writes: the bytes from ref on, repeated
            period = out[ref:]
            out += (period * (length // len(period) + 1))[:length]
    if len(out) != size:
        raise RdbError("bad LZF data")
    return bytes(out)


def listpack(blob: bytes) -> list[bytes]:
    """The entries of a listpack (integers as their decimal text)."""
    if len(blob) < 7 or struct.unpack_from("<I", blob)[0] != len(blob) or blob[-1] != 0xFF:
        raise RdbError("bad listpack")
    out: list[bytes] = []
    i, end = 6, len(blob) - 1
    while i < end:
        b = blob[i]
        if b < 0x80:
            value, size = b"%d" % b, 1
        elif b < 0xC0:
            n = b & 0x3F
            value, size = blob[i + 1:i + 1 + n], 1 + n
        elif b < 0xE0:
            if i + 1 >= end:
                raise RdbError("bad listpack")
            v = ((b & 0x1F) << 8) | blob[i + 1]
            value, size = b"%d" % (v - (1 << 13) if v >= 1 << 12 else v), 2
        elif b < 0xF0:
            if i + 1 >= end:
                raise RdbError("bad listpack")
            n = ((b & 0x0F) << 8) | blob[i + 1]
            value, size = blob[i + 2:i + 2 + n], 2 + n
        elif b == 0xF0:
            n = struct.unpack_from("<I", blob, i + 1)[0] if i + 5 <= end else -1
            if n < 0:
                raise RdbError("bad listpack")
            value, size = blob[i + 5:i + 5 + n], 5 + n
        elif 0xF1 <= b <= 0xF4:
            width = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}[b]
            if i + 1 + width > end:
                raise RdbError("bad listpack")
            value, size = b"%d" % int.from_bytes(blob[i + 1:i + 1 + width], "little", signed=True), 1 + width
        else:
            raise RdbError("bad listpack entry")
        if i + size > end:
            raise RdbError("bad listpack")
        out.append(bytes(value))
        i += size + (1 if size <= 127 else 2 if size < 16383 else 3 if size < 2097151 else 4 if size < 268435455 else 5)
    if i != end:
        raise RdbError("bad listpack")
    if len(out) != struct.unpack_from("<H", blob, 4)[0] and struct.unpack_from("<H", blob, 4)[0] != 0xFFFF:
        raise RdbError("bad listpack count")
    return out


def ziplist(blob: bytes) -> list[bytes]:
    """The entries of a ziplist (Redis before 7.0; integers as their decimal text)."""
    if len(blob) < 11 or struct.unpack_from("<I", blob)[0] != len(blob) or blob[-1] != 0xFF:
        raise RdbError("bad ziplist")
    out: list[bytes] = []
    i, end = 10, len(blob) - 1
    while i < end:
        i += 5 if blob[i] == 0xFE else 1  # the previous entry's length
        if i >= end:
            raise RdbError("bad ziplist")
        b = blob[i]
        kind = b >> 6
        if kind == 0:
            n, i = b & 0x3F, i + 1
        elif kind == 1:
            if i + 2 > end:
                raise RdbError("bad ziplist")
            n, i = ((b & 0x3F) << 8) | blob[i + 1], i + 2
        elif b == 0x80:
            if i + 5 > end:
                raise RdbError("bad ziplist")
            n, i = struct.unpack_from(">I", blob, i + 1)[0], i + 5
        else:
            width = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}.get(b)
            if width is None and 0xF1 <= b <= 0xFD:
                out.append(b"%d" % ((b & 0x0F) - 1))
                i += 1
                continue
            if width is None or i + 1 + width > end:
                raise RdbError("bad ziplist entry")
            out.append(b"%d" % int.from_bytes(blob[i + 1:i + 1 + width], "little", signed=True))
            i += 1 + width
            continue
        if i + n > end:
            raise RdbError("bad ziplist")
        out.append(bytes(blob[i:i + n]))
        i += n
    return out


def intset(blob: bytes) -> list[bytes]:
    if len(blob) < 8:
        raise RdbError("bad intset")
    width, count = struct.unpack_from("<II", blob)
    if width not in (2, 4, 8) or len(blob) != 8 + width * count:
        raise RdbError("bad intset")
    fmt = {2: "h", 4: "i", 8: "q"}[width]
    return [b"%d" % v for v in struct.unpack_from(f"<{count}{fmt}", blob, 8)]


def _pairs(items: list[bytes]) -> list[tuple[bytes, bytes]]:
    if len(items) % 2:
        raise RdbError("odd listpack")
    return list(zip(items[0::2], items[1::2]))


def _score(text: bytes) -> float:
    try:
        score = float(text)
    except ValueError:
        raise RdbError("bad score") from None
    if math.isnan(score):
        raise RdbError("bad score")
    return score


def _object(r: _Reader, rdb_type: int):
    if rdb_type == STRING:
        return "string", r.string()
    if rdb_type in (LIST, SET):
        return ("list" if rdb_type == LIST else "set"), [r.string() for _ in range(r.count())]
    if rdb_type == HASH:
        return "hash", [(r.string(), r.string()) for _ in range(r.count())]
    if rdb_type in (ZSET, ZSET_2):
        out = []
        for _ in range(r.count()):
            member = r.string()
            score = _F64.unpack(r.take(8))[0] if rdb_type == ZSET_2 else r.old_double()
            if math.isnan(score):
                raise RdbError("bad score")
            out.append((member, score))
        return "zset", out
    if rdb_type == SET_INTSET:
        return "set", intset(r.string())
    if rdb_type == SET_LISTPACK:
        return "set", listpack(r.string())
    if rdb_type == HASH_LISTPACK:
        return "hash", _pairs(listpack(r.string()))
    if rdb_type == ZSET_LISTPACK:
        return "zset", [(m, _score(s)) for m, s in _pairs(listpack(r.string()))]
    if rdb_type == LIST_ZIPLIST:
        return "list", ziplist(r.string())
    if rdb_type == HASH_ZIPLIST:
        return "hash", _pairs(ziplist(r.string()))
    if rdb_type == ZSET_ZIPLIST:
        return "zset", [(m, _score(s)) for m, s in _pairs(ziplist(r.string()))]
    if rdb_type == LIST_QUICKLIST:
        return "list", [e for _ in range(r.count()) for e in ziplist(r.string())]
    if rdb_type == LIST_QUICKLIST_2:
        out = []
        for _ in range(r.count()):
            container, _ = r.length()
            blob = r.string()
            if container == 1:      # PLAIN: one element
                out.append(blob)
            elif container == 2:    # PACKED: a listpack
                out.extend(listpack(blob))
            else:
                raise RdbError("bad quicklist node")
        return "list", out
    if rdb_type in FIELD_TTL_TYPES:
        return "hash", _hash_with_ttls_of(r, rdb_type)
    if rdb_type in _STREAMS:
        raise RdbError(STREAMS_UNSUPPORTED)
    raise RdbError(f"RDB object type {rdb_type} unknown")


def _deadline(value: int) -> int:
    if not 0 <= value <= MAX_STORED_FIELD_DEADLINE_MS:
        raise RdbError("bad field deadline")
    return value


def _hash_with_ttls_of(r: _Reader, rdb_type: int) -> list[tuple[bytes, bytes, int]]:
    """(field, value, deadline) of Redis 7.4's hash types with field TTLs: HASH_METADATA (the
    earliest deadline, then per field a deadline relative to it, +1, 0 for none), its release
    candidates' form (absolute deadlines, no earliest), HASH_LISTPACK_EX (the earliest, unused,
    then a listpack of field, value, deadline triples) and its candidates' form (no earliest)."""
    earliest = 0
    if rdb_type in (HASH_METADATA, HASH_LISTPACK_EX):
        earliest = _U64.unpack(r.take(8))[0]
        if earliest > MAX_STORED_FIELD_DEADLINE_MS + 1:   # Redis writes MAX + 1 as "none" in a listpack's
            raise RdbError("bad earliest field deadline")
    if rdb_type in (HASH_LISTPACK_EX, HASH_LISTPACK_EX_PRE_GA):
        items = listpack(r.string())
        if len(items) % 3:
            raise RdbError("bad listpack of a hash with field TTLs")
        if not all(deadline.isdigit() for deadline in items[2::3]):   # (listpack integers read as digits)
            raise RdbError("bad field deadline")
        return [(items[i], items[i + 1], _deadline(int(items[i + 2]))) for i in range(0, len(items), 3)]
    out = []
    for _ in range(r.count()):
        ttl, encoded = r.length()
        if encoded:
            raise RdbError("bad field deadline")
        deadline = _deadline(ttl + earliest - 1 if ttl and rdb_type == HASH_METADATA else ttl)
        out.append((r.string(), r.string(), deadline))
    return out


def _opened(payload: bytes, max_string_bytes: int, max_version: int = MAX_RDB_VERSION,
            max_expanded_bytes: int | None = None) -> _Reader:
    """A reader of a DUMP payload's body, its footer (RDB version, CRC64) checked."""
    if len(payload) < 10:
        raise RdbError(BAD_CHECKSUM)
    body, footer = payload[:-8], payload[-8:]
    version = struct.unpack_from("<H", body, len(body) - 2)[0]
    if version > max_version or _U64.unpack(footer)[0] != crc64(body):
        raise RdbError(BAD_CHECKSUM)
    return _Reader(body[:-2], max_string_bytes, max_expanded_bytes)


def decode_function_libraries(payload: bytes, max_string_bytes: int = MAX_STRING_BYTES,
                              max_expanded_bytes: int | None = None) -> list[bytes]:
    """The libraries' code in a FUNCTION DUMP payload of Redis 7 (RdbError with Redis's text
    when it is not one; a code expanding past `max_string_bytes` is refused, and the codes
    together past `max_expanded_bytes`: EXPANDS_TOO_FAR)."""
    r = _opened(payload, max_string_bytes, FUNCTIONS_MAX_RDB_VERSION, max_expanded_bytes)
    codes = []
    while r.pos < len(r.buf):
        kind = r.byte()
        if kind == FUNCTION_PRE_GA:
            raise RdbError(PRE_GA_FUNCTIONS)
        if kind != FUNCTION2:
            raise RdbError(NOT_A_FUNCTION)
        codes.append(r.string())
    return codes


def decode(payload: bytes, max_string_bytes: int = MAX_STRING_BYTES, redis74: bool = True,
           bounded: bool = True):
    """(kind, data) of a DUMP payload; RdbError when it is not one raftcache can restore
    (a compressed string expanding past `max_string_bytes` included, and, `bounded`, its
    compressed strings together past MAX_EXPANDED_BYTES: EXPANDS_TOO_FAR). `redis74=False`
    (log versions before 27): RDB version 11 at most and no hash with field TTLs, as before."""
    r = _opened(payload, max_string_bytes, MAX_RDB_VERSION if redis74 else FIELD_TTLS_RDB_VERSION - 1,
                MAX_EXPANDED_BYTES if bounded else None)
    rdb_type = r.byte()
    if rdb_type in FIELD_TTL_TYPES and not redis74:
        raise RdbError(f"RDB object type {rdb_type} unknown")
    value = _object(r, rdb_type)
    if r.pos != len(r.buf):
        raise RdbError("trailing bytes")
    kind, data = value
    if kind != "string" and not data:
        raise RdbError("empty key")  # Redis never stores an empty container
    if kind in ("hash", "set"):  # a field or member twice: a corrupt payload (Redis refuses it too)
        names = [entry[0] for entry in data] if kind == "hash" else data
        if len(set(names)) != len(names):
            raise RdbError("duplicate elements")
    if kind == "zset" and len({m for m, _ in data}) != len(data):
        raise RdbError("duplicate elements")
    return value
