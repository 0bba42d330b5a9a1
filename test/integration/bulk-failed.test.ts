import { BulkActions } from '../../src/monitor/bulk';
import { JobsService } from '../../src/monitor/jobs-service';
import { OperatorActions } from '../../src/monitor/operator-actions';
import type { Principal } from '../../src/monitor/principal';
import { JobRegistry } from '../../src/monitor/registry';
import { RedisBulkStore } from '../../src/queues/redis-bulk';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { seedRuns } from '../helpers/dashboard';
import { memoryLogger } from '../helpers/logger';
import { deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis';

/** A bulk action that stops on an error says so in the log, and stays pending to be resumed. */

const YML = `
jobs:
  - { job_id: crowd, name: Crowd, category: c, job_type: once, allow_concurrent: true, callback_name: p }
`;
const admin: Principal = { name: 'ops', role: 'admin', via: 'api' };

const redis = testRedis();
const prefix = uniquePrefix('bulkfail');
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

it('logs bulk_failed with the bulk id and the error (stack kept); a later resume finishes it', async () => {
  const store = new MemoryRunStore();
  await seedRuns(store, [
    { run_id: 'f1', job_id: 'crowd', status: 'failed', created_ms: Date.now() - 2000, error: 'x' },
    { run_id: 'f2', job_id: 'crowd', status: 'failed', created_ms: Date.now() - 1000, error: 'x' },
  ]);
  const enqueuer = {
    enqueue: async (_d: unknown, _e: unknown, o: { runId: string }) => ({
      runId: o.runId,
      deduplicated: false,
    }),
    appendEvent: async () => `${Date.now()}-0`,
  };
  const logs = memoryLogger();
  const service = new JobsService(JobRegistry.fromYaml(YML), store, enqueuer, { logger: logs.logger });
  const bulks = new RedisBulkStore(redis, prefix);
  const bulk = new BulkActions(store, bulks, new OperatorActions(service), { logger: logs.logger });

  const list = store.list.bind(store);
  store.list = async () => {
    throw new Error('store unreachable');
  };
  const { bulk_id } = await bulk.start(admin, 'retry', { filter: { job_id: 'crowd', status: ['failed'] } });
  const line = await waitFor(() => logs.lines.find((l) => l.msg === 'bulk_failed'));
  expect(line).toMatchObject({ level: 50, bulk_id, err: { message: 'store unreachable' } });
  expect(String((line?.err as { stack?: string } | undefined)?.stack)).toContain('store unreachable');
  await bulk.stop();
  expect(await bulks.pending()).toEqual([bulk_id]);
  expect(await bulk.get(bulk_id)).toMatchObject({ status: 'running', done: 0 });

  // the store is back: an API process that starts resumes the action
  store.list = list;
  const again = new BulkActions(store, bulks, new OperatorActions(service), { logger: logs.logger });
  await again.resumePending();
  const done = await waitFor(async () => {
    const s = await again.get(bulk_id);
    return s.status === 'done' ? s : null;
  });
  expect(done).toMatchObject({ matched: 2, done: 2, refused: 0 });
  expect(await bulks.pending()).toEqual([]);
});
