"""memcached front end: the text protocol (and, via memcache_meta, the meta protocol).

Owns bytes <-> commands for the memcached port: parsing pipelined requests
from a bytearray buffer, memcached's reply formats and its behaviour after
bad input (which bytes are swallowed, which errors are sent), per-connection
read consistency; `stats` and the tuning commands are memcache_admin.py's. Every request becomes one or more `Command`s
on database 0 sent through `service.execute`; there is no business logic
here and no access to lmdb or raft.

Contract: `start_server(service, host, port, config) -> asyncio.Server`
(docs/interfaces.md). Differences from memcached are listed in
docs/memcached-compat.md.
"""

from __future__ import annotations

import asyncio
import logging
import time

from raftcache.node.commands import OK
from raftcache.node.config import FrontendConfig
from raftcache.node.errors import CommandError, RaftcacheError, Reason
from raftcache.node.frontends import acl_catalog, memcache_admin, memcache_auth
from raftcache.node.frontends import memcache_meta as meta
from raftcache.node.frontends.memcache_meta import (
    BAD_FORMAT, ERROR, TOO_LARGE, ReplyError, check_key, command, error_line, expiry,
    parse_int, parse_uint, touch_expiry,
)
from raftcache.node.consistency import ReadLevelError
from raftcache.node.service.service import ReadConsistency
from raftcache.node.service.session import Run, Session
from raftcache.node.service.stream import Port, StreamConnection, tls_options
from raftcache.readlevel import USAGE
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger(__name__)

VERSION = b"1.6.21"                 # what `version` reports: the memcached release whose protocol we follow
LINE_MAX_BYTES = 2048               # memcached closes a connection sending a longer line without a newline…
GET_LINE_MAX_BYTES = 1 << 20        # …except for get/gets/gat/gats, whose key lists may be long (here: up to 1 MiB)
GET_MAX_KEYS = 10_000               # most keys in one get/gets/gat/gats line (memcached has no such cap)
GET_CHUNK_BYTES = 4 << 20           # a get's keys are read, and their replies written, in chunks of about this size…
GET_CHUNK_KEYS = (4, 64)            # …of this many keys at least and at most (the first chunk: the least)
LINE_TOO_LONG = b"CLIENT_ERROR line too long\r\n"
TOO_MANY_KEYS = b"CLIENT_ERROR too many keys in one request (at most %d)\r\n" % GET_MAX_KEYS
_NOREPLY = b"noreply"
_LINEARIZABLE = ReadConsistency("linearizable")
_STORAGE = {b"set": pb.ALWAYS, b"add": pb.IF_ABSENT, b"replace": pb.IF_PRESENT,
            b"append": None, b"prepend": None, b"cas": pb.ALWAYS}
_GET_PREFIXES = (b"get ", b"gets ", b"gat ", b"gats ")
#: The longest data block a storage command may declare (memcached's INT_MAX - 2).
_DATALEN_MAX = (1 << 31) - 3
_NOREPLY_COMMANDS = frozenset((b"delete", b"incr", b"decr", b"touch", b"flush_all", b"verbosity", b"cache_memlimit"))


#: set/add/replace/cas: their outcome is decided at apply, so a pipeline of them
#: runs as the session runner runs writes (append/prepend read, then write: they run alone).
_OVERLAPPING = frozenset((b"set", b"add", b"replace", b"cas"))
#: Flush replies to the socket after this many, even mid-pipeline…
_MAX_UNWRITTEN = 1024
#: …or this many bytes (then wait until the client reads: a client that does not read is not read).
_FLUSH_BYTES = 1 << 16
#: How often idle clients are looked for (CONFIG `timeout`).
_CHECK_INTERVAL_S = 0.25


class ServerState:
    """What every connection of one memcached port shares: counters and the pending delayed flush."""

    def __init__(self, service, config: FrontendConfig, port: int, cn_login: bool = False):
        self.service = service
        self.config = config
        self.port_number = port
        # CONFIG `timeout` closes idle clients of this port too (0, the default: never).
        self.port = Port(max_connections=lambda: config.max_connections,
                         idle_timeout_s=lambda: int(service.setting("timeout")),
                         refusal=b"ERROR Too many open connections\r\n", cn_login=cn_login)
        self.checks: asyncio.Task | None = None
        self.item_max = min(config.memcached_item_size_max_bytes, service.limits.max_value_bytes)
        #: What this port's writes may evict when full: memcached's LRU (database 0), or nothing (-M).
        self.eviction = pb.EVICT_NEVER if config.memcached_disable_evictions else pb.EVICT_LRU
        self.started = time.time()
        self.stats = dict.fromkeys((
            "cmd_get", "cmd_set",
            "cmd_flush", "cmd_touch", "get_hits", "get_misses", "get_expired", "delete_misses",
            "delete_hits", "incr_misses", "incr_hits", "decr_misses", "decr_hits", "cas_misses",
            "cas_hits", "cas_badval", "touch_hits", "touch_misses", "bytes_read", "bytes_written",
            "total_items",
        ), 0)
        self.flush_timer: asyncio.TimerHandle | None = None
        #: The node's per-protocol latency (node/service/opstats.py): every request answered.
        self.latency = service.opstats.latency["memcache"]
        service.opstats.count_clients("memcache", lambda: len(self.port.connections))

    def schedule_flush(self, delay_s: int) -> None:
        """flush_all <delay>: a FlushDb of database 0 issued by this node when the delay ends.

        memcached instead invalidates, at that time, items last updated before
        it; here the timer lives on the node that took the command (a restart
        forgets it), and a newer flush_all replaces a pending one.
        """
        if self.flush_timer is not None:
            self.flush_timer.cancel()
            self.flush_timer = None
        if delay_s <= 0:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self.flush_timer = None
            task = loop.create_task(self.service.execute(command(flush_db=pb.FlushDb())))
            task.add_done_callback(lambda t: t.cancelled() or t.exception() and log.warning(
                "delayed flush_all failed: %s", t.exception()))

        self.flush_timer = loop.call_later(delay_s, fire)


def _parse_level(text: bytes) -> ReadConsistency:
    """A read level as the client spelt it; ReplyError listing the valid ones."""
    try:
        return ReadConsistency.parse(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError) as e:
        detail = str(e) if isinstance(e, ReadLevelError) else f"unknown read level: use {USAGE}"
        raise ReplyError(b"CLIENT_ERROR " + detail.encode("ascii", "replace") + b"\r\n") from None


class MemcacheProtocol(StreamConnection):
    """One client connection: parses requests in order and answers each in order."""

    version = VERSION

    def __init__(self, state: ServerState):
        identity = state.service.identity
        # Every command is checked as the Redis command it is (node/frontends/acl_catalog.py);
        # with --memcached-auth no, everyone is the default user.
        user = identity.login_user() if state.config.memcached_auth == "yes" else "default"
        super().__init__(state.port, Session(state.service, "memcache", user=user,
                                             guard=acl_catalog.command_guard))
        self.state = state
        self.service = state.service
        self.session.remote = state.service.shard_forwarder   # cluster mode: every key (shard_forward.py)
        self.stats = state.stats
        self.linearizable = _LINEARIZABLE
        self._buf = bytearray()
        self._swallow = 0              # bytes of a refused data block still to discard
        self._task: asyncio.Task | None = None
        self._out: Run | None = None  # the replies of the request loop (a get streams into it)

    # ------------------------------------------------------------ the connection (node/service/stream.py)

    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def saturated(self) -> bool:
        """The client sends faster than it is answered: more than a largest item and a
        MiB waiting to be parsed."""
        return len(self._buf) > self.state.item_max + (1 << 20)

    def connection_lost(self, exc) -> None:
        super().connection_lost(exc)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        self.stats["bytes_read"] += len(data)
        if self.closing:
            return
        self.touch()
        if self._swallow:
            drop = min(self._swallow, len(data))
            self._swallow -= drop
            data = data[drop:]
        self._buf += data
        if not self.busy():
            self._task = asyncio.get_running_loop().create_task(self._run())
        else:
            self.update_reading()

    async def wait_idle(self) -> None:
        """Wait until every complete request received so far has been answered (tests use it)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    # ------------------------------------------------------------ the request loop

    async def _flush(self, out: Run) -> None:
        await out.settle()
        data = b"".join(out.take())
        if not self.closing and self.write(data):
            self.stats["bytes_written"] += len(data)

    async def _run(self) -> None:
        out = self._out = self.session.run()
        try:
            while not self.closing:
                if self._swallow:
                    drop = min(self._swallow, len(self._buf))
                    del self._buf[:drop]
                    self._swallow -= drop
                    if self._swallow:
                        if not out.out:
                            break
                        await self._flush(out)
                        continue
                reply = await self._next(out)
                if reply is None:  # no complete request left in the buffer
                    if not out.out:
                        break
                    # Writes may still be running: while they finish, more requests
                    # may arrive, which this task (not a new one) must then answer.
                    await self._flush(out)
                    continue
                if out.size > _FLUSH_BYTES or len(out.out) > _MAX_UNWRITTEN:
                    await self._flush(out)
                    await self.writable()
        except asyncio.CancelledError:
            return
        except Exception:  # a bug here must not take the node down; the client gets an error
            log.exception("memcached connection failed")
            out.reply(b"SERVER_ERROR internal error\r\n")
            try:
                await self._flush(out)  # may fail again the same way: the connection closes anyway
            except Exception:
                log.debug("could not send the error reply", exc_info=True)
            finally:
                self.close()
            return
        self.ran_dry()  # a half-closed client has every answer: closed

    async def _next(self, out: Run) -> bool | None:
        """Answer the next complete request in the buffer; None when there is none."""
        buf = self._buf
        nl = buf.find(b"\n")
        if nl < 0:
            is_get = buf.startswith(_GET_PREFIXES)
            if len(buf) > (GET_LINE_MAX_BYTES if is_get else LINE_MAX_BYTES):
                if is_get:                # (memcached has no cap: it would buffer the whole line)
                    out.reply(LINE_TOO_LONG)
                await self._flush(out)    # memcached closes such a connection without a reply
                self.close()
            return None
        started_ns = time.perf_counter_ns()
        end = nl - 1 if nl and buf[nl - 1] == 13 else nl
        tokens = [t for t in bytes(buf[:end]).split(b" ") if t]
        name = tokens[0] if tokens else b""
        if name != b"quit" and memcache_auth.needs_login(self):
            reply = memcache_auth.request(self, name, tokens, nl + 1)
            if reply is None:
                return None
            out.reply(reply)
            return True
        if name in _STORAGE or name == b"ms":
            return await self._storage(name, tokens, nl + 1, out, started_ns)
        del buf[:nl + 1]
        handler = _TEXT.get(name)
        if handler is None and name not in meta.META and len(tokens) > 1 and tokens[-1].startswith(b"HTTP/"):
            await self._flush(out)  # an HTTP request on the memcached port: closed unanswered, as memcached does
            self.close()
            return None
        await out.settle()  # writes still running come first (a get sees them)
        try:
            if handler is not None:
                reply = await handler(self, tokens)
            elif name in memcache_admin.COMMANDS:
                reply = memcache_admin.COMMANDS[name](tokens)
            elif name in meta.META:
                reply = await meta.META[name](self, tokens)
            else:
                reply = ERROR
        except ReplyError as e:
            reply = e.line
        except RaftcacheError as e:
            reply = error_line(e)
        if reply is not ERROR and name in _NOREPLY_COMMANDS and tokens[-1] == _NOREPLY:
            reply = b""            # memcached's noreply silences errors too (not a wrong arity)
        if reply is None:          # quit
            await self._flush(out)
            self.close()
            return None
        self.state.latency.record(started_ns)
        out.reply(reply)
        return True

    async def _storage(self, name: bytes, tokens: list[bytes], data_at: int, out: Run,
                       started_ns: int) -> bool | None:
        """A command with a data block: parse the line, wait for the block, then run it."""
        if name == b"ms":
            datalen, request = meta.ms_header(tokens, self.state.item_max)
        else:
            datalen, request = _storage_header(name, tokens, self.state.item_max)
        buf = self._buf
        noreply = name != b"ms" and tokens[-1] == _NOREPLY
        if isinstance(request, bytes):
            del buf[:data_at]
            if datalen is not None:
                self._swallow = datalen + 2   # refused after its length was known: swallow the block
                if request == TOO_LARGE:
                    self.stats["cmd_set"] += 1
            if not noreply or request == ERROR:
                out.reply(request)
            return True
        if len(buf) - data_at < datalen + 2:
            return None             # the data block has not all arrived
        data = bytes(buf[data_at:data_at + datalen])
        ok = buf[data_at + datalen:data_at + datalen + 2] == b"\r\n"
        del buf[:data_at + datalen + 2]
        if not ok:
            if not noreply:
                out.reply(b"CLIENT_ERROR bad data chunk\r\n")
            return True
        if name in _OVERLAPPING:
            # Pipelined: proposed back to back on the leader, forwarded as one batch from a follower.
            self.stats["cmd_set"] += 1
            latency = self.state.latency

            def render(outcome):
                latency.record(started_ns)
                return self._stored_reply(request, outcome, noreply)
            await out.add(_set_command(name, request, data, self.state.eviction), render)
            return True
        await out.settle()
        if name == b"ms":
            reply = await self._line(meta.ms(self, request, data))
        else:
            reply = await self._stored_line(name, request, data, noreply)
        self.state.latency.record(started_ns)
        if not noreply:
            out.reply(reply)
        return True

    async def _stored_line(self, name: bytes, request: tuple, data: bytes, noreply: bool) -> bytes:
        reply = await self._line(self._store(name, request, data))
        return b"" if noreply else reply

    @staticmethod
    async def _line(handler) -> bytes:
        """Await a request's handler: its reply line, or the line of the error it raised."""
        try:
            return await handler
        except ReplyError as e:
            return e.line
        except RaftcacheError as e:
            return error_line(e)

    # ------------------------------------------------------------ service access

    async def execute_indexed(self, cmd: pb.Command, consistency: ReadConsistency | None = None):
        """(result, index); a returned CommandError becomes a ReplyError with its mapped line."""
        cmd.eviction = self.state.eviction   # a write makes room by memcached's rule (reads ignore it)
        outcome = await self.session.execute(cmd, consistency)
        if isinstance(outcome, RaftcacheError):
            raise outcome
        result, index = outcome
        if isinstance(result, CommandError):
            if result.reason == Reason.WRONGTYPE and cmd.WhichOneof("op") == "get_meta":
                return None, index      # a Redis hash/list/…: not a memcached item
            raise ReplyError(error_line(result))
        return result, index

    async def execute(self, cmd: pb.Command, consistency: ReadConsistency | None = None):
        return (await self.execute_indexed(cmd, consistency))[0]

    def meta_consistency(self, flags: dict) -> ReadConsistency | None:
        """The `Q` meta flag: `Q` alone is linearizable, else `Q<level>` as `consistency` takes it."""
        if "Q" not in flags:
            return self.session.consistency
        if not flags["Q"]:
            return _LINEARIZABLE
        level = _parse_level(flags["Q"])
        return level if level.level else None  # Qdefault: the node's level

    def count_get(self, hit: bool) -> None:
        self.stats["cmd_get"] += 1
        self.stats["get_hits" if hit else "get_misses"] += 1

    # ------------------------------------------------------------ text commands

    async def _store(self, name: bytes, req: tuple, data: bytes) -> bytes:
        key, flags, exptime, cas, noreply = req
        self.stats["cmd_set"] += 1
        if name in (b"append", b"prepend"):
            change = (lambda old: old + data) if name == b"append" else (lambda old: data + old)
            status, _, _ = await meta.rewrite(self, key, change)
            reply = b"STORED\r\n" if status == "stored" else b"NOT_STORED\r\n"
            self.stats["total_items"] += status == "stored"
        else:
            outcome = await self.session.execute(_set_command(name, req, data, self.state.eviction))
            reply = self._stored_reply(req, outcome, noreply=False)
        return b"" if noreply else reply

    def _stored_reply(self, req: tuple, outcome, noreply: bool) -> bytes:
        """The line for a set/add/replace/cas outcome: (result, index) or a RaftcacheError."""
        if isinstance(outcome, RaftcacheError):
            return b"" if noreply else error_line(outcome)
        result, _ = outcome
        if isinstance(result, CommandError):
            return b"" if noreply else error_line(result)
        if result == OK:
            reply = b"STORED\r\n"
            self.stats["total_items"] += 1
        elif result is None:
            reply = b"NOT_STORED\r\n"
        else:
            reply = b"EXISTS\r\n" if str(result) == "EXISTS" else b"NOT_FOUND\r\n"
        if req[3] is not None:  # cas
            self.stats["cas_hits" if result == OK else "cas_badval" if str(result) == "EXISTS" else "cas_misses"] += 1
        return b"" if noreply else reply

    async def _get(self, tokens: list[bytes]) -> bytes:
        return await self._retrieve(tokens[1:], with_cas=tokens[0] == b"gets", exptime=None)

    async def _gat(self, tokens: list[bytes]) -> bytes:
        if len(tokens) < 3:
            return ERROR
        exptime = parse_int(tokens[1])
        if exptime is None:
            return b"CLIENT_ERROR invalid exptime argument\r\n"
        return await self._retrieve(tokens[2:], with_cas=tokens[0] == b"gats", exptime=exptime)

    async def _retrieve(self, keys: list[bytes], with_cas: bool, exptime: int | None) -> bytes:
        """The VALUE lines stream into the connection's replies a chunk of keys at a time (written,
        and their reading awaited, past _FLUSH_BYTES); returns the END line. A chunk has as many
        keys as GET_CHUNK_BYTES holds at the largest value read so far, at most twice the keys of
        the chunk before: a chunk holds at most GET_CHUNK_KEYS[1] values (see docs/memcached-compat.md)."""
        if not keys:
            return ERROR
        if len(keys) > GET_MAX_KEYS:
            return TOO_MANY_KEYS
        for key in keys:
            check_key(key)
        exp = None if exptime is None else touch_expiry(exptime)
        if exp is not None:
            self.stats["cmd_touch"] += len(keys)
        out = self._out
        held: list[bytes] = []       # outside the request loop (a direct call): one reply
        add = out.reply if out is not None else held.append
        start, count, largest = 0, GET_CHUNK_KEYS[0], 1
        while start < len(keys):
            chunk = keys[start:start + count]
            start += len(chunk)
            if exp is None:
                cmds = [command(get_meta=pb.GetMeta(key=k)) for k in chunk]
            else:
                cmds = [command(get_and_touch=pb.GetAndTouch(key=k, expiry=exp)) for k in chunk]
            if len(cmds) == 1:
                items = [await self.execute(cmds[0])]
            else:
                items = await asyncio.gather(*(self.execute(c) for c in cmds))
            parts = []
            for key, item in zip(chunk, items):
                self.count_get(item is not None)
                if item is None:
                    continue
                value, flags, cas, _deadline = item[:4]
                largest = max(largest, len(value))
                if with_cas:
                    parts.append(b"VALUE %s %d %d %d\r\n%s\r\n" % (key, flags, len(value), cas, value))
                else:
                    parts.append(b"VALUE %s %d %d\r\n%s\r\n" % (key, flags, len(value), value))
            count = max(GET_CHUNK_KEYS[0], min(GET_CHUNK_KEYS[1], 2 * count, GET_CHUNK_BYTES // largest))
            for part in parts:
                add(part)
            if out is not None and out.size > _FLUSH_BYTES:
                await self._flush(out)

                await self.writable()
                if self.closing:
                    return b""
        return b"".join(held) + b"END\r\n"

    async def _delete(self, tokens: list[bytes]) -> bytes:
        if len(tokens) < 2 or len(tokens) > 4:
            return ERROR
        noreply = tokens[-1] == _NOREPLY
        extra = tokens[2:len(tokens) - noreply]
        if extra and (len(extra) > 1 or extra[0] != b"0"):
            return b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
        check_key(tokens[1])
        deleted = await self.execute(command(**{"del": pb.Del(keys=[tokens[1]])}))
        self.stats["delete_hits" if deleted else "delete_misses"] += 1
        return b"" if noreply else (b"DELETED\r\n" if deleted else b"NOT_FOUND\r\n")

    async def _incr(self, tokens: list[bytes]) -> bytes:
        if len(tokens) not in (3, 4):
            return ERROR
        check_key(tokens[1])
        delta = parse_uint(tokens[2])
        if delta is None:
            return b"CLIENT_ERROR invalid numeric delta argument\r\n"
        noreply = len(tokens) == 4 and tokens[3] == _NOREPLY
        decrement = tokens[0] == b"decr"
        value = await self.execute(command(mc_incr=pb.McIncr(key=tokens[1], delta=delta, decrement=decrement)))
        self.stats[("decr_" if decrement else "incr_") + ("misses" if value is None else "hits")] += 1
        return b"" if noreply else (b"NOT_FOUND\r\n" if value is None else b"%d\r\n" % value)

    async def _touch(self, tokens: list[bytes]) -> bytes:
        if len(tokens) not in (3, 4):
            return ERROR
        check_key(tokens[1])
        exptime = parse_int(tokens[2])
        if exptime is None:
            return b"CLIENT_ERROR invalid exptime argument\r\n"
        noreply = len(tokens) == 4 and tokens[3] == _NOREPLY
        self.stats["cmd_touch"] += 1
        item = await self.execute(command(get_and_touch=pb.GetAndTouch(key=tokens[1], expiry=touch_expiry(exptime))))
        self.stats["touch_misses" if item is None else "touch_hits"] += 1
        return b"" if noreply else (b"NOT_FOUND\r\n" if item is None else b"TOUCHED\r\n")

    async def _flush_all(self, tokens: list[bytes]) -> bytes:
        if len(tokens) > 3:
            return ERROR
        noreply = tokens[-1] == _NOREPLY
        args = tokens[1:len(tokens) - noreply]
        delay = 0
        if args:
            delay = parse_int(args[0])
            if delay is None:
                return b"CLIENT_ERROR invalid exptime argument\r\n"
        if delay > meta.RELATIVE_MAX_S:
            delay = max(0, int(delay - time.time()))     # an absolute Unix time
        refused = self.session.guard(self.session, command(flush_db=pb.FlushDb()))
        if refused is not None:  # checked now: a delayed flush runs later, as the node
            raise refused
        self.stats["cmd_flush"] += 1
        self.state.schedule_flush(delay)
        if delay <= 0:
            await self.execute(command(flush_db=pb.FlushDb()))
        return b"" if noreply else b"OK\r\n"

    async def _version(self, tokens: list[bytes]) -> bytes:
        return b"VERSION " + VERSION + b"\r\n"

    async def _verbosity(self, tokens: list[bytes]) -> bytes:
        if len(tokens) not in (2, 3):
            return ERROR
        if parse_uint(tokens[1]) is None and tokens[1] != _NOREPLY:
            return BAD_FORMAT
        return b"" if tokens[-1] == _NOREPLY else b"OK\r\n"

    async def _cache_memlimit(self, tokens: list[bytes]) -> bytes:
        """Accepted and ignored: memory is bounded by the keyspace's maxmemory, the same on every node."""
        if len(tokens) not in (2, 3):
            return ERROR
        megabytes = parse_uint(tokens[1])
        if megabytes is None:
            return BAD_FORMAT
        if megabytes < 8:
            return b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"
        return b"OK\r\n"

    async def _quit(self, tokens: list[bytes]) -> None:
        return None

    async def _mn(self, tokens: list[bytes]) -> bytes:
        return b"MN\r\n"

    async def _consistency(self, tokens: list[bytes]) -> bytes:
        """raftcache: `consistency` shows, `consistency <level>` (any spelling of
        raftcache/readlevel.py, `default` included) sets this connection's read level."""
        if len(tokens) == 1:
            current = self.session.consistency
            return b"CONSISTENCY " + (str(current) if current else "default").encode() + b"\r\n"
        if len(tokens) > 3:
            return ERROR
        level = _parse_level(b" ".join(tokens[1:]))
        self.session.consistency = level if level.level else None
        return b"OK\r\n"

    async def _stats(self, tokens: list[bytes]) -> bytes:
        return memcache_admin.render_stats(self.state, tokens[1:], VERSION)


def _set_command(name: bytes, req: tuple, data: bytes, eviction: int) -> pb.Command:
    """The Set of a set/add/replace/cas request (`eviction`: what it may evict when full)."""
    key, flags, exptime, cas, _ = req
    op = pb.Set(key=key, value=data, flags=flags, condition=_STORAGE[name])
    exp = expiry(exptime)
    if exp is not None:
        op.expiry.CopyFrom(exp)
    if cas is not None:
        op.cas_index = cas
    cmd = command(set=op)
    cmd.eviction = eviction
    return cmd


def _storage_header(name: bytes, tokens: list[bytes], item_max: int):
    """Parse `<cmd> <key> <flags> <exptime> <bytes> [<cas>] [noreply]` -> (datalen, request or error line).

    Returns (None, line) for errors memcached sends without reading a data
    block, (datalen, TOO_LARGE) when the block must be swallowed, and
    (datalen, (key, flags, exptime, cas, noreply)) otherwise.
    """
    need = 6 if name == b"cas" else 5
    if len(tokens) not in (need, need + 1):
        return None, ERROR
    key = tokens[1]
    try:
        check_key(key)
    except ReplyError as e:
        return None, e.line
    flags = parse_uint(tokens[2], 1 << 32)
    exptime = parse_int(tokens[3])
    datalen = parse_uint(tokens[4], 1 << 31)
    cas = parse_uint(tokens[5]) if name == b"cas" else None
    if flags is None or exptime is None or datalen is None or (name == b"cas" and cas is None):
        return None, BAD_FORMAT
    if datalen > _DATALEN_MAX:   # memcached: a bad line, its block is read as commands (not swallowed)
        return None, BAD_FORMAT
    if datalen > item_max:
        return datalen, TOO_LARGE
    noreply = len(tokens) == need + 1 and tokens[-1] == _NOREPLY
    return datalen, (key, flags, exptime, cas, noreply)


_TEXT = {
    b"get": MemcacheProtocol._get, b"gets": MemcacheProtocol._get,
    b"gat": MemcacheProtocol._gat, b"gats": MemcacheProtocol._gat,
    b"delete": MemcacheProtocol._delete, b"incr": MemcacheProtocol._incr, b"decr": MemcacheProtocol._incr,
    b"touch": MemcacheProtocol._touch, b"flush_all": MemcacheProtocol._flush_all,
    b"version": MemcacheProtocol._version, b"verbosity": MemcacheProtocol._verbosity,
    b"quit": MemcacheProtocol._quit, b"stats": MemcacheProtocol._stats, b"mn": MemcacheProtocol._mn,
    b"consistency": MemcacheProtocol._consistency, b"cache_memlimit": MemcacheProtocol._cache_memlimit,
}


async def start_server(service, host: str, port: int, config: FrontendConfig, tls=None) -> asyncio.Server:
    """Listen for memcached clients on host:port (TLS only with `tls`, node/service/tls.TlsContexts);
    the node closes the returned server on shutdown."""
    state = ServerState(service, config, port, cn_login=tls is not None and tls.cn_login)
    server = await asyncio.get_running_loop().create_server(
        lambda: MemcacheProtocol(state), host, port, reuse_address=True, **tls_options(tls))
    state.port_number = server.sockets[0].getsockname()[1] if server.sockets else port
    state.port.server = server
    state.checks = asyncio.get_running_loop().create_task(state.port.check_loop(_CHECK_INTERVAL_S))
    return server
