"""Redis's geo encoding: coordinates as 52-bit geohash sorted-set scores, and the
search areas, distances and tests of its GEO commands.

A point is stored as a sorted-set member whose score is its geohash: 26 bits
of latitude (over -85.05112878..85.05112878, the Web Mercator range) and 26
of longitude (-180..180) interleaved, latitude in the even bits. A search
looks at the sorted-set score ranges of the centre's geohash box at a step
(precision) estimated from the radius and of its eight neighbours, then keeps
the points inside the circle or box by their haversine distance on a sphere
of 6372797.560856 m.

Every function follows Redis 7.2's geohash.c, geohash_helper.c and geo.c in
its floating-point steps and their order (the same libm functions through
Python's math module), so scores, decoded coordinates, distances, the boxes
searched and the order of unsorted results are Redis's.

Pure functions; must not import lmdb, grpc, time or random.
"""

from __future__ import annotations

import dataclasses
import math

STEP_MAX = 26                            # 26 * 2 = 52 bits
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
LONG_MIN, LONG_MAX = -180.0, 180.0
EARTH_RADIUS_M = 6372797.560856
MERCATOR_MAX = 20037726.37
_D_R = math.pi / 180.0
_MASK64 = (1 << 64) - 1
_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
#: Meters per unit of the GEO commands' units.
UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}


def valid(longitude: float, latitude: float) -> bool:
    return LONG_MIN <= longitude <= LONG_MAX and LAT_MIN <= latitude <= LAT_MAX


# ---------------------------------------------------------------- bits


def _interleave(x: int, y: int) -> int:
    """x's bits at the even positions, y's at the odd ones (x, y: 32 bits)."""
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F),
                        (2, 0x3333333333333333), (1, 0x5555555555555555)):
        x = (x | (x << shift)) & mask
        y = (y | (y << shift)) & mask
    return x | (y << 1)


def _deinterleave(bits: int) -> tuple[int, int]:
    """(even bits, odd bits) of a 64-bit value: (latitude part, longitude part)."""
    x, y = bits, bits >> 1
    for shift, mask in ((0, 0x5555555555555555), (1, 0x3333333333333333), (2, 0x0F0F0F0F0F0F0F0F),
                        (4, 0x00FF00FF00FF00FF), (8, 0x0000FFFF0000FFFF), (16, 0x00000000FFFFFFFF)):
        x = (x | (x >> shift)) & mask
        y = (y | (y >> shift)) & mask
    return x, y


def _encode(longitude: float, latitude: float, step: int, lat_range=(LAT_MIN, LAT_MAX),
            long_range=(LONG_MIN, LONG_MAX)) -> int | None:
    """geohashEncode: the `step`*2-bit hash of a point, None outside the Mercator range."""
    if not valid(longitude, latitude):
        return None
    if not (lat_range[0] <= latitude <= lat_range[1] and long_range[0] <= longitude <= long_range[1]):
        return None
    lat_offset = (latitude - lat_range[0]) / (lat_range[1] - lat_range[0]) * (1 << step)
    long_offset = (longitude - long_range[0]) / (long_range[1] - long_range[0]) * (1 << step)
    return _interleave(int(lat_offset) & 0xFFFFFFFF, int(long_offset) & 0xFFFFFFFF)


@dataclasses.dataclass(frozen=True, slots=True)
class Area:
    """A geohash box: its hash (bits, step) and its longitude/latitude extent."""

    bits: int
    step: int
    long_min: float
    long_max: float
    lat_min: float
    lat_max: float


def _decode(bits: int, step: int, lat_range=(LAT_MIN, LAT_MAX)) -> Area:
    """geohashDecode: the box a hash names."""
    lat_bits, long_bits = _deinterleave(bits)
    lat_bits &= 0xFFFFFFFF
    long_bits &= 0xFFFFFFFF
    lat_scale, long_scale = lat_range[1] - lat_range[0], LONG_MAX - LONG_MIN
    cells = float(1 << step)
    return Area(
        bits, step,
        LONG_MIN + (long_bits * 1.0 / cells) * long_scale,
        LONG_MIN + (((long_bits + 1) & 0xFFFFFFFF) * 1.0 / cells) * long_scale,
        lat_range[0] + (lat_bits * 1.0 / cells) * lat_scale,
        lat_range[0] + (((lat_bits + 1) & 0xFFFFFFFF) * 1.0 / cells) * lat_scale,
    )


# ---------------------------------------------------------------- scores and points


def score(longitude: float, latitude: float) -> int:
    """The 52-bit sorted-set score GEOADD stores for a valid point."""
    return _encode(longitude, latitude, STEP_MAX)


def decode(score_value: float) -> tuple[float, float]:
    """(longitude, latitude) of a score: the centre of its box, clamped to the valid range."""
    bits = int(score_value) & _MASK64 if math.isfinite(score_value) else 0
    area = _decode(bits, STEP_MAX)
    longitude = min(max((area.long_min + area.long_max) / 2, LONG_MIN), LONG_MAX)
    latitude = min(max((area.lat_min + area.lat_max) / 2, LAT_MIN), LAT_MAX)
    return longitude, latitude


def geohash_text(score_value: float) -> bytes:
    """GEOHASH's 11-character standard geohash (latitude over -90..90) of a score."""
    longitude, latitude = decode(score_value)
    bits = _encode(longitude, latitude, STEP_MAX, (-90.0, 90.0), (-180.0, 180.0)) or 0
    chars = [_ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F] for i in range(10)]
    return ("".join(chars) + "0").encode()


def _lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS_M * math.fabs(lat2 * _D_R - lat1 * _D_R)


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine distance in meters (geohashGetDistance)."""
    lon1r, lon2r = lon1 * _D_R, lon2 * _D_R
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return _lat_distance(lat1, lat2)
    lat1r, lat2r = lat1 * _D_R, lat2 * _D_R
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


# ---------------------------------------------------------------- searches


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    """A search: a circle (radius) or a box (width, height) around (longitude, latitude),
    sizes in a unit of `conversion` meters."""

    longitude: float
    latitude: float
    conversion: float
    radius: float = 0.0
    width: float = 0.0
    height: float = 0.0
    box: bool = False

    def within(self, longitude: float, latitude: float) -> float | None:
        """The point's distance from the centre in meters when it is inside, else None."""
        if not self.box:
            d = distance(self.longitude, self.latitude, longitude, latitude)
            return None if d > self.radius * self.conversion else d
        if _lat_distance(latitude, self.latitude) > self.height * self.conversion / 2:
            return None
        if distance(longitude, latitude, self.longitude, latitude) > self.width * self.conversion / 2:
            return None
        return distance(self.longitude, self.latitude, longitude, latitude)

    def bounds(self) -> tuple[float, float, float, float]:
        """geohashBoundingBox: (min longitude, min latitude, max longitude, max latitude)."""
        height = self.conversion * (self.height / 2 if self.box else self.radius)
        width = self.conversion * (self.width / 2 if self.box else self.radius)
        lat_delta = height / EARTH_RADIUS_M / _D_R
        long_delta_top = width / EARTH_RADIUS_M / math.cos((self.latitude + lat_delta) * _D_R) / _D_R
        long_delta_bottom = width / EARTH_RADIUS_M / math.cos((self.latitude - lat_delta) * _D_R) / _D_R
        long_delta = long_delta_bottom if self.latitude < 0 else long_delta_top
        return (self.longitude - long_delta, self.latitude - lat_delta,
                self.longitude + long_delta, self.latitude + lat_delta)

    def radius_m(self) -> float:
        if not self.box:
            return self.radius * self.conversion
        return math.sqrt((self.width / 2) * (self.width / 2) + (self.height / 2) * (self.height / 2)) * self.conversion


def _estimate_step(range_m: float, latitude: float) -> int:
    """geohashEstimateStepsByRadius."""
    if range_m == 0:
        return STEP_MAX
    step = 1
    while range_m < MERCATOR_MAX:
        range_m *= 2
        step += 1
    step -= 2
    if latitude > 66 or latitude < -66:
        step -= 1
        if latitude > 80 or latitude < -80:
            step -= 1
    return min(max(step, 1), STEP_MAX)


def _move(bits: int, step: int, dx: int, dy: int) -> int:
    """geohash_move_x / geohash_move_y: the neighbouring box dx east, dy north."""
    x, y = bits & 0xAAAAAAAAAAAAAAAA, bits & 0x5555555555555555
    if dx:
        zz = 0x5555555555555555 >> (64 - step * 2)
        x = (x + zz + 1) if dx > 0 else ((x | zz) - (zz + 1))
        x &= 0xAAAAAAAAAAAAAAAA >> (64 - step * 2)
    if dy:
        zz = 0xAAAAAAAAAAAAAAAA >> (64 - step * 2)
        y = (y + zz + 1) if dy > 0 else ((y | zz) - (zz + 1))
        y &= 0x5555555555555555 >> (64 - step * 2)
    return (x | y) & _MASK64


#: Redis's order of the boxes searched: centre, N, S, E, W, NE, NW, SE, SW.
_AROUND = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))


def search_ranges(shape: Shape) -> list[tuple[int, int]]:
    """The sorted-set score ranges [min, max) a search reads, in Redis's order
    (geohashCalculateAreasByShapeWGS84 and membersOfAllNeighbors)."""
    min_lon, min_lat, max_lon, max_lat = shape.bounds()
    step = _estimate_step(shape.radius_m(), shape.latitude)
    bits = _encode(shape.longitude, shape.latitude, step)
    neighbours = {d: _move(bits, step, *d) for d in _AROUND}
    north, south = _decode(neighbours[(0, 1)], step), _decode(neighbours[(0, -1)], step)
    east, west = _decode(neighbours[(1, 0)], step), _decode(neighbours[(-1, 0)], step)
    if step > 1 and (north.lat_max < max_lat or south.lat_min > min_lat
                     or east.long_max < max_lon or west.long_min > min_lon):
        step -= 1
        bits = _encode(shape.longitude, shape.latitude, step)
        neighbours = {d: _move(bits, step, *d) for d in _AROUND}
    area = _decode(bits, step)
    useless: set[tuple[int, int]] = set()
    if step >= 2:
        if area.lat_min < min_lat:
            useless |= {(0, -1), (-1, -1), (1, -1)}
        if area.lat_max > max_lat:
            useless |= {(0, 1), (1, 1), (-1, 1)}
        if area.long_min < min_lon:
            useless |= {(-1, 0), (-1, -1), (-1, 1)}
        if area.long_max > max_lon:
            useless |= {(1, 0), (1, -1), (1, 1)}
    ranges = []
    last = None   # the last box searched after the centre (Redis compares with it only)
    shift = 52 - step * 2
    for i, d in enumerate(_AROUND):
        if d in useless:
            continue
        box = neighbours[d]
        if last is not None and box == last:
            continue   # a huge radius: the same box twice
        ranges.append((box << shift, (box + 1) << shift))
        if i:
            last = box
    return ranges
