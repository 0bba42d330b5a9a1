/**
 * #12 cancel never undoes a run that already ended: the store may still say `running` (its worker's write is on
 * the way) while the BullMQ job is completed; cancel must leave that job and its run alone. Only a job still
 * waiting (wait, delayed, prioritized) is taken out of its queue. Real Redis, a raw BullMQ worker finishing the
 * job behind the store's back.
 */
import { Worker } from 'bullmq';
import request from 'supertest';
import type { JobRun } from '../../src/monitor/run';
import { seedRuns } from '../helpers/dashboard';
import { testRedis, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };
let sys: TestSystem;
const redis = testRedis();
beforeAll(async () => {
  // API only: nothing here runs or records jobs.
  sys = await startTestSystem({ ROLES: 'api' });
});
afterAll(async () => {
  await sys?.cleanup();
  await redis.quit();
});

const runOf = (id: string) => sys.store.get(id) as Promise<JobRun>;

describe('cancel and a run that just finished', () => {
  it('a completed job whose run the store still has as running is not removed nor marked cancelled', async () => {
    const q = sys.queues.get('tq');
    await seedRuns(sys.store, [
      { run_id: 'mdone000001', job_id: 'quick_job', status: 'running', created_ms: Date.now() },
    ]);
    await q.add('quick_job', { trigger: 'manual', payload: null }, { jobId: 'mdone000001' });
    // A worker the system does not know finishes it: BullMQ says completed, the store still says running.
    const worker = new Worker('tq', async () => ({ ok: true }), { connection: redis, prefix: q.opts.prefix });
    try {
      await waitFor(async () => (await q.getJobState('mdone000001')) === 'completed', 20_000);
    } finally {
      await worker.close();
    }
    expect((await runOf('mdone000001')).status).toBe('running');

    const res = await request(sys.url).post('/api/jobs/runs/mdone000001/cancel').set(bearer);
    expect(res.status).toBe(202);
    // Not removed as if it were waiting: left to its worker's record (a cancel request goes out, nobody has it).
    expect(res.body).toEqual({ run_id: 'mdone000001', status: 'cancelling' });
    expect(await q.getJobState('mdone000001')).toBe('completed');
    expect((await q.getJob('mdone000001'))?.returnvalue).toEqual({ ok: true });
    expect((await runOf('mdone000001')).status).toBe('running');
  });

  it('a job still waiting — delayed, prioritized or in wait — is taken out and its run cancelled', async () => {
    const q = sys.queues.get('tq');
    const now = Date.now();
    await seedRuns(sys.store, [
      { run_id: 'mdelayed0001', job_id: 'chatty_job', status: 'pending', created_ms: now },
      { run_id: 'mprio0000001', job_id: 'chatty_job', status: 'pending', created_ms: now },
      { run_id: 'mwait0000001', job_id: 'chatty_job', status: 'pending', created_ms: now },
    ]);
    await q.add('chatty_job', { trigger: 'manual' }, { jobId: 'mdelayed0001', delay: 60_000 });
    await q.add('chatty_job', { trigger: 'manual' }, { jobId: 'mprio0000001', priority: 3 });
    await q.add('chatty_job', { trigger: 'manual' }, { jobId: 'mwait0000001' });
    expect(await q.getJobState('mdelayed0001')).toBe('delayed');
    expect(await q.getJobState('mprio0000001')).toBe('prioritized');
    expect(await q.getJobState('mwait0000001')).toBe('waiting');
    for (const id of ['mdelayed0001', 'mprio0000001', 'mwait0000001']) {
      const res = await request(sys.url).post(`/api/jobs/runs/${id}/cancel`).set(bearer);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ run_id: id, status: 'cancelled' });
      expect(await q.getJob(id)).toBeUndefined();
      expect((await runOf(id)).status).toBe('cancelled');
    }
    const counts = await q.getJobCounts('waiting', 'delayed', 'prioritized');
    expect(counts).toEqual({ waiting: 0, delayed: 0, prioritized: 0 });
  });
});
