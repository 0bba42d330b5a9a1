/** The reliability knobs in the environment: defaults and validation naming the variable. */
import { loadConfig } from '../../src/config';

const base = { DB_HEALTH_TOKEN: 'x'.repeat(16) };

describe('reliability configuration', () => {
  it('has production defaults', () => {
    expect(loadConfig(base)).toMatchObject({
      WORKER_STALLED_INTERVAL_MS: 30_000,
      WORKER_LOCK_DURATION_MS: 30_000,
      WORKER_MAX_STALLED_COUNT: 1,
      TRACKER_MAX_BUFFERED_RUNS: 100_000,
      AUTH_RATE_LIMIT_PER_MINUTE: 30,
      EVENTS_MAX_LEN: 100_000,
      RUN_RESULT_MAX_BYTES: 65_536,
    });
    expect(loadConfig({ ...base, RUN_RESULT_MAX_BYTES: '1048576' }).RUN_RESULT_MAX_BYTES).toBe(1_048_576);
  });

  it('reads overrides and allows turning the auth limit off', () => {
    const c = loadConfig({
      ...base,
      WORKER_LOCK_DURATION_MS: '4000',
      WORKER_MAX_STALLED_COUNT: '5',
      AUTH_RATE_LIMIT_PER_MINUTE: '0',
    });
    expect(c).toMatchObject({
      WORKER_LOCK_DURATION_MS: 4000,
      WORKER_MAX_STALLED_COUNT: 5,
      AUTH_RATE_LIMIT_PER_MINUTE: 0,
    });
  });

  it.each([
    ['WORKER_STALLED_INTERVAL_MS', 'soon', 'environment: WORKER_STALLED_INTERVAL_MS: expected a number'],
    ['WORKER_LOCK_DURATION_MS', '10', 'environment: WORKER_LOCK_DURATION_MS:'],
    ['TRACKER_MAX_BUFFERED_RUNS', '0', 'environment: TRACKER_MAX_BUFFERED_RUNS:'],
    ['AUTH_RATE_LIMIT_PER_MINUTE', '-1', 'environment: AUTH_RATE_LIMIT_PER_MINUTE:'],
    ['RUN_RESULT_MAX_BYTES', '100', 'environment: RUN_RESULT_MAX_BYTES:'],
    ['RUN_RESULT_MAX_BYTES', '16777216', 'environment: RUN_RESULT_MAX_BYTES: at most 4194304'],
    ['WORKER_MAX_STALLED_COUNT', '1.5', 'environment: WORKER_MAX_STALLED_COUNT: expected a whole number'],
  ])('refuses %s=%s', (name, value, message) => {
    expect(() => loadConfig({ ...base, [name]: value })).toThrow(message);
  });
});
