"""The chaos workload: concurrent clients that record every operation they make.

Keys (database 0, prefixed `chaos:`):
  registers r0..rK  unique-value writes, reads at every level, compare-and-set
                    (GetMeta for the value and its index, then a Set carrying
                    `cas_index`; from an absent key a Set NX)
  counters  c0..cK  increments (IncrBy, which returns the new value) and reads
  set       s0      adds of unique elements (the lost-write check)
  scripts   sc0/sl0 ScriptWorker's EVALSHA / FCALL of one write script: INCRBY sc0 by d and
                    RPUSH onto sl0 the unique element `<id>:<d>`, atomically (the checker: every
                    acknowledged element in the list once, sc0 = the sum of the listed d's); and
                    EVALSHA of a strings-only script (INCRBY + EXPIRE, logged with its effects)
                    on the redis counter cr0, recorded as an increment of it

gRPC workers use raw stubs with (client_id, sequence) on every write and
retry a write with the *same* sequence until it has a definite answer or its
deadline passes (then it is `unknown`); that is how the SDK works and what
docs/design.md invariant 5 promises. redis-py workers cannot deduplicate: a write
whose connection breaks is `unknown`, never retried (redis-py's own retries
are turned off so that no hidden retry can apply a command twice).

Every operation is appended to the history in the checker's format (see
scripts/chaos/checker.py); times are seconds on one monotonic clock.
Every loop is bounded by the stop event, a deadline and an operation count.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time

import grpc
from raftcache.node import commands as rc_commands
from raftcache.node.errors import CommandError, Reason
from raftcache.node.service.grpc_codec import error_from_status
from raftcache.proto import cache_pb2, cache_pb2_grpc
from raftcache.proto import commands_pb2 as pb

PREFIX = "chaos:"
#: Reasons after which a gRPC write is retried with the same sequence (outcome not yet known).
_RETRY_REASONS = {Reason.UNAVAILABLE, Reason.NOT_LEADER, Reason.TIMEOUT, Reason.INTERNAL}
#: Errors that leave an operation's outcome unknown (docs/client.md: STALE_SEQUENCE = read the key to find out).
_UNKNOWN_REASONS = {Reason.STALE_SEQUENCE, Reason.TIMEOUT}


class History:
    """Thread-safe operation log, mirrored to a JSONL file as operations complete."""

    def __init__(self, path: str | None, t_start: float | None = None):
        self.t_start = time.monotonic() if t_start is None else t_start
        self.ops: list[dict] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._file = open(path, "w") if path else None  # noqa: SIM115 - open for the whole run; close()

    def now(self) -> float:
        return round(time.monotonic() - self.t_start, 6)

    def record(self, op: dict) -> dict:
        with self._lock:
            op["id"] = next(self._ids)
            self.ops.append(op)
            if self._file:
                self._file.write(json.dumps(op) + "\n")
        return op

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None


def _key(name: str) -> bytes:
    return (PREFIX + name).encode()


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class Keys:
    def __init__(self, registers: int = 3, counters: int = 2, sets: int = 1):
        self.registers = [f"r{i}" for i in range(registers)]
        self.counters = [f"c{i}" for i in range(counters)]
        self.sets = [f"s{i}" for i in range(sets)]
        # Incremented only by clients that cannot deduplicate retries (redis-py): its many
        # unknown increments would make the search of the exactly-once counters undecidable.
        self.redis_counters = ["cr0"]


class _Definite(Exception):
    """A command error: the operation definitely did not take effect (or, for CAS, failed its test)."""

    def __init__(self, error: CommandError):
        super().__init__(error.message)
        self.error = error


class GrpcWorker(threading.Thread):
    """One client process talking gRPC to the nodes, starting with `targets[0]`."""

    attempt_timeout_s = 6.0  # one attempt's deadline; the write is retried (same sequence) until write_timeout_s
    READ_LEVELS = (("linearizable", 45), ("lease", 15), ("bounded:250", 15), ("any", 15), ("min_index", 10))
    OPS = (("write", 25), ("read", 35), ("cas", 10), ("incr", 15), ("add", 15))

    def __init__(self, name: str, targets: list[tuple[str, str]], history: History, keys: Keys, seed: int,
                 stop: threading.Event, deadline: float, max_ops: int = 1_000_000, run_id: str = "run",
                 write_timeout_s: float = 12.0, read_timeout_s: float = 6.0, think_s: float = 0.0,
                 spread_reads: bool = False):
        super().__init__(name=name, daemon=True)
        self.targets = targets  # [(node_id, "host:port")]
        # each read to a node drawn at random (most often a follower: linearizable reads served
        # by followers through ReadIndex); writes keep going to the current target
        self.spread_reads = spread_reads
        self.history, self.keys, self.stop_event = history, keys, stop
        self.rng = random.Random(seed)
        self.deadline, self.max_ops = deadline, max_ops
        self.run_id = run_id
        self.write_timeout_s, self.read_timeout_s, self.think_s = write_timeout_s, read_timeout_s, think_s
        self.incarnation = 0
        self.sequence = 0
        self.last_index = 0
        self._target = 0
        self._channels: dict[str, grpc.Channel] = {}
        self._counter = itertools.count(1)

    # ---------------------------------------------------------------- plumbing

    @property
    def process(self) -> str:
        return f"{self.name}.{self.incarnation}"

    def _stub(self):
        node_id, address = self.targets[self._target % len(self.targets)]
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpc.insecure_channel(address, options=[("grpc.enable_retries", 0)])
        return node_id, cache_pb2_grpc.CacheStub(ch)

    def _rotate(self) -> None:
        self._target += 1

    def _call(self, request: cache_pb2.Request, op_deadline: float, retry_reasons,
              spread: bool = False) -> tuple[object, int, str]:
        """Execute with retries until a definite answer; raises _Definite or TimeoutError (outcome unknown).
        `spread`: every attempt goes to a node drawn at random."""
        last = "no attempt"
        delay = 0.05
        while True:
            remaining = op_deadline - time.monotonic()
            if remaining <= 0.05 or self.stop_event.is_set() and remaining < 1.0:
                raise TimeoutError(last)
            if spread:
                self._target = self.rng.randrange(len(self.targets))
            node_id, stub = self._stub()
            try:
                reply = stub.Execute(request, timeout=min(remaining, self.attempt_timeout_s))
            except grpc.RpcError as e:
                err = error_from_status(e.code(), e.details(), e.trailing_metadata())
                last = f"{node_id}: {err.reason.value}: {err.message[:120]}"
                if isinstance(err, CommandError) and err.reason not in retry_reasons:
                    raise _Definite(err) from None
                self._rotate()
                time.sleep(min(delay, max(0.0, op_deadline - time.monotonic())))
                delay = min(delay * 2, 0.5)
                continue
            result = rc_commands.from_value(reply.value)
            if isinstance(result, CommandError):
                raise _Definite(result)
            return result, reply.index, node_id

    def _request(self, command: pb.Command, level: str | None = None, write: bool = False) -> cache_pb2.Request:
        req = cache_pb2.Request(command=command)
        if write:
            req.client_id = f"{self.run_id}-{self.process}"
            req.sequence = self.sequence
        if level:
            name, _, arg = level.partition(":")
            req.consistency.level = cache_pb2.ReadConsistency.Level.Value(name.upper())
            if name == "bounded":
                req.consistency.bound_ms = int(arg)
            elif name == "min_index":
                req.consistency.min_index = int(arg)
        return req

    def _pick(self, table):
        total = sum(w for _, w in table)
        x = self.rng.uniform(0, total)
        for item, weight in table:
            x -= weight
            if x <= 0:
                return item
        return table[-1][0]

    # ---------------------------------------------------------------- operations

    def _run_op(self, f: str, key: str, command: pb.Command, *, value=None, expect=None, level=None,
                decode=_text, extra: dict | None = None) -> dict:
        write = f not in ("read", "read_set", "read_counter", "read_list", "replica")
        if write:
            self.sequence += 1
        op = {"process": self.process, "client": "grpc", "f": f, "key": key, "value": value, "level": level,
              "t0": self.history.now(), **(extra or {})}
        if f == "cas":
            op["expect"] = expect
        timeout = self.write_timeout_s if write else self.read_timeout_s
        try:
            result, index, node_id = self._call(self._request(command, level, write), time.monotonic() + timeout,
                                                _RETRY_REASONS, spread=f == "read" and self.spread_reads)
            op.update(status="ok", result=decode(result), index=index, node=node_id, t1=self.history.now())
            if write:
                self.last_index = max(self.last_index, index)
        except _Definite as e:
            error = f"{e.error.reason.value}: {e.error.message[:120]}"
            if e.error.reason in _UNKNOWN_REASONS:
                self._unknown(op, write, error)
            else:
                op.update(status="fail", result=None, index=None, t1=self.history.now(), error=error)
        except TimeoutError as e:
            self._unknown(op, write, str(e))
        return self.history.record(op)

    def _unknown(self, op: dict, write: bool, error: str) -> None:
        """The operation was sent and no definite answer came back: it may or may not take effect."""
        op.update(status="unknown", result=None, index=None, t1=None, error=error)
        if write:
            self.incarnation += 1   # a client with an operation in limbo is a crashed process
            self.sequence = 0

    def _unique(self) -> str:
        return f"{self.run_id}-{self.name}-{next(self._counter)}"

    def step(self) -> None:
        f = self._pick(self.OPS)
        if f == "write":
            key = self.rng.choice(self.keys.registers)
            value = self._unique()
            self._run_op("write", key, pb.Command(set=pb.Set(key=_key(key), value=value.encode())), value=value)
        elif f == "read":
            kind = self.rng.random()
            key = self.rng.choice(self.keys.registers if kind < 0.7 else self.keys.counters)
            level = self._pick(self.READ_LEVELS)
            if level == "min_index":
                level = f"min_index:{self.last_index}"
            decode = _text if key.startswith("r") else (lambda v: None if v is None else int(v))
            self._run_op("read", key, pb.Command(get=pb.Get(key=_key(key))), level=level, decode=decode)
        elif f == "cas":
            self._cas(self.rng.choice(self.keys.registers))
        elif f == "incr":
            key = self.rng.choice(self.keys.counters)
            delta = self.rng.randint(1, 3)
            self._run_op("incr", key, pb.Command(incr_by=pb.IncrBy(key=_key(key), delta=delta)), value=delta,
                         decode=lambda v: v)
        elif f == "add":
            key = self.rng.choice(self.keys.sets)
            element = self._unique()
            self._run_op("add", key, pb.Command(sadd=pb.SAdd(key=_key(key), members=[element.encode()])),
                         value=element, decode=lambda v: v)

    def _cas(self, key: str) -> None:
        raw = []

        def keep(v):  # the read is recorded with the value only (the checker's register model)
            raw.append(v)
            return None if v is None else _text(v[0])

        meta = self._run_op("read", key, pb.Command(get_meta=pb.GetMeta(key=_key(key))), level="linearizable",
                            decode=keep)
        if meta["status"] != "ok":
            return
        new = self._unique()
        if raw[0] is None:
            command = pb.Command(set=pb.Set(key=_key(key), value=new.encode(), condition=pb.IF_ABSENT))
        else:
            command = pb.Command(set=pb.Set(key=_key(key), value=new.encode(), cas_index=int(raw[0][2])))
        self._run_op("cas", key, command, value=new, expect=meta["result"],
                     decode=lambda v: v is not None and str(v) == "OK")

    def run(self) -> None:
        try:
            for _ in range(self.max_ops):
                if self.stop_event.is_set() or time.monotonic() >= self.deadline:
                    return
                self.step()
                if self.think_s:
                    self.stop_event.wait(self.rng.uniform(0, self.think_s))
        finally:
            for ch in self._channels.values():
                ch.close()


class RedisWorker(threading.Thread):
    """One client process talking RESP via redis-py; no retries (nothing could deduplicate them)."""

    OPS = (("write", 35), ("read", 45), ("incr", 10), ("add", 10))

    def __init__(self, name: str, targets: list[tuple[str, tuple[str, int]]], history: History, keys: Keys,
                 seed: int, stop: threading.Event, deadline: float, max_ops: int = 1_000_000,
                 run_id: str = "run", level: str = "linearizable", think_s: float = 0.0):
        super().__init__(name=name, daemon=True)
        self.targets, self.history, self.keys, self.stop_event = targets, history, keys, stop
        self.rng = random.Random(seed)
        self.deadline, self.max_ops, self.run_id, self.level, self.think_s = deadline, max_ops, run_id, level, think_s
        self.incarnation = 0
        self._target = 0
        self._conn = None
        self._counter = itertools.count(1)

    @property
    def process(self) -> str:
        return f"{self.name}.{self.incarnation}"

    def _connect(self):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        node_id, (host, port) = self.targets[self._target % len(self.targets)]
        conn = redis.Redis(host=host, port=port, socket_timeout=6.0, socket_connect_timeout=2.0,
                           retry=Retry(NoBackoff(), 0), retry_on_timeout=False, decode_responses=True)
        if self.level != "linearizable":
            conn.execute_command("CLIENT", "CONSISTENCY", self.level)
        self._conn = (node_id, conn)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn[1].close()
            except Exception:  # noqa: BLE001, S110 - the connection is being discarded anyway
                pass
        self._conn = None
        self._target += 1

    def _op(self, f, key, fn, value=None, decode=lambda v: v):
        import redis

        write = f != "read"
        op = {"process": self.process, "client": "redis", "f": f, "key": key, "value": value,
              "level": None if write else self.level, "index": None, "t0": self.history.now()}
        if self._conn is None:
            try:
                node_id, conn = self._connect()
                conn.ping()  # connect now: a command that was never sent has definitely failed
            except (redis.RedisError, OSError) as e:
                op.update(status="fail", result=None, error=f"connect: {e!r}"[:160], t1=self.history.now())
                self._drop()
                self.stop_event.wait(0.2)
                return self.history.record(op)
        try:
            node_id, conn = self._conn
            op["node"] = node_id
            result = fn(conn)
            op.update(status="ok", result=decode(result), t1=self.history.now())
        except redis.ResponseError as e:
            # TRYAGAIN/LOADING/-ERR timeout: for a write, applied or not is not known.
            text = str(e)
            unknown = write and not text.startswith(("WRONGTYPE", "ERR value is not", "ERR syntax", "OOM"))
            op.update(status="unknown" if unknown else "fail", result=None, error=text[:160],
                      t1=None if unknown else self.history.now())
            if unknown:
                self.incarnation += 1
            if text.startswith(("TRYAGAIN", "READONLY", "LOADING")):
                self._drop()
                self.stop_event.wait(0.1)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            # Sent, then the connection broke or timed out: the outcome is unknown (reads too).
            op.update(status="unknown", result=None, error=repr(e)[:160], t1=None)
            if write:
                self.incarnation += 1
            self._drop()
            self.stop_event.wait(0.1)
        return self.history.record(op)

    def _unique(self) -> str:
        return f"{self.run_id}-{self.name}-{next(self._counter)}"

    def _incr_keys(self) -> list[str]:
        return self.keys.redis_counters

    def step(self) -> None:
        f = self.rng.choices([o for o, _ in self.OPS], [w for _, w in self.OPS])[0]
        if f == "write":
            key, value = self.rng.choice(self.keys.registers), self._unique()
            self._op("write", key, lambda c: c.set(PREFIX + key, value), value=value)
        elif f == "read":
            if self.rng.random() < 0.7:
                key = self.rng.choice(self.keys.registers)
                self._op("read", key, lambda c: c.get(PREFIX + key))
            else:
                key = self.rng.choice(self.keys.counters)
                self._op("read", key, lambda c: c.get(PREFIX + key), decode=lambda v: None if v is None else int(v))
        elif f == "incr":
            key, delta = self.rng.choice(self._incr_keys()), self.rng.randint(1, 3)
            self._op("incr", key, lambda c: c.incrby(PREFIX + key, delta), value=delta, decode=int)
        else:
            key, element = self.rng.choice(self.keys.sets), self._unique()
            self._op("add", key, lambda c: c.sadd(PREFIX + key, element), value=element)

    def run(self) -> None:
        try:
            for _ in range(self.max_ops):
                if self.stop_event.is_set() or time.monotonic() >= self.deadline:
                    return
                self.step()
                if self.think_s:
                    self.stop_event.wait(self.rng.uniform(0, self.think_s))
        finally:
            if self._conn is not None:
                self._conn[1].close()


#: ScriptWorker's script: one counter and one list, changed together.
SCRIPT_BODY = ("local n = redis.call('INCRBY', KEYS[1], ARGV[1]) "
               "redis.call('RPUSH', KEYS[2], ARGV[2]) return n")
#: The same as a function (FCALL chaos_incr_push 2 counter list d element).
SCRIPT_LIBRARY = ("#!lua name=chaos\n"
                  "redis.register_function('chaos_incr_push', function(keys, args) " + SCRIPT_BODY.replace(
                      "KEYS", "keys").replace("ARGV", "args") + " end)")
SCRIPT_KEYS = ("sc0", "sl0")
#: A script of strings only: the leader runs it and logs its effects (node/scripting/effects.py);
#: it returns the new value as INCRBY does, so the checker takes it for an increment.
STRING_SCRIPT_BODY = ("local n = redis.call('INCRBY', KEYS[1], ARGV[1]) "
                      "redis.call('EXPIRE', KEYS[1], 86400) return n")


class ScriptWorker(RedisWorker):
    """A redis-py client that only runs write scripts: the counter-and-list script (EVALSHA through
    redis-py's register_script, or FCALL of the same code), recorded as `script` on the list key,
    or the strings-only script on the redis counter, recorded as `incr` of it."""

    def _connect(self):
        node_id, conn = super()._connect()
        conn.function_load(SCRIPT_LIBRARY, replace=True)
        self._script = conn.register_script(SCRIPT_BODY)
        self._string_script = conn.register_script(STRING_SCRIPT_BODY)
        return node_id, conn

    def step(self) -> None:
        if self.rng.random() < 0.3:
            key, delta = self.rng.choice(self.keys.redis_counters), self.rng.randint(1, 3)
            self._op("incr", key, lambda c: self._string_script(keys=[PREFIX + key], args=[delta], client=c),
                     value=delta, decode=int)
            return
        counter, key = SCRIPT_KEYS
        delta = self.rng.randint(1, 3)
        element = f"{self._unique()}:{delta}"
        if self.rng.random() < 0.5:
            def call(c):
                return self._script(keys=[PREFIX + counter, PREFIX + key], args=[delta, element], client=c)
        else:
            def call(c):
                return c.fcall("chaos_incr_push", 2, PREFIX + counter, PREFIX + key, delta, element)
        self._op("script", key, call, value=element, decode=int)


def replica_reads(cluster, history: History, timeout_s: float = 60.0) -> list[dict]:
    """After the final reads: once every node applied the same index, each node's own copy
    of the script keys (read at level `any` on that node), recorded as `replica`."""
    from raftcache.localcluster import wait_until

    def same_applied():
        applied = {cluster.status(n).applied_index for n in cluster.alive_nodes()}
        return len(applied) == 1
    wait_until(same_applied, timeout_s, "every node applied the same index")
    out = []
    for node in cluster.alive_nodes():
        worker = GrpcWorker("replica", [(node.id, node.grpc_address)], history, Keys(), 0, threading.Event(),
                            time.monotonic() + timeout_s, read_timeout_s=timeout_s)
        counter, key = SCRIPT_KEYS
        value = worker._run_op("replica", counter, pb.Command(get=pb.Get(key=_key(counter))), level="any",
                               decode=lambda v: None if v is None else int(v), extra={"node": node.id})
        listed = worker._run_op("replica", key, pb.Command(lrange=pb.LRange(key=_key(key), start=0, stop=-1)),
                                level="any", decode=lambda v: [_text(x) for x in (v or [])], extra={"node": node.id})
        out += [value, listed]
        for ch in worker._channels.values():
            ch.close()
    return out


def final_reads(targets: list[tuple[str, str]], history: History, keys: Keys, timeout_s: float = 60.0) -> list[dict]:
    """After healing: a linearizable read of every key (marked final), retried until it succeeds."""
    worker = GrpcWorker("final", targets, history, keys, 0, threading.Event(), time.monotonic() + timeout_s,
                        read_timeout_s=timeout_s)
    out = []
    for key in keys.registers + keys.counters + keys.redis_counters:
        decode = _text if key.startswith("r") else (lambda v: None if v is None else int(v))
        out.append(worker._run_op("read", key, pb.Command(get=pb.Get(key=_key(key))), level="linearizable",
                                  decode=decode, extra={"final": True}))
    for key in keys.sets:
        out.append(worker._run_op("read_set", key, pb.Command(smembers=pb.SMembers(key=_key(key))),
                                  level="linearizable", extra={"final": True},
                                  decode=lambda v: sorted(_text(x) for x in (v or []))))
    counter, key = SCRIPT_KEYS
    out.append(worker._run_op("read_counter", counter, pb.Command(get=pb.Get(key=_key(counter))),
                              level="linearizable", extra={"final": True},
                              decode=lambda v: None if v is None else int(v)))
    out.append(worker._run_op("read_list", key, pb.Command(lrange=pb.LRange(key=_key(key), start=0, stop=-1)),
                              level="linearizable", extra={"final": True},
                              decode=lambda v: [_text(x) for x in (v or [])]))
    for ch in worker._channels.values():
        ch.close()
    return out


class SdkWorker(RedisWorker):
    """One client process using the raftcache SDK (raftcache.client.Client), which retries
    writes itself with (client_id, sequence); an error that escapes it leaves a write unknown."""

    OPS = (("write", 35), ("read", 45), ("incr", 10), ("add", 10))

    def _incr_keys(self) -> list[str]:
        return self.keys.counters  # the SDK deduplicates its retries

    def _connect(self):
        from raftcache.client import Client

        seeds = [address for _, address in self.targets[self._target % len(self.targets):] + self.targets]
        client = Client(seeds, decode_responses=True)
        if self.level != "linearizable":
            client = client.reading(self.level)
        self._conn = (self.targets[self._target % len(self.targets)][0], client)
        return self._conn

    def _op(self, f, key, fn, value=None, decode=lambda v: v):
        from raftcache.client import RaftcacheError as SdkError
        from raftcache.client import ResponseError as SdkResponseError
        from raftcache.client import StaleSequenceError as SdkStaleSequence

        write = f != "read"
        op = {"process": self.process, "client": "sdk", "f": f, "key": key, "value": value,
              "level": None if write else self.level, "index": None, "t0": self.history.now()}
        try:
            node_id, conn = self._conn or self._connect()
            op["node"] = node_id
            result = fn(conn)
            op.update(status="ok", result=decode(result), t1=self.history.now())
        except Exception as e:  # noqa: BLE001 - classified below
            # StaleSequenceError is a ResponseError whose outcome is documented as unknown.
            definite = not isinstance(e, SdkStaleSequence) and (
                isinstance(e, SdkResponseError) or (isinstance(e, SdkError) and type(e).__name__ in (
                    "WrongTypeError", "NotIntegerError", "CommandSyntaxError", "InvalidArgumentError",
                    "OutOfMemoryError", "KeyTooLargeError", "ValueTooLargeError", "IncrOverflowError")))
            unknown = not definite  # a deadline, a broken connection, a stale sequence: maybe applied
            op.update(status="unknown" if unknown else "fail", result=None, error=repr(e)[:160],
                      t1=None if unknown else self.history.now())
            if unknown and write:
                self.incarnation += 1
        return self.history.record(op)

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._conn = None
