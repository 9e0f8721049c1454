"""Lua 5.1's pattern matching for scripts, bounded by the instruction budget (log version 24).

`string.find`, `string.match`, `string.gmatch` and `string.gsub` run Lua's matcher in C, where
the budget's hook never fires: a backtracking pattern held the whole apply, on every replica
(`string.find(string.rep('a', 16), string.rep('a*', 16) .. 'b')` 11 s, `string.rep('a',
100000):find('.-b')` 23 s, growing without bound). Here a call whose worst case is small runs
in C, charged by that worst case (`worst_steps`: the pattern's length × (subject length + 1)
to the power of 1 + its backtracking quantifiers, balances and back-references, × 2 per `?`),
at most WORST_C_STEPS, 10 steps an instruction (a plain search: subject × (needle + 16) bytes,
64 an instruction), and only when C's matcher would not recurse deeply (it has no depth bound:
a pattern of 100,000 `a*` items overflowed the process's stack). Any other call runs the same matcher written in Lua below, whose every
step the hook counts, so the budget stops it like any loop. Both give Lua 5.1's results and
error texts (tests/unit/test_script_patterns.py compares them on random patterns), classes
as in the C locale.

PATTERNS is run once per runtime by the sandbox's prelude (node/scripting/sandbox.py) with
(the string library, the budget's charge, debug.getinfo); it returns the four functions, and
how they read arguments and raise errors (at the script's line, as a C function's), which
table_sort.py and charged.py use.
Must not touch: anything but this text.
"""

from __future__ import annotations

#: A call into C's matcher may take at most this many steps in the worst case (~10 ms);
#: a larger one runs in the counted matcher.
WORST_C_STEPS = 1 << 20

PATTERNS = r"""
local string, charge, getinfo = ...
local byte, sub, c_find, c_match, c_gmatch, c_gsub = string.byte, string.sub, string.find, string.match,
                                                      string.gmatch, string.gsub
local type, error, tonumber, tostring, select, unpack, concat, floor, ceil, fmod, setmetatable, pcall =
      type, error, tonumber, tostring, select, unpack, table.concat, math.floor, math.ceil, math.fmod, setmetatable,
      pcall
local WORST_C_STEPS, STEPS_PER_INSTRUCTION, PLAIN_BYTES_PER_INSTRUCTION = %(worst)d, 10, 64
local CAP_UNFINISHED, CAP_POSITION, MAXCAPTURES = -1, -2, 32
local MAX_C_DEPTH = 150   -- quantified items and captures a pattern run in C may have (Lua 5.2 stops at 200)
local PATTERN_ERROR = {}          -- the key of a matcher error's table, raised up to the caller
local public = setmetatable({}, {__mode = "k"})   -- the functions a script calls (errors name their caller's line)

-- The stack level (counted from the function that calls this one) of the library function the
-- script called, or nil.
local function public_level()
  local level = 3
  while true do
    local info = getinfo(level, "f")
    if info == nil then return nil end
    if public[info.func] then return level - 1 end
    level = level + 1
  end
end

-- An error as a C library function raises it: at the line of the script code that called it.
local function raise(message)
  local level = public_level()
  if level == nil then error(message, 0) end
  error(message, level + 1)
end

-- luaL_argerror's text: the argument's number and the function's name as the script called it
-- (its own, called in a tail position: `return string.find()` leaves no frame of the script).
local names = setmetatable({}, {__mode = "k"})
local function arg_error(n, message)
  local level = public_level()
  local info = level and getinfo(level, "nf")
  local name = info and info.name
  if info and not name then   -- called from C (pcall): none, as Lua's; in a tail position: its own
    local caller = getinfo(level + 1, "S")
    if caller and caller.what == "tail" then name = names[info.func] end
  end
  name = name or "?"
  if info and info.namewhat == "method" then
    n = n - 1
    if n == 0 then
      error("calling '" .. name .. "' on bad self (" .. message .. ")", level and level + 1 or 0)
    end
  end
  error("bad argument #" .. n .. " to '" .. name .. "' (" .. message .. ")", level and level + 1 or 0)
end

local function class_matches(c, cl)
  local lower = cl >= 97 and cl <= 122
  local l = (cl >= 65 and cl <= 90) and cl + 32 or cl
  local res
  if l == 97 then res = (c >= 65 and c <= 90) or (c >= 97 and c <= 122)
  elseif l == 99 then res = c < 32 or c == 127
  elseif l == 100 then res = c >= 48 and c <= 57
  elseif l == 108 then res = c >= 97 and c <= 122
  elseif l == 112 then res = (c >= 33 and c <= 47) or (c >= 58 and c <= 64) or (c >= 91 and c <= 96)
                             or (c >= 123 and c <= 126)
  elseif l == 115 then res = c == 32 or (c >= 9 and c <= 13)
  elseif l == 117 then res = c >= 65 and c <= 90
  elseif l == 119 then res = (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122)
  elseif l == 120 then res = (c >= 48 and c <= 57) or (c >= 65 and c <= 70) or (c >= 97 and c <= 102)
  elseif l == 122 then res = c == 0
  else return cl == c end
  if lower then return res end
  return not res
end

-- Where the set `[...]` at `i` of `p` ends (the index after its `]`), or nil when the pattern
-- ends first (lstrlib's classend; `%]` inside is a `]`, a `]` first is one).
local function set_end(p, i, pend)
  i = i + 1
  if i < pend and byte(p, i) == 94 then i = i + 1 end
  repeat
    if i >= pend then return nil end
    local c = byte(p, i)
    i = i + 1
    if c == 37 and i < pend then i = i + 1 end
  until i < pend and byte(p, i) == 93
  return i + 1
end

-- ms: {s, send (one past the subject), p, pend (one past the pattern, or its first NUL), level,
-- init = {}, len = {}}; positions are 1-based.
local function class_end(ms, pi)
  local p, pend = ms.p, ms.pend
  local c = byte(p, pi)
  if c == 37 then
    if pi + 1 >= pend then raise("malformed pattern (ends with '%')") end
    return pi + 2
  elseif c == 91 then
    return set_end(p, pi, pend) or raise("malformed pattern (missing ']')")
  end
  return pi + 1
end

local function in_set(ms, c, pi, ec)   -- pi: the set's '[', ec: its ']'
  local p = ms.p
  local sig = true
  if byte(p, pi + 1) == 94 then sig = false pi = pi + 1 end
  pi = pi + 1
  while pi < ec do
    local pc = byte(p, pi)
    if pc == 37 then
      pi = pi + 1
      if class_matches(c, byte(p, pi)) then return sig end
    elseif byte(p, pi + 1) == 45 and pi + 2 < ec then
      if pc <= c and c <= byte(p, pi + 2) then return sig end
      pi = pi + 2
    elseif pc == c then
      return sig
    end
    pi = pi + 1
  end
  return not sig
end

local function single(ms, c, pi, ep)
  local pc = byte(ms.p, pi)
  if pc == 46 then return true
  elseif pc == 37 then return class_matches(c, byte(ms.p, pi + 1))
  elseif pc == 91 then return in_set(ms, c, pi, ep - 1)
  end
  return pc == c
end

local match

local function max_expand(ms, si, pi, ep)
  local s, send = ms.s, ms.send
  local i = 0
  while si + i < send and single(ms, byte(s, si + i), pi, ep) do i = i + 1 end
  while i >= 0 do
    local res = match(ms, si + i, ep + 1)
    if res then return res end
    i = i - 1
  end
  return nil
end

local function min_expand(ms, si, pi, ep)
  while true do
    local res = match(ms, si, ep + 1)
    if res then return res end
    if si < ms.send and single(ms, byte(ms.s, si), pi, ep) then si = si + 1 else return nil end
  end
end

local function start_capture(ms, si, pi, what)
  local level = ms.level
  if level >= MAXCAPTURES then raise("too many captures") end
  ms.init[level + 1], ms.len[level + 1], ms.level = si, what, level + 1
  local res = match(ms, si, pi)
  if not res then ms.level = ms.level - 1 end
  return res
end

local function end_capture(ms, si, pi)
  local l = ms.level
  while l >= 1 and ms.len[l] ~= CAP_UNFINISHED do l = l - 1 end
  if l < 1 then raise("invalid pattern capture") end
  ms.len[l] = si - ms.init[l]
  local res = match(ms, si, pi)
  if not res then ms.len[l] = CAP_UNFINISHED end
  return res
end

local function match_capture(ms, si, digit)
  local l = digit - 48
  if l < 1 or l > ms.level or ms.len[l] == CAP_UNFINISHED then raise("invalid capture index") end
  local len, init, s = ms.len[l], ms.init[l], ms.s
  if len < 0 or ms.send - si < len then return nil end
  for k = 0, len - 1 do   -- compared in place: a substring each time would pile up (no collection in a run)
    if byte(s, init + k) ~= byte(s, si + k) then return nil end
  end
  return si + len
end

local function match_balance(ms, si, pi)
  local p, s = ms.p, ms.s
  if pi + 1 >= ms.pend then raise("unbalanced pattern") end
  if si >= ms.send or byte(s, si) ~= byte(p, pi) then return nil end
  local b, e, cont = byte(p, pi), byte(p, pi + 1), 1
  si = si + 1
  while si < ms.send do
    local c = byte(s, si)
    if c == e then
      cont = cont - 1
      if cont == 0 then return si + 1 end
    elseif c == b then
      cont = cont + 1
    end
    si = si + 1
  end
  return nil
end

match = function(ms, si, pi)
  local s, p, pend = ms.s, ms.p, ms.pend
  while true do
    if pi >= pend then return si end
    local pc = byte(p, pi)
    local next_c = pi + 1 < pend and byte(p, pi + 1) or 0
    if pc == 40 then
      if next_c == 41 then return start_capture(ms, si, pi + 2, CAP_POSITION) end
      return start_capture(ms, si, pi + 1, CAP_UNFINISHED)
    elseif pc == 41 then
      return end_capture(ms, si, pi + 1)
    elseif pc == 37 and next_c == 98 then
      si = match_balance(ms, si, pi + 2)
      if not si then return nil end
      pi = pi + 4
    elseif pc == 37 and next_c == 102 then
      pi = pi + 2
      if pi >= pend or byte(p, pi) ~= 91 then raise("missing '[' after '%f' in pattern") end
      local ep = class_end(ms, pi)
      local previous = si == 1 and 0 or byte(s, si - 1)
      local current = si < ms.send and byte(s, si) or 0
      if in_set(ms, previous, pi, ep - 1) or not in_set(ms, current, pi, ep - 1) then return nil end
      pi = ep
    elseif pc == 37 and next_c >= 48 and next_c <= 57 then
      si = match_capture(ms, si, next_c)
      if not si then return nil end
      pi = pi + 2
    elseif pc == 36 and pi + 1 == pend then
      if si == ms.send then return si end
      return nil
    else
      local ep = class_end(ms, pi)
      local m = si < ms.send and single(ms, byte(s, si), pi, ep)
      local q = ep < pend and byte(p, ep) or 0
      if q == 63 then
        if m then
          local res = match(ms, si + 1, ep + 1)
          if res then return res end
        end
        pi = ep + 1
      elseif q == 42 then
        return max_expand(ms, si, pi, ep)
      elseif q == 43 then
        if m then return max_expand(ms, si + 1, pi, ep) end
        return nil
      elseif q == 45 then
        return min_expand(ms, si, pi, ep)
      else
        if not m then return nil end
        si, pi = si + 1, ep
      end
    end
  end
end

local function capture(ms, i, si, ei)
  if i > ms.level then
    if i == 1 then return sub(ms.s, si, ei - 1) end
    raise("invalid capture index")
  end
  local l = ms.len[i]
  if l == CAP_UNFINISHED then raise("unfinished capture") end
  if l == CAP_POSITION then return ms.init[i] end
  return sub(ms.s, ms.init[i], ms.init[i] + l - 1)
end

local function captures(ms, si, ei, whole)   -- whole: the match itself when there is no capture
  local n = (ms.level == 0 and whole) and 1 or ms.level
  local out = {}
  for i = 1, n do out[i] = capture(ms, i, si, ei) end
  return out, n
end

-- ---- arguments, as luaL_check* reads them (`count`: how many the script passed)

local function check_string(value, n, count)
  local kind = type(value)
  if kind == "string" then return value end
  if kind == "number" then return tostring(value) end
  arg_error(n, "string expected, got " .. (n > count and "no value" or kind))
end

local function check_table(t, n, count)
  if type(t) ~= "table" then arg_error(n, "table expected, got " .. (n > count and "no value" or type(t))) end
  return t
end

local INT64_MIN = -2 ^ 63

-- luaL_optinteger: the number truncated to a 64-bit integer, as C casts it on x86-64 (a NaN or
-- one out of range is INT64_MIN); `int32`: then to C's int (luaL_optint).
local function opt_integer(value, default, n, int32)
  if value == nil then return default end
  local x = tonumber(value)
  if x == nil then arg_error(n, "number expected, got " .. type(value)) end
  if x ~= x or x >= 2 ^ 63 or x < INT64_MIN then x = INT64_MIN
  elseif x >= 0 then x = floor(x) else x = ceil(x) end
  if int32 then
    x = fmod(x, 2 ^ 32)
    if x < 0 then x = x + 2 ^ 32 end
    if x >= 2 ^ 31 then x = x - 2 ^ 32 end
  end
  return x
end

-- C's function, called through pcall so that its error carries no position of this file's:
-- raised again at the script's line (a memory error as it was).
local function c_call(ok, ...)
  if ok then return ... end
  local message = ...
  if message == "not enough memory" then error(message, 0) end
  raise(message)
end

-- One past the pattern's last character: its first NUL ends it, as C reads it.
local function pattern_end(p)
  return c_find(p, "\0", 1, true) or #p + 1
end

local function state_for(s, p)
  return {s = s, send = #s + 1, p = p, pend = pattern_end(p), level = 0, init = {}, len = {}}
end

-- The worst case of C's matcher for a pattern of `p` on `n` bytes, or nil past WORST_C_STEPS or
-- when C's matcher might recurse deeply (it recurses per quantified item and capture, with no
-- bound of its own: the process's stack is the bound). A start position, and each quantifier
-- `*`, `+`, `-` that can backtrack, a balance `%b` or a back-reference, multiply by n + 1, each
-- `?` by 2; a quantifier with only `)` after it never backtracks (its run is a match).
local function worst_steps(p, n)
  local pend = pattern_end(p)
  local i, power, optional, depth = 1, 1, 0, 0
  while i < pend do
    local c, quantifiable = byte(p, i), true
    if c == 40 or c == 41 then
      depth, quantifiable, i = depth + 1, false, i + 1
    elseif c == 37 then
      local d = byte(p, i + 1)
      if d == 98 then
        power, quantifiable, i = power + 1, false, i + 4
      elseif d == 102 then
        quantifiable, i = false, (i + 2 < pend and byte(p, i + 2) == 91) and set_end(p, i + 2, pend) or pend
      else
        if d and d >= 48 and d <= 57 then power, quantifiable = power + 1, false end
        i = i + 2
      end
    elseif c == 91 then
      i = set_end(p, i, pend) or pend   -- (malformed: whichever matcher runs it raises)
    else
      i = i + 1
    end
    local q = quantifiable and i < pend and byte(p, i) or 0
    if q == 42 or q == 43 or q == 45 or q == 63 then
      depth, i = depth + 1, i + 1
      local j = i
      while j < pend and byte(p, j) == 41 do j = j + 1 end
      if j < pend then
        if q == 63 then optional = optional + 1 else power = power + 1 end
      end
    end
  end
  if depth > MAX_C_DEPTH then return nil end
  local steps = pend * (n + 1) ^ power * 2 ^ optional
  if steps > WORST_C_STEPS then return nil end
  return steps
end

local function has_specials(p)
  return c_find(sub(p, 1, pattern_end(p) - 1), "[%^%$%*%+%?%.%(%[%%%-]") ~= nil
end

-- ---- the library functions

local function find_aux(find, count, s, p, init, plain)
  s, p = check_string(s, 1, count), check_string(p, 2, count)
  local l1 = #s
  local start = opt_integer(init, 1, 3)
  if start < 0 then start = l1 + start + 1 if start < 0 then start = 0 end end
  start = start - 1
  if start < 0 then start = 0 elseif start > l1 then start = l1 end
  if find and (plain or not has_specials(p)) then   -- (memchr and memcmp at each position, at worst)
    charge((l1 - start + 1) * (#p + 16) / PLAIN_BYTES_PER_INSTRUCTION)
    return c_call(pcall(c_find, s, p, start + 1, true))
  end
  local steps = worst_steps(p, l1 - start)
  if steps then
    charge(steps / STEPS_PER_INSTRUCTION)
    if find then return c_call(pcall(c_find, s, p, start + 1)) end
    return c_call(pcall(c_match, s, p, start + 1))
  end
  local ms = state_for(s, p)
  local pi, anchor = 1, byte(p, 1) == 94
  if anchor then pi = 2 end
  local si = start + 1
  repeat
    ms.level = 0
    local e = match(ms, si, pi)
    if e then
      if find then
        local out, n = captures(ms, nil, nil, false)
        return si, e - 1, unpack(out, 1, n)
      end
      local out, n = captures(ms, si, e, true)
      return unpack(out, 1, n)
    end
    si = si + 1
  until si > ms.send or anchor
  return nil
end

local function keep(...) return ... end

local function find(...)
  return keep(find_aux(true, select("#", ...), ...))
end
local function match_fn(...)
  local s, p, init = ...
  return keep(find_aux(false, select("#", ...), s, p, init))
end

local function gmatch_aux(count, s, p)
  s, p = check_string(s, 1, count), check_string(p, 2, count)
  local steps = worst_steps(p, #s)
  if steps then   -- C's iterator, its whole run charged at once; once done, it is not called again
    charge(steps / STEPS_PER_INSTRUCTION)
    local c_iterator, done = c_gmatch(s, p), false
    local function more(...)
      if ... == nil then done = true end
      return ...
    end
    local iterator = function()
      if done then return nil end
      return keep(more(c_call(pcall(c_iterator))))
    end
    public[iterator] = true
    return iterator
  end
  local pos = 1
  local ms = state_for(s, p)
  local step = function()
    for src = pos, ms.send do
      ms.level = 0
      local e = match(ms, src, 1)
      if e then
        pos = e == src and e + 1 or e
        local out, n = captures(ms, src, e, true)
        return unpack(out, 1, n)
      end
    end
    pos = ms.send + 1
    return nil
  end
  local iterator = function() return keep(step()) end
  public[iterator] = true
  return iterator
end

local function gmatch(...)
  local s, p = ...
  return keep(gmatch_aux(select("#", ...), s, p))
end

local function add_value(ms, out, repl, kind, si, ei)
  local value
  if kind == "string" or kind == "number" then
    repl = tostring(repl)
    local parts, i, n = {}, 1, #repl
    while i <= n do
      local c = byte(repl, i)
      if c ~= 37 then
        parts[#parts + 1] = sub(repl, i, i)
      else
        i = i + 1
        local d = byte(repl, i)
        if d == nil then
          parts[#parts + 1] = "\0"
        elseif d < 48 or d > 57 then
          parts[#parts + 1] = sub(repl, i, i)
        elseif d == 48 then
          parts[#parts + 1] = sub(ms.s, si, ei - 1)
        else
          parts[#parts + 1] = capture(ms, d - 48, si, ei)
        end
      end
      i = i + 1
    end
    out[#out + 1] = concat(parts)
    return
  elseif kind == "function" then   -- (through pcall: it may not yield, as from C's gsub)
    local caps, n = captures(ms, si, ei, true)
    local ok, result = pcall(repl, unpack(caps, 1, n))
    if not ok then error(result, 0) end
    value = result
  else
    value = repl[capture(ms, 1, si, ei)]
  end
  if not value then
    out[#out + 1] = sub(ms.s, si, ei - 1)
  elseif type(value) ~= "string" and type(value) ~= "number" then
    raise("invalid replacement value (a " .. type(value) .. ")")
  else
    out[#out + 1] = value
  end
end

local function gsub_aux(count, s, p, repl, max_n)
  s, p = check_string(s, 1, count), check_string(p, 2, count)
  local kind = type(repl)
  local srcl = #s
  local given_max = max_n
  max_n = opt_integer(max_n, srcl + 1, 4, true)
  if kind ~= "number" and kind ~= "string" and kind ~= "function" and kind ~= "table" then
    arg_error(3, "string/function/table expected")
  end
  if kind ~= "function" and kind ~= "table" then
    local steps = worst_steps(p, srcl)
    if steps then   -- (and what each match adds: the replacement, a `%` escape's capture formatted)
      local text = tostring(repl)
      local escapes = c_find(text, "%", 1, true) and 10 or 1
      charge((steps + (srcl + 1) * (#text + 1) * escapes) / STEPS_PER_INSTRUCTION)
      return c_call(pcall(c_gsub, s, p, repl, given_max))
    end
  end
  local ms = state_for(s, p)
  local pi, anchor = 1, byte(p, 1) == 94
  if anchor then pi = 2 end
  local si, n, out = 1, 0, {}
  while n < max_n do
    ms.level = 0
    local e = match(ms, si, pi)
    if e then
      n = n + 1
      add_value(ms, out, repl, kind, si, e)
    end
    if e and e > si then
      si = e
    elseif si < ms.send then
      out[#out + 1] = sub(s, si, si)
      si = si + 1
    else
      break
    end
    if anchor then break end
  end
  out[#out + 1] = sub(s, si)
  return concat(out), n
end

local function gsub(...)
  local s, p, repl, max_n = ...
  return keep(gsub_aux(select("#", ...), s, p, repl, max_n))
end

public[find], public[match_fn], public[gmatch], public[gsub] = true, true, true, true
names[find], names[match_fn], names[gmatch], names[gsub] = "find", "match", "gmatch", "gsub"
-- (table_sort.py's sort raises its errors as these functions do: mark makes it one of them)
local function mark(f, name) public[f], names[f] = true, name end
return {find = find, match = match_fn, gmatch = gmatch, gsub = gsub, raise = raise, arg_error = arg_error, mark = mark,
        check_string = check_string, check_table = check_table, opt_integer = opt_integer, c_call = c_call}
""".replace("%(worst)d", str(WORST_C_STEPS))
