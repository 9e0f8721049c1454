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
- each distinct string there weighs (`weight`): 1 instruction per LEN_BYTES of it past
  FREE_LEN bytes (a comparison or copy at ~0.05 ns a byte), 1 per NUL_BYTES of its NUL bytes
  past FREE_NUL, and 1 per NUM_BYTES of its numeric prefix (what strtod would read, blanks
  included) past FREE_NUM (~0.6 ns a byte); the long string constants of the code the run
  compiled weigh alike, always;
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
`interval` (a new coroutine's first). Nothing in it allocates while a run is armed but its
cache of weights, after the charge (a run at its memory bound is charged all the same). Must not
touch: anything but this text, and the data given.
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
#: A dense hook (mean below BASE_MEAN) charges this much per register it looked at.
SCAN_UNITS = 4
#: redis.sha1hex hashes this many bytes free of charge, and beyond, one instruction per
#: ARG_BYTES (SHA-1: ~1.4 ns a byte).
ARG_BYTES_FREE = 4096
ARG_BYTES = 32

# strtod's reach (C locale): blanks, a sign, then a hexadecimal or decimal number or nan(…),
# and the blanks after a number (luaO_str2d reads them).
_NUMERIC = re.compile(
    rb"[ \t\n\v\f\r]*[+-]?(?:(?:0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP]?[+-]?[0-9]*"
    rb"|[0-9.][0-9]*\.?[0-9]*[eE]?[+-]?[0-9]*|[nN][aA][nN]\(?[0-9A-Za-z_]*\)?)[ \t\n\v\f\r]*)?")


def weight(value: bytes) -> float:
    """The instructions one VM instruction touching `value` may cost beyond itself (SAMPLER calls
    it for each string it finds of more than FREE_NUL bytes, once a run)."""
    length = len(value)
    if length <= FREE_NUL:
        return 0.0
    nuls = value.count(0)
    w = (nuls - FREE_NUL) / NUL_BYTES if nuls > FREE_NUL else 0.0
    if length > FREE_NUM:
        prefix = _NUMERIC.match(value).end()
        if prefix > FREE_NUM:
            w += (prefix - FREE_NUM) / NUM_BYTES
    return w + (length - FREE_LEN) / LEN_BYTES if length > FREE_LEN else w


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
local sethook, getlocal = debug.sethook, debug.getlocal
local floor, log, type, error = math.floor, math.log, type, error
local FREE_NUL = P.free_nul
local BASE_MEAN, MEAN_TARGET, SCAN_UNITS = P.base_mean, P.mean_target, P.scan_units
-- Nothing below allocates while a run is armed but the cache of weights (after its charge): a
-- run at its memory bound is charged all the same. The strings the debug library pushes for a
-- hook ("count") and a temporary's name stay interned (these constants hold them).
local HELD = {"count", "(*temporary)"}

local BASE_KEEP = log(1 - 1 / BASE_MEAN)
-- the generator, the mean interval (and log(1 - 1/mean)), the interval under way, the heaviest
-- weight yet, what code compiled during the run weighs
local s = {x = 1, mean = BASE_MEAN, keep = BASE_KEEP, interval = BASE_MEAN, heaviest = 0, loaded = 0}
local weights = {}   -- the run's strings weighed so far (reading a long one takes a while)
local seen, fresh = {}, {}   -- a sample's distinct strings, and those not weighed before
for i = 1, 256 do seen[i], fresh[i] = false, false end   -- (a function has at most 250 registers)

-- What the registers of the function at `level` (of weigh's caller) weigh, how many there
-- were, and how many strings are not in the cache yet (fresh[1..n]).
local function weigh(level)
  level = level + 1
  local w, nseen, nfresh, i = state.constants_weight + s.loaded, 0, 0, 1
  while true do
    local name, v = getlocal(level, i)
    if name == nil then break end
    if type(v) == "string" and #v > FREE_NUL then
      local new = true
      for k = 1, nseen do if seen[k] == v then new = false break end end
      if new then
        nseen = nseen + 1
        seen[nseen] = v
        local vw = weights[v]
        if vw == nil then
          vw = P.weight(v)
          nfresh = nfresh + 1
          fresh[nfresh] = v
        end
        w = w + vw
      end
    end
    i = i + 1
  end
  for k = 1, nseen do seen[k] = false end
  return w, i - 1, nfresh
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

local function stop()
  state.exhausted = true
  sethook(P.hook, "", 1)   -- (the v24 hook raises at every instruction from now on)
  error(BUDGET, 0)
end

local function charge(cost)
  state.left = state.left - cost / STEP
  if state.left < 0 then stop() end
end

-- Charge the interval that ended at `level` (its instructions first, then what the registers
-- weigh), draw the next one. (One interval for all threads: a coroutine's hook fires at the
-- count drawn when it was last set, and is charged the one drawn last; the same everywhere.)
local function sample(level)
  local n = s.interval
  charge(n)
  local w, registers, nfresh = weigh(level + 1)
  local cost = n * w
  if w > 0 then state.weighed = true end
  if s.mean < BASE_MEAN then cost = cost + SCAN_UNITS * registers end
  charge(cost)
  set_mean(w)
  for k = 1, nfresh do
    local v = fresh[k]
    fresh[k] = false
    weights[v] = P.weight(v)   -- (may meet the memory bound: charged already)
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
        local vw = P.weight(v)
        if vw > w then w = vw end
      end
    end
  end
  return w
end

-- A run's start (its hook not set yet: not counted): the generator from the entry (a few draws
-- on, away from a small seed's first ones), the weight of its code's constants and of its
-- heaviest key or argument.
out.arm = function(keys, argv)
  local x = state.sample_seed
  for _ = 1, 3 do x = (x * 16807) % 2147483647 end
  s.x, s.mean, s.heaviest, s.keep, s.loaded = x, BASE_MEAN, 0, BASE_KEEP, 0
  state.weighed, state.overflowed = false, false
  weights = {}
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
-- What the long constants of code the run compiled (loadstring) weigh.
out.loaded = function(w) s.loaded = s.loaded + w end
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


def sampler_parameters() -> dict[bytes, object]:
    """SAMPLER's constants and `weight` (`P`), as the prelude hands them over."""
    return {b"free_nul": FREE_NUL, b"base_mean": BASE_MEAN, b"mean_target": MEAN_TARGET,
            b"scan_units": SCAN_UNITS, b"weight": weight}
