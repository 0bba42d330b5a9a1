import request from 'supertest';
import { MemorySessionStore, SESSION_COOKIE, SessionManager } from '../../src/dashboard/session';
import { RedisRunEventBus } from '../../src/queues/redis-run-events';
import { cookieFrom, login, type SeedRun, seedRuns } from '../helpers/dashboard';
import { testRedis, waitFor } from '../helpers/redis';
import { memoryLogger } from '../helpers/logger';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);

let sys: TestSystem;
let session: { cookie: string; csrf: string };
const now = Date.now();
const bearer = { Authorization: `Bearer ${TEST_TOKEN}` };

/** 30 runs of quick_job (every 4th failed), 10 of dyn_job for two users; 3 share each creation time. */
const SEED: SeedRun[] = [
  ...Array.from({ length: 30 }, (_, i) => ({
    run_id: `q${String(i).padStart(2, '0')}`,
    job_id: 'quick_job',
    status: (i % 4 === 0 ? 'failed' : 'completed') as SeedRun['status'],
    created_ms: now - 3_600_000 + Math.floor(i / 3) * 60_000,
    duration_ms: (i + 1) * 100,
    trigger: (i % 2 ? 'scheduled' : 'manual') as SeedRun['trigger'],
    error: i % 4 === 0 ? 'boom' : null,
  })),
  ...Array.from({ length: 10 }, (_, i) => ({
    run_id: `d${i}`,
    job_id: 'dyn_job',
    status: 'completed' as const,
    created_ms: now - 7_200_000 + i * 1000,
    duration_ms: 50,
    trigger: 'api' as const,
    user_id: i < 4 ? 'alice' : 'bob',
  })),
  // Old run outside a 24 h window but inside retention.
  {
    run_id: 'old1',
    job_id: 'quick_job',
    status: 'failed',
    created_ms: now - 3 * 86_400_000,
    duration_ms: 99_999,
  },
];

beforeAll(async () => {
  sys = await startTestSystem({ SSE_HEARTBEAT_SECONDS: '0.3' });
  await seedRuns(sys.store, SEED);
  session = await login(sys.url);
});
afterAll(() => sys.cleanup());

const api = () => request(sys.url);

describe('auth on every /api/jobs route', () => {
  const routes: [string, string][] = [
    ['get', '/api/jobs'],
    ['get', '/api/jobs/active'],
    ['get', '/api/jobs/runs'],
    ['get', '/api/jobs/runs/q01'],
    ['get', '/api/jobs/quick_job'],
    ['get', '/api/jobs/quick_job/stats'],
    ['post', '/api/jobs/runs/q00/retry'],
    ['post', '/api/jobs/quick_job/trigger'],
  ];
  it.each(routes)('%s %s: 401 without a token, 403 with a wrong one', async (method, path) => {
    const r = request(sys.url) as unknown as Record<string, (p: string) => request.Test>;
    const missing = await r[method](path);
    expect(missing.status).toBe(401);
    expect(missing.body.error).toBe('unauthorized');
    const wrong = await r[method](path).set('Authorization', 'Bearer not-the-token-000000');
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toBe('forbidden');
  });

  it('accepts the right token and the dashboard session on reads', async () => {
    expect((await api().get('/api/jobs').set(bearer)).status).toBe(200);
    const res = await api().get('/api/jobs').set('Cookie', session.cookie);
    expect(res.status).toBe(200);
    expect(res.body.jobs.map((j: { job_id: string }) => j.job_id)).toContain('quick_job');
    expect(res.body.jobs.find((j: { job_id: string }) => j.job_id === 'quick_job').schedule).toBe(
      'every 1 d',
    );
  });

  it('refuses expired, tampered and foreign sessions', async () => {
    const sm = new SessionManager({ token: TEST_TOKEN, ttlMs: 1000, store: new MemorySessionStore() });
    const expired = `${SESSION_COOKIE}=${sm.mint(Date.now() - 1000)}`;
    expect((await api().get('/api/jobs').set('Cookie', expired)).status).toBe(401);
    const value = session.cookie.split('=')[1];
    const [id, , sig] = value.split('.');
    const extended = `${SESSION_COOKIE}=${id}.${Date.now() + 1e9}.${sig}`;
    expect((await api().get('/api/jobs').set('Cookie', extended)).status).toBe(401);
    const other = new SessionManager({
      token: 'another-token-0123456789',
      ttlMs: 60_000,
      store: new MemorySessionStore(),
    });
    const foreign = `${SESSION_COOKIE}=${other.mint(Date.now() + 60_000)}`;
    expect((await api().get('/api/jobs').set('Cookie', foreign)).status).toBe(401);
    // The page itself falls back to the login form.
    const page = await api().get('/jobs/monitor').set('Cookie', expired);
    expect(page.text).toContain('id="token"');
    expect(page.text).not.toContain('data-csrf');
  });

  it('requires the CSRF token for POSTs made with the session', async () => {
    const none = await api().post('/api/jobs/quick_job/trigger').set('Cookie', session.cookie);
    expect(none.status).toBe(403);
    expect(none.body.error).toBe('csrf_failed');
    const wrong = await api()
      .post('/api/jobs/quick_job/trigger')
      .set('Cookie', session.cookie)
      .set('X-CSRF-Token', 'nope');
    expect(wrong.status).toBe(403);
    const ok = await api()
      .post('/api/jobs/quick_job/trigger')
      .set('Cookie', session.cookie)
      .set('X-CSRF-Token', session.csrf);
    expect(ok.status).toBe(202);
    expect(ok.body.run_id).toMatch(/^m[0-9a-f]{12}$/);
    await waitFor(async () => (await sys.store.get(ok.body.run_id))?.status === 'completed');
  });
});

describe('login and logout', () => {
  it('sets a signed HttpOnly SameSite=Strict cookie with an expiry, and never echoes the token', async () => {
    const form = await api().get('/jobs/monitor');
    expect(form.status).toBe(200);
    expect(form.text).not.toContain(TEST_TOKEN);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1];
    const loginCookie = cookieFrom(form.headers['set-cookie'] as unknown as string[], 'jm_login')!;
    const res = await api()
      .post('/jobs/monitor/login')
      .set('Cookie', loginCookie)
      .type('form')
      .send({ token: TEST_TOKEN, _csrf: csrf, next: 'https://evil.example/' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/jobs/monitor');
    const set = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('jm_session='))!;
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).toMatch(/Max-Age=43200/);
    expect(set).not.toContain(TEST_TOKEN);
  });

  it('rejects a wrong token (401) and a form without its CSRF nonce (403)', async () => {
    const form = await api().get('/jobs/monitor');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1];
    const loginCookie = cookieFrom(form.headers['set-cookie'] as unknown as string[], 'jm_login')!;
    const wrong = await api()
      .post('/jobs/monitor/login')
      .set('Cookie', loginCookie)
      .type('form')
      .send({ token: 'wrong-token-0000000000', _csrf: csrf });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('Wrong token.');
    expect(wrong.headers['set-cookie']?.toString() ?? '').not.toContain('jm_session=');
    const noNonce = await api()
      .post('/jobs/monitor/login')
      .type('form')
      .send({ token: TEST_TOKEN, _csrf: csrf });
    expect(noNonce.status).toBe(403);
  });

  it('logs out with the CSRF token and refuses a logout without it', async () => {
    const s = await login(sys.url);
    const bad = await api().post('/jobs/monitor/logout').set('Cookie', s.cookie).type('form').send({});
    expect(bad.status).toBe(403);
    const res = await api()
      .post('/jobs/monitor/logout')
      .set('Cookie', s.cookie)
      .type('form')
      .send({ _csrf: s.csrf });
    expect(res.status).toBe(303);
    expect((res.headers['set-cookie'] as unknown as string[]).join()).toMatch(
      /jm_session=;.*Expires=Thu, 01 Jan 1970/,
    );
  });

  it('serves the page with a strict CSP (no inline scripts) and helmet headers', async () => {
    const res = await api().get('/jobs/monitor').set('Cookie', session.cookie);
    const csp = res.headers['content-security-policy'];
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.text).not.toMatch(/<script>(?!<\/script>)/);
    expect(res.text).toContain('src="/jobs/monitor/static/dashboard.js"');
    const js = await api().get('/jobs/monitor/static/dashboard.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.text).not.toMatch(/\.innerHTML\s*=|insertAdjacentHTML|document\.write/);
  });
});

describe('GET /api/jobs/runs', () => {
  const runs = (q: string) => api().get(`/api/jobs/runs${q}`).set(bearer);

  it('pages through every run newest first with a stable cursor, ties included', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await runs(`?job_id=quick_job&limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.runs.map((r: { run_id: string }) => r.run_id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 20);
    const expected = SEED.filter((r) => r.job_id === 'quick_job').length;
    expect(seen.length).toBeGreaterThanOrEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.at(-1)).toBe('old1');
  });

  it('filters by status, user, trigger and since, combined', async () => {
    const failed = await runs('?job_id=quick_job&status=failed&limit=200');
    expect(failed.body.runs.every((r: { status: string }) => r.status === 'failed')).toBe(true);
    expect(failed.body.runs.length).toBeGreaterThanOrEqual(9);
    const alice = await runs('?user_id=alice');
    expect(alice.body.runs.map((r: { run_id: string }) => r.run_id).sort()).toEqual(['d0', 'd1', 'd2', 'd3']);
    const manual = await runs('?trigger=manual&job_id=quick_job&limit=200');
    expect(manual.body.runs.every((r: { trigger: string }) => r.trigger === 'manual')).toBe(true);
    const since = await runs(`?job_id=dyn_job&since=${new Date(now - 7_200_000 + 7000).toISOString()}`);
    expect(since.body.runs.map((r: { run_id: string }) => r.run_id)).toEqual(['d9', 'd8', 'd7']);
    const multi = await runs('?job_id=quick_job&status=failed,completed&limit=1');
    expect(multi.body.runs).toHaveLength(1);
    expect(multi.body.next_cursor).toEqual(expect.any(String));
    const none = await runs('?user_id=nobody');
    expect(none.body).toEqual({ runs: [], next_cursor: null });
  });

  it('answers the last page with next_cursor null and limit=200 in one page', async () => {
    const res = await runs('?job_id=dyn_job&limit=10');
    expect(res.body.runs).toHaveLength(10);
    expect(res.body.next_cursor).toBeNull();
    expect((await runs('?limit=200')).status).toBe(200);
  });

  it.each([
    ['?limit=0', 'limit'],
    ['?limit=201', 'limit'],
    ['?limit=abc', 'limit'],
    ['?status=done', 'status'],
    ['?trigger=cron', 'trigger'],
    ['?since=yesterday', 'since'],
    ['?cursor=bm90LWEtY3Vyc29y', 'cursor'],
    ['?job_id=Bad-Id', 'job_id'],
    ['?limit=1&limit=2', 'limit'],
    ['?color=red', 'color'],
  ])('%s → 400 invalid_query naming %s', async (q, field) => {
    const res = await runs(q);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_query', field });
  });
});

describe('runs, jobs, trigger and retry', () => {
  it('returns one run with logs, 404 for an unknown run and 400 for a malformed id', async () => {
    const one = await api().get('/api/jobs/runs/q01').set(bearer);
    expect(one.body.run).toMatchObject({ run_id: 'q01', job_id: 'quick_job', logs: [] });
    expect((await api().get('/api/jobs/runs/nope').set(bearer)).body.error).toBe('run_not_found');
    expect((await api().get('/api/jobs/runs/%20bad').set(bearer)).status).toBe(400);
  });

  it('returns a job with its latest runs; 404 unknown, 400 malformed', async () => {
    const job = await api().get('/api/jobs/quick_job').set(bearer);
    expect(job.body.job.job_id).toBe('quick_job');
    expect(job.body.job).not.toHaveProperty('callback_name');
    expect(job.body.runs.length).toBeGreaterThan(0);
    expect((await api().get('/api/jobs/no_such_job').set(bearer)).status).toBe(404);
    expect((await api().get('/api/jobs/BAD').set(bearer)).status).toBe(400);
  });

  it('refuses to trigger dynamic (400), disabled (409) and unknown (404) jobs', async () => {
    expect((await api().post('/api/jobs/dyn_job/trigger').set(bearer)).body.error).toBe(
      'job_not_triggerable',
    );
    expect((await api().post('/api/jobs/disabled_job/trigger').set(bearer)).status).toBe(409);
    expect((await api().post('/api/jobs/no_such/trigger').set(bearer)).status).toBe(404);
  });

  it('refuses a second trigger while one runs (409 with the run id)', async () => {
    const first = await api().post('/api/jobs/counted_job/trigger').set(bearer);
    expect(first.status).toBe(202);
    const second = await api().post('/api/jobs/counted_job/trigger').set(bearer);
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ error: 'job_already_running', run_id: first.body.run_id });
    await waitFor(async () => (await sys.store.get(first.body.run_id))?.status === 'completed');
  });

  it('retries a failed run (202, new run) and refuses a completed one (409)', async () => {
    const res = await api().post('/api/jobs/runs/q00/retry').set(bearer);
    expect(res.status).toBe(202);
    expect(res.body.run_id).not.toBe('q00');
    expect((await api().post('/api/jobs/runs/q01/retry').set(bearer)).body).toMatchObject({
      error: 'run_not_failed',
      status: 'completed',
    });
    expect((await api().post('/api/jobs/runs/nope/retry').set(bearer)).status).toBe(404);
    await waitFor(async () => (await sys.store.get(res.body.run_id))?.status === 'completed');
  });
});

describe('GET /api/jobs/:job_id/stats', () => {
  it('counts by status, success rate and duration percentiles over the window', async () => {
    const res = await api().get('/api/jobs/dyn_job/stats?window=24h').set(bearer);
    expect(res.status).toBe(200);
    expect(res.body.stats).toMatchObject({
      job_id: 'dyn_job',
      window_ms: 86_400_000,
      counts: { completed: 10, failed: 0, pending: 0, running: 0, skipped: 0 },
      total: 10,
      success_rate: 1,
      duration_ms: { p50: 50, p95: 50, max: 50, sample: 10 },
      last_run: { run_id: 'd9', status: 'completed' },
      next_run_at: null,
    });
    expect(res.body.stats.recent).toHaveLength(10);
  });

  it('leaves out runs older than the window and includes them in a wider one', async () => {
    const day = (await api().get('/api/jobs/boom_job/stats').set(bearer)).body.stats;
    expect(day.total).toBe(0);
    expect(day.success_rate).toBeNull();
    const q = (await api().get('/api/jobs/quick_job/stats?window=24h').set(bearer)).body.stats;
    const week = (await api().get('/api/jobs/quick_job/stats?window=7d').set(bearer)).body.stats;
    expect(week.counts.failed).toBe(q.counts.failed + 1);
    expect(week.duration_ms.max).toBe(99_999);
    expect(q.duration_ms.max).toBeLessThan(99_999);
  });

  it('reports the next run of the job scheduler', async () => {
    await sys.queues
      .get('tq')
      .upsertJobScheduler('flaky_job', { pattern: '0 4 * * *' }, { name: 'flaky_job' });
    const res = await api().get('/api/jobs/flaky_job/stats').set(bearer);
    const next = Date.parse(res.body.stats.next_run_at);
    expect(next).toBeGreaterThan(Date.now());
    expect(new Date(next).getMinutes()).toBe(0);
    await sys.queues.get('tq').removeJobScheduler('flaky_job');
  });

  it.each(['0h', '8d', 'abc', '24'])('window=%s → 400', async (w) => {
    const res = await api().get(`/api/jobs/quick_job/stats?window=${w}`).set(bearer);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_query', field: 'window' });
  });

  it('404 for an unknown job', async () => {
    expect((await api().get('/api/jobs/nope_job/stats').set(bearer)).body.error).toBe('job_not_found');
  });
});

// biome-ignore lint/suspicious/noExplicitAny: SSE payloads are checked field by field
type Frame = { event: string; data: any };

/** Reads SSE frames from a real HTTP connection until `until` says stop. */
async function readStream(
  headers: Record<string, string>,
  until: (events: Frame[]) => boolean,
  onOpen?: () => Promise<void>,
) {
  const ctrl = new AbortController();
  const res = await fetch(`${sys.url}/api/jobs/stream`, { headers, signal: ctrl.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: Frame[] = [];
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let opened = false;
  const deadline = Date.now() + 30_000;
  while (!until(events) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev = /^event: (.+)$/m.exec(frame)?.[1];
      const data = /^data: (.+)$/m.exec(frame)?.[1];
      if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
      if (ev === 'ready' && !opened) {
        opened = true;
        await onOpen?.();
      }
    }
  }
  ctrl.abort();
  return events;
}

describe('GET /api/jobs/stream', () => {
  it('streams created, progress, log and finished for a run, and heartbeats', async () => {
    let runId = '';
    const events = await readStream(
      { cookie: session.cookie },
      (evs) =>
        evs.some((e) => e.event === 'finished' && e.data.run_id === runId) &&
        evs.some((e) => e.event === 'heartbeat'),
      async () => {
        runId = (await sys.service.trigger('slow_job', { payload: { ms: 600 } })).run_id;
      },
    );
    const mine = events.filter((e) => e.data.run_id === runId);
    const kinds = new Set(mine.map((e) => e.event));
    expect(kinds.has('finished')).toBe(true);
    expect(kinds.has('log')).toBe(true);
    expect(kinds.has('progress') || kinds.has('created')).toBe(true);
    expect(mine.at(-1)?.event === 'finished' || mine.at(-2)?.event === 'finished').toBe(true);
    const fin = mine.find((e) => e.event === 'finished')!;
    expect(fin.data).toMatchObject({
      type: 'finished',
      job_id: 'slow_job',
      run: { status: 'completed', progress: 100 },
    });
    for (const e of mine) expect(e.data.job_id === null || e.data.job_id === 'slow_job').toBe(true);
    const progress = mine.filter((e) => e.event === 'progress').map((e) => e.data.run.progress);
    expect(progress.every((p) => p === undefined || (p >= 0 && p <= 100))).toBe(true);
    expect(events.some((e) => e.event === 'heartbeat')).toBe(true);
  });

  it('delivers events another process published to Redis (several API processes)', async () => {
    const redis = testRedis();
    const otherTracker = new RedisRunEventBus(redis, sys.prefix, memoryLogger().logger);
    const events = await readStream(
      { Authorization: `Bearer ${TEST_TOKEN}` },
      (evs) => evs.some((e) => e.data.run_id === 'elsewhere'),
      () =>
        otherTracker.publish([
          {
            type: 'log',
            run_id: 'elsewhere',
            job_id: 'quick_job',
            run: {},
            logs: [{ time: 'x', level: 'info', message: '<b>hi</b>' }],
          },
        ]),
    );
    expect(events.find((e) => e.data.run_id === 'elsewhere')?.data.logs[0].message).toBe('<b>hi</b>');
    await redis.quit();
  });

  it('401 without credentials', async () => {
    expect((await api().get('/api/jobs/stream')).status).toBe(401);
  });
});

describe('Bull Board at /jobs/queues', () => {
  it('lists every queue of the system to a session and nothing to anyone else', async () => {
    const anon = await api().get('/jobs/queues');
    expect(anon.status).toBe(303);
    expect(anon.headers.location).toBe('/jobs/monitor/login?next=%2Fjobs%2Fqueues');
    expect((await api().get('/jobs/queues/api/queues')).status).toBe(401);
    const page = await api().get('/jobs/queues').set('Cookie', session.cookie);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'(;|$)/);
    const qs = await api().get('/jobs/queues/api/queues').set('Cookie', session.cookie);
    expect(qs.status).toBe(200);
    expect(qs.body.queues.map((q: { name: string }) => q.name).sort()).toEqual(
      sys.queues.names.slice().sort(),
    );
    expect(qs.body.queues[0].readOnlyMode).toBe(false);
  });

  it('refuses cross-origin writes', async () => {
    const res = await api()
      .put('/jobs/queues/api/queues/tq/pause')
      .set('Cookie', session.cookie)
      .set('Origin', 'https://evil.example');
    expect(res.status).toBe(403);
  });
});
