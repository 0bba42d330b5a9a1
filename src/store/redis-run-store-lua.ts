import { DURATION_BUCKETS } from '../metrics/shared-counters';

/** Shards of a day bucket (see BUCKET_HELPERS): a bucket stays small enough to expire without a pause. */
export const BUCKET_SHARDS = 8;

/**
 * Lua of RedisRunStore (see redis-run-store.ts for the key layout and the field names). Key names are
 * built from the base argument (`<prefix>:runs:`), which carries the store's hash tag: in Redis Cluster
 * every key lives in the slot of KEYS[1].
 */

/** Shared helpers: index writes that keep the leaf directories exact. */
const INDEX_HELPERS = `
local base = ARGV[1]
local touched = {}
local function keep(key)
  if not touched[key] then
    touched[key] = true
    redis.call('PEXPIRE', key, retention)
  end
end
-- Removes a run from a leaf; an emptied leaf leaves its directory (so a query never reads a dead leaf
-- for long, and a later add puts it back).
local function removeLeaf(key, member, dirKey, dirMember)
  if redis.call('ZREM', key, member) == 1 and redis.call('ZCARD', key) == 0 then
    redis.call('SREM', dirKey, dirMember)
    touched[key] = nil
    return true
  end
  return false
end
local function userLeafKey(user, leaf)
  return base .. 'U:' .. #user .. ':' .. user .. '|' .. leaf
end
-- Adds runs to index leaves: queued, then one ZADD per leaf by flushLeaves (which must run before anything
-- reads or removes from the leaves), with the leaf's TTL and directory entry at its first touch in this call.
local pendKeys, pendArgs, pendDir = {}, {}, {}
local function queueLeaf(key, score, member, dirKey, dirMember)
  local args = pendArgs[key]
  if not args then
    args = {}
    pendArgs[key] = args
    pendKeys[#pendKeys + 1] = key
    pendDir[key] = { dirKey, dirMember }
  end
  args[#args + 1] = score
  args[#args + 1] = member
end
-- A leaf's name and key by job, status and trigger, built once per call (not once per run).
local leafNames, leafDir = {}, base .. 'D'
local function leafOf(job, status, trigger)
  local byStatus = leafNames[job]
  if not byStatus then
    byStatus = {}
    leafNames[job] = byStatus
  end
  local byTrigger = byStatus[status]
  if not byTrigger then
    byTrigger = {}
    byStatus[status] = byTrigger
  end
  local l = byTrigger[trigger]
  if not l then
    local leaf = job .. '|' .. status .. '|' .. trigger
    l = { leaf, base .. 'L:' .. leaf }
    byTrigger[trigger] = l
  end
  return l
end
local function addRun(job, status, trigger, user, score, runId)
  local l = leafOf(job, status, trigger)
  local leaf = l[1]
  queueLeaf(l[2], score, runId, leafDir, leaf)
  if user then
    local key = userLeafKey(user, leaf)
    if not touched[key] and not pendArgs[key] then
      redis.call('SADD', base .. 'UR', user)
      keep(base .. 'UR')
    end
    queueLeaf(key, score, runId, base .. 'UD:' .. user, leaf)
  end
end
local function flushLeaves()
  for i = 1, #pendKeys do
    local key = pendKeys[i]
    local args = pendArgs[key]
    redis.call('ZADD', key, unpack(args))
    if not touched[key] then
      keep(key)
      local d = pendDir[key]
      redis.call('SADD', d[1], d[2])
      touched[d[1]] = nil
      keep(d[1])
    end
  end
  if #pendKeys > 0 then pendKeys, pendArgs, pendDir = {}, {}, {} end
end
local function removeRun(job, status, trigger, user, runId)
  local leaf = job .. '|' .. status .. '|' .. trigger
  removeLeaf(base .. 'L:' .. leaf, runId, base .. 'D', leaf)
  if user then
    local dir = base .. 'UD:' .. user
    if removeLeaf(userLeafKey(user, leaf), runId, dir, leaf) and redis.call('SCARD', dir) == 0 then
      redis.call('SREM', base .. 'UR', user)
    end
  end
end
`;

/**
 * Prometheus counters kept in the same write (#16): when a run's status becomes a finished one (at most once
 * per status: a replay changes nothing), `KEYS[2]` gets `HINCRBY <job>\t<status>` and `KEYS[3]` the
 * duration histogram (`<job>\tsum`, `\tcount` and the run's own bucket, not cumulative; see
 * src/metrics/shared-counters.ts), summed per field over the call. Without those keys nothing is counted.
 */
const COUNT_HELPERS = `
-- Per call: ends per job and status, and per job the duration count, sum and per-bucket counts (indexes
-- 3.. of BUCKETS, then +Inf): no string is built per run, only per counter field at the end.
local endCounts, durations = {}, {}
local BUCKETS = { ${DURATION_BUCKETS.map((b) => `{ ${b}, '${b}' }`).join(', ')}, { math.huge, '+Inf' } }
local function countEnd(job, status, duration)
  if not KEYS[3] then return end
  local c = endCounts[job]
  if not c then
    c = {}
    endCounts[job] = c
  end
  c[status] = (c[status] or 0) + 1
  local d = tonumber(duration)
  if not d then return end
  local secs = d / 1000
  local t = durations[job]
  if not t then
    t = { 0, 0 }
    durations[job] = t
  end
  t[1] = t[1] + 1
  t[2] = t[2] + secs
  for i = 1, #BUCKETS do
    if secs <= BUCKETS[i][1] then
      t[i + 2] = (t[i + 2] or 0) + 1
      break
    end
  end
end
local function flushCounts()
  for job, c in pairs(endCounts) do
    for status, n in pairs(c) do redis.call('HINCRBY', KEYS[2], job .. '\t' .. status, n) end
  end
  for job, t in pairs(durations) do
    redis.call('HINCRBY', KEYS[3], job .. '\tcount', t[1])
    redis.call('HINCRBYFLOAT', KEYS[3], job .. '\tsum', tostring(t[2]))
    for i = 1, #BUCKETS do
      if t[i + 2] then redis.call('HINCRBY', KEYS[3], job .. '\t' .. BUCKETS[i][2], t[i + 2]) end
    end
  end
end
`;

/**
 * Day buckets (#16): a run whose first write already finished it (most short runs) is not a key of its own
 * but a field of `b:<day>:<shard>` — its creation day (ms / 86,400,000) and a shard of its id (third-last
 * byte mod 8: a batch of sequential ids shares one) — holding its field/value pairs as a JSON array. A batch's new runs so cost one HSET per
 * bucket instead of one SET per run (a Redis command from Lua costs far more than a hash field). A bucket
 * expires at the end of its day plus the retention, so every record in it lives at least the retention from
 * its creation. The first later change of such a run moves it to its own hash `r:<id>`. Needs `base`.
 */
const BUCKET_HELPERS = `
local DAY = 86400000
local function shardOf(runId)
  return (string.byte(runId, -3) or 0) % ${BUCKET_SHARDS}
end
local function bucketKey(day, shard)
  return base .. 'b:' .. day .. ':' .. shard
end
local function bucketExpireAt(day)
  return string.format('%d', (day + 1) * DAY + retention)
end
`;

/**
 * A run's record is a hash under `r:<id>`, or a field of a day bucket (BUCKET_HELPERS), or — written by
 * versions before the buckets, for at most the retention — a string under `r:<id>` holding the pairs as a JSON
 * array. Readers take any (runField, READ_RUNS_LUA); a reader by id probes the buckets of every day a live
 * record can have been created on, today first. Needs `base` and `retention`.
 */
const RECORD_HELPERS = `
${BUCKET_HELPERS}
local probeDays
-- A record kept in a day bucket: its pairs JSON, or false.
local function bucketRecord(runId)
  if not probeDays then
    local t = redis.call('TIME')
    local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    -- Today first, back to the oldest day a live bucket can have; then tomorrow (a clock ahead).
    local today = math.floor(nowMs / DAY)
    probeDays = {}
    for d = today, math.floor((nowMs - retention) / DAY) - 1, -1 do
      probeDays[#probeDays + 1] = d
    end
    probeDays[#probeDays + 1] = today + 1
  end
  for i = 1, #probeDays do
    local v = redis.call('HGET', bucketKey(probeDays[i], shardOf(runId)), runId)
    if v then return v end
  end
  return false
end
-- The value of one field of a run record (false when the run or the field is absent).
-- A key of another type, or a string that is no record, reads as absent.
local function runField(runId, field)
  local key = base .. 'r:' .. runId
  local v = redis.pcall('HGET', key, field)
  local blob
  if type(v) == 'table' then blob = redis.pcall('GET', key)
  elseif v then return v
  elseif redis.call('EXISTS', key) == 0 then blob = bucketRecord(runId)
  else return false end
  if type(blob) ~= 'string' then return false end
  local ok, P = pcall(cjson.decode, blob)
  if not ok or type(P) ~= 'table' then return false end
  for i = 1, #P - 1, 2 do
    if P[i] == field then return P[i + 1] end
  end
  return false
end
`;

/**
 * Reads run records (KEYS, one slot; ARGV[1] key base, ARGV[2] retention ms): per key its hash as a flat
 * field/value list, `{ pairs JSON }` for a record stored as pairs (a day bucket's field, or a string; see
 * RECORD_HELPERS), `{}` when there is none.
 */
export const READ_RUNS_LUA = `
local base, retention = ARGV[1], tonumber(ARGV[2])
${RECORD_HELPERS}
local out = {}
for i, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key)['ok']
  if t == 'hash' then out[i] = redis.call('HGETALL', key)
  elseif t == 'string' then out[i] = { redis.call('GET', key) }
  else
    local v = t == 'none' and bucketRecord(string.sub(key, #base + 3))
    out[i] = v and { v } or {}
  end
end
return out`;

/**
 * Reads the status of many runs in one call (keys declared: Cluster routes it; ARGV as READ_RUNS_LUA): the
 * compact field `s`, or a legacy hash's JSON `status` (answered as such; the caller tells them apart by the
 * quote).
 */
export const RUN_STATUSES_LUA = `
local base, retention = ARGV[1], tonumber(ARGV[2])
${RECORD_HELPERS}
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.pcall('HMGET', key, 's', 'status')
  if v.err or not (v[1] or v[2]) then out[i] = runField(string.sub(key, #base + 3), 's')
  else out[i] = v[1] or v[2] end
end
return out`;

/**
 * Applies a batch of RunUpdates in one call (src/monitor/run.ts applyRunUpdate is the reference).
 * KEYS[1] the leaf directory, KEYS[2] and KEYS[3] (optional) the run and duration counters (see
 * COUNT_HELPERS). ARGV[1] key base, ARGV[2] retention ms, ARGV[3] now ms, then two arguments per update
 * (see encodeUpdate in redis-run-store.ts): its head, a JSON array of strings
 *   [1] run id [2] seq [3] created ms [4] '1' when it only carries marks [5] n identity strings
 *   [6] n patch strings [7] n patch fields set to null [8] n log pairs [9] n mark pairs [10] n marks set to
 *   null [11] attempt number ('' none; its field/value pair ends the patch strings) [12] n search terms
 *   [13] status [14] duration_ms [15] attempts [16] started_at — each as in the patch, '' when not in it —
 *   [17] job [18] trigger [19] 'u' and the user id ('' none), then the sections null fields, logs (seq, JSON line), mark
 *   pairs, null marks, terms;
 * and its record pairs, a JSON array of the identity pairs (j, q, t first, c last) then the patch pairs (z
 * last but the attempt) — exactly what a new run stores, so a run created finished is stored as that very
 * text, a field of its day bucket (see BUCKET_HELPERS), and the pairs are not even decoded. Such an update
 * without logs, marks or search terms (and no tab in its texts) has its head as text instead of JSON: `F`
 * and, tab-separated, the slots [1] [3] [13] [14] [17] [18] [19] that case needs, then [2] [5] [6] [11] [15]
 * [16] and the null fields, read only when the run exists after all. The script reads every head first, then
 * finds with one HMGET per bucket and one EXISTS for the whole call which runs are new; a run that occurs
 * twice in a call, or was created more than a day from now, takes the general path. Any other update works
 * on the head with the pairs spliced in after [19] (the layout the rest of the script indexes); a run kept in
 * a bucket first moves to its own hash. A run is one record (`r:<id>`, compact field names, null fields
 * absent; or its bucket's field), in one leaf `L:<job>|<status>|<trigger>` (+ its user's leaf), in `K`
 * while stuck, and in `Q:<term>` per search term.
 */
export const APPLY_UPDATES_LUA = `
local retention, now = tonumber(ARGV[2]), tonumber(ARGV[3])
${INDEX_HELPERS}
${COUNT_HELPERS}
${BUCKET_HELPERS}
local FINISHED = { completed = true, failed = true, skipped = true, cancelled = true }
local stuckKey = base .. 'K'
local HEAD = 19

-- New log lines (seq after cur) of an update, from its log section.
local function pushLogs(runId, X, from, to, cur)
  local lines = {}
  for k = from, to, 2 do
    if X[k] > cur then lines[#lines + 1] = X[k + 1] end
  end
  if #lines > 0 then
    local logKey = base .. 'l:' .. runId
    local len = redis.call('RPUSH', logKey, unpack(lines))
    if len > 50 then redis.call('LTRIM', logKey, -50, -1) end
    if len == #lines then redis.call('PEXPIRE', logKey, retention) end
  end
end
local function addTerms(X, from, n, createdMs, runId)
  for k = from, from + n - 1 do
    local tkey = base .. 'Q:' .. X[k]
    redis.call('ZADD', tkey, createdMs, runId)
    if not touched[tkey] then
      -- A term's set is trimmed when it is written (no registry of terms) and expires on its own.
      redis.call('ZREMRANGEBYSCORE', tkey, '-inf', now - retention)
      keep(tkey)
    end
  end
end
-- A record stored as a string (written before the day buckets) becomes a hash of the same fields, keeping its TTL.
local function toHash(runKey)
  local P = cjson.decode(redis.call('GET', runKey))
  local ttl = redis.call('PTTL', runKey)
  redis.call('DEL', runKey)
  redis.call('HSET', runKey, unpack(P))
  if ttl > 0 then redis.call('PEXPIRE', runKey, ttl) end
end
local function splice(H, P)
  local U = {}
  for k = 1, HEAD do U[k] = H[k] end
  local n = HEAD
  for k = 1, #P do n = n + 1; U[n] = P[k] end
  for k = HEAD + 1, #H do n = n + 1; U[n] = H[k] end
  return U
end

-- What an update reads of an existing run.
local FIELDS = { 'z', 'j', 's', 't', 'u', 'c', 'k', 'a', 'sa', 'w', 'ea', '@1' }
local applied = 0

-- Pass 1: every head read (as text: 'F', see the header — the fields a run created finished needs come first,
-- the rest is read only when the run exists after all — or as JSON), and how often each run occurs.
local hH, hRun, hCreated, hStatus, hDur, hJob, hTrig, hU, hAt, hMay = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
local occurs = {}
local n = 0
for a = 4, #ARGV, 2 do
  n = n + 1
  local h = ARGV[a]
  if string.byte(h, 1) == 70 then
    hRun[n], hCreated[n], hStatus[n], hDur[n], hJob[n], hTrig[n], hU[n], hAt[n] =
      string.match(h, '^F\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)()')
    hMay[n] = true
  else
    local H = cjson.decode(h)
    hH[n] = H
    hRun[n], hCreated[n], hStatus[n], hDur[n], hJob[n], hTrig[n], hU[n] = H[1], H[3], H[13], H[14], H[17], H[18], H[19]
    hMay[n] = H[4] ~= '1' and H[9] == '0' and H[10] == '0'
  end
  occurs[hRun[n]] = (occurs[hRun[n]] or 0) + 1
end

-- Pass 2: which runs sit in their day bucket (one HMGET per bucket), and which updates create their run
-- finished (a run new to the store, once in this call, created within a day of now): those go to buckets.
local bucketIds, bucketList, bucketOfUpdate, bucketBySlot = {}, {}, {}, {}
for k = 1, n do
  local c = tonumber(hCreated[k])
  if c then
    local runId = hRun[k]
    local day = math.floor(c / DAY)
    local shard = shardOf(runId)
    local b = bucketBySlot[day * ${BUCKET_SHARDS} + shard]
    if not b then
      b = bucketKey(day, shard)
      bucketBySlot[day * ${BUCKET_SHARDS} + shard] = b
      bucketIds[b] = { day = day }
      bucketList[#bucketList + 1] = b
    end
    bucketOfUpdate[k] = b
    local ids = bucketIds[b]
    ids[#ids + 1] = runId
  end
end
local inBucket = {}
for _, b in ipairs(bucketList) do
  local ids = bucketIds[b]
  local found = redis.call('HMGET', b, unpack(ids))
  for i = 1, #ids do
    if found[i] then inBucket[ids[i]] = b end
  end
end
local fresh, cand, candKeys, keyOf = {}, {}, {}, {}
local createdFrom, createdTo = now - DAY, now + DAY
for k = 1, n do
  local runId = hRun[k]
  if hMay[k] and FINISHED[hStatus[k]] and occurs[runId] == 1 and not inBucket[runId] and bucketOfUpdate[k] then
    local c = tonumber(hCreated[k])
    if c >= createdFrom and c <= createdTo then
      local runKey = base .. 'r:' .. runId
      keyOf[k] = runKey
      cand[#cand + 1] = k
      candKeys[#candKeys + 1] = runKey
    end
  end
end
if #cand > 0 then
  local some = redis.call('EXISTS', unpack(candKeys)) > 0
  for i = 1, #cand do
    if not some or redis.call('EXISTS', candKeys[i]) == 0 then fresh[cand[i]] = bucketOfUpdate[cand[i]] end
  end
end
-- New records per bucket, written at the end (nothing in this call reads them: their runs occur once).
local writes, writeList = {}, {}

for k = 1, n do
  local a = 2 * k + 2
  local H, runId, createdMs, status, duration = hH[k], hRun[k], hCreated[k], hStatus[k], hDur[k]
  local runKey = keyOf[k] or base .. 'r:' .. runId
  local b = fresh[k]
  if b then
    -- A new run, finished in its first write: its pairs go to its day bucket as they are; indexed and counted.
    local w = writes[b]
    if not w then
      w = {}
      writes[b] = w
      writeList[#writeList + 1] = b
    end
    w[#w + 1] = runId
    w[#w + 1] = ARGV[a + 1]
    applied = applied + 1
    local u = hU[k]
    addRun(hJob[k], status, hTrig[k], u ~= '' and string.sub(u, 2) or nil, createdMs, runId)
    countEnd(hJob[k], status, duration)
    if H then
      local nDel, nLogs = tonumber(H[7]), tonumber(H[8])
      if nLogs > 0 then pushLogs(runId, H, HEAD + 1 + nDel, HEAD + nDel + 2 * nLogs, '') end
      addTerms(H, HEAD + 1 + nDel + 2 * nLogs, tonumber(H[12]), createdMs, runId)
    end
  else
  if not H then
    -- A text head: the same head as JSON would have given (slots [7]-[10] and [12] are 0 for a text head,
    -- [4] is '').
    local seq, nA, nB, attempt, attempts, started, rest =
      string.match(ARGV[a], '^\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)()', hAt[k])
    H = { runId, seq, createdMs, '', nA, nB, '0', '0', '0', '0', attempt, '0', status, duration, attempts, started,
      hJob[k], hTrig[k], hU[k] }
    for f in string.gmatch(string.sub(ARGV[a], rest), '\t([^\t]*)') do H[#H + 1] = f end
    H[7] = tostring(#H - HEAD)
  end
  local inB = inBucket[runId]
  if inB then
    -- Kept in its day bucket so far: it becomes its own hash (same fields, same expiry) before it changes.
    inBucket[runId] = nil
    if redis.call('EXISTS', runKey) == 0 then
      redis.call('HSET', runKey, unpack(cjson.decode(redis.call('HGET', inB, runId))))
      redis.call('PEXPIREAT', runKey, bucketExpireAt(bucketIds[inB].day))
    end
    redis.call('HDEL', inB, runId)
  end
  flushLeaves()
  local seq = H[2]
  local U = splice(H, cjson.decode(ARGV[a + 1]))
  local nA, nB, nDel, nLogs = tonumber(U[5]), tonumber(U[6]), tonumber(U[7]), tonumber(U[8])
  local nMark, nMarkDel, nTerms = tonumber(U[9]), tonumber(U[10]), tonumber(U[12])
  local aStart = HEAD + 1
  local bStart = aStart + nA
  local delStart = bStart + nB
  local logStart = delStart + nDel
  local markStart = logStart + 2 * nLogs
  local markDelStart = markStart + 2 * nMark
  local termStart = markDelStart + nMarkDel

  local st = redis.pcall('HMGET', runKey, unpack(FIELDS))
  if st.err then
    -- Not a hash: a record stored as a string (or a damaged key: toHash then fails and refuses the update).
    toHash(runKey)
    st = redis.call('HMGET', runKey, unpack(FIELDS))
  end
  local cur = st[1]
  local exists = cur ~= false
  if exists or U[4] ~= '1' then
    local job, oldStatus, trigger, user, wasStuck, status
    local fields = {}
    if exists then
      job, oldStatus, trigger, user, createdMs = st[2], st[3] or 'pending', st[4], st[5] or nil, st[6]
      wasStuck = st[7] == '1'
      status = oldStatus
    else
      -- First sight of this run: identity (written only now), and its indexes below.
      job, trigger = U[17], U[18]
      if U[19] ~= '' then user = string.sub(U[19], 2) end
      status = 'pending'
      wasStuck = false
      cur = ''
    end

    if (not exists) or seq > cur then
      applied = applied + 1
      if U[13] ~= '' then status = U[13] end
      if exists then
        -- A later attempt begins on a run whose attempt has no record (its worker died before writing an
        -- end): that attempt was stalled, from its stored start and worker to this one's start.
        local oldAttempts = tonumber(st[8])
        local newAttempts = tonumber(U[15])
        if oldAttempts and oldAttempts >= 1 and newAttempts and newAttempts > oldAttempts and st[9]
          and not FINISHED[oldStatus] and tostring(oldAttempts) ~= U[11]
          and redis.call('HEXISTS', runKey, '@' .. oldAttempts) == 0 then
          fields[#fields + 1] = '@' .. oldAttempts
          fields[#fields + 1] = cjson.encode({ st[9], U[16], st[10] or cjson.null, 'stalled', cjson.null })
        end
        if st[12] == '' then
          -- The first attempt was stored empty (the run's own start, end, worker and status said it), and this
          -- update may change those: it is written out in full first.
          redis.call('HSET', runKey, '@1',
            cjson.encode({ st[9] or '', st[11] or '', st[10] or cjson.null, oldStatus, cjson.null }))
        end
        if U[11] ~= '' then
          local old = tonumber(U[11]) - 25
          if old >= 1 then redis.call('HDEL', runKey, '@' .. old) end
        end
        redis.call('HSET', runKey, unpack(U, bStart, delStart - 1))
        if nDel > 0 then redis.call('HDEL', runKey, unpack(U, delStart, logStart - 1)) end
      else
        redis.call('HSET', runKey, unpack(U, aStart, delStart - 1))
      end
      if nLogs > 0 then pushLogs(runId, U, logStart, markStart - 1, cur) end
    elseif U[11] ~= '' and redis.call('HEXISTS', runKey, '@' .. U[11]) == 0 then
      -- An older update's attempt the run has no record of (attempts are history): added, never replacing.
      -- A record sent empty (the update's own start, end, worker and status say it) is written out in full
      -- here, since the run's fields, which a reader would fill it in from, are not this update's.
      local record = U[delStart - 1]
      if record == '' then
        local ea, w = '', cjson.null
        for k = bStart, delStart - 3, 2 do
          if U[k] == 'ea' then ea = U[k + 1] elseif U[k] == 'w' then w = U[k + 1] end
        end
        record = cjson.encode({ U[16], ea, w, U[13], cjson.null })
      end
      fields[#fields + 1] = U[delStart - 2]
      fields[#fields + 1] = record
    end

    -- Marks: whatever the seq; stuck fields only while the run is not finished.
    local isStuck = wasStuck
    local finished = FINISHED[status]
    local dels = nil
    for k = markStart, markDelStart - 1, 2 do
      local f, v = U[k], U[k + 1]
      if f == 'rb' or not finished then
        fields[#fields + 1] = f
        fields[#fields + 1] = v
        if f == 'k' then isStuck = true end
      end
    end
    for k = markDelStart, termStart - 1 do
      local f = U[k]
      if f == 'rb' or not finished then
        dels = dels or {}
        dels[#dels + 1] = f
        if f == 'k' then isStuck = false end
      end
    end
    if finished and wasStuck then
      dels = dels or {}
      dels[#dels + 1] = 'k'
      dels[#dels + 1] = 'kr'
      dels[#dels + 1] = 'ks'
      isStuck = false
    end

    if #fields > 0 then redis.call('HSET', runKey, unpack(fields)) end
    if dels then redis.call('HDEL', runKey, unpack(dels)) end
    if not exists then
      -- The retention counts from the run's creation (as the index trim does): set the TTL once.
      redis.call('PEXPIRE', runKey, retention)
      addRun(job, status, trigger, user, createdMs, runId)
      if FINISHED[status] then countEnd(job, status, U[14]) end
      addTerms(U, termStart, nTerms, createdMs, runId)
    elseif status ~= oldStatus then
      removeRun(job, oldStatus, trigger, user, runId)
      addRun(job, status, trigger, user, createdMs, runId)
      if FINISHED[status] then countEnd(job, status, U[14]) end
    end
    if isStuck ~= wasStuck then
      if isStuck then
        redis.call('ZADD', stuckKey, createdMs, runId)
        keep(stuckKey)
      else
        redis.call('ZREM', stuckKey, runId)
      end
    end
  end
  end
end

for _, b in ipairs(writeList) do
  redis.call('HSET', b, unpack(writes[b]))
  redis.call('PEXPIREAT', b, bucketExpireAt(bucketIds[b].day))
end
flushLeaves()
flushCounts()
return applied
`;

/**
 * The next `want` index entries after a position, newest first (score desc, then member desc), merged
 * lazily across several sorted sets (a heap of per-set buffers, each refilled in growing chunks), so a
 * query over many leaves reads about `want` entries in all, whatever their sizes.
 * KEYS[1] the leaf directory (slot). ARGV[1] key base, ARGV[2] the range's top for entries below the tie
 * score (Redis score syntax, e.g. '(1700' or '+inf'), ARGV[3] the range's bottom, ARGV[4] tie score ('' for
 * none: no cursor, or the cursor is above the range), ARGV[5] tie member (entries at the tie score are kept
 * when their member is smaller), ARGV[6] want, ARGV[7] a run id whose hash may exist without being in
 * the sets ('' none; the search by run id), ARGV[8] the retention ms, then the sorted-set keys.
 * Returns a flat list: member, score, member, score…
 */
export const MERGE_LUA = `
local base, top, bottom, tie, tieId = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local retention = tonumber(ARGV[8])
${RECORD_HELPERS}
local want = tonumber(ARGV[6])
local direct = ARGV[7]
local srcs = {}

local function fill(s)
  if s.done then return end
  local r = redis.call('ZRANGE', s.key, top, bottom, 'BYSCORE', 'REV', 'LIMIT', s.offset, s.chunk, 'WITHSCORES')
  local n = #r / 2
  s.offset = s.offset + n
  if n < s.chunk then s.done = true end
  if s.chunk < 512 then s.chunk = s.chunk * 2 end
  for i = 1, #r, 2 do s.buf[#s.buf + 1] = { r[i], tonumber(r[i + 1]) } end
end

for i = 9, #ARGV do
  local s = { key = ARGV[i], buf = {}, pos = 1, offset = 0, chunk = math.min(want, 4), done = false }
  if tie ~= '' then
    local r = redis.call('ZRANGE', s.key, tie, tie, 'BYSCORE', 'REV', 'WITHSCORES')
    for j = 1, #r, 2 do
      if r[j] < tieId then s.buf[#s.buf + 1] = { r[j], tonumber(r[j + 1]) } end
    end
  end
  if #s.buf == 0 then fill(s) end
  if #s.buf > 0 then srcs[#srcs + 1] = s end
end
if direct ~= '' then
  local c = runField(direct, 'c')
  if c then
    local score = tonumber(c)
    local lo = bottom == '-inf' and -math.huge or tonumber(bottom)
    local hiEx = string.sub(top, 1, 1) == '('
    local hi = top == '+inf' and math.huge or tonumber(hiEx and string.sub(top, 2) or top)
    local ok = score >= lo and (score < hi or (not hiEx and score == hi))
    if tie ~= '' and score == tonumber(tie) then ok = direct < tieId end
    if ok then srcs[#srcs + 1] = { buf = { { direct, score } }, pos = 1, done = true } end
  end
end

local function head(s) return s.buf[s.pos] end
local function before(a, b) -- a sorts before b (newer, or same time and larger id)
  local x, y = head(a), head(b)
  return x[2] > y[2] or (x[2] == y[2] and x[1] > y[1])
end
local heap = {}
local function up(i)
  while i > 1 do
    local p = math.floor(i / 2)
    if before(heap[i], heap[p]) then heap[i], heap[p] = heap[p], heap[i]; i = p else break end
  end
end
local function down(i)
  local n = #heap
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and before(heap[l], heap[m]) then m = l end
    if r <= n and before(heap[r], heap[m]) then m = r end
    if m == i then break end
    heap[i], heap[m] = heap[m], heap[i]
    i = m
  end
end
for _, s in ipairs(srcs) do heap[#heap + 1] = s; up(#heap) end

local out = {}
local last
while #out < 2 * want and #heap > 0 do
  local s = heap[1]
  local e = head(s)
  if e[1] ~= last then
    out[#out + 1] = e[1]
    out[#out + 1] = tostring(e[2])
    last = e[1]
  end
  s.pos = s.pos + 1
  if s.pos > #s.buf then
    s.buf, s.pos = {}, 1
    fill(s)
  end
  if #s.buf == 0 then
    heap[1] = heap[#heap]
    heap[#heap] = nil
  end
  if #heap > 0 then down(1) end
end
return out
`;

/**
 * Drops index entries older than the retention from every leaf (main and per user) and from the stuck
 * set; emptied leaves leave their directories. KEYS[1] the leaf directory. ARGV[1] key base, ARGV[2]
 * retention ms, ARGV[3] the cutoff (ms). Search sets (`Q:<term>`) are trimmed when they are written and
 * expire on their own.
 */
export const TRIM_LUA = `
local retention = tonumber(ARGV[2])
${INDEX_HELPERS}
local cutoff = ARGV[3]
local removed = 0
local function trim(key)
  removed = removed + redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  return redis.call('ZCARD', key) == 0
end
for _, leaf in ipairs(redis.call('SMEMBERS', base .. 'D')) do
  if trim(base .. 'L:' .. leaf) then redis.call('SREM', base .. 'D', leaf) end
end
for _, user in ipairs(redis.call('SMEMBERS', base .. 'UR')) do
  local dir = base .. 'UD:' .. user
  for _, leaf in ipairs(redis.call('SMEMBERS', dir)) do
    if trim(userLeafKey(user, leaf)) then redis.call('SREM', dir, leaf) end
  end
  if redis.call('SCARD', dir) == 0 then redis.call('SREM', base .. 'UR', user) end
end
trim(base .. 'K')
return removed
`;
