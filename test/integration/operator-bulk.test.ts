import request from 'supertest';
import type { BulkState } from '../../src/monitor/bulk';
import { RedisBulkStore } from '../../src/queues/redis-bulk';
import { seedRuns } from '../helpers/dashboard';
import { testRedis, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem, uniquePrefixFor } from '../helpers/system';

jest.setTimeout(120_000);

const VIEWER = 'viewer-token-0123456789abcdef';
const admin = { Authorization: `Bearer ${TEST_TOKEN}` };
const prefix = uniquePrefixFor('bulk');
// API and tracker only: retried runs stay pending, which keeps the counts exact.
const env = { QUEUE_PREFIX: prefix, ROLES: 'api,monitor', API_TOKENS: `grafana:viewer:${VIEWER}` };
let sys: TestSystem;
afterAll(() => sys?.cleanup());

const progress = (id: string) =>
  waitFor(async () => {
    const b = (await request(sys.url).get(`/api/jobs/runs/bulk/${id}`).set(admin)).body;
    return b.status === 'done' ? b : null;
  }, 60_000);

describe('bulk retry and cancel', () => {
  beforeAll(async () => {
    sys = await startTestSystem(env);
    const t = Date.now();
    await seedRuns(sys.store, [
      { run_id: 'bf1', job_id: 'boom_job', status: 'failed', created_ms: t - 3000, error: 'x' },
      { run_id: 'bf2', job_id: 'boom_job', status: 'failed', created_ms: t - 2000, error: 'x' },
      { run_id: 'bf3', job_id: 'chatty_job', status: 'failed', created_ms: t - 1000, error: 'x' },
      { run_id: 'bc1', job_id: 'boom_job', status: 'completed', created_ms: t - 500 },
      { run_id: 'bold', job_id: 'boom_job', status: 'failed', created_ms: t - 8 * 86_400_000, error: 'x' },
    ]);
  });

  it('run_ids: 202 {bulk_id}; progress counts matched, done and refused with reasons', async () => {
    const res = await request(sys.url)
      .post('/api/jobs/runs/bulk')
      .set(admin)
      .send({ action: 'retry', run_ids: ['bf1', 'bc1', 'nope1'] });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ bulk_id: expect.stringMatching(/^b[0-9a-f]{16}$/) });
    const done = await progress(res.body.bulk_id);
    expect(done).toMatchObject({
      action: 'retry',
      matched: 3,
      done: 1,
      refused: 2,
      reasons: { run_not_failed: 1, run_not_found: 1 },
      by: { name: 'admin', role: 'admin' },
      finished_at: expect.any(String),
    });
  });

  it('filter: the count and range for the confirmation, then the action; no time range = last 7 days', async () => {
    const filter = { job_id: 'boom_job', status: ['failed'] };
    const before = Date.now();
    const dry = await request(sys.url)
      .post('/api/jobs/runs/bulk')
      .set(admin)
      .send({ action: 'retry', filter, dry_run: true });
    expect(dry.status).toBe(200);
    // bf1, bf2 — not the 8-day-old one; the range says so.
    expect(dry.body).toEqual({ matched: 2, more: false, since: expect.any(String), until: null });
    const since = Date.parse(dry.body.since);
    expect(since).toBeGreaterThanOrEqual(before - 7 * 86_400_000 - 1000);
    expect(since).toBeLessThanOrEqual(Date.now() - 7 * 86_400_000 + 1000);
    const res = await request(sys.url)
      .post('/api/jobs/runs/bulk')
      .set(admin)
      .send({ action: 'retry', filter });
    const done = await progress(res.body.bulk_id);
    // bf1 was retried by the first test: a failed run is retried once.
    expect(done).toMatchObject({ matched: 2, done: 1, refused: 1, reasons: { run_already_retried: 1 } });
    expect(
      (await sys.store.list({ job_id: 'boom_job', status: ['pending'] })).runs.map((r) => r.retry_of).sort(),
    ).toEqual(['bf1', 'bf2']);
  });

  it('filter: the same fields and rules as GET /api/jobs/runs (q, since, until; before as an alias)', async () => {
    const t = Date.now();
    await seedRuns(sys.store, [
      {
        run_id: 'bq-1',
        job_id: 'chatty_job',
        status: 'failed',
        created_ms: t - 3 * 3_600_000,
        user_id: 'alice',
      },
      {
        run_id: 'bq-2',
        job_id: 'chatty_job',
        status: 'failed',
        created_ms: t - 2 * 3_600_000,
        user_id: 'alice',
      },
      { run_id: 'bq-3', job_id: 'chatty_job', status: 'failed', created_ms: t - 3_600_000, user_id: 'bob' },
    ]);
    const dry = (filter: Record<string, unknown>) =>
      request(sys.url)
        .post('/api/jobs/runs/bulk')
        .set(admin)
        .send({ action: 'retry', filter, dry_run: true });
    const listed = async (qs: string) =>
      (await request(sys.url).get(`/api/jobs/runs?${qs}`).set(admin).expect(200)).body.runs.length;

    // The counts match what the history shows for the same filters.
    const window = { since: new Date(t - 2.5 * 3_600_000).toISOString(), until: String(t - 1800_000) };
    expect((await dry({ q: 'ALICE', job_id: 'chatty_job' })).body.matched).toBe(
      await listed('q=ALICE&job_id=chatty_job'),
    );
    expect((await dry({ q: 'alice' })).body.matched).toBe(2);
    const ranged = await dry({ job_id: 'chatty_job', status: 'failed', ...window });
    expect(ranged.body).toEqual({
      matched: 2,
      more: false,
      since: window.since,
      until: new Date(Number(window.until)).toISOString(),
    });
    expect(ranged.body.matched).toBe(
      await listed(`job_id=chatty_job&status=failed&since=${window.since}&until=${window.until}`),
    );
    const alias = await dry({ job_id: 'chatty_job', since: window.since, before: Number(window.until) });
    expect(alias.body.matched).toBe(2);
    expect((await dry({ stuck: 'false', q: 'bob' })).body.matched).toBe(1);

    // The action covers exactly those runs.
    const res = await request(sys.url)
      .post('/api/jobs/runs/bulk')
      .set(admin)
      .send({ action: 'retry', filter: { q: 'alice', until: window.until } });
    expect(res.status).toBe(202);
    expect(await progress(res.body.bulk_id)).toMatchObject({ matched: 2, done: 2, refused: 0 });
    expect((await sys.store.get('bq-3'))?.retried_by).toBeNull();

    // Refused as GET /api/jobs/runs refuses them, naming the field.
    for (const [filter, field] of [
      [{ status: 'exploded' }, 'filter.status'],
      [{ since: 'yesterday' }, 'filter.since'],
      [{ since: window.until, until: window.since }, 'filter.until'],
      [{ q: 'x'.repeat(201) }, 'filter.q'],
      [{ q: '   ' }, 'filter.q'],
      [{ limit: 5 }, 'filter.limit'],
      [{ until: window.until, before: window.until }, 'filter.before'],
      [{ user_id: ['a', 'b'] }, 'filter.user_id'],
      [[], 'filter'],
    ] as const) {
      const bad = await request(sys.url)
        .post('/api/jobs/runs/bulk')
        .set(admin)
        .send({ action: 'cancel', filter });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ error: 'invalid_body', field });
    }
  });

  it('refuses bad bodies (400 invalid_body) and viewers (403 forbidden_role)', async () => {
    for (const body of [
      {},
      { action: 'delete', run_ids: ['x1'] },
      { action: 'retry' },
      { action: 'retry', run_ids: ['x1'], filter: {} },
      { action: 'retry', run_ids: [] },
      { action: 'cancel', filter: { status: ['exploded'] } },
    ]) {
      const res = await request(sys.url).post('/api/jobs/runs/bulk').set(admin).send(body);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_body');
    }
    const viewer = await request(sys.url)
      .post('/api/jobs/runs/bulk')
      .set({ Authorization: `Bearer ${VIEWER}` })
      .send({ action: 'cancel', run_ids: ['bf1'] });
    expect(viewer.status).toBe(403);
    expect(viewer.body.error).toBe('forbidden_role');
    expect((await request(sys.url).get('/api/jobs/runs/bulk/b0000000000000000').set(admin)).status).toBe(404);
  });

  it('a resumed retry counts the run its dead predecessor was handling as done, not as refused', async () => {
    const t = Date.now();
    await seedRuns(sys.store, [
      { run_id: 'bi1', job_id: 'boom_job', status: 'failed', created_ms: t - 100, error: 'x' },
      { run_id: 'bi2', job_id: 'boom_job', status: 'failed', created_ms: t - 100, error: 'x' },
    ]);
    // bi1: the dead process retried it, then died before it counted it (its state still names bi1 in flight).
    // bi2: someone else retried it meanwhile.
    await sys.service.retry('bi1', { triggered_by: 'api:ci' });
    await sys.service.retry('bi2', { triggered_by: 'api:admin' });
    await sys.stop();
    const redis = testRedis();
    await new RedisBulkStore(redis, prefix).save({
      bulk_id: 'b00000000000000bb',
      action: 'retry',
      by: { name: 'ci', role: 'operator', via: 'api' },
      run_ids: ['bi1', 'bi2'],
      status: 'running',
      matched: 2,
      done: 0,
      refused: 0,
      reasons: {},
      started_at: new Date().toISOString(),
      finished_at: null,
      chunk: ['bi1', 'bi2'],
      chunk_pos: 0,
      next: 2,
      cursor: null,
      exhausted: false,
      inflight: 'bi1',
    });
    await redis.quit();
    sys = await startTestSystem(env);
    expect(await progress('b00000000000000bb')).toMatchObject({
      status: 'done',
      done: 1,
      refused: 1,
      reasons: { run_already_retried: 1 },
    });
    // Still one retry each.
    const retries = (await sys.store.list({ job_id: 'boom_job', limit: 200 })).runs.filter(
      (r) => r.retry_of === 'bi1' || r.retry_of === 'bi2',
    );
    expect(retries.map((r) => r.retry_of).sort()).toEqual(['bi1', 'bi2']);
  });

  it('survives an API restart: an unfinished bulk action resumes where it stopped', async () => {
    const t = Date.now();
    await seedRuns(sys.store, [
      { run_id: 'bp2', job_id: 'chatty_job', status: 'pending', created_ms: t - 100 },
      { run_id: 'bp3', job_id: 'chatty_job', status: 'completed', created_ms: t - 100 },
    ]);
    await sys.stop();
    // What a process that died after handling the first of three runs leaves in Redis.
    const redis = testRedis();
    const state: BulkState = {
      bulk_id: 'b00000000000000aa',
      action: 'cancel',
      by: { name: 'ci', role: 'operator', via: 'api' },
      run_ids: ['bp1', 'bp2', 'bp3'],
      status: 'running',
      matched: 3,
      done: 1,
      refused: 0,
      reasons: {},
      started_at: new Date().toISOString(),
      finished_at: null,
      chunk: ['bp1', 'bp2', 'bp3'],
      chunk_pos: 1,
      next: 3,
      cursor: null,
      exhausted: false,
    };
    await new RedisBulkStore(redis, prefix).save(state);
    await redis.quit();
    sys = await startTestSystem(env);
    const done = await progress('b00000000000000aa');
    expect(done).toMatchObject({
      status: 'done',
      matched: 3,
      done: 2,
      refused: 1,
      reasons: { run_not_active: 1 },
    });
    expect((await sys.store.get('bp2'))?.status).toBe('cancelled');
  });
});
