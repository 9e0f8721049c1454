#!/usr/bin/env python3
"""Judge the SDK's failover: INCR a counter while the leader's zone is killed and restarted.

Starts a fresh local cluster (raftcache/localcluster.py: one process per node, zones
a, b, c, …), then runs writers through the SDK — `--threads` threads sharing
one sync `Client` and `--tasks` asyncio tasks sharing one `AsyncClient` —
each calling `incr("counter")` in a loop and counting the calls that
returned. Meanwhile it kills every node in the leader's zone (SIGKILL),
waits for a new leader, keeps writing, restarts the killed nodes and keeps
writing again. `--rounds` repeats the kill/restart.

Prints one JSON verdict; exit status 0 when it passed:
    ok = no call raised and the final counter == the number of successful calls.

    python scripts/counter_under_failover.py [--nodes 3] [--rounds 1] [--threads 2] [--tasks 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from raftcache.client import AsyncClient, Client
from raftcache.client.transport import ignore_poller_noise

from raftcache.localcluster import LocalCluster, wait_until

KEY = "counter"


class Tally:
    """Successful calls, errors and the slowest call, across every writer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked = 0
        self.errors: list[str] = []
        self.slowest_s = 0.0

    def record(self, started: float, error: BaseException | None) -> None:
        elapsed = time.monotonic() - started
        with self.lock:
            self.slowest_s = max(self.slowest_s, elapsed)
            if error is None:
                self.acked += 1
            else:
                self.errors.append(repr(error))


def sync_writers(seeds, n: int, stop: threading.Event, tally: Tally, options: dict) -> list[threading.Thread]:
    client = Client(seeds, **options)

    def loop():
        while not stop.is_set():
            started = time.monotonic()
            try:
                client.incr(KEY)
            except Exception as e:  # noqa: BLE001 - every error is part of the verdict
                tally.record(started, e)
            else:
                tally.record(started, None)

    threads = [threading.Thread(target=loop, name=f"sync-writer-{i}") for i in range(n)]

    def closer():
        for t in threads:
            t.join()
        client.close()

    return threads + [threading.Thread(target=closer, name="sync-closer")]


def async_writers(seeds, n: int, stop: threading.Event, tally: Tally, options: dict) -> list[threading.Thread]:
    async def main():
        ignore_poller_noise(asyncio.get_running_loop())  # two loops use grpc.aio in this process
        async with AsyncClient(seeds, **options) as client:
            async def loop():
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        await client.incr(KEY)
                    except Exception as e:
                        tally.record(started, e)
                    else:
                        tally.record(started, None)
            await asyncio.gather(*(loop() for _ in range(n)))

    return [threading.Thread(target=lambda: asyncio.run(main()), name="async-writers")] if n else []


def _new_leader(cluster, old):
    leader = cluster.leader(5)
    return leader if leader.id != old.id else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1, help="kill/restart rounds")
    ap.add_argument("--threads", type=int, default=2, help="sync writer threads (one shared Client)")
    ap.add_argument("--tasks", type=int, default=4, help="async writer tasks (one shared AsyncClient)")
    ap.add_argument("--warmup-s", type=float, default=2.0)
    ap.add_argument("--down-s", type=float, default=3.0, help="how long the zone stays down after a new leader")
    ap.add_argument("--after-s", type=float, default=3.0, help="writing after the restart")
    ap.add_argument("--timeout-s", type=float, default=30.0, help="the SDK's per-call deadline")
    ap.add_argument("--data-dir", default=None, help="default: a temporary directory")
    args = ap.parse_args()

    root = args.data_dir or tempfile.mkdtemp(prefix="raftcache-failover-")
    cluster = LocalCluster(root, args.nodes)
    tally, stop, timeline = Tally(), threading.Event(), []
    t0 = time.monotonic()

    def note(event: str, **fields) -> None:
        timeline.append({"t_s": round(time.monotonic() - t0, 2), "event": event, **fields})

    verdict: dict = {}
    threads: list[threading.Thread] = []
    try:
        cluster.start()
        note("cluster up", leader=cluster.leader().id)
        seeds = [n.grpc_address for n in cluster.nodes]
        options = {"timeout_s": args.timeout_s}
        threads = (sync_writers(seeds, args.threads, stop, tally, options)
                   + async_writers(seeds, args.tasks, stop, tally, options))
        for t in threads:
            t.start()
        time.sleep(args.warmup_s)
        for round_no in range(args.rounds):
            old = cluster.leader()
            victims = cluster.kill_zone(old.zone)
            note("killed zone", round=round_no, zone=old.zone, nodes=[n.id for n in victims], acked=tally.acked)
            new = wait_until(lambda old=old: _new_leader(cluster, old), 60, "a new leader")
            note("new leader", leader=new.id, acked=tally.acked)
            time.sleep(args.down_s)
            for node in victims:
                cluster.restart(node)
            note("restarted", nodes=[n.id for n in victims], acked=tally.acked)
            time.sleep(args.after_s)
    except Exception as e:  # noqa: BLE001 - a broken harness is a failed verdict, with its reason
        verdict["harness_error"] = repr(e)
    finally:
        stop.set()
        for t in threads:
            t.join(args.timeout_s + 30)
        verdict["writers_stuck"] = [t.name for t in threads if t.is_alive()]
        try:
            with Client([n.grpc_address for n in cluster.nodes], read_consistency="linearizable") as c:
                counter = int(c.get(KEY) or 0)
        except Exception as e:
            counter = None
            verdict["harness_error"] = verdict.get("harness_error") or f"final read failed: {e!r}"
        note("stopped", acked=tally.acked)
        cluster.close()

    verdict.update(
        ok=(not tally.errors and counter == tally.acked and not verdict.get("harness_error")
            and not verdict["writers_stuck"] and tally.acked > 0),
        counter=counter,
        successful_calls=tally.acked,
        raised=len(tally.errors),
        first_errors=tally.errors[:10],
        slowest_call_s=round(tally.slowest_s, 3),
        writers={"sync_threads": args.threads, "async_tasks": args.tasks},
        rounds=args.rounds,
        timeline=timeline,
        data_dir=root,
    )
    print(json.dumps(verdict, indent=2))
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
