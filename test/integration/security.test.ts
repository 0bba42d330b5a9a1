/**
 * Security: every /api route requires the token (found by walking the Express router, so routes added
 * later are covered too); the token comparison is constant-time; failed authentications are rate-limited
 * per address; nothing the system logs contains the token.
 */
import crypto from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { tokenMatches } from '../../src/api/auth';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

interface Layer {
  rawPath?: string | RegExp;
  handle: { stack?: Layer[] };
  route?: { path: string; methods: Record<string, boolean> };
}

/** Every route of an Express 5 app as `METHOD /full/path`, nested routers included. */
function listRoutes(app: Express): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const walk = (stack: Layer[], base: string) => {
    for (const layer of stack) {
      const here = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods).filter((m) => m !== '_all'))
          out.push({
            method: method.toUpperCase(),
            path: base + (layer.route.path === '/' ? '' : layer.route.path),
          });
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack, base + here);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return out;
}

/** A request path for a route pattern: params get harmless sample values. */
const concrete = (path: string) =>
  path.replace(/:(\w+)/g, (_, name: string) => (name.includes('run') ? 'm000000000001' : 'quick_job'));

/**
 * Routes that answer without credentials, on purpose. A new public route must be added here deliberately
 * (e.g. a dashboard login page, /metrics with METRICS_PUBLIC); anything else that answers < 400 without a
 * token fails the test below.
 */
// Open on purpose: probes, the dashboard's login form (an anonymous visit to /jobs/monitor gets the login
// page, never job data; the browser tests check that), logout (clears a cookie) and the player's static files.
const PUBLIC_ROUTES = [
  'GET /healthz',
  'GET /readyz',
  'GET /jobs/monitor',
  'GET /jobs/monitor/login',
  'POST /jobs/monitor/logout',
  'GET /recordings/player.css',
  'GET /recordings/player.js',
];

let sys: TestSystem;
let app: Express;
beforeAll(async () => {
  sys = await startTestSystem({ ROLES: 'api,monitor', AUTH_RATE_LIMIT_PER_MINUTE: '0' });
  app = sys.server!.listeners('request')[0] as Express;
});
afterAll(() => sys.cleanup());

describe('authentication on every /api route', () => {
  const routes = () => listRoutes(app).filter((r) => r.path.startsWith('/api'));

  it('finds the routes by walking the router (so new ones are covered automatically)', () => {
    const found = routes().map((r) => `${r.method} ${r.path}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'GET /api/jobs',
        'GET /api/jobs/active',
        'GET /api/jobs/runs',
        'GET /api/jobs/runs/:run_id',
        'GET /api/jobs/:job_id',
        'POST /api/jobs/:job_id/trigger',
        'POST /api/jobs/runs/:run_id/retry',
      ]),
    );
  });

  it('answers 401 without a token and 403 with a wrong one, on every route', async () => {
    for (const r of routes()) {
      const path = concrete(r.path);
      const m = r.method.toLowerCase() as 'get' | 'post';
      const none = await request(app)[m](path);
      expect([`${r.method} ${path}`, none.status, none.body.error]).toEqual([
        `${r.method} ${path}`,
        401,
        'unauthorized',
      ]);
      const wrong = await request(app)[m](path).set('Authorization', `Bearer ${TEST_TOKEN}x`);
      expect([`${r.method} ${path}`, wrong.status, wrong.body.error]).toEqual([
        `${r.method} ${path}`,
        403,
        'forbidden',
      ]);
      for (const bad of ['Basic dGVzdA==', TEST_TOKEN, `Bearer`, `bearer  `, `Token ${TEST_TOKEN}`]) {
        const res = await request(app)[m](path).set('Authorization', bad);
        expect([bad, res.status]).toEqual([bad, 401]);
      }
    }
  });

  it('the only routes answering without credentials are the listed public ones', async () => {
    const open = [];
    for (const r of listRoutes(app)) {
      const res = await request(app)[r.method.toLowerCase() as 'get'](concrete(r.path));
      if (res.status < 400) open.push(`${r.method} ${r.path}`);
    }
    expect(open.sort()).toEqual([...PUBLIC_ROUTES].sort());
  });
});

describe('constant-time token comparison', () => {
  it('matches only the exact token', () => {
    expect(tokenMatches(TEST_TOKEN, TEST_TOKEN)).toBe(true);
    for (const other of [
      '',
      TEST_TOKEN.slice(0, -1),
      `${TEST_TOKEN}x`,
      TEST_TOKEN.toUpperCase(),
      `${TEST_TOKEN.slice(0, -1)}g`,
      ' ',
      'é'.repeat(30),
    ]) {
      expect([other, tokenMatches(other, TEST_TOKEN)]).toEqual([other, false]);
    }
  });

  it('compares equal-length SHA-256 digests with crypto.timingSafeEqual, whatever the lengths given', () => {
    const spy = jest.spyOn(crypto, 'timingSafeEqual');
    try {
      tokenMatches('short', TEST_TOKEN);
      tokenMatches('x'.repeat(500), TEST_TOKEN);
      expect(spy).toHaveBeenCalledTimes(2);
      for (const [a, b] of spy.mock.calls) {
        expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32]);
      }
    } finally {
      spy.mockRestore();
    }
  });
});

describe('rate limit on failed authentication', () => {
  let limited: TestSystem;
  beforeAll(async () => {
    limited = await startTestSystem({ ROLES: 'api', AUTH_RATE_LIMIT_PER_MINUTE: '5' });
  });
  afterAll(() => limited.cleanup());

  it('answers 429 after 5 failures a minute from one address; the right token still works', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      statuses.push(
        (await request(limited.server!).get('/api/jobs').set('Authorization', `Bearer guess-${i}-0123456789`))
          .status,
      );
    }
    statuses.push((await request(limited.server!).get('/api/jobs')).status);
    expect(statuses).toEqual([403, 403, 403, 403, 403, 429]);
    const blocked = await request(limited.server!)
      .get('/api/jobs/active')
      .set('Authorization', 'Bearer another-guess-0123');
    expect(blocked.status).toBe(429);
    expect(blocked.body).toMatchObject({ error: 'too_many_auth_failures' });
    expect(blocked.headers['retry-after']).toBeDefined();
    const ok = await request(limited.server!).get('/api/jobs').set('Authorization', `Bearer ${TEST_TOKEN}`);
    expect(ok.status).toBe(200);
    expect(limited.logs.events()).toContain('auth_rate_limited');
  });

  it('does not count successful requests', async () => {
    const fresh = await startTestSystem({ ROLES: 'api', AUTH_RATE_LIMIT_PER_MINUTE: '3' });
    try {
      for (let i = 0; i < 20; i++) {
        expect(
          (await request(fresh.server!).get('/api/jobs').set('Authorization', `Bearer ${TEST_TOKEN}`)).status,
        ).toBe(200);
      }
      expect(
        (await request(fresh.server!).get('/api/jobs').set('Authorization', 'Bearer wrong-wrong-wrong'))
          .status,
      ).toBe(403);
    } finally {
      await fresh.cleanup();
    }
  });
});
