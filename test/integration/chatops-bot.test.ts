import type { Bot } from 'grammy';
import { AdminList } from '../../src/chatops/access';
import { encodeAction } from '../../src/chatops/callback-data';
import { escapeHtml, visibleText } from '../../src/chatops/html';
import { createJobsBot, type JobsBotOptions } from '../../src/chatops/jobs-bot';
import type { JobRun } from '../../src/monitor/run';
import type { Processor } from '../../src/workers/processor-context';
import { waitFor } from '../helpers/redis';
import { startTestSystem, TEST_JOBS_YML, type TestSystem } from '../helpers/system';
import {
  type ApiCall,
  BOT_INFO,
  balanced,
  buttons,
  callbackUpdate,
  captureApi,
  messageUpdate,
  type Who,
} from '../helpers/telegram';

jest.setTimeout(90_000);

const NASTY = 'db said _*[`<b>nope</b> & "quoted" <a href="x">';
const WEBAPP = 'https://ops.example.com';
const ADMIN: Who = { chatId: 111 };
const STRANGER: Who = { chatId: 999 };
const ADMIN_GROUP: Who = { chatId: -100500, userId: 777, chatType: 'supergroup' };
const ADMIN_USER_IN_OTHER_GROUP: Who = { chatId: -100600, userId: 222, chatType: 'group' };
const longName = (i: number) => `${'Long descriptive job name '.repeat(3)}#${i}`;
const bulk = (cat: string, n: number) =>
  Array.from(
    { length: n },
    (_, i) =>
      `  - { job_id: ${cat}_${String(i).padStart(3, '0')}, name: "${longName(i)}", category: ${cat}, job_type: repeating, interval_seconds: 86400, enabled: true, callback_name: quick, queue: tq }`,
  ).join('\n');
const YML = TEST_JOBS_YML.replace(
  'dynamic_jobs:',
  `  - { job_id: nasty_job, name: Nasty, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, allow_concurrent: true, callback_name: nasty, queue: tq }
  - { job_id: single_slow, name: Single slow, category: test, job_type: repeating, interval_seconds: 86400, enabled: true, callback_name: slow, queue: tq }
${bulk('bulk_a', 60)}
${bulk('bulk_b', 150)}
dynamic_jobs:`,
);
const nasty = (async () => {
  throw new Error(NASTY);
}) as Processor<never>;

let sys: TestSystem;
let cap: ReturnType<typeof captureApi>;
let bot: Bot;

function makeBot(over: Partial<JobsBotOptions> = {}, capture = cap): Bot {
  return createJobsBot({
    token: '123456:TEST',
    service: sys.service,
    admins: new AdminList(['111', '222', '-100500']),
    logger: sys.logs.logger.child({ role: 'bot' }),
    webappUrl: WEBAPP,
    timeZone: 'UTC',
    botInfo: BOT_INFO,
    transformers: [capture.transformer],
    retry: { baseDelayMs: 10 },
    ...over,
  });
}

beforeAll(async () => {
  sys = await startTestSystem(
    { JOB_ATTEMPTS: '1', WORKER_CONCURRENCY: '4' },
    { jobsYml: YML, processors: { nasty } },
  );
  cap = captureApi();
  bot = makeBot();
});
afterAll(() => sys.cleanup());

/** Sends a message to the bot and returns the API calls it made in answer. */
async function say(text: string, who: Who = ADMIN, b = bot, c = cap): Promise<ApiCall[]> {
  c.reset();
  await b.handleUpdate(messageUpdate(text, who));
  return c.calls.slice();
}
async function press(data: string, who: Who = ADMIN, b = bot, c = cap): Promise<ApiCall[]> {
  c.reset();
  await b.handleUpdate(callbackUpdate(data, who));
  return c.calls.slice();
}
const only = (calls: ApiCall[], method: string) => calls.filter((c) => c.method === method);
const textOf = (calls: ApiCall[], method = 'sendMessage') =>
  only(calls, method)
    .map((c) => String(c.payload.text))
    .join('\n');
const finished = (id: string) =>
  waitFor(async () => {
    const run = await sys.store.get(id);
    return run && ['completed', 'failed', 'skipped'].includes(run.status) ? run : null;
  }, 30_000) as Promise<JobRun>;
const running = (id: string) =>
  waitFor(async () => {
    const run = await sys.store.get(id);
    return run?.status === 'running' && (run.processed_items ?? 0) >= 1 ? run : null;
  }, 30_000) as Promise<JobRun>;
const runsOf = async (jobId: string) => (await sys.service.listRuns({ job_id: jobId, limit: 200 })).runs;

describe('/jobs commands', () => {
  it('/jobs test: the jobs of the category with their state and last result', async () => {
    const { run_id } = await sys.service.trigger('quick_job');
    await finished(run_id);
    const calls = await say('/jobs test');
    const html = textOf(calls);
    expect(html.startsWith('📋 Jobs by category:')).toBe(true);
    expect(html).toContain('📂 <b>test</b>');
    const visible = visibleText(html);
    expect(visible).toMatch(
      /✅ quick_job - Quick\n {3}enabled · every 1 d · last: ✅ completed \d\d\/\d\d \d\d:\d\d/,
    );
    expect(visible).toContain('⏸️ disabled_job - Disabled\n   disabled · every 1 d · never ran');
    expect(visible).toContain('⚪ dyn_job - Dynamic\n   dynamic · never ran');
    for (const c of only(calls, 'sendMessage'))
      expect(c.payload).toMatchObject({ chat_id: 111, parse_mode: 'HTML' });
  });

  it('/jobs active: "⚡ Active runs:", the progress line and a logs link', async () => {
    const { run_id } = await sys.service.trigger('slow_job', { payload: { ms: 8000 } });
    await running(run_id);
    const html = textOf(await say('/jobs active'));
    expect(html.split('\n')[0]).toBe('⚡ Active runs:');
    expect(visibleText(html)).toMatch(/🔄 slow_job - \d+% \(\d+\/10\)/);
    expect(html).toContain(`<a href="${WEBAPP}/jobs/monitor?run_id=${run_id}">📋 Logs</a>`);
  });

  it('/jobs failed: the error escaped in code style, a logs link, and a Retry button per failure', async () => {
    const { run_id } = await sys.service.trigger('nasty_job');
    expect(await finished(run_id)).toMatchObject({ status: 'failed', error_message: NASTY });
    const calls = await say('/jobs failed');
    const html = textOf(calls);
    expect(html.split('\n')[0]).toBe('❌ Latest failures:');
    expect(html).toMatch(/❌ <code>nasty_job<\/code> \d\d\/\d\d \d\d:\d\d/);
    expect(html).toContain(`<code>${escapeHtml(NASTY)}</code>`);
    expect(html).not.toContain('<b>nope');
    expect(html).not.toContain('<a href="x">');
    expect(balanced(html)).toBe(true);
    expect(visibleText(html)).toContain(NASTY);
    expect(html).toContain(`${WEBAPP}/jobs/monitor?run_id=${run_id}`);
    const retry = buttons(only(calls, 'sendMessage').at(-1)).find((b) => b.data === `ta:${run_id}`);
    expect(retry?.text).toMatch(/^🔁 Retry nasty_job /);
  });

  it('/jobs <job_id>: details, the 5 latest runs and the Run now button; dynamic jobs get none', async () => {
    for (let i = 0; i < 6; i++) await finished((await sys.service.trigger('quick_job')).run_id);
    const calls = await say('/jobs quick_job');
    const html = textOf(calls);
    expect(html).toContain('🔧 <b>Quick</b> (<code>quick_job</code>)');
    expect(html).toContain('Latest runs:');
    expect(html.match(/✅ \d\d\/\d\d \d\d:\d\d completed/g)).toHaveLength(5);
    expect(buttons(calls[0])).toEqual([{ text: '▶️ Run now', data: 'ra:quick_job' }]);
    const dyn = await say('/jobs dyn_job');
    expect(visibleText(textOf(dyn))).toContain('Can run by hand: no');
    expect(buttons(dyn[0])).toEqual([]);
  });

  it('/jobs <category>: only that category; unknown words get the usage with the categories', async () => {
    const html = visibleText(textOf(await say('/jobs test')));
    expect(html).toContain('quick_job');
    expect(html).not.toContain('bulk_a_000');
    const usage = textOf(await say('/jobs nope<b>'));
    expect(usage).toContain('No job or category <code>nope&lt;b&gt;</code>.');
    expect(visibleText(usage)).toContain('/jobs failed - the 10 latest failures');
    expect(visibleText(usage)).toContain('Categories: bulk_a, bulk_b, test');
  });

  it('splits a long reply over several messages, and cuts a huge one with a dashboard link', async () => {
    const parts = only(await say('/jobs bulk_a'), 'sendMessage').map((c) => String(c.payload.text));
    expect(parts.length).toBeGreaterThanOrEqual(2);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(4096);
      expect(balanced(p)).toBe(true);
    }
    const ids = parts.join('\n').match(/bulk_a_\d{3}/g);
    expect(ids).toEqual(Array.from({ length: 60 }, (_, i) => `bulk_a_${String(i).padStart(3, '0')}`));

    const all = only(await say('/jobs'), 'sendMessage').map((c) => String(c.payload.text));
    expect(all).toHaveLength(5);
    for (const p of all) {
      expect(p.length).toBeLessThanOrEqual(4096);
      expect(balanced(p)).toBe(true);
      // A job's line and its state line stay in the same message.
      expect(p.split('\n')[0]).not.toMatch(/^\s/);
    }
    // Grouped by category, in order.
    const joined = all.join('\n');
    expect(joined.indexOf('📂 <b>bulk_a</b>')).toBeLessThan(joined.indexOf('📂 <b>bulk_b</b>'));
    expect(all[4].endsWith(`<a href="${WEBAPP}/jobs/monitor">… more in the dashboard</a>`)).toBe(true);
  });
});

describe('Run now and Retry buttons', () => {
  it('Run now asks for confirmation, then starts the job and answers the new run_id', async () => {
    const ask = await press('ra:quick_job');
    expect(ask[0].method).toBe('answerCallbackQuery');
    expect(textOf(ask)).toBe('▶️ Run <code>quick_job</code> now?');
    const [yes, cancel] = buttons(only(ask, 'sendMessage')[0]);
    expect(yes.text).toBe('✅ Yes, go');
    expect(cancel).toEqual({ text: '✖️ Cancel', data: 'x' });
    for (const b of [yes, cancel]) expect(Buffer.byteLength(b.data)).toBeLessThanOrEqual(64);

    const before = (await runsOf('quick_job')).length;
    const done = await press(yes.data);
    const html = textOf(done, 'editMessageText');
    const m = /^✅ <code>quick_job<\/code> started: run <code>(m[0-9a-f]{12})<\/code>/.exec(html);
    expect(m).not.toBeNull();
    expect(html).toContain(`${WEBAPP}/jobs/monitor?run_id=${m![1]}`);
    expect(await sys.store.get(m![1])).toMatchObject({ job_id: 'quick_job', trigger: 'manual' });
    expect((await runsOf('quick_job')).length).toBe(before + 1);
    expect(sys.logs.events()).toContain('bot_job_triggered');
  });

  it('answers the service refusals: disabled, already running, not triggerable', async () => {
    const at = Date.now();
    const disabled = await press(encodeAction({ kind: 'run_confirm', ref: 'disabled_job', at }));
    expect(textOf(disabled, 'editMessageText')).toBe(
      '⛔ Not started: <code>disabled_job</code> is disabled.',
    );

    const { run_id } = await sys.service.trigger('single_slow', { payload: { ms: 6000 } });
    const busy = await press(encodeAction({ kind: 'run_confirm', ref: 'single_slow', at }));
    expect(textOf(busy, 'editMessageText')).toContain(
      `⏳ Not started: <code>single_slow</code> is already running (run <code>${run_id}</code>).`,
    );

    const dynamic = await press(encodeAction({ kind: 'run_confirm', ref: 'dyn_job', at }));
    expect(textOf(dynamic, 'editMessageText')).toBe(
      "🚫 Not started: <code>dyn_job</code> is a dynamic job and can't be run by hand.",
    );
    expect(await runsOf('dyn_job')).toHaveLength(0);
    expect(await runsOf('disabled_job')).toHaveLength(0);
  });

  it('Retry on a failed run asks, then retries it as a new manual run', async () => {
    const { run_id } = await sys.service.trigger('nasty_job');
    await finished(run_id);
    const details = await say('/jobs nasty_job');
    expect(buttons(details[0]).map((b) => b.text)).toEqual(['▶️ Run now', '🔁 Retry']);

    const ask = await press(`ta:${run_id}`);
    expect(textOf(ask)).toBe(`🔁 Retry <code>nasty_job</code> (run <code>${run_id}</code>)?`);
    const done = await press(buttons(only(ask, 'sendMessage')[0])[0].data);
    const m = /✅ <code>nasty_job<\/code> retried: new run <code>(m[0-9a-f]{12})<\/code>/.exec(
      textOf(done, 'editMessageText'),
    );
    expect(m).not.toBeNull();
    expect(m![1]).not.toBe(run_id);
    expect(await sys.store.get(m![1])).toMatchObject({ job_id: 'nasty_job', trigger: 'manual' });

    const [ok] = await runsOf('quick_job');
    const notFailed = await press(encodeAction({ kind: 'retry_confirm', ref: ok.run_id, at: Date.now() }));
    expect(textOf(notFailed, 'editMessageText')).toBe(
      `🚫 Run <code>${ok.run_id}</code> is completed; only failed runs can be retried.`,
    );
  });

  it('an expired confirmation or Cancel starts nothing', async () => {
    const before = (await runsOf('quick_job')).length;
    const old = Date.now() - 11 * 60_000;
    const expired = await press(encodeAction({ kind: 'run_confirm', ref: 'quick_job', at: old }));
    expect(textOf(expired, 'editMessageText')).toContain('expired');
    expect(textOf(await press('x'), 'editMessageText')).toBe('✖️ Cancelled.');
    expect((await runsOf('quick_job')).length).toBe(before);
  });
});

describe('safety', () => {
  it('admins are listed chats or listed users; anyone else gets one polite refusal, nothing about jobs', async () => {
    expect(textOf(await say('/jobs active', ADMIN_GROUP))).toMatch(/Active runs|No active runs/);
    expect(textOf(await say('/jobs active', ADMIN_USER_IN_OTHER_GROUP))).toMatch(
      /Active runs|No active runs/,
    );

    const first = await say('/jobs', STRANGER);
    expect(first.map((c) => c.method)).toEqual(['sendMessage']);
    expect(String(first[0].payload.text)).toContain('only answers its administrators');
    expect(String(first[0].payload.text)).not.toMatch(/quick_job|test|bulk/);
    expect(await say('/jobs failed', STRANGER)).toEqual([]);
    expect(await say('hello', STRANGER)).toEqual([]);
    expect(sys.logs.events()).toContain('bot_refused');
  });

  it('button presses from non-admins are refused and run nothing', async () => {
    const outsider: Who = { chatId: 31337 };
    const before = (await runsOf('quick_job')).length;
    const confirm = encodeAction({ kind: 'run_confirm', ref: 'quick_job', at: Date.now() });
    const first = await press(confirm, outsider);
    expect(first.map((c) => c.method)).toEqual(['answerCallbackQuery']);
    expect(first[0].payload).toMatchObject({ show_alert: true });
    expect(String(first[0].payload.text)).toContain('only answers its administrators');
    const again = await press('ra:quick_job', outsider);
    expect(again.map((c) => c.method)).toEqual(['answerCallbackQuery']);
    expect(again[0].payload.text).toBeUndefined();
    expect((await runsOf('quick_job')).length).toBe(before);
  });

  it('speaks Hebrew with BOT_LOCALE=he', async () => {
    const c = captureApi();
    const he = makeBot({ locale: 'he' }, c);
    expect(textOf(await say('/jobs zzz', ADMIN, he, c))).toContain('פקודות <b>/jobs</b>:');
    expect(textOf(await say('/jobs failed', ADMIN, he, c))).toContain('❌ כשלים אחרונים:');
    expect(textOf(await say('/jobs', { chatId: 4040 }, he, c))).toContain('הבוט הזה עונה רק למנהלים');
  });

  it('leaves logs links out without WEBAPP_URL', async () => {
    const c = captureApi();
    const plain = makeBot({ webappUrl: undefined }, c);
    const html = textOf(await say('/jobs failed', ADMIN, plain, c));
    expect(html).toContain('❌ Latest failures:');
    expect(html).not.toContain('<a ');
  });
});

describe('Bot API errors', () => {
  it('retries a 429 after retry_after and delivers the message', async () => {
    cap.failNext('sendMessage', {
      ok: false,
      error_code: 429,
      description: 'Too Many Requests: retry after 1',
      parameters: { retry_after: 1 },
    });
    const calls = await say('/jobs active');
    const sends = only(calls, 'sendMessage');
    expect(sends).toHaveLength(2);
    expect(sends[1].payload.text).toBe(sends[0].payload.text);
    expect(sys.logs.lines.some((l) => l.msg === 'bot_api_retry' && l.reason === '429')).toBe(true);
  });

  it('logs a failed Bot API call or a network outage and never throws', async () => {
    cap.failNext('sendMessage', { ok: false, error_code: 400, description: 'Bad Request: chat not found' });
    await expect(bot.handleUpdate(messageUpdate('/jobs active', ADMIN))).resolves.toBeUndefined();
    const { HttpError } = await import('grammy');
    cap.failNext(
      'sendMessage',
      new HttpError('Network request for sendMessage failed!', new Error('down')),
      4,
    );
    await expect(bot.handleUpdate(messageUpdate('/jobs active', ADMIN))).resolves.toBeUndefined();
    const failures = sys.logs.lines.filter((l) => l.msg === 'bot_update_failed');
    // `err` is the whole error (type, message, stack); a Bot API refusal also logs its description
    expect(failures.map((l) => l.description)).toContain('Bad Request: chat not found');
    expect(failures.map((l) => l.err)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'GrammyError', stack: expect.stringContaining('GrammyError') }),
        expect.objectContaining({ type: 'HttpError', message: expect.stringContaining('Network request') }),
      ]),
    );
  });
});
