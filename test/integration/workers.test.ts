import request from 'supertest';
import { JobRegistry } from '../../src/monitor/registry';
import { BullmqEnqueuer } from '../../src/queues/bullmq-enqueuer';
import { QueueSet } from '../../src/queues/queue-set';
import { RedisWorkersSource, WorkerHeartbeat } from '../../src/workers/heartbeat';
import { WorkerPool } from '../../src/workers/worker-pool';
import { memoryLogger } from '../helpers/logger';
import { deletePrefix, REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis';
import {
  startTestSystem,
  TEST_JOBS_YML,
  TEST_TOKEN,
  type TestSystem,
  testProcessors,
} from '../helpers/system';

jest.setTimeout(60_000);

/** Heartbeat interval of the two pools. */
const INTERVAL_MS = 200;

describe('worker heartbeats (two worker pools on one Redis)', () => {
  const prefix = uniquePrefix('workers');
  const redis = testRedis();
  const redisB = testRedis();
  const logger = memoryLogger().logger;
  const registry = JobRegistry.fromYaml(TEST_JOBS_YML);
  const queues = new QueueSet(registry.queues(), {
    connection: redis,
    prefix,
    attempts: 1,
    backoffMs: 10,
    retentionSeconds: 3600,
    eventsMaxLen: 10_000,
  });
  const pool = (name: string) =>
    new WorkerPool({
      registry,
      processors: testProcessors,
      redis,
      connection: { url: REDIS_URL },
      prefix,
      concurrency: 2,
      logger,
      name,
    });
  const a = pool('host-a:101');
  const b = pool('host-b:202');
  const beat = (p: WorkerPool, conn = redis) =>
    new WorkerHeartbeat({
      redis: conn,
      prefix,
      id: p.name,
      queues: registry.queues(),
      concurrency: 2,
      activeRuns: () => p.activeRunIds(),
      intervalMs: INTERVAL_MS,
      logger,
    });
  const hbA = beat(a);
  const hbB = beat(b, redisB);
  const source = new RedisWorkersSource(redis, prefix, queues);

  beforeAll(async () => {
    a.start();
    b.start();
    await Promise.all([hbA.start(), hbB.start()]);
  });
  afterAll(async () => {
    await hbA.stop();
    await Promise.all([a.close(1000), b.close(1000)]);
    await queues.close();
    await deletePrefix(redis, prefix);
    redisB.disconnect();
    await redis.quit();
  });

  it('lists both workers with what each process is, and the run each is on', async () => {
    const listed = await source.workers();
    expect(listed.map((w) => w.id)).toEqual(['host-a:101', 'host-b:202']);
    expect(listed[0]).toMatchObject({
      pid: process.pid,
      queues: ['tq'],
      concurrency: 2,
      active: 0,
      runs: [],
      version: '0.1.0',
    });
    expect(Date.parse(listed[0].started_at)).not.toBeNaN();
    expect(Date.parse(listed[0].last_seen_at)).toBeGreaterThanOrEqual(Date.parse(listed[0].started_at));

    const { runId: run_id } = await new BullmqEnqueuer(queues).enqueue(
      registry.get('slow_job')!,
      { trigger: 'manual', payload: { ms: 3000 } },
      { runId: 'w-slow-1' },
    );
    const busy = await waitFor(async () => (await source.workers()).find((w) => w.runs.includes(run_id)));
    expect(busy).toBeDefined();
    expect(busy!.active).toBe(1);
    const depth = (await source.depths()).find((q) => q.queue === 'tq');
    expect(depth).toMatchObject({ queue: 'tq', waiting: 0, delayed: 0, active: 1, failed: 0 });
  });

  it('drops a worker that stopped beating (its connection gone) within 3 heartbeats; the other stays', async () => {
    expect((await source.workers()).map((w) => w.id)).toEqual(['host-a:101', 'host-b:202']);
    const stoppedAt = Date.now();
    redisB.disconnect();
    // B's last beat was at most one interval before; it must be gone 3 intervals after that, whenever the
    // list is read (the bound is on B's own heartbeat times, so a slow read can't make this fail).
    const deadline = stoppedAt + 3 * INTERVAL_MS + 100;
    await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())));
    expect((await source.workers()).map((w) => w.id)).not.toContain('host-b:202');
    // A keeps beating: listed (again, if a slow moment let its own entry lapse).
    const left = await waitFor(async () => {
      const ids = (await source.workers()).map((w) => w.id);
      return ids.includes('host-a:101') ? ids : null;
    });
    expect(left).toEqual(['host-a:101']);
  });

  it('removes a worker at once on a clean stop', async () => {
    await hbA.stop();
    expect(await source.workers()).toEqual([]);
  });
});

describe('GET /api/jobs/workers', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ WORKER_HEARTBEAT_SECONDS: '0.2' });
  });
  afterAll(() => sys.cleanup());
  const get = () => request(sys.url).get('/api/jobs/workers').set('Authorization', `Bearer ${TEST_TOKEN}`);

  it('answers the live workers and each queue depth; needs the token', async () => {
    expect((await request(sys.url).get('/api/jobs/workers')).status).toBe(401);
    const { run_id } = await sys.service.trigger('slow_job');
    const res = await waitFor(async () => {
      const r = await get();
      return r.body.workers?.[0]?.runs?.includes(run_id) ? r : null;
    });
    expect(res).not.toBeNull();
    expect(res!.status).toBe(200);
    const [w] = res!.body.workers;
    expect(Object.keys(w).sort()).toEqual(
      [
        'active',
        'concurrency',
        'host',
        'id',
        'last_seen_at',
        'pid',
        'queues',
        'runs',
        'started_at',
        'version',
      ].sort(),
    );
    expect(w).toMatchObject({
      id: sys.workers!.name,
      pid: process.pid,
      queues: ['tq'],
      concurrency: 5,
      active: 1,
    });
    expect(res!.body.queues).toEqual([{ queue: 'tq', waiting: 0, delayed: 0, active: 1, failed: 0 }]);
  });
});
