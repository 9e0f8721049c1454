#!/usr/bin/env python3
"""Set/get throughput and p50 latency over the memcached protocol: raftcache vs memcached.

One load generator (asyncio, raw text protocol, N connections each sending
one request at a time, so the latency is per request) runs the same load
against a raftcache memcached port and a memcached server in the same run,
then prints both and their ratio, as JSON with --json.

Before the gets, every key a get can ask for (bench:0 … bench:<keys - 1>,
--value-bytes each) is set on both servers. Per case: ops/s of successful
replies only (error replies are counted apart), the get hit rate (VALUE
replies vs bare END, counted on the client), p50/p99, CPU µs per operation
of each raftcache node and the memcached process (/proc/PID/stat; for
servers this script started), and the idle wait before it (every process
under 5 % of a core over 0.5 s, bounded by --idle-timeout). raftcache's
memcached port reads at the node's default level (linearizable).

    python scripts/bench_memcache.py                      # starts a 3-node cluster and memcached
    python scripts/bench_memcache.py --raftcache 127.0.0.1:7002 --memcached 127.0.0.1:11211

Without --raftcache it starts a local 3-node cluster (raftcache/localcluster.py, run
from a checkout) and benchmarks its leader's memcached port; without
--memcached it starts `memcached` (Debian package `memcached`) on a free
loopback port.
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scripts import benchlib  # noqa: E402 - after the checkout is on sys.path

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def classify(op: str, reply: bytes) -> str:
    """One reply -> "ok" (set stored), "hit", "miss" (get) or "error"."""
    if op == "set":
        return "ok" if reply == b"STORED\r\n" else "error"
    if reply.startswith(b"VALUE "):
        return "hit"
    return "miss" if reply == b"END\r\n" else "error"


async def _read_reply(reader, op: str) -> bytes:
    """A set's one line, or a get's VALUE block through END (an error is one line)."""
    line = await reader.readline()
    if op == "get" and line.startswith(b"VALUE "):
        line += await reader.readuntil(b"END\r\n")
    return line


async def _worker(addr, op: str, keys: list[bytes], value: bytes, stop_at: float, latencies: list[float],
                  counts: dict, once: bool = False) -> None:
    """Send one request at a time until `stop_at` (or through `keys` once), counting reply kinds."""
    reader, writer = await asyncio.open_connection(*addr)
    i = 0
    try:
        while (i < len(keys)) if once else (time.perf_counter() < stop_at):
            key = keys[i % len(keys)]
            i += 1
            if op == "set":
                req = b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value)
            else:
                req = b"get %s\r\n" % key
            t0 = time.perf_counter()
            writer.write(req)
            reply = await _read_reply(reader, op)
            latencies.append(time.perf_counter() - t0)
            kind = classify(op, reply)
            counts[kind] = counts.get(kind, 0) + 1
    finally:
        writer.close()


def summarize(counts: dict, elapsed_s: float, latencies: list[float]) -> dict:
    """ops/s of successful replies only, errors apart, the get hit rate, p50/p99 (ms)."""
    latencies = sorted(latencies)
    ok = counts.get("ok", 0) + counts.get("hit", 0) + counts.get("miss", 0)
    errors = counts.get("error", 0)
    out = {"ops": ok, "errors": errors, "ops_per_s": benchlib.successful_rate(ok + errors, errors, elapsed_s),
           "p50_ms": round(benchlib.percentile(latencies, 0.50) * 1000, 3),
           "p99_ms": round(benchlib.percentile(latencies, 0.99) * 1000, 3)}
    if "hit" in counts or "miss" in counts:
        out["hit_rate"] = benchlib.hit_rate(counts.get("hit", 0), counts.get("miss", 0))
    return out


def _keys(n: int) -> list[bytes]:
    return [b"bench:%d" % i for i in range(n)]


async def _run(addr, op: str, connections: int, seconds: float, value_bytes: int, nkeys: int) -> dict:
    value = b"v" * value_bytes
    keys = _keys(nkeys)
    latencies: list[float] = []
    counts: dict = {}
    stop_at = time.perf_counter() + seconds
    start = time.perf_counter()
    await asyncio.gather(*(
        _worker(addr, op, keys[c::connections] or keys, value, stop_at, latencies, counts) for c in range(connections)))
    return summarize(counts, time.perf_counter() - start, latencies)


async def _populate(addr, connections: int, value_bytes: int, nkeys: int) -> None:
    """Set every key a get can ask for, once; raise if any set failed."""
    keys, counts = _keys(nkeys), {}
    await asyncio.gather(*(_worker(addr, "set", keys[c::connections], b"v" * value_bytes, 0.0, [], counts, once=True)
                           for c in range(connections) if keys[c::connections]))
    if counts.get("error"):
        raise RuntimeError(f"populating {addr} failed: {counts}")


def bench(addr, args, pids: dict[str, int]) -> dict:
    asyncio.run(_populate(addr, args.connections, args.value_bytes, args.keys))
    out = {}
    for op in ("set", "get"):
        idle = benchlib.settle(pids, timeout_s=args.idle_timeout) if pids else None
        before = benchlib.cpu_ticks(pids)
        out[op] = asyncio.run(_run(addr, op, args.connections, args.seconds, args.value_bytes, args.keys))
        out[op]["cpu_us_per_op"] = benchlib.cpu_us_per_op(before, benchlib.cpu_ticks(pids), out[op]["ops"])
        out[op]["idle_wait"] = idle
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raftcache", help="host:port of a raftcache memcached port (default: start a 3-node cluster)")
    ap.add_argument("--memcached", help="host:port of a memcached server (default: start one)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--keys", type=int, default=1000, help="keys set before the gets; requests cycle over them")
    ap.add_argument("--idle-timeout", type=float, default=30.0, help="longest idle wait before a case (s)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    cleanup = []
    rc_pids: dict[str, int] = {}
    mc_pids: dict[str, int] = {}
    started = time.time()
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
            mc_pids["memcached"] = proc.pid
            mc_addr = ("127.0.0.1", port)
            time.sleep(0.3)
        if args.raftcache:
            rc_addr = _addr(args.raftcache)
        else:
            from raftcache.localcluster import LocalCluster

            cluster = LocalCluster(tempfile.mkdtemp(prefix="bench-mc-"), 3).start()
            cleanup.append(cluster.close)
            lead = cluster.leader()
            rc_addr = lead.memcached_address
            rc_pids = {f"{'leader' if n is lead else 'follower'}-{n.id}": n.pid for n in cluster.alive_nodes()}
        pids = {**rc_pids, **mc_pids}
        result = {"command": benchlib.command_line(), "loadavg_1m": benchlib.load_average(), "args": vars(args),
                  "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "cpus": os.cpu_count(),
                  "config": {"connections": args.connections, "seconds": args.seconds,
                             "value_bytes": args.value_bytes, "keys": args.keys},
                  "processes": pids,
                  "raftcache": bench(rc_addr, args, pids), "memcached": bench(mc_addr, args, pids)}
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
                    print(f"{who:10} {op}: {r['ops_per_s']:>10.1f} ops/s  p50 {r['p50_ms']:.3f} ms  "
                          f"p99 {r['p99_ms']:.3f} ms  errors {r['errors']}  hit rate {r.get('hit_rate')}  "
                          f"CPU µs/op {r['cpu_us_per_op']}")
            for op in ("set", "get"):
                r = result["ratio"][op]
                print(f"ratio raftcache/memcached {op}: throughput x{r['throughput']}, p50 x{r['p50']}")
    finally:
        for fn in reversed(cleanup):
            fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
