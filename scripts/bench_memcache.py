#!/usr/bin/env python3
"""Set/get throughput and p50 latency over the memcached protocol: raftcache vs memcached.

One load generator (asyncio, raw text protocol, N connections each sending
one request at a time, so the latency is per request) runs the same load
against a raftcache memcached port and a memcached server in the same run,
then prints both and their ratio, as JSON with --json.

    python scripts/bench_memcache.py                      # starts a 3-node cluster and memcached
    python scripts/bench_memcache.py --raftcache 127.0.0.1:7002 --memcached 127.0.0.1:11211

Without --raftcache it starts a local 3-node cluster (tests/cluster.py, run
from a checkout) and benchmarks its leader's memcached port; without
--memcached it starts `memcached` (Debian package `memcached`) on a free
loopback port. Record the figures in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _worker(addr, op: str, keys: list[bytes], value: bytes, stop_at: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(*addr)
    done, i = 0, 0
    try:
        while time.perf_counter() < stop_at:
            key = keys[i % len(keys)]
            i += 1
            if op == "set":
                req, end = b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value), b"\r\n"
            else:
                req, end = b"get %s\r\n" % key, b"END\r\n"
            t0 = time.perf_counter()
            writer.write(req)
            reply = await reader.readuntil(end)
            latencies.append(time.perf_counter() - t0)
            if op == "set" and reply != b"STORED\r\n":
                raise RuntimeError(f"set failed: {reply!r}")
            done += 1
    finally:
        writer.close()
    return done


async def _run(addr, op: str, connections: int, seconds: float, value_bytes: int) -> dict:
    value = b"v" * value_bytes
    keys = [b"bench:%d" % i for i in range(1000)]
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    start = time.perf_counter()
    counts = await asyncio.gather(*(
        _worker(addr, op, keys[c::connections] or keys, value, stop_at, latencies) for c in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0
    return {"ops": sum(counts), "ops_per_s": round(sum(counts) / elapsed, 1),
            "p50_ms": round(p(0.50), 3), "p99_ms": round(p(0.99), 3)}


def bench(addr, args) -> dict:
    out = {}
    for op in ("set", "get"):        # set first: gets then hit
        out[op] = asyncio.run(_run(addr, op, args.connections, args.seconds, args.value_bytes))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raftcache", help="host:port of a raftcache memcached port (default: start a 3-node cluster)")
    ap.add_argument("--memcached", help="host:port of a memcached server (default: start one)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    cleanup = []
    try:
        if args.memcached:
            mc_addr = _addr(args.memcached)
        else:
            binary = shutil.which("memcached")
            if binary is None:
                print("memcached not found: apt-get install memcached, or pass --memcached", file=sys.stderr)
                return 2
            port = _free_port()
            proc = subprocess.Popen([binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "256",
                                     *(["-u", "nobody"] if os.geteuid() == 0 else [])])
            cleanup.append(proc.terminate)
            mc_addr = ("127.0.0.1", port)
            time.sleep(0.3)
        if args.raftcache:
            rc_addr = _addr(args.raftcache)
        else:
            sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            from tests.cluster import Cluster    # a checkout's test helper: real node processes

            cluster = Cluster(tempfile.mkdtemp(prefix="bench-mc-"), 3).start()
            cleanup.append(cluster.close)
            rc_addr = cluster.leader().memcached_address
        result = {"config": {"connections": args.connections, "seconds": args.seconds,
                             "value_bytes": args.value_bytes},
                  "raftcache": bench(rc_addr, args), "memcached": bench(mc_addr, args)}
        result["ratio"] = {op: {
            "throughput": round(result["raftcache"][op]["ops_per_s"] / max(result["memcached"][op]["ops_per_s"], 1e-9), 4),
            "p50": round(result["raftcache"][op]["p50_ms"] / max(result["memcached"][op]["p50_ms"], 1e-9), 2),
        } for op in ("set", "get")}
        if args.json:
            print(json.dumps(result))
        else:
            for who in ("raftcache", "memcached"):
                for op in ("set", "get"):
                    r = result[who][op]
                    print(f"{who:10} {op}: {r['ops_per_s']:>10.1f} ops/s  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms")
            for op in ("set", "get"):
                r = result["ratio"][op]
                print(f"ratio raftcache/memcached {op}: throughput x{r['throughput']}, p50 x{r['p50']}")
    finally:
        for fn in reversed(cleanup):
            fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
