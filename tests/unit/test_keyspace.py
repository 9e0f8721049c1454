"""Unit tests for node/keyspace: records, counters, expiry index, SCAN, glob,
applied_index atomicity, snapshots. A temporary LMDB per test; no sockets, no threads."""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftcache.node.storage.keyspace import layout
from raftcache.node.config import KeyspaceConfig
from raftcache.node.storage import glob as glob_mod
from raftcache.node.storage.glob import glob_match
from raftcache.node.storage.keyspace import (
    RECORD_OVERHEAD_BYTES, Keyspace, KeyspaceFullError, Record, ValueType,
)

S = ValueType.STRING


@pytest.fixture
def config(tmp_path):
    return KeyspaceConfig(path=str(tmp_path / "ks"), maxmemory_bytes=1 << 20)


@pytest.fixture
def ks(config):
    keyspace = Keyspace(config)
    yield keyspace
    keyspace.close()


class Writer:
    """Each call opens the next writer index."""

    def __init__(self, keyspace: Keyspace):
        self.ks = keyspace

    def __call__(self):
        return self.ks.writer(self.ks.applied_index + 1)


def put(ks, db, key, value=b"v", expires_at_ms=0):
    with Writer(ks)() as w:
        w.put(db, key, Record(S, value, expires_at_ms, ks.applied_index + 1))


def scan_all(txn, db, count, now_ms=0, match=b"", type=None):
    cursor, out, steps = 0, [], 0
    while True:
        cursor, keys = txn.scan(db, cursor, count, now_ms, match, type)
        out.extend(keys)
        steps += 1
        if cursor == 0:
            return out, steps


# ---------------------------------------------------------------- records

def test_put_get_round_trip_and_expiry_invisibility(ks):
    with ks.writer(1) as w:
        w.put(0, b"k", Record(S, b"hello", 5000, 1))
        w.put(0, b"h", Record(ValueType.HASH, b"\x00", 0, 1))
        w.put(0, b"mc", Record(S, b"item", 0, 1, flags=0xFFFFFFFF))
        with pytest.raises(ValueError):
            w.put(0, b"mc", Record(S, b"item", 0, 1, flags=1 << 32))
    with ks.reader() as r:
        assert r.get(0, b"mc", 0).flags == 0xFFFFFFFF
        assert r.get(0, b"k", 4999) == Record(S, b"hello", 5000, 1)
        assert r.get(0, b"k", 5000) is None          # deadline == now: expired
        assert r.get(0, b"k", 9999) is None
        assert r.get_raw(0, b"k") == Record(S, b"hello", 5000, 1)
        assert r.get(0, b"h", 10**12).type is ValueType.HASH
        assert r.get(1, b"k", 0) is None             # databases are separate
        assert r.get(0, b"missing", 0) is None


def test_reads_count_hits_and_misses_and_writes_do_not(ks):
    with ks.writer(1) as w:
        w.put(0, b"k", Record(S, b"v", 5000, 1))
        assert w.get(0, b"k", 0) is not None and w.get(0, b"other", 0) is None
    assert (ks.hits, ks.misses) == (0, 0)
    with ks.reader() as r:
        r.get(0, b"k", 0)
        r.get(0, b"k", 5000)      # expired: a miss
        r.get(0, b"missing", 0)
        r.get_raw(0, b"k")        # not a read command's lookup
    assert (ks.hits, ks.misses) == (1, 2)


def test_counters_are_logical_and_follow_overwrites_and_deletes(ks):
    with ks.writer(1) as w:
        w.put(0, b"a", Record(S, b"12345", 0, 1))
        w.put(0, b"b", Record(S, b"", 0, 1))
        w.put(3, b"c", Record(S, b"xy", 0, 1))
        assert w.db_size(0) == 2
    expected = (1 + 5) + (1 + 0) + (1 + 2) + 3 * RECORD_OVERHEAD_BYTES
    stats = ks.stats()
    assert stats.keys[0] == 2 and stats.keys[3] == 1 and sum(stats.keys) == 3
    assert stats.used_bytes == expected
    assert stats.applied_index == 1
    with ks.writer(2) as w:
        w.put(0, b"a", Record(S, b"1", 0, 2))        # shrink by 4
        assert w.delete(3, b"c") is True
        assert w.delete(3, b"c") is False
    stats = ks.stats()
    assert stats.keys[0] == 2 and stats.keys[3] == 0
    assert stats.used_bytes == expected - 4 - (1 + 2 + RECORD_OVERHEAD_BYTES)


def test_would_exceed_compares_logical_bytes_with_maxmemory(ks):
    with ks.writer(1) as w:
        w.put(0, b"k", Record(S, b"x" * 1000, 0, 1))
        used = w.used_bytes()
        assert used == 1 + 1000 + RECORD_OVERHEAD_BYTES
        assert not w.would_exceed((1 << 20) - used)
        assert w.would_exceed((1 << 20) - used + 1)


def test_expiry_index_tracks_deadline_changes(ks):
    with ks.writer(1) as w:
        w.put(0, b"a", Record(S, b"", 300, 1))
        w.put(1, b"b", Record(S, b"", 100, 1))
        w.put(0, b"c", Record(S, b"", 200, 1))
        w.put(0, b"d", Record(S, b"", 0, 1))
    with ks.reader() as r:
        assert r.expired(250, 10) == [(1, b"b"), (0, b"c")]
        assert r.expired(1000, 2) == [(1, b"b"), (0, b"c")]
        assert r.expired(99, 10) == []
    with ks.writer(2) as w:
        w.put(1, b"b", Record(S, b"", 0, 2))        # persist: leaves the index
        w.put(0, b"c", Record(S, b"", 500, 2))      # moved later
        w.delete(0, b"a")
    with ks.reader() as r:
        assert r.expired(1000, 10) == [(0, b"c")]
    with ks.writer(3) as w:
        w.put(0, b"c", Record(S, b"new value", 500, 3))   # rewritten with its deadline (INCR of a key with a TTL)
        assert w.expires(0) == 1
        w.begin_undo()
        w.put(0, b"c", Record(S, b"undone", 500, 3))
        w.end_undo(rollback=True)
    with ks.reader() as r:
        assert r.expired(1000, 10) == [(0, b"c")] and r.expires(0) == 1
        assert r.get(0, b"c", 0).value == b"new value"


def test_put_refuses_out_of_range_fields(ks):
    with ks.writer(1) as w:
        with pytest.raises(ValueError):
            w.put(0, b"k", Record(S, b"", -5, 1))
        with pytest.raises(ValueError):
            w.put(0, b"k" * 501, Record(S, b"", 0, 1))


# ---------------------------------------------------------------- applied_index

def test_applied_index_commits_with_the_data_and_survives_reopen(config):
    ks = Keyspace(config)
    with ks.writer(7) as w:
        w.put(0, b"k", Record(S, b"v", 0, 7))
    ks.close()
    ks = Keyspace(config)
    assert ks.applied_index == 7
    with ks.reader() as r:
        assert r.get(0, b"k", 0).value == b"v"
    ks.close()


def test_a_failed_writer_leaves_neither_data_nor_applied_index(ks):
    put(ks, 0, b"k", b"old")
    with pytest.raises(RuntimeError):
        with ks.writer(2) as w:
            w.put(0, b"k", Record(S, b"new", 0, 2))
            w.put(0, b"other", Record(S, b"x", 0, 2))
            raise RuntimeError("boom")
    assert ks.applied_index == 1
    with ks.reader() as r:
        assert r.get(0, b"k", 0).value == b"old"
        assert r.get(0, b"other", 0) is None
        assert r.db_size(0) == 1


def test_writer_refuses_an_index_that_does_not_advance(ks):
    put(ks, 0, b"k")
    with pytest.raises(ValueError):
        with ks.writer(1):
            pass


def test_savepoint_rollback_undoes_data_and_counters(ks):
    put(ks, 0, b"keep", b"1")
    with ks.writer(2) as w:
        used = w.used_bytes()
        with w.savepoint() as sp:
            w.put(0, b"new", Record(S, b"x" * 100, 50, 2))
            w.delete(0, b"keep")
            assert w.db_size(0) == 1
            sp.rollback()
        assert w.used_bytes() == used and w.db_size(0) == 1
        with w.savepoint():
            w.put(0, b"kept", Record(S, b"y", 0, 2))
    with ks.reader() as r:
        assert r.get(0, b"new", 0) is None and r.expired(100, 10) == []
        assert r.get(0, b"keep", 0).value == b"1"
        assert r.get(0, b"kept", 0).value == b"y"
        assert r.db_size(0) == 2


def test_undo_writes_back_replaced_records_expiry_and_counters(ks):
    put(ks, 0, b"keep", b"1", expires_at_ms=500)
    put(ks, 0, b"gone", b"2")
    with ks.writer(3) as w:
        used = w.used_bytes()
        w.begin_undo()
        w.put(0, b"keep", Record(S, b"changed" * 10, 0, 3))   # overwrite, deadline dropped
        w.put(0, b"new", Record(S, b"x" * 100, 50, 3))       # created, with a deadline
        w.delete(0, b"gone")
        w.put(0, b"new", Record(S, b"again", 60, 3))         # the same key twice
        with pytest.raises(RuntimeError, match="undo"):
            w.flush_db(0)                                    # cannot be undone this way
        w.end_undo(rollback=True)
        assert w.used_bytes() == used and w.db_size(0) == 2
        w.begin_undo()
        w.put(0, b"kept", Record(S, b"y", 0, 3))
        w.end_undo(rollback=False)
    with ks.reader() as r:
        assert r.get(0, b"keep", 0).value == b"1" and r.get(0, b"keep", 0).expires_at_ms == 500
        assert r.get(0, b"gone", 0).value == b"2"
        assert r.get(0, b"new", 0) is None
        assert r.expired(1000, 10) == [(0, b"keep")]                # only the restored deadline
        assert r.get(0, b"kept", 0).value == b"y" and r.db_size(0) == 3


def test_map_full_raises_a_fatal_error_and_keeps_the_last_state(tmp_path):
    config = KeyspaceConfig(path=str(tmp_path / "small"), maxmemory_bytes=1 << 20, map_size_bytes=1 << 20)
    ks = Keyspace(config)
    put(ks, 0, b"first", b"1")
    with pytest.raises(KeyspaceFullError, match="full"):
        with ks.writer(2) as w:
            for i in range(100):
                w.put(0, b"k%d" % i, Record(S, b"x" * 100_000, 0, 2))
    assert ks.applied_index == 1
    with ks.reader() as r:
        assert r.get(0, b"first", 0).value == b"1" and r.db_size(0) == 1
    ks.close()


# ---------------------------------------------------------------- flush, meta

def test_flush_db_and_flush_all(ks):
    with ks.writer(1) as w:
        w.put(0, b"a", Record(S, b"1", 100, 1))
        w.put(0, b"b", Record(S, b"2", 0, 1))
        w.put(2, b"c", Record(S, b"3", 200, 1))
        w.meta_put(b"table", b"row")
    with ks.writer(2) as w:
        w.flush_db(0)
    with ks.reader() as r:
        assert r.get(0, b"a", 0) is None and r.get(0, b"b", 0) is None
        assert r.get(2, b"c", 0).value == b"3"
        assert r.expired(1000, 10) == [(2, b"c")]
    assert ks.stats().keys[0] == 0 and ks.stats().used_bytes == 1 + 1 + RECORD_OVERHEAD_BYTES
    with ks.writer(3) as w:
        w.flush_all()
    stats = ks.stats()
    assert stats.keys == [0] * 16 and stats.used_bytes == 0 and stats.applied_index == 3
    with ks.reader() as r:
        assert r.get(2, b"c", 0) is None and r.expired(1000, 10) == []
        assert r.meta_get(b"table") == b"row"        # state-machine tables survive FLUSHALL


def test_meta_tables(ks):
    with ks.writer(1) as w:
        for name in (b"x/2", b"x/1", b"y/1"):
            w.meta_put(name, name.upper())
        assert w.meta_delete(b"y/1") is True
        assert w.meta_delete(b"y/1") is False
    with ks.reader() as r:
        assert r.meta_get(b"x/1") == b"X/1"
        assert r.meta_get(b"y/1") is None
        assert r.meta_range(b"x/", 10) == [(b"x/1", b"X/1"), (b"x/2", b"X/2")]
        assert r.meta_range(b"x/", 1) == [(b"x/1", b"X/1")]
        # internal counters are not visible as tables
        assert r.meta_range(b"", 100) == [(b"x/1", b"X/1"), (b"x/2", b"X/2")]


# ---------------------------------------------------------------- scan

def test_scan_returns_every_key_once_with_filters(ks):
    with ks.writer(1) as w:
        for i in range(200):
            w.put(0, b"user:%d" % i, Record(S, b"", 0, 1))
        for i in range(50):
            w.put(0, b"item:%d" % i, Record(ValueType.HASH, b"", 0, 1))
        w.put(0, b"gone", Record(S, b"", 10, 1))
        w.put(1, b"user:other-db", Record(S, b"", 0, 1))
    with ks.reader() as r:
        keys, steps = scan_all(r, 0, 10, now_ms=100)
        assert sorted(keys) == sorted([b"user:%d" % i for i in range(200)] + [b"item:%d" % i for i in range(50)])
        assert steps >= 250 // 11                   # COUNT bounds each batch
        users, _ = scan_all(r, 0, 1000, match=b"user:1?", now_ms=100)
        assert sorted(users) == sorted(b"user:1%d" % i for i in range(10))
        hashes, _ = scan_all(r, 0, 7, type=ValueType.HASH, now_ms=100)
        assert sorted(hashes) == sorted(b"item:%d" % i for i in range(50))
        assert b"gone" in scan_all(r, 0, 10, now_ms=5)[0]
        assert r.scan(5, 0, 10, 0) == (0, [])
        assert r.scan(0, 1 << 40, 10, 0) == (0, [])   # a cursor out of range ends the scan


def test_a_reads_scan_walks_records_in_place_and_a_writes_sees_its_own_writes(ks):
    """A read's SCAN step reads only each record's header, in place (a SCAN or KEYS over large
    values copied every one; a script's read is charged what it copies: nothing here); a write's
    walks its own transaction, so it sees the keys it wrote, and copies what it visits."""
    value = b"v" * 100_000
    with ks.writer(1) as w:
        for i in range(5):
            w.put(0, b"big:%d" % i, Record(S, value, 0, 1))
        w.put(0, b"expired", Record(S, value, 10, 1))
    with ks.reader() as r:
        assert sorted(scan_all(r, 0, 3, now_ms=100)[0]) == [b"big:%d" % i for i in range(5)]
        assert r.bytes_read == 0 and r.reads == 6
    with ks.writer(2) as w:
        w.put(0, b"new", Record(S, b"x", 0, 2))
        assert sorted(scan_all(w, 0, 3, now_ms=100)[0]) == [b"big:%d" % i for i in range(5)] + [b"new"]
        assert w.bytes_read >= 6 * len(value)


def test_a_reads_scan_sees_the_reads_snapshot_after_a_commit(ks):
    """With Raft on a thread of its own an entry may be committed while a read is open: the
    read's SCAN step then walks the read's own view (copying), not a newer one, so KEYS and GET in
    one read-only script agree."""
    with ks.writer(1) as w:
        w.put(0, b"old", Record(S, b"v", 0, 1))
    with ks.reader() as r:
        with ks.writer(2) as w:
            w.put(0, b"new", Record(S, b"v", 0, 2))
            w.delete(0, b"old")
        assert scan_all(r, 0, 10, now_ms=0)[0] == [b"old"]
        assert r.get(0, b"old", 0) is not None and r.get(0, b"new", 0) is None


def test_scan_never_ends_a_batch_inside_one_hash_value(ks, monkeypatch):
    monkeypatch.setattr(layout, "key_hash", lambda key: 7 if key.startswith(b"c") else 9)
    with ks.writer(1) as w:
        for i in range(5):
            w.put(0, b"c%d" % i, Record(S, b"", 0, 1))
            w.put(0, b"d%d" % i, Record(S, b"", 0, 1))
    with ks.reader() as r:
        cursor, keys = r.scan(0, 0, 1, 0)
        assert sorted(keys) == [b"c%d" % i for i in range(5)] and cursor == 10
        cursor, keys = r.scan(0, cursor, 1, 0)
        assert sorted(keys) == [b"d%d" % i for i in range(5)] and cursor == 0


def test_scan_returns_keys_present_throughout_despite_concurrent_changes(ks):
    with ks.writer(1) as w:
        for i in range(300):
            w.put(0, b"k%d" % i, Record(S, b"", 0, 1))
    stable = {b"k%d" % i for i in range(0, 300, 3)}
    seen: list[bytes] = []
    cursor, step = 0, 0
    while True:
        with ks.reader() as r:
            cursor, keys = r.scan(0, cursor, 10, 0)
        seen.extend(keys)
        if cursor == 0:
            break
        step += 1
        with Writer(ks)() as w:                      # between batches: delete and insert
            for i in range(1 + step % 2, 300, 3):   # never a multiple of 3
                w.delete(0, b"k%d" % i)
            for i in range(step * 5, step * 5 + 5):
                w.put(0, b"new%d" % i, Record(S, b"", 0, 1))
    assert stable <= set(seen)
    assert len(seen) <= 300 + 5 * step               # nothing invented


# ---------------------------------------------------------------- glob

@pytest.mark.parametrize("pattern, string, expected", [
    (b"h?llo", b"hello", True), (b"h?llo", b"hllo", False),
    (b"h*llo", b"hllo", True), (b"h*llo", b"heeeello", True), (b"h*llo", b"hello!", False),
    (b"h[ae]llo", b"hallo", True), (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hallo", True), (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True), (b"h[a-b]llo", b"hcllo", False),
    (b"h[b-a]llo", b"hallo", True),                    # reversed range is swapped
    (b"\\*", b"*", True), (b"\\*", b"x", False),      # escaped star is literal
    (b"a\\?b", b"a?b", True), (b"a\\?b", b"axb", False),
    (b"[\\]]", b"]", True), (b"[\\-]", b"-", True), (b"[\\-]", b"a", False),
    (b"[abc", b"b", True), (b"[abc", b"d", False),    # unterminated class ends the pattern
    (b"x\\", b"x\\", True),                            # trailing backslash is literal
    (b"*", b"anything", True), (b"**a", b"bba", True), (b"*a*b*c", b"xaybzc", True),
    (b"*a*b*c", b"xaybz", False), (b"a*", b"a", True), (b"*", b"", False), (b"", b"", True),
    (b"[a-c]*[0-9]", b"b-release-7", True), (b"[a-c]*[0-9]", b"d7", False),
    (b"user:*:name", b"user:1:name", True), (b"fnmatch[!x]", b"fnmatch!", True),
])
def test_glob_matches_like_redis(pattern, string, expected):
    assert glob_match(pattern, string) is expected


def test_glob_backtracking_stays_linear_per_star():
    assert glob_match(b"*a" * 20 + b"b", b"a" * 200) is False


# The matcher before patterns were compiled (a parse per string matched), kept as the oracle the
# compiled one must agree with; the table above checks it against Redis's behaviour.
def _reference_tokens(pattern: bytes) -> list[tuple]:
    """Parse a Redis glob into tokens, following stringmatchlen() in util.c.

    ("*",) any run; ("?",) one byte; ("=", c) a literal byte;
    ("[", negate, singles, ranges) a class. `\\x` is a literal x (a trailing
    backslash is literal); inside a class `\\` escapes too, `a-z` is a range
    (reversed ends are swapped) and an unterminated class ends the pattern.
    """
    tokens: list[tuple] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:                                   # *
            if not tokens or tokens[-1] != ("*",):
                tokens.append(("*",))
            i += 1
        elif c == 0x3F:                                 # ?
            tokens.append(("?",))
            i += 1
        elif c == 0x5B:                                 # [
            i += 1
            negate = i < n and pattern[i] == 0x5E       # ^
            if negate:
                i += 1
            singles: set[int] = set()
            ranges: list[tuple[int, int]] = []
            while i < n:
                c = pattern[i]
                if c == 0x5C and i + 1 < n:             # \ escapes inside a class
                    singles.add(pattern[i + 1])
                    i += 2
                elif c == 0x5D:                         # ]
                    i += 1
                    break
                elif i + 2 < n and pattern[i + 1] == 0x2D:   # a-z
                    lo, hi = sorted((c, pattern[i + 2]))
                    ranges.append((lo, hi))
                    i += 3
                else:
                    singles.add(c)
                    i += 1
            tokens.append(("[", negate, frozenset(singles), tuple(ranges)))
        elif c == 0x5C and i + 1 < n:                   # \x
            tokens.append(("=", pattern[i + 1]))
            i += 2
        else:
            tokens.append(("=", c))
            i += 1
    return tokens


def _reference_token_matches(token: tuple, c: int) -> bool:
    kind = token[0]
    if kind == "?":
        return True
    if kind == "=":
        return token[1] == c
    hit = c in token[2] or any(lo <= c <= hi for lo, hi in token[3])
    return hit != token[1]


def _reference_match(pattern: bytes, string: bytes) -> bool:
    """Redis glob matching (KEYS, SCAN MATCH): `*`, `?`, `[...]`, `[^...]`, `[a-z]`, `\\` escapes.

    Linear backtracking over the last `*` (O(len(pattern) * len(string)), no
    recursion). Like Redis, an empty string matches only an empty pattern.
    """
    if not string:
        return not pattern
    tokens = _reference_tokens(pattern)
    t = s = 0
    star_t, star_s = -1, 0
    while s < len(string):
        if t < len(tokens) and tokens[t] == ("*",):
            star_t, star_s = t, s
            t += 1
        elif t < len(tokens) and _reference_token_matches(tokens[t], string[s]):
            t += 1
            s += 1
        elif star_t >= 0:
            star_s += 1
            s = star_s
            t = star_t + 1
        else:
            return False
    while t < len(tokens) and tokens[t] == ("*",):
        t += 1
    return t == len(tokens)


_GLOB_BYTES = st.sampled_from(list(b"ab*?[]^-\\x"))


@settings(max_examples=600, deadline=None)
@given(st.lists(_GLOB_BYTES, max_size=12).map(bytes), st.lists(st.sampled_from(list(b"ab*?[]-\\x")), max_size=10).map(bytes))
def test_the_compiled_glob_matches_as_the_reference(pattern, string):
    assert glob_match(pattern, string) is _reference_match(pattern, string)


def test_a_long_pattern_is_parsed_once_not_once_per_string(monkeypatch):
    """A 1 MB pattern matched against 20,000 strings (a SCAN step, COMMAND LIST, a PUBLISH to
    many patterns) is compiled once: before, each string paid the whole parse (minutes)."""
    parses = []
    real = glob_mod._glob_tokens
    monkeypatch.setattr(glob_mod, "_glob_tokens", lambda pattern: parses.append(pattern) or real(pattern))
    patterns = (b"x" * (1 << 20), b"*a" * (1 << 19), b"[ab]" * (1 << 18), b"key:*:[0-9]")
    for pattern in patterns:
        assert sum(glob_match(pattern, b"key:%d:%d" % (i, i % 10)) for i in range(20_000)) == (
            20_000 if pattern == b"key:*:[0-9]" else 0)
    assert len(parses) <= len(patterns)


# ---------------------------------------------------------------- snapshots

def test_copy_to_and_restore_from_round_trip(ks, tmp_path):
    with ks.writer(5) as w:
        w.put(0, b"a", Record(S, b"1", 1000, 5))
        w.meta_put(b"dedup", b"row")
    snap = str(tmp_path / "snap.mdb")
    assert ks.copy_to(snap) == 5
    assert os.path.exists(snap) and not os.path.exists(snap + ".tmp")
    with ks.writer(6) as w:
        w.put(0, b"b", Record(S, b"2", 0, 6))
        w.delete(0, b"a")
        w.meta_put(b"dedup", b"changed")
    ks.restore_from(snap)
    assert ks.applied_index == 5
    with ks.reader() as r:
        assert r.get(0, b"a", 0) == Record(S, b"1", 1000, 5)
        assert r.get(0, b"b", 0) is None
        assert r.expired(2000, 10) == [(0, b"a")]
        assert r.meta_get(b"dedup") == b"row"
    assert ks.stats().keys[0] == 1
    with ks.writer(6) as w:                           # the restored env takes writes
        w.put(0, b"c", Record(S, b"3", 0, 6))
    with ks.reader() as r:
        assert r.get(0, b"c", 0).value == b"3"


def test_restore_from_refuses_a_file_that_is_not_a_snapshot(ks, tmp_path):
    put(ks, 0, b"k", b"v")
    bad = tmp_path / "bad.mdb"
    bad.write_bytes(b"not lmdb" * 1000)
    with pytest.raises(ValueError):
        ks.restore_from(str(bad))
    with ks.reader() as r:
        assert r.get(0, b"k", 0).value == b"v"
    assert ks.applied_index == 1


def _read_record(ks) -> bytes:
    with ks.reader() as r:
        return r.get(0, b"k", 0).value


@pytest.mark.parametrize("read", [
    lambda ks: _read_record(ks),
    lambda ks: ks.string_value(0, b"k", 0),          # -P 1's GET
    lambda ks: ks.string_values(0, [b"k"], 0)[0],    # a pipeline's GETs
], ids=["reader", "string_value", "string_values"])
def test_restore_waits_for_open_readers_and_readers_see_old_or_new_never_a_closed_env(tmp_path, read):
    """A restore on one thread while others read must not pull the env from under a reader,
    whichever way it reads (a transaction of reader(), or the GET paths' own)."""
    import threading

    from raftcache.node.config import KeyspaceConfig as _KC
    from raftcache.node.storage.keyspace import Keyspace as _KS, Record as _Rec, ValueType as _VT

    ks = _KS(_KC(path=str(tmp_path / "live")))
    with ks.writer(1) as w:
        w.put(0, b"k", _Rec(_VT.STRING, b"old", 0, 1))
    other = _KS(_KC(path=str(tmp_path / "other")))
    with other.writer(7) as w:
        w.put(0, b"k", _Rec(_VT.STRING, b"new", 0, 7))
    snapshot = str(tmp_path / "snap.mdb")
    other.copy_to(snapshot)
    other.close()

    seen, errors, stop = set(), [], threading.Event()

    def read_loop():
        while not stop.is_set():
            try:
                seen.add(read(ks))
            except Exception as e:  # noqa: BLE001 - recorded and asserted below
                errors.append(e)

    threads = [threading.Thread(target=read_loop) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            ks.restore_from(snapshot)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert errors == []
    assert seen <= {b"old", b"new"} and b"new" in seen
    assert ks.applied_index == 7
    ks.close()


def test_expiring_keys_are_counted_per_database(ks, config):
    """INFO keyspace's expires=: kept in step by put/delete/flush, undone with the write, and
    counted once from the deadline index for data written before the counters existed."""
    with ks.writer(1) as w:
        w.put(0, b"a", Record(S, b"v", 5000, 1))
        w.put(0, b"b", Record(S, b"v", 6000, 1))
        w.put(0, b"c", Record(S, b"v", 0, 1))
        w.put(1, b"a", Record(S, b"v", 7000, 1))
        w.put(0, b"b", Record(S, b"w", 0, 1))       # the deadline is dropped
        w.put(0, b"c", Record(S, b"w", 9000, 1))    # one is set
        w.delete(0, b"a")
    assert ks.stats().expires[:2] == [1, 1]
    with ks.writer(2) as w:
        w.begin_undo()
        w.put(0, b"d", Record(S, b"v", 5000, 2))
        assert w.expires(0) == 2
        w.end_undo(rollback=True)
        with w.savepoint() as sp:
            w.flush_db(0)
            assert w.expires(0) == 0
            sp.rollback()
        assert w.expires(0) == 1
    assert ks.stats().expires[:2] == [1, 1]
    with ks.writer(3) as w:
        w.flush_all()
    assert ks.stats().expires[:2] == [0, 0]

    with ks.writer(4) as w:
        w.put(2, b"x", Record(S, b"v", 5000, 4))
        w.put(2, b"y", Record(S, b"v", 6000, 4))
    with ks._env.begin(write=True) as txn:  # as a keyspace written by an older version
        for name in (layout._EXPIRES + b"\x00\x02", layout._EXPIRES_COUNTED):
            txn.delete(name, db=ks._meta)
    ks.close()
    reopened = Keyspace(config)
    assert reopened.stats().expires[2] == 2
    reopened.close()


def test_string_values_answer_as_get_does_in_one_pass(ks):
    w = Writer(ks)
    with w() as txn:
        txn.put(0, b"s", Record(S, b"v"))
        txn.put(0, b"old", Record(S, b"x", expires_at_ms=1_000))
        txn.put(0, b"h", Record(ValueType.HASH, b""))
    keys = [b"s", b"missing", b"old", b"h", b"s"]
    with ks.reader() as txn:
        hits, misses = ks.hits, ks.misses
        values = txn.string_values(0, keys, now_ms=2_000)
        assert (ks.hits - hits, ks.misses - misses) == (3, 2)
        one_by_one = [txn.get(0, key, 2_000) for key in keys]
    assert values == [b"v", None, None, ValueType.HASH, b"v"]
    assert [r if r is None else (r.value if r.type is S else r.type) for r in one_by_one] == values


def test_string_value_answers_as_string_values_for_one_key(ks):
    """Keyspace.string_value (-P 1's GET): the value string_values gives, hits and misses
    counted alike, in a transaction of its own or inside reads_together's."""
    w = Writer(ks)
    with w() as txn:
        txn.put(0, b"s", Record(S, b"v"))
        txn.put(0, b"old", Record(S, b"x", expires_at_ms=1_000))
        txn.put(0, b"h", Record(ValueType.HASH, b""))
        txn.put(1, b"s", Record(S, b"other db"))
    for together in (False, True):
        with ks.reads_together() if together else contextlib.nullcontext():
            for db, key in [(0, b"s"), (0, b"missing"), (0, b"old"), (0, b"h"), (1, b"s")]:
                counts = ks.hits, ks.misses
                expected = ks.string_values(db, [key], 2_000)
                counted = ks.hits - counts[0], ks.misses - counts[1]
                counts = ks.hits, ks.misses
                assert [ks.string_value(db, key, 2_000)] == expected
                assert (ks.hits - counts[0], ks.misses - counts[1]) == counted
    assert ks.string_value(0, b"old", 999) == b"x"   # before its deadline


def test_a_swap_waits_for_readers_and_holds_new_ones_off(ks):
    """_SwapLock: a swap waits until every reader has left (however it entered), a reader
    that tries while a swap is under way is refused and leaves nothing behind, and one that
    waits enters once the swap is over."""
    import threading

    swap = ks._swap
    assert swap.try_acquire_shared()
    swap.acquire_shared()
    swapped, entered, release = threading.Event(), threading.Event(), threading.Event()

    def swapper():
        with swap.exclusive():
            swapped.set()
            release.wait(10)

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    assert not swapped.wait(0.05), "two readers inside: the swap waits"
    swap.release_shared()
    assert not swapped.wait(0.05), "one reader inside: the swap still waits"
    swap.release_shared()
    assert swapped.wait(10)
    assert not swap.try_acquire_shared() and len(swap._readers) == 0

    def reader():
        swap.acquire_shared()
        entered.set()
        swap.release_shared()

    waiting = threading.Thread(target=reader, daemon=True)
    waiting.start()
    assert not entered.wait(0.05), "a reader waits for the swap to end"
    release.set()
    thread.join(10)
    assert entered.wait(10)
    waiting.join(10)
    assert not thread.is_alive() and not waiting.is_alive()
    assert len(swap._readers) == 0 and swap.try_acquire_shared()
    swap.release_shared()


class _Gate(list):
    """A swap guard's reader list whose next `append` stops (before or after it adds the
    reader) until `go` is set: a reader caught between its two steps."""

    def __init__(self, before: bool):
        super().__init__()
        import threading

        self.before, self.stopped, self.go = before, threading.Event(), threading.Event()

    def append(self, item) -> None:
        if self.before:
            self.stopped.set()
            self.go.wait(10)
        super().append(item)
        if not self.before:
            self.stopped.set()
            self.go.wait(10)


@pytest.mark.parametrize("caught", ["before registering", "registered, before looking"])
def test_a_reader_caught_between_its_steps_never_reads_during_a_swap(ks, caught):
    """The lock-free reader (register, then look for a swap) against a swap starting at the
    worst moment: caught before it registers, the swap goes ahead and the reader, once it goes
    on, sees it and is refused; caught after it registered, the swap waits for it, and it sees
    the swap and leaves. Either way no reader is inside while the environment is swapped."""
    import threading

    swap = ks._swap
    swap._readers = gate = _Gate(before=caught == "before registering")
    got = []
    reader = threading.Thread(target=lambda: got.append(swap.try_acquire_shared()), daemon=True)
    reader.start()
    assert gate.stopped.wait(10)
    swapping, finish = threading.Event(), threading.Event()
    inside_during_swap = []

    def swapper():
        with swap.exclusive():
            swapping.set()
            finish.wait(10)
            inside_during_swap.append(len(swap._readers))

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    if gate.before:
        assert swapping.wait(10), "no reader registered yet: the swap goes ahead"
    else:
        assert not swapping.wait(0.05), "a registered reader: the swap waits for it"
    gate.before = None   # (later appends pass)
    gate.go.set()
    reader.join(10)
    assert got == [False], "the reader saw the swap and was refused"
    assert swapping.wait(10)
    finish.set()
    thread.join(10)
    assert not thread.is_alive() and inside_during_swap == [0] and len(gate) == 0


def test_reads_together_share_one_transaction_until_something_is_applied(ks):
    w = Writer(ks)
    with w() as txn:
        txn.put(0, b"k", Record(S, b"1"))
    with ks.reads_together():
        with ks.reader() as first:
            assert first.get(0, b"k", 0).value == b"1"
        with ks.reader() as second:
            assert second is first                 # no new transaction
        with w() as txn:                           # an apply in between: the next read sees it
            txn.put(0, b"k", Record(S, b"2"))
        with ks.reader() as third:
            assert third is not first and third.get(0, b"k", 0).value == b"2"
            # the stale view was closed first: one reader at a time, so a snapshot install on
            # another thread (restore_from waits for every reader) can never wait on this one
            assert len(ks._swap._readers) == 1
    with ks.reader() as after:
        assert after is not first and after.get(0, b"k", 0).value == b"2"
    assert len(ks._swap._readers) == 0                  # the shared transaction was closed


def test_the_get_fast_paths_read_the_shared_view_and_see_what_was_applied_since(ks):
    """string_value(s), the GET fast paths' reads, take reads_together's open view directly
    while it is current, and a new one once something was applied in between."""
    w = Writer(ks)
    with w() as txn:
        txn.put(0, b"k", Record(S, b"1"))
    with ks.reads_together():
        assert ks.string_value(0, b"k", 0) == b"1"          # opens the shared view
        with ks.reader() as shared:
            assert ks.string_values(0, [b"k", b"x"], 0) == [b"1", None]
            with w() as txn:
                txn.put(0, b"k", Record(S, b"2"))
            assert ks.string_value(0, b"k", 0) == b"2", "not the stale view"
            assert ks.string_values(0, [b"k"], 0) == [b"2"]
        with ks.reader() as fresh:
            assert fresh is not shared
        assert len(ks._swap._readers) == 1
    assert len(ks._swap._readers) == 0


def test_a_run_of_container_items_never_crosses_into_another_container(ks):
    """ReadTxn.item_values (LRANGE's consecutive elements, read by the cursor in C) and items():
    a run that reaches past its container, or past the last key, keeps only its own items."""
    u64 = layout._U64.pack
    with ks.writer(1) as txn:
        for cid in (5, 6):
            for i in range(10):
                txn._txn.put(u64(cid) + u64(i), b"%d:%d" % (cid, i), db=ks._items)
    with ks.reader() as txn:
        assert txn.item_values(5, u64(3), 3) == [b"5:3", b"5:4", b"5:5"]
        assert txn.item_values(5, u64(8), 5) == [b"5:8", b"5:9"]       # the next container's are not its
        assert txn.item_values(6, u64(8), 5) == [b"6:8", b"6:9"]       # the end of the database
        assert txn.item_values(7, b"", 3) == []
        assert [v for _, v in txn.items(5, u64(8))] == [b"5:8", b"5:9"]
        assert [v for _, v in txn.items(6, u64(1), reverse=True)] == [b"6:1", b"6:0"]
        assert txn.item_keys(5) == [u64(i) for i in range(10)] and txn.item_keys(7) == []
        assert txn.item_keys(6, strip=7) == [bytes([i]) for i in range(10)]
        assert txn.item_pairs(6, strip=7)[-1] == (b"\x09", b"6:9") and len(txn.item_pairs(5)) == 10
