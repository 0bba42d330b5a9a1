/**
 * The bot's one error reply: with the run store unreachable (its redis-server stopped), commands and buttons
 * answer "the job store is unreachable, try again" (logged once per action with the stack), not "internal
 * error"; with it back, refusals name the run from the error's `extra`, escaped.
 */
import type { Bot } from 'grammy';
import { AdminList } from '../../src/chatops/access';
import { encodeAction } from '../../src/chatops/callback-data';
import { createJobsBot } from '../../src/chatops/jobs-bot';
import { JobsService } from '../../src/monitor/jobs-service';
import { JobRegistry } from '../../src/monitor/registry';
import { BullmqEnqueuer } from '../../src/queues/bullmq-enqueuer';
import { QueueSet } from '../../src/queues/queue-set';
import { createRedis, waitReady } from '../../src/queues/redis';
import { RedisRunStore } from '../../src/store/redis-run-store';
import { seedRuns } from '../helpers/dashboard';
import { memoryLogger } from '../helpers/logger';
import { OwnRedis, stopAllRedis } from '../helpers/redis-server';
import { TEST_JOBS_YML } from '../helpers/system';
import {
  type ApiCall,
  BOT_INFO,
  callbackUpdate,
  captureApi,
  messageUpdate,
  type Who,
} from '../helpers/telegram';

jest.setTimeout(60_000);

const ADMIN: Who = { chatId: 111 };
const UNREACHABLE = '⏳ The job store is unreachable right now, nothing was done. Try again in a minute.';
const logs = memoryLogger();
const cap = captureApi();
let server: OwnRedis;
let redis: ReturnType<typeof createRedis>;
let queues: QueueSet;
let bot: Bot;

beforeAll(async () => {
  server = await OwnRedis.create();
  redis = createRedis(server.url, { failFast: true });
  redis.on('error', () => undefined); // the outage is the point of this test; the bot's log is what is checked
  await waitReady(redis);
  const registry = JobRegistry.fromYaml(TEST_JOBS_YML);
  const store = new RedisRunStore(redis, { prefix: '{jmbot}' });
  queues = new QueueSet(registry.queues(), {
    connection: redis,
    prefix: '{jmbot}',
    attempts: 1,
    backoffMs: 10,
    retentionSeconds: 3600,
    eventsMaxLen: 1000,
  });
  const service = new JobsService(registry, store, new BullmqEnqueuer(queues), { logger: logs.logger });
  await seedRuns(store, [
    { run_id: 'r-failed', job_id: 'boom_job', status: 'failed', created_ms: Date.now() - 2000, error: 'x' },
    { run_id: 'r-done<b>', job_id: 'quick_job', status: 'completed', created_ms: Date.now() - 1000 },
  ]);
  bot = createJobsBot({
    token: '123456:TEST',
    service,
    admins: new AdminList(['111']),
    logger: logs.logger,
    timeZone: 'UTC',
    botInfo: BOT_INFO,
    transformers: [cap.transformer],
  });
});
afterAll(async () => {
  await queues.close().catch(() => undefined);
  redis.disconnect();
  await stopAllRedis();
});

async function send(update: Parameters<Bot['handleUpdate']>[0]): Promise<string> {
  cap.reset();
  await bot.handleUpdate(update);
  return cap.calls
    .filter((c: ApiCall) => c.method === 'sendMessage' || c.method === 'editMessageText')
    .map((c) => String(c.payload.text))
    .join('\n');
}

it('refusals name the run from the error, escaped', async () => {
  const at = Date.now();
  expect(
    await send(callbackUpdate(encodeAction({ kind: 'stop_confirm', ref: 'r-done<b>', at }), ADMIN)),
  ).toBe('🚫 Run <code>r-done&lt;b&gt;</code> is completed; only pending or running runs can be stopped.');
  expect(await send(callbackUpdate(encodeAction({ kind: 'retry_ask', ref: 'nope' }), ADMIN))).toBe(
    '❓ No run <code>nope</code> (it may be older than the 7 days kept).',
  );
});

it('answers "store unreachable, try again" to commands and buttons while the store is down', async () => {
  await server.stop();
  expect(await send(messageUpdate('/jobs active', ADMIN))).toBe(UNREACHABLE);
  expect(await send(messageUpdate('/jobs failed', ADMIN))).toBe(UNREACHABLE);
  expect(await send(callbackUpdate(encodeAction({ kind: 'retry_ask', ref: 'r-failed' }), ADMIN))).toBe(
    UNREACHABLE,
  );
  expect(await send(callbackUpdate(encodeAction({ kind: 'stop_ask', ref: 'r-failed' }), ADMIN))).toBe(
    UNREACHABLE,
  );
  const lines = logs.lines.filter((l) => l.msg === 'bot_store_unavailable');
  expect(lines).toHaveLength(4);
  expect(lines[0]).toMatchObject({ err: { type: 'StoreUnavailableError' } });
  expect(logs.events()).not.toContain('bot_action_failed');
  expect(logs.events()).not.toContain('bot_update_failed');
});
