"""A stand-in Service, a fake transport and a client for the RESP front end's unit tests.

A real StateMachine over a real Keyspace in a temporary directory, with no
Raft: every write is stamped like the leader does (clock, seed, relative TTLs
made absolute) and applied at the next index; reads run on a read txn.
"""

from __future__ import annotations

import asyncio
import random
import time

from raftcache.node.service.opstats import OpStats
from raftcache.node.service.pubsub import Hub
from raftcache.node.service.tracking import Tracker
from raftcache.node import commands
from raftcache.node.config import FrontendConfig, KeyspaceConfig, NodeConfig, settings
from raftcache.node.frontends import resp, resp_server
from raftcache.node.storage.keyspace import Keyspace
from raftcache.node.service.diagnostics import Diagnostics
from raftcache.node.service.identity import Identity
from raftcache.node.service.service import NOT_NOW, stamp
from raftcache.node.commands.statemachine import StateMachine
from raftcache.proto import commands_pb2 as pb


class FakeService:
    def __init__(self, path: str, databases: int = 16):
        self.limits = KeyspaceConfig(path=path, databases=databases, maxmemory_bytes=64 << 20)
        self.keyspace = Keyspace(self.limits)
        self.opstats = OpStats()
        self.sm = StateMachine(self.keyspace, self.limits)
        self.index = self.keyspace.applied_index
        self.executed: list = []
        self.is_leader = True
        self._rng = random.Random(7)
        self.log_version = commands.MAX_VERSION
        self.cluster = None   # not sharded (node/service/cluster.py)
        self.tracking = Tracker()   # client-side caching (INFO reads its counts)
        self.pubsub = Hub()         # this node's subscribers
        self.shard_forwarder = None   # not sharded (node/service/shard_forward.py)
        self.skew_ms = 0                       # added to the wall clock: lets tests "wait" for expiry
        self.consistencies: list = []          # the level of every execute(), in order
        self.set_password("")
        self.diagnostics = Diagnostics()
        self.diagnostics.configure(settings.node_defaults(self.config))

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.skew_ms

    def set_password(self, password: str) -> None:
        """The node's --redis-password (before any connection is made)."""
        self.password = password
        self.identity = Identity(password, self.sm.users, self.setting)
        self.sm.on_users_change[:] = [self.identity.users_changed]

    @property
    def config(self) -> NodeConfig:
        return NodeConfig(keyspace=self.limits, frontend=FrontendConfig(redis_password=self.password))

    async def execute(self, command, consistency=None, client_id="", sequence=0, floor=0):
        assert floor <= self.index, "a floor this node has not applied"
        self.consistencies.append(consistency)
        return self._run(command)

    def start_write(self, command, client_id="", sequence=0, forward=True):
        """Like Service.start_write on the leader: (future of (result, index), proposed here)."""
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(self._run(command))
        return fut, True

    leader_id = None   # (a follower of the fake forwards nothing: it runs each write itself)
    forwarder = None

    def lanes_for(self, requests):
        return requests, []

    def give_back_lanes(self, lanes):
        pass

    def start_plain_set(self, command):
        """Like Service.start_plain_set: start_write."""
        return self.start_write(command)

    def start_plain_sets(self, commands_):
        """Like Service.start_plain_sets: start_write of each."""
        return [self.start_write(command) for command in commands_]

    def _run(self, command):
        command = self.identity.without_passwords(command)
        self.executed.append(command)
        error = commands.check_limits(command, databases=self.limits.databases,
                                      max_key_bytes=self.limits.max_key_bytes,
                                      max_value_bytes=self.limits.max_value_bytes)
        if error is not None:
            return error, 0
        now_ms = self.now_ms()
        if commands.is_read(command):
            return self.sm.read(command, now_ms), self.index
        entry = pb.LogEntry(version=commands.MAX_VERSION, now_ms=now_ms, seed=self._rng.getrandbits(63))
        entry.command.CopyFrom(command)
        stamp(entry.command, now_ms)
        self.index += 1
        return self.sm.apply(self.index, commands.encode_entry(entry)), self.index

    @property
    def settings(self) -> dict[str, str]:
        values = settings.effective(settings.node_defaults(self.config), self.sm.settings)
        if hasattr(self, "identity"):  # as Service.settings: the default user's digest
            values["requirepass"] = self.identity.requirepass_text()
        return values

    def setting(self, name: str) -> str:
        return self.settings[name]

    async def wait_applied(self, index: int) -> None:
        assert index <= self.index

    def read_now(self, command, consistency=None, floor=0):
        """Like Service.read_now: this fake serves no read inline, so every read goes through execute()."""
        return None

    def start_read(self, command, consistency=None, floor=0):
        """Like Service.start_read: a future of (result, index)."""
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(self._run(command))
        return fut

    def gets(self, db, keys, consistency=None, floor=0, done=None):
        """Like Service.gets at level `any`: GETs are served at once (the RESP hot path); this
        fake has no read index to wait for."""
        if max(map(len, keys)) > self.limits.max_key_bytes:
            return NOT_NOW
        return self.sm.get_strings(db, keys, self.now_ms())

    def get_now(self, db, key, consistency=None, floor=0):
        """Like Service.get_now: `gets` of one key served now, or NOT_NOW."""
        got = self.gets(db, [key], consistency, floor)
        return got if got is NOT_NOW else got[0]

    def script_usage(self):
        return self.sm.script_usage()

    def script_call_stats(self):
        return {name: list(stat) for name, stat in self.sm.script_stats.calls.items()}

    def script_error_stats(self):
        return dict(self.sm.script_stats.errors)

    def scripts_evicted(self):
        return self.sm.scripts_evicted_total()

    def status(self) -> dict:
        stats = self.keyspace.stats()
        return {"id": "n1", "zone": "a", "role": "leader", "leader_id": "n1", "term": 1,
                "commit_index": self.index, "applied_index": self.index, "last_index": self.index,
                "members": [{"id": "n1", "zone": "a", "connected": True, "match_index": self.index}],
                "keys": sum(stats.keys), "keys_per_db": list(stats.keys), "expires_per_db": list(stats.expires), "used_bytes": stats.used_bytes,
                "maxmemory_bytes": self.limits.maxmemory_bytes, "last_leader_contact_s": 0.0,
                "appendfsync": "everysec", "default_read": "linearizable", "stats": {},
                "keyspace_hits": self.keyspace.hits, "keyspace_misses": self.keyspace.misses}

    def reset_stats(self) -> None:
        self.keyspace.hits = self.keyspace.misses = 0

    def close(self):
        self.keyspace.close()


class FakeTransport(asyncio.Transport):
    def __init__(self):
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.reading = True

    def write(self, data):
        self.writes.append(bytes(data))

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = True

    def set_write_buffer_limits(self, high=None, low=None):
        self.write_limits = (high, low)

    def get_write_buffer_size(self):
        return 0  # everything written is taken at once

    def is_closing(self):
        return self.closed

    def pause_reading(self):
        self.reading = False

    def resume_reading(self):
        self.reading = True

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 5555) if name in ("peername", "sockname") else default


class Client:
    def __init__(self, service, password=""):
        service.set_password(password)
        self.state = resp_server.RespServer(service, FrontendConfig(redis_password=password), "127.0.0.1", 0)
        self.conn = resp.Connection(self.state)
        self.transport = FakeTransport()
        self.conn.connection_made(self.transport)

    async def send(self, data: bytes) -> bytes:
        self.conn.data_received(data)
        while self.conn.task is not None:
            await asyncio.sleep(0)
        await asyncio.sleep(0)   # the port sends the turn's replies after the turn (StreamConnection.write)
        out = b"".join(self.transport.writes)
        self.transport.writes.clear()
        return out


def cmd(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)
