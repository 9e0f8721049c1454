"""Redis's HyperLogLog value, byte for byte: a STRING whose bytes a real Redis reads.

A HyperLogLog is a string value (Redis adds no type for it) made of a 16-byte
header and 16384 six-bit registers, each holding the longest run of zeros
(+1) seen among the hashes of the elements that map to it:

    "HYLL" | encoding u8 (0 dense, 1 sparse) | 3 unused | cached cardinality u64 LE

The top bit of the cache's last byte set means "stale: count again". Dense,
the registers follow packed LSB first (12288 bytes). Sparse, they are run
length coded with three opcodes: ZERO 00xxxxxx (1-64 zero registers), XZERO
01xxxxxx yyyyyyyy (1-16384 zeros) and VAL 1vvvvvxx (1-4 registers of value
1-32). An HLL starts sparse and becomes dense when a register passes 32 or
the sparse form would pass `hll-sparse-max-bytes` (Redis's default 3000).

Every step follows Redis 7.2's hyperloglog.c, including the in-place sparse
update (`_Sparse.set`: the opcode split and the merge of up to five adjacent
opcodes), so the bytes written here are the bytes Redis writes for the same
commands: a value moved between the two (GET/SET, DUMP/RESTORE of a string)
counts the same. The hash is MurmurHash64A with Redis's seed, and the count
is Ertl's estimator (arXiv:1702.01284) as Redis computes it.

Pure functions over bytes/bytearray; `Invalid` is raised for a corrupted
value (Redis's INVALIDOBJ). Must not import lmdb, grpc, time or random.
"""

from __future__ import annotations

import bisect
import math
import struct

MAGIC = b"HYLL"
HEADER_BYTES = 16
P = 14
REGISTERS = 1 << P                       # 16384
Q = 64 - P                               # hash bits left for the run of zeros
DENSE_BYTES = HEADER_BYTES + (REGISTERS * 6 + 7) // 8
DENSE, SPARSE = 0, 1
SPARSE_MAX_BYTES = 3000                  # Redis's hll-sparse-max-bytes default
_VAL_MAX_VALUE, _VAL_MAX_LEN, _ZERO_MAX_LEN = 32, 4, 64
_SEED = 0xADC83B19
_M = 0xC6A4A7935BD1E995
_MASK64 = (1 << 64) - 1
_ALPHA_INF = 0.721347520444481703680     # 0.5 / ln(2)
_U64LE = struct.Struct("<Q")
_STALE = 0x80                            # in the cache's last byte (header byte 15)


class Invalid(ValueError):
    """A corrupted HyperLogLog (Redis: "INVALIDOBJ Corrupted HLL object detected")."""


# ---------------------------------------------------------------- hashing


def murmur64a(data: bytes, seed: int = _SEED) -> int:
    """MurmurHash64A (MurmurHash2, 64-bit, little-endian reads), as Redis hashes elements."""
    n = len(data)
    h = (seed ^ (n * _M)) & _MASK64
    end = n - (n & 7)
    for (k,) in struct.iter_unpack("<Q", data[:end]):
        k = (k * _M) & _MASK64
        k ^= k >> 47
        h ^= (k * _M) & _MASK64
        h = (h * _M) & _MASK64
    if n & 7:
        h = ((h ^ int.from_bytes(data[end:], "little")) * _M) & _MASK64
    h ^= h >> 47
    h = (h * _M) & _MASK64
    return h ^ (h >> 47)


def pattern(element: bytes) -> tuple[int, int]:
    """(register index, run length) of an element: Redis's hllPatLen."""
    h = murmur64a(element)
    rest = (h >> P) | (1 << Q)
    return h & (REGISTERS - 1), (rest & -rest).bit_length()


# ---------------------------------------------------------------- the value


def new() -> bytearray:
    """An empty HLL: sparse, one XZERO opcode for all 16384 registers, cache 0."""
    return bytearray(MAGIC + bytes((SPARSE,)) + bytes(11) + _xzero(REGISTERS))


def is_hll(value: bytes) -> bool:
    """Redis's isHLLObjectOrReply: magic, a known encoding, a dense value of the exact size."""
    if len(value) < HEADER_BYTES or value[:4] != MAGIC or value[4] > SPARSE:
        return False
    return value[4] != DENSE or len(value) == DENSE_BYTES


def encoding(value: bytes) -> int:
    return value[4]


def cached_count(value: bytes) -> int | None:
    """The cached cardinality, None when stale."""
    if value[15] & _STALE:
        return None
    return _U64LE.unpack_from(value, 8)[0]


def store_count(value: bytearray, count: int) -> None:
    _U64LE.pack_into(value, 8, count)


def invalidate(value: bytearray) -> None:
    value[15] |= _STALE


def add(value: bytearray, elements, sparse_max: int = SPARSE_MAX_BYTES) -> tuple[bytearray, int]:
    """PFADD's register updates: (the value, possibly promoted to dense; how many
    registers changed). A stale cache is marked by the sparse steps only, as in
    Redis (PFADD marks it when anything changed). Raises Invalid for a corrupted value."""
    return set_registers(value, map(pattern, elements), sparse_max)


def set_registers(value: bytearray, updates, sparse_max: int) -> tuple[bytearray, int]:
    """Raise each register `index` of (index, count) in `updates` to `count` if lower,
    in order: (the value, possibly promoted to dense; how many changed)."""
    changed = 0
    sparse = _Sparse(value) if value[4] == SPARSE else None
    for index, count in updates:
        if sparse is not None:
            updated = sparse.set(index, count, sparse_max)
            if updated is not None:
                changed += updated
                continue
            value, sparse = to_dense(sparse.to_bytes()), None   # promoted: Redis's hllSparseSet "promote"
        changed += _dense_set(value, index, count)
    return (value if sparse is None else sparse.to_bytes()), changed


# ---------------------------------------------------------------- dense


def _dense_get(value: bytes, index: int) -> int:
    bit = index * 6
    byte, shift = HEADER_BYTES + (bit >> 3), bit & 7
    b1 = value[byte + 1] if byte + 1 < len(value) else 0   # Redis reads the sds terminator (0)
    return ((value[byte] >> shift) | (b1 << (8 - shift))) & 63


def _dense_set(value: bytearray, index: int, count: int) -> int:
    if count <= _dense_get(value, index):
        return 0
    _dense_put(value, index, count)
    return 1


_AND63 = bytes(b & 63 for b in range(256))
_SHR6 = bytes(b >> 6 for b in range(256))
_AND15_SHL2 = bytes((b & 15) << 2 for b in range(256))
_SHR4 = bytes(b >> 4 for b in range(256))
_AND3_SHL4 = bytes((b & 3) << 4 for b in range(256))
_SHR2 = bytes(b >> 2 for b in range(256))
_AND3_SHL6 = bytes((b & 3) << 6 for b in range(256))
_AND15_SHL4 = bytes((b & 15) << 4 for b in range(256))
_SHL2 = bytes((b << 2) & 255 for b in range(256))


def _add_bytes(a: bytes, b: bytes) -> bytes:
    """Byte-wise a + b where no sum passes 255 (big integers add without carries)."""
    return (int.from_bytes(a, "big") + int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _dense_registers(value: bytes) -> bytearray:
    """The 16384 registers of a dense value, one per byte (4 registers per 3 bytes,
    unpacked with byte tables and big-integer additions rather than a loop)."""
    regs = value[HEADER_BYTES:DENSE_BYTES]
    b0, b1, b2 = regs[0::3], regs[1::3], regs[2::3]
    out = bytearray(REGISTERS)
    out[0::4] = b0.translate(_AND63)
    out[1::4] = _add_bytes(b0.translate(_SHR6), b1.translate(_AND15_SHL2))
    out[2::4] = _add_bytes(b1.translate(_SHR4), b2.translate(_AND3_SHL4))
    out[3::4] = b2.translate(_SHR2)
    return out


def _dense_bytes(registers: bytes) -> bytes:
    """The packed form of 16384 registers (one per byte, each at most 63): 4 per 3 bytes, the
    inverse of _dense_registers."""
    r0, r1, r2, r3 = registers[0::4], registers[1::4], registers[2::4], registers[3::4]
    out = bytearray(DENSE_BYTES - HEADER_BYTES)
    out[0::3] = _add_bytes(r0, r1.translate(_AND3_SHL6))
    out[1::3] = _add_bytes(r1.translate(_SHR2), r2.translate(_AND15_SHL4))
    out[2::3] = _add_bytes(r2.translate(_SHR4), r3.translate(_SHL2))
    return out


def dense_with(value: bytes, registers: bytes) -> bytearray:
    """A dense value with `value`'s header and cache (as hllSparseToDense keeps them) holding
    `registers` (16384, one per byte)."""
    dense = bytearray(value[:HEADER_BYTES]) + _dense_bytes(registers)
    dense[4] = DENSE
    return dense


# ---------------------------------------------------------------- sparse


def _xzero(n: int) -> bytes:
    return bytes((((n - 1) >> 8) | 0x40, (n - 1) & 0xFF))


def _zeros(n: int) -> int:
    """The opcode (as _Sparse keeps them) of a run of n zero registers: ZERO up to 64, else XZERO."""
    return (0x4000 | (n - 1)) if n > _ZERO_MAX_LEN else n - 1


def _val(value: int, n: int) -> int:
    return 0x80 | ((value - 1) << 2) | (n - 1)


#: The longest sparse value that can hold 16384 registers (each opcode covers one at least):
#: a longer one is corrupted whatever it holds (commands/hyperloglog.py refuses it unread).
SPARSE_LIMIT_BYTES = HEADER_BYTES + 2 * REGISTERS


def _opcodes(value: bytes):
    """(run length, register value) of each sparse opcode, in order."""
    p, end = HEADER_BYTES, len(value)
    while p < end:
        b = value[p]
        if b & 0x80:
            yield (b & 3) + 1, ((b >> 2) & 0x1F) + 1
            p += 1
        elif b & 0x40:
            yield (((b & 0x3F) << 8) | (value[p + 1] if p + 1 < end else 0)) + 1, 0
            p += 2
        else:
            yield (b & 0x3F) + 1, 0
            p += 1


class _Sparse:
    """A sparse value as a list of opcodes, updated exactly as Redis's hllSparseSet
    updates the bytes (hence the same bytes), with the first register of each
    opcode beside it: an update finds its opcode by bisection instead of a walk.

    Opcodes are kept as ints: a ZERO or VAL opcode is its byte, an XZERO opcode
    0x4000 | (length - 1) (its two bytes, big-endian).
    """

    __slots__ = ("header", "ops", "firsts", "size")

    def __init__(self, value: bytes):
        self.header = bytearray(value[:HEADER_BYTES])
        self.ops: list[int] = []
        self.firsts: list[int] = []
        first, p, end = 0, HEADER_BYTES, len(value)
        while p < end:
            b = value[p]
            self.firsts.append(first)
            if b & 0xC0 == 0x40:
                op = (b << 8) | (value[p + 1] if p + 1 < end else 0)   # Redis reads the sds terminator (0)
                p += 2
            else:
                op = b
                p += 1
            self.ops.append(op)
            first += _span(op)
        self.size = HEADER_BYTES + len(self.ops) + sum(1 for op in self.ops if op > 0xFF)

    def to_bytes(self) -> bytearray:
        out = bytearray(self.header)
        for op in self.ops:
            if op > 0xFF:
                out.append(op >> 8)
            out.append(op & 0xFF)
        return out

    def set(self, index: int, count: int, sparse_max: int) -> int | None:
        """hllSparseSet: 1 when register `index` rose to `count`, 0 when it was
        already there; None when the value must become dense first."""
        if count > _VAL_MAX_VALUE:
            return None
        ops, firsts = self.ops, self.firsts
        k = bisect.bisect_right(firsts, index) - 1
        if k < 0 or index > firsts[k] + _span(ops[k]) - 1:
            raise Invalid("corrupted sparse HyperLogLog")
        op, first = ops[k], firsts[k]
        span = _span(op)
        if op & 0x80 and op <= 0xFF:
            current = ((op >> 2) & 0x1F) + 1
            if current >= count:
                return 0                         # A: already at least that
            if span == 1:
                ops[k] = _val(count, 1)          # B
                return self._merge_from(k)
        elif op < 0x40 and span == 1:
            ops[k] = _val(count, 1)              # C
            return self._merge_from(k)
        last = first + span - 1                  # D: split the opcode in (up to) three
        seq, starts = [], []
        if op > 0xFF or op < 0x40:
            if index != first:
                seq.append(_zeros(index - first))
                starts.append(first)
            seq.append(_val(count, 1))
            starts.append(index)
            if index != last:
                seq.append(_zeros(last - index))
                starts.append(index + 1)
        else:
            if index != first:
                seq.append(_val(current, index - first))
                starts.append(first)
            seq.append(_val(count, 1))
            starts.append(index)
            if index != last:
                seq.append(_val(current, last - index))
                starts.append(index + 1)
        delta = sum(2 if o > 0xFF else 1 for o in seq) - (2 if op > 0xFF else 1)
        if delta > 0 and self.size + delta > sparse_max:
            return None
        ops[k:k + 1] = seq
        firsts[k:k + 1] = starts
        self.size += delta
        return self._merge_from(k)

    def _merge_from(self, k: int) -> int:
        """Step 4 of hllSparseSet: merge adjacent VAL opcodes of one value, scanning at
        most five opcodes from the one before the change; then mark the cache stale."""
        ops, firsts = self.ops, self.firsts
        j = max(k - 1, 0)
        scan = 5
        while j < len(ops) and scan > 0:
            scan -= 1
            op = ops[j]
            if op > 0xFF or op < 0x80:
                j += 1
                continue
            if j + 1 < len(ops) and 0x80 <= ops[j + 1] <= 0xFF:
                nxt = ops[j + 1]
                n = (op & 3) + (nxt & 3) + 2
                if (op >> 2) == (nxt >> 2) and n <= _VAL_MAX_LEN:
                    ops[j:j + 2] = [_val(((op >> 2) & 0x1F) + 1, n)]
                    del firsts[j + 1]
                    self.size -= 1
                    continue
            j += 1
        self.header[15] |= _STALE
        return 1


def _span(op: int) -> int:
    """Registers an opcode (as _Sparse keeps them) covers."""
    if op > 0xFF:
        return (op & 0x3FFF) + 1
    if op & 0x80:
        return (op & 3) + 1
    return (op & 0x3F) + 1


def to_dense(value: bytes) -> bytearray:
    """The dense form of a sparse value (header and cache kept, as hllSparseToDense);
    a dense value is returned as a copy. Raises Invalid when the opcodes do not
    cover exactly 16384 registers."""
    if value[4] == DENSE:
        return bytearray(value)
    return dense_with(value, register_bytes(value))


def decode_sparse(value: bytes) -> str:
    """PFDEBUG DECODE's text: "Z:16384", "z:3 v:2,1 …" (XZERO, ZERO, VAL value,length)."""
    parts = []
    p, end = HEADER_BYTES, len(value)
    while p < end:
        b = value[p]
        if b & 0x80:
            parts.append(f"v:{((b >> 2) & 0x1F) + 1},{(b & 3) + 1}")
            p += 1
        elif b & 0x40:
            parts.append(f"Z:{(((b & 0x3F) << 8) | (value[p + 1] if p + 1 < end else 0)) + 1}")
            p += 2
        else:
            parts.append(f"z:{(b & 0x3F) + 1}")
            p += 1
    return " ".join(parts)


# ---------------------------------------------------------------- registers and counting


def registers(value: bytes) -> list[int]:
    """All 16384 registers (hllMerge's reading). Raises Invalid for a corrupted sparse value."""
    return list(register_bytes(value))


def register_bytes(value: bytes) -> bytes:
    """All 16384 registers, one per byte. Raises Invalid for a corrupted sparse value."""
    if value[4] == DENSE:
        return bytes(_dense_registers(value))
    out = bytearray()
    for run, reg in _opcodes(value):
        if run + len(out) > REGISTERS:   # (not allocated: a value of XZEROs 16 KB each could ask gigabytes)
            if reg:
                break
            raise Invalid("corrupted sparse HyperLogLog")
        out += bytes((reg,)) * run
    if len(out) != REGISTERS:
        raise Invalid("corrupted sparse HyperLogLog")
    return bytes(out)


#: Bit 7 of each of the 16384 one-byte lanes (registers are at most 63).
_LANE_HIGH = int.from_bytes(b"\x80" * REGISTERS, "big")


def merge_max(into: bytes, value: bytes) -> bytes:
    """Register-wise max(into, value's registers), one register per byte (PFMERGE, PFCOUNT of
    several keys). Big-integer lanes rather than a loop (~100 times faster): in each byte,
    (b | 0x80) - a keeps bit 7 exactly when b >= a, and no lane borrows from the next."""
    a, b = int.from_bytes(into, "big"), int.from_bytes(register_bytes(value), "big")
    take_b = ((((b | _LANE_HIGH) - a) & _LANE_HIGH) >> 7) * 0xFF
    return ((b & take_b) | (a & ~take_b)).to_bytes(REGISTERS, "big")


def count(value: bytes) -> int:
    """The estimated cardinality of a value (ignoring its cache). Raises Invalid when
    a sparse value does not cover exactly 16384 registers."""
    if value[4] == DENSE:
        return count_registers(_dense_registers(value))
    histogram = [0] * 64
    index = 0
    for run, reg in _opcodes(value):
        histogram[reg] += run
        index += run
        if index > REGISTERS:   # (refused however many opcodes follow)
            break
    if index != REGISTERS:
        raise Invalid("corrupted sparse HyperLogLog")
    return estimate(histogram)


def count_registers(regs: bytes | bytearray) -> int:
    """The cardinality of 16384 registers, one per byte (Redis's internal raw encoding)."""
    histogram = [0] * 64
    counted = 0
    for reg in range(64):   # (the values present are few and low: stop once all are counted)
        n = histogram[reg] = regs.count(reg)
        counted += n
        if counted == REGISTERS:
            break
    return estimate(histogram)


def estimate(histogram: list[int]) -> int:
    """Ertl's improved raw estimator from the register histogram, as hllCount computes it."""
    m = float(REGISTERS)
    z = m * _tau((m - histogram[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    e = _ALPHA_INF * m * m / z
    whole = math.floor(e)
    return int(whole + 1 if e - whole >= 0.5 else whole)   # llroundl: halves away from zero


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= math.pow(1 - x, 2) * y
        if previous == z:
            return z / 3


# ---------------------------------------------------------------- PFSELFTEST


def selftest(rng, cycles: int, limit: int, sparse_max: int = SPARSE_MAX_BYTES) -> str | None:
    """Redis's PFSELFTEST checks, sized by the caller: registers written then read back
    (`cycles` rounds of random values), then cardinalities 1, 10, … `limit` added to a
    dense and a sparse HLL, which must agree and stay within six standard errors.
    Returns the TESTFAILED text, or None when every check passed."""
    dense = bytearray(DENSE_BYTES)
    for _ in range(cycles):
        wanted = [rng.randrange(64) for _ in range(REGISTERS)]
        for i, reg in enumerate(wanted):
            _dense_put(dense, i, reg)
        for i, (want, got) in enumerate(zip(wanted, _dense_registers(dense))):
            if want != got:
                return f"TESTFAILED Register {i} should be {want} but is {got}"
    dense = bytearray(DENSE_BYTES)
    sparse = new()
    relerr = 1.04 / math.sqrt(REGISTERS)
    seed = rng.getrandbits(64)
    done, checkpoint = 0, 1
    while checkpoint <= limit:
        elements = [((j ^ seed) & _MASK64).to_bytes(8, "little") for j in range(done + 1, checkpoint + 1)]
        dense, _ = add(dense, elements)
        sparse, _ = add(sparse, elements, sparse_max)
        done = checkpoint
        if checkpoint < sparse_max / 2 and sparse[4] != SPARSE:
            return "TESTFAILED sparse encoding not used"
        estimated = count(dense)
        if estimated != count(sparse):
            return "TESTFAILED dense/sparse disagree"
        error = abs(checkpoint - estimated)
        if error > (1 if checkpoint == 10 else math.ceil(relerr * 6 * checkpoint)):
            return f"TESTFAILED Too big error. card:{checkpoint} abserr:{error}"
        checkpoint *= 10
    return None


def _dense_put(value: bytearray, index: int, reg: int) -> None:
    bit = index * 6
    byte, shift = HEADER_BYTES + (bit >> 3), bit & 7
    value[byte] = (value[byte] & ~(63 << shift) & 0xFF) | ((reg << shift) & 0xFF)
    if byte + 1 < len(value):
        value[byte + 1] = (value[byte + 1] & ~(63 >> (8 - shift)) & 0xFF) | (reg >> (8 - shift))
