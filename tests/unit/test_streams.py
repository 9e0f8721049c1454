"""Streams on a local state machine (node/storage/stream.py, node/commands/streams.py),
commands built by the RESP front end's parsers:

- the layout: a stream is its header record plus one item record per entry,
  node, group, consumer and pending entry, so a write touches O(1) records
  and a copy of the keyspace checks out (keyspace.check_items);
- Redis's nodes: random XADD/XDEL/XTRIM with every trimming form and several
  stream-node-max-entries give the same lengths, entries and XINFO counters
  as a real redis-server;
- ids: their byte order is their order, and the edges of incr/decr;
- consumer groups keep their counters equal to their records.
"""

from __future__ import annotations

import random

import pytest

from raftcache.node.frontends.resp_table import TABLE
from raftcache.node.storage import keyspace as ks
from raftcache.node.storage import stream as st
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import Node


@pytest.fixture
def node(tmp_path):
    n = Node(str(tmp_path / "ks"))
    yield n
    n.ks.close()


def run(node: Node, *args):
    """One RESP command on the local state machine (a write is applied, a read read)."""
    words = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    command = TABLE[words[0].lower()].build(words, 0)
    name = command.WhichOneof("op")
    if name in ("xlen", "xrange", "xread", "xpending", "xinfo"):
        return node.sm.read(command, node.now_ms)
    node.now_ms += 1
    return node.run(**{name: getattr(command, name)})


def test_ids_sort_as_bytes_and_wrap_at_the_edges():
    ids = [(0, 0), (0, 1), (1, 0), (2**64 - 1, 0), (2**64 - 1, 2**64 - 1)]
    assert sorted(ids, key=st.encode_id) == ids
    assert st.incr((1, 2**64 - 1)) == (2, 0) and st.incr(st.MAX_ID) is None
    assert st.decr((2, 0)) == (1, 2**64 - 1) and st.decr(st.MIN_ID) is None
    assert st.decode_id(st.encode_id((5, 7))) == (5, 7) and st.id_text((5, 7)) == b"5-7"


def test_a_stream_is_its_header_and_one_record_per_item(node, tmp_path):
    run(node, "XADD", "s", "1-0", "f", "v")
    size = len(node.ks.reader().__enter__().get_raw(0, b"s").value)
    for i in range(2, 1500):
        run(node, "XADD", "s", f"{i}-0", "field", "x" * 10)
    with node.ks.reader() as r:
        record = r.get_raw(0, b"s")
        assert record.type == ks.ValueType.STREAM and ks.is_itemized(record)
        assert len(record.value) == size   # the header only: appends do not rewrite the stream
        cid, items = ks.container_ref(record)
        assert items == 1499 + 15   # 1499 entries in 15 nodes of 100
    assert run(node, "XRANGE", "s", "700", "701") == [[b"700-0", [b"field", b"x" * 10]], [b"701-0", [b"field", b"x" * 10]]]
    run(node, "XGROUP", "CREATE", "s", "g", "0")
    run(node, "XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", "s", ">")
    copy = str(tmp_path / "copy.mdb")
    node.ks.copy_to(copy)
    assert ks.check_items(copy) == 1514 + 1 + 1 + 20   # + group, consumer, 10 pending entries twice


def test_trimming_matches_redis_nodes(node, real_redis):
    """Random XADD (MAXLEN/MINID, =/~, LIMIT), XDEL and XTRIM, at several node sizes."""
    rng = random.Random(12)
    for node_max in (100, 10, 3, 1):
        real_redis.config_set("stream-node-max-entries", node_max)
        node.run(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="stream-node-max-entries",
                                                                   value=str(node_max))]))
        for trial in range(3):
            key = f"s{node_max}-{trial}"
            for j in range(1, rng.randint(2, 250)):
                action = rng.random()
                if action < 0.75:
                    args = ["XADD", key, *_trim_args(rng, j), f"{j}-0", "f", j]
                elif action < 0.85:
                    args = ["XDEL", key, f"{rng.randint(1, j)}-0"]
                else:
                    args = ["XTRIM", key, *_trim_args(rng, j, required=True)]
                assert run(node, *args) == _raw(real_redis, *args), args
            assert run(node, "XLEN", key) == real_redis.xlen(key)
            assert run(node, "XRANGE", key, "-", "+") == _raw(real_redis, "XRANGE", key, "-", "+")
            mine = dict(zip(*[iter(run(node, "XINFO", "STREAM", key))] * 2))
            theirs = _raw(real_redis, "XINFO", "STREAM", key)
            theirs = dict(zip(theirs[0::2], theirs[1::2]))
            for field in (b"length", b"radix-tree-keys", b"last-generated-id", b"max-deleted-entry-id",
                          b"entries-added", b"recorded-first-entry-id"):
                assert mine[field] == theirs[field], (key, field)
    real_redis.config_set("stream-node-max-entries", 100)


def _trim_args(rng: random.Random, j: int, required: bool = False) -> list:
    if not required and rng.random() < 0.5:
        return []
    kind = rng.choice(["MAXLEN", "MINID"])
    mode = rng.choice(["~", "=", None])
    args = [kind] + ([mode] if mode else []) + [rng.randint(0, 120) if kind == "MAXLEN" else f"{rng.randint(0, j)}-0"]
    if mode == "~" and rng.random() < 0.3:
        args += ["LIMIT", rng.randint(0, 40)]
    return args


def _raw(r, *args):
    """Redis's reply without redis-py's callbacks."""
    conn = r.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        r.connection_pool.release(conn)


def test_group_counters_follow_their_records(node):
    rng = random.Random(5)
    run(node, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    consumers = ["a", "b", "c"]
    for j in range(1, 300):
        action = rng.random()
        if action < 0.4:
            run(node, "XADD", "s", f"{j}-0", "f", j)
        elif action < 0.6:
            run(node, "XREADGROUP", "GROUP", "g", rng.choice(consumers), "COUNT", rng.randint(1, 5), "STREAMS", "s", ">")
        elif action < 0.7:
            run(node, "XACK", "s", "g", f"{rng.randint(1, j)}-0")
        elif action < 0.8:
            run(node, "XCLAIM", "s", "g", rng.choice(consumers), 0, f"{rng.randint(1, j)}-0")
        elif action < 0.87:
            run(node, "XAUTOCLAIM", "s", "g", rng.choice(consumers), 0, "0", "COUNT", 3)
        elif action < 0.93:
            run(node, "XDEL", "s", f"{rng.randint(1, j)}-0")
        else:
            run(node, "XGROUP", "DELCONSUMER", "s", "g", rng.choice(consumers))
    with node.ks.reader() as r:
        s = st.Stream(r, 0, b"s", r.get_raw(0, b"s"))
        group = s.group(b"g")
        pending = list(s.pending(b"g"))
        assert group.pending == len(pending)
        listed = s.consumers(b"g")
        assert group.consumers == len(listed)
        for name, consumer in listed:
            own = list(s.pending(b"g", consumer=name))
            assert consumer.pending == len(own) and all(n.consumer == name for _, n in own)
        assert sum(c.pending for _, c in listed) == len(pending)


def test_xread_dollar_on_a_replica_that_lags_the_connections_own_writes_says_try_again():
    """`$` names the last entry as the client's own earlier XADDs left it: the node first waits
    (the request timeout) to apply them; a replica still behind answers TRYAGAIN. Its copy's
    XPROBE could not be served yet (read_now: None), which once raised TypeError and dropped the
    connection (a second reader found it beside the blocking pops' same fault)."""
    import asyncio

    from raftcache.node.errors import DeadlineError
    from raftcache.node.frontends import resp_streams
    from raftcache.node.frontends.resp_protocol import RespError

    from raftcache.node import commands

    class Service:
        log_version = commands.MAX_VERSION

        async def wait_applied(self, index):
            raise DeadlineError("this replica lags")

    class Session:
        db, last_write_index = 0, 10

        def read_now(self, command, consistency):
            return None

    class Conn:
        service, session = Service(), Session()

    with pytest.raises(RespError, match="TRYAGAIN"):
        asyncio.run(resp_streams.xread_blocking(Conn(), [b"XREAD", b"BLOCK", b"100", b"STREAMS", b"s", b"$"]))
    assert resp_streams._probe(Conn(), b"s") is resp_streams._NOT_APPLIED
    # a new cluster whose log has no streams yet (read_now leaves XPROBE to wait for the version):
    # no stream, not a lagging replica
    Conn.service.log_version = commands.SINCE_VERSION["xprobe"] - 1
    assert resp_streams._probe(Conn(), b"s") is None
