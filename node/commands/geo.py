"""Geo commands over sorted sets: GEOPOS, GEOHASH, GEODIST and the searches
(GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their _RO forms).

GEOADD needs no handler: the front end turns it into a ZAdd whose scores are
the points' 52-bit geohashes (node/storage/geohash.py). A search reads the
score ranges of up to nine geohash boxes from the sorted set, in Redis's
order, keeps the points inside the circle or box, then sorts by distance
when asked (stable, as glibc's qsort) and applies COUNT. Results carry raw
numbers (distances in the requested unit, the score, the coordinates); the
RESP front end formats them as Redis does.

Handlers follow node/commands/strings.py's convention. Must not touch:
clocks, randomness, lmdb, grpc, Raft.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from raftcache.node.commands import zsets
from raftcache.node.commands.strings import Ctx
from raftcache.node.errors import CommandError, Reason
from raftcache.node.storage import geohash, itemzset
from raftcache.proto import commands_pb2 as pb


def _zset(ctx: Ctx, key: bytes):
    """(record, ItemZSet) or (CommandError, None); record None when absent."""
    return itemzset.load(ctx.txn, ctx.db, key, ctx)


def _per_member(ctx: Ctx, op: pb.GeoMembers, reply: Callable[[float], object]):
    record, z = _zset(ctx, op.key)
    if z is None:
        return record
    scores = [None if record is None else z.score(m) for m in op.members]
    return [None if s is None else reply(s) for s in scores]


def geopos(ctx: Ctx, op: pb.GeoMembers):
    return _per_member(ctx, op, lambda s: list(geohash.decode(s)))


def geohash_(ctx: Ctx, op: pb.GeoMembers):
    return _per_member(ctx, op, geohash.geohash_text)


def geodist(ctx: Ctx, op: pb.GeoDist):
    record, z = _zset(ctx, op.key)
    if z is None or record is None:
        return record
    first, second = z.score(op.member), z.score(op.other)
    if first is None or second is None:
        return None
    return geohash.distance(*geohash.decode(first), *geohash.decode(second)) / (op.unit or 1.0)


def _shape(op: pb.GeoSearch, z) -> geohash.Shape | CommandError:
    unit = op.unit or 1.0
    sizes = (op.width, op.height) if op.by_box else (op.radius,)
    if not (math.isfinite(unit) and unit > 0 and all(math.isfinite(x) and x >= 0 for x in sizes)):
        return CommandError("the search sizes and unit must be finite, not negative", Reason.INVALID_ARGUMENT)
    if op.WhichOneof("center") == "member":
        found = z.score(op.member)
        if found is None:
            return CommandError("could not decode requested zset member", Reason.INVALID_ARGUMENT)
        longitude, latitude = geohash.decode(found)
    else:
        longitude, latitude = op.point.longitude, op.point.latitude
        if not geohash.valid(longitude, latitude):
            return CommandError(f"invalid longitude,latitude pair {longitude:f},{latitude:f}", Reason.INVALID_ARGUMENT)
    return geohash.Shape(longitude, latitude, unit, op.radius, op.width, op.height, op.by_box)


def _search(z, shape: geohash.Shape, op: pb.GeoSearch) -> list[tuple[float, float, bytes, float, float]]:
    """(distance in meters, score, member, longitude, latitude) of the points found,
    sorted and cut as the command asks."""
    limit = op.count if op.any else 0
    found = []
    for low, high in geohash.search_ranges(shape):
        if limit and len(found) >= limit:
            break
        for score, member in z.by_score(low, high):
            if score >= high:
                break
            longitude, latitude = geohash.decode(score)
            d = shape.within(longitude, latitude)
            if d is not None:
                found.append((d, score, member, longitude, latitude))
            if limit and len(found) >= limit:
                break
    sort = op.sort
    if op.count and sort == pb.GEO_UNSORTED and not op.any:
        sort = pb.GEO_ASC
    if sort != pb.GEO_UNSORTED:
        found.sort(key=lambda point: point[0], reverse=sort == pb.GEO_DESC)
    return found[:op.count] if op.count else found


def geosearch(ctx: Ctx, op: pb.GeoSearch):
    record, z = _zset(ctx, op.key)
    if z is None or record is None:
        return record if z is None else []
    shape = _shape(op, z)
    if isinstance(shape, CommandError):
        return shape
    unit = op.unit or 1.0
    out = []
    for d, score, member, longitude, latitude in _search(z, shape, op):
        if not (op.with_dist or op.with_hash or op.with_coord):
            out.append(member)
            continue
        item = [member]
        if op.with_dist:
            item.append(d / unit)
        if op.with_hash:
            item.append(int(score))
        if op.with_coord:
            item.append([longitude, latitude])
        out.append(item)
    return out


def geosearch_store(ctx: Ctx, op: pb.GeoSearch):
    """The points found become the sorted set at new_key (scored by geohash, or by
    distance with STOREDIST); nothing found deletes it. Reply: how many were stored."""
    txn, db = ctx.txn, ctx.db
    record, z = _zset(ctx, op.key)
    if z is None:
        return record
    found = []
    if record is not None:
        shape = _shape(op, z)
        if isinstance(shape, CommandError):
            return shape
        found = _search(z, shape, op)
    if txn.get(db, op.new_key, ctx.now_ms) is not None:
        txn.delete(db, op.new_key)
    unit = op.unit or 1.0
    zsets._new(txn, db, op.new_key, {member: (d / unit if op.store_dist else score)
                                     for d, score, member, _, _ in found}, ctx)
    return len(found)


HANDLERS: dict[str, Callable[[Ctx, object], object]] = {
    "geopos": geopos,
    "geohash": geohash_,
    "geodist": geodist,
    "geosearch": geosearch,
    "geosearch_store": geosearch_store,
}
