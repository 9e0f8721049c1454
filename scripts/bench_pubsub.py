"""Pub/Sub fan-out benchmark: raftcache against Redis, same run, same client.

One publisher on the leader (Redis: the primary) sends `--messages`
PUBLISHes, pipelined `--pipeline` at a time; `--subscribers` connections
split over the two other nodes (Redis: the two replicas, which deliver what
the primary propagates) each subscribe to the channel. A message carries its
send time; the subscribers (asyncio, hiredis's parser) record when each
arrives. Prints JSON per server: delivered messages/s (every subscriber's
messages over the time from the first send to the last arrival), p50/p99
delivery latency, lost messages, CPU µs per delivered message of each server
process, and the ratio raftcache ÷ Redis of delivered messages/s.

    python scripts/bench_pubsub.py --messages 2000 --subscribers 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time

import hiredis

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from raftcache.node import commands  # noqa: E402 (the repository root is put on the path first)
from scripts import benchlib, benchrig  # noqa: E402 (the repository root is put on the path first)

CHANNEL = b"bench"


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


async def _subscriber(port: int, ready: asyncio.Event, expected: int, arrivals: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_command(b"SUBSCRIBE", CHANNEL))
    parser = hiredis.Reader()
    subscribed = False
    try:
        while len(arrivals) < expected:
            data = await reader.read(1 << 16)
            if not data:
                return
            parser.feed(data)
            while (frame := parser.gets()) is not False:
                if frame[0] == b"subscribe":
                    subscribed = True
                    ready.set()
                elif subscribed and frame[0] == b"message":
                    arrivals.append(time.perf_counter_ns() - int(frame[2][:20]))
    finally:
        writer.close()


async def _run(publish_port: int, subscriber_ports: list[int], args, pids: dict[str, int]) -> dict:
    arrivals: list[list[int]] = [[] for _ in range(args.subscribers)]
    ready = [asyncio.Event() for _ in range(args.subscribers)]
    tasks = [asyncio.ensure_future(_subscriber(subscriber_ports[i % len(subscriber_ports)], ready[i],
                                               args.messages, arrivals[i])) for i in range(args.subscribers)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 30)
    reader, writer = await asyncio.open_connection("127.0.0.1", publish_port)
    parser = hiredis.Reader()
    padding = b"x" * max(0, args.message_bytes - 20)
    cpu_before = benchlib.cpu_ticks(pids)
    started = time.perf_counter()
    sent = 0
    while sent < args.messages:
        batch = min(args.pipeline, args.messages - sent)
        writer.write(b"".join(_command(b"PUBLISH", CHANNEL, b"%020d" % time.perf_counter_ns() + padding)
                              for _ in range(batch)))
        replies = 0
        while replies < batch:
            parser.feed(await reader.read(1 << 16))
            while parser.gets() is not False:
                replies += 1
        sent += batch
    done, pending = await asyncio.wait(tasks, timeout=args.drain_timeout)
    elapsed = time.perf_counter() - started
    for task in pending:
        task.cancel()
    writer.close()
    cpu_after = benchlib.cpu_ticks(pids)
    latencies = sorted(ns / 1e6 for one in arrivals for ns in one)
    delivered = len(latencies)
    return {
        "published": sent, "delivered": delivered, "lost": sent * args.subscribers - delivered,
        "delivered_per_s": round(delivered / elapsed), "elapsed_s": round(elapsed, 3),
        "p50_ms": round(benchlib.percentile(latencies, 0.5), 3) if latencies else None,
        "p99_ms": round(benchlib.percentile(latencies, 0.99), 3) if latencies else None,
        "cpu_us_per_delivered": benchlib.cpu_us_per_op(cpu_before, cpu_after, max(delivered, 1)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--pipeline", type=int, default=16, help="PUBLISHes in flight from the publisher")
    parser.add_argument("--message-bytes", type=int, default=64)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        print("needs redis-server: apt-get install redis-server", file=sys.stderr)
        return 2
    with benchrig.Rig("bench-pubsub-") as rig:
        rig.cluster.wait_log_version(commands.MAX_VERSION)   # PUBLISHes grouped into one entry from version 9
        pids, redis_pids = rig.raftcache_pids, rig.redis.pids()
        results = rig.header(args)
        benchlib.settle(rig.pids)
        results["raftcache"] = asyncio.run(_run(
            rig.leader.redis_address[1], [n.redis_address[1] for n in rig.followers], args, pids))
        benchlib.settle(rig.pids)
        results["redis"] = asyncio.run(_run(rig.redis.ports[0], rig.redis.ports[1:], args, redis_pids))
        theirs = results["redis"]["delivered_per_s"]
        results["ratio"] = round(results["raftcache"]["delivered_per_s"] / theirs, 3) if theirs else None
        results["loadavg_1m_end"] = benchlib.load_average()
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
