/**
 * Issue 11 item 7: dashboard sessions live in Redis as well as in the signed cookie. Logout ends the session
 * at once (a saved copy of the cookie gets 401), POST /jobs/monitor/logout-all ends every session, and
 * rotating SESSION_SECRET ends them too; API processes sharing one Redis share the sessions.
 */
import { sessionKeys } from '../../src/dashboard/session';
import { login } from '../helpers/dashboard';
import { testRedis, uniquePrefix } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(90_000);

const SECRET_A = 'a'.repeat(40);
const SECRET_B = 'b'.repeat(40);
const OPERATOR = 'operator-token-0123456789abcdef';
let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({
    ROLES: 'api',
    SESSION_SECRET: SECRET_A,
    SESSION_TTL_HOURS: '2',
    API_TOKENS: `ci:operator:${OPERATOR}`,
  });
});

/** The audit entries of logout-all, newest first, as `actor outcome code`. */
async function logoutAllAudit(base = sys.url): Promise<string[]> {
  const res = await fetch(`${base}/api/jobs/audit?limit=100`, {
    headers: { authorization: `Bearer ${TEST_TOKEN}` },
  });
  const { entries } = (await res.json()) as {
    entries: { action: string; actor: string; outcome: string; code?: string }[];
  };
  return entries
    .filter((e) => e.action === 'logout_all')
    .map((e) => `${e.actor} ${e.outcome} ${e.code ?? '-'}`);
}
afterAll(() => sys?.cleanup());

const get = (base: string, path: string, cookie: string) =>
  fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
const post = (path: string, cookie: string, csrf?: string) =>
  fetch(`${sys.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: csrf ? new URLSearchParams({ _csrf: csrf }).toString() : '',
  });
/** What a saved copy of a session cookie can still do: the API, Bull Board's API, the dashboard page. */
async function access(cookie: string, base = sys.url) {
  const page = await (await get(base, '/jobs/monitor', cookie)).text();
  return {
    api: (await get(base, '/api/jobs', cookie)).status,
    board: (await get(base, '/jobs/queues/api/queues', cookie)).status,
    page: page.includes('data-csrf') ? 'dashboard' : 'login',
  };
}
const SIGNED_IN = { api: 200, board: 200, page: 'dashboard' };
const SIGNED_OUT = { api: 401, board: 401, page: 'login' };

describe('revocable dashboard sessions', () => {
  it('stores the session in Redis with the session lifetime as TTL', async () => {
    const { cookie } = await login(sys.url);
    const id = decodeURIComponent(cookie.split('=')[1]).split('.')[0];
    const redis = testRedis();
    try {
      const ttl = await redis.pttl(sessionKeys(sys.prefix).session(id));
      expect(ttl).toBeGreaterThan(2 * 3_600_000 - 60_000);
      expect(ttl).toBeLessThanOrEqual(2 * 3_600_000);
    } finally {
      await redis.quit();
    }
  });

  it('logout ends the session at once: a cookie saved before logout gets 401 after', async () => {
    const { cookie, csrf } = await login(sys.url);
    expect(await access(cookie)).toEqual(SIGNED_IN);
    const out = await post('/jobs/monitor/logout', cookie, csrf);
    expect(out.status).toBe(303);
    expect(await access(cookie)).toEqual(SIGNED_OUT);
  });

  it('logout-all ends every session, including other browsers', async () => {
    const a = await login(sys.url);
    const b = await login(sys.url);
    expect(await access(b.cookie)).toEqual(SIGNED_IN);
    const res = await post('/jobs/monitor/logout-all', a.cookie, a.csrf);
    expect(res.status).toBe(303);
    expect(await access(b.cookie)).toEqual(SIGNED_OUT);
    expect(await access(a.cookie)).toEqual(SIGNED_OUT);
    expect(sys.logs.events()).toContain('dashboard_logout_all');
    expect((await logoutAllAudit())[0]).toBe('dashboard:admin ok -');
    // Signing in again works.
    const c = await login(sys.url);
    expect(await access(c.cookie)).toEqual(SIGNED_IN);
  });

  it('logout-all needs a session and its CSRF token', async () => {
    const a = await login(sys.url);
    expect((await post('/jobs/monitor/logout-all', '')).status).toBe(401);
    const noCsrf = await post('/jobs/monitor/logout-all', a.cookie);
    expect(noCsrf.status).toBe(403);
    expect(await noCsrf.json()).toMatchObject({ error: 'csrf_failed' });
    expect(await access(a.cookie)).toEqual(SIGNED_IN);
  });

  it('logout-all is for admins: an operator is refused (403 forbidden_role, audited) and sees no button', async () => {
    const admin = await login(sys.url);
    const op = await login(sys.url, OPERATOR);
    const page = async (cookie: string) => (await get(sys.url, '/jobs/monitor', cookie)).text();
    expect(await page(admin.cookie)).toContain('action="/jobs/monitor/logout-all"');
    expect(await page(op.cookie)).not.toContain('logout-all');
    expect(await page(op.cookie)).not.toContain('Log out everywhere');

    const res = await post('/jobs/monitor/logout-all', op.cookie, op.csrf);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      error: 'forbidden_role',
      required_role: 'admin',
      role: 'operator',
    });
    // Nobody was signed out.
    expect(await access(admin.cookie)).toEqual(SIGNED_IN);
    expect(await access(op.cookie)).toEqual(SIGNED_IN);
    expect((await logoutAllAudit())[0]).toBe('dashboard:ci refused forbidden_role');
  });

  it('under DASHBOARD_READ_ONLY even an admin is refused with 403 read_only, and sees no button', async () => {
    const ro = await startTestSystem({ ROLES: 'api', DASHBOARD_READ_ONLY: 'true', SESSION_SECRET: SECRET_A });
    try {
      const a = await login(ro.url);
      expect(await (await get(ro.url, '/jobs/monitor', a.cookie)).text()).not.toContain('logout-all');
      const res = await fetch(`${ro.url}/jobs/monitor/logout-all`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: a.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: a.csrf }).toString(),
      });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: 'read_only' });
      expect(await access(a.cookie, ro.url)).toEqual(SIGNED_IN);
      expect((await logoutAllAudit(ro.url))[0]).toBe('dashboard:admin refused read_only');
    } finally {
      await ro.cleanup();
    }
  });

  it('is shared by API processes with one Redis; rotating SESSION_SECRET ends every session', async () => {
    const { cookie } = await login(sys.url);
    const same = await startTestSystem({ ROLES: 'api', QUEUE_PREFIX: sys.prefix, SESSION_SECRET: SECRET_A });
    const rotated = await startTestSystem({
      ROLES: 'api',
      QUEUE_PREFIX: sys.prefix,
      SESSION_SECRET: SECRET_B,
    });
    try {
      expect(await access(cookie, same.url)).toEqual(SIGNED_IN);
      expect(await access(cookie, rotated.url)).toEqual(SIGNED_OUT);
    } finally {
      await same.stop();
      await rotated.stop();
    }
  });
});

describe('sessions with a different prefix', () => {
  it('are not valid across deployments sharing a Redis', async () => {
    const { cookie } = await login(sys.url);
    const other = await startTestSystem({
      ROLES: 'api',
      QUEUE_PREFIX: uniquePrefix('sess-other'),
      SESSION_SECRET: SECRET_A,
    });
    try {
      expect(await access(cookie, other.url)).toEqual(SIGNED_OUT);
    } finally {
      await other.cleanup();
    }
  });
});
