"""Redis's diagnostic commands on the Redis port: SLOWLOG, LATENCY, MONITOR, DEBUG
(SLEEP and OBJECT only) and MEMORY STATS.

Handlers as resp_admin's (`async def handler(conn, args) -> reply value`). What
they report is the node's own (node/service/diagnostics.py): each node has its
slow log, latency events and monitors, as each Redis server has; nothing
here is replicated or touches the keyspace except through commands.

MONITOR streams each command this node serves once it ran (as Redis 7:
passwords redacted, admin commands left out) as `+<time> [<db> <addr>] "cmd"
"arg" …`. `MONITOR LOG` (raftcache's) streams instead the writes this node
applies from the Raft log, from any client of any node, as
`+<time> [<db> log:<index>] "<op>" …`. A monitor that does not read its lines
is disconnected by the `replica` class of client-output-buffer-limit.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time

from raftcache.node import commands
from raftcache.node.commands import OK, Status
from raftcache.node.errors import CommandError
from raftcache.node.frontends.resp_admin import check_subcommand
from raftcache.node.frontends.resp_args import cmd, to_float, to_int
from raftcache.node.frontends.resp_protocol import RespError, RespMap, Verbatim

#: Longest DEBUG SLEEP: it holds only the calling connection, yet stays a short pause.
MAX_DEBUG_SLEEP_S = 10.0


# ---------------------------------------------------------------- SLOWLOG


async def slowlog(conn, args):
    sub = check_subcommand("slowlog", args)
    log = conn.service.diagnostics.slowlog
    if sub == b"get":
        count = 10
        if len(args) == 3:
            count = to_int(args[2])
            if count < -1:
                raise RespError("ERR count should be greater than or equal to -1")
        elif len(args) > 3:
            raise RespError("ERR wrong number of arguments for 'slowlog|get' command")
        return [[entry_id, when, usec, list(argv), addr.encode(), name.encode()]
                for entry_id, when, usec, argv, addr, name in log.get(count)]
    if sub == b"len":
        return len(log)
    if sub == b"reset":
        log.reset()
        return OK
    return [Status(line) for line in (
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Prints this help.")]


# ---------------------------------------------------------------- LATENCY


async def latency(conn, args):
    sub = check_subcommand("latency", args)
    diag = conn.service.diagnostics
    monitor = diag.latency
    if sub == b"latest":
        return [[name.encode(), when, last, worst] for name, when, last, worst in monitor.latest()]
    if sub == b"history":
        return [[when, ms] for when, ms in monitor.history(args[2].decode(errors="replace"))]
    if sub == b"reset":
        return monitor.reset([a.decode(errors="replace") for a in args[2:]] or None)
    if sub == b"doctor":
        return Verbatim(monitor.doctor().encode())
    if sub == b"graph":
        return Verbatim(_graph(args[2].decode(errors="replace"), monitor.history(args[2].decode(errors="replace"))))
    if sub == b"histogram":
        return _histograms(diag.histograms, [a.decode(errors="replace").lower() for a in args[2:]])
    return [Status(line) for line in (
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified "
        "command names.",
        "    If no commands are specified then all histograms are replied.",
        "HELP",
        "    Prints this help.")]


def _histograms(histograms: dict, names: list[str]) -> RespMap:
    """LATENCY HISTOGRAM: command -> {calls, histogram_usec: {2**k: calls under 2**k µs}}; a container's
    name stands for each of its subcommands."""
    wanted = [n for n in histograms if not names or n in names or n.partition("|")[0] in names]
    return RespMap((name.encode(), RespMap([
        (b"calls", histograms[name].calls),
        (b"histogram_usec", RespMap(histograms[name].cumulative_powers_of_two())),
    ])) for name in wanted if histograms[name].calls)


def _graph(event: str, samples: list[tuple[int, int]]) -> bytes:
    """LATENCY GRAPH: one column per sample (oldest left), 4 rows high, with each sample's age."""
    if not samples:
        raise RespError(f"ERR No samples available for event '{event}'")
    values = [ms for _, ms in samples]
    high, low = max(values), min(values)
    rows = []
    for level in range(4, 0, -1):
        rows.append("".join("#" if (ms - low) * 4 >= (level - 1) * max(high - low, 1) and ms > low or level == 1
                            else " " for ms in values))
    now = int(time.time())
    ages = [f"{now - when}s" for when, _ in samples]
    width = max(len(a) for a in ages)
    labels = ["".join(a.rjust(width)[i] for a in ages) for i in range(width)]
    head = f"{event} - high {high} ms, low {low} ms (all time high {high} ms)"
    return "\n".join([head, "-" * max(len(head), len(values)), *rows, "", *labels, ""]).encode()


# ---------------------------------------------------------------- MONITOR


async def monitor(conn, args):
    """MONITOR [LOG]: this connection receives a line per command served (or per write applied)."""
    if len(args) > 2 or (len(args) == 2 and args[1].upper() != b"LOG"):
        raise RespError("ERR syntax error: MONITOR [LOG]")
    if conn.multi is not None or conn.in_exec:
        raise RespError("ERR MONITOR isn't allowed for DENY BLOCKING client")   # Redis's, in EXEC
    monitors = conn.service.diagnostics.monitors
    monitors.remove(conn.id)
    monitors.add(conn.id, conn.monitor_line, log=len(args) == 2)
    conn.monitoring = True
    return OK


# ---------------------------------------------------------------- DEBUG


async def debug(conn, args):
    """DEBUG SLEEP (this connection only, at most MAX_DEBUG_SLEEP_S) and DEBUG OBJECT; nothing else."""
    sub = args[1].lower()
    if sub == b"sleep" and len(args) == 3:
        seconds = to_float(args[2])
        if not 0 <= seconds <= MAX_DEBUG_SLEEP_S:
            raise RespError(f"ERR DEBUG SLEEP takes 0 to {MAX_DEBUG_SLEEP_S:g} seconds on raftcache")
        if seconds:
            await asyncio.sleep(seconds)
        return OK
    if sub == b"object" and len(args) == 3:
        return await _debug_object(conn, args[2])
    if sub == b"help" and len(args) == 2:
        return [Status(line) for line in (
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "OBJECT <key>",
            "    Show low level info about the key and associated value.",
            "SLEEP <seconds>",
            f"    Stop this connection for <seconds> (at most {MAX_DEBUG_SLEEP_S:g}; other clients are served).",
            "HELP",
            "    Prints this help.",
            "Other DEBUG subcommands are refused by raftcache: they could stop or corrupt a node.")]
    raise RespError(f"ERR DEBUG {args[1].decode(errors='replace')[:64].upper()} is not supported by raftcache "
                    "(only OBJECT, SLEEP and HELP)")


async def _debug_object(conn, key: bytes):
    encoding, _ = await conn.call(cmd(conn.session.db, "object_encoding", key=key))
    if isinstance(encoding, CommandError):
        return encoding
    if encoding is None:
        raise RespError("ERR no such key")
    idle = 0
    if conn.service.log_version >= commands.EVICTION_VERSION:
        access, _ = await conn.call(cmd(conn.session.db, "object_access", key=key))
        if isinstance(access, list) and access:
            idle = int(access[0])
    lru = (int(time.time()) - idle) & ((1 << 24) - 1)
    enc = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
    # no serializedlength: nothing here is serialised as RDB
    return Status(f"Value at:0x0 refcount:1 encoding:{enc} lru:{lru} lru_seconds_idle:{idle}")


# ---------------------------------------------------------------- MEMORY


async def memory(conn, args):
    sub = check_subcommand("memory", args)
    if sub == b"usage":
        result, _ = await conn.call(cmd(conn.session.db, "exists", keys=[args[2]]))
        return None if not result else 64 + len(args[2])
    if sub == b"doctor":
        return b"Sam, I have no memory problems"
    if sub == b"stats":
        try:
            status = conn.service.status()
        except Exception:  # noqa: BLE001 - status is best effort, as for INFO
            status = {}
        return memory_stats(conn, status)
    return [b"MEMORY <subcommand> [<arg> ...]", b"DOCTOR", b"STATS", b"USAGE <key> [SAMPLES <count>]"]



def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def memory_stats(conn, status: dict) -> RespMap:
    """MEMORY STATS with Redis's field names: the process's memory, the keyspace's logical size
    (dataset.bytes, as INFO used_memory), the clients' buffers and the LMDB map's pages."""
    rss = _rss_bytes()
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, rss)
    dataset = status.get("used_bytes", 0)
    keys = sum(status.get("keys_per_db", []))
    clients = conn.server.clients_memory()
    overhead = max(rss - dataset, 0)
    map_used = status.get("map_used_bytes", 0)
    fields = [
        (b"peak.allocated", peak), (b"total.allocated", rss), (b"startup.allocated", 0),
        (b"replication.backlog", 0), (b"clients.slaves", 0), (b"clients.normal", clients),
        (b"cluster.links", 0), (b"aof.buffer", 0), (b"lua.caches", 0), (b"functions.caches", 0),
    ]
    for i, (n, expires) in enumerate(zip(status.get("keys_per_db", []), status.get("expires_per_db", []))):
        if n:
            fields.append((b"db.%d" % i, RespMap([(b"overhead.hashtable.main", 0),
                                                   (b"overhead.hashtable.expires", 0)])))
    fields += [
        (b"overhead.total", overhead), (b"keys.count", keys),
        (b"keys.bytes-per-key", dataset // keys if keys else 0), (b"dataset.bytes", dataset),
        # doubles, as Redis's (RESP3 doubles, RESP2 bulk strings)
        (b"dataset.percentage", round(100 * dataset / rss, 4) if rss else 0.0),
        (b"peak.percentage", round(100 * rss / peak, 4) if peak else 0.0),
        (b"fragmentation", round(map_used / dataset, 4) if dataset else 0.0),
        (b"fragmentation.bytes", max(map_used - dataset, 0)),
        (b"raftcache.map-used-bytes", map_used),
    ]
    return RespMap(fields)


HANDLERS = {"slowlog": slowlog, "latency": latency, "monitor": monitor, "debug": debug, "memory": memory}
