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

/** A failed run with two attempts and a stack, retried by a second run. */
async function seedRetryPair(now: number): Promise<void> {
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
  sys = await startTestSystem({ WORKER_HEARTBEAT_SECONDS: '0.5' });
  await seedRuns(sys.store, history(Date.now()));
  await seedRetryPair(Date.now());
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
    const { run_id } = await sys.service.trigger('slow_job', { payload: { ms: 8000 } });
    await signIn(page);
    const card = page.locator(`.worker-card[data-worker-id="${sys.workers!.name}"]`);
    await card.waitFor();
    // The panel polls; the run shows up once a heartbeat carries it.
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
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

describe('phone layout (390×844)', () => {
  const PHONE = { width: 390, height: 844 };
  /** The page's width against the viewport, and what sticks out (named in a failure). */
  const fits = (page: Page) =>
    page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      inner: window.innerWidth,
      wide: Array.from(document.querySelectorAll('body *'))
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
        .slice(0, 5)
        .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`),
    }));

  it('no view scrolls sideways: login, jobs, active, history, workers, run modal; tables become cards', async () => {
    const { page, errors } = await newPage(PHONE);
    await page.goto(`${sys.url}/jobs/monitor`);
    await page.locator('#token').waitFor();
    let f = await fits(page);
    expect(f.scroll).toBeLessThanOrEqual(f.inner);

    const { run_id } = await sys.service.trigger('slow_job', { payload: { ms: 6000 } });
    await signIn(page);
    await page.locator('#runs-body tr[data-run-id]').first().waitFor();
    await page.locator('.worker-card').first().waitFor();
    await page.locator(`.run-card[data-run-id="${run_id}"]`).waitFor();
    await page.locator('#trend-body svg.trend-chart').waitFor();
    for (const view of ['#active', '#jobs', '#history', '#trends', '#workers']) {
      await page.locator(view).scrollIntoViewIfNeeded();
      f = await fits(page);
      expect({ view, wide: f.wide }).toEqual({ view, wide: [] });
      expect(f.scroll).toBeLessThanOrEqual(f.inner);
    }
    // History rows are cards: one column, each cell labelled.
    const row = page.locator('#runs-body tr[data-run-id]').first();
    expect(await row.evaluate((el) => getComputedStyle(el).display)).toBe('block');
    await page.locator('#runs-body tr[data-run-id="seed-q-7"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(DOCS, 'dashboard-phone.png') });

    await page.goto(`${sys.url}/jobs/monitor?run_id=seed-fail-1`);
    await page.locator('#modal-body .timeline').waitFor();
    f = await fits(page);
    expect(f.scroll).toBeLessThanOrEqual(f.inner);
    const box = await page.locator('#run-modal').boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(PHONE.width);
    expect(errors).toEqual([]);
    await page.context().close();
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
    await page
      .locator('#trends')
      .screenshot({ path: join(__dirname, '..', 'artifacts', 'dashboard-trends.png') });
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

describe('Hebrew dashboard (LOCALE=he)', () => {
  let he: TestSystem;
  beforeAll(async () => {
    he = await startTestSystem({ LOCALE: 'he' });
    await seedRuns(he.store, history(Date.now()).slice(0, 10));
  });
  afterAll(() => he?.cleanup());

  it('serves the pages right to left with the Hebrew words; no English status, unit or schedule is left', async () => {
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
    await page.fill('#token', TEST_TOKEN);
    await Promise.all([page.waitForURL(/\/jobs\/monitor/), page.click('button[type=submit]')]);
    await page.locator('#runs-body tr[data-run-id]').first().waitFor();
    await page.locator('tr[data-job="quick_job"] .sched').waitFor();
    await page.waitForFunction(
      () => document.querySelector('tr[data-job="quick_job"] .sched')?.textContent === 'כל 1 יום',
    );
    expect(await page.evaluate(() => getComputedStyle(document.body).direction)).toBe('rtl');
    // "x ago" in Hebrew words, not turned into a date.
    await expect(page.locator('tr[data-job="quick_job"] .last time').textContent()).resolves.toMatch(
      /^לפני \d+ (שנ׳|דק׳|שע׳|יום)$/,
    );
    const nav = await page.locator('header nav').innerText();
    expect(nav).toContain('היסטוריה');
    const pills = await page.locator('#runs-body .pill').allTextContents();
    expect(pills.length).toBeGreaterThan(0);
    for (const p of pills) expect(['הושלם', 'נכשל', 'ממתין', 'רץ', 'דולג', 'בוטל']).toContain(p);
    const durations = await page.locator('#runs-body td.num').allTextContents();
    expect(durations.some((d) => /שנ׳|מ״ש/.test(d))).toBe(true);
    // Visible text of the history, minus data (run ids, job ids, error messages), has no English words.
    const text = await page.evaluate(() => {
      const clone = document.querySelector('#history')!.cloneNode(true) as HTMLElement;
      const data = '.mono, .error-row td, option, tr td:nth-child(2), .muted.small';
      for (const el of Array.from(clone.querySelectorAll(data))) el.remove();
      return clone.innerText;
    });
    expect(text.match(/\b(?!p50|p95|p99)[A-Za-z]{3,}\b/g) ?? []).toEqual([]);
    // Tooltips, labels and placeholders too (a setting's name, like DASHBOARD_READ_ONLY, is data).
    const attrs = await page.evaluate(() =>
      Array.from(document.querySelectorAll('[title], [aria-label], [placeholder]')).flatMap((el) =>
        ['title', 'aria-label', 'placeholder'].map((a) => el.getAttribute(a) ?? ''),
      ),
    );
    const englishAttrs = attrs
      .map((a) => a.replace(/[A-Z_]{3,}=\w+|call_sid|p50|p95|p99/g, ''))
      .filter((a) => /[A-Za-z]{3,}/.test(a));
    expect(englishAttrs).toEqual([]);
    await page.screenshot({ path: join(__dirname, '..', 'artifacts', 'dashboard-he.png') });
    expect(errors).toEqual([]);
    await page.context().close();
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
