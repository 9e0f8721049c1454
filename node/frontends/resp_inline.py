"""Commands a RESP connection answers from data_received, without its command loop (a task).

The hot paths of -P 1 clients: reads that need no waiting (a follower serving
`any`, a leader under a lease) and PING / ECHO are answered at once; a lone
write on the leader is proposed at once and answered from its future's
callback, and so is a lone read that waits for a read index; a read that is
nothing but plain `SET key value` frames (-P 1's or a pipeline's) is proposed
at once on the leader and answered in one write. Whatever must wait otherwise
(a server command, MULTI, another pipeline of writes, a blocking pop) goes to
the command loop (resp.Connection._run), in order: a reply is
never written ahead of the replies before it. resp.Connection is an
InlinePaths (GETs have theirs in resp_gets.py). Must not import lmdb or
pysyncobj, nor hold business logic (as resp.py): a command runs through the
connection's session.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from raftcache.node import commands
from raftcache.node.frontends import resp_admin
from raftcache.node.frontends.resp_table import TABLE, Spec
from raftcache.node.service.session import MAX_IN_FLIGHT, Outcome

_SET = TABLE[b"set"]
_OK = b"+OK\r\n"   # (SET's reply in both protocols)

#: Replies of a pipeline are written (and their reading awaited) in chunks of about this size
#: (here and in the command loop, resp.Connection._run_batch).
OUT_CHUNK_BYTES = 256 << 10


class InlinePaths:
    """A RESP connection's answers from data_received (module docstring)."""

    def _dispatch(self) -> None:
        """Answer what needs no waiting now; hand the rest to the command loop."""
        answered = self._answer_inline()
        if answered:
            self._write(b"".join(answered))
        if not self.pending:
            self.backlog = 0
            self.update_reading()
        if self.task is not None:  # a lone write or read is in flight (_lone_done continues)
            return
        if self.pending:
            self.task = asyncio.get_running_loop().create_task(self._run())
        elif self.eof:
            self.close()

    def _answer_inline(self) -> list[bytes]:
        """Serve, from the front of `pending`, what needs no task.

        The hot paths of -P 1 clients: reads that need no waiting (a follower
        serving `any`, a leader under a lease) are answered here, from
        data_received, and so are PING and ECHO; a lone write on the leader is
        proposed here and answered from its future's callback (or refused here,
        after the replies before it). Stops at the first command that
        must wait otherwise (a read needing a barrier, a server command,
        MULTI, a pipeline of writes); the command loop takes the rest, in order.
        """
        out: list[bytes] = []
        size = 0
        pending = self.pending
        while pending and self.multi is None and size < OUT_CHUNK_BYTES and self.fast_paths_ok():
            # (past a chunk of replies, the command loop goes on, waiting for the client to read)
            args = pending[0]
            if type(args) is not list:
                break
            if self._plain_get(args):   # a pipeline's GETs: read together now, or wait for one round together
                burst = list(itertools.takewhile(self._plain_get_item, itertools.islice(
                    pending, self._gets_at_once())))
                keys = [args[1] for args in burst]
                taken = self._take_gets(burst, keys)
                if taken:
                    for _ in burst:
                        pending.popleft()
                    if type(taken) is not bytes:   # joined the read round: its completion answers
                        break
                    out.append(taken)
                    size += len(taken)
                    continue
            spec = TABLE.get(args[0].lower())
            if spec is not None and spec.name in resp_admin.IMMEDIATE:   # PING, ECHO: no task for them
                started_ns = time.perf_counter_ns()
                step = self._prepare(args)
                reply = step if type(step) is bytes else self._immediate(spec, args, started_ns)
                out.append(reply)
                size += len(reply)
                pending.popleft()
                self.server.stats["total_commands_processed"] += 1
                continue
            if spec is None or spec.build is None or "blocking" in spec.flags:
                break
            if "readonly" not in spec.flags:
                if len(pending) == 1 and self.server.leads():
                    refused = self._start_lone_write(args)
                    if refused is not None:
                        out.append(refused)
                break
            started_ns = time.perf_counter_ns()
            step = self._prepare(args)
            if type(step) is bytes:
                out.append(step)
                size += len(step)
            else:
                spec, command = step
                if command is None:   # run by the connection (XINFO HELP, …): the command loop's
                    break
                served = self.session.read_now(command)
                if served is None:
                    if len(pending) == 1 and commands.is_read(command):  # -P 1: answered from its future, no task
                        self._start_lone_read(spec, command, started_ns, args)
                    break
                reply = self.render(spec, command, served)
                self.count(spec, args, started_ns, reply, self.last_cmd)
                out.append(reply)
                size += len(reply)
            pending.popleft()
            self.server.stats["total_commands_processed"] += 1
        return out

    def _start_lone_write(self, args: list[bytes]) -> bytes | None:
        """Propose the write `args` (alone in `pending`), answered from its future's callback
        (None; None too when it is not a data write: left in `pending` for the command loop);
        or its reply now (refused before it ran), for the caller to send after the replies
        before it."""
        started_ns = time.perf_counter_ns()
        step = self._prepare(args)
        if type(step) is not bytes and (step[1] is None or commands.is_read(step[1])):
            return None  # not a data write after all: the command loop runs it
        self.pending.popleft()
        self.server.stats["total_commands_processed"] += 1
        if type(step) is bytes:
            return step
        spec, command = step
        self._propose_lone(spec, command, started_ns, args, self.last_cmd)
        return None

    def _propose_lone(self, spec: Spec, command, started_ns: int, args: list[bytes], name: str,
                      plain_set: bool = False) -> None:
        """Start the write `command` (already counted), answered from its future's callback
        (`plain_set`: Session.start_write's)."""
        self.task = self.session.start_write(
            command, lambda outcome: self._lone_done(spec, command, started_ns, args, name, outcome), plain_set)
        self.running = True   # (done never comes before start_write returns)

    def _answer_sets(self, frames: list[list[bytes]]) -> bool:
        """`SET key value` frames (from resp_requests.leading_sets: all the client sent, a -P 1
        client's one or a pipeline's), in a connection in the plain state (_plain_state; no
        CLIENT REPLY or PAUSE, no cluster mode and so no ASKING), started now as
        _start_lone_write or the command loop would, without the steps that find all that out
        for any command: on the leader proposed as plain SETs (Service.start_plain_set), one
        answered from its future's callback (_lone_done), several together once the last is
        settled (_sets_done); a pipeline of them on a follower forwarded as one batch
        (Session.forward_plain_sets), answered together. False: nothing was done, the ordinary
        path takes them. (Nothing was pending, so the backlog is already 0 and reading already as
        it should be: no _dispatch steps to repeat.)"""
        started_ns = time.perf_counter_ns()
        leading = self.server.leads()
        if (len(frames) > MAX_IN_FLIGHT or not (leading or len(frames) > 1) or self.server.cluster is not None
                or not self._plain_state() or not self.fast_paths_ok()):
            return False
        self.last_cmd = "set"
        db = self.session.db
        self.server.stats["total_commands_processed"] += len(frames)
        if len(frames) == 1:   # -P 1's: no lists
            args = frames[0]
            self._propose_lone(_SET, _SET.build(args, db), started_ns, args, "set", plain_set=True)
            return True
        sets = [_SET.build(args, db) for args in frames]   # (no option: nothing to refuse)
        start = self.session.start_plain_sets if leading else self.session.forward_plain_sets
        self.task = start(sets, lambda outcomes: self._sets_done(frames, sets, started_ns, outcomes))
        self.running = True   # (done never comes before start returns)
        return True

    def _sets_done(self, frames: list[list[bytes]], sets: list, started_ns: int, outcomes: list[Outcome]) -> None:
        """The SETs _answer_sets started together are settled: their replies in one write, each
        counted as taking the time they all took."""
        if self._finished_in_flight():
            return
        usec = (time.perf_counter_ns() - started_ns) // 1000
        render = self.render
        replies = [_OK if type(outcome) is tuple and outcome[0] is commands.OK else render(_SET, command, outcome)
                   for command, outcome in zip(sets, outcomes)]
        self.server.count_calls("set", usec, replies)
        self.session.finished_many("set", frames, usec, fast=False)
        self._write(b"".join(replies))
        self._check_memory()
        self._go_on()
        self.send_now()   # (an answer from a callback: the turn's end comes after the next poll)

    def _start_lone_read(self, spec: Spec, command, started_ns: int, args: list[bytes]) -> None:
        self.pending.popleft()
        self.server.stats["total_commands_processed"] += 1
        self.running = True
        name = self.last_cmd
        self.task = self.session.start_read(
            command, lambda outcome: self._lone_done(spec, command, started_ns, args, name, outcome))

    def _lone_done(self, spec: Spec, command, started_ns: int, args: list[bytes], name: str,
                   outcome: Outcome) -> None:
        if self._finished_in_flight():
            return
        reply = self.render(spec, command, outcome)
        self.count(spec, args, started_ns, reply, name)
        self._write(reply)
        self._go_on()
        self.send_now()   # (an answer from a callback: the turn's end comes after the next poll)

    def _finished_in_flight(self) -> bool:
        """What was in flight (a lone write or read, a run of SETs) is answered: the connection
        is free again; True when it closed meanwhile (nothing to write)."""
        self.task, self.running = None, False
        return self.closing

    def _go_on(self) -> None:
        """After an answer from a callback: what arrived meanwhile, or the close a half-close
        waited for."""
        if self.pending:
            self._dispatch()
        elif self.eof:
            self.close()
