"""Client buffers are bounded, per connection and per node (hostile clients).

Every test talks to real node processes (raw sockets, redis-py, pymemcache,
grpc), checks the node's resident memory (VmRSS) stays bounded, and that the
node keeps serving another client meanwhile. Limits: node/frontends/client_limits.py,
docs/redis-compat.md "Client buffers", docs/memcached-compat.md "Limits and bad input".
"""

from __future__ import annotations

import socket
import time

import pytest

from raftcache.localcluster import wait_until
from tests.cluster import rss_bytes
from tests.integration.redis_helpers import client

MiB = 1 << 20


def _raw(node, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connect, so the window stays small
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(node.redis_address)
    return s


def _read_until_closed(s: socket.socket, timeout_s: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (raises on the deadline)."""
    s.settimeout(timeout_s)
    out = bytearray()
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return bytes(out)
        if not chunk:
            return bytes(out)
        out += chunk


def _info_stat(r, name: str) -> int:
    return int(r.info("stats")[name])


@pytest.fixture
def leader(cluster):
    return cluster.leader()


@pytest.fixture
def r(leader):
    rc = client(leader, 2)
    yield rc
    # back to the defaults for the next tests (CONFIG SET is cluster-wide and survives)
    rc.config_set("client-query-buffer-limit", "1gb")
    rc.config_set("client-output-buffer-limit", "normal 0 0 0")
    rc.config_set("maxmemory-clients", "25%")
    rc.close()


# ---------------------------------------------------------------- Redis: query buffer


@pytest.mark.parametrize("request_bytes, error", [
    (b"*1\r\n$2000000000\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*2000000000\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
])
def test_a_declared_size_over_the_limits_is_refused_at_once(leader, r, request_bytes, error):
    s = _raw(leader)
    started = time.monotonic()
    s.sendall(request_bytes)
    assert _read_until_closed(s) == error
    assert time.monotonic() - started < 2.0
    s.close()
    assert r.ping()


def test_an_unfinished_command_past_the_query_buffer_limit_is_disconnected(leader, r):
    r.config_set("client-query-buffer-limit", "1mb")
    assert r.config_get("client-query-buffer-limit") == {"client-query-buffer-limit": str(MiB)}
    before = _info_stat(r, "client_query_buffer_limit_disconnections")
    s = _raw(leader)
    # one 60 MB value declared (under proto-max-bulk-len), 4 MiB of it sent, never finished
    s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$60000000\r\n")
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        for _ in range(64):
            s.sendall(b"x" * (64 << 10))
        assert _read_until_closed(s) == b""   # closed without a reply, as Redis does
        raise ConnectionResetError
    s.close()
    assert _info_stat(r, "client_query_buffer_limit_disconnections") == before + 1
    assert r.exists("big") == 0
    assert r.set("small", "v") and r.get("small") == b"v"


def test_the_query_buffer_limit_is_capped_by_the_value_limit(leader, r):
    """Under the default 1gb, many 60 MB arguments of one command: cut at 2 * 64 MiB + 1 MiB."""
    rss_before = rss_bytes(leader)
    s = _raw(leader)
    s.sendall(b"*21\r\n$4\r\nMSET\r\n")
    chunk = b"$60000000\r\n" + b"v" * 60_000_000 + b"\r\n"
    sent = 0
    try:
        for i in range(10):
            s.sendall(b"$2\r\nk%d\r\n" % i + chunk)
            sent += len(chunk)
    except (ConnectionResetError, BrokenPipeError):
        pass
    assert sent <= 3 * 60_000_000, "the node kept reading past the cap"
    _read_until_closed(s)
    s.close()
    grown = rss_bytes(leader) - rss_before
    print(f"RSS growth after a capped unfinished MSET: {grown / MiB:.0f} MiB")
    assert grown < 400 * MiB
    assert r.ping()


# ---------------------------------------------------------------- Redis: output buffer


def _pipeline_gets(s: socket.socket, key: bytes, n: int) -> None:
    s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key) * n)


def test_a_client_that_does_not_read_is_disconnected_at_the_output_hard_limit(leader, r):
    r.config_set("client-output-buffer-limit", "normal 10mb 5mb 10")
    assert r.config_get("client-output-buffer-limit")["client-output-buffer-limit"].startswith(
        "normal 10485760 5242880 10 slave")
    r.set("onemb", b"v" * MiB)
    before = _info_stat(r, "client_output_buffer_limit_disconnections")
    rss_before = rss_bytes(leader)
    s = _raw(leader, rcvbuf=4096)
    _pipeline_gets(s, b"onemb", 200)   # 200 MB of replies, never read
    wait_until(lambda: _info_stat(r, "client_output_buffer_limit_disconnections") == before + 1, 5.0,
               "the non-reading client to be disconnected")
    grown = rss_bytes(leader) - rss_before
    print(f"RSS growth with a non-reading client, hard limit 10mb: {grown / MiB:.0f} MiB")
    assert grown < 100 * MiB
    assert r.get("onemb") == b"v" * MiB   # others are served meanwhile
    s.close()


def test_the_output_soft_limit_disconnects_after_its_seconds(leader, r):
    r.config_set("client-output-buffer-limit", "normal 0 2mb 1")
    r.set("onemb", b"v" * MiB)
    before = _info_stat(r, "client_output_buffer_limit_disconnections")
    s = _raw(leader, rcvbuf=4096)
    _pipeline_gets(s, b"onemb", 50)
    started = time.monotonic()
    wait_until(lambda: _info_stat(r, "client_output_buffer_limit_disconnections") == before + 1, 5.0,
               "the client over the soft limit to be disconnected")
    assert time.monotonic() - started >= 1.0
    s.close()


def test_under_the_default_limits_a_non_reading_client_is_held_by_back_pressure(leader, r):
    """`normal 0 0 0` (unlimited, as Redis): the client stays connected, the node stops reading it."""
    assert r.config_get("client-output-buffer-limit")["client-output-buffer-limit"].startswith("normal 0 0 0 ")
    r.set("onemb", b"v" * MiB)
    rss_before = rss_bytes(leader)
    s = _raw(leader, rcvbuf=4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    _pipeline_gets(s, b"onemb", 2000)   # 2 GB of replies had they all been produced

    def held():
        mine = [c for c in r.client_list() if int(c["omem"]) > 0]
        return mine and int(mine[0]["omem"]) >= MiB

    wait_until(held, 5.0, "the node to hold the client's unread replies")
    for _ in range(3):  # the node stays bounded while the client stays stuck
        assert r.get("onemb") == b"v" * MiB
        grown = rss_bytes(leader) - rss_before
        assert grown < 100 * MiB
    mine = [c for c in r.client_list() if int(c["omem"]) > 0]
    print(f"RSS growth with a non-reading client, default limits: {grown / MiB:.0f} MiB; "
          f"omem={mine[0]['omem']} tot-mem={mine[0]['tot-mem']}")
    # at most one settled run of reads (resp._MAX_READS_IN_FLIGHT = 32 replies of 1 MB) over the 1 MiB mark
    assert int(mine[0]["tot-mem"]) < 40 * MiB
    s.close()


def test_maxmemory_clients_disconnects_the_biggest_clients(leader, r):
    r.config_set("client-query-buffer-limit", "1mb")
    r.config_set("maxmemory-clients", "3mb")   # the floor is then 1 MiB + 1 MiB
    wait_until(lambda: int(r.info("memory")["maxmemory_clients"]) == 3 * MiB, 2.0, "the new limit")
    before = _info_stat(r, "evicted_clients")
    socks = []
    for i in range(6):  # each holds 900 KB of an unfinished command: 5.4 MB together
        s = _raw(leader)
        s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n" + b"x" * (900_000 + i * 1000))
        socks.append(s)
    wait_until(lambda: _info_stat(r, "evicted_clients") >= before + 3, 5.0, "the biggest clients to be evicted")
    assert int(r.info("memory")["mem_clients_normal"]) <= 3 * MiB
    # the biggest ones went first
    alive = []
    for i, s in enumerate(socks):
        s.settimeout(0.2)
        try:
            alive.append(s.recv(1) == b"" and False)
        except (TimeoutError, socket.timeout):
            alive.append(True)
        except ConnectionResetError:
            alive.append(False)
        s.close()
    assert alive[:3] == [True, True, True] and not any(alive[3:])
    assert r.ping()


# ---------------------------------------------------------------- memcached


def _memcache(node, timeout: float = 10, **kwargs):
    from pymemcache.client.base import Client

    return Client(node.memcached_address, connect_timeout=5, timeout=timeout, **kwargs)


def test_a_memcached_get_of_100000_keys_is_refused_quickly_while_others_are_served(cluster):
    from pymemcache.exceptions import MemcacheClientError

    from raftcache.node.frontends.memcache import GET_MAX_KEYS

    follower = cluster.followers()[0]
    other = _memcache(follower)
    assert other.set("present", b"v", noreply=False)
    rss_before = rss_bytes(follower)
    # its largest allowed get below reads 10,000 keys, all but one missing: nothing comes
    # back before the END line, which a busy machine may take more than 10 s to reach
    hostile = _memcache(follower, timeout=60)
    keys = [f"k{i}" for i in range(100_000)]
    started = time.monotonic()
    with pytest.raises(MemcacheClientError, match=f"too many keys in one request \\(at most {GET_MAX_KEYS}\\)"):
        hostile.get_many(keys)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert other.get("present") == b"v"
    # the connection goes on; the largest allowed get is streamed
    got = hostile.get_many(["present"] + keys[:GET_MAX_KEYS - 1])
    assert got == {"present": b"v"}
    grown = rss_bytes(follower) - rss_before
    print(f"memcached: 100,000-key get refused in {elapsed * 1000:.0f} ms; RSS growth {grown / MiB:.0f} MiB")
    assert grown < 100 * MiB
    hostile.close()
    other.close()


def test_a_memcached_get_line_over_one_mib_gets_an_error_and_is_closed(cluster):
    leader = cluster.leader()
    s = socket.create_connection(leader.memcached_address, timeout=10)
    s.sendall(b"get " + b"k " * ((1 << 20) // 2 + 1))
    assert _read_until_closed(s) == b"CLIENT_ERROR line too long\r\n"
    s.close()


def test_a_memcached_get_of_many_large_values_is_streamed(cluster):
    """Replies are written as they are produced: a client that does not read holds the node's memory at
    about one chunk of keys, not the whole reply (here 400 x 1 MB)."""
    leader = cluster.leader()
    mc = _memcache(leader)
    assert mc.set("big", b"v" * (1000 * 1000), noreply=False)
    rss_before = rss_bytes(leader)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(leader.memcached_address)
    s.sendall(b"get " + b" ".join([b"big"] * 400) + b"\r\n")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:   # the node is given time to (wrongly) build the whole reply
        assert mc.get("big") == b"v" * (1000 * 1000)
    grown = rss_bytes(leader) - rss_before
    print(f"memcached: a non-reading client's 400 MB get: RSS growth {grown / MiB:.0f} MiB")
    assert grown < 150 * MiB
    s.close()
    mc.close()


# ---------------------------------------------------------------- gRPC


def test_a_grpc_message_over_the_value_limit_is_refused_with_resource_exhausted(cluster):
    """grpc refuses it (limit: value limit + 1 MiB). grpcio's CHTTP2 transport checks the limit only
    once the whole message arrived (grpc/grpc#43012): the node holds the message while it arrives,
    then frees it; it must not keep or multiply it (a 1 GiB limit let one 900 MiB call take 3.7 GB)."""
    import grpc

    from raftcache.proto import cache_pb2
    from raftcache.proto import commands_pb2 as pb

    leader = cluster.leader()
    rss_before = rss_bytes(leader)
    value = b"v" * (100 * MiB + 1)
    request = cache_pb2.Request(command=pb.Command(set=pb.Set(key=b"huge", value=value)))
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as refused:
        cluster.cache(leader).Execute(request, timeout=30)
    elapsed = time.monotonic() - started
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
    grown = rss_bytes(leader) - rss_before
    print(f"gRPC: a 100 MiB request refused in {elapsed * 1000:.0f} ms ({refused.value.details()}); "
          f"RSS growth {grown / MiB:.0f} MiB")
    for _ in range(3):  # again: the node does not accumulate them
        with pytest.raises(grpc.RpcError):
            cluster.cache(leader).Execute(request, timeout=30)
    grown_again = rss_bytes(leader) - rss_before
    print(f"gRPC: RSS growth after 4 refused requests: {grown_again / MiB:.0f} MiB")
    assert grown < 150 * MiB and grown_again < grown + 50 * MiB
    ok = cluster.execute(leader, pb.Command(set=pb.Set(key=b"small", value=b"v")))
    assert not ok.HasField("error") if hasattr(ok, "error") else True
    got = cluster.execute(leader, pb.Command(get=pb.Get(key=b"small")))
    assert b"v" in got.SerializeToString()


def test_a_follower_forwards_a_pipeline_larger_than_one_message_in_parts(cluster):
    """Forwarded batches are split to fit the leader's request limit (value limit + 1 MiB)."""
    follower = cluster.followers()[0]
    mc = _memcache(follower)
    value = b"w" * (1000 * 1000)
    s = socket.create_connection(follower.memcached_address, timeout=20)
    s.sendall(b"".join(b"set p%d 0 0 %d\r\n%s\r\n" % (i, len(value), value) for i in range(100)))
    expected = b"STORED\r\n" * 100
    got = b""
    while len(got) < len(expected):
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    assert got == expected
    s.close()
    assert mc.get("p99") == value and mc.get("p0") == value
    mc.close()
