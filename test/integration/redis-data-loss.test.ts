/**
 * Redis that loses data (issue 11 item 10): runs whose BullMQ job no longer exists end as failed/job_lost
 * (once); a Redis that may evict or forget is named at start-up in the log and in /readyz.
 */
import { Redis } from 'ioredis';
import { JOB_LOST } from '../../src/monitor/stuck-monitor';
import { RedisKeys } from '../../src/queues/redis-keys';
import { OwnRedis, stopAllRedis } from '../helpers/redis-server';
import { REDIS_URL, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_JOBS_YML, type TestSystem, uniquePrefixFor } from '../helpers/system';

jest.setTimeout(120_000);

afterAll(async () => {
  await stopAllRedis();
});

describe('runs whose job Redis lost', () => {
  let sys: TestSystem;
  const redis = new Redis(REDIS_URL);

  beforeAll(async () => {
    // No worker: triggered runs stay pending with their job waiting in BullMQ.
    sys = await startTestSystem({
      ROLES: 'api,monitor',
      JOBS_STUCK_THRESHOLD_MINUTES: String(1 / 60),
      JOBS_STUCK_MONITOR_INTERVAL_SECS: '0.5',
    });
  });
  afterAll(async () => {
    await sys?.cleanup();
    await redis.quit();
  });

  it('ends them as failed with job_lost, once; runs whose job exists stay pending', async () => {
    const lost = await sys.service.trigger('slow_job');
    const kept = await sys.service.trigger('slow_job');
    await waitFor(async () => (await sys.store.get(lost.run_id))?.status === 'pending');
    // What eviction or a restart without persistence does to one job: its hash and its place in the list go.
    const keys = new RedisKeys(sys.prefix);
    await redis.del(keys.queueKey('tq', lost.run_id));
    await redis.lrem(keys.queueKey('tq', 'wait'), 0, lost.run_id);

    const ended = await waitFor(async () => {
      const run = await sys.store.get(lost.run_id);
      return run?.status === 'failed' ? run : null;
    }, 30_000);
    expect(ended).toMatchObject({ status: 'failed', error_message: JOB_LOST });
    expect(ended?.ended_at).not.toBeNull();

    // Two more scans after the mark: the kept run is still pending and the lost one was ended only once.
    const scansNow = sys.logs.events().filter((e) => e === 'stuck_jobs_check').length;
    await waitFor(
      () => sys.logs.events().filter((e) => e === 'stuck_jobs_check').length >= scansNow + 2,
      30_000,
    );
    expect((await sys.store.get(kept.run_id))?.status).toBe('pending');
    const marks = sys.logs.lines.filter(
      (l) => l.msg === 'job_lost' && JSON.stringify(l.runs).includes(lost.run_id),
    );
    expect(marks).toHaveLength(1);
    expect(JSON.stringify(marks[0].runs)).not.toContain(kept.run_id);
  });
});

describe('lost jobs that are not stuck', () => {
  const redis = new Redis(REDIS_URL);
  afterAll(() => redis.quit());

  it('a run waiting for its retry whose job was lost ends as failed with job_lost', async () => {
    // flaky_job fails its first attempt; the retry waits 10 min (JOB_BACKOFF_MS), so the run is pending with
    // one attempt made: waiting for a retry, never "stuck", and its job sits in the delayed set.
    const sys = await startTestSystem({
      JOB_ATTEMPTS: '2',
      JOB_BACKOFF_MS: '600000',
      JOBS_STUCK_THRESHOLD_MINUTES: String(1 / 60),
      JOBS_STUCK_MONITOR_INTERVAL_SECS: '0.5',
    });
    try {
      const { run_id } = await sys.service.trigger('flaky_job');
      await waitFor(async () => {
        const r = await sys.store.get(run_id);
        return r?.status === 'pending' && (r.attempts ?? 0) >= 1 ? r : null;
      }, 30_000);
      const keys = new RedisKeys(sys.prefix);
      expect(await redis.zscore(keys.queueKey('tq', 'delayed'), run_id)).not.toBeNull();
      await redis.del(keys.queueKey('tq', run_id));
      await redis.zrem(keys.queueKey('tq', 'delayed'), run_id);
      const ended = await waitFor(async () => {
        const r = await sys.store.get(run_id);
        return r?.status === 'failed' ? r : null;
      }, 30_000);
      expect(ended).toMatchObject({ error_message: JOB_LOST, attempts: 1 });
    } finally {
      await sys.cleanup();
    }
  });

  it('a run on a queue no longer in the registry ends as failed with job_lost', async () => {
    const prefix = uniquePrefixFor('gone-queue');
    // Before: jobs.yml had old_job on queue oldq, and a run of it was queued (no worker took it).
    const before = await startTestSystem(
      { QUEUE_PREFIX: prefix, ROLES: 'api' },
      {
        jobsYml: TEST_JOBS_YML.replace(
          'dynamic_jobs:',
          '  - { job_id: old_job, name: Old, category: test, job_type: repeating, interval_seconds: 86400, callback_name: quick, queue: oldq }\ndynamic_jobs:',
        ),
      },
    );
    const { run_id } = await before.service.trigger('old_job');
    await waitFor(async () => (await before.store.get(run_id))?.status === 'pending');
    await before.stop();
    // After: old_job and its queue are gone from jobs.yml; nothing will ever take that job.
    const after = await startTestSystem({
      QUEUE_PREFIX: prefix,
      ROLES: 'api,monitor',
      JOBS_STUCK_THRESHOLD_MINUTES: String(1 / 60),
      JOBS_STUCK_MONITOR_INTERVAL_SECS: '0.5',
    });
    try {
      const ended = await waitFor(async () => {
        const r = await after.store.get(run_id);
        return r?.status === 'failed' ? r : null;
      }, 30_000);
      expect(ended).toMatchObject({ job_id: 'old_job', queue: 'oldq', error_message: JOB_LOST });
    } finally {
      await after.cleanup();
    }
  });
});

describe('a Redis that may evict or forget is named at start', () => {
  const readyz = async (sys: TestSystem) => {
    const res = await fetch(`${sys.url}/readyz`);
    return { status: res.status, body: (await res.json()) as { warnings?: string[] } };
  };

  it('says nothing for noeviction with AOF', async () => {
    const own = await OwnRedis.create();
    const sys = await startTestSystem({ REDIS_URL: own.url, ROLES: 'api' });
    try {
      expect(sys.logs.events()).not.toContain('redis_durability_warning');
      const r = await readyz(sys);
      expect(r.status).toBe(200);
      expect(r.body.warnings).toBeUndefined();
    } finally {
      await sys.stop();
    }
  });

  it('warns in the log and in /readyz for an evicting policy and no persistence', async () => {
    const own = await OwnRedis.create();
    const admin = new Redis(own.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await admin.config('SET', 'appendonly', 'no');
    await admin.quit();
    const sys = await startTestSystem({ REDIS_URL: own.url, ROLES: 'api' });
    try {
      const logged = sys.logs.lines.filter((l) => l.msg === 'redis_durability_warning');
      expect(logged.map((l) => String(l.warning))).toEqual([
        expect.stringContaining('allkeys-lru'),
        expect.stringContaining('no persistence'),
      ]);
      const r = await readyz(sys);
      expect(r.status).toBe(200);
      expect(r.body.warnings).toEqual(logged.map((l) => l.warning));
    } finally {
      await sys.stop();
    }
  });
});
