"""The plain SET's own apply path (StateMachine._apply_plain_set, strings.plain_set_deadline)
against the generic one: the same replies, records in every table, counters and events.

A node with a tracking client applies every SET the generic way (the plain path leaves
that case to it), so two nodes fed the same entries, one of them tracking, compare the
two paths entry by entry.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from raftcache.node import commands
from raftcache.node.commands import OK, dedup, strings
from raftcache.node.errors import CommandError, Reason
from raftcache.node.storage.keyspace import Record, ValueType
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_script_effects import cmd as build, tables
from tests.unit.test_statemachine import NOW, Node

KEYS = [b"a", b"b", b"c", b"h"]
MAX_VALUE_BYTES = 180
#: A varint field no release knows (number 111), appended to a command's encoding.
_UNKNOWN_FIELD = b"\xf8\x06\x01"


def cmd(*argv, db: int = 0) -> pb.Command:
    command = build(*argv, db=db)
    assert commands.stamp(command, NOW) is None   # as the leader does before it logs a write
    return command


class Pair:
    """Two nodes fed the same batches: `plain` takes the plain SET path, `generic` (a tracking
    client) does not."""

    def __init__(self, root, raise_version: bool = True, **limits):
        self.plain, self.generic = (Node(str(root / name), **limits) for name in ("p", "g"))
        self.events = {self.plain: [], self.generic: []}
        for node, events in self.events.items():
            node.sm.on_events = events.extend
        self.generic.sm.set_track_writes(True)
        if raise_version:
            self.apply([pb.Command(set_version=pb.SetVersion(version=commands.MAX_VERSION))])

    def apply(self, batch: list, now_ms: int = NOW) -> list:
        """One batch of commands, or of (command, version, client_id, sequence); the plain node's
        results after checking both nodes answered and published alike."""
        entries = []
        for i, item in enumerate(batch):
            command, version, client_id, sequence = (item, commands.MAX_VERSION, "", 0) \
                if isinstance(item, pb.Command) else item
            entries.append(pb.LogEntry(version=version, now_ms=now_ms, seed=i, command=command,
                                       client_id=client_id, sequence=sequence))
        data = commands.encode_entry(entries[0]) if len(entries) == 1 else commands.encode_batch(entries)
        results = []
        for node in (self.plain, self.generic):
            node.index += 1
            results.append(node.sm.apply(node.index, data))
        assert _comparable(results[0]) == _comparable(results[1])
        return results[0]

    def same(self) -> None:
        assert tables(self.plain) == tables(self.generic)   # (the dedup table and WATCH's floor are in meta)
        assert self.plain.sm.changes == self.generic.sm.changes
        assert self.plain.sm.evicted == self.generic.sm.evicted
        published = [e for e in self.events[self.generic] if e[0] != "invalidate"]   # (the tracking client's)
        assert self.events[self.plain] == published


def _comparable(result):
    if isinstance(result, list):
        return [_comparable(r) for r in result]
    return (type(result).__name__, result.message, result.reason) if isinstance(result, CommandError) else result


@pytest.fixture
def pair(tmp_path):
    return Pair(tmp_path)


def test_each_node_takes_its_path(pair, monkeypatch):
    written = []
    store = strings.store_plain_set
    monkeypatch.setattr(strings, "store_plain_set", lambda txn, *args: written.append(txn) or store(txn, *args))
    assert pair.apply([cmd("SET", "k", "v"), cmd("SET", "t", "v", "EX", 5)]) == [OK, OK]
    with pair.plain.ks.reader() as r:
        assert r.get(0, b"t", NOW).expires_at_ms == NOW + 5000
    assert len(written) == 2   # by the plain node only: the generic one reports each write to its client
    assert [e[0] for e in pair.events[pair.generic]] == ["invalidate", "invalidate"]
    pair.same()


def test_a_plain_set_passes(pair):
    with pair.plain.ks.writer(pair.plain.index + 1) as txn:
        assert strings.plain_set_deadline(txn, cmd("SET", "k", "v"), NOW, pair.plain.config) == 0
        assert strings.plain_set_deadline(txn, cmd("SET", "t", "v", "PX", 500), NOW, pair.plain.config) == NOW + 500
        assert strings.store_plain_set(txn, 0, b"k", b"v", 0, 9) == OK
        assert txn.get(0, b"k", NOW) == Record(ValueType.STRING, b"v", 0, 9, 0)


@pytest.mark.parametrize("command", [
    cmd("SET", "k", "v", "NX"), cmd("SET", "k", "v", "XX"), cmd("SET", "k", "v", "GET"), cmd("SET", "k", "v", "KEEPTTL"),
    cmd("SET", "k", "v", "PXAT", NOW), cmd("SET", "k", "v", "PXAT", NOW - 5), cmd("SET", "k" * 501, "v"),
    cmd("SET", "k", "v", db=16), pb.Command(set=pb.Set(key=b"k", value=b"v", flags=3)),
    pb.Command(set=pb.Set(key=b"k", value=b"v", cas_index=1)), pb.Command(asking=True, set=pb.Set(key=b"k", value=b"v")),
    pb.Command(set=pb.Set(key=b"k", value=b"v", expiry=pb.Expiry(expire_at_ms=NOW + 9, keep_ttl=True))),
    pb.Command(set=pb.Set(key=b"k", value=b"v", expiry=pb.Expiry(ttl_ms=9))),
], ids=repr)
def test_any_other_set_is_left_to_the_generic_path(pair, command):
    with pair.plain.ks.writer(pair.plain.index + 1) as txn:
        assert strings.plain_set_deadline(txn, command, NOW, pair.plain.config) is None


@pytest.mark.parametrize("command", [
    cmd("SET", "k", "v", "NX"), cmd("SET", "k", "v", "XX"), cmd("SET", "k", "v", "GET"), cmd("SET", "k", "v", "KEEPTTL"),
    cmd("SET", "k", "v", "PX", 500), pb.Command(set=pb.Set(key=b"k", value=b"v", flags=3)),
    pb.Command(set=pb.Set(key=b"k", value=b"v", cas_index=0)), pb.Command(asking=True, set=pb.Set(key=b"k", value=b"v")),
    pb.Command(set=pb.Set(key=b"k", value=b"v", stale_if_older=True)),
    pb.Command(set=pb.Set(key=b"k", value=b"v", expiry=pb.Expiry(ttl_ms=9))), cmd("GET", "k"),
], ids=repr)
def test_a_set_with_an_option_is_not_proposed_as_a_plain_set(command):
    """strings.is_plain_set: only `SET key value` (any database, any size: the limits are the
    proposer's check) is proposed without stamping; any option, even one at its default value
    (cas_index 0), is not."""
    assert strings.is_plain_set(cmd("SET", "k", "v")) and strings.is_plain_set(cmd("SET", "", "", db=3))
    assert not strings.is_plain_set(command)


def test_a_set_that_could_pass_maxmemory_is_left_to_the_generic_path(tmp_path):
    pair = Pair(tmp_path, maxmemory_bytes=1 << 20)
    big = b"x" * 300_000
    *taken, refused = pair.apply([cmd("SET", f"k{i}", big) for i in range(4)])
    assert taken == [OK, OK, OK] and refused.reason == Reason.OUT_OF_MEMORY
    replaced, refused = pair.apply([cmd("SET", "k0", big), cmd("SET", "k9", big)])
    assert replaced == OK and refused.reason == Reason.OUT_OF_MEMORY   # a write that does not grow the data is taken
    pair.same()


def test_notifications_switched_on_earlier_in_the_batch_count_for_the_sets_after_it(pair):
    notify = pb.Command(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="notify-keyspace-events", value="KEA")]))
    assert pair.apply([notify, cmd("SET", "k", "v")]) == [OK, OK]
    assert (b"__keyevent@0__:set", b"k") in [e[1:3] for e in pair.events[pair.plain]]
    pair.same()


def test_slots_claimed_earlier_in_the_batch_count_for_the_sets_after_it(pair):
    claim = pb.Command(claim_slots=pb.ClaimSlots(shard=1, epoch=1, ranges=[pb.SlotRange(first=0, last=0)]))
    _, refused = pair.apply([claim, cmd("SET", "k", "w")])
    assert refused.reason == Reason.WRONG_SHARD
    pair.same()


def break_plain_store(monkeypatch, bad: bytes = b"bad") -> None:
    """The plain path's store raises for the key `bad` (a bug), as the generic path does not."""
    store = strings.store_plain_set

    def broken(txn, db, key, value, deadline, index):
        if key == bad:
            raise RuntimeError("a bug in the plain path")
        return store(txn, db, key, value, deadline, index)

    monkeypatch.setattr(strings, "store_plain_set", broken)


def test_a_plain_write_that_raises_is_applied_again_the_generic_way(pair, monkeypatch):
    break_plain_store(monkeypatch)
    pair.generic.sm.set_track_writes(False)   # both on the plain path: the retry of the batch is what is tested
    # the batch is applied again, each write alone and the generic way: the plain path's bug costs nothing
    assert pair.apply([cmd("SET", "bad", "v"), cmd("SET", "good", "w")]) == [OK, OK]
    assert pair.plain.get(b"bad") == b"v" and pair.plain.get(b"good") == b"w"


def _unknown_field(command: pb.Command) -> pb.Command:
    out = pb.Command()
    out.ParseFromString(command.SerializeToString() + _UNKNOWN_FIELD)
    return out


def _item(kind: str, key: bytes, sequence: int):
    """One entry of the plan: a command, or (command, version, client_id, sequence)."""
    special = {
        "mc-flags": lambda: pb.Command(set=pb.Set(key=key, value=b"mc", flags=7)),
        "mc-cas": lambda: pb.Command(set=pb.Set(key=key, value=b"cas", cas_index=sequence % 3)),
        "mc-stale": lambda: pb.Command(set=pb.Set(key=key, value=b"st", cas_index=1, stale_if_older=True)),
        "keepttl-at": lambda: pb.Command(set=pb.Set(key=key, value=b"k", expiry=pb.Expiry(expire_at_ms=NOW + 9,
                                                                                          keep_ttl=True))),
        "persist-at": lambda: pb.Command(set=pb.Set(key=key, value=b"p", expiry=pb.Expiry(expire_at_ms=NOW + 9,
                                                                                          persist=True))),
        "unknown-field": lambda: _unknown_field(cmd("SET", key, "u")),
        "db16": lambda: cmd("SET", key, "d", db=16),
        "notify-on": lambda: pb.Command(config_set=pb.ConfigSet(parameters=[
            pb.ConfigPair(name="notify-keyspace-events", value="KEA")])),
        "notify-off": lambda: pb.Command(config_set=pb.ConfigSet(parameters=[
            pb.ConfigPair(name="notify-keyspace-events", value="")])),
        "value-limit": lambda: pb.Command(config_set=pb.ConfigSet(parameters=[
            pb.ConfigPair(name="proto-max-bulk-len", value="100")])),
    }
    if kind in special:
        return special[kind]()
    if kind == "client":       # a deduplicated write; a repeated sequence is answered from the table
        return cmd("SET", key, f"c{sequence}"), commands.MAX_VERSION, "client-1", sequence // 2 + 1
    if kind == "client-no-sequence":   # an identity without a sequence: not deduplicated
        return cmd("SET", key, "c0"), commands.MAX_VERSION, "client-1", 0
    if kind == "version-5":    # before WATCH's version
        return cmd("SET", key, "5"), commands.WATCH_VERSION - 1, "", 0
    if kind == "asking-9":     # ASKING in an entry of a version that does not know it
        return pb.Command(asking=True, set=pb.Set(key=key, value=b"9")), commands.RESHARD_VERSION - 1, "", 0
    return cmd(*kind.replace("KEY", key.decode()).split())


_KINDS = [
    "SET KEY v1", "SET KEY v2 EX 9", "SET KEY v3 PX 1", "SET KEY v4 PXAT 1", "SET KEY v5 NX", "SET KEY v6 XX GET",
    "SET KEY v7 KEEPTTL", "SET KEY " + "x" * MAX_VALUE_BYTES, "SET KEY " + "y" * (MAX_VALUE_BYTES + 1), "DEL KEY",
    "PEXPIRE KEY 1", "HSET KEY f " + "x" * 150, "HSET KEY g 1", "RPUSH KEY e", "INCR KEY", "SET " + "k" * 501 + " v",
    "mc-flags", "mc-cas", "mc-stale", "keepttl-at", "persist-at", "unknown-field", "db16", "client", "client", "client-no-sequence",
    "version-5", "asking-9", "notify-on", "notify-off", "value-limit",
]


@pytest.mark.parametrize("kind", sorted(set(_KINDS)))
def test_the_first_entry_of_a_log_leaves_the_same_tables_by_either_path(tmp_path, kind):
    pair = Pair(tmp_path, raise_version=False, max_value_bytes=MAX_VALUE_BYTES)
    pair.apply([_item(kind, b"a", 1)])   # (WATCH's floor stored by the first entry of version 6 or later)
    pair.same()


def _identified(item, identity: tuple[str, int]):
    """`item` with a client identity (a forwarded or SDK write, a replay, a stale sequence), unless
    it is an entry of its own kind already."""
    return item if not isinstance(item, pb.Command) or not identity[0] else (item, commands.MAX_VERSION, *identity)


@st.composite
def plans(draw):
    out = []
    for _ in range(draw(st.integers(1, 6))):
        batch = [(draw(st.sampled_from(_KINDS)), draw(st.sampled_from(KEYS)), draw(st.integers(0, 5)),
                  (draw(st.sampled_from(["", "", "c1", "c2"])), draw(st.integers(0, 4))))
                 for _ in range(draw(st.integers(1, 6)))]
        # keys set to expire in 1 ms are gone for the next batch; past the dedup window its table is pruned
        out.append((batch, draw(st.sampled_from([0, 1, 3, dedup.DEDUP_WINDOW_MS + 1]))))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans())
def test_any_mix_of_writes_ends_alike_by_either_path(tmp_path_factory, plan):
    pair = Pair(tmp_path_factory.mktemp("mix"), raise_version=False, max_value_bytes=MAX_VALUE_BYTES)
    now = NOW
    with pair.plain.ks.reader() as r:
        assert r.watch_floor() is None   # the first entry of version 6 or later stores WATCH's floor
    for batch, advance in plan:
        pair.apply([_identified(_item(kind, key, sequence), identity) for kind, key, sequence, identity in batch], now)
        pair.same()
        now += advance
