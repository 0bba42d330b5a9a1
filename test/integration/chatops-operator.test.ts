import type { Bot } from 'grammy';
import { AdminList } from '../../src/chatops/access';
import { createJobsBot } from '../../src/chatops/jobs-bot';
import { AuditLog } from '../../src/monitor/audit';
import { OperatorActions } from '../../src/monitor/operator-actions';
import type { JobRun } from '../../src/monitor/run';
import { RedisAuditStore } from '../../src/store/audit-stores';
import { testRedis, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_JOBS_YML, type TestSystem } from '../helpers/system';
import {
  type ApiCall,
  BOT_INFO,
  buttons,
  callbackUpdate,
  captureApi,
  messageUpdate,
  type Who,
} from '../helpers/telegram';

jest.setTimeout(90_000);

/** #12 in ChatOps through a captured Bot API: Stop a run, Pause/Resume a job (owners only), triggered_by. */
const OPERATOR: Who = { chatId: 111 };
const OWNER: Who = { chatId: 333 };
const YML = TEST_JOBS_YML.replace(
  'dynamic_jobs:',
  `  - { job_id: wait_job, name: Waiter, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, allow_concurrent: true, callback_name: cancellable, queue: tq }
dynamic_jobs:`,
);

let sys: TestSystem;
let cap: ReturnType<typeof captureApi>;
let bot: Bot;
let audit: AuditLog;
const redis = testRedis();
beforeAll(async () => {
  sys = await startTestSystem({}, { jobsYml: YML });
  cap = captureApi();
  audit = new AuditLog(new RedisAuditStore(redis, sys.prefix));
  bot = createJobsBot({
    token: '123456:TEST',
    service: sys.service,
    admins: new AdminList(['111', '333']),
    owners: new AdminList(['333']),
    actions: new OperatorActions(sys.service, audit),
    logger: sys.logs.logger.child({ role: 'bot' }),
    timeZone: 'UTC',
    botInfo: BOT_INFO,
    transformers: [cap.transformer],
  });
});
afterAll(async () => {
  await sys.cleanup();
  await redis.quit();
});

async function say(text: string, who: Who): Promise<ApiCall[]> {
  cap.reset();
  await bot.handleUpdate(messageUpdate(text, who));
  return cap.calls.slice();
}
async function press(data: string, who: Who): Promise<ApiCall[]> {
  cap.reset();
  await bot.handleUpdate(callbackUpdate(data, who));
  return cap.calls.slice();
}
const sent = (calls: ApiCall[], method = 'sendMessage') => calls.filter((c) => c.method === method);
const text = (calls: ApiCall[], method = 'sendMessage') =>
  sent(calls, method)
    .map((c) => String(c.payload.text))
    .join('\n');

describe('ChatOps operator actions', () => {
  it('/jobs active has a Stop button per run; stop asks, then cancels the running run', async () => {
    const { run_id } = await sys.service.trigger('wait_job', { trigger: 'manual' });
    await waitFor(async () => (await sys.store.get(run_id))?.status === 'running', 30_000);
    const list = await say('/jobs active', OPERATOR);
    const stop = buttons(sent(list)[0]).find((b) => b.text === '⛔ Stop wait_job');
    expect(stop).toBeDefined();
    const ask = await press(stop!.data, OPERATOR);
    expect(text(ask)).toContain(`Stop <code>wait_job</code> (run <code>${run_id}</code>)?`);
    const done = await press(buttons(sent(ask)[0])[0].data, OPERATOR);
    expect(text(done, 'editMessageText')).toContain('cancelling run');
    const ended = (await waitFor(async () => {
      const r = await sys.store.get(run_id);
      return r?.status === 'cancelled' ? r : null;
    }, 30_000)) as JobRun;
    expect(ended.error_message).toMatch(/cancelled by telegram:111/);
  });

  it('Run now from Telegram records telegram:<id> and the user id', async () => {
    const ask = await press('ra:chatty_job', OPERATOR);
    await press(buttons(sent(ask)[0])[0].data, OPERATOR);
    const { runs } = await sys.store.list({ job_id: 'chatty_job', limit: 1 });
    expect(runs[0]).toMatchObject({ triggered_by: 'telegram:111', user_id: '111' });
  });

  it('Pause/Resume: refused for operators, done for owners after confirmation; /jobs shows ⏸️ paused', async () => {
    const details = await say('/jobs quick_job', OWNER);
    const pause = buttons(sent(details)[0]).find((b) => b.text === '⏸️ Pause');
    expect(pause).toBeDefined();

    const refused = await press(pause!.data, OPERATOR);
    expect(text(refused)).toContain('Only the bot owners');
    expect((await sys.service.pauseOf('quick_job')).paused).toBe(false);

    const ask = await press(pause!.data, OWNER);
    expect(text(ask)).toContain('Pause <code>quick_job</code>?');
    const done = await press(buttons(sent(ask)[0])[0].data, OWNER);
    expect(text(done, 'editMessageText')).toContain('quick_job</code> paused');
    expect(await sys.service.pauseOf('quick_job')).toMatchObject({ paused: true, paused_by: 'telegram:333' });
    expect(text(await say('/jobs test', OPERATOR))).toMatch(/⏸️ <code>quick_job<\/code>[^\n]*\n[^\n]*paused/);

    const again = await say('/jobs quick_job', OWNER);
    const resume = buttons(sent(again)[0]).find((b) => b.text === '▶️ Resume');
    const askR = await press(resume!.data, OWNER);
    await press(buttons(sent(askR)[0])[0].data, OWNER);
    expect((await sys.service.pauseOf('quick_job')).paused).toBe(false);

    const entries = await audit.latest(20);
    expect(entries.map((e) => `${e.actor} ${e.action} ${e.outcome}`)).toEqual(
      expect.arrayContaining([
        'telegram:333 pause ok',
        'telegram:333 resume ok',
        'telegram:111 pause refused',
      ]),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({
        actor: 'telegram:111',
        action: 'pause',
        outcome: 'refused',
        code: 'forbidden_role',
        job_id: 'quick_job',
      }),
    );
  });
});
