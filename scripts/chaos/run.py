"""Run a chaos test: a real cluster, concurrent recording clients, a seeded nemesis, a verdict.

    python scripts/chaos/run.py --duration 600 --seed 7
    python scripts/chaos/run.py --duration 60 --seed 1 --network loopback --faults kill_leader,pause_zone
    python scripts/chaos/run.py --duration 90 --script kill_leader:3:5,partition_zone@a:4:8
    python scripts/chaos/run.py --duration 120 --seed 3 --follower-reads   # reads spread over every node

Writes into --out (default chaos-runs/seed<N>-<time>/): history.jsonl (one
operation a line), faults.json (what the nemesis did, on the history's
clock), verdict.json (checker.verdict plus the run's parameters) and the
node logs under cluster/. Exit status 0 when the verdict is valid, 1 when an
anomaly was found, 2 when the checker could not decide.

--network netns (the default when running as root with iproute2) puts every
node in its own network namespace so zones can be partitioned; this script
then re-runs itself inside the clients' namespace and deletes every
namespace it made when done. --network loopback runs on 127.0.0.1 without
partition faults.

Disk faults (read_only_disk, full_disk: one zone's data dir read-only or
full for a while, then healed and the stopped node restarted) need every
data dir on its own tmpfs: the run mounts them when it runs as root and
mount is permitted, and otherwise drops those kinds with a message (in
verdict.json: run.disk_problem).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from scripts.chaos import checker, net
from scripts.chaos import faults as F

log = logging.getLogger("chaos.run")
DEFAULT_FAULTS = ["kill_zone", "kill_leader", "pause_zone", "pause_leader", "partition_zone", "partition_leader",
                  "cut_leader_from_peers",
                  "kill_all", "read_only_disk", "full_disk"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=120.0, help="seconds of workload (faults included)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", help="output directory")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--network", choices=["auto", "netns", "loopback"], default="auto")
    p.add_argument("--faults", help=f"comma-separated fault kinds to draw from (default: {','.join(DEFAULT_FAULTS)})")
    p.add_argument("--script", help="a scripted schedule instead: kind[@zone]:quiet_s:hold_s,…")
    p.add_argument("--quiet", default="3,8", help="min,max seconds between faults")
    p.add_argument("--hold", default="4,12", help="min,max seconds a fault lasts")
    p.add_argument("--grpc-clients", type=int, default=5)
    p.add_argument("--redis-clients", type=int, default=2)
    p.add_argument("--script-clients", type=int, default=1,
                   help="redis-py workers running a write script (EVALSHA / FCALL: INCRBY + RPUSH; 0: none)")
    p.add_argument("--sdk-clients", type=int, default=2, help="workers using raftcache.client (0: none)")
    p.add_argument("--follower-reads", action="store_true",
                   help="gRPC workers send each read to a node drawn at random (reads at every level, "
                        "linearizable ones included, served by followers)")
    p.add_argument("--max-ops", type=int, default=200_000, help="most operations per client")
    p.add_argument("--write-timeout", type=float, default=12.0,
                   help="seconds a gRPC worker retries a write before recording it unknown")
    p.add_argument("--think", type=float, default=0.0, help="max pause between a client's operations (s)")
    p.add_argument("--registers", type=int, default=3)
    p.add_argument("--counters", type=int, default=2)
    p.add_argument("--appendfsync", default="everysec")
    p.add_argument("--check-budget", type=float, default=300.0, help="seconds the checker may search")
    p.add_argument("--inside", help=argparse.SUPPRESS)  # namespace prefix, set when re-run in the client netns
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.out:
        args.out = os.path.join(os.getcwd(), "chaos-runs", f"seed{args.seed}-{time.strftime('%Y%m%d-%H%M%S')}")
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    if args.inside:
        return run_inside(args, net.NetnsNetwork([f"n{i + 1}" for i in range(args.nodes)], prefix=args.inside))
    mode = args.network
    if mode == "auto":
        mode = "netns" if net.available() else "loopback"
    if mode == "loopback":
        return run_inside(args, None)
    network = net.NetnsNetwork([f"n{i + 1}" for i in range(args.nodes)]).create()
    try:
        child = [*network.exec_prefix(None), sys.executable, os.path.abspath(__file__), *(argv or sys.argv[1:]),
                 "--inside", network.prefix, "--out", args.out]
        proc = subprocess.Popen(child)
        try:
            return proc.wait(timeout=args.duration + args.check_budget + 900)
        except BaseException:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    finally:
        network.destroy()


def _redis_works(cluster) -> str | None:
    """None when a node answers PING on its Redis port, else why not."""
    try:
        import redis

        node = cluster.nodes[0]
        r = redis.Redis(*node.redis_address, socket_timeout=3, socket_connect_timeout=2)
        try:
            r.ping()
            r.set("chaos:probe", "1")
        finally:
            r.close()
        return None
    except Exception as e:
        return repr(e)[:200]


def _sdk_works(targets) -> str | None:
    """None when raftcache.client can set and get through the cluster, else why not."""
    try:
        from raftcache.client import Client

        client = Client([address for _, address in targets], decode_responses=True)
        try:
            client.set("chaos:sdk-probe", "1")
            if client.get("chaos:sdk-probe") != "1":
                return "SDK probe read back something else"
        finally:
            client.close()
        return None
    except Exception as e:
        return repr(e)[:200]


def run_inside(args, network) -> int:
    from scripts.chaos import nemesis as N
    from scripts.chaos import workload as W
    from scripts.chaos.cluster import ChaosCluster

    kinds = (args.faults.split(",") if args.faults else list(DEFAULT_FAULTS))
    if network is None:
        kinds = [k for k in kinds if k not in F.NEEDS_NETWORK]
    unknown = [k for k in kinds if k not in F.FAULTS]
    if unknown:
        raise SystemExit(f"unknown fault kinds: {unknown}")
    scripted = N.parse_script(args.script) if args.script else None
    wants_disk = any(s.kind in F.NEEDS_DISK for s in scripted) if scripted else any(k in F.NEEDS_DISK for k in kinds)
    disk_problem = None
    if wants_disk:
        from scripts.chaos import diskfault

        disk_problem = diskfault.unavailable(args.out)
        if disk_problem:
            log.warning("skipping disk faults: %s", disk_problem)
            print(f"skipping disk faults (read_only_disk, full_disk): {disk_problem}", flush=True)
            kinds = [k for k in kinds if k not in F.NEEDS_DISK]
            if scripted:
                scripted = [s for s in scripted if s.kind not in F.NEEDS_DISK]
    cluster = ChaosCluster(os.path.join(args.out, "cluster"), args.nodes, network=network,
                           appendfsync=args.appendfsync, disk_faults=wants_disk and not disk_problem)
    if scripted is not None:
        steps = scripted
    else:
        steps = N.plan(args.seed, args.duration, kinds, cluster.zones,
                       quiet_s=tuple(map(float, args.quiet.split(","))),
                       hold_s=tuple(map(float, args.hold.split(","))))
    meta = {
        "command": "python scripts/chaos/run.py " + " ".join(a for a in sys.argv[1:] if not a.startswith("--inside")),
        "seed": args.seed, "duration_s": args.duration, "nodes": args.nodes,
        "network": "netns" if network else "loopback", "fault_kinds": kinds,
        "planned": [s.__dict__ for s in steps], "grpc_clients": args.grpc_clients, "appendfsync": args.appendfsync,
        "follower_reads": args.follower_reads,
        "disk_problem": disk_problem,
    }
    history = W.History(os.path.join(args.out, "history.jsonl"))
    stop = threading.Event()
    workers: list[threading.Thread] = []
    nemesis = None
    t_run = time.monotonic()
    try:
        cluster.start(timeout_s=60)
        history.t_start = time.monotonic()
        redis_problem = _redis_works(cluster) if args.redis_clients else "disabled"
        meta["redis_clients"] = 0 if redis_problem else args.redis_clients
        meta["script_clients"] = 0 if redis_problem else args.script_clients
        meta["redis_problem"] = redis_problem
        keys = W.Keys(args.registers, args.counters, 1)
        deadline = time.monotonic() + args.duration
        n = len(cluster.nodes)
        grpc_targets = [(node.id, node.grpc_address) for node in cluster.nodes]
        redis_targets = [(node.id, node.redis_address) for node in cluster.nodes]
        run_id = f"s{args.seed}"
        for i in range(args.grpc_clients):
            rot = grpc_targets[i % n:] + grpc_targets[:i % n]
            workers.append(W.GrpcWorker(f"g{i}", rot, history, keys, args.seed * 1000 + i, stop, deadline,
                                        args.max_ops, run_id, think_s=args.think,
                                        write_timeout_s=args.write_timeout, spread_reads=args.follower_reads))
        if not redis_problem:
            for i in range(args.redis_clients):
                rot = redis_targets[i % n:] + redis_targets[:i % n]
                level = "linearizable" if i % 2 == 0 else "any"
                workers.append(W.RedisWorker(f"r{i}", rot, history, keys, args.seed * 1000 + 500 + i, stop,
                                             deadline, args.max_ops, run_id, level=level, think_s=args.think))
            for i in range(args.script_clients):
                rot = redis_targets[(i + 1) % n:] + redis_targets[:(i + 1) % n]
                workers.append(W.ScriptWorker(f"e{i}", rot, history, keys, args.seed * 1000 + 600 + i, stop,
                                              deadline, args.max_ops, run_id, think_s=args.think))
        if args.sdk_clients:
            meta["sdk_problem"] = _sdk_works(grpc_targets)
            meta["sdk_clients"] = 0 if meta["sdk_problem"] else args.sdk_clients
            for i in range(meta["sdk_clients"]):
                rot = grpc_targets[i % n:] + grpc_targets[:i % n]
                workers.append(W.SdkWorker(f"k{i}", rot, history, keys, args.seed * 1000 + 700 + i, stop,
                                           deadline, args.max_ops, run_id, think_s=args.think))
        for w in workers:
            w.start()
        nemesis = N.Nemesis(cluster, steps, history.now, stop)
        nemesis.start()
        while time.monotonic() < deadline and any(w.is_alive() for w in workers):
            time.sleep(0.5)
        stop.set()
        nemesis.join(120)
        for w in workers:
            w.join(30)
        meta["stragglers"] = [w.name for w in workers if w.is_alive()]
        F.heal_everything(cluster)
        cluster.leader(timeout_s=60)
        W.final_reads(grpc_targets, history, keys, timeout_s=60)
        if args.script_clients and not redis_problem:
            W.replica_reads(cluster, history, timeout_s=60)
    except Exception as e:
        log.exception("run aborted")
        meta["aborted"] = repr(e)
    finally:
        stop.set()
        history.close()
        faults = nemesis.events if nemesis else []
        meta["nemesis_errors"] = nemesis.errors if nemesis else []
        meta["wall_s"] = round(time.monotonic() - t_run, 1)
        try:
            with open(os.path.join(args.out, "cluster-logs-tail.txt"), "w") as f:
                f.write(cluster.tail_logs(40))
        except Exception as e:  # noqa: BLE001 - the logs are a convenience
            log.warning("could not save the log tails: %r", e)
        cluster.close()
    with open(os.path.join(args.out, "faults.json"), "w") as f:
        json.dump(faults, f, indent=1)
    t_check = time.monotonic()
    result = checker.verdict(history.ops, faults, args.check_budget)
    result["check_s"] = round(time.monotonic() - t_check, 1)
    result["run"] = meta
    result["faults"] = faults
    if meta.get("aborted"):
        result["valid"] = None if result["valid"] is not False else False
    with open(os.path.join(args.out, "verdict.json"), "w") as f:
        json.dump(result, f, indent=1, default=str)
    print(json.dumps({k: result[k] for k in ("valid", "anomalies", "undecided", "linearizable", "lease_linearizable",
                                              "acknowledged_writes",
                                              "acknowledged_writes_lost", "script_not_atomic", "replicas_differ",
                                              "max_staleness_ms", "staleness_violations",
                                              "read_index_anomalies", "faults_injected",
                                              "availability")} | {"operations": result["operations"]["total"],
                                                                  "out": args.out}, indent=1, default=str))
    return checker.EXIT_STATUS[result["valid"]]


if __name__ == "__main__":
    sys.exit(main())
