"""Eviction on real nodes: a full cluster behaves as a cache, every node alike.

One three-node cluster for the module (started with --maxmemory 4mb; each
test sets maxmemory and the policy with CONFIG SET, cluster-wide). Filling to
3x maxmemory under allkeys-lru while a hot set is read through a follower
gives no -OOM, keeps the hot set (the follower's reads reach the leader's
access table), and leaves every node with the same keys and evicted_keys,
also when the leader changes before the cache fills (the new leader seeds its
access table with the keys it never saw used, as the coldest);
volatile-ttl evicts the nearest deadline first; noeviction still answers
-OOM; the memcached port evicts by LRU whatever the Redis policy and never
fails a set; the meta protocol's recache win goes to exactly one of many
concurrent clients spread over the three nodes. The long fill is under the
`slow` marker (make test-slow).
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import pytest
import redis
from pymemcache.client.base import Client as Memcache

from raftcache.localcluster import wait_until
from raftcache.node import commands
from tests.cluster import Cluster
from tests.integration.redis_helpers import client

MAXMEMORY = 1 << 20


@pytest.fixture(scope="module")
def _module_cluster(tmp_path_factory):
    """The module's own cluster (overrides tests/conftest.py's shared one): room for CONFIG SET maxmemory
    up to 4 MiB."""
    c = Cluster(str(tmp_path_factory.mktemp("eviction")), 3, extra_args=["--maxmemory", "4mb"])
    try:
        c.start()
        wait_until(lambda: all(c.status(n).log_version >= commands.EVICTION_VERSION for n in c.nodes), 20,
                   "the log's semantics version 4 (eviction) on every node")
        yield c
    finally:
        c.close()


def configure(cluster: Cluster, policy: str, maxmemory: int = MAXMEMORY) -> redis.Redis:
    """Set the policy and maxmemory cluster-wide, zero every node's counters; a client of the leader."""
    leader = cluster.leader()
    r = client(leader, 2, decode_responses=True)
    r.config_set("maxmemory", str(maxmemory))
    r.config_set("maxmemory-policy", policy)
    for node in cluster.nodes:
        n = client(node, 2, decode_responses=True)
        wait_until(lambda: n.config_get("maxmemory-policy")["maxmemory-policy"] == policy, 10, f"policy on {node.id}")
        n.config_resetstat()
    return r


def settled(cluster: Cluster) -> list[dict]:
    """INFO of every node once they applied the same index."""
    cluster.wait_applied(cluster.status(cluster.leader()).commit_index)
    return [client(n, 2, decode_responses=True).info() for n in cluster.nodes]


def fill(r: redis.Redis, nbytes: int, value: bytes, prefix: str, between=None, pipeline: int = 100,
         until_used: int = 0) -> list:
    """SET keys prefix0, prefix1, … until `nbytes` of values were written (or the leader's used_memory
    reached `until_used`); the replies that are errors. `between()` runs after each pipeline."""
    errors, n, written = [], 0, 0
    while written < nbytes and not (until_used and r.info("memory")["used_memory"] >= until_used):
        p = r.pipeline(transaction=False)
        for _ in range(pipeline):
            p.set(f"{prefix}{n}", value)
            n += 1
            written += len(value)
        errors += [x for x in p.execute(raise_on_error=False) if isinstance(x, Exception)]
        if between is not None:
            between()
    return errors


def test_allkeys_lru_fill_keeps_the_hot_set_read_through_a_follower_and_every_node_agrees(cluster):
    r = configure(cluster, "allkeys-lru")
    follower = client(cluster.followers()[0], 2)
    follower.execute_command("CLIENT", "CONSISTENCY", "any")   # served by the follower itself
    hot = [f"hot{i}" for i in range(100)]
    cold = [f"cold{i}" for i in range(100)]
    r.mset({k: "h" * 100 for k in hot + cold})

    def read_hot():
        assert all(v is not None for v in follower.mget(hot)), "a hot key was evicted"
        time.sleep(0.05)   # a paced fill: the cache holds more than a report interval of writes

    errors = fill(r, 3 * MAXMEMORY, b"x" * 400, "fill", between=read_hot)
    assert errors == []
    infos = settled(cluster)
    sizes = {client(n, 2).dbsize() for n in cluster.nodes}
    assert len(sizes) == 1, f"DBSIZE differs between nodes: {sizes}"
    assert {i["evicted_keys"] for i in infos} == {infos[0]["evicted_keys"]} and infos[0]["evicted_keys"] > 0
    for info in infos:
        assert info["maxmemory_policy"] == "allkeys-lru" and info["maxmemory"] == MAXMEMORY
        assert 0.9 * MAXMEMORY <= info["used_memory"] <= 1.1 * MAXMEMORY, info["used_memory"]
        assert info["mem_fragmentation_ratio"] > 0
    kept_hot = sum(r.exists(k) for k in hot)
    kept_cold = sum(r.exists(k) for k in cold)
    assert kept_hot >= 80 and kept_cold <= 20, (kept_hot, kept_cold)
    assert r.object("idletime", hot[0]) <= 2
    metrics = urllib.request.urlopen("http://%s:%d/metrics" % cluster.nodes[0].http_address, timeout=10).read()
    assert b'raftcache_evicted_keys_total{node="n1",policy="allkeys-lru"}' in metrics


def test_a_leader_change_before_the_cache_fills_still_evicts_the_cold_keys_first(cluster):
    """The new leader never saw the cold keys used: it seeds its access table with them as the coldest."""
    r = configure(cluster, "allkeys-lru")
    reader, other = cluster.followers()
    follower = client(reader, 2)
    follower.execute_command("CLIENT", "CONSISTENCY", "any")
    hot = [f"hot{i}" for i in range(100)]
    cold = [f"cold{i}" for i in range(100)]
    r.mset({k: "h" * 100 for k in hot + cold})
    pipelines = [0]

    def read_hot():
        pipelines[0] += 1
        assert all(v is not None for v in follower.mget(hot)), "a hot key was evicted"
        if pipelines[0] == 3:          # well before the fill reaches maxmemory
            cluster.ctl("transfer-leader", "--to", other.id)
            wait_until(lambda: cluster.leader() is other, 20, f"{other.id} leads")
        time.sleep(0.05)

    assert fill(r, 3 * MAXMEMORY, b"x" * 400, "fill", between=read_hot) == []
    settled(cluster)
    assert len({client(n, 2).dbsize() for n in cluster.nodes}) == 1
    kept_hot = sum(r.exists(k) for k in hot)
    kept_cold = sum(r.exists(k) for k in cold)
    assert kept_hot >= 80 and kept_cold <= 20, (kept_hot, kept_cold)


def test_volatile_ttl_evicts_the_nearest_deadline_first_then_writes_get_oom(cluster):
    r = configure(cluster, "volatile-ttl")
    volatile = [f"t{i}" for i in range(40)]
    p = r.pipeline(transaction=False)
    for i, key in enumerate(volatile):
        p.set(key, "v" * 1000, ex=10_000 - i * 10)        # t39 has the nearest deadline
    p.execute()
    assert fill(r, MAXMEMORY, b"p" * 1000, "plain", pipeline=5, until_used=MAXMEMORY - 25_000) == []
    assert all(r.exists(k) for k in volatile)
    assert fill(r, 40_000, b"q" * 1000, "more", pipeline=5) == []
    gone = [k for k in volatile if not r.exists(k)]
    assert gone and gone == volatile[-len(gone):], f"evicted out of deadline order: {gone}"
    errors = fill(r, 60_000, b"r" * 1000, "over", pipeline=5)
    assert errors and all("command not allowed when used memory > 'maxmemory'" in str(e) for e in errors)
    assert all(not r.exists(k) for k in volatile), "every key with a deadline went before the first -OOM"


def test_noeviction_and_volatile_without_deadlines_answer_oom(cluster):
    r = configure(cluster, "noeviction")
    errors = fill(r, 2 * MAXMEMORY, b"n" * 1000, "n")
    assert errors and isinstance(errors[0], redis.exceptions.OutOfMemoryError)
    assert {i["evicted_keys"] for i in settled(cluster)} == {0}
    r.config_set("maxmemory-policy", "volatile-lru")         # nothing has a deadline: nothing to evict
    with pytest.raises(redis.exceptions.OutOfMemoryError, match="command not allowed when used memory"):
        r.set("one-more", "x" * 5000)
    assert r.delete("n0") == 1, "a full cache can still be emptied"


def test_lowering_maxmemory_evicts_down_to_it_on_every_node_with_evicted_events(cluster):
    r = configure(cluster, "allkeys-random", maxmemory=2 * MAXMEMORY)
    assert fill(r, 2 * MAXMEMORY - 100_000, b"s" * 1000, "s") == []
    r.config_set("notify-keyspace-events", "Ee")
    subscriber = client(cluster.followers()[0], 2).pubsub()
    subscriber.subscribe("__keyevent@0__:evicted")
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"
    try:
        r.config_set("maxmemory", str(MAXMEMORY))
        wait_until(lambda: all(i["used_memory"] <= MAXMEMORY for i in settled(cluster)), 20,
                   "every node back under the lowered maxmemory")
        assert len({client(n, 2).dbsize() for n in cluster.nodes}) == 1
        event = subscriber.get_message(timeout=5)
        assert event["channel"] == b"__keyevent@0__:evicted" and event["data"].startswith(b"s")
        assert r.exists(event["data"].decode()) == 0
    finally:
        subscriber.close()
        r.config_set("notify-keyspace-events", "")


def test_memcached_port_evicts_by_lru_whatever_the_redis_policy(cluster):
    configure(cluster, "noeviction")
    mc = Memcache(cluster.followers()[0].memcached_address, connect_timeout=5, timeout=10, default_noreply=False)
    try:
        value, items = b"m" * 1000, 3200                       # 3x maxmemory
        for start in range(0, items, 100):
            failed = mc.set_many({f"item{i}": value for i in range(start, start + 100)}, noreply=False)
            assert failed == [], f"sets failed: {failed[:3]}"
        wait_until(lambda: int(mc.stats()[b"evictions"]) > 0, 10, "memcached evictions")
        stats = mc.stats()
        assert int(stats[b"limit_maxbytes"]) == MAXMEMORY
        assert int(stats[b"total_items"]) == items
        assert 0 < int(stats[b"curr_items"]) < items
        assert mc.get(f"item{items - 1}") == value, "the newest item stays"
        assert client(cluster.leader(), 2).info()["evicted_keys"] > 0
    finally:
        mc.close()


def _raw(node) -> socket.socket:
    return socket.create_connection(node.memcached_address, timeout=10)


def _ask(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    reply = b""
    while not reply.endswith(b"\r\n") or (reply.startswith(b"VA") and reply.count(b"\r\n") < 2):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(reply)
        reply += chunk
    return reply


def _race(cluster: Cluster, request: bytes, per_node: int = 6) -> list[bytes]:
    """The first reply line of `request` sent at once by per_node clients on every node."""
    socks = [_raw(n) for n in cluster.nodes for _ in range(per_node)]
    start = threading.Barrier(len(socks))
    replies: list[bytes] = [b""] * len(socks)

    def one(i: int) -> None:
        start.wait()
        replies[i] = _ask(socks[i], request).split(b"\r\n")[0]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(socks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in socks:
        s.close()
    return replies


def _winners(replies: list[bytes]) -> int:
    return sum(b"W" in line.split(b" ")[1:] for line in replies)


def test_exactly_one_of_many_concurrent_clients_on_three_nodes_wins_the_recache(cluster):
    configure(cluster, "allkeys-lru")
    replies = _race(cluster, b"mg fresh v N30\r\n")
    assert _winners(replies) == 1, replies
    assert all(line.startswith(b"VA 0") for line in replies)
    assert sum(b"Z" in line.split(b" ") for line in replies) >= len(replies) - 1 - 6, "later readers see Z"

    leader = cluster.leader()
    sock = _raw(leader)
    assert _ask(sock, b"ms expiring 1 T20\r\nv\r\n") == b"HD\r\n"
    replies = _race(cluster, b"mg expiring v R60\r\n")
    assert _winners(replies) == 1, replies

    assert _ask(sock, b"ms stale 1\r\nv\r\n") == b"HD\r\n"
    assert _ask(sock, b"md stale I\r\n") == b"HD\r\n"
    replies = _race(cluster, b"mg stale v\r\n")
    assert _winners(replies) == 1 and all(b"X" in line.split(b" ") for line in replies), replies
    sock.close()


@pytest.mark.slow
def test_a_long_fill_through_every_node_keeps_the_hot_set(cluster):
    """The fast test's claim at scale: 4 MiB filled 3x by writers on every node, a hot set read on two."""
    r = configure(cluster, "allkeys-lru", maxmemory=4 * MAXMEMORY)
    hot = [f"hot{i}" for i in range(300)]
    r.mset({k: "h" * 100 for k in hot})
    readers = [client(n, 2) for n in cluster.followers()]
    for reader in readers:
        reader.execute_command("CLIENT", "CONSISTENCY", "any")
    errors: list = []
    stop = threading.Event()

    def write(node, share: int, prefix: str) -> None:
        errors.extend(fill(client(node, 2), share, b"w" * 300, prefix))

    def read() -> None:
        while not stop.is_set():
            for reader in readers:
                reader.mget(hot)
            time.sleep(0.02)

    writers = [threading.Thread(target=write, args=(n, 4 * MAXMEMORY, f"w{n.id}-")) for n in cluster.nodes]
    reading = threading.Thread(target=read)
    reading.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join(600)
    stop.set()
    reading.join(30)
    assert errors == []
    infos = settled(cluster)
    assert len({client(n, 2).dbsize() for n in cluster.nodes}) == 1
    assert all(0.9 * 4 * MAXMEMORY <= i["used_memory"] <= 1.1 * 4 * MAXMEMORY for i in infos)
    assert sum(r.exists(k) for k in hot) >= 0.8 * len(hot)


def test_a_string_edit_refused_for_its_size_evicts_nothing(cluster):
    """SETBIT / SETRANGE / BITFIELD whose value would pass proto-max-bulk-len are refused at
    apply before they write: the leader makes no room for them. (Their offsets once counted as
    growth: one such request evicted every key with a deadline while the keyspace was far
    below maxmemory.)"""
    r = configure(cluster, "volatile-lru")
    r.config_set("proto-max-bulk-len", str(MAXMEMORY))   # the smallest Redis allows
    try:
        keys = [f"ttl{i}" for i in range(50)]
        for key in keys:
            r.set(key, "x" * 100, ex=600)
        too_far = 3 * MAXMEMORY   # bytes: past proto-max-bulk-len, and past maxmemory
        for edit in (["SETBIT", "big", 8 * too_far, 1], ["SETRANGE", "big", too_far, "z"],
                     ["BITFIELD", "big", "SET", "u8", 8 * too_far, 1]):
            with pytest.raises(redis.ResponseError):
                r.execute_command(*edit)
        assert {i["evicted_keys"] for i in settled(cluster)} == {0}
        assert [client(n, 2).exists(*keys) for n in cluster.nodes] == [len(keys)] * 3
    finally:
        r.config_set("proto-max-bulk-len", str(64 << 20))
