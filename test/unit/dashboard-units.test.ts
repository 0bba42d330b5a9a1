import type { Request, Response } from 'express';
import { safeNext } from '../../src/dashboard/dashboard-routes';
import { dashboardPage, esc, jsonScript, loginPage } from '../../src/dashboard/pages';
import { RUN_WORDS } from '../../src/monitor/run-words';
import {
  MemorySessionStore,
  SESSION_COOKIE,
  SessionManager,
  sessionAltAuth,
} from '../../src/dashboard/session';
import { percentile, summarizeStats } from '../../src/monitor/job-stats';
import type { RunUpdate } from '../../src/monitor/run';
import { updatesToEvents } from '../../src/monitor/run-events';
import { describeCron, describeInterval, describeSchedule } from '../../src/monitor/schedule-words';

const req = (cookie: string | null, method = 'GET', csrf?: string) =>
  ({
    method,
    headers: cookie ? { cookie } : {},
    body: {},
    get: (h: string) => (h.toLowerCase() === 'x-csrf-token' ? csrf : undefined),
  }) as unknown as Request;

describe('schedule in words', () => {
  it.each([
    [3600, 'every 1 h'],
    [5400, 'every 90 min'],
    [86_400, 'every 1 d'],
    [90, 'every 90 s'],
    [1.5, 'every 1.5 s'],
  ])('%s s → %s', (s, words) => expect(describeInterval(s)).toBe(words));
  it.each([
    ['17 3 * * *', 'daily at 03:17'],
    ['*/15 * * * *', 'every 15 min'],
    ['5 * * * *', 'hourly at :05'],
    ['0 9 * * 1', 'Mon at 09:00'],
    ['0 0 1 * *', 'cron 0 0 1 * *'],
  ])('cron %s → %s', (c, words) => expect(describeCron(c)).toBe(words));
  it('names one-off and dynamic jobs', () => {
    expect(describeSchedule({ job_type: 'once', interval_seconds: null, cron: null })).toBe('once');
    expect(describeSchedule({ job_type: 'dynamic', interval_seconds: null, cron: null })).toBe('on demand');
  });
});

describe('stats summary', () => {
  it('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 95)).toBe(95);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });
  it('success rate counts completed against failed only; recent is oldest first', () => {
    const finished = [
      { run_id: 'c', status: 'failed' as const, created_at: '2024-01-01T00:00:03Z', duration_ms: 300 },
      { run_id: 'b', status: 'completed' as const, created_at: '2024-01-01T00:00:02Z', duration_ms: 100 },
      { run_id: 'a', status: 'skipped' as const, created_at: '2024-01-01T00:00:01Z', duration_ms: null },
    ];
    const s = summarizeStats(
      { counts: { pending: 1, running: 0, completed: 3, failed: 1, skipped: 2, cancelled: 0 }, finished },
      { job_id: 'j', window_ms: 1000, now: 10_000, last_run: null, next_run_at: 20_000 },
    );
    expect(s.success_rate).toBe(0.75);
    expect(s.total).toBe(7);
    expect(s.duration_ms).toEqual({
      p50: 100,
      p95: 300,
      p99: 300,
      max: 300,
      sample: 2,
      sample_limit: 500,
      sample_since: '2024-01-01T00:00:01Z',
      // The counts say 6 runs of the window finished; the sample holds 3 of them.
      covers_window: false,
    });
    expect(s.failure_rate).toBe(0.25);
    expect(s.recent.map((r) => r.run_id)).toEqual(['a', 'b', 'c']);
    expect(s.next_run_at).toBe(new Date(20_000).toISOString());
    expect(s.since).toBe(new Date(9000).toISOString());
  });
});

describe('run events from stored updates', () => {
  const identity = { job_id: 'j', queue: 'q', created_at: 't', trigger: 'manual' as const, user_id: null };
  const u = (patch: RunUpdate['patch'], extra: Partial<RunUpdate> = {}): RunUpdate => ({
    run_id: 'r',
    seq: '1',
    identity,
    patch,
    logs: [],
    ...extra,
  });
  it('maps lifecycle changes to created, progress, log and finished', () => {
    expect(updatesToEvents([u({ status: 'pending' })]).map((e) => e.type)).toEqual(['created']);
    expect(updatesToEvents([u({ status: 'running' })]).map((e) => e.type)).toEqual(['progress']);
    const done = updatesToEvents([
      u(
        { status: 'completed', progress: 100, result: { big: 'x' } },
        { logs: [{ time: 't', level: 'info', message: 'm', seq: '1' }] },
      ),
    ]);
    expect(done.map((e) => e.type)).toEqual(['log', 'finished']);
    expect(done[1].run).not.toHaveProperty('result');
    expect(done[0].logs).toEqual([{ time: 't', level: 'info', message: 'm' }]);
  });
  it('drops placeholder identities of progress events and emits nothing for invisible changes', () => {
    const [ev] = updatesToEvents([u({ progress: 40 }, { identity: { ...identity, job_id: 'unknown' } })]);
    expect(ev).toEqual({ type: 'progress', run_id: 'r', job_id: null, run: { progress: 40 } });
    expect(updatesToEvents([u({ attempts: 2 })])).toEqual([]);
  });
});

describe('dashboard sessions', () => {
  const fakeRes = () => {
    const cookies: Record<string, string> = {};
    return {
      cookies,
      res: {
        cookie: (n: string, v: string) => {
          cookies[n] = v;
        },
      } as unknown as Response,
    };
  };
  it('issues a session that verifies until it expires', async () => {
    let now = 1_000_000;
    const store = new MemorySessionStore(() => now);
    const sm = new SessionManager({ token: 'tok-0123456789abcdef', ttlMs: 60_000, store, now: () => now });
    const { res, cookies } = fakeRes();
    const s = await sm.issue(req(null), res);
    const cookie = `${SESSION_COOKIE}=${cookies[SESSION_COOKIE]}`;
    expect(cookies[SESSION_COOKIE]).not.toContain('tok-0123456789abcdef');
    const r = req(cookie);
    expect(sm.read(r)).toBeNull(); // not loaded yet
    expect(await sm.load(r)).toEqual(s);
    expect(sm.read(r)).toEqual(s);
    now += 60_001;
    expect(await sm.load(req(cookie))).toBeNull();
  });
  it('a signed cookie the store does not hold (ended, or never issued) is no session', async () => {
    const store = new MemorySessionStore();
    const sm = new SessionManager({ token: 'tok-0123456789abcdef', ttlMs: 60_000, store });
    const cookie = `${SESSION_COOKIE}=${sm.mint(Date.now() + 60_000, 'abc')}`;
    expect(await sm.load(req(cookie))).toBeNull();
    await store.create('abc', 60_000);
    expect(await sm.load(req(cookie))).not.toBeNull();
    await store.end('abc');
    expect(await sm.load(req(cookie))).toBeNull();
    await store.create('abc', 60_000);
    await sm.endAll();
    expect(await sm.load(req(cookie))).toBeNull();
  });
  it('binds CSRF to the session and checks it on unsafe methods only', async () => {
    const store = new MemorySessionStore();
    const sm = new SessionManager({ token: 'tok-0123456789abcdef', ttlMs: 60_000, store });
    await store.create('abc', 60_000);
    const cookie = `${SESSION_COOKIE}=${sm.mint(Date.now() + 60_000, 'abc')}`;
    const alt = sessionAltAuth(sm);
    const loaded = async (r: Request) => {
      await sm.load(r);
      return r;
    };
    const admin = { name: 'admin', role: 'admin', via: 'dashboard' };
    expect(alt(await loaded(req(cookie)))).toEqual(admin);
    const post = await loaded(req(cookie, 'POST'));
    expect(() => alt(post)).toThrow(expect.objectContaining({ code: 'csrf_failed' }));
    expect(alt(await loaded(req(cookie, 'POST', sm.csrfFor('abc'))))).toEqual(admin);
    const wrong = await loaded(req(cookie, 'POST', sm.csrfFor('other')));
    expect(() => alt(wrong)).toThrow();
    expect(alt(req(null))).toBe(false);
  });
  it('SESSION_SECRET replaces the token-derived key', async () => {
    const store = new MemorySessionStore();
    await store.create('abc', 60_000);
    const a = new SessionManager({ token: 'tok-0123456789abcdef', ttlMs: 1, secret: 's'.repeat(32), store });
    const b = new SessionManager({ token: 'tok-0123456789abcdef', ttlMs: 1, store });
    const cookie = `${SESSION_COOKIE}=${a.mint(Date.now() + 60_000, 'abc')}`;
    expect(await a.load(req(cookie))).not.toBeNull();
    expect(await b.load(req(cookie))).toBeNull();
  });
});

describe('page helpers', () => {
  it('escapes HTML', () => expect(esc(`<a href="x">'&`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;'));
  it('a JSON island can not be closed by its values, and reads back as the same value', () => {
    const value = { x: '</script><script>alert(1)</script>', y: 'a & b > c' };
    const html = jsonScript('jm-x', value);
    expect(html.match(/<\/script>/g)).toHaveLength(1);
    const body = html.replace(/^<script type="application\/json" id="jm-x">/, '').replace(/<\/script>$/, '');
    expect(JSON.parse(body)).toEqual(value);
  });
  it('Hebrew pages carry the run words the bot uses (statuses, triggers) for i18n-he.js; English ones none', () => {
    const words = (html: string) => {
      const m = /<script type="application\/json" id="jm-words">(.*?)<\/script>/.exec(html);
      return m ? JSON.parse(m[1]) : null;
    };
    const he = words(dashboardPage({ csrf: 'c', readOnly: false, expiresAt: 0, locale: 'he' }));
    expect(he).toEqual({ ...RUN_WORDS.he.status, ...RUN_WORDS.he.trigger });
    expect(he.completed).toBe('הושלם');
    expect(words(loginPage({ csrf: 'c', next: '/jobs/monitor', locale: 'he' }))?.manual).toBe('ידני');
    expect(words(loginPage({ csrf: 'c', next: '/jobs/monitor' }))).toBeNull();
  });
  it.each([
    ['/jobs/monitor?run_id=abc', '/jobs/monitor?run_id=abc'],
    ['/jobs/queues', '/jobs/queues'],
    ['//evil.example/jobs/monitor', '/jobs/monitor'],
    ['https://evil.example', '/jobs/monitor'],
    ['/jobs/monitorx', '/jobs/monitor'],
    ['/jobs/monitor/\\evil', '/jobs/monitor'],
    ['/recordings/player?call_sid=CA1', '/recordings/player?call_sid=CA1'],
    ['/recordings/playerx', '/jobs/monitor'],
    ['/recordings/file/CA1', '/jobs/monitor'],
    [undefined, '/jobs/monitor'],
  ])('safeNext(%s) → %s', (v, out) => expect(safeNext(v)).toBe(out));
});
