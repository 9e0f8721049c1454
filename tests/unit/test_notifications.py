"""Keyspace notifications and PUBLISH at apply: the messages a StateMachine hands on
(StateMachine.on_events) for real encoded entries, and the notify-keyspace-events flags."""

from __future__ import annotations

import pytest

from raftcache.node import commands, scripting
from raftcache.node.commands import notifications
from raftcache.node.config import values
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import Node

scripting.install()


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    n.published = []
    n.sm.on_events = n.published.extend
    yield n
    n.ks.close()


def _notify(node, flags: str) -> None:
    assert node.run(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="notify-keyspace-events",
                                                                      value=flags)])) is not None


def _events(node) -> list:
    out, node.published[:] = list(node.published), []
    return [(channel, message) for _, channel, message, _ in out]


def test_flags_parse_and_print_as_redis_does():
    assert values.notify_keyspace_events("KEA") == "AKE"
    assert values.notify_keyspace_events("Eg$") == "g$E"
    assert values.notify_keyspace_events("") == ""
    with pytest.raises(values.SettingError, match="Invalid event class"):
        values.notify_keyspace_events("Kq")
    assert not notifications.enabled(values.notify_flags("A")), "no channel kind (K or E)"


def test_publish_is_handed_on_after_apply_and_changes_no_key(node):
    assert node.run(publish=pb.Publish(channel=b"c", message=b"m")) == 0
    assert node.published == [("message", b"c", b"m", False)]
    with node.ks.reader() as r:
        assert r.db_size(0) == 0


def test_nothing_is_published_while_notifications_are_off(node):
    node.run(set=pb.Set(key=b"k", value=b"v"))
    assert node.published == []


def test_each_write_names_its_event_and_only_the_keys_it_changed(node):
    _notify(node, "KEA")
    node.run(set=pb.Set(key=b"a", value=b"1"))
    assert _events(node) == [(b"__keyspace@0__:a", b"set"), (b"__keyevent@0__:set", b"a")]
    node.run(**{"del": pb.Del(keys=[b"missing", b"a"])})
    assert _events(node) == [(b"__keyspace@0__:a", b"del"), (b"__keyevent@0__:del", b"a")]
    _notify(node, "El")
    node.run(push=pb.Push(key=b"l", values=[b"x"], left=False))
    node.run(pop=pb.Pop(key=b"l", left=True))
    assert _events(node) == [(b"__keyevent@0__:rpush", b"l"), (b"__keyevent@0__:lpop", b"l")], \
        "the emptied list's del is class g, which is off"
    _notify(node, "Elg")
    node.run(push=pb.Push(key=b"l", values=[b"x"], left=True))
    node.run(pop=pb.Pop(key=b"l", left=False))
    assert _events(node) == [(b"__keyevent@0__:lpush", b"l"), (b"__keyevent@0__:rpop", b"l"),
                             (b"__keyevent@0__:del", b"l")]


def test_a_refused_write_and_a_write_that_changes_nothing_are_silent(node):
    _notify(node, "KEA")
    node.run(set=pb.Set(key=b"a", value=b"1"))
    _events(node)
    node.run(set=pb.Set(key=b"a", value=b"2", condition=pb.IF_ABSENT))
    node.run(incr_by=pb.IncrBy(key=b"l", delta=1))
    node.run(hset=pb.HSet(key=b"l", pairs=[pb.KeyValue(key=b"f", value=b"v")]))  # WRONGTYPE
    assert [m for _, m in _events(node)] == [b"incrby", b"l"]


def test_move_and_rename_name_both_ends(node):
    _notify(node, "Eg")
    node.run(set=pb.Set(key=b"a", value=b"1"))
    node.run(rename=pb.Rename(key=b"a", new_key=b"b"))
    node.run(move=pb.Move(key=b"b", destination_db=3))
    assert _events(node) == [(b"__keyevent@0__:rename_from", b"a"), (b"__keyevent@0__:rename_to", b"b"),
                                 (b"__keyevent@0__:move_from", b"b"), (b"__keyevent@3__:move_to", b"b")]


def test_commands_of_a_transaction_each_notify(node):
    _notify(node, "E$")
    tx = pb.Transaction(commands=[pb.Command(set=pb.Set(key=b"t1", value=b"1")),
                                  pb.Command(incr_by=pb.IncrBy(key=b"t2", delta=2))])
    node.run(transaction=tx)
    assert _events(node) == [(b"__keyevent@0__:set", b"t1"), (b"__keyevent@0__:incrby", b"t2")]


def test_n_announces_a_new_key_once_before_its_commands_event(node):
    """Redis's `n` class (not in A): `new` when a write adds a key, not when it overwrites one."""
    _notify(node, "En$")
    node.run(set=pb.Set(key=b"foo", value=b"bar"))
    node.run(set=pb.Set(key=b"foo", value=b"baz"))
    node.run(set=pb.Set(key=b"bar", value=b"bar"))
    assert _events(node) == [(b"__keyevent@0__:new", b"foo"), (b"__keyevent@0__:set", b"foo"),
                             (b"__keyevent@0__:set", b"foo"),
                             (b"__keyevent@0__:new", b"bar"), (b"__keyevent@0__:set", b"bar")]
    _notify(node, "EA")
    node.run(set=pb.Set(key=b"other", value=b"1"))
    assert _events(node) == [(b"__keyevent@0__:set", b"other")], "A does not include n"


def _eval(node, body: bytes, *keys: bytes, version: int = commands.MAX_VERSION):
    node.index += 1
    return node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(
        version=version, now_ms=node.now_ms, command=pb.Command(eval=pb.Eval(body=body, keys=list(keys))))))


def test_a_scripts_commands_each_notify_as_redis(node):
    """From log version 20 the writes a script makes emit their events, in order, as Redis's
    commands inside a script do; a command that changed nothing emits none."""
    _notify(node, "KEA")
    body = (b"redis.call('SET', KEYS[1], '1') redis.call('INCRBY', KEYS[1], 2) redis.call('RPUSH', KEYS[2], 'x') "
            b"redis.call('LPOP', KEYS[2]) redis.call('SADD', KEYS[3], 'm') redis.call('SADD', KEYS[3], 'm') "
            b"redis.call('EXPIRE', KEYS[1], 100) return 1")
    assert _eval(node, body, b"k", b"l", b"s") == 1
    events = [(channel, message) for channel, message in _events(node) if channel.startswith(b"__keyevent")]
    assert events == [(b"__keyevent@0__:set", b"k"), (b"__keyevent@0__:incrby", b"k"),
                      (b"__keyevent@0__:rpush", b"l"), (b"__keyevent@0__:lpop", b"l"), (b"__keyevent@0__:del", b"l"),
                      (b"__keyevent@0__:sadd", b"s"), (b"__keyevent@0__:expire", b"k")]
    # a script rolled back emits nothing; a command undone under pcall emits nothing
    assert "ERR" in str(_eval(node, b"redis.call('SET', KEYS[1], '2') return redis.call('INCR', 'nokey', 'x')", b"k"))
    assert _events(node) == []
    assert _eval(node, b"redis.call('SET', KEYS[1], 'v') redis.pcall('INCR', KEYS[1]) return 1", b"k") == 1
    assert [m for c, m in _events(node) if c.startswith(b"__keyevent")] == [b"k"]
    # entries of an older version emitted nothing, as the release that wrote them
    assert _eval(node, b"return redis.call('SET', KEYS[1], '3')", b"k", version=commands.SCRIPT_NOTIFY_VERSION - 1)
    assert _events(node) == []


def test_a_script_inside_multi_notifies_in_its_place(node):
    """Inside MULTI a script's events come where it ran, among the other commands' (log version
    20); a script that failed announces nothing, not even the key it created."""
    _notify(node, "E$gn")
    tx = pb.Transaction(commands=[pb.Command(set=pb.Set(key=b"t1", value=b"1")),
                                  pb.Command(eval=pb.Eval(body=b"return redis.call('INCRBY', KEYS[1], 2)", keys=[b"t2"])),
                                  pb.Command(eval=pb.Eval(body=b"redis.call('SET', KEYS[1], 'x') error('no')", keys=[b"t3"])),
                                  pb.Command(set=pb.Set(key=b"t4", value=b"1"))])
    node.run(transaction=tx)
    events = _events(node)
    assert [e for e in events if not e[0].endswith(b":new")] == [
        (b"__keyevent@0__:set", b"t1"), (b"__keyevent@0__:incrby", b"t2"), (b"__keyevent@0__:set", b"t4")]
    assert (b"__keyevent@0__:new", b"t3") not in events


def test_a_scripts_new_keys_and_moves_notify_as_redis(node):
    """`new` comes just before the command that added the key (Redis's order), not for a key a
    refused command would have added; a key a script moved away gets no `del` of its own."""
    _notify(node, "KEAn")
    assert _eval(node, b"redis.call('SET', KEYS[1], '1') redis.call('SET', KEYS[2], '2') return 1", b"a", b"b") == 1
    assert [(c, m) for c, m in _events(node) if c.startswith(b"__keyevent")] == [
        (b"__keyevent@0__:new", b"a"), (b"__keyevent@0__:set", b"a"),
        (b"__keyevent@0__:new", b"b"), (b"__keyevent@0__:set", b"b")]
    assert _eval(node, b"redis.call('SET', KEYS[1], '1') redis.call('RENAME', KEYS[1], KEYS[2]) "
                       b"redis.pcall('INCR', KEYS[3]) redis.pcall('HSET', KEYS[2], 'f', 'v') return 1",
                 b"c", b"d", b"e") == 1
    # RENAME adds d (Redis: `new d` first); INCR of e is kept (a counter from nothing); HSET on
    # a string fails and adds nothing. The same as redis-server 7.0 gives for this script.
    assert [(c, m) for c, m in _events(node) if c.startswith(b"__keyevent")] == [
        (b"__keyevent@0__:new", b"c"), (b"__keyevent@0__:set", b"c"), (b"__keyevent@0__:new", b"d"),
        (b"__keyevent@0__:rename_from", b"c"), (b"__keyevent@0__:rename_to", b"d"),
        (b"__keyevent@0__:new", b"e"), (b"__keyevent@0__:incrby", b"e")]


def test_an_older_script_entry_emits_only_what_its_release_emitted(node):
    """Before log version 20 a script's entry emitted no keyspace event at all (no `new`, no
    noted `hexpire`): a replayed or mixed-version log stays as it was."""
    _notify(node, "KEAn")
    body = b"redis.call('HSET', KEYS[1], 'f', 'v') redis.call('HEXPIRE', KEYS[1], 100, 'FIELDS', 1, 'f') return 1"
    assert _eval(node, body, b"h", version=commands.SCRIPT_NOTIFY_VERSION - 1) == 1
    assert _events(node) == []


def _apply(node, version: int, **op):
    node.index += 1
    return node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(
        version=version, now_ms=node.now_ms, seed=7, command=pb.Command(**op))))


def _keyevents(node) -> list:
    return [(channel.rsplit(b":", 1)[1], key) for channel, key in _events(node) if channel.startswith(b"__keyevent")]


@pytest.mark.parametrize("then", [b"y", b"h"])
def test_a_hash_emptied_by_a_noted_event_is_deleted_in_its_place(node, then):
    """From log version 20 a MULTI command's noted events (HEXPIRE's) and the `del` of a hash they
    emptied come where it ran, decided then (Redis's order; before, after the whole entry, or not
    at all when a later command wrote the key again); inside a script alike."""
    _notify(node, "KEA")
    expected = [(b"hdel", b"h"), (b"del", b"h"), (b"set", then)]
    for run_it in ("multi", "script"):
        node.run(**{"del": pb.Del(keys=[b"h"])})
        node.run(hset=pb.HSet(key=b"h", pairs=[pb.KeyValue(key=b"f", value=b"v")]))
        _events(node)
        if run_it == "multi":
            _apply(node, commands.MAX_VERSION, transaction=pb.Transaction(commands=[
                pb.Command(hexpire=pb.HExpire(key=b"h", expiry=pb.Expiry(expire_at_ms=1), fields=[b"f"])),
                pb.Command(set=pb.Set(key=then, value=b"1"))]))
        else:
            assert _eval(node, b"redis.call('HPEXPIRE', 'h', 0, 'FIELDS', 1, 'f') "
                               b"redis.call('SET', '" + then + b"', '1') return 1") == 1
        assert _keyevents(node) == expected, run_it


def test_an_older_multi_keeps_what_a_failed_scripts_commands_noted(node):
    """Before log version 20 a script that failed inside MULTI kept the events its commands'
    handlers noted (a hash field expired on the way): replayed, the entry emits them still."""
    _notify(node, "KEA")
    node.run(hset=pb.HSet(key=b"h", pairs=[pb.KeyValue(key=b"f", value=b"v"), pb.KeyValue(key=b"g", value=b"w")]))
    node.run(hexpire=pb.HExpire(key=b"h", expiry=pb.Expiry(expire_at_ms=node.now_ms + 10), fields=[b"f"]))
    _events(node)
    node.now_ms += 1000
    failing = pb.Eval(body=b"redis.call('HSET', KEYS[1], 'g', 'z') error('boom')", keys=[b"h"])
    tx = pb.Transaction(commands=[pb.Command(set=pb.Set(key=b"x", value=b"1")), pb.Command(eval=failing)])
    _apply(node, commands.SCRIPT_NOTIFY_VERSION - 1, transaction=tx)
    assert _keyevents(node) == [(b"hexpired", b"h"), (b"set", b"x")]
