"""RESP parsers of the HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG,
and PFSELFTEST (run here, on the node that takes it: it checks this binary's
code and touches no key).

Registers into resp_args.TABLE; the handlers live in node/commands/hyperloglog.py.
PFCOUNT of one key is the `pfcount` write (it stores the cardinality in the
value's cache, as Redis does); of several keys the `pfcount_ro` read.
"""

from __future__ import annotations

import asyncio
import random

from raftcache.node.commands import OK
from raftcache.node.frontends.resp_args import cmd, register
from raftcache.node.frontends.resp_protocol import RespError
from raftcache.node.storage import hyperloglog
from raftcache.proto import commands_pb2 as pb

_DEBUG = {b"GETREG": ("pfdebug", pb.PFDEBUG_GETREG), b"TODENSE": ("pfdebug", pb.PFDEBUG_TODENSE),
          b"DECODE": ("pfdebug_ro", pb.PFDEBUG_DECODE), b"ENCODING": ("pfdebug_ro", pb.PFDEBUG_ENCODING)}
#: PFSELFTEST's size: Redis runs 1,000 register rounds and cardinalities up to 10,000,000
#: in C; in Python that would take minutes, so the same checks run smaller.
SELFTEST_CYCLES, SELFTEST_LIMIT = 5, 100_000


def _pfcount(args, db):
    keys = list(args[1:])
    return cmd(db, "pfcount" if len(keys) == 1 else "pfcount_ro", keys=keys)


def _pfdebug(args, db):
    name, kind = _DEBUG.get(args[1].upper(), (None, None))
    if name is None:
        raise RespError(f"ERR Unknown PFDEBUG subcommand '{args[1].decode(errors='replace')}'")
    return cmd(db, name, key=args[2], kind=kind)


async def pfselftest(conn, args):
    """Redis's self test of the HLL code (registers, sparse/dense agreement, error bounds)."""
    failure = await asyncio.to_thread(hyperloglog.selftest, random.Random(), SELFTEST_CYCLES, SELFTEST_LIMIT)
    if failure is not None:
        raise RespError(failure)
    return OK


W, R = "write", "readonly"
register("pfadd", -2, f"{W} denyoom fast", lambda a, db: cmd(db, "pfadd", key=a[1], elements=list(a[2:])),
         group="hyperloglog")
register("pfcount", -2, f"{R} may_replicate", _pfcount, keys=(1, -1, 1), group="hyperloglog")
register("pfmerge", -2, f"{W} denyoom", lambda a, db: cmd(db, "pfmerge", key=a[1], keys=list(a[2:])),
         keys=(1, -1, 1), group="hyperloglog")
register("pfdebug", 3, f"{W} denyoom admin", _pfdebug, keys=(2, 2, 1), group="hyperloglog")
register("pfselftest", 1, "admin", None, keys=(0, 0, 0), group="hyperloglog")

#: Commands run on the node itself (resp_admin.HANDLERS takes them in).
LOCAL = {"pfselftest": pfselftest}
