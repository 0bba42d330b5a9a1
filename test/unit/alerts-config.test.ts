import { readFileSync } from 'node:fs';
import { parseAlertsConfig } from '../../src/alerts/alerts-config';
import { renderAlert } from '../../src/monitor/alert-rules';
import { buildChannels } from '../../src/alerts/channels/build-channels';
import { loadConfig } from '../../src/config';
import { ConfigError } from '../../src/config-file';
import { alertsEnv } from '../../src/observability';
import { memoryLogger } from '../helpers/logger';

const SHIPPED = readFileSync('config/alerts.yml', 'utf8');
const rule = (over: string) => `
channels:
  log: {}
alerts:
  - name: ok_rule
    event_pattern: job_failed
    severity: error
    cooldown_seconds: 10
    message: "{job_id} failed"
    channels: [log]
  - name: bad_rule
${over}
`;
const parseError = (text: string): string => {
  try {
    parseAlertsConfig(text, 'config/alerts.yml', {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};
const full = {
  event_pattern: 'job_stuck',
  severity: 'critical',
  cooldown_seconds: '600',
  message: '"{job_id} stuck"',
  channels: '[log]',
};
const body = (o: Record<string, string | undefined>) =>
  Object.entries(o)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `    ${k}: ${v}`)
    .join('\n');

describe('alerts.yml', () => {
  it('ships the seed rules in English, with Slack and Telegram filled from the environment', () => {
    const cfg = parseAlertsConfig(SHIPPED, 'config/alerts.yml', {
      SLACK_WEBHOOK_URL: 'https://hooks.slack.test/T1/B2/x',
      TELEGRAM_BOT_TOKEN: '123:abc',
      TELEGRAM_ALERT_CHAT_IDS: '-1001, 42',
    });
    const byName = Object.fromEntries(cfg.alerts.map((r) => [r.name, r]));
    expect(byName.job_failure_alert).toMatchObject({
      event_pattern: 'job_failed',
      severity: 'error',
      cooldown_seconds: 300,
    });
    expect(byName.job_failure_alert.message).toContain('{error}');
    expect(byName.job_stuck_alert).toMatchObject({
      event_pattern: 'job_stuck',
      severity: 'critical',
      cooldown_seconds: 600,
    });
    expect(byName.job_stuck_alert.message).toContain('{minutes} minutes');
    expect(cfg.channels.slack).toEqual({ type: 'slack', webhook_url: 'https://hooks.slack.test/T1/B2/x' });
    expect(cfg.channels.telegram).toMatchObject({
      type: 'telegram',
      bot_token: '123:abc',
      chat_ids: ['-1001', '42'],
    });
  });

  it('disables channels whose settings are missing, with one warning each and no secret in it', () => {
    const cfg = parseAlertsConfig(SHIPPED, 'config/alerts.yml', { TELEGRAM_BOT_TOKEN: 'secret-token-1' });
    const { logger, lines } = memoryLogger();
    const channels = buildChannels(cfg, logger, { telegramApiRoot: 'https://api.telegram.org' });
    expect([...channels.keys()]).toEqual(['log']);
    const warnings = lines.filter((l) => l.msg === 'alert_channel_disabled');
    expect(warnings.map((w) => [w.channel, w.missing])).toEqual([
      ['telegram', ['chat_ids']],
      ['slack', ['webhook_url']],
      ['webhook', ['url']],
    ]);
    expect(JSON.stringify(lines)).not.toContain('secret-token-1');
  });

  it('fills VAR references from the config too (values set through the loaded environment)', () => {
    const config = loadConfig({ NODE_ENV: 'test', SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/slack' });
    const cfg = parseAlertsConfig(SHIPPED, 'config/alerts.yml', alertsEnv(config, {}));
    expect(cfg.channels.slack).toMatchObject({ webhook_url: 'http://127.0.0.1:9/slack' });
  });

  it.each([
    [
      'a bad severity',
      { ...full, severity: 'loud' },
      'alerts[1] (bad_rule).severity: expected info, warning, error, critical',
    ],
    [
      'a negative cooldown',
      { ...full, cooldown_seconds: '-5' },
      'alerts[1] (bad_rule).cooldown_seconds: expected a number of seconds ≥ 0',
    ],
    [
      'a cooldown that is not a number',
      { ...full, cooldown_seconds: 'soon' },
      'alerts[1] (bad_rule).cooldown_seconds: expected a number of seconds',
    ],
    ['a missing message', { ...full, message: undefined }, 'alerts[1] (bad_rule).message: expected a string'],
    [
      'an unknown placeholder',
      { ...full, message: '"{job} stuck"' },
      'alerts[1] (bad_rule).message: unknown placeholder {job}',
    ],
    [
      'an unknown channel',
      { ...full, channels: '[log, pager]' },
      'alerts[1] (bad_rule).channels[1]: unknown channel "pager"',
    ],
    [
      'no channels',
      { ...full, channels: '[]' },
      'alerts[1] (bad_rule).channels: expected at least one channel',
    ],
    [
      'a missing event_pattern',
      { ...full, event_pattern: undefined },
      'alerts[1] (bad_rule).event_pattern: expected a string',
    ],
    ['an unknown field', { ...full, severty: 'error' }, 'alerts[1] (bad_rule): Unrecognized key: "severty"'],
  ])('fails on %s, naming the file, the rule and the field', (_what, fields, expected) => {
    expect(parseError(rule(body(fields)))).toContain(`config/alerts.yml: ${expected}`);
  });

  it('fails on a duplicate rule name and on invalid YAML', () => {
    expect(parseError(rule(body(full)).replace('name: bad_rule', 'name: ok_rule'))).toContain(
      'config/alerts.yml: alerts[1] (ok_rule).name: duplicate rule name "ok_rule"',
    );
    expect(parseError('alerts: [\n  - name: x\n')).toMatch(
      /^config\/alerts\.yml: line \d+, column \d+: invalid YAML/,
    );
  });

  it('fails on a channel with a malformed URL or an unknown type, naming the channel', () => {
    expect(parseError('channels:\n  slack: { webhook_url: "not a url" }\n')).toContain(
      'config/alerts.yml: channels.slack.webhook_url: expected an http(s) URL',
    );
    expect(parseError('channels:\n  pager: { url: "http://x" }\n')).toContain(
      'config/alerts.yml: channels.pager.type',
    );
  });
});

describe('alerts in Hebrew (LOCALE=he)', () => {
  it('every shipped rule has a Hebrew message, rendered instead of the English one when LOCALE=he', () => {
    const cfg = parseAlertsConfig(SHIPPED, 'config/alerts.yml', {});
    expect(cfg.alerts.length).toBeGreaterThan(0);
    const ev = {
      name: 'job_failed',
      time: new Date().toISOString(),
      fields: { job_id: 'cache_warming', run_id: 'm1', attempts: 3, error: 'boom' },
    };
    for (const rule of cfg.alerts) {
      expect(rule.message_he).toMatch(/[\u0590-\u05FF]/);
      const he = renderAlert(rule, ev as never, undefined, 'he');
      // No English words left, only data (job id, run id, error) and placeholders' values.
      const words = he.text.replace(/cache_warming|m1|boom/g, '').match(/[A-Za-z]{3,}/g) ?? [];
      expect(words).toEqual([]);
      expect(renderAlert(rule, ev as never, undefined, 'en').text).toBe(renderAlert(rule, ev as never).text);
    }
  });

  it('an unknown placeholder in message_he is a config error naming the file and field', () => {
    const bad = SHIPPED.replace('message_he: "❌ המשימה {job_id}', 'message_he: "❌ {jobid}');
    expect(() => parseAlertsConfig(bad, 'config/alerts.yml', {})).toThrow(
      /config\/alerts\.yml: alerts\[0\] \(job_failure_alert\)\.message_he: unknown placeholder \{jobid\}/,
    );
  });
});
