"""The `redis` table a script sees: Redis 7's scripting API, written in Lua over the engine's calls.

`redis.call` / `redis.pcall` charge the instruction budget for each call and
hand the arguments to the engine (node/scripting/engine.py: in one table past
256 of them, so a call with thousands of values cannot overflow Lua's C stack);
`redis.error_reply`, `status_reply`, the REPL_* and LOG_* constants and the
no-ops of replication control (`set_repl`, `replicate_commands`) are Lua; the
rest (`sha1hex`, `log`, `setresp`, `acl_check_cmd`, `register_function`) are
the engine's. From log version 26 they all charge the bytes they hand to Python
first (node/scripting/copies.py): `M.use_api(true)` puts those versions in the
table. Run once per runtime with (M, py): the sandbox's helpers
(node/scripting/sandbox.py) and the engine's Python callables; returns the
read-only table. Must not touch: anything but this text.
"""

REDIS_API = r"""
local M, py = ...
local error, type, select, ipairs, pairs = error, type, select, ipairs, pairs
local redis = {}
local charge, state = M.charge, M.state
-- Many arguments go to Python in one table: a call into Python with thousands of values
-- would overflow Lua's C stack (Redis takes `redis.call(cmd, key, unpack(t))` of ~8,000).
local function call(protected, ...)
  local n = select("#", ...)
  if n > 256 and state.compat then return py.call_table(protected, n, {...}) end
  return py.call(protected, ...)
end
redis.call = function(...)
  charge(state.call_cost)
  local r, failed, counted, read_cost = call(false, ...)
  if read_cost then charge(read_cost) end
  if failed then error({err = r, line = M.caller_line(), ignore_error_stats_update = counted or nil}, 0) end
  return r
end
redis.pcall = function(...)
  charge(state.call_cost)
  local r, _, _, read_cost = call(true, ...)
  if read_cost then charge(read_cost) end
  return r
end
redis.error_reply = function(e)
  if type(e) ~= "string" then error("wrong number or type of arguments", 2) end
  if e:sub(1, 1) == "-" then e = e:sub(2) end
  if not e:find(" ", 1, true) then e = "ERR " .. e end
  return {err = e}
end
redis.status_reply = function(s)
  if type(s) ~= "string" then error("wrong number or type of arguments", 2) end
  return {ok = s}
end
redis.sha1hex = M.lib(py.sha1hex)
redis.log = M.lib(py.log)
redis.setresp = M.lib(py.setresp)
redis.set_repl = function(x) end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = M.lib(py.acl_check_cmd)
redis.register_function = M.lib(py.register_function)
-- Log version 26's (node/scripting/copies.py): what a call hands to Python charged before lupa
-- copies it. A run of that version has these in `redis` (use_api), an older one the above
-- (their instructions are counted: a wrapper in front would change older entries' budgets).
local handed, handing = M.handed, M.handing
local v26, older = {}, {}
-- (redis.call and redis.pcall above with `handed`: keep each pair in step)
v26.call = function(...)
  charge(state.call_cost)
  handed(select("#", ...), ...)
  local r, failed, counted, read_cost = call(false, ...)
  if read_cost then charge(read_cost) end
  if failed then error({err = r, line = M.caller_line(), ignore_error_stats_update = counted or nil}, 0) end
  return r
end
v26.pcall = function(...)
  charge(state.call_cost)
  handed(select("#", ...), ...)
  local r, _, _, read_cost = call(true, ...)
  if read_cost then charge(read_cost) end
  return r
end
for _, name in ipairs({"sha1hex", "log", "setresp", "acl_check_cmd", "register_function"}) do
  v26[name] = handing(redis[name])
end
for name in pairs(v26) do older[name] = redis[name] end
M.use_api = function(copies)
  for name, f in pairs(copies and v26 or older) do redis[name] = f end
end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = "7.4.0", 459776
return M.readonly(redis)
"""
