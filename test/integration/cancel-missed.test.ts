/**
 * #12 cancel when the pub/sub message can't reach the worker: a worker whose subscriber was reconnecting when
 * the cancel went out still cancels the run (the request is kept in Redis and looked up on reconnect), and a
 * cancel heard just before this process starts the run applies when it starts. Real Redis, real WorkerPool.
 */
import { Redis } from 'ioredis';
import { CANCELLED_REASON_PREFIX } from '../../src/monitor/lifecycle';
import { JobRegistry } from '../../src/monitor/registry';
import { BullmqEnqueuer } from '../../src/queues/bullmq-enqueuer';
import { QueueSet } from '../../src/queues/queue-set';
import { RedisKeys } from '../../src/queues/redis-keys';
import { CancelListener } from '../../src/workers/cancel-listener';
import { WorkerPool } from '../../src/workers/worker-pool';
import { memoryLogger } from '../helpers/logger';
import { deletePrefix, REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis';
import { TEST_JOBS_YML, testProcessors } from '../helpers/system';

jest.setTimeout(60_000);

const prefix = uniquePrefix('cancelmiss');
const registry = JobRegistry.fromYaml(
  `${TEST_JOBS_YML}  - { job_id: wait_job, name: Wait, category: test, callback_name: cancellable, queue: tq }\n`,
);
const redis = testRedis();
// The listener's connection comes back only 1.5 s after it is dropped, so a cancel sent meanwhile is missed.
const listenerRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null, retryStrategy: () => 1500 });
const logger = memoryLogger().logger;
const queues = new QueueSet(registry.queues(), {
  connection: redis,
  prefix,
  attempts: 1,
  backoffMs: 10,
  retentionSeconds: 3600,
  eventsMaxLen: 10_000,
});
const enqueuer = new BullmqEnqueuer(queues);
const pool = new WorkerPool({
  registry,
  processors: testProcessors,
  redis,
  connection: { url: REDIS_URL },
  prefix,
  concurrency: 2,
  logger,
});
const listener = new CancelListener(listenerRedis, prefix, pool, logger);

beforeAll(async () => {
  pool.start();
  await listener.start();
});
afterAll(async () => {
  await listener.stop();
  await pool.close(1000);
  await queues.close();
  await deletePrefix(redis, prefix);
  listenerRedis.disconnect();
  await redis.quit();
});

const wait = (runId: string) =>
  enqueuer.enqueue(registry.get('wait_job')!, { trigger: 'manual', payload: { ms: 30_000 } }, { runId });
/** The job's failed reason once BullMQ finished it. */
const ended = (runId: string) =>
  waitFor(async () => {
    const job = await queues.get('tq').getJob(runId);
    return job?.finishedOn ? job.failedReason || 'completed' : null;
  }, 15_000);

it('a worker that missed the message (its subscriber was reconnecting) cancels the run once it is back', async () => {
  await wait('run-missed-1');
  expect(await waitFor(() => pool.runningIds().includes('run-missed-1'))).toBe(true);

  const clients = (await redis.client('LIST')) as string;
  const line = clients
    .split('\n')
    .find((l) => l.includes(` name=${new RedisKeys(prefix).name}:cancel-listener `));
  expect(line).toBeDefined();
  await redis.client('KILL', 'ID', /\bid=(\d+)/.exec(line!)![1]);
  // Nobody hears it: the only subscriber is down.
  expect(await enqueuer.publishCancel('run-missed-1', 'alice')).toBe(0);

  expect(await ended('run-missed-1')).toBe(`${CANCELLED_REASON_PREFIX} cancelled by alice`);
  // The request expires on its own (an hour), nothing else keeps it.
  expect(await redis.ttl(new RedisKeys(prefix).cancelRequest('run-missed-1'))).toBeGreaterThan(3000);
});

it('a cancel heard just before this process starts the run applies when it starts', async () => {
  expect(pool.cancel('run-early-1', 'bob')).toBe(false);
  await wait('run-early-1');
  expect(await ended('run-early-1')).toBe(`${CANCELLED_REASON_PREFIX} cancelled by bob`);
  // Another run of the same job is not touched.
  await wait('run-other-1');
  expect(await waitFor(() => pool.runningIds().includes('run-other-1'))).toBe(true);
  expect(pool.cancel('run-other-1', 'carol')).toBe(true);
  expect(await ended('run-other-1')).toBe(`${CANCELLED_REASON_PREFIX} cancelled by carol`);
});
