/** `GET /api/jobs/:job_id/trends` on the Redis store: 24 h and 7 d numbers and the 7-day duration series. */
import request from 'supertest';
import { seedRuns } from '../helpers/dashboard';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);
const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };
const HOUR = 3_600_000;
const MINUTE = 60_000;
const BUSY = 520;

let sys: TestSystem;
const now = Date.now();
beforeAll(async () => {
  sys = await startTestSystem();
  // Last 24 h: 10 runs (durations 100..1000 ms, 2 failed). Days 2-6: 10 more (2000 ms, 5 failed). Day 9: 1 (outside).
  await seedRuns(sys.store, [
    ...Array.from({ length: 10 }, (_, i) => ({
      run_id: `day-${i}`,
      job_id: 'quick_job',
      status: (i < 2 ? 'failed' : 'completed') as 'failed' | 'completed',
      created_ms: now - (i + 1) * HOUR,
      duration_ms: (i + 1) * 100,
    })),
    ...Array.from({ length: 10 }, (_, i) => ({
      run_id: `week-${i}`,
      job_id: 'quick_job',
      status: (i % 2 ? 'failed' : 'completed') as 'failed' | 'completed',
      created_ms: now - (2 + (i % 5)) * 24 * HOUR,
      duration_ms: 2000,
    })),
    {
      run_id: 'old',
      job_id: 'quick_job',
      status: 'completed',
      created_ms: now - 9 * 24 * HOUR,
      duration_ms: 99_000,
    },
    // A busy job: 500 runs of 1 s every 5 minutes (the last ~42 h), and 20 runs of 60 s five days ago.
    ...Array.from({ length: BUSY }, (_, i) => ({
      run_id: `busy-${i}`,
      job_id: 'chatty_job',
      status: 'completed' as const,
      created_ms: i < 500 ? now - (i + 1) * 5 * MINUTE : now - 5 * 24 * HOUR - i * MINUTE,
      duration_ms: i < 500 ? 1000 : 60_000,
    })),
  ]);
});
afterAll(() => sys.cleanup());

it('answers run count, failure rate and p50/p95/p99 per window, and the durations oldest first', async () => {
  const res = await request(sys.url).get('/api/jobs/quick_job/trends').set(bearer);
  expect(res.status).toBe(200);
  const { windows, series, job_id } = res.body.trends;
  expect(job_id).toBe('quick_job');
  expect(windows['24h']).toMatchObject({
    total: 10,
    failed: 2,
    failure_rate: 0.2,
    duration_ms: { p50: 500, p95: 1000, p99: 1000, max: 1000, sample: 10, covers_window: true },
  });
  expect(windows['7d']).toMatchObject({
    total: 20,
    failed: 7,
    failure_rate: 0.35,
    duration_ms: { p50: 1000, p95: 2000, p99: 2000, sample: 20, sample_limit: 500, covers_window: true },
  });
  expect(windows['7d'].duration_ms.sample_since).toBe(new Date(now - 6 * 24 * HOUR).toISOString());
  expect(series).toHaveLength(20);
  expect(series.map((p: { run_id: string }) => p.run_id)).not.toContain('old');
  const times = series.map((p: { created_at: string }) => Date.parse(p.created_at));
  expect([...times].sort((a, b) => a - b)).toEqual(times);
  expect(series[series.length - 1]).toMatchObject({ run_id: 'day-0', status: 'failed', duration_ms: 100 });
});

it('404 job_not_found, 400 invalid_job_id, 401 without a token; the stats route answers p99 and failure_rate too', async () => {
  expect((await request(sys.url).get('/api/jobs/nope_job/trends').set(bearer)).body.error).toBe(
    'job_not_found',
  );
  expect((await request(sys.url).get('/api/jobs/Bad-Id/trends').set(bearer)).body.error).toBe(
    'invalid_job_id',
  );
  expect((await request(sys.url).get('/api/jobs/quick_job/trends')).status).toBe(401);
  const stats = await request(sys.url).get('/api/jobs/quick_job/stats?window=24h').set(bearer);
  expect(stats.body.stats).toMatchObject({ failure_rate: 0.2, duration_ms: { p99: 1000 } });
});

it('says when the percentiles cover only the newest 500 runs of a busy window, and since when', async () => {
  const res = await request(sys.url).get('/api/jobs/chatty_job/trends').set(bearer);
  expect(res.status).toBe(200);
  const { windows, series } = res.body.trends;
  // 24 h: 287 runs, all in the sample.
  expect(windows['24h']).toMatchObject({ total: 287, duration_ms: { sample: 287, covers_window: true } });
  // 7 d: 520 runs counted, but durations only of the newest 500 (the 60 s ones, five days old, are not in it).
  expect(windows['7d'].total).toBe(BUSY);
  expect(windows['7d'].duration_ms).toEqual({
    p50: 1000,
    p95: 1000,
    p99: 1000,
    max: 1000,
    sample: 500,
    sample_limit: 500,
    sample_since: new Date(now - 500 * 5 * MINUTE).toISOString(),
    covers_window: false,
  });
  expect(series).toHaveLength(500);
  expect(series[0].created_at).toBe(windows['7d'].duration_ms.sample_since);
  const stats = await request(sys.url).get('/api/jobs/chatty_job/stats?window=7d').set(bearer);
  expect(stats.body.stats.duration_ms).toMatchObject({ sample: 500, covers_window: false });
});
