"""A bounded client load for the operations tests: writes (and reads) through raw
gRPC against any node, retrying retryable failures on the next node, like the
SDK's retry policy. A request that is not acknowledged within its budget is
recorded as failed; the tests assert there are none.
"""

from __future__ import annotations

import threading
import time
import uuid

import grpc

from raftcache.node import commands
from raftcache.proto import cache_pb2, cache_pb2_grpc
from raftcache.proto import commands_pb2 as pb

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.FAILED_PRECONDITION,
             grpc.StatusCode.CANCELLED}
_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 500)]


class Load:
    """Writes key{i} = v{i} (a hash every 10th, a TTL every 7th) until stopped or `max_ops`."""

    def __init__(self, addresses: list[str], *, prefix: str = "load", max_ops: int = 20_000,
                 request_budget_s: float = 15.0, reads: bool = False, pause_s: float = 0.0):
        self.addresses = list(addresses)
        self.prefix = prefix
        self.max_ops = max_ops
        self.budget_s = request_budget_s
        self.reads = reads
        self.pause_s = pause_s
        self.client_id = uuid.uuid4().hex
        self.acked: dict[bytes, bytes] = {}
        self.failures: list[str] = []
        self.retries = 0
        self.reads_done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._channels: dict[str, grpc.Channel] = {}

    def __enter__(self) -> "Load":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        for ch in self._channels.values():
            ch.close()

    def wait_for(self, ops: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < ops:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError(f"load made only {len(self.acked)} of {ops} writes; failures {self.failures[:3]}")
            time.sleep(0.05)

    def _stub(self, address: str) -> cache_pb2_grpc.CacheStub:
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpc.insecure_channel(address, options=_OPTIONS)
        return cache_pb2_grpc.CacheStub(ch)

    def _call(self, request: cache_pb2.Request, start: int) -> cache_pb2.Reply | None:
        deadline = time.monotonic() + self.budget_s
        attempt = start
        last = ""
        while time.monotonic() < deadline:
            address = self.addresses[attempt % len(self.addresses)]
            try:
                return self._stub(address).Execute(request, timeout=min(5.0, max(deadline - time.monotonic(), 0.1)))
            except grpc.RpcError as e:
                if e.code() not in RETRYABLE:
                    self.failures.append(f"{e.code().name}: {e.details()}")
                    return None
                last = f"{address} {e.code().name}: {e.details()}"
                self.retries += 1
                attempt += 1
                time.sleep(0.05)
        self.failures.append(f"gave up after {self.budget_s}s: {last}")
        return None

    def _run(self) -> None:
        for i in range(self.max_ops):
            if self._stop.is_set():
                return
            key = f"{self.prefix}{i}".encode()
            value = f"v{i}".encode()
            if i % 10 == 9:
                command = pb.Command(hset=pb.HSet(key=key, pairs=[pb.KeyValue(key=b"f", value=value)]))
            else:
                command = pb.Command(set=pb.Set(key=key, value=value))
                if i % 7 == 6:
                    command.set.expiry.ttl_ms = 3_600_000
            request = cache_pb2.Request(command=command, client_id=self.client_id, sequence=i + 1)
            if self._call(request, i) is not None:
                self.acked[key] = value
            if self.reads and i % 5 == 0 and i >= 5:
                read_key = f"{self.prefix}{i - 5}".encode()   # a string key (i - 5 never ends in 9 here)
                get = cache_pb2.Request(command=pb.Command(get=pb.Get(key=read_key)))
                get.consistency.level = cache_pb2.ReadConsistency.LINEARIZABLE
                reply = self._call(get, i)
                if reply is not None:
                    self.reads_done += 1
                    # a linearizable read sees every acknowledged write: compare with what was written
                    if read_key in self.acked and value_of(reply) != self.acked[read_key]:
                        self.failures.append(f"read {read_key!r}: {value_of(reply)!r}, wrote {self.acked[read_key]!r}")
            if self.pause_s:
                time.sleep(self.pause_s)


def value_of(reply) -> object:
    return commands.from_value(reply.value)
