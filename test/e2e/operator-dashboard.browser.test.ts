/**
 * #12 in a real browser: Cancel / Retry / Pause buttons ask for confirmation in the page, then act; the
 * stuck badge and the Audit view (refused attempts too) show what the API says; a viewer's session shows no
 * action buttons.
 */
import { type Browser, chromium, type Page } from 'playwright-core';
import type { JobRun } from '../../src/monitor/run';
import { CHROMIUM_PATH } from '../helpers/browser';
import { seedRuns } from '../helpers/dashboard';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(120_000);

const VIEWER = 'viewer-token-0123456789abcdef';
const JOBS_YML = `
jobs:
  - { job_id: wait_job, name: Waiter, category: ops, job_type: repeating, interval_seconds: 86400, enabled: true, allow_concurrent: true, callback_name: cancellable, queue: tq }
  - { job_id: boom_job, name: Boom, category: ops, job_type: repeating, interval_seconds: 86400, enabled: true, allow_concurrent: true, callback_name: boom, queue: tq }
  - { job_id: boom2_job, name: Boom two, category: ops, job_type: repeating, interval_seconds: 86400, enabled: true, allow_concurrent: true, callback_name: boom, queue: tq }
  - { job_id: held_job, name: Held, category: ops, job_type: repeating, interval_seconds: 86400, enabled: true, allow_concurrent: true, callback_name: quick, queue: hq }
dynamic_jobs:
  - { job_id: dyn_boom, name: Dynamic boom, category: ops, callback_name: boom, queue: tq }
`;
const DAY = 86_400_000;

let sys: TestSystem;
let browser: Browser;
beforeAll(async () => {
  sys = await startTestSystem({ API_TOKENS: `grafana:viewer:${VIEWER}` }, { jobsYml: JOBS_YML });
  await seedRuns(sys.store, [
    {
      run_id: 'seed-boom-1',
      job_id: 'boom_job',
      status: 'failed',
      created_ms: Date.now() - 60_000,
      error: 'x',
    },
  ]);
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
afterAll(async () => {
  await browser?.close();
  await sys?.cleanup();
});

async function signedIn(token: string): Promise<{ page: Page; errors: string[] }> {
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${sys.url}/jobs/monitor`);
  await page.fill('#token', token);
  await Promise.all([page.waitForURL(/\/jobs\/monitor/), page.click('button[type=submit]')]);
  await page.locator('tr[data-job="wait_job"]').waitFor();
  return { page, errors };
}

const runOf = (id: string) => sys.store.get(id) as Promise<JobRun>;

/**
 * Waits until the history table shows `n` runs: the history loaded at sign-in shows more, so this is how a
 * test knows the filters it chose have been applied.
 */
async function historyShows(page: Page, n: number): Promise<void> {
  const rows = page.locator('#runs-body tr[data-run-id]');
  expect(await waitFor(async () => ((await rows.count()) === n ? n : 0), 30_000)).toBe(n);
}

describe('operator actions in the dashboard', () => {
  it('cancel a running run: confirm dialog, Back does nothing, Confirm cancels', async () => {
    const { page, errors } = await signedIn(TEST_TOKEN);
    const { run_id } = await sys.service.trigger('wait_job', { trigger: 'manual' });
    await waitFor(async () => (await runOf(run_id))?.status === 'running', 30_000);
    const cancel = page.locator(`.run-card button[data-cancel="${run_id}"]`);
    await cancel.click();
    await page.locator('#confirm-modal[open]').waitFor();
    await expect(page.locator('#confirm-text').textContent()).resolves.toContain(run_id);
    await page.click('#confirm-no');
    expect((await runOf(run_id)).status).toBe('running');

    await cancel.click();
    await page.click('#confirm-yes');
    await page.locator('.run-card .pill.s-cancelled').waitFor({ timeout: 30_000 });
    expect((await runOf(run_id)).status).toBe('cancelled');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('retry a failed run and pause/resume a job, each after confirming; the Audit view lists them', async () => {
    const { page, errors } = await signedIn(TEST_TOKEN);
    const row = page.locator('#runs-body tr[data-run-id="seed-boom-1"]');
    await row.locator('button', { hasText: 'Retry' }).click();
    await page.click('#confirm-yes');
    const retried = await waitFor(async () => {
      const { runs } = await sys.store.list({ job_id: 'boom_job', limit: 20 });
      return runs.find((r) => r.retry_of === 'seed-boom-1') ?? null;
    }, 30_000);
    expect(retried?.triggered_by).toBe('dashboard:admin');

    const job = page.locator('tr[data-job="boom_job"]');
    await job.locator('button[data-pause="boom_job"]').click();
    await expect(page.locator('#confirm-text').textContent()).resolves.toContain('Pause Boom');
    await page.click('#confirm-yes');
    await job.locator('.badge.paused').waitFor();
    expect((await sys.service.pauseOf('boom_job')).paused).toBe(true);
    await job.locator('button', { hasText: 'Resume' }).click();
    await page.click('#confirm-yes');
    await job.locator('button', { hasText: 'Pause' }).waitFor();
    expect((await sys.service.pauseOf('boom_job')).paused).toBe(false);

    await page.click('#audit-refresh');
    const audit = page.locator('#audit-body');
    await audit.locator('tr', { hasText: 'resume' }).waitFor();
    const text = await audit.textContent();
    expect(text).toContain('dashboard:admin');
    expect(text).toContain('retry');
    expect(text).toContain('pause');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('retries a failed DYNAMIC run from its history row, with its payload', async () => {
    const { run_id: old } = await sys.service.enqueueDynamic(
      'dyn_boom',
      { drive: 'd-7' },
      { user_id: 'u-7' },
    );
    await waitFor(async () => (await runOf(old))?.status === 'failed', 30_000);
    const { page, errors } = await signedIn(TEST_TOKEN);
    const row = page.locator(`#runs-body tr[data-run-id="${old}"]`);
    await row.waitFor();
    await row.locator('button', { hasText: 'Retry' }).click();
    await expect(page.locator('#confirm-text').textContent()).resolves.toContain(old);
    await page.click('#confirm-yes');
    await page.locator('#toast', { hasText: 'Retrying dyn_boom' }).waitFor();
    const retried = await waitFor(async () => {
      const { runs } = await sys.store.list({ job_id: 'dyn_boom', limit: 50 });
      return runs.find((r) => r.retry_of === old) ?? null;
    }, 30_000);
    expect(retried).toMatchObject({ user_id: 'u-7', triggered_by: 'dashboard:admin' });
    expect((await sys.queues.get('tq').getJob(retried!.run_id))?.data).toMatchObject({
      payload: { drive: 'd-7' },
    });

    // A second retry of the same run is refused by the server, and the page says why.
    await row.locator('button', { hasText: 'Retry' }).click();
    await page.click('#confirm-yes');
    await page.locator('#toast', { hasText: 'Retry refused' }).waitFor();
    expect(await page.locator('#toast').textContent()).toContain('already retried');
    // Admins can pause a dynamic job too.
    await page.locator('tr[data-job="dyn_boom"] button[data-pause="dyn_boom"]').waitFor();
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows the stuck badge on a run the stuck monitor marked (active card and history)', async () => {
    const { run_id } = await sys.service.trigger('wait_job', { trigger: 'manual' });
    await waitFor(async () => (await runOf(run_id))?.status === 'running', 30_000);
    const ctx = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
    // Marked the way the stuck monitor marks it (RunWriter.mark through the service), stored by the run store.
    await sys.service.markRun(await runOf(run_id), {
      stuck: true,
      stuck_reason: 'running_too_long',
      stuck_since: new Date().toISOString(),
    });
    expect(await runOf(run_id)).toMatchObject({ stuck: true, stuck_reason: 'running_too_long' });
    const page = await ctx.newPage();
    await page.goto(`${sys.url}/jobs/monitor`);
    await page.fill('#token', TEST_TOKEN);
    await Promise.all([page.waitForURL(/\/jobs\/monitor/), page.click('button[type=submit]')]);
    await page.locator(`#runs-body tr[data-run-id="${run_id}"] .badge.stuck`).waitFor();
    await page.locator(`.run-card[data-run-id="${run_id}"] .badge.stuck`).waitFor();
    await expect(
      page.locator(`.run-card[data-run-id="${run_id}"] .badge.stuck`).getAttribute('title'),
    ).resolves.toContain('running_too_long');
    await sys.service.cancel(run_id, 'test');
    await ctx.close();
  });

  it('"Retry all matching" shows the count in the confirmation, then reports the outcome', async () => {
    const { page, errors } = await signedIn(TEST_TOKEN);
    await page.selectOption('#filters select[name="job_id"]', 'boom_job');
    await page.selectOption('#filters select[name="status"]', 'failed');
    await page.locator('#runs-body tr[data-run-id="seed-boom-1"]').waitFor();
    const expected = (await sys.store.list({ job_id: 'boom_job', status: ['failed'], limit: 200 })).runs
      .length;
    await page.click('#bulk-retry');
    await page.locator('#confirm-modal[open]').waitFor();
    await expect(page.locator('#confirm-text').textContent()).resolves.toBe(
      `Retry all ${expected} matching runs (last 7 days)?`,
    );
    await page.click('#confirm-yes');
    await page.locator('#toast', { hasText: /Retry all: \d+ done/ }).waitFor({ timeout: 60_000 });
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('"Retry all matching" sends every history filter (search, dates) and names the range in the confirmation', async () => {
    const now = Date.now();
    await seedRuns(sys.store, [
      {
        run_id: 'seed-q-1',
        job_id: 'boom2_job',
        status: 'failed',
        created_ms: now - 2 * DAY,
        user_id: 'carol',
        error: 'x',
      },
      {
        run_id: 'seed-q-2',
        job_id: 'boom2_job',
        status: 'failed',
        created_ms: now - 2 * DAY,
        user_id: 'dave',
        error: 'x',
      },
      {
        run_id: 'seed-q-3',
        job_id: 'boom2_job',
        status: 'failed',
        created_ms: now - 5 * DAY,
        user_id: 'carol',
        error: 'x',
      },
    ]);
    const { page, errors } = await signedIn(TEST_TOKEN);
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    await page.fill('#filters input[name="q"]', 'carol');
    await page.fill('#filters input[name="since"]', day(now - 3 * DAY));
    await page.fill('#filters input[name="until"]', day(now));
    await page.selectOption('#filters select[name="job_id"]', 'boom2_job');
    // The unfiltered history (loaded at sign-in) shows seed-q-1 too: wait for the filtered one, a single row.
    await historyShows(page, 1);
    await page.locator('#runs-body tr[data-run-id="seed-q-1"]').waitFor();
    expect(await page.locator('#runs-body tr[data-run-id]').count()).toBe(1);

    await page.click('#bulk-retry');
    await page.locator('#confirm-modal[open]').waitFor();
    const [from, to] = await page.evaluate(
      ([a, b]) => [a, b].map((d) => new Date(`${d}T00:00:00`).toLocaleDateString()),
      [day(now - 3 * DAY), day(now)],
    );
    await expect(page.locator('#confirm-text').textContent()).resolves.toBe(
      `Retry all 1 matching runs (created ${from} – ${to})?`,
    );
    await page.click('#confirm-yes');
    await page.locator('#toast', { hasText: 'Retry all: 1 done, 0 refused' }).waitFor({ timeout: 60_000 });
    // Exactly what the table showed: not dave's run, not carol's older one.
    expect((await runOf('seed-q-1')).retried_by).toBeTruthy();
    expect((await runOf('seed-q-2')).retried_by).toBeNull();
    expect((await runOf('seed-q-3')).retried_by).toBeNull();
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('"Cancel all matching" names the count in the confirmation, then cancels every pending run the history shows', async () => {
    // No worker takes held_job's runs while its queue is paused (as when its workers are down): they stay pending.
    const queue = sys.queues.get('hq');
    await queue.pause();
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push((await sys.service.trigger('held_job', { trigger: 'manual' })).run_id);
      for (const id of ids) expect((await runOf(id)).status).toBe('pending');

      const { page, errors } = await signedIn(TEST_TOKEN);
      await page.selectOption('#filters select[name="job_id"]', 'held_job');
      await page.selectOption('#filters select[name="status"]', 'pending');
      await historyShows(page, 3);
      for (const id of ids) await page.locator(`#runs-body tr[data-run-id="${id}"]`).waitFor();

      await page.click('#bulk-cancel');
      await page.locator('#confirm-modal[open]').waitFor();
      await expect(page.locator('#confirm-text').textContent()).resolves.toBe(
        'Cancel all 3 matching runs (last 7 days)?',
      );
      await page.click('#confirm-yes');
      await page.locator('#toast', { hasText: 'Cancel all: 3 done, 0 refused' }).waitFor({ timeout: 60_000 });
      for (const id of ids) expect((await runOf(id)).status).toBe('cancelled');
      // Taken out of the queue: they will not run once a worker takes the queue again.
      for (const id of ids) expect(await queue.getJob(id)).toBeUndefined();

      // The history shows them cancelled.
      await page.selectOption('#filters select[name="status"]', 'cancelled');
      for (const id of ids)
        await page.locator(`#runs-body tr[data-run-id="${id}"] .pill.s-cancelled`).waitFor();
      expect(errors).toEqual([]);
      await page.context().close();
    } finally {
      await queue.resume();
    }
  });

  it('a viewer sees no action buttons', async () => {
    const { page } = await signedIn(VIEWER);
    await page.locator('#runs-body tr[data-run-id="seed-boom-1"]').waitFor();
    expect(
      await page
        .locator('button', { hasText: /^(Run now|Retry|Cancel|Pause|Resume|Log out everywhere)$/ })
        .count(),
    ).toBe(0);
    // Nor the bulk buttons on the history ("Retry all matching", "Cancel all matching").
    await expect(page.locator('#bulk-actions').isHidden()).resolves.toBe(true);
    await expect(page.locator('#bulk-retry').isVisible()).resolves.toBe(false);
    await expect(page.locator('#bulk-cancel').isVisible()).resolves.toBe(false);
    await expect(page.locator('#whoami').textContent()).resolves.toBe('grafana · viewer');
    await page.context().close();
  });

  it('the Audit view shows a refused attempt as the action attempted, its subject and why', async () => {
    // The viewer's token tries to run a job through the API: 403 forbidden_role.
    const refused = await fetch(`${sys.url}/api/jobs/boom_job/trigger`, {
      method: 'POST',
      headers: { authorization: `Bearer ${VIEWER}` },
    });
    expect(refused.status).toBe(403);
    // The refusal is audited alongside the answer (not before it): wait until the store has it.
    const audited = await waitFor(async () => {
      const res = await fetch(`${sys.url}/api/jobs/audit?limit=20`, {
        headers: { authorization: `Bearer ${TEST_TOKEN}` },
      });
      const { entries } = (await res.json()) as { entries: { actor: string }[] };
      return entries.find((e) => e.actor === 'api:grafana');
    });
    expect(audited).toBeDefined();
    const { page, errors } = await signedIn(TEST_TOKEN);
    await page.click('#audit-refresh');
    const row = page.locator('#audit-body tr', { hasText: 'api:grafana' }).first();
    await row.waitFor();
    const cells = (await row.locator('td').allTextContents()).slice(1, 6);
    expect(cells).toEqual(['api:grafana', 'viewer', 'trigger', 'boom_job', 'refused: forbidden_role']);
    await expect(row.locator('td').nth(6).textContent()).resolves.toBe('POST /api/jobs/boom_job/trigger');
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
