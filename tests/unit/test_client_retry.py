"""Unit tests of the client's retry policy and error classification (no sockets, no I/O)."""

import random

import pytest
from raftcache.client import retry
from raftcache.client.errors import (
    ConfigError,
    ConnectionFailedError,
    DeadlineExceededError,
    NotLeaderError,
    UnavailableError,
    WrongTypeError,
)
from raftcache.client.retry import RetryPolicy


def test_backoff_grows_exponentially_and_is_capped():
    p = RetryPolicy(initial_backoff_s=0.01, max_backoff_s=0.1, multiplier=2.0, jitter=0.0)
    assert [p.backoff_s(n) for n in range(6)] == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.1, 0.1])


def test_jitter_stays_within_its_band_and_varies():
    p = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=0.1, jitter=0.5)
    rng = random.Random(7)
    samples = [p.backoff_s(3, rng) for _ in range(200)]
    assert all(0.05 <= s <= 0.1 for s in samples)
    assert max(samples) - min(samples) > 0.03  # not constant: retries of many clients spread out


def test_full_jitter_may_reach_zero_but_never_exceeds_the_base():
    p = RetryPolicy(initial_backoff_s=0.2, max_backoff_s=0.2, jitter=1.0)
    rng = random.Random(1)
    assert all(0 <= p.backoff_s(0, rng) <= 0.2 for _ in range(100))


def test_sleep_for_respects_the_deadline_and_max_attempts():
    p = RetryPolicy(initial_backoff_s=0.5, max_backoff_s=0.5, jitter=0.0)
    assert retry.sleep_for(p, 0, now=10.0, deadline=20.0) == 0.5
    assert retry.sleep_for(p, 0, now=10.0, deadline=10.2) == pytest.approx(0.2)   # clipped to what is left
    assert retry.sleep_for(p, 0, now=10.0, deadline=10.0) is None
    limited = RetryPolicy(max_attempts=3, jitter=0.0)
    assert retry.sleep_for(limited, 1, 0.0, 100.0) is not None   # a third attempt may start
    assert retry.sleep_for(limited, 2, 0.0, 100.0) is None       # a fourth may not


@pytest.mark.parametrize("error,retryable,refresh", [
    (UnavailableError("no leader"), True, True),
    (NotLeaderError("not the leader"), True, True),
    (ConnectionFailedError("refused"), True, True),
    (DeadlineExceededError("outcome unknown"), True, False),
    (WrongTypeError("wrong type"), False, False),
    (ValueError("not ours"), False, False),
])
def test_classification(error, retryable, refresh):
    assert retry.is_retryable(error) is retryable
    assert retry.needs_refresh(error) is refresh


def test_only_connection_failures_mark_a_node_down():
    assert retry.node_failed(ConnectionFailedError())
    assert not retry.node_failed(UnavailableError())


@pytest.mark.parametrize("kwargs", [
    dict(max_attempts=-1), dict(initial_backoff_s=1, max_backoff_s=0.5), dict(multiplier=0.5), dict(jitter=2),
])
def test_invalid_policies_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        RetryPolicy(**kwargs).validate()
