"""Apply microbenchmark: µs per SET applied, and per GET read, in one process (no Raft, no sockets).

Usage: python scripts/bench_apply.py [--sets 20000] [--gets 20000] [--keys 10000] [--value-bytes 100] [--json]

What every replica does per committed SET: `StateMachine.apply` of an encoded
log entry (one SET of a --value-bytes value) to a temporary LMDB keyspace, as
node/raft/replication.py calls it on the Raft thread. The keys are written once
before timing (so timed SETs overwrite, and every GET hits). Then the GET
fast path's keyspace part (`StateMachine.get_string`) for the same keys.
Reports wall µs and process CPU µs per operation, errors (an apply that
returns a CommandError) apart, and the GET hit rate. Prints JSON (always;
--json is accepted for uniformity) with the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scripts import benchlib


def per_op_us(seconds: float, ops: int) -> float | None:
    """Microseconds per operation, rounded to 0.01 (None without operations)."""
    return round(seconds * 1e6 / ops, 2) if ops else None


def main() -> int:
    from raftcache.node import commands
    from raftcache.node.config import KeyspaceConfig
    from raftcache.node.errors import CommandError
    from raftcache.node.storage.keyspace import Keyspace
    from raftcache.node.commands.statemachine import StateMachine
    from raftcache.proto import commands_pb2 as pb

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=20_000)
    parser.add_argument("--gets", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="print JSON (the default; kept for uniformity)")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-apply-")
    try:
        config = KeyspaceConfig(path=os.path.join(root, "ks"))
        sm = StateMachine(Keyspace(config), config)
        now_ms = int(time.time() * 1000)
        value = b"v" * args.value_bytes
        entries = [commands.encode_entry(pb.LogEntry(
            version=commands.MAX_VERSION, now_ms=now_ms,
            command=pb.Command(set=pb.Set(key=b"key:%d" % (i % args.keys), value=value))))
            for i in range(max(args.sets, args.keys))]
        index = 0
        for data in entries[:args.keys]:  # every key exists before timing
            index += 1
            sm.apply(index, data)

        errors = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        for data in entries[:args.sets]:
            index += 1
            if isinstance(sm.apply(index, data), CommandError):
                errors += 1
        set_wall, set_cpu = time.perf_counter() - t0, time.process_time() - cpu0

        keys = [b"key:%d" % (i % args.keys) for i in range(args.gets)]
        hits = misses = get_errors = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        for key in keys:
            got = sm.get_string(0, key, now_ms)
            if got is None:
                misses += 1
            elif isinstance(got, CommandError):
                get_errors += 1
            else:
                hits += 1
        get_wall, get_cpu = time.perf_counter() - t0, time.process_time() - cpu0

        result = {
            "command": benchlib.command_line(), "loadavg_1m": benchlib.load_average(), "args": vars(args), "cpus": os.cpu_count(), "value_bytes": args.value_bytes,
            "keys": args.keys,
            "set_apply": {"ops": args.sets - errors, "errors": errors, "wall_us_per_op": per_op_us(set_wall, args.sets),
                          "cpu_us_per_op": per_op_us(set_cpu, args.sets)},
            "get_string": {"ops": hits + misses, "errors": get_errors, "hit_rate": benchlib.hit_rate(hits, misses),
                           "wall_us_per_op": per_op_us(get_wall, args.gets),
                           "cpu_us_per_op": per_op_us(get_cpu, args.gets)},
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
