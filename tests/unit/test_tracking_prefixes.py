"""CLIENT TRACKING BCAST PREFIX collisions: the same verdict and the same error text as Redis's
pairwise check (tracking.c checkPrefixCollisionsOrReply, kept here as the oracle), and a
request of many prefixes checked at once rather than pair by pair."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftcache.node.frontends import resp_tracking
from raftcache.node.frontends.resp_protocol import RespError


def _redis_check(kept: tuple[bytes, ...], new: list[bytes]) -> str | None:
    """Redis's loop: each new prefix against the client's (in byte order, as its radix tree
    iterates), then against the later new ones."""
    def overlap(a: bytes, b: bytes) -> bool:
        return a.startswith(b) or b.startswith(a)

    for i, prefix in enumerate(new):
        for existing in sorted(kept):
            if overlap(existing, prefix):
                return f"ERR Prefix '{prefix.decode()}' overlaps with an existing prefix '{existing.decode()}'. " \
                       f"Prefixes for a single client must not overlap."
        for other in new[i + 1:]:
            if overlap(prefix, other):
                return f"ERR Prefix '{prefix.decode()}' overlaps with another provided prefix '{other.decode()}'. " \
                       f"Prefixes for a single client must not overlap."
    return None


def _check(kept, new) -> str | None:
    try:
        resp_tracking._check_prefix_collisions(kept, new)
    except RespError as e:
        return e.text
    return None


_PREFIX = st.text(alphabet="abc", max_size=4).map(str.encode)


def _non_overlapping(prefixes: list[bytes]) -> tuple[bytes, ...]:
    kept: list[bytes] = []
    for p in prefixes:
        if not any(p.startswith(k) or k.startswith(p) for k in kept):
            kept.append(p)
    return tuple(kept)


def _with_every_key(kept: tuple[bytes, ...], bcast_again: bool) -> tuple[bytes, ...]:
    """CLIENT TRACKING ON BCAST without PREFIX adds "" to a client's prefixes, unchecked (Redis)."""
    return kept + (b"",) if bcast_again and b"" not in kept else kept


@settings(max_examples=800, deadline=None)
@given(st.builds(_with_every_key, st.lists(_PREFIX, max_size=6).map(_non_overlapping), st.booleans()),
       st.lists(_PREFIX, max_size=8))
def test_the_verdict_and_the_text_are_redis_s(kept, new):
    assert _check(kept, new) == _redis_check(kept, new)


class _Counting(bytes):
    """A prefix that counts the comparisons made with it."""
    compared = [0]

    def startswith(self, other, *args):
        _Counting.compared[0] += 1
        return bytes.startswith(self, other, *args)


@pytest.mark.parametrize("new, expected", [
    # the last one starts the one before it: the pairwise check makes ~8 million comparisons
    ([b"p%05d:" % i for i in range(4_000)] + [b"p03999"], ("p03999:", "p03999")),
    ([b"a"] * 4_000, ("a", "a")),                                # every pair overlaps
    ([b"a" * n for n in range(1, 4_001)], ("a", "aa")),          # a chain, each starting the next
    ([b""] + [b"x%d" % i for i in range(4_000)], ("", "x0")),
])
def test_many_prefixes_are_checked_without_comparing_every_pair(new, expected):
    _Counting.compared[0] = 0
    assert _check((), [_Counting(p) for p in new]) == (
        f"ERR Prefix '{expected[0]}' overlaps with another provided prefix '{expected[1]}'. "
        f"Prefixes for a single client must not overlap.")
    assert _Counting.compared[0] < 10 * len(new)
