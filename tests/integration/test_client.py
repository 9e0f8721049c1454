"""The Python SDK against real node processes; every test runs with the sync Client and
with the AsyncClient (driven from test code by `AsyncDriver`), so both pass the same tests.

- typed commands, replies and typed errors, pipelines and transactions, cache-aside;
- a write loop that keeps running while the leader (or its whole zone) is killed
  sees no error and no duplicate apply: counter == acknowledged INCRs;
- reads at level `any` from a client in zone b land on n2 (node request stats, /status);
- session reads on a lagging follower see the session's writes.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import signal
import threading
import time
import urllib.request

import pytest
from raftcache.client import (
    AsyncClient,
    AsyncPipeline,
    Client,
    NoSuchKeyError,
    NotIntegerError,
    WrongTypeError,
)

from raftcache.localcluster import wait_until

KINDS = ["sync", "async"]


class AsyncDriver:
    """Drives an AsyncClient (or one of its views or pipelines) from synchronous test code:
    each coroutine a method returns runs to completion on this driver's own event loop,
    in the calling thread. Async iterators are collected into lists."""

    def __init__(self, target, loop: asyncio.AbstractEventLoop):
        self._target = target
        self._loop = loop

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            return self._wrap(attr(*args, **kwargs))
        return call

    def _wrap(self, result):
        if inspect.isawaitable(result):
            return self._wrap(self._loop.run_until_complete(result))
        if inspect.isasyncgen(result):
            async def collect():
                return [item async for item in result]
            return self._loop.run_until_complete(collect())
        if isinstance(result, (AsyncClient, AsyncPipeline)):
            return AsyncDriver(result, self._loop)
        return result

    def __len__(self):
        return len(self._target)

    def close(self):
        self._loop.run_until_complete(self._target.aclose())
        self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_client(kind: str, cluster, **options):
    seeds = [n.grpc_address for n in cluster.nodes]
    if kind == "sync":
        return Client(seeds, **options)
    loop = asyncio.new_event_loop()
    return AsyncDriver(AsyncClient(seeds, **options), loop)


def node_stats(node) -> dict:
    host, port = node.http_address
    with urllib.request.urlopen(f"http://{host}:{port}/status", timeout=5) as r:
        return json.load(r)["stats"]


# ---------------------------------------------------------------- commands


@pytest.mark.parametrize("kind", KINDS)
def test_strings_keys_and_expiry(cluster, kind):
    with open_client(kind, cluster) as c:
        assert c.set("greeting", "hello") is True
        assert c.get("greeting") == b"hello"
        assert c.set("greeting", "x", nx=True) is None
        assert c.set("greeting", "hi", xx=True, get=True) == b"hello"
        assert c.incr("n") == 1 and c.incrby("n", 9) == 10 and c.decr("n") == 9
        assert c.incrbyfloat("f", 1.5) == 1.5
        assert c.append("greeting", "!") == 3 and c.strlen("greeting") == 3
        assert c.getrange("greeting", 0, 1) == b"hi"
        assert c.mset({"a": 1, "b": 2}) is True
        assert c.mget("a", "b", "nope") == [b"1", b"2", None]
        assert c.msetnx({"a": 5, "c": 3}) is False
        assert c.exists("a", "b", "nope") == 2
        assert c.expire("a", 100) is True and 0 < c.ttl("a") <= 100 and c.pttl("a") > 1000
        assert c.persist("a") is True and c.ttl("a") == -1
        assert c.pexpireat("a", 4_000_000_000_123) is True and c.pexpiretime("a") == 4_000_000_000_123
        assert c.expiretime("a") == 4_000_000_000 and c.expiretime("nope") == -2
        assert c.touch("a", "b", "nope") == 2 and c.persist("a") is True
        assert c.set("temp", "v", px=100) is True
        wait_until(lambda: c.get("temp") is None, 10, "temp to expire")
        assert c.type("b") == b"string" and c.type("nope") == b"none"
        assert c.rename("b", "b2") is True and c.renamenx("a", "b2") is False
        assert c.getdel("b2") == b"2" and c.get("b2") is None
        assert c.getex("greeting", ex=50) == b"hi!" and c.ttl("greeting") > 0
        assert sorted(c.scan_iter(match="[ag]*")) == [b"a", b"greeting"]
        # greeting, n, f, a (DBSIZE counts "temp" until active expiry deletes it, as Redis does)
        wait_until(lambda: c.dbsize() == 4, 10, "dbsize 4")
        assert c.delete("a", "nope") == 1
        assert c.flushdb() is True and c.dbsize() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_data_types(cluster, kind):
    with open_client(kind, cluster, decode_responses=True) as c:
        assert c.hset("h", mapping={"f": "v", "g": 1}) == 2
        assert c.hget("h", "f") == "v" and c.hgetall("h") == {"f": "v", "g": "1"}
        assert c.hincrby("h", "g", 4) == 5 and c.hlen("h") == 2 and c.hexists("h", "f") is True
        assert c.rpush("l", "a", "b", "c") == 3 and c.lrange("l", 0, -1) == ["a", "b", "c"]
        assert c.lpop("l") == "a" and c.llen("l") == 2
        assert c.sadd("s", "x", "y") == 2 and c.smembers("s") == {"x", "y"} and c.sismember("s", "x") is True
        assert c.zadd("z", {"a": 1, "b": 2.5}) == 2
        assert c.zrange("z", 0, -1, withscores=True) == [("a", 1.0), ("b", 2.5)]
        assert c.zscore("z", "b") == 2.5 and c.zcount("z", "(1", "+inf") == 1
        assert c.zincrby("z", 1, "a") == 2.0


@pytest.mark.parametrize("kind", KINDS)
def test_errors_are_typed_by_reason(cluster, kind):
    with open_client(kind, cluster) as c:
        c.set("s", "text")
        c.rpush("l", "x")
        with pytest.raises(NotIntegerError):
            c.incr("s")
        with pytest.raises(WrongTypeError):
            c.get("l")
        with pytest.raises(NoSuchKeyError):
            c.rename("missing", "x")
        assert c.get("s") == b"text"   # nothing applied by the failed commands


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("transaction", [True, False])
def test_pipelines(cluster, kind, transaction):
    with open_client(kind, cluster) as c:
        c.set("s", "text")
        pipe = c.pipeline(transaction=transaction)
        pipe.set("a", 1).incr("a").get("a").incr("s")
        assert len(pipe) == 4
        result = pipe.execute(raise_on_error=False)
        assert result[:3] == [True, 2, b"2"] and isinstance(result[3], NotIntegerError)
        pipe.incr("a")
        with pytest.raises(NotIntegerError):
            pipe.incr("s").execute()


@pytest.mark.parametrize("kind", KINDS)
def test_get_or_load(cluster, kind):
    calls = []
    with open_client(kind, cluster) as c:
        assert c.get_or_load("user:1", lambda: calls.append(1) or b"alice", ttl=60) == b"alice"
        assert c.get_or_load("user:1", lambda: calls.append(1) or b"bob", ttl=60) == b"alice"
        assert calls == [1] and 0 < c.ttl("user:1") <= 60
        assert c.get_or_load("user:2", lambda: None, ttl=60, negative_ttl=30) is None
        assert c.get_or_load("user:2", lambda: pytest.fail("negative entry ignored"), ttl=60, negative_ttl=30) is None


def test_sync_get_or_load_single_flight_across_threads(cluster):
    calls = 0
    gate = threading.Event()

    def loader():
        nonlocal calls
        calls += 1
        gate.wait(5)
        return b"v"

    with open_client("sync", cluster) as c:
        results = []
        threads = [threading.Thread(target=lambda: results.append(c.get_or_load("k", loader, ttl=30)))
                   for _ in range(10)]
        for t in threads:
            t.start()
        wait_until(lambda: calls == 1, 5, "the loader to start")
        time.sleep(0.2)  # let the other threads miss too (they must wait, not load)
        gate.set()
        for t in threads:
            t.join(10)
        assert results == [b"v"] * 10 and calls == 1


# ---------------------------------------------------------------- routing


@pytest.mark.parametrize("kind", KINDS)
def test_any_reads_from_zone_b_land_on_n2(cluster, kind):
    n2 = next(n for n in cluster.nodes if n.zone == "b")
    with open_client(kind, cluster, zone="b", read_consistency="any") as c:
        c.set("k", "v")
        before = {n.id: node_stats(n)["reads"] for n in cluster.nodes}
        for _ in range(20):
            c.get("k")
        after = {n.id: node_stats(n)["reads"] for n in cluster.nodes}
    served = {nid: after[nid] - before[nid] for nid in after}
    assert served[n2.id] == 20
    assert sum(served.values()) == 20


@pytest.mark.parametrize("kind", KINDS)
def test_session_reads_on_a_lagging_follower_see_the_sessions_writes(cluster, kind):
    follower = cluster.followers()[0]
    with open_client(kind, cluster, zone=follower.zone, read_consistency="any") as c:
        c.get("warm-up")  # discover the topology while every node answers
        session = c.session()
        follower.proc.send_signal(signal.SIGSTOP)   # the follower falls behind
        try:
            for i in range(20):
                session.set("k", i)
        finally:
            follower.proc.send_signal(signal.SIGCONT)
        assert session.last_index > 0
        before = node_stats(follower)["reads"]
        assert session.get("k") == b"19"     # served by the follower once it caught up
        assert node_stats(follower)["reads"] == before + 1


# ---------------------------------------------------------------- failover


def write_loop(kind: str, cluster, stop: threading.Event, out: dict) -> None:
    """INCR a counter until `stop`; out["acked"] counts acknowledged calls as they return,
    out["errors"] holds any exception, out["final"] the counter read at the end."""
    out.update(acked=0, errors=[])
    with open_client(kind, cluster, timeout_s=30) as c:
        while not stop.is_set():
            try:
                c.incr("counter")
                out["acked"] += 1
            except Exception as e:  # noqa: BLE001 - the test asserts there are none
                out["errors"].append(repr(e))
        out["final"] = int(c.get("counter") or 0)


def more_writes(out: dict, what: str, count: int = 50) -> None:
    """Wait until the write loop acknowledged `count` more INCRs (or failed one: the test reports it)."""
    target = out.get("acked", 0) + count
    wait_until(lambda: out.get("errors") or out.get("acked", 0) >= target, 30,
               f"{count} more acknowledged writes {what}")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("victim", ["leader", "zone"])
def test_write_loop_survives_leader_failover_without_errors_or_duplicates(make_cluster, kind, victim):
    cluster = make_cluster(3)
    stop, out = threading.Event(), {}
    thread = threading.Thread(target=write_loop, args=(kind, cluster, stop, out))
    thread.start()
    try:
        more_writes(out, "before the failover")
        old = cluster.leader()
        killed = cluster.kill_zone(old.zone) if victim == "zone" else [cluster.kill(old) or old]
        wait_until(lambda: cluster.leader(5).id != old.id, 30, "a new leader")
        more_writes(out, "under the new leader")
        for node in killed:
            cluster.restart(node)
        more_writes(out, "once the killed nodes are back")
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    assert out["errors"] == []
    assert out["acked"] > 10
    assert out["final"] == out["acked"]
