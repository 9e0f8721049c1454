"""RESP parsers of the geo commands: GEOADD, GEOPOS, GEOHASH, GEODIST, GEOSEARCH,
GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their _RO forms.

Registers into resp_args.TABLE; the handlers live in node/commands/geo.py.
GEOADD becomes a ZAdd whose scores are the points' geohashes. Arguments are
checked in Redis 7.2's order with its texts; the replies are formatted as
Redis's: distances with 4 decimals (a bulk string in RESP2 and RESP3),
coordinates with 17 (a double in RESP3), a missing GEOPOS member a nil array.
"""

from __future__ import annotations

from raftcache.node.frontends.resp_args import SYNTAX, cmd, register, to_float, to_int
from raftcache.node.frontends.resp_protocol import NULL_ARRAY, DoubleText, RespError
from raftcache.node.storage import geohash
from raftcache.proto import commands_pb2 as pb

_UNIT = "ERR unsupported unit provided. please use M, KM, FT, MI"


def distance_text(d: float) -> bytes:
    """Redis's fixedpoint_d2string(d, 4): llrint(d * 10^4) written with four decimals."""
    n = round(d * 10000.0)   # halves to even, as llrint in the default rounding mode
    digits = b"%05d" % abs(n)
    return (b"-" if n < 0 else b"") + digits[:-4] + b"." + digits[-4:]


def coordinate(x: float) -> DoubleText:
    """Redis's human long double: 17 decimals, trailing zeros (and the point) dropped."""
    text = ("%.17f" % x).rstrip("0").rstrip(".")
    return DoubleText(b"0" if text == "-0" else text.encode())


def _unit(arg: bytes) -> float:
    unit = geohash.UNITS.get(arg.lower())
    if unit is None:
        raise RespError(_UNIT)
    return unit


def _point(args, i: int) -> tuple[float, float]:
    longitude, latitude = to_float(args[i]), to_float(args[i + 1])
    if not geohash.valid(longitude, latitude):
        raise RespError(f"ERR invalid longitude,latitude pair {longitude:f},{latitude:f}")
    return longitude, latitude


def _build_geoadd(args, db):
    i, nx, xx, ch = 2, False, False, False
    while i < len(args):
        opt = args[i].upper()
        if opt == b"NX":
            nx = True
        elif opt == b"XX":
            xx = True
        elif opt == b"CH":
            ch = True
        else:
            break
        i += 1
    if (len(args) - i) % 3 or (nx and xx):
        raise RespError(SYNTAX)
    command = cmd(db, "zadd", key=args[1], ch=ch, condition=pb.IF_ABSENT if nx else pb.IF_PRESENT if xx else pb.ALWAYS)
    for j in range(i, len(args), 3):
        longitude, latitude = _point(args, j)
        command.zadd.members.add(score=float(geohash.score(longitude, latitude)), member=args[j + 2])
    return command


def _build_geodist(args, db):
    if len(args) > 5:
        raise RespError(SYNTAX)
    unit = _unit(args[4]) if len(args) == 5 else 1.0
    return cmd(db, "geodist", key=args[1], member=args[2], other=args[3], unit=unit)


def _distance(args, i: int, what: str) -> float:
    try:
        value = to_float(args[i])
    except RespError:
        raise RespError(f"ERR need numeric {what}") from None
    return value


def _search_builder(source: int, flags: str):
    """GEORADIUS* (flags "coords"/"member", "+ro") and GEOSEARCH[STORE] ("search", "+store"):
    georadiusGeneric's parsing. `source` is the position of the searched key."""
    flags = set(flags.split())
    search, store_form, read_only = "search" in flags, "store" in flags, "ro" in flags

    def build(args, db):
        op = pb.GeoSearch(key=args[source])
        if store_form:
            op.new_key = args[1]
        if "coords" in flags:
            op.point.longitude, op.point.latitude = _point(args, 2)
            i = 4
        elif "member" in flags:
            op.member = args[2]
            i = 3
        else:
            i = source + 1
        if not search:
            _radius(args, i, op)
            i += 2
        storing, with_any = store_form, False
        frommember = fromloc = byradius = bybox = False
        while i < len(args):
            opt, left = args[i].upper(), len(args) - i - 1
            if opt == b"WITHDIST":
                op.with_dist = True
            elif opt == b"WITHHASH":
                op.with_hash = True
            elif opt == b"WITHCOORD":
                op.with_coord = True
            elif opt == b"ANY":
                with_any = True
            elif opt == b"ASC":
                op.sort = pb.GEO_ASC
            elif opt == b"DESC":
                op.sort = pb.GEO_DESC
            elif opt == b"COUNT" and left >= 1:
                count = to_int(args[i + 1])
                if count <= 0:
                    raise RespError("ERR COUNT must be > 0")
                op.count = count
                i += 1
            elif opt in (b"STORE", b"STOREDIST") and left >= 1 and not search and not read_only:
                op.new_key, op.store_dist, storing = args[i + 1], opt == b"STOREDIST", True
                i += 1
            elif opt == b"STOREDIST" and store_form:
                op.store_dist = True
            elif opt == b"FROMMEMBER" and left >= 1 and search and not fromloc:
                op.member, frommember = args[i + 1], True
                i += 1
            elif opt == b"FROMLONLAT" and left >= 2 and search and not frommember:
                op.point.longitude, op.point.latitude = _point(args, i + 1)
                fromloc = True
                i += 2
            elif opt == b"BYRADIUS" and left >= 2 and search and not bybox:
                _radius(args, i + 1, op)
                byradius = True
                i += 2
            elif opt == b"BYBOX" and left >= 3 and search and not byradius:
                op.width, op.height = _distance(args, i + 1, "width"), _distance(args, i + 2, "height")
                if op.width < 0 or op.height < 0:
                    raise RespError("ERR height or width cannot be negative")
                op.unit, op.by_box, bybox = _unit(args[i + 3]), True, True
                i += 3
            else:
                raise RespError(SYNTAX)
            i += 1
        name = args[0].decode(errors="replace")
        if storing and (op.with_dist or op.with_hash or op.with_coord):
            raise RespError(f"ERR {'GEOSEARCHSTORE' if store_form else 'STORE option in GEORADIUS'} is not "
                            "compatible with WITHDIST, WITHHASH and WITHCOORD options")
        if search and not (frommember or fromloc):
            raise RespError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
        if search and not (byradius or bybox):
            raise RespError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
        if with_any and not op.count:
            raise RespError("ERR the ANY argument requires COUNT argument")
        op.any = with_any
        command = pb.Command(db=db)
        getattr(command, "geosearch_store" if storing else "geosearch").CopyFrom(op)
        return command

    return build


def _radius(args, i: int, op: pb.GeoSearch) -> None:
    op.radius = _distance(args, i, "radius")
    if op.radius < 0:
        raise RespError("ERR radius cannot be negative")
    op.unit = _unit(args[i + 1])


# ---------------------------------------------------------------- replies


def _positions(result, proto, command=None):
    if not isinstance(result, list):
        return result
    return [NULL_ARRAY if p is None else [coordinate(p[0]), coordinate(p[1])] for p in result]


def _distance_reply(result, proto, command=None):
    return distance_text(result) if isinstance(result, float) else result


def _search_reply(result, proto, command=None):
    if not isinstance(result, list) or command.WhichOneof("op") != "geosearch":
        return result
    op = command.geosearch
    if not (op.with_dist or op.with_hash or op.with_coord):
        return result
    out = []
    for item in result:
        member, rest = item[0], list(item[1:])
        shaped = [member]
        if op.with_dist:
            shaped.append(distance_text(rest.pop(0)))
        if op.with_hash:
            shaped.append(rest.pop(0))
        if op.with_coord:
            longitude, latitude = rest.pop(0)
            shaped.append([coordinate(longitude), coordinate(latitude)])
        out.append(shaped)
    return out


W, R = "write", "readonly"
register("geoadd", -5, f"{W} denyoom", _build_geoadd, group="geo")
register("geopos", -2, R, lambda a, db: cmd(db, "geopos", key=a[1], members=list(a[2:])), _positions, group="geo")
register("geohash", -2, R, lambda a, db: cmd(db, "geohash", key=a[1], members=list(a[2:])), group="geo")
register("geodist", -4, R, _build_geodist, _distance_reply, group="geo")
register("georadius", -6, f"{W} denyoom movablekeys", _search_builder(1, "coords"), _search_reply, group="geo")
register("georadius_ro", -6, R, _search_builder(1, "coords ro"), _search_reply, group="geo")
register("georadiusbymember", -5, f"{W} denyoom movablekeys", _search_builder(1, "member"), _search_reply,
         group="geo")
register("georadiusbymember_ro", -5, R, _search_builder(1, "member ro"), _search_reply, group="geo")
register("geosearch", -7, R, _search_builder(1, "search"), _search_reply, group="geo")
register("geosearchstore", -8, f"{W} denyoom", _search_builder(2, "search store"), _search_reply,
         keys=(1, 2, 1), group="geo")
