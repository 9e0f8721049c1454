"""The Redis protocol front end: per-connection state and the asyncio server (what its
connections share, the counters and limits of the port: resp_server.py).

Owns connections (RESP2/RESP3, auth, selected database, MULTI queue,
WATCHed versions, read consistency), pipelining (every complete frame in
the buffer is parsed, answered in order, and the replies of a batch are
written in chunks of at most OUT_CHUNK_BYTES) and the order guarantees of a
pipeline, and the client buffer limits (node/frontends/client_limits.py):
the query buffer limit, the output buffer limits and back-pressure (a client
whose replies are not read is not read either; maxmemory-clients, across
connections, is resp_server.py's). Parsing is in resp_requests.py, reply encoding in
resp_protocol.py, the command table in resp_table.py (argument parsing in
resp_args.py, resp_commands.py, resp_types.py, …), connection and server
commands in resp_admin.py (CLIENT in resp_client.py), INFO in resp_info.py, MULTI/EXEC/WATCH in
resp_transactions.py.

Must not import lmdb or pysyncobj, nor hold business logic: every data
command becomes one `Command` run by the connection's session
(node/service/session.py: the read levels, group commit, forwarding and the
order of a pipeline), except `GET key` (the commonest cache request),
answered by `Session.gets` at once when it needs no waiting (a pipeline's GETs
together, in one read) or from the shared read round (resp_gets.py). PING and
ECHO with nothing before them, reads that need no waiting and a lone write or
read are answered from data_received too, with no task (resp_inline.py).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from raftcache.node import commands
from raftcache.node.config import FrontendConfig
from raftcache.node.errors import CommandError, RaftcacheError
from raftcache.node.frontends import (
    acl_catalog, client_limits, resp_acl, resp_admin, resp_blocking, resp_client, resp_cluster, resp_diag, resp_info,
    resp_pubsub, resp_script_admin, resp_scripting, resp_sort_dump, resp_tracking, resp_transactions,
)
from raftcache.node.frontends.resp_gets import GetFastPaths
from raftcache.node.frontends.resp_inline import OUT_CHUNK_BYTES, InlinePaths
from raftcache.node.frontends.resp_table import TABLE, Spec
from raftcache.node.frontends.resp_protocol import Push, RespError, encode
from raftcache.node.frontends.resp_requests import ProtocolError, RequestParser, leading_sets, only_gets, whole_frames
from raftcache.node.service.pubsub import Message
from raftcache.node.service.session import MAX_IN_FLIGHT, Outcome, Session
from raftcache.node.frontends.resp_server import RespServer
from raftcache.node.service.stream import StreamConnection, tls_options
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger(__name__)

#: Stop reading from a client that has this many commands waiting (its replies are slow).
_MAX_PENDING = 10_000
#: Pushes held back while a command runs, at most (Connection.push); past it they go out at once.
_HELD_PUSH_BYTES = 64 << 10
#: A connection whose memory grew by this much since its last check asks for a maxmemory-clients check.
_MEMORY_STEP_BYTES = 1 << 20
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


def _queued(error: RespError) -> RespError:
    """`error` as MULTI queues it: without its traceback and context, which would tie the
    connection (and the batch it came in) into a cycle until a full collection."""
    error.__context__ = error.__cause__ = None
    return error.with_traceback(None)


class Connection(InlinePaths, GetFastPaths, StreamConnection):
    """One client connection. Commands run strictly in order, replies too."""

    def __init__(self, server: RespServer):
        super().__init__(server.port, Session(server.service, "resp"))
        self.server = server
        self.service = server.service
        self.id = self.session.id
        self.parser = RequestParser(server.service.limits.max_value_bytes)
        self.pending: collections.deque = collections.deque()
        self.task: asyncio.Task | None = None
        self.proto = 2
        self.lib = {"lib-name": "", "lib-ver": ""}
        self.login(self.service.identity.login_user())
        self.multi: list | None = None   # queued (spec, args, command) while in MULTI
        self.multi_db = 0
        self.multi_error = False
        self.asking = False   # cluster mode: ASKING was the previous command (resp_cluster.asking)
        self.round_gets: tuple | None = None   # GETs waiting for the read round: (burst, started_ns)
        self.gets_wait = False   # this connection's last lone GET was not servable at once (resp_gets)
        self.watches: dict[tuple[int, bytes], tuple[int, int]] = {}  # (db, key) -> (version, seen_at)
        self.unblocked: asyncio.Future | None = None   # set while blocked in a blocking pop
        self.in_exec = False             # running EXEC's queued commands (nothing blocks then)
        self.reply_off = False           # CLIENT REPLY OFF: no replies until ON
        self.reply_skip_next = False     # CLIENT REPLY SKIP: no reply to the next command
        self.last_cmd = "NULL"
        self.monitoring = False          # MONITOR: lines of commands (or applied writes) are streamed
        self.running = False
        self.held_pushes: list[bytes] = []   # pushes that came while a command ran: sent after its reply
        self.backlog = 0                 # bytes received since the command loop last took the pending commands
        self._over_soft_since: float | None = None
        self._memory_mark = _MEMORY_STEP_BYTES

    # ------------------------------------------------------------ transport

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if not self.closing:
            self.apply_write_limits()

    # ------------------------------------------------------------ who the client is

    @property
    def authenticated(self) -> bool:
        return self.session.user is not None

    def login(self, user: str | None) -> None:
        super().login(user)
        self.parser.authenticated = user is not None

    def _unrestricted(self) -> bool:
        user = self.service.identity.users.get(self.session.user)
        return user is not None and user.unrestricted

    def client_info(self) -> str:
        """This connection as CLIENT INFO and ACL LOG entries describe it."""
        return resp_client.client_info_line(self)

    def _acl_refusal(self, spec: Spec, args: list[bytes]) -> bytes | None:
        """-NOPERM (and an ACL LOG entry) when the user may not run this command on its keys."""
        identity = self.service.identity
        user = identity.users.get(self.session.user)
        if user is None:  # the user was deleted: the connection is no longer authenticated
            self.login(None)
            return b"-NOAUTH Authentication required.\r\n"
        if user.unrestricted:
            return None
        name, parent = acl_catalog.resp_name(spec, args)
        error = identity.check(self.session.user, name, acl_catalog.categories(name),
                             acl_catalog.resp_keys(spec, args, self.session.db), acl_catalog.resp_channels(spec, args),
                             parent=parent, context="toplevel" if self.multi is None else "multi",
                             client_info=self.client_info())
        if error is None:
            if spec.name in ("sort", "sort_ro"):  # BY / GET patterns read keys the command does not name
                refused = resp_sort_dump.pattern_refusal(user, args, acl_catalog.categories(name))
                return None if refused is None else b"-%s\r\n" % refused.encode()
            return None
        self.server.count_rejected(spec.name)
        return self._reject(f"NOPERM {error.message}")

    # ------------------------------------------------------------ buffer limits

    def apply_write_limits(self) -> None:
        """Back-pressure mark of the transport: pause_writing above it (see client_limits)."""
        if self.transport is not None and not self.transport.is_closing():
            high = self.server.limits.normal.high_water_bytes
            self.transport.set_write_buffer_limits(high=high, low=high // 4)

    def memory_bytes(self) -> int:
        """What this client makes the node hold: the command being received, commands
        received and not yet taken, and replies not yet sent."""
        return self.parser.unfinished_bytes + self.backlog + self.output_bytes()

    def check_output(self, now: float | None = None) -> None:
        """The output buffer limits of the `normal` class, after a send and periodically."""
        if self.transport is None or self.closing:
            return
        size = self.output_bytes()
        if size == 0 and self._over_soft_since is None:
            return
        limits = self.server.limits
        limit = (limits.replica if self.monitoring else
                 limits.pubsub if self.session.subscriptions is not None else limits.normal)
        over, self._over_soft_since = limit.over(
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
        if self.held_pushes:   # after the reply they came during (Redis's pending push messages)
            data += b"".join(self.held_pushes)
            self.held_pushes = []
        self.write(data)

    def flushed(self) -> None:
        # check_output, unless it would find nothing to check: the transport took every byte
        # (the common case) and no soft limit's clock is running
        if self._over_soft_since is not None or self.transport.get_write_buffer_size():
            self.check_output()

    def busy(self) -> bool:
        return self.running or self.task is not None

    def saturated(self) -> bool:
        """A parse error (nothing more is read), or many commands or bytes waiting for the command loop."""
        return (self.parser._error is not None or len(self.pending) > _MAX_PENDING
                or self.backlog > client_limits.BACKLOG_BYTES)

    def eof_received(self) -> bool:
        keep = super().eof_received()
        resp_blocking.unblock(self, "gone")   # a blocked client that hung up waits no longer (Redis frees it)
        return keep

    def connection_lost(self, exc) -> None:
        super().connection_lost(exc)
        if self.monitoring:
            self.service.diagnostics.monitors.remove(self.id)
        if self.session.subscriptions is not None:
            self.service.pubsub.drop(self.session.subscriptions)
        resp_tracking.stop(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()
        # what it queued goes now, not when the connection object is collected
        self.multi = None
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.closing or self.parser._error is not None:
            return
        self.session.last_s = time.monotonic()   # touch(), without its call: every read's path
        frames = None
        if self.parser.idle and self.session.user is not None:   # (authenticated)
            gets = only_gets(data, self.parser.max_bulk_bytes)
            if gets is None:
                sets, end = leading_sets(data, self.parser.max_bulk_bytes)
                if not sets or end < len(data):   # (the SETs it starts with are not parsed again)
                    frames = whole_frames(data, self.parser.max_bulk_bytes, end)
                    if frames is not None and sets:
                        frames = sets + frames
                elif self.task is None and not self.pending and self._answer_sets(sets):   # -P 1's SET, -P 16's
                    self._check_memory()
                    return
                else:
                    frames = sets
            elif self.task is None and not self.pending and self._answer_gets(*gets):
                return
            else:
                frames = [list(frame) for frame in zip(*gets)]
        if frames:
            self.pending.extend(frames)
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
            self.update_reading()
        self._check_memory()

    # ------------------------------------------------------------ the command loop

    async def _run(self) -> None:
        self.running = True
        try:
            await self.writable()   # replies already written wait for the client first (round GETs')
            while self.pending and not self.closing:
                batch, self.pending = self.pending, collections.deque()
                self.backlog = 0
                self.update_reading()
                out = await self._run_batch(batch)
                if out:
                    self._write(b"".join(out))
                await self.writable()
                if self.closing:
                    self.shut()
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not kill the server; the client is dropped
            log.exception("RESP connection %d failed", self.id)
            self.close()
        finally:
            self.running = False
            self.task = None
            if self.held_pushes and not self.closing:
                self._write(b"")
        if self.eof:
            self.close()

    async def _run_batch(self, batch) -> list[bytes]:
        run = self.session.run()
        for args in batch:
            if run.size > OUT_CHUNK_BYTES or run.in_flight >= MAX_IN_FLIGHT:
                # Bounded output: write what is answered, wait until the client reads it.
                await run.settle()
                self._write(b"".join(run.take()))
                await self.writable()
                if self.closing:
                    break
            if isinstance(args, ProtocolError):
                await run.settle()
                run.reply(b"-ERR Protocol error: %s\r\n" % str(args).encode("latin-1", "replace"))
                self.closing = True
                break
            self.server.stats["total_commands_processed"] += 1
            started_ns = time.perf_counter_ns()
            muted = self.mute(args)
            step = self._prepare(args)
            if type(step) is bytes:
                run.reply(b"" if muted else step)
                continue
            spec, command = step
            if self.server.pause.active() and self.server.pause.holds(self._writes(spec, command)):
                await run.settle()
                self._write(b"".join(run.take()))   # answered before the pause: sent now
                await self.server.pause.wait(self, self._writes(spec, command))
            if command is None:  # a connection/server command: after every command before it
                await run.settle()
                if "blocking" in spec.flags and run.out:
                    self._write(b"".join(run.take()))  # replies before a blocking pop go out now
                reply = await self.run_local(spec, args)
                if not ("blocking" in spec.flags and self.eof):   # hung up while blocked: freed, uncounted (Redis)
                    self.count(spec, args, started_ns, reply)
                run.reply(b"" if muted else reply)
                if self.closing:
                    break
                continue
            await run.add(command, self._renderer(spec, command, started_ns, args, self.last_cmd, muted))
        await run.settle()
        return run.take()

    def _renderer(self, spec: Spec, command, started_ns: int, args: list[bytes], name: str, muted: bool = False):
        def render(outcome: Outcome) -> bytes:
            reply = self.render(spec, command, outcome)
            self.count(spec, args, started_ns, reply, name)
            return b"" if muted else reply
        return render

    def count(self, spec: Spec, args: list[bytes], started_ns: int, reply: bytes, name: str | None = None) -> None:
        """One command answered: INFO commandstats/errorstats, and the node's diagnostics (slow
        log, latency, MONITOR) under its Redis name (`client|list` for a known subcommand;
        `name`, when the caller has it: the `last_cmd` _prepare set for this command)."""
        usec = (time.perf_counter_ns() - started_ns) // 1000
        self.server.count_call(spec.name, usec, reply)
        self.session.finished(name or acl_catalog.resp_name(spec, args)[0], args, usec, "fast" in spec.flags,
                              _may_block(spec, args))

    def monitor_line(self, line: bytes) -> None:
        """One MONITOR line (node/service/diagnostics.Monitors): written now, between whole
        replies; the `replica` class of client-output-buffer-limit bounds what it holds."""
        if not self.closing:
            self._write(b"+%s\r\n" % line)

    def fast_paths_ok(self) -> bool:
        """Commands may be answered without the command loop: no CLIENT REPLY muting and
        no CLIENT PAUSE under way (the loop applies both, in order)."""
        return not (self.reply_off or self.reply_skip_next) and not self.server.pause.active()

    def mute(self, args) -> bool:
        """Whether this command's reply is dropped (CLIENT REPLY, Redis's flags): every
        reply while OFF, the next command's after SKIP; CLIENT REPLY answers for itself, and
        an (un)subscribe's confirmations are sent regardless (Redis 7.2+ sends them as pushes
        in both protocols, and pushes ignore the silencing flags)."""
        skip, self.reply_skip_next = self.reply_skip_next, False
        if type(args) is not list:
            return False
        name = args[0].lower()
        if (name == b"client" and args[1:2] and args[1].lower() == b"reply") or (
                name.decode(errors="replace") in resp_pubsub.PUSH_REPLY_COMMANDS):
            return False
        return self.reply_off or skip

    def _writes(self, spec: Spec, command) -> bool:
        """Whether CLIENT PAUSE WRITE holds the command: a write, one that may replicate
        (PFCOUNT), a blocking pop, or an EXEC with a write queued."""
        if command is not None:
            return not commands.is_read(command)
        if spec.name == "exec":
            return any(isinstance(c, pb.Command) and not commands.is_read(c) for _, _, c in self.multi or ())
        return "write" in spec.flags or "may_replicate" in spec.flags

    def _prepare(self, args: list[bytes]):
        """Validate one command: an immediate reply (bytes) or (spec, command | None)."""
        name = args[0].lower()
        spec: Spec | None = TABLE.get(name)
        if spec is None:
            self.server.errorstats["ERR"] += 1
            if self.multi is not None and name.decode(errors="replace") in resp_admin.REFUSED_IN_MULTI:
                return self._reject("ERR Command not allowed inside a transaction")
            return self._reject(unknown_command(args))
        if (spec.arity > 0 and len(args) != spec.arity) or len(args) < -spec.arity:
            self.server.count_rejected(spec.name)
            return self._reject(wrong_arity(spec.name))
        self.last_cmd = acl_catalog.resp_name(spec, args)[0]
        asking = self.asking and spec.name != "asking"
        if asking:
            self.asking = False   # ASKING holds for one command, as in Redis
        if not self.authenticated and "noauth" not in spec.flags:
            self.server.count_rejected(spec.name, "NOAUTH")
            return self._reject("NOAUTH Authentication required.")
        if self.authenticated and "noauth" not in spec.flags:
            refusal = self._acl_refusal(spec, args)
            if refusal is not None:
                return refusal
        subs = self.session.subscriptions
        if subs is not None and self.proto == 2 and subs.active and spec.name not in resp_pubsub.SUBSCRIBER_COMMANDS:
            return self._reject(resp_pubsub.refused_in_subscriber_mode(spec.name))
        built = None
        if self.server.cluster is not None:
            refused, built = self._slot_refusal(spec, args, asking)
            if refused is not None:
                return refused
        if self.multi is not None and name not in _MULTI_CONTROL:
            return self._queue(spec, args)
        if spec.build is None:
            return spec, None
        if built is None:
            try:
                built = spec.build(args, self.session.db)
            except RespError as e:  # a bad argument: the command ran and failed, as in Redis
                reply = encode(e, self.proto)
                self.count(spec, args, time.perf_counter_ns(), reply, self.last_cmd)
                return reply
        if spec.name == "fcall":
            built = resp_scripting.read_if_no_writes(built, self.session)
        elif spec.name == "evalsha":
            built = resp_scripting.carry_read_cached(built, self.session)
        if spec.name in acl_catalog.SCRIPT_RUNNERS:
            acl_catalog.stamp_script_caller(built, self.session.user, self.service, self.client_info)
        return spec, built

    def _slot_refusal(self, spec: Spec, args: list[bytes], asking: bool = False) -> tuple[bytes | None, object]:
        """Cluster mode: (-MOVED / -CROSSSLOT when this shard does not serve the command's keys,
        node/frontends/resp_cluster.py; the command built to find them, or None). Checked after
        the ACL, as Redis does. After ASKING, a slot this shard imports is served: the command
        says so (`Command.asking`) to the service and the leader it is forwarded to."""
        command = None
        if spec.build is not None:
            try:
                command = spec.build(args, self.session.db)
            except RespError:
                return None, None   # answered with its argument error by the ordinary path
        keys = acl_catalog.slot_keys(spec, args, self.session.db, command)
        if asking and isinstance(command, pb.Command) and resp_cluster.asked(self.server.cluster, keys):
            command.asking = True
            return None, command
        refused = resp_cluster.refusal(self.server.cluster, keys)
        if refused is not None:
            self.server.errorstats[refused[1:].split(b" ", 1)[0].decode()] += 1
            if self.multi is not None:
                self.multi_error = True
        return refused, command

    def _reject(self, text: str) -> bytes:
        if self.multi is not None:
            self.multi_error = True
        return encode(RespError(text), self.proto)

    def _queue(self, spec: Spec, args: list[bytes]) -> bytes:
        if "blocking" in spec.flags:
            # As in Redis, a blocking pop inside MULTI does not block: it is queued as
            # its non-blocking form (nil when every key is empty).
            try:
                spec, command = resp_blocking.in_multi(spec.name, args, self.multi_db)
            except RespError as e:
                command = _queued(e)
            self.multi.append((spec, args, command))
            return b"+QUEUED\r\n"
        if spec.name in resp_admin.REFUSED_IN_MULTI:
            return self._reject("ERR Command not allowed inside a transaction")
        # As in Redis, only unknown commands and wrong arity (checked before this)
        # abort EXEC; a bad argument is this command's error in EXEC's reply.
        command = None
        if spec.build is not None:
            try:
                command = spec.build(args, self.multi_db)
                if spec.name in ("evalsha", "evalsha_ro"):   # the transaction is a log entry
                    command = resp_scripting.carry_read_cached(command, self.session)
                if spec.name in acl_catalog.SCRIPT_RUNNERS:
                    acl_catalog.stamp_script_caller(command, self.session.user, self.service, self.client_info)
            except RespError as e:
                command = _queued(e)
        elif spec.name == "select":
            try:
                self.multi_db = resp_admin.parse_db(self, args[1])
            except RespError as e:
                command = _queued(e)
        self.multi.append((spec, args, command))
        return b"+QUEUED\r\n"

    async def call(self, command, consistency=None) -> tuple[object, int]:
        """Run one command through the session: (result, index); raises its RaftcacheError."""
        outcome = await self.session.execute(command, consistency)
        if isinstance(outcome, RaftcacheError):
            raise outcome
        return outcome

    def render(self, spec: Spec, command, outcome: Outcome) -> bytes:
        if isinstance(outcome, RaftcacheError):
            return encode(outcome, self.proto)
        result = outcome[0]
        if isinstance(result, CommandError):
            return encode(result, self.proto)
        if spec.shape is not None:
            result = spec.shape(result, self.proto, command)
        try:
            return encode(result, self.proto)
        except TypeError:
            log.exception("cannot encode the reply of %s", spec.name)
            return b"-ERR internal error encoding the reply\r\n"

    async def run_local(self, spec: Spec, args: list[bytes]) -> bytes:
        try:
            local = _LOCAL.get(spec.name)
            if local is not None:
                return await local(self, args)  # already encoded
            reply = await _HANDLERS[spec.name](self, args)
        except (RespError, RaftcacheError) as e:
            return encode(e, self.proto)   # (an error line, its CR/LF replaced)
        return encode(reply, self.proto)

    def _immediate(self, spec: Spec, args: list[bytes], started_ns: int) -> bytes:
        """The reply of a connection command that needs no waiting (resp_admin.IMMEDIATE),
        counted as the command loop counts it."""
        try:
            reply = encode(resp_admin.IMMEDIATE[spec.name](self, args), self.proto)
        except (RespError, RaftcacheError) as e:
            reply = encode(e, self.proto)
        self.count(spec, args, started_ns, reply, self.last_cmd)
        return reply

    async def cmd_quit(self, args) -> bytes:
        self.closing = True
        return b"+OK\r\n"

    def subscriptions(self):
        """This connection's pub/sub subscriptions (node/service/pubsub.py), made on first use."""
        subs = self.session.subscriptions
        if subs is None:
            subs = self.session.subscriptions = self.service.pubsub.subscriptions(self.push, self.push_many)
        return subs

    def push(self, frame: list) -> None:
        """An out-of-band frame (a pub/sub message, an invalidation): written between whole
        replies (the pubsub class of client-output-buffer-limit bounds what a slow subscriber
        holds). While a command of this connection runs, after its reply, as Redis sends a
        client the messages its own command caused (a PUBLISH to itself, the invalidation of
        a key it wrote); not while it is blocked or paused, and never more than
        _HELD_PUSH_BYTES held."""
        self.push_many((frame,))

    def push_many(self, frames: list) -> None:
        """Several frames of one delivery round, in order, as one write (held as push() holds
        one). A shared pubsub.Message is rendered once per protocol for all its subscribers."""
        if self.closing:
            return
        proto = self.proto
        parts = []
        for frame in frames:
            rendered = frame.rendered.get(proto) if type(frame) is Message else None
            if rendered is None:
                rendered = encode(Push(frame), proto)
                if type(frame) is Message:
                    frame.rendered[proto] = rendered
            parts.append(rendered)
        data = b"".join(parts) if len(parts) > 1 else parts[0]
        if (self.running and self.unblocked is None and not self.server.pause.active()
                and sum(map(len, self.held_pushes)) + len(data) <= _HELD_PUSH_BYTES):
            self.held_pushes.append(data)
        else:
            self._write(data)

    async def cmd_reset(self, args) -> bytes:
        if self.monitoring:
            self.service.diagnostics.monitors.remove(self.id)
            self.monitoring = False
        if self.session.subscriptions is not None:
            self.service.pubsub.drop(self.session.subscriptions)
            self.session.subscriptions = None
        resp_tracking.stop(self)
        self.multi, self.watches, self.proto = None, {}, 2
        self.session.db, self.session.name, self.session.consistency = 0, "", None
        self.login(self.service.identity.login_user())
        return b"+RESET\r\n"


_GET_SPEC = TABLE[b"get"]


def _may_block(spec: Spec, args: list[bytes]) -> bool:
    """A blocking pop, or XREAD/XREADGROUP with BLOCK: its time is mostly a wait."""
    if "blocking" not in spec.flags:
        return False
    return not spec.name.startswith("xread") or any(a.upper() == b"BLOCK" for a in args[1:])


#: Connection and server commands: resp_admin's, CLIENT (resp_client.py), INFO (resp_info.py), the
#: ACL's (resp_acl.py), the diagnostic ones (resp_diag.py) and the scripts' (resp_script_admin.py).
_HANDLERS = {**resp_admin.HANDLERS, **resp_client.HANDLERS, **resp_info.HANDLERS, **resp_acl.HANDLERS,
             **resp_diag.HANDLERS, **resp_script_admin.HANDLERS}
_LOCAL = {
    **resp_pubsub.HANDLERS,
    "multi": resp_transactions.multi,
    "exec": resp_transactions.exec_,
    "discard": resp_transactions.discard,
    "watch": resp_transactions.watch,
    "unwatch": resp_transactions.unwatch,
    "quit": Connection.cmd_quit,
    "reset": Connection.cmd_reset,
}


async def start_server(service, host: str, port: int, config: FrontendConfig, tls=None) -> asyncio.AbstractServer:
    """Serve the Redis protocol on host:port (TLS only with `tls`, node/service/tls.TlsContexts);
    the caller closes the returned server."""
    loop = asyncio.get_running_loop()
    state = RespServer(service, config, host, port, cn_login=tls is not None and tls.cn_login)
    server = await loop.create_server(lambda: Connection(state), host, port, backlog=1024, reuse_address=True,
                                      **tls_options(tls))
    state.port.server = server
    service.tracking.route_redirects(resp_tracking.redirect_target(state))
    state.start_checks(loop)
    return server
