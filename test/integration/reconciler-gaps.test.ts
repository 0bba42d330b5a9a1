/**
 * A worker process that dies between BullMQ committing its runs and its recorder writing them (the recorder's
 * buffer goes with the process): its heartbeat entry stops beating, and the reconciler records those ends
 * from BullMQ's finished sets — and only that worker's. Real Redis; the "dead" worker is a WorkerPool whose
 * recorder never manages a write and whose heartbeat stops, as a SIGKILLed process leaves them.
 */
import { JobsService } from '../../src/monitor/jobs-service';
import type { JobRun } from '../../src/monitor/run';
import { JobRegistry } from '../../src/monitor/registry';
import { RunWriter } from '../../src/monitor/run-writer';
import { Tracker } from '../../src/monitor/tracker';
import { BullmqEnqueuer } from '../../src/queues/bullmq-enqueuer';
import { BullmqLifecycleSource } from '../../src/queues/lifecycle-source';
import { QueueSet } from '../../src/queues/queue-set';
import { bullConnection, createRedis } from '../../src/queues/redis';
import { RedisClock } from '../../src/queues/redis-clock';
import { RedisKeys } from '../../src/queues/redis-keys';
import { RedisRecordingGaps } from '../../src/queues/redis-recording-gaps';
import { RedisRunStore } from '../../src/store/redis-run-store';
import { WorkerHeartbeat } from '../../src/workers/heartbeat';
import { RunRecorder } from '../../src/workers/run-recorder';
import { WorkerPool } from '../../src/workers/worker-pool';
import { memoryLogger } from '../helpers/logger';
import { deletePrefix, REDIS_URL, uniquePrefix, waitFor } from '../helpers/redis';
import { TEST_JOBS_YML, testProcessors } from '../helpers/system';

jest.setTimeout(60_000);

const prefix = uniquePrefix('gaps');
const keys = new RedisKeys(prefix);
const registry = JobRegistry.fromYaml(TEST_JOBS_YML);
const redis = createRedis(REDIS_URL);
const store = new RedisRunStore(redis, { prefix });
const queues = new QueueSet(registry.queues(), {
  connection: redis,
  prefix,
  attempts: 1,
  backoffMs: 50,
  retentionSeconds: 3600,
  eventsMaxLen: 100_000,
});
const service = new JobsService(registry, store, new BullmqEnqueuer(queues), {
  logger: memoryLogger().logger,
});
const closers: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await queues.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** A worker process as far as Redis can tell: pool, recorder, heartbeat entry. */
async function worker(name: string, writes: boolean) {
  const clock = new RedisClock(redis);
  await clock.sync();
  const recorder = new RunRecorder({
    // The dead one's store write never completes: its process is gone before the batch reaches Redis.
    writer: writes ? new RunWriter(store) : { apply: () => new Promise<void>(() => undefined) },
    clock,
    logger: memoryLogger().logger,
    worker: name,
  });
  const heartbeat = new WorkerHeartbeat({
    redis,
    prefix,
    id: name,
    queues: registry.queues(),
    concurrency: 2,
    activeRuns: () => [],
    intervalMs: 200,
    logger: memoryLogger().logger,
    recorder,
  });
  const pool = new WorkerPool({
    registry,
    processors: testProcessors,
    redis,
    connection: bullConnection(REDIS_URL),
    prefix,
    concurrency: 2,
    logger: memoryLogger().logger,
    recorder,
    name,
  });
  return { recorder, heartbeat, pool };
}

it("records a dead worker's committed but unwritten ends from BullMQ, once it stopped beating", async () => {
  const dead = await worker('host-a:111', false);
  await dead.heartbeat.beat(); // one beat, then silence: the process is gone
  dead.pool.start();
  closers.push(() => dead.pool.close(1000));
  const ids = await Promise.all(
    [1, 2, 3].map(async (i) => (await service.enqueueDynamic('dyn_job', { i })).run_id),
  );
  // BullMQ committed all three; the store still says pending (the API's write), nothing more.
  expect(await waitFor(async () => (await queues.get('tq').getCompletedCount()) === 3)).toBe(true);
  await dead.pool.close(1000);
  for (const id of ids) expect((await store.get(id))?.status).toBe('pending');

  // A live worker ran a job too, and wrote it itself: the reconciler must leave it alone.
  const live = await worker('host-b:222', true);
  await live.heartbeat.start();
  live.pool.start();
  closers.push(async () => {
    await live.pool.close(1000);
    await live.recorder.stop();
    await live.heartbeat.stop();
  });
  const liveRun = (await service.enqueueDynamic('dyn_job', { live: true })).run_id;
  expect(await waitFor(async () => (await store.get(liveRun))?.status === 'completed')).toBe(true);

  const logs = memoryLogger();
  const reconciler = new Tracker({
    queues: registry.queues(),
    source: new BullmqLifecycleSource(redis, bullConnection(REDIS_URL), prefix),
    store,
    logger: logs.logger,
    reconcile: { graceMs: 300, gaps: new RedisRecordingGaps(redis, prefix), sweepEveryMs: 200 },
    lookup: (runIds) => store.statuses(runIds),
  });
  await reconciler.start();
  closers.push(() => reconciler.stop());

  const runs = await waitFor(
    async () => {
      const r = await Promise.all(ids.map((id) => store.get(id)));
      return r.every((x) => x?.status === 'completed') ? (r as JobRun[]) : null;
    },
    20_000,
    100,
  );
  expect(runs).toBeTruthy();
  runs!.forEach((r, i) => {
    expect(r).toMatchObject({
      worker: 'host-a:111',
      attempts: 1,
      progress: 100,
      result: { ok: true, data: { i: i + 1 } },
    });
    expect(r.ended_at).not.toBeNull();
    expect(r.duration_ms).not.toBeNull();
  });
  expect(reconciler.reconciled).toBe(3);
  // The gap is forgotten right after its runs are written (the runs can be seen completed a moment before).
  expect(await waitFor(() => logs.events().includes('reconciler_gap_covered'))).toBe(true);
  // The dead worker's entry is gone; the live one still beats and was not swept.
  const entries = await redis.hgetall(keys.recorders);
  expect(Object.keys(entries)).toEqual(['host-b:222']);
  expect((await store.get(liveRun))?.worker).toBe('host-b:222');
});

it('a worker that stops cleanly with everything stored leaves no gap behind', async () => {
  const w = await worker('host-c:333', true);
  await w.heartbeat.start();
  w.pool.start();
  const id = (await service.enqueueDynamic('dyn_job', { clean: true })).run_id;
  expect(await waitFor(async () => (await store.get(id))?.status === 'completed')).toBe(true);
  await w.pool.close(1000);
  await w.recorder.stop();
  await w.heartbeat.stop();
  expect(await redis.hexists(keys.recorders, 'host-c:333')).toBe(0);
});
