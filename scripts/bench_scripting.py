"""Scripting benchmark: EVALSHA of a small write script against raftcache and Redis, same run,
next to each server's own plain INCR.

Usage: python scripts/bench_scripting.py [--requests 50000] [--clients 50] [--pipelines 1,16]
           [--keyspace 10000] [--writes-to leader,follower] [--rounds 3]

Starts a three-node raftcache cluster and a redis-server primary with two replicas
(scripts/benchrig.py: appendonly yes, everysec), loads the script
    redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[1], 3600) return 1
with SCRIPT LOAD on both, then runs redis-benchmark at -c CLIENTS with each -P:
`EVALSHA <sha> 1 key:__rand_int__ 1` (-r --keyspace) and `-t incr`, on raftcache's
leader (and, as another case, through a follower) and on Redis's primary.

Per case and server: ops/s counting only successful replies (INFO commandstats
failed_calls + rejected_calls reported apart), p50 and p99, CPU µs per request of
every process. Also per -P: raftcache's EVALSHA rate over its own INCR rate (the
target is >= 0.5) and raftcache's over Redis's. Prints JSON; the load average
before and after is in it (the machine may be shared).

A shared machine's speed drifts by ±20 % within a minute, which one EVALSHA run
followed by one INCR run takes for its ratio: --rounds runs the pair that many
times, in turns (EVALSHA first, then INCR first), and the ratios are each round's;
the summary gives every round's and their median, and each case the figures of its
median round.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scripts import bench_resp, benchlib, benchrig

SCRIPT = "redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[1], 3600) return 1"
SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()
#: case -> (redis-benchmark's arguments after the common ones, the INFO commandstats name)
CASES = {"EVALSHA": (["EVALSHA", SHA, "1", "key:__rand_int__", "1"], "evalsha"), "INCR": (["-t", "incr"], "incr")}


def benchmark_argv(port: int, case: str, clients: int, pipeline: int, requests: int, keyspace: int) -> list[str]:
    """The redis-benchmark command line of one case."""
    return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-P", str(pipeline),
            "-n", str(requests), "-r", str(keyspace), "--csv", "-q", *CASES[case][0]]


def run_case(port: int, case: str, args, pipeline: int, requests: int, pids: dict[str, int]) -> dict:
    """Wait for idle, run redis-benchmark once against `port`, measure around it."""
    idle = benchlib.settle(pids, timeout_s=args.idle_timeout)
    argv = benchmark_argv(port, case, args.clients, pipeline, requests, args.keyspace)
    command = CASES[case][1]
    before, cpu_before = bench_resp.info(port), benchlib.cpu_ticks(pids)
    run = None
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=args.case_timeout)
        parsed = benchlib.parse_redis_benchmark_csv(run.stdout)
    except (subprocess.TimeoutExpired, ValueError) as e:
        return {"error": str(e)[-300:], "stderr": run.stderr[-300:] if run is not None else "",
                "command": shlex.join(argv), "idle_wait": idle}
    cpu_after, after = benchlib.cpu_ticks(pids), bench_resp.info(port)
    errors = benchlib.command_errors(after, command) - benchlib.command_errors(before, command)
    elapsed_s = requests / parsed["rps"]
    return {
        "ops_per_s": round(benchlib.successful_rate(requests, errors, elapsed_s)),
        "p50_ms": parsed["p50_ms"], "p99_ms": parsed["p99_ms"], "requests": requests, "errors": errors,
        "cpu_us_per_op": benchlib.cpu_us_per_op(cpu_before, cpu_after, requests),
        "command": shlex.join(argv), "idle_wait": idle,
    }


def median(values: list) -> float | None:
    """The median of the figures measured (None when a round failed to give one)."""
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def median_round(runs: list[dict]) -> dict:
    """Of one case's rounds, the run whose rate is the median (the lower one of an even count)."""
    measured = sorted((run for run in runs if "ops_per_s" in run), key=lambda run: run["ops_per_s"])
    return measured[(len(measured) - 1) // 2] if measured else runs[0]


def script_load(port: int) -> None:
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "SCRIPT", "LOAD", SCRIPT],
                         capture_output=True, text=True, timeout=30).stdout.strip()
    if out != SHA:
        raise RuntimeError(f"SCRIPT LOAD on port {port} answered {out!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000, help="requests per case at -P 1 (x4 for larger -P)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    parser.add_argument("--keyspace", type=int, default=10_000, help="redis-benchmark -r")
    parser.add_argument("--writes-to", type=bench_resp.writes_to, default=["leader", "follower"])
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="longest idle wait before a case (s)")
    parser.add_argument("--case-timeout", type=float, default=300.0)
    parser.add_argument("--rounds", type=int, default=3, help="EVALSHA/INCR pairs per -P and target, in turns")
    args = parser.parse_args()
    if not shutil.which("redis-benchmark") or not shutil.which("redis-server"):
        print("needs redis-benchmark and redis-server: apt-get install redis-tools redis-server", file=sys.stderr)
        return 2
    with benchrig.Rig("bench-scripting-") as rig:
        leader, follower = rig.leader, rig.followers[0]
        script_load(leader.redis_address[1])
        script_load(rig.redis.ports[0])
        results: dict = {**rig.header(args), "script": SCRIPT, "processes": rig.pids, "cases": {}, "summary": {}}
        nodes = {"leader": leader, "follower": follower}
        for pipeline in args.pipelines:
            n = args.requests * (4 if pipeline > 1 else 1)
            for target in args.writes_to:
                port = nodes[target].redis_address[1]
                rounds = []
                for turn in range(args.rounds):
                    order = list(CASES) if turn % 2 == 0 else list(reversed(CASES))
                    rounds.append({case: {"raftcache": run_case(port, case, args, pipeline, n, rig.pids),
                                          "redis": run_case(rig.redis.ports[0], case, args, pipeline, n, rig.pids)}
                                   for case in order})
                    print(f"-P {pipeline} {target} round {turn + 1}: " + ", ".join(
                        f"{case} raftcache {rounds[-1][case]['raftcache'].get('ops_per_s')} redis "
                        f"{rounds[-1][case]['redis'].get('ops_per_s')}" for case in CASES), file=sys.stderr, flush=True)
                for case in CASES:
                    both = {server: median_round([r[case][server] for r in rounds]) for server in ("raftcache", "redis")}
                    results["cases"][f"{case} -P {pipeline} raftcache {target}"] = {
                        **both, "ratio": bench_resp.ratio(both["raftcache"], both["redis"]),
                        "rounds_ops_per_s": {server: [r[case][server].get("ops_per_s") for r in rounds]
                                             for server in ("raftcache", "redis")}}
                over_incr = [bench_resp.ratio(r["EVALSHA"]["raftcache"], r["INCR"]["raftcache"]) for r in rounds]
                over_redis = [bench_resp.ratio(r["EVALSHA"]["raftcache"], r["EVALSHA"]["redis"]) for r in rounds]
                results["summary"][f"-P {pipeline} raftcache {target}"] = {
                    "evalsha_over_incr": median(over_incr), "target": 0.5, "rounds": over_incr,
                    "raftcache_over_redis_evalsha": median(over_redis),
                }
        rig.report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
