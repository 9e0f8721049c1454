"""RESP parsers of the set and sorted-set commands.

Registers into resp_args.TABLE; the handlers that run them live in
node/commands/sets.py and zsets.py. Shares resp_types.py's helpers (random seeds and
counts, scans, reply shapes).
"""

from __future__ import annotations

from raftcache.node.frontends.resp_args import (
    SYNTAX,
    as_scan,
    cmd,
    nil_array_if_none,
    non_negative,
    pop_with_count,
    positive_count,
    register,
    to_float,
    to_int,
    to_score_bound,
)
from raftcache.node.frontends.resp_protocol import RespError, RespPairs
from raftcache.node.frontends.resp_types import (
    R,
    W,
    as_set,
    element_scan,
    new_seed,
    parse_mpop,
    random_count,
    random_count_with,
)
from raftcache.proto import commands_pb2 as pb


# ---------------------------------------------------------------- sets


def _spop(args, db):
    if len(args) > 3:
        raise RespError(SYNTAX)
    command = cmd(db, "spop", key=args[1])
    if len(args) == 3:
        command.spop.count = positive_count(args[2])
    return command


def _srandmember(args, db):
    if len(args) > 3:
        raise RespError(SYNTAX)
    command = cmd(db, "srandmember", key=args[1], seed=new_seed())
    if len(args) == 3:
        command.srandmember.count = random_count(args[2])
    return command


def _setop(kind):
    return lambda a, db: cmd(db, "set_op", op=kind, keys=list(a[1:]))


def _setop_store(kind):
    return lambda a, db: cmd(db, "set_op_store", key=a[1], op=kind, keys=list(a[2:]))


def _numkeys(args, i, name):
    """The numkeys argument at args[i], with the texts Redis gives: SINTERCARD has its own,
    the sorted-set commands (ZUNION… ZINTERCARD) share zunionInterDiffGenericCommand's."""
    if name == "sintercard":
        try:
            n = to_int(args[i])
        except RespError:
            n = 0
        if n <= 0:
            raise RespError("ERR numkeys should be greater than 0")
        if n > len(args) - i - 1:
            raise RespError("ERR Number of keys can't be greater than number of args")
        return n
    n = to_int(args[i])
    if n < 1:
        raise RespError(f"ERR at least 1 input key is needed for '{name}' command")
    if n > len(args) - i - 1:
        raise RespError(SYNTAX)
    return n


def _limit(arg: bytes) -> int:
    """SINTERCARD/ZINTERCARD LIMIT: one text for anything but a non-negative integer."""
    return non_negative(arg, "ERR LIMIT can't be negative")


def _sintercard(args, db):
    n = _numkeys(args, 1, "sintercard")
    command = cmd(db, "set_op", op=pb.SET_INTER, keys=list(args[2 : 2 + n]), card=True)
    rest = args[2 + n :]
    if rest:
        if len(rest) != 2 or rest[0].upper() != b"LIMIT":
            raise RespError(SYNTAX)
        command.set_op.limit = _limit(rest[1])
    return command


register("sadd", -3, f"{W} denyoom fast", lambda a, db: cmd(db, "sadd", key=a[1], members=list(a[2:])), group="set")
register("srem", -3, f"{W} fast", lambda a, db: cmd(db, "srem", key=a[1], members=list(a[2:])), group="set")
register("smembers", 2, R, lambda a, db: cmd(db, "smembers", key=a[1]), as_set, group="set")
register("sismember", 3, f"{R} fast", lambda a, db: cmd(db, "sismember", key=a[1], members=[a[2]]), group="set")
register("smismember", -3, f"{R} fast",
         lambda a, db: cmd(db, "sismember", key=a[1], members=list(a[2:]), multi=True), group="set")
register("scard", 2, f"{R} fast", lambda a, db: cmd(db, "scard", key=a[1]), group="set")
register("spop", -2, f"{W} fast", _spop, as_set, group="set")
register("srandmember", -2, R, _srandmember, group="set")
register("smove", 4, f"{W} fast", lambda a, db: cmd(db, "smove", key=a[1], new_key=a[2], member=a[3]),
         keys=(1, 2, 1), group="set")
register("sunion", -2, R, _setop(pb.SET_UNION), as_set, keys=(1, -1, 1), group="set")
register("sinter", -2, R, _setop(pb.SET_INTER), as_set, keys=(1, -1, 1), group="set")
register("sdiff", -2, R, _setop(pb.SET_DIFF), as_set, keys=(1, -1, 1), group="set")
register("sunionstore", -3, f"{W} denyoom", _setop_store(pb.SET_UNION), keys=(1, -1, 1), group="set")
register("sinterstore", -3, f"{W} denyoom", _setop_store(pb.SET_INTER), keys=(1, -1, 1), group="set")
register("sdiffstore", -3, f"{W} denyoom", _setop_store(pb.SET_DIFF), keys=(1, -1, 1), group="set")
register("sintercard", -3, R, _sintercard, keys=(0, 0, 0), group="set")
register("sscan", -3, R, element_scan, as_scan, group="set")

# ---------------------------------------------------------------- sorted sets


def _score_bound(arg: bytes, out: pb.ScoreBound) -> None:
    exclusive = arg[:1] == b"("
    text = arg[1:] if exclusive else arg
    out.value = to_score_bound(text)
    out.exclusive = exclusive


def _lex_bound(arg: bytes, out: pb.LexBound) -> None:
    if arg == b"-":
        out.infinite = -1
    elif arg == b"+":
        out.infinite = 1
    elif arg[:1] in (b"[", b"("):
        out.exclusive = arg[:1] == b"("
        out.value = arg[1:]
    else:
        raise RespError("ERR min or max not valid string range item")


def _fill_range(rng: pb.ZRange, by: int, lo: bytes, hi: bytes, rev: bool) -> None:
    """lo/hi as the user wrote them (for REV score/lex ranges the first is the max)."""
    rng.by, rng.rev = by, rev
    if by == pb.BY_RANK:
        rng.start, rng.stop = to_int(lo), to_int(hi)
        return
    if rev:
        lo, hi = hi, lo
    if by == pb.BY_SCORE:
        _score_bound(lo, rng.min_score)
        _score_bound(hi, rng.max_score)
    else:
        _lex_bound(lo, rng.min_lex)
        _lex_bound(hi, rng.max_lex)


def _range_options(args, i, rng: pb.ZRange, *, by=None, rev=None, store: bool = False) -> tuple[int, bool]:
    """Redis's zrangeGenericCommand option loop over args[i:]; returns (by, rev).

    `by`/`rev` preset (the legacy ZRANGEBYSCORE, ZREVRANGE…) cannot be given again, and
    neither can an option already seen. LIMIT with a count of -1 means "no limit".
    """
    with_scores, limit = False, None
    while i < len(args):
        opt = args[i].upper()
        if opt == b"WITHSCORES" and not store:
            with_scores = True
        elif opt == b"LIMIT" and len(args) - i - 1 >= 2:
            limit = (to_int(args[i + 1]), to_int(args[i + 2]))
            i += 2
        elif opt == b"REV" and rev is None:
            rev = True
        elif opt == b"BYSCORE" and by is None:
            by = pb.BY_SCORE
        elif opt == b"BYLEX" and by is None:
            by = pb.BY_LEX
        else:
            raise RespError(SYNTAX)
        i += 1
    by = pb.BY_RANK if by is None else by
    if limit is not None and limit[1] != -1 and by == pb.BY_RANK:
        raise RespError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if with_scores and by == pb.BY_LEX:
        raise RespError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    rng.with_scores = with_scores
    if limit is not None and by != pb.BY_RANK:
        rng.offset, rng.count = limit
    return by, bool(rev)


def _zrange(args, db):
    command = cmd(db, "zrange", key=args[1])
    by, rev = _range_options(args, 4, command.zrange)
    _fill_range(command.zrange, by, args[2], args[3], rev)
    return command


def _zrange_legacy(by, rev):
    def build(args, db):
        command = cmd(db, "zrange", key=args[1])
        _range_options(args, 4, command.zrange, by=by, rev=rev)
        _fill_range(command.zrange, by, args[2], args[3], rev)
        return command

    return build


def _zcount(by):
    def build(args, db):
        command = cmd(db, "zrange", key=args[1], count_only=True)
        _fill_range(command.zrange, by, args[2], args[3], False)
        return command

    return build


def _zremrange(by):
    def build(args, db):
        command = cmd(db, "zremrange", key=args[1])
        command.zremrange.range.key = args[1]
        _fill_range(command.zremrange.range, by, args[2], args[3], False)
        return command

    return build


def _zrangestore(args, db):
    command = cmd(db, "zrangestore", key=args[1])
    rng = command.zrangestore.range
    rng.key = args[2]
    by, rev = _range_options(args, 5, rng, store=True)
    _fill_range(rng, by, args[3], args[4], rev)
    return command


def _zadd(args, db):
    command = cmd(db, "zadd", key=args[1])
    op = command.zadd
    i, nx, xx = 2, False, False
    while i < len(args):
        opt = args[i].upper()
        if opt == b"NX":
            nx = True
        elif opt == b"XX":
            xx = True
        elif opt == b"GT":
            op.gt = True
        elif opt == b"LT":
            op.lt = True
        elif opt == b"CH":
            op.ch = True
        elif opt == b"INCR":
            op.incr = True
        else:
            break
        i += 1
    rest = args[i:]
    if not rest or len(rest) % 2:
        raise RespError(SYNTAX)
    if nx and xx:
        raise RespError("ERR XX and NX options at the same time are not compatible")
    if (op.gt and nx) or (op.lt and nx) or (op.gt and op.lt):
        raise RespError("ERR GT, LT, and/or NX options at the same time are not compatible")
    if op.incr and len(rest) > 2:
        raise RespError("ERR INCR option supports a single increment-element pair")
    op.condition = pb.IF_ABSENT if nx else (pb.IF_PRESENT if xx else pb.ALWAYS)
    for j in range(0, len(rest), 2):
        op.members.add(score=to_float(rest[j]), member=rest[j + 1])
    return command


def _zincrby(args, db):
    command = cmd(db, "zadd", key=args[1], incr=True)
    command.zadd.members.add(score=to_float(args[2]), member=args[3])
    return command


def _syntax_error(args):
    return RespError(SYNTAX)


def _zpop(is_max):
    return pop_with_count("zpop", _syntax_error, max=is_max)


def _zpop_shape(result, proto, command=None):
    return RespPairs(result) if command.zpop.HasField("count") and isinstance(result, list) else result


def _zmpop(args, db):
    keys, is_min, count = parse_mpop(args, 1, b"MIN", b"MAX")
    return cmd(db, "zmpop", keys=keys, max=not is_min, count=count)


def _zrandmember(args, db):
    command = cmd(db, "zrandmember", key=args[1], seed=new_seed())
    if len(args) >= 3:
        command.zrandmember.count, command.zrandmember.with_scores = random_count_with(args, b"WITHSCORES")
    return command


def _zrank(rev):
    def build(args, db):
        if len(args) > 4 or (len(args) == 4 and args[3].upper() != b"WITHSCORE"):
            raise RespError(SYNTAX)
        return cmd(db, "zrank", key=args[1], member=args[2], rev=rev, with_score=len(args) == 4)

    return build


def _zrank_shape(result, proto, command=None):
    # WITHSCORE on a missing member or key: a nil array, as in Redis (a nil bulk without it).
    return nil_array_if_none(result, proto) if command.zrank.with_score else result


def _zsetop_args(args, i, op: pb.ZSetOp, name: str, store: bool) -> None:
    n = _numkeys(args, i, name)
    op.keys.extend(args[i + 1 : i + 1 + n])
    j = i + 1 + n
    while j < len(args):
        opt = args[j].upper()
        if opt == b"WEIGHTS" and op.op != pb.SET_DIFF and j + n < len(args):
            op.weights.extend(to_float(w, "ERR weight value is not a float") for w in args[j + 1 : j + 1 + n])
            j += n + 1
        elif opt == b"AGGREGATE" and op.op != pb.SET_DIFF and j + 1 < len(args):
            agg = args[j + 1].upper()
            if agg not in (b"SUM", b"MIN", b"MAX"):
                raise RespError(SYNTAX)
            op.aggregate = {b"SUM": pb.AGG_SUM, b"MIN": pb.AGG_MIN, b"MAX": pb.AGG_MAX}[agg]
            j += 2
        elif opt == b"WITHSCORES" and not store:
            op.with_scores = True
            j += 1
        elif opt == b"LIMIT" and name == "zintercard" and j + 1 < len(args):
            op.limit = _limit(args[j + 1])
            j += 2
        else:
            raise RespError(SYNTAX)


def _zsetop(kind, name):
    def build(args, db):
        command = cmd(db, "zset_op", op=kind)
        _zsetop_args(args, 1, command.zset_op, name, False)
        return command

    return build


def _zsetop_store(kind, name):
    def build(args, db):
        command = cmd(db, "zset_op_store", key=args[1])
        command.zset_op_store.source.op = kind
        _zsetop_args(args, 2, command.zset_op_store.source, name, True)
        return command

    return build


def _zintercard(args, db):
    command = cmd(db, "zset_op", op=pb.SET_INTER, card=True)
    _zsetop_args(args, 1, command.zset_op, "zintercard", True)
    return command


def _with_scores_pairs(result, proto, command=None):
    op = getattr(command, command.WhichOneof("op"))
    return RespPairs(result) if isinstance(result, list) and getattr(op, "with_scores", False) else result


def _zrandmember_shape(result, proto, command=None):
    return _with_scores_pairs(result, proto, command)


Z = "sortedset"
register("zadd", -4, f"{W} denyoom fast", _zadd, group=Z)
register("zincrby", 4, f"{W} denyoom fast", _zincrby, group=Z)
register("zrem", -3, f"{W} fast", lambda a, db: cmd(db, "zrem", key=a[1], members=list(a[2:])), group=Z)
register("zscore", 3, f"{R} fast", lambda a, db: cmd(db, "zscore", key=a[1], members=[a[2]]), group=Z)
register("zmscore", -3, f"{R} fast", lambda a, db: cmd(db, "zscore", key=a[1], members=list(a[2:]), multi=True), group=Z)
register("zcard", 2, f"{R} fast", lambda a, db: cmd(db, "zcard", key=a[1]), group=Z)
register("zcount", 4, f"{R} fast", _zcount(pb.BY_SCORE), group=Z)
register("zlexcount", 4, f"{R} fast", _zcount(pb.BY_LEX), group=Z)
register("zrange", -4, R, _zrange, _with_scores_pairs, group=Z)
register("zrangebyscore", -4, R, _zrange_legacy(pb.BY_SCORE, False), _with_scores_pairs, group=Z)
register("zrevrangebyscore", -4, R, _zrange_legacy(pb.BY_SCORE, True), _with_scores_pairs, group=Z)
register("zrangebylex", -4, R, _zrange_legacy(pb.BY_LEX, False), group=Z)
register("zrevrangebylex", -4, R, _zrange_legacy(pb.BY_LEX, True), group=Z)
register("zrevrange", -4, R, _zrange_legacy(pb.BY_RANK, True), _with_scores_pairs, group=Z)
register("zrangestore", -5, f"{W} denyoom", _zrangestore, keys=(1, 2, 1), group=Z)
register("zrank", -3, f"{R} fast", _zrank(False), _zrank_shape, group=Z)
register("zrevrank", -3, f"{R} fast", _zrank(True), _zrank_shape, group=Z)
register("zremrangebyscore", 4, W, _zremrange(pb.BY_SCORE), group=Z)
register("zremrangebyrank", 4, W, _zremrange(pb.BY_RANK), group=Z)
register("zremrangebylex", 4, W, _zremrange(pb.BY_LEX), group=Z)
register("zpopmin", -2, f"{W} fast", _zpop(False), _zpop_shape, group=Z)
register("zpopmax", -2, f"{W} fast", _zpop(True), _zpop_shape, group=Z)
register("zmpop", -4, f"{W}", _zmpop, nil_array_if_none, keys=(0, 0, 0), group=Z)
register("zrandmember", -2, R, _zrandmember, _zrandmember_shape, group=Z)
register("zscan", -3, R, element_scan, as_scan, group=Z)
register("zunion", -3, R, _zsetop(pb.SET_UNION, "zunion"), _with_scores_pairs, keys=(0, 0, 0), group=Z)
register("zinter", -3, R, _zsetop(pb.SET_INTER, "zinter"), _with_scores_pairs, keys=(0, 0, 0), group=Z)
register("zdiff", -3, R, _zsetop(pb.SET_DIFF, "zdiff"), _with_scores_pairs, keys=(0, 0, 0), group=Z)
register("zunionstore", -4, f"{W} denyoom", _zsetop_store(pb.SET_UNION, "zunionstore"), group=Z)
register("zinterstore", -4, f"{W} denyoom", _zsetop_store(pb.SET_INTER, "zinterstore"), group=Z)
register("zdiffstore", -4, f"{W} denyoom", _zsetop_store(pb.SET_DIFF, "zdiffstore"), group=Z)
register("zintercard", -3, R, _zintercard, keys=(0, 0, 0), group=Z)
