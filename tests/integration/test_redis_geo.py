"""Geo commands through redis-py, RESP2 and RESP3, on real nodes, compared reply
for reply with a real redis-server: GEOADD (NX, XX, CH), GEOPOS, GEODIST,
GEOHASH, GEOSEARCH / GEOSEARCHSTORE (FROMMEMBER, FROMLONLAT, BYRADIUS, BYBOX,
ASC/DESC, COUNT [ANY], WITHCOORD/WITHDIST/WITHHASH, STOREDIST),
GEORADIUS[BYMEMBER][_RO] with STORE/STOREDIST, the error texts; random point
sets and searches (a short run by default, a long one under `slow`); the
exact bytes of coordinates and distances; writes through a follower."""

from __future__ import annotations

import random
import socket

import pytest
import redis

from tests.integration.redis_helpers import client, leader_and_follower, same_on_every_node



def _reply(c: redis.Redis, args):
    """One command's reply without redis-py's callbacks (coordinates stay text in RESP2)."""
    conn = c.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    except redis.ResponseError as e:
        return f"error: {e}"
    finally:
        c.connection_pool.release(conn)


def _compare(mine: redis.Redis, real: redis.Redis, script) -> None:
    for args in script:
        assert _normal(args, _reply(mine, args)) == _normal(args, _reply(real, args)), args


def _normal(args, reply):
    """ZRANGE's RESP2 scores as numbers: Redis 7.2 writes the shortest form of a double
    (as raftcache does), 7.0 (an installed redis-server may be older) 17 digits."""
    if args[0] == "ZRANGE" and isinstance(reply, list) and reply and isinstance(reply[-1], bytes):
        return [float(x) if i % 2 else x for i, x in enumerate(reply)]
    return reply


NYC = ["-73.9733487", "40.7648057", "central park n/q/r", "-73.9903085", "40.7362513", "union square",
       "-74.0131604", "40.7126674", "wtc one", "-73.7858139", "40.6428986", "jfk", "-73.9375699", "40.7498929",
       "q4", "-73.9564142", "40.7480973", "4545"]
CENTER = ["-73.9798091", "40.7598464"]

# Redis's own geo tests (tests/unit/geo.tcl), as commands whose replies must match.
SCRIPT = [
    ["GEOADD", "nyc", "-73.9454966", "40.747533", "lic market"],
    ["GEOADD", "nyc", "-73.9454966", "40.747533", "lic market"],
    ["GEOADD", "nyc", "CH", "-73.9454966", "40.747534", "lic market"],
    ["GEOADD", "nyc", "CH", "NX", "-73.9454966", "40.747533", "lic market"],
    ["GEOADD", "nyc", "CH", "XX", "-73.9454966", "40.747533", "lic market"],
    ["GEOADD", "nyc", "XX", "-73.9454966", "40.747533", "nowhere"],
    ["GEOADD", "nyc", "xx", "nx", "-73.9454966", "40.747533", "lic market"],
    ["GEOADD", "nyc", "ch", "xx", "foo", "-73.9454966", "40.747533", "lic market"],
    ["GEOADD", "nyc", "-73.9454966", "40.747533", "lic market", "foo", "bar", "luck market"],
    ["GEOADD", "nyc", "200", "40.747533", "far"],
    ["GEOADD", "nyc", *NYC],
    ["ZRANGE", "nyc", "0", "-1", "WITHSCORES"],
    ["GEORADIUS", "nyc", *CENTER, "3", "km", "asc"],
    ["GEORADIUS_RO", "nyc", *CENTER, "3", "km", "asc"],
    ["GEOSEARCH", "nyc", "FROMLONLAT", *CENTER, "BYBOX", "6", "6", "km", "asc"],
    ["GEOSEARCH", "nyc", "FROMLONLAT", *CENTER, "FROMMEMBER", "xxx", "BYBOX", "6", "6", "km", "asc"],
    ["GEOSEARCH", "nyc", "BYBOX", "3", "3", "km", "asc", "desc", "withhash", "withdist", "withcoord"],
    ["GEOSEARCH", "nyc", "FROMLONLAT", *CENTER, "BYRADIUS", "3", "km", "BYBOX", "3", "3", "km", "asc"],
    ["GEOSEARCH", "nyc", "FROMLONLAT", *CENTER, "asc", "desc", "withhash", "withdist", "withcoord"],
    ["GEOSEARCH", "nyc", "FROMLONLAT", *CENTER, "BYBOX", "6", "6", "km", "asc", "storedist"],
    ["GEORADIUS", "nyc", *CENTER, "3", "km", "withdist", "asc"],
    ["GEOSEARCH", "nyc", "FROMLONLAT", *CENTER, "BYBOX", "6", "6", "km", "withdist", "asc"],
    ["GEORADIUS", "nyc", *CENTER, "10", "km", "COUNT", "3"],
    ["GEORADIUS", "nyc", *CENTER, "10", "km", "WITHCOORD", "WITHHASH", "COUNT", "2"],
    ["GEORADIUS", "nyc", *CENTER, "10", "km", "WITHDIST", "WITHHASH", "WITHCOORD", "COUNT", "2"],
    ["GEORADIUS", "nyc", *CENTER, "10", "km", "COUNT", "3", "ANY"],
    ["GEORADIUS", "nyc", *CENTER, "10", "km", "COUNT", "3", "ANY", "ASC"],
    ["GEORADIUS", "nyc", *CENTER, "10", "km", "ANY", "ASC"],
    ["GEORADIUS", "nyc", *CENTER, "10", "km", "COUNT"],
    ["GEORADIUS", "nyc", *CENTER, "10", "km", "COUNT", "0"],
    ["GEORADIUS", "nyc", *CENTER, "10", "km", "COUNT", "2", "DESC"],
    ["GEORADIUSBYMEMBER", "nyc", "wtc one", "7", "km"],
    ["GEORADIUSBYMEMBER_RO", "nyc", "wtc one", "7", "km"],
    ["GEORADIUSBYMEMBER", "nyc", "wtc one", "7", "km", "withdist"],
    ["GEORADIUSBYMEMBER", "nyc", "nobody", "7", "km"],
    ["GEOSEARCH", "nyc", "FROMMEMBER", "wtc one", "BYBOX", "14", "14", "km"],
    ["GEOSEARCH", "nyc", "FROMLONLAT", *CENTER, "BYRADIUS", "20", "mi", "WITHCOORD", "WITHDIST", "WITHHASH", "ASC"],
    ["GEOADD", "users", "-47.271613776683807", "-54.534504198047678", "user_000000"],
    ["GEORADIUS", "users", "0", "0", "50000", "km", "WITHCOORD"],
    ["GEOADD", "k1", "-0.15307903289794921875", "85", "n1", "0.3515625", "85.00019260486917005437", "n2"],
    ["GEORADIUSBYMEMBER", "k1", "n1", "4891.94", "m"],
    ["GEOADD", "k2", "-4.95211958885192871094", "85", "n3", "11.25", "85.0511", "n4"],
    ["GEORADIUSBYMEMBER", "k2", "n3", "156544", "m"],
    ["GEOADD", "k3", "-45", "65.50900022111811438208", "n5", "90", "85.0511", "n6"],
    ["GEORADIUSBYMEMBER", "k3", "n5", "5009431", "m"],
    ["GEOADD", "k4", "45", "65", "n1", "-135", "85.05", "n2"],
    ["GEORADIUSBYMEMBER", "k4", "n1", "5009431", "m"],
    ["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania",
     "12.758489", "38.788135", "edge1", "17.241510", "38.788135", "eage2"],
    ["GEORADIUS", "Sicily", "15", "37", "200", "km", "asc"],
    ["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "asc"],
    ["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "3000", "2", "km", "asc"],
    ["GEOSEARCH", "Sicily", "FROMLONLAT", "-179.9", "0", "BYBOX", "400", "400", "km", "asc"],
    ["GEOADD", "points", "-5.6", "42.6", "test", "10", "20", "a", "30", "40", "b"],
    ["GEOHASH", "points", "test", "nope", "a"], ["GEOHASH", "points"], ["GEOHASH", "nokey", "a"],
    ["GEOPOS", "points", "a", "x", "b"], ["GEOPOS", "points"], ["GEOPOS", "nokey", "a"],
    ["GEODIST", "Sicily", "Palermo", "Catania"], ["GEODIST", "Sicily", "Palermo", "Catania", "km"],
    ["GEODIST", "Sicily", "Palermo", "Catania", "MI"], ["GEODIST", "Sicily", "Palermo", "Catania", "ft"],
    ["GEODIST", "Sicily", "Palermo", "Palermo"], ["GEODIST", "Sicily", "Palermo", "Agrigento"],
    ["GEODIST", "empty", "Palermo", "Catania"], ["GEODIST", "Sicily", "Palermo", "Catania", "yd"],
    ["GEODIST", "Sicily", "Palermo", "Catania", "km", "x"],
    ["GEORADIUS", "Sicily", "13.361389", "38.115556", "50", "km", "store"],
    ["GEOSEARCHSTORE", "abc", "Sicily", "FROMLONLAT", "13.361389", "38.115556", "BYRADIUS", "50", "km",
     "store", "abc"],
    ["GEORADIUS", "Sicily", "13.361389", "38.115556", "50", "km", "store", "p2", "withdist"],
    ["GEOSEARCHSTORE", "p2", "Sicily", "FROMLONLAT", "13.361389", "38.115556", "BYRADIUS", "50", "km", "withhash"],
    ["GEORADIUS", "Sicily", "13.361389", "38.115556", "500", "km", "store", "p2"],
    ["ZRANGE", "p2", "0", "-1", "WITHSCORES"],
    ["GEORADIUSBYMEMBER", "Sicily", "Palermo", "500", "km", "storedist", "p3", "desc", "count", "2"],
    ["ZRANGE", "p3", "0", "-1", "WITHSCORES"],
    ["GEOSEARCHSTORE", "p4", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "500", "500", "km", "STOREDIST"],
    ["ZRANGE", "p4", "0", "-1", "WITHSCORES"],
    ["GEOSEARCHSTORE", "p4", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "5", "5", "m"], ["EXISTS", "p4"],
    ["GEOSEARCHSTORE", "p3", "missing", "FROMMEMBER", "Palermo", "BYBOX", "5", "5", "m"], ["EXISTS", "p3"],
    ["GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "store", "p5"],
    ["GEOSEARCH", "Sicily", "FROMMEMBER", "Nope", "BYBOX", "5", "5", "m"],
    ["GEOSEARCH", "missing", "FROMMEMBER", "Nope", "BYBOX", "5", "5", "m"],
    ["GEORADIUS", "Sicily", "200", "100", "5", "m"], ["GEORADIUS", "Sicily", "20", "10", "-5", "m"],
    ["GEORADIUS", "Sicily", "20", "10", "x", "m"], ["GEORADIUS", "Sicily", "20", "10", "5", "parsec"],
    ["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "-1", "2", "km"],
    ["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "x", "2", "km"],
    ["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "1", "y", "km"],
    ["SET", "str", "x"], ["GEOPOS", "str", "a"], ["GEOHASH", "str", "a"], ["GEODIST", "str", "a", "b"],
    ["GEOADD", "str", "1", "1", "a"], ["GEORADIUS", "str", "1", "1", "1", "km"],
    ["GEOSEARCH", "str", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"],
    ["GEOSEARCHSTORE", "dest", "str", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"],
    ["GEOADD"], ["GEOADD", "k", "1", "2"], ["GEOPOS"], ["GEODIST", "k", "a"], ["GEORADIUS", "k", "1", "2", "3"],
    ["GEOSEARCH", "k", "FROMLONLAT", "1", "2"], ["GEOSEARCHSTORE", "d", "k", "FROMLONLAT", "1", "2"],
]


def test_replies_match_redis(r, real_redis, protocol):
    _compare(r, client_of(real_redis, protocol), SCRIPT)


def client_of(real: redis.Redis, protocol: int) -> redis.Redis:
    kwargs = real.connection_pool.connection_kwargs
    return redis.Redis(host=kwargs["host"], port=kwargs["port"], protocol=protocol)


def _random_script(rng: random.Random, sets: int, queries: int):
    """GEOADDs of random clusters of points and random searches around them. Points are
    distinct (no two at one distance from a centre): Redis's sort is not stable, so the
    order of points at exactly the same distance is its own (docs/redis-compat.md)."""
    script = []
    for s in range(sets):
        key = f"r{s}"
        n = rng.randint(1, 150)
        spread = rng.choice([0.05, 1, 20])
        lon0, lat0 = rng.uniform(-180 + spread, 180 - spread), rng.uniform(-85 + spread, 85 - spread)
        args = ["GEOADD", key]
        for i in range(n):
            args += [repr(lon0 + rng.uniform(-spread, spread)), repr(lat0 + rng.uniform(-spread, spread)), f"m{i}"]
        script.append(args)
        for _ in range(queries):
            unit, meters = rng.choice([("m", 1), ("km", 1000), ("mi", 1609.34), ("ft", 0.3048)])
            size = repr(rng.uniform(0, spread * 222_000) / meters)
            options = rng.sample(["WITHDIST", "WITHHASH", "WITHCOORD"], rng.randint(0, 3))
            if rng.random() < 0.6:
                options.append(rng.choice(["ASC", "DESC"]))
            if rng.random() < 0.4:
                options += ["COUNT", str(rng.randint(1, 20))] + (["ANY"] if rng.random() < 0.5 else [])
            member = f"m{rng.randrange(n)}"
            script += [
                ["GEORADIUS", key, repr(lon0), repr(lat0), size, unit, *options],
                ["GEORADIUSBYMEMBER_RO", key, member, size, unit, *options],
                ["GEOSEARCH", key, "FROMMEMBER", member, "BYBOX", size, repr(float(size) * rng.uniform(0.2, 3)),
                 unit, *options],
                ["GEOSEARCHSTORE", "dst", key, "FROMLONLAT", repr(lon0), repr(lat0), "BYRADIUS", size, unit,
                 "STOREDIST", *[o for o in options if not o.startswith("WITH")]],
                ["ZRANGE", "dst", "0", "-1", "WITHSCORES"],
                ["GEODIST", key, member, f"m{rng.randrange(n)}", unit],
                ["GEOPOS", key, member, "nobody"],
                ["GEOHASH", key, member],
            ]
    return script


def test_random_points_and_searches_match_redis(r, real_redis, protocol):
    _compare(r, client_of(real_redis, protocol), _random_script(random.Random(protocol), 6, 4))


@pytest.mark.slow
def test_many_random_points_and_searches_match_redis(r, real_redis, protocol):
    _compare(r, client_of(real_redis, protocol), _random_script(random.Random(100 + protocol), 150, 15))


def _wire(address, *commands) -> bytes:
    """The raw RESP3 replies to `commands` (after HELLO 3) on a fresh socket."""
    start, end = b"$5\r\nstart\r\n", b"$3\r\nend\r\n"
    with socket.create_connection(address, timeout=10) as s:
        data = b""
        for args in [["HELLO", "3"], ["PING", "start"], *commands, ["PING", "end"]]:
            data += b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)
        s.sendall(data)
        out = b""
        while not out.endswith(end):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    return out[out.index(start) + len(start):-len(end)]


def test_resp3_coordinates_and_distances_are_redis_bytes(cluster, real_redis):
    commands = [["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"],
                ["GEOPOS", "g", "Palermo", "nobody"], ["GEODIST", "g", "Palermo", "Catania", "km"],
                ["GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "WITHCOORD", "WITHDIST", "ASC"]]
    kwargs = real_redis.connection_pool.connection_kwargs
    mine = _wire(cluster.leader().redis_address, *commands)
    theirs = _wire((kwargs["host"], kwargs["port"]), *commands)
    assert mine == theirs
    assert b",13.36138933897018433\r\n" in mine


def test_through_a_follower_every_replica_answers_alike(cluster, protocol):
    leader, follower = leader_and_follower(cluster)
    f = client(follower, protocol)
    assert f.geoadd("g", [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"]) == 2
    assert f.geosearchstore("near", "g", member="Palermo", radius=200, unit="km") == 2
    found = same_on_every_node(cluster, protocol, lambda c: c.geosearch("g", longitude=15, latitude=37,
                                                                        radius=200, unit="km", sort="ASC"))
    assert found == [b"Catania", b"Palermo"]
    assert same_on_every_node(cluster, protocol, lambda c: c.zrange("near", 0, -1)) == [b"Palermo", b"Catania"]
    assert f.type("g") in (b"zset", "zset")


def test_in_multi(r):
    with r.pipeline() as pipe:
        pipe.geoadd("g", [13.361389, 38.115556, "Palermo"])
        pipe.geodist("g", "Palermo", "Palermo")
        pipe.georadius("g", 13.361389, 38.115556, 1, unit="km", store="s")
        pipe.zcard("s")
        assert pipe.execute() == [1, 0.0, 1, 1]
