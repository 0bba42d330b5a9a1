import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { CHROMIUM_PATH } from '../helpers/browser';
import { cacheWarming } from '../../src/workers/processors/cache-warming';
import type { Processor } from '../../src/workers/processor-context';
import { type SeedRun, seedRuns } from '../helpers/dashboard';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(120_000);

const ARTIFACTS = join(__dirname, '..', 'artifacts');
const XSS = '<img src=x onerror=alert(1)>';

/** A small realistic registry: the example job with progress, a cron job, a failing backup, dynamic jobs. */
const JOBS_YML = `
jobs:
  - { job_id: cache_warming, name: Cache Warming, category: cache, job_type: repeating, interval_seconds: 3600, enabled: true, callback_name: cacheWarming, queue: tq, description: Warms 1000 entries }
  - { job_id: queue_cleanup, name: Queue cleanup, category: maintenance, job_type: cron, cron: "17 3 * * *", enabled: true, callback_name: quick, queue: tq }
  - { job_id: nightly_backup, name: Nightly backup, category: maintenance, job_type: cron, cron: "0 2 * * *", enabled: true, callback_name: boom, queue: tq }
  - { job_id: legacy_export, name: Legacy export, category: maintenance, job_type: repeating, interval_seconds: 5400, enabled: false, callback_name: quick, queue: tq }
dynamic_jobs:
  - { job_id: drive_sync, name: Drive sync, category: sync, callback_name: quick, queue: tq }
  - { job_id: reminder, name: Reminder, category: reminders, callback_name: quick, queue: tq }
`;

let sys: TestSystem;
let browser: Browser;

function history(now: number): SeedRun[] {
  const runs: SeedRun[] = [];
  const hour = 3_600_000;
  for (let i = 1; i <= 18; i++) {
    const failed = i === 5 || i === 13;
    runs.push({
      run_id: `seed-cw-${i}`,
      job_id: 'cache_warming',
      status: failed ? 'failed' : 'completed',
      created_ms: now - i * hour,
      duration_ms: 4800 + ((i * 397) % 900) + (i === 7 ? 2600 : 0),
      processed: failed ? 400 : 1000,
      total: 1000,
      error: failed ? 'upstream cache node 10.0.3.7 refused the connection (ECONNREFUSED)' : null,
      result: failed ? null : { warmed: 1000 },
    });
  }
  for (let i = 1; i <= 6; i++) {
    runs.push({
      run_id: `seed-qc-${i}`,
      job_id: 'queue_cleanup',
      status: 'completed',
      created_ms: now - i * 4 * hour,
      duration_ms: 300 + i * 40,
    });
  }
  runs.push({
    run_id: 'seed-backup-xss',
    job_id: 'nightly_backup',
    status: 'failed',
    created_ms: now - 8 * hour,
    duration_ms: 12_400,
    error: `disk full while writing ${XSS}`,
    logs: [
      { time: new Date(now - 8 * hour).toISOString(), level: 'info', message: 'backup started' },
      { time: new Date(now - 8 * hour + 4000).toISOString(), level: 'warn', message: 'disk at 97%' },
      { time: new Date(now - 8 * hour + 9000).toISOString(), level: 'error', message: XSS },
    ],
  });
  for (let i = 1; i <= 9; i++) {
    runs.push({
      run_id: `seed-drive-${i}`,
      job_id: i % 3 ? 'drive_sync' : 'reminder',
      status: i === 4 ? 'failed' : 'completed',
      trigger: 'api',
      user_id: `user_${100 + i}`,
      created_ms: now - i * 47 * 60_000,
      duration_ms: 900 + i * 120,
      error: i === 4 ? 'drive API quota exceeded for user_104' : null,
    });
  }
  return runs;
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  sys = await startTestSystem(
    {},
    { jobsYml: JOBS_YML, processors: { cacheWarming: cacheWarming as Processor<never> } },
  );
  await seedRuns(sys.store, history(Date.now()));
  // A job scheduler for the cron job, so "next run" shows (the scheduler role is off in tests).
  await sys.queues
    .get('tq')
    .upsertJobScheduler('queue_cleanup', { pattern: '17 3 * * *' }, { name: 'queue_cleanup', data: {} });
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
afterAll(async () => {
  await browser?.close();
  await sys?.cleanup();
});

async function newPage(): Promise<{ page: Page; dialogs: string[]; errors: string[] }> {
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  const page = await ctx.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // Refused API calls (409 shown as a toast) are logged by the browser itself; anything else is a bug.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  return { page, dialogs, errors };
}

async function signIn(page: Page, path = '/jobs/monitor'): Promise<void> {
  await page.goto(`${sys.url}${path}`);
  await page.fill('#token', TEST_TOKEN);
  await Promise.all([page.waitForURL(/\/jobs\//), page.click('button[type=submit]')]);
}

describe('dashboard in a real browser', () => {
  it('shows anonymous visitors only the login form, never job data', async () => {
    const { page } = await newPage();
    for (const path of ['/jobs/monitor', '/jobs/monitor?run_id=seed-backup-xss', '/jobs/queues']) {
      const res = await page.goto(`${sys.url}${path}`);
      expect(res?.ok()).toBe(true);
      await page.waitForSelector('#token');
      // Only the form and the page's own address (kept for after sign-in) are sent.
      const text = (await page.content()).replace(/name="next" value="[^"]*"/, '');
      for (const secret of [
        'cache_warming',
        'seed-backup-xss',
        'nightly_backup',
        'disk full',
        ' tq',
        TEST_TOKEN,
      ]) {
        expect(text).not.toContain(secret);
      }
    }
    const api = await page.evaluate(async () => (await fetch('/api/jobs')).status);
    expect(api).toBe(401);
    const board = await page.evaluate(async () => (await fetch('/jobs/queues/api/queues')).status);
    expect(board).toBe(401);
    await page.context().close();
  });

  it('logs in, runs cache_warming and watches its progress reach 100% live', async () => {
    const { page, dialogs, errors } = await newPage();
    await signIn(page);
    const row = page.locator('tr[data-job="cache_warming"]');
    await row.waitFor();
    await expect(row.locator('.job-name').textContent()).resolves.toBe('Cache Warming');
    await expect(row.locator('.sched').textContent()).resolves.toBe('every 1 h');
    await page.locator('tr[data-job="queue_cleanup"] time').first().waitFor();
    // Dynamic jobs have no Run now button (an admin may still pause them).
    expect(await page.locator('tr[data-job="drive_sync"] button[data-run]').count()).toBe(0);
    expect(await page.locator('tr[data-job="drive_sync"] button[data-pause]').count()).toBe(1);
    // The token never reaches the page.
    expect(await page.content()).not.toContain(TEST_TOKEN);

    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    await row.locator('button', { hasText: 'Run now' }).click();
    const card = page.locator('.run-card', { hasText: 'Cache Warming' });
    await card.waitFor();
    // Mid-run: the bar moves from SSE events (processed/total shown).
    await page.waitForFunction(
      () => {
        const bar = document.querySelector('.run-card [role=progressbar]');
        const v = Number(bar?.getAttribute('aria-valuenow'));
        return v >= 30 && v < 100;
      },
      undefined,
      { timeout: 60_000 },
    );
    await expect(card.locator('.items').textContent()).resolves.toMatch(/^\d+\/1000$/);
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    await page.waitForFunction(
      () => document.querySelector('.run-card [role=progressbar]')?.getAttribute('aria-valuenow') === '100',
      undefined,
      { timeout: 60_000 },
    );
    await card.locator('.pill.s-completed').waitFor();
    await expect(card.locator('.items').textContent()).resolves.toBe('1000/1000');
    // Same document: no reload happened.
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    // A second Run now while one is active shows the API's refusal text.
    await page.waitForSelector('tr[data-job="cache_warming"] button:not([disabled])');
    const run = await sys.service.trigger('cache_warming', {
      trigger: 'manual',
      payload: { duration_ms: 3000 },
    });
    await row.locator('button', { hasText: 'Run now' }).click();
    await page.locator('#toast', { hasText: 'already running' }).waitFor();
    expect(run.run_id).toBeTruthy();
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('opens the logs modal from a deep link and renders an XSS log line as text', async () => {
    const { page, dialogs } = await newPage();
    await signIn(page, '/jobs/monitor?run_id=seed-backup-xss');
    expect(page.url()).toContain('run_id=seed-backup-xss');
    const modal = page.locator('#run-modal[open]');
    await modal.locator('.logs tbody tr').nth(2).waitFor();
    const messages = await modal.locator('.logs td.msg').allTextContents();
    expect(messages).toEqual(['backup started', 'disk at 97%', XSS]);
    await expect(modal.locator('.error-box').textContent()).resolves.toBe(`disk full while writing ${XSS}`);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-modal.png') });
    // Failed rows in the history show their error; clicking one opens its modal.
    await page.click('#modal-close');
    // The dialog's close event (async after the click) drops run_id from the address.
    await page
      .waitForFunction(() => !location.search.includes('run_id='), null, { timeout: 5000 })
      .catch(() => undefined);
    expect(page.url()).not.toContain('run_id=');
    const errRow = page.locator('#runs-body tr.error-row', { hasText: 'quota exceeded' });
    await errRow.waitFor();
    await errRow.click();
    await page.locator('#run-modal[open] .error-box', { hasText: 'quota exceeded' }).waitFor();
    await page.click('#modal-close');
    // History filters: status + job.
    await page.selectOption('#filters select[name=status]', 'failed');
    await page.selectOption('#filters select[name=job_id]', 'cache_warming');
    await waitFor(async () => (await page.locator('#runs-body tr.clickable').count()) === 2, 15_000);
    expect(await page.locator('#runs-body tr.clickable .pill').allTextContents()).toEqual([
      'failed',
      'failed',
    ]);
    await page.waitForTimeout(200);
    expect(dialogs).toEqual([]);
    await page.context().close();
  });

  it('shows Bull Board with the system queues to a signed-in user', async () => {
    const { page } = await newPage();
    await signIn(page, '/jobs/queues');
    await page.waitForURL(/\/jobs\/queues/);
    await page.getByText('tq', { exact: true }).first().waitFor({ timeout: 30_000 });
    await page.context().close();
  });
});
