import request from 'supertest';
import { startTestSystem, TEST_TOKEN, type TestSystem, uniquePrefixFor } from '../helpers/system';

jest.setTimeout(90_000);

const OPERATOR = 'operator-token-0123456789abcdef';
const admin = { Authorization: `Bearer ${TEST_TOKEN}` };
const operator = { Authorization: `Bearer ${OPERATOR}` };
const prefix = uniquePrefixFor('pause');
const env = { QUEUE_PREFIX: prefix, ROLES: 'api,scheduler', API_TOKENS: `ci:operator:${OPERATOR}` };

let sys: TestSystem;
afterAll(() => sys?.cleanup());

const schedulerIds = async (s: TestSystem) =>
  (await s.queues.get('tq').getJobSchedulers(0, -1)).map((j) => j.key).sort();
const listed = async (s: TestSystem, jobId: string) =>
  (await request(s.url).get('/api/jobs').set(operator)).body.jobs.find(
    (j: { job_id: string }) => j.job_id === jobId,
  );

describe('pause and resume a job', () => {
  it('admin only; paused: no schedule, triggers 409 job_paused, listed as paused; holds across a restart; resume restores', async () => {
    sys = await startTestSystem(env);
    expect(await schedulerIds(sys)).toContain('quick_job');

    const refused = await request(sys.url).post('/api/jobs/quick_job/pause').set(operator);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('forbidden_role');

    const paused = await request(sys.url).post('/api/jobs/quick_job/pause').set(admin);
    expect(paused.status).toBe(200);
    expect(paused.body).toEqual({
      job_id: 'quick_job',
      paused: true,
      paused_by: 'api:admin',
      paused_at: expect.any(String),
    });
    expect(await schedulerIds(sys)).not.toContain('quick_job');
    expect(await schedulerIds(sys)).toContain('counted_job');
    expect(await listed(sys, 'quick_job')).toMatchObject({ paused: true, paused_by: 'api:admin' });
    expect(await listed(sys, 'counted_job')).toMatchObject({ paused: false });
    const trig = await request(sys.url).post('/api/jobs/quick_job/trigger').set(operator);
    expect(trig.status).toBe(409);
    expect(trig.body).toMatchObject({ error: 'job_paused', paused_by: 'api:admin' });

    // A restart of every role (the scheduler syncs again on start): still paused, still no schedule.
    await sys.stop();
    sys = await startTestSystem(env);
    expect(await schedulerIds(sys)).not.toContain('quick_job');
    expect(await listed(sys, 'quick_job')).toMatchObject({ paused: true, paused_at: paused.body.paused_at });
    expect((await request(sys.url).post('/api/jobs/quick_job/trigger').set(operator)).status).toBe(409);

    const resumed = await request(sys.url).post('/api/jobs/quick_job/resume').set(admin);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toEqual({ job_id: 'quick_job', paused: false, paused_by: null, paused_at: null });
    expect(await schedulerIds(sys)).toContain('quick_job');
    expect(await listed(sys, 'quick_job')).toMatchObject({ paused: false });
    expect((await request(sys.url).post('/api/jobs/quick_job/trigger').set(operator)).status).toBe(202);

    const audit = (await request(sys.url).get('/api/jobs/audit?limit=10').set(admin)).body.entries;
    expect(audit.map((e: { action: string; outcome: string }) => `${e.action} ${e.outcome}`)).toEqual(
      expect.arrayContaining(['pause ok', 'resume ok', 'pause refused']),
    );
    // The operator's refused pause names the job it was for, and why.
    expect(audit).toContainEqual(
      expect.objectContaining({
        action: 'pause',
        outcome: 'refused',
        code: 'forbidden_role',
        job_id: 'quick_job',
        role: 'operator',
      }),
    );
  });

  it('404 for an unknown job', async () => {
    const res = await request(sys.url).post('/api/jobs/no_such_job/pause').set(admin);
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('job_not_found');
  });
});
