"""The memcached port of real node processes, driven with pymemcache and raw sockets.

Every command and noreply, CAS across nodes (gets on one node, cas through
another), memcached's expiry rules, the meta protocol's flags, hostile input
after which the node still serves and stored data is unchanged, and a zone
kill that loses no stored item.
"""

from __future__ import annotations

import base64
import random
import socket
import time

import pytest
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
from pymemcache.exceptions import MemcacheClientError, MemcacheServerError

from raftcache.proto import commands_pb2 as pb
from raftcache.localcluster import wait_until

def client(node, **kw) -> Client:
    """A pymemcache client that waits for every reply (pymemcache's default is noreply)."""
    kw.setdefault("default_noreply", False)
    return Client(node.memcached_address, connect_timeout=5, timeout=10, **kw)


class Raw:
    """A raw socket speaking bytes; `ask` sends and reads until the reply ends with `until`."""

    def __init__(self, node, timeout_s: float = 10.0):
        self.sock = socket.create_connection(node.memcached_address, timeout=timeout_s)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, end: bytes) -> bytes:
        while not self.buf.endswith(end):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; got {self.buf!r}")
            self.buf += chunk
        out, self.buf = self.buf, b""
        return out

    def ask(self, data: bytes, until: bytes = b"\r\n") -> bytes:
        self.send(data)
        return self.read_until(until)

    def close(self) -> None:
        self.sock.close()


# ------------------------------------------------------------------ everyday use

def test_every_text_command_with_pymemcache(cluster):
    leader = cluster.leader()
    follower = cluster.followers()[0]
    for node in (leader, follower):
        c = client(node)
        p = node.id.encode()
        assert c.set(p + b"a", b"1") is True
        assert c.get(p + b"a") == b"1"
        assert c.add(p + b"a", b"2") is False
        assert c.add(p + b"b", b"2") is True
        assert c.replace(p + b"nope", b"x") is False
        assert c.replace(p + b"b", b"3") is True
        assert c.append(p + b"b", b">") is True
        assert c.prepend(p + b"b", b"<") is True
        assert c.get(p + b"b") == b"<3>"
        assert c.get_many([p + b"a", p + b"b", p + b"missing"]) == {p + b"a": b"1", p + b"b": b"<3>"}
        assert c.incr(p + b"a", 41) == 42
        assert c.decr(p + b"a", 50) == 0
        assert c.incr(p + b"nope", 1) is None
        value, cas = c.gets(p + b"a")
        assert value == b"0" and int(cas) > 0
        assert c.cas(p + b"a", b"cas", cas) is True
        assert c.cas(p + b"a", b"again", cas) is False
        assert c.touch(p + b"a", 100) is True
        assert c.touch(p + b"nope", 100) is False
        raw = Raw(node)                                 # pymemcache 4 has no gat/gats
        assert raw.ask(b"gat 100 %sa\r\n" % p, b"END\r\n") == b"VALUE %sa 0 3\r\ncas\r\nEND\r\n" % p
        assert raw.ask(b"gats 0 %sa\r\n" % p, b"END\r\n").startswith(b"VALUE %sa 0 3 " % p)
        assert c.delete(p + b"a") is True
        assert c.delete(p + b"a", noreply=False) is False
        assert c.version().startswith(b"1.6")
        stats = c.stats()
        assert b"curr_connections" in stats and b"pid" in stats
        assert b"item_size_max" in c.stats("settings")
        c.close()


def test_noreply_then_read_back(cluster):
    c = client(cluster.followers()[0], default_noreply=True)
    for i in range(50):
        c.set(b"nr%d" % i, b"%d" % i)
    c.add(b"nr0", b"not-stored")
    c.delete(b"nr1")
    c.incr(b"nr2", 10)
    reader = client(cluster.leader())
    wait_until(lambda: reader.get(b"nr49") == b"49", 10, "noreply writes to land")
    assert reader.get(b"nr0") == b"0" and reader.get(b"nr1") is None and reader.get(b"nr2") == b"12"


def test_hash_client_over_every_node(cluster):
    hc = HashClient([n.memcached_address for n in cluster.nodes], connect_timeout=5, timeout=10,
                    default_noreply=False)
    items = {f"hk{i}".encode(): f"v{i}".encode() for i in range(100)}
    assert hc.set_many(items) == []
    assert hc.get_many(list(items)) == items
    # every node serves every key: the keyspace is shared, not sharded
    for node in cluster.nodes:
        assert client(node).get_many(list(items)[:10]) == dict(list(items.items())[:10])


def test_cas_across_nodes(cluster):
    a, b = client(cluster.nodes[0]), client(cluster.nodes[1])
    a.set(b"shared", b"v1")
    _, cas = a.gets(b"shared")
    assert b.cas(b"shared", b"v2", cas) is True        # another node accepts the unique
    assert a.cas(b"shared", b"v3", cas) is False       # and it is spent everywhere
    assert b.gets(b"shared")[1] == client(cluster.nodes[2]).gets(b"shared")[1]
    assert client(cluster.nodes[2]).get(b"shared") == b"v2"


def test_client_flags_are_stored(cluster):
    raw = Raw(cluster.nodes[1])
    assert raw.ask(b"set f 4294967295 0 2\r\nhi\r\n") == b"STORED\r\n"
    assert Raw(cluster.nodes[2]).ask(b"get f\r\n", b"END\r\n") == b"VALUE f 4294967295 2\r\nhi\r\nEND\r\n"


def test_expiry_rules(cluster):
    c = client(cluster.nodes[0])
    now = int(time.time())
    c.set(b"ttl1", b"x", expire=1)
    c.set(b"abs", b"x", expire=now + 3600)             # > 30 days: absolute Unix time
    c.set(b"past", b"x", expire=now - 10)
    raw = Raw(cluster.nodes[1])
    assert raw.ask(b"set neg 0 -1 1\r\nx\r\n") == b"STORED\r\n"
    assert c.get(b"abs") == b"x" and c.get(b"past") is None and c.get(b"neg") is None
    t = int(raw.ask(b"mg abs t\r\n")[4:-2])
    assert 3590 <= t <= 3600
    wait_until(lambda: c.get(b"ttl1") is None, 10, "a 1 s item to expire")
    c.set(b"tt", b"x")
    assert c.touch(b"tt", -1) is True and c.get(b"tt") is None


def test_flush_all_and_delay(cluster):
    c = client(cluster.nodes[1])
    c.set(b"f1", b"x")
    assert c.flush_all() is True
    assert c.get(b"f1") is None
    c.set(b"f2", b"x")
    assert c.flush_all(delay=1) is True
    assert c.get(b"f2") == b"x"
    wait_until(lambda: c.get(b"f2") is None, 10, "the delayed flush_all")


def test_meta_protocol(cluster):
    raw = Raw(cluster.followers()[0])
    reply = raw.ask(b"ms m 2 T0 c Oop k\r\nhi\r\n")
    assert reply.startswith(b"HD c") and reply.endswith(b" Oop km\r\n")
    cas = int(reply.split()[1][1:])
    assert raw.ask(b"mg m v c s t k Oq1\r\n", b"hi\r\n") == b"VA 2 c%d s2 t-1 km Oq1\r\nhi\r\n" % cas
    assert raw.ask(b"mg nope v q\r\nmg nope v\r\n") == b"EN\r\n"
    assert raw.ask(b"ms m 1 MA\r\n!\r\nmg m v\r\n", b"hi!\r\n") == b"HD\r\nVA 3\r\nhi!\r\n"
    assert raw.ask(b"ms m 1 C%d\r\nx\r\n" % cas) == b"EX\r\n"
    assert raw.ask(b"ms m 1 ME\r\nx\r\n") == b"NS\r\n"
    key = base64.b64encode(b"\x00\xffbin")
    assert raw.ask(b"ms %s 1 b\r\nz\r\nmg %s b k v\r\n" % (key, key), b"z\r\n") == b"HD\r\nVA 1 k%s b\r\nz\r\n" % key
    assert raw.ask(b"ma cnt N0 J5 v\r\n", b"5\r\n") == b"VA 1\r\n5\r\n"
    assert raw.ask(b"ma cnt D10 v\r\n", b"15\r\n") == b"VA 2\r\n15\r\n"
    assert raw.ask(b"ma cnt MD D100 v\r\n", b"0\r\n") == b"VA 1\r\n0\r\n"
    assert raw.ask(b"md cnt q\r\nmd cnt\r\nmn\r\n", b"MN\r\n") == b"NF\r\nMN\r\n"
    reply = raw.ask(b"mg viv N30 v c\r\n", b"\r\n\r\n")
    assert reply.startswith(b"VA 0 c") and b" W\r\n" in reply
    assert raw.ask(b"me m\r\n").startswith(b"ME m exp=-1 la=0 cas=")
    # per-request and per-connection read consistency
    assert raw.ask(b"mg m v Q\r\n", b"hi!\r\n") == b"VA 3\r\nhi!\r\n"
    assert raw.ask(b"mg m v Qany\r\n", b"hi!\r\n") == b"VA 3\r\nhi!\r\n"
    assert raw.ask(b"consistency any\r\nget m\r\n", b"END\r\n") == b"OK\r\nVALUE m 0 3\r\nhi!\r\nEND\r\n"


def test_shared_keyspace_with_other_protocols(cluster):
    c = client(cluster.nodes[0])
    c.set(b"shared-k", b"from-memcached")
    reply = cluster.execute(cluster.leader(), pb.Command(get=pb.Get(key=b"shared-k")))
    assert reply.value.bulk == b"from-memcached"
    cluster.execute(cluster.leader(), pb.Command(set=pb.Set(key=b"from-grpc", value=b"7")))
    assert c.incr(b"from-grpc", 1) == 8


# ------------------------------------------------------------------ hostile input

def test_errors_as_memcached_gives_them(cluster):
    c = client(cluster.nodes[2])
    with pytest.raises(MemcacheClientError):
        c.set(b"k" * 251, b"x")                         # pymemcache refuses it before sending
    raw = Raw(cluster.nodes[2])
    assert raw.ask(b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n", b"ERROR\r\n") == \
        b"CLIENT_ERROR bad command line format\r\nERROR\r\n"
    assert raw.ask(b"set a 0 0 1\r\nxyz\r\n", b"ERROR\r\n") == b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"
    assert raw.ask(b"bogus\r\n") == b"ERROR\r\n"
    assert raw.ask(b"incr a x\r\n") == b"CLIENT_ERROR invalid numeric delta argument\r\n"
    raw.ask(b"set t 0 0 3\r\nabc\r\n")
    assert raw.ask(b"incr t 1\r\n") == b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    big = b"x" * (1 << 20 | 1)
    assert raw.ask(b"set a 0 0 %d\r\n%s\r\nmn\r\n" % (len(big), big), b"MN\r\n") == \
        b"SERVER_ERROR object too large for cache\r\nMN\r\n"
    with pytest.raises(MemcacheServerError):
        c.set(b"big", big)


def test_hostile_input_leaves_data_and_node_alone(cluster):
    node = cluster.nodes[0]
    keeper = client(node)
    keep = {b"keep%d" % i: b"value-%d" % i for i in range(20)}
    keeper.set_many(keep)
    rng = random.Random(6)
    payloads = [
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))) for _ in range(30)
    ] + [
        b"set keep0 0 0 2147483647\r\n" + b"x" * 100000,     # huge declared length
        b"set keep1 0 0 100\r\nshort\r\n",                   # truncated block, then hang up
        b"set keep2 0 0 5\r\n0123456789\r\n",                # block longer than declared
        b"get " + b"a " * 100000,                            # endless key list, no newline
        b"\x80\x01\x00\x03" + b"\x00" * 60,                  # memcached's binary protocol
        b"ms keep3 9999999999 T0\r\n",
        b"mg keep4 " + b"v " * 5000 + b"\r\n",
    ]
    for data in payloads:
        s = socket.create_connection(node.memcached_address, timeout=5)
        try:
            s.sendall(data)
        except OSError:
            pass        # the node may close a connection sending garbage
        s.close()
    assert keeper.get_many(list(keep)) == keep
    assert client(node).version().startswith(b"1.6")
    assert cluster.status(node).applied_index > 0


def test_pipelined_requests_answered_in_order(cluster):
    raw = Raw(cluster.nodes[1])
    n = 300
    req = b"".join(b"set p%d 0 0 %d noreply\r\n%d\r\n" % (i, len(b"%d" % i), i) for i in range(n))
    req += b"".join(b"get p%d\r\n" % i for i in range(n))
    want = b"".join(b"VALUE p%d 0 %d\r\n%d\r\nEND\r\n" % (i, len(b"%d" % i), i) for i in range(n))
    raw.send(req)
    got = b""
    while len(got) < len(want):
        got += raw.sock.recv(65536)
    assert got == want


def _commit_index(node) -> int:
    import json
    import urllib.request

    host, port = node.http_address
    return json.loads(urllib.request.urlopen(f"http://{host}:{port}/status", timeout=5).read())["commit_index"]


@pytest.mark.parametrize("role", ["leader", "follower"])
def test_pipelined_sets_go_in_a_few_commits_in_order(cluster, role):
    """set_many and a raw pipeline of sets to one key: one commit round (a batch to the
    leader from a follower), not one per request, and the last set wins."""
    node = cluster.leader() if role == "leader" else cluster.followers()[0]
    before = _commit_index(cluster.leader())
    items = {f"many:{i}": str(i) for i in range(100)}
    assert client(node).set_many(items, noreply=False) == []
    raw = Raw(node)
    raw.send(b"".join(b"set same 0 0 %d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(100))
             + b"add same 0 0 1\r\nx\r\nget same\r\n")
    want = b"STORED\r\n" * 100 + b"NOT_STORED\r\n" + b"VALUE same 0 2\r\n99\r\nEND\r\n"
    got = b""
    while len(got) < len(want):
        got += raw.sock.recv(65536)
    assert got == want
    assert client(cluster.leader()).get_many(list(items)) == {k: v.encode() for k, v in items.items()}
    assert _commit_index(cluster.leader()) - before < 40, "one log entry per set"


# ------------------------------------------------------------------ durability

def test_zone_kill_loses_no_stored_item(make_cluster):
    c = make_cluster(3)
    leader = c.leader()
    writer = client(leader)
    items = {b"z%d" % i: b"v%d" % i for i in range(200)}
    for key, value in items.items():
        assert writer.set(key, value) is True                # acknowledged: STORED
    c.kill_zone(leader.zone)
    survivor = c.leader(timeout_s=30)
    for node in c.alive_nodes():
        reader = client(node)
        assert reader.get_many(list(items)) == items, f"items lost on {node.id}"
    assert client(survivor).set(b"after", b"kill") is True


def test_a_client_that_half_closes_gets_every_answer(cluster):
    """`printf 'get k\\r\\n' | nc -q1 host port` shuts its side down right after sending."""
    for node in (cluster.leader(), cluster.followers()[0]):
        sock = socket.create_connection(node.memcached_address, timeout=10)
        sock.sendall(b"set half 0 0 5\r\nclose\r\nget half\r\nget\r\nincr half 1\r\n")
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):  # until the node closes its side
            received += chunk
        sock.close()
        assert received == (b"STORED\r\nVALUE half 0 5\r\nclose\r\nEND\r\nERROR\r\n"
                            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")


def test_config_timeout_closes_idle_memcached_clients_as_it_does_redis_clients(cluster):
    """One idle sweep for every stream port (node/service/stream.py): CONFIG `timeout`,
    set over the Redis port, closes an idle memcached client; one that talks stays."""
    import redis

    host, port = cluster.leader().redis_address
    admin = redis.Redis(host=host, port=port, socket_timeout=10)
    node = cluster.followers()[0]
    idle, chatty = Raw(node), Raw(node)
    redis_idle = socket.create_connection(node.redis_address, timeout=10)
    try:
        assert admin.config_set("timeout", "1")
        started = time.monotonic()
        while time.monotonic() - started < 2.5:   # chatty keeps talking past the timeout
            chatty.send(b"version\r\n")
            assert chatty.read_until(b"\r\n").startswith(b"VERSION")
            time.sleep(0.3)
        for sock in (idle.sock, redis_idle):
            sock.settimeout(5)
            assert sock.recv(100) == b"", "the node closes an idle client"
        chatty.send(b"version\r\n")
        assert chatty.read_until(b"\r\n").startswith(b"VERSION")
    finally:
        admin.config_set("timeout", "0")
        for sock in (idle.sock, chatty.sock, redis_idle):
            sock.close()
