"""Redis-protocol benchmark: redis-benchmark against raftcache and against Redis, same run.

Usage: python scripts/bench_resp.py [--requests 100000] [--clients 50] [--pipelines 1,16]
           [--tests SET,GET,...] [--read-levels linearizable,lease,bounded:100,any]
           [--writes-to leader,follower] [--value-bytes 100] [--json]

Starts a three-node raftcache cluster and a redis-server primary with two
replicas (appendonly yes, appendfsync everysec), all on 127.0.0.1, and writes
every key a GET can ask for (key:000000000000 … key:<keyspace - 1>, values of
--value-bytes) to both before the first case. Runs redis-benchmark (-d
--value-bytes, -r --keyspace) at -c CLIENTS with each -P: writes against
raftcache's leader and, as another case, through a follower (which forwards
them to the leader), each next to Redis's primary; GET against a raftcache
follower, once per --read-levels level (set cluster-wide by CONFIG SET
raftcache-default-read), next to a Redis replica. The defaults are issue 14's
run: every read level, writes to the leader and through a follower.

Per case and server: ops/s counting only successful replies (errors, from
INFO commandstats failed_calls + rejected_calls, are reported apart), p50 and
p99, the GET hit rate (INFO keyspace_hits / keyspace_misses deltas), CPU µs
per request of every raftcache and redis-server process (/proc/PID/stat),
the idle wait before it, and the redis-benchmark command line. Prints JSON
(always; --json is accepted for uniformity with the other scripts).

The eviction case (unless --eviction-maxmemory 0) runs last: SET -P 1 of
fresh keys (-r 100 x the requests) on each server twice, once with room
(CONFIG SET maxmemory 0: Redis's no limit, raftcache's node value) and once with
CONFIG SET maxmemory --eviction-maxmemory and maxmemory-policy allkeys-lru,
filled to that size first; the requests write 3x maxmemory. Reported: both
rates, their ratio (the target is >= 0.8 for raftcache), evicted_keys and
used_memory after, and raftcache's rate against Redis's under eviction.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from raftcache.node.config.values import parse_size
from scripts import benchlib, benchrig
from raftcache.localcluster import wait_until

# redis-benchmark's own tests: LPUSH grows one list, HSET and ZADD add random
# fields/members to one hash / sorted set. Value: the command INFO counts it under.
TESTS = {"SET": "set", "GET": "get", "INCR": "incr", "LPUSH": "lpush", "HSET": "hset", "ZADD": "zadd"}
READS = {"GET"}


def benchmark_argv(port: int, test: str, clients: int, pipeline: int, requests: int, value_bytes: int,
                   keyspace: int) -> list[str]:
    """The redis-benchmark command line of one case."""
    return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-P", str(pipeline),
            "-n", str(requests), "-r", str(keyspace), "-d", str(value_bytes), "--csv", "-q",
            "-t", TESTS[test]]


def info(port: int) -> dict[str, str]:
    """`INFO all` of a server (raftcache or Redis) as {field: value}."""
    run = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "info", "all"],
                         capture_output=True, text=True, timeout=30)
    return benchlib.parse_info(run.stdout)


def summarize(test: str, requests: int, parsed: dict, before: dict, after: dict,
              cpu_before: dict, cpu_after: dict, lookups: tuple[int, int] = (0, 0)) -> dict:
    """One server's figures for one case from redis-benchmark's CSV row and INFO/CPU samples.

    Errors are the command's failed + rejected calls during the case; ops/s
    counts only the successful replies (redis-benchmark's rps counts every
    reply, errors included). `lookups`: the (hits, misses) deltas of every
    node that may have done the lookups (a raftcache follower hands a
    linearizable read to the leader, which counts it)."""
    command = TESTS[test]
    errors = benchlib.command_errors(after, command) - benchlib.command_errors(before, command)
    elapsed_s = requests / parsed["rps"]
    out = {
        "ops_per_s": round(benchlib.successful_rate(requests, errors, elapsed_s)),
        "p50_ms": parsed["p50_ms"], "p99_ms": parsed["p99_ms"],
        "requests": requests, "errors": errors,
        "calls_counted": benchlib.command_calls(after, command) - benchlib.command_calls(before, command),
        "cpu_us_per_op": benchlib.cpu_us_per_op(cpu_before, cpu_after, requests),
    }
    if test in READS:
        hits, misses = lookups
        out.update(hits=hits, misses=misses, hit_rate=benchlib.hit_rate(hits, misses))
    return out


def lookup_counts(ports: list[int]) -> tuple[int, int]:
    """Summed (keyspace_hits, keyspace_misses) of the servers at `ports`."""
    infos = [info(p) for p in ports]
    return (sum(int(i.get("keyspace_hits", 0)) for i in infos), sum(int(i.get("keyspace_misses", 0)) for i in infos))


def run_case(port: int, test: str, args, pipeline: int, requests: int, pids: dict[str, int],
             lookup_ports: list[int]) -> dict:
    """Wait for idle, then run redis-benchmark once against `port` and measure around it
    (hits and misses summed over `lookup_ports`)."""
    idle = benchlib.settle(pids, timeout_s=args.idle_timeout)
    argv = benchmark_argv(port, test, args.clients, pipeline, requests, args.value_bytes, args.keyspace)
    before, lookups_before, cpu_before = info(port), lookup_counts(lookup_ports), benchlib.cpu_ticks(pids)
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=args.case_timeout)
        parsed = benchlib.parse_redis_benchmark_csv(run.stdout)
    except (subprocess.TimeoutExpired, ValueError) as e:
        stderr = run.stderr[-300:] if isinstance(e, ValueError) else ""
        return {"error": str(e)[-300:], "stderr": stderr, "command": shlex.join(argv), "idle_wait": idle}
    cpu_after, after, lookups_after = benchlib.cpu_ticks(pids), info(port), lookup_counts(lookup_ports)
    lookups = (lookups_after[0] - lookups_before[0], lookups_after[1] - lookups_before[1])
    result = summarize(test, requests, parsed, before, after, cpu_before, cpu_after, lookups)
    result.update(command=shlex.join(argv), idle_wait=idle)
    return result


def populate(port: int, keyspace: int, value_bytes: int, batch: int = 1000) -> None:
    """SET every key redis-benchmark's GET can ask for (key:%012d, 0 <= i < keyspace)."""
    import redis

    client = redis.Redis("127.0.0.1", port, socket_timeout=120)
    value = b"v" * value_bytes
    for start in range(0, keyspace, batch):
        client.mset({b"key:%012d" % i: value for i in range(start, min(start + batch, keyspace))})
    client.close()


def dbsize(port: int) -> int:
    run = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "dbsize"],
                         capture_output=True, text=True, timeout=10)
    return int(run.stdout.strip() or 0)


def set_read_level(leader_port: int, follower_port: int, level: str) -> None:
    """Make `level` raftcache's default read level cluster-wide; wait until the follower applies it."""
    subprocess.run(["redis-cli", "-p", str(leader_port), "config", "set", "raftcache-default-read", level],
                   check=True, capture_output=True, timeout=10)
    wait_until(lambda: level in subprocess.run(
        ["redis-cli", "-p", str(follower_port), "config", "get", "raftcache-default-read"],
        capture_output=True, text=True).stdout, 20, f"the follower to read at {level}")


def writes_to(text: str) -> list[str]:
    """--writes-to: leader, follower or both (comma-separated), in that order."""
    targets = [t for t in text.split(",") if t]
    if not targets or any(t not in ("leader", "follower") for t in targets):
        raise argparse.ArgumentTypeError("use leader, follower or leader,follower")
    return targets


def case_name(test: str, pipeline: int, target: str, level: str | None) -> str:
    """"GET -P 1 linearizable" (reads, on a follower); "SET -P 16 leader" / "SET -P 16 via follower"."""
    if level:
        return f"{test} -P {pipeline} {level}"
    return f"{test} -P {pipeline} " + ("leader" if target == "leader" else "via follower")


def config_set(port: int, *pairs: str) -> None:
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "config", "set", *pairs],
                   check=True, capture_output=True, timeout=10)


def fill_to(port: int, maxmemory: int, value_bytes: int, batch: int = 500) -> int:
    """MSET keys fill:* until the server's used_memory reaches 95 % of `maxmemory`; keys written."""
    import redis

    client = redis.Redis("127.0.0.1", port, socket_timeout=120)
    value, n = b"f" * value_bytes, 0
    while int(client.info("memory")["used_memory"]) < 0.95 * maxmemory:
        client.mset({b"fill:%012d" % (n + i): value for i in range(batch)})
        n += batch
    client.close()
    return n


def eviction_requests(maxmemory: int, value_bytes: int) -> int:
    """SETs that write 3x maxmemory of logical records (raftcache charges key + value + 64 bytes)."""
    return 3 * maxmemory // (value_bytes + len("key:000000000000") + 64)


def eviction_case(port: int, admin_ports: list[int], args, pids: dict[str, int], room: str) -> dict:
    """One server's SET -P 1 rate with room (`room`: the maxmemory that leaves it) and at 3x
    --eviction-maxmemory under allkeys-lru; `admin_ports` take the CONFIG SET and FLUSHALL."""
    maxmemory = args.eviction_maxmemory
    n = eviction_requests(maxmemory, args.value_bytes)
    cases = {}
    for name, limit in (("with_room", room), ("evicting", str(maxmemory))):
        for admin in admin_ports:
            subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(admin), "flushall"], check=True,
                           capture_output=True, timeout=60)
            config_set(admin, "maxmemory", limit, "maxmemory-policy", "allkeys-lru")
        filled = fill_to(port, maxmemory, args.value_bytes) if name == "evicting" else 0
        before = info(port)
        keyspace_args = argparse.Namespace(**{**vars(args), "keyspace": 100 * n})
        result = run_case(port, "SET", keyspace_args, 1, n, pids, [])
        after = info(port)
        result.update(prefilled_keys=filled, used_memory_after=int(after.get("used_memory", 0)),
                      evicted_keys=int(after.get("evicted_keys", 0)) - int(before.get("evicted_keys", 0)))
        cases[name] = result
    cases["maxmemory"] = maxmemory
    cases["evicting_vs_with_room"] = ratio(cases["evicting"], cases["with_room"])
    return cases


def ratio(ours: dict, theirs: dict) -> float | None:
    if "ops_per_s" in ours and "ops_per_s" in theirs and theirs["ops_per_s"]:
        return round(ours["ops_per_s"] / theirs["ops_per_s"], 3)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000,
                        help="requests per test at -P 1 (x4 for larger -P); short runs weigh connection set-up in")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    parser.add_argument("--tests", type=lambda s: s.upper().split(","), default=list(TESTS))
    parser.add_argument("--read-levels", type=lambda s: s.split(","),
                        default=["linearizable", "lease", "bounded:100", "any"],
                        help="raftcache read levels GET runs at on the follower, one case each")
    parser.add_argument("--writes-to", type=writes_to, default=["leader", "follower"],
                        help="the raftcache nodes that take the writes, one case each: leader, follower "
                             "(which forwards them to the leader) or both")
    parser.add_argument("--value-bytes", type=int, default=100, help="redis-benchmark -d and the populated values")
    parser.add_argument("--keyspace", type=int, default=100_000, help="redis-benchmark -r: keys written before reads")
    parser.add_argument("--eviction-maxmemory", type=parse_size, default=16 << 20,
                        help="maxmemory of the eviction case, e.g. 16mb (0: no eviction case)")
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="longest idle wait before a case (s)")
    parser.add_argument("--case-timeout", type=float, default=300.0)
    parser.add_argument("--json", action="store_true", help="print JSON (the default; kept for uniformity)")
    args = parser.parse_args()
    if not shutil.which("redis-benchmark") or not shutil.which("redis-server"):
        print("needs redis-benchmark and redis-server: apt-get install redis-tools redis-server", file=sys.stderr)
        return 2
    with benchrig.Rig("bench-resp-") as rig:
        leader, follower, redis, pids = rig.leader, rig.followers[0], rig.redis, rig.pids
        for port, read_port in ((leader.redis_address[1], follower.redis_address[1]), (redis.ports[0], redis.ports[1])):
            populate(port, args.keyspace, args.value_bytes)
            wait_until(lambda: dbsize(read_port) >= args.keyspace, 60, f"{args.keyspace} keys on port {read_port}")
        results: dict = {
            **rig.header(args), "clients": args.clients, "value_bytes": args.value_bytes,
            "keyspace": args.keyspace, "writes_to": args.writes_to, "processes": pids, "cases": {},
        }
        nodes = {"leader": leader, "follower": follower}
        for pipeline in args.pipelines:
            n = args.requests * (4 if pipeline > 1 else 1)
            for test in args.tests:
                variants = [("follower", level) for level in args.read_levels] if test in READS else \
                    [(target, None) for target in args.writes_to]
                for target, level in variants:
                    if level:
                        set_read_level(leader.redis_address[1], follower.redis_address[1], level)
                    theirs_port = redis.ports[1] if test in READS else redis.ports[0]
                    ours = run_case(nodes[target].redis_address[1], test, args, pipeline, n, pids,
                                    [node.redis_address[1] for node in rig.cluster.alive_nodes()])
                    theirs = run_case(theirs_port, test, args, pipeline, n, pids, redis.ports)
                    name = case_name(test, pipeline, target, level)
                    results["cases"][name] = {
                        "raftcache_node": target, "raftcache_read_level": level, "raftcache": ours,
                        "redis": theirs, "ratio": ratio(ours, theirs),
                    }
                    print(f"{name}: raftcache {ours.get('ops_per_s')} redis {theirs.get('ops_per_s')}",
                          file=sys.stderr, flush=True)
        if args.eviction_maxmemory:
            # maxmemory 0: raftcache's node value (1 GiB), Redis's "no limit"
            ours = eviction_case(leader.redis_address[1], [leader.redis_address[1]], args, pids, room="0")
            theirs = eviction_case(redis.ports[0], [redis.ports[0]], args, pids, room="0")
            results["cases"]["SET -P 1 eviction allkeys-lru"] = {
                "raftcache_node": "leader", "raftcache": ours, "redis": theirs,
                "ratio": ratio(ours["evicting"], theirs["evicting"]),
            }
            print(f"SET -P 1 eviction: raftcache {ours['evicting'].get('ops_per_s')} "
                  f"({ours['evicting_vs_with_room']} of its rate with room) redis "
                  f"{theirs['evicting'].get('ops_per_s')}", file=sys.stderr, flush=True)
        rig.report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
