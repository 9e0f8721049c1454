"""Front-end microbenchmark: µs per -P 1 GET or SET through a RESP connection, in one process.

Usage: python scripts/bench_frontend.py [--cases get-any,get-lease,get-linearizable,set]
           [--connections 50] [--turns 200] [--rounds 15] [--keys 2000] [--value-bytes 100]

The real RespServer and resp.Connection over the real Service (its read levels and rounds, its
group commit, the state machine on a temporary LMDB keyspace) with the unit tests' fake Raft
(tests/unit/test_service.py: a proposal is applied on the next loop turn; as a follower, a read
index is answered on the next turn): what a node's Python does for a request, without its
sockets, Raft messages or system calls, which on this project's shared machine move from hour
to hour by more than a front-end change does. --connections connections each hand one request
to `data_received` per event-loop turn (as -P 1 clients do); a case runs --rounds rounds of
--turns turns and reports the least µs per request of the rounds (wall and process CPU: one
thread, so they agree unless the machine is shared) and its median. Every reply is checked
(a value or nil for a GET, +OK for a SET); `bad_replies` counts the others.

Cases: `get-any`, `get-lease`, `get-linearizable` on a follower (half the keys exist), `set`
on the leader (100,000 keys, overwritten). Prints JSON with the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import random
import shutil
import statistics
import sys
import tempfile
import time

import uvloop

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scripts import benchlib  # noqa: E402

CASES = ("get-any", "get-lease", "get-linearizable", "set")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=lambda s: s.split(","), default=list(CASES))
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--value-bytes", type=int, default=100)
    args = parser.parse_args(argv)
    unknown = [case for case in args.cases if case not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    return args


def frame(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def reply_ok(case: str, reply: bytes) -> bool:
    """A GET's reply is a bulk value or nil; a SET's is +OK."""
    if case == "set":
        return reply == b"+OK\r\n"
    return reply.startswith(b"$")


async def run_case(case: str, args: argparse.Namespace, path: str) -> dict:
    from raftcache.node import commands
    from raftcache.node.config import FrontendConfig
    from raftcache.node.consistency import ReadConsistency
    from raftcache.node.frontends import resp, resp_server
    from raftcache.proto import commands_pb2 as pb
    from tests.unit.resp_fakes import FakeTransport
    from tests.unit.test_service import pipeline, service_on_fake_raft

    class Transport(FakeTransport):
        """Counts replies and checks them instead of keeping them."""

        def __init__(self):
            super().__init__()
            self.replies = self.bad = 0

        def write(self, data):
            self.replies += 1
            self.bad += not reply_ok(case, bytes(data))

    service, raft, _, keyspace = service_on_fake_raft(pathlib.Path(path))
    try:
        service.attach(asyncio.get_running_loop())
        service._sm.log_version = commands.MAX_VERSION   # as a cluster of this release (a plain SET's own apply)
        rng = random.Random(7)
        value = b"v" * args.value_bytes
        writes = [(pb.Command(set=pb.Set(key=b"key:%012d" % i, value=value)), None, "", 0) for i in range(args.keys)]
        await pipeline(service, writes)
        if case.startswith("get-"):
            service._default = ReadConsistency.parse(case[4:])
            raft.is_leader, raft.leader_id, raft.leader_index = False, "n2", raft.applied_index
            requests = [frame(b"GET", b"key:%012d" % rng.randrange(2 * args.keys)) for _ in range(args.connections)]
        else:
            requests = [frame(b"SET", b"key:%012d" % rng.randrange(100_000), value) for _ in range(args.connections)]
        server = resp_server.RespServer(service, FrontendConfig(), "127.0.0.1", 0)
        conns = []
        for _ in range(args.connections):
            conn = resp.Connection(server)
            conn.connection_made(Transport())
            conn.login("default")
            conns.append(conn)
        walls, cpus = [], []
        for _ in range(args.rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.turns):
                for conn, request in zip(conns, requests):
                    conn.data_received(request)
                while any(conn.task is not None for conn in conns):   # rounds and writes answered
                    await asyncio.sleep(0)
                await asyncio.sleep(0)   # the turn's replies sent (StreamConnection.write)
            requests_done = args.turns * args.connections
            walls.append((time.perf_counter() - wall) * 1e6 / requests_done)
            cpus.append((time.process_time() - cpu) * 1e6 / requests_done)
        replies = sum(conn.transport.replies for conn in conns)
        return {"wall_us_min": round(min(walls), 2), "wall_us_median": round(statistics.median(walls), 2),
                "cpu_us_min": round(min(cpus), 2), "cpu_us_median": round(statistics.median(cpus), 2),
                "requests": args.rounds * args.turns * args.connections, "replies": replies,
                "bad_replies": sum(conn.transport.bad for conn in conns)}
    finally:
        keyspace.close()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    out = {"command": benchlib.command_line(argv), "loadavg_1m": benchlib.load_average(),
           "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "args": {k: v for k, v in vars(args).items()}, "cases": {}}
    for case in args.cases:
        path = tempfile.mkdtemp(prefix="bench-frontend-")
        try:
            out["cases"][case] = uvloop.run(run_case(case, args, path))   # (the nodes' event loop)
        finally:
            shutil.rmtree(path, ignore_errors=True)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
