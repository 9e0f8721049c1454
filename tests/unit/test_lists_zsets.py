"""LMPOP / ZMPOP (node/commands/lists.py, node/commands/zsets.py) applied as log entries, their RESP
parsing and replies (node/frontends/resp_types.py), the blocking timeout rules
(node/frontends/resp_blocking.py) and ZRANK … WITHSCORE's nil array.

Expected replies were taken from a real redis-server 7; blocking behaviour itself
needs real nodes: tests/integration/test_redis_mpop_blocking.py."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftcache.node.errors import CommandError, Reason
from raftcache.node.frontends import resp_blocking
from raftcache.node.frontends.resp_protocol import RespError
from raftcache.node.frontends.resp_types import parse_mpop
from raftcache.node.service.waiters import AppliedWatcher
from raftcache.proto import commands_pb2 as pb
from tests.unit.resp_fakes import FakeService
from tests.unit.test_statemachine import Node

WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    yield n
    n.ks.close()


def _push(node, key, *values):
    return node.run(push=pb.Push(key=key, values=list(values)))


def _zadd(node, key, *pairs):
    members = [pb.ScoreMember(score=s, member=m) for s, m in pairs]
    return node.run(zadd=pb.ZAdd(key=key, members=members))


# ---------------------------------------------------------------- state machine


def test_lmpop_pops_from_the_first_non_empty_list(node):
    _push(node, b"b", b"1", b"2", b"3")
    _push(node, b"c", b"x")
    assert node.run(lmpop=pb.LMPop(keys=[b"a", b"b", b"c"], left=True, count=2)) == [b"b", [b"1", b"2"]]
    assert node.run(lmpop=pb.LMPop(keys=[b"a", b"b"], left=False, count=10)) == [b"b", [b"3"]]
    assert node.read(exists=pb.Exists(keys=[b"b"])) == 0  # emptied lists are deleted
    assert node.run(lmpop=pb.LMPop(keys=[b"c"], left=False, count=1)) == [b"c", [b"x"]]
    assert node.run(lmpop=pb.LMPop(keys=[b"a", b"b", b"c"], left=True, count=1)) is None


def test_lmpop_right_pops_from_the_tail_in_pop_order(node):
    _push(node, b"l", b"a", b"b", b"c", b"d")
    assert node.run(lmpop=pb.LMPop(keys=[b"l"], left=False, count=3)) == [b"l", [b"d", b"c", b"b"]]
    assert node.read(lrange=pb.LRange(key=b"l", start=0, stop=-1)) == [b"a"]


def test_lmpop_type_checks_keys_in_order(node):
    node.put_hash(b"h")
    _push(node, b"l", b"v")
    result = node.run(lmpop=pb.LMPop(keys=[b"missing", b"h", b"l"], left=True, count=1))
    assert isinstance(result, CommandError) and result.reason is Reason.WRONGTYPE
    # A non-empty list before the other type is served; later keys are not looked at.
    assert node.run(lmpop=pb.LMPop(keys=[b"l", b"h"], left=True, count=1)) == [b"l", [b"v"]]


def test_lmpop_and_zmpop_refuse_a_count_below_one(node):
    _push(node, b"l", b"v")
    assert node.run(lmpop=pb.LMPop(keys=[b"l"], left=True, count=0)).reason is Reason.INVALID_ARGUMENT
    assert node.run(zmpop=pb.ZMPop(keys=[b"z"], count=-1)).reason is Reason.INVALID_ARGUMENT


def test_zmpop_min_and_max(node):
    _zadd(node, b"z", (3, b"c"), (1, b"a"), (2, b"b"), (2.5, b"bb"))
    assert node.run(zmpop=pb.ZMPop(keys=[b"none", b"z"], max=False, count=2)) == [b"z", [[b"a", 1.0], [b"b", 2.0]]]
    assert node.run(zmpop=pb.ZMPop(keys=[b"z"], max=True, count=1)) == [b"z", [[b"c", 3.0]]]
    assert node.run(zmpop=pb.ZMPop(keys=[b"z"], max=True, count=9)) == [b"z", [[b"bb", 2.5]]]
    assert node.run(zmpop=pb.ZMPop(keys=[b"z"], max=True, count=1)) is None


def test_zmpop_wrongtype(node):
    _push(node, b"l", b"v")
    assert node.run(zmpop=pb.ZMPop(keys=[b"l"], count=1)).reason is Reason.WRONGTYPE


# ---------------------------------------------------------------- RESP parsing and replies


_SCORES = [float("-inf"), -1e300, -2.5, -1.0, -0.0, 0.0, 5e-324, 1.0, 1.5, 2.0, 1e300, float("inf")]


@pytest.fixture(scope="module")
def zsets(tmp_path_factory):
    """A sorted set of 400 members (itemized) and one of 40 (inline), scores from _SCORES
    (several members each, -0.0 and 0.0 among them) and in between."""
    n = Node(str(tmp_path_factory.mktemp("zcount") / "ks"))
    for key, size in ((b"big", 400), (b"small", 40)):
        pairs = [(_SCORES[i % len(_SCORES)] if i % 3 else i / 7 - 20, b"m%d" % i) for i in range(size)]
        _zadd(n, key, *pairs)
    yield n
    n.ks.close()


@given(low=st.sampled_from(_SCORES) | st.floats(-30, 30), high=st.sampled_from(_SCORES) | st.floats(-30, 30),
       low_exclusive=st.booleans(), high_exclusive=st.booleans(), key=st.sampled_from([b"big", b"small"]))
@settings(max_examples=300, deadline=None)
def test_zcount_counts_what_zrangebyscore_lists(zsets, low, high, low_exclusive, high_exclusive, key):
    """ZCOUNT counts the order records between its two ends (from log version 28, without
    reading them): the length of ZRANGEBYSCORE's answer for every pair of ends, exclusive or
    not, infinite, -0.0 and 0.0, and ends the other way round."""
    def zrange(count_only):
        return zsets.read(zrange=pb.ZRange(key=key, by=pb.BY_SCORE, count_only=count_only,
                                           min_score=pb.ScoreBound(value=low, exclusive=low_exclusive),
                                           max_score=pb.ScoreBound(value=high, exclusive=high_exclusive)))

    assert zrange(True) == len(zrange(False))


def test_a_count_with_limit_counts_within_it(zsets):
    """A count_only range with LIMIT (gRPC's ZRange may carry both) counts what LIMIT leaves."""
    limited = pb.ZRange(key=b"big", by=pb.BY_SCORE, count_only=True, offset=10, count=5,
                        min_score=pb.ScoreBound(value=float("-inf")), max_score=pb.ScoreBound(value=float("inf")))
    assert zsets.read(zrange=limited) == 5


def test_parse_mpop():
    args = [b"lmpop", b"2", b"a", b"b", b"right", b"count", b"3"]
    assert parse_mpop(args, 1, b"LEFT", b"RIGHT") == ([b"a", b"b"], False, 3)
    assert parse_mpop([b"zmpop", b"1", b"z", b"MIN"], 1, b"MIN", b"MAX") == ([b"z"], True, 1)


@pytest.mark.parametrize("args, error", [
    (["0", "l", "LEFT"], "ERR numkeys should be greater than 0"),
    (["a", "l", "LEFT"], "ERR numkeys should be greater than 0"),
    (["-1", "l", "RIGHT"], "ERR numkeys should be greater than 0"),
    (["1", "l", "bad_where"], "ERR syntax error"),
    (["1", "l", "LEFT", "bar_arg"], "ERR syntax error"),
    (["1", "l", "RIGHT", "LEFT"], "ERR syntax error"),
    (["1", "l", "COUNT"], "ERR syntax error"),
    (["1", "l", "LEFT", "COUNT", "1", "COUNT", "2"], "ERR syntax error"),
    (["2", "l", "l2", "bad_arg"], "ERR syntax error"),
    (["5", "l", "LEFT"], "ERR syntax error"),
    (["1", "l", "LEFT", "COUNT", "0"], "ERR count should be greater than 0"),
    (["1", "l", "RIGHT", "COUNT", "a"], "ERR count should be greater than 0"),
    (["1", "l", "LEFT", "COUNT", "-1"], "ERR count should be greater than 0"),
])
def test_lmpop_errors_are_redis_texts(r, args, error):
    assert r("LMPOP", *args) == b"-%s\r\n" % error.encode()
    zargs = [{"LEFT": "MIN", "RIGHT": "MAX"}.get(a, a) for a in args]
    assert r("ZMPOP", *zargs) == b"-%s\r\n" % error.encode()


def test_lmpop_replies(r):
    assert r("LMPOP", "1", "l") == b"-ERR wrong number of arguments for 'lmpop' command\r\n"
    assert r("LMPOP", "2", "l1", "l2", "LEFT") == b"*-1\r\n"
    assert r("RPUSH", "l2", "a", "b", "c") == b":3\r\n"
    assert r("LMPOP", "2", "l1", "l2", "RIGHT", "COUNT", "2") == b"*2\r\n$2\r\nl2\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n"
    assert r("SET", "s", "x") == b"+OK\r\n"
    assert r("LMPOP", "2", "s", "l2", "LEFT") == WRONGTYPE


def test_zmpop_replies_resp2(r):
    assert r("ZMPOP", "1", "z", "MIN") == b"*-1\r\n"
    r("ZADD", "z", "1", "a", "2.5", "b")
    assert r("ZMPOP", "1", "z", "MAX", "COUNT", "5") == (
        b"*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nb\r\n$3\r\n2.5\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n")


def test_zmpop_and_zrank_replies_resp3(r):
    assert r("HELLO", "3").startswith(b"%")
    assert r("ZMPOP", "1", "z", "MIN") == b"_\r\n"
    r("ZADD", "z", "1", "a")
    assert r("ZMPOP", "1", "z", "MIN") == b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n,1\r\n"
    assert r("ZRANK", "z", "a", "WITHSCORE") == b"_\r\n"


def test_zrank_withscore_on_a_missing_member_is_a_nil_array(r):
    r("ZADD", "z", "1", "a")
    assert r("ZRANK", "z", "a", "WITHSCORE") == b"*2\r\n:0\r\n$1\r\n1\r\n"
    assert r("ZRANK", "z", "nope", "WITHSCORE") == b"*-1\r\n"
    assert r("ZREVRANK", "nokey", "a", "WITHSCORE") == b"*-1\r\n"
    assert r("ZRANK", "z", "nope") == b"$-1\r\n"  # a nil bulk string without WITHSCORE


def test_zintercard_numkeys_text(r):
    assert r("ZINTERCARD", "0", "z") == b"-ERR at least 1 input key is needed for 'zintercard' command\r\n"


# ---------------------------------------------------------------- blocking timeouts


@pytest.mark.parametrize("arg, seconds", [(b"0", 0.0), (b"1.5", 1.5), (b"0.001", 0.001), (b"0x10", 16.0)])
def test_blocking_timeout_accepted(arg, seconds):
    assert resp_blocking._timeout_s(arg) == seconds


@pytest.mark.parametrize("arg, error", [
    (b"-1", "ERR timeout is negative"),
    (b"-0.1", "ERR timeout is negative"),
    (b"-inf", "ERR timeout is negative"),
    (b"abc", "ERR timeout is not a float or out of range"),
    (b"nan", "ERR timeout is not a float or out of range"),
    (b"0x7FFFFFFFFFFFFF", "ERR timeout is out of range"),
    (b"inf", "ERR timeout is out of range"),
    (b"9223372036854775", "ERR timeout is out of range"),  # now + timeout overflows
])
def test_blocking_timeout_refused(arg, error):
    with pytest.raises(RespError) as e:
        resp_blocking._timeout_s(arg)
    assert e.value.text == error


def test_blocking_pops_inside_multi_run_as_non_blocking_pops(r):
    assert r("MULTI") == b"+OK\r\n"
    assert r("BLMPOP", "0", "1", "l", "LEFT") == b"+QUEUED\r\n"
    assert r("BZMPOP", "0", "1", "z", "MIN") == b"+QUEUED\r\n"
    assert r("BLPOP", "l", "x") == b"+QUEUED\r\n"  # a bad timeout is this command's error in EXEC
    assert r("EXEC") == b"*3\r\n*-1\r\n*-1\r\n-ERR timeout is not a float or out of range\r\n"


def test_smove_leaves_a_destination_that_already_has_the_member_untouched(node):
    # Redis does not touch the destination then, so a WATCH on it stays valid (set.tcl's
    # "SMOVE only notify dstset when the addition is successful").
    node.run(sadd=pb.SAdd(key=b"src", members=[b"a", b"b"]))
    node.run(sadd=pb.SAdd(key=b"dst", members=[b"a"]))
    before = node.read(key_version=pb.KeyVersion(keys=[b"dst"]))
    assert node.run(smove=pb.SMove(key=b"src", new_key=b"dst", member=b"a")) == 1
    assert node.read(key_version=pb.KeyVersion(keys=[b"dst"])) == before
    assert node.read(smembers=pb.SMembers(key=b"src")) == [b"b"]
    assert node.run(smove=pb.SMove(key=b"src", new_key=b"dst", member=b"b")) == 1
    assert node.read(key_version=pb.KeyVersion(keys=[b"dst"])) != before
    assert sorted(node.read(smembers=pb.SMembers(key=b"dst"))) == [b"a", b"b"]


def test_in_multi_forms_of_the_blocking_pops(tmp_path):
    """resp_blocking.in_multi: what a blocking pop queued in MULTI runs (Redis: the
    non-blocking pop, nil when empty), rendered with its own reply shape."""
    from raftcache.node.frontends.resp_protocol import encode

    service = FakeService(str(tmp_path / "ks"))
    try:
        def run(*args, proto=2):
            spec, command = resp_blocking.in_multi(args[0].lower(), [a.encode() for a in args], 0)
            result, _ = service._run(command)
            if spec.shape is not None and not isinstance(result, CommandError):
                result = spec.shape(result, proto, command)
            return encode(result, proto)

        assert run("BLPOP", "a", "b", "0") == b"*-1\r\n"
        service._run(pb.Command(push=pb.Push(key=b"b", values=[b"x", b"y"])))
        assert run("BLPOP", "a", "b", "0") == b"*2\r\n$1\r\nb\r\n$1\r\nx\r\n"
        assert run("BLMPOP", "0", "1", "b", "RIGHT", "COUNT", "5") == b"*2\r\n$1\r\nb\r\n*1\r\n$1\r\ny\r\n"
        assert run("BRPOPLPUSH", "b", "c", "0") == b"$-1\r\n"
        service._run(pb.Command(zadd=pb.ZAdd(key=b"z", members=[pb.ScoreMember(score=2, member=b"m")])))
        assert run("BZPOPMAX", "z", "1", proto=3) == \
            b"*3\r\n$1\r\nz\r\n$1\r\nm\r\n,2\r\n"
        assert run("BZMPOP", "0", "1", "z", "MIN") == b"*-1\r\n"
        with pytest.raises(RespError, match="timeout is negative"):
            resp_blocking.in_multi("blpop", [b"blpop", b"k", b"-1"], 0)
    finally:
        service.close()


def test_a_blocking_pop_on_a_replica_that_lags_its_own_writes_waits_instead_of_failing():
    """A blocking pop first waits (the request timeout) for this node to apply the connection's
    own writes; if it lags past that, the pops are tried once on the leader, and then it waits
    here as usual, for the node to catch up and for its deadline. The local size check then
    cannot be served yet (read_now: None): it once raised TypeError and dropped the connection
    (the fuzzer, on a follower loaded by its runaway scripts)."""
    from raftcache.node.errors import DeadlineError

    class Watcher:
        async def wait(self, index, timeout_s):
            await asyncio.sleep(timeout_s)
            raise DeadlineError("no progress")

    class Service:
        applied_index = 5
        watcher = Watcher()

        async def wait_applied(self, index):
            raise DeadlineError("this replica lags")

    class Session:
        db, last_write_index = 0, 10

        def read_now(self, command, consistency):
            return None   # the floor (10) is not applied here (5)

    class Conn:
        eof = closing = False
        unblocked = None
        service, session = Service(), Session()

    popped = []

    async def pop(key):
        popped.append(key)   # the leader's pop: nothing there
        return None

    async def scenario():
        return await resp_blocking.block(Conn(), [b"q"], "llen", 0.05, pop)

    assert asyncio.run(scenario()) is None   # the timeout's nil reply, not an exception
    assert popped == [b"q"]
    assert not resp_blocking._blocking and not resp_blocking._queues


# ---------------------------------------------------------------- blocking: who pops next


def test_the_next_client_in_line_pops_when_the_one_ahead_leaves_it():
    """Two clients blocked on one key, two elements pushed: the second client woke on an applied
    entry while the first, ahead of it in line, was still popping, and stepped aside; when the
    first's pop committed and it left the line, nothing woke the second, which slept to its
    timeout (a job queue's second worker idle while a job waited). Leaving the line wakes it."""
    async def scenario():
        applied = [0]
        watcher = AppliedWatcher(asyncio.get_running_loop(), lambda: applied[0])

        def advance():   # an entry is applied on this node
            applied[0] += 1
            watcher.notify(applied[0])

        async def wait_applied(index):
            return None

        queue = [b"job1", b"job2"]
        commits: list[asyncio.Future] = []

        async def pop(key):   # the ordinary pop, proposed and committed through the log
            commit = asyncio.get_running_loop().create_future()
            commits.append(commit)
            if len(commits) > 1:   # the second client's pop: committed at once
                advance()
                commit.set_result(None)
            await commit
            return queue.pop(0) if queue else None

        class Service(SimpleNamespace):
            @property
            def applied_index(self):
                return applied[0]

        service = Service(watcher=watcher, wait_applied=wait_applied)

        def conn():
            return SimpleNamespace(session=SimpleNamespace(db=0, last_write_index=0), service=service,
                                   eof=False, closing=False, unblocked=None)

        first, second = conn(), conn()
        size = lambda key: len(queue) if applied[0] >= 1 else 0   # noqa: E731 - the pushes apply at index 1
        tasks = [asyncio.ensure_future(resp_blocking.block(c, [b"jobs"], size, 5.0, pop, line="q")) for c in (first, second)]
        await asyncio.sleep(0)
        advance()                    # both pushes applied: both wake; the first pops, the second steps aside
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(commits) == 1
        advance()                    # the first's pop is applied: the second wakes, sees the first
        for _ in range(5):           # still in line, and waits for the next entry ...
            await asyncio.sleep(0)
        commits[0].set_result(None)  # ... then the first's outcome arrives, and it leaves the line
        done, _ = await asyncio.wait(tasks, timeout=2.0)
        return [t.result() if t in done else "still blocked" for t in tasks]

    assert asyncio.run(scenario()) == [b"job1", b"job2"]
