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
  same on every replica, unknown to the script), and looks at the registers of the function
  that was running, temporaries included. Every operand of those instructions sits in a
  register (or is a constant of the code) when they run, so an interval charged as though
  each of its instructions touched what the registers hold at its end is, on average, what the
  script did, however it hides its strings between operations;
- each distinct string there weighs (`weight`): 1 instruction per LEN_BYTES of it from
  FREE_LEN bytes on (a comparison or copy at ~0.05 ns a byte), 1 per NUL_BYTES of its NUL
  bytes past FREE_NUL, and 1 per NUM_BYTES of its numeric prefix (what strtod would read,
  blanks included) past FREE_NUM (~0.6 ns a byte); the long string constants of the code the
  run compiled weigh alike, always;
- the more a run's strings weigh (the heaviest sample yet, its arguments, a long string a
  command gave it), the more often the hook fires: the mean interval is MEAN_TARGET over that
  weight, at most BASE_MEAN, and a dense hook's own work is charged (SCAN_UNITS a register).

So a run that holds a 1 MB string in the running function's registers pays ~1,000 instructions
for each instruction it runs (its budget lasts ~2,000 instructions: docs/scripting.md, "Long
strings"); one that holds nothing long pays what it paid before.

SAMPLER is run once per runtime by the sandbox's prelude (node/scripting/sandbox.py) with (the
budget's state, its message, the hook step, and `P`: sampler_parameters() and the v≤24 hook);
it returns `arm` (a run's hook), `hook` (for coroutines), `pushed` (a long string a command
gave the run: engine.py), `loaded` (code compiled during the run: its constants' weight) and
`interval` (a new coroutine's first). Must not touch: anything but this text, and the data given.
"""

from __future__ import annotations

import hashlib
import re

#: Strings shorter than this weigh nothing for their length (a comparison of two is ~1.5 µs).
FREE_LEN = 32768
#: ... one instruction per this many bytes of a longer one.
LEN_BYTES = 1024
#: Up to this many NUL bytes weigh nothing (Lua compares a string NUL by NUL: ~5 ns each) ...
FREE_NUL = 256
#: ... one instruction per this many of more.
NUL_BYTES = 8
#: Numeric prefixes up to this long weigh nothing (strtod over 512 bytes: ~0.3 µs) ...
FREE_NUM = 512
#: ... one instruction per this many bytes of a longer one (tonumber's rate, charged.py).
NUM_BYTES = 64
#: The hook's mean interval, in instructions, while the run's strings weigh nothing.
BASE_MEAN = 200
#: A weight w makes it MEAN_TARGET / w (at least 1): ~1 ms of work between two samples.
MEAN_TARGET = 20_000
#: A dense hook (mean below BASE_MEAN) charges this much per register it looked at.
SCAN_UNITS = 4
#: Bytes a script hands to Python in one call (redis.call's arguments, sha1hex, log) free of
#: charge; beyond, one instruction per ARG_BYTES (a copy, and whatever reads it once).
ARG_BYTES_FREE = 4096
ARG_BYTES = 64

# strtod's reach (C locale): blanks, a sign, then a hexadecimal or decimal number or nan(…),
# and the blanks after a number (luaO_str2d reads them).
_NUMERIC = re.compile(
    rb"[ \t\n\v\f\r]*[+-]?(?:(?:0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP]?[+-]?[0-9]*"
    rb"|[0-9.][0-9]*\.?[0-9]*[eE]?[+-]?[0-9]*|[nN][aA][nN]\(?[0-9A-Za-z_]*\)?)[ \t\n\v\f\r]*)?")


def weight(value: bytes) -> float:
    """The instructions one VM instruction touching `value` may cost beyond itself (SAMPLER calls
    it once a run for each string it finds of more than FREE_NUL bytes)."""
    length = len(value)
    if length <= FREE_NUL:
        return 0.0
    nuls = value.count(0)
    w = nuls / NUL_BYTES if nuls > FREE_NUL else 0.0
    if length > FREE_NUM:
        prefix = _NUMERIC.match(value).end()
        if prefix > FREE_NUM:
            w += prefix / NUM_BYTES
    return w + length / LEN_BYTES if length >= FREE_LEN else w


def constants_weight(dump: bytes) -> float:
    """What the distinct string constants of a compiled chunk (string.dump's bytes) weigh."""
    return sum(weight(s) for s in set(dump_strings(dump)))


def dump_strings(dump: bytes) -> list[bytes]:
    """The string constants of every function in a Lua 5.1 binary chunk (lundump.c's format)."""
    if dump[:5] != b"\x1bLua\x51" or len(dump) < 12:
        return []
    order = "little" if dump[6] == 1 else "big"
    int_size, size_t, instruction, number = dump[7], dump[8], dump[9], dump[10]
    out: list[bytes] = []
    pos = 12

    def integer(size: int) -> int:
        nonlocal pos
        pos += size
        return int.from_bytes(dump[pos - size:pos], order)

    def string() -> bytes:
        nonlocal pos
        n = integer(size_t)
        pos += n
        return dump[pos - n:pos - 1] if n else b""

    def function() -> None:
        nonlocal pos
        string()                                  # source
        pos += 2 * int_size + 4                   # lines; upvalues, parameters, vararg, stack
        size = integer(int_size)                  # code
        pos += size * instruction
        for _ in range(integer(int_size)):        # constants
            kind = dump[pos]
            pos += 1
            if kind == 1:
                pos += 1
            elif kind == 3:
                pos += number
            elif kind == 4:
                out.append(string())
        for _ in range(integer(int_size)):        # nested functions
            function()
        size = integer(int_size)                  # line info
        pos += size * int_size
        for _ in range(integer(int_size)):        # locals
            string()
            pos += 2 * int_size
        for _ in range(integer(int_size)):        # upvalue names
            string()

    function()
    return out


SAMPLER = r"""
local state, BUDGET, STEP, P = ...
local sethook, getlocal, running = debug.sethook, debug.getlocal, coroutine.running
local floor, log, type, error, setmetatable, next = math.floor, math.log, type, error, setmetatable, next
local FREE_NUL = P.free_nul
local BASE_MEAN, MEAN_TARGET, SCAN_UNITS = P.base_mean, P.mean_target, P.scan_units

local BASE_KEEP = log(1 - 1 / BASE_MEAN)
local s = {x = 1, mean = BASE_MEAN, keep = BASE_KEEP, heaviest = 0, loaded = 0}
local intervals = setmetatable({}, {__mode = "k"})   -- each thread's current interval (a run's)
local MAIN = {}

local weights = {}   -- the run's strings weighed so far (reading a long one takes a while)
local function weight(v)
  local w = weights[v]
  if w == nil then
    w = P.weight(v)
    weights[v] = w
  end
  return w
end

-- What the registers of the function at `level` (of the caller of weigh) weigh, and how many
-- there were.
local function weigh(level)
  level = level + 1
  local w, seen, i = state.constants_weight + s.loaded, nil, 1
  while true do
    local name, v = getlocal(level, i)
    if name == nil then break end
    if type(v) == "string" and #v > FREE_NUL then
      local new = true
      if seen ~= nil then
        for k = 1, #seen do if seen[k] == v then new = false break end end
      end
      if new then
        local vw = weight(v)
        if vw > 0 then
          if seen == nil then seen = {v} else seen[#seen + 1] = v end
          w = w + vw
        end
      end
    end
    i = i + 1
  end
  return w, i - 1
end

local function set_mean(w)
  if w <= s.heaviest then return end
  s.heaviest = w
  local mean = floor(MEAN_TARGET / w)
  if mean < 1 then mean = 1 elseif mean > BASE_MEAN then mean = BASE_MEAN end
  s.mean = mean
  if mean > 1 then s.keep = log(1 - 1 / mean) end
end

local function draw()
  local x = (s.x * 16807) % 2147483647
  s.x = x
  if s.mean <= 1 then return 1 end
  return floor(log(x / 2147483647) / s.keep) + 1
end

local function stop()
  state.exhausted = true
  sethook(P.hook, "", 1)   -- (the v24 hook raises at every instruction from now on)
  error(BUDGET, 0)
end

-- Charge the interval that ended at `level` (registers weighed), draw the next one.
local function sample(level)
  local thread = running() or MAIN
  local n = intervals[thread] or s.mean
  local w, registers = weigh(level + 1)
  local cost = n * (1 + w)
  if w > 0 then state.weighed = true end
  if s.mean < BASE_MEAN then cost = cost + SCAN_UNITS * registers end
  state.left = state.left - cost / STEP
  if state.left < 0 then stop() end
  set_mean(w)
  local nxt = draw()
  intervals[thread] = nxt
  return nxt
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
        local vw = weight(v)
        if vw > w then w = vw end
      end
    end
  end
  return w
end

-- A run's start (before its hook is set: not counted): the generator from the entry (a few
-- draws on, away from a small seed's first ones), the weight of its code's constants and of its
-- heaviest key or argument.
out.arm = function(keys, argv)
  local x = state.sample_seed
  for _ = 1, 3 do x = (x * 16807) % 2147483647 end
  s.x = x
  s.mean, s.heaviest, s.keep, s.loaded, state.weighed = BASE_MEAN, 0, BASE_KEEP, 0, false
  if next(weights) ~= nil then weights = {} end
  set_mean(state.constants_weight)
  set_mean(heaviest(keys))
  set_mean(heaviest(argv))
  local first = draw()
  intervals[MAIN] = first
  sethook(hook, "", first)
end
-- A long string reached the run from Python (`w`: its weight): the interval under way ends
-- here (charged as instructions), and from now on the hook fires as often as `w` warrants.
out.pushed = function(w)
  local thread = running() or MAIN
  state.left = state.left - (intervals[thread] or s.mean) / STEP
  set_mean(w)
  local nxt = draw()
  intervals[thread] = nxt
  sethook(hook, "", nxt)
end
-- What the long constants of code the run compiled (loadstring) weigh.
out.loaded = function(w) s.loaded = s.loaded + w end
-- A new coroutine's first interval (its hook is set by the caller).
out.interval = function(c)
  local first = draw()
  intervals[c] = first
  return first
end
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
    """The weight of the heaviest string among `values` (and the lists among them)."""
    w = 0.0
    for v in values:
        if type(v) is bytes:
            if len(v) > FREE_NUL:
                w = max(w, weight(v))
        elif type(v) is list:
            w = max(w, heaviest(v))
    return w


def sampler_parameters() -> dict[bytes, object]:
    """SAMPLER's constants and `weight` (`P`), as the prelude hands them over."""
    return {b"free_nul": FREE_NUL, b"base_mean": BASE_MEAN, b"mean_target": MEAN_TARGET,
            b"scan_units": SCAN_UNITS, b"weight": weight}
