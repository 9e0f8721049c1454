"""Library functions charged by their work (log version 24), for a script's runtime.

The budget's hook counts VM instructions; a library function is one, however long it runs. Those
whose work grows with their input, without memory growing with it (the collector is stopped in
a run, so allocations are bounded by the run's memory limit, but a result equal to a string the
runtime holds is not allocated again), are charged here before or after they run, at rates
measured on this project's machine (an instruction is ~50 ns of a run):

- `string.upper`, `lower`, `reverse`, and `sub` of its result: 1 instruction per 8 bytes
  (string.rep's rate);
- `tonumber` of a string: 1 per 64 bytes (strtod reads leading blanks and digits: ~1 ms per MB);
- `table.concat`: 1 per element and 1 per 8 bytes of the result; `table.insert` / `remove`
  at a position: 1 per element moved; `table.maxn`: its keys counted by the hook (written in Lua);
- `cjson.encode`, `cmsgpack.pack`: 20 per value visited (~1 µs each, charged as they go: a
  failing one too; node/scripting/lualibs.py) and 1 per 8 bytes of the result; `cjson.decode`:
  1 per byte read; `cmsgpack.unpack`: 8 per byte read (`unpack_one` / `unpack_limit`: the bytes
  from the offset to the next one);
- `struct.pack` / `unpack` / `size`: 5 per byte of the format and 1 per 8 bytes of the data
  (`pack`: of its result).

CHARGED is run once per runtime by the sandbox's prelude (node/scripting/sandbox.py) with (the
string and table libraries, the prelude's Python functions (`py`), the budget's charge, the
prelude's `pass` (a Python library's outcome, its error raised at the script's line), and from
patterns.py: check_string, check_table, opt_integer, arg_error, mark, c_call — C's function
called under pcall, its error raised again at the script's line);
it returns the replacements, which base24 (log version 24) uses. Must not touch: anything but
this text.
"""

from __future__ import annotations

CHARGED = r"""
local string, tablelib, py, charge, pass, check_string, check_table, opt_integer, arg_error, mark, c_call = ...
local type, pairs, pcall, select = type, pairs, pcall, select
local c_upper, c_lower, c_reverse, c_tonumber = string.upper, string.lower, string.reverse, tonumber
local c_concat, c_insert, c_remove = tablelib.concat, tablelib.insert, tablelib.remove

local out = {}

local function by_length(c_function, name, bytes_per_instruction)
  local f = function(...)
    local s = check_string((...), 1, select("#", ...))
    charge(#s / bytes_per_instruction)
    return c_function(s)
  end
  mark(f, name)
  return f
end
out.upper = by_length(c_upper, "upper", 8)
out.lower = by_length(c_lower, "lower", 8)
out.reverse = by_length(c_reverse, "reverse", 8)

local c_sub = string.sub
out.sub = function(...)
  local count = select("#", ...)
  local s, i, j = ...
  s = check_string(s, 1, count)
  if i == nil then arg_error(2, "number expected, got " .. (count < 2 and "no value" or "nil")) end
  local l = #s
  local start, stop = opt_integer(i, 1, 2), opt_integer(j, -1, 3)
  if start < 0 then start = start + l + 1 if start < 0 then start = 0 end end
  if stop < 0 then stop = stop + l + 1 if stop < 0 then stop = 0 end end
  if start < 1 then start = 1 end
  if stop > l then stop = l end
  if start <= stop then charge((stop - start + 1) / 8) end
  return c_sub(s, start, stop)
end
mark(out.sub, "sub")

out.tonumber = function(...)
  local count = select("#", ...)
  local e, base = ...
  if count == 0 then arg_error(1, "value expected") end
  if base ~= nil then   -- (luaL_optint; another base than 10 reads a string, then checks the base)
    base = opt_integer(base, 10, 2, true)
    if base ~= 10 then
      e = check_string(e, 1, count)
      if base < 2 or base > 36 then arg_error(2, "base out of range") end
    end
  end
  if type(e) == "string" then charge(#e / 64) end
  return c_tonumber(e, base)
end
mark(out.tonumber, "tonumber")

out.concat = function(...)
  local t, sep, i, j = ...
  if sep ~= nil and type(sep) ~= "string" and type(sep) ~= "number" then   -- (C reads it first)
    arg_error(2, "string expected, got " .. type(sep))
  end
  check_table(t, 1, select("#", ...))
  i = opt_integer(i, 1, 3, true)
  j = opt_integer(j, #t, 4, true)
  if j >= i then charge(j - i + 1) end
  local result = c_call(pcall(c_concat, t, sep, i, j))
  charge(#result / 8)
  return result
end
mark(out.concat, "concat")

out.insert = function(...)
  local t = check_table((...), 1, select("#", ...))
  if select("#", ...) == 3 then
    local pos = opt_integer(select(2, ...), 0, 2, true)
    local n = #t
    if pos >= 1 and pos <= n then charge(n - pos + 1) end
  end
  c_call(pcall(c_insert, ...))
end
mark(out.insert, "insert")

out.remove = function(...)
  local t = check_table((...), 1, select("#", ...))
  local n = #t
  local pos = opt_integer(select(2, ...), n, 2, true)
  if pos >= 1 and pos < n then charge(n - pos) end
  return c_call(pcall(c_remove, ...))
end
mark(out.remove, "remove")

out.maxn = function(...)
  local t = check_table((...), 1, select("#", ...))
  local max = 0
  for k in pairs(t) do
    if type(k) == "number" and k > max then max = k end
  end
  return max
end
mark(out.maxn, "maxn")

-- The Python-written libraries, called as the prelude's `lib` calls them (their errors raised at
-- the script's line: these functions tail-call the one that raises), charged by the bytes they
-- read (before) or return (after); cjson.encode and cmsgpack.pack also by the values they visit,
-- as they go (node/scripting/lualibs.py: a failing one is charged too).
local function returned(per_byte, ok, ...)
  local result = ...
  if ok and type(result) == "string" then charge(#result * per_byte) end
  return pass(ok, ...)
end
local function charged_after(f, per_byte)
  return function(...) return returned(per_byte, pcall(f, ...)) end
end
local function charged_before(f, per_byte, data_per_byte)
  return function(...)
    local text, data = ...
    if type(text) == "string" then charge(#text * per_byte) end
    if data_per_byte and type(data) == "string" then charge(#data * data_per_byte) end
    return pass(pcall(f, ...))
  end
end
-- cmsgpack.unpack_one / unpack_limit (data, [limit,] offset): by the bytes from the offset to the
-- next one they return (-1: the end), so reading a buffer value by value costs its length once.
local function consumed(data, start, ok, ...)
  if ok then
    local next_offset = ...
    if type(data) == "string" and type(next_offset) == "number" and type(start) == "number" then
      local stop = next_offset < 0 and #data or next_offset
      if stop > start then charge((stop - start) * 8) end
    end
  end
  return pass(ok, ...)
end
out.cjson_encode = charged_after(py.cjson_encode, 1 / 8)
out.cjson_decode = charged_before(py.cjson_decode, 1)
out.msgpack_pack = charged_after(py.msgpack_pack, 1 / 8)
out.msgpack_unpack = charged_before(py.msgpack_unpack, 8)
out.msgpack_unpack_one = function(...)
  local data, offset = ...
  return consumed(data, offset or 0, pcall(py.msgpack_unpack_one, ...))
end
out.msgpack_unpack_limit = function(...)
  local data, limit, offset = ...
  if limit == 0 and (offset or 0) == 0 then   -- (everything, no offset returned)
    if type(data) == "string" then charge(#data * 8) end
    return pass(pcall(py.msgpack_unpack_limit, ...))
  end
  return consumed(data, offset or 0, pcall(py.msgpack_unpack_limit, ...))
end
out.struct = {
  size = charged_before(py.struct.size, 5),
  unpack = charged_before(py.struct.unpack, 5, 1 / 8),
  pack = function(...)   -- (the format, then the bytes packed)
    local fmt = ...
    if type(fmt) == "string" then charge(#fmt * 5) end
    return returned(1 / 8, pcall(py.struct.pack, ...))
  end,
}
return out
"""
