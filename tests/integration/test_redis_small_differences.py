"""The small differences tools trip on (issue 22, item 4), through redis-py and raw
sockets on real nodes: INFO's Cluster section, CLIENT REPLY, every CLIENT KILL
filter, CLIENT PAUSE/UNPAUSE, COMMAND coverage, BITFIELD reading past the end,
MULTI's refusals and CONFIG SET queued, ROLE, LOLWUT and one Redis version."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from raftcache.node.frontends.resp_table import TABLE
from raftcache.localcluster import wait_until
from tests.integration.redis_helpers import client, error, leader_and_follower, raw



def _raw_socket(node) -> socket.socket:
    return socket.create_connection(node.redis_address, timeout=10)


def _send(sock: socket.socket, *commands) -> None:
    data = b""
    for args in commands:
        data += b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(str(a)), str(a).encode()) for a in args)
    sock.sendall(data)


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    out = b""
    while not out.endswith(end):
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


def _as_dict(reply) -> dict:
    """A map reply as a dict, whichever protocol carried it."""
    return reply if isinstance(reply, dict) else dict(zip(reply[0::2], reply[1::2]))


def test_info_has_a_cluster_section(r):
    assert r.info("cluster") == {"cluster_enabled": 0}
    assert "cluster_enabled" in r.info()


def test_one_redis_version_everywhere(r):
    version = r.info("server")["redis_version"]
    assert version.startswith("7.2")
    hello = raw(r, "HELLO", "2")
    assert dict(zip(hello[0::2], hello[1::2]))[b"version"] == version.encode()
    assert raw(r, "LOLWUT").endswith(f"Redis ver. {version}\n".encode())
    assert raw(r, "LOLWUT", "VERSION", "5").endswith(f"Redis ver. {version}\n".encode())


def test_client_reply_off_skip_on(cluster):
    sock = _raw_socket(cluster.leader())
    with sock:
        _send(sock, ["CLIENT", "REPLY", "OFF"], ["SET", "a", "1"], ["GET", "a"], ["CLIENT", "REPLY", "SKIP"],
              ["CLIENT", "REPLY", "ON"], ["GET", "a"], ["CLIENT", "REPLY", "SKIP"], ["GET", "a"], ["PING", "last"])
        assert _read_until(sock, b"$4\r\nlast\r\n") == b"+OK\r\n$1\r\n1\r\n$4\r\nlast\r\n"


def test_client_reply_off_still_sends_pubsub_pushes(cluster, r):
    """As Redis 7.2+: pub/sub confirmations and messages bypass CLIENT REPLY OFF and SKIP."""
    sock = _raw_socket(cluster.leader())
    with sock:
        _send(sock, ["HELLO", "3"])
        _read_until(sock, b"modules\r\n*0\r\n")
        _send(sock, ["CLIENT", "REPLY", "OFF"], ["SUBSCRIBE", "ch"], ["PSUBSCRIBE", "c*"])
        assert _read_until(sock, b"$2\r\nc*\r\n:2\r\n") == (
            b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n>3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:2\r\n")
        assert r.publish("ch", "hi") == 2
        assert _read_until(sock, b"$2\r\nhi\r\n>4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n") \
            == b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n>4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        _send(sock, ["PING", "muted"], ["UNSUBSCRIBE", "ch"])
        assert _read_until(sock, b"$2\r\nch\r\n:1\r\n") == b">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:1\r\n"
    sock = _raw_socket(cluster.leader())
    with sock:   # RESP2: the confirmations too, as Redis 7.2+
        _send(sock, ["CLIENT", "REPLY", "SKIP"], ["PSUBSCRIBE", "c*"])
        assert _read_until(sock, b":1\r\n") == b"*3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:1\r\n"


def test_client_kill_filters(cluster, r):
    leader = cluster.leader()
    victims = [client(leader, 2) for _ in range(3)]
    ids = [v.client_id() for v in victims]
    assert r.client_kill_filter(_id=ids[0]) == 1
    assert error(r, "CLIENT", "KILL", "ID", "0") == "client-id should be greater than 0"
    assert error(r, "CLIENT", "KILL", "TYPE", "bogus") == "Unknown client type 'bogus'"
    assert error(r, "CLIENT", "KILL", "USER", "nobody") == "No such user 'nobody'"
    assert error(r, "CLIENT", "KILL", "MAXAGE", "0") == "maxage should be greater than 0"
    assert error(r, "CLIENT", "KILL", "SKIPME", "maybe") == "syntax error"
    assert error(r, "CLIENT", "KILL", "ADDR", "x", "SKIPME") == "syntax error"
    assert error(r, "CLIENT", "KILL", "1.2.3.4:5") == "No such client"
    assert r.execute_command("CLIENT", "KILL", "TYPE", "master") == 0
    info = victims[1].client_info()
    assert r.execute_command("CLIENT", "KILL", "ADDR", info["addr"], "LADDR", info["laddr"]) == 1
    assert r.execute_command("CLIENT", "KILL", "ID", ids[2], "USER", "default", "TYPE", "normal") == 1
    assert r.execute_command("CLIENT", "KILL", "MAXAGE", 100000) == 0
    assert r.ping()   # SKIPME yes is the default
    listed = raw(r, "CLIENT", "LIST").decode()
    assert not any(f"id={i} " in listed for i in ids)


def test_client_pause_write_and_all(cluster, r):
    leader = cluster.leader()
    other = client(leader, 2)
    r.set("k", "v")
    try:
        assert r.execute_command("CLIENT", "PAUSE", 100000, "WRITE") in (b"OK", "OK", True)
        assert other.get("k") == b"v"   # reads go on
        done = []
        writer = threading.Thread(target=lambda: done.append(other.set("k", "w")))
        writer.start()
        wait_until(lambda: r.info("clients")["blocked_clients"] >= 1, 10, "the write to be held")
        assert not done
        assert r.execute_command("CLIENT", "UNPAUSE") in (b"OK", "OK", True)
        writer.join(10)
        assert done == [True] and r.get("k") == b"w"
        started = time.monotonic()
        r.execute_command("CLIENT", "PAUSE", 300, "ALL")
        assert other.get("k") == b"w" and time.monotonic() - started >= 0.25   # even reads wait
        assert error(r, "CLIENT", "PAUSE", 10, "SOME") == "CLIENT PAUSE mode must be WRITE or ALL"
        assert error(r, "CLIENT", "PAUSE", -1) == "timeout is negative"
        assert error(r, "CLIENT", "PAUSE", "x") == "timeout is not an integer or out of range"
    finally:
        r.execute_command("CLIENT", "UNPAUSE")


def test_command_covers_every_command_with_redis_metadata(r):
    names = {n.decode() for n in TABLE}
    assert r.command_count() == len(names)
    listed = {n.decode() for n in raw(r, "COMMAND", "LIST")}
    assert names <= listed and "client|kill" in listed and "memory|stats" in listed and "memory|malloc-stats" not in listed
    infos = raw(r, "COMMAND", "INFO", *sorted(names))
    assert all(info is not None for info in infos)
    get = raw(r, "COMMAND", "INFO", "get")[0]
    assert get[:6] == [b"get", 2, [b"readonly", b"fast"], 1, 1, 1] and b"@string" in get[6]
    assert get[8] and raw(r, "COMMAND", "INFO", "nosuch") == [None]
    geo = raw(r, "COMMAND", "INFO", "georadius")[0]
    assert b"movablekeys" in geo[2] and b"@geo" in geo[6]
    docs = _as_dict(_as_dict(raw(r, "COMMAND", "DOCS", "pfadd"))[b"pfadd"])
    assert docs[b"summary"] and docs[b"group"] == b"hyperloglog" and docs[b"since"] == b"2.8.9"
    assert set(raw(r, "COMMAND", "LIST", "FILTERBY", "ACLCAT", "hyperloglog")) >= {b"pfadd", b"pfcount"}
    assert raw(r, "COMMAND", "LIST", "FILTERBY", "PATTERN", "geo*")[0].startswith(b"geo")
    assert raw(r, "COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2") == [b"a", b"b"]
    assert raw(r, "COMMAND", "GETKEYS", "ZUNIONSTORE", "d", 2, "a", "b") == [b"d", b"a", b"b"]
    assert raw(r, "COMMAND", "GETKEYS", "XREAD", "COUNT", 1, "STREAMS", "s1", "s2", 0, 0) == [b"s1", b"s2"]


def test_command_info_is_redis_own(r, real_redis, protocol):
    real = real_redis.info("server")["redis_version"]
    if not real.startswith("7.2"):
        pytest.skip(f"the installed redis-server is {real}; the table follows 7.2")
    kwargs = real_redis.connection_pool.connection_kwargs
    real_redis = redis.Redis(host=kwargs["host"], port=kwargs["port"], protocol=protocol)
    for name in ("get", "set", "geosearch", "pfcount", "zadd", "lmpop", "bitfield_ro"):
        assert raw(r, "COMMAND", "INFO", name) == raw(real_redis, "COMMAND", "INFO", name), name
        assert raw(r, "COMMAND", "DOCS", name) == raw(real_redis, "COMMAND", "DOCS", name), name


def test_bitfield_reads_past_what_it_wrote(r):
    assert r.execute_command("BITFIELD", "k", "SET", "u8", 8, 255, "GET", "u4", 13) == [0, 14]
    assert r.execute_command("BITFIELD_RO", "k", "GET", "u4", 13) == [14]


def test_multi_refuses_what_redis_refuses_and_queues_config_set(cluster):
    sock = _raw_socket(cluster.leader())
    with sock:
        _send(sock, ["MULTI"], ["SAVE"], ["EXEC"], ["MULTI"], ["CONFIG", "SET", "maxmemory-policy", "volatile-lru"],
              ["CLIENT", "SETNAME", "tx"], ["SET", "k", "1"], ["CONFIG", "GET", "maxmemory-policy"], ["EXEC"],
              ["CLIENT", "GETNAME"], ["PING", "last"])
        out = _read_until(sock, b"$4\r\nlast\r\n")
    assert out == (b"+OK\r\n-ERR Command not allowed inside a transaction\r\n"
                   b"-EXECABORT Transaction discarded because of previous errors.\r\n"
                   b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
                   b"*4\r\n+OK\r\n+OK\r\n+OK\r\n*2\r\n$16\r\nmaxmemory-policy\r\n$12\r\nvolatile-lru\r\n"
                   b"$2\r\ntx\r\n$4\r\nlast\r\n")


def test_role(cluster, protocol):
    leader, follower = leader_and_follower(cluster)
    role = raw(client(leader, protocol), "ROLE")
    assert role[0] == b"master" and len(role[2]) == len(cluster.nodes) - 1
    assert all(int(port) > 0 for _, port, _ in role[2])
    role = raw(client(follower, protocol), "ROLE")
    assert role[0] == b"slave" and role[2] == leader.redis_address[1] and role[3] == b"connected"
