"""Typed hash, list, set and sorted-set commands, named and shaped as in redis-py.

Same pattern as client/commands.py: build a Command, pass it to `_run` with
the reply conversion. Replies follow redis-py: SMEMBERS gives a set, HGETALL
a dict, sorted-set ranges with scores a list of (member, score) tuples.
"""

from __future__ import annotations

from collections.abc import Mapping

from raftcache.client.commands import (
    READ,
    WRITE,
    CoreCommands,
    EncodableT,
    KeyT,
    _list_of,
    _random_seed,
)
from raftcache.client.errors import ConfigError
from raftcache.proto import commands_pb2 as pb

_SET_OPS = {"union": pb.SET_UNION, "inter": pb.SET_INTER, "diff": pb.SET_DIFF}
_AGGREGATES = {None: pb.AGG_SUM, "SUM": pb.AGG_SUM, "MIN": pb.AGG_MIN, "MAX": pb.AGG_MAX}


def _score_bound(value) -> dict:
    """A score bound as redis-py accepts it: 1.5, "(1.5" (exclusive), "-inf", "+inf"."""
    if isinstance(value, (bytes, bytearray)):
        value = value.decode()
    if isinstance(value, str):
        exclusive = value.startswith("(")
        return {"value": float(value[1:] if exclusive else value), "exclusive": exclusive}
    return {"value": float(value), "exclusive": False}


def _lex_bound(value, enc) -> dict:
    """A lex bound: "-" / "+" (infinite), "[a" (inclusive), "(a" (exclusive)."""
    raw = enc(value)
    if raw == b"-":
        return {"infinite": -1}
    if raw == b"+":
        return {"infinite": 1}
    if raw[:1] not in (b"[", b"("):
        raise ConfigError("lex bounds must start with '[' or '(' (or be '-' / '+')")
    return {"value": raw[1:], "exclusive": raw[:1] == b"("}


class _ContainerBase(CoreCommands):
    """Reply conversions and scans shared by the container families."""

    def _set(self, v):
        return set(self._dec(v) or [])

    def _with_scores(self, cast=float):
        def post(v):
            flat = self._dec(v) or []
            return [(flat[i], cast(flat[i + 1])) for i in range(0, len(flat), 2)]
        return post

    def _bools(self, v):
        return [bool(x) for x in v]

    def _floats(self, v):
        return [None if x is None else float(x) for x in v]

    def _element_scan(self, name, cursor, match, count, no_values=False):
        return self._cmd("element_scan", key=self._enc(name), cursor=cursor, count=count or 0, no_values=no_values,
                         match=self._enc(match) if match is not None else b"")


class HashCommands(_ContainerBase):
    """Hash commands (HSET, HGET, …)."""

    def hset(self, name: KeyT, key: EncodableT | None = None, value: EncodableT | None = None,
             mapping: Mapping | None = None, items: list | None = None):
        """HSET: fields added (not updated)."""
        pairs = []
        if key is not None:
            pairs.append((key, value))
        if items:
            pairs.extend(zip(items[0::2], items[1::2]))
        if mapping:
            pairs.extend(mapping.items())
        if not pairs:
            raise ConfigError("'hset' with no key value pairs")
        kvs = [pb.KeyValue(key=self._enc(k), value=self._enc(v)) for k, v in pairs]
        return self._run(self._cmd("hset", key=self._enc(name), pairs=kvs), None, WRITE)

    def hsetnx(self, name: KeyT, key: EncodableT, value: EncodableT):
        kvs = [pb.KeyValue(key=self._enc(key), value=self._enc(value))]
        return self._run(self._cmd("hset", key=self._enc(name), pairs=kvs, if_absent=True), self._bool, WRITE)

    def hmset(self, name: KeyT, mapping: Mapping):
        kvs = [pb.KeyValue(key=self._enc(k), value=self._enc(v)) for k, v in mapping.items()]
        return self._run(self._cmd("hset", key=self._enc(name), pairs=kvs), lambda v: True, WRITE)

    def hget(self, name: KeyT, key: EncodableT):
        return self._run(self._cmd("hget", key=self._enc(name), field=self._enc(key)), self._dec, READ)

    def hmget(self, name: KeyT, keys, *args):
        return self._run(self._cmd("hmget", key=self._enc(name), fields=self._encs(_list_of(keys, args))),
                         self._dec, READ)

    def hdel(self, name: KeyT, *keys: EncodableT):
        return self._run(self._cmd("hdel", key=self._enc(name), fields=self._encs(keys)), None, WRITE)

    def hlen(self, name: KeyT):
        return self._run(self._cmd("hlen", key=self._enc(name)), None, READ)

    def hexists(self, name: KeyT, key: EncodableT):
        return self._run(self._cmd("hexists", key=self._enc(name), field=self._enc(key)), self._bool, READ)

    def hgetall(self, name: KeyT):
        return self._run(self._cmd("hgetall", key=self._enc(name)), self._pairs, READ)

    def hkeys(self, name: KeyT):
        return self._run(self._cmd("hgetall", key=self._enc(name), keys=True), self._dec, READ)

    def hvals(self, name: KeyT):
        return self._run(self._cmd("hgetall", key=self._enc(name), values=True), self._dec, READ)

    def hincrby(self, name: KeyT, key: EncodableT, amount: int = 1):
        return self._run(self._cmd("hincrby", key=self._enc(name), field=self._enc(key), delta=amount), None, WRITE)

    def hincrbyfloat(self, name: KeyT, key: EncodableT, amount: float = 1.0):
        return self._run(self._cmd("hincrbyfloat", key=self._enc(name), field=self._enc(key), delta=amount),
                         self._float, WRITE)

    def hstrlen(self, name: KeyT, key: EncodableT):
        return self._run(self._cmd("hstrlen", key=self._enc(name), field=self._enc(key)), None, READ)

    def hrandfield(self, key: KeyT, count: int | None = None, withvalues: bool = False):
        op = dict(key=self._enc(key), count=count, with_values=withvalues, seed=_random_seed())
        return self._run(self._cmd("hrandfield", **op), self._dec, READ)

    def hscan(self, name: KeyT, cursor: int = 0, match=None, count: int | None = None, no_values: bool = False):
        """HSCAN: (next cursor, {field: value}) or, with no_values, (next cursor, [fields])."""
        def post(v):
            cur, flat = v
            return int(cur), (self._dec(flat) if no_values else self._pairs(flat))
        return self._run(self._element_scan(name, cursor, match, count, no_values), post, READ)


class ListCommands(_ContainerBase):
    """List commands (LPUSH, LRANGE, …)."""

    def _push(self, name, values, left, if_exists=False):
        return self._run(self._cmd("push", key=self._enc(name), values=self._encs(values), left=left,
                                   if_exists=if_exists), None, WRITE)

    def lpush(self, name: KeyT, *values: EncodableT):
        return self._push(name, values, True)

    def rpush(self, name: KeyT, *values: EncodableT):
        return self._push(name, values, False)

    def lpushx(self, name: KeyT, *values: EncodableT):
        return self._push(name, values, True, True)

    def rpushx(self, name: KeyT, *values: EncodableT):
        return self._push(name, values, False, True)

    def lpop(self, name: KeyT, count: int | None = None):
        return self._run(self._cmd("pop", key=self._enc(name), left=True, count=count), self._dec, WRITE)

    def rpop(self, name: KeyT, count: int | None = None):
        return self._run(self._cmd("pop", key=self._enc(name), left=False, count=count), self._dec, WRITE)

    def lrange(self, name: KeyT, start: int, end: int):
        return self._run(self._cmd("lrange", key=self._enc(name), start=start, stop=end), self._dec, READ)

    def llen(self, name: KeyT):
        return self._run(self._cmd("llen", key=self._enc(name)), None, READ)

    def lindex(self, name: KeyT, index: int):
        return self._run(self._cmd("lindex", key=self._enc(name), index=index), self._dec, READ)

    def lset(self, name: KeyT, index: int, value: EncodableT):
        return self._run(self._cmd("lset", key=self._enc(name), index=index, value=self._enc(value)),
                         self._ok, WRITE)

    def lrem(self, name: KeyT, count: int, value: EncodableT):
        return self._run(self._cmd("lrem", key=self._enc(name), count=count, value=self._enc(value)), None, WRITE)

    def ltrim(self, name: KeyT, start: int, end: int):
        return self._run(self._cmd("ltrim", key=self._enc(name), start=start, stop=end), self._ok, WRITE)

    def linsert(self, name: KeyT, where: str, refvalue: EncodableT, value: EncodableT):
        """LINSERT name BEFORE|AFTER refvalue value: the new length, -1 when refvalue is missing."""
        if where.upper() not in ("BEFORE", "AFTER"):
            raise ConfigError("where must be BEFORE or AFTER")
        op = dict(key=self._enc(name), before=where.upper() == "BEFORE", pivot=self._enc(refvalue),
                  value=self._enc(value))
        return self._run(self._cmd("linsert", **op), None, WRITE)

    def lpos(self, name: KeyT, value: EncodableT, rank: int | None = None, count: int | None = None,
             maxlen: int | None = None):
        op = dict(key=self._enc(name), element=self._enc(value), rank=rank or 0, count=count, maxlen=maxlen or 0)
        return self._run(self._cmd("lpos", **op), None, READ)

    def lmove(self, first_list: KeyT, second_list: KeyT, src: str = "LEFT", dest: str = "RIGHT"):
        op = dict(key=self._enc(first_list), new_key=self._enc(second_list), from_left=src.upper() == "LEFT",
                  to_left=dest.upper() == "LEFT")
        return self._run(self._cmd("lmove", **op), self._dec, WRITE)

    def rpoplpush(self, src: KeyT, dst: KeyT):
        return self.lmove(src, dst, "RIGHT", "LEFT")


class SetCommands(_ContainerBase):
    """Set commands (SADD, SMEMBERS, …)."""

    def sadd(self, name: KeyT, *values: EncodableT):
        return self._run(self._cmd("sadd", key=self._enc(name), members=self._encs(values)), None, WRITE)

    def srem(self, name: KeyT, *values: EncodableT):
        return self._run(self._cmd("srem", key=self._enc(name), members=self._encs(values)), None, WRITE)

    def smembers(self, name: KeyT):
        return self._run(self._cmd("smembers", key=self._enc(name)), self._set, READ)

    def sismember(self, name: KeyT, value: EncodableT):
        return self._run(self._cmd("sismember", key=self._enc(name), members=[self._enc(value)]), self._bool, READ)

    def smismember(self, name: KeyT, values, *args):
        return self._run(self._cmd("sismember", key=self._enc(name), members=self._encs(_list_of(values, args)),
                                   multi=True), self._bools, READ)

    def scard(self, name: KeyT):
        return self._run(self._cmd("scard", key=self._enc(name)), None, READ)

    def spop(self, name: KeyT, count: int | None = None):
        return self._run(self._cmd("spop", key=self._enc(name), count=count), self._dec, WRITE)

    def srandmember(self, name: KeyT, number: int | None = None):
        op = dict(key=self._enc(name), count=number, seed=_random_seed())
        return self._run(self._cmd("srandmember", **op), self._dec, READ)

    def smove(self, src: KeyT, dst: KeyT, value: EncodableT):
        op = dict(key=self._enc(src), new_key=self._enc(dst), member=self._enc(value))
        return self._run(self._cmd("smove", **op), self._bool, WRITE)

    def _set_op(self, kind, keys, args):
        return self._run(self._cmd("set_op", op=_SET_OPS[kind], keys=self._encs(_list_of(keys, args))),
                         self._set, READ)

    def _set_op_store(self, kind, dest, keys, args):
        return self._run(self._cmd("set_op_store", key=self._enc(dest), op=_SET_OPS[kind],
                                   keys=self._encs(_list_of(keys, args))), None, WRITE)

    def sunion(self, keys, *args):
        return self._set_op("union", keys, args)

    def sinter(self, keys, *args):
        return self._set_op("inter", keys, args)

    def sdiff(self, keys, *args):
        return self._set_op("diff", keys, args)

    def sunionstore(self, dest: KeyT, keys, *args):
        return self._set_op_store("union", dest, keys, args)

    def sinterstore(self, dest: KeyT, keys, *args):
        return self._set_op_store("inter", dest, keys, args)

    def sdiffstore(self, dest: KeyT, keys, *args):
        return self._set_op_store("diff", dest, keys, args)

    def sintercard(self, numkeys: int, keys: list, limit: int = 0):
        return self._run(self._cmd("set_op", op=pb.SET_INTER, keys=self._encs(keys), limit=limit, card=True),
                         None, READ)

    def sscan(self, name: KeyT, cursor: int = 0, match=None, count: int | None = None):
        return self._run(self._element_scan(name, cursor, match, count), self._scan_reply, READ)


class SortedSetCommands(_ContainerBase):
    """Sorted-set commands (ZADD, ZRANGE, …)."""

    def zadd(self, name: KeyT, mapping: Mapping, nx: bool = False, xx: bool = False, ch: bool = False,
             incr: bool = False, gt: bool = False, lt: bool = False):
        """ZADD name {member: score}: members added (changed too with ch); with incr the new score."""
        if nx and xx:
            raise ConfigError("ZADD allows either 'nx' or 'xx', not both")
        if incr and len(mapping) != 1:
            raise ConfigError("ZADD option 'incr' only works when passing a single element/score pair")
        if nx and (gt or lt):
            raise ConfigError("only one of 'nx', 'lt', or 'gt' may be defined")
        members = [pb.ScoreMember(member=self._enc(m), score=float(s)) for m, s in mapping.items()]
        op = dict(key=self._enc(name), members=members, condition=pb.IF_ABSENT if nx else pb.IF_PRESENT if xx
                  else pb.ALWAYS, gt=gt, lt=lt, ch=ch, incr=incr)
        return self._run(self._cmd("zadd", **op), self._float if incr else None, WRITE)

    def zincrby(self, name: KeyT, amount: float, value: EncodableT):
        return self.zadd(name, {value: amount}, incr=True)

    def zrem(self, name: KeyT, *values: EncodableT):
        return self._run(self._cmd("zrem", key=self._enc(name), members=self._encs(values)), None, WRITE)

    def zscore(self, name: KeyT, value: EncodableT):
        return self._run(self._cmd("zscore", key=self._enc(name), members=[self._enc(value)]), self._float, READ)

    def zmscore(self, key: KeyT, members: list):
        return self._run(self._cmd("zscore", key=self._enc(key), members=self._encs(members), multi=True),
                         self._floats, READ)

    def zcard(self, name: KeyT):
        return self._run(self._cmd("zcard", key=self._enc(name)), None, READ)

    def _zrange_op(self, name, start, end, desc=False, withscores=False, byscore=False, bylex=False,
                   offset=None, num=None, count_only=False) -> dict:
        if byscore and bylex:
            raise ConfigError("``byscore`` and ``bylex`` can not be specified together")
        if (offset is None) != (num is None):
            raise ConfigError("``offset`` and ``num`` must both be specified")
        op: dict = dict(key=self._enc(name), rev=desc, with_scores=withscores, count_only=count_only,
                        offset=offset or 0, count=num)
        if byscore:
            op.update(by=pb.BY_SCORE, min_score=_score_bound(start), max_score=_score_bound(end))
        elif bylex:
            op.update(by=pb.BY_LEX, min_lex=_lex_bound(start, self._enc), max_lex=_lex_bound(end, self._enc))
        else:
            op.update(by=pb.BY_RANK, start=int(start), stop=int(end))
        return op

    def zrange(self, name: KeyT, start, end, desc: bool = False, withscores: bool = False,
               score_cast_func=float, byscore: bool = False, bylex: bool = False, offset: int | None = None,
               num: int | None = None):
        """ZRANGE: members (or (member, score) tuples with withscores) by rank, score or lex.

        With desc=True and byscore/bylex, pass the bounds as (max, min), as Redis's REV does.
        """
        if desc and (byscore or bylex):
            start, end = end, start
        op = self._zrange_op(name, start, end, desc, withscores, byscore, bylex, offset, num)
        return self._run(self._cmd("zrange", **op), self._with_scores(score_cast_func) if withscores else self._dec,
                         READ)

    def zrevrange(self, name: KeyT, start: int, end: int, withscores: bool = False, score_cast_func=float):
        return self.zrange(name, start, end, desc=True, withscores=withscores, score_cast_func=score_cast_func)

    def zrangebyscore(self, name: KeyT, min, max, start: int | None = None, num: int | None = None,
                      withscores: bool = False, score_cast_func=float):
        return self.zrange(name, min, max, withscores=withscores, score_cast_func=score_cast_func, byscore=True,
                           offset=start, num=num)

    def zrevrangebyscore(self, name: KeyT, max, min, start: int | None = None, num: int | None = None,
                         withscores: bool = False, score_cast_func=float):
        return self.zrange(name, max, min, desc=True, withscores=withscores, score_cast_func=score_cast_func,
                           byscore=True, offset=start, num=num)

    def zrangebylex(self, name: KeyT, min, max, start: int | None = None, num: int | None = None):
        return self.zrange(name, min, max, bylex=True, offset=start, num=num)

    def zrevrangebylex(self, name: KeyT, max, min, start: int | None = None, num: int | None = None):
        return self.zrange(name, max, min, desc=True, bylex=True, offset=start, num=num)

    def zcount(self, name: KeyT, min, max):
        return self._run(self._cmd("zrange", **self._zrange_op(name, min, max, byscore=True, count_only=True)),
                         None, READ)

    def zlexcount(self, name: KeyT, min, max):
        return self._run(self._cmd("zrange", **self._zrange_op(name, min, max, bylex=True, count_only=True)),
                         None, READ)

    def _zremrange(self, name, min, max, **by):
        op = self._zrange_op(name, min, max, **by)
        return self._run(self._cmd("zremrange", key=op["key"], range=op), None, WRITE)

    def zremrangebyrank(self, name: KeyT, min: int, max: int):
        return self._zremrange(name, min, max)

    def zremrangebyscore(self, name: KeyT, min, max):
        return self._zremrange(name, min, max, byscore=True)

    def zremrangebylex(self, name: KeyT, min, max):
        return self._zremrange(name, min, max, bylex=True)

    def zrangestore(self, dest: KeyT, name: KeyT, start, end, byscore: bool = False, bylex: bool = False,
                    desc: bool = False, offset: int | None = None, num: int | None = None):
        if desc and (byscore or bylex):
            start, end = end, start
        op = self._zrange_op(name, start, end, desc, False, byscore, bylex, offset, num)
        return self._run(self._cmd("zrangestore", key=self._enc(dest), range=op), None, WRITE)

    def _zrank(self, name, value, rev, withscore):
        def post(v):
            if withscore and v is not None:
                return [v[0], float(v[1])]
            return v
        op = dict(key=self._enc(name), member=self._enc(value), rev=rev, with_score=withscore)
        return self._run(self._cmd("zrank", **op), post, READ)

    def zrank(self, name: KeyT, value: EncodableT, withscore: bool = False):
        return self._zrank(name, value, False, withscore)

    def zrevrank(self, name: KeyT, value: EncodableT, withscore: bool = False):
        return self._zrank(name, value, True, withscore)

    def zpopmin(self, name: KeyT, count: int | None = None):
        return self._run(self._cmd("zpop", key=self._enc(name), max=False, count=count), self._with_scores(), WRITE)

    def zpopmax(self, name: KeyT, count: int | None = None):
        return self._run(self._cmd("zpop", key=self._enc(name), max=True, count=count), self._with_scores(), WRITE)

    def zrandmember(self, key: KeyT, count: int | None = None, withscores: bool = False):
        op = dict(key=self._enc(key), count=count, with_scores=withscores, seed=_random_seed())
        return self._run(self._cmd("zrandmember", **op), self._with_scores() if withscores else self._dec, READ)

    def _zset_source(self, kind, keys, aggregate=None, withscores=False, limit=0, card=False) -> dict:
        if isinstance(keys, Mapping):
            names, weights = list(keys.keys()), [float(w) for w in keys.values()]
        else:
            names, weights = list(keys), []
        agg = _AGGREGATES.get(aggregate.upper() if isinstance(aggregate, str) else aggregate)
        if agg is None:
            raise ConfigError("aggregate must be SUM, MIN or MAX")
        return dict(op=_SET_OPS[kind], keys=self._encs(names), weights=weights, aggregate=agg,
                    with_scores=withscores, limit=limit, card=card)

    def _zset_op(self, kind, keys, aggregate=None, withscores=False):
        op = self._zset_source(kind, keys, aggregate, withscores)
        return self._run(self._cmd("zset_op", **op), self._with_scores() if withscores else self._dec, READ)

    def _zset_store(self, kind, dest, keys, aggregate=None):
        op = self._zset_source(kind, keys, aggregate)
        return self._run(self._cmd("zset_op_store", key=self._enc(dest), source=op), None, WRITE)

    def zunion(self, keys, aggregate: str | None = None, withscores: bool = False):
        return self._zset_op("union", keys, aggregate, withscores)

    def zinter(self, keys, aggregate: str | None = None, withscores: bool = False):
        return self._zset_op("inter", keys, aggregate, withscores)

    def zdiff(self, keys, withscores: bool = False):
        return self._zset_op("diff", keys, None, withscores)

    def zunionstore(self, dest: KeyT, keys, aggregate: str | None = None):
        return self._zset_store("union", dest, keys, aggregate)

    def zinterstore(self, dest: KeyT, keys, aggregate: str | None = None):
        return self._zset_store("inter", dest, keys, aggregate)

    def zdiffstore(self, dest: KeyT, keys):
        return self._zset_store("diff", dest, keys)

    def zintercard(self, numkeys: int, keys: list, limit: int = 0):
        return self._run(self._cmd("zset_op", **self._zset_source("inter", keys, limit=limit, card=True)),
                         None, READ)

    def zscan(self, name: KeyT, cursor: int = 0, match=None, count: int | None = None, score_cast_func=float):
        def post(v):
            cur, flat = v
            return int(cur), self._with_scores(score_cast_func)(flat)
        return self._run(self._element_scan(name, cursor, match, count), post, READ)


class ContainerCommands(HashCommands, ListCommands, SetCommands, SortedSetCommands):
    """Hashes, lists, sets, sorted sets."""
