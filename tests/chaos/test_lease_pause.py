"""Lease reads at a leader paused (SIGSTOP) longer than the election timeout, then resumed,
or cut off from its peers while clients still reach it (scripts/chaos/lease_pause.py,
docs/reliability.md "Lease reads under leader pauses").

Runs the workload in a subprocess against a real 3-node cluster and reads its
verdict: valid, lease reads linearizable, and some of them exposed (sent to
the old leader after the new one acknowledged a write), so that a lease
outliving leadership would have been caught.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from scripts.chaos import net

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "scripts", "chaos", "lease_pause.py")


def _run(tmp_path, *args: str):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, SCRIPT, *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=240, check=False)
    path = out / "verdict.json"
    assert path.exists(), f"no verdict (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    v = json.loads(path.read_text())
    assert not v["run"].get("aborted"), v["run"]
    assert v["lease_reads"]["exposed_ok"] >= 5, v["lease_reads"]
    assert v["lease_linearizable"] == "yes", v["lease_linearizability"]
    assert v["valid"] is True and proc.returncode == 0, (v["anomalies"], v["undecided"])


@pytest.mark.chaos
def test_lease_reads_at_a_resumed_leader_are_linearizable(tmp_path):
    _run(tmp_path, "--cycles", "2", "--pause", "2.5")


@pytest.mark.chaos
@pytest.mark.skipif(not net.available(), reason="needs root and iproute2 for network namespaces")
def test_lease_reads_at_a_leader_cut_from_its_peers_are_linearizable(tmp_path):
    """The partition that exposes a lease outliving leadership: with lease_valid() forced
    true this run is invalid (12 stale lease reads, docs/reliability.md)."""
    _run(tmp_path, "--cut", "--cycles", "2", "--pause", "1.8")
