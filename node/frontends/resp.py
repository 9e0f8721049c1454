"""The Redis protocol front end: the asyncio server and per-connection state.

Owns connections (RESP2/RESP3, auth, selected database, MULTI queue,
WATCHed versions, read consistency), pipelining (every complete frame in
the buffer is parsed, answered in order, and the replies of a batch are
written in chunks of at most _OUT_CHUNK_BYTES) and the order guarantees of a
pipeline, and the client buffer limits (node/frontends/client_limits.py):
the query buffer limit, the output buffer limits, back-pressure (a client
whose replies are not read is not read either) and maxmemory-clients. Parsing and reply
encoding are in resp_protocol.py, the command table in resp_table.py (argument
parsing in resp_args.py, resp_commands.py, resp_types.py, …), connection and server commands in resp_admin.py.

Must not import lmdb or pysyncobj, nor hold business logic: every data
command becomes one `Command` for `service.execute`, except `GET key` (the
commonest cache request), answered by `service.get_now` when it needs no
waiting. On a follower, a pipeline's run of writes goes to the leader as one
batch (`service.execute_many`).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time

from raftcache.node import commands
from raftcache.node.config import FrontendConfig
from raftcache.node.errors import CommandError, NotLeaderError, RaftcacheError, UnavailableError
from raftcache.node.frontends import client_limits, resp_admin, resp_blocking
from raftcache.node.frontends.resp_table import TABLE, Spec
from raftcache.node.frontends.resp_protocol import (
    NULL_ARRAY,
    ProtocolError,
    RequestParser,
    RespError,
    encode,
    lone_frame,
)
from raftcache.node.service.service import NOT_NOW, execute_many
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger(__name__)

_ids = itertools.count(1)
#: Stop reading from a client that has this many commands waiting (its replies are slow).
_MAX_PENDING = 10_000
#: Replies of a pipeline are written (and their reading awaited) in chunks of about this size.
_OUT_CHUNK_BYTES = 256 << 10
#: Waiting writes of a pipeline settled (and written) at most this many at a time…
_MAX_IN_FLIGHT = 1024
#: …and reads that must wait (their replies may be large: at most this many values are held at once).
_MAX_READS_IN_FLIGHT = 32
#: A connection whose memory grew by this much since its last check asks for a maxmemory-clients check.
_MEMORY_STEP_BYTES = 1 << 20
#: How often the server checks idle clients, soft output limits and maxmemory-clients.
_CHECK_INTERVAL_S = 0.25
_MULTI_CONTROL = {b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"}


def unknown_command(args: list[bytes]) -> str:
    """Redis's exact text, arguments quoted and cut at 128 characters."""
    shown = ""
    for arg in args[1:]:
        if len(shown) >= 128:
            break
        shown += "'%s' " % arg.decode("utf-8", "replace")[: 128 - len(shown)]
    name = args[0].decode("utf-8", "replace")[:128]
    return f"ERR unknown command '{name}', with args beginning with: {shown}"


def wrong_arity(name: str) -> str:
    return f"ERR wrong number of arguments for '{name}' command"


class RespServer:
    """Shared state of every connection of one node's Redis port."""

    def __init__(self, service, config: FrontendConfig, host: str, port: int):
        self.service = service
        self.config = config
        self.host, self.port = host, port
        self.connections: dict[int, Connection] = {}
        self.started_s = time.time()
        self.stats = collections.Counter()
        #: INFO commandstats: command name -> [calls, usec, rejected_calls, failed_calls]
        self.cmdstats: dict[str, list[int]] = {}
        self.server: asyncio.AbstractServer | None = None
        self._idle_task: asyncio.Task | None = None
        self.limits = client_limits.ClientLimits()
        self._limits_from: tuple | None = None
        self.refresh_limits()

    def refresh_limits(self) -> None:
        """Recompute the client buffer limits when a CONFIG value they depend on changed."""
        service = self.service
        values = {name: service.setting(name)
                  for name in ("client-query-buffer-limit", "client-output-buffer-limit", "maxmemory-clients")}
        key = (tuple(values.values()), service.limits.max_value_bytes, service.limits.maxmemory_bytes)
        if key == self._limits_from:
            return
        self.limits = client_limits.from_settings(values, key[1], key[2])
        self._limits_from = key
        for conn in list(self.connections.values()):
            conn.apply_write_limits()

    def clients_memory(self) -> int:
        return sum(conn.memory_bytes() for conn in self.connections.values())

    def check_clients_memory(self) -> None:
        """maxmemory-clients: disconnect the biggest clients until the total fits (Redis 7's client eviction)."""
        limit = self.limits.maxmemory_clients_bytes
        if not limit:
            return
        sizes = [(conn.memory_bytes(), conn) for conn in self.connections.values()]
        total = sum(size for size, _ in sizes)
        if total <= limit:
            return
        sizes.sort(key=lambda pair: pair[0], reverse=True)
        for size, conn in sizes:
            if total <= limit or size == 0:
                break
            log.warning("client id=%d addr=%s evicted: clients use %d bytes, maxmemory-clients is %d",
                        conn.id, conn.addr, total, limit)
            self.stats["evicted_clients"] += 1
            conn.drop()
            total -= size

    @property
    def password(self) -> str:
        return self.service.setting("requirepass")

    def _cmdstat(self, name: str) -> list[int]:
        stat = self.cmdstats.get(name)
        if stat is None:
            stat = self.cmdstats[name] = [0, 0, 0, 0]
        return stat

    def count_call(self, name: str, started_ns: int, reply: bytes) -> None:
        """One command answered: `usec` is the time from taking it to its reply, Raft commit
        included (Redis counts only its own execution: nothing here waits for replicas)."""
        stat = self._cmdstat(name)
        stat[0] += 1
        stat[1] += (time.perf_counter_ns() - started_ns) // 1000
        if reply[:1] == b"-":
            stat[3] += 1

    def count_rejected(self, name: str) -> None:
        """Refused before it ran (wrong arity, not authenticated), as Redis's rejected_calls."""
        self._cmdstat(name)[2] += 1

    def writes_may_overlap(self) -> bool:
        """Pipelined writes may be proposed together when this node is the leader
        (proposal order is preserved); forwarded writes must go one by one."""
        return bool(getattr(self.service, "is_leader", False))

    async def idle_loop(self) -> None:
        """Every _CHECK_INTERVAL_S: follow CONFIG changes of the buffer limits, apply the soft
        output limits and maxmemory-clients, and close clients idle longer than CONFIG
        `timeout` (0 = never, Redis's default). Ends when the server stops serving."""
        while self.server is None or self.server.is_serving():
            await asyncio.sleep(_CHECK_INTERVAL_S)
            try:
                self.refresh_limits()
            except Exception:  # a bad value must not stop the checks: keep the limits in force
                log.exception("cannot apply the client buffer limits")
            now = time.monotonic()
            for conn in list(self.connections.values()):
                conn.check_output(now)
            self.check_clients_memory()
            timeout_s = int(self.service.setting("timeout"))
            if timeout_s <= 0:
                continue
            for conn in list(self.connections.values()):
                if now - conn.last_s > timeout_s and not conn.running:
                    conn.close()


class Connection(asyncio.Protocol):
    """One client connection. Commands run strictly in order, replies too."""

    def __init__(self, server: RespServer):
        self.server = server
        self.service = server.service
        self.id = next(_ids)
        self.transport: asyncio.Transport | None = None
        self.parser = RequestParser(server.service.limits.max_value_bytes)
        self.pending: collections.deque = collections.deque()
        self.task: asyncio.Task | None = None
        self.proto = 2
        self.db = 0
        self.name = ""
        self.lib = {"lib-name": "", "lib-ver": ""}
        self.authenticated = not server.password
        self.parser.authenticated = self.authenticated
        self.consistency = None          # service.ReadConsistency or None: the node default
        self.multi: list | None = None   # queued (spec, args, command) while in MULTI
        self.multi_db = 0
        self.multi_error = False
        self.watches: dict[tuple[int, bytes], int] = {}
        self.unblocked: asyncio.Future | None = None   # set while blocked in a blocking pop
        self.last_write_index = 0
        self.created_s = time.time()
        self.last_s = time.monotonic()
        self.last_cmd = "NULL"
        self.eof = False
        self.closing = False
        self.running = False
        self._write_paused: asyncio.Future | None = None
        self.reading = True
        self.backlog = 0                 # bytes received since the command loop last took the pending commands
        self._over_soft_since: float | None = None
        self._memory_mark = _MEMORY_STEP_BYTES
        self.addr = "?"
        self.laddr = "?"

    # ------------------------------------------------------------ transport

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        sock = transport.get_extra_info("sockname") or ("?", 0)
        self.addr, self.laddr = f"{peer[0]}:{peer[1]}", f"{sock[0]}:{sock[1]}"
        server = self.server
        server.stats["total_connections_received"] += 1
        if len(server.connections) >= int(server.service.setting("maxclients")):
            server.stats["rejected_connections"] += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            self.closing = True
            return
        server.connections[self.id] = self
        self.apply_write_limits()

    # ------------------------------------------------------------ buffer limits

    def apply_write_limits(self) -> None:
        """Back-pressure mark of the transport: pause_writing above it (see client_limits)."""
        if self.transport is not None and not self.transport.is_closing():
            high = self.server.limits.normal.high_water_bytes
            self.transport.set_write_buffer_limits(high=high, low=high // 4)

    def memory_bytes(self) -> int:
        """What this client makes the node hold: the command being received, commands
        received and not yet taken, and replies not yet sent."""
        out = self.transport.get_write_buffer_size() if self.transport is not None else 0
        return self.parser.unfinished_bytes + self.backlog + out

    def drop(self) -> None:
        """Disconnect now, discarding unsent replies (a limit was exceeded)."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def check_output(self, now: float | None = None) -> None:
        """The output buffer limits of the `normal` class, after a write and periodically."""
        transport = self.transport
        if transport is None or self.closing:
            return
        size = transport.get_write_buffer_size()
        if size == 0 and self._over_soft_since is None:
            return
        over, self._over_soft_since = self.server.limits.normal.over(
            size, self._over_soft_since, time.monotonic() if now is None else now)
        if over:
            log.warning("client id=%d addr=%s closed for overcoming of output buffer limits (%d bytes)",
                        self.id, self.addr, size)
            self.server.stats["client_output_buffer_limit_disconnections"] += 1
            self.drop()
            return
        self._check_memory()

    def _check_memory(self) -> None:
        memory = self.memory_bytes()
        if memory >= self._memory_mark:
            self._memory_mark = memory + _MEMORY_STEP_BYTES
            self.server.check_clients_memory()
        elif memory + 2 * _MEMORY_STEP_BYTES < self._memory_mark:
            self._memory_mark = memory + _MEMORY_STEP_BYTES

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)
            self.check_output()

    def _update_reading(self) -> None:
        """Read while replies are taken by the client and the commands waiting are few."""
        want = (not self.closing and self.parser._error is None
                and (self._write_paused is None or self._write_paused.done())
                and len(self.pending) <= _MAX_PENDING and self.backlog <= client_limits.BACKLOG_BYTES)
        if want != self.reading and self.transport is not None and not self.transport.is_closing():
            self.reading = want
            if want:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def connection_lost(self, exc) -> None:
        self.closing = True
        self.server.connections.pop(self.id, None)
        if self._write_paused is not None and not self._write_paused.done():
            self._write_paused.set_result(None)
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def pause_writing(self) -> None:
        if self._write_paused is None or self._write_paused.done():
            self._write_paused = asyncio.get_running_loop().create_future()
        self._update_reading()  # a client that does not read its replies is not read either

    def resume_writing(self) -> None:
        if self._write_paused is not None and not self._write_paused.done():
            self._write_paused.set_result(None)
        self._update_reading()

    def eof_received(self) -> bool:
        # Half-closed: answer what was sent, then close (keep the write side open).
        self.eof = True
        if self.task is None:
            self.close()
        return True

    def data_received(self, data: bytes) -> None:
        if self.closing or self.parser._error is not None:
            return
        self.last_s = time.monotonic()
        args = None
        if not self.parser.buf and self.authenticated:
            args = lone_frame(data, self.parser.max_bulk_bytes)
        if args is not None:
            if self.task is None and not self.pending:
                reply = self._get_now(args)
                if reply is not None:
                    self._write(reply)
                    return
            self.pending.append(args)
        else:
            self.parser.feed(data)
            try:
                self.pending.extend(self.parser.parse())
                if self.parser._error is not None:
                    self.parser.parse()
            except ProtocolError as e:
                self.pending.append(e)
            if self.parser.unfinished_bytes > self.server.limits.query_buffer_bytes:
                # As Redis: no reply, the connection is closed (the command is never run).
                log.warning("client id=%d addr=%s closed: its unfinished command reached the query buffer "
                            "limit (%d bytes)", self.id, self.addr, self.server.limits.query_buffer_bytes)
                self.server.stats["client_query_buffer_limit_disconnections"] += 1
                self.drop()
                return
        if self.pending and self.task is None:
            self._dispatch()
        if self.pending:
            self.backlog += len(data)   # the command loop resets it when it takes them
            self._update_reading()
        self._check_memory()

    def _get_now(self, args: list[bytes]) -> bytes | None:
        """The reply to `args` if it is `GET key` servable now; None: take the ordinary path.

        The commonest request of a cache, served without Command or task
        (Service.get_now); every other case, errors included, is the
        ordinary path's.
        """
        if len(args) != 2 or args[0].lower() != b"get" or self.multi is not None or not self.authenticated:
            return None
        started_ns = time.perf_counter_ns()
        value = self.service.get_now(self.db, args[1], self.consistency, self.last_write_index)
        if value is NOT_NOW:
            return None
        self.last_cmd = "get"
        self.server.stats["total_commands_processed"] += 1
        reply = b"$%d\r\n%s\r\n" % (len(value), value) if type(value) is bytes else encode(value, self.proto)
        self.server.count_call("get", started_ns, reply)
        return reply

    def _dispatch(self) -> None:
        """Answer what needs no waiting now; hand the rest to the command loop."""
        answered = self._answer_inline()
        if answered:
            self._write(b"".join(answered))
        if not self.pending:
            self.backlog = 0
            self._update_reading()
        if self.task is not None:  # a lone write or read is in flight (_lone_done continues)
            return
        if self.pending:
            self.task = asyncio.get_running_loop().create_task(self._run())
        elif self.eof:
            self.close()

    def _answer_inline(self) -> list[bytes]:
        """Serve, from the front of `pending`, what needs no task.

        The hot paths of -P 1 clients: reads that need no waiting (a follower
        serving `any`, a leader under a lease) are answered here, from
        data_received; a lone write on the leader is proposed here and
        answered from its future's callback, and so is a lone read that waits
        for a read index (Service.start_read). Stops at the first command that
        must wait otherwise (a pipelined read waiting for its index, a server command,
        MULTI, a pipeline of writes); the command loop takes the rest, in order.
        """
        out: list[bytes] = []
        size = 0
        pending = self.pending
        while pending and self.multi is None and size < _OUT_CHUNK_BYTES:
            # (past a chunk of replies, the command loop goes on, waiting for the client to read)
            args = pending[0]
            if type(args) is not list:
                break
            reply = self._get_now(args)
            if reply is not None:  # a pipeline of GETs, each as a lone one
                out.append(reply)
                size += len(reply)
                pending.popleft()
                continue
            spec = TABLE.get(args[0].lower())
            if spec is None or spec.build is None:
                break
            if "readonly" not in spec.flags:
                if len(pending) == 1 and self.server.writes_may_overlap():
                    self._start_lone_write(args)
                break
            started_ns = time.perf_counter_ns()
            step = self._prepare(args)
            if type(step) is bytes:
                out.append(step)
            else:
                spec, command = step
                served = self.service.read_now(command, self.consistency, self.last_write_index)
                if served is None:
                    if len(pending) == 1:  # one read at a time (-P 1): answered from its future, no task
                        self._start_lone_read(spec, command, started_ns)
                    break
                reply = self.render(spec, command, served[0])
                self.server.count_call(spec.name, started_ns, reply)
                out.append(reply)
                size += len(reply)
            pending.popleft()
            self.server.stats["total_commands_processed"] += 1
        return out

    def _start_lone_write(self, args: list[bytes]) -> None:
        started_ns = time.perf_counter_ns()
        step = self._prepare(args)
        if type(step) is not bytes and (step[1] is None or commands.is_read(step[1])):
            return  # not a data write after all: the command loop runs it
        self.pending.popleft()
        self.server.stats["total_commands_processed"] += 1
        if type(step) is bytes:
            self._write(step)
            return
        spec, command = step
        fut, proposed_here = self.service.start_write(command)
        self.task, self.running = fut, True
        fut.add_done_callback(lambda f: self._lone_done(spec, command, proposed_here, started_ns, f))

    def _start_lone_read(self, spec: Spec, command, started_ns: int) -> None:
        self.pending.popleft()
        self.server.stats["total_commands_processed"] += 1
        fut = self.service.start_read(command, self.consistency, self.last_write_index)
        self.task, self.running = fut, True
        fut.add_done_callback(lambda f: self._lone_done(spec, command, False, started_ns, f))

    def _lone_done(self, spec: Spec, command, proposed_here: bool, started_ns: int, fut: asyncio.Future) -> None:
        self.task, self.running = None, False
        if fut.cancelled() or self.closing:
            return
        error = fut.exception()
        if error is not None and proposed_here and isinstance(error, (NotLeaderError, UnavailableError)):
            # Not logged (leadership moved): execute() waits for the new leader and forwards.
            self.task = asyncio.get_running_loop().create_task(self._retry_then_run(spec, command, started_ns))
            return
        reply = self._reply(spec, command, fut)
        self.server.count_call(spec.name, started_ns, reply)
        self._write(reply)
        if self.pending:
            self._dispatch()
        elif self.eof:
            self.close()

    def _reply(self, spec: Spec, command, fut: asyncio.Future) -> bytes:
        error = fut.exception()
        if isinstance(error, RaftcacheError):
            return encode(error, self.proto)
        if error is not None:
            log.error("executing %s failed", spec.name, exc_info=error)
            return b"-ERR internal error\r\n"
        result, index = fut.result()
        if index and not commands.is_read(command):
            self.last_write_index = max(self.last_write_index, index)
        return self.render(spec, command, result)

    async def _retry_then_run(self, spec: Spec, command, started_ns: int) -> None:
        self.running = True
        reply = await self._execute(spec, command, started_ns)
        self._write(reply)
        await self._run()

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            if self.transport is not None:
                self.transport.close()

    # ------------------------------------------------------------ the command loop

    async def _run(self) -> None:
        self.running = True
        try:
            while self.pending and not self.closing:
                batch, self.pending = self.pending, collections.deque()
                self.backlog = 0
                self._update_reading()
                out = await self._run_batch(batch)
                if out:
                    self._write(b"".join(out))
                if self._write_paused is not None:
                    await self._write_paused
                if self.closing:
                    self.transport.close()
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not kill the server; the client is dropped
            log.exception("RESP connection %d failed", self.id)
            self.close()
        finally:
            self.running = False
            self.task = None
        if self.eof:
            self.close()

    async def _run_batch(self, batch) -> list[bytes]:
        out: list = []           # encoded replies, or tasks still running
        running: list[int] = []  # positions in out of tasks
        running_kind = None
        forwarded: list = []     # a follower's run of writes: (position in out, spec, command, started_ns)
        size = counted = 0       # bytes of the replies out[:counted], all encoded
        for args in batch:
            while counted < len(out) and type(out[counted]) is bytes:
                size += len(out[counted])
                counted += 1
            in_flight = len(running) + len(forwarded)
            if size > _OUT_CHUNK_BYTES or in_flight >= _MAX_IN_FLIGHT or (
                    running_kind == "read" and in_flight >= _MAX_READS_IN_FLIGHT):
                # Bounded output: write what is answered, wait until the client reads it.
                await self._forward_writes(out, forwarded)
                await self._settle(out, running)
                running_kind = None
                if out:
                    self._write(b"".join(out))
                    out.clear()
                size = counted = 0
                if self._write_paused is not None:
                    await self._write_paused
                if self.closing:
                    break
            if isinstance(args, ProtocolError):
                await self._forward_writes(out, forwarded)
                await self._settle(out, running)
                out.append(b"-ERR Protocol error: %s\r\n" % str(args).encode())
                self.closing = True
                break
            self.server.stats["total_commands_processed"] += 1
            started_ns = time.perf_counter_ns()
            step = self._prepare(args)
            if type(step) is bytes:
                out.append(step)
                continue
            spec, command = step
            kind = None if command is None else "read" if commands.is_read(command) else "write"
            if kind == "write" and not self.server.writes_may_overlap():
                await self._settle(out, running)  # the reads before them first
                running_kind = None
                forwarded.append((len(out), spec, command, started_ns))
                out.append(None)
                continue
            await self._forward_writes(out, forwarded)
            if command is None:  # a connection/server command
                await self._settle(out, running)
                running_kind = None
                if "blocking" in spec.flags and out:
                    self._write(b"".join(out))  # replies before a blocking pop go out now
                    out.clear()
                    size = counted = 0
                reply = await self._local(spec, args)
                self.server.count_call(spec.name, started_ns, reply)
                out.append(reply)
                if self.closing:
                    break
                continue
            if kind == "read" and running_kind != "write":
                served = self.service.read_now(command, self.consistency, self.last_write_index)
                if served is not None:  # no waiting needed: answer inline, no task
                    reply = self.render(spec, command, served[0])
                    self.server.count_call(spec.name, started_ns, reply)
                    out.append(reply)
                    continue
            if running and kind != running_kind:
                await self._settle(out, running)
            running_kind = kind  # reads, or writes on the leader: proposed back to back
            running.append(len(out))
            out.append(asyncio.ensure_future(self._execute(spec, command, started_ns)))
        await self._forward_writes(out, forwarded)
        await self._settle(out, running)
        return out

    async def _forward_writes(self, out: list, forwarded: list) -> None:
        """Run a follower's pipelined writes as one batch for the leader (one RPC, one
        group commit), in order: execute_many gives each a dedup identity and, after
        a failure, retries them one by one in their order."""
        if len(forwarded) == 1:
            i, spec, command, started_ns = forwarded[0]
            out[i] = await self._execute(spec, command, started_ns)
        elif forwarded:
            outcomes = await execute_many(self.service, [(command, None, "", 0) for _, _, command, _ in forwarded],
                                          floor=self.last_write_index)
            for (i, spec, command, started_ns), outcome in zip(forwarded, outcomes):
                if isinstance(outcome, RaftcacheError):
                    reply = encode(outcome, self.proto)
                else:
                    result, index = outcome
                    self.last_write_index = max(self.last_write_index, index)
                    reply = self.render(spec, command, result)
                self.server.count_call(spec.name, started_ns, reply)
                out[i] = reply
        forwarded.clear()

    async def _settle(self, out: list, running: list[int]) -> None:
        for i in running:
            out[i] = await out[i]
        running.clear()

    def _prepare(self, args: list[bytes]):
        """Validate one command: an immediate reply (bytes) or (spec, command | None)."""
        name = args[0].lower()
        spec: Spec | None = TABLE.get(name)
        if spec is None:
            return self._reject(unknown_command(args))
        if (spec.arity > 0 and len(args) != spec.arity) or len(args) < -spec.arity:
            self.server.count_rejected(spec.name)
            return self._reject(wrong_arity(spec.name))
        self.last_cmd = spec.name
        if not self.authenticated and "noauth" not in spec.flags:
            self.server.count_rejected(spec.name)
            return self._reject("NOAUTH Authentication required.")
        if self.multi is not None and name not in _MULTI_CONTROL:
            return self._queue(spec, args)
        if spec.build is None:
            return spec, None
        try:
            return spec, spec.build(args, self.db)
        except RespError as e:  # a bad argument: the command ran and failed, as in Redis
            reply = b"-%s\r\n" % e.text.encode()
            self.server.count_call(spec.name, time.perf_counter_ns(), reply)
            return reply

    def _reject(self, text: str) -> bytes:
        if self.multi is not None:
            self.multi_error = True
        return b"-%s\r\n" % text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")

    def _queue(self, spec: Spec, args: list[bytes]) -> bytes:
        if "blocking" in spec.flags:
            # As in Redis, a blocking pop inside MULTI does not block: it is queued as
            # its non-blocking form (nil when every key is empty).
            try:
                spec, command = resp_blocking.in_multi(spec.name, args, self.multi_db)
            except RespError as e:
                command = e
            self.multi.append((spec, args, command))
            return b"+QUEUED\r\n"
        if spec.build is None and spec.name not in resp_admin.ALLOWED_IN_MULTI:
            return self._reject("ERR Command not allowed inside a transaction")
        # As in Redis, only unknown commands and wrong arity (checked before this)
        # abort EXEC; a bad argument is this command's error in EXEC's reply.
        command = None
        if spec.build is not None:
            try:
                command = spec.build(args, self.multi_db)
            except RespError as e:
                command = e
        elif spec.name == "select":
            try:
                self.multi_db = resp_admin.parse_db(self, args[1])
            except RespError as e:
                command = e
        self.multi.append((spec, args, command))
        return b"+QUEUED\r\n"

    async def _execute(self, spec: Spec, command, started_ns: int) -> bytes:
        try:
            result, index = await self.service.execute(command, self.consistency, floor=self.last_write_index)
        except RaftcacheError as e:
            reply = encode(e, self.proto)
        except Exception:  # a bug must cost one reply, not the connection
            log.exception("executing %s failed", spec.name)
            reply = b"-ERR internal error\r\n"
        else:
            if index and not commands.is_read(command):
                self.last_write_index = max(self.last_write_index, index)
            reply = self.render(spec, command, result)
        self.server.count_call(spec.name, started_ns, reply)
        return reply

    def render(self, spec: Spec, command, result) -> bytes:
        if isinstance(result, CommandError):
            return encode(result, self.proto)
        if spec.shape is not None:
            result = spec.shape(result, self.proto, command)
        try:
            return encode(result, self.proto)
        except TypeError:
            log.exception("cannot encode the reply of %s", spec.name)
            return b"-ERR internal error encoding the reply\r\n"

    async def _local(self, spec: Spec, args: list[bytes]) -> bytes:
        try:
            local = _LOCAL.get(spec.name)
            if local is not None:
                return await local(self, args)  # already encoded
            reply = await resp_admin.HANDLERS[spec.name](self, args)
        except RespError as e:
            return b"-%s\r\n" % e.text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")
        except RaftcacheError as e:
            return encode(e, self.proto)
        return encode(reply, self.proto)

    # ------------------------------------------------------------ transactions

    async def cmd_multi(self, args) -> bytes:
        if self.multi is not None:
            return b"-ERR MULTI calls can not be nested\r\n"
        self.multi, self.multi_db, self.multi_error = [], self.db, False
        return b"+OK\r\n"

    async def cmd_discard(self, args) -> bytes:
        if self.multi is None:
            return b"-ERR DISCARD without MULTI\r\n"
        self.multi = None
        self.watches.clear()
        return b"+OK\r\n"

    async def cmd_watch(self, args) -> bytes:
        if self.multi is not None:
            return b"-ERR WATCH inside MULTI is not allowed\r\n"
        keys = [k for k in args[1:] if (self.db, k) not in self.watches]
        if keys:
            command = pb.Command(db=self.db)
            command.key_version.keys.extend(keys)
            from raftcache.node.service.service import LINEARIZABLE

            versions, _ = await self.service.execute(command, LINEARIZABLE)
            if isinstance(versions, CommandError):
                return encode(versions, self.proto)
            for key, version in zip(keys, versions):
                self.watches[(self.db, key)] = version
        return b"+OK\r\n"

    async def cmd_unwatch(self, args) -> bytes:
        self.watches.clear()
        return b"+OK\r\n"

    async def cmd_exec(self, args) -> bytes:
        if self.multi is None:
            return b"-ERR EXEC without MULTI\r\n"
        queued, self.multi = self.multi, None
        watches, self.watches = self.watches, {}
        if self.multi_error:
            return b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        transaction = pb.Command(db=self.db)
        tx = transaction.transaction
        tx.SetInParent()
        for (db, key), index in watches.items():
            tx.watches.add(db=db, key=key, index=index)
        data = [(spec, cmd) for spec, _, cmd in queued if isinstance(cmd, pb.Command)]
        for _, cmd in data:
            tx.commands.append(cmd)
        results: list = []
        if data:
            try:
                results, index = await self.service.execute(transaction, self.consistency)
            except RaftcacheError as e:
                return encode(e, self.proto)
            if isinstance(results, CommandError):
                return encode(results, self.proto)
            if results is None:
                return encode(NULL_ARRAY, self.proto)
            self.last_write_index = max(self.last_write_index, index)
        # Splice local commands (PING, SELECT, …) into their places, in order.
        parts = [b"*%d\r\n" % len(queued)]
        it = iter(results)
        for spec, qargs, cmd in queued:
            if cmd is None:
                parts.append(await self._local(spec, qargs))
            elif isinstance(cmd, RespError):
                parts.append(b"-%s\r\n" % cmd.text.encode())
            else:
                parts.append(self.render(spec, cmd, next(it)))
        return b"".join(parts)

    async def cmd_quit(self, args) -> bytes:
        self.closing = True
        return b"+OK\r\n"

    async def cmd_reset(self, args) -> bytes:
        self.multi, self.watches, self.db, self.proto, self.name = None, {}, 0, 2, ""
        self.consistency = None
        self.authenticated = not self.server.password
        self.parser.authenticated = self.authenticated
        return b"+RESET\r\n"


_LOCAL = {
    "multi": Connection.cmd_multi,
    "exec": Connection.cmd_exec,
    "discard": Connection.cmd_discard,
    "watch": Connection.cmd_watch,
    "unwatch": Connection.cmd_unwatch,
    "quit": Connection.cmd_quit,
    "reset": Connection.cmd_reset,
}


async def start_server(service, host: str, port: int, config: FrontendConfig) -> asyncio.AbstractServer:
    """Serve the Redis protocol on host:port; the caller closes the returned server."""
    loop = asyncio.get_running_loop()
    state = RespServer(service, config, host, port)
    server = await loop.create_server(lambda: Connection(state), host, port, backlog=1024, reuse_address=True)
    state.server = server
    state._idle_task = loop.create_task(state.idle_loop())
    return server
