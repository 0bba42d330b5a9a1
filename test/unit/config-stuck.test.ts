import { loadConfig } from '../../src/config';

describe('stuck monitor settings', () => {
  it('accept fractions so a threshold can be seconds', () => {
    const c = loadConfig({
      NODE_ENV: 'test',
      JOBS_STUCK_THRESHOLD_MINUTES: '0.05',
      JOBS_STUCK_MONITOR_INTERVAL_SECS: '0.5',
    });
    expect(c.JOBS_STUCK_THRESHOLD_MINUTES).toBe(0.05);
    expect(c.JOBS_STUCK_MONITOR_INTERVAL_SECS).toBe(0.5);
    const d = loadConfig({ NODE_ENV: 'test' });
    expect([d.JOBS_STUCK_THRESHOLD_MINUTES, d.JOBS_STUCK_MONITOR_INTERVAL_SECS, d.METRICS_PUBLIC]).toEqual([
      20,
      60,
      false,
    ]);
  });

  it('reject zero, negatives and bad alert URLs with the variable name', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', JOBS_STUCK_THRESHOLD_MINUTES: '0' })).toThrow(
      'environment: JOBS_STUCK_THRESHOLD_MINUTES: expected a positive number',
    );
    expect(() => loadConfig({ NODE_ENV: 'test', SLACK_WEBHOOK_URL: 'hooks.slack.com' })).toThrow(
      'environment: SLACK_WEBHOOK_URL: expected a http: or https: URL',
    );
    expect(() => loadConfig({ NODE_ENV: 'test', METRICS_PUBLIC: 'maybe' })).toThrow(
      'environment: METRICS_PUBLIC',
    );
  });
});
