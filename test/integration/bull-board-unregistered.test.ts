/**
 * Issue 11 item 6: Bull Board cannot put jobs in a queue past the API (its add, run-scheduler and edit routes answer 403, the rest
 * of Bull Board still works), and a job whose name is not in the registry, however it got into the queue,
 * is recorded, counted and alerted as `unregistered`, never under its own name.
 */
import { eventToUpdate, UNREGISTERED_JOB_ID } from '../../src/monitor/lifecycle';
import { login } from '../helpers/dashboard';
import { waitFor } from '../helpers/redis';
import { jobSnapshot } from '../helpers/scripted-source';
import { startTestSystem, TEST_TOKEN, type TestSystem, tempYaml } from '../helpers/system';

jest.setTimeout(60_000);

const HOSTILE_NAME = '<img src=x onerror=alert(1)>';
let sys: TestSystem;
let session: { cookie: string; csrf: string };

/** Every failure alerts (no cooldown), and the message names the run, as an operator's template may. */
const ALERTS_YML = `
channels:
  log: {}
alerts:
  - name: job_failure_alert
    event_pattern: "job_failed"
    severity: error
    cooldown_seconds: 0
    message: "Job {job_id} failed (run {run_id}): {error}"
    channels: [log]
`;

beforeAll(async () => {
  sys = await startTestSystem({
    JOB_ATTEMPTS: '1',
    JOBS_STUCK_MONITOR_INTERVAL_SECS: '30',
    ALERTS_CONFIG: tempYaml(ALERTS_YML, 'alerts.yml'),
  });
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

  it("refuses running a scheduler now, scheduler edits and removal, and changing a job's delay or priority", async () => {
    const q = sys.queues.get('tq');
    // A schedule whose next run is far away: any job that appears came from a Bull Board route.
    const YEARLY = '0 0 1 1 *';
    await q.upsertJobScheduler(
      'quick_job',
      { pattern: YEARLY },
      { name: 'quick_job', data: { payload: {} } },
    );
    const delayed = await q.add('quick_job', { payload: {} }, { jobId: 'bb-delayed', delay: 3_600_000 });
    const before = await q.getJobCounts();
    const attempts: [string, string, unknown?][] = [
      ['PUT', '/api/queues/tq/job-schedulers/quick_job/run'],
      ['PUT', '/API/queues/tq/job-schedulers/quick_job/RUN/'],
      ['PUT', '/api/queues/tq/job-schedulers/quick_job/remove'],
      ['PATCH', '/api/queues/tq/job-schedulers/quick_job', { every: 1000 }],
      ['PATCH', '/api/queues/tq/bb-delayed/delay', { runAt: Date.now() }],
      ['PATCH', '/api/queues/tq/bb-delayed/priority', { priority: 1 }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await board(path, method, body);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
      expect(await res.json()).toMatchObject({ error: 'bull_board_forbidden' });
    }
    expect(await q.getJobCounts()).toEqual(before);
    const job = await q.getJob(delayed.id!);
    expect(await job!.getState()).toBe('delayed');
    expect(job!).toMatchObject({ delay: 3_600_000, priority: 0 });
    expect(await q.getJobScheduler('quick_job')).toMatchObject({ pattern: YEARLY });
    await q.removeJobScheduler('quick_job');
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
    const alert = await waitFor(
      () =>
        sys.logs.lines.find((l) => l.msg === 'alert_fired' && String(l.text).includes('hostile-1')) ?? null,
    );
    expect(String(alert?.text)).toContain('unregistered');
    const metrics = await (
      await fetch(`${sys.url}/metrics`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } })
    ).text();
    expect(metrics).toContain('job_id="unregistered"');
    expect(metrics).not.toContain('onerror');
    expect(sys.logs.raw.join('')).not.toContain('onerror');
  });

  it("a hostile BullMQ job id (and name) never reaches a run's job_id, a metrics label or an alert as-is", async () => {
    const hostileId = '<svg onload=alert(2)>';
    const job = await sys.queues.get('tq').add(HOSTILE_NAME, { payload: {} }, { jobId: hostileId });
    const run = await waitFor(async () => {
      const r = await sys.store.get(job.id as string);
      return r?.status === 'failed' ? r : null;
    });
    expect(run).toMatchObject({ run_id: hostileId, job_id: UNREGISTERED_JOB_ID });
    // The alert names the run percent-encoded: the id the run link carries, inert in Slack, HTML or a log viewer.
    const alert = await waitFor(
      () => sys.logs.lines.find((l) => l.msg === 'alert_fired' && String(l.text).includes('svg')) ?? null,
    );
    expect(alert!.text).toBe(
      `Job unregistered failed (run ${encodeURIComponent(hostileId)}): ${run!.error_message}`,
    );
    expect(String(alert!.text)).not.toMatch(/[<>]|onerror/);
    const metrics = await (
      await fetch(`${sys.url}/metrics`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } })
    ).text();
    expect(metrics).not.toMatch(/<svg|onload|onerror/);
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
