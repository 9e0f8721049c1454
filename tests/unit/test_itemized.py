"""Large hashes, sets, lists and sorted sets stored one record per element
(node/storage/itemview.py and its subclasses, the keyspace's items database): the same
replies as small ones (differential tests against inline twins), a write that
touches O(1) records, and elements that follow their key through RENAME, MOVE,
COPY, SWAPDB, DEL, expiry, overwrites and rolled-back writes without leaking a byte."""

from __future__ import annotations

import random

import pytest
from raftcache.node import commands, scripting
from raftcache.node.commands import hashes, lists, strings
from raftcache.node.storage import itemview
from raftcache.node.storage.itemview import INLINE_MAX
from raftcache.node.storage.keyspace import container_ref, is_itemized, snapshot_info
from raftcache.node.commands.quota import run_with_quota
from raftcache.node.commands.strings import Ctx
from raftcache.node.errors import CommandError
from raftcache.proto import commands_pb2 as pb

from tests.unit.test_statemachine import NOW, Node

BIG = INLINE_MAX * 3
scripting.install()   # (the rollback test below runs a script)


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    yield n
    n.ks.close()


def _hset(node, key, pairs, db=0, **kw):
    return node.run(db=db, hset=pb.HSet(key=key, pairs=[pb.KeyValue(key=k, value=v) for k, v in pairs], **kw))


def _sadd(node, key, members, db=0):
    return node.run(db=db, sadd=pb.SAdd(key=key, members=list(members)))


def _fields(n, prefix=b"f"):
    return [(prefix + b"%d" % i, b"v%d" % i) for i in range(n)]


def _record(node, key, db=0):
    with node.ks.reader() as r:
        return r.get_raw(db, key)


def _item_count(node):
    with node.ks.reader() as r:
        return sum(1 for _ in r._txn.cursor(db=node.ks._items).iternext(keys=True, values=False))


def _used(node):
    return node.ks.stats().used_bytes


def _hgetall(node, key, db=0):
    flat = node.read(db=db, hgetall=pb.HGetAll(key=key))
    return dict(zip(flat[0::2], flat[1::2]))


def test_a_hash_past_the_inline_limit_is_itemized_and_answers_the_same(node):
    pairs = _fields(BIG)
    assert _hset(node, b"h", pairs[:INLINE_MAX]) == INLINE_MAX
    assert not is_itemized(_record(node, b"h"))
    assert _hset(node, b"h", pairs[INLINE_MAX:]) == BIG - INLINE_MAX
    record = _record(node, b"h")
    assert is_itemized(record) and container_ref(record)[1] == BIG
    assert len(record.value) == 16  # the record no longer holds the elements
    assert _hgetall(node, b"h") == dict(pairs)
    assert node.read(hlen=pb.HLen(key=b"h")) == BIG
    assert node.read(hget=pb.HGet(key=b"h", field=b"f7")) == b"v7"
    assert node.read(hmget=pb.HMGet(key=b"h", fields=[b"f1", b"nope"])) == [b"v1", None]
    assert node.read(hexists=pb.HExists(key=b"h", field=b"f300")) == 1
    assert node.read(hstrlen=pb.HStrLen(key=b"h", field=b"f300")) == 4
    assert _hset(node, b"h", [(b"f1", b"new")]) == 0
    assert node.run(hincrby=pb.HIncrBy(key=b"h", field=b"n", delta=5)) == 5
    assert node.read(hlen=pb.HLen(key=b"h")) == BIG + 1
    assert node.run(hdel=pb.HDel(key=b"h", fields=[b"f1", b"n", b"nope"])) == 2
    assert node.read(hget=pb.HGet(key=b"h", field=b"f1")) is None
    assert node.read(hlen=pb.HLen(key=b"h")) == BIG - 1


def test_a_write_to_an_itemized_hash_changes_a_few_records_not_the_whole_value(node):
    _hset(node, b"h", _fields(BIG))
    before = _used(node)
    node.index += 1
    with node.ks.writer(node.index) as txn:
        ctx = Ctx(txn, 0, NOW, node.index, 1 << 20)
        assert hashes.hset(ctx, pb.HSet(key=b"h", pairs=[pb.KeyValue(key=b"x", value=b"y")])) == 1
        assert txn.writes == 2  # one item, one container record
    assert _used(node) == before + 4 + len(b"x") + len(b"y") + 16  # hash prefix, field, value, overhead


def test_emptying_an_itemized_container_deletes_the_key_and_every_byte(node):
    base = _used(node)
    _sadd(node, b"s", [b"m%d" % i for i in range(BIG)])
    assert is_itemized(_record(node, b"s"))
    assert node.run(srem=pb.SRem(key=b"s", members=[b"m%d" % i for i in range(BIG)])) == BIG
    assert node.read(exists=pb.Exists(keys=[b"s"])) == 0
    assert _item_count(node) == 0
    assert _used(node) == base


@pytest.mark.parametrize("remove", [
    lambda n: n.run(**{"del": pb.Del(keys=[b"h"])}),
    lambda n: n.run(set=pb.Set(key=b"h", value=b"a string now")),
    lambda n: n.run(flush_db=pb.FlushDb()),
    lambda n: n.run(flush_all=pb.FlushAll()),
    lambda n: n.run(expire=pb.Expire(key=b"h", expiry=pb.Expiry(ttl_ms=-1))),
])
def test_deleting_or_overwriting_the_key_frees_its_elements(node, remove):
    _hset(node, b"h", _fields(BIG))
    assert _item_count(node) == BIG
    remove(node)
    assert _item_count(node) == 0
    assert node.read(type=pb.Type(key=b"h")) in ("none", "string")


def test_an_expired_itemized_hash_reads_as_absent_and_is_replaced_cleanly(node):
    _hset(node, b"h", _fields(BIG))
    node.run(expire=pb.Expire(key=b"h", expiry=pb.Expiry(ttl_ms=1000)))
    node.now_ms = NOW + 5000
    assert node.read(hlen=pb.HLen(key=b"h")) == 0
    assert _hset(node, b"h", [(b"a", b"1")]) == 1  # a new, small hash where the expired one was
    assert _hgetall(node, b"h") == {b"a": b"1"}
    assert _item_count(node) == 0


def test_rename_move_and_swapdb_keep_the_elements_with_the_key(node):
    pairs = dict(_fields(BIG))
    _hset(node, b"h", pairs.items())
    assert node.run(rename=pb.Rename(key=b"h", new_key=b"h2")) is not None
    assert _hgetall(node, b"h2") == pairs
    assert node.run(move=pb.Move(key=b"h2", destination_db=3)) == 1
    assert _hgetall(node, b"h2", db=3) == pairs
    node.run(db=3, swap_db=pb.SwapDb(other_db=5))
    assert _hgetall(node, b"h2", db=5) == pairs
    assert _item_count(node) == BIG


def test_swapdb_frees_the_elements_of_an_expired_container(node):
    _hset(node, b"gone", _fields(BIG))
    node.run(expire=pb.Expire(key=b"gone", expiry=pb.Expiry(ttl_ms=1000)))
    _hset(node, b"kept", _fields(BIG, b"k"), db=1)
    node.now_ms = NOW + 5000
    node.run(swap_db=pb.SwapDb(other_db=1))
    assert _hgetall(node, b"kept") == dict(_fields(BIG, b"k"))
    assert _item_count(node) == BIG


def test_copy_gets_its_own_elements(node):
    _sadd(node, b"s", [b"m%d" % i for i in range(BIG)])
    assert node.run(copy=pb.Copy(key=b"s", new_key=b"c", destination_db=-1)) == 1
    node.run(srem=pb.SRem(key=b"c", members=[b"m1", b"m2"]))
    assert node.read(scard=pb.SCard(key=b"s")) == BIG
    assert node.read(scard=pb.SCard(key=b"c")) == BIG - 2
    node.run(**{"del": pb.Del(keys=[b"s"])})
    assert node.read(scard=pb.SCard(key=b"c")) == BIG - 2
    assert _item_count(node) == BIG - 2


def test_a_refused_write_leaves_an_itemized_hash_and_the_accounting_as_they_were(tmp_path):
    node = Node(str(tmp_path / "ks"), maxmemory_bytes=64 * 1024)
    try:
        _hset(node, b"h", _fields(BIG))
        before, used = _hgetall(node, b"h"), _used(node)
        big = [(b"x%d" % i, b"y" * 100) for i in range(INLINE_MAX * 4)]
        assert "memory" in str(_hset(node, b"h", big)).lower()
        assert _hgetall(node, b"h") == before
        assert _used(node) == used
        assert _item_count(node) == BIG
    finally:
        node.ks.close()


def test_a_small_hash_that_grows_inside_a_refused_write_is_left_small(tmp_path):
    node = Node(str(tmp_path / "ks"), maxmemory_bytes=16 * 1024)
    try:
        _hset(node, b"h", [(b"a", b"1")])
        used = _used(node)
        assert "memory" in str(_hset(node, b"h", [(b"x%d" % i, b"y" * 100) for i in range(BIG)])).lower()
        assert not is_itemized(_record(node, b"h"))
        assert _hgetall(node, b"h") == {b"a": b"1"} and _used(node) == used and _item_count(node) == 0
    finally:
        node.ks.close()


def test_scan_of_an_itemized_container_returns_every_element_once_with_count_steps(node):
    members = {b"m%d" % i for i in range(BIG)}
    _sadd(node, b"s", members)
    seen, cursor, steps = [], 0, 0
    while True:
        cursor_text, chunk = node.read(element_scan=pb.ElementScan(key=b"s", cursor=cursor, count=20))
        seen += chunk
        steps += 1
        cursor = int(cursor_text)
        if cursor == 0:
            break
    assert sorted(seen) == sorted(members)
    assert steps > 5  # really paged
    _, matched = node.read(element_scan=pb.ElementScan(key=b"s", cursor=0, count=10_000, match=b"m1?"))
    assert sorted(matched) == sorted(m for m in members if len(m) == 3 and m.startswith(b"m1"))


def test_scan_of_a_small_container_returns_everything_in_one_step(node):
    _hset(node, b"h", [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])
    assert node.read(element_scan=pb.ElementScan(key=b"h", cursor=0, count=1)) == [
        b"0", [b"a", b"1", b"b", b"2", b"c", b"3"]]


def test_random_picks_of_an_itemized_set_follow_redis_count_rules_and_the_seed(node):
    members = {b"m%d" % i for i in range(BIG)}
    _sadd(node, b"s", members)

    def pick(count=None, seed=7):
        op = pb.SRandMember(key=b"s", seed=seed)
        if count is not None:
            op.count = count
        return node.read(srandmember=op)

    assert pick() in members
    assert pick() == pick()  # the same seed picks the same, on every replica
    for count in (1, 5, BIG // 2, BIG, BIG + 10):
        got = pick(count)
        assert len(got) == min(count, BIG) and len(set(got)) == len(got) and set(got) <= members
    repeats = pick(-1000)   # more picks than a quarter of the members: drawn from one pass
    assert len(repeats) == 1000 and set(repeats) <= members and len(set(repeats)) > BIG // 4
    assert repeats == pick(-1000)   # the seed decides, on every replica
    few = pick(-3)          # a seek per pick
    assert len(few) == 3 and set(few) <= members
    seen = {pick(seed=s) for s in range(300)}
    assert len(seen) > BIG // 4  # picks spread over the set


def test_spop_removes_exactly_the_members_it_returns(node):
    members = {b"m%d" % i for i in range(BIG)}
    _sadd(node, b"s", members)
    popped = node.run(spop=pb.SPop(key=b"s", count=10))
    assert len(set(popped)) == 10 and set(popped) <= members
    one = node.run(spop=pb.SPop(key=b"s"))
    rest = set(node.read(smembers=pb.SMembers(key=b"s")))
    assert rest == members - set(popped) - {one}
    assert node.read(scard=pb.SCard(key=b"s")) == BIG - 11


def test_hrandfield_with_values_pairs_fields_with_their_values(node):
    pairs = dict(_fields(BIG))
    _hset(node, b"h", pairs.items())
    for count in (-3, -50, -5000):   # a seek per pick; drawn from one pass (each value read once)
        flat = node.read(hrandfield=pb.HRandField(key=b"h", count=count, with_values=True, seed=3))
        assert len(flat) == -2 * count
        assert all(pairs[f] == v for f, v in zip(flat[0::2], flat[1::2]))


def test_set_algebra_and_store_over_itemized_sets(node):
    _sadd(node, b"a", [b"%d" % i for i in range(0, BIG)])
    _sadd(node, b"b", [b"%d" % i for i in range(BIG // 2, BIG + 50)])
    inter = {b"%d" % i for i in range(BIG // 2, BIG)}
    assert set(node.read(set_op=pb.SetOp(op=pb.SET_INTER, keys=[b"a", b"b"]))) == inter
    assert node.run(set_op_store=pb.SetOpStore(key=b"u", op=pb.SET_UNION, keys=[b"a", b"b"])) == BIG + 50
    assert is_itemized(_record(node, b"u"))
    assert node.read(scard=pb.SCard(key=b"u")) == BIG + 50
    assert node.run(smove=pb.SMove(key=b"a", new_key=b"small", member=b"1")) == 1
    assert node.read(sismember=pb.SIsMember(key=b"a", members=[b"1", b"2"], multi=True)) == [0, 1]


def test_replicas_applying_the_same_entries_store_identical_bytes(tmp_path):
    nodes = [Node(str(tmp_path / f"ks{i}")) for i in range(2)]
    rng = random.Random(5)
    try:
        for _ in range(40):
            fields = [(b"f%d" % rng.randrange(600), b"v") for _ in range(20)]
            for n in nodes:
                _hset(n, b"h", fields)
                n.run(spop=pb.SPop(key=b"h2"))
                _sadd(n, b"s", [f for f, _ in fields])
                n.run(spop=pb.SPop(key=b"s", count=3))
        paths = []
        for i, n in enumerate(nodes):
            paths.append(str(tmp_path / f"copy{i}"))
            n.ks.copy_to(paths[-1])
        a, b = (snapshot_info(p) for p in paths)
        assert a.digest == b.digest and a.used_bytes == b.used_bytes
    finally:
        for n in nodes:
            n.ks.close()


# ---------------------------------------------------------------- differential: itemized vs inline


class _Twins:
    """The same entries applied to a node whose containers stay inline (the reference)
    and to one whose containers itemize past INLINE_MAX."""

    def __init__(self, tmp_path, monkeypatch):
        self.inline = Node(str(tmp_path / "inline"))
        self.itemized = Node(str(tmp_path / "itemized"))
        self._mp = monkeypatch

    def run(self, **op):
        self._mp.setattr(itemview, "INLINE_MAX", 1 << 40)
        expected = self.inline.run(**op)
        self._mp.setattr(itemview, "INLINE_MAX", INLINE_MAX)
        return expected, self.itemized.run(**op)

    def read(self, **op):
        return self.inline.read(**op), self.itemized.read(**op)

    def close(self):
        self.inline.ks.close()
        self.itemized.ks.close()


@pytest.fixture
def twins(tmp_path, monkeypatch):
    t = _Twins(tmp_path, monkeypatch)
    yield t
    t.close()


def _random_list_op(rng, n):
    v = b"v%d" % rng.randrange(40)
    i = rng.randrange(-n - 3, n + 3)
    choice = rng.randrange(13)
    if choice <= 2:
        return dict(push=pb.Push(key=b"l", values=[b"v%d" % rng.randrange(40) for _ in range(rng.randrange(1, 30))],
                                 left=rng.random() < 0.5))
    if choice == 3:
        return dict(pop=pb.Pop(key=b"l", left=rng.random() < 0.5, count=rng.randrange(0, 20)))
    if choice == 4:
        return dict(pop=pb.Pop(key=b"l", left=rng.random() < 0.5))
    if choice == 5:
        return dict(lset=pb.LSet(key=b"l", index=i, value=v))
    if choice == 6:
        return dict(ltrim=pb.LTrim(key=b"l", start=rng.randrange(0, 5), stop=rng.randrange(-5, n + 5)))
    if choice == 7:
        return dict(lrem=pb.LRem(key=b"l", count=rng.randrange(-3, 4), value=v))
    if choice == 8:
        return dict(linsert=pb.LInsert(key=b"l", before=rng.random() < 0.5, pivot=v, value=b"ins"))
    if choice == 9:
        return dict(lmove=pb.LMove(key=b"l", new_key=rng.choice([b"l", b"other"]), from_left=rng.random() < 0.5,
                                   to_left=rng.random() < 0.5))
    if choice == 10:
        return dict(lmove=pb.LMove(key=b"other", new_key=b"l", from_left=True, to_left=False))
    if choice == 11:
        return dict(lmpop=pb.LMPop(keys=[b"other", b"l"], left=rng.random() < 0.5, count=rng.randrange(1, 9)))
    return dict(push=pb.Push(key=b"l", values=[v] * 60, left=False))


def _list_reads(rng, n):
    v = b"v%d" % rng.randrange(40)
    lpos = pb.LPos(key=b"l", element=v, rank=rng.choice([1, 2, -1, -3]), maxlen=rng.choice([0, 50]))
    if rng.random() < 0.5:
        lpos.count = rng.randrange(0, 4)
    return [
        dict(lrange=pb.LRange(key=b"l", start=rng.randrange(-n - 2, n + 2), stop=rng.randrange(-n - 2, n + 2))),
        dict(lrange=pb.LRange(key=b"l", start=0, stop=-1)),
        dict(lindex=pb.LIndex(key=b"l", index=rng.randrange(-n - 2, n + 2))),
        dict(llen=pb.LLen(key=b"l")),
        dict(lpos=lpos),
        dict(lrange=pb.LRange(key=b"other", start=0, stop=-1)),
    ]


def test_itemized_lists_answer_every_command_as_inline_lists_do(twins):
    rng = random.Random(11)
    n = 0
    itemized_seen = False
    for step in range(1500):
        op = _random_list_op(rng, n)
        expected, got = twins.run(**op)
        assert got == expected, (step, op)
        n = twins.inline.read(llen=pb.LLen(key=b"l"))
        itemized_seen |= n > INLINE_MAX
        for read in _list_reads(rng, n):
            expected, got = twins.read(**read)
            assert got == expected, (step, read)
    assert itemized_seen
    inline = [_record(twins.inline, k) for k in (b"l", b"other")]
    assert not any(r is not None and is_itemized(r) for r in inline)  # the reference really stayed inline
    node = twins.itemized
    stored = [k for k in (b"l", b"other") if _record(node, k) is not None and is_itemized(_record(node, k))]
    assert _item_count(node) == sum(node.read(llen=pb.LLen(key=k)) for k in stored)  # no element leaked


def test_itemized_hashes_and_sets_answer_as_inline_ones(twins):
    rng = random.Random(12)
    for step in range(1200):
        f = b"f%d" % rng.randrange(400)
        choice = rng.randrange(8)
        if choice <= 2:
            op = dict(hset=pb.HSet(key=b"h", pairs=[pb.KeyValue(key=b"f%d" % rng.randrange(400), value=b"%d" % step)
                                                    for _ in range(rng.randrange(1, 20))], if_absent=choice == 2))
        elif choice == 3:
            fields = [b"f%d" % rng.randrange(400) for _ in range(rng.randrange(1, 12))]
            op = dict(hdel=pb.HDel(key=b"h", fields=fields))
        elif choice == 4:
            op = dict(hincrby=pb.HIncrBy(key=b"h", field=b"n%d" % rng.randrange(3), delta=rng.randrange(-5, 5)))
        elif choice == 5:
            members = [b"m%d" % rng.randrange(400) for _ in range(rng.randrange(1, 25))]
            op = dict(sadd=pb.SAdd(key=b"s", members=members))
        elif choice == 6:
            members = [b"m%d" % rng.randrange(400) for _ in range(rng.randrange(1, 12))]
            op = dict(srem=pb.SRem(key=b"s", members=members))
        else:
            op = dict(smove=pb.SMove(key=b"s", new_key=b"t", member=b"m%d" % rng.randrange(400)))
        expected, got = twins.run(**op)
        assert got == expected, (step, op)
        for read in (dict(hget=pb.HGet(key=b"h", field=f)), dict(hlen=pb.HLen(key=b"h")),
                     dict(hexists=pb.HExists(key=b"h", field=f)), dict(scard=pb.SCard(key=b"s")),
                     dict(sismember=pb.SIsMember(key=b"s", members=[b"m1", b"m2"], multi=True))):
            expected, got = twins.read(**read)
            assert got == expected, (step, read)
        if step % 50 == 0:
            e, g = twins.read(hgetall=pb.HGetAll(key=b"h"))
            assert dict(zip(e[0::2], e[1::2])) == dict(zip(g[0::2], g[1::2]))
            for key in (b"s", b"t"):
                e, g = twins.read(smembers=pb.SMembers(key=key))
                assert sorted(e) == sorted(g)
            e, g = twins.read(set_op=pb.SetOp(op=pb.SET_DIFF, keys=[b"s", b"t"]))
            assert sorted(e) == sorted(g)
    assert is_itemized(_record(twins.itemized, b"h")) and is_itemized(_record(twins.itemized, b"s"))
    assert not is_itemized(_record(twins.inline, b"h")) and not is_itemized(_record(twins.inline, b"s"))


def _bound(rng, values):
    return pb.ScoreBound(value=rng.choice(values), exclusive=rng.random() < 0.3)


def _lex(rng):
    choice = rng.randrange(5)
    if choice == 0:
        return pb.LexBound(infinite=-1)
    if choice == 1:
        return pb.LexBound(infinite=1)
    return pb.LexBound(value=b"m%d" % rng.randrange(300), exclusive=rng.random() < 0.5)


def _zrange(rng, n, key=b"z"):
    scores = [-1e300, -5.5, -1, -0.0, 0, 0.5, 3, 17, 40, 99, float("inf"), float("-inf")]
    op = pb.ZRange(key=key, by=rng.randrange(3), rev=rng.random() < 0.4, with_scores=rng.random() < 0.5)
    if op.by == pb.BY_RANK:
        op.start, op.stop = rng.randrange(-n - 3, n + 3), rng.randrange(-n - 3, n + 3)
    elif op.by == pb.BY_SCORE:
        op.min_score.CopyFrom(_bound(rng, scores))
        op.max_score.CopyFrom(_bound(rng, scores))
    else:
        op.min_lex.CopyFrom(_lex(rng))
        op.max_lex.CopyFrom(_lex(rng))
    if op.by != pb.BY_RANK and rng.random() < 0.4:
        op.offset = rng.randrange(-1, 30)
        op.count = rng.randrange(-1, 40)
    return op


def test_itemized_sorted_sets_answer_every_command_as_inline_ones(twins):
    rng = random.Random(13)
    _sadd(twins.inline, b"set", [b"m%d" % i for i in range(0, 300, 3)])
    _sadd(twins.itemized, b"set", [b"m%d" % i for i in range(0, 300, 3)])
    n = 0
    seen_itemized = False
    for step in range(1500):
        member = b"m%d" % rng.randrange(300)
        choice = rng.randrange(12)
        if choice <= 3:
            members = [pb.ScoreMember(score=rng.choice([-3.0, -0.0, 0.0, 1.5, 2.0, 10, 40]) if rng.random() < 0.5
                                      else float(rng.randrange(-50, 100)), member=b"m%d" % rng.randrange(300))
                       for _ in range(rng.randrange(1, 40))]
            op = dict(zadd=pb.ZAdd(key=b"z", members=members, condition=rng.choice([0, 0, 1, 2]),
                                   gt=choice == 1, lt=choice == 2, ch=rng.random() < 0.5))
        elif choice == 4:
            op = dict(zadd=pb.ZAdd(key=b"z", members=[pb.ScoreMember(score=rng.randrange(-5, 6), member=member)],
                                   incr=True, condition=rng.choice([0, 1, 2])))
        elif choice == 5:
            op = dict(zrem=pb.ZRem(key=b"z", members=[b"m%d" % rng.randrange(300) for _ in range(rng.randrange(1, 9))]))
        elif choice == 6:
            pop = pb.ZPop(key=b"z", max=rng.random() < 0.5)
            if rng.random() < 0.7:
                pop.count = rng.randrange(0, 12)
            op = dict(zpop=pop)
        elif choice == 7:
            op = dict(zmpop=pb.ZMPop(keys=[b"empty", b"z"], max=rng.random() < 0.5, count=rng.randrange(1, 9)))
        elif choice == 8 and rng.random() < 0.3:
            op = dict(zremrange=pb.ZRemRange(key=b"z", range=_zrange(rng, n)))
        elif choice == 9:
            op = dict(zrangestore=pb.ZRangeStore(key=b"dst", range=_zrange(rng, n)))
        elif choice == 10:
            op = dict(zset_op_store=pb.ZSetOpStore(key=b"u", source=pb.ZSetOp(
                op=rng.randrange(3), keys=[b"z", b"set"], weights=[1.0, rng.choice([1.0, 2.0])],
                aggregate=rng.randrange(3))))
        else:
            op = dict(zadd=pb.ZAdd(key=b"z", members=[pb.ScoreMember(score=s, member=b"m%d" % rng.randrange(300))
                                                      for s in range(rng.randrange(20, 90))]))
        expected, got = twins.run(**op)
        assert got == expected, (step, op)
        n = twins.inline.read(zcard=pb.ZCard(key=b"z"))
        seen_itemized |= n > INLINE_MAX
        reads = [dict(zrange=_zrange(rng, n)), dict(zrange=_zrange(rng, n)),
                 dict(zscore=pb.ZScore(key=b"z", members=[member, b"nope"], multi=True)),
                 dict(zrank=pb.ZRank(key=b"z", member=member, rev=rng.random() < 0.5, with_score=True)),
                 dict(zcard=pb.ZCard(key=b"z")),
                 dict(zrange=pb.ZRange(key=b"dst", start=0, stop=-1, with_scores=True)),
                 dict(zrange=pb.ZRange(key=b"u", start=0, stop=-1, with_scores=True))]
        count_only = _zrange(rng, n)
        count_only.count_only = True
        reads.append(dict(zrange=count_only))
        for read in reads:
            expected, got = twins.read(**read)
            assert got == expected, (step, read)
    assert seen_itemized and is_itemized(_record(twins.itemized, b"z"))
    assert not is_itemized(_record(twins.inline, b"z"))  # the reference really stayed inline


def test_zscan_and_zrandmember_of_an_itemized_sorted_set(node):
    members = {b"m%d" % i: float(i) for i in range(BIG)}
    node.run(zadd=pb.ZAdd(key=b"z", members=[pb.ScoreMember(score=s, member=m) for m, s in members.items()]))
    assert is_itemized(_record(node, b"z"))
    seen, cursor = {}, 0
    while True:
        cursor_text, flat = node.read(element_scan=pb.ElementScan(key=b"z", cursor=cursor, count=25))
        seen.update((m, float(s)) for m, s in zip(flat[0::2], flat[1::2]))
        cursor = int(cursor_text)
        if cursor == 0:
            break
    assert seen == members
    flat = node.read(zrandmember=pb.ZRandMember(key=b"z", count=-40, with_scores=True, seed=9))
    assert len(flat) == 80 and all(members[m] == s for m, s in zip(flat[0::2], flat[1::2]))
    distinct = node.read(zrandmember=pb.ZRandMember(key=b"z", count=30, seed=9))
    assert len(set(distinct)) == 30 and set(distinct) <= set(members)
    node.run(**{"del": pb.Del(keys=[b"z"])})
    assert _item_count(node) == 0


def test_object_encoding_names_the_stored_layout(node):
    node.run(set=pb.Set(key=b"i", value=b"-42"))
    node.run(set=pb.Set(key=b"e", value=b"x" * 44))
    node.run(set=pb.Set(key=b"r", value=b"x" * 45))
    node.run(set=pb.Set(key=b"z0", value=b"007"))  # not an integer Redis would store as one
    _sadd(node, b"ints", [b"1", b"-2", b"30"])
    _sadd(node, b"mixed", [b"1", b"a"])
    _hset(node, b"h", [(b"f", b"v")])
    node.run(push=pb.Push(key=b"l", values=[b"a"]))
    node.run(zadd=pb.ZAdd(key=b"z", members=[pb.ScoreMember(score=1, member=b"a")]))

    def encodings(*keys):
        return [node.read(object_encoding=pb.ObjectEncoding(key=k)) for k in keys]

    assert encodings(b"i", b"e", b"r", b"z0", b"ints", b"mixed", b"h", b"l", b"z", b"missing") == [
        b"int", b"embstr", b"raw", b"embstr", b"intset", b"listpack", b"listpack", b"listpack", b"listpack", None]
    _sadd(node, b"ints", [b"%d" % i for i in range(BIG)])
    _hset(node, b"h", _fields(BIG))
    node.run(push=pb.Push(key=b"l", values=[b"v"] * BIG))
    node.run(zadd=pb.ZAdd(key=b"z", members=[pb.ScoreMember(score=i, member=b"%d" % i) for i in range(BIG)]))
    assert encodings(b"ints", b"h", b"l", b"z") == [b"hashtable", b"hashtable", b"quicklist", b"skiplist"]


@pytest.mark.parametrize("in_multi", [False, True])
def test_a_refused_rename_of_an_itemized_container_keeps_its_elements(tmp_path, in_multi):
    # RENAME moves the record and leaves the items where they are; undoing it (out of
    # memory: the new name is longer) must not delete them.
    node = Node(str(tmp_path / "ks"), maxmemory_bytes=64 * 1024)
    try:
        _hset(node, b"a", _fields(BIG))
        node.run(set=pb.Set(key=b"pad", value=b"x" * (64 * 1024 - _used(node) - 120)))
        before, used = _hgetall(node, b"a"), _used(node)
        rename = pb.Rename(key=b"a", new_key=b"a" + b"z" * 300)
        if in_multi:
            reply = node.run(transaction=pb.Transaction(commands=[pb.Command(rename=rename)]))[0]
        else:
            reply = node.run(rename=rename)
        assert "memory" in str(reply).lower()
        assert _hgetall(node, b"a") == before and node.read(hlen=pb.HLen(key=b"a")) == BIG
        assert _item_count(node) == BIG and _used(node) == used
    finally:
        node.ks.close()


def test_deleting_a_large_container_keeps_no_undo_copy_of_its_elements(node):
    # DEL cannot be refused, so it runs without an undo scope: the undo log would
    # otherwise hold every element of the container for the length of the apply.
    _hset(node, b"h", _fields(BIG))
    seen = []

    def spy(handler):
        def run(ctx, op):
            seen.append(ctx.txn._undo)
            return handler(ctx, op)
        return run

    node.index += 1
    with node.ks.writer(node.index) as txn:
        ctx = Ctx(txn, 0, NOW, node.index, 1 << 20)
        assert run_with_quota(txn, spy(strings.del_), ctx, pb.Del(keys=[b"h"])) == 1
        assert run_with_quota(txn, spy(hashes.hdel), ctx, pb.HDel(key=b"x", fields=[b"f"])) == 0
    assert seen[0] is None and seen[1] == []  # a DEL ran outside an undo scope, HDEL inside one
    assert _item_count(node) == 0


# ---------------------------------------------------------------- LREM / LINSERT in place (log version 21)


def _list_edit(node, version, **op):
    """Apply one list op as an entry of log semantics `version`: (its reply, records written)."""
    (name, message), = op.items()
    node.index += 1
    with node.ks.writer(node.index) as txn:
        ctx = Ctx(txn, 0, NOW, node.index, 1 << 20, version=version)
        reply = run_with_quota(txn, getattr(lists, name), ctx, message)
        return reply, txn.writes


@pytest.mark.parametrize("op, expected", [
    (dict(lrem=pb.LRem(key=b"l", count=1, value=b"e2")), 1),               # near the head
    (dict(lrem=pb.LRem(key=b"l", count=-1, value=b"e%d" % (BIG - 3))), 1),  # near the tail
    (dict(linsert=pb.LInsert(key=b"l", before=True, pivot=b"e1", value=b"x")), BIG + 1),
    (dict(linsert=pb.LInsert(key=b"l", before=False, pivot=b"e%d" % (BIG - 2), value=b"x")), BIG + 1),
])
def test_lrem_and_linsert_near_an_end_move_only_the_elements_beyond_them(tmp_path, op, expected):
    """From log version 21 an edit near either end of a long list writes a few records (Redis moves
    the elements after it too; raftcache moves the shorter side), where version 20 wrote every
    element again; the list, its length and the bytes it is charged come out the same."""
    nodes = {}
    for version in (commands.LIST_EDIT_VERSION - 1, commands.LIST_EDIT_VERSION):
        node = nodes[version] = Node(str(tmp_path / str(version)))
        node.run(push=pb.Push(key=b"l", values=[b"e%d" % i for i in range(BIG)]))
        reply, writes = _list_edit(node, version, **op)
        assert reply == expected
        assert writes <= 6 if version == commands.LIST_EDIT_VERSION else writes >= 2 * BIG - 1
    old, new = nodes[commands.LIST_EDIT_VERSION - 1], nodes[commands.LIST_EDIT_VERSION]
    whole = dict(lrange=pb.LRange(key=b"l", start=0, stop=-1))
    assert new.read(**whole) == old.read(**whole)
    assert _used(new) == _used(old)
    for i in (0, 1, 5, -1, -4):
        assert new.read(lindex=pb.LIndex(key=b"l", index=i)) == old.read(lindex=pb.LIndex(key=b"l", index=i))


def test_lrem_of_many_matches_closes_every_gap(node):
    values = [b"a" if i % 7 == 0 else b"e%d" % i for i in range(BIG)]
    node.run(push=pb.Push(key=b"l", values=values))
    assert node.run(lrem=pb.LRem(key=b"l", count=-5, value=b"a")) == 5
    model = list(values)
    for i in sorted((i for i, v in enumerate(values) if v == b"a"), reverse=True)[:5]:
        del model[i]
    assert node.read(lrange=pb.LRange(key=b"l", start=0, stop=-1)) == model
    assert node.run(lrem=pb.LRem(key=b"l", count=0, value=b"a")) == model.count(b"a")
    model = [v for v in model if v != b"a"]
    assert node.read(lrange=pb.LRange(key=b"l", start=0, stop=-1)) == model
    assert node.run(linsert=pb.LInsert(key=b"l", before=True, pivot=model[len(model) // 2], value=b"mid")) \
        == len(model) + 1
    model.insert(len(model) // 2, b"mid")
    assert node.read(lrange=pb.LRange(key=b"l", start=0, stop=-1)) == model
    assert node.read(lindex=pb.LIndex(key=b"l", index=len(model) // 2)) == model[len(model) // 2]


def test_lrem_and_linsert_in_a_script_that_fails_are_rolled_back(node):
    values = [b"e%d" % i for i in range(BIG)]
    node.run(push=pb.Push(key=b"l", values=values))
    before = _used(node)
    body = (b"redis.call('LREM', KEYS[1], 1, 'e2') redis.call('LREM', KEYS[1], -1, 'e%d') "
            b"redis.call('LINSERT', KEYS[1], 'BEFORE', 'e5', 'x') error('boom')" % (BIG - 2))
    failed = node.run(eval=pb.Eval(body=body, keys=[b"l"]))
    assert isinstance(failed, CommandError) and "boom" in failed.message
    assert node.read(lrange=pb.LRange(key=b"l", start=0, stop=-1)) == values
    assert _used(node) == before
    assert node.read(lindex=pb.LIndex(key=b"l", index=2)) == b"e2"
