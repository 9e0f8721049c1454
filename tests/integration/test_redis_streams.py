"""Streams through redis-py, RESP2 and RESP3, on real nodes, compared with a real
redis-server: every command's replies and errors for the same script (times
and clock-made ids aside), automatic ids from the leader's clock, blocking
XREAD / XREADGROUP (on the leader and a follower, with timeouts, CLIENT
UNBLOCK, a key deleted or retyped, a group destroyed), MULTI, and a consumer
group that keeps its pending entries across a leader failover."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from raftcache.node import commands
from raftcache.localcluster import wait_until
from tests.integration.redis_helpers import client, leader_and_follower, raw, same_on_every_node


#: Lines whose reply changed in Redis 7.2 (the version followed): not compared with an older server.
_SINCE_7_2 = {"XSETID s 1-0", "XGROUP HELP", "XINFO HELP"}

SCRIPT = """XADD s 1-1 a 1
XADD s 1-2 b 2 c 3
XADD s 1-2 x y
XADD s 0-0 x y
XADD s 2-* x y
XADD s 2-* x y
XADD s 1-* x y
XADD s 5 x y
XADD s MAXLEN 3 6-0 f v
XLEN s
XRANGE s - +
XREVRANGE s + -
XRANGE s (2-0 +
XRANGE s - + COUNT 2
XRANGE s - + COUNT 0
XRANGE s (18446744073709551615-18446744073709551615 +
XRANGE s - (0-0
XRANGE s foo +
XRANGE nokey - +
XADD s NOMKSTREAM 7 f v
XADD nomk NOMKSTREAM 7 f v
EXISTS nomk
XADD s 8 f
XADD s LIMIT 10 9 f v
XADD s MAXLEN ~ 2 LIMIT 10 9 f v
XADD s MAXLEN 2 MINID 1 9 f v
XADD s MAXLEN -1 9 f v
XTRIM s
XTRIM s MAXLEN 1
XDEL s 9-0 6-0 1-1
XDEL s bad
XSETID s 100-0
XSETID s 1-0
XSETID nokey 1-0
XSETID s 200-0 ENTRIESADDED 10 MAXDELETEDID 100-0
XSETID s 200-0 ENTRIESADDED -1
XSETID s 200-0 MAXDELETEDID 300-0
XINFO STREAM s
XGROUP CREATE s g $
XGROUP CREATE s g $
XGROUP CREATE nokey g $
XGROUP CREATE made g $ MKSTREAM
XGROUP CREATE s g2 0 ENTRIESREAD 3
XGROUP CREATE s g3 0 ENTRIESREAD -2
XGROUP CREATE s g4 0 FOO
XGROUP SETID s nog 0
XGROUP CREATECONSUMER s g alice
XGROUP CREATECONSUMER s g alice
XGROUP HELP
XINFO HELP
XGROUP FOO
XGROUP CREATE s
XADD s 300-0 f1 v1
XADD s 301-0 f2 v2
XADD s 302-0 f3 v3
XREADGROUP GROUP g bob COUNT 1 STREAMS s >
XREADGROUP GROUP g bob STREAMS s >
XREADGROUP GROUP g bob STREAMS s >
XREADGROUP GROUP g bob STREAMS s 0
XREADGROUP GROUP g alice STREAMS s 0
XREADGROUP GROUP nog bob STREAMS s >
XREADGROUP GROUP g bob STREAMS s $
XREADGROUP GROUP g bob STREAMS s
XREAD STREAMS s >
XREAD STREAMS s 0
XREAD COUNT 2 STREAMS s nokey 0 0
XREAD STREAMS s $
XREAD STREAMS s
XREAD GROUP g c STREAMS s 0
XPENDING s g
XPENDING s g - + 10 nobody
XPENDING s nog
XPENDING s g - +
XACK s g 300-0 300-0 999-0
XACK s g bad
XACK nokey g 1-0
XPENDING s g
XGROUP DELCONSUMER s g bob
XPENDING s g
XGROUP DESTROY s g2
XGROUP DESTROY s g2
XGROUP SETID s g 0 ENTRIESREAD 0
XREADGROUP GROUP g carol NOACK STREAMS s >
XPENDING s g
XDEL s 301-0
XREADGROUP GROUP g dave STREAMS s 0
XGROUP SETID s g 0
XREADGROUP GROUP g dave STREAMS s >
XREADGROUP GROUP g dave STREAMS s 0
XCLAIM s g erin 0 302-0 JUSTID
XCLAIM s g erin 0 302-0
XCLAIM s g erin 0 301-0 300-0
XCLAIM s g erin 0 300-0 FORCE RETRYCOUNT 7 JUSTID
XCLAIM s g erin 0 300-0 BOGUS
XCLAIM s g erin x 300-0
XCLAIM s nog erin 0 300-0
XAUTOCLAIM s g frank 0 0
XAUTOCLAIM s g frank 0 0 COUNT 1
XAUTOCLAIM s g frank 0 0 COUNT 0
XAUTOCLAIM s g frank 0 0 JUSTID
XINFO GROUPS s
XINFO STREAM nokey
XINFO STREAM s FOO
XTRIM s MINID 302
XINFO STREAM s
SET str x
XADD str 1 f v
XLEN str
XRANGE str - +
XREAD STREAMS str 0
XGROUP CREATE str g $
TYPE s
OBJECT ENCODING s
XADD
XLEN s extra
XREADGROUP GROUP g bob"""


def _reply(c: redis.Redis, args):
    conn = c.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    except redis.ResponseError as e:
        return f"error: {e}"
    finally:
        c.connection_pool.release(conn)


def _same_protocol(real: redis.Redis, protocol: int) -> redis.Redis:
    kwargs = real.connection_pool.connection_kwargs
    return redis.Redis(host=kwargs["host"], port=kwargs["port"], protocol=protocol)


def test_replies_match_redis(r, real_redis, protocol):
    real = _same_protocol(real_redis, protocol)
    older = not real.info("server")["redis_version"].startswith("7.2")
    for line in SCRIPT.split("\n"):
        if older and line in _SINCE_7_2:
            continue
        args = line.split(" ")
        assert _reply(r, args) == _reply(real, args), args
    # the times recorded by a group differ between two servers; the rest must not
    for args in (["XPENDING", "s", "g", "-", "+", "10"], ["XINFO", "CONSUMERS", "s", "g"]):
        mine, theirs = _reply(r, args), _reply(real, args)
        assert len(mine) == len(theirs) and _untimed(mine) == _untimed(theirs), args


def _untimed(reply):
    """XPENDING's and XINFO CONSUMERS' entries without their idle times."""
    out = []
    for item in reply:
        if isinstance(item, dict):
            item = {k: v for k, v in item.items() if k not in (b"idle", b"inactive")}
        elif isinstance(item, list) and len(item) == 4 and isinstance(item[2], int):
            item = [item[0], item[1], item[3]]
        elif isinstance(item, list):
            item = [v for i, v in enumerate(item) if i == 0 or item[i - 1] not in (b"idle", b"inactive")
                    and v not in (b"idle", b"inactive")]
        out.append(item)
    return out


def test_automatic_ids_come_from_the_leaders_clock(cluster, protocol):
    leader, follower = leader_and_follower(cluster)
    f = client(follower, protocol)
    before = int(time.time() * 1000)
    ids = [f.xadd("s", {"n": i}) for i in range(5)]
    after = int(time.time() * 1000)
    parsed = [tuple(map(int, i.split(b"-"))) for i in ids]
    assert parsed == sorted(parsed) and len(set(parsed)) == 5
    assert before - 5000 <= parsed[0][0] <= after + 5000
    with f.pipeline(transaction=True) as pipe:   # one entry, one clock: consecutive sequences
        pipe.xadd("m", {"a": 1}).xadd("m", {"b": 2})
        first, second = pipe.execute()
    assert first.split(b"-")[0] == second.split(b"-")[0] and int(second.split(b"-")[1]) == 1
    entries = same_on_every_node(cluster, protocol, lambda c: c.xrange("s"))
    assert [e[0] for e in entries] == ids


def _later(action, delay: float = 0.3):
    timer = threading.Timer(delay, action)
    timer.start()
    return timer


def test_blocking_xread_on_the_leader_and_a_follower(cluster, protocol):
    leader, follower = leader_and_follower(cluster)
    writer = client(leader, 2)
    writer.xadd("s", {"old": 1}, id="1-0")
    for node in (leader, follower):
        reader = client(node, protocol)
        _later(lambda: writer.xadd("s", {"new": 1}))
        got = raw(reader, "XREAD", "BLOCK", 10_000, "STREAMS", "s", "$")
        assert _entries_of(got, b"s")[0][1] == [b"new", b"1"]
        assert raw(reader, "XREAD", "BLOCK", 100, "STREAMS", "s", "$") is None   # timeout: nil
        assert _entries_of(raw(reader, "XREAD", "BLOCK", 0, "STREAMS", "s", "0"), b"s")[0][0] == b"1-0"
        _later(lambda: writer.xadd("other", {"x": 1}))
        got = raw(reader, "XREAD", "COUNT", 1, "BLOCK", 10_000, "STREAMS", "s", "other", "$", "$")
        assert list(_keys_of(got)) == [b"other"]
    # MULTI: no blocking, the read runs at EXEC
    with client(leader, protocol).pipeline(transaction=True) as pipe:
        pipe.execute_command("XREAD", "BLOCK", 0, "STREAMS", "s", "$")
        pipe.xadd("s", {"inside": 1})
        assert not pipe.execute()[0]   # nil (redis-py shows it as [] or None)


def test_xread_plus_reads_the_last_entry_as_redis_7_4(cluster, protocol):
    """Redis 7.4's `+` in XREAD (its tests, type/stream "XREAD last element …"; the Redis here
    is older, so the replies are Redis 7.4's as its tests give them)."""
    leader, follower = leader_and_follower(cluster)
    writer = client(leader, 2)
    for i in (1, 2, 3):
        writer.xadd("{ls}1", {f"k{i}": f"v{i}"}, id=f"{i}-0")
        writer.xadd("{ls}2", {f"k{i}": f"w{i}"}, id=f"{i}-0")
    writer.xgroup_create("{ls}empty", "g", id="0", mkstream=True)
    for node in (leader, follower):
        reader = client(node, protocol)
        assert reader.xread({"{ls}1": "+", "{ls}2": "+", "{ls}3": "+"}) == (
            {b"{ls}1": [[(b"3-0", {b"k3": b"v3"})]], b"{ls}2": [[(b"3-0", {b"k3": b"w3"})]]} if protocol == 3 else
            [[b"{ls}1", [(b"3-0", {b"k3": b"v3"})]], [b"{ls}2", [(b"3-0", {b"k3": b"w3"})]]])
        one = _entries_of(raw(reader, "XREAD", "COUNT", 3, "STREAMS", "{ls}1", "+"), b"{ls}1")
        assert [entry[0] for entry in one] == [b"3-0"]   # COUNT changes nothing
        one = _entries_of(raw(reader, "XREAD", "BLOCK", 100_000, "STREAMS", "{ls}1", "+"), b"{ls}1")
        assert [entry[0] for entry in one] == [b"3-0"]   # answered at once
        for block in ((), ("BLOCK", 100)):
            with pytest.raises(redis.ResponseError, match="the stream last element ID is 0-0"):
                raw(reader, "XREAD", *block, "STREAMS", "{ls}empty", "+")
        with pytest.raises(redis.ResponseError, match=r"The \+ ID is meaningless in the context of XREADGROUP"):
            raw(reader, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "{ls}empty", "+")
        # from a stream that does not exist yet, BLOCK waits for its first entry
        writer.delete("{ls}new")
        _later(lambda: writer.xadd("{ls}new", {"k1": "v1"}, id="1-0"))
        got = raw(reader, "XREAD", "BLOCK", 20_000, "STREAMS", "{ls}new", "+")
        assert [entry[0] for entry in _entries_of(got, b"{ls}new")] == [b"1-0"]
    writer.xdel("{ls}1", "3-0")   # the last id stays 3-0: nothing is after 2-18446744073709551615 now
    assert raw(client(leader, protocol), "XREAD", "STREAMS", "{ls}1", "+") is None
    r = client(leader, protocol)
    with r.pipeline(transaction=True) as pipe:   # inside MULTI: read at EXEC, the same reply
        pipe.execute_command("XREAD", "STREAMS", "{ls}2", "+")
        assert pipe.execute()[0] == r.execute_command("XREAD", "STREAMS", "{ls}2", "+")


def _keys_of(reply):
    return reply.keys() if isinstance(reply, dict) else [pair[0] for pair in reply]


def _entries_of(reply, key):
    return reply[key] if isinstance(reply, dict) else dict((k, v) for k, v in reply)[key]


def test_client_unblock_ends_a_blocked_xread(cluster, protocol):
    leader = cluster.leader()
    reader, admin = client(leader, protocol), client(leader, 2)
    reader_id = reader.client_id()
    _later(lambda: admin.execute_command("CLIENT", "UNBLOCK", reader_id, "ERROR"))
    with pytest.raises(redis.ResponseError, match="UNBLOCKED"):
        raw(reader, "XREAD", "BLOCK", 0, "STREAMS", "s", "$")


def test_blocking_xreadgroup(cluster, protocol):
    leader, follower = leader_and_follower(cluster)
    admin = client(leader, 2)
    admin.xgroup_create("s", "g", id="$", mkstream=True)
    consumer = client(follower, protocol)
    _later(lambda: admin.xadd("s", {"f": "v"}, id="5-0"))
    got = raw(consumer, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", 10_000, "STREAMS", "s", ">")
    assert _entries_of(got, b"s") == [[b"5-0", [b"f", b"v"]]]
    assert admin.xpending("s", "g")["pending"] == 1
    admin.xadd("s", {"f": "gone"}, id="6-0")
    admin.xdel("s", "6-0")   # nothing new for the group: it blocks, then times out
    assert raw(consumer, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", 200, "STREAMS", "s", ">") is None
    for change, error in ((lambda: admin.delete("s"), "NOGROUP"), (lambda: admin.set("s", "x"), "WRONGTYPE"),
                          (lambda: admin.xgroup_destroy("s", "g"), "NOGROUP")):
        admin.delete("s")
        admin.xgroup_create("s", "g", id="$", mkstream=True)
        _later(change)
        with pytest.raises(redis.ResponseError, match=error):
            raw(consumer, "XREADGROUP", "GROUP", "g", "bob", "BLOCK", 0, "STREAMS", "s", ">")


def test_two_blocked_consumers_share_the_entries(cluster):
    leader = cluster.leader()
    admin = client(leader, 2)
    admin.xgroup_create("jobs", "workers", id="$", mkstream=True)
    results: dict = {}

    def work(name):
        c = client(leader, 2)
        results[name] = raw(c, "XREADGROUP", "GROUP", "workers", name, "COUNT", 1, "BLOCK", 10_000,
                            "STREAMS", "jobs", ">")

    threads = [threading.Thread(target=work, args=(n,)) for n in ("w1", "w2")]
    for t in threads:
        t.start()
    wait_until(lambda: admin.info("clients")["blocked_clients"] >= 2, 10, "both consumers to block")
    admin.xadd("jobs", {"job": 1})
    admin.xadd("jobs", {"job": 2})
    for t in threads:
        t.join(15)
    jobs = sorted(_entries_of(results[n], b"jobs")[0][1][1] for n in ("w1", "w2"))
    assert jobs == [b"1", b"2"]


def test_consumer_group_survives_a_leader_failover(make_cluster):
    """A job queue: entries delivered and pending on the old leader are still pending,
    with their consumer and delivery count, on the new one; new ids stay above the old."""
    c = make_cluster(3)
    wait_until(lambda: c.status(c.leader()).log_version == commands.MAX_VERSION, 30, "the log version")
    old = c.leader()
    r = client(old, 3)
    r.xgroup_create("jobs", "workers", id="$", mkstream=True)
    ids = [r.xadd("jobs", {"job": i}) for i in range(10)]
    r.xreadgroup("workers", "w1", {"jobs": ">"}, count=4)
    r.xack("jobs", "workers", ids[0])
    c.kill(old)
    new = c.leader()
    assert new is not old
    r2 = client(new, 3)
    pending = r2.xpending_range("jobs", "workers", min="-", max="+", count=10)
    assert [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pending] == \
        [(i, b"w1", 1) for i in ids[1:4]]
    later = r2.xadd("jobs", {"job": "after"})
    assert tuple(map(int, later.split(b"-"))) > tuple(map(int, ids[-1].split(b"-")))
    claimed = r2.xautoclaim("jobs", "workers", "w2", min_idle_time=0, start_id="0-0")
    assert [e[0] for e in claimed[1]] == ids[1:4]
    got = r2.xreadgroup("workers", "w2", {"jobs": ">"})
    assert [e[0] for e in got[b"jobs"][0]] == ids[4:] + [later]
    info = {g["name"]: g for g in r2.xinfo_groups("jobs")}[b"workers"]
    assert info["pending"] == 10 and info["lag"] == 0
    c.restart(old)
    c.wait_applied(c.status(new).applied_index)
    assert same_on_every_node(c, 3, lambda x: x.xpending("jobs", "workers")["pending"]) == 10


def test_clients_blocked_on_one_key_for_other_things_do_not_wait_for_each_other(cluster):
    """A BLPOP client blocked on a key first never holds up an XREADGROUP on it; a blocked
    client that hangs up stops counting at once; INFO counts the keys (Redis 7.2)."""
    leader = cluster.leader()
    admin = client(leader, 2)

    def counts():
        info = admin.info("clients")
        return info["blocked_clients"], info["total_blocking_keys"], info["total_blocking_keys_on_nokey"]

    lister = client(leader, 2)
    popper = threading.Thread(target=lambda: _swallow(lambda: lister.blpop(["s"], 0)))
    popper.start()
    wait_until(lambda: counts() == (1, 1, 0), 10, "the BLPOP to block")
    admin.xadd("s", {"k": "v"}, id="666-0")
    admin.xgroup_create("s", "g", id="$")
    consumer = client(leader, 2)
    _later(lambda: admin.xadd("s", {"k": "new"}, id="667-0"), 0.5)
    got = raw(consumer, "XREADGROUP", "GROUP", "g", "c", "BLOCK", 10_000, "STREAMS", "s", ">")
    assert _entries_of(got, b"s") == [[b"667-0", [b"k", b"new"]]]
    lister.connection_pool.disconnect()   # the blocked BLPOP client hangs up
    wait_until(lambda: counts() == (0, 0, 0), 10, "nothing blocked")
    popper.join(10)


def _swallow(action):
    """Run a blocked call whose connection the test cuts (redis-py may resend it: WRONGTYPE then)."""
    try:
        action()
    except redis.RedisError:
        pass
