/**
 * Issue 11 item 6: Bull Board cannot put jobs in a queue past the API (its add-job route answers 403, the rest
 * of Bull Board still works), and a job whose name is not in the registry, however it got into the queue,
 * is recorded, counted and alerted as `unregistered`, never under its own name.
 */
import { eventToUpdate, UNREGISTERED_JOB_ID } from '../../src/monitor/lifecycle';
import { login } from '../helpers/dashboard';
import { waitFor } from '../helpers/redis';
import { jobSnapshot } from '../helpers/scripted-source';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

const HOSTILE_NAME = '<img src=x onerror=alert(1)>';
let sys: TestSystem;
let session: { cookie: string; csrf: string };

beforeAll(async () => {
  sys = await startTestSystem({ JOB_ATTEMPTS: '1', JOBS_STUCK_MONITOR_INTERVAL_SECS: '30' });
  session = await login(sys.url);
});
afterAll(() => sys?.cleanup());

/** A same-origin request from the signed-in browser to Bull Board. */
const board = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${sys.url}/jobs/queues${path}`, {
    method,
    headers: {
      cookie: session.cookie,
      origin: sys.url,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe('Bull Board add-job route', () => {
  it('answers 403 however the path is spelled, and nothing is enqueued', async () => {
    const before = await sys.queues.get('tq').getJobCounts();
    for (const path of ['/api/queues/tq/add', '/API/Queues/tq/ADD', '/api/queues/tq/add/']) {
      const res = await board(path, 'POST', { name: 'dyn_job', data: { payload: 1 }, options: {} });
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      expect(await res.json()).toMatchObject({ error: 'bull_board_forbidden' });
    }
    const res = await board('/api/queues/tq/anything/update-data', 'PATCH', { data: { x: 1 } });
    expect(res.status).toBe(403);
    expect(await sys.queues.get('tq').getJobCounts()).toEqual(before);
  });

  it('keeps the rest of Bull Board working (queue list, pause and resume)', async () => {
    const list = await board('/api/queues');
    expect(list.status).toBe(200);
    expect(JSON.stringify(await list.json())).toContain('"tq"');
    expect((await board('/api/queues/tq/pause', 'PUT')).status).toBe(200);
    expect(await sys.queues.get('tq').isPaused()).toBe(true);
    expect((await board('/api/queues/tq/resume', 'PUT')).status).toBe(200);
    expect(await sys.queues.get('tq').isPaused()).toBe(false);
  });
});

describe('a job name not in the registry', () => {
  it('becomes a failed run of `unregistered`, in runs, metrics and alerts', async () => {
    const job = await sys.queues.get('tq').add(HOSTILE_NAME, { payload: {} }, { jobId: 'hostile-1' });
    const run = await waitFor(async () => {
      const r = await sys.store.get(job.id as string);
      return r?.status === 'failed' ? r : null;
    });
    expect(run?.job_id).toBe(UNREGISTERED_JOB_ID);
    expect(run?.error_message).not.toContain('onerror');
    const alert = await waitFor(() => sys.logs.lines.find((l) => l.msg === 'alert_fired') ?? null);
    expect(String(alert?.text)).toContain('unregistered');
    const metrics = await (
      await fetch(`${sys.url}/metrics`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } })
    ).text();
    expect(metrics).toContain('job_id="unregistered"');
    expect(metrics).not.toContain('onerror');
    expect(sys.logs.raw.join('')).not.toContain('onerror');
  });

  it('a registry name on a queue that is not its own is unregistered too', () => {
    const ev = { queue: 'other', id: '1700000000000-0', event: 'added', jobId: 'j1', args: {} };
    const snap = jobSnapshot({ name: 'quick_job' });
    const isRegistered = (id: string, queue: string) => id === 'quick_job' && queue === 'tq';
    expect(eventToUpdate(ev, snap, undefined, isRegistered)?.identity.job_id).toBe('unregistered');
    expect(eventToUpdate({ ...ev, queue: 'tq' }, snap, undefined, isRegistered)?.identity.job_id).toBe(
      'quick_job',
    );
  });
});
