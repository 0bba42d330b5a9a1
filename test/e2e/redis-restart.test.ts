/**
 * Redis restart: the whole system (API + scheduler + monitor in one process, workers in another) runs
 * against a redis-server of the test's own (AOF on) that is stopped while jobs run and started again.
 * While Redis is away the API answers 503 JSON quickly and /readyz says so; afterwards every role
 * reconnects by itself: queued jobs finish, job_runs is complete, triggers and schedules work again.
 */
import { Queue } from 'bullmq';
import type { JobRun } from '../../src/monitor/run';
import { createRedis } from '../../src/queues/redis';
import { RedisKeys } from '../../src/queues/redis-keys';
import { RedisRunStore } from '../../src/store/redis-run-store';
import { killAllRoles, PROCESS_JOBS_YML, type RoleProcess, spawnRole } from '../helpers/processes';
import { OwnRedis, stopAllRedis } from '../helpers/redis-server';
import { waitFor } from '../helpers/redis';
import { TEST_TOKEN, tempYaml } from '../helpers/system';

jest.setTimeout(180_000);

const prefix = '{jm-restart}';
const JOBS_YML = `${PROCESS_JOBS_YML.replace(
  'jobs:\n',
  'jobs:\n  - { job_id: tick_job, name: Tick, category: test, job_type: repeating, interval_seconds: 1, enabled: true, allow_concurrent: true, callback_name: quick, queue: tq }\n',
)}`;

let own: OwnRedis;
let app: RoleProcess;
let worker: RoleProcess;
let base: string;
let redis: ReturnType<typeof createRedis> | undefined;
let queue: Queue | undefined;
const auth = { Authorization: `Bearer ${TEST_TOKEN}` };

afterAll(async () => {
  await killAllRoles();
  redis?.disconnect();
  let t: NodeJS.Timeout | undefined;
  await Promise.race([queue?.close().catch(() => undefined), new Promise((r) => (t = setTimeout(r, 2000)))]);
  clearTimeout(t);
  await stopAllRedis();
});

async function get(path: string, headers: Record<string, string> = auth) {
  const res = await fetch(base + path, { headers, signal: AbortSignal.timeout(8000) });
  return { status: res.status, body: await res.json() };
}

it('survives a Redis restart: 503 while away, reconnects, and nothing queued is lost', async () => {
  own = await OwnRedis.create();
  const env = {
    REDIS_URL: own.url,
    QUEUE_PREFIX: prefix,
    JOBS_CONFIG: tempYaml(JOBS_YML),
    // Jobs interrupted by the outage are recovered quickly (lock + stalled check).
    WORKER_LOCK_DURATION_MS: '4000',
    WORKER_STALLED_INTERVAL_MS: '2000',
    WORKER_MAX_STALLED_COUNT: '5',
  };
  app = await spawnRole({ ...env, ROLES: 'api,scheduler,monitor' });
  worker = await spawnRole({ ...env, ROLES: 'worker', WORKER_CONCURRENCY: '4' });
  base = `http://127.0.0.1:${app.port}`;

  redis = createRedis(own.url);
  redis.on('error', () => undefined);
  const store = new RedisRunStore(redis, { prefix });
  queue = new Queue('tq', { connection: redis, prefix: new RedisKeys(prefix).queuePrefix('tq') });
  queue.on('error', () => undefined);
  const q = queue;
  const ids = Array.from({ length: 150 }, (_, i) => `r${i}x`);
  await queue.addBulk(
    ids.map((id) => ({
      name: 'tally_job',
      data: { trigger: 'api', payload: { ms: 60 } },
      opts: { jobId: id },
    })),
  );
  await waitFor(async () => (await q.getCompletedCount()) >= 20, 30_000);

  await own.stop();
  const failHint = () => app.output.filter((l) => l.includes('request_failed')).join('\n');
  const during = await get('/api/jobs/active');
  expect([during.status, failHint()]).toEqual([503, '']);
  expect(during.body).toMatchObject({ error: 'store_unavailable' });
  const trig = await fetch(`${base}/api/jobs/quick_job/trigger`, { method: 'POST', headers: auth });
  expect(trig.status).toBe(503);
  const ready = await get('/readyz', {});
  expect(ready.status).toBe(503);
  expect(ready.body.checks.redis).toMatch(/^down/);
  expect((await get('/healthz', {})).status).toBe(200);
  await new Promise((r) => setTimeout(r, 2000)); // Redis stays away a while
  expect(app.proc.exitCode).toBeNull();
  expect(worker.proc.exitCode).toBeNull();

  const restartedAt = Date.now();
  await own.start();
  expect(await waitFor(async () => (await get('/readyz', {})).status === 200, 30_000, 250)).toBe(true);
  expect((await get('/api/jobs/active')).status).toBe(200);

  // Every queued job finished and the tracker recorded it.
  const all = () => Promise.all(ids.map((id) => store.get(id) as Promise<JobRun>));
  const runs = await waitFor(
    async () => {
      const r = await all();
      return r.every((x) => x?.status === 'completed') ? r : null;
    },
    90_000,
    500,
  );
  if (!runs)
    throw new Error(
      `not completed: ${JSON.stringify((await all()).filter((x) => x?.status !== 'completed').slice(0, 3))}`,
    );

  // The API enqueues again, a worker runs it, the tracker records it.
  const res = await fetch(`${base}/api/jobs/quick_job/trigger`, { method: 'POST', headers: auth });
  expect(res.status).toBe(202);
  const { run_id } = (await res.json()) as { run_id: string };
  expect(await waitFor(async () => (await store.get(run_id))?.status === 'completed', 30_000)).toBe(true);

  // The scheduler's job scheduler keeps producing runs after the restart.
  const scheduled = await waitFor(
    async () => {
      const page = await store.list({ job_id: 'tick_job', status: ['completed'], since: restartedAt });
      return page.runs.find((r) => r.trigger === 'scheduled') ?? null;
    },
    30_000,
    250,
  );
  expect(scheduled).toBeTruthy();

  const lines = app.output.concat(worker.output).join('\n');
  expect(lines).toContain('backend_unavailable');
  expect(lines).not.toMatch(/uncaught|unhandled/i);
});
