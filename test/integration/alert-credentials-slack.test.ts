/**
 * Issue 11 items 8 and 12, on real Redis with local fake receivers:
 * - ALERT_WEBHOOK_URL with `user:pass@` delivers with `Authorization: Basic` and no log line holds the password;
 * - Slack alert text escapes `&`, `<`, `>` in everything a run, job or error contributes.
 */
import { redactUrl, redactUrlsIn } from '../../src/logger';
import type { Processor } from '../../src/workers/processor-context';
import { FakeHttp } from '../helpers/fake-http';
import { waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem, tempYaml } from '../helpers/system';

jest.setTimeout(60_000);

const PASSWORD = 'hunter2-pass-9f7e31';
const HOSTILE = '<!channel> see <http://evil.test|click here> & <@U123>';
const JOBS = `
jobs:
  - { job_id: hostile_job, name: Hostile, category: test, job_type: once, enabled: true, allow_concurrent: true, callback_name: hostile, queue: aq }
`;
const hostile: Processor = async () => {
  throw new Error(HOSTILE);
};

const http = new FakeHttp();
let sys: TestSystem;

beforeAll(async () => {
  await http.start();
  const alerts = tempYaml(
    `
delivery: { attempts: 2, backoff_ms: 50, timeout_ms: 5000 }
channels:
  webhook: { url: "\${ALERT_WEBHOOK_URL}" }
  slack: { webhook_url: "\${SLACK_WEBHOOK_URL}" }
  log: {}
alerts:
  - { name: failure_alert, event_pattern: job_failed, severity: error, cooldown_seconds: 0, message: "<https://runbook.test|Runbook> {job_id}: {error}", channels: [webhook, slack, log] }
`,
    'alerts.yml',
  );
  const port = new URL(http.url).port;
  sys = await startTestSystem(
    {
      ALERTS_CONFIG: alerts,
      ALERT_WEBHOOK_URL: `http://alerts-user:${PASSWORD}@127.0.0.1:${port}/hook?token=${PASSWORD}`,
      SLACK_WEBHOOK_URL: `${http.url}/slack`,
      JOB_ATTEMPTS: '1',
      JOBS_STUCK_MONITOR_INTERVAL_SECS: '30',
    },
    { jobsYml: JOBS, processors: { hostile } },
  );
});
afterAll(async () => {
  await sys?.cleanup();
  await http.stop();
});

describe('alert webhook URL with credentials', () => {
  it('delivers with Basic auth from the URL and never logs the password', async () => {
    await sys.service.trigger('hostile_job');
    const hook = await waitFor(() => http.requests.find((r) => r.path.startsWith('/hook')) ?? null, 15_000);
    if (!hook) throw new Error('no webhook request');
    const expected = `Basic ${Buffer.from(`alerts-user:${PASSWORD}`).toString('base64')}`;
    expect(hook.headers.authorization).toBe(expected);
    expect(hook.body.message).toBe(`<https://runbook.test|Runbook> hostile_job: ${HOSTILE}`);
    await waitFor(() => sys.logs.events().includes('alert_sent'), 10_000);
    expect(sys.logs.events()).not.toContain('alert_delivery_failed');
    expect(sys.logs.raw.join('')).not.toContain(PASSWORD);
  });
});

describe('Slack alert text', () => {
  it('escapes &, < and > in what the job error contributes, keeping the template as written', async () => {
    const slack = await waitFor(() => http.to('/slack')[0] ?? null, 15_000);
    if (!slack) throw new Error('no slack request');
    expect(slack.body.text).toBe(
      '*[ERROR]* <https://runbook.test|Runbook> hostile_job: ' +
        '&lt;!channel&gt; see &lt;http://evil.test|click here&gt; &amp; &lt;@U123&gt;',
    );
  });
});

describe('redactUrl', () => {
  it('hides userinfo and secret query parameters, keeps the rest', () => {
    expect(redactUrl('https://u:p@h.test/x?token=1&page=2&X-Amz-Signature=3&Sig=4')).toBe(
      'https://***@h.test/x?token=***&page=2&X-Amz-Signature=***&Sig=***',
    );
    expect(redactUrl('https://h.test/x?page=2')).toBe('https://h.test/x?page=2');
    expect(redactUrlsIn('fetch http://a:secretpw@h.test/ failed')).not.toContain('secretpw');
  });

  it('cleans URLs in logged errors and url fields through the logger itself', () => {
    const before = sys.logs.raw.length;
    sys.logs.logger.warn(
      {
        err: new Error('GET http://a:secretpw@h.test/?key=k1 failed'),
        url: 'http://h.test/?access_token=t1',
      },
      'probe',
    );
    const line = sys.logs.raw.slice(before).join('');
    expect(line).toContain('probe');
    for (const secret of ['secretpw', 'k1', 't1']) expect(line).not.toContain(secret);
  });
});
