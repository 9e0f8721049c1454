"""A real redis-server for the tests that compare raftcache's replies and stored
bytes with Redis's (HyperLogLog values, geohash scores and distances, stream
replies).

`RealRedis.start()` runs /usr/bin/redis-server (or $RAFTCACHE_REDIS_SERVER)
on a free loopback port (the launcher's free_base_port) with no
persistence; `stop()` ends that process by its pid. Tests that need it skip
when no redis-server is installed. The installed server may be older than
the Redis version raftcache follows (7.4): comparisons leave out the fields
a newer Redis added.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import pytest
import redis

from raftcache.localcluster import free_base_port

SERVER = os.environ.get("RAFTCACHE_REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"


class RealRedis:
    """One redis-server process on loopback."""

    def __init__(self, *extra_args: str) -> None:
        """`extra_args`: more redis-server options, e.g. "--cluster-enabled", "yes"."""
        self.extra_args = extra_args
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.dir = tempfile.mkdtemp(prefix="real-redis-")

    def start(self, timeout_s: float = 10.0) -> "RealRedis":
        if not os.path.exists(SERVER):
            pytest.skip(f"no redis-server at {SERVER}")
        # the launcher's ports: below the ephemeral range (an outgoing connection cannot take it
        # before the server binds) and reserved against the other test workers
        self.port = free_base_port()
        self.proc = subprocess.Popen(
            [SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--enable-debug-command", "yes", *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.client().ping():
                    return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise
            time.sleep(0.05)

    def client(self, protocol: int = 2, **kwargs) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=protocol, socket_timeout=10, **kwargs)

    @property
    def version(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self.client().info("server")["redis_version"].split("."))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
