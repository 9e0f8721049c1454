"""The rig of every benchmark that compares raftcache with Redis: a started 3-node
raftcache cluster beside a redis-server primary with two replicas (appendonly,
appendfsync everysec), all on 127.0.0.1 under one temporary directory.

    with benchrig.Rig("bench-resp-") as rig:
        rig.leader, rig.followers, rig.redis.ports, rig.pids   # process name -> PID
        results = rig.header(args)                             # what every JSON starts with
        ...

On exit both are stopped and the directory is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

from raftcache.localcluster import LocalCluster, free_base_port, wait_until
from scripts import benchlib


class RedisTrio:
    """A redis-server primary and two replicas, appendonly everysec, in a temp dir."""

    def __init__(self, root: str):
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.ports = [free_base_port() for _ in range(3)]

    def start(self) -> "RedisTrio":
        for i, port in enumerate(self.ports):
            d = os.path.join(self.root, f"redis{i}")
            os.makedirs(d)
            argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d, "--save", "",
                    "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "no"]
            if i:
                argv += ["--replicaof", "127.0.0.1", str(self.ports[0])]
            self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports[1:]:
            wait_until(lambda: b"master_link_status:up" in subprocess.run(
                ["redis-cli", "-p", str(port), "info", "replication"], capture_output=True).stdout, 20,
                f"redis replica {port} to sync")
        return self

    def pids(self) -> dict[str, int]:
        return {("redis-primary" if i == 0 else f"redis-replica{i}"): p.pid for i, p in enumerate(self.procs)}

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


class Rig:
    """See the module docstring."""

    def __init__(self, prefix: str):
        self.root = tempfile.mkdtemp(prefix=prefix)
        self.cluster = LocalCluster(os.path.join(self.root, "raftcache"), 3)
        self.redis = RedisTrio(self.root)
        self.started = time.time()

    def __enter__(self) -> "Rig":
        try:
            self.cluster.start()
            self.redis.start()
        except BaseException:
            self.__exit__()
            raise
        self.leader = self.cluster.leader()
        self.followers = self.cluster.followers()
        #: process name ("raftcache-leader-n1", "redis-primary", …) -> PID, for the CPU figures
        self.raftcache_pids = {f"raftcache-{'leader' if n is self.leader else 'follower'}-{n.id}": n.pid
                               for n in self.cluster.alive_nodes()}
        self.pids = {**self.raftcache_pids, **self.redis.pids()}
        return self

    def header(self, args) -> dict:
        """The fields every benchmark's JSON starts with."""
        return {"command": benchlib.command_line(), "loadavg_1m": benchlib.load_average(), "args": vars(args),
                "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                "cpus": os.cpu_count()}

    def report(self, results: dict) -> None:
        """Print `results` as the run's JSON, with its elapsed time and the load average at its end."""
        results["elapsed_s"] = round(time.time() - self.started, 1)
        results["loadavg_1m_end"] = benchlib.load_average()
        print(json.dumps(results, indent=2))

    def __exit__(self, *exc) -> None:
        self.cluster.close()
        self.redis.close()
        shutil.rmtree(self.root, ignore_errors=True)
