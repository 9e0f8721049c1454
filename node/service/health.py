"""Is this node healthy? One verdict, with its reason, for /health and the gRPC health service.

Healthy means the node can take part in serving right now:

* a leader that a majority of the voters (itself included) acknowledged
  within `contact_max_s` (Replicator.quorum_contact_s: counted from the
  send times of the append-entries they answered, so a leader that was
  paused or cut off is not healthy on the strength of old replies);
* a follower (or read replica) that accepted append-entries from a leader
  within `contact_max_s`;
* and in both cases applied within `apply_lag_max` entries of its commit index.

Anything else (candidate, cut off, a leader without a quorum, far behind)
is unhealthy. Must not touch: Raft state (it reads Service.status() only).
"""

from __future__ import annotations

import dataclasses
import math

#: At least this long without contact is unhealthy, whatever the election timeout.
CONTACT_FLOOR_S = 2.0
#: Entries committed but not yet applied here beyond which the node is "far behind".
APPLY_LAG_MAX = 1000


@dataclasses.dataclass(frozen=True)
class Health:
    healthy: bool
    reason: str


def contact_max_s(election_timeout_max_s: float) -> float:
    """How recent leader (or majority) contact must be: an election timeout, at least 2 s."""
    return max(CONTACT_FLOOR_S, election_timeout_max_s)


def _age(seconds: float | None) -> str:
    return "ever" if seconds is None or math.isinf(seconds) else f"{seconds:.1f} s"


def assess(status: dict, contact_limit_s: float, apply_lag_max: int = APPLY_LAG_MAX) -> Health:
    """The verdict for a Service.status() dict."""
    role = status["role"]
    if role == "leader":
        age = status.get("quorum_contact_s", math.inf)
        if age > contact_limit_s:
            return Health(False, f"leader without quorum: no majority contact for {_age(age)}")
        verdict = Health(True, f"leader with quorum (majority contact {age:.1f} s ago)")
    else:
        age = status["last_leader_contact_s"]
        if age is None or age > contact_limit_s:
            if age is None or math.isinf(age):
                return Health(False, f"{role}, never heard from a leader")
            return Health(False, f"{role}, no leader contact for {age:.0f} s")
        verdict = Health(True, f"{role}, leader contact {age:.1f} s ago")
    lag = status["commit_index"] - status["applied_index"]
    if lag > apply_lag_max:
        return Health(False, f"{role}, applied index {lag} behind the commit index")
    return verdict
