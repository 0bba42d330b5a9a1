/**
 * Dashboard visibility (issue 13) in a real browser: the Workers panel, search and date range, the run
 * detail modal, trends, and the phone layout (no sideways scroll at 390×844).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { CHROMIUM_PATH } from '../helpers/browser';
import { type AttemptRecord, marksUpdate } from '../../src/monitor/run';
import { type SeedRun, seedRuns, seedUpdates } from '../helpers/dashboard';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(120_000);

// Screenshots go to test/artifacts; `SCREENSHOTS_DIR=docs npx jest test/e2e/visibility` refreshes the README's.
const DOCS = join(__dirname, '..', '..', process.env.SCREENSHOTS_DIR ?? join('test', 'artifacts'));
/** One screenshot per view and size (never the README's). */
const ARTIFACTS = join(__dirname, '..', 'artifacts');
const XSS = '<img src=x onerror=alert(1)>';

let sys: TestSystem;
let browser: Browser;

function history(now: number): SeedRun[] {
  const runs: SeedRun[] = [];
  for (let i = 1; i <= 30; i++) {
    const failed = i % 7 === 0;
    runs.push({
      run_id: `seed-q-${i}`,
      job_id: 'quick_job',
      status: failed ? 'failed' : 'completed',
      created_ms: now - i * 3_600_000,
      duration_ms: 800 + ((i * 397) % 900),
      error: failed ? `upstream refused ${XSS}` : null,
    });
  }
  return runs;
}

/**
 * A busy job: 510 finished runs two to six days ago, more than the 500 the duration percentiles are taken over
 * (older than the first history page).
 */
function busyJob(now: number): SeedRun[] {
  return Array.from({ length: 510 }, (_, i) => ({
    run_id: `seed-busy-${i}`,
    job_id: 'chatty_job',
    status: 'completed' as const,
    created_ms: now - 2 * 86_400_000 - i * 10 * 60_000,
    duration_ms: 300 + (i % 50) * 10,
  }));
}

/** A failed run with two attempts and a stack, retried by a second run. */
async function seedRetryPair(sys: TestSystem, now: number): Promise<void> {
  const [first, second] = seedUpdates([
    {
      run_id: 'seed-fail-1',
      job_id: 'quick_job',
      status: 'failed',
      created_ms: now - 600_000,
      duration_ms: 900,
      error: 'boom',
    },
    {
      run_id: 'seed-retry-1',
      job_id: 'quick_job',
      status: 'completed',
      created_ms: now - 300_000,
      duration_ms: 400,
    },
  ]);
  const at = (ms: number) => new Date(now - 600_000 + ms).toISOString();
  // As its worker left it: the second attempt's worker, two attempts.
  first.patch.attempts = 2;
  first.patch.worker = 'host-2:42';
  first.patch.error_stack = [
    'Error: boom',
    ...Array.from({ length: 30 }, (_, i) => `    at frame${i} (x.js:${i}:1)`),
  ].join('\n');
  const attempts: AttemptRecord[] = [1, 2].map((n) => ({
    attempt: n,
    started_at: at(n * 1000),
    ended_at: at(n * 1000 + 400),
    worker: `host-${n}:4${n}`,
    outcome: n === 1 ? 'stalled' : 'failed',
    error: n === 1 ? 'worker stopped answering' : `boom ${XSS}`,
  }));
  second.identity = { ...second.identity, retry_of: 'seed-fail-1' };
  await sys.store.apply([first, second]);
  // Each attempt's record, as the worker's recorder stores it (a newer seq each), and the retry link back.
  await sys.store.apply(
    attempts.map((attempt, i) => ({
      run_id: 'seed-fail-1',
      seq: `${first.seq}~${i + 1}`,
      identity: first.identity,
      patch: {},
      logs: [],
      attempt,
    })),
  );
  const stored = await sys.store.get('seed-fail-1');
  await sys.store.apply([marksUpdate(stored!, { retried_by: 'seed-retry-1' })]);
}

beforeAll(async () => {
  mkdirSync(DOCS, { recursive: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  sys = await startTestSystem({ WORKER_HEARTBEAT_SECONDS: '0.5' });
  await seedRuns(sys.store, history(Date.now()));
  await seedRetryPair(sys, Date.now());
  await seedRuns(sys.store, busyJob(Date.now()));
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
afterAll(async () => {
  await browser?.close();
  await sys?.cleanup();
});

async function newPage(viewport = { width: 1360, height: 1000 }): Promise<{ page: Page; errors: string[] }> {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('dialog', (d) => {
    errors.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  return { page, errors };
}

async function signIn(page: Page, path = '/jobs/monitor'): Promise<void> {
  await page.goto(`${sys.url}${path}`);
  await page.fill('#token', TEST_TOKEN);
  await Promise.all([page.waitForURL(/\/jobs\//), page.click('button[type=submit]')]);
}

describe('Workers panel', () => {
  it('shows this worker, the run it is on (opening the run) and the queue depth', async () => {
    const { page, errors } = await newPage();
    const { run_id } = await sys.service.trigger('slow_job', { payload: { ms: 12_000 } });
    // The panel loads the workers when the page opens, then every 10 s: the page opens once a heartbeat
    // carries the run (an earlier load would show it only at the next poll, after a short run has ended).
    const carried = await waitFor(async () => {
      const res = await fetch(`${sys.url}/api/jobs/workers`, {
        headers: { authorization: `Bearer ${TEST_TOKEN}` },
      });
      const body = (await res.json()) as { workers: { runs: string[] }[] };
      return body.workers.some((w) => w.runs.includes(run_id));
    }, 20_000);
    expect(carried).toBe(true);
    await signIn(page);
    const card = page.locator(`.worker-card[data-worker-id="${sys.workers!.name}"]`);
    await card.waitFor();
    await page.waitForFunction(
      (id) => Array.from(document.querySelectorAll('.worker-runs button')).some((b) => b.textContent === id),
      run_id,
      { timeout: 30_000 },
    );
    await expect(page.locator('.depth[data-queue="tq"]').textContent()).resolves.toContain('tq');
    await page.screenshot({ path: join(DOCS, 'dashboard-desktop.png'), fullPage: true });
    await card.locator('.worker-runs button', { hasText: run_id }).click();
    await page.locator('#run-modal[open] #modal-body .facts').waitFor();
    await expect(page.locator('#modal-body').textContent()).resolves.toContain(run_id);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

describe('History search and date range', () => {
  it('sends q, and From/To as local days (To inclusive); the rows shown are inside the range', async () => {
    const { page, errors } = await newPage();
    await signIn(page);
    await page.locator('#runs-body tr[data-run-id]').first().waitFor();
    const today = await page.evaluate(() => {
      const d = new Date();
      return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    });
    await page.fill('#filters input[name="since"]', today);
    await page.fill('#filters input[name="until"]', today);
    await page.fill('#filters input[name="q"]', '  seed-q-3 ');
    const [req] = await Promise.all([
      page.waitForRequest((r) => r.url().includes('/api/jobs/runs?') && r.url().includes('since=')),
      page.click('#filters button[type="submit"]'),
    ]);
    const params = new URL(req.url()).searchParams;
    expect(params.get('q')).toBe('seed-q-3');
    const [since, until] = await page.evaluate((day) => {
      const start = new Date(`${day}T00:00:00`);
      const next = new Date(start);
      next.setDate(next.getDate() + 1);
      return [String(start.getTime()), String(next.getTime())];
    }, today);
    expect(params.get('since')).toBe(since);
    expect(params.get('until')).toBe(until);
    await page.waitForLoadState('networkidle');
    const created = await page.$$eval('#runs-body tr[data-run-id] time', (ts) =>
      ts.map((t) => Date.parse(t.getAttribute('datetime') ?? '')),
    );
    for (const at of created) {
      expect(at).toBeGreaterThanOrEqual(Number(since));
      expect(at).toBeLessThan(Number(until));
    }
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

describe('History answers out of order', () => {
  it('a slow unfiltered load that answers after a search does not replace the search results', async () => {
    const { page, errors } = await newPage();
    // Every unfiltered history request (the one made at sign-in) is held 2 s; searches go straight through.
    const isHistory = (url: string) => new URL(url).pathname === '/api/jobs/runs';
    await page.route(
      (url) => isHistory(url.href) && !url.searchParams.has('q'),
      async (route) => {
        await new Promise((r) => setTimeout(r, 2000));
        await route.continue();
      },
    );
    const slow = page.waitForResponse((r) => isHistory(r.url()) && !new URL(r.url()).searchParams.has('q'), {
      timeout: 30_000,
    });
    await signIn(page);
    await page.fill('#filters input[name="q"]', 'seed-q-3');
    await Promise.all([
      page.waitForResponse(
        (r) => isHistory(r.url()) && new URL(r.url()).searchParams.get('q') === 'seed-q-3',
      ),
      page.press('#filters input[name="q"]', 'Enter'),
    ]);
    await page.locator('#runs-body tr[data-run-id="seed-q-3"]').waitFor();
    await slow;
    // Give the page the turn in which it would have drawn the late answer.
    await page.evaluate(() => new Promise((r) => setTimeout(r, 100)));
    const shown = await page.$$eval('#runs-body tr[data-run-id]', (rows) =>
      rows.map((r) => r.getAttribute('data-run-id')),
    );
    expect(shown).toEqual(['seed-q-3']);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

describe('Run detail modal', () => {
  it('shows the attempts timeline, the stack (20 lines), retry links both ways, and the redacted payload', async () => {
    const { page, errors } = await newPage();
    await signIn(page, '/jobs/monitor?run_id=seed-fail-1');
    await page.locator('#modal-body .timeline').waitFor();
    const attempts = page.locator('#modal-body .timeline .attempt');
    expect(await attempts.count()).toBe(2);
    await expect(attempts.nth(0).textContent()).resolves.toContain('stalled');
    await expect(attempts.nth(0).textContent()).resolves.toContain('host-1:41');
    await expect(attempts.nth(1).locator('.attempt-error').textContent()).resolves.toBe(`boom ${XSS}`);
    const stack = (await page.locator('#modal-body pre.stack').textContent()) ?? '';
    expect(stack.split('\n')).toHaveLength(20);
    await expect(page.locator('.payload-gone').textContent()).resolves.toContain('Not available');
    await expect(page.locator('#modal-body').textContent()).resolves.toContain('host-2:42');
    await page.screenshot({ path: join(DOCS, 'dashboard-run-detail.png') });
    await page.locator('.retried-by button', { hasText: 'seed-retry-1' }).click();
    await page.locator('.retry-of button', { hasText: 'seed-fail-1' }).waitFor();
    expect(new URL(page.url()).searchParams.get('run_id')).toBe('seed-retry-1');

    const { run_id } = await sys.service.enqueueDynamic(
      'dyn_job',
      {
        call_sid: 'CA5',
        token: 'tok-SECRET',
        link: 'https://cdn.example.com/a.mp3?sig=SIGSECRET',
        note: XSS,
      },
      { user_id: 'u7' },
    );
    await waitFor(async () => (await sys.store.get(run_id))?.status === 'completed');
    await page.goto(`${sys.url}/jobs/monitor?run_id=${run_id}`);
    const pre = page.locator('#modal-body pre.payload');
    await pre.waitFor();
    const shown = JSON.parse((await pre.textContent()) ?? '{}');
    expect(shown).toEqual({
      call_sid: 'CA5',
      token: '[redacted]',
      link: 'https://cdn.example.com/a.mp3?…',
      note: XSS,
    });
    expect(await page.locator('#modal-body pre.payload').innerHTML()).not.toContain('<img');
    await page.screenshot({ path: join(DOCS, 'dashboard-run-payload.png') });
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

const PHONE = { width: 390, height: 844 };

/** The page's width against the viewport, and what sticks out (named in a failure). */
const fits = (page: Page) =>
  page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
    wide: Array.from(document.querySelectorAll('body *'))
      .filter((el) => {
        const r = el.getBoundingClientRect();
        return r.width > 0 && (r.right > window.innerWidth + 0.5 || r.left < -0.5);
      })
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`),
  }));

/**
 * At 390×844: no view scrolls sideways (login, active, jobs, history, trends, workers, audit, the run modal),
 * tables are cards with each cell labelled by its column; one screenshot per view in test/artifacts.
 */
async function phonePass(system: TestSystem, tag: string): Promise<string[]> {
  const { page, errors } = await newPage(PHONE);
  await page.goto(`${system.url}/jobs/monitor`);
  await page.locator('#token').waitFor();
  let f = await fits(page);
  expect({ view: 'login', wide: f.wide }).toEqual({ view: 'login', wide: [] });
  expect(f.scroll).toBeLessThanOrEqual(f.inner);
  await page.screenshot({ path: join(ARTIFACTS, `phone-${tag}-login.png`) });

  const { run_id } = await system.service.trigger('slow_job', { payload: { ms: 8000 } });
  await page.fill('#token', TEST_TOKEN);
  await Promise.all([page.waitForURL(/\/jobs\/monitor/), page.click('button[type=submit]')]);
  await page.locator('#runs-body tr[data-run-id]').first().waitFor();
  await page.locator('.worker-card').first().waitFor();
  await page.locator(`.run-card[data-run-id="${run_id}"]`).waitFor();
  await page.locator('#trend-body table.trends tbody tr').first().waitFor();
  await page.locator('#trend-body svg.trend-chart').waitFor();
  await page.locator('#audit-body tr.audit-ok').first().waitFor();
  for (const view of ['#active', '#jobs', '#history', '#trends', '#workers', '#audit']) {
    await page.locator(view).scrollIntoViewIfNeeded();
    f = await fits(page);
    expect({ view, wide: f.wide }).toEqual({ view, wide: [] });
    expect(f.scroll).toBeLessThanOrEqual(f.inner);
    await page.locator(view).screenshot({ path: join(ARTIFACTS, `phone-${tag}-${view.slice(1)}.png`) });
  }
  // Tables are cards: one column, each cell labelled with its column's header (history, jobs, trends, audit).
  for (const rows of [
    '#runs-body tr[data-run-id]',
    '#jobs-groups tr[data-job]',
    '#trend-body table.trends tbody tr',
    '#audit-body tr.audit-ok',
  ]) {
    const row = page.locator(rows).first();
    expect({ rows, display: await row.evaluate((el) => getComputedStyle(el).display) }).toEqual({
      rows,
      display: 'block',
    });
    const labels = await row.evaluate((tr) =>
      Array.from(tr.querySelectorAll<HTMLElement>('td:not(.act)'))
        .filter((td) => getComputedStyle(td).display !== 'none' && td.textContent?.trim())
        .map((td) => td.dataset.label ?? ''),
    );
    expect(labels.length).toBeGreaterThan(1);
    expect({ rows, unlabelled: labels.filter((l) => !l) }).toEqual({ rows, unlabelled: [] });
  }
  if (tag === 'en') {
    await page.locator('#runs-body tr[data-run-id="seed-q-7"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(DOCS, 'dashboard-phone.png') });
  }

  await page.goto(`${system.url}/jobs/monitor?run_id=seed-fail-1`);
  await page.locator('#modal-body .timeline').waitFor();
  f = await fits(page);
  expect({ view: 'modal', wide: f.wide }).toEqual({ view: 'modal', wide: [] });
  expect(f.scroll).toBeLessThanOrEqual(f.inner);
  const box = await page.locator('#run-modal').boundingBox();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(PHONE.width);
  await page.screenshot({ path: join(ARTIFACTS, `phone-${tag}-modal.png`) });
  const dir = await page.evaluate(() => getComputedStyle(document.body).direction);
  await system.service.cancel(run_id, 'test');
  await page.context().close();
  return [dir, ...errors];
}

describe('phone layout (390×844)', () => {
  it('no view scrolls sideways: login, jobs, active, history, trends, workers, audit, run modal; tables become cards', async () => {
    expect(await phonePass(sys, 'en')).toEqual(['ltr']);
  });
});

describe('Trends', () => {
  it('shows 24 h and 7 d numbers and draws the durations as an SVG chart (no outside request)', async () => {
    const { page, errors } = await newPage();
    await signIn(page);
    await page.selectOption('#trend-job', 'quick_job');
    await page.locator('#trend-body tr[data-window="7 d"]').waitFor();
    const { trends } = await page.evaluate(async () => (await fetch('/api/jobs/quick_job/trends')).json());
    const cells = await page.locator('#trend-body tr[data-window="24 h"] td').allTextContents();
    expect(cells[1]).toBe(String(trends.windows['24h'].total));
    expect(cells[2]).toMatch(/%$/);
    expect(await page.locator('#trend-body svg.trend-chart circle').count()).toBe(trends.series.length);
    expect(await page.locator('#trend-body svg.trend-chart circle.s-failed').count()).toBe(
      trends.series.filter((p: { status: string }) => p.status === 'failed').length,
    );
    expect(await page.locator('#trend-body .sample-note').count()).toBe(0);
    await page
      .locator('#trends')
      .screenshot({ path: join(__dirname, '..', 'artifacts', 'dashboard-trends.png') });
    // A busy job (510 runs in 7 days): its 7-day percentiles are those of the newest 500, and the page says so.
    await page.selectOption('#trend-job', 'chatty_job');
    const note = page.locator('#trend-body .sample-note[data-window="7 d"]');
    await note.waitFor();
    const busy = (await page.evaluate(async () => (await fetch('/api/jobs/chatty_job/trends')).json()))
      .trends;
    expect(busy.windows['7d'].duration_ms).toMatchObject({ sample: 500, covers_window: false });
    await expect(note.textContent()).resolves.toMatch(
      /^7 d: p50\/p95\/p99 of the last 500 runs only \(since .+\)$/,
    );
    expect(await page.locator('#trend-body .sample-note[data-window="24 h"]').count()).toBe(0);
    await expect(page.locator('#trend-body svg.trend-chart title').first().textContent()).resolves.toMatch(
      /^Durations of the last 500 runs \(since /,
    );
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

describe('Bull Board from the dashboard', () => {
  it('is linked from the header and links back; it loads nothing from other origins and logs no CSP error', async () => {
    const { page, errors } = await newPage();
    const outside: string[] = [];
    const csp: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(sys.url)) outside.push(r.url());
    });
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
    });
    await signIn(page);
    await Promise.all([page.waitForURL(/\/jobs\/queues/), page.click('header a[href="/jobs/queues"]')]);
    // Bull Board's React UI renders its queue list (tq) and its header link back to the dashboard.
    await page.getByText('tq', { exact: true }).first().waitFor({ timeout: 30_000 });
    // The way back is in Bull Board's header menu (its `miscLinks`, the last header action).
    await page.locator('ul[class*="actions"] > li:last-child button').click();
    const back = page.getByText('← Dashboard');
    await back.waitFor();
    expect(await page.content()).not.toContain('fonts.googleapis.com');
    await Promise.all([page.waitForURL(/\/jobs\/monitor/), back.click()]);
    await page.locator('#jobs').waitFor();
    expect(outside).toEqual([]);
    expect(csp).toEqual([]);
    expect(errors.filter((e) => !/Content Security Policy/i.test(e))).toEqual([]);
    await page.context().close();
  });
});

/**
 * Latin words (2+ letters) in the page's text (hidden parts too: dialogs, templates) once what is data is taken
 * out: ids, names, categories, queues, errors, logs, payloads, code, the product names and p50/p95/p99.
 */
async function englishIn(page: Page, root = 'body'): Promise<string[]> {
  const text = await page.evaluate((sel) => {
    const el = document.querySelector(sel);
    if (!el) return `missing ${sel}`;
    const clone = el.cloneNode(true) as HTMLElement;
    const data =
      'script, style, pre, code, option, .mono, .data, .job-name, .job-id, .error-row td, .error-box, .attempt-error, .msg, .worker-id, circle title';
    for (const x of Array.from(clone.querySelectorAll(data))) x.remove();
    return clone.textContent ?? '';
  }, root);
  return text.replace(/Jobs Monitor|Bull Board/g, '').match(/[A-Za-z]{2,}/g) ?? [];
}

describe('Hebrew dashboard (LOCALE=he)', () => {
  let he: TestSystem;
  beforeAll(async () => {
    he = await startTestSystem({ LOCALE: 'he', WORKER_HEARTBEAT_SECONDS: '0.5' });
    await seedRuns(he.store, history(Date.now()).slice(0, 10));
    await seedRetryPair(he, Date.now());
    await seedRuns(he.store, busyJob(Date.now()));
  });
  afterAll(() => he?.cleanup());

  it('serves every view right to left in Hebrew: no English word outside data (login, jobs, active, history, trends, workers, audit, run modal, player)', async () => {
    const login = await fetch(`${he.url}/jobs/monitor/login`).then((r) => r.text());
    expect(login).toContain('<html lang="he" dir="rtl">');
    expect(login).toContain('/jobs/monitor/static/i18n-he.js');
    const words = await fetch(`${he.url}/jobs/monitor/static/i18n-he.js`).then((r) => r.text());
    for (const w of ['לפי דרישה', 'שנ׳']) expect(words).toContain(w);
    // Run statuses and triggers come with the page, from the table the bot uses (src/monitor/run-words.ts).
    for (const w of ['הושלם', 'נכשל', 'בוטל', 'ידני']) expect(login).toContain(w);

    const { page, errors } = await newPage();
    await page.goto(`${he.url}/jobs/monitor`);
    await expect(page.locator('button[type=submit]').textContent()).resolves.toBe('כניסה');
    expect({ view: 'login', english: await englishIn(page) }).toEqual({ view: 'login', english: [] });

    // Something in every view: a running run the stuck monitor flagged (active card, worker, ⚠ badge).
    const { run_id } = await he.service.trigger('slow_job', { payload: { ms: 20_000 } });
    await waitFor(async () => (await he.store.get(run_id))?.status === 'running', 30_000);
    await he.service.markRun((await he.store.get(run_id))!, {
      stuck: true,
      stuck_reason: 'running_too_long',
      stuck_since: new Date().toISOString(),
    });
    await page.fill('#token', TEST_TOKEN);
    await Promise.all([page.waitForURL(/\/jobs\/monitor/), page.click('button[type=submit]')]);
    await page.locator('#runs-body tr[data-run-id]').first().waitFor();
    await page.locator(`.run-card[data-run-id="${run_id}"] .badge.stuck`).waitFor();
    await page.waitForFunction(
      (id) => Array.from(document.querySelectorAll('.worker-runs button')).some((b) => b.textContent === id),
      run_id,
      { timeout: 30_000 },
    );
    await page.locator('#audit-body tr.audit-ok').first().waitFor();
    await page.locator('#trend-body tr[data-window="7 d"]').waitFor();
    await page.waitForFunction(() => document.getElementById('live')?.textContent === 'חי');
    expect(await page.evaluate(() => getComputedStyle(document.body).direction)).toBe('rtl');

    // Schedules in the words ChatOps uses (the API's schedule_text), "x ago" in words, not a date.
    await page.waitForFunction(
      () => document.querySelector('tr[data-job="quick_job"] .sched')?.textContent === 'כל 1 יום',
    );
    await expect(page.locator('tr[data-job="quick_job"] .last time').textContent()).resolves.toMatch(
      /^לפני \d+ (שנ׳|דק׳|שע׳|יום|ימים)$/,
    );
    const pills = await page.locator('#runs-body .pill').allTextContents();
    expect(pills.length).toBeGreaterThan(0);
    for (const p of pills) expect(['הושלם', 'נכשל', 'ממתין', 'רץ', 'דולג', 'בוטל']).toContain(p);
    // The stuck badge and its tooltip's reason; a worker's uptime and last beat in words (not a date).
    const badge = page.locator(`.run-card[data-run-id="${run_id}"] .badge.stuck`);
    await expect(badge.textContent()).resolves.toBe('⚠ תקועה');
    await expect(badge.getAttribute('title')).resolves.toMatch(/^תקועה: רצה יותר מדי זמן מאז /);
    const meta = (await page.locator('.worker-card .run-card-meta').first().textContent()) ?? '';
    expect(meta).toMatch(/פעיל \d+ (שנ׳|דק׳)/);
    expect(meta).toMatch(/נראה לפני \d+ שנ׳/);
    // Queue depth in the same words /jobs workers uses.
    await expect(page.locator('.depth[data-queue="tq"]').textContent()).resolves.toMatch(
      /^tqממתינות \d+מושהות \d+פעילות \d+נכשלו \d+$/,
    );
    for (const view of ['#active', '#jobs', '#history', '#trends', '#workers', '#audit']) {
      expect({ view, english: await englishIn(page, view) }).toEqual({ view, english: [] });
    }
    // Trends of the busy job: "7 days" in the plural, and the note on what the percentiles cover.
    await page.selectOption('#trend-job', 'chatty_job');
    await page.locator('#trend-body .sample-note[data-window="7 d"]').waitFor();
    await expect(page.locator('#trend-body tr[data-window="7 d"] td').first().textContent()).resolves.toBe(
      '7 ימים',
    );
    await expect(page.locator('#trend-body .sample-note').textContent()).resolves.toMatch(
      /^7 ימים: p50\/p95\/p99 של 500 ההרצות האחרונות בלבד \(מאז .+\)$/,
    );
    expect({ view: '#trends', english: await englishIn(page, '#trends') }).toEqual({
      view: '#trends',
      english: [],
    });
    expect({ view: 'page', english: await englishIn(page) }).toEqual({ view: 'page', english: [] });
    // Tooltips, labels and placeholders too (a setting's name, like DASHBOARD_READ_ONLY, is data).
    const attrs = await page.evaluate(() =>
      Array.from(document.querySelectorAll('[title], [aria-label], [placeholder]')).flatMap((el) =>
        ['title', 'aria-label', 'placeholder'].map((a) => el.getAttribute(a) ?? ''),
      ),
    );
    const englishAttrs = attrs
      .map((a) =>
        a.replace(/[A-Z_]{3,}=\w+|call_sid|p50|p95|p99|slow_job|quick_job|chatty_job|seed-[\w-]+/g, ''),
      )
      .filter((a) => /[A-Za-z]{2,}/.test(a));
    expect(englishAttrs).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-he.png'), fullPage: true });

    // The run modal: facts, error, stack, attempts (a stalled one), result, logs, payload.
    await page.goto(`${he.url}/jobs/monitor?run_id=seed-fail-1`);
    await page.locator('#modal-body .timeline').waitFor();
    await expect(page.locator('#modal-body .timeline .attempt .pill').first().textContent()).resolves.toBe(
      'נתקע',
    );
    expect({ view: 'modal', english: await englishIn(page, '#run-modal') }).toEqual({
      view: 'modal',
      english: [],
    });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-he-modal.png') });

    // The recordings player, with this session: a call without a recording.
    await page.goto(`${he.url}/recordings/player?call_sid=CA_NONE`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'אין הקלטה לשיחה זו');
    expect(await page.evaluate(() => document.documentElement.dir)).toBe('rtl');
    expect({ view: 'player', english: await englishIn(page) }).toEqual({ view: 'player', english: [] });
    await he.service.cancel(run_id, 'test');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('on a phone too: right to left, no view scrolls sideways, tables are labelled cards', async () => {
    expect(await phonePass(he, 'he')).toEqual(['rtl']);
  });

  it('says in Hebrew what an action did or why it was refused: toasts, confirmations and tooltips', async () => {
    /** Words in Latin letters, once the data (job name, run ids, the actor's name) is taken out. */
    const english = (text: string, ...data: string[]) =>
      data.reduce((t, d) => t.split(d).join(''), text).match(/[A-Za-z]{3,}/g) ?? [];
    const { page, errors } = await newPage();
    await page.goto(`${he.url}/jobs/monitor`);
    await page.fill('#token', TEST_TOKEN);
    await Promise.all([page.waitForURL(/\/jobs\/monitor/), page.click('button[type=submit]')]);
    const runNow = page.locator('button[data-run="quick_job"]');
    await runNow.waitFor();

    // Paused behind the page's back: Run now is refused, and the refusal says why in Hebrew.
    const paused = await fetch(`${he.url}/api/jobs/quick_job/pause`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TEST_TOKEN}` },
    });
    expect(paused.status).toBe(200);
    await runNow.click();
    await expect(toastText(page)).resolves.toBe('Quick: המשימה מושהית');

    // After a reload: the paused badge's tooltip, the Resume confirmation and its toast.
    await page.reload();
    const badge = page.locator('tr[data-job="quick_job"] .badge.paused');
    await badge.waitFor();
    const title = (await badge.getAttribute('title')) ?? '';
    expect(title).toMatch(/^הושהתה על ידי \S+ ב-/);
    const actor = /על ידי (\S+)/.exec(title)![1];
    expect(english(title, actor)).toEqual([]);
    await page.locator('button[data-pause="quick_job"]').click();
    const confirmText = await page.locator('#confirm-text').textContent();
    expect(confirmText).toBe('לחדש את Quick? התזמון שלה יתחיל שוב.');
    await page.click('#confirm-yes');
    await expect(toastText(page)).resolves.toBe('Quick: חודשה');

    // Run now is taken: the toast names the new run in a Hebrew sentence.
    await page.locator('button[data-run="quick_job"]').click();
    const started = await toastText(page, /התחילה/);
    const run = /^Quick: הרצה (\S+) התחילה$/.exec(started);
    expect(run).not.toBeNull();
    const stored = await he.store.get(run![1]);
    expect(stored?.job_id).toBe('quick_job');
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

/** The toast's text once it shows (and, given a pattern, once it matches). */
async function toastText(page: Page, match?: RegExp): Promise<string> {
  await page.waitForFunction((src) => {
    const el = document.getElementById('toast');
    return !!el && !el.hidden && (!src || new RegExp(src).test(el.textContent ?? ''));
  }, match?.source ?? null);
  return (await page.locator('#toast').textContent()) ?? '';
}
