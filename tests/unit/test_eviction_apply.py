"""Apply side of eviction (node/commands/eviction.py, node/commands/quota.py): the
leader's Evict candidates are deleted in order, only as far as the replicated
used-bytes counter needs, never a key the write itself names, and identically
on every replica; without candidates a write past maxmemory is still -OOM."""

from __future__ import annotations

import pytest

from raftcache.node import commands, scripting
from raftcache.node.commands import OK
from raftcache.node.errors import CommandError, Reason
from raftcache.node.storage.keyspace import record_bytes, snapshot_info
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import NOW, Node

MAXMEMORY = 1 << 20
VALUE = b"v" * 1000


def entry(db=0, eviction=pb.EVICT_BY_POLICY, **op) -> pb.LogEntry:
    return pb.LogEntry(version=commands.MAX_VERSION, now_ms=NOW, command=pb.Command(db=db, eviction=eviction, **op))


def evict_entry(keys, mode=pb.EVICT_BY_POLICY, policy="allkeys-lru", until=None) -> pb.LogEntry:
    op = pb.Evict(candidates=[pb.DbKey(db=db, key=k) for db, k in keys], mode=mode, policy=policy)
    if until is not None:
        op.until_bytes = until
    return entry(evict=op)


def set_entry(key: bytes, value: bytes = VALUE, **kw) -> pb.LogEntry:
    return entry(set=pb.Set(key=key, value=value), **kw)


def apply_batch(node: Node, entries: list[pb.LogEntry]) -> list:
    node.index += 1
    return node.sm.apply(node.index, commands.encode_batch(entries))


def fill(node: Node) -> list[bytes]:
    """Keys k0, k1, … of VALUE until the next one would not fit maxmemory."""
    keys = []
    while node.ks.used_bytes + record_bytes(b"k%d" % len(keys), len(VALUE)) <= MAXMEMORY:
        key = b"k%d" % len(keys)
        assert node.run(set=pb.Set(key=key, value=VALUE)) == OK
        keys.append(key)
    return keys


@pytest.fixture
def full(tmp_path):
    n = Node(str(tmp_path / "ks"), maxmemory_bytes=MAXMEMORY)
    keys = fill(n)
    yield n, keys
    n.ks.close()


def exists(node: Node, key: bytes, db: int = 0) -> bool:
    return node.read(db, exists=pb.Exists(keys=[key])) == 1


def test_without_candidates_a_write_past_maxmemory_is_oom(full):
    node, _ = full
    result = node.run(set=pb.Set(key=b"new", value=VALUE))
    assert isinstance(result, CommandError) and result.reason == Reason.OUT_OF_MEMORY


def test_a_write_evicts_the_offered_candidates_in_order_only_as_far_as_it_needs(full):
    node, keys = full
    offered = [(0, keys[5]), (0, keys[2]), (0, keys[9])]
    results = apply_batch(node, [evict_entry(offered), set_entry(b"new")])
    assert results == [0, OK]
    assert not exists(node, keys[5]) and exists(node, keys[2]) and exists(node, keys[9])
    assert node.sm.evicted == {"allkeys-lru": 1}
    assert node.ks.used_bytes <= MAXMEMORY


def test_the_rest_of_the_candidates_serve_later_writes_of_the_same_entry(full):
    node, keys = full
    offered = [(0, keys[i]) for i in (3, 1, 4)]
    results = apply_batch(node, [evict_entry(offered), set_entry(b"a"), set_entry(b"b"), set_entry(b"c"),
                                 set_entry(b"d")])
    assert results[:4] == [0, OK, OK, OK]
    assert results[4].reason == Reason.OUT_OF_MEMORY      # the candidates ran out
    assert [exists(node, keys[i]) for i in (3, 1, 4)] == [False, False, False]
    assert node.sm.evicted == {"allkeys-lru": 3}


def test_a_write_never_evicts_a_key_it_names(full):
    node, keys = full
    grown = keys[0]
    results = apply_batch(node, [evict_entry([(0, grown), (0, keys[1])]),
                                 entry(append=pb.Append(key=grown, value=b"x" * 1500))])
    assert results[1] == len(VALUE) + 1500
    assert exists(node, grown) and not exists(node, keys[1])


def test_a_refused_write_undoes_its_evictions(full):
    node, keys = full
    big = b"x" * (3 * len(VALUE))   # needs three candidates, only one is offered
    results = apply_batch(node, [evict_entry([(0, keys[0])]), set_entry(b"big", big)])
    assert results[1].reason == Reason.OUT_OF_MEMORY
    assert exists(node, keys[0]), "the candidate's deletion was rolled back with the write"
    assert node.sm.evicted == {}


def test_never_mode_writes_do_not_evict_and_modes_have_their_own_candidates(full):
    node, keys = full
    results = apply_batch(node, [
        evict_entry([(0, keys[0])], mode=pb.EVICT_LRU, policy="memcached-lru"),
        set_entry(b"redis"),                                  # EVICT_BY_POLICY: none offered
        set_entry(b"mc-M", eviction=pb.EVICT_NEVER),         # -M: never evicts
        set_entry(b"mc", eviction=pb.EVICT_LRU),
    ])
    assert [r == OK if not isinstance(r, CommandError) else r.reason for r in results[1:]] == [
        Reason.OUT_OF_MEMORY, Reason.OUT_OF_MEMORY, True]
    assert node.sm.evicted == {"memcached-lru": 1}


def test_evict_with_until_bytes_deletes_now_and_candidates_of_other_databases_count(full):
    node, keys = full
    target = node.ks.used_bytes - 2 * record_bytes(keys[0], len(VALUE))
    result = apply_batch(node, [evict_entry([(0, keys[7]), (0, b"gone"), (0, keys[8]), (0, keys[9])],
                                            until=target)])
    assert result == [2]
    assert not exists(node, keys[7]) and not exists(node, keys[8]) and exists(node, keys[9])


def test_candidates_in_a_database_the_node_does_not_have_are_ignored(full):
    node, keys = full
    assert apply_batch(node, [evict_entry([(999, keys[0]), (0, keys[1])], until=0)]) == [1]
    assert exists(node, keys[0])


def test_every_replica_evicts_the_same_keys(tmp_path):
    replicas = [Node(str(tmp_path / f"r{i}"), maxmemory_bytes=MAXMEMORY) for i in range(3)]
    for n in replicas:
        keys = fill(n)
    offered = [(0, keys[i]) for i in (10, 3, 7, 1, 12)]
    batch = [evict_entry(offered), set_entry(b"a"), set_entry(b"b", b"y" * 1500), set_entry(b"c")]
    for n in replicas:
        assert apply_batch(n, batch) == [0, OK, OK, OK]
    for i, n in enumerate(replicas):
        n.ks.copy_to(str(tmp_path / f"copy{i}"))
    digests = {snapshot_info(str(tmp_path / f"copy{i}")).digest for i in range(3)}
    assert len(digests) == 1
    counts = {n.sm.evicted["allkeys-lru"] for n in replicas}
    assert len(counts) == 1 and counts.pop() >= 3
    for n in replicas:
        n.ks.close()


def test_a_transaction_evicts_for_each_command_that_needs_room(full):
    node, keys = full
    sub = [pb.Command(set=pb.Set(key=b"t%d" % i, value=VALUE)) for i in range(2)]
    results = apply_batch(node, [evict_entry([(0, keys[0]), (0, keys[1])]),
                                 entry(transaction=pb.Transaction(commands=sub))])
    assert results[1] == [OK, OK]
    assert not exists(node, keys[0]) and not exists(node, keys[1])


def test_a_queued_command_past_maxmemory_is_undone_alone(full):
    """A queued command that would pass maxmemory is refused with OOM and undone alone, the
    commands before and after it kept, as Redis runs each one."""
    node, keys = full
    sub = [pb.Command(**{"del": pb.Del(keys=[keys[0], keys[1]])}),
           pb.Command(set=pb.Set(key=b"huge", value=b"y" * 4000)),    # more than the two freed
           pb.Command(set=pb.Set(key=b"small", value=VALUE)),
           pb.Command(get=pb.Get(key=b"small"))]
    results = apply_batch(node, [entry(transaction=pb.Transaction(commands=sub))])[0]
    assert results[0] == 2 and results[2] == OK and results[3] == VALUE
    assert isinstance(results[1], CommandError) and results[1].reason == Reason.OUT_OF_MEMORY
    assert not exists(node, b"huge") and exists(node, b"small") and not exists(node, keys[0])
    assert node.ks.used_bytes <= MAXMEMORY


def test_config_set_is_checked_by_the_rules_of_the_entrys_version(tmp_path):
    node = Node(str(tmp_path / "ks"))

    def config_set(version: int, **pairs):
        node.index += 1
        op = pb.ConfigSet(parameters=[pb.ConfigPair(name=k.replace("_", "-"), value=v) for k, v in pairs.items()])
        entry = pb.LogEntry(version=version, now_ms=NOW, command=pb.Command(config_set=op))
        return node.sm.apply(node.index, commands.encode_entry(entry))

    # version 3 replicas accept only noeviction and take any text for the tunables: so must this binary
    refused = config_set(3, maxmemory_policy="allkeys-lru")
    assert isinstance(refused, CommandError) and "version 4" in refused.message
    assert config_set(3, maxmemory_samples="lots") == OK
    assert config_set(4, maxmemory_policy="allkeys-lru") == OK
    assert isinstance(config_set(4, maxmemory_samples="lots"), CommandError)
    node.ks.close()


def test_an_eviction_is_an_evicted_keyspace_notification_before_its_writes_event(full):
    node, keys = full
    assert node.run(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="notify-keyspace-events",
                                                                       value="KEe$")])) == OK
    published = []
    node.sm.on_events = published.extend
    assert apply_batch(node, [evict_entry([(0, keys[4])]), set_entry(b"new")]) == [0, OK]
    assert published == [
        ("message", b"__keyspace@0__:" + keys[4], b"evicted", False),
        ("message", b"__keyevent@0__:evicted", keys[4], False),
        ("message", b"__keyspace@0__:new", b"set", False),
        ("message", b"__keyevent@0__:set", b"new", False),
    ]


def test_evictions_a_failed_script_made_room_with_are_undone_and_not_counted(full):
    """A script's command that passes maxmemory evicts the entry's candidates (log version 19);
    when the script then fails, its writes and those evictions are undone, and neither INFO's
    evicted_keys nor the `evicted` notifications count them; a script kept counts them."""
    scripting.install()
    node, keys = full
    failing = pb.Eval(body=b"redis.call('set', KEYS[1], ARGV[1]) return redis.call('incr', KEYS[1])",
                      keys=[b"new"], args=[VALUE])
    result = apply_batch(node, [evict_entry([(0, keys[0]), (0, keys[1])]), entry(eval=failing)])
    assert isinstance(result[1], CommandError) and "not an integer" in result[1].message
    assert exists(node, keys[0]) and not exists(node, b"new")
    assert node.sm.evicted == {}
    kept = pb.Eval(body=b"return redis.call('set', KEYS[1], ARGV[1])", keys=[b"new"], args=[VALUE])
    assert apply_batch(node, [evict_entry([(0, keys[0]), (0, keys[1])]), entry(eval=kept)])[1] == OK
    assert not exists(node, keys[0]) and exists(node, b"new")
    assert node.sm.evicted == {"allkeys-lru": 1}
