"""Lease reads at a leader paused (SIGSTOP) longer than the election timeout, then resumed
(scripts/chaos/lease_pause.py, docs/reliability.md "Lease reads under leader pauses").

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

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "scripts", "chaos", "lease_pause.py")


@pytest.mark.chaos
def test_lease_reads_at_a_resumed_leader_are_linearizable(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, SCRIPT, "--cycles", "2", "--pause", "2.5", "--out", str(out)],
                          capture_output=True, text=True, timeout=180, check=False)
    path = out / "verdict.json"
    assert path.exists(), f"no verdict (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    v = json.loads(path.read_text())
    assert not v["run"].get("aborted"), v["run"]
    assert v["lease_reads"]["exposed_ok"] >= 5, v["lease_reads"]
    assert v["lease_linearizable"] == "yes", v["lease_linearizability"]
    assert v["valid"] is True and proc.returncode == 0, (v["anomalies"], v["undecided"])
