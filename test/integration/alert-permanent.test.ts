/**
 * Alert delivery gives up at once on a refusal the same request would get again (a 4xx other than 408/425/
 * 429: a wrong webhook URL, a revoked token, a chat the bot was blocked in), and keeps retrying what may pass
 * (429, 5xx). Real HTTP to a local fake (webhook and Telegram Bot API), channels built from alerts.yml text.
 */
import { AlertEngine } from '../../src/alerts/alert-engine';
import { parseAlertsConfig } from '../../src/alerts/alerts-config';
import { buildChannels } from '../../src/alerts/channels/build-channels';
import { FakeHttp } from '../helpers/fake-http';
import { memoryLogger } from '../helpers/logger';
import { waitFor } from '../helpers/redis';

const http = new FakeHttp((req, n) => {
  if (req.path === '/gone') return { status: 404 };
  if (req.path === '/bad') return { status: 400 };
  if (req.path === '/busy') return { status: n <= 2 ? 429 : 200 };
  if (req.path.endsWith('/sendMessage'))
    return {
      status: 403,
      body: { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' },
    };
  return { status: 200 };
});
const logs = memoryLogger();
let engine: AlertEngine;

beforeAll(async () => {
  await http.start();
  const config = parseAlertsConfig(
    `
delivery: { attempts: 4, backoff_ms: 50, timeout_ms: 5000 }
channels:
  gone: { type: webhook, url: "${http.url}/gone" }
  bad: { type: webhook, url: "${http.url}/bad" }
  busy: { type: webhook, url: "${http.url}/busy" }
  tg: { type: telegram, bot_token: "123:abc", chat_ids: "42", api_root: "${http.url}" }
alerts:
  - { name: failure_alert, event_pattern: job_failed, severity: error, cooldown_seconds: 0, message: "{job_id} failed", channels: [gone, bad, busy, tg] }
`,
    'alerts.yml',
    {},
  );
  engine = new AlertEngine({
    config,
    channels: buildChannels(config, logs.logger, { telegramApiRoot: http.url }),
    cooldowns: { take: async () => true },
    logger: logs.logger,
  });
});
afterAll(() => http.stop());

it('gives up on 400, 404 and Telegram 403 after one try; retries 429 until it passes', async () => {
  await engine.handle({ id: '1-0', name: 'job_failed', fields: { job_id: 'report' }, time: Date.now() });
  const done = (channel: string) =>
    logs.lines.some(
      (l) => (l.msg === 'alert_delivery_failed' || l.msg === 'alert_sent') && l.channel === channel,
    );
  expect(await waitFor(() => ['gone', 'bad', 'busy', 'tg'].every(done), 10_000)).toBe(true);

  expect(http.to('/gone')).toHaveLength(1);
  expect(http.to('/bad')).toHaveLength(1);
  expect(http.requests.filter((r) => r.path.endsWith('/sendMessage'))).toHaveLength(1);
  const failed = logs.lines.filter((l) => l.msg === 'alert_delivery_failed');
  expect(failed.map((l) => [l.channel, l.attempts]).sort()).toEqual([
    ['bad', 1],
    ['gone', 1],
    ['tg', 1],
  ]);
  expect(http.to('/busy')).toHaveLength(3);
  expect(logs.lines.some((l) => l.msg === 'alert_sent' && l.channel === 'busy')).toBe(true);
  await engine.stop(0);
});
