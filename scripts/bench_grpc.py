"""gRPC benchmark: set/get throughput and latency against a local three-node cluster.

Usage: python scripts/bench_grpc.py [--duration 3] [--concurrency 1,16,64] [--streams 1,2,4,8]
           [--value-bytes 100] [--keys 10000] [--json]

Starts a fresh cluster (raftcache/localcluster.py) unless --leader/--follower name an
existing one, writes every key a GET can ask for (bench:0 … bench:<keys - 1>,
--value-bytes each) through the leader, then measures for each concurrency:
  - unary SET on the leader, unary GET (level any) on the leader and on a follower,
    and GET linearizable and lease on the leader;
and for each stream count:
  - SET and GET (any, follower) through the streaming Pipeline (batches of --batch).
Before each case it waits until every node process is idle (own cluster only).

Per case: ops/s of successful replies only (a unary call that fails and a
pipeline reply holding an error are counted in "errors"), latency p50/p99,
the GET hit rate (nil replies counted on the client), and CPU µs per
operation of each node process (/proc/PID/stat; own cluster only). Prints one
JSON document (always; --json is accepted for uniformity) with the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from raftcache.proto import cache_pb2, cache_pb2_grpc
from raftcache.proto import commands_pb2 as pb
from scripts import benchlib

LEVELS = cache_pb2.ReadConsistency


class Tally:
    """Replies of one case: successes, errors, and for reads hits and misses (nil)."""

    def __init__(self):
        self.ok = self.errors = self.hits = self.misses = 0

    def reply(self, value: pb.Value, is_read: bool) -> None:
        """Count one reply's Value (a Pipeline reply carries a command error as Value.error)."""
        kind = value.WhichOneof("kind")
        if kind == "error":
            self.errors += 1
            return
        self.ok += 1
        if is_read:
            if kind == "nil" or kind is None:
                self.misses += 1
            else:
                self.hits += 1

    def report(self, elapsed_s: float) -> dict:
        out = {"ops_per_s": round(benchlib.successful_rate(self.ok + self.errors, self.errors, elapsed_s)),
               "ops": self.ok, "errors": self.errors}
        if self.hits or self.misses:
            out.update(hits=self.hits, misses=self.misses, hit_rate=benchlib.hit_rate(self.hits, self.misses))
        return out


async def unary_case(address: str, make_request, is_read: bool, concurrency: int, duration_s: float) -> dict:
    tally = Tally()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = cache_pb2_grpc.CacheStub(channel)
        latencies: list[float] = []
        deadline = time.perf_counter() + duration_s
        counter = iter(range(10**9))

        async def worker():
            while time.perf_counter() < deadline:
                req = make_request(next(counter))
                t0 = time.perf_counter()
                try:
                    reply = await stub.Execute(req, timeout=10)
                except grpc.aio.AioRpcError:
                    tally.errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                tally.reply(reply.value, is_read)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {**tally.report(elapsed), "p50_ms": round(benchlib.percentile(latencies, 0.5) * 1000, 3),
            "p99_ms": round(benchlib.percentile(latencies, 0.99) * 1000, 3)}


async def pipeline_case(address: str, make_request, is_read: bool, streams: int, batch: int,
                        duration_s: float) -> dict:
    tally = Tally()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = cache_pb2_grpc.CacheStub(channel)
        latencies: list[float] = []
        deadline = time.perf_counter() + duration_s
        counter = iter(range(10**9))

        async def stream_worker():
            call = stub.Pipeline()
            while time.perf_counter() < deadline:
                msg = cache_pb2.RequestBatch(requests=[make_request(next(counter)) for _ in range(batch)])
                t0 = time.perf_counter()
                await call.write(msg)
                reply = await call.read()
                latencies.append(time.perf_counter() - t0)
                for r in reply.replies:
                    tally.reply(r.value, is_read)
                tally.errors += batch - len(reply.replies)  # a short batch: the missing replies failed
            await call.done_writing()

        t0 = time.perf_counter()
        await asyncio.gather(*(stream_worker() for _ in range(streams)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {**tally.report(elapsed), "batch_p50_ms": round(benchlib.percentile(latencies, 0.5) * 1000, 3),
            "batch_p99_ms": round(benchlib.percentile(latencies, 0.99) * 1000, 3), "batch": batch, "streams": streams}


def set_request(value: bytes, keys: int):
    def make(i: int) -> cache_pb2.Request:
        return cache_pb2.Request(command=pb.Command(set=pb.Set(key=b"bench:%d" % (i % keys), value=value)))

    return make


def get_request(level, keys: int):
    def make(i: int) -> cache_pb2.Request:
        req = cache_pb2.Request(command=pb.Command(get=pb.Get(key=b"bench:%d" % (i % keys))))
        req.consistency.level = level
        return req

    return make


async def populate(address: str, value: bytes, keys: int, batch: int = 500) -> None:
    """SET bench:0 … bench:<keys - 1> through one Pipeline stream; raise if any failed."""
    async with grpc.aio.insecure_channel(address) as channel:
        call = cache_pb2_grpc.CacheStub(channel).Pipeline()
        make = set_request(value, keys)
        for start in range(0, keys, batch):
            await call.write(cache_pb2.RequestBatch(requests=[make(i) for i in range(start, min(start + batch, keys))]))
            reply = await call.read()
            if any(r.value.WhichOneof("kind") == "error" for r in reply.replies):
                raise RuntimeError("populating the keyspace failed")
        await call.done_writing()


async def measured(coro, pids: dict[str, int], idle_timeout: float) -> dict:
    """Wait for idle, run one case and add the CPU µs per successful operation of each process."""
    idle = benchlib.settle(pids, timeout_s=idle_timeout) if pids else None
    before = benchlib.cpu_ticks(pids)
    result = await coro
    result["cpu_us_per_op"] = benchlib.cpu_us_per_op(before, benchlib.cpu_ticks(pids), result["ops"])
    result["idle_wait"] = idle
    return result


async def run(args, leader: str, follower: str, pids: dict[str, int], follower_delay=None) -> dict:
    value = b"x" * args.value_bytes
    await populate(leader, value, args.keys)
    if follower_delay:
        follower_delay()
    results: dict = {"unary": {}, "pipeline": {}}
    keys, d, t = args.keys, args.duration, args.idle_timeout
    for c in args.concurrency:
        results["unary"][f"c{c}"] = {
            "set_leader": await measured(unary_case(leader, set_request(value, keys), False, c, d), pids, t),
            "get_any_leader": await measured(unary_case(leader, get_request(LEVELS.ANY, keys), True, c, d), pids, t),
            "get_any_follower": await measured(
                unary_case(follower, get_request(LEVELS.ANY, keys), True, c, d), pids, t),
            "get_linearizable_leader": await measured(
                unary_case(leader, get_request(LEVELS.LINEARIZABLE, keys), True, c, d), pids, t),
            "get_lease_leader": await measured(
                unary_case(leader, get_request(LEVELS.LEASE, keys), True, c, d), pids, t),
        }
        print(f"unary c{c} done", file=sys.stderr, flush=True)
    for s in args.streams:
        results["pipeline"][f"s{s}"] = {
            "set_leader": await measured(
                pipeline_case(leader, set_request(value, keys), False, s, args.batch, d), pids, t),
            "get_any_follower": await measured(
                pipeline_case(follower, get_request(LEVELS.ANY, keys), True, s, args.batch, d), pids, t),
        }
        print(f"pipeline s{s} done", file=sys.stderr, flush=True)
    return results


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per case")
    parser.add_argument("--concurrency", type=int_list, default=[1, 16, 64], help="unary callers, one case each")
    parser.add_argument("--streams", type=int_list, default=[1, 2, 4, 8], help="Pipeline streams, one case each")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--keys", type=int, default=10_000, help="keys written before the reads; GETs cycle over them")
    parser.add_argument("--appendfsync", default="everysec")
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="longest idle wait before a case (s)")
    parser.add_argument("--leader", help="use an existing cluster: the leader's gRPC HOST:PORT (no CPU or idle wait)")
    parser.add_argument("--follower", help="with --leader: a follower's gRPC HOST:PORT")
    parser.add_argument("--json", action="store_true", help="print JSON (the default; kept for uniformity)")
    args = parser.parse_args()
    cluster = None
    started = time.time()
    try:
        pids: dict[str, int] = {}
        follower_delay = None
        if args.leader:
            leader, follower = args.leader, args.follower or args.leader
        else:
            from raftcache.localcluster import LocalCluster

            cluster = LocalCluster(tempfile.mkdtemp(prefix="bench-grpc-"), 3, appendfsync=args.appendfsync).start()
            lead = cluster.leader()
            leader, follower = lead.grpc_address, cluster.followers()[0].grpc_address
            pids = {f"{'leader' if n is lead else 'follower'}-{n.id}": n.pid for n in cluster.alive_nodes()}
            def follower_delay():  # the follower has every key before the reads start
                cluster.wait_applied(cluster.status(lead).commit_index)
        result = {"command": benchlib.command_line(), "loadavg_1m": benchlib.load_average(), "args": vars(args),
                  "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                  "cpus": os.cpu_count(), "value_bytes": args.value_bytes, "keys": args.keys,
                  "duration_s": args.duration, "appendfsync": args.appendfsync, "processes": pids}
        result.update(asyncio.run(run(args, leader, follower, pids, follower_delay)))
        result["elapsed_s"] = round(time.time() - started, 1)
        result["loadavg_1m_end"] = benchlib.load_average()
        print(json.dumps(result, indent=2))
    finally:
        if cluster is not None:
            cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
