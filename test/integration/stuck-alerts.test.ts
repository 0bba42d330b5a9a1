import type { Processor } from '../../src/workers/processor-context';
import { FakeHttp } from '../helpers/fake-http';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem, uniquePrefixFor } from '../helpers/system';

jest.setTimeout(90_000);

const THRESHOLD_S = 3;
const INTERVAL_S = 1;
const JOBS = `
jobs:
  - { job_id: hang_job, name: Hang, category: test, job_type: once, enabled: true, allow_concurrent: true, callback_name: hang, queue: hq, timeout_seconds: 120 }
dynamic_jobs:
  - { job_id: orphan_job, name: Orphan, category: test, callback_name: hang, queue: orphans }
`;

// Hanging runs end when the test releases them (or their signal aborts on shutdown).
const releases: (() => void)[] = [];
const hang: Processor = (ctx) =>
  new Promise((resolve) => {
    releases.push(() => resolve({ released: true }));
    ctx.signal.addEventListener('abort', () => resolve({ aborted: true }));
  });

const http = new FakeHttp();
let a: TestSystem;
let b: TestSystem;

beforeAll(async () => {
  await http.start();
  const prefix = uniquePrefixFor('stuck');
  const env = {
    QUEUE_PREFIX: prefix,
    JOBS_STUCK_THRESHOLD_MINUTES: String(THRESHOLD_S / 60),
    JOBS_STUCK_MONITOR_INTERVAL_SECS: String(INTERVAL_S),
    SLACK_WEBHOOK_URL: `${http.url}/slack`,
    TELEGRAM_BOT_TOKEN: '123456:TEST',
    TELEGRAM_ALERT_CHAT_IDS: '-1001,42',
    TELEGRAM_API_ROOT: http.url,
    WEBAPP_URL: 'https://jobs.example.test',
  };
  // Two processes playing the monitor role on the same Redis: one scans at a time, alerts go out once.
  a = await startTestSystem({ ...env, ROLES: 'api,worker,monitor' }, { jobsYml: JOBS, processors: { hang } });
  b = await startTestSystem({ ...env, ROLES: 'monitor' }, { jobsYml: JOBS, processors: { hang } });
});

afterAll(async () => {
  for (const r of releases.splice(0)) r();
  await b?.stop();
  await a?.cleanup();
  await http.stop();
});

const scans = () => [...a.logs.lines, ...b.logs.lines].filter((l) => l.msg === 'stuck_jobs_check');
const slackTexts = () => http.to('/slack').map((r) => String(r.body.text));

describe('stuck-job monitor', () => {
  it('sends exactly one stuck alert per run, with its text and link, to Slack and every Telegram chat', async () => {
    const { run_id } = await a.service.trigger('hang_job');
    const started = await waitFor(async () => (await a.store.get(run_id))?.started_at);
    expect(started).toBeTruthy();

    const alert = await waitFor(
      () => http.to('/slack').find((r) => String(r.body.text).includes(run_id)),
      30_000,
    );
    expect(alert).toBeDefined();
    const latencyMs = alert!.at - Date.parse(started as string);
    // Issue 5: within threshold + interval + 2 s of the run becoming stuck-eligible.
    expect(latencyMs).toBeLessThanOrEqual((THRESHOLD_S + INTERVAL_S + 2) * 1000);
    expect(String(alert!.body.text)).toMatch(
      new RegExp(
        `^\\*\\[CRITICAL\\]\\* ⚠️ Job hang_job has been stuck for [0-9.]+ minutes \\(running_too_long\\), run ${run_id}\\n`,
      ),
    );
    expect(String(alert!.body.text)).toContain(`https://jobs.example.test/jobs/monitor?run_id=${run_id}`);

    const telegram = await waitFor(
      () => (http.to('/bot123456:TEST/sendMessage').length >= 2 ? true : null),
      10_000,
    );
    expect(telegram).toBe(true);
    const chats = http.to('/bot123456:TEST/sendMessage').map((r) => String(r.body.chat_id));
    expect(chats.sort()).toEqual(['-1001', '42']);

    // Several more scans (by either monitor) send nothing new.
    const seen = scans().length;
    await waitFor(() => scans().length >= seen + 3, 20_000);
    expect(slackTexts().filter((t) => t.includes(run_id))).toHaveLength(1);
    expect(http.to('/bot123456:TEST/sendMessage')).toHaveLength(2);

    // One monitor holds the lock and does every scan; the other only finds the lock taken.
    const byA = a.logs.events().filter((m) => m === 'stuck_jobs_check').length;
    const byB = b.logs.events().filter((m) => m === 'stuck_jobs_check').length;
    expect(Math.min(byA, byB)).toBe(0);
    expect([...a.logs.events(), ...b.logs.events()]).toContain('stuck_jobs_check_skipped');
    expect(scans().at(-1)).toMatchObject({ scanned: 1, stuck: 1, reported: 0 });
  });

  it('exposes the stuck run in jobs_stuck and the active run in job_runs_active', async () => {
    const text = await waitFor(async () => {
      const res = await fetch(`${a.url}/metrics`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
      const body = await res.text();
      return /jobs_stuck\{job_id="hang_job"\} 1/.test(body) ? body : null;
    }, 15_000);
    expect(text).toMatch(/job_runs_active\{job_id="hang_job"\} 1/);
    expect(text).toMatch(/queue_jobs\{queue="hq",state="active"\} 1/);
    expect(text).toMatch(/alerts_sent_total\{rule="job_stuck_alert",channel="slack",outcome="sent"\} 1/);
    expect(text).toMatch(/alerts_sent_total\{rule="job_stuck_alert",channel="telegram",outcome="sent"\} 1/);
  });
});

describe('queue without workers', () => {
  let c: TestSystem;
  afterAll(() => c?.cleanup());

  it('reports a queue with waiting jobs and no worker once, and its run (once overdue) as no_workers', async () => {
    // A deployment whose worker processes are all down: api and monitor only.
    c = await startTestSystem(
      {
        ROLES: 'api,monitor',
        JOBS_STUCK_THRESHOLD_MINUTES: String(THRESHOLD_S / 60),
        JOBS_STUCK_MONITOR_INTERVAL_SECS: String(INTERVAL_S),
        SLACK_WEBHOOK_URL: `${http.url}/slack`,
      },
      { jobsYml: JOBS, processors: { hang } },
    );
    const cScans = () => c.logs.lines.filter((l) => l.msg === 'stuck_jobs_check');
    const { run_id } = await c.service.enqueueDynamic('orphan_job', {});
    const noWorkers = await waitFor(() => slackTexts().find((t) => t.includes('Queue orphans')), 30_000);
    expect(noWorkers).toBe('*[CRITICAL]* 🚨 Queue orphans has 1 waiting job(s) and no live worker');
    const notPicked = await waitFor(() => slackTexts().find((t) => t.includes(run_id)), 30_000);
    expect(notPicked).toContain('⚠️ Job orphan_job has been stuck for');
    expect(notPicked).toContain('(no_workers)');
    expect(await c.store.get(run_id)).toMatchObject({ stuck: true, stuck_reason: 'no_workers' });
    const seen = cScans().length;
    await waitFor(() => cScans().length >= seen + 3, 20_000);
    expect(slackTexts().filter((t) => t.includes('Queue orphans'))).toHaveLength(1);
    expect(slackTexts().filter((t) => t.includes(run_id))).toHaveLength(1);
    expect(cScans().at(-1)).toMatchObject({ queues_without_workers: ['orphans'] });
  });
});
