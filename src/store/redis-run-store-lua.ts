/** Lua for RedisRunStore.apply: a batch of atomic, idempotent run updates (see redis-run-store.ts). */
export const APPLY_UPDATES_LUA = `
-- Applies a batch of RunUpdates in one call (see src/monitor/run.ts applyRunUpdate for the reference
-- semantics). One call per batch instead of one per update: the per-call cost (client command encoding,
-- script dispatch) was most of the tracker's write cost.
-- KEYS[1] index registry set
-- ARGV[1] key base ("<prefix>:runs:"), ARGV[2] retention ms, then one argument per update: a JSON array of
--   strings [run id, seq, created_at ms, n identity pairs, n patch pairs, n log pairs, then the pairs]
--   (identity and patch: field, JSON-encoded value; logs: seq, JSON line). One string per update keeps the
--   client's per-argument encoding cost low; values stay JSON text, so nothing is re-encoded here.
-- Run keys are built from the base: the base carries the store's hash tag, so in Redis Cluster every key
-- lives in the registry's slot. Logs keep the last 50 lines (MAX_RUN_LOGS).
local idxSet = KEYS[1]
local base, retention = ARGV[1], tonumber(ARGV[2])
local idxPrefix = base .. 'i:'
local touched, touchedList = {}, {}

local function index(name, score, member)
  local key = idxPrefix .. name
  redis.call('ZADD', key, score, member)
  if not touched[key] then
    touched[key] = true
    touchedList[#touchedList + 1] = key
  end
end

local applied = 0
for a = 3, #ARGV do
  local U = cjson.decode(ARGV[a])
  local runId, seq, createdMs = U[1], U[2], U[3]
  local nId, nPatch, nLogs = tonumber(U[4]), tonumber(U[5]), tonumber(U[6])
  local idStart = 7
  local patchStart = idStart + 2 * nId
  local logStart = patchStart + 2 * nPatch
  local logEnd = logStart + 2 * nLogs

  local runKey = base .. 'r:' .. runId
  local state = redis.call('HMGET', runKey, 'seq', 'job_id', 'status', 'created_ms')
  local cur = state[1]
  if not (cur and seq <= cur) then
    applied = applied + 1
    local fields = {}
    local jobId, oldStatus
    local created = not cur
    if created then
      -- First sight of this run: identity and defaults, and its permanent indexes.
      local ident = {}
      for k = idStart, patchStart - 1, 2 do
        ident[U[k]] = U[k + 1]
        fields[#fields + 1] = U[k]
        fields[#fields + 1] = U[k + 1]
      end
      fields[#fields + 1] = 'created_ms'
      fields[#fields + 1] = createdMs
      fields[#fields + 1] = 'status'
      fields[#fields + 1] = '"pending"'
      jobId = cjson.decode(ident['job_id'])
      index('all', createdMs, runId)
      index('job:' .. jobId, createdMs, runId)
      index('trigger:' .. cjson.decode(ident['trigger']), createdMs, runId)
      local user = ident['user_id'] and cjson.decode(ident['user_id'])
      if type(user) == 'string' then index('user:' .. user, createdMs, runId) end
      cur = ''
    else
      jobId = cjson.decode(state[2])
      oldStatus = cjson.decode(state[3])
      createdMs = state[4]
    end

    local status = oldStatus or 'pending'
    for k = patchStart, logStart - 1, 2 do
      fields[#fields + 1] = U[k]
      fields[#fields + 1] = U[k + 1]
      if U[k] == 'status' then status = cjson.decode(U[k + 1]) end
    end
    fields[#fields + 1] = 'seq'
    fields[#fields + 1] = seq
    redis.call('HSET', runKey, unpack(fields))
    -- The retention counts from the run's creation (as the index trim does): set the TTL once.
    if created then redis.call('PEXPIRE', runKey, retention) end

    if status ~= oldStatus then
      if oldStatus then
        redis.call('ZREM', idxPrefix .. 'status:' .. oldStatus, runId)
        redis.call('ZREM', idxPrefix .. 'js:' .. jobId .. ':' .. oldStatus, runId)
      end
      index('status:' .. status, createdMs, runId)
      index('js:' .. jobId .. ':' .. status, createdMs, runId)
    end

    local lines = {}
    for k = logStart, logEnd - 1, 2 do
      if U[k] > cur then lines[#lines + 1] = U[k + 1] end
    end
    if #lines > 0 then
      local logKey = base .. 'l:' .. runId
      local len = redis.call('RPUSH', logKey, unpack(lines))
      if len > 50 then redis.call('LTRIM', logKey, -50, -1) end
      if len == #lines then redis.call('PEXPIRE', logKey, retention) end
    end
  end
end

-- Each index key touched gets its TTL and registry entry once per batch, not once per run.
for _, key in ipairs(touchedList) do redis.call('PEXPIRE', key, retention) end
if #touchedList > 0 then redis.call('SADD', idxSet, unpack(touchedList)) end
return applied
`;
