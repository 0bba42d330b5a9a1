/**
 * `GET /api/jobs/runs?q=&since=&until=`: the date range on the Redis store (real Redis), validation with
 * 400 codes, and search by run id, user id and a job's search_keys through the service and the route
 * (MemoryRunStore: the Redis and MongoDB indexes for `q` are the store's part).
 */
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { type JobEnqueuer, JobsService } from '../../src/monitor/jobs-service';
import { JobRegistry } from '../../src/monitor/registry';
import { searchTerms } from '../../src/monitor/run';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { seedRuns, seedUpdates } from '../helpers/dashboard';
import { memoryLogger } from '../helpers/logger';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_JOBS_YML, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);
const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };
const HOUR = 3_600_000;
// Two days back, on the hour: inside the 7-day retention the Redis store enforces (a fixed date would expire).
const T0 = Math.floor((Date.now() - 48 * HOUR) / HOUR) * HOUR;

describe('date range on the Redis store', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
    await seedRuns(
      sys.store,
      Array.from({ length: 6 }, (_, i) => ({
        run_id: `r${i}`,
        job_id: 'quick_job',
        status: 'completed' as const,
        created_ms: T0 + i * HOUR,
        duration_ms: 10,
      })),
    );
  });
  afterAll(() => sys.cleanup());
  const runs = (query: string) => request(sys.url).get(`/api/jobs/runs?${query}`).set(bearer);

  it('since is inclusive, until exclusive; ISO dates and epoch ms both work', async () => {
    const iso = (ms: number) => new Date(ms).toISOString();
    const res = await runs(`since=${iso(T0 + HOUR)}&until=${iso(T0 + 4 * HOUR)}`);
    expect(res.status).toBe(200);
    expect(res.body.runs.map((r: { run_id: string }) => r.run_id)).toEqual(['r3', 'r2', 'r1']);
    const ms = await runs(`until=${T0 + 2 * HOUR}`);
    expect(ms.body.runs.map((r: { run_id: string }) => r.run_id)).toEqual(['r1', 'r0']);
  });

  it.each([
    ['since=yesterday', 'since', 'expected an ISO date or epoch milliseconds'],
    ['until=2026-13-45', 'until', 'expected an ISO date or epoch milliseconds'],
    [`since=${T0}&until=${T0}`, 'until', 'must be later than since'],
    [`q=${'x'.repeat(201)}`, 'q', 'at most 200 characters'],
    ['q=a&q=b', 'q', ''],
  ])('%s → 400 invalid_query naming %s', async (query, field, reason) => {
    const res = await runs(query);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_query', field });
    expect(res.body.message).toContain(reason);
  });
});

describe('a job added past the API (no worker running)', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem(
      { ROLES: 'api,monitor', RECONCILE_GRACE_MS: '200' },
      {
        jobsYml: TEST_JOBS_YML.replace(
          '{ job_id: dyn_job, name: Dynamic, category: test,',
          '{ job_id: dyn_job, name: Dynamic, category: test, search_keys: [call_sid],',
        ),
      },
    );
  });
  afterAll(() => sys.cleanup());

  it('is recorded pending by the reconciler with its search terms, so ?q= finds it', async () => {
    const job = await sys.queues
      .get('tq')
      .add('dyn_job', { trigger: 'api', user_id: 'u-past', payload: { call_sid: 'CA-Past-0001' } });
    const found = await waitFor(async () => {
      const res = await request(sys.url).get('/api/jobs/runs?q=ca-past-0001').set(bearer);
      return res.body.runs?.length ? res.body.runs : null;
    }, 10_000);
    expect(found).toEqual([
      expect.objectContaining({ run_id: job.id, job_id: 'dyn_job', status: 'pending' }),
    ]);
  });
});

describe('search by q', () => {
  const registry = JobRegistry.fromYaml(
    TEST_JOBS_YML.replace(
      '{ job_id: dyn_job, name: Dynamic, category: test,',
      '{ job_id: dyn_job, name: Dynamic, category: test, search_keys: [call_sid],',
    ),
  );
  const store = new MemoryRunStore();
  const enqueuer: JobEnqueuer = {
    enqueue: async (_def, _env, o) => ({ runId: o.runId, deduplicated: false }),
    appendEvent: async () => '1-0',
  };
  const app = createApp({
    service: new JobsService(registry, store, enqueuer, { logger: memoryLogger().logger }),
    token: TEST_TOKEN,
    logger: memoryLogger().logger,
    readiness: {},
  });

  beforeAll(async () => {
    const updates = seedUpdates([
      { run_id: 'a1', job_id: 'dyn_job', status: 'completed', created_ms: T0, user_id: 'Alice' },
      { run_id: 'a2', job_id: 'dyn_job', status: 'failed', created_ms: T0 + HOUR, user_id: 'bob' },
      { run_id: 'a3', job_id: 'quick_job', status: 'completed', created_ms: T0 + 2 * HOUR },
    ]);
    updates[0].identity.search = searchTerms({ call_sid: 'CA-777' }, registry.searchKeysOf('dyn_job'));
    updates[1].identity.search = searchTerms({ call_sid: 'CA-888' }, registry.searchKeysOf('dyn_job'));
    await store.apply(updates);
  });
  const find = async (query: string) =>
    (await request(app).get(`/api/jobs/runs?${query}`).set(bearer)).body.runs.map(
      (r: { run_id: string }) => r.run_id,
    );

  it('finds a run by a search key value, its user id or its run id, case-insensitively', async () => {
    expect(await find('q=ca-777')).toEqual(['a1']);
    expect(await find('q=%20CA-888%20')).toEqual(['a2']);
    expect(await find('q=alice')).toEqual(['a1']);
    expect(await find('q=A3')).toEqual(['a3']);
    expect(await find('q=nobody')).toEqual([]);
  });

  it('combines q with the other filters', async () => {
    expect(await find('q=ca-888&status=completed')).toEqual([]);
    expect(await find(`q=ca-777&until=${T0 + 1}`)).toEqual(['a1']);
    expect(await find(`q=ca-777&since=${T0 + 1}`)).toEqual([]);
  });
});
