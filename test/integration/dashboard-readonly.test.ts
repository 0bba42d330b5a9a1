import request from 'supertest';
import { login, seedRuns } from '../helpers/dashboard';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ DASHBOARD_READ_ONLY: 'true' });
  await seedRuns(sys.store, [
    { run_id: 'f1', job_id: 'quick_job', status: 'failed', created_ms: Date.now() - 1000, error: 'x' },
  ]);
});
afterAll(() => sys.cleanup());

describe('DASHBOARD_READ_ONLY=true', () => {
  it('refuses trigger and retry with 403 read_only, with the token or the session', async () => {
    const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };
    const trig = await request(sys.url).post('/api/jobs/quick_job/trigger').set(bearer);
    expect(trig.status).toBe(403);
    expect(trig.body.error).toBe('read_only');
    const retry = await request(sys.url).post('/api/jobs/runs/f1/retry').set(bearer);
    expect(retry.body.error).toBe('read_only');
    const s = await login(sys.url);
    const viaPage = await request(sys.url)
      .post('/api/jobs/quick_job/trigger')
      .set('Cookie', s.cookie)
      .set('X-CSRF-Token', s.csrf);
    expect(viaPage.body.error).toBe('read_only');
    // Reads still work.
    expect((await request(sys.url).get('/api/jobs/runs/f1').set(bearer)).status).toBe(200);
  });

  it('tells the page and Bull Board to hide trigger and retry', async () => {
    const s = await login(sys.url);
    const page = await request(sys.url).get('/jobs/monitor').set('Cookie', s.cookie);
    expect(page.text).toContain('data-read-only="true"');
    expect(page.text).toContain('read-only</span>');
    const qs = await request(sys.url).get('/jobs/queues/api/queues').set('Cookie', s.cookie);
    expect(qs.body.queues.length).toBeGreaterThan(0);
    for (const q of qs.body.queues) expect(q).toMatchObject({ readOnlyMode: true, allowRetries: false });
  });
});
