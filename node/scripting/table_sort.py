"""Lua 5.1's `table.sort` for scripts, bounded by the instruction budget (log version 24).

Lua's sort is a quicksort in C with a median-of-three pivot: the budget's hook never fires in
it, and an array arranged against that pivot rule makes it quadratic (a few hundred thousand
elements: minutes of apply on every replica). Here a sort of at most SMALL_N elements without a
comparator runs in C, charged by its worst case (n² comparisons, 10 an instruction); a sort with
a comparator written in Lua also runs in C (each comparison runs Lua code the hook counts);
any other runs Lua 5.1's own algorithm written in Lua below, every step counted — the same
comparisons in the same order, so the same result, ties included.

SORT is run once per runtime by the sandbox's prelude (node/scripting/sandbox.py) with
(the table library, the budget's charge, debug.getinfo, and from patterns.py: raise, arg_error,
mark, check_table — arguments read and errors raised as a C function does); it returns the sort
functions of log versions 24–25 and 26. Must not touch: anything but this text.
"""

from __future__ import annotations

#: Largest sort without a comparator that runs in C (charged n² / 10 instructions: its worst case).
SMALL_N = 1024
#: From log version 26, that sort in C only when no string is longer than this (sort26 below).
SHORT = 64

SORT = r"""
local tablelib, charge, getinfo, raise, arg_error, mark, check_table = ...
local c_sort, c_gsub, type, error, pcall, select, rawget, rawset = tablelib.sort, string.gsub, type, error, pcall,
                                                                       select, rawget, rawset
local SMALL_N, STEPS_PER_INSTRUCTION, SHORT = %(small)d, 10, %(short)d

-- A comparison's error raised here, as C's sort raises it: with no position of this file's.
local HERE = "^sort:%d+: "
local INVALID = "invalid order function for sorting"

local function auxsort(a, l, u, lt)
  while l < u do
    if lt(rawget(a, u), rawget(a, l)) then
      local x = rawget(a, l) rawset(a, l, rawget(a, u)) rawset(a, u, x)
    end
    if u - l == 1 then break end
    local i = (l + u - (l + u) % 2) / 2
    if lt(rawget(a, i), rawget(a, l)) then
      local x = rawget(a, i) rawset(a, i, rawget(a, l)) rawset(a, l, x)
    elseif lt(rawget(a, u), rawget(a, i)) then
      local x = rawget(a, i) rawset(a, i, rawget(a, u)) rawset(a, u, x)
    end
    if u - l == 2 then break end
    local p = rawget(a, i)
    rawset(a, i, rawget(a, u - 1)) rawset(a, u - 1, p)
    local j
    i, j = l, u - 1
    while true do
      i = i + 1
      while lt(rawget(a, i), p) do
        if i > u then error(INVALID, 0) end
        i = i + 1
      end
      j = j - 1
      while lt(p, rawget(a, j)) do
        if j < l then error(INVALID, 0) end
        j = j - 1
      end
      if j < i then break end
      local x = rawget(a, i) rawset(a, i, rawget(a, j)) rawset(a, j, x)
    end
    local x = rawget(a, u - 1) rawset(a, u - 1, rawget(a, i)) rawset(a, i, x)
    if i - l < u - i then
      j, i, l = l, i - 1, i + 1
    else
      j, i, u = i + 1, u, i - 1
    end
    auxsort(a, j, i, lt)
  end
end

local function less(x, y) return x < y end

-- The outcome of a sort run under pcall, its error raised again as C's sort raises it: a
-- comparison's with no position (none of this file's), an invalid order's at the script's
-- line, a comparator's as it raised it.
local function sorted(ok, message)
  if ok then return end
  if type(message) == "string" then
    message = c_gsub(message, HERE, "")
    if message == INVALID then raise(message) end
  end
  error(message, 0)
end

local function sort(...)
  local a, f = ...
  check_table(a, 1, select("#", ...))
  if f ~= nil and type(f) ~= "function" then arg_error(2, "function expected, got " .. type(f)) end
  local n = #a
  -- (no tail calls below: errors are raised at the line of the script's call, this frame's caller)
  if f ~= nil and getinfo(f, "S").what == "Lua" then
    sorted(pcall(c_sort, a, f))
  elseif f == nil and n <= SMALL_N then
    charge(n * n / STEPS_PER_INSTRUCTION)
    sorted(pcall(c_sort, a))
  else
    local lt = less
    if f ~= nil then   -- a C comparator, called as C's sort calls it (its errors name no function)
      lt = function(x, y)
        local ok, r = pcall(f, x, y)
        if not ok then error(r, 0) end
        return not not r
      end
    end
    sorted(pcall(auxsort, a, 1, n, lt))
  end
end
mark(sort, "sort")

-- Log version 26's: in C only over numbers and strings of at most SHORT bytes, charged by the
-- longest too (C compares two strings NUL by NUL: ~5 ns a NUL, ~0.3 µs for 64 of them); a
-- longer string sorts in Lua below, each comparison counted and weighed (string_weights.py):
-- a thousand references to one 100 KB string of NULs took ~5 s in C, charged as any thousand.
-- (sort above kept as it was: the budget counts its instructions for older entries.)
local function longest_short(a, n)   -- the longest string of a[1..n], or false past SHORT
  local longest = 0
  for i = 1, n do
    local v = rawget(a, i)
    if type(v) == "string" then
      local l = #v
      if l > SHORT then return false end
      if l > longest then longest = l end
    end
  end
  return longest
end
local function sort26(...)   -- (sort's body with the C path's check: keep the two in step)
  local a, f = ...
  check_table(a, 1, select("#", ...))
  if f ~= nil and type(f) ~= "function" then arg_error(2, "function expected, got " .. type(f)) end
  local n = #a
  local longest = f == nil and n <= SMALL_N and longest_short(a, n)
  if f ~= nil and getinfo(f, "S").what == "Lua" then
    sorted(pcall(c_sort, a, f))
  elseif longest then
    charge(n * n * (1 + longest / 8) / STEPS_PER_INSTRUCTION)
    sorted(pcall(c_sort, a))
  else
    local lt = less
    if f ~= nil then
      lt = function(x, y)
        local ok, r = pcall(f, x, y)
        if not ok then error(r, 0) end
        return not not r
      end
    end
    sorted(pcall(auxsort, a, 1, n, lt))
  end
end
mark(sort26, "sort")
return sort, sort26
""".replace("%(small)d", str(SMALL_N)).replace("%(short)d", str(SHORT))
