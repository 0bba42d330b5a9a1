/**
 * RUN_RETENTION_DAYS reaches the run store the system builds (here Redis: a run's keys expire after it;
 * MongoDB's TTL indexes are tested in test/integration/mongo-run-store.test.ts with MONGO_URL).
 */
import type { JobRun } from '../../src/monitor/run';
import { RUN_RETENTION_SECONDS } from '../../src/monitor/run';
import { RedisKeys } from '../../src/queues/redis-keys';
import { testRedis, waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

const redis = testRedis();
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ RUN_RETENTION_DAYS: '2' });
});
afterAll(async () => {
  await sys?.cleanup();
  await redis.quit();
});

it('a run recorded with RUN_RETENTION_DAYS=2 expires after 2 days, not the default 7', async () => {
  const { run_id } = await sys.service.trigger('quick_job');
  const run = (await waitFor(async () => {
    const r = await sys.store.get(run_id);
    return r?.status === 'completed' ? r : null;
  }, 30_000)) as JobRun;
  expect(run.status).toBe('completed');
  const ttl = await redis.pttl(new RedisKeys(sys.prefix).run(run_id));
  expect(ttl).toBeGreaterThan(2 * 86_400_000 - 120_000);
  expect(ttl).toBeLessThanOrEqual(2 * 86_400_000);
  expect(ttl).toBeLessThan(RUN_RETENTION_SECONDS * 1000 - 86_400_000);
});
