"""The pieces behind SLOWLOG, LATENCY, MONITOR and the node's progress and log lines, without
sockets: node/latency.py, node/latency_events.py, node/service/diagnostics.py, node/raft/watch.py, raftcache/progress.py
and node/logformat.py."""

from __future__ import annotations

import io
import json
import logging
import random

import pytest

from raftcache.node import logformat
from raftcache.node.latency import BUCKETS, Latency, bucket_bounds, bucket_of
from raftcache.node.latency_events import HISTORY_LEN, LatencyMonitor
from raftcache.node.raft.watch import CATCH_UP_MIN_ENTRIES, RaftWatch
from raftcache.node.service.diagnostics import (
    Diagnostics, SlowLog, command_args, log_lines, monitor_line, quote, redact,
)
from raftcache.progress import Progress, eta_text
from raftcache.proto import commands_pb2 as pb


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- histograms


def test_every_latency_falls_in_its_bucket_and_buckets_are_ordered():
    for usec in [*range(0, 5000), *(random.Random(1).randrange(1 << 39) for _ in range(5000))]:
        low, high = bucket_bounds(bucket_of(usec))
        assert low <= usec < high and (high - low) * 8 <= max(low, 8)
    assert [bucket_of(u) for u in range(100_000)] == sorted(bucket_of(u) for u in range(100_000))
    assert bucket_of(1 << 60) == BUCKETS - 1


def test_percentiles_are_within_a_bucket_of_the_exact_ones():
    rng = random.Random(2)
    samples = sorted(int(rng.lognormvariate(6, 1.5)) for _ in range(10_000))
    h = Latency()
    for s in samples:
        h.add(s)
    for p in (50, 90, 99, 99.9):
        exact = samples[int(len(samples) * p / 100) - 1]
        assert abs(h.percentile(p) - exact) <= exact / 8 + 1, p
    assert h.calls == 10_000 and len(h.buckets) == BUCKETS   # fixed size, whatever was added


def test_latency_histogram_reply_counts_cumulatively_by_powers_of_two():
    h = Latency()
    for usec in (1, 3, 3, 5, 100):
        h.add(usec)
    assert h.cumulative_powers_of_two() == [(2, 1), (4, 3), (8, 4), (128, 5)]


# ---------------------------------------------------------------- latency events


def test_latency_events_keep_one_sample_a_second_and_the_worst():
    clock = Clock()
    monitor = LatencyMonitor(threshold_ms=0, clock=clock)
    monitor.record("fsync", 500)
    assert monitor.latest() == []                         # off
    monitor.threshold_ms = 10
    monitor.record("fsync", 9.9)                          # under the threshold
    monitor.record("fsync", 20)
    monitor.record("fsync", 35)                           # the same second: the larger stays
    clock.now += 1
    monitor.record("fsync", 12)
    assert monitor.history("fsync") == [(1_000_000, 35), (1_000_001, 12)]
    assert monitor.latest() == [("fsync", 1_000_001, 12, 35)]
    for _ in range(HISTORY_LEN + 10):
        clock.now += 1
        monitor.record("commit", 11)
    assert len(monitor.history("commit")) == HISTORY_LEN
    assert "commit: 160 latency spikes" in monitor.doctor() and "majority" in monitor.doctor()
    assert monitor.reset(["fsync", "nothing", "fsync"]) == 1 and monitor.reset() == 1
    assert "No latency spike" in monitor.doctor()


# ---------------------------------------------------------------- slow log and MONITOR


def test_slowlog_trims_as_redis_and_keeps_max_len():
    log = SlowLog(slower_than_usec=100, max_len=3)
    log.add(99, [b"get", b"k"], "a:1", "")
    assert len(log) == 0
    for i in range(5):
        log.add(100 + i, [b"set", b"k%d" % i, b"x" * 300], "a:1", "n")
    assert [e[0] for e in log.get(-1)] == [4, 3, 2]
    assert log.get(1)[0][3] == [b"set", b"k4", b"x" * 128 + b"... (172 more bytes)"]
    log.max_len = 1
    assert [e[0] for e in log.get(-1)] == [4]
    log.add(500, [b"del", *[b"k"] * 40], "a:1", "")
    argv = log.get(1)[0][3]
    assert len(argv) == 32 and argv[-1] == b"... (10 more arguments)"
    log.slower_than_usec = -1
    log.add(10**9, [b"get", b"k"], "a:1", "")
    assert log.get(1)[0][3][0] == b"del"


@pytest.mark.parametrize("name, args, expected", [
    ("auth", [b"AUTH", b"pw"], [b"AUTH", b"(redacted)"]),
    ("auth", [b"auth", b"u", b"pw"], [b"auth", b"(redacted)", b"(redacted)"]),
    ("hello", [b"HELLO", b"3", b"AUTH", b"u", b"pw", b"SETNAME", b"x"],
     [b"HELLO", b"3", b"AUTH", b"(redacted)", b"(redacted)", b"SETNAME", b"x"]),
    ("config", [b"CONFIG", b"SET", b"maxmemory", b"1gb", b"requirepass", b"pw"],
     [b"CONFIG", b"SET", b"maxmemory", b"1gb", b"requirepass", b"(redacted)"]),
    ("acl", [b"ACL", b"SETUSER", b"bob", b"on", b">pw", b"#" + b"0" * 64, b"~*"],
     [b"ACL", b"SETUSER", b"bob", b"on", b"(redacted)", b"(redacted)", b"~*"]),
    ("get", [b"GET", b"pw"], [b"GET", b"pw"]),
])
def test_passwords_are_redacted(name, args, expected):
    assert redact(name, args) == expected


def test_monitor_lines_escape_as_redis():
    assert quote(b'a "b"\\\n\r\t\x07\x08\x00\xff') == r'"a \"b\"\\\n\r\t\a\b\x00\xff"'
    assert monitor_line(1.5, 3, "127.0.0.1:5", [b"set", b"k"]) == b'1.500000 [3 127.0.0.1:5] "set" "k"'


def test_diagnostics_feed_monitors_but_not_admin_commands():
    diag = Diagnostics()
    seen: list[bytes] = []
    diag.monitors.add(1, seen.append)
    diag.finished("set", [b"SET", b"k", b"v"], 10, 2, "h:1", "")
    diag.finished("config|set", [b"CONFIG", b"SET", b"requirepass", b"x"], 10, 0, "h:1", "")
    diag.finished("client|list", [b"CLIENT", b"LIST"], 10, 0, "h:1", "")
    diag.finished("auth", [b"AUTH", b"secret"], 10, 0, "h:1", "")
    assert [line.split(b"] ", 1)[1] for line in seen] == [b'"SET" "k" "v"', b'"AUTH" "(redacted)"']
    assert b"[2 h:1]" in seen[0]
    diag.monitors.remove(1)
    diag.finished("set", [b"SET", b"k", b"v"], 10, 0, "h:1", "")
    assert len(seen) == 2
    assert diag.histograms["set"].calls == 2 and diag.latencystats()[0][0] == "latency_percentiles_usec_set"


def test_a_blocking_pop_enters_neither_the_slowlog_nor_the_latency_events():
    diag = Diagnostics()
    diag.configure({"slowlog-log-slower-than": "0", "slowlog-max-len": "10", "latency-monitor-threshold": "1",
                    "latency-tracking": "yes", "latency-tracking-info-percentiles": "50"})
    diag.finished("blpop", [b"BLPOP", b"q", b"5"], 5_000_000, 0, "h:1", "", blocking=True)
    assert len(diag.slowlog) == 0 and diag.latency.latest() == [] and diag.histograms["blpop"].calls == 1
    diag.finished("get", [b"GET", b"k"], 5_000, 0, "h:1", "", fast=True)
    assert len(diag.slowlog) == 1 and [e[0] for e in diag.latency.latest()] == ["fast-command"]


def test_log_monitor_lines_show_writes_and_hide_secrets():
    watching: list[bool] = []
    diag = Diagnostics()
    diag.monitors.on_log_watch = watching.append
    diag.monitors.add(7, lambda line: None, log=True)
    diag.monitors.remove(7)
    assert watching == [True, False]
    entry = pb.LogEntry(now_ms=1500, command=pb.Command(db=1, set=pb.Set(key=b"k", value=b"v")))
    secret = pb.LogEntry(now_ms=1500, command=pb.Command(config_set=pb.ConfigSet(
        parameters=[pb.ConfigPair(name="requirepass", value="pw")])))
    assert log_lines(9, [entry, secret]) == [b'1.500000 [1 log:9] "set" "k" "v"',
                                             b'1.500000 [0 log:9] "config_set" "(redacted)"']
    assert command_args(pb.Command(incr_by=pb.IncrBy(key=b"n", delta=5))) == [b"incr_by", b"n", b"delta=5"]
    batch = pb.LogEntry(now_ms=2000)   # the leader's run of plain SETs: a line per SET, as they were sent
    batch.command.set_batch.sets.add(db=1, key=b"a", value=b"1")
    batch.command.set_batch.sets.add(db=2, key=b"b", value=b"")
    assert log_lines(10, [batch]) == log_lines(10, [
        pb.LogEntry(now_ms=2000, command=pb.Command(db=1, set=pb.Set(key=b"a", value=b"1"))),
        pb.LogEntry(now_ms=2000, command=pb.Command(db=2, set=pb.Set(key=b"b", value=b"")))])
    assert log_lines(10, [batch])[0] == b'2.000000 [1 log:10] "set" "a" "1"'


# ---------------------------------------------------------------- the Raft layer's events and lines


def test_raft_watch_times_elections_and_logs_catch_up(caplog):
    clock = Clock()
    watch = RaftWatch(LatencyMonitor(threshold_ms=1, clock=clock), clock=clock, me="n3")
    caplog.set_level(logging.INFO, logger="raftcache.node.raft.watch")
    clock.now += 0.5
    watch.tick("n1", 1, 10, 10, clock.now)                  # the first leader, 500 ms after start
    heard = clock.now
    clock.now += 1
    watch.tick("n1", 1, 10, 10, heard)                      # n1 went silent…
    clock.now += 0.25
    watch.tick(None, 1, 10, 10, heard)                      # …its followers' timeout…
    clock.now += 0.5
    watch.tick("n2", 2, 11, 11, clock.now)                  # …and n2 won: 1750 ms after n1's last message
    assert watch.latency.history("election") == [(int(clock.now - 1.75), 500), (int(clock.now), 1750)]
    assert any("leader is n2 (after 1750 ms" in r.getMessage() and r.term == 2 for r in caplog.records)
    heard = clock.now
    clock.now += 0.8
    watch.tick("n3", 3, 12, 12, heard)                      # straight to this node, which leads now
    assert watch.latency.history("election")[-1][1] == 800
    commit = 20 + 2 * CATCH_UP_MIN_ENTRIES
    watch.tick("n2", 2, commit, 20)
    clock.now += 5
    watch.tick("n2", 2, commit, 520)
    watch.tick("n2", 2, commit, commit)
    text = [r.getMessage() for r in caplog.records]
    assert f"catching up: applied 520 of {commit}, 100 entries/s, ETA 15s" in text, text
    assert text[-1] == "caught up with the log"


def test_raft_watch_times_commits_only_while_the_monitor_is_on():
    watch = RaftWatch(LatencyMonitor(threshold_ms=0))
    done = []

    def callback(result, index, error):
        done.append(index)

    assert watch.wrap_commit(callback) is callback
    watch.latency.threshold_ms = 1
    wrapped = watch.wrap_commit(callback)
    assert wrapped is not callback
    wrapped("ok", 5, None)
    assert done == [5]


def test_every_journal_fsync_is_timed(tmp_path):
    from raftcache.node.raft import journal

    log = journal.DurableFileJournal(str(tmp_path / "raft.journal"))
    timed: list[float] = []
    log.on_flush = timed.append
    log.add(b"entry", 1, 1)
    log.flush()
    log.flush()              # clean: nothing written, not timed
    assert len(timed) == 1 and timed[0] >= 0
    log._destroy()
    watch = RaftWatch(LatencyMonitor(threshold_ms=1))
    watch.fsync_done(0.5)
    watch.fsync_done(7.5)
    assert [ms for _, ms in watch.latency.history("fsync")] == [7]


# ---------------------------------------------------------------- progress and log lines


def test_progress_writes_a_line_per_tenth_off_a_terminal():
    lines: list[str] = []
    clock = Clock(0.0)
    bar = Progress("backup", 100 << 20, write=lines.append, clock=clock)
    for done in range(0, 101, 5):
        clock.now = done / 10
        bar(done << 20)
    bar.step("done")
    assert len(lines) == 11 and lines[0] == "backup: 10% 10.0/100.0 MiB, 10.0 MiB/s, ETA 9s"
    assert lines[-2].startswith("backup: 100% 100.0/100.0 MiB") and lines[-1] == "backup: done"
    quiet: list[str] = []
    small = Progress("verify", write=quiet.append)
    small(1 << 20, 1 << 20)
    small.step("checking")
    assert quiet == []    # a small file: nothing to follow
    entries: list[str] = []
    catching = Progress("n4 catching up", unit="entries", write=entries.append)
    catching(50, 100)
    assert entries == [entries[0]] and entries[0].startswith("n4 catching up: 50% 50/100 entries")
    assert eta_text(3725) == "1h02m" and eta_text(float("inf")) == "?"


def test_progress_on_a_terminal_is_a_bar_with_rate_and_eta(capsys):
    bar = Progress("backup", 64 << 20, tty=True)
    for done in range(0, 65, 16):
        bar(done << 20)
    bar.step("sealed")
    bar.close()
    err = capsys.readouterr().err
    assert "backup: 100%|" in err and "64.0M/64.0M" in err and "B/s]" in err and "backup: sealed" in err


def test_json_log_lines_are_one_event_with_node_term_and_index():
    context = logformat.configure("INFO", "json", "n7")
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)
    context.state = lambda: (4, 99)
    log = logging.getLogger("raftcache.test")
    try:
        log.info("hello %s", "world")
        log.info("about an entry", extra={"index": 5})
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    events = [json.loads(line) for line in lines]
    assert events[0] | {"ts": ""} == {"ts": "", "level": "INFO", "logger": "raftcache.test", "node": "n7",
                                      "term": 4, "index": 99, "msg": "hello world"}
    assert events[1]["index"] == 5 and events[1]["term"] == 4
    assert "ValueError: boom" in events[2]["exc"]
    with pytest.raises(ValueError):
        logformat.configure("INFO", "xml")
