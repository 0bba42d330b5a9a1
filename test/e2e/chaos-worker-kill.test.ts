/**
 * Chaos: 3 worker processes, 500 jobs, a random worker SIGKILLed every few seconds and replaced.
 * BullMQ's stalled-job recovery must hand every interrupted job to another worker: every job runs at least
 * once, every run record ends `completed` with its attempts and stalls counted, none stays running.
 */
import type { JobRun } from '../../src/monitor/run';
import { killAllRoles, PROCESS_JOBS_YML, type RoleProcess, spawnRole } from '../helpers/processes';
import { REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem, tempYaml } from '../helpers/system';
import { RedisKeys } from '../../src/queues/redis-keys';

jest.setTimeout(240_000);

const JOBS = 500;
const prefix = uniquePrefix('chaos-kill');
const redis = testRedis();
let sys: TestSystem;

const workerEnv = {
  ROLES: 'worker',
  REDIS_URL,
  QUEUE_PREFIX: prefix,
  JOBS_CONFIG: tempYaml(PROCESS_JOBS_YML),
  WORKER_CONCURRENCY: '5',
  // A dead worker's jobs are recovered within lock + interval; a job may be interrupted several times.
  WORKER_LOCK_DURATION_MS: '3000',
  WORKER_STALLED_INTERVAL_MS: '1500',
  WORKER_MAX_STALLED_COUNT: '50',
};

beforeAll(async () => {
  sys = await startTestSystem({ QUEUE_PREFIX: prefix, ROLES: 'monitor' }, { jobsYml: PROCESS_JOBS_YML });
});
afterAll(async () => {
  await killAllRoles();
  await sys?.cleanup();
  await redis.quit();
});

it('every job completes despite workers being SIGKILLed mid-job, with stalls and attempts recorded', async () => {
  let workers: RoleProcess[] = await Promise.all([0, 1, 2].map(() => spawnRole(workerEnv)));
  const names = new Set(workers.map((w) => w.worker));

  const ids: string[] = [];
  for (let i = 0; i < JOBS; i += 50) {
    const batch = Array.from({ length: Math.min(50, JOBS - i) }, (_, k) =>
      sys.service.enqueueDynamic('tally_job', { ms: 200 + ((i + k) % 7) * 100 }),
    );
    ids.push(...(await Promise.all(batch)).map((r) => r.run_id));
  }

  // Kills are paced by progress, not by the clock: a worker dies each time another slice of the jobs has
  // completed, and its replacement starts without the next kill waiting for it. On a loaded machine (slow
  // process start) every kill still lands while jobs are in flight.
  const completedInQueue = () => redis.zcard(new RedisKeys(prefix).queueKey('tq', 'completed'));
  const KILL_AT = [40, 110, 180, 250, 320];
  const replacements: Promise<RoleProcess>[] = [];
  let kills = 0;
  for (const threshold of KILL_AT) {
    const reached = await waitFor(async () => (await completedInQueue()) >= threshold, 120_000, 50);
    if (!reached)
      throw new Error(`only ${await completedInQueue()} jobs completed, waiting for ${threshold}`);
    await waitFor(() => workers.length > 0, 60_000);
    const victim = workers[Math.floor(Math.random() * workers.length)];
    await victim.stop('SIGKILL');
    kills++;
    workers = workers.filter((w) => w !== victim);
    replacements.push(
      spawnRole(workerEnv, 90_000).then((fresh) => {
        names.add(fresh.worker);
        workers.push(fresh);
        return fresh;
      }),
    );
  }
  await Promise.all(replacements);
  expect(kills).toBe(KILL_AT.length);

  const all = () => Promise.all(ids.map((id) => sys.store.get(id) as Promise<JobRun>));
  const runs = await waitFor(
    async () => {
      const r = await all();
      return r.every((x) => x?.status === 'completed') ? r : null;
    },
    150_000,
    500,
  );
  if (!runs) {
    const r = await all();
    const stuck = r
      .filter((x) => x?.status !== 'completed')
      .map((x) => [x?.run_id, x?.status, x?.error_message]);
    throw new Error(`runs not completed: ${JSON.stringify(stuck.slice(0, 10))} (${stuck.length})`);
  }
  expect((await sys.store.list({ job_id: 'tally_job', status: ['pending', 'running'] })).runs).toEqual([]);

  // At least once: every run executed, some more than once; the last execution is the one recorded.
  const tally = (await redis.lrange(`${prefix}:test:tally`, 0, -1)).map((l) => l.split('|'));
  const executions = new Map<string, string[]>();
  for (const [id, worker] of tally) executions.set(id, [...(executions.get(id) ?? []), worker]);
  expect(new Set(executions.keys())).toEqual(new Set(ids));
  expect(tally.length).toBeGreaterThanOrEqual(JOBS);

  const stalled = runs.filter((r) => r.stalls > 0);
  expect(stalled.length).toBeGreaterThan(0);
  for (const r of runs) {
    expect(names.has(r.worker!)).toBe(true);
    expect(r.attempts).toBeGreaterThanOrEqual(executions.get(r.run_id)!.length);
    expect(r.worker).toBe(executions.get(r.run_id)!.at(-1));
    expect(r.ended_at).not.toBeNull();
  }
  for (const r of stalled) expect(r.attempts).toBeGreaterThanOrEqual(2);
  process.stdout.write(
    `chaos-worker-kill: ${kills} kills, ${tally.length} executions for ${JOBS} jobs, ${stalled.length} runs recovered from a dead worker\n`,
  );
});
