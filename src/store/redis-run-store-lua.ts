/** Lua for RedisRunStore.apply: one atomic, idempotent run update (see redis-run-store.ts). */
export const APPLY_UPDATE_LUA = `
-- Applies one RunUpdate atomically (see src/monitor/run.ts applyRunUpdate for the reference semantics).
-- KEYS[1] run hash, KEYS[2] run logs list, KEYS[3] index registry set
-- ARGV[1] index key prefix, ARGV[2] run id, ARGV[3] seq, ARGV[4] retention ms, ARGV[5] created_at ms,
-- ARGV[6] n identity pairs, ARGV[7] n patch pairs, ARGV[8] n log pairs, then the pairs (logs: seq, json).
-- Logs keep the last 50 lines (MAX_RUN_LOGS).
local runKey, logKey, idxSet = KEYS[1], KEYS[2], KEYS[3]
local prefix, runId, seq, retention, createdMs = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local nId, nPatch, nLogs = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])

local function index(name, score, member)
  local key = prefix .. name
  redis.call('ZADD', key, score, member)
  redis.call('PEXPIRE', key, retention)
  redis.call('SADD', idxSet, key)
end

local cur = redis.call('HGET', runKey, 'seq')
if cur and seq <= cur then return 0 end

local jobId, status, oldStatus
local i = 9
if not cur then
  -- First sight of this run: write identity and defaults, index it.
  local ident = {}
  for _ = 1, nId do
    ident[ARGV[i]] = ARGV[i + 1]
    redis.call('HSET', runKey, ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  redis.call('HSET', runKey, 'created_ms', createdMs, 'status', '"pending"')
  jobId = cjson.decode(ident['job_id'])
  index('all', createdMs, runId)
  index('job:' .. jobId, createdMs, runId)
  index('trigger:' .. cjson.decode(ident['trigger']), createdMs, runId)
  local user = ident['user_id'] and cjson.decode(ident['user_id'])
  if type(user) == 'string' then index('user:' .. user, createdMs, runId) end
  oldStatus = nil
  cur = ''
else
  i = i + 2 * nId
  jobId = cjson.decode(redis.call('HGET', runKey, 'job_id'))
  oldStatus = cjson.decode(redis.call('HGET', runKey, 'status'))
  createdMs = redis.call('HGET', runKey, 'created_ms')
end

status = oldStatus or 'pending'
for _ = 1, nPatch do
  redis.call('HSET', runKey, ARGV[i], ARGV[i + 1])
  if ARGV[i] == 'status' then status = cjson.decode(ARGV[i + 1]) end
  i = i + 2
end

if status ~= oldStatus then
  if oldStatus then
    redis.call('ZREM', prefix .. 'status:' .. oldStatus, runId)
    redis.call('ZREM', prefix .. 'js:' .. jobId .. ':' .. oldStatus, runId)
  end
  index('status:' .. status, createdMs, runId)
  index('js:' .. jobId .. ':' .. status, createdMs, runId)
end

local pushed = 0
for _ = 1, nLogs do
  if ARGV[i] > cur then
    redis.call('RPUSH', logKey, ARGV[i + 1])
    pushed = pushed + 1
  end
  i = i + 2
end
if pushed > 0 then
  redis.call('LTRIM', logKey, -50, -1)
  redis.call('PEXPIRE', logKey, retention)
end

redis.call('HSET', runKey, 'seq', seq)
redis.call('PEXPIRE', runKey, retention)
return 1
`;
