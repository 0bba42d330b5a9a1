import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { webhookSecret } from '../../src/chatops/chatops';
import { visibleText } from '../../src/chatops/html';
import { loadConfig } from '../../src/config';
import { startFakeBotApi } from '../helpers/fake-bot-api';
import { waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem } from '../helpers/system';
import { messageUpdate } from '../helpers/telegram';

jest.setTimeout(120_000);

const TOKEN = '123456:FAKE-token_for_tests';
const ADMIN = { chatId: 111 };
const WEBAPP = 'https://ops.example.com';
/** The shipped registry, so the example job cache_warming runs with its real processor. */
const SHIPPED_JOBS = readFileSync(join(__dirname, '../../config/jobs.yml'), 'utf8');

describe('bot role, long polling against a local fake Bot API', () => {
  let fake: Awaited<ReturnType<typeof startFakeBotApi>>;
  let sys: TestSystem | undefined;
  afterAll(async () => {
    await sys?.cleanup();
    await fake?.close();
  });

  it('answers /jobs active with the progress of cache_warming while it runs', async () => {
    fake = await startFakeBotApi();
    sys = await startTestSystem(
      {
        ROLES: 'api,worker,monitor,bot',
        TELEGRAM_BOT_TOKEN: TOKEN,
        TELEGRAM_API_ROOT: fake.apiRoot,
        TELEGRAM_ADMIN_IDS: '111',
        WEBAPP_URL: WEBAPP,
      },
      { jobsYml: SHIPPED_JOBS },
    );
    const s = sys;
    expect(s.chatops?.mode).toBe('polling');
    // The bot identified itself, dropped any webhook and is long polling.
    await waitFor(() => fake.calls.some((c) => c.method === 'getUpdates' && Number(c.payload.timeout) > 0));
    expect(
      fake.calls
        .map((c) => c.method)
        .slice(0, 2)
        .sort(),
    ).toEqual(['deleteWebhook', 'getMe']);
    expect(s.logs.events()).toContain('bot_started');

    const { run_id } = await s.service.trigger('cache_warming', { payload: { duration_ms: 10_000 } });
    await waitFor(async () => {
      const run = await s.store.get(run_id);
      return run?.status === 'running' && (run.processed_items ?? 0) >= 100;
    }, 30_000);

    fake.pushUpdate(messageUpdate('/jobs active', ADMIN));
    const reply = await waitFor(
      () => fake.sent().find((c) => String(c.payload.text).includes('⚡ Active runs:')),
      30_000,
    );
    expect(reply).toBeDefined();
    expect(reply?.payload).toMatchObject({ chat_id: 111, parse_mode: 'HTML' });
    const text = String(reply?.payload.text);
    expect(visibleText(text)).toMatch(/🔄 cache_warming - \d{1,3}% \(\d+\/1000\)/);
    expect(text).toContain(`<a href="${WEBAPP}/jobs/monitor?run_id=${run_id}">📋 Logs</a>`);

    // A stranger writing to the bot gets the refusal, once.
    fake.pushUpdate(messageUpdate('/jobs', { chatId: 555 }));
    fake.pushUpdate(messageUpdate('/jobs failed', { chatId: 555 }));
    await waitFor(() => fake.sent().some((c) => c.payload.chat_id === 555));
    await waitFor(() =>
      fake.calls.some(
        (c) => c.method === 'getUpdates' && Number(c.payload.offset) > messageUpdateIdOf(fake, 555),
      ),
    );
    expect(fake.sent().filter((c) => c.payload.chat_id === 555)).toHaveLength(1);

    await s.cleanup();
    sys = undefined;
    expect(s.chatops?.bot.isRunning()).toBe(false);
    expect(s.logs.events()).toContain('bot_stopped');
    expect(s.logs.raw.join('')).not.toContain(TOKEN);
  });
});

/** The update id of the last update pushed for a chat (to know when the bot has consumed it). */
function messageUpdateIdOf(fake: Awaited<ReturnType<typeof startFakeBotApi>>, chatId: number): number {
  const mine = fake.updates.filter((u) => u.message?.chat.id === chatId);
  return mine.at(-1)?.update_id ?? 0;
}

describe('bot role, webhook mode on the API app', () => {
  let fake: Awaited<ReturnType<typeof startFakeBotApi>>;
  let sys: TestSystem;
  const secret = 'webhook_secret-0123';
  beforeAll(async () => {
    fake = await startFakeBotApi();
    sys = await startTestSystem({
      ROLES: 'api,monitor,bot',
      TELEGRAM_BOT_TOKEN: TOKEN,
      TELEGRAM_API_ROOT: fake.apiRoot,
      TELEGRAM_ADMIN_IDS: '111',
      TELEGRAM_WEBHOOK_URL: 'https://bot.example.com/telegram/hook',
      TELEGRAM_WEBHOOK_SECRET: secret,
    });
  });
  afterAll(async () => {
    await sys.cleanup();
    await fake.close();
  });

  const post = (body: unknown, headers: Record<string, string>) =>
    fetch(`${sys.url}/telegram/hook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('registers the webhook with its secret and answers updates posted with it', async () => {
    const set = await waitFor(() => fake.calls.find((c) => c.method === 'setWebhook'));
    expect(set?.payload).toMatchObject({
      url: 'https://bot.example.com/telegram/hook',
      secret_token: secret,
      allowed_updates: ['message', 'callback_query'],
    });
    expect(fake.calls.some((c) => c.method === 'getUpdates')).toBe(false);

    const res = await post(messageUpdate('/jobs', ADMIN), { 'X-Telegram-Bot-Api-Secret-Token': secret });
    expect(res.status).toBe(200);
    const reply = await waitFor(() => fake.sent().find((c) => c.payload.chat_id === 111));
    expect(String(reply?.payload.text)).toContain('📋 Jobs by category:');
  });

  it('rejects updates without the right secret, and sends nothing', async () => {
    const before = fake.sent().length;
    expect(
      (await post(messageUpdate('/jobs', ADMIN), { 'X-Telegram-Bot-Api-Secret-Token': 'wrong' })).status,
    ).toBe(401);
    expect((await post(messageUpdate('/jobs', ADMIN), {})).status).toBe(401);
    expect(fake.sent().length).toBe(before);
  });
});

describe('bot role configuration', () => {
  it('is off with one bot_disabled info line when TELEGRAM_BOT_TOKEN is unset', async () => {
    const sys = await startTestSystem({ ROLES: 'api,bot' });
    try {
      expect(sys.chatops).toBeUndefined();
      expect(sys.logs.lines.filter((l) => l.msg === 'bot_disabled')).toEqual([
        expect.objectContaining({ level: 30, role: 'bot' }),
      ]);
    } finally {
      await sys.cleanup();
    }
  });

  it('validates the Telegram variables by name', () => {
    const env = { NODE_ENV: 'test', TELEGRAM_BOT_TOKEN: TOKEN };
    expect(loadConfig({ ...env, TELEGRAM_ADMIN_IDS: ' 111, -100500 ' }).TELEGRAM_ADMIN_IDS).toEqual([
      '111',
      '-100500',
    ]);
    expect(() => loadConfig({ ...env, TELEGRAM_ADMIN_IDS: '111,@bob' })).toThrow(
      /TELEGRAM_ADMIN_IDS.*numeric ids/,
    );
    expect(() => loadConfig({ ...env, BOT_LOCALE: 'fr' })).toThrow(/BOT_LOCALE: expected en or he/);
    expect(() => loadConfig({ ...env, TELEGRAM_API_ROOT: 'ftp://x' })).toThrow(/TELEGRAM_API_ROOT/);
    expect(loadConfig({ ...env, TELEGRAM_API_ROOT: 'http://127.0.0.1:8081/' }).TELEGRAM_API_ROOT).toBe(
      'http://127.0.0.1:8081',
    );
    expect(() =>
      loadConfig({ ...env, ROLES: 'worker,bot', TELEGRAM_WEBHOOK_URL: 'https://bot.example.com/hook' }),
    ).toThrow(/TELEGRAM_WEBHOOK_URL: the webhook is served by the api role/);
    expect(loadConfig({ ...env }).BOT_LOCALE).toBe('en');
    expect(loadConfig({ ...env }).ROLES).toContain('bot');
    expect(webhookSecret({ TELEGRAM_WEBHOOK_SECRET: undefined }, TOKEN)).toMatch(/^[\w-]{20,256}$/);
    expect(webhookSecret({ TELEGRAM_WEBHOOK_SECRET: undefined }, TOKEN)).not.toContain(TOKEN);
  });
});
