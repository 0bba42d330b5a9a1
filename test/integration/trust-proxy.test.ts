/**
 * Issue 11 item 9: X-Forwarded-For is believed only from the proxies TRUST_PROXY names. By default a local
 * client that sends a different spoofed X-Forwarded-For on every request is still one address to the
 * failed-auth rate limit.
 */
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { startTestSystem, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

/** Five wrong tokens, each from a different claimed address, then one more: the statuses. */
async function spoofedGuesses(sys: TestSystem): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await request(sys.server!)
      .get('/api/jobs')
      .set('X-Forwarded-For', `203.0.113.${i + 1}`)
      .set('Authorization', `Bearer guess-${i}-0123456789`);
    statuses.push(res.status);
  }
  return statuses;
}

describe('trust proxy', () => {
  it('by default ignores X-Forwarded-For: spoofing it does not dodge the failed-auth limit', async () => {
    const sys = await startTestSystem({ ROLES: 'api', AUTH_RATE_LIMIT_PER_MINUTE: '3' });
    try {
      expect(await spoofedGuesses(sys)).toEqual([403, 403, 403, 429, 429, 429]);
      const logged = sys.logs.lines.filter((l) => l.msg === 'auth_wrong_token').map((l) => l.ip);
      expect(new Set(logged)).toEqual(new Set(['::ffff:127.0.0.1']));
    } finally {
      await sys.cleanup();
    }
  });

  it('TRUST_PROXY=loopback believes the local proxy: each forwarded client is counted on its own', async () => {
    const sys = await startTestSystem({
      ROLES: 'api',
      AUTH_RATE_LIMIT_PER_MINUTE: '3',
      TRUST_PROXY: 'loopback',
    });
    try {
      expect(await spoofedGuesses(sys)).toEqual([403, 403, 403, 403, 403, 403]);
    } finally {
      await sys.cleanup();
    }
  });

  it('reads false, a hop count or a list of addresses/CIDRs, and names a bad entry', () => {
    const env = { NODE_ENV: 'test' as const };
    expect(loadConfig(env).TRUST_PROXY).toBe(false);
    expect(loadConfig({ ...env, TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(false);
    expect(loadConfig({ ...env, TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadConfig({ ...env, TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,loopback' }).TRUST_PROXY).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      'loopback',
    ]);
    expect(() => loadConfig({ ...env, TRUST_PROXY: '10.0.0.0/8,proxy.example' })).toThrow(
      /TRUST_PROXY: .*not proxy\.example/,
    );
  });
});
