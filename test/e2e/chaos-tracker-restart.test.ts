/**
 * Chaos: the tracker (monitor role, its own process: the reconciler) is SIGKILLed while 1,000 jobs run and
 * started again later. It resumes from its last stored event id (a checkpoint held back by the reconcile
 * grace), and job_runs ends complete: every run completed, with the fields the worker recorded, and nothing
 * left pending.
 */
import type { JobRun } from '../../src/monitor/run';
import { killAllRoles, PROCESS_JOBS_YML, spawnRole } from '../helpers/processes';
import { REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem, tempYaml } from '../helpers/system';
import { RedisKeys } from '../../src/queues/redis-keys';

jest.setTimeout(240_000);

const JOBS = 1000;
const prefix = uniquePrefix('chaos-tracker');
const redis = testRedis();
let sys: TestSystem;
const env = {
  REDIS_URL,
  QUEUE_PREFIX: prefix,
  JOBS_CONFIG: tempYaml(PROCESS_JOBS_YML),
  RECONCILE_GRACE_MS: '300',
};

beforeAll(async () => {
  // This process only enqueues (like application code) and reads job_runs; it runs no role that writes runs.
  sys = await startTestSystem({ QUEUE_PREFIX: prefix, ROLES: 'api' }, { jobsYml: PROCESS_JOBS_YML });
});
afterAll(async () => {
  await killAllRoles();
  await sys?.cleanup();
  await redis.quit();
});

it('a tracker killed while 1,000 jobs run catches up after restart: job_runs ends complete', async () => {
  const tracker1 = await spawnRole({ ...env, ROLES: 'monitor' });
  const worker = await spawnRole({ ...env, ROLES: 'worker', WORKER_CONCURRENCY: '10' });

  const ids: string[] = [];
  for (let i = 0; i < JOBS; i += 100) {
    const batch = Array.from({ length: 100 }, (_, k) =>
      sys.service.enqueueDynamic('tally_job', { ms: 20 }, { user_id: `u${(i + k) % 10}` }),
    );
    ids.push(...(await Promise.all(batch)).map((r) => r.run_id));
  }
  const completedInQueue = () => redis.zcard(new RedisKeys(prefix).queueKey('tq', 'completed'));
  expect(await waitFor(async () => (await completedInQueue()) >= 200, 60_000)).toBe(true);
  // Killed once it has stored a checkpoint (it trails the events by the reconcile grace).
  const checkpoint = new RedisKeys(prefix).trackerCheckpoint('tq');
  expect(await waitFor(async () => (await redis.get(checkpoint)) !== null, 30_000)).toBe(true);
  await tracker1.stop('SIGKILL');
  const stoppedAt = await completedInQueue();
  expect(stoppedAt).toBeLessThan(JOBS);

  // Jobs keep running with no tracker; then a new tracker starts.
  expect(
    await waitFor(async () => (await completedInQueue()) >= Math.min(JOBS, stoppedAt + 300), 60_000),
  ).toBe(true);
  const tracker2 = await spawnRole({ ...env, ROLES: 'monitor' });
  const resume = tracker2.output
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((l) => l.msg === 'tracker_resume');
  expect(resume.from).not.toBe('0');

  const all = () => Promise.all(ids.map((id) => sys.store.get(id) as Promise<JobRun>));
  const runs = await waitFor(
    async () => {
      const r = await all();
      return r.every((x) => x?.status === 'completed') ? r : null;
    },
    120_000,
    500,
  );
  if (!runs) {
    const missing = (await all()).filter((x) => x?.status !== 'completed');
    throw new Error(`${missing.length} runs not completed, e.g. ${JSON.stringify(missing[0])}`);
  }
  for (const [i, r] of runs.entries()) {
    expect(r).toMatchObject({
      job_id: 'tally_job',
      trigger: 'api',
      user_id: `u${i % 10}`,
      attempts: 1,
      worker: worker.worker,
      result: { worker: worker.worker },
    });
    expect(r.started_at).not.toBeNull();
    expect(r.duration_ms).toEqual(expect.any(Number));
  }
  const active = await sys.store.list({ job_id: 'tally_job', status: ['pending', 'running'] });
  expect(active.runs).toEqual([]);
  // The events stream kept everything the stopped tracker missed (EVENTS_MAX_LEN is far above this).
  expect(await redis.xlen(new RedisKeys(prefix).queueKey('tq', 'events'))).toBeGreaterThan(JOBS);
  expect(await redis.hget(new RedisKeys(prefix).queueKey('tq', 'meta'), 'opts.maxLenEvents')).toBe('100000');
});
