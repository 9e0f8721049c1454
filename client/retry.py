"""Retry policy: which failures are retried, and how long to wait between attempts.

Pure functions and a frozen dataclass; no I/O, no clock of its own (the
caller passes the time and a random source, so tests are deterministic).

Why writes may be retried at all: every write carries the client's id and
a sequence number, and the server's state machine remembers the last
(sequence, result) per client id; a retried write that was already applied
returns the original result instead of running again (docs/design.md invariant 5).
"""

from __future__ import annotations

import dataclasses
import random

from raftcache.client.errors import (
    ConfigError,
    ConnectionFailedError,
    NotLeaderError,
    RaftcacheError,
)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How a call is retried within its deadline (ClientOptions.timeout_s).

    Backoff is "full jitter" scaled between `jitter` and 1: attempt n (0-based)
    sleeps uniform(1 - jitter, 1) * min(max_backoff_s, initial_backoff_s * multiplier**n).
    """

    max_attempts: int = 0             # most attempts per call; 0 = as many as the deadline allows
    initial_backoff_s: float = 0.02   # sleep before the second attempt (before jitter)
    max_backoff_s: float = 0.5        # cap on one sleep
    multiplier: float = 2.0           # growth per attempt
    jitter: float = 0.5               # 0 = no jitter; 1 = full jitter (anywhere in [0, backoff])

    def validate(self) -> None:
        if self.max_attempts < 0:
            raise ConfigError("max_attempts must be >= 0 (0 = until the deadline)")
        if self.initial_backoff_s < 0 or self.max_backoff_s < self.initial_backoff_s:
            raise ConfigError("backoff must satisfy 0 <= initial_backoff_s <= max_backoff_s")
        if self.multiplier < 1:
            raise ConfigError("multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ConfigError("jitter must be between 0 and 1")

    def backoff_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """The sleep after failed attempt `attempt` (0-based)."""
        base = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** min(attempt, 64))
        r = (rng or random).random()
        return base * (1 - self.jitter * r)

    def allows(self, attempt: int) -> bool:
        """Whether attempt number `attempt` (0-based) may start."""
        return self.max_attempts == 0 or attempt < self.max_attempts


NO_RETRY = RetryPolicy(max_attempts=1)


def is_retryable(error: BaseException) -> bool:
    """Retry UNAVAILABLE, NOT_LEADER, TIMEOUT and connection failures; nothing else.

    TIMEOUT is retried for writes too: the same client id and sequence make
    the retry a no-op when the first attempt was applied after all.
    """
    return isinstance(error, RaftcacheError) and error.retryable


def needs_refresh(error: BaseException) -> bool:
    """Whether the topology (leader, members) should be re-read before the next attempt."""
    return isinstance(error, (NotLeaderError, ConnectionFailedError)) or (
        isinstance(error, RaftcacheError) and error.reason == "UNAVAILABLE")


def node_failed(error: BaseException) -> bool:
    """Whether the node itself looks unreachable (route around it for a while)."""
    return isinstance(error, ConnectionFailedError)


def sleep_for(policy: RetryPolicy, attempt: int, now: float, deadline: float, rng: random.Random | None = None) -> float | None:
    """How long to sleep before attempt `attempt + 1`, or None when no further attempt fits."""
    if not policy.allows(attempt + 1):
        return None
    remaining = deadline - now
    if remaining <= 0:
        return None
    return min(policy.backoff_s(attempt, rng), remaining)
