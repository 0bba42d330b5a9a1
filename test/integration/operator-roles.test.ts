import request from 'supertest';
import { login, seedRuns } from '../helpers/dashboard';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

const VIEWER = 'viewer-token-0123456789abcdef';
const OPERATOR = 'operator-token-0123456789abcdef';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ API_TOKENS: `grafana:viewer:${VIEWER}, ci:operator:${OPERATOR}` });
  await seedRuns(sys.store, [
    { run_id: 'rf1', job_id: 'boom_job', status: 'failed', created_ms: Date.now() - 1000, error: 'x' },
  ]);
});
afterAll(() => sys.cleanup());

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

describe('named tokens and roles', () => {
  it('a viewer token reads but may not trigger or retry (403 forbidden_role)', async () => {
    expect((await request(sys.url).get('/api/jobs').set(bearer(VIEWER))).status).toBe(200);
    const trig = await request(sys.url).post('/api/jobs/quick_job/trigger').set(bearer(VIEWER));
    expect(trig.status).toBe(403);
    expect(trig.body).toMatchObject({ error: 'forbidden_role', required_role: 'operator', role: 'viewer' });
    const retry = await request(sys.url).post('/api/jobs/runs/rf1/retry').set(bearer(VIEWER));
    expect(retry.body.error).toBe('forbidden_role');
  });

  it('an operator token triggers; the run says who: api:<token name>', async () => {
    const trig = await request(sys.url).post('/api/jobs/chatty_job/trigger').set(bearer(OPERATOR));
    expect(trig.status).toBe(202);
    const run = await request(sys.url).get(`/api/jobs/runs/${trig.body.run_id}`).set(bearer(VIEWER));
    expect(run.body.run.triggered_by).toBe('api:ci');
  });

  it('DB_HEALTH_TOKEN is the admin token named admin', async () => {
    const trig = await request(sys.url).post('/api/jobs/chatty_job/trigger').set(bearer(TEST_TOKEN));
    expect(trig.status).toBe(202);
    const run = await request(sys.url).get(`/api/jobs/runs/${trig.body.run_id}`).set(bearer(TEST_TOKEN));
    expect(run.body.run.triggered_by).toBe('api:admin');
  });

  it('a wrong token is still 403 forbidden and is never echoed', async () => {
    const res = await request(sys.url).get('/api/jobs').set(bearer('nope-nope-nope-nope-nope'));
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('forbidden');
    expect(sys.logs.raw.join('')).not.toContain(OPERATOR);
  });

  it('dashboard sessions carry the token name and role', async () => {
    const viewer = await login(sys.url, VIEWER);
    const page = await request(sys.url).get('/jobs/monitor').set('Cookie', viewer.cookie);
    expect(page.text).toContain('data-role="viewer"');
    expect(page.text).toContain('<span class="data">grafana</span> · <span class="role">viewer</span>');
    const refused = await request(sys.url)
      .post('/api/jobs/chatty_job/trigger')
      .set('Cookie', viewer.cookie)
      .set('X-CSRF-Token', viewer.csrf);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('forbidden_role');

    const op = await login(sys.url, OPERATOR);
    const ok = await request(sys.url)
      .post('/api/jobs/chatty_job/trigger')
      .set('Cookie', op.cookie)
      .set('X-CSRF-Token', op.csrf);
    expect(ok.status).toBe(202);
    const run = await request(sys.url).get(`/api/jobs/runs/${ok.body.run_id}`).set(bearer(VIEWER));
    expect(run.body.run.triggered_by).toBe('dashboard:ci');
  });
});
