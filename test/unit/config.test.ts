import { ConfigError } from '../../src/config-file';
import { loadConfig } from '../../src/config';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const cfg = loadConfig({});
    expect(cfg).toMatchObject({
      PORT: 3000,
      REDIS_URL: 'redis://127.0.0.1:6379',
      JOBS_CONFIG: 'config/jobs.yml',
      ROLES: ['api', 'worker', 'scheduler', 'monitor', 'bot'],
      NODE_ENV: 'development',
    });
    expect(cfg.MONGO_URL).toBeUndefined();
  });

  it('generates a token outside production and marks it generated', () => {
    const a = loadConfig({});
    const b = loadConfig({});
    expect(a.tokenGenerated).toBe(true);
    expect(a.DB_HEALTH_TOKEN).toMatch(/^[0-9a-f]{48}$/);
    expect(a.DB_HEALTH_TOKEN).not.toBe(b.DB_HEALTH_TOKEN);
    const given = loadConfig({ DB_HEALTH_TOKEN: 'a-token-of-enough-length' });
    expect(given).toMatchObject({ DB_HEALTH_TOKEN: 'a-token-of-enough-length', tokenGenerated: false });
  });

  it('refuses to start in production without a token', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([
      'environment: DB_HEALTH_TOKEN: required in production (at least 16 characters)',
    ]);
  });

  it('names every bad variable', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      REDIS_URL: 'http://localhost',
      ROLES: 'api,cook',
      DB_HEALTH_TOKEN: 'short',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'environment: PORT: expected a number',
        'environment: REDIS_URL: expected a redis: or rediss: URL',
        expect.stringMatching(/^environment: ROLES\[1\]: expected a comma list of api, worker/),
        'environment: DB_HEALTH_TOKEN: must be at least 16 characters',
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it('parses a role list and fractional stuck settings', () => {
    const cfg = loadConfig({ ROLES: ' worker , monitor ', JOBS_STUCK_THRESHOLD_MINUTES: '0.05' });
    expect(cfg.ROLES).toEqual(['worker', 'monitor']);
    expect(cfg.JOBS_STUCK_THRESHOLD_MINUTES).toBe(0.05);
  });

  it('reads every comma list alike: trimmed, empty items dropped, errors naming the item', () => {
    const cfg = loadConfig({
      ROLES: 'api,, worker ,',
      TELEGRAM_ADMIN_IDS: ' 111 ,,-100500 ',
      REDIS_CLUSTER_NODES: ' 127.0.0.1:7000 , ',
      REDACT_KEYS: 'token, api_key ,',
      RECORDING_ALLOWED_HOSTS: ' 10.0.0.0/8 ,, media.internal ',
      TRUST_PROXY: ' 10.0.0.1 , loopback ',
    });
    expect(cfg.ROLES).toEqual(['api', 'worker']);
    expect(cfg.TELEGRAM_ADMIN_IDS).toEqual(['111', '-100500']);
    expect(cfg.REDIS_CLUSTER_NODES).toEqual(['127.0.0.1:7000']);
    expect(cfg.REDACT_KEYS).toEqual(['token', 'api_key']);
    expect(cfg.RECORDING_ALLOWED_HOSTS).toEqual(['10.0.0.0/8', 'media.internal']);
    expect(cfg.TRUST_PROXY).toEqual(['10.0.0.1', 'loopback']);
    expect(loadConfig({}).REDACT_KEYS).toEqual(['url', 'token', 'password', 'secret', 'authorization']);
    expect(problemsOf({ TELEGRAM_OWNER_IDS: '1, two', REDIS_SENTINELS: 'a:1,b' })).toEqual([
      'environment: REDIS_SENTINELS[1]: expected host:port,host:port',
      'environment: TELEGRAM_OWNER_IDS[1]: expected a comma list of numeric ids',
    ]);
    expect(problemsOf({ ROLES: ' , ' })).toEqual([expect.stringMatching(/^environment: ROLES: /)]);
  });

  it('treats an empty MONGO_URL as unset and rejects a non-mongo URL', () => {
    expect(loadConfig({ MONGO_URL: '  ' }).MONGO_URL).toBeUndefined();
    expect(problemsOf({ MONGO_URL: 'redis://x' })).toEqual([
      'environment: MONGO_URL: expected a mongodb: or mongodb+srv: URL',
    ]);
  });
});

describe('API_TOKENS', () => {
  const base = { NODE_ENV: 'test', DB_HEALTH_TOKEN: 'admin-token-0123456789' };
  it('parses name:role:token entries', () => {
    const cfg = loadConfig({
      ...base,
      API_TOKENS: 'ci:operator:ci-token-0123456789ab, ro:viewer:ro-token-0123456789ab',
    });
    expect(cfg.API_TOKENS).toEqual([
      { name: 'ci', role: 'operator', token: 'ci-token-0123456789ab' },
      { name: 'ro', role: 'viewer', token: 'ro-token-0123456789ab' },
    ]);
  });
  it.each([
    ['ci:operator', 'entry 1 ("ci"): expected name:role:token'],
    ['ci:boss:ci-token-0123456789ab', 'entry 1 ("ci"): role must be one of viewer, operator, admin'],
    ['ci:operator:short', 'entry 1 ("ci"): token must be at least 16 characters'],
    ['admin:admin:ci-token-0123456789ab', 'the name admin is reserved'],
    [
      'a:viewer:aaaa-token-0123456789,a:viewer:bbbb-token-0123456789',
      'entry 2 ("a"): the name is used twice',
    ],
  ])('refuses %s, naming the variable and the entry, never the token', (value, message) => {
    let err: Error | undefined;
    try {
      loadConfig({ ...base, API_TOKENS: value });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toContain('API_TOKENS');
    expect(err?.message).toContain(message);
    expect(err?.message).not.toContain('0123456789ab');
  });
});
