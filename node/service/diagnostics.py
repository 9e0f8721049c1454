"""What a node records about the commands it serves, for Redis's diagnostic commands:
the slow log (SLOWLOG), per-command latency histograms (INFO latencystats,
LATENCY HISTOGRAM), the latency events (node/latency_events.py) and the MONITOR feed.

One `Diagnostics` per node, owned by the Service; front ends report each
finished command once (`Session.finished`), with its Redis name, its
arguments and its duration. The cost when nothing listens: one histogram
increment per command, the slow log's threshold test, and a MONITOR check
that there is no monitor. Every structure is bounded: the slow log by
`slowlog-max-len`, a histogram is a fixed array, a monitor's buffer by its
connection's output limit.

Settings (node-local, CONFIG SET on this node only; node/config/params.py):
`slowlog-log-slower-than` (µs; negative: off, 0: every command),
`slowlog-max-len`, `latency-monitor-threshold` (ms; 0: off),
`latency-tracking` and `latency-tracking-info-percentiles`.

Secrets never leave here: AUTH's and HELLO's passwords, CONFIG SET
requirepass and ACL SETUSER's password rules are replaced by "(redacted)"
before anything is stored or sent (Redis does the same for AUTH and HELLO).
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable

from google.protobuf import text_format

from raftcache.node.latency import Latency
from raftcache.node.latency_events import LatencyMonitor
from raftcache.proto import commands_pb2 as pb

#: Redis's limits on what one slow log entry keeps (SLOWLOG_ENTRY_MAX_ARGC/_STRING).
SLOWLOG_MAX_ARGC = 32
SLOWLOG_MAX_STRING = 128
REDACTED = b"(redacted)"
#: Commands MONITOR leaves out (Redis: the admin commands, and MONITOR itself); a container's
#: name leaves out all of its subcommands.
NOT_MONITORED = frozenset({"config", "slowlog", "latency", "debug", "monitor", "acl", "shutdown", "client|kill",
                           "client|list", "client|pause", "client|unpause", "client|no-evict", "client|no-touch"})


def redact(name: str, args: list[bytes]) -> list[bytes]:
    """`args` with every password replaced by "(redacted)" (a copy when something is)."""
    if name == "auth":
        return [args[0], *(REDACTED for _ in args[1:])]
    if name == "hello":
        out = list(args)
        for i, arg in enumerate(args):
            if arg.lower() == b"auth":
                out[i + 1:i + 3] = [REDACTED] * len(out[i + 1:i + 3])
        return out
    if name == "config" and len(args) > 2 and args[1].lower() == b"set":
        out = list(args)
        for i in range(3, len(args), 2):   # the value of each (name, value) pair
            if args[i - 1].lower() in (b"requirepass", b"masterauth"):
                out[i] = REDACTED
        return out
    if name == "acl" and len(args) > 2 and args[1].lower() == b"setuser":
        return [*args[:3], *(REDACTED if a[:1] in (b">", b"<", b"#", b"!") else a for a in args[3:])]
    if name == "migrate":
        out = list(args)
        for i, arg in enumerate(args):
            if arg.lower() in (b"auth", b"auth2"):
                out[i + 1:i + 3] = [REDACTED] * len(out[i + 1:i + 3])
        return out
    return args


def slowlog_args(args: list[bytes]) -> list[bytes]:
    """The arguments a slow log entry keeps, trimmed as Redis trims them."""
    kept = args if len(args) <= SLOWLOG_MAX_ARGC else args[:SLOWLOG_MAX_ARGC - 1]
    out = [a if len(a) <= SLOWLOG_MAX_STRING else
           a[:SLOWLOG_MAX_STRING] + b"... (%d more bytes)" % (len(a) - SLOWLOG_MAX_STRING) for a in kept]
    if len(args) > SLOWLOG_MAX_ARGC:
        out.append(b"... (%d more arguments)" % (len(args) - SLOWLOG_MAX_ARGC + 1))
    return out


def quote(arg: bytes) -> str:
    """One argument as MONITOR shows it (Redis's sdscatrepr): in double quotes, escaped."""
    out = ['"']
    for byte in arg:
        c = chr(byte)
        if c in '\\"':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c == "\a":
            out.append("\\a")
        elif c == "\b":
            out.append("\\b")
        elif 32 <= byte < 127:
            out.append(c)
        else:
            out.append("\\x%02x" % byte)
    out.append('"')
    return "".join(out)


def monitor_line(time_s: float, db: int, source: str, args: list[bytes]) -> bytes:
    """One MONITOR line, without its RESP framing: `1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`."""
    return f'{time_s:.6f} [{db} {source}] {" ".join(quote(a) for a in args)}'.encode()


#: Log entries whose fields MONITOR LOG does not show (password digests, users' rules).
_SECRET_OPS = frozenset({"config_set", "acl_set_user", "acl_load", "acl_del_user"})


def command_args(command) -> list[bytes]:
    """A replicated Command as MONITOR LOG shows it: its op, then its fields in order (bytes as
    they are, numbers and flags as name=value, nested messages in text form)."""
    op_name = command.WhichOneof("op") or "noop"
    args = [op_name.encode()]
    if op_name in _SECRET_OPS:
        return [*args, REDACTED]
    for field, value in getattr(command, op_name).ListFields():
        values = value if hasattr(value, "extend") else [value]   # a repeated field
        for item in values:
            if isinstance(item, bytes):
                args.append(item)
            elif isinstance(item, (int, float, bool, str)):
                args.append(f"{field.name}={item}".encode())
            else:
                args.append(f"{field.name}={{{text_format.MessageToString(item, as_one_line=True)}}}".encode())
    return args


def log_lines(index: int, entries) -> list[bytes]:
    """The MONITOR LOG lines of one applied log entry (a batch has several), stamped with the
    leader's time the entry carries; a SetBatch (the leader's run of plain SETs) as its SETs."""
    lines = []
    source = f"log:{index}"
    for entry in entries:
        command = entry.command
        name = command.WhichOneof("op")
        if name == "set_batch":   # (each SET as its own entry shows it)
            lines += [monitor_line(entry.now_ms / 1000, item.db, source,
                                   command_args(pb.Command(set=pb.Set(key=item.key, value=item.value))))
                      for item in command.set_batch.sets]
        elif name not in (None, "noop"):
            lines.append(monitor_line(entry.now_ms / 1000, command.db, source, command_args(command)))
    return lines


class SlowLog:
    """The slow log of one node (newest first), at most `max_len` entries."""

    def __init__(self, slower_than_usec: int = 10_000, max_len: int = 128) -> None:
        self.slower_than_usec = slower_than_usec
        self._entries: collections.deque = collections.deque(maxlen=max_len)
        self._ids = itertools.count()

    @property
    def max_len(self) -> int:
        return self._entries.maxlen or 0

    @max_len.setter
    def max_len(self, n: int) -> None:
        if n != self._entries.maxlen:
            self._entries = collections.deque(itertools.islice(self._entries, n), maxlen=n)

    def add(self, usec: int, args: list[bytes], addr: str, name: str) -> None:
        """Log one command if it took at least the threshold (arguments already redacted)."""
        if self.slower_than_usec < 0 or usec < self.slower_than_usec or not self._entries.maxlen:
            return
        self._entries.appendleft((next(self._ids), int(time.time()), usec, slowlog_args(args), addr, name))

    def get(self, count: int) -> list[tuple]:
        """The newest `count` entries (-1: all): (id, unix time, µs, args, client addr, client name)."""
        return list(self._entries) if count < 0 else list(itertools.islice(self._entries, count))

    def __len__(self) -> int:
        return len(self._entries)

    def reset(self) -> None:
        self._entries.clear()


class Monitors:
    """The connections in MONITOR on this node: each gets every line through its `send`.

    `send(line)` writes one line and must never block: a monitor that does not
    read is disconnected by its output buffer limit (the front end's).
    """

    def __init__(self) -> None:
        self._commands: dict[int, Callable[[bytes], None]] = {}
        self._log: dict[int, Callable[[bytes], None]] = {}
        #: Called with True when the first log monitor comes, False when the last leaves
        #: (the service then starts or stops watching what the state machine applies).
        self.on_log_watch: Callable[[bool], None] = lambda on: None

    @property
    def active(self) -> bool:
        """Someone watches the commands served (checked before a line is made)."""
        return bool(self._commands)

    @property
    def log_active(self) -> bool:
        """Someone watches the writes this node applies from the log."""
        return bool(self._log)

    def add(self, key: int, send: Callable[[bytes], None], log: bool = False) -> None:
        was = bool(self._log)
        (self._log if log else self._commands)[key] = send
        if not was and self._log:
            self.on_log_watch(True)

    def remove(self, key: int) -> None:
        self._commands.pop(key, None)
        if self._log.pop(key, None) is not None and not self._log:
            self.on_log_watch(False)

    def feed(self, line: bytes, log: bool = False) -> None:
        for send in list((self._log if log else self._commands).values()):
            send(line)

    def feed_all(self, lines: list[bytes], log: bool = False) -> None:
        for line in lines:
            self.feed(line, log)


class Diagnostics:
    """One node's slow log, command histograms, latency events and monitors."""

    def __init__(self) -> None:
        self.slowlog = SlowLog()
        self.latency = LatencyMonitor()
        self.monitors = Monitors()
        #: Redis name ("get", "config|set") -> its latency histogram (INFO latencystats).
        self.histograms: dict[str, Latency] = {}
        self.tracking = True
        self.percentiles: tuple[float, ...] = (50.0, 99.0, 99.9)

    def configure(self, values: dict[str, str]) -> None:
        """Take the node-local settings (their text already checked)."""
        self.slowlog.slower_than_usec = int(values["slowlog-log-slower-than"])
        self.slowlog.max_len = int(values["slowlog-max-len"])
        self.latency.threshold_ms = int(values["latency-monitor-threshold"])
        self.tracking = values["latency-tracking"] == "yes"
        self.percentiles = tuple(float(p) for p in values["latency-tracking-info-percentiles"].split())

    def finished(self, name: str, args: list[bytes], usec: int, db: int, addr: str, client_name: str,
                 fast: bool = False, blocking: bool = False) -> None:
        """One command served (`name`: Redis's, `container|sub` for a known subcommand; `args` as
        the client sent them): its histogram, the slow log, the latency monitor and MONITOR.
        A `blocking` command (BLPOP, …) enters neither the slow log nor the latency events:
        its time is mostly its wait, which Redis leaves out of both."""
        if self.tracking:
            self._histogram(name).add(usec)
        if blocking:
            self.monitor(name, args, db, addr)
            return
        if usec >= self.slowlog.slower_than_usec >= 0:
            self.slowlog.add(usec, redact(name.partition("|")[0], args), addr, client_name)
        if self.latency.threshold_ms:
            self.latency.record("fast-command" if fast else "command", usec / 1000)
        self.monitor(name, args, db, addr)

    def finished_many(self, name: str, calls: list[list[bytes]], usec: int, db: int, addr: str,
                      client_name: str, fast: bool = True) -> None:
        """`finished` for commands served together (a pipeline's GETs in one read, its SETs in one
        entry), `usec` each: one histogram update and one latency event for them all."""
        if self.tracking:
            (self.histograms.get(name) or self._histogram(name)).add(usec, len(calls))
        if usec >= self.slowlog.slower_than_usec >= 0:
            for args in calls:
                self.slowlog.add(usec, redact(name.partition("|")[0], args), addr, client_name)
        if self.latency.threshold_ms:
            self.latency.record("fast-command" if fast else "command", usec / 1000)
        if self.monitors.active:
            for args in calls:
                self.monitor(name, args, db, addr)

    def _histogram(self, name: str) -> Latency:
        histogram = self.histograms.get(name)
        if histogram is None:
            histogram = self.histograms[name] = Latency()
        return histogram

    def wants_args(self, usec: int) -> bool:
        """Whether a command that took `usec` will be shown (slow log, MONITOR): its arguments are needed."""
        return self.monitors.active or usec >= self.slowlog.slower_than_usec >= 0

    def monitor(self, name: str, args: list[bytes], db: int, addr: str) -> None:
        """MONITOR's line for one command run (also each command an EXEC runs), unless an admin one."""
        if self.monitors.active and name not in NOT_MONITORED and name.partition("|")[0] not in NOT_MONITORED:
            self.monitors.feed(monitor_line(time.time(), db, addr, redact(name.partition("|")[0], args)))

    def latencystats(self) -> list[tuple[str, str]]:
        """INFO latencystats' fields: latency_percentiles_usec_<command>:p50=…,p99=…"""
        def spell(p: float) -> str:
            return f"p{p:g}"
        return [(f"latency_percentiles_usec_{name}",
                 ",".join(f"{spell(p)}={h.percentile(p):.3f}" for p in self.percentiles))
                for name, h in self.histograms.items() if h.calls]

    def reset_stats(self) -> None:
        """CONFIG RESETSTAT: the histograms start afresh."""
        self.histograms.clear()
