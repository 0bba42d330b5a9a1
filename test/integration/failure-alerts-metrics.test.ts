import type { JobRun } from '../../src/monitor/run';
import { FakeHttp } from '../helpers/fake-http';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem, tempYaml } from '../helpers/system';

jest.setTimeout(60_000);

const http = new FakeHttp();
let sys: TestSystem;

beforeAll(async () => {
  await http.start();
  const alerts = tempYaml(
    `
delivery: { attempts: 3, backoff_ms: 100, timeout_ms: 2000 }
channels:
  webhook: { url: "\${ALERT_WEBHOOK_URL}" }
  log: {}
alerts:
  - name: job_failure_alert
    event_pattern: "job_fail*"
    severity: error
    cooldown_seconds: 2
    message: "❌ Job {job_id} failed after {attempts} attempt(s): {error}"
    channels: [webhook, log]
`,
    'alerts.yml',
  );
  sys = await startTestSystem({
    ALERTS_CONFIG: alerts,
    ALERT_WEBHOOK_URL: `${http.url}/hook`,
    WEBAPP_URL: 'http://dash.test',
    JOB_ATTEMPTS: '1',
    JOBS_STUCK_MONITOR_INTERVAL_SECS: '30',
  });
});
afterAll(async () => {
  await sys?.cleanup();
  await http.stop();
});

const finished = (id: string) =>
  waitFor(async () => {
    const run = await sys.store.get(id);
    return run && ['completed', 'failed'].includes(run.status) ? run : null;
  }) as Promise<JobRun>;
const hooks = () => http.to('/hook');
const scrape = async (token: string | null = TEST_TOKEN) => {
  const res = await fetch(
    `${sys.url}/metrics`,
    token ? { headers: { authorization: `Bearer ${token}` } } : {},
  );
  return { status: res.status, text: await res.text() };
};

describe('failure alerts', () => {
  let firstAt = 0;

  it('sends one alert with the error and the run link when a job fails for good', async () => {
    const { run_id } = await sys.service.trigger('boom_job');
    await finished(run_id);
    const hook = await waitFor(() => hooks()[0], 10_000);
    firstAt = Date.now();
    expect(hook.body).toMatchObject({
      rule: 'job_failure_alert',
      severity: 'error',
      event: 'job_failed',
      message: `❌ Job boom_job failed after 1 attempt(s): provider said no\nhttp://dash.test/jobs/monitor?run_id=${run_id}`,
      link: `http://dash.test/jobs/monitor?run_id=${run_id}`,
      fields: { job_id: 'boom_job', run_id, error: 'provider said no', attempts: 1 },
    });
  });

  it('sends nothing for a second failure of the same job within the cooldown', async () => {
    const { run_id } = await sys.service.trigger('boom_job');
    await finished(run_id);
    const suppressed = await waitFor(
      () => sys.logs.lines.find((l) => l.msg === 'alert_suppressed_cooldown'),
      10_000,
    );
    expect(suppressed).toMatchObject({ rule: 'job_failure_alert', subject: 'boom_job' });
    expect(hooks()).toHaveLength(1);
  });

  it('sends again once the cooldown is over', async () => {
    await waitFor(() => Date.now() - firstAt > 2200, 5000, 100);
    const { run_id } = await sys.service.trigger('boom_job');
    await finished(run_id);
    const second = await waitFor(() => hooks()[1], 10_000);
    expect(second.body).toMatchObject({ fields: { run_id, error: 'provider said no' } });
    expect(hooks()).toHaveLength(2);
  });
});

describe('/metrics', () => {
  it('needs the bearer token', async () => {
    expect((await scrape(null)).status).toBe(401);
    expect((await scrape('wrong-token-0123456789')).status).toBe(403);
  });

  it('shows run, duration, alert and queue series matching what ran', async () => {
    for (let i = 0; i < 2; i++) await finished((await sys.service.trigger('quick_job')).run_id);
    await finished((await sys.service.trigger('slow_job', { payload: { ms: 300 } })).run_id);
    const text = (await waitFor(async () => {
      const { text } = await scrape();
      return text.includes('job_runs_total{job_id="slow_job",status="completed"} 1') ? text : '';
    }, 10_000)) as string;
    expect(text).toContain('job_runs_total{job_id="boom_job",status="failed"} 3');
    expect(text).toContain('job_runs_total{job_id="quick_job",status="completed"} 2');
    expect(text).toContain('job_run_duration_seconds_count{job_id="quick_job"} 2');
    expect(text).toContain('job_run_duration_seconds_bucket{job_id="slow_job",le="0.1"} 0');
    expect(text).toContain('job_run_duration_seconds_bucket{job_id="slow_job",le="1"} 1');
    expect(text).toContain('job_run_duration_seconds_bucket{job_id="slow_job",le="+Inf"} 1');
    const sum = Number(/job_run_duration_seconds_sum\{job_id="slow_job"\} ([0-9.]+)/.exec(text)?.[1]);
    expect(sum).toBeGreaterThanOrEqual(0.3);
    expect(text).toContain('job_runs_active{job_id="quick_job"} 0');
    expect(text).toContain('jobs_stuck{job_id="boom_job"} 0');
    expect(text).toContain('queue_jobs{queue="tq",state="completed"} 3');
    expect(text).toContain('queue_jobs{queue="tq",state="failed"} 3');
    expect(text).toContain('alerts_sent_total{rule="job_failure_alert",channel="webhook",outcome="sent"} 2');
    expect(text).toContain(
      'alerts_sent_total{rule="job_failure_alert",channel="webhook",outcome="suppressed"} 1',
    );
    expect(text).toContain('alerts_sent_total{rule="job_failure_alert",channel="log",outcome="sent"} 2');
    expect(text).toMatch(/# TYPE recording_requests_total counter/);
    expect(text).toMatch(/process_cpu_user_seconds_total \d/);
    expect(text).toMatch(/nodejs_eventloop_lag_seconds \d/);
  });

  it('counts recording requests through the Metrics object', async () => {
    sys.observability.metrics.recordingRequest(202);
    sys.observability.metrics.recordingRequest(202);
    sys.observability.metrics.recordingRequest(404);
    const { text } = await scrape();
    expect(text).toContain('recording_requests_total{status="202"} 2');
    expect(text).toContain('recording_requests_total{status="404"} 1');
  });
});

describe('start-up with a malformed alerts.yml', () => {
  it('fails naming the file, the rule and the field', async () => {
    const bad = tempYaml(
      'alerts:\n  - { name: noisy, event_pattern: job_failed, severity: loud, cooldown_seconds: 5, message: "{job_id}", channels: [log] }\n',
      'alerts.yml',
    );
    await expect(startTestSystem({ ALERTS_CONFIG: bad })).rejects.toThrow(
      `${bad}: alerts[0] (noisy).severity: expected info, warning, error, critical`,
    );
  });
});
