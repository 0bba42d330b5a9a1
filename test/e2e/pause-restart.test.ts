/**
 * #12 pause holds across processes and a restart of every role: the scheduler, the worker and the API (with the
 * monitor) run as separate child processes; a job paused through the API stays paused after all of them are
 * killed (SIGKILL) and started again — its schedule makes no runs while the same schedule of another job does,
 * and a trigger answers 409 job_paused.
 */
import request from 'supertest';
import type { JobRun } from '../../src/monitor/run';
import { killAllRoles, type RoleProcess, spawnRole } from '../helpers/processes';
import { REDIS_URL, testRedis, waitFor } from '../helpers/redis';
import { deletePrefix } from '../helpers/redis';
import { TEST_TOKEN, tempYaml, uniquePrefixFor } from '../helpers/system';

jest.setTimeout(150_000);

const YML = `
jobs:
  - { job_id: tick_job, name: Tick, category: t, job_type: repeating, interval_seconds: 1, enabled: true, callback_name: quick, queue: tq }
  - { job_id: tock_job, name: Tock, category: t, job_type: repeating, interval_seconds: 1, enabled: true, callback_name: quick, queue: tq }
`;
const prefix = uniquePrefixFor('pausefleet');
const env = { REDIS_URL, QUEUE_PREFIX: prefix, JOBS_CONFIG: tempYaml(YML) };
const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };

afterAll(async () => {
  await killAllRoles();
  const redis = testRedis();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** Every role, each in its own process; returns the API's base URL. */
async function fleet(): Promise<{ url: string; procs: RoleProcess[] }> {
  const procs = await Promise.all([
    spawnRole({ ...env, ROLES: 'scheduler' }),
    spawnRole({ ...env, ROLES: 'worker' }),
    spawnRole({ ...env, ROLES: 'api,monitor' }),
  ]);
  return { url: `http://127.0.0.1:${procs[2].port}`, procs };
}

const runsOf = async (url: string, jobId: string, sinceMs: number) =>
  (
    await request(url)
      .get(`/api/jobs/runs?job_id=${jobId}&since=${sinceMs}&limit=200`)
      .set(bearer)
      .expect(200)
  ).body.runs as JobRun[];

describe('pause across processes and restarts', () => {
  it('a paused job stays paused after every role is killed and started again', async () => {
    const t0 = Date.now();
    const first = await fleet();
    // Both schedules run.
    await waitFor(async () => (await runsOf(first.url, 'tick_job', t0)).length >= 1, 60_000, 200);
    const paused = await request(first.url).post('/api/jobs/tick_job/pause').set(bearer);
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ job_id: 'tick_job', paused: true, paused_by: 'api:admin' });

    // Every process dies at once, without a chance to clean up.
    await Promise.all(first.procs.map((p) => p.stop('SIGKILL')));
    const restarted = Date.now();
    const second = await fleet();

    // The other job's identical schedule makes runs again: the scheduler and the worker are up.
    const tocks = await waitFor(
      async () => {
        const runs = await runsOf(second.url, 'tock_job', restarted);
        return runs.filter((r) => r.status === 'completed').length >= 3 ? runs : null;
      },
      60_000,
      200,
    );
    expect(tocks).toBeTruthy();
    // The paused one made none since the restart, and says it is paused.
    expect(await runsOf(second.url, 'tick_job', restarted)).toEqual([]);
    const listed = (await request(second.url).get('/api/jobs').set(bearer)).body.jobs.find(
      (j: { job_id: string }) => j.job_id === 'tick_job',
    );
    expect(listed).toMatchObject({ paused: true, paused_by: 'api:admin', paused_at: paused.body.paused_at });
    const trig = await request(second.url).post('/api/jobs/tick_job/trigger').set(bearer);
    expect(trig.status).toBe(409);
    expect(trig.body).toMatchObject({ error: 'job_paused', paused_by: 'api:admin' });

    // Resumed: its schedule comes back.
    const resumedAt = Date.now();
    await request(second.url).post('/api/jobs/tick_job/resume').set(bearer).expect(200);
    const ticks = await waitFor(
      async () => (await runsOf(second.url, 'tick_job', resumedAt)).length >= 1,
      60_000,
      200,
    );
    expect(ticks).toBe(true);
  });
});
