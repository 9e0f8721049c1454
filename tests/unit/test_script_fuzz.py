"""Property: generated hostile scripts leave two replicas identical (the fuzzer's Lua: Redis
commands with extreme arguments called, caught and looped from inside scripts, math.random and
TIME, the Lua libraries' odd inputs, runaway loops, sandbox probes; EVAL, EVAL_RO, EVALSHA,
SCRIPT LOAD, FUNCTION LOAD and FCALL through the RESP front end's builders), alone or together
in one MULTI … EXEC.

Both state machines run in one thread and so share one Lua runtime: a script that left
something behind in it (a global, a metatable, a generator's state) would make the second
replica's run differ from the first's, as replicas' runtimes differ in what read-only scripts
they ran. Each entry carries its own seed; apply must answer every one without raising.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftcache.node import commands, scripting
from raftcache.node.commands import script_read_cache
from raftcache.node.frontends.resp_protocol import RespError
from raftcache.node.frontends.resp_table import TABLE
from raftcache.proto import cache_pb2
from raftcache.proto import commands_pb2 as pb
from scripts.fuzz import strategies
from tests.unit.test_statemachine import Node

scripting.install()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    nodes = [Node(str(tmp_path_factory.mktemp(name) / "ks")) for name in ("a", "b")]
    for node in nodes:
        for _, _, data in strategies.seed_actions(list(range(len(strategies.KEYS)))):
            command = cache_pb2.Request.FromString(data).command
            name = command.WhichOneof("op")
            node.run(db=command.db, **{name: getattr(command, name)})
    yield nodes
    for node in nodes:
        node.ks.close()
    script_read_cache.forget()


def _command(argv: list[bytes]) -> pb.Command | None:
    """The command the RESP front end logs for `argv`, or None when it refuses it."""
    name = argv[0].lower()
    if name == b"script":   # SCRIPT LOAD and FUNCTION LOAD are the server commands' own
        return pb.Command(script_load=pb.ScriptLoad(body=argv[2]))
    if name == b"function":
        return pb.Command(function_load=pb.FunctionLoad(code=argv[-1], replace=True))
    try:
        return TABLE[name].build(argv, 0)
    except RespError:
        return None


def _entry(argv: list[bytes], seed: int, now_ms: int) -> pb.LogEntry | None:
    command = _command(argv)
    if command is None:
        return None
    return pb.LogEntry(version=commands.MAX_VERSION, now_ms=now_ms, seed=seed, command=command)


def _apply(node: Node, entries: list[pb.LogEntry]):
    writes = [e for e in entries if e.command.WhichOneof("op") not in commands.READ_COMMANDS]
    reads = [node.sm.read(e.command, e.now_ms) for e in entries if e not in writes]
    if not writes:
        return reads
    node.index += 1
    data = commands.encode_batch(writes) if len(writes) > 1 else commands.encode_entry(writes[0])
    return node.sm.apply(node.index, data), reads


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(scripts=st.lists(st.tuples(strategies.resp_script(), st.integers(0, 2**63 - 1)), min_size=1, max_size=4),
       in_multi=st.booleans())
def test_hostile_scripts_leave_two_replicas_identical(replicas, scripts, in_multi):
    a, b = replicas
    now_ms = a.now_ms + a.index   # moves on: TIME and expiries differ from batch to batch, alike on both
    entries = [e for e in (_entry(argv, seed, now_ms) for argv, seed in scripts) if e is not None]
    if not entries:
        return
    if in_multi:   # MULTI … EXEC of them: one entry
        entries = [pb.LogEntry(version=commands.MAX_VERSION, now_ms=now_ms, seed=entries[0].seed,
                               command=pb.Command(transaction=pb.Transaction(commands=[e.command for e in entries])))]
    first = _apply(a, entries)
    assert repr(first) == repr(_apply(b, entries))
    assert a.dump() == b.dump()
