import { JobRegistry } from '../../src/monitor/registry';
import { QueueSet } from '../../src/queues/queue-set';
import { RedisKeys } from '../../src/queues/redis-keys';
import { Scheduler } from '../../src/scheduler/scheduler';
import { memoryLogger } from '../helpers/logger';
import { deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis';
import { startTestSystem } from '../helpers/system';

jest.setTimeout(60_000);

const redis = testRedis();
const prefix = uniquePrefix('sched');
const opened: QueueSet[] = [];

function setup(yml: string) {
  const registry = JobRegistry.fromYaml(yml);
  const queues = new QueueSet(registry.queues(), {
    connection: redis,
    prefix,
    attempts: 1,
    backoffMs: 10,
    retentionSeconds: 60,
    eventsMaxLen: 1000,
  });
  opened.push(queues);
  return {
    registry,
    queues,
    scheduler: new Scheduler(registry, queues, redis, prefix, memoryLogger().logger),
  };
}

const V1 = `jobs:
  - { job_id: hourly, name: H, category: c, job_type: repeating, interval_seconds: 3600, callback_name: quick, queue: qa }
  - { job_id: nightly, name: N, category: c, job_type: cron, cron: "0 3 * * *", callback_name: quick, queue: qb }
  - { job_id: doomed, name: D, category: c, job_type: repeating, interval_seconds: 60, callback_name: quick, queue: qa }
  - { job_id: moved, name: M, category: c, job_type: repeating, interval_seconds: 60, callback_name: quick, queue: qb }
`;
// hourly: interval changed; nightly: unchanged; doomed: disabled; moved: deleted; fresh: new.
const V2 = `jobs:
  - { job_id: hourly, name: H, category: c, job_type: repeating, interval_seconds: 1800, callback_name: quick, queue: qa }
  - { job_id: nightly, name: N, category: c, job_type: cron, cron: "0 3 * * *", callback_name: quick, queue: qb }
  - { job_id: doomed, name: D, category: c, job_type: repeating, interval_seconds: 60, enabled: false, callback_name: quick, queue: qa }
  - { job_id: fresh, name: F, category: c, job_type: cron, cron: "*/5 * * * *", callback_name: quick, queue: qa }
`;

async function schedulersOf(queues: QueueSet, name: string) {
  const list = await queues.get(name).getJobSchedulers(0, -1);
  return Object.fromEntries(list.map((s) => [s.key, s.every ?? s.pattern]));
}

afterAll(async () => {
  for (const q of opened) await q.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('Scheduler', () => {
  it('creates, updates and removes BullMQ job schedulers to match the registry', async () => {
    const v1 = setup(V1);
    expect(await v1.scheduler.sync()).toMatchObject({
      created: expect.arrayContaining(['hourly', 'nightly', 'doomed', 'moved']),
      removed: [],
    });
    expect(await schedulersOf(v1.queues, 'qa')).toEqual({ hourly: 3_600_000, doomed: 60_000 });
    expect(await schedulersOf(v1.queues, 'qb')).toEqual({ nightly: '0 3 * * *', moved: 60_000 });

    const v2 = setup(V2);
    const report = await v2.scheduler.sync();
    expect(report.updated).toEqual(['hourly']);
    expect(report.created).toEqual(['fresh']);
    expect(report.unchanged).toEqual(['nightly']);
    expect(report.removed.sort()).toEqual(['doomed', 'moved']);
    expect(await schedulersOf(v2.queues, 'qa')).toEqual({ hourly: 1_800_000, fresh: '*/5 * * * *' });
    expect(await schedulersOf(v1.queues, 'qb')).toEqual({ nightly: '0 3 * * *' });

    // A second sync has nothing to do.
    expect(await v2.scheduler.sync()).toMatchObject({ created: [], updated: [], removed: [] });
  });

  it('is safe when several schedulers sync at once: one scheduler per job, a once job enqueued once', async () => {
    const yml = `jobs:
  - { job_id: tick, name: T, category: c, job_type: repeating, interval_seconds: 600, callback_name: quick, queue: qc }
  - { job_id: setup_once, name: S, category: c, job_type: once, callback_name: quick, queue: qc }
`;
    const a = setup(yml);
    const b = setup(yml);
    const c = setup(yml);
    await Promise.all([a.scheduler.sync(), b.scheduler.sync(), c.scheduler.sync()]);
    expect(await schedulersOf(a.queues, 'qc')).toEqual({ tick: 600_000 });
    const onceJobs = (await a.queues.get('qc').getJobs(['waiting', 'delayed', 'prioritized'])).filter(
      (j) => j.name === 'setup_once',
    );
    expect(onceJobs).toHaveLength(1);
    // The marker never expires (a once job runs once for the life of the deployment); deleting it by hand
    // enqueues the job again at the next sync, once.
    const marker = new RedisKeys(prefix).scheduledOnce('setup_once');
    expect(await redis.pttl(marker)).toBe(-1);
    await redis.del(marker);
    await Promise.all([a.scheduler.sync(), b.scheduler.sync()]);
    const again = (await a.queues.get('qc').getJobs(['waiting', 'delayed', 'prioritized'])).filter(
      (j) => j.name === 'setup_once',
    );
    expect(again).toHaveLength(2);
  });
});

describe('a repeating job', () => {
  it('runs on its schedule and lands in job_runs with trigger scheduled', async () => {
    const yml = `jobs:
  - { job_id: every_second, name: Every second, category: test, job_type: repeating, interval_seconds: 1, allow_concurrent: true, callback_name: quick, queue: tq }
`;
    const sys = await startTestSystem({ ROLES: 'worker,scheduler,monitor' }, { jobsYml: yml });
    try {
      const page = await waitFor(async () => {
        const p = await sys.store.list({ job_id: 'every_second', status: ['completed'] });
        return p.runs.length >= 3 ? p : null;
      }, 20_000);
      expect(page).not.toBeNull();
      const runs = page!.runs;
      expect(runs.every((r) => r.trigger === 'scheduled' && r.status === 'completed')).toBe(true);
      expect(runs.map((r) => r.triggered_by)).toEqual(runs.map(() => 'scheduler'));
      expect(new Set(runs.map((r) => r.run_id)).size).toBe(runs.length);
      // The schedule, not a burst: BullMQ runs the first iteration at once and the next ones on
      // 1-second slots, so n runs span at least n-2 seconds.
      const starts = runs.map((r) => Date.parse(r.created_at)).sort((x, y) => x - y);
      expect(starts.at(-1)! - starts[0]).toBeGreaterThanOrEqual((starts.length - 2) * 900);
      for (let i = 2; i < starts.length; i++) expect(starts[i] - starts[i - 1]).toBeGreaterThanOrEqual(900);
    } finally {
      await sys.cleanup();
    }
  });
});
