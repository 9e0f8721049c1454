"""Helpers shared by the benchmark scripts: what every figure must come with.

Every benchmark reports, per case: successful operations only (errors are
counted separately), the hit rate of its reads, the CPU µs each raftcache
process spent per operation (from /proc/PID/stat), and the command line
that produced it. Between cases it waits until the raftcache processes are
idle again. The arithmetic here is pure and unit-tested
(tests/unit/test_benchlib.py); only `cpu_ticks` and `settle` read /proc.
"""

from __future__ import annotations

import csv
import io
import os
import shlex
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def command_line(argv: list[str] | None = None) -> str:
    """The command that reproduces this run, with the script path relative to the repository."""
    argv = list(sys.argv if argv is None else argv)
    script = os.path.abspath(argv[0])
    if script.startswith(REPO + os.sep):
        script = os.path.relpath(script, REPO)
    return shlex.join(["python", script, *argv[1:]])


def load_average() -> float | None:
    """The 1-minute load average (other work on the machine shows here), None off Linux."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------- CPU


def parse_stat_ticks(stat_text: str) -> int:
    """utime + stime (clock ticks) from the text of /proc/PID/stat.

    The command name (field 2) may contain spaces and parentheses: fields are
    counted after the last ')'; utime and stime are fields 14 and 15."""
    fields = stat_text.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def cpu_ticks(pids: dict[str, int]) -> dict[str, int]:
    """name -> utime + stime ticks for each live process (a vanished one is left out)."""
    out = {}
    for name, pid in pids.items():
        try:
            with open(f"/proc/{pid}/stat") as f:
                out[name] = parse_stat_ticks(f.read())
        except (OSError, ValueError, IndexError):
            pass
    return out


def cpu_us_per_op(before: dict[str, int], after: dict[str, int], ops: int, clk_tck: int = CLK_TCK) -> dict:
    """name -> CPU µs per operation between two `cpu_ticks` samples (None without operations).

    A tick is 1/clk_tck s (10 ms at 100 Hz): a case needs thousands of
    operations over a second or more for this to mean anything."""
    return {name: (round((after[name] - before[name]) * 1e6 / clk_tck / ops, 1) if ops > 0 else None)
            for name in before if name in after}


def cpu_seconds(before: dict[str, int], after: dict[str, int], clk_tck: int = CLK_TCK) -> dict:
    """name -> CPU seconds between two `cpu_ticks` samples."""
    return {name: round((after[name] - before[name]) / clk_tck, 2) for name in before if name in after}


def settle(pids: dict[str, int], window_s: float = 0.5, idle_cpu: float = 0.05, timeout_s: float = 30.0,
           sample=cpu_ticks, sleep=time.sleep, clock=time.monotonic, clk_tck: int = CLK_TCK) -> dict:
    """Wait until every process used less than `idle_cpu` of a core over `window_s`
    (raftcache compacts its log and snapshots in the background after many
    writes: a case must not measure the last one's aftermath). Bounded by
    `timeout_s`; returns {"idle": bool, "waited_s": float} for the report."""
    start = clock()
    while True:
        before = sample(pids)
        sleep(window_s)
        after = sample(pids)
        busy = [(after[n] - before[n]) / clk_tck / window_s for n in before if n in after]
        if all(b < idle_cpu for b in busy):
            return {"idle": True, "waited_s": round(clock() - start, 2)}
        if clock() - start >= timeout_s:
            return {"idle": False, "waited_s": round(clock() - start, 2)}


# --------------------------------------------------------------------- reads and errors


def hit_rate(hits: int, misses: int) -> float | None:
    """hits / (hits + misses), None when nothing was read."""
    total = hits + misses
    return round(hits / total, 4) if total else None


def successful_rate(ops: int, errors: int, elapsed_s: float) -> float:
    """Operations per second counting only successful replies."""
    return round(max(ops - errors, 0) / elapsed_s, 1) if elapsed_s > 0 else 0.0


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of an ascending list, nearest rank below; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(int(q * len(sorted_values)), len(sorted_values) - 1)]


# --------------------------------------------------------------------- Redis INFO and redis-benchmark


def parse_info(text: str) -> dict[str, str]:
    """`INFO` text -> {field: value} (section headers and blank lines skipped)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            out[key] = value
    return out


def command_errors(info: dict[str, str], command: str) -> int:
    """failed_calls + rejected_calls of one command from `INFO commandstats` (0 if never called)."""
    stat = info.get(f"cmdstat_{command.lower()}")
    if not stat:
        return 0
    fields = dict(part.split("=", 1) for part in stat.split(",") if "=" in part)
    return int(fields.get("failed_calls", 0)) + int(fields.get("rejected_calls", 0))


def command_calls(info: dict[str, str], command: str) -> int:
    """calls of one command from `INFO commandstats` (0 if never called)."""
    stat = info.get(f"cmdstat_{command.lower()}")
    if not stat:
        return 0
    fields = dict(part.split("=", 1) for part in stat.split(",") if "=" in part)
    return int(fields.get("calls", 0))


def parse_redis_benchmark_csv(text: str) -> dict:
    """The last row of `redis-benchmark --csv` -> {"rps": float, "p50_ms": float, "p99_ms": float, "test": str}.

    Raises ValueError when there is no data row (redis-benchmark failed)."""
    rows = [row for row in csv.DictReader(io.StringIO(text)) if row.get("rps")]
    if not rows:
        raise ValueError(f"no redis-benchmark CSV row in {text[-200:]!r}")
    row = rows[-1]
    return {"test": row["test"], "rps": float(row["rps"]), "p50_ms": float(row["p50_latency_ms"]),
            "p99_ms": float(row["p99_latency_ms"])}
