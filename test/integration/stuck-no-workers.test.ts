/**
 * #12 stuck visibility, `no_workers`: with the real stuck monitor on real Redis, a run pending on a queue no
 * worker reads is flagged at once (`GET /api/jobs/runs?stuck=true` lists it with its reason and since when), and
 * the flag goes away when a worker comes and the run ends.
 */
import request from 'supertest';
import type { JobRun } from '../../src/monitor/run';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem, uniquePrefixFor } from '../helpers/system';

jest.setTimeout(90_000);

const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };
const prefix = uniquePrefixFor('noworkers');
let api: TestSystem;
let worker: TestSystem | undefined;

beforeAll(async () => {
  // The API and the monitor, no worker: the deployment whose worker processes are all down.
  api = await startTestSystem({
    QUEUE_PREFIX: prefix,
    ROLES: 'api,monitor',
    JOBS_STUCK_MONITOR_INTERVAL_SECS: '0.3',
    // The default threshold (20 min) is far away: no_workers needs none.
    JOBS_STUCK_THRESHOLD_MINUTES: '20',
  });
});
afterAll(async () => {
  await worker?.stop();
  await api?.cleanup();
});

const stuckList = async () =>
  (await request(api.url).get('/api/jobs/runs?stuck=true').set(bearer).expect(200)).body.runs as JobRun[];
const runOf = async (id: string) =>
  (await request(api.url).get(`/api/jobs/runs/${id}`).set(bearer).expect(200)).body.run as JobRun;

describe('stuck reason no_workers', () => {
  it('flags a pending run of a queue without workers at once; the flag clears when the run ends', async () => {
    const before = Date.now();
    const trig = await request(api.url).post('/api/jobs/quick_job/trigger').set(bearer).expect(202);
    const id = trig.body.run_id as string;

    const listed = await waitFor(async () => (await stuckList()).find((r) => r.run_id === id), 30_000);
    expect(listed).toMatchObject({ run_id: id, status: 'pending', stuck: true, stuck_reason: 'no_workers' });
    const since = Date.parse(listed!.stuck_since!);
    expect(since).toBeGreaterThanOrEqual(before - 1000);
    expect(since).toBeLessThanOrEqual(Date.now());
    expect(await runOf(id)).toMatchObject({ stuck: true, stuck_reason: 'no_workers' });
    // Not among the runs not flagged.
    const notStuck = (await request(api.url).get('/api/jobs/runs?stuck=false').set(bearer)).body
      .runs as JobRun[];
    expect(notStuck.map((r) => r.run_id)).not.toContain(id);

    // A worker process starts on the same Redis: it runs the job, and the run ends unflagged.
    worker = await startTestSystem({ QUEUE_PREFIX: prefix, ROLES: 'worker' });
    const ended = await waitFor(async () => {
      const r = await runOf(id);
      return r.status === 'completed' ? r : null;
    }, 30_000);
    expect(ended).toMatchObject({ status: 'completed', stuck: false, stuck_reason: null, stuck_since: null });
    // Later scans leave it alone.
    const scans = () => api.logs.lines.filter((l) => l.msg === 'stuck_jobs_check').length;
    const seen = scans();
    await waitFor(() => scans() >= seen + 2, 20_000);
    expect((await stuckList()).map((r) => r.run_id)).not.toContain(id);
    expect((await runOf(id)).stuck).toBe(false);
  });
});
