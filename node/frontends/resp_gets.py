"""GETs served without a Command (the Redis port's hot path): a -P 1 client's GET and a
pipeline's GETs are read together in one transaction when no waiting is needed, or join
the node's shared read round together at a level that waits for a read index (both
Session.gets), their replies written at once. resp.Connection is a
GetFastPaths; every case these paths do not take (MULTI, a restricted user, subscriber mode,
a cluster redirection, CLIENT REPLY muting or CLIENT PAUSE, a client not reading its replies, an
error) goes to the ordinary path, which answers as Redis does.
"""

from __future__ import annotations

import asyncio
import time

from raftcache.node.frontends import resp_cluster
from raftcache.node.frontends.resp_protocol import NIL, encode
from raftcache.node.service.service import NOT_NOW
from raftcache.node.service.session import MAX_READS_IN_FLIGHT


class GetFastPaths:
    """The GET fast paths of a RESP connection (module docstring)."""

    def _gets_at_once(self) -> int:
        """Most GETs one burst takes (with CLIENT TRACKING on: one, each tracked as a command)."""
        return MAX_READS_IN_FLIGHT if self.session.tracking is None else 1

    def _answer_gets(self, names: list[bytes], keys: list[bytes]) -> bool:
        """GETs (a read that was nothing but them: a -P 1 client's GET, a pipeline's; `names`
        as sent, and `keys`) the fast paths may take, answered now or joined to the node's
        read round; False: the ordinary path takes them, nothing was done."""
        if (len(keys) > 1 and len(keys) > self._gets_at_once()   # (one GET is always within it)
                or not self.fast_paths_ok() or not self._gets_allowed(keys)):
            return False
        if len(keys) == 1 and not self.gets_wait:   # -P 1's GET served now, in fewer steps
            started_ns = time.perf_counter_ns()
            value = self.session.get_now(keys[0])
            if value is not NOT_NOW:
                self.server.stats["total_commands_processed"] += 1
                self._write(self._get_replies(((names[0], keys[0]),), (value,),
                                              (time.perf_counter_ns() - started_ns) // 1000))
                return True
            # (its level waits for a read round, most likely: the next ones go straight to
            # _take_gets, which serves at once too, until one is served at once there)
            self.gets_wait = True
        taken = self._take_gets(list(zip(names, keys)), keys)
        if type(taken) is bytes:
            self.gets_wait = False
            self._write(taken)
            if len(keys) > 1:   # a pipeline's replies (a lone reply's limits are checked as it is sent)
                self._check_memory()
            return True
        return taken

    def _take_gets(self, burst: list, keys: list[bytes]) -> bytes | bool:
        """Plain GETs (`burst`, in order, each its arguments; `keys` their keys) served
        without Command or task (Session.gets): their replies when servable now, read in one
        transaction; True when they joined the node's shared read round (a follower at
        linearizable or lease, while the client reads its replies), their replies then going
        out in one write from the round's completion (_round_gets_done); False: the ordinary
        path takes them (every other case, errors included), nothing was done."""
        started_ns = time.perf_counter_ns()
        got = self.session.gets(keys, None if self.write_paused() else self._round_gets_done)
        if got is NOT_NOW:
            return False
        self.server.stats["total_commands_processed"] += len(burst)
        if type(got) is list:   # one read served them all
            return self._get_replies(burst, got, (time.perf_counter_ns() - started_ns) // 1000 // len(burst))
        self.last_cmd = "get"
        self.round_gets = (burst, started_ns)
        self.running = True
        self.task = got
        return True

    def _plain_get(self, args: list[bytes]) -> bool:
        """`args` is a GET the fast paths may answer (see _gets_allowed)."""
        return len(args) == 2 and args[0].lower() == b"get" and self._gets_allowed(args[1:])

    def _plain_state(self) -> bool:
        """No MULTI, ACL restriction or subscriber mode: what every fast path needs (the ordinary
        path answers the rest)."""
        return self.multi is None and self.session.subscriptions is None and self._unrestricted()

    def _gets_allowed(self, keys: list[bytes]) -> bool:
        """GETs of `keys`, in this connection's state, may take the fast paths: the plain state,
        and no cluster redirection (the ordinary path answers those)."""
        if not self._plain_state():
            return False
        # in cluster mode the ordinary path answers -MOVED / -ASK
        cluster = self.server.cluster
        return cluster is None or not self.asking and all(resp_cluster.serves(cluster, key) for key in keys)

    def _plain_get_item(self, item) -> bool:
        """`item` (pending) may join a burst whose first GET passed _plain_get: the connection's
        state is that GET's, so only its shape (and, in cluster mode, its slot) is checked."""
        return type(item) is list and len(item) == 2 and item[0].lower() == b"get" and (
            self.server.cluster is None or resp_cluster.serves(self.server.cluster, item[1]))

    def _get_replies(self, burst: list, values: list, usec: int) -> bytes:
        """The replies to GETs `burst` whose `values` were read, each counted as taking `usec`
        (count(): GET has no subcommand and never blocks)."""
        proto = self.proto
        if len(values) == 1:   # -P 1's GET: no list comprehension (a frame of its own)
            value = values[0]
            replies = (b"$%d\r\n%s\r\n" % (len(value), value) if type(value) is bytes
                       else NIL[proto == 3] if value is None else encode(value, proto),)
            reply = replies[0]
        else:
            replies = [b"$%d\r\n%s\r\n" % (len(value), value) if type(value) is bytes else encode(value, proto)
                       for value in values]
            reply = b"".join(replies)
        self.last_cmd = "get"
        self.server.count_calls("get", usec, replies)
        self.session.finished_many("get", burst, usec)
        return reply

    def _round_gets_done(self, outcome: tuple | None) -> None:
        (burst, started_ns), self.round_gets = self.round_gets, None
        self.task, self.running = None, False
        if self.closing:
            return
        if outcome is None:   # an error or a floor to wait for: the command loop runs them, in order
            self.server.stats["total_commands_processed"] -= len(burst)   # counted again there
            self.pending.extendleft(list(args) for args in reversed(burst))
            self.task = asyncio.get_running_loop().create_task(self._run())
            return
        # each GET waited for the whole round
        self._write(self._get_replies(burst, outcome[0], (time.perf_counter_ns() - started_ns) // 1000))
        if self.pending:
            if self.write_paused():   # the client is not reading: the command loop waits for it
                self.task = asyncio.get_running_loop().create_task(self._run())
            else:
                self._dispatch()
        elif self.eof:
            self.close()
        self.send_now()   # (an answer from a callback: the turn's end comes after the next poll)
