"""What a script's long strings cost its budget (log version 25): the sampling hook.

The budget's hook counts VM instructions, and some single instructions take time that grows
with the strings they touch: comparing strings (`<`, `<=`: strcmp of their common prefix, a
string with itself too, and NUL by NUL: ~5 ns a NUL byte), arithmetic on a string (`s + 0`:
strtod reads its blanks and digits), a concatenation whose result the runtime already holds
(`'' .. s`: a copy and a memcmp, nothing allocated), a C or Python library function reading a
long numeric string. A loop of them on a 1 MB string held every replica's apply for minutes;
on 8 MB of NULs, hours. None of them can be seen from Lua as it happens, so from log version
25 the hook weighs them:

- it fires at random intervals (geometric, from a generator seeded by the log entry: the
  same on every replica, unknown to the script), finds the line the interrupted function is
  at, and looks at the registers (and constants) that line's comparisons, arithmetic,
  concatenations and calls read (`chunk_lines`, from the compiled bytecode). Every operand of
  those instructions sits there when they run, so an interval charged as though each of its
  instructions read what those registers hold is, on average, at least what the script did,
  however it hides its strings between operations;
- each string there weighs by what the operation reads (`weight_parts`): 1 instruction per
  LEN_BYTES of it past FREE_LEN bytes (a comparison or copy at ~0.05 ns a byte), 1 per
  NUL_BYTES of its NUL bytes past FREE_NUL (comparisons), 1 per NUM_BYTES of its numeric
  prefix (what strtod would read, blanks included) past FREE_NUM (~0.6 ns a byte: arithmetic,
  calls);
- the more a run's strings weigh (the heaviest sample yet, its arguments and constants, a long
  string a command gave it), the more often the hook fires: the mean interval is MEAN_TARGET
  over that weight, at most BASE_MEAN, and a sample's own work is charged (SCAN_UNITS a
  register, and the running chunk's name it copies).

So a line that compares or converts a 1 MB string pays ~1,000 instructions for each of its
instructions (docs/scripting.md, "Long strings"); holding the string costs nothing.

SAMPLER is run once per runtime by the sandbox's prelude (node/scripting/sandbox.py) with (the
budget's state, the hook step, and `P`: sampler_parameters() and the prelude's `stop`);
it returns `arm` (a run's hook), `hook` (for coroutines), `pushed` (a long string a command
gave the run: engine.py), `loaded` (code compiled during the run: what its lines read) and
`interval` (a new coroutine's first). A sample charges its interval before anything in it
allocates (a run at its memory bound is charged all the same). Must not touch: anything but
this text, and the data given.
"""

from __future__ import annotations

import hashlib
import re

#: A string weighs nothing for its length up to this many bytes (a compare of two: ~0.4 µs) ...
FREE_LEN = 8192
#: ... and one instruction per this many bytes beyond.
LEN_BYTES = 1024
#: Up to this many NUL bytes weigh nothing (Lua compares a string NUL by NUL: ~5 ns each) ...
FREE_NUL = 64
#: ... one instruction per this many beyond.
NUL_BYTES = 8
#: A numeric prefix up to this long weighs nothing (strtod over 512 bytes: ~0.3 µs) ...
FREE_NUM = 512
#: ... one instruction per this many bytes beyond (tonumber's rate, charged.py).
NUM_BYTES = 64
#: The hook's mean interval, in instructions, while the run's strings weigh nothing.
BASE_MEAN = 100
#: A weight w makes it MEAN_TARGET / w (at least 1): ~1 ms of work between two samples.
MEAN_TARGET = 20_000
#: A sample charges this much per register it looked at (and 4 more) ...
SCAN_UNITS = 4
#: ... and one instruction per this many bytes of the running chunk's name (which it copies).
SOURCE_BYTES = 32
#: Reading a chunk loadstring compiled (chunk_lines, in Python) charges this much per instruction.
DECODE_UNITS = 20
#: redis.sha1hex hashes this many bytes free of charge, and beyond, one instruction per
#: ARG_BYTES (SHA-1: ~1.4 ns a byte).
ARG_BYTES_FREE = 4096
ARG_BYTES = 32

# strtod's reach (C locale): blanks, a sign, then a hexadecimal or decimal number or nan(…),
# and the blanks after a number (luaO_str2d reads them).
_NUMERIC = re.compile(
    rb"[ \t\n\v\f\r]*[+-]?(?:(?:0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP]?[+-]?[0-9]*"
    rb"|[0-9.][0-9]*\.?[0-9]*[eE]?[+-]?[0-9]*|[nN][aA][nN]\(?[0-9A-Za-z_]*\)?)[ \t\n\v\f\r]*)?")


#: What an operation reads of its string operands (a mask): their length (a compare, a copy),
#: their NUL bytes (a compare: Lua's strcoll stops at each), their numeric prefix (strtod).
LEN, NUL, NUM = 1, 2, 4


def weight_parts(value: bytes) -> tuple[float, float, float]:
    """What one instruction reading `value` may cost beyond itself, by what it reads: (its length,
    its NUL bytes, its numeric prefix), in instructions."""
    length = len(value)
    if length <= FREE_NUL:
        return 0.0, 0.0, 0.0
    nuls = value.count(0)
    by_nuls = (nuls - FREE_NUL) / NUL_BYTES if nuls > FREE_NUL else 0.0
    by_number = 0.0
    if length > FREE_NUM:
        prefix = _NUMERIC.match(value).end()
        if prefix > FREE_NUM:
            by_number = (prefix - FREE_NUM) / NUM_BYTES
    return (length - FREE_LEN) / LEN_BYTES if length > FREE_LEN else 0.0, by_nuls, by_number


def weight(value: bytes) -> float:
    """The most one instruction reading `value` may cost beyond itself (weight_parts, summed)."""
    return sum(weight_parts(value))


def _masked(value: bytes, mask: int) -> float:
    by_length, by_nuls, by_number = weight_parts(value)
    return (by_length if mask & LEN else 0.0) + (by_nuls if mask & NUL else 0.0) + (by_number if mask & NUM else 0.0)


# Lua 5.1's opcodes whose time grows with string operands (lopcodes.h), and what they read:
# ADD..POW, UNM and FORPREP convert strings to numbers; CONCAT copies (and compares its result
# with an equal string held); LT and LE compare; CALL, TAILCALL and TFORLOOP hand their
# arguments to functions (C converting a number, Python copying the string).
_ADD, _POW, _UNM, _CONCAT, _LT, _LE, _CALL, _TAILCALL, _FORPREP, _TFORLOOP = 12, 17, 18, 21, 24, 25, 28, 29, 32, 33
_RK = 256   # an operand at or above it names a constant


def _operands(ins: int, maxstack: int):
    """(register or -1 - constant, mask) for each string-reading operand of one instruction."""
    op, a, c, b = ins & 0x3F, (ins >> 6) & 0xFF, (ins >> 14) & 0x1FF, (ins >> 23) & 0x1FF
    if _ADD <= op <= _POW:
        return ((x if x < _RK else -1 - (x - _RK), NUM) for x in (b, c))
    if op == _UNM:
        return ((b, NUM),)
    if op == _CONCAT:
        return ((r, LEN) for r in range(b, c + 1))
    if op in (_LT, _LE):
        return ((x if x < _RK else -1 - (x - _RK), LEN | NUL) for x in (b, c))
    if op in (_CALL, _TAILCALL):
        last = a + b - 1 if b else maxstack - 1
        return ((r, LEN | NUM) for r in range(a + 1, last + 1))
    if op == _FORPREP:
        return ((r, NUM) for r in (a, a + 1, a + 2))
    if op == _TFORLOOP:
        return ((r, LEN | NUM) for r in (a + 1, a + 2))
    return ()


def chunk_lines(dump: bytes) -> dict:
    """What a compiled chunk's lines read of strings (string.dump's bytes), as the sampling hook
    looks it up: {source: {first line: {last line: {line: [constants' weight, register, mask,
    register, mask, …]}}}} for each function (by the lines it spans; functions sharing them are
    merged), each register once (its masks merged), counted from 0; a line that reads no string
    operand is absent."""
    merged: dict = {}   # source -> first -> last -> line -> (constants' weight, {register: mask})
    for source, first, last, maxstack, code, lines, constants in dump_functions(dump):
        by_line = merged.setdefault(source, {}).setdefault(first, {}).setdefault(last, {})
        for pc, ins in enumerate(code):
            for operand, mask in _operands(ins, maxstack):
                line = lines[pc] if pc < len(lines) else 0
                weight_of_constants, registers = by_line.get(line, (0.0, {}))
                if operand >= 0:
                    registers[operand] = registers.get(operand, 0) | mask
                else:
                    constant = constants[-1 - operand] if -1 - operand < len(constants) else None
                    if isinstance(constant, bytes):
                        weight_of_constants += _masked(constant, mask)
                by_line[line] = weight_of_constants, registers
    return {source: {first: {last: {line: [c] + [x for r in sorted(regs) for x in (r, regs[r])]
                                    for line, (c, regs) in by_line.items()}
                             for last, by_line in by_last.items()}
                     for first, by_last in by_first.items()}
            for source, by_first in merged.items()}


def heaviest_constant(dump: bytes) -> float:
    """The weight of the heaviest string constant of a compiled chunk."""
    return max((weight(c) for f in dump_functions(dump) for c in f[6] if isinstance(c, bytes)), default=0.0)


def instructions(dump: bytes) -> int:
    """How many instructions a compiled chunk holds (what reading it for chunk_lines costs)."""
    return sum(len(f[4]) for f in dump_functions(dump))


def dump_functions(dump: bytes) -> list[tuple]:
    """Every function of a Lua 5.1 binary chunk (lundump.c's format): (source, first line, last
    line, registers, code, the line of each instruction, constants: bytes, numbers, None)."""
    if dump[:5] != b"\x1bLua\x51" or len(dump) < 12:
        return []
    order = "little" if dump[6] == 1 else "big"
    int_size, size_t, instruction, number = dump[7], dump[8], dump[9], dump[10]
    out: list[tuple] = []
    pos = 12

    def integer(size: int) -> int:
        nonlocal pos
        pos += size
        return int.from_bytes(dump[pos - size:pos], order)

    def string() -> bytes | None:
        nonlocal pos
        n = integer(size_t)
        pos += n
        return dump[pos - n:pos - 1] if n else None

    def function(parent: bytes) -> None:
        nonlocal pos
        source = string()
        source = parent if source is None else source
        first, last = integer(int_size), integer(int_size)
        maxstack = dump[pos + 3]
        pos += 4                                  # upvalues, parameters, vararg, registers
        code = [integer(instruction) for _ in range(integer(int_size))]
        constants: list = []
        for _ in range(integer(int_size)):
            kind = dump[pos]
            pos += 1
            if kind == 1:
                pos += 1
                constants.append(None)
            elif kind == 3:
                pos += number
                constants.append(0)
            elif kind == 4:
                constants.append(string() or b"")
            else:
                constants.append(None)
        for _ in range(integer(int_size)):        # nested functions
            function(source)
        lines = [integer(int_size) for _ in range(integer(int_size))]
        for _ in range(integer(int_size)):        # locals
            string()
            pos += 2 * int_size
        for _ in range(integer(int_size)):        # upvalue names
            string()
        out.append((source, first, last, maxstack, code, lines, constants))

    function(b"")
    return out


SAMPLER = r"""
local state, STEP, P = ...
local sethook, getlocal, getinfo = debug.sethook, debug.getlocal, debug.getinfo
local floor, log, type, pairs = math.floor, math.log, type, pairs
local FREE_NUL = P.free_nul
local BASE_MEAN, MEAN_TARGET, SCAN_UNITS, SOURCE_BYTES = P.base_mean, P.mean_target, P.scan_units, P.source_bytes
-- A sample charges its interval before anything allocates (the debug library's table of a
-- frame's facts, the cache of weights come after); the strings the debug library pushes for a
-- hook ("count") and a temporary's name stay interned (these constants hold them).
local HELD = {"count", "(*temporary)"}

local BASE_KEEP = log(1 - 1 / BASE_MEAN)
-- the generator, the mean interval (and log(1 - 1/mean)), the interval under way, the heaviest
-- weight yet
local s = {x = 1, mean = BASE_MEAN, keep = BASE_KEEP, interval = BASE_MEAN, heaviest = 0}
-- the run's strings weighed so far, by what is read of them (reading a long one takes a while)
local by_length, by_nuls, by_number = {}, {}, {}
local fresh, nfresh = {}, 0   -- strings weighed by this sample, cached after its charge
for i = 1, 1024 do fresh[i] = false end   -- (at most 250 registers a function, x4)
local loaded = {}   -- what code compiled during the run reads (loadstring), merged by source

-- What one read of `v` (a mask: 1 its length, 2 its NUL bytes, 4 its number) weighs.
local function weight(v, mask)
  local l = by_length[v]
  local n, m
  if l == nil then
    l, n, m = P.weight(v)
    if nfresh < 1020 then
      fresh[nfresh + 1], fresh[nfresh + 2], fresh[nfresh + 3], fresh[nfresh + 4] = v, l, n, m
      nfresh = nfresh + 4
    end
  else
    n, m = by_nuls[v], by_number[v]
  end
  local w = 0
  if mask % 2 == 1 then w = l end
  if mask % 4 >= 2 then w = w + n end
  if mask >= 4 then w = w + m end
  return w
end

-- The reads of `info`'s line in `lines` (chunk_lines' shape), or nil.
local function reads_of(lines, info)
  local t = lines[info.source]
  if t ~= nil then t = t[info.linedefined] end
  if t ~= nil then t = t[info.lastlinedefined] end
  if t ~= nil then return t[info.currentline] end
end

-- What the reads of `entry` weigh in the frame at `level` (of weigh_reads' caller), and the
-- registers looked at.
local function weigh_reads(level, entry)
  level = level + 1
  local w, n = entry[1], 0
  for k = 2, #entry, 2 do
    local _, v = getlocal(level, entry[k] + 1)
    n = n + 1
    if type(v) == "string" and #v > FREE_NUL then w = w + weight(v, entry[k + 1]) end
  end
  return w, n
end

-- w, n plus what `info`'s line in `lines` (or none: false) reads in the frame at `level` (of
-- weigh_lines' caller), and the registers looked at.
local function weigh_lines(level, lines, info, w, n)
  local entry = lines and reads_of(lines, info)
  if entry == nil or entry == false then return w, n end
  local lw, ln = weigh_reads(level + 1, entry)
  return w + lw, n + ln
end

-- What the line the function at `level` (of weigh's caller) runs reads of the strings in its
-- registers (and constants), and how many registers were looked at.
local function weigh(level)
  level = level + 1
  local info = getinfo(level, "Sl")
  if info == nil then return 0, 0 end
  -- the run's code, what it compiled (loadstring), the prelude's own Lua; (getinfo copied the
  -- chunk's name)
  local w, n = weigh_lines(level, state.lines, info, 0, #info.source / SOURCE_BYTES)
  w, n = weigh_lines(level, loaded, info, w, n)
  w, n = weigh_lines(level, P.prelude_lines, info, w, n)   -- (not a tail call: the levels hold)
  return w, n
end

local function set_mean(w)
  if w <= s.heaviest then return end
  s.heaviest = w
  local mean = floor(MEAN_TARGET / w)
  if mean < 1 then mean = 1 elseif mean > BASE_MEAN then mean = BASE_MEAN end
  s.mean = mean
  if mean > 1 then s.keep = log(1 - 1 / mean) end
end

-- The next interval (Park and Miller's generator, geometric with the mean in force).
local function draw()
  local x = (s.x * 16807) % 2147483647
  s.x = x
  local n = 1
  if s.mean > 1 then n = floor(log(x / 2147483647) / s.keep) + 1 end
  s.interval = n
  return n
end

local stop = P.stop   -- (the budget spent: the prelude's)

local function charge(cost)
  state.left = state.left - cost / STEP
  if state.left < 0 then stop() end
end

-- Charge the interval that ended at `level` (its instructions first, then what its line reads),
-- draw the next one. (One interval for all threads: a coroutine's hook fires at the count drawn
-- when it was last set, and is charged the one drawn last; the same everywhere.)
local function sample(level)
  local n = s.interval
  charge(n)
  nfresh = 0
  local w, registers = weigh(level + 1)
  if w > 0 then state.weighed = true end
  local cost = n * w
  cost = cost + SCAN_UNITS * (registers + 4)
  charge(cost)
  set_mean(w)
  for k = 1, nfresh, 4 do   -- (may meet the memory bound: charged already)
    local v = fresh[k]
    by_length[v], by_nuls[v], by_number[v] = fresh[k + 1], fresh[k + 2], fresh[k + 3]
    fresh[k] = false
  end
  return draw()
end

local hook
hook = function()
  if not state.armed then return end
  if state.exhausted then stop() end
  sethook(hook, "", sample(2))
end

local out = {hook = hook}
-- The weight of the heaviest string of a list (a run's KEYS or ARGV).
local function heaviest(list)
  local w = 0
  if list ~= nil then
    for i = 1, #list do
      local v = list[i]
      if type(v) == "string" and #v > FREE_NUL then
        local vw = weight(v, 7)
        if vw > w then w = vw end
      end
    end
  end
  return w
end

-- A run's start (its hook not set yet: not counted): the generator from the entry (a few draws
-- on, away from a small seed's first ones), the heaviest string constant of its code, key or
-- argument.
out.arm = function(keys, argv)
  local x = state.sample_seed
  for _ = 1, 3 do x = (x * 16807) % 2147483647 end
  s.x, s.mean, s.heaviest, s.keep = x, BASE_MEAN, 0, BASE_KEEP
  state.weighed, state.overflowed = false, false
  by_length, by_nuls, by_number, loaded, nfresh = {}, {}, {}, {}, 0
  set_mean(state.constants_weight)
  set_mean(heaviest(keys))
  set_mean(heaviest(argv))
  sethook(hook, "", draw())
end
-- A long string reached the run from Python (`w`: its weight): the interval under way ends
-- here (charged as instructions), and from now on the hook fires as often as `w` warrants.
-- (Python calls it on the runtime's main thread: in a coroutine, that thread's count goes on.)
out.pushed = function(w)
  state.left = state.left - s.interval / STEP   -- (its next sample stops it, if need be)
  set_mean(w)
  sethook(hook, "", draw())
end
-- Code compiled during the run (loadstring): what its lines read (chunk_lines' shape), merged
-- into the run's own tables by source (a line read twice: both entries, concatenated), and the
-- weight of its heaviest constant.
out.loaded = function(lines, heaviest_constant)
  for source, by_first in pairs(lines) do
    local mine = loaded[source]
    if mine == nil then mine = {} loaded[source] = mine end
    for first, by_last in pairs(by_first) do
      local m1 = mine[first]
      if m1 == nil then m1 = {} mine[first] = m1 end
      for last, by_line in pairs(by_last) do
        local m2 = m1[last]
        if m2 == nil then m2 = {} m1[last] = m2 end
        for line, entry in pairs(by_line) do
          local e = m2[line]
          if e == nil then m2[line] = entry else   -- (entries are never changed: shared)
            local both = {e[1] + entry[1]}
            for k = 2, #e do both[#both + 1] = e[k] end
            for k = 2, #entry do both[#both + 1] = entry[k] end
            m2[line] = both
          end
        end
      end
    end
  end
  set_mean(heaviest_constant)
end
-- A new coroutine's first interval (its hook is set by the caller).
out.interval = draw
return out
"""


def derive(seed: int, purpose: bytes) -> int:
    """A generator's seed for `purpose`, from a log entry's seed (one-way: one purpose's draws
    tell nothing of another's)."""
    digest = hashlib.blake2b((seed & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little"), digest_size=8,
                             person=b"raftcache-" + purpose).digest()
    return int.from_bytes(digest, "little")


def sampler_seed(seed: int) -> int:
    """The hook's generator's start (1 .. 2^31 - 2: Park and Miller's), from a log entry's seed
    (which a script cannot read: math.random draws from `derive(seed, b"math")`)."""
    return seed % 2147483646 + 1


def heaviest(values) -> float:
    """The weight of the heaviest string among `values` (a reply: strings, and lists, maps and
    pairs of them, nested)."""
    w = 0.0
    for v in values:
        if isinstance(v, (bytes, bytearray)):
            if len(v) > FREE_NUL:
                w = max(w, weight(bytes(v)))
        elif isinstance(v, (list, tuple)):
            w = max(w, heaviest(v))
        elif isinstance(v, dict):
            w = max(w, heaviest(v.keys()), heaviest(v.values()))
    return w


def sampler_parameters(prelude_lines) -> dict[bytes, object]:
    """SAMPLER's constants, `weight` and what the prelude's own Lua reads (`P`; prelude_lines:
    a Lua table of chunk_lines' shape), as the prelude hands them over."""
    return {b"free_nul": FREE_NUL, b"base_mean": BASE_MEAN, b"mean_target": MEAN_TARGET,
            b"scan_units": SCAN_UNITS, b"source_bytes": SOURCE_BYTES, b"weight": weight_parts,
            b"prelude_lines": prelude_lines}
