import type { Processor } from '../../src/workers/processor-context';
import { FakeHttp } from '../helpers/fake-http';
import { waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem, tempYaml } from '../helpers/system';

jest.setTimeout(60_000);

const JOBS = `
jobs:
  - { job_id: hang_job, name: Hang, category: test, job_type: once, enabled: true, allow_concurrent: true, callback_name: hang, queue: dq, timeout_seconds: 120 }
  - { job_id: boom_job, name: Boom, category: test, job_type: once, enabled: true, allow_concurrent: true, callback_name: boom, queue: dq }
`;
const releases: (() => void)[] = [];
const hang: Processor = (ctx) =>
  new Promise((resolve) => {
    releases.push(() => resolve(null));
    ctx.signal.addEventListener('abort', () => resolve(null));
  });

// /flaky answers 500 twice, then 200; /hang never answers.
const http = new FakeHttp((req, n) => {
  if (req.path === '/hang') return 'hang';
  if (req.path === '/flaky') return { status: n <= 2 ? 500 : 200 };
  return { status: 200 };
});
let sys: TestSystem;

beforeAll(async () => {
  await http.start();
  const alerts = tempYaml(
    `
delivery: { attempts: 4, backoff_ms: 100, timeout_ms: 30000 }
channels:
  flaky: { type: webhook, url: "${http.url}/flaky" }
  silent: { type: webhook, url: "${http.url}/hang" }
  log: {}
alerts:
  - { name: failure_alert, event_pattern: job_failed, severity: error, cooldown_seconds: 0, message: "{job_id}: {error}", channels: [flaky] }
  - { name: stuck_alert, event_pattern: job_stuck, severity: critical, cooldown_seconds: 0, message: "{job_id} stuck {run_id}", channels: [silent, log] }
`,
    'alerts.yml',
  );
  sys = await startTestSystem(
    {
      ALERTS_CONFIG: alerts,
      JOB_ATTEMPTS: '1',
      JOBS_STUCK_THRESHOLD_MINUTES: String(2 / 60),
      JOBS_STUCK_MONITOR_INTERVAL_SECS: '0.5',
      METRICS_PUBLIC: 'true',
    },
    { jobsYml: JOBS, processors: { hang } },
  );
});
afterAll(async () => {
  for (const r of releases.splice(0)) r();
  await sys?.cleanup();
  await http.stop();
});

const metrics = async () => (await fetch(`${sys.url}/metrics`)).text();

describe('alert delivery', () => {
  it('retries a webhook that answers 500 twice and delivers on the third try', async () => {
    const { run_id } = await sys.service.trigger('boom_job');
    await waitFor(() => http.to('/flaky').length >= 3, 15_000);
    const reqs = http.to('/flaky');
    expect(reqs).toHaveLength(3);
    expect(reqs.every((r) => r.body.message === 'boom_job: provider said no')).toBe(true);
    expect(reqs[2].body).toMatchObject({ fields: { run_id } });
    const retries = sys.logs.lines.filter((l) => l.msg === 'alert_delivery_retry' && l.channel === 'flaky');
    expect(retries.map((r) => (r.err as { message?: string }).message)).toEqual(['HTTP 500', 'HTTP 500']);
    expect(String((retries[0].err as { stack?: string }).stack)).toContain('DeliveryError');
    // METRICS_PUBLIC=true: no token needed.
    const text = await waitFor(async () => {
      const t = await metrics();
      return t.includes('alerts_sent_total{rule="failure_alert",channel="flaky",outcome="sent"} 1')
        ? t
        : null;
    }, 10_000);
    expect(text).not.toContain('outcome="failed"');
  });

  it('keeps scanning and alerting while a webhook never answers', async () => {
    const first = await sys.service.trigger('hang_job');
    await waitFor(
      () => http.to('/hang').some((r) => r.body.message === `hang_job stuck ${first.run_id}`),
      20_000,
    );
    const scansAt = (after: number) =>
      sys.logs.lines.filter((l) => l.msg === 'stuck_jobs_check' && Number(l.time) > after).length;
    const since = Date.now();
    // The webhook call is still open; scans go on at their interval and the log channel got the alert.
    expect(await waitFor(() => scansAt(since) >= 4, 15_000)).toBe(true);
    expect(http.to('/hang')).toHaveLength(1);
    expect(
      sys.logs.lines.some((l) => l.msg === 'alert_fired' && l.text === `hang_job stuck ${first.run_id}`),
    ).toBe(true);
    // A second stuck run is detected and alerted while the first webhook call still hangs.
    const second = await sys.service.trigger('hang_job');
    expect(
      await waitFor(
        () =>
          sys.logs.lines.some((l) => l.msg === 'alert_fired' && l.text === `hang_job stuck ${second.run_id}`),
        20_000,
      ),
    ).toBe(true);
  });
});
