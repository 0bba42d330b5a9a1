import type { RunUpdate } from '../../src/monitor/run';
import { ReplyError } from 'ioredis';
import { RedisKeys } from '../../src/queues/redis-keys';
import { isPoisonReply, LIST_SCAN_BUDGET, RedisRunStore } from '../../src/store/redis-run-store';
import { BUCKET_SHARDS } from '../../src/store/redis-run-store-lua';
import { memoryLogger } from '../helpers/logger';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis';
import { runStoreContract } from './run-store.contract';

const redis = testRedis();
afterAll(() => redis.quit());

const DAY_MS = 86_400_000;
/** The day bucket a run created finished is kept in (see BUCKET_HELPERS in redis-run-store-lua.ts). */
const bucketKey = (keys: RedisKeys, runId: string, createdMs: number) =>
  keys.runBucket(Math.floor(createdMs / DAY_MS), (Buffer.from(runId).at(-3) ?? 0) % BUCKET_SHARDS);
/** When a day bucket expires: the end of its creation day plus the retention. */
const bucketExpiresAt = (createdMs: number, retentionMs: number) =>
  (Math.floor(createdMs / DAY_MS) + 1) * DAY_MS + retentionMs;

runStoreContract('RedisRunStore', async () => {
  const prefix = uniquePrefix('store');
  return { store: new RedisRunStore(redis, { prefix }), cleanup: () => deletePrefix(redis, prefix) };
});

describe('RedisRunStore retention', () => {
  it('gives every key a TTL so nothing outlives the retention (a day bucket: the end of its day plus the retention)', async () => {
    const prefix = uniquePrefix('ttl');
    const store = new RedisRunStore(redis, { prefix, retentionSeconds: 3600 });
    const nowMs = Date.now();
    const now = new Date(nowMs).toISOString();
    const update = (run_id: string, status: 'running' | 'completed'): RunUpdate => ({
      run_id,
      seq: '1',
      identity: { job_id: 'j', queue: 'q', created_at: now, trigger: 'api', user_id: 'u' },
      patch: { status },
      logs: [{ time: now, level: 'info', message: 'x', seq: '1' }],
    });
    // r2 is created finished: a field of its day bucket, which expires at the end of the day plus the retention.
    await store.apply([update('r1', 'running'), update('r2', 'completed')]);
    const all = await redis.keys(`${prefix}*`);
    const bucket = bucketKey(new RedisKeys(prefix), 'r2', nowMs);
    expect(all).toContain(bucket);
    expect(all).not.toContain(new RedisKeys(prefix).run('r2'));
    const keys = all.filter((k) => !k.endsWith('_registry') && !k.includes(':metrics:'));
    expect(keys.length).toBeGreaterThanOrEqual(9);
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      if (key === bucket) {
        expect(Math.abs(Date.now() + ttl - bucketExpiresAt(nowMs, 3_600_000))).toBeLessThan(5_000);
        continue;
      }
      expect(ttl).toBeGreaterThan(3_500_000);
      expect(ttl).toBeLessThanOrEqual(3_600_000);
    }
    await deletePrefix(redis, prefix);
  });
});

describe('RedisRunStore index layout', () => {
  const run = (run_id: string, createdMs: number, over: Partial<RunUpdate> = {}): RunUpdate => ({
    run_id,
    seq: '001',
    identity: {
      job_id: 'j',
      queue: 'q',
      created_at: new Date(createdMs).toISOString(),
      trigger: 'api',
      user_id: 'u1',
      search: ['order-1'],
    },
    patch: { status: 'completed' },
    logs: [],
    ...over,
  });

  it('trims index entries older than the retention; emptied leaves leave their directories', async () => {
    const prefix = uniquePrefix('trim');
    const keys = new RedisKeys(prefix);
    const store = new RedisRunStore(redis, { prefix, retentionSeconds: 3600 });
    // Created 2 hours ago (beyond the 1-hour retention) and now; the first apply trims.
    await store.apply([
      run('old', Date.now() - 7_200_000),
      run('new', Date.now() - 1000, {
        identity: { ...run('x', Date.now() - 1000).identity, trigger: 'manual' },
      }),
    ]);
    expect((await store.list({})).runs.map((r) => r.run_id)).toEqual(['new']);
    expect((await store.list({ user_id: 'u1' })).runs.map((r) => r.run_id)).toEqual(['new']);
    expect(await redis.smembers(keys.runLeafDir)).toEqual(['j|completed|manual']);
    expect(await redis.smembers(keys.runUserDir('u1'))).toEqual(['j|completed|manual']);
    expect(await redis.exists(keys.runLeaf('j|completed|api'))).toBe(0);
    await deletePrefix(redis, prefix);
  });

  it('counts a finished run into the Prometheus counters once, in the same write (replays and stale updates add nothing)', async () => {
    const prefix = uniquePrefix('count');
    const keys = new RedisKeys(prefix);
    const store = new RedisRunStore(redis, { prefix });
    const t = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const identity = {
      job_id: 'job_c',
      queue: 'q',
      created_at: iso(t),
      trigger: 'api' as const,
      user_id: null,
    };
    const running = {
      run_id: 'c1',
      seq: '000001700000000000-00000001',
      identity,
      logs: [],
      patch: { status: 'running' as const },
    };
    const failed = {
      run_id: 'c1',
      seq: '000001700000000000-00000002',
      identity,
      logs: [],
      patch: { status: 'failed' as const, duration_ms: 7000, error_message: 'boom' },
    };
    await store.apply([running]);
    await store.apply([failed]);
    await store.apply([failed, running]); // a replay, and a stale start
    expect(await redis.hgetall(keys.metric('runs'))).toEqual({ 'job_c\tfailed': '1' });
    expect(await redis.hgetall(keys.metric('durations'))).toEqual({
      'job_c\tcount': '1',
      'job_c\t15': '1',
      'job_c\tsum': '7',
    });
    // A newer ending (a policy's failure, then the worker that finished after all) is a new status: counted.
    await store.apply([
      { ...failed, seq: '000001700000000000-00000003', patch: { status: 'completed' as const } },
    ]);
    expect(await redis.hget(keys.metric('runs'), 'job_c\tcompleted')).toBe('1');
    const quiet = new RedisRunStore(redis, { prefix: uniquePrefix('nocount'), countRuns: false });
    expect(quiet.countsFinishedRuns).toBe(false);
    await deletePrefix(redis, prefix);
  });

  it('counts runs created finished per job, status and duration bucket in one write, whatever their ids hold (a tab, a quote)', async () => {
    const prefix = uniquePrefix('countnew');
    const keys = new RedisKeys(prefix);
    const store = new RedisRunStore(redis, { prefix });
    const t = Date.now();
    const ended = (
      run_id: string,
      job_id: string,
      status: 'completed' | 'failed' | 'skipped',
      ms?: number,
    ) => ({
      run_id,
      seq: '000001700000000000-00000005',
      identity: {
        job_id,
        queue: 'q',
        created_at: new Date(t).toISOString(),
        trigger: 'api' as const,
        user_id: 'u\t1',
      },
      logs: [],
      patch: { status, ...(ms === undefined ? {} : { duration_ms: ms }) },
    });
    const batch = [
      ended('n1', 'job_x', 'completed', 50),
      ended('n2', 'job_x', 'completed', 50),
      ended('n\t3', 'job_x', 'failed', 2000),
      ended('n"4', 'job_y', 'completed', 7_200_000),
      ended('n5', 'job_y', 'skipped'),
    ];
    await store.apply(batch);
    await store.apply(batch); // a replay counts nothing
    expect(await redis.hgetall(keys.metric('runs'))).toEqual({
      'job_x\tcompleted': '2',
      'job_x\tfailed': '1',
      'job_y\tcompleted': '1',
      'job_y\tskipped': '1',
    });
    expect(await redis.hgetall(keys.metric('durations'))).toEqual({
      'job_x\tcount': '3',
      'job_x\tsum': '2.1',
      'job_x\t0.1': '2',
      'job_x\t5': '1',
      'job_y\tcount': '1',
      'job_y\tsum': '7200',
      'job_y\t+Inf': '1',
    });
    for (const id of ['n1', 'n\t3', 'n"4', 'n5']) expect((await store.get(id))?.user_id).toBe('u\t1');
    expect((await store.list({ user_id: 'u\t1' })).runs).toHaveLength(5);
    await deletePrefix(redis, prefix);
  });

  it('keeps a no-op run small: a field of its day bucket and one index entry, no key of its own, no log key', async () => {
    const prefix = uniquePrefix('small');
    const keys = new RedisKeys(prefix);
    const store = new RedisRunStore(redis, { prefix });
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    await store.apply([
      {
        run_id: '1000001',
        seq: '000001700000000000-00000003',
        identity: { job_id: 'job_a', queue: 'q', created_at: iso(now), trigger: 'api', user_id: null },
        patch: {
          status: 'completed',
          started_at: iso(now + 1),
          ended_at: iso(now + 2),
          duration_ms: 1,
          attempts: 1,
          worker: 'host:1234',
          result: null,
        },
        logs: [],
        attempt: {
          attempt: 1,
          started_at: iso(now + 1),
          ended_at: iso(now + 2),
          worker: 'host:1234',
          outcome: 'completed',
          error: null,
        },
      },
    ]);
    // Created finished: its field/value pairs as one field of its creation day's bucket.
    const bucket = bucketKey(keys, '1000001', now);
    expect(await redis.exists(keys.run('1000001'))).toBe(0);
    expect(JSON.parse((await redis.hget(bucket, '1000001'))!)).toEqual(
      expect.arrayContaining(['j', 'job_a']),
    );
    expect(Math.abs(Date.now() + (await redis.pttl(bucket)) - bucketExpiresAt(now, 7 * DAY_MS))).toBeLessThan(
      5_000,
    );
    expect(await redis.exists(keys.runLogs('1000001'))).toBe(0);
    const all = await redis.keys(`${prefix}*`);
    // Per run: a bucket field and one index entry; buckets (per day), the directory and the two counter
    // hashes are per deployment.
    expect(all.sort()).toEqual(
      [
        keys.runLeafDir,
        bucket,
        keys.runLeaf('job_a|completed|api'),
        keys.metric('runs'),
        keys.metric('durations'),
      ].sort(),
    );
    // Counted in the same write, once: the run's status and its duration bucket (1 ms → 0.1 s).
    expect(await redis.hgetall(keys.metric('runs'))).toEqual({ 'job_a\tcompleted': '1' });
    expect(await redis.hget(keys.metric('durations'), 'job_a\t0.1')).toBe('1');
    expect(await store.get('1000001')).toMatchObject({
      status: 'completed',
      started_at: iso(now + 1),
      ended_at: iso(now + 2),
      result: null,
      attempts_log: [
        {
          attempt: 1,
          started_at: iso(now + 1),
          ended_at: iso(now + 2),
          worker: 'host:1234',
          outcome: 'completed',
          error: null,
        },
      ],
    });
    await deletePrefix(redis, prefix);
  });

  it('a page of a filter that needs a check on each run stops after the scan budget with a cursor, never short without one', async () => {
    const prefix = uniquePrefix('budget');
    const store = new RedisRunStore(redis, { prefix });
    const now = Date.now() - 60_000;
    // 6000 runs share the term; only the oldest one is failed: the page stops at the budget and the
    // cursor leads to it.
    const batch: RunUpdate[] = [];
    for (let i = 0; i < LIST_SCAN_BUDGET + 1000; i++) {
      batch.push(
        run(`b${i}`, now - i, { patch: { status: i === LIST_SCAN_BUDGET + 999 ? 'failed' : 'completed' } }),
      );
    }
    await store.apply(batch);
    const first = await store.list({ q: 'order-1', status: ['failed'] });
    expect(first.runs).toHaveLength(0);
    expect(first.next_cursor).not.toBeNull();
    const second = await store.list({ q: 'order-1', status: ['failed'], cursor: first.next_cursor });
    expect(second.runs.map((r) => r.run_id)).toEqual([`b${LIST_SCAN_BUDGET + 999}`]);
    expect(second.next_cursor).toBeNull();
    await deletePrefix(redis, prefix);
  });
});

describe('RedisRunStore records created finished', () => {
  const T0 = Date.now() - 60_000;
  const finished = (run_id: string, over: Partial<RunUpdate> = {}): RunUpdate => ({
    run_id,
    seq: '000001700000000000-00000010',
    identity: {
      job_id: 'job_a',
      queue: 'q',
      created_at: new Date(T0).toISOString(),
      trigger: 'api',
      user_id: 'u1',
      search: ['order-7'],
    },
    patch: {
      status: 'completed',
      started_at: new Date(T0 + 10).toISOString(),
      ended_at: new Date(T0 + 30).toISOString(),
      duration_ms: 20,
      attempts: 1,
      worker: 'host:1',
      result: { ok: true },
    },
    attempt: {
      attempt: 1,
      started_at: new Date(T0 + 10).toISOString(),
      ended_at: new Date(T0 + 30).toISOString(),
      worker: 'host:1',
      outcome: 'completed',
      error: null,
    },
    logs: [
      {
        time: new Date(T0 + 20).toISOString(),
        level: 'info',
        message: 'done',
        seq: '000001700000000000-00000009',
      },
    ],
    ...over,
  });

  it('is a field of its day bucket that every read takes, and the first later change moves it to its own hash: same fields, same expiry', async () => {
    const prefix = uniquePrefix('strrec');
    const keys = new RedisKeys(prefix);
    const store = new RedisRunStore(redis, { prefix, retentionSeconds: 3600 });
    await store.apply([finished('f1'), finished('f2')]);
    expect(await redis.exists(keys.run('f1'))).toBe(0);
    expect(await redis.hexists(bucketKey(keys, 'f1', T0), 'f1')).toBe(1);
    const before = await store.get('f1');
    expect(before).toMatchObject({
      status: 'completed',
      user_id: 'u1',
      duration_ms: 20,
      result: { ok: true },
      attempts_log: [expect.objectContaining({ attempt: 1, outcome: 'completed', worker: 'host:1' })],
      logs: [expect.objectContaining({ message: 'done' })],
    });
    // Every read path: statuses, lists by filter, by user, by run id and by term, stats.
    expect(await store.statuses(['f1', 'f2', 'missing'])).toEqual(
      new Map([
        ['f1', 'completed'],
        ['f2', 'completed'],
      ]),
    );
    const ids = async (q: Parameters<typeof store.list>[0]) =>
      (await store.list(q)).runs.map((r) => r.run_id).sort();
    expect(await ids({ status: ['completed'] })).toEqual(['f1', 'f2']);
    expect(await ids({ user_id: 'u1' })).toEqual(['f1', 'f2']);
    expect(await ids({ q: 'f1' })).toEqual(['f1']);
    expect(await ids({ q: 'order-7' })).toEqual(['f1', 'f2']);
    const stats = await store.stats('job_a', T0 - 1000);
    expect(stats.counts.completed).toBe(2);
    expect(stats.finished.map((f) => [f.run_id, f.duration_ms]).sort()).toEqual([
      ['f1', 20],
      ['f2', 20],
    ]);
    // A replay of the same update changes nothing (and counts nothing twice).
    await store.apply([finished('f1')]);
    expect(await store.get('f1')).toEqual(before);
    expect(await redis.hget(keys.metric('runs'), 'job_a\tcompleted')).toBe('2');

    // A mark (an operator's rerun): the record becomes a hash with the mark, nothing else changes.
    // (The replay above may already have moved it: a run leaves its bucket at its first update after creation.)
    await store.apply([
      {
        run_id: 'f1',
        seq: '',
        identity: finished('f1').identity,
        patch: {},
        logs: [],
        marks: { retried_by: 'r9' },
      },
    ]);
    expect(await redis.type(keys.run('f1'))).toBe('hash');
    expect(await redis.hexists(bucketKey(keys, 'f1', T0), 'f1')).toBe(0);
    const after = await redis.pttl(keys.run('f1'));
    expect(Math.abs(Date.now() + after - bucketExpiresAt(T0, 3_600_000))).toBeLessThan(5_000);
    expect(await store.get('f1')).toEqual({ ...before, retried_by: 'r9' });

    // A newer update that changes the status: moved between leaves, counted once under the new status.
    await store.apply([
      {
        run_id: 'f2',
        seq: '000001700000000000-00000020',
        identity: finished('f2').identity,
        patch: { status: 'failed', error_message: 'lost after commit' },
        logs: [],
      },
    ]);
    expect(await redis.type(keys.run('f2'))).toBe('hash');
    expect(await ids({ status: ['completed'] })).toEqual(['f1']);
    expect(await ids({ status: ['failed'] })).toEqual(['f2']);
    expect(await store.get('f2')).toMatchObject({
      status: 'failed',
      error_message: 'lost after commit',
      result: { ok: true },
      started_at: new Date(T0 + 10).toISOString(),
      attempts_log: [expect.objectContaining({ attempt: 1, outcome: 'completed' })],
    });
    expect(await redis.hget(keys.metric('runs'), 'job_a\tfailed')).toBe('1');
    await deletePrefix(redis, prefix);
  });

  it('keeps any text exactly, in a record created finished and in a hash: quotes, backslashes, control and non-ASCII characters', async () => {
    const prefix = uniquePrefix('strtext');
    const store = new RedisRunStore(redis, { prefix, retentionSeconds: 3600 });
    const odd = 'a"b\\c\n\t\u0000\u001f \u2028\u2029 é 日本 😀 </script>';
    // Broken UTF-16 (a lone surrogate) is stored as U+FFFD, as UTF-8 would carry it, instead of refusing the run.
    const broken = (s: string) => s.replace('😀', '\ud800');
    const text = (id: string): RunUpdate =>
      finished(id, {
        identity: {
          job_id: `job_${odd}`,
          queue: `q${odd}`,
          created_at: new Date(T0).toISOString(),
          trigger: 'api',
          user_id: `user ${odd}`,
          triggered_by: `api:${odd}`,
          retry_of: `r${odd}`,
          search: [`term ${odd}`],
        },
        patch: {
          ...finished(id).patch,
          worker: `host${odd}`,
          result: { text: odd },
          error_message: odd,
        },
        attempt: { ...finished(id).attempt!, worker: `host${odd}`, error: odd },
        logs: [
          {
            time: new Date(T0 + 20).toISOString(),
            level: 'info',
            message: odd,
            seq: '000001700000000000-00000009',
          },
        ],
      });
    // `t1` is created finished (a bucket field); `t2` exists first, so the finished update writes a hash.
    await store.apply([
      {
        ...text('t2'),
        seq: '000001700000000000-00000001',
        patch: { status: 'running' },
        attempt: undefined,
        logs: [],
      },
    ]);
    await store.apply([text('t1'), text('t2')]);
    for (const id of ['t1', 't2']) {
      expect(await store.get(id)).toMatchObject({
        job_id: `job_${odd}`,
        queue: `q${odd}`,
        user_id: `user ${odd}`,
        triggered_by: `api:${odd}`,
        retry_of: `r${odd}`,
        worker: `host${odd}`,
        result: { text: odd },
        error_message: odd,
        attempts_log: [expect.objectContaining({ worker: `host${odd}`, error: odd })],
        logs: [expect.objectContaining({ message: odd })],
      });
    }
    const bad = broken(odd);
    const fixed = bad.replace('\ud800', '\ufffd');
    const t3 = finished('t3');
    await store.apply([
      {
        ...t3,
        identity: { ...t3.identity, user_id: `user ${bad}` },
        patch: { ...t3.patch, worker: `host${bad}`, error_message: bad },
        logs: [{ ...t3.logs[0], message: bad }],
      },
    ]);
    expect(await store.get('t3')).toMatchObject({
      user_id: `user ${fixed}`,
      worker: `host${fixed}`,
      error_message: fixed,
      logs: [expect.objectContaining({ message: bad })],
    });
    expect((await store.list({ q: `term ${odd}` })).runs.map((r) => r.run_id).sort()).toEqual(['t1', 't2']);
    expect((await store.list({ user_id: `user ${odd}` })).runs.map((r) => r.run_id).sort()).toEqual([
      't1',
      't2',
    ]);
    await deletePrefix(redis, prefix);
  });

  it('reads a string record written before the day buckets, and moves it to a hash at its next change, keeping its TTL', async () => {
    const prefix = uniquePrefix('legacy');
    const keys = new RedisKeys(prefix);
    const store = new RedisRunStore(redis, { prefix, retentionSeconds: 3600 });
    await store.apply([finished('g1')]);
    const before = await store.get('g1');
    // The layout of the previous version: the same pairs as a string under r:<id>, with its own TTL.
    const bucket = bucketKey(keys, 'g1', T0);
    const pairs = (await redis.hget(bucket, 'g1'))!;
    await redis.hdel(bucket, 'g1');
    await redis.set(keys.run('g1'), pairs, 'PX', 3_000_000);
    expect(await store.get('g1')).toEqual(before);
    expect(await store.statuses(['g1'])).toEqual(new Map([['g1', 'completed']]));
    expect((await store.list({ q: 'g1' })).runs.map((r) => r.run_id)).toEqual(['g1']);
    await store.apply([
      {
        run_id: 'g1',
        seq: '',
        identity: finished('g1').identity,
        patch: {},
        logs: [],
        marks: { retried_by: 'r9' },
      },
    ]);
    expect(await redis.type(keys.run('g1'))).toBe('hash');
    expect(await redis.pttl(keys.run('g1'))).toBeGreaterThan(2_990_000);
    expect(await redis.pttl(keys.run('g1'))).toBeLessThanOrEqual(3_000_000);
    expect(await store.get('g1')).toEqual({ ...before, retried_by: 'r9' });
    await deletePrefix(redis, prefix);
  });

  it('keeps a run created finished more than a day ago in its own hash (its bucket would expire too soon)', async () => {
    const prefix = uniquePrefix('oldrec');
    const keys = new RedisKeys(prefix);
    const store = new RedisRunStore(redis, { prefix });
    const old = Date.now() - 3 * DAY_MS;
    const run = finished('h1', {
      identity: { ...finished('h1').identity, created_at: new Date(old).toISOString() },
    });
    await store.apply([run]);
    expect(await redis.type(keys.run('h1'))).toBe('hash');
    expect(await redis.exists(bucketKey(keys, 'h1', old))).toBe(0);
    expect(await store.get('h1')).toMatchObject({
      status: 'completed',
      created_at: new Date(old).toISOString(),
    });
    await deletePrefix(redis, prefix);
  });

  it('reads a damaged run key (not a record) as no run, in every read', async () => {
    const prefix = uniquePrefix('strbad');
    const keys = new RedisKeys(prefix);
    const store = new RedisRunStore(redis, { prefix });
    await redis.set(keys.run('bad1'), 'not json');
    await redis.rpush(keys.run('bad2'), 'a list');
    expect(await store.get('bad1')).toBeNull();
    expect(await store.get('bad2')).toBeNull();
    expect(await store.statuses(['bad1', 'bad2'])).toEqual(new Map());
    expect((await store.list({ q: 'bad1' })).runs).toEqual([]);
    await deletePrefix(redis, prefix);
  });
});

describe('RedisRunStore poison updates', () => {
  const update = (
    run_id: string,
    seq: string,
    patch: RunUpdate['patch'] = { status: 'running' },
  ): RunUpdate => ({
    run_id,
    seq,
    identity: {
      job_id: 'j',
      queue: 'q',
      created_at: new Date().toISOString(),
      trigger: 'api',
      user_id: null,
    },
    patch,
    logs: [],
  });

  it('skips an update Redis refuses for good, stores the rest of the batch and the next batches, logs it', async () => {
    const prefix = uniquePrefix('poison');
    const logs = memoryLogger();
    const store = new RedisRunStore(redis, { prefix, logger: logs.logger });
    // A run key of the wrong type (a damaged key): every write to this run fails with WRONGTYPE.
    await redis.rpush(`${prefix}:runs:r:bad`, 'not a run');
    // 450 updates: 3 Lua calls of 200; the bad one sits in the middle of the second.
    const batch = Array.from({ length: 450 }, (_, i) => update(`ok${i}`, '001'));
    batch.splice(300, 0, update('bad', '001'));
    await expect(store.apply(batch)).resolves.toBeUndefined();
    for (const id of ['ok0', 'ok199', 'ok200', 'ok298', 'ok299', 'ok300', 'ok449']) {
      expect((await store.get(id))?.status).toBe('running');
    }
    expect((await store.list({ status: ['running'], limit: 200 })).runs).toHaveLength(200);
    const rejected = logs.lines.filter((l) => l.msg === 'run_store_update_rejected');
    expect(rejected).toEqual([
      expect.objectContaining({ run_id: 'bad', reason: expect.stringContaining('WRONGTYPE') }),
    ]);
    // The tracking-error record for that run could not be written either (same key): logged, not thrown.
    expect(logs.events()).toContain('run_store_tracking_error_not_recorded');
    // A later batch with the same poison in it still goes through.
    await store.apply([update('bad', '002'), update('ok0', '002', { status: 'completed' })]);
    expect((await store.get('ok0'))?.status).toBe('completed');
    await deletePrefix(redis, prefix);
  });

  it('treats busy, loading, read-only and out-of-memory replies as transient (the tracker retries the batch)', () => {
    for (const m of ['OOM command not allowed', 'BUSY Redis is busy', 'LOADING', "READONLY You can't write"])
      expect(isPoisonReply(new ReplyError(m))).toBe(false);
    expect(isPoisonReply(new ReplyError('WRONGTYPE Operation against a key'))).toBe(true);
    expect(isPoisonReply(new Error('Connection is closed.'))).toBe(false);
  });
});
