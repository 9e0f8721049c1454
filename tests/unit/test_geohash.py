"""The geo encoding (node/storage/geohash.py) against a real redis-server: scores of
random points, decoded coordinates (to the digit), 11-character geohashes and
distances; and the RESP formatting of coordinates and distances."""

from __future__ import annotations

import random

from raftcache.node.frontends.resp_geo import coordinate, distance_text
from raftcache.node.storage import geohash


def _raw(r, *args):
    """A reply without redis-py's callbacks: the text Redis sent."""
    conn = r.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        r.connection_pool.release(conn)


def _points(rng: random.Random, n: int) -> list[tuple[float, float]]:
    edges = [(180.0, 85.05112878), (-180.0, -85.05112878), (0.0, 0.0), (-0.0, 1e-300)]
    return edges + [(rng.uniform(-180, 180), rng.uniform(-85.05112878, 85.05112878)) for _ in range(n)]


def test_scores_positions_hashes_and_distances_match_redis(real_redis):
    rng = random.Random(4)
    points = _points(rng, 300)
    args = []
    for i, (lon, lat) in enumerate(points):
        args += [repr(lon), repr(lat), f"p{i}"]
    real_redis.execute_command("GEOADD", "g", *args)
    members = [f"p{i}" for i in range(len(points))]
    scores = real_redis.zmscore("g", members)
    positions = _raw(real_redis, "GEOPOS", "g", *members)
    hashes = [h.encode() for h in real_redis.geohash("g", *members)]
    for (lon, lat), score, position, text in zip(points, scores, positions, hashes):
        mine = geohash.score(lon, lat)
        assert mine == score
        assert [coordinate(x) for x in geohash.decode(mine)] == position
        assert geohash.geohash_text(mine) == text
    for _ in range(200):
        a, b = rng.randrange(len(points)), rng.randrange(len(points))
        unit = rng.choice(["m", "km", "mi", "ft"])
        theirs = _raw(real_redis, "GEODIST", "g", f"p{a}", f"p{b}", unit)
        d = geohash.distance(*geohash.decode(scores[a]), *geohash.decode(scores[b]))
        assert distance_text(d / geohash.UNITS[unit.encode()]) == theirs


def test_known_vectors():
    assert geohash.score(-73.9454966, 40.747533) == 1791875804419201
    assert geohash.geohash_text(geohash.score(-5.6, 42.6)) == b"ezs42e44yx0"
    assert geohash.score(200, 0) is None and not geohash.valid(0, 85.1)
    assert distance_text(0.0) == b"0.0000" and distance_text(0.77504) == b"0.7750"
    assert coordinate(13.361389338970184) == b"13.36138933897018433"


def test_search_ranges_cover_the_centre_box_first():
    shape = geohash.Shape(15.0, 37.0, 1000.0, radius=200.0)
    ranges = geohash.search_ranges(shape)
    centre = geohash.score(15.0, 37.0)
    low, high = ranges[0]
    assert low <= centre < high and 1 <= len(ranges) <= 9
    huge = geohash.search_ranges(geohash.Shape(0.0, 0.0, 1000.0, radius=50_000.0))
    assert len(set(huge)) == len(huge)   # the same box is never read twice in a row
