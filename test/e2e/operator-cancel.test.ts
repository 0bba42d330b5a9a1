/**
 * #12 cancel: a pending run is removed from its queue and recorded cancelled by the API process; a running
 * run is cancelled across TWO worker processes (child processes, pub/sub), whichever of them runs it: each
 * worker takes one run at a time, so two long runs land on different processes, and the cancel requests go
 * through the API of this process, which runs no worker.
 */
import request from 'supertest';
import type { JobRun } from '../../src/monitor/run';
import { killAllRoles, PROCESS_JOBS_YML, spawnRole } from '../helpers/processes';
import { REDIS_URL, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem, tempYaml, uniquePrefixFor } from '../helpers/system';

jest.setTimeout(120_000);

const YML = `${PROCESS_JOBS_YML}  - { job_id: wait_job, name: Wait, category: test, callback_name: cancellable, queue: tq }\n`;
const prefix = uniquePrefixFor('cancel');
const jobsFile = tempYaml(YML);
const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };
let sys: TestSystem;

beforeAll(async () => {
  // This process: the API and the tracker, no worker (so a triggered run stays pending until workers start).
  sys = await startTestSystem({ QUEUE_PREFIX: prefix, ROLES: 'api,monitor' }, { jobsYml: YML });
});
afterAll(async () => {
  await killAllRoles();
  await sys?.cleanup();
});

const runOf = (id: string) => sys.store.get(id) as Promise<JobRun>;
const until = (id: string, status: string) =>
  waitFor(async () => ((await runOf(id))?.status === status ? runOf(id) : null), 60_000);

describe('POST /api/jobs/runs/{run_id}/cancel', () => {
  it('pending: the job leaves the queue and the run is cancelled at once; a second cancel is 409', async () => {
    const trig = await request(sys.url).post('/api/jobs/quick_job/trigger').set(bearer).expect(202);
    const id = trig.body.run_id as string;
    const res = await request(sys.url).post(`/api/jobs/runs/${id}/cancel`).set(bearer);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ run_id: id, status: 'cancelled' });
    expect(await runOf(id)).toMatchObject({ status: 'cancelled' });
    expect((await runOf(id)).error_message).toMatch(/^cancelled: cancelled by api:admin/);
    expect(await sys.queues.get('tq').getJob(id)).toBeUndefined();
    const again = await request(sys.url).post(`/api/jobs/runs/${id}/cancel`).set(bearer);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: 'run_not_active', status: 'cancelled' });
  });

  it('running, across two worker processes: honouring and ignoring processors both end cancelled', async () => {
    // The process whose API takes the cancel requests runs no worker: the request must cross processes.
    expect(sys.workers).toBeUndefined();
    const env = {
      ROLES: 'worker',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      JOBS_CONFIG: jobsFile,
      // One run at a time each: two long runs can only run on two different processes.
      WORKER_CONCURRENCY: '1',
    };
    const [w1, w2] = await Promise.all([spawnRole(env), spawnRole(env)]);
    expect(w1.worker).not.toBe(w2.worker);

    // Honours the signal: ends at once.
    const waits = await Promise.all(
      [1, 2].map(() => sys.service.enqueueDynamic('wait_job', { ms: 60_000 }, { user_id: 'u1' })),
    );
    const running = await Promise.all(waits.map((w) => until(w.run_id, 'running')));
    // Both workers took one.
    expect(new Set(running.map((r) => r!.worker))).toEqual(new Set([w1.worker, w2.worker]));
    for (const w of waits) {
      const res = await request(sys.url).post(`/api/jobs/runs/${w.run_id}/cancel`).set(bearer);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ run_id: w.run_id, status: 'cancelling' });
    }
    for (const [i, w] of waits.entries()) {
      const ended = await until(w.run_id, 'cancelled');
      expect(ended!.error_message).toMatch(/cancelled by api:admin/);
      expect(ended!.result).toBeNull();
      // Ended on the worker that ran it (its own process aborted it).
      expect(ended!.worker).toBe(running[i]!.worker);
    }

    // Ignores the signal (slow_job runs to its end): recorded cancelled when it returns, result not taken.
    const slow = await request(sys.url).post('/api/jobs/slow_job/trigger').set(bearer).expect(202);
    await until(slow.body.run_id, 'running');
    await request(sys.url).post(`/api/jobs/runs/${slow.body.run_id}/cancel`).set(bearer).expect(202);
    const ended = await until(slow.body.run_id, 'cancelled');
    expect(ended!.result).toBeNull();
    expect(ended!.status).toBe('cancelled');
  });
});
