"""Redis's diagnostic commands on a real cluster, compared with a real redis-server where the
reply is deterministic: SLOWLOG, LATENCY, INFO latencystats, MONITOR, CLIENT LIST, DEBUG and
MEMORY STATS (node/frontends/resp_diag.py, node/service/diagnostics.py).

The slowlog and latency settings are node-local (each node its own, as each Redis server):
the `local_settings` fixture puts back what a test changed, on every node.
"""

from __future__ import annotations

import re
import socket
import time

import pytest
import redis

from raftcache.localcluster import wait_until
from raftcache.proto import commands_pb2 as pb
from tests.integration.redis_helpers import client, leader_and_follower

LOCAL = ("slowlog-log-slower-than", "slowlog-max-len", "latency-monitor-threshold", "latency-tracking",
         "latency-tracking-info-percentiles")


@pytest.fixture
def local_settings(cluster):
    """Every node's node-local diagnostics settings are put back after the test; the slow log
    and latency events are emptied before it."""
    found = {}
    for node in cluster.alive_nodes():
        r = client(node, 2, decode_responses=True)
        found[node.id] = {name: r.config_get(name)[name] for name in LOCAL}
        r.slowlog_reset()
        r.execute_command("LATENCY", "RESET")
    yield cluster
    for node in cluster.alive_nodes():
        r = client(node, 2, decode_responses=True)
        for name, value in found[node.id].items():
            r.config_set(name, value)


def raw(node, *commands: bytes, timeout_s: float = 10.0) -> socket.socket:
    """A raw socket to `node`'s Redis port that sent `commands` (already RESP-encoded)."""
    sock = socket.create_connection(node.redis_address, timeout=timeout_s)
    sock.sendall(b"".join(commands))
    return sock


def resp(*args: bytes | str) -> bytes:
    parts = [a.encode() if isinstance(a, str) else a for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def resp3(real_redis: redis.Redis) -> redis.Redis:
    """A RESP3 client of the same real redis-server."""
    return redis.Redis(port=real_redis.connection_pool.connection_kwargs["port"], protocol=3, socket_timeout=10)


def attempt(address, command: bytes) -> bytes:
    """Send one command on a connection of its own (a log-in attempt): its reply's first line."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(command)
        return read_lines(sock, 1)[0]


def read_lines(sock: socket.socket, count: int, deadline_s: float = 10.0, skip: bytes | None = None) -> list[bytes]:
    """The next `count` CRLF-terminated lines the socket receives, but those containing `skip`
    (raises on timeout)."""
    buf = b""
    end = time.monotonic() + deadline_s

    def lines() -> list[bytes]:
        return [line for line in buf.split(b"\r\n")[:-1] if skip is None or skip not in line]

    while len(lines()) < count:
        if time.monotonic() > end:
            raise AssertionError(f"only {buf!r} after {deadline_s} s")
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {buf!r}")
        buf += chunk
    return lines()[:count]


# ---------------------------------------------------------------- SLOWLOG


def test_slowlog_records_commands_over_the_threshold_as_redis(local_settings, real_redis):
    leader = local_settings.leader()
    for r in (client(leader, 2), real_redis):
        r.config_set("slowlog-log-slower-than", 0)
        r.slowlog_reset()
        r.client_setname("diag")
        r.set("k", "v" * 200)
        r.execute_command("GET", "k")
        entries = r.execute_command("SLOWLOG", "GET", "2")
        # newest first: [id, unix time, µs, args, addr, name]
        assert [e[3] for e in entries] == [[b"GET", b"k"], [b"SET", b"k", b"v" * 128 + b"... (72 more bytes)"]]
        for entry in entries:
            assert len(entry) == 6 and entry[5] == b"diag"
            assert abs(entry[1] - time.time()) < 60 and entry[2] >= 0
            assert re.fullmatch(rb"127\.0\.0\.1:\d+", entry[4])
        assert entries[0][0] == entries[1][0] + 1
        assert r.slowlog_len() >= 2
        assert r.slowlog_reset()
        r.config_set("slowlog-log-slower-than", -1)
        r.set("k2", "v")
        assert r.slowlog_len() == 1   # the SLOWLOG RESET itself, taken before the threshold changed
        with pytest.raises(redis.ResponseError, match="count should be greater than or equal to -1"):
            r.execute_command("SLOWLOG", "GET", "-2")
        r.config_set("slowlog-log-slower-than", 10000)


def test_slowlog_keeps_max_len_entries_and_trims_many_arguments(local_settings, real_redis):
    leader = local_settings.leader()
    for r in (client(leader, 3), real_redis):
        r.config_set("slowlog-log-slower-than", 0)
        r.config_set("slowlog-max-len", 3)
        r.slowlog_reset()
        for i in range(6):
            r.set(f"k{i}", i)
        assert r.slowlog_len() == 3
        r.execute_command("DEL", *[f"x{i}" for i in range(40)])
        argv = r.execute_command("SLOWLOG", "GET", "1")[0][3]
        assert len(argv) == 32 and argv[-1] == b"... (10 more arguments)"
        assert len(r.execute_command("SLOWLOG", "GET", "-1")) == 3
        r.config_set("slowlog-max-len", 128)
        r.config_set("slowlog-log-slower-than", 10000)


def test_slowlog_redacts_passwords_and_is_node_local(local_settings):
    leader, follower = leader_and_follower(local_settings)
    r = client(leader, 2)
    r.config_set("slowlog-log-slower-than", 0)
    attempt(leader.redis_address, resp("AUTH", "nobody", "secret-pass"))
    entries = r.execute_command("SLOWLOG", "GET", "-1")
    auth = [e[3] for e in entries if e[3][0].lower() == b"auth"]
    assert auth == [[b"AUTH", b"(redacted)", b"(redacted)"]]
    assert b"secret-pass" not in repr(entries).encode()
    # node-local: the follower kept its own threshold and log
    f = client(follower, 2, decode_responses=True)
    assert f.config_get("slowlog-log-slower-than") == {"slowlog-log-slower-than": "10000"}
    mine = client(leader, 2, decode_responses=True)
    assert mine.config_get("slowlog-log-slower-than") == {"slowlog-log-slower-than": "0"}
    with pytest.raises(redis.ResponseError, match="slowlog-max-len"):
        r.config_set("slowlog-max-len", -1)


# ---------------------------------------------------------------- LATENCY


def test_latency_latest_history_reset_as_redis(local_settings):
    leader = local_settings.leader()
    r = client(leader, 2)
    assert r.execute_command("LATENCY", "LATEST") == []
    assert b"disabled" in r.execute_command("LATENCY", "DOCTOR")
    r.config_set("latency-monitor-threshold", 50)   # above what a command takes, even on a loaded machine
    r.execute_command("DEBUG", "SLEEP", "0.1")
    latest = r.execute_command("LATENCY", "LATEST")
    events = {e[0]: e for e in latest}
    assert b"command" in events
    name, when, last, worst = events[b"command"]
    assert abs(when - time.time()) < 60 and 99 <= last <= worst
    history = r.execute_command("LATENCY", "HISTORY", "command")
    assert any(t == when and ms >= last for t, ms in history), history
    assert b"command" in r.execute_command("LATENCY", "DOCTOR")
    assert r.execute_command("LATENCY", "HISTORY", "nothing") == []
    assert r.execute_command("LATENCY", "RESET", "command", "nothing") == 1
    assert r.execute_command("LATENCY", "HISTORY", "command") == []


def test_latency_reports_the_raft_events_of_large_writes(local_settings):
    nodes = local_settings.alive_nodes()
    leader = local_settings.leader()
    for node in nodes:
        client(node, 2).config_set("latency-monitor-threshold", 1)
    r = client(leader, 2)
    for i in range(5):
        r.set(f"big{i}", b"x" * (2 << 20))   # 2 MiB: a commit and an apply take milliseconds
    events = {node.id: {e[0] for e in client(node, 2).execute_command("LATENCY", "LATEST")} for node in nodes}
    assert b"commit" in events[leader.id], events
    assert any(b"apply" in seen for seen in events.values()), events


def test_latency_histogram_and_info_latencystats(local_settings, real_redis):
    leader = local_settings.leader()
    # raftcache's buckets are powers of two µs; redis-server's are its HdrHistogram's log buckets of
    # 1024·2^k ns reported in µs at the histogram's precision (DEBUG SLEEPs of 0.2 and 2 ms land in
    # 264 and 2113): a SET slowed by a loaded machine is in a bucket that is no power of two
    bucket_keys = ({1 << k for k in range(40)}, None)
    for r, keys in zip((client(leader, 3), resp3(real_redis)), bucket_keys):
        r.config_resetstat()
        for _ in range(5):
            r.set("k", "v")
        histogram = r.execute_command("LATENCY", "HISTOGRAM", "set")
        assert list(histogram) == [b"set"]
        entry = histogram[b"set"]
        assert entry[b"calls"] == 5
        buckets = entry[b"histogram_usec"]
        assert keys is None or set(buckets) <= keys
        assert list(buckets) == sorted(buckets)
        assert list(buckets.values()) == sorted(buckets.values())  # cumulative
        assert list(buckets.values())[-1] == 5
        info = r.info("latencystats")
        assert set(info["latency_percentiles_usec_set"]) == {"p50", "p99", "p99.9"}
        assert 0 < info["latency_percentiles_usec_set"]["p50"] <= info["latency_percentiles_usec_set"]["p99.9"]
        assert "latency_percentiles_usec_latency|histogram" in info
        r.config_set("latency-tracking-info-percentiles", "50 90")
        assert set(r.info("latencystats")["latency_percentiles_usec_set"]) == {"p50", "p90"}
        r.config_set("latency-tracking-info-percentiles", "50 99 99.9")


# ---------------------------------------------------------------- MONITOR


def _monitoring(cluster, real_redis):
    """(address, client, a connection that sent MONITOR) for the leader, then the real redis-server."""
    leader = cluster.leader()
    for address, r in ((leader.redis_address, client(leader, 2)),
                       (("127.0.0.1", real_redis.connection_pool.connection_kwargs["port"]), real_redis)):
        mon = socket.create_connection(address, timeout=10)
        mon.sendall(resp("MONITOR"))
        assert read_lines(mon, 1) == [b"+OK"]
        yield address, r, mon


def test_monitor_streams_commands_as_redis_with_passwords_redacted(local_settings, real_redis):
    for address, r, mon in _monitoring(local_settings, real_redis):
        attempt(address, resp("AUTH", "someone", "hunter2"))
        attempt(address, resp("HELLO", "2", "AUTH", "default", "hunter3"))
        r.set("a b", 'x"y\nz')
        r.config_get("maxmemory")       # admin: not shown
        r.get("a b")
        lines = read_lines(mon, 4, skip=b'"CLIENT" "SETINFO"')   # what redis-py sends as it connects
        mon.close()
        shown = [re.sub(rb"^\+\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] ", b"", line) for line in lines]
        assert shown == [b'"AUTH" "(redacted)" "(redacted)"', b'"HELLO" "2" "AUTH" "(redacted)" "(redacted)"',
                         b'"SET" "a b" "x\\"y\\nz"', b'"GET" "a b"'], lines
        assert all(re.match(rb"^\+\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] ", line) for line in lines)


def test_monitor_shows_a_transaction_as_redis(local_settings, real_redis):
    for address, r, mon in _monitoring(local_settings, real_redis):
        pipe = r.pipeline(transaction=True)
        pipe.set("t", "1")
        pipe.incr("t")
        pipe.execute()
        lines = read_lines(mon, 4, skip=b'"CLIENT" "SETINFO"')
        mon.close()
        assert [line.split(b"] ", 1)[1] for line in lines] == [b'"MULTI"', b'"SET" "t" "1"', b'"INCRBY" "t" "1"',
                                                                 b'"EXEC"']


def test_monitor_log_streams_every_write_a_follower_applies(local_settings):
    leader, follower = leader_and_follower(local_settings)
    mon = raw(follower, resp("MONITOR", "LOG"))
    assert read_lines(mon, 1) == [b"+OK"]
    client(leader, 2).set("logged", "value")
    (line,) = read_lines(mon, 1)
    mon.close()
    assert re.match(rb'^\+\d+\.\d{6} \[0 log:\d+\] "set" "logged" "value"', line), line


def test_a_pipeline_of_sets_shows_a_line_per_set_under_its_group_commits_index(local_settings):
    """A follower's MONITOR LOG shows each SET of a pipeline, in order, under its group commit's
    one log index, as it did before the leader logged such a run as one SetBatch entry (log
    semantics version 29; how that entry is shown: tests/unit/test_diagnostics.py)."""
    leader, follower = leader_and_follower(local_settings)
    mon = raw(follower, resp("MONITOR", "LOG"))
    assert read_lines(mon, 1) == [b"+OK"]
    with client(leader, 2).pipeline(transaction=False) as p:
        for i in range(5):
            p.set(f"batched:{i}", f"v{i}")
        assert p.execute() == [True] * 5
    lines = read_lines(mon, 5)
    mon.close()
    shown = [re.match(rb'^\+\d+\.\d{6} \[0 log:(\d+)\] "set" "(batched:\d)" "(v\d)"$', line) for line in lines]
    assert all(shown), lines
    assert [(m[2], m[3]) for m in shown] == [(b"batched:%d" % i, b"v%d" % i) for i in range(5)]
    assert len({m[1] for m in shown}) == 1, "one group commit"


def test_grpc_commands_enter_the_same_slowlog_and_monitor(local_settings):
    leader = local_settings.leader()
    r = client(leader, 2)
    r.config_set("slowlog-log-slower-than", 0)
    mon = raw(leader, resp("MONITOR"))
    assert read_lines(mon, 1) == [b"+OK"]
    local_settings.execute(leader, pb.Command(set=pb.Set(key=b"via-grpc", value=b"v")))
    (line,) = read_lines(mon, 1)
    mon.close()
    assert re.match(rb'^\+\d+\.\d{6} \[0 ipv4:127\.0\.0\.1:\d+\] "set" "via-grpc" "v"', line), line
    assert [b"set", b"via-grpc", b"v"] in [e[3] for e in r.execute_command("SLOWLOG", "GET", "-1")]


def test_a_monitor_that_does_not_read_is_disconnected(local_settings):
    leader = local_settings.leader()
    r = client(leader, 2)
    r.config_set("client-output-buffer-limit", "replica 65536 0 0")
    try:
        mon = socket.create_connection(leader.redis_address, timeout=10)
        mon.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        mon.sendall(resp("MONITOR"))
        before = r.info("stats")["client_output_buffer_limit_disconnections"]
        big = "x" * 100_000
        for _ in range(300):   # 30 MB of MONITOR lines, far past what the socket buffers absorb
            r.echo(big)
            if r.info("stats")["client_output_buffer_limit_disconnections"] > before:
                break
        wait_until(lambda: r.info("stats")["client_output_buffer_limit_disconnections"] > before, 10,
                   "the monitor is disconnected")
        mon.close()
    finally:
        r.config_set("client-output-buffer-limit", "slave 268435456 67108864 60")


# ---------------------------------------------------------------- CLIENT LIST, DEBUG, MEMORY


def test_client_list_fields_and_flags_as_redis(local_settings, real_redis):
    leader = local_settings.leader()
    ours = client(leader, 2)
    for r, address in ((ours, leader.redis_address),
                       (real_redis, ("127.0.0.1", real_redis.connection_pool.connection_kwargs["port"]))):
        mon = socket.create_connection(address, timeout=10)
        mon.sendall(resp("MONITOR"))
        read_lines(mon, 1)
        sub = r.pubsub()
        sub.subscribe("ch")
        sub.get_message(timeout=5)
        text = r.execute_command("CLIENT", "LIST").decode()
        lines = _parse(text)
        redis_fields = ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub",
                        "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem",
                        "tot-mem", "events", "cmd", "user", "redir", "resp"]
        for line in lines:
            assert list(line)[:len(redis_fields)] == redis_fields
        by_addr = {line["addr"]: line for line in lines}
        me = "%s:%d" % mon.getsockname()
        assert by_addr[me]["flags"] == "O" and by_addr[me]["cmd"] == "monitor"
        subscriber = by_addr["%s:%d" % sub.connection._sock.getsockname()]
        assert subscriber["flags"] == "P" and subscriber["sub"] == "1" and subscriber["cmd"] == "subscribe"
        assert any(line["flags"] == "N" and line["cmd"] == "client|list" for line in lines)
        pubsub_only = _parse(r.execute_command("CLIENT", "LIST", "TYPE", "pubsub"))
        assert [line["addr"] for line in pubsub_only] == [subscriber["addr"]]
        normal = _parse(r.execute_command("CLIENT", "LIST", "TYPE", "normal"))
        assert me in {line["addr"] for line in normal} and subscriber["addr"] not in {line["addr"] for line in normal}
        with pytest.raises(redis.ResponseError, match="Unknown client type 'nope'"):
            r.execute_command("CLIENT", "LIST", "TYPE", "nope")
        assert r.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 1
        sub.close()
        mon.close()


def _parse(text) -> list[dict]:
    text = text.decode() if isinstance(text, bytes) else text
    return [dict(f.split("=", 1) for f in line.split(" ")) for line in text.strip().splitlines()]


def test_debug_sleep_object_and_nothing_else(local_settings):
    r = client(local_settings.leader(), 2)
    r.set("k", "12345")
    started = time.monotonic()
    assert r.execute_command("DEBUG", "SLEEP", "0.2") in (b"OK", True)
    assert time.monotonic() - started >= 0.19   # (the event loop's timers round to milliseconds)
    info = r.execute_command("DEBUG", "OBJECT", "k")
    info = info.decode() if isinstance(info, bytes) else info
    assert re.fullmatch(r"Value at:0x0 refcount:1 encoding:int lru:\d+ lru_seconds_idle:\d+", info), info
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.execute_command("DEBUG", "OBJECT", "missing")
    with pytest.raises(redis.ResponseError, match="0 to 10 seconds"):
        r.execute_command("DEBUG", "SLEEP", "3600")
    for dangerous in (["SEGFAULT"], ["RELOAD"], ["SET-ACTIVE-EXPIRE", "0"], ["JMAP"]):
        with pytest.raises(redis.ResponseError, match="not supported by raftcache"):
            r.execute_command("DEBUG", *dangerous)


def test_memory_stats_has_redis_fields(local_settings, real_redis):
    r = client(local_settings.leader(), 3)
    r.set("k", "v")
    ours = r.memory_stats()
    theirs = real_redis.memory_stats()
    common = {"peak.allocated", "total.allocated", "clients.normal", "keys.count", "dataset.bytes",
              "overhead.total", "fragmentation"}
    assert common <= set(theirs) and common <= set(ours)
    assert ours["keys.count"] == 1 and ours["total.allocated"] > ours["dataset.bytes"] > 0
