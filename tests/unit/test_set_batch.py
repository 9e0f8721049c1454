"""A SetBatch (the leader's run of plain SETs as one entry: node/service/entry_groups.py) against
the same SETs as entries of their own: two nodes fed the same writes, one grouped and one not,
must answer each SET alike and end with the same bytes in every table, the same counters and
the same events, however the SETs mix with other writes, limits, notifications, tracking,
cluster slots and maxmemory (StateMachine._apply_set_batch)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from raftcache.node import commands
from raftcache.node.commands import OK, dedup
from raftcache.node.errors import CommandError, Reason
from raftcache.node.service import entry_groups
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_plain_set import _UNKNOWN_FIELD, MAX_VALUE_BYTES, _comparable, break_plain_store, cmd
from tests.unit.test_script_effects import tables
from tests.unit.test_statemachine import NOW, Node

V = commands.SET_BATCH_VERSION


class Pair:
    """Two nodes fed the same writes: `grouped` as the leader logs them (entry_groups.group),
    `separate` one entry per write."""

    def __init__(self, root, track: bool = False, raise_version: bool = True, **limits):
        self.grouped, self.separate = (Node(str(root / name), **limits) for name in ("g", "s"))
        self.events = {self.grouped: [], self.separate: []}
        for node, events in self.events.items():
            node.sm.on_events = events.extend
            node.sm.set_track_writes(track)
        self.seed = 0
        if raise_version:
            self.apply([pb.Command(set_version=pb.SetVersion(version=V))])

    def apply(self, commands_: list, now_ms: int = NOW, eviction: int = pb.EVICT_BY_POLICY) -> list:
        """One group commit of `commands_` (commands, or (command, client_id, sequence): a write
        with a client identity): each write's result, after checking both nodes gave
        the same ones (the grouped node's expanded as the leader's group commit expands them)."""
        entries = []
        for item in commands_:
            command, client_id, sequence = item if isinstance(item, tuple) else (item, "", 0)
            self.seed += 1
            if command.WhichOneof("op") == "set":
                command.eviction = eviction
            entries.append(pb.LogEntry(version=V, now_ms=now_ms, seed=self.seed, command=command,
                                       client_id=client_id, sequence=sequence))
        grouped, runs = entry_groups.group(entries)
        got = []
        for node, batch in ((self.grouped, grouped), (self.separate, entries)):
            node.index += 1
            data = commands.encode_entry(batch[0]) if len(batch) == 1 else commands.encode_batch(batch)
            result = node.sm.apply(node.index, data)
            result = result if len(batch) > 1 else [result]
            got.append(entry_groups.expand(result, runs) if runs else result)
        assert [_comparable(r) for r in got[0]] == [_comparable(r) for r in got[1]]
        return got[0]

    def same(self) -> None:
        assert tables(self.grouped) == tables(self.separate)
        assert self.grouped.sm.changes == self.separate.sm.changes
        assert self.grouped.sm.evicted == self.separate.sm.evicted
        assert self.events[self.grouped] == self.events[self.separate]


def _config(name: str, value: str) -> pb.Command:
    return pb.Command(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name=name, value=value)]))


@pytest.mark.parametrize("track", [False, True])
def test_a_set_batch_as_the_first_entry_of_a_log_stores_watchs_floor_as_its_sets_would(tmp_path, track):
    pair = Pair(tmp_path, track=track, raise_version=False)
    with pair.grouped.ks.reader() as r:
        assert r.watch_floor() is None
    assert pair.apply([cmd("SET", "a", "1"), (cmd("SET", "b", "2"), "c1", 1)]) == [OK, OK]
    with pair.grouped.ks.reader() as r:
        assert r.watch_floor() is not None
    pair.same()


def test_the_dedup_table_is_pruned_per_set_as_when_each_was_an_entry(tmp_path):
    """Pruning is bounded per write applied (dedup.DEDUP_PRUNE_BATCH each): a SetBatch's SETs count
    one by one, so a batch of writes of new clients, an hour later, forgets as many old ones."""
    pair = Pair(tmp_path)
    pair.apply([(cmd("SET", f"k{i}", "v"), f"old-{i}", 1) for i in range(dedup.DEDUP_PRUNE_BATCH * 2 + 2)])
    later = NOW + dedup.DEDUP_WINDOW_MS + 1
    assert pair.apply([(cmd("SET", f"n{i}", "v"), f"new-{i}", 1) for i in range(3)], now_ms=later) == [OK] * 3
    pair.same()
    with pair.grouped.ks.reader() as r:
        assert r.meta_range(b"dedup/c/old-", 1) == [], "every client idle past the window was forgotten"


def test_a_run_of_plain_sets_is_one_entry_and_each_set_answers_for_itself(tmp_path):
    pair = Pair(tmp_path, max_value_bytes=MAX_VALUE_BYTES)
    writes = [cmd("SET", "a", "1"), cmd("SET", "b", "2", db=3), cmd("SET", "k" * 501, "v"),
              cmd("SET", "c", "x" * (MAX_VALUE_BYTES + 1)), cmd("SET", "a", "3")]
    entries = [pb.LogEntry(version=V, now_ms=NOW, seed=i, command=c) for i, c in enumerate(writes)]
    grouped, runs = entry_groups.group(entries)
    assert [e.command.WhichOneof("op") for e in grouped] == ["set_batch"] and runs == [("set", 5)]
    assert [(s.db, s.key[:2], len(s.value)) for s in grouped[0].command.set_batch.sets] == \
        [(0, b"a", 1), (3, b"b", 1), (0, b"kk", 1), (0, b"c", MAX_VALUE_BYTES + 1), (0, b"a", 1)]
    ok, ok3, long_key, long_value, again = pair.apply(writes)
    assert (ok, ok3, again) == (OK, OK, OK)
    assert isinstance(long_key, CommandError) and isinstance(long_value, CommandError)
    assert pair.grouped.get(b"a") == b"3" and pair.grouped.get(b"b", db=3) == b"2"
    pair.same()


def test_runs_break_at_other_writes_versions_and_eviction_modes_and_keep_identities():
    def entry(command, version=V, client_id="", eviction=pb.EVICT_BY_POLICY):
        command.eviction = eviction
        return pb.LogEntry(version=version, now_ms=NOW, client_id=client_id, sequence=7 if client_id else 0,
                           command=command)

    entries = [entry(cmd("SET", "a", "1")), entry(cmd("SET", "b", "1")), entry(cmd("INCR", "a")),
               entry(cmd("SET", "c", "1")), entry(cmd("SET", "d", "1", "NX")), entry(cmd("SET", "e", "1")),
               entry(cmd("SET", "f", "1"), client_id="lane"), entry(cmd("SET", "g", "1")),
               entry(cmd("SET", "h", "1"), eviction=pb.EVICT_NEVER), entry(cmd("SET", "i", "1"), version=V - 1),
               entry(cmd("SET", "j", "1"), version=V - 1)]
    grouped, runs = entry_groups.group(entries)
    assert [e.command.WhichOneof("op") for e in grouped] == \
        ["set_batch", "incr_by", "set", "set", "set_batch", "set", "set", "set"]
    assert runs == [("set", 2), *[entry_groups.ALONE] * 3, ("set", 3), *[entry_groups.ALONE] * 3]
    assert [(s.key, s.client_id, s.sequence) for s in grouped[4].command.set_batch.sets] == \
        [(b"e", "", 0), (b"f", "lane", 7), (b"g", "", 0)]
    assert entry_groups.group(entries[3:6]) == (entries[3:6], None)


def test_a_set_batch_that_fails_whole_gives_each_set_the_error():
    error = CommandError("the command carries fields this version does not know", Reason.INVALID_ARGUMENT)
    runs = [("set", 2), entry_groups.ALONE, ("set", 3)]
    assert entry_groups.expand([[OK, error], 7, error], runs) == [OK, error, 7, error, error, error]


def test_a_set_batch_in_an_entry_of_an_older_version_is_refused_alike_everywhere(tmp_path):
    node = Node(str(tmp_path))
    entry = pb.LogEntry(version=V - 1, now_ms=NOW)
    entry.command.set_batch.sets.add(key=b"k", value=b"v")
    node.index += 1
    result = node.sm.apply(node.index, commands.encode_entry(entry))
    assert isinstance(result, CommandError) and result.reason == Reason.INVALID_ARGUMENT
    assert node.get(b"k") is None and commands.required_version(entry.command) == V


def test_a_set_batch_with_fields_this_version_does_not_know_is_refused_whole(tmp_path):
    """As any command carrying unknown fields (StateMachine._execute): every SET of it answers
    the same error and none is stored, on every replica of this version."""
    node = Node(str(tmp_path))
    command = pb.Command()
    command.set_batch.sets.add(key=b"k", value=b"v")
    command.set_batch.sets.add(key=b"l", value=b"w")
    command = pb.Command.FromString(command.SerializeToString() + _UNKNOWN_FIELD)
    node.index += 1
    result = node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(version=V, now_ms=NOW, command=command)))
    assert isinstance(result, CommandError) and result.reason == Reason.INVALID_ARGUMENT
    assert entry_groups.expand([result], [("set", 2)]) == [result, result]
    assert node.get(b"k") is None and node.get(b"l") is None


def test_sets_past_maxmemory_evict_the_leaders_candidates_or_are_refused_each_as_alone(tmp_path):
    """Past maxmemory each SET of a batch takes room from the Evict at the head of its group
    commit as it would alone, by its own eviction mode: the cluster's policy evicts, the
    memcached port's -M (EVICT_NEVER) is refused."""
    pair = Pair(tmp_path, maxmemory_bytes=1 << 20)
    big = b"x" * 300_000
    assert pair.apply([cmd("SET", f"old{i}", big) for i in range(3)]) == [OK] * 3

    evict = pb.Command(evict=pb.Evict(mode=pb.EVICT_BY_POLICY, policy="allkeys-lru",
                                      candidates=[pb.DbKey(key=b"old%d" % i) for i in range(3)]))
    refused = pair.apply([evict, cmd("SET", "n1", big), cmd("SET", "n2", big)], eviction=pb.EVICT_NEVER)
    assert [r.reason for r in refused[1:]] == [Reason.OUT_OF_MEMORY] * 2
    taken = pair.apply([evict, cmd("SET", "p1", big), cmd("SET", "p2", big)])
    assert taken[1:] == [OK, OK] and pair.grouped.sm.evicted == {"allkeys-lru": 2}
    pair.same()


def test_sets_past_maxmemory_are_refused_each_as_alone(tmp_path):
    pair = Pair(tmp_path, maxmemory_bytes=1 << 20)
    big = b"x" * 300_000
    results = pair.apply([cmd("SET", f"k{i}", big) for i in range(4)], eviction=pb.EVICT_NEVER)
    assert results[:3] == [OK] * 3 and results[3].reason == Reason.OUT_OF_MEMORY
    results = pair.apply([cmd("SET", "k0", big), cmd("SET", "k9", big), cmd("SET", "small", "v")],
                         eviction=pb.EVICT_NEVER)
    assert results[0] == OK and results[1].reason == Reason.OUT_OF_MEMORY and results[2] == OK
    pair.same()


@pytest.mark.parametrize("track", [False, True])
def test_notifications_tracking_and_slots_see_each_set_of_a_batch(tmp_path, track):
    pair = Pair(tmp_path, track=track)
    pair.apply([_config("notify-keyspace-events", "KEA"), cmd("SET", "a", "1"), cmd("SET", "b", "2")])
    published = [e[1:3] for e in pair.events[pair.grouped]]
    assert (b"__keyevent@0__:set", b"a") in published and (b"__keyevent@0__:set", b"b") in published
    pair.apply([_config("notify-keyspace-events", ""), cmd("SET", "a", "3"), cmd("SET", "c", "4")])
    claim = pb.Command(claim_slots=pb.ClaimSlots(shard=1, epoch=1, ranges=[pb.SlotRange(first=0, last=0)]))
    pair.apply([claim, cmd("SET", "k", "w"), cmd("SET", "m", "w")])
    pair.same()


def test_a_bug_in_a_batch_costs_only_the_set_it_hits(tmp_path, monkeypatch):
    pair = Pair(tmp_path)
    break_plain_store(monkeypatch)
    # the batch is applied again, each write alone and the generic way: the plain path's bug costs nothing
    assert pair.apply([cmd("SET", "bad", "v"), cmd("SET", "good", "w")]) == [OK, OK]
    assert pair.grouped.get(b"bad") == b"v" and pair.grouped.get(b"good") == b"w"
    pair.same()


_KINDS = ["SET KEY v1", "SET KEY v2", "SET KEY " + "x" * MAX_VALUE_BYTES, "SET KEY " + "y" * (MAX_VALUE_BYTES + 1),
          "SET " + "k" * 501 + " v", "SET KEY v3 NX", "SET KEY v4 EX 9", "DEL KEY", "INCR KEY", "RPUSH KEY e",
          "db16", "notify-on", "notify-off", "value-limit"]


def _write(kind: str, key: bytes) -> pb.Command:
    special = {
        "db16": lambda: cmd("SET", key, "d", db=16),
        "notify-on": lambda: _config("notify-keyspace-events", "KEA"),
        "notify-off": lambda: _config("notify-keyspace-events", ""),
        "value-limit": lambda: _config("proto-max-bulk-len", "100"),
    }
    if kind in special:
        return special[kind]()
    return cmd(*kind.replace("KEY", key.decode()).split())


@st.composite
def plans(draw):
    """Group commits of writes, each with a client identity or none: two clients whose sequences
    repeat (a retry: its first outcome) and go back (a stale retry: refused)."""
    return [([(draw(st.sampled_from(_KINDS)), draw(st.sampled_from([b"a", b"b", b"c"])),
               (draw(st.sampled_from(["", "", "c1", "c2"])), draw(st.integers(0, 4))))
              for _ in range(draw(st.integers(1, 8)))],
             draw(st.sampled_from([0, 1, dedup.DEDUP_WINDOW_MS + 1])))   # (past the window: pruned)
            for _ in range(draw(st.integers(1, 5)))]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans(), track=st.booleans())
def test_any_mix_of_writes_ends_alike_grouped_or_not(tmp_path_factory, plan, track):
    pair = Pair(tmp_path_factory.mktemp("mix"), track=track, max_value_bytes=MAX_VALUE_BYTES)
    now = NOW
    for batch, advance in plan:
        pair.apply([(_write(kind, key), *identity) for kind, key, identity in batch], now)
        pair.same()
        now += advance
