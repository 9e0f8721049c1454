"""gRPC benchmark: set/get throughput and latency against a local three-node cluster.

Usage: python scripts/bench_grpc.py [--duration 3] [--concurrency 1,16,64] [--value-bytes 100]

Starts a fresh cluster (tests/cluster.py) unless --leader/--follower name an
existing one, then measures for each concurrency level:
  - unary SET on the leader, unary GET (level any) on the leader and on a follower,
    and GET linearizable on the leader;
  - SET and GET through the streaming Pipeline (batches of --batch commands).
Prints one JSON document: ops/s, p50 and p99 latency (ms) per case.
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

LEVELS = cache_pb2.ReadConsistency


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(int(q * len(sorted_values)), len(sorted_values) - 1)]


async def unary_case(address: str, make_request, concurrency: int, duration_s: float) -> dict:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = cache_pb2_grpc.CacheStub(channel)
        latencies: list[float] = []
        deadline = time.perf_counter() + duration_s
        counter = iter(range(10**9))

        async def worker():
            while time.perf_counter() < deadline:
                req = make_request(next(counter))
                t0 = time.perf_counter()
                await stub.Execute(req, timeout=10)
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "ops_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(_percentile(latencies, 0.5) * 1000, 3),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 3),
        "ops": len(latencies),
    }


async def pipeline_case(address: str, make_request, streams: int, batch: int, duration_s: float) -> dict:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = cache_pb2_grpc.CacheStub(channel)
        latencies: list[float] = []
        done = 0
        deadline = time.perf_counter() + duration_s
        counter = iter(range(10**9))

        async def stream_worker():
            nonlocal done
            call = stub.Pipeline()
            while time.perf_counter() < deadline:
                msg = cache_pb2.RequestBatch(requests=[make_request(next(counter)) for _ in range(batch)])
                t0 = time.perf_counter()
                await call.write(msg)
                reply = await call.read()
                latencies.append(time.perf_counter() - t0)
                done += len(reply.replies)
            await call.done_writing()

        t0 = time.perf_counter()
        await asyncio.gather(*(stream_worker() for _ in range(streams)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "ops_per_s": round(done / elapsed),
        "batch_p50_ms": round(_percentile(latencies, 0.5) * 1000, 3),
        "batch_p99_ms": round(_percentile(latencies, 0.99) * 1000, 3),
        "batch": batch,
        "streams": streams,
    }


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


async def run(args, leader: str, follower: str) -> dict:
    value = b"x" * args.value_bytes
    results: dict = {"value_bytes": args.value_bytes, "duration_s": args.duration, "unary": {}, "pipeline": {}}
    for c in args.concurrency:
        results["unary"][f"c{c}"] = {
            "set_leader": await unary_case(leader, set_request(value, args.keys), c, args.duration),
            "get_any_leader": await unary_case(leader, get_request(LEVELS.ANY, args.keys), c, args.duration),
            "get_any_follower": await unary_case(follower, get_request(LEVELS.ANY, args.keys), c, args.duration),
            "get_linearizable_leader": await unary_case(leader, get_request(LEVELS.LINEARIZABLE, args.keys), c, args.duration),
            "get_lease_leader": await unary_case(leader, get_request(LEVELS.LEASE, args.keys), c, args.duration),
        }
    for streams in args.streams:
        results["pipeline"][f"s{streams}"] = {
            "set_leader": await pipeline_case(leader, set_request(value, args.keys), streams, args.batch, args.duration),
            "get_any_follower": await pipeline_case(follower, get_request(LEVELS.ANY, args.keys), streams, args.batch, args.duration),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per case")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    parser.add_argument("--streams", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--appendfsync", default="everysec")
    parser.add_argument("--leader", help="use an existing cluster: the leader's gRPC HOST:PORT")
    parser.add_argument("--follower", help="with --leader: a follower's gRPC HOST:PORT")
    args = parser.parse_args()
    cluster = None
    try:
        if args.leader:
            leader, follower = args.leader, args.follower or args.leader
        else:
            from tests.cluster import Cluster

            cluster = Cluster(tempfile.mkdtemp(prefix="bench-grpc-"), 3, appendfsync=args.appendfsync).start()
            lead = cluster.leader()
            leader, follower = lead.grpc_address, cluster.followers()[0].grpc_address
        result = asyncio.run(run(args, leader, follower))
        result["appendfsync"] = args.appendfsync
        result["cpus"] = os.cpu_count()
        print(json.dumps(result, indent=2))
    finally:
        if cluster is not None:
            cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
