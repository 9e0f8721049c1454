"""RESP parsers of the bit commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
BITFIELD, BITFIELD_RO) and LCS.

Registers into resp_args.TABLE (resp_table.py imports it with the other
registering modules); the handlers live in node/commands/bits.py. Arguments are checked here
in Redis 7.2's order with its texts, before anything is proposed; limits
that depend on the cluster's proto-max-bulk-len are checked again at apply.
"""

from __future__ import annotations

from raftcache.node.commands.bits import OFFSET_LIMIT
from raftcache.node.frontends.resp_args import SYNTAX, cmd, register, to_int
from raftcache.node.frontends.resp_protocol import RespError, RespMap
from raftcache.proto import commands_pb2 as pb

W, R = "write", "readonly"
BIT_OFFSET = "ERR bit offset is not an integer or out of range"
_BITFIELD_TYPE = ("ERR Invalid bitfield type. Use something like i16 u8. "
                  "Note that u64 is not supported but i64 is.")
_OPS = {b"AND": pb.BITOP_AND, b"OR": pb.BITOP_OR, b"XOR": pb.BITOP_XOR, b"NOT": pb.BITOP_NOT}
_OVERFLOW = {b"WRAP": pb.OVERFLOW_WRAP, b"SAT": pb.OVERFLOW_SAT, b"FAIL": pb.OVERFLOW_FAIL}
_SUBCOMMANDS = {b"GET": (pb.BITFIELD_GET, 2), b"SET": (pb.BITFIELD_SET, 3), b"INCRBY": (pb.BITFIELD_INCRBY, 3)}


def _int(arg: bytes, error: str) -> int:
    try:
        return to_int(arg)
    except RespError:
        raise RespError(error) from None


def bit_offset(arg: bytes, bits: int = 0) -> int:
    """Redis's getBitOffsetFromArgument: "#n" (BITFIELD) means n * bits."""
    multiply = bits > 0 and arg[:1] == b"#"
    offset = _int(arg[1:] if multiply else arg, BIT_OFFSET) * (bits if multiply else 1)
    if not 0 <= offset < OFFSET_LIMIT:
        raise RespError(BIT_OFFSET)
    return offset


def _by_bit(arg: bytes) -> bool:
    unit = arg.upper()
    if unit not in (b"BIT", b"BYTE"):
        raise RespError(SYNTAX)
    return unit == b"BIT"


def build_setbit(args, db):
    offset = bit_offset(args[2])
    value = _int(args[3], "ERR bit is not an integer or out of range")
    if value not in (0, 1):
        raise RespError("ERR bit is not an integer or out of range")
    return cmd(db, "setbit", key=args[1], offset=offset, value=value)


def build_bitcount(args, db):
    command = cmd(db, "bitcount", key=args[1])
    if len(args) in (4, 5):
        op = command.bitcount
        op.ranged, op.start, op.end = True, to_int(args[2]), to_int(args[3])
        if len(args) == 5:
            op.by_bit = _by_bit(args[4])
    elif len(args) != 2:
        raise RespError(SYNTAX)
    return command


def build_bitpos(args, db):
    bit = to_int(args[2])
    if bit not in (0, 1):
        raise RespError("ERR The bit argument must be 1 or 0.")
    command = cmd(db, "bitpos", key=args[1], bit=bit)
    op = command.bitpos
    if len(args) in (4, 5, 6):
        op.start = to_int(args[3])
        if len(args) == 6:
            op.by_bit = _by_bit(args[5])
        if len(args) >= 5:
            op.end = to_int(args[4])
    elif len(args) != 3:
        raise RespError(SYNTAX)
    return command


def build_bitop(args, db):
    kind = _OPS.get(args[1].upper())
    if kind is None:
        raise RespError(SYNTAX)
    if kind == pb.BITOP_NOT and len(args) != 4:
        raise RespError("ERR BITOP NOT must be called with a single source key.")
    return cmd(db, "bitop", key=args[2], op=kind, keys=list(args[3:]))


def build_lcs(args, db):
    command = cmd(db, "lcs", keys=[args[1], args[2]])
    op = command.lcs
    i = 3
    while i < len(args):
        opt = args[i].upper()
        if opt == b"IDX":
            op.idx = True
        elif opt == b"LEN":
            op.len = True
        elif opt == b"WITHMATCHLEN":
            op.with_match_len = True
        elif opt == b"MINMATCHLEN" and i + 1 < len(args):
            op.min_match_len = max(to_int(args[i + 1]), 0)
            i += 1
        else:
            raise RespError(SYNTAX)
        i += 1
    # "If you want both the length and indexes…" comes from the handler, after
    # the type check, as in Redis.
    return command


def _bitfield_type(arg: bytes) -> tuple[bool, int]:
    sign = arg[:1]
    if sign not in (b"i", b"u"):
        raise RespError(_BITFIELD_TYPE)
    bits = _int(arg[1:], _BITFIELD_TYPE)
    if not 1 <= bits <= (64 if sign == b"i" else 63):
        raise RespError(_BITFIELD_TYPE)
    return sign == b"i", bits


def build_bitfield(read_only: bool):
    def build(args, db):
        command = cmd(db, "bitfield_ro" if read_only else "bitfield", key=args[1])
        ops = getattr(command, command.WhichOneof("op")).ops
        overflow, writes, i = pb.OVERFLOW_WRAP, False, 2
        while i < len(args):
            name, more = args[i].upper(), len(args) - i - 1
            if name == b"OVERFLOW" and more >= 1:
                overflow = _OVERFLOW.get(args[i + 1].upper())
                if overflow is None:
                    raise RespError("ERR Invalid OVERFLOW type specified")
                i += 2
                continue
            kind, needs = _SUBCOMMANDS.get(name, (None, 0))
            if kind is None or more < needs:
                raise RespError(SYNTAX)
            signed, bits = _bitfield_type(args[i + 1])
            o = ops.add(kind=kind, signed=signed, bits=bits, offset=bit_offset(args[i + 2], bits), overflow=overflow)
            if kind != pb.BITFIELD_GET:
                writes = True
                o.value = to_int(args[i + 3])
            i += needs + 1
        if read_only and writes:
            raise RespError("ERR BITFIELD_RO only supports the GET subcommand")
        return command

    return build


def as_lcs_map(result, proto, command=None):
    """LCS … IDX: a map {matches, len} (RESP3), a flat array (RESP2)."""
    if command is not None and command.lcs.idx and isinstance(result, list):
        return RespMap(zip(result[0::2], result[1::2]))
    return result


register("setbit", 4, f"{W} denyoom", build_setbit, group="bitmap")
register("getbit", 3, f"{R} fast", lambda a, db: cmd(db, "getbit", key=a[1], offset=bit_offset(a[2])), group="bitmap")
register("bitcount", -2, R, build_bitcount, group="bitmap")
register("bitpos", -3, R, build_bitpos, group="bitmap")
register("bitop", -4, f"{W} denyoom", build_bitop, keys=(2, -1, 1), group="bitmap")
register("bitfield", -2, f"{W} denyoom", build_bitfield(False), group="bitmap")
register("bitfield_ro", -2, f"{R} fast", build_bitfield(True), group="bitmap")
register("lcs", -3, R, build_lcs, as_lcs_map, keys=(1, 2, 1), group="string")
