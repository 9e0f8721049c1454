"""One fuzz batch end to end: send it, then check the cluster's invariants.

Shared by tests/fuzz/test_fuzz_cluster.py (short run) and
scripts/fuzz_cluster.py (long runs).
"""

from __future__ import annotations

from raftcache.localcluster import LocalCluster
from scripts.fuzz import checks, driver
from scripts.fuzz.strategies import CANARY_DB


class BatchFailed(AssertionError):
    """A batch broke an invariant or caused a problem; the message holds the batch and the logs."""


def start_canaries(cluster: LocalCluster) -> checks.Canaries:
    canaries = checks.Canaries(CANARY_DB)
    canaries.write(cluster)
    checks.check_cluster(cluster, canaries)
    return canaries


def run_and_check(cluster: LocalCluster, canaries: checks.Canaries, actions: list[tuple], timeout_s: float = 30.0) -> None:
    """Send `actions`, then check every invariant (waiting up to `timeout_s`); raise BatchFailed with a reproducer."""
    problems = driver.run_batch(cluster, actions)
    try:
        checks.check_cluster(cluster, canaries, timeout_s)
    except checks.InvariantBroken as e:
        raise BatchFailed(_report(actions, problems, str(e))) from None
    if problems:
        raise BatchFailed(_report(actions, problems, cluster.tail_logs(20)))


def _report(actions: list[tuple], problems: list, detail: str) -> str:
    """Problems first, then the batch (long actions shortened), then `detail` (an invariant, log tails)."""
    lines = ["problems:"] + [f"  {_short(str(p))}" for p in problems] + [""]
    lines += ["batch (in order):"] + [f"  {_short(driver.describe(a))}" for a in actions]
    return "\n".join(lines + ["", detail])


def _short(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
