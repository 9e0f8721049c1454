"""Online resharding end to end: 2 shards x 3 node processes, slots moved by `raftcache ctl reshard`
(raftcache/reshard.py) while redis-py's RedisCluster keeps writing. One cluster for the module;
each test moves its own slots.

What a user checks: every acknowledged write is read back with its last value after the move and
none is left behind in the old shard; -ASK / ASKING as Redis answers them while a slot migrates
(and redis-py follows them); a mover killed mid-move and run again completes it; a shard leader
killed mid-move loses nothing acknowledged.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, MovedError

from raftcache import slots
from raftcache.client import Client
from raftcache.client.errors import DeadlineExceededError
from raftcache.client.transport import GrpcTransport
from raftcache.localcluster import wait_until
from raftcache.node import commands
from raftcache.proto import commands_pb2 as pb
from raftcache.reshard import Cluster, Shards
from tests.cluster import running_sharded


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, request):
    with running_sharded(tmp_path_factory, request, "reshard", spare_shards=1) as cluster:   # add-shard's
        cluster.wait_log_version(commands.RESHARD_DEDUP_VERSION, timeout_s=60)
        for shard in cluster.shards:   # every node has applied its shard's initial claim
            for node in shard.nodes:
                wait_until(lambda: shard.status(node).shard.epoch >= 1, 30, f"{node.id}'s slot claim")
        yield cluster


def _rc(sharded) -> RedisCluster:
    node = next(n for n in sharded.nodes if n.alive)
    host, port = node.redis_address
    return RedisCluster(host=host, port=port, socket_timeout=10)


def _ctl(sharded, *args, timeout_s: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "raftcache", "ctl", "--data-dir", sharded.root, *args],
                          capture_output=True, text=True, timeout=timeout_s)


def _mover(sharded, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "raftcache", "ctl", "--data-dir", sharded.root, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _keys_in(first: int, last: int, n: int, prefix: str) -> list[str]:
    out, i = [], 0
    while len(out) < n:
        key = f"{prefix}:{i}"
        if first <= slots.key_slot(key.encode()) <= last:
            out.append(key)
        i += 1
    return out


def _owner(sharded, slot: int) -> int:
    """The shard CLUSTER SLOTS (asked of a node of shard 1) names for `slot`."""
    node = next(n for n in sharded.nodes if n.alive)
    with redis.Redis(*node.redis_address, socket_timeout=10) as r:
        for first, last, master, *_ in r.execute_command("CLUSTER", "SLOTS"):
            if first <= slot <= last:
                return next(i + 1 for i, shard in enumerate(sharded.shards)
                            if any(n.redis_address[1] == master[1] for n in shard.nodes))
    return 0


def _left_in(sharded, shard: int, first: int, last: int) -> list[bytes]:
    """Keys of slots first..last still stored in `shard` (a SCAN of its leader's keyspace)."""
    with redis.Redis(*sharded.shards[shard - 1].leader().redis_address, socket_timeout=10) as r:
        return [k for k in r.scan_iter(count=1000) if first <= slots.key_slot(k) <= last]


class _Load:
    """A client load over `keys` in a thread (`_run`), for at most `max_s` or until the `with`
    block ends; `errors` collects what its requests raised."""

    join_grace_s = 30.0

    def __init__(self, keys: list[str], max_s: float):
        self.keys, self.max_s = keys, max_s
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """Release what the load holds once its thread is done."""

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.max_s + self.join_grace_s)
        self._close()


class Writer(_Load):
    """RedisCluster writing keys round-robin in a thread, for at most `max_s` (or until stopped):
    `acked` holds each key's last acknowledged value, `doubt` the values of writes whose outcome
    is unknown (an error after sending)."""

    def __init__(self, sharded, keys: list[str], max_s: float = 120.0, seeded: str | None = None):
        super().__init__(keys, max_s)
        self.acked: dict[str, str] = {} if seeded is None else dict.fromkeys(keys, seeded)
        self.doubt: dict[str, set[str]] = {}
        self.writes = 0
        self._client = _rc(sharded)

    def _close(self) -> None:
        self._client.close()

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_s
        n = 0
        while not self._stop.is_set() and time.monotonic() < deadline and n < 200_000:
            key = self.keys[n % len(self.keys)]
            value = f"v{n}"
            n += 1
            try:
                self._client.set(key, value)
            except redis.RedisError as e:
                self.errors.append(f"{type(e).__name__}: {e}")
                self.doubt.setdefault(key, set()).add(value)
                continue
            self.acked[key] = value
            self.doubt.pop(key, None)
            self.writes += 1

    def wait_writes(self, n: int, timeout_s: float = 60) -> None:
        start = self.writes
        wait_until(lambda: self.writes >= start + n, timeout_s, f"{n} more acknowledged writes")

    def check(self, client: RedisCluster) -> None:
        """Every key reads back its last acknowledged value (or a later write in doubt)."""
        wrong = {}
        for key in self.keys:
            got = client.get(key)
            got = got.decode() if got is not None else None
            if got != self.acked.get(key) and got not in self.doubt.get(key, ()):
                wrong[key] = (got, self.acked.get(key))
        assert not wrong, f"{len(wrong)} keys read back wrong (got, acknowledged): {list(wrong.items())[:5]}"


class Counters(_Load):
    """The SDK incrementing counters round-robin in a thread, for at most `max_s` (or until stopped):
    each acknowledged INCR's answer is recorded. `check`: a counter's answers are distinct and its
    final value counts every acknowledged INCR once -- at most the failed ones (outcome unknown)
    more -- so an INCR applied twice (a retry applied again) shows."""

    join_grace_s = 60.0

    def __init__(self, sharded, keys: list[str], max_s: float = 120.0):
        super().__init__(keys, max_s)
        self.seeds = [n.grpc_address for n in sharded.nodes if n.alive]
        self.answers: dict[str, list[int]] = {k: [] for k in keys}
        self.failed: dict[str, int] = dict.fromkeys(keys, 0)

    @property
    def acked(self) -> int:
        return sum(map(len, self.answers.values()))

    def _run(self) -> None:
        from raftcache.client.errors import RaftcacheError

        deadline = time.monotonic() + self.max_s
        with Client(self.seeds, timeout_s=30) as cache:
            n = 0
            while not self._stop.is_set() and time.monotonic() < deadline and n < 100_000:
                key = self.keys[n % len(self.keys)]
                n += 1
                try:
                    self.answers[key].append(cache.incr(key))
                except RaftcacheError as e:
                    self.errors.append(f"{type(e).__name__}: {e}")
                    self.failed[key] += 1

    def wait_acked(self, n: int, timeout_s: float = 60) -> None:
        start = self.acked
        wait_until(lambda: self.acked >= start + n, timeout_s, f"{n} more acknowledged INCRs")

    def check(self, client: RedisCluster) -> None:
        wrong = {}
        for key in self.keys:
            answers = self.answers[key]
            final = int(client.get(key) or 0)
            if len(set(answers)) != len(answers) or not len(answers) <= final <= len(answers) + self.failed[key] \
                    or (answers and max(answers) > final):
                wrong[key] = (final, len(answers), self.failed[key], answers[-5:])
        assert not wrong, f"counters off (final, acknowledged, failed, last answers): {list(wrong.items())[:5]}"


def test_reshard_under_a_writing_client_loses_nothing(sharded):
    first, last = 100, 149
    keys = _keys_in(first, last, 150, "moving") + _keys_in(200, 16383, 50, "staying")
    with _rc(sharded) as rc:
        for i, key in enumerate(keys):
            rc.set(key, "seed")
        counters = Counters(sharded, _keys_in(first, last, 20, "count"))
        with Writer(sharded, keys, seeded="seed") as writer, counters:
            writer.wait_writes(100)
            counters.wait_acked(20)
            done = _ctl(sharded, "reshard", "--slots", f"{first}-{last}", "--to", "2", "--batch", "20")
            assert done.returncode == 0, done.stdout + done.stderr
            assert "moved slots 100-149 from shard 1 to shard 2" in done.stdout
            writer.wait_writes(100)
            counters.wait_acked(20)
        assert writer.writes > 200, writer.errors[:5]
        writer.check(rc)
        counters.check(rc)   # the SDK's INCRs, through the move: each applied once
    assert not counters.errors, f"the SDK failed calls during the move: {counters.errors[:5]}"
    assert _owner(sharded, first) == 2 and _owner(sharded, last) == 2 and _owner(sharded, last + 1) == 1
    assert _left_in(sharded, 1, first, last) == [], "the old shard holds no copy of a moved key"
    out = _ctl(sharded, "shards").stdout
    assert "shard 2: 8242 slots 100-149,8192-16383" in out, out


def test_ask_and_asking_while_a_slot_migrates(sharded):
    """Begin a move by hand (the mover's first steps), then check what each node answers."""
    slot = 300
    held, fresh = _keys_in(slot, slot, 1, "held")[0], _keys_in(slot, slot, 1, "fresh")[0]
    with _rc(sharded) as rc:
        rc.set(held, "at-source")
    cmap_members = {i + 1: [n.grpc_address for n in shard.nodes] for i, shard in enumerate(sharded.shards)}
    shards = Shards(cmap_members, sharded.secret)
    try:
        cluster = Cluster(shards)
        epoch = max(cluster.epoch(s) for s in (1, 2)) + 1
        ranges = [pb.SlotRange(first=slot, last=slot)]
        shards.step(2, begin=pb.BeginMigration(role=pb.BeginMigration.IMPORTING, peer=1, epoch=epoch, ranges=ranges))
        shards.step(1, begin=pb.BeginMigration(role=pb.BeginMigration.MIGRATING, peer=2, epoch=epoch, ranges=ranges))
        source = sharded.shards[0].nodes[1]
        target = sharded.shards[1].nodes[2]
        for node in (*sharded.shards[0].nodes, *sharded.shards[1].nodes):   # every member applied the begin
            wait_until(lambda: sharded.shards[0 if node in sharded.shards[0].nodes else 1].status(node)
                       .shard.migration.role != 0, 20, f"{node.id} to apply the begin")
        with redis.Redis(*source.redis_address, socket_timeout=10) as r:
            assert r.get(held) == b"at-source", "a key the source still holds is served there"
            with pytest.raises(AskError, match=rf"^{slot} 127\.0\.0\.1:\d+$"):   # -ASK, parsed by redis-py
                r.get(fresh)
            with pytest.raises(AskError, match=rf"^{slot} "):
                r.set(fresh, "new")
        with redis.Redis(*target.redis_address, socket_timeout=10) as r:
            with pytest.raises(MovedError, match=rf"^{slot} "):
                r.get(fresh)
            assert r.execute_command("ASKING") is True
            assert r.get(fresh) is None, "after ASKING the importing shard serves the slot (here: a follower)"
            with pytest.raises(MovedError, match=rf"^{slot} "):
                r.get(fresh)   # ASKING holds for one command
            r.execute_command("ASKING")
            assert r.set(fresh, "via-asking")
        with _rc(sharded) as rc:   # redis-py follows -ASK (sending ASKING) for a new key
            assert rc.set(f"{{{fresh}}}:2", "new-key") and rc.get(f"{{{fresh}}}:2") == b"new-key"
            assert rc.get(fresh) == b"via-asking" and rc.get(held) == b"at-source"
        with Client([sharded.shards[0].nodes[0].grpc_address], timeout_s=30) as cache:   # the SDK follows ASK too
            assert cache.get(held) == b"at-source" and cache.get(fresh) == b"via-asking"
            assert cache.set(f"{{{fresh}}}:sdk", "sdk-new") and cache.get(f"{{{fresh}}}:sdk") == b"sdk-new"
            assert cache.incr(f"{{{fresh}}}:n") == 1 and cache.incr(f"{{{fresh}}}:n") == 2
            pipe = cache.pipeline(transaction=False)   # a pipeline's requests follow ASK one by one
            assert pipe.get(held).get(fresh).incr(f"{{{fresh}}}:n").execute() == [b"at-source", b"via-asking", 3]
    finally:
        shards.close()
    done = _ctl(sharded, "reshard", "--slots", str(slot), "--to", "2")   # finishes the move begun by hand
    assert done.returncode == 0, done.stdout + done.stderr
    with _rc(sharded) as rc:
        assert rc.get(held) == b"at-source" and rc.get(fresh) == b"via-asking"
        assert rc.get(f"{{{fresh}}}:2") == b"new-key" and rc.get(f"{{{fresh}}}:n") == b"3"
    assert _owner(sharded, slot) == 2 and _left_in(sharded, 1, slot, slot) == []


def _wait_copying(sharded, source: int, target_keys_before: int, target: int, mover) -> None:
    def copying():
        if mover.poll() is not None:
            raise AssertionError(f"the mover stopped before the test killed it: {mover.stdout.read()}")
        leader = sharded.shards[source - 1].leader()
        if sharded.shards[source - 1].status(leader).shard.migration.role == 0:
            return False
        with redis.Redis(*sharded.shards[target - 1].leader().redis_address, socket_timeout=10) as r:
            return r.dbsize() > target_keys_before + 20
    wait_until(copying, 90, "the mover to copy some keys", interval_s=0.02)


def _dbsize(sharded, shard: int) -> int:
    with redis.Redis(*sharded.shards[shard - 1].leader().redis_address, socket_timeout=10) as r:
        return r.dbsize()


def test_a_mover_killed_mid_move_resumes_when_run_again(sharded):
    first, last = 400, 449
    keys = _keys_in(first, last, 1200, "resume")   # 240 batches of 5: a loaded machine still sees it copy
    with _rc(sharded) as rc:
        for i, key in enumerate(keys):
            rc.set(key, f"seed{i}")
        before = _dbsize(sharded, 2)
        mover = _mover(sharded, "reshard", "--slots", f"{first}-{last}", "--to", "2", "--batch", "5")
        try:
            _wait_copying(sharded, 1, before, 2, mover)
        finally:
            mover.send_signal(signal.SIGKILL)
            mover.wait(30)
        assert _owner(sharded, first) == 1, "killed mid-move: the slots are still the source's"
        status = _ctl(sharded, "shards").stdout
        assert "migrating to shard 2: 400-449" in status, status
        assert all(rc.get(key) == f"seed{i}".encode() for i, key in enumerate(keys)), "mid-move, every key reads"
        done = _ctl(sharded, "reshard", "--slots", f"{first}-{last}", "--to", "2")
        assert done.returncode == 0, done.stdout + done.stderr
        assert all(rc.get(key) == f"seed{i}".encode() for i, key in enumerate(keys))
    assert _owner(sharded, first) == 2 and _left_in(sharded, 1, first, last) == []


def test_a_source_leader_killed_mid_move_loses_nothing(sharded):
    """SIGKILL of the source shard's leader while the mover copies and a client writes: the mover
    goes on with the new leader (or, run again, finishes); every acknowledged write is there."""
    first, last = 500, 549
    keys = _keys_in(first, last, 400, "failover")
    shard1 = sharded.shards[0]
    with _rc(sharded) as rc:
        for key in keys:
            rc.set(key, "seed")
        before = _dbsize(sharded, 2)
        with Writer(sharded, keys, seeded="seed") as writer:
            mover = _mover(sharded, "reshard", "--slots", f"{first}-{last}", "--to", "2", "--batch", "10")
            try:
                _wait_copying(sharded, 1, before, 2, mover)
                victim = shard1.leader()
                shard1.kill(victim)
                out, _ = mover.communicate(timeout=240)
            finally:
                if mover.poll() is None:
                    mover.kill()
                    mover.wait(30)
            if mover.returncode != 0:   # the mover gave up on the election: run it again
                again = _ctl(sharded, "reshard", "--slots", f"{first}-{last}", "--to", "2")
                assert again.returncode == 0, out + again.stdout + again.stderr
            writer.wait_writes(50)
        shard1.restart(victim)
        writer.check(rc)
    assert _owner(sharded, first) == 2 and _left_in(sharded, 1, first, last) == []


class _LosesOneReply:
    """The SDK's network, except that the reply to the first write `lose` picks is lost: the write
    was applied, `then` runs (the slot moves), and the client sees a timeout (so it retries)."""

    def __init__(self, lose, then):
        self._inner, self._lose, self._then = GrpcTransport(), lose, then
        self.lost: list = []

    async def execute(self, address, request, timeout_s):
        reply = await self._inner.execute(address, request, timeout_s)
        if not self.lost and self._lose(request):
            self.lost.append((request.client_id, request.sequence, reply))
            await asyncio.to_thread(self._then)
            raise DeadlineExceededError("the reply was lost")
        return reply

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_an_sdk_write_retried_after_its_slot_moved_is_applied_once(sharded):
    """The SDK's INCR is applied by the old shard, its reply is lost, the slot moves, and the retry
    (same client id and sequence) reaches the new shard: it answers the first outcome, it does not
    increment again (the move carried the old shard's dedup table)."""
    slot = 600
    key = _keys_in(slot, slot, 1, "once")[0]
    moved = []

    def move():
        moved.append(_ctl(sharded, "reshard", "--slots", str(slot), "--to", "2"))

    transport = _LosesOneReply(lambda r: r.command.WhichOneof("op") == "incr_by", move)
    with Client([sharded.shards[0].nodes[0].grpc_address], transport=transport, timeout_s=240) as cache:
        assert cache.set(key, 10)
        assert _owner(sharded, slot) == 1
        assert cache.incr(key) == 11, "the retry answers the first attempt's outcome"
        assert moved and moved[0].returncode == 0, moved[0].stdout + moved[0].stderr
        assert transport.lost and transport.lost[0][2].value.integer == 11
        assert _owner(sharded, slot) == 2
        assert cache.get(key) == b"11", "applied once"
        assert cache.incr(key) == 12
    with _rc(sharded) as rc:
        assert rc.get(key) == b"12"
    assert _left_in(sharded, 1, slot, slot) == []


def test_a_stream_moves_with_its_slot(sharded):
    slot = 610
    key = _keys_in(slot, slot, 1, "stream")[0]
    with _rc(sharded) as rc:
        ids = [rc.xadd(key, {"n": n}) for n in range(50)]
        rc.xgroup_create(key, "workers", id="0")
        rc.xreadgroup("workers", "alice", {key: ">"}, count=20)
        rc.xack(key, "workers", ids[0])
        before = (rc.xrange(key), rc.xinfo_groups(key), rc.xpending(key, "workers"))
        with pytest.raises(redis.ResponseError):
            rc.dump(key)   # DUMP still does not serialise a stream for users
        done = _ctl(sharded, "reshard", "--slots", str(slot), "--to", "2")
        assert done.returncode == 0, done.stdout + done.stderr
        assert _owner(sharded, slot) == 2 and _left_in(sharded, 1, slot, slot) == []
        assert (rc.xrange(key), rc.xinfo_groups(key), rc.xpending(key, "workers")) == before
        assert rc.xadd(key, {"n": "after"}) > ids[-1]
        assert rc.xlen(key) == 51


def test_rebalance_evens_the_slots_out(sharded):
    """Last but one: after the moves above shard 2 owns more than half; rebalance gives the surplus
    back (its highest slots) and every key stays readable."""
    keys = _keys_in(16300, 16383, 100, "rebalance")
    with _rc(sharded) as rc:
        for key in keys:
            rc.set(key, key)
        done = _ctl(sharded, "rebalance", "--batch", "50")
        assert done.returncode == 0, done.stdout + done.stderr
        assert [rc.get(key) for key in keys] == [key.encode() for key in keys]
    out = _ctl(sharded, "shards").stdout
    assert "shard 1: 8192 slots" in out and "shard 2: 8192 slots" in out, out
    assert "the slots are balanced already" in _ctl(sharded, "rebalance").stdout


def _check_the_old_nodes_reach_the_new_shard(sharded, keys: list[str]) -> None:
    """A node started before `add-shard` (its map had 2 shards) forwards memcached commands for the
    new shard's keys there and relays PUBLISH to the new shard's subscribers."""
    import json
    import os

    from pymemcache.client.base import Client as Memcache

    with open(os.path.join(sharded.root, "cluster.json")) as f:
        new_nodes = [n for n in json.load(f)["nodes"] if n.get("shard") == 3]
    new_redis = [(h, int(p)) for h, _, p in (n["redis"].rpartition(":") for n in new_nodes)]
    old = sharded.shards[0].nodes[0]
    with redis.Redis(*old.redis_address, socket_timeout=10) as r:
        third = [(a, b) for a, b, master, *_ in r.execute_command("CLUSTER", "SLOTS")
                 if int(master[1]) in {port for _, port in new_redis}]
    assert third, "the old node's view names shard 3's slots"
    moved = [k for k in keys if any(a <= slots.key_slot(k.encode()) <= b for a, b in third)]
    fresh = [k for k in _keys_in(0, 16383, 400, "mc-new") if any(a <= slots.key_slot(k.encode()) <= b
                                                                 for a, b in third)][:10]
    assert moved and fresh
    mc = Memcache(old.memcached_address, timeout=10, connect_timeout=10)
    try:
        assert mc.get_many(moved) == {k: k.encode() for k in moved}, "keys that moved to shard 3"
        for key in fresh:
            assert mc.set(key, "via-old-node", noreply=False)
        assert mc.get_many(fresh) == dict.fromkeys(fresh, b"via-old-node")
    finally:
        mc.close()
    with redis.Redis(*new_redis[0], socket_timeout=10) as r:   # stored in shard 3 itself
        assert [r.get(k) for k in fresh] == [b"via-old-node"] * len(fresh)
    subscriber = redis.Redis(*new_redis[1], socket_timeout=10)
    pubsub = subscriber.pubsub()
    try:
        pubsub.subscribe("scale-news")
        assert pubsub.get_message(timeout=10)["type"] == "subscribe"
        with redis.Redis(*old.redis_address, socket_timeout=10) as publisher:
            publisher.publish("scale-news", "to-shard-3")
        got: list = []

        def arrived() -> bool:
            message = pubsub.get_message(timeout=0.2)
            if message is not None and message["type"] == "message":
                got.append(message["data"])
            return bool(got)
        wait_until(arrived, 20, "the PUBLISH relayed to shard 3")
        assert got == [b"to-shard-3"]
    finally:
        pubsub.close()
        subscriber.close()


def test_add_a_shard_then_empty_and_remove_it(sharded):
    """Last: `ctl add-shard --start` registers a third shard in cluster.json, starts its nodes and
    rebalances onto it (every node reads the new map); `rebalance --exclude 3` empties it and
    `remove-shard 3 --stop` takes it out. Every key written before stays readable throughout."""
    import json
    import os

    keys = _keys_in(0, 16383, 300, "scale")
    with _rc(sharded) as rc:
        for key in keys:
            rc.set(key, key)
    try:
        added = _ctl(sharded, "add-shard", "--nodes", "3", "--start", "--batch", "100", timeout_s=600)
        assert added.returncode == 0, added.stdout + added.stderr
        out = _ctl(sharded, "shards").stdout
        assert all(f"shard {s}: " in out for s in (1, 2, 3)), out
        assert "shard 3: 5461 slots" in out, out
        with _rc(sharded) as rc:
            assert [rc.get(key) for key in keys] == [key.encode() for key in keys]
            assert len(rc.get_primaries()) == 3
        _check_the_old_nodes_reach_the_new_shard(sharded, keys)
        refused = _ctl(sharded, "remove-shard", "3")
        assert refused.returncode == 1 and "owns 5461 slots" in refused.stderr
        emptied = _ctl(sharded, "rebalance", "--exclude", "3", "--batch", "100", timeout_s=600)
        assert emptied.returncode == 0, emptied.stdout + emptied.stderr
        removed = _ctl(sharded, "remove-shard", "3", "--stop")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        out = _ctl(sharded, "shards").stdout
        assert "shard 3" not in out and "shard 1: 8192 slots" in out, out
        with _rc(sharded) as rc:
            assert [rc.get(key) for key in keys] == [key.encode() for key in keys]
    finally:   # the new shard's processes were started by `ctl add-shard`: stop them whatever happened
        with open(os.path.join(sharded.root, "cluster.json")) as f:
            pids = [n["pid"] for n in json.load(f)["nodes"] if n.get("shard") == 3 and n.get("pid")]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
