/**
 * Issue 14 item 4: alert channels and processors by registration. The alerts.yml schema and the channel
 * builder come from CHANNEL_KINDS; a jobs.yml callback_name must be a shipped processor or one passed in
 * StartOptions.processors, checked at start-up.
 */
import { parseAlertsConfig } from '../../src/alerts/alerts-config';
import { CHANNEL_TYPES } from '../../src/alerts/alerts-config';
import { buildChannels } from '../../src/alerts/channels/build-channels';
import { CHANNEL_KINDS } from '../../src/alerts/channels';
import { loadConfig } from '../../src/config';
import { ConfigError } from '../../src/config-file';
import { startSystem } from '../../src/system';
import { PROCESSORS } from '../../src/workers/processors';
import { memoryLogger } from '../helpers/logger';
import { startTestSystem, tempYaml } from '../helpers/system';

describe('alert channels by registration', () => {
  it('each kind is registered under its own type, and the accepted types are exactly the list', () => {
    for (const [key, kind] of Object.entries(CHANNEL_KINDS)) expect(kind.type).toBe(key);
    expect(CHANNEL_TYPES).toEqual(Object.keys(CHANNEL_KINDS));
  });

  it('an unknown type is refused naming every registered type', () => {
    expect(() => parseAlertsConfig('channels:\n  pager: { type: pagerduty }\n', 'alerts.yml', {})).toThrow(
      `alerts.yml: channels.pager.type: expected type ${Object.keys(CHANNEL_KINDS).join(', ')}`,
    );
  });

  it("builds each configured channel with its kind's builder and disables incomplete ones", () => {
    const config = parseAlertsConfig(
      'channels:\n  ops: { type: slack, webhook_url: "http://127.0.0.1:9/x" }\n  hook: { type: webhook }\n  log: {}\n',
      'alerts.yml',
      {},
    );
    const logs = memoryLogger();
    const channels = buildChannels(config, logs.logger, { telegramApiRoot: 'http://127.0.0.1:9' });
    expect([...channels.keys()]).toEqual(['ops', 'log']);
    expect(channels.get('ops')?.constructor.name).toBe('SlackChannel');
    expect(logs.lines.find((l) => l.msg === 'alert_channel_disabled')).toMatchObject({
      channel: 'hook',
      missing: ['url'],
    });
  });
});

describe('processors by registration', () => {
  const yml = `
jobs:
  - { job_id: warm, name: W, category: t, job_type: once, callback_name: cacheWarming, queue: q }
dynamic_jobs:
  - { job_id: host_job, name: H, category: t, callback_name: hostProcessor, queue: q }
`;
  const config = (file: string) =>
    loadConfig({ NODE_ENV: 'test', JOBS_CONFIG: file, REDIS_URL: 'redis://127.0.0.1:1', ROLES: 'worker' });

  it('the shipped processors include every callback_name of config/jobs.yml', () => {
    expect(Object.keys(PROCESSORS)).toEqual(
      expect.arrayContaining(['cacheWarming', 'queueCleanup', 'recordingDownload']),
    );
  });

  it('start-up fails before connecting, naming the file and the job, when a processor is missing', async () => {
    const file = tempYaml(yml);
    const err = await startSystem(config(file), memoryLogger().logger).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(
      `${file}: dynamic_jobs[host_job].callback_name: unknown processor "hostProcessor"`,
    );
  });

  it('a process without the worker role does not need the processors', async () => {
    const sys = await startTestSystem({ ROLES: 'api' }, { jobsYml: yml });
    await sys.cleanup();
    expect(sys.registry.get('host_job')?.callback_name).toBe('hostProcessor');
  });

  it('counts processors a host application passes in StartOptions.processors', async () => {
    const hostProcessor = (async () => ({ ok: true })) as never;
    const sys = await startTestSystem({ ROLES: 'worker' }, { jobsYml: yml, processors: { hostProcessor } });
    await sys.cleanup();
    expect(sys.logs.events()).not.toContain('processor_missing');
  });
});
