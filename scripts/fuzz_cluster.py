"""Fuzz a real 3-node cluster for N minutes with hostile traffic; print a JSON summary.

    python scripts/fuzz_cluster.py --minutes 30 --seed 1 [--known-bugs] [--root DIR]

Generates batches with scripts/fuzz/strategies.py (seeded: the same seed and
code give the same batches), sends them through redis-py, pymemcache, gRPC
and raw sockets (scripts/fuzz/driver.py), and checks after every batch that
every node is alive and answers, that the replicas' keyspace digests agree
and that the canary keys are unchanged (scripts/fuzz/checks.py).

A failing batch is recorded (its reproducer, once per distinct problem) and
the run goes on; when a node died, the cluster is replaced by a fresh one.
`--known-bugs` also generates the strategies of known, not yet fixed bugs
(strategies.APPLY_CRASHERS and friends), which stop the cluster.
Exit status: 0 without failures, 1 with.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hypothesis import HealthCheck, Phase, given, seed, settings

from raftcache.localcluster import LocalCluster
from scripts.fuzz import session, strategies


class _TimeUp(Exception):
    """The run's time budget is spent."""


def _signature(text: str) -> str:
    """A failure's first problem (or broken invariant) line, without numbers, ports and bytes."""
    lines = [ln.strip() for ln in text.splitlines()]
    key = next((lines[i + 1] for i, ln in enumerate(lines) if ln == "problems:" and i + 1 < len(lines) and lines[i + 1]),
               "")
    if not key:
        key = next((ln for ln in lines if ln and not ln.startswith(("batch", "grpc", "resp", "mc", "problems"))), text[:200])
    key = key.split(": grpc")[0].split(": resp")[0].split(": mc")[0]
    return re.sub(r"\d+", "N", key)[:300]


def _fatal_line(cluster: LocalCluster) -> str:
    """The last CRITICAL line of a dead node's log (why it stopped), without numbers; "" when none died."""
    for node in cluster.nodes:
        if node.alive:
            continue
        try:
            with open(node.log_path, "rb") as f:
                lines = [ln for ln in f.read().decode(errors="replace").splitlines() if " CRITICAL " in ln]
        except OSError:
            continue
        if lines:
            return "node exited: " + re.sub(r"\d+", "N", lines[-1].split(" CRITICAL ", 1)[1])[:300]
    return ""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-actions", type=int, default=25, help="hostile actions per batch (default 25)")
    p.add_argument("--known-bugs", action="store_true", help="also generate the known-bug strategies")
    p.add_argument("--root", default=None, help="directory for the cluster's data and logs (default: a temp dir)")
    args = p.parse_args(argv)

    root = args.root or tempfile.mkdtemp(prefix="raftcache-fuzz-")
    deadline = time.monotonic() + args.minutes * 60
    state = {"examples": 0, "actions": 0, "clusters": 0, "failures": 0}
    distinct: dict[str, dict] = {}
    holder: dict = {}

    def fresh_cluster():
        if "cluster" in holder:
            holder["cluster"].close()
        state["clusters"] += 1
        holder["cluster"] = LocalCluster(os.path.join(root, f"cluster{state['clusters']}"), 3).start(wait_ports=True)
        holder["canaries"] = session.start_canaries(holder["cluster"])

    @settings(max_examples=10**9, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(args.seed)
    @given(strategies.batch(known_bugs=args.known_bugs, max_actions=args.max_actions))
    def one_batch(actions):
        if time.monotonic() >= deadline:
            raise _TimeUp()
        state["examples"] += 1
        state["actions"] += len(actions)
        cluster = holder["cluster"]
        try:
            session.run_and_check(cluster, holder["canaries"], actions)
        except session.BatchFailed as e:
            state["failures"] += 1
            text = str(e)
            fatal = _fatal_line(cluster)
            sig = fatal or _signature(text)
            entry = distinct.setdefault(sig, {"signature": sig, "count": 0, "first": text[:20000],
                                              "example": state["examples"]})
            entry["count"] += 1
            if not all(n.alive for n in cluster.nodes) or "replicas disagree" in text or "canaries changed" in text:
                entry["logs_dir"] = cluster.root
                holder.pop("cluster")  # keep its logs: a fresh cluster gets a new directory
                cluster.close()
                fresh_cluster()

    fresh_cluster()
    started = time.monotonic()
    try:
        one_batch()
    except _TimeUp:
        pass
    finally:
        if "cluster" in holder:
            holder["cluster"].close()
    print(json.dumps({
        "seed": args.seed, "minutes": args.minutes, "known_bugs": args.known_bugs,
        "elapsed_s": round(time.monotonic() - started, 1), "examples": state["examples"],
        "actions": state["actions"], "failures": state["failures"], "clusters_started": state["clusters"],
        "distinct_failures": list(distinct.values()), "root": root,
    }, indent=2))
    if not distinct and not args.root:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if state["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
