"""The leader's eviction choices (node/service/evictor.py) and its access table
(node/service/access.py): each policy picks the keys Redis's would, the batch's
own keys and keys already named are never offered, and the victims, decided once,
leave every replica that applies them with the same keys."""

from __future__ import annotations

import random

import pytest

from raftcache.node import commands
from raftcache.node.commands import OK
from raftcache.node.service.access import LFU_INIT_VAL, REPORT_MAX_KEYS, AccessTable
from raftcache.node.service.evictor import MAX_CANDIDATES, Evictor, estimate_growth, headroom
from raftcache.node.storage.keyspace import record_bytes, snapshot_info
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import NOW, Node

MAXMEMORY = 1 << 20
VALUE = b"v" * 1000
RECORD = record_bytes(b"k000", len(VALUE))


# ---------------------------------------------------------------- the access table

def test_the_table_keeps_recency_and_forgets_the_least_recently_used_past_its_capacity():
    t = AccessTable(NOW, capacity=3)
    for i, key in enumerate((b"a", b"b", b"c")):
        t.record(0, key, NOW + i * 1000)
    t.record(0, b"a", NOW + 5000)
    t.record(0, b"d", NOW + 6000)          # b is the least recently used: forgotten
    assert len(t) == 3
    assert t.idle_ms(0, b"b", NOW + 10_000) == 10_000, "a key the table does not hold is idle since it began"
    assert t.idle_ms(0, b"a", NOW + 10_000) == 5000
    assert t.idle_ms(1, b"a", NOW + 10_000) == 10_000, "databases are apart"


def test_lfu_counters_grow_logarithmically_and_decay_per_period():
    t = AccessTable(NOW, rng=random.Random(1))
    t.record(0, b"new", NOW)
    assert t.freq(0, b"new", NOW) in (LFU_INIT_VAL, LFU_INIT_VAL + 1)
    for _ in range(10_000):
        t.record(0, b"hot", NOW)
    hot = t.freq(0, b"hot", NOW)
    assert 20 < hot < 255, hot
    assert t.freq(0, b"hot", NOW + 3 * 60_000) == hot - 3      # lfu-decay-time 1: one per minute
    t.configure(lfu_log_factor=10, lfu_decay_time=0)
    assert t.freq(0, b"hot", NOW + 3 * 60_000) == hot           # 0: never decays
    assert t.freq(0, b"never", NOW) == 0


def test_counters_are_kept_only_under_an_lfu_policy_and_recency_always():
    """As Redis: an LRU (or any other) policy keeps the access time only; the counters stand
    still until an LFU policy is in force again."""
    t = AccessTable(NOW, rng=random.Random(1))
    t.configure(lfu_log_factor=10, lfu_decay_time=1, lfu=False)
    for i in range(1000):
        t.record(0, b"hot", NOW + i)
    t.merge([(0, b"hot", 500, 0), (0, b"reported", 50, 0)], NOW + 5000)
    assert t.freq(0, b"hot", NOW + 5000) == t.freq(0, b"reported", NOW + 5000) == LFU_INIT_VAL
    assert t.idle_ms(0, b"hot", NOW + 5000) == 0 and t.idle_ms(0, b"reported", NOW + 5000) == 0
    t.configure(lfu_log_factor=10, lfu_decay_time=1, lfu=True)
    for _ in range(1000):
        t.record(0, b"hot", NOW + 5000)
    assert t.freq(0, b"hot", NOW + 5000) > LFU_INIT_VAL + 5


def test_follower_reports_are_bounded_and_merge_into_the_leaders_clock():
    follower = AccessTable(NOW)
    follower.reporting = True
    for i in range(REPORT_MAX_KEYS + 10):
        follower.record(0, b"k%d" % i, NOW)
    for _ in range(99):
        follower.record(0, b"k0", NOW + 400)
    report = follower.take_report(NOW + 1000)
    assert len(report) == REPORT_MAX_KEYS and follower.reports_dropped == 10
    assert (0, b"k0", 100, 600) in report
    assert follower.take_report(NOW + 2000) == []
    leader = AccessTable(NOW)
    leader.merge(report, NOW + 50_000)        # the leader's clock, less the age the follower saw
    assert leader.idle_ms(0, b"k0", NOW + 50_000) == 600
    assert leader.freq(0, b"k0", NOW + 50_000) > leader.freq(0, b"k1", NOW + 50_000)


def test_a_followers_reads_enter_its_own_table_with_the_report_or_when_asked():
    """A follower's read costs a report entry only: its own table takes the reads when the
    report is taken, or at once for a key OBJECT IDLETIME/FREQ asks about (reported still)."""
    follower = AccessTable(NOW)
    follower.reporting = True
    follower.record(0, b"asked", NOW + 100)
    follower.record(0, b"later", NOW + 200)
    assert not follower.holds(0, b"later")
    assert follower.idle_ms(0, b"asked", NOW + 300) == 200       # caught up for the question
    follower.record(0, b"asked", NOW + 250)
    assert follower.idle_ms(0, b"asked", NOW + 300) == 50
    report = follower.take_report(NOW + 1000)
    assert sorted(report) == [(0, b"asked", 2, 750), (0, b"later", 1, 800)]
    assert follower.holds(0, b"later") and follower.idle_ms(0, b"later", NOW + 1000) == 800
    assert follower.freq(0, b"asked", NOW + 1000) >= LFU_INIT_VAL


# ---------------------------------------------------------------- choosing victims

class Leader:
    """A keyspace full of keys, an access table and an Evictor over them."""

    def __init__(self, path: str, policy: str, samples: int = 5, seed: int = 7):
        self.node = Node(path, maxmemory_bytes=MAXMEMORY)
        self.access = AccessTable(NOW - 1000)
        self.settings = {"maxmemory-policy": policy, "maxmemory-samples": str(samples)}
        self.evictor = Evictor(self.node.ks, self.access, self.settings.__getitem__, random.Random(seed))

    def fill(self, keys: int, db: int = 0, ttl_ms=None, prefix=b"k") -> list[bytes]:
        names = [prefix + b"%03d" % i for i in range(keys)]
        for name in names:
            op = pb.Set(key=name, value=VALUE)
            if ttl_ms is not None:
                op.expiry.expire_at_ms = NOW + ttl_ms(name)
            assert self.node.run(db=db, set=op) == OK
        return names

    def plan(self, writes: list[pb.Command], now_ms: int = NOW, in_flight: int = 0):
        entries = [pb.LogEntry(now_ms=now_ms, command=c) for c in writes]
        growth = sum(estimate_growth(c) for c in writes)
        return self.evictor.plan(entries, growth, in_flight, now_ms)

    def victims(self, writes: list[pb.Command], **kw) -> list[tuple[int, bytes]]:
        evicts, named = self.plan(writes, **kw)
        self.evictor.release(named)
        return [(c.db, c.key) for e in evicts for c in e.command.evict.candidates]

    def close(self):
        self.node.ks.close()


def writes(n: int, size: int = len(VALUE), db: int = 0, eviction=pb.EVICT_BY_POLICY) -> list[pb.Command]:
    return [pb.Command(db=db, eviction=eviction, set=pb.Set(key=b"new%d" % i, value=b"x" * size)) for i in range(n)]


@pytest.fixture
def leader(tmp_path):
    made = []

    def make(policy: str, **kw) -> Leader:
        made.append(Leader(str(tmp_path / f"ks{len(made)}"), policy, **kw))
        return made[-1]

    yield make
    for x in made:
        x.close()


def test_no_eviction_is_planned_while_the_batch_fits(leader):
    x = leader("allkeys-lru")
    x.fill(100)
    assert x.plan(writes(3)) == ([], [])
    assert x.victims(writes(3), in_flight=MAXMEMORY) != [], "what is in flight counts"


def test_allkeys_lru_with_enough_samples_is_exact_lru(leader):
    x = leader("allkeys-lru", samples=64)
    keys = x.fill(40)
    for i, key in enumerate(keys):          # every key used; k000 longest ago
        x.access.record(0, key, NOW - 100_000 + i * 1000)
    filled = x.node.ks.used_bytes
    x.node.ks.maxmemory_bytes = filled      # full
    victims = x.victims(writes(3))
    assert victims == [(0, k) for k in keys[:len(victims)]] and len(victims) >= 3


def test_allkeys_lru_keeps_a_hot_set_with_redis_default_sampling(leader):
    x = leader("allkeys-lru")
    keys = x.fill(300)
    hot = set(keys[::10])
    for key in hot:
        x.access.record(0, key, NOW)
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    victims = x.victims(writes(100))
    assert len(victims) >= 100
    assert not hot & {k for _, k in victims}, "keys read just now are never the coldest of a sample"


def test_keys_the_table_never_saw_go_first_the_oldest_write_first(leader):
    x = leader("allkeys-lru", samples=64)
    keys = x.fill(30)
    for key in keys[:20]:
        x.access.record(0, key, NOW)
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    assert x.victims(writes(2))[:2] == [(0, keys[20]), (0, keys[21])]


def test_allkeys_lfu_evicts_the_least_frequently_used(leader):
    x = leader("allkeys-lfu", samples=64)
    keys = x.fill(30)
    for i, key in enumerate(keys):
        for _ in range(1 + 200 * (i != 7)):      # k007 read once, the others often
            x.access.record(0, key, NOW)
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    assert x.victims(writes(1))[0] == (0, keys[7])


def test_volatile_policies_offer_only_keys_with_a_deadline_and_none_without(leader):
    x = leader("volatile-lru")
    plain = x.fill(50)
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    assert x.victims(writes(3)) == [], "no key has a deadline: the writes will get -OOM"
    x.node.ks.maxmemory_bytes = MAXMEMORY
    volatile = x.fill(20, ttl_ms=lambda k: 60_000, prefix=b"t")
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    for policy in ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"):
        x.settings["maxmemory-policy"] = policy
        victims = {k for _, k in x.victims(writes(3))}
        assert victims and victims <= set(volatile) and not victims & set(plain), policy


def test_volatile_ttl_evicts_the_nearest_deadline_first(leader):
    x = leader("volatile-ttl")
    x.fill(20)
    keys = x.fill(30, ttl_ms=lambda k: 1000 * (100 - int(k[1:])), prefix=b"t")   # t029 expires first
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    assert x.victims(writes(4))[:4] == [(0, k) for k in keys[::-1][:4]]


def test_random_policies_and_noeviction(leader):
    x = leader("allkeys-random")
    keys = x.fill(50)
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    victims = x.victims(writes(5))
    assert len(victims) >= 5 and len(set(victims)) == len(victims) and {k for _, k in victims} <= set(keys)
    x.settings["maxmemory-policy"] = "noeviction"
    assert x.victims(writes(5)) == []


def test_memcached_writes_evict_least_recently_used_keys_of_database_0_whatever_the_policy(leader):
    x = leader("noeviction")
    x.fill(20, db=3, prefix=b"redis")
    mc = x.fill(20, db=0, prefix=b"mc")
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    assert x.victims(writes(2)) == []
    victims = x.victims(writes(2, eviction=pb.EVICT_LRU))
    assert victims and all(db == 0 and k in mc for db, k in victims)
    evicts, named = x.plan(writes(2, eviction=pb.EVICT_LRU))
    assert evicts[0].command.evict.policy == "memcached-lru" and evicts[0].command.evict.mode == pb.EVICT_LRU
    assert x.victims(writes(2, eviction=pb.EVICT_NEVER)) == []


def test_the_batchs_keys_are_never_offered_nor_keys_in_flight_named_again(leader):
    x = leader("allkeys-lru", samples=64)
    keys = x.fill(30)
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    overwrite = [pb.Command(set=pb.Set(key=k, value=b"y" * 2000)) for k in keys[:5]]
    first, named = x.plan(overwrite)
    offered = {c.key for c in first[0].command.evict.candidates}
    assert offered and not offered & set(keys[:5])
    second, named2 = x.plan(overwrite * 3, in_flight=sum(estimate_growth(c) for c in overwrite))
    assert not offered & {c.key for c in second[0].command.evict.candidates}, "in flight: not named twice"
    x.evictor.release(named + named2)


def test_volatile_ttl_repeats_candidates_in_flight_first_to_keep_the_order(leader):
    x = leader("volatile-ttl")
    keys = x.fill(30, ttl_ms=lambda k: 1000 * (100 - int(k[1:])), prefix=b"t")
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    first, named = x.plan(writes(2))
    offered = [c.key for c in first[0].command.evict.candidates]
    assert offered == keys[::-1][:len(offered)]
    second, named2 = x.plan(writes(12), in_flight=sum(estimate_growth(c) for c in writes(2)))
    again = [c.key for c in second[0].command.evict.candidates]
    # the first batch may leave some: they go first, in order; then the next nearest deadlines
    assert again == keys[::-1][:len(again)] and len(again) > len(offered)
    x.evictor.release(named + named2)


def test_work_is_bounded_per_entry(leader):
    x = leader("allkeys-lru")
    x.fill(700)
    x.node.ks.maxmemory_bytes = 1 << 20
    victims = x.victims(writes(1, size=2 << 20))
    assert len(victims) == MAX_CANDIDATES


def test_overdue_deletes_now_down_to_maxmemory(leader):
    x = leader("allkeys-lru")
    x.fill(100)
    assert x.evictor.overdue(NOW) == (None, [])
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes - 10 * RECORD
    entry, named = x.evictor.overdue(NOW)
    assert entry.command.evict.until_bytes == x.node.ks.maxmemory_bytes and len(named) >= 10
    x.evictor.release(named)
    x.settings["maxmemory-policy"] = "noeviction"
    assert x.evictor.overdue(NOW) == (None, [])


def test_the_victims_decided_once_leave_every_replica_with_the_same_keys(leader, tmp_path):
    x = leader("allkeys-lru")
    x.fill(200)
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    batch = writes(20)
    evicts, _ = x.plan(batch)
    entries = [*evicts, *(pb.LogEntry(now_ms=NOW, command=c) for c in batch)]
    for e in entries:
        e.version = commands.MAX_VERSION
    data = commands.encode_batch(entries)
    replicas = []
    for i in range(3):
        r = Leader(str(tmp_path / f"replica{i}"), "allkeys-lru")
        r.fill(200)
        r.node.ks.maxmemory_bytes = x.node.ks.maxmemory_bytes
        r.node.sm.apply(r.node.index + 1, data)
        r.node.ks.copy_to(str(tmp_path / f"copy{i}"))
        replicas.append(r)
    assert len({snapshot_info(str(tmp_path / f"copy{i}")).digest for i in range(3)}) == 1
    assert len({r.node.sm.evicted["allkeys-lru"] for r in replicas}) == 1
    assert all(r.node.ks.used_bytes <= x.node.ks.maxmemory_bytes for r in replicas)
    for r in replicas:
        r.close()


@pytest.mark.parametrize("op", [
    {"set": pb.Set(key=b"s", value=b"x" * 300)},
    {"mset": pb.MSet(pairs=[pb.KeyValue(key=b"m%d" % i, value=b"x" * 50) for i in range(10)])},
    {"append": pb.Append(key=b"s", value=b"y" * 100)},
    {"set_range": pb.SetRange(key=b"r", offset=5000, value=b"z")},
    {"setbit": pb.SetBit(key=b"b", offset=80_000, value=1)},
    {"hset": pb.HSet(key=b"h", pairs=[pb.KeyValue(key=b"f%d" % i, value=b"v") for i in range(300)])},
    {"zadd": pb.ZAdd(key=b"z", members=[pb.ScoreMember(score=i, member=b"%d" % i) for i in range(300)])},
    {"sadd": pb.SAdd(key=b"t", members=[b"%d" % i for i in range(300)])},
    {"push": pb.Push(key=b"l", values=[b"e"] * 300)},
    {"bitfield": pb.BitField(key=b"f", ops=[pb.BitFieldOp(kind=pb.BITFIELD_SET, bits=8, offset=80_000, value=7),
                                            pb.BitFieldOp(kind=pb.BITFIELD_GET, bits=8, offset=900_000)])},
])
def test_the_growth_estimate_bounds_what_a_write_adds(tmp_path, op):
    node = Node(str(tmp_path / "ks"))
    before = node.ks.used_bytes
    command = pb.Command(**op)
    result = node.run(**op)
    assert not isinstance(result, Exception)
    assert 0 < node.ks.used_bytes - before <= estimate_growth(command)
    node.ks.close()


def test_lru_still_finds_victims_when_the_tables_oldest_entries_are_gone(leader):
    x = leader("allkeys-lru")
    for i in range(2000):                       # keys read long ago, deleted since (another node's DEL)
        x.access.record(0, b"gone%d" % i, NOW - 10_000)
    keys = x.fill(50)
    for key in keys:
        x.access.record(0, key, NOW)
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    victims = x.victims(writes(3))
    assert len(victims) >= 3 and {k for _, k in victims} <= set(keys)


def test_a_value_larger_than_one_entrys_candidates_gets_room_over_retries(leader):
    x = leader("allkeys-lru")
    x.fill(700)                                      # ~750 KB in 700 keys
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    big = [pb.Command(set=pb.Set(key=b"big", value=b"b" * 600_000))]   # needs ~560 victims, 512 offered
    results = []
    for _ in range(2):
        evicts, named = x.plan(big)
        assert evicts[0].command.evict.HasField("until_bytes"), "too few to cover it: deleted now"
        entries = [*evicts, pb.LogEntry(now_ms=NOW, command=big[0])]
        for e in entries:
            e.version = commands.MAX_VERSION
        x.node.index += 1
        results.append(x.node.sm.apply(x.node.index, commands.encode_batch(entries))[-1])
        x.evictor.release(named)
        if results[-1] == OK:
            break
    assert results[-1] == OK and x.node.ks.used_bytes <= x.node.ks.maxmemory_bytes


def _apply(x: Leader, evicts: list, batch: list[pb.Command]) -> list:
    entries = [*evicts, *(pb.LogEntry(now_ms=NOW, command=c) for c in batch)]
    for e in entries:
        e.version = commands.MAX_VERSION
    x.node.index += 1
    return x.node.sm.apply(x.node.index, commands.encode_batch(entries))


def test_a_new_leaders_table_is_seeded_with_the_keys_it_never_saw_as_the_coldest(leader):
    x = leader("allkeys-lru")
    keys = x.fill(60)                       # written in this order (one log entry each)
    hot = keys[::3]
    for key in hot:                         # all this leader saw: reads reported since it began to lead
        x.access.record(0, key, NOW)
    x.evictor.start_seeding()
    assert x.evictor.seed_step(budget=25) > 0 and x.evictor.seed_step(budget=25) > 0
    while x.evictor.seed_step(budget=25):
        pass
    assert len(x.access) == 60
    assert x.access.idle_ms(0, keys[1], NOW) == 1000, "seeded keys are idle since the table began"
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    victims = [k for _, k in x.victims(writes(10))]
    assert len(victims) >= 10 and not set(victims) & set(hot), "the keys it saw used are the last to go"


def test_the_seeded_keys_go_oldest_write_first(leader):
    x = leader("allkeys-lru")
    keys = x.fill(40)
    x.evictor.start_seeding()
    while x.evictor.seed_step():
        pass
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    victims = [k for _, k in x.victims(writes(3))]
    assert victims == keys[:len(victims)]


def test_candidates_left_undeleted_stay_the_coldest_and_deleted_ones_leave_the_table(leader):
    x = leader("allkeys-lru")
    keys = x.fill(40)
    for i, key in enumerate(keys):
        x.access.record(0, key, NOW + i, RECORD)
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    evicts, named = x.plan(writes(2))
    offered = [c.key for c in evicts[0].command.evict.candidates]
    assert offered == keys[:len(offered)]
    assert not any(x.access.holds(0, k) for k in offered), "in flight: out of the table"
    x.evictor.release(named)                # proposed but never applied (a failed proposal)
    assert all(x.access.holds(0, k) for k in offered)
    evicts, named = x.plan(writes(2))
    assert [c.key for c in evicts[0].command.evict.candidates] == offered, "still the coldest, in order"
    results = _apply(x, evicts, writes(2))
    assert results[1:] == [OK, OK]
    x.evictor.release(named, results[:1])   # the Evict's reply: how many of its first candidates it deleted
    gone = [k for k in offered if x.node.get(k) is None]
    assert 0 < len(gone) == results[0] and gone == offered[:len(gone)]
    assert gone and not any(x.access.holds(0, k) for k in gone)
    assert all(x.access.holds(0, k) for k in offered if k not in gone)


def test_one_evict_deletes_ahead_and_makes_room_for_the_next_batches(leader):
    x = leader("allkeys-lru")
    keys = x.fill(200)
    for key in keys:
        x.access.record(0, key, NOW, RECORD)
    x.node.ks.maxmemory_bytes = maxmemory = x.node.ks.used_bytes
    batch = writes(2)
    evicts, named = x.plan(batch)
    growth = sum(estimate_growth(c) for c in batch)
    assert evicts[0].command.evict.until_bytes == maxmemory - headroom(maxmemory) - growth
    assert _apply(x, evicts, batch)[1:] == [OK, OK]
    x.evictor.release(named)
    assert x.node.ks.used_bytes <= maxmemory - headroom(maxmemory)
    follow = [pb.Command(set=pb.Set(key=b"next%d" % i, value=b"y" * 100)) for i in range(3)]
    assert x.plan(follow) == ([], []), "the headroom serves the next batch"
    assert _apply(x, [], follow) == [OK, OK, OK]


def test_the_table_keeps_the_size_a_write_gave_and_reads_keep_it():
    t = AccessTable(NOW)
    t.record(0, b"k", NOW, 180)
    t.record(0, b"k", NOW + 10)
    t.merge([(0, b"k", 3, 0)], NOW + 20)
    (_, packed), = t.oldest()
    assert packed >> t.SIZE_SHIFT == 180 and t.idle_ms(0, b"k", NOW + 30) == 10
    t.record(0, b"k", NOW + 40, 0)            # a write of unknown size
    (_, packed), = t.oldest()
    assert packed >> t.SIZE_SHIFT == 0


def test_keys_seeded_before_a_flush_applies_are_never_offered_once_gone(leader):
    x = leader("allkeys-lru")
    old = x.fill(30, prefix=b"old")
    x.access.clear()                         # FLUSHALL proposed: the table empties at once…
    x.evictor.start_seeding()
    while x.evictor.seed_step():             # …while the scan still sees the keyspace before it
        pass
    assert len(x.access) == 30
    assert x.node.run(flush_all=pb.FlushAll()) == OK
    new = x.fill(20, prefix=b"new")
    for key in new:
        x.access.record(0, key, NOW, RECORD)
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    victims = {k for _, k in x.victims(writes(3))}
    assert victims and victims <= set(new) and not victims & set(old)


def test_a_node_that_begins_to_lead_trusts_no_size_it_kept_before(leader):
    x = leader("allkeys-lru")
    keys = x.fill(30)
    for key in keys:
        x.access.record(0, key, NOW, RECORD)
    for key in keys[:10]:                    # deleted by another leader's writes while this node followed
        assert x.node.run(**{"del": pb.Del(keys=[key])}) == 1
    x.evictor.began_leading()
    x.node.ks.maxmemory_bytes = x.node.ks.used_bytes
    victims = {k for _, k in x.victims(writes(3))}
    assert victims and not victims & set(keys[:10]), "a key gone since is never offered"


@pytest.mark.parametrize("edit", [
    pb.Command(setbit=pb.SetBit(key=b"b", offset=8 * MAXMEMORY * 4, value=1)),
    pb.Command(set_range=pb.SetRange(key=b"r", offset=MAXMEMORY * 4, value=b"z")),
    pb.Command(eviction=99, bitfield=pb.BitField(key=b"f", ops=[
        pb.BitFieldOp(kind=pb.BITFIELD_INCRBY, bits=8, offset=8 * MAXMEMORY * 4, value=1)])),
])
def test_a_string_edit_past_the_value_limit_asks_no_room(leader, edit):
    """Apply refuses a SETRANGE / SETBIT / BITFIELD whose value would pass proto-max-bulk-len
    before it writes: it grows nothing, so it evicts nothing. (Its offset once counted as growth:
    the fuzzer saw one gRPC BITFIELD at a huge offset make the leader evict every key with a
    deadline, the canaries' among them, on a cluster far below maxmemory.)"""
    x = leader("volatile-lru")
    x.fill(100, ttl_ms=lambda name: 60_000)
    limit = MAXMEMORY // 2   # proto-max-bulk-len below maxmemory: the edit is refused at apply
    assert estimate_growth(edit, limit) == 0
    entries = [pb.LogEntry(now_ms=NOW, command=edit)]
    assert x.evictor.plan(entries, estimate_growth(edit, limit), 0, NOW, limit) == ([], [])
    assert estimate_growth(edit) > MAXMEMORY   # what the estimate said before, with no limit


@pytest.mark.parametrize("edit", [
    pb.Command(bitfield=pb.BitField(key=b"f", ops=[   # the fuzzer's: past any bit offset apply takes
        pb.BitFieldOp(kind=pb.BITFIELD_SET, bits=8, offset=1_178_700_480_847, value=1)])),
    pb.Command(bitfield=pb.BitField(key=b"f", ops=[   # a GET at a refused offset refuses the whole command
        pb.BitFieldOp(kind=pb.BITFIELD_SET, bits=8, offset=8 * MAXMEMORY * 4, value=1),
        pb.BitFieldOp(kind=pb.BITFIELD_GET, bits=8, offset=1 << 40)])),
    pb.Command(bitfield=pb.BitField(key=b"f", ops=[   # so does a type apply refuses (u64)
        pb.BitFieldOp(kind=pb.BITFIELD_SET, bits=64, offset=8 * MAXMEMORY * 4, value=1)])),
    pb.Command(setbit=pb.SetBit(key=b"b", offset=8 * MAXMEMORY * 4, value=2)),   # a bit that is not 0 or 1
    pb.Command(setbit=pb.SetBit(key=b"b", offset=1 << 32, value=1)),
])
def test_a_bit_edit_apply_refuses_for_its_arguments_asks_no_room(edit):
    assert estimate_growth(edit) == 0
