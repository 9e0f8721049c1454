"""Unit tests of write scripts logged with their effects (node/scripting/effects.py, log
semantics version 23): real encoded log entries applied by real state machines on temporary
LMDB environments, no sockets. A leader tries a batch's scripts on its applied state and logs
them with their effects; a follower applies those entries; a reference applies the same
entries without effects (every script run, as before version 23). Whatever the scripts and
the writes around them, all three must give the same replies and end with the same bytes in
every table of the keyspace; the guard must send a script whose keys or rules changed since
the leader ran it back to running; what cannot be carried must not qualify."""

from __future__ import annotations

import hashlib
import random
import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from raftcache.node import commands, scripting
from raftcache.node.commands import script_read_cache, trial_choice
from raftcache.node.errors import CommandError
from raftcache.node.frontends.resp_table import TABLE
from raftcache.node.scripting import effects
from raftcache.node.storage import keyspace
from raftcache.node.storage.keyspace import Record, ValueType
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import Node

scripting.install()

INCR_EXPIRE = "redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[1], 3600) return 1"


_ZERO = bytes(8)


def tables(node: Node) -> dict:
    """Every record of every table of the node's keyspace (data, items, deadlines, meta…), but
    a counter stored as 0 (the same as none: keys, deadlines and bytes used), and the counters
    as read."""
    ks = node.ks
    out = {}
    with ks._env.begin() as txn:
        for name in ("_data", "_expiry", "_fexpiry", "_items", "_meta", "_gone"):
            out[name] = [(k, v) for k, v in txn.cursor(db=getattr(ks, name))
                         if not (name == "_meta" and k.startswith((b"expires/", b"keys/", b"used_bytes")) and v == _ZERO)]
    with ks.reader() as r:
        out["counters"] = [(r.db_size(db), r.expires(db)) for db in range(node.config.databases)]
        out["used"] = r.used_bytes()
    return out


class Trio:
    """A leader (tries scripts, applies its entries), a follower (applies the same entries) and
    a reference (applies them without effects)."""

    def __init__(self, root):
        self.leader, self.follower, self.reference = (Node(str(root / name)) for name in ("l", "f", "r"))
        self.rng = random.Random(7)
        self.tried = 0
        self.apply([pb.Command(set_version=pb.SetVersion(version=commands.MAX_VERSION))], trial=False)

    def entry(self, command: pb.Command, version: int = commands.MAX_VERSION) -> pb.LogEntry:
        return pb.LogEntry(version=version, now_ms=self.leader.now_ms, seed=self.rng.getrandbits(63), command=command)

    def trial(self, entries: list[pb.LogEntry]) -> None:
        self.leader.sm.trial_scripts(entries, 1 << 20)
        self.tried += sum(e.HasField("effects") for e in entries)

    def apply(self, commands_or_entries, trial: bool = True) -> list:
        """One batch: the leader's trial (unless `trial` is False), then every node applies it;
        returns the leader's results after checking the three agree."""
        entries = [c if isinstance(c, pb.LogEntry) else self.entry(c) for c in commands_or_entries]
        if trial:
            self.trial(entries)
        return self.apply_tried(entries)

    def apply_tried(self, entries: list[pb.LogEntry]) -> list:
        data = commands.encode_batch(entries)
        plain = []
        for e in entries:
            copy = pb.LogEntry()
            copy.CopyFrom(e)
            copy.ClearField("effects")
            plain.append(copy)
        results = []
        for node, batch in ((self.leader, data), (self.follower, data), (self.reference, commands.encode_batch(plain))):
            node.index += 1
            results.append(node.sm.apply(node.index, batch))
        assert _plain(results[0]) == _plain(results[1]) == _plain(results[2])
        return results[0]

    def same(self) -> None:
        a = tables(self.leader)
        assert a == tables(self.follower)
        assert a == tables(self.reference)
        # INFO's rdb_changes_since_last_save: a script whose writes undo each other still wrote
        assert self.leader.sm.changes == self.follower.sm.changes == self.reference.sm.changes


def _plain(results: list) -> list:
    return [(type(r).__name__, r.message) if isinstance(r, CommandError) else r for r in results]


def cmd(*argv, db: int = 0) -> pb.Command:
    argv = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
    return TABLE[argv[0].lower()].build(argv, db)


def evalsha(sha: str, keys=(), args=()) -> pb.Command:
    return cmd("EVALSHA", sha, len(keys), *keys, *args)


def load(trio: Trio, body: str) -> str:
    sha = trio.apply([pb.Command(script_load=pb.ScriptLoad(body=body.encode()))], trial=False)[0]
    return sha.decode()


@pytest.fixture
def trio(tmp_path):
    yield Trio(tmp_path)
    script_read_cache.forget()


def test_a_qualifying_script_is_applied_from_its_effects_everywhere(trio):
    sha = load(trio, INCR_EXPIRE)
    entries = [trio.entry(evalsha(sha, ["k"], [5])), trio.entry(evalsha(sha, ["other"], [2]))]
    trio.trial(entries)
    assert all(e.HasField("effects") for e in entries)
    assert [w.key for w in entries[0].effects.writes] == [b"k"]
    assert trio.apply_tried(entries) == [1, 1]
    trio.same()
    assert trio.follower.sm.effects_applied == trio.leader.sm.effects_applied == 2
    assert trio.reference.sm.effects_applied == 0
    assert trio.follower.get(b"k") == b"5"


def test_the_followers_count_the_scripts_commands_in_info(trio):
    sha = load(trio, INCR_EXPIRE + " ")   # another script: the counts start from nothing
    trio.apply([evalsha(sha, ["k"], [1]), evalsha(sha, ["j"], [1])])
    for node in (trio.follower, trio.reference, trio.leader):
        calls = node.sm.script_stats.calls
        assert (calls["incrby"][0], calls["expire"][0]) == (2, 2), node


def test_a_key_written_after_the_trial_sends_the_script_back_to_running(trio):
    sha = load(trio, "return redis.call('INCRBY', KEYS[1], 10)")
    trio.apply([cmd("SET", "k", "1")], trial=False)
    script = trio.entry(evalsha(sha, ["k"]))
    trio.trial([script])
    assert script.HasField("effects")
    trio.apply([cmd("SET", "k", "100")], trial=False)   # logged before it, after the leader ran it
    assert trio.apply_tried([script]) == [110]
    assert trio.leader.sm.effects_missed == trio.follower.sm.effects_missed == 1
    trio.same()


def test_a_deleted_and_recreated_key_is_not_taken_for_the_old_one(trio):
    sha = load(trio, "return redis.call('GET', KEYS[1])")
    trio.apply([cmd("SET", "k", "old")], trial=False)
    script = trio.entry(evalsha(sha, ["k"]))
    trio.trial([script])
    trio.apply([cmd("DEL", "k")], trial=False)
    trio.apply([cmd("SET", "k", "new")], trial=False)
    assert trio.apply_tried([script]) == [b"new"]
    trio.same()


@pytest.mark.parametrize("between", [
    pb.Command(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="busy-reply-threshold", value="7000")])),
    pb.Command(acl_set_user=pb.AclSetUser(name="someone", rules=[b"on", b"+@all"])),
], ids=["config-set", "acl-setuser"])
def test_a_rule_change_after_the_trial_sends_the_script_back_to_running(trio, between):
    sha = load(trio, INCR_EXPIRE)
    script = trio.entry(evalsha(sha, ["k"], [1]))
    trio.trial([script])
    assert script.HasField("effects")
    trio.apply([between], trial=False)
    trio.apply_tried([script])
    assert trio.follower.sm.effects_missed == 1
    trio.same()


def test_a_script_flushed_after_the_trial_answers_noscript(trio):
    sha = load(trio, INCR_EXPIRE)
    script = trio.entry(evalsha(sha, ["k"], [1]))
    trio.trial([script])
    trio.apply([pb.Command(script_flush=pb.ScriptFlush())], trial=False)
    (result,) = trio.apply_tried([script])
    assert isinstance(result, CommandError) and "NOSCRIPT" in result.message
    assert trio.follower.get(b"k") is None
    trio.same()


def test_growth_past_maxmemory_since_the_trial_sends_the_script_back_to_running(tmp_path):
    trio = Trio(tmp_path)
    trio.apply([pb.Command(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="maxmemory", value="1mb")]))],
               trial=False)
    sha = load(trio, "return redis.call('SET', KEYS[1], ARGV[1])")
    script = trio.entry(evalsha(sha, ["k"], ["v" * 1000]))
    trio.trial([script])
    assert script.effects.growth > 1000
    trio.apply([cmd("SET", "big", "x" * (1024 * 1024 - 600))], trial=False)   # room for less than it adds
    trio.apply_tried([script])
    assert trio.follower.sm.effects_missed == 1
    trio.same()


def test_a_memcached_touch_after_the_trial_sends_the_script_back_to_running(trio):
    """A touch keeps the key's index (its CAS unique) and changes its deadline: the guard reads both."""
    trio.apply([cmd("SET", "k", "5")], trial=False)
    touch = trio.entry(pb.Command(get_and_touch=pb.GetAndTouch(key=b"k", expiry=pb.Expiry(ttl_ms=1))))
    assert commands.stamp(touch.command, touch.now_ms) is None
    for node in (trio.leader, trio.follower, trio.reference):
        node.now_ms += 5
    script = trio.entry(cmd("EVAL", "return redis.call('INCR', KEYS[1])", 1, "k"))
    trio.trial([script])   # the touch still in flight
    assert script.HasField("effects")
    assert trio.apply_tried([touch, script])[1] == 1   # expired by then: INCR starts from nothing
    assert trio.follower.sm.effects_missed == 1
    trio.same()


def test_an_acl_change_stamped_before_version_23_but_applied_after_it_counts(trio):
    """A batch proposed before the leader applied SetVersion 23 carries 22 and may be logged
    after it: its ACL change moves the rules index all the same."""
    trio.apply([pb.Command(acl_set_user=pb.AclSetUser(name="alice", rules=[b"on", b"nopass", b"+@all", b"~*"]))],
               trial=False)
    script = trio.entry(pb.Command(eval=pb.Eval(body=b"return redis.call('SET', KEYS[1], 'v')", keys=[b"k"],
                                                user="alice")))
    trio.trial([script])
    assert script.HasField("effects")
    revoke = trio.entry(pb.Command(acl_set_user=pb.AclSetUser(name="alice", rules=[b"-set"])),
                        version=commands.SCRIPT_EFFECTS_VERSION - 1)
    _, result = trio.apply_tried([revoke, script])
    assert isinstance(result, CommandError) and "ACL failure" in result.message
    assert trio.follower.get(b"k") is None
    trio.same()


def test_no_effects_before_a_restored_backups_last_index(trio):
    """Records of a backup keep the old log's indexes while the new log starts again at 1: until
    the log passes the backup's last index, an index may name two records."""
    for node in (trio.leader, trio.follower, trio.reference):
        node.index += 1
        with node.ks.writer(node.index) as w:
            w.put(0, b"k", Record(ValueType.STRING, b"10", 0, node.index + 1))   # as if restored, at a later index
        node.ks.old_log_indexes = node.index + 5   # as a keyspace opened from a rebased backup has it
    script = trio.entry(cmd("EVAL", "return redis.call('INCR', KEYS[1])", 1, "k"))
    trio.trial([script])
    assert not script.HasField("effects")
    forged = trio.entry(cmd("EVAL", "return redis.call('INCR', KEYS[1])", 1, "k"))
    forged.effects.CopyFrom(pb.ScriptEffects(keys=[pb.EffectKey(key=b"k", header=_header(trio.leader, b"k"))],
                                             writes=[pb.EffectWrite(key=b"k", record=b"")], tried_at=1))
    trio.apply([cmd("SET", "k", "100")], trial=False)   # the entry at the restored record's index
    assert trio.apply_tried([forged]) == [101]
    trio.same()


def test_a_chain_of_restores_keeps_the_highest_old_index(tmp_path):
    """A backup of a cluster itself seeded from a backup: its records may still carry the first
    cluster's indexes, higher than the second's last one."""
    def seeded_from_backup_of(node: Node, name: str, old_index: int) -> Node:
        copy = tmp_path / f"{name}.mdb"
        node.ks.copy_to(str(copy))
        assert keyspace.rebase_copy(str(copy)) == old_index
        (tmp_path / name).mkdir()
        shutil.copy(copy, tmp_path / name / "data.mdb")
        return Node(str(tmp_path / name))

    first = Node(str(tmp_path / "first"))
    for _ in range(50):
        first.run(set=pb.Set(key=b"k", value=b"v"))
    second = seeded_from_backup_of(first, "second", 50)
    assert second.ks.old_log_indexes == 50
    for _ in range(10):
        second.run(set=pb.Set(key=b"j", value=b"v"))
    third = seeded_from_backup_of(second, "third", 10)
    assert third.ks.old_log_indexes == 50
    assert keyspace.snapshot_info(str(tmp_path / "third.mdb")).restored_from_index == 10   # status: unchanged


def _header(node: Node, key: bytes) -> bytes:
    with node.ks.reader() as r:
        return r.stored_header(0, key)


def test_effects_larger_than_an_entry_should_carry_are_not_logged(trio):
    trio.apply([cmd("SET", "big", "x" * (64 << 10))], trial=False)
    large_reply = trio.entry(cmd("EVAL", "redis.call('INCR', KEYS[2]) return redis.call('GET', KEYS[1])",
                                 2, "big", "n"))
    many_keys = trio.entry(cmd("EVAL", "redis.call('INCR', 'n2') for i = 1, 2000 do redis.call('EXISTS', 'key:' .. i) end "
                               "return 1", 0))
    trio.trial([large_reply, many_keys])
    assert not large_reply.HasField("effects") and not many_keys.HasField("effects")
    trio.apply_tried([large_reply, many_keys])
    # the counts of many commands count too: no logged effects past the bound, whatever the reply
    calls = " ".join(f"redis.pcall('{name}', 'k')" for name in (
        "GET", "STRLEN", "EXISTS", "TYPE", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "BITCOUNT", "MGET", "PERSIST",
        "GETEX", "INCR", "DECR", "GETDEL", "UNLINK", "DEL"))
    sizes = []
    for pad in range(15_900, 16_400, 20):
        entry = trio.entry(cmd("EVAL", f"{calls} return string.rep('x', {pad})", 0))
        trio.trial([entry])
        sizes.append(entry.effects.ByteSize())
    assert 0 < max(sizes) <= effects.MAX_EFFECT_BYTES and min(sizes) == 0
    trio.same()


def test_watch_deletion_records_alike_with_a_small_bound(trio, monkeypatch):
    """A script deletes a key an earlier script of its batch deleted in the trial: its own deletion
    is recorded (and the bound of the deletion records checked) as running it would."""
    trio.apply([cmd("SET", "k", "v")], trial=False)
    monkeypatch.setattr(keyspace.writing, "GONE_LIMIT", 1)
    first = trio.entry(cmd("EVAL", "return redis.call('DEL', KEYS[1])", 1, "k"))
    second = trio.entry(cmd("EVAL", "redis.call('SET', KEYS[1], 'x') redis.call('DEL', KEYS[1]) "
                            "return redis.call('SET', KEYS[1], 'y')", 1, "k"))
    trio.trial([first, second])
    trio.apply_tried([first, second])
    trio.same()


def test_scripts_in_one_batch_on_the_same_key_are_each_right(trio):
    """The batch's scripts are tried on the state before the batch, the second one on top of the
    first's writes (stamped with an index no replica has): it runs at apply, on the first's."""
    sha = load(trio, "return redis.call('INCRBY', KEYS[1], 1)")
    assert trio.apply([evalsha(sha, ["k"]), evalsha(sha, ["k"]), evalsha(sha, ["j"])]) == [1, 2, 1]
    assert trio.follower.sm.effects_applied == 2 and trio.follower.sm.effects_missed == 1
    trio.same()


@pytest.mark.parametrize("body, keys", [
    ("return redis.call('HSET', KEYS[1], 'f', 'v')", ["h"]),                     # a container
    ("return redis.call('LPUSH', KEYS[1], 'v')", ["l"]),
    ("redis.call('SET', KEYS[1], 'v') return redis.call('DBSIZE')", ["k"]),       # the keyspace as a whole
    ("return redis.call('RANDOMKEY')", []),
    ("redis.log(redis.LOG_WARNING, 'hello') return redis.call('SET', KEYS[1], 'v')", ["k"]),
    ("redis.call('SET', KEYS[1], 'v') return redis.error_reply('ERR mine')", ["k"]),   # an error: rolled back
    ("redis.call('SET', KEYS[1], 'v') return redis.call('INCR', KEYS[1])", ["k"]),      # fails: rolled back
    ("redis.setresp(3) return redis.call('SET', KEYS[1], 'v') and {double=1.5}", ["k"]),
    ("return redis.pcall('GET')", []),                                           # refused (arity)
    ("return redis.call('SET', KEYS[1], string.rep('x', 20000))", ["k"]),         # too large to carry
    ("return redis.call('DEL', KEYS[1])", ["h"]),                                  # deletes a container
    ("return redis.call('EXPIRE', KEYS[1], 100)", ["h"]),
])
def test_what_the_effects_cannot_carry_is_run_by_every_node(trio, body, keys):
    trio.apply([cmd("HSET", "h", "f", "v")], trial=False)
    entry = trio.entry(cmd("EVAL", body, len(keys), *keys))
    trio.trial([entry])
    assert not entry.HasField("effects")
    trio.apply_tried([entry])
    assert trio.follower.sm.effects_applied == 0
    trio.same()


def test_a_script_that_does_not_qualify_is_seldom_tried_again(trio):
    """Its trial would be a second run of it on the leader for nothing: after two trials that did
    not qualify, the same script is tried once in 64 until it qualifies again (its keys let it)."""
    sha = load(trio, "return redis.call('SET', KEYS[1], 'x')")
    for name in ("h1", "h2"):
        trio.apply([cmd("HSET", name, "f", "v")], trial=False)
        entry = trio.entry(evalsha(sha, [name]))   # SET over a hash: its elements go, not carried
        trio.trial([entry])
        assert not entry.HasField("effects")
        trio.apply_tried([entry])
    tried = []
    for _ in range(trial_choice.UNQUALIFIED_RETRY + 1):
        entry = trio.entry(evalsha(sha, ["k"]))   # would qualify now
        trio.trial([entry])
        tried.append(entry.HasField("effects"))
        trio.apply_tried([entry])
    first = tried.index(True)   # not at once: once in the 64 that follow, then every time
    assert 0 < first < trial_choice.UNQUALIFIED_RETRY and all(tried[first:])
    trio.same()


def test_a_hash_read_by_name_qualifies(trio):
    trio.apply([cmd("HSET", "h", "f", "v")], trial=False)
    entry = trio.entry(cmd("EVAL", "redis.call('SET', KEYS[2], redis.call('TYPE', KEYS[1])['ok']) "
                           "return redis.pcall('GET', KEYS[1])['err']", 2, "h", "k"))
    trio.trial([entry])
    assert entry.HasField("effects")
    assert trio.apply_tried([entry])[0].startswith(b"WRONGTYPE")
    trio.same()


def test_entries_before_version_23_carry_no_effects_and_any_they_had_are_ignored(trio):
    sha = load(trio, INCR_EXPIRE)
    old = trio.entry(evalsha(sha, ["k"], [3]), version=commands.SCRIPT_EFFECTS_VERSION - 1)
    trio.trial([old])
    assert not old.HasField("effects")
    forged = trio.entry(evalsha(sha, ["k"], [3]))
    trio.trial([forged])
    forged.effects.writes[0].record = forged.effects.writes[0].record[:-1] + b"9"
    forged.version = commands.SCRIPT_EFFECTS_VERSION - 1
    trio.apply_tried([old, forged])
    assert trio.follower.get(b"k") == b"6"
    trio.same()


def test_a_script_a_replay_already_applied_is_answered_from_the_dedup_table(trio):
    sha = load(trio, "return redis.call('INCRBY', KEYS[1], 1)")
    first = trio.entry(evalsha(sha, ["k"]))
    first.client_id, first.sequence = "client", 1
    trio.trial([first])
    assert trio.apply_tried([first]) == [1]
    again = trio.entry(evalsha(sha, ["k"]))
    again.client_id, again.sequence = "client", 1
    trio.trial([again])
    (replayed,) = trio.apply_tried([again])
    assert replayed.result == 1   # the first outcome, not a second increment
    assert trio.follower.get(b"k") == b"1"
    trio.same()


# ---------------------------------------------------------------- any mix of scripts and writes

KEYS = [b"a", b"b", b"c"]
_STEPS = [
    "redis.call('SET', {k}, {v})", "redis.call('INCRBY', {k}, 2)", "redis.pcall('INCR', {k})",
    "redis.call('DEL', {k})", "redis.call('EXPIRE', {k}, 50)", "redis.call('PEXPIRE', {k}, 1)",
    "redis.call('APPEND', {k}, {v})", "redis.call('GETDEL', {k})", "redis.call('PERSIST', {k})",
    "redis.call('SETRANGE', {k}, 3, {v})", "redis.call('MSET', {k}, {v}, {k2}, {v})",
    "out[#out + 1] = redis.call('GET', {k}) or 'nil'", "out[#out + 1] = redis.call('TTL', {k})",
    "out[#out + 1] = redis.call('EXISTS', {k}, {k2})", "out[#out + 1] = redis.pcall('STRLEN', {k})",
    "redis.pcall('HSET', {k}, 'f', {v})", "redis.pcall('LPUSH', {k}, {v})",
    "if redis.call('GET', {k}) == false then redis.call('SET', {k2}, {v}) end",
    "redis.call('PEXPIREAT', {k}, 1)", "redis.call('DEL', {k}) redis.call('SET', {k}, {v})",
    "redis.call('SET', {k}, {v}, 'PX', 1)", "redis.call('SELECT', 1) redis.call('SET', {k}, {v}) redis.call('SELECT', 0)",
    "redis.call('MSETNX', {k}, {v}, {k2}, {v})", "out[#out + 1] = redis.call('GETEX', {k}, 'PERSIST') or 'nil'",
]


def _script(draw) -> str:
    steps = draw(st.lists(st.sampled_from(_STEPS), min_size=1, max_size=4))
    lines = []
    for step in steps:
        k, k2 = draw(st.sampled_from(KEYS)).decode(), draw(st.sampled_from(KEYS)).decode()
        lines.append(step.format(k=f"'{k}'", k2=f"'{k2}'", v=repr(draw(st.sampled_from(["1", "x", "12345"])))))
    return "local out = {} " + " ".join(lines) + " return out"


@st.composite
def batches(draw):
    out = []
    for _ in range(draw(st.integers(1, 4))):
        batch = []
        for _ in range(draw(st.integers(1, 5))):
            kind = draw(st.sampled_from(["script", "script", "script", "write", "write", "hash", "advance"]))
            key = draw(st.sampled_from(KEYS))
            if kind == "script":
                batch.append(("script", _script(draw)))
            elif kind == "write":
                batch.append(("cmd", draw(st.sampled_from([("SET", key, "7"), ("INCR", key), ("DEL", key),
                                                           ("PEXPIRE", key, 1), ("SET", key, "y", "EX", 9)]))))
            elif kind == "hash":
                batch.append(("cmd", ("HSET", key, "f", "v")))
            else:
                batch.append(("advance", draw(st.integers(0, 3))))
        out.append(batch)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=batches())
def test_any_mix_of_scripts_and_writes_ends_alike_on_every_node(tmp_path_factory, plan):
    trio = Trio(tmp_path_factory.mktemp("mix"))
    shas = {}
    pending: list = []
    for batch in plan:
        entries = []
        for kind, what in batch:
            if kind == "advance":   # the clock moves: keys set to expire in 1 ms are gone
                for node in (trio.leader, trio.follower, trio.reference):
                    node.now_ms += what
                continue
            if kind == "cmd":
                entries.append(trio.entry(cmd(*what)))
                continue
            sha = shas.get(what)
            if sha is None:
                sha = shas[what] = hashlib.sha1(what.encode()).hexdigest()
                entries.append(trio.entry(cmd("EVAL", what, 0)))
            else:
                entries.append(trio.entry(evalsha(sha)))
        if not entries:
            continue
        trio.trial(entries)   # tried while the batch before it is still in flight (not applied)
        if pending:
            trio.apply_tried(pending)
            trio.same()
        pending = entries
    if pending:
        trio.apply_tried(pending)
        trio.same()
