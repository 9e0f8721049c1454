"""LMPOP / ZMPOP and the blocking pops through redis-py, RESP2 and RESP3, against
real nodes.

Blocking pops are served by the node the client is connected to: it waits for its
own applied index and proposes the ordinary pop (node/frontends/resp_blocking.py).
So a client blocked on a follower must be woken by a push made through another
node, time out with a nil reply, get WRONGTYPE for a key of another type, and
never take an element once it has disconnected. Replies and error texts are
Redis 7's (check with RAFTCACHE_COMPARE_REDIS=host:port, tests/integration/redis_helpers.py).
"""

from __future__ import annotations

import concurrent.futures
import socket

import pytest

from tests.integration.redis_helpers import (
    WRONGTYPE,
    client,
    error,
    leader_and_follower,
    raw,
)


@pytest.fixture
def pool():
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        yield ex


def _blocked(future, seconds: float = 0.3) -> bool:
    """True while `future` has not returned after `seconds` (the call is blocked)."""
    try:
        future.result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        return True
    return False


def _score(reply):
    return float(reply)  # bytes in RESP2, a double in RESP3


def test_lmpop_and_zmpop(cluster, protocol):
    r = client(cluster.leader(), protocol)
    assert raw(r, "LMPOP", "2", "l1", "l2", "LEFT") is None
    r.rpush("l2", "a", "b", "c")
    assert raw(r, "LMPOP", "2", "l1", "l2", "LEFT", "COUNT", "2") == [b"l2", [b"a", b"b"]]
    assert raw(r, "LMPOP", "1", "l2", "RIGHT", "COUNT", "9") == [b"l2", [b"c"]]
    assert r.exists("l2") == 0
    r.zadd("z", {"a": 1, "b": 2.5, "c": 3})
    reply = raw(r, "ZMPOP", "2", "none", "z", "MAX", "COUNT", "2")
    assert reply[0] == b"z" and [(m, _score(s)) for m, s in reply[1]] == [(b"c", 3.0), (b"b", 2.5)]
    reply = raw(r, "ZMPOP", "1", "z", "MIN")
    assert reply[0] == b"z" and [(m, _score(s)) for m, s in reply[1]] == [(b"a", 1.0)]
    assert raw(r, "ZMPOP", "1", "z", "MIN") is None
    r.set("s", "x")
    assert error(r, "LMPOP", "1", "s", "LEFT") == WRONGTYPE
    assert error(r, "ZMPOP", "1", "s", "MIN") == WRONGTYPE
    assert error(r, "LMPOP", "0", "l", "LEFT") == "numkeys should be greater than 0"
    assert error(r, "ZMPOP", "1", "z", "MIN", "COUNT", "0") == "count should be greater than 0"
    assert error(r, "LMPOP", "1", "l", "MIDDLE") == "syntax error"
    assert error(r, "BLMPOP", "0", "1", "l", "LEFT", "COUNT", "-1") == "count should be greater than 0"


def test_zrank_withscore_missing_member_is_nil(cluster, protocol):
    """WITHSCORE is Redis 7.2's: comparing needs a 7.2 server (the suite in /tmp/redis-tests pins it)."""
    r = client(cluster.leader(), protocol)
    r.zadd("z", {"a": 1})
    assert raw(r, "ZRANK", "z", "nope", "WITHSCORE") is None
    assert raw(r, "ZREVRANK", "z", "a", "WITHSCORE")[0] == 0


@pytest.mark.parametrize("command, key_type", [
    (["BLPOP", "k", "5"], "list"),
    (["BLMPOP", "5", "2", "other", "k", "RIGHT", "COUNT", "2"], "list"),
    (["BZPOPMIN", "other", "k", "5"], "zset"),
    (["BZMPOP", "5", "1", "k", "MAX", "COUNT", "5"], "zset"),
])
def test_blocked_on_a_follower_served_by_a_push_through_another_node(cluster, protocol, pool, command, key_type):
    leader, follower = leader_and_follower(cluster)
    waiting = pool.submit(raw, client(follower, protocol), *command)
    assert _blocked(waiting)
    pusher = client(leader, protocol)
    if key_type == "list":
        pusher.rpush("k", "a", "b", "c")
    else:
        pusher.zadd("k", {"a": 1, "b": 2})
    reply = waiting.result(timeout=10)
    expected = {
        "BLPOP": [b"k", b"a"],
        "BLMPOP": [b"k", [b"c", b"b"]],
        "BZPOPMIN": [b"k", b"a", 1.0],
        "BZMPOP": [b"k", [[b"b", 2.0], [b"a", 1.0]]],
    }[command[0]]
    if command[0] == "BZPOPMIN":
        reply = [reply[0], reply[1], _score(reply[2])]
    elif command[0] == "BZMPOP":
        reply = [reply[0], [[m, _score(s)] for m, s in reply[1]]]
    assert reply == expected


@pytest.mark.parametrize("command", [
    ["BLPOP", "k1", "k2", "0.1"], ["BRPOP", "k1", "0.1"], ["BLMPOP", "0.1", "1", "k1", "LEFT"],
    ["BZPOPMIN", "k1", "0.1"], ["BZPOPMAX", "k1", "0.1"], ["BZMPOP", "0.1", "2", "k1", "k2", "MIN"],
    ["BLMOVE", "k1", "k2", "LEFT", "RIGHT", "0.1"], ["BRPOPLPUSH", "k1", "k2", "0.1"],
])
def test_blocking_times_out_with_nil(cluster, protocol, command):
    _, follower = leader_and_follower(cluster)
    assert raw(client(follower, protocol), *command) is None


def test_blocking_errors(cluster, protocol):
    r = client(cluster.leader(), protocol)
    r.set("s", "x")
    r.rpush("l", "v")
    for command in (["BLPOP", "s", "1"], ["BLMPOP", "1", "1", "s", "LEFT"], ["BZPOPMIN", "s", "1"],
                    ["BZMPOP", "1", "1", "l", "MIN"], ["BLMOVE", "s", "d", "LEFT", "LEFT", "1"]):
        assert error(r, *command) == WRONGTYPE, command
    for command in (["BLPOP", "l", "-1"], ["BZPOPMAX", "z", "-0.5"], ["BLMPOP", "-1", "1", "l", "LEFT"]):
        assert error(r, *command) == "timeout is negative", command
    for command in (["BLPOP", "l", "abc"], ["BZMPOP", "x", "1", "z", "MIN"], ["BRPOPLPUSH", "l", "d", "nan"]):
        assert error(r, *command) == "timeout is not a float or out of range", command
    assert error(r, "BLMPOP", "1", "0", "l", "LEFT") == "numkeys should be greater than 0"
    assert error(r, "BZMPOP", "1", "1", "z", "UP") == "syntax error"


def test_blocking_pops_inside_multi_do_not_block(cluster):
    r = client(cluster.leader(), 2)
    r.rpush("ml", "a", "b")
    r.zadd("mz", {"x": 1})
    pipe = r.pipeline(transaction=True)
    pipe.execute_command("BLPOP", "empty", "ml", "0")
    pipe.execute_command("BLMPOP", "0", "1", "ml", "RIGHT")
    pipe.execute_command("BZPOPMIN", "mz", "0")
    pipe.execute_command("BLPOP", "empty", "0")          # every key empty: nil at once, no waiting
    pipe.execute_command("BRPOPLPUSH", "empty", "dst", "0")
    # exactly what redis-server 7 gives redis-py for the same transaction
    assert pipe.execute() == [(b"ml", b"a"), [b"ml", [b"b"]], (b"mz", b"x", 1.0), None, None]


def test_a_disconnected_blocked_client_takes_nothing(cluster, pool):
    _, follower = leader_and_follower(cluster)
    host, port = follower.redis_address
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"*3\r\n$5\r\nBLPOP\r\n$4\r\ngone\r\n$1\r\n0\r\n")
    r = client(follower, 2)
    r.rpush("gone", "only")
    # The gone client blocked first; the element must still be there for this one.
    assert raw(r, "BLPOP", "gone", "5") == [b"gone", b"only"]


def test_client_unblock_ends_a_wait_as_a_timeout_or_an_error(cluster, pool):
    leader, _ = leader_and_follower(cluster)
    admin = client(leader, 2)
    for mode, expect in ((b"TIMEOUT", None), (b"ERROR", "UNBLOCKED")):
        blocked = client(leader, 2)
        blocked_id = raw(blocked, "CLIENT", "ID")
        waiting = pool.submit(raw, blocked, "BLPOP", "never", "0")
        assert _blocked(waiting)
        assert raw(admin, "CLIENT", "UNBLOCK", blocked_id, mode) == 1
        if expect is None:
            assert waiting.result(timeout=10) is None
        else:
            with pytest.raises(Exception, match="UNBLOCKED client unblocked via CLIENT UNBLOCK"):
                waiting.result(timeout=10)
    assert raw(admin, "CLIENT", "UNBLOCK", raw(admin, "CLIENT", "ID")) == 0  # not blocked
    assert error(admin, "CLIENT", "UNBLOCK", "1", "LATER") == "CLIENT UNBLOCK reason should be TIMEOUT or ERROR"


def test_first_blocked_client_is_served_first_even_against_a_pipelined_pop(cluster, pool):
    # Redis's "Unblock fairness is kept while pipelining": LPUSH then BLPOP in one pipeline
    # must not take the element from the client that was already waiting on this node.
    leader, _ = leader_and_follower(cluster)
    first = pool.submit(raw, client(leader, 2), "BLPOP", "fair", "0")
    assert _blocked(first)
    with socket.create_connection(leader.redis_address, timeout=10) as s:
        s.sendall(b"*3\r\n$5\r\nLPUSH\r\n$4\r\nfair\r\n$1\r\n1\r\n*3\r\n$5\r\nBLPOP\r\n$4\r\nfair\r\n$1\r\n0\r\n")
        assert first.result(timeout=10) == [b"fair", b"1"]
        assert s.recv(100) == b":1\r\n"                # the LPUSH; its BLPOP now waits in line
        client(leader, 2).rpush("fair", "2")
        reply = b""
        while not reply.endswith(b"2\r\n"):
            reply += s.recv(100)
        assert reply == b"*2\r\n$4\r\nfair\r\n$1\r\n2\r\n"
