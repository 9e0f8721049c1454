"""Apply microbenchmark: µs per SET applied, and per GET read, in one process (no Raft, no sockets).

Usage: python scripts/bench_apply.py [--sets 20000] [--gets 20000] [--keys 10000] [--value-bytes 100]
           [--scripts 0] [--batch 16] [--rounds 5] [--json]

What every replica does per committed SET: `StateMachine.apply` of an encoded
log entry (one SET of a --value-bytes value) to a temporary LMDB keyspace, as
node/raft/replication.py calls it on the Raft thread. The keys are written once
before timing (so timed SETs overwrite, and every GET hits). Then the GET
fast path's keyspace part (`StateMachine.get_strings` of one key) for the same keys.
Reports wall µs and process CPU µs per operation, errors (an apply that
returns a CommandError) apart, and the GET hit rate. Prints JSON (always;
--json is accepted for uniformity) with the command line.

With --scripts N: N entries of each of INCR, EVALSHA of scripts/bench_scripting.py's
script (INCRBY + EXPIRE) and EVALSHA of `return 1`, applied in LogBatches of --batch
entries (a -P 16 pipeline reaching apply) on --keys random counters (not the SET keys), the case order
interleaved over --rounds rounds; CPU µs per entry, the least of the rounds (the
machine may be shared), and INCR's CPU over EVALSHA's (the rate ratio apply alone allows).
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
    parser.add_argument("--scripts", type=int, default=0, help="entries per scripting case (0: none)")
    parser.add_argument("--batch", type=int, default=16, help="entries per LogBatch in the scripting cases")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the scripting cases")
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
            got = sm.get_strings(0, [key], now_ms)[0]
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
        if args.scripts:
            result["scripting"] = scripting_apply(sm, index, now_ms, args)
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def scripting_apply(sm, index: int, now_ms: int, args) -> dict:
    """CPU µs per applied entry of INCR, EVALSHA of the INCRBY + EXPIRE script, EVALSHA of `return 1`."""
    import random

    from raftcache.node import commands, scripting
    from raftcache.node.errors import CommandError
    from raftcache.node.frontends.resp_table import TABLE
    from raftcache.proto import commands_pb2 as pb
    from scripts.bench_scripting import SCRIPT

    scripting.install()
    rng = random.Random(1)

    def entry(command):
        return pb.LogEntry(version=commands.MAX_VERSION, now_ms=now_ms, seed=rng.getrandbits(63), command=command)

    shas = {}
    for name, body in (("evalsha", SCRIPT.encode()), ("evalsha_return_1", b"return 1")):
        index += 1
        shas[name] = sm.apply(index, commands.encode_entry(entry(pb.Command(script_load=pb.ScriptLoad(body=body)))))
    argvs = {"incr": lambda key: [b"INCR", key],
             "evalsha": lambda key: [b"EVALSHA", shas["evalsha"], b"1", key, b"1"],
             "evalsha_return_1": lambda key: [b"EVALSHA", shas["evalsha_return_1"], b"0"]}
    batches = {name: [commands.encode_batch([
        entry(TABLE[argv(b"x")[0].lower()].build(argv(b"counter:%d" % rng.randrange(args.keys)), 0))
        for _ in range(args.batch)]) for _ in range(max(args.scripts // args.batch, 1))] for name, argv in argvs.items()}
    best: dict[str, float] = {}
    errors = dict.fromkeys(batches, 0)
    for _ in range(args.rounds):
        for name, datas in batches.items():
            cpu0 = time.process_time()
            for data in datas:
                index += 1
                errors[name] += sum(isinstance(r, CommandError) for r in sm.apply(index, data))
            per_entry = per_op_us(time.process_time() - cpu0, len(datas) * args.batch)
            best[name] = min(best.get(name, per_entry), per_entry)
    return {"batch": args.batch, "rounds": args.rounds, "entries_per_round": len(batches["incr"]) * args.batch,
            "cpu_us_per_entry": best, "errors": errors,
            "incr_over_evalsha_cpu": round(best["incr"] / best["evalsha"], 3)}


if __name__ == "__main__":
    sys.exit(main())
