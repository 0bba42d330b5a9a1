import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { CHROMIUM_PATH } from '../helpers/browser';
import { putUrl, startRecordingSystem } from '../helpers/recordings';
import { waitFor } from '../helpers/redis';
import { TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(120_000);

const ARTIFACTS = join(__dirname, '../artifacts');

// The worker is offline: API role only, timeouts lowered so the fail-fast 500 comes within seconds.
let sys: TestSystem;
let browser: Browser;
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  sys = await startRecordingSystem({
    ROLES: 'api',
    RECORDING_JOB_TIMEOUT_SECONDS: '1',
    RECORDING_RETRY_AFTER_SECONDS: '1',
    RECORDING_RECOVERY_RETRY_AFTER_SECONDS: '1',
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
afterAll(async () => {
  await browser?.close();
  await sys.cleanup();
});

/** Opens the player with the bearer token as a header (the dashboard session plugs in the same guard). */
async function openPlayer(query: string, locale = 'en-US') {
  const context = await browser.newContext({
    extraHTTPHeaders: { Authorization: `Bearer ${TEST_TOKEN}` },
    locale,
  });
  const page = await context.newPage();
  const fileRequests: string[] = [];
  const problems: string[] = [];
  page.on('request', (req) => {
    if (req.url().includes('/api/recordings/file/')) fileRequests.push(req.url());
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  const res = await page.goto(`${sys.url}/recordings/player?${query}`);
  return { page, context, res: res!, fileRequests, problems };
}

const statusText = (page: Page) => page.locator('#status').textContent();

it('shows "not responding" with the worker offline, then stops polling', async () => {
  await putUrl(sys, 'CAplayer', 'http://127.0.0.1:9/never.wav');
  const { page, context, res, fileRequests, problems } = await openPlayer('call_sid=CAplayer');
  const csp = res.headers()['content-security-policy'];
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toContain('unsafe-inline');
  expect(await page.locator('html').getAttribute('dir')).toBe('ltr');

  await page.waitForSelector('#player[data-error-type="worker_offline"]', { timeout: 60_000 });
  expect(await statusText(page)).toBe(
    'The recording service is not responding. Try again later or contact support',
  );
  await page.screenshot({ path: join(ARTIFACTS, 'recording-player-offline.png') });
  // It polled (202s) before the 500, and the 500 was the last request: wait several Retry-After
  // periods and count that no request followed.
  const count = fileRequests.length;
  expect(count).toBeGreaterThan(1);
  await page.waitForTimeout(3500);
  expect(fileRequests.length).toBe(count);
  expect(problems.filter((p) => !/500|Failed to load resource/.test(p))).toEqual([]);
  await context.close();
});

it('speaks Hebrew right-to-left (?lang=he and the browser language), and stops at once on 404', async () => {
  const he = await openPlayer('call_sid=CAnone&lang=he');
  expect(await he.page.locator('html').getAttribute('dir')).toBe('rtl');
  await he.page.waitForSelector('#player[data-error-type="not_found"]');
  expect(await statusText(he.page)).toBe('אין הקלטה לשיחה זו');
  await he.page.screenshot({ path: join(ARTIFACTS, 'recording-player-he.png') });
  expect(he.fileRequests).toHaveLength(1);
  await he.context.close();

  const byLocale = await openPlayer('call_sid=CAnone', 'he-IL');
  expect(await byLocale.page.locator('html').getAttribute('lang')).toBe('he');
  expect(await byLocale.page.locator('html').getAttribute('dir')).toBe('rtl');
  await waitFor(
    async () => (await byLocale.page.locator('#player').getAttribute('data-error-type')) !== null,
  );
  await byLocale.context.close();
});

it('refuses the player to an API client without credentials and rejects a bad call_sid', async () => {
  const anon = await fetch(`${sys.url}/recordings/player?call_sid=CA1`);
  expect(anon.status).toBe(401);
  const bad = await fetch(`${sys.url}/recordings/player?call_sid=../x`, {
    headers: { Authorization: `Bearer ${TEST_TOKEN}` },
  });
  expect(bad.status).toBe(400);
  expect(await bad.json()).toMatchObject({ error: 'invalid_call_sid' });
});

it('sends a browser without a session to the sign-in form, and back to the player after signing in', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${sys.url}/recordings/player?call_sid=CAsignin`);
  expect(new URL(page.url()).pathname).toBe('/jobs/monitor/login');
  expect(await page.locator('#player').count()).toBe(0);
  await page.fill('#token', TEST_TOKEN);
  await Promise.all([page.waitForURL(/\/recordings\/player/), page.click('button[type=submit]')]);
  expect(page.url()).toBe(`${sys.url}/recordings/player?call_sid=CAsignin`);
  await page.locator('#player').waitFor();
  await context.close();
});
