"""The Lua 5.1 sandbox scripts run in: one lupa runtime per thread, its privileged
prelude, the read-only environment a script sees, and the instruction budget.

What a script sees (Redis 7's sandbox): the base functions (no `dofile`,
`loadfile`, `require`, `module`, `getfenv`, `setfenv`, `collectgarbage`, `print`,
`newproxy`; `loadstring` of text only, from log version 16), the `string`, `table`,
`math`, `coroutine` libraries and `bit`, `cjson`, `cmsgpack`, `struct`, `redis`, all
read-only; KEYS and ARGV. There is no `os`, `io`, `debug` or `package`. Globals are
protected: reading an undefined one or assigning any is an error with Redis's text
(from log version 16 also KEYS, ARGV, `redis` and `_G` themselves, and `_G`'s metatable,
as Redis 7's read-only global table; before, those four could be reassigned). `math.random` / `math.randomseed`
draw from the run's generator, seeded by the log entry (no randomness of its own).

The budget: a count hook fires every `HOOK_STEP` Lua VM instructions; after the
run's allowance it raises, and from then on fires at every instruction, so a
`pcall` cannot keep the script alive. Counting instructions (not time) stops a
runaway script at the same point on every replica. The memory bound is lupa's
`max_memory`, counted from the run's start with the collector stopped for the run:
what a run may allocate is then the sum of its own allocations, the same on every
replica whatever garbage earlier runs left (a collection would free it at times that
depend on the node's history).

Every run gets a fresh global table (nothing a run leaves behind reaches the next:
replicas that restarted and replicas that did not behave alike). This module knows
nothing of Redis commands: node/scripting/engine.py gives it the `redis` table.
"""

from __future__ import annotations

import random
import struct
import threading
import weakref

from lupa import lua51

from raftcache.node.scripting import copies, lualibs, string_weights
from raftcache.node.scripting.charged import CHARGED
from raftcache.node.scripting.patterns import PATTERNS
from raftcache.node.scripting.string_weights import SAMPLER, sampler_parameters
from raftcache.node.scripting.table_sort import SORT

#: VM instructions between two calls of the budget hook.
HOOK_STEP = 1000
#: string.rep charges one instruction per this many bytes it builds.
BYTES_PER_INSTRUCTION = 8
#: What Python called by a run leaves free of its memory bound (Sandbox.room): a string
#: table's resize, a stack's growth, the error message.
ROOM_MARGIN = 1 << 20
#: What a Lua string takes besides its bytes (header, terminator, allocator rounding).
STRING_OVERHEAD = 48
#: What a table takes, and each of its slots (an array's or a hash's, as it grows: a hash part
#: is rebuilt with its old and new nodes both held), at most.
TABLE_OVERHEAD, SLOT_BYTES, HASH_SLOT_BYTES = 128, 96, 192
#: What lupa allocates to raise a Python error in Lua, left free when Sandbox.room refuses.
ERROR_ROOM = 64 << 10
#: Registry references the runtime makes room for before any run (Sandbox._reserve_refs; the
#: registry's array then has 2^16 slots, 1 MiB) ...
REGISTRY_SLOTS = (1 << 16) - 1024
#: ... of which this many are kept for the references took_refs does not count: those the engine
#: keeps (compiled chunks and their reads: ~1,100; libraries' functions: 10,000 at most), a call's
#: arguments (~8,000 at most: Lua's C stack), a walk of nested tables (a few a level).
REGISTRY_HEADROOM = 1 << 15
#: Bytes of a registry slot (a Lua 5.1 TValue).
SLOT_VALUE_BYTES = 16
#: The message a run stopped by its budget fails with.
BUDGET_EXCEEDED = "__raftcache_budget_exceeded__"

_PRELUDE = r"""
local py = ...
local debug_sethook, debug_getinfo = debug.sethook, debug.getinfo
local pcall, error, type, setmetatable, getmetatable, setfenv, tostring, select, rawset, rawget, unpack, pairs,
      ipairs, xpcall = pcall, error, type, setmetatable, getmetatable, setfenv, tostring, select, rawset, rawget,
      unpack, pairs, ipairs, xpcall
local debug_getmetatable = debug.getmetatable
local loadstring, co_create, co_wrap, gc = loadstring, coroutine.create, coroutine.wrap, collectgarbage
local floor, c_sub = math.floor, string.sub
local BUDGET = py.budget_message
local STEP = py.step

-- compat, readonly_globals: the run follows log version 15's / 16's additions (node/scripting/
-- engine.py sets them per run); env: the global table of the run under way (loadstring's)
local state = {left = 0, exhausted = false, armed = false, compat = true, readonly_globals = true,
               sampled = false, weighed = false, overflowed = false, sample_seed = 1, constants_weight = 0,
               lines = false, copies = false, objects_named = false}
local hook
hook = function()
  if not state.armed then return end
  if not state.exhausted then
    state.left = state.left - 1
    if state.left >= 0 then return end
    state.exhausted = true
  end
  debug_sethook(hook, "", 1)
  error(BUDGET, 0)
end

-- Work done outside the VM (a string built in C, a command run in Python) is charged in
-- instructions too, so that a few instructions cannot buy unbounded time.
local function charge(instructions)
  if not state.armed then return end
  state.left = state.left - instructions / STEP
  if state.left < 0 then
    state.exhausted = true
    debug_sethook(hook, "", 1)
    error(BUDGET, 0)
  end
end

-- The budget spent (log version 25's): from now on `hook` raises at every instruction.
local function stop()
  state.exhausted = true
  debug_sethook(hook, "", 1)
  error(BUDGET, 0)
end

-- Log version 25's hook: sampled at random intervals, weighing the long strings the running
-- code reads (node/scripting/string_weights.py); older entries keep `hook` above.
local sampler
do
  local P = py.sampler_parameters
  P.stop = stop
  sampler = loadstring(py.sampler, "=sampler")(state, STEP, P)
end

local READONLY = "Attempt to modify a readonly table"
local protected = setmetatable({}, {__mode = "k"})
local function refuse() error(READONLY, 2) end
local function readonly(t)
  local p = setmetatable({}, {__index = t, __newindex = refuse, __metatable = false})
  protected[p] = true
  return p
end
local function copy(t) local c = {} for k, v in pairs(t) do c[k] = v end return c end

-- Python functions raise; a script sees a Lua error at its own line. (`describe`: tostring,
-- or from log version 27 its naming of objects, set below.)
local describe = tostring
local function pass(ok, ...)
  if not ok then error(describe((...)), 2) end
  return ...
end
local function lib(f) return function(...) return pass(pcall(f, ...)) end end
local function pylib(t)
  local out = {}
  for k, v in pairs(t) do out[k] = lib(v) end
  return out
end

local base = {}
for _, name in ipairs({"assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select", "tonumber",
                       "tostring", "type", "unpack", "rawequal", "rawget", "getmetatable", "setmetatable", "gcinfo"}) do
  base[name] = _G[name]
end
base.gcinfo = nil
base.rawset = function(t, k, v)
  if protected[t] then error(READONLY, 2) end
  return rawset(t, k, v)
end
base._VERSION = _VERSION
local strings = copy(string)
local rep = string.rep
strings.rep = function(s, n, ...)
  if type(n) == "number" and n > 0 then charge(#tostring(s) * n / py.bytes_per_instruction) end
  return rep(s, n, ...)
end
getmetatable("").__index = strings   -- ("x"):rep(n) is charged alike
base.string = readonly(strings)
-- Log version 24's: pattern matching, table.sort and other long library calls bounded by the
-- budget (node/scripting/patterns.py, table_sort.py, charged.py); a run sets the strings' methods
-- to its version's library before its hook is armed (use_strings).
local strings24 = copy(strings)
local table24 = copy(table)
local charged   -- (node/scripting/charged.py: library functions charged by their work)
local sort26    -- (log version 26's table.sort: table_sort.py)
do
  local patterns = loadstring(py.patterns, "=patterns")(string, charge, debug_getinfo)
  strings24.find, strings24.match, strings24.gmatch, strings24.gsub = patterns.find, patterns.match,
                                                                        patterns.gmatch, patterns.gsub
  table24.sort, sort26 = loadstring(py.table_sort, "=sort")(table, charge, debug_getinfo, patterns.raise,
                                                     patterns.arg_error, patterns.mark, patterns.check_table)
  charged = loadstring(py.charged, "=charged")(string, table, py, charge, pass, patterns.check_string,
                                               patterns.check_table, patterns.opt_integer, patterns.arg_error,
                                               patterns.mark, patterns.c_call)
  strings24.upper, strings24.lower, strings24.reverse, strings24.sub = charged.upper, charged.lower, charged.reverse,
                                                                      charged.sub
  table24.concat, table24.insert, table24.remove, table24.maxn = charged.concat, charged.insert, charged.remove,
                                                                 charged.maxn
end
local string_meta = getmetatable("")
local function use_strings()
  string_meta.__index = state.script_errors and strings24 or strings
end
base.table = readonly(table)
local mathlib = copy(math)
mathlib.random = function(m, n)
  local r = py.random()
  if m == nil then return r end
  m = floor(m)
  if n == nil then
    if m < 1 then error("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * m) + 1
  end
  n = floor(n)
  if m > n then error("bad argument #2 to 'random' (interval is empty)", 2) end
  return floor(r * (n - m + 1)) + m
end
mathlib.randomseed = function(x) py.randomseed(x) end
base.math = readonly(mathlib)
local co = copy(coroutine)
co.create = function(f) local c = co_create(f) debug_sethook(c, hook, "", STEP) return c end
co.wrap = function(f)
  local c = co.create(f)
  return function(...) return pass(coroutine.resume(c, ...)) end
end
base.coroutine = readonly(co)
base.bit = readonly(pylib(py.bit))
base.struct = readonly(pylib(py.struct))
local cjson = {encode = lib(py.cjson_encode), decode = lib(py.cjson_decode), null = py.null,
               encode_keep_buffer = function() end, decode_max_depth = lib(py.cjson_decode_max_depth),
               encode_max_depth = lib(py.cjson_encode_max_depth),
               encode_invalid_numbers = lib(py.cjson_encode_invalid_numbers)}
base.cjson = readonly(cjson)
local msgpack = {pack = lib(py.msgpack_pack), unpack = lib(py.msgpack_unpack),
                 unpack_one = lib(py.msgpack_unpack_one), unpack_limit = lib(py.msgpack_unpack_limit)}
local MSGPACK_SINCE_15 = {unpack_one = true, unpack_limit = true}   -- absent for older entries
base.cmsgpack = setmetatable({}, {__index = function(t, k)
  if MSGPACK_SINCE_15[k] and not state.compat then return nil end
  return msgpack[k]
end, __newindex = refuse, __metatable = false})
protected[base.cmsgpack] = true
getmetatable("").__metatable = false   -- the string library stays out of reach
-- and so does lupa's metatable of Python objects (one for all: a script that got one, an error
-- Python raised, could set its __call and so every later run's calls into Python; every version)
rawset(debug_getmetatable(py.random), "__metatable", false)

-- Log version 16's base functions (Redis 7's): `setmetatable` refuses the read-only tables with
-- Redis's text, `loadstring` compiles text. Entries of older versions keep `base` exactly as
-- their replicas had it (the budget counts the instructions a wrapper would add). Errors are
-- raised at the script's line with Lua's own texts.
local function arg_type(n, ...)
  if select("#", ...) < n then return "no value" end
  return type((select(n, ...)))
end
local base16 = copy(base)
base16.setmetatable = function(...)
  local t, meta = ...
  if protected[t] then error(READONLY, 2) end
  if type(t) ~= "table" then
    error("bad argument #1 to 'setmetatable' (table expected, got " .. arg_type(1, ...) .. ")", 2)
  end
  if meta ~= nil and type(meta) ~= "table" then error("bad argument #2 to 'setmetatable' (nil or table expected)", 2) end
  local old = debug_getmetatable(t)
  if old ~= nil and rawget(old, "__metatable") ~= nil then error("cannot change a protected metatable", 2) end
  return setmetatable(t, meta)
end
-- Text chunks only (Redis 7 refuses bytecode: nil), compiled into the run's own globals
-- (Lua's would give them the unsandboxed table), charged by their size.
base16.loadstring = function(...)
  local text, name = ...
  local kind = arg_type(1, ...)
  if kind ~= "string" and kind ~= "number" then
    error("bad argument #1 to 'loadstring' (string expected, got " .. kind .. ")", 2)
  end
  if name ~= nil and type(name) ~= "string" and type(name) ~= "number" then
    error("bad argument #2 to 'loadstring' (string expected, got " .. type(name) .. ")", 2)
  end
  text = tostring(text)
  charge(#text / py.bytes_per_instruction)
  if text:byte(1) == 27 then return nil, "binary chunks are not loaded" end
  local chunk, message = loadstring(text, name)
  if chunk == nil then return nil, message end
  setfenv(chunk, state.env)
  return chunk
end

-- Log version 24's base functions (Redis 7's): `pcall` catches an error table that has an `err`
-- text as that text (Redis's luaRedisPcall), so a script sees a failed redis.call's message as a
-- string. Older entries keep base16 (the budget counts the wrapper's instructions).
local function caught(ok, ...)
  if ok then return true, ... end
  local e = ...
  if type(e) ~= "table" then return false, ... end
  local text = e.err
  if type(text) == "string" or type(text) == "number" then return false, text end
  return false, e, text
end
local base24 = copy(base16)
base24.string = readonly(strings24)
base24.table = readonly(table24)
base24.tonumber = charged.tonumber
base24.struct = readonly(charged.struct)
do
  local cjson24, msgpack24 = copy(cjson), copy(msgpack)
  cjson24.encode, cjson24.decode = charged.cjson_encode, charged.cjson_decode
  msgpack24.pack, msgpack24.unpack = charged.msgpack_pack, charged.msgpack_unpack
  msgpack24.unpack_one, msgpack24.unpack_limit = charged.msgpack_unpack_one, charged.msgpack_unpack_limit
  base24.cjson, base24.cmsgpack = readonly(cjson24), readonly(msgpack24)
end
base24.pcall = function(...) return caught(pcall(...)) end

-- Log version 25's base functions: coroutines sampled by the version's hook; `loadstring`
-- telling it what the code it compiles reads of strings (string_weights.py);
-- `pcall`, `xpcall` and `coroutine.resume` catching neither a budget stop nor a stack overflow
-- (nested about 200 C calls deep, or 20,000 Lua calls, the debug library cannot call the hook:
-- each firing raised that error instead, and a script catching it ran uncounted, for ever).
-- Older entries keep base24 (the budget counts a wrapper's instructions).
local base25 = copy(base24)
do
  local c_find = string.find
  local function overflow(e)
    return type(e) == "string" and (c_find(e, "stack overflow", 1, true) or c_find(e, "error in error handling", 1, true))
  end
  local function uncaught(ok, ...)
    if state.exhausted or (not ok and overflow((...))) then stop() end
    return ok, ...
  end
  base25.pcall = function(...) return uncaught(caught(pcall(...))) end
  -- (xpcall's handler sees the error first, and may return something else: state.overflowed,
  -- reset by each run's arm)
  local function handled(ok, ...)
    if state.overflowed then stop() end
    return uncaught(ok, ...)
  end
  base25.xpcall = function(...)
    local f, handler = ...
    if select("#", ...) < 2 or type(handler) ~= "function" then return uncaught(xpcall(...)) end
    return handled(xpcall(f, function(e)
      if overflow(e) then state.overflowed = true end
      return handler(e)
    end))
  end
  local co25 = copy(co)
  co25.create = function(f) local c = co_create(f) debug_sethook(c, sampler.hook, "", sampler.interval()) return c end
  co25.resume = function(...) return uncaught(coroutine.resume(...)) end
  co25.wrap = function(f)
    local c = co25.create(f)
    return function(...) return pass(coroutine.resume(c, ...)) end
  end
  base25.coroutine = readonly(co25)
  local loadstring16 = base16.loadstring
  base25.loadstring = function(...)
    local text, name = ...
    local kind = arg_type(1, ...)
    if kind ~= "string" and kind ~= "number" then   -- (base16's checks: its errors at the caller's line)
      error("bad argument #1 to 'loadstring' (string expected, got " .. kind .. ")", 2)
    end
    if name ~= nil and type(name) ~= "string" and type(name) ~= "number" then
      error("bad argument #2 to 'loadstring' (string expected, got " .. type(name) .. ")", 2)
    end
    local chunk, message = loadstring16(text, name)
    if chunk == nil then return nil, message end
    local lines, heaviest_constant, instructions = py.chunk_reads(chunk)
    charge(instructions * py.decode_units)
    sampler.loaded(lines, heaviest_constant)
    return chunk
  end
end

-- Log version 26's base functions: a call into a Python-written library (bit, struct, cjson,
-- cmsgpack, math.randomseed) charged by the bytes of the strings it is handed, before lupa copies them
-- (node/scripting/copies.py); table.sort without a comparator in C only over short strings
-- (table_sort.py). Older entries keep base25 (the budget counts a wrapper's instructions).
local handed, handing, handing_lib = loadstring(py.handed, "=handed")(charge, readonly, debug_getmetatable,
                                                                       py.copy_free, py.copy_bytes)
local base26 = copy(base25)
base26.bit, base26.struct = handing_lib(base25.bit), handing_lib(base25.struct)
base26.cjson, base26.cmsgpack = handing_lib(base25.cjson), handing_lib(base25.cmsgpack)
do
  local table26 = copy(table24)
  table26.sort = sort26
  base26.table = readonly(table26)
  local math26 = copy(mathlib)   -- (randomseed reads a number from a string in Python)
  math26.randomseed = handing(mathlib.randomseed)
  base26.math = readonly(math26)
end

-- Log version 27's base functions: where Lua put an object in memory, which no two replicas
-- share, is hidden from scripts as far as Lua 5.1 allows (Redis replicates a script's effects, so
-- it need not care; what is left: docs/scripting.md "The sandbox"). `tostring` names a table,
-- function, coroutine or userdata without __tostring by the order the run first named it
-- (`table: 0x00000001`; new_names at a run's start), `pairs` and `table.foreach` refuse to start
-- on a table with such a key and `next` to hand one out (Lua orders them by address). Older
-- entries keep base26.
local OBJECTS = {table = true, ["function"] = true, thread = true, userdata = true}
local raw_next, raw_tostring, s_format = next, tostring, string.format
local names = {given = 0, of = {}}
local function new_names() names.given, names.of = 0, {} end
local KEYED_BY_OBJECTS = py.keyed_by_objects
local function check_keys(t, name)   -- (t: a table)
  local k = raw_next(t)
  while k ~= nil do
    if OBJECTS[type(k)] then error(name .. ": " .. KEYED_BY_OBJECTS, 3) end
    k = raw_next(t, k)
  end
end
-- (each wrapper raises its arguments' errors itself, with Lua's texts at the caller's line)
local function expect(kind, n, name, ...)
  if type((select(n, ...))) ~= kind or select("#", ...) < n then
    error("bad argument #" .. n .. " to '" .. name .. "' (" .. kind .. " expected, got " .. arg_type(n, ...) .. ")", 3)
  end
end
local function named(v)
  local kind = type(v)
  if OBJECTS[kind] then
    local meta = debug_getmetatable(v)
    if meta == nil or rawget(meta, "__tostring") == nil then
      local n = names.of[v]
      if n == nil then
        n = names.given + 1
        names.given, names.of[v] = n, n
      end
      return s_format("%s: 0x%08x", kind, n)
    end
  end
  return raw_tostring(v)
end
describe = function(v) if state.objects_named then return named(v) end return tostring(v) end
local base27 = copy(base26)
base27.tostring = function(...)
  if select("#", ...) == 0 then error("bad argument #1 to 'tostring' (value expected)", 2) end
  return named((...))
end
-- `next` refuses to hand out an object key (a check per step: the clearing idiom
-- `while next(t) do t[next(t)] = nil end` stays linear); `pairs` checks the whole table first,
-- so a loop over one with such a key fails before its first step.
local function next27(...)
  local t, k = ...
  if type(t) ~= "table" then expect("table", 1, "next", ...) end
  local key, v = raw_next(t, k)
  if OBJECTS[type(key)] then error("next: " .. KEYED_BY_OBJECTS, 2) end
  return key, v
end
base27.next = next27
base27.pairs = function(...)
  local t = ...
  if type(t) ~= "table" then expect("table", 1, "pairs", ...) end
  check_keys(t, "pairs")
  return next27, t, nil
end
do
  local table27 = copy(debug_getmetatable(base26.table).__index)
  local foreach = table27.foreach
  table27.foreach = function(...)
    expect("table", 1, "foreach", ...)
    expect("function", 2, "foreach", ...)
    local t, f = ...
    check_keys(t, "foreach")
    return foreach(t, f)
  end
  base27.table = readonly(table27)
end

-- A global table's index over `functions` (the same instructions for every version: the budget counts them).
local function index_over(functions)
  return function(t, k)
    local v = functions[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end
end
local base_global15, base_global16, base_global24, base_global25 = index_over(base), index_over(base16),
                                                                    index_over(base24), index_over(base25)
local base_global26, base_global27 = index_over(base26), index_over(base27)
local function base_global()
  if state.objects_named then return base_global27 end
  if state.copies then return base_global26 end
  if state.sampled then return base_global25 end
  if state.script_errors then return base_global24 end
  if state.readonly_globals then return base_global16 end
  return base_global15
end
-- getmetatable(_G) from log version 16: a table a script can read and not change (Redis's).
local GLOBALS_META = readonly({})
-- A run's global table over `values` (KEYS, ARGV, redis…), then `index` (the base library, or
-- an error): (the table, the values, the values' metatable). From log version 16 it is an empty
-- table in front of them, so assigning any global, existing or not, is refused; before, the
-- values sat in it and could be reassigned.
local function globals(values, index)
  if not state.readonly_globals then
    local meta = {__index = index, __newindex = refuse, __metatable = false}
    values._G = values
    state.env = setmetatable(values, meta)
    return values, values, meta
  end
  local meta = {__index = index}
  local env = setmetatable({}, {__index = setmetatable(values, meta), __newindex = refuse,
                                __metatable = GLOBALS_META})
  values._G = env
  protected[env] = true
  state.env = env
  return env, values, meta
end
local function new_env(redis, keys, argv)
  return (globals({KEYS = keys, ARGV = argv, redis = redis}, base_global()))
end

local M = {}
M.state = state
M.charge = charge
M.pushed = sampler.pushed
M.readonly = readonly
M.lib = lib
M.handed, M.handing = handed, handing
M.rawget = rawget   -- reading a script's reply must not run its metatables (_G's raises)
function M.compile(body, name)
  return loadstring(body, "@" .. name)
end
-- Run fn (a compiled chunk, or a function with its environment) under the budget.
-- Returns ok, value, or false, message (a table error's .err), line.
-- Returns ok, exhausted (the budget stopped it), then the value, or the message and line.
local function finish(ok, ...)
  state.armed = false
  debug_sethook()
  gc("restart")
  local exhausted = state.exhausted
  if ok then return true, exhausted, (...) end
  local e = ...
  if type(e) == "table" and state.script_errors then
    -- read raw, a text or a number only: the budget is disarmed, and a metatable or a
    -- __tostring here could run for ever (log version 24; older entries read it as before)
    local text, line = rawget(e, "err"), rawget(e, "line")
    if type(text) ~= "string" and type(text) ~= "number" then text = "(error object is not a string)" end
    if type(line) ~= "number" then line = nil end
    return false, exhausted, tostring(text), line, state.errorstats and rawget(e, "ignore_error_stats_update") or nil
  end
  if type(e) == "table" then
    local text = e.err
    if text == nil then text = "(error object is not a string)" end
    -- (log version 19 on: a table raised by an older entry's script is read as before)
    return false, exhausted, tostring(text), e.line, state.errorstats and rawget(e, "ignore_error_stats_update") or nil
  end
  return false, exhausted, describe(e)
end
-- Log version 24 (Redis 7's error handler): an error table with a text that the script's own code
-- raises (error, assert) gets the line it was raised at, whatever `line` it carried, so its text
-- is given whole, with that line; a failed redis.call's, raised by the redis API, keeps the
-- script line that API found. The handler runs where the error was raised; older entries run
-- without it.
local function raised_at(e)
  if type(e) == "table" and not protected[e] then
    local text = rawget(e, "err")
    if type(text) == "string" or type(text) == "number" then
      local info = debug_getinfo(2, "Sl")
      if info and info.what == "C" then info = debug_getinfo(3, "Sl") end
      if info and c_sub(info.source, 1, 6) == "@user_" then rawset(e, "line", info.currentline) end
    end
  end
  return e
end
function M.stop_gc() gc("stop") end
function M.run_chunk(steps, chunk, redis, keys, argv)
  state.left, state.exhausted, state.armed = steps, false, true
  use_strings()
  new_names()
  setfenv(chunk, new_env(redis, keys, argv))
  if state.script_errors then
    if state.sampled then sampler.arm(keys, argv) else debug_sethook(hook, "", STEP) end
    return finish(xpcall(chunk, raised_at))
  end
  if state.sampled then sampler.arm(keys, argv) else debug_sethook(hook, "", STEP) end
  return finish(pcall(chunk))
end
-- run_chunk with KEYS and ARGV given as values (nkeys keys, then the arguments): one call
-- from Python instead of building two tables there first (few values only: see scripts.py).
function M.run_chunk_values(steps, chunk, redis, nkeys, ...)
  local keys, argv = {}, {}
  for i = 1, nkeys do keys[i] = (select(i, ...)) end
  for i = nkeys + 1, select("#", ...) do argv[i - nkeys] = (select(i, ...)) end
  return M.run_chunk(steps, chunk, redis, keys, argv)
end
local function missing(t, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
-- What a library's top level may use while it loads (Redis 7.4's library API): redis.* below.
local LOAD_API = {"register_function", "log", "LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING",
                  "REDIS_VERSION", "REDIS_VERSION_NUM"}
local function load_api(redis)
  local api = {}
  for _, name in ipairs(LOAD_API) do api[name] = redis[name] end
  return setmetatable(api, {__index = missing, __newindex = refuse, __metatable = false})
end
-- The `redis` a library's functions see when called, from log version 16 (Redis 7.4's): the
-- whole API but register_function, so calling it there is Lua's "attempt to call field
-- 'register_function' (a nil value)". One per API table.
local called_apis = setmetatable({}, {__mode = "k"})
local function called_api(redis)
  local api = called_apis[redis]
  if api == nil then
    api = readonly(setmetatable({}, {__index = function(t, k)
      if k ~= "register_function" then return redis[k] end
    end}))
    called_apis[redis] = api
  end
  return api
end
local function after_load(values, meta, redis, ...)
  -- as Redis swaps its globals back: the functions registered see the whole API when called
  rawset(values, "redis", state.readonly_globals and called_api(redis) or redis)
  meta.__index = base_global()
  return ...
end
-- Run a library's top level. `restricted` (Redis 7.4's rules): only the library API while it
-- loads; else (older log versions) the whole environment.
function M.load_library(steps, chunk, redis, restricted)
  state.left, state.exhausted, state.armed = steps, false, true
  use_strings()
  new_names()   -- (the call after it, in the same run, names on)
  if not restricted then
    setfenv(chunk, new_env(redis, {}, {}))
    if state.sampled then sampler.arm() else debug_sethook(hook, "", STEP) end
    return finish(pcall(chunk))
  end
  local env, values, meta = globals({redis = load_api(redis)}, missing)
  setfenv(chunk, env)
  if state.sampled then sampler.arm() else debug_sethook(hook, "", STEP) end
  return after_load(values, meta, redis, finish(pcall(chunk)))
end
function M.call(steps, fn, keys, argv)
  state.left, state.exhausted, state.armed = steps, false, true   -- (state.env: its library's, just loaded)
  use_strings()
  if state.script_errors then
    if state.sampled then sampler.arm(keys, argv) else debug_sethook(hook, "", STEP) end
    return finish(xpcall(function() return fn(keys, argv) end, raised_at))
  end
  if state.sampled then sampler.arm(keys, argv) else debug_sethook(hook, "", STEP) end
  return finish(pcall(fn, keys, argv))
end
function M.clear_hook() debug_sethook() gc("restart") end
function M.caller_line()
  -- the script line that called into redis.* (from level 3: this, the redis function, the
  -- script; a tail call `return redis.call(...)` leaves no frame of the script: the first
  -- script frame above it, or 0)
  for level = 3, 12 do
    local info = debug_getinfo(level, "Sl")
    if info == nil then break end
    if info.currentline and info.currentline > 0 and info.source:sub(1, 6) == "@user_" then
      return info.currentline
    end
  end
  return 0
end
function M.error_table(text, line) error({err = text, line = line}, 0) end
return M
"""


class Sandbox:
    """One thread's Lua runtime with the prelude loaded. Not thread-safe: use `for_thread()`."""

    def __init__(self):
        self.lua = lua51.LuaRuntime(encoding=None, unpack_returned_tuples=True, register_eval=False,
                                    register_builtins=False, max_memory=0, attribute_filter=_no_attributes)
        self._rng = random.Random(0)
        self.starved = False   # (error_room: the run was granted memory past its bound)
        self._seed: int | None = None   # the run's seed, applied on first use (seeding costs µs)
        self._seed_derived = False
        self._seed_strings = True
        #: log version 27's rule (set per run): a library's Python errors read `bad argument`,
        #: math.randomseed takes what it cannot make an integer as 0 (Lua's C cast: Redis's seed)
        self.plain_errors = False
        null = self.lua.eval("newproxy(false)")  # cjson.null: one light value scripts compare with
        self.cjson = lualibs.Cjson(self, null)
        self.msgpack = lualibs.Cmsgpack(self)
        g = self.lua.globals()
        self._dump = g.string.dump
        # what the prelude's Lua libraries read of strings (table.sort's comparisons…), for log
        # version 25's hook (string_weights.chunk_lines)
        prelude_lines: dict = {}
        for text, name in ((PATTERNS, b"=patterns"), (SORT, b"=sort"), (CHARGED, b"=charged")):
            prelude_lines.update(string_weights.chunk_lines(self._dump(g.loadstring(text.encode(), name))))
        py = self.lua.table_from({
            b"budget_message": BUDGET_EXCEEDED.encode(), b"step": HOOK_STEP,
            b"bytes_per_instruction": BYTES_PER_INSTRUCTION,
            b"random": self._random, b"randomseed": self.guarded(self._randomseed, "randomseed"),
            b"bit": self.lua.table_from({k.encode(): self.bounded(v, k) for k, v in lualibs.BIT.items()}),
            b"struct": self.lua.table_from({k.encode(): self.bounded(v, k) for k, v in
                                            {**lualibs.STRUCT, "unpack": self._struct_unpack}.items()}),
            b"cjson_encode": self.bounded(self.cjson.encode, "encode"),
            b"cjson_decode": self.bounded(self.cjson.decode, "decode"),
            b"null": null, b"cjson_encode_max_depth": self.guarded(self.cjson.encode_max_depth, "encode_max_depth"),
            b"cjson_decode_max_depth": self.guarded(self.cjson.decode_max_depth, "decode_max_depth"),
            b"cjson_encode_invalid_numbers": self.guarded(self.cjson.encode_invalid_numbers,
                                                          "encode_invalid_numbers"),
            b"msgpack_pack": self.bounded(self.msgpack.pack, "pack"),
            b"msgpack_unpack": self.bounded(self.msgpack.unpack, "unpack"),
            b"msgpack_unpack_one": self.bounded(self.msgpack.unpack_one, "unpack_one"),
            b"msgpack_unpack_limit": self.bounded(self.msgpack.unpack_limit, "unpack_limit"),
            b"patterns": PATTERNS.encode(), b"table_sort": SORT.encode(), b"charged": CHARGED.encode(),
            b"keyed_by_objects": lualibs.KEYED_BY_OBJECTS.encode(),
            b"handed": copies.HANDED.encode(), b"copy_free": copies.COPY_FREE, b"copy_bytes": copies.COPY_BYTES,
            b"sampler": SAMPLER.encode(),
            b"sampler_parameters": self.lua.table_from(
                sampler_parameters(self.lua.table_from(prelude_lines, recursive=True))),
            b"decode_units": string_weights.DECODE_UNITS,
            b"chunk_reads": self.bounded(self._loaded_reads),
        })
        self.m = self.lua.execute(_PRELUDE, py)
        g.python = None  # lupa's bridge; never reachable from a script's environment anyway
        self.state = self.m.state
        self._compiled: dict[tuple[str, bytes], object] = {}
        self._reads: dict[object, tuple] = {}   # compiled chunk -> chunk_reads()
        self._loaded: dict[bytes, tuple] = {}   # a loadstring chunk's dump -> chunk_reads()
        self._ref_source = self.lua.table_from([self.lua.table()])   # (_reserve_refs's)
        self._ref_capacity = 0   # registry references known to fit without the registry growing
        self._refs_kept = 0      # references the run keeps to its end (took_refs)
        self._refs_held = 0      # those, and those the running Python function took
        self._reserve_refs(REGISTRY_SLOTS)
        self.gc()
        with _RUNTIMES_LOCK:
            _RUNTIMES.add(self)

    # ---- lupa's registry references

    def _reserve_refs(self, total: int) -> None:
        """Make Lua's registry hold `total` references without growing. lupa takes a registry
        reference for every Lua table, function or coroutine that reaches Python (a table
        argument of cjson.encode, a function redis.register_function keeps, a table Python
        builds) before any Python code of ours runs; were the registry to grow then and Lua
        refuse the memory, lupa would unwind past the interpreter lock and hang the thread for
        good (see `room`). Holding `total` at once grows it to at least that; a freed
        reference's slot is reused and the registry never shrinks, so from then on up to
        `total` references allocate nothing. (Iterating a one-value table runs no Lua
        instruction and allocates nothing but the registry.)"""
        source = self._ref_source
        held = [value for _ in range(total) for value in source.values()]
        del held
        self._ref_capacity = total

    def took_refs(self, kept: bool = False) -> None:
        """Python code called by a run took one more registry reference: a table it built (held
        until that function returns and lupa hands it to Lua) or, `kept`, a function a library
        registered (held until the run ends). The registry grows ahead of them, twice as large
        each time, inside the run's memory bound (`room`)."""
        if kept:
            self._refs_kept += 1
        self._refs_held += 1
        if self._refs_held + REGISTRY_HEADROOM > self._ref_capacity:
            total = 2 * self._ref_capacity
            self.room(2 * total * SLOT_VALUE_BYTES)   # (the array at most doubles past `total`)
            self._reserve_refs(total)

    @classmethod
    def for_thread(cls) -> Sandbox:
        local = _THREAD
        box = getattr(local, "sandbox", None)
        if box is None:
            box = local.sandbox = cls()
        return box

    # ---- the run's generator (math.random), seeded from the log entry

    def seed(self, seed: int, numeric_strings: bool = True, derived: bool = False) -> None:
        """The run's generator starts from the entry's `seed` (`derived`, log version 25: from a
        hash of it, so that what a script reads of its generator tells nothing of the seed the
        budget's hook draws from: string_weights.sampler_seed); `numeric_strings`: math.randomseed
        takes a numeric string as its number, as Lua does (log version 15 on; before, as 0)."""
        self._seed = seed
        self._seed_derived = derived
        self._seed_strings = numeric_strings

    def _random(self) -> float:
        if self._seed is not None:
            self._rng.seed(string_weights.derive(self._seed, b"math") if self._seed_derived else self._seed)
            self._seed = None
        return self._rng.random()

    def _randomseed(self, x=0) -> None:
        if isinstance(x, bytes) and self._seed_strings:
            x = lualibs.lua_tonumber(x)
            if x is None:
                raise lualibs.LuaLibError("bad argument #1 to 'randomseed' (number expected, got string)")
        self._seed = None
        if self.plain_errors and isinstance(x, float) and not -2.0**63 <= x < 2.0**63:   # inf, NaN, huge
            x = 0
        self._rng.seed(int(x) if isinstance(x, (int, float)) else 0)

    def _struct_unpack(self, *args):
        """struct.unpack with the run's version's offset rule (lualibs.struct_unpack)."""
        return lualibs.struct_unpack(*args, bounded_offset=self.plain_errors)

    # ---- compiling (cached by chunk name and code)

    def compile(self, name: str, body: bytes) -> tuple[object | None, str | None]:
        """(chunk, None) or (None, Lua's compile error). The name is part of the chunk (error
        texts say `user_script:2:` or `user_function:2:`): the same code under the other name
        is another chunk, or replicas whose caches differ would answer differently."""
        key = (name, body)
        chunk = self._compiled.get(key)
        if chunk is not None:
            return chunk, None
        result = self.m.compile(body, name.encode())
        chunk, error = (result, None) if not isinstance(result, tuple) else result
        if chunk is None:
            return None, (error or b"").decode("utf-8", "replace")
        if len(self._compiled) >= _COMPILED_MAX:
            self._reads.pop(self._compiled.pop(next(iter(self._compiled))), None)
        self._compiled[key] = chunk
        return chunk, None

    def reads(self, chunk) -> tuple:
        """What a compiled `chunk`'s lines read of strings, as a Lua table for the sampling hook,
        the weight of its heaviest string constant and its instruction count (log version 25:
        string_weights.py); kept with the compiled chunk."""
        reads = self._reads.get(chunk)
        if reads is None:
            if len(self._reads) >= _COMPILED_MAX:
                self._reads.clear()
            reads = self._reads[chunk] = self._chunk_reads(chunk)
        return reads

    def _chunk_reads(self, chunk) -> tuple:
        dump = self._dump(chunk)
        lines = string_weights.chunk_lines(dump)
        self.room(_lua_size(lines))
        return (self.lua.table_from(lines, recursive=True),
                string_weights.heaviest_constant(dump), string_weights.instructions(dump))

    def _loaded_reads(self, chunk) -> tuple:
        """Sandbox.reads of a chunk a script compiled (loadstring), with its instruction count
        (what reading it is charged: the same whether it was read before or not), kept for the
        last few texts."""
        dump = self._dump(chunk)
        reads = self._loaded.pop(dump, None)
        if reads is None:
            reads = self._chunk_reads(chunk)
            if len(self._loaded) >= _LOADED_MAX:
                self._loaded.pop(next(iter(self._loaded)))
        self._loaded[dump] = reads
        return reads

    # ---- Python called by a run, under its memory bound

    def table_from(self, items) -> object:
        """A Lua table of `items` (a list or a dict), built only if it fits under the run's
        memory bound (`room`). A nil or NaN key is refused here with Lua's own error: raised by
        Lua inside lupa's building, it would unwind past the GIL and hang every thread."""
        if type(items) is dict:
            for key in items:
                if key is None or type(key) is float and key != key:
                    raise lualibs.LuaLibError("table index is nil" if key is None else "table index is NaN")
        self.room(_lua_size(items))
        self.took_refs()
        return self.lua.table_from(items)

    table = table_from

    def guarded(self, f, name: str | None = None):
        """`f` (a Python function a script calls), room made for the error it may raise: lupa
        allocates Lua memory to raise it (`error_room`). A library function's (`name`) Python
        error about its arguments reads `bad argument to '<name>'` from log version 27 (`plain_errors`):
        Python's own texts differ between Python releases, and a script may store what it caught."""
        def call(*args):
            # (a nested call, only from an old entry's __tostring run by a library's flag, merely
            # forgets what the outer call built: a few tables)
            self._refs_held = self._refs_kept
            try:
                return f(*args)
            except BaseException as e:
                self._raising(e, name)
                raise
        return call

    def bounded(self, f, name: str | None = None):
        """`f` (a Python function a script calls), its result handed back only if its strings
        fit under the run's memory bound (`room`), room made for the error it may raise (read
        as `guarded` reads it)."""
        def call(*args):
            self._refs_held = self._refs_kept
            try:
                result = f(*args)
            except BaseException as e:
                self._raising(e, name)
                raise
            if type(result) is tuple:
                self.room_for(*result)
            else:
                self.room_for(result)
            return result
        return call

    def _raising(self, error: BaseException, name: str | None) -> None:
        """`error` is about to be raised into a run (`guarded`): room for it, and a library's
        Python error about its arguments replaced by `bad argument to '<name>'` (log version 27)."""
        self.error_room()
        if name is not None and self.plain_errors and isinstance(error, _ARGUMENT_ERRORS):
            raise lualibs.LuaLibError(f"bad argument to '{name}'") from None

    def room_for(self, *values) -> None:
        """`room` for the strings among `values`, which lupa allocates as it pushes them (a
        number, a boolean or a Lua object allocates nothing)."""
        pushed = 0
        for value in values:
            if type(value) is bytes:
                pushed += len(value) + STRING_OVERHEAD
        if pushed:
            self.room(pushed)

    def room(self, nbytes: int) -> None:
        """Lua's memory error unless `nbytes` more fit under the run's memory bound, ROOM_MARGIN
        to spare. Lua memory refused while Python code called by a script runs, or while its
        result is pushed, hangs the thread for good (lupa 2.8 unwinds past the GIL that code
        holds): Python called by a run allocates Lua memory only after asking here."""
        lua = self.lua
        limit = lua.get_max_memory(total=True)
        if not limit:
            return
        if lua.get_memory_used(total=True) + nbytes + ROOM_MARGIN <= limit:
            return
        self.error_room()
        raise lua51.LuaMemoryError("not enough memory")

    def error_room(self) -> None:
        """ERROR_ROOM left free for an error Python raises into a run (lupa allocates it while
        it holds the GIL: refused, the thread hangs), the bound raised if need be; the run is
        then starved: its budget is marked spent, so the hook stops it at its next firing (a
        loop catching such errors cannot go on growing), and it answers as out of memory
        (engine.py)."""
        lua = self.lua
        limit = lua.get_max_memory(total=True)
        if not limit:
            return
        used = lua.get_memory_used(total=True)
        if used + ERROR_ROOM <= limit:
            return
        lua.set_max_memory(used + ERROR_ROOM, total=True)
        self.starved = True
        self.state[b"exhausted"] = True

    def set_memory_limit(self, limit_bytes: int) -> None:
        """Allow `limit_bytes` more Lua memory from now on (0: no limit). (lupa's own
        `total=False` counts from the runtime's creation, not from now.)"""
        if limit_bytes:
            self.starved = False   # (error_room's, per run)
            self._refs_kept = self._refs_held = 0
            self.lua.set_max_memory(self.lua.get_memory_used() + limit_bytes, total=False)
        else:
            self.lua.set_max_memory(0, total=True)

    def gc(self) -> None:
        self.lua.execute("collectgarbage()")

    def forget_compiled(self) -> None:
        """Drop the compiled chunks and collect (SCRIPT FLUSH, FUNCTION FLUSH: Redis resets its
        Lua VM; here the runtime stays, and what only the flushed code used is freed)."""
        self._compiled.clear()
        self._reads.clear()
        self._loaded.clear()
        self.gc()

    def disarm(self) -> None:
        """After a run that raised out of the prelude (the budget or memory stopped it)."""
        self.state[b"armed"] = False
        self.m.clear_hook()


#: What a library written in Python raises about its arguments (a Lua table where a number goes,
#: a text that is no number, an infinity made an integer…): `guarded`'s `bad argument` from log
#: version 27. A Lua error (the budget's, memory) passes as it is.
_ARGUMENT_ERRORS = (TypeError, ValueError, OverflowError, ZeroDivisionError, IndexError, KeyError, struct.error)


def _no_attributes(obj, name, setting):
    """lupa's attribute filter: no script reads or sets a Python object's attributes (none is
    meant to reach a script; one that did would open the whole process: `obj.__class__`…)."""
    raise AttributeError("Python objects have no fields in scripts")


def _lua_size(value) -> int:
    """At most what `value` takes once in Lua: a list's or a dict's table (and, nested, theirs),
    its slots and the strings it makes; nothing for a number or a Lua object."""
    t = type(value)
    if t is bytes:
        return len(value) + STRING_OVERHEAD
    if t is dict:
        return (TABLE_OVERHEAD + HASH_SLOT_BYTES * len(value) + sum(_lua_size(k) for k in value)
                + sum(_lua_size(v) for v in value.values()))
    if t is list or t is tuple:
        return TABLE_OVERHEAD + SLOT_BYTES * len(value) + sum(_lua_size(v) for v in value)
    return 0


_THREAD = threading.local()
#: Every thread's runtime (memory_used), added to under _RUNTIMES_LOCK.
_RUNTIMES: weakref.WeakSet = weakref.WeakSet()
_RUNTIMES_LOCK = threading.Lock()


def memory_used() -> int:
    """Bytes this process's Lua runtimes hold, all of it (one runtime per thread that ran a
    script: EVAL scripts and functions share it), 0 before any ran."""
    with _RUNTIMES_LOCK:
        boxes = list(_RUNTIMES)
    return sum(box.lua.get_memory_used(total=True) or 0 for box in boxes)


def forget_compiled_here() -> None:
    """SCRIPT FLUSH / FUNCTION FLUSH at apply: this thread's runtime drops its compiled chunks
    (Sandbox.forget_compiled); a thread that never ran a script has nothing to drop."""
    box = getattr(_THREAD, "sandbox", None)
    if box is not None:
        box.forget_compiled()
#: Compiled chunks kept per runtime (EVAL bodies and libraries; recompiled when dropped).
_COMPILED_MAX = 512
#: Chunks compiled by scripts (loadstring) whose reads are kept (Sandbox._loaded_reads).
_LOADED_MAX = 64
