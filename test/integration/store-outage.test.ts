/**
 * Run-store outage: job_runs lives on a redis-server of the test's own, which is stopped while workers run
 * jobs (queues stay on the test Redis). Workers keep processing, their recorder keeps the runs in its
 * bounded buffer and retries; after recovery the history is complete. When the buffer overflows the
 * oldest updates are dropped with a log and a counter, and the reconciler records those runs from BullMQ
 * once the store is back: nothing is missing.
 */
import type { JobRun } from '../../src/monitor/run';
import { JobRegistry } from '../../src/monitor/registry';
import { JobsService } from '../../src/monitor/jobs-service';
import { Tracker } from '../../src/monitor/tracker';
import { BullmqEnqueuer } from '../../src/queues/bullmq-enqueuer';
import { BullmqLifecycleSource } from '../../src/queues/lifecycle-source';
import { QueueSet } from '../../src/queues/queue-set';
import { bullConnection, createRedis } from '../../src/queues/redis';
import { RedisRunStore } from '../../src/store/redis-run-store';
import { RunWriter } from '../../src/monitor/run-writer';
import { RedisClock } from '../../src/queues/redis-clock';
import { RedisRecordingGaps } from '../../src/queues/redis-recording-gaps';
import { RunRecorder } from '../../src/workers/run-recorder';
import { RedisKeys } from '../../src/queues/redis-keys';
import { WorkerPool } from '../../src/workers/worker-pool';
import { memoryLogger } from '../helpers/logger';
import { OwnRedis, stopAllRedis } from '../helpers/redis-server';
import { deletePrefix, REDIS_URL, uniquePrefix, waitFor } from '../helpers/redis';
import { TEST_JOBS_YML, testProcessors } from '../helpers/system';

jest.setTimeout(120_000);

const prefix = uniquePrefix('store-outage');
const registry = JobRegistry.fromYaml(TEST_JOBS_YML);
const redis = createRedis(REDIS_URL);
let own: OwnRedis;
let storeRedis: ReturnType<typeof createRedis>;
let store: RedisRunStore;
let queues: QueueSet;
let service: JobsService;
let workers: WorkerPool | undefined;
let recorder: RunRecorder;
const trackers: Tracker[] = [];

/** The reconciler, as the monitor role runs it (short grace so the test needn't wait). */
function newTracker(logger = memoryLogger()) {
  const t = new Tracker({
    queues: registry.queues(),
    source: new BullmqLifecycleSource(redis, bullConnection(REDIS_URL), prefix),
    store,
    logger: logger.logger,
    reconcile: { graceMs: 500, gaps: new RedisRecordingGaps(redis, prefix), sweepEveryMs: 200 },
    lookup: (ids) => store.statuses(ids),
  });
  trackers.push(t);
  return t;
}

/** Workers recording their runs through a recorder with the given buffer size. */
async function startWorkers(
  logger = memoryLogger(),
  maxBufferedRuns?: number,
  onDropped?: (n: number) => void,
) {
  await workers?.close(5000);
  await recorder?.stop();
  const clock = new RedisClock(redis);
  await clock.sync();
  recorder = new RunRecorder({
    writer: new RunWriter(store),
    clock,
    logger: logger.logger,
    worker: 'test-worker',
    maxBufferedRuns,
    onDropped,
    // As the worker role wires it: a span of dropped updates goes to the reconciler once the store is back.
    onGap: (fromMs, toMs) =>
      new RedisRecordingGaps(redis, prefix).report({
        worker: 'test-worker',
        queues: registry.queues(),
        fromMs,
        toMs,
      }),
  });
  workers = new WorkerPool({
    registry,
    processors: testProcessors,
    redis,
    connection: bullConnection(REDIS_URL),
    prefix,
    concurrency: 5,
    logger: memoryLogger().logger,
    recorder,
    name: 'test-worker', // BullMQ's processedBy: the reconciler finds this worker's ends by it
  });
  workers.start();
}

beforeAll(async () => {
  own = await OwnRedis.create();
  storeRedis = createRedis(own.url, { failFast: true });
  storeRedis.on('error', () => undefined);
  store = new RedisRunStore(storeRedis, { prefix: '{jm}' });
  queues = new QueueSet(registry.queues(), {
    connection: redis,
    prefix,
    attempts: 3,
    backoffMs: 50,
    retentionSeconds: 3600,
    eventsMaxLen: 100_000,
  });
  service = new JobsService(registry, store, new BullmqEnqueuer(queues), { logger: memoryLogger().logger });
});
afterAll(async () => {
  await workers?.close(5000);
  await recorder?.stop();
  for (const t of trackers) await t.stop();
  await queues?.close();
  storeRedis?.disconnect();
  await stopAllRedis();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

const completedInQueue = () => queues.get('tq').getCompletedCount();
const allCompleted = (ids: string[], timeoutMs = 60_000) =>
  waitFor(
    async () => {
      const runs = await Promise.all(ids.map((id) => store.get(id).catch(() => null)));
      return runs.every((r) => r?.status === 'completed') ? (runs as JobRun[]) : null;
    },
    timeoutMs,
    250,
  );

describe('run store unreachable', () => {
  const logs = memoryLogger();
  let tracker: Tracker;

  it('buffers and retries: workers keep going and the history is complete after recovery', async () => {
    await startWorkers(logs);
    tracker = newTracker();
    await tracker.start();
    const before = await Promise.all([1, 2, 3].map((i) => service.enqueueDynamic('dyn_job', { i })));
    expect(await allCompleted(before.map((r) => r.run_id))).toBeTruthy();

    await own.stop();
    expect(await storeRedis.ping().catch((e: Error) => e.message)).not.toBe('PONG');
    // Application code can still enqueue (the pending record is best effort) and workers run the jobs.
    const during = await Promise.all(
      Array.from({ length: 60 }, (_, i) => service.enqueueDynamic('dyn_job', { i }, { user_id: `u${i}` })),
    );
    expect(await waitFor(async () => (await completedInQueue()) >= 63, 60_000)).toBe(true);
    expect(await waitFor(() => logs.events().includes('recorder_store_write_failed'), 30_000)).toBe(true);
    expect(recorder.bufferedRuns()).toBeGreaterThan(0);
    expect(await service.getRun(during[0].run_id).catch((e) => e.message)).toMatch(/writeable|closed/i);

    await own.start();
    const runs = await allCompleted(during.map((r) => r.run_id));
    expect(runs).toBeTruthy();
    runs!.forEach((r, i) => {
      expect(r).toMatchObject({ job_id: 'dyn_job', trigger: 'api', user_id: `u${i}`, attempts: 1 });
      expect(r.result).toEqual({ ok: true, data: { i } });
      expect(r.logs.map((l) => l.message)).toEqual(['quick ran']);
    });
    expect(logs.events()).toContain('recorder_store_recovered');
    expect(recorder.dropped).toBe(0);
    await recorder.idle();
    expect(recorder.bufferedRuns()).toBe(0);
    await tracker.stop();
  });

  it('drops the oldest updates with a log and a count when the buffer is full, and keeps working', async () => {
    const logs2 = memoryLogger();
    const dropped: number[] = [];
    await startWorkers(logs2, 10, (n) => dropped.push(n));
    const reconciler = newTracker();
    await reconciler.start();
    const base = await completedInQueue();

    await own.stop();
    const during = await Promise.all(
      Array.from({ length: 40 }, (_, i) => service.enqueueDynamic('dyn_job', { i })),
    );
    expect(await waitFor(async () => (await completedInQueue()) >= base + 40, 60_000)).toBe(true);
    expect(await waitFor(() => recorder.dropped > 0, 60_000)).toBe(true);
    expect(recorder.bufferedRuns()).toBeLessThanOrEqual(10);
    expect(dropped.reduce((a, b) => a + b, 0)).toBe(recorder.dropped);
    const overflow = logs2.lines.find((l) => l.msg === 'recorder_buffer_overflow');
    expect(overflow).toMatchObject({ level: 50, dropped: expect.any(Number) });

    await own.start();
    const after = await service.enqueueDynamic('dyn_job', { after: true });
    expect(await allCompleted([after.run_id])).toBeTruthy();
    // What the recorder dropped, it reported as a gap once the store was back, and the reconciler recorded
    // those runs from BullMQ: every run is complete, and the gap is gone.
    expect(await allCompleted(during.map((r) => r.run_id))).toBeTruthy();
    expect(reconciler.reconciled).toBeGreaterThan(0);
    expect(logs2.events()).toContain('recorder_gap_reported');
    expect(await waitFor(async () => (await redis.llen(new RedisKeys(prefix).recordingGaps)) === 0)).toBe(
      true,
    );
    await reconciler.stop();
  });
});
