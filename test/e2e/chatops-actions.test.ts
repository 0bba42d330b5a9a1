/**
 * #12 ChatOps buttons end to end: the bot role long-polls a local fake Bot API, a real system runs the jobs on
 * real Redis. Retry a failed DYNAMIC run from `/jobs failed` and `/jobs <job>`; Run now records
 * `telegram:<id> (@username)` and the Telegram user id; ⛔ Stop cancels a running run from `/jobs active`;
 * an owner pauses a dynamic job; under DASHBOARD_READ_ONLY the bot shows no action buttons and refuses a
 * press (read_only, audited).
 */
import { encodeAction } from '../../src/chatops/callback-data';
import { visibleText } from '../../src/chatops/html';
import type { JobRun } from '../../src/monitor/run';
import { startFakeBotApi } from '../helpers/fake-bot-api';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_JOBS_YML, TEST_TOKEN, type TestSystem } from '../helpers/system';
import { type ApiCall, buttons, callbackUpdate, messageUpdate, type Who } from '../helpers/telegram';

jest.setTimeout(120_000);

const TOKEN = '123456:FAKE-token_for_tests';
const ONCALL: Who = { chatId: 111, username: 'oncall' };
const OWNER: Who = { chatId: 333, username: 'lead' };
const YML = `${TEST_JOBS_YML.replace(
  'dynamic_jobs:',
  '  - { job_id: wait_job, name: Waiter, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, allow_concurrent: true, callback_name: cancellable, queue: tq }\ndynamic_jobs:',
)}  - { job_id: dyn_boom, name: Dyn boom, category: test, callback_name: boom, queue: tq }\n`;

interface AuditRow {
  actor: string;
  role: string | null;
  action: string;
  outcome: string;
  code?: string;
  job_id?: string;
  run_id?: string;
  detail?: string;
}
/** The latest audit entries, as GET /api/jobs/audit lists them. */
async function auditOf(sys: TestSystem, limit = 10): Promise<AuditRow[]> {
  const res = await fetch(`${sys.url}/api/jobs/audit?limit=${limit}`, {
    headers: { authorization: `Bearer ${TEST_TOKEN}` },
  });
  return ((await res.json()) as { entries: AuditRow[] }).entries;
}

type Fake = Awaited<ReturnType<typeof startFakeBotApi>>;

/** Pushes an update and waits for the bot's next message (sent or edited) to that chat. */
async function exchange(fake: Fake, push: () => void, chatId: number): Promise<ApiCall> {
  const mine = () =>
    fake.calls.filter(
      (c) => (c.method === 'sendMessage' || c.method === 'editMessageText') && c.payload.chat_id === chatId,
    );
  const before = mine().length;
  push();
  const reply = await waitFor(() => mine()[before], 30_000);
  if (!reply) throw new Error('the bot did not answer');
  return reply;
}
const say = (fake: Fake, text: string, who: Who) =>
  exchange(fake, () => fake.pushUpdate(messageUpdate(text, who)), who.chatId);
const press = (fake: Fake, data: string, who: Who) =>
  exchange(fake, () => fake.pushUpdate(callbackUpdate(data, who)), who.chatId);
const text = (c: ApiCall) => visibleText(String(c.payload.text));

describe('ChatOps action buttons through the Bot API', () => {
  let fake: Fake;
  let sys: TestSystem;
  beforeAll(async () => {
    fake = await startFakeBotApi();
    sys = await startTestSystem(
      {
        ROLES: 'api,worker,monitor,bot',
        TELEGRAM_BOT_TOKEN: TOKEN,
        TELEGRAM_API_ROOT: fake.apiRoot,
        TELEGRAM_ADMIN_IDS: '111',
        TELEGRAM_OWNER_IDS: '333',
      },
      { jobsYml: YML },
    );
    await waitFor(() => fake.calls.some((c) => c.method === 'getUpdates' && Number(c.payload.timeout) > 0));
  });
  afterAll(async () => {
    await sys?.cleanup();
    await fake?.close();
  });

  const failedRun = async (payload: unknown) => {
    const { run_id } = await sys.service.enqueueDynamic('dyn_boom', payload, { user_id: 'u-42' });
    return (await waitFor(async () => {
      const r = await sys.store.get(run_id);
      return r?.status === 'failed' ? r : null;
    }, 30_000)) as JobRun;
  };

  it('retries a failed dynamic run from /jobs failed, after confirming; the new run says who', async () => {
    const old = await failedRun({ sync: 'drive-1' });
    const list = await say(fake, '/jobs failed', ONCALL);
    expect(text(list)).toContain('dyn_boom');
    const retry = buttons(list).find((b) => b.text.startsWith('🔁 Retry dyn_boom'));
    expect(retry).toBeDefined();

    const ask = await press(fake, retry!.data, ONCALL);
    expect(text(ask)).toContain(`Retry dyn_boom (run ${old.run_id})`);
    const yes = buttons(ask)[0];
    const done = await press(fake, yes.data, ONCALL);
    expect(done.method).toBe('editMessageText');
    const newId = /new run (\S+)/.exec(text(done))?.[1];
    expect(newId).toBeTruthy();
    const retried = await waitFor(() => sys.store.get(newId!), 10_000);
    expect(retried).toMatchObject({
      job_id: 'dyn_boom',
      retry_of: old.run_id,
      user_id: 'u-42',
      triggered_by: 'telegram:111 (@oncall)',
    });
    expect(await sys.queues.get('tq').getJob(newId!)).toMatchObject({
      data: { payload: { sync: 'drive-1' } },
    });
    expect((await sys.store.get(old.run_id))?.retried_by).toBe(newId);

    // Pressing the same confirmation again: refused, the retry named.
    const again = await press(fake, yes.data, ONCALL);
    expect(text(again)).toContain(`was already retried: run ${newId}`);
  });

  it('/jobs <dynamic job> offers Retry for its latest failed run', async () => {
    const old = await failedRun({ sync: 'drive-2' });
    const details = await say(fake, '/jobs dyn_boom', ONCALL);
    const retry = buttons(details).find((b) => b.text === '🔁 Retry');
    expect(retry).toBeDefined();
    expect(buttons(details).map((b) => b.text)).not.toContain('▶️ Run now');
    const ask = await press(fake, retry!.data, ONCALL);
    expect(text(ask)).toContain(old.run_id);
  });

  it('Run now records telegram:<id> (@username) and the Telegram user id', async () => {
    const details = await say(fake, '/jobs chatty_job', ONCALL);
    const run = buttons(details).find((b) => b.text === '▶️ Run now');
    expect(run).toBeDefined();
    const ask = await press(fake, run!.data, ONCALL);
    const done = await press(fake, buttons(ask)[0].data, ONCALL);
    const runId = /run (\S+)/.exec(text(done))?.[1];
    expect(await waitFor(() => sys.store.get(runId!), 10_000)).toMatchObject({
      job_id: 'chatty_job',
      triggered_by: 'telegram:111 (@oncall)',
      user_id: '111',
    });
  });

  it('⛔ Stop from /jobs active, after confirming: the running run ends cancelled, audited as telegram:<id>', async () => {
    const { run_id } = await sys.service.trigger('wait_job', { trigger: 'manual' });
    await waitFor(async () => (await sys.store.get(run_id))?.status === 'running', 30_000);
    const list = await say(fake, '/jobs active', ONCALL);
    expect(text(list)).toContain('wait_job');
    const stop = buttons(list).find((b) => b.text === '⛔ Stop wait_job');
    expect(stop).toBeDefined();

    const ask = await press(fake, stop!.data, ONCALL);
    expect(text(ask)).toContain(`Stop wait_job (run ${run_id})?`);
    // Asking changed nothing: the run is still running until confirmed.
    expect((await sys.store.get(run_id))?.status).toBe('running');
    const done = await press(fake, buttons(ask)[0].data, ONCALL);
    expect(done.method).toBe('editMessageText');
    expect(text(done)).toMatch(
      new RegExp(`wait_job: (cancelling run ${run_id}…|run ${run_id} cancelled\\.)`),
    );
    const ended = (await waitFor(async () => {
      const r = await sys.store.get(run_id);
      return r?.status === 'cancelled' ? r : null;
    }, 30_000)) as JobRun;
    expect(ended).toMatchObject({ status: 'cancelled' });
    expect(ended.error_message).toMatch(/cancelled by telegram:111 \(@oncall\)/);
    expect(await auditOf(sys)).toContainEqual(
      expect.objectContaining({
        actor: 'telegram:111 (@oncall)',
        role: 'operator',
        action: 'cancel',
        outcome: 'ok',
        run_id,
      }),
    );
  });

  it('presses by a user on no list are refused, act on nothing, and are audited as the action attempted', async () => {
    const stranger: Who = { chatId: 999, username: 'mallory' };
    const old = await failedRun({ sync: 'drive-3' });
    const presses = [
      encodeAction({ kind: 'retry_confirm', ref: old.run_id, at: Date.now() }),
      encodeAction({ kind: 'pause_ask', ref: 'dyn_boom' }),
    ];
    for (const data of presses) fake.pushUpdate(callbackUpdate(data, stranger));
    const strangerAudit = async () =>
      (await auditOf(sys)).filter((e) => e.actor === 'telegram:999 (@mallory)');
    const entries = await waitFor(async () => {
      const mine = await strangerAudit();
      return mine.length >= 2 ? mine : null;
    }, 30_000);
    const refusal = { role: null, outcome: 'refused', code: 'not_allowed' };
    expect(entries).toHaveLength(2);
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ...refusal, action: 'pause', job_id: 'dyn_boom' }),
        expect.objectContaining({ ...refusal, action: 'retry', run_id: old.run_id }),
      ]),
    );
    // The stranger is told the bot only answers its administrators, and nothing was done.
    const alert = await waitFor(
      () =>
        fake.calls.find(
          (c) =>
            c.method === 'answerCallbackQuery' &&
            c.payload.show_alert === true &&
            String(c.payload.text).includes('only answers its administrators'),
        ),
      30_000,
    );
    expect(alert).toBeDefined();
    expect(fake.calls.filter((c) => c.method === 'sendMessage' && c.payload.chat_id === 999)).toEqual([]);
    expect((await sys.store.get(old.run_id))?.retried_by).toBeNull();
    expect((await sys.service.pauseOf('dyn_boom')).paused).toBe(false);
  });

  it('a stranger pressing again and again is refused every time but audited at most 10 times a minute', async () => {
    const flooder: Who = { chatId: 998, username: 'flood' };
    const data = encodeAction({ kind: 'pause_ask', ref: 'dyn_boom' });
    const answered = () =>
      fake.calls.filter(
        (c) => c.method === 'answerCallbackQuery' && String(c.payload.callback_query_id) !== '',
      ).length;
    const before = answered();
    for (let i = 0; i < 25; i++) fake.pushUpdate(callbackUpdate(data, flooder));
    // Every press is answered (refused)...
    expect(await waitFor(() => answered() - before >= 25, 30_000)).toBe(true);
    const mine = async () => (await auditOf(sys, 100)).filter((e) => e.actor === 'telegram:998 (@flood)');
    // ...and the audit, written in the background, holds the first 10 of them.
    expect(await waitFor(async () => (await mine()).length >= 10, 30_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    const entries = await mine();
    expect(entries).toHaveLength(10);
    expect(entries.every((e) => e.action === 'pause' && e.code === 'not_allowed')).toBe(true);
  });

  it("a stranger's crafted button data is refused and audited without the run id it made up", async () => {
    const crafted: Who = { chatId: 997, username: 'crafty' };
    const at = Math.floor(Date.now() / 1000).toString(36);
    fake.pushUpdate(callbackUpdate(`kc:${at}:<img src=x onerror=1>`, crafted));
    const entry = await waitFor(async () =>
      (await auditOf(sys, 100)).find((e) => e.actor === 'telegram:997 (@crafty)'),
    );
    expect(entry).toMatchObject({ action: 'cancel', outcome: 'refused', code: 'not_allowed' });
    expect(entry).not.toHaveProperty('run_id');
  });

  it('an owner pauses a dynamic job: no new runs until resumed', async () => {
    const details = await say(fake, '/jobs dyn_boom', OWNER);
    const pause = buttons(details).find((b) => b.text === '⏸️ Pause');
    expect(pause).toBeDefined();
    // An operator's /jobs dyn_boom has no Pause.
    expect(buttons(await say(fake, '/jobs dyn_boom', ONCALL)).map((b) => b.text)).not.toContain('⏸️ Pause');
    const ask = await press(fake, pause!.data, OWNER);
    await press(fake, buttons(ask)[0].data, OWNER);
    expect(await sys.service.pauseOf('dyn_boom')).toMatchObject({
      paused: true,
      paused_by: 'telegram:333 (@lead)',
    });
    await expect(sys.service.enqueueDynamic('dyn_boom', {})).rejects.toMatchObject({ code: 'job_paused' });
    // Everyone's /jobs dyn_boom says so.
    expect(text(await say(fake, '/jobs dyn_boom', ONCALL))).toMatch(/State: dynamic · ⏸️ paused/);
    const resume = buttons(await say(fake, '/jobs dyn_boom', OWNER)).find((b) => b.text === '▶️ Resume');
    const askR = await press(fake, resume!.data, OWNER);
    await press(fake, buttons(askR)[0].data, OWNER);
    expect((await sys.service.pauseOf('dyn_boom')).paused).toBe(false);
  });
});

describe('ChatOps under DASHBOARD_READ_ONLY', () => {
  let fake: Fake;
  let sys: TestSystem;
  beforeAll(async () => {
    fake = await startFakeBotApi();
    sys = await startTestSystem(
      {
        ROLES: 'api,worker,monitor,bot',
        TELEGRAM_BOT_TOKEN: TOKEN,
        TELEGRAM_API_ROOT: fake.apiRoot,
        TELEGRAM_ADMIN_IDS: '111',
        TELEGRAM_OWNER_IDS: '333',
        DASHBOARD_READ_ONLY: 'true',
      },
      { jobsYml: YML },
    );
    await waitFor(() => fake.calls.some((c) => c.method === 'getUpdates' && Number(c.payload.timeout) > 0));
  });
  afterAll(async () => {
    await sys?.cleanup();
    await fake?.close();
  });

  it('shows the same answers without action buttons, and refuses a press with read_only (audited)', async () => {
    const { run_id } = await sys.service.trigger('boom_job');
    await waitFor(async () => (await sys.store.get(run_id))?.status === 'failed', 30_000);
    const failed = await say(fake, '/jobs failed', OWNER);
    expect(text(failed)).toContain('boom_job');
    expect(buttons(failed)).toEqual([]);
    expect(buttons(await say(fake, '/jobs boom_job', OWNER))).toEqual([]);

    // Buttons from messages sent before the deployment became read-only: a confirmed Run now, a retry, a pause.
    const before = (await sys.store.list({ job_id: 'boom_job', limit: 50 })).runs.length;
    for (const data of [
      encodeAction({ kind: 'run_confirm', ref: 'boom_job', at: Date.now() }),
      encodeAction({ kind: 'retry_confirm', ref: run_id, at: Date.now() }),
      encodeAction({ kind: 'pause_confirm', ref: 'boom_job', at: Date.now() }),
    ]) {
      const refused = await press(fake, data, OWNER);
      expect(text(refused)).toContain('read-only (DASHBOARD_READ_ONLY)');
    }
    expect((await sys.store.list({ job_id: 'boom_job', limit: 50 })).runs).toHaveLength(before);
    expect((await sys.store.get(run_id))?.retried_by).toBeNull();
    expect((await sys.service.pauseOf('boom_job')).paused).toBe(false);
    // Each refusal names the action the button was for and its job or run (newest first).
    const refusal = { actor: 'telegram:333 (@lead)', role: 'viewer', outcome: 'refused', code: 'read_only' };
    expect((await auditOf(sys)).slice(0, 3)).toEqual([
      expect.objectContaining({ ...refusal, action: 'pause', job_id: 'boom_job' }),
      expect.objectContaining({ ...refusal, action: 'retry', run_id }),
      expect.objectContaining({ ...refusal, action: 'trigger', job_id: 'boom_job' }),
    ]);
  });
});
