/**
 * `/jobs find TEXT` in ChatOps: runs found by a search key value, user id or run id, with logs links and
 * escaped text; the usage when TEXT is missing. The bot's Bot API calls are captured (no network); runs
 * live in a MemoryRunStore (the Redis and MongoDB indexes for `q` are the store's part).
 */
import { AdminList } from '../../src/chatops/access';
import { visibleText } from '../../src/chatops/html';
import { createJobsBot } from '../../src/chatops/jobs-bot';
import { type JobEnqueuer, JobsService } from '../../src/monitor/jobs-service';
import { JobRegistry } from '../../src/monitor/registry';
import { searchTerms } from '../../src/monitor/run';
import { MemoryRunStore } from '../../src/store/memory-run-store';
import { seedUpdates } from '../helpers/dashboard';
import { memoryLogger } from '../helpers/logger';
import { TEST_JOBS_YML } from '../helpers/system';
import { BOT_INFO, balanced, captureApi, messageUpdate } from '../helpers/telegram';

const WEBAPP = 'https://ops.example.com';
const T0 = Date.parse('2026-11-20T10:00:00Z');
const registry = JobRegistry.fromYaml(
  TEST_JOBS_YML.replace(
    '{ job_id: dyn_job, name: Dynamic, category: test,',
    '{ job_id: dyn_job, name: Dynamic, category: test, search_keys: [call_sid],',
  ),
);
const store = new MemoryRunStore();
const enqueuer: JobEnqueuer = {
  enqueue: async (_def, _env, o) => ({ runId: o.runId, deduplicated: false }),
  appendEvent: async () => '1-0',
};
const service = new JobsService(registry, store, enqueuer, { logger: memoryLogger().logger });

function bot(locale: 'en' | 'he' = 'en') {
  const cap = captureApi();
  const b = createJobsBot({
    token: '123456:TEST',
    service,
    admins: new AdminList(['111']),
    logger: memoryLogger().logger,
    webappUrl: WEBAPP,
    timeZone: 'UTC',
    botInfo: BOT_INFO,
    transformers: [cap.transformer],
    locale,
  });
  return async (text: string) => {
    cap.reset();
    await b.handleUpdate(messageUpdate(text, { chatId: 111 }));
    return cap.calls.filter((c) => c.method === 'sendMessage').map((c) => String(c.payload.text));
  };
}

beforeAll(async () => {
  const updates = seedUpdates([
    {
      run_id: 'm0000000001',
      job_id: 'dyn_job',
      status: 'failed',
      created_ms: T0,
      user_id: 'u<b>',
      error: 'x',
    },
    { run_id: 'm0000000002', job_id: 'dyn_job', status: 'completed', created_ms: T0 + 60_000, user_id: 'u2' },
  ]);
  updates[0].identity.search = searchTerms({ call_sid: 'CA42' }, registry.searchKeysOf('dyn_job'));
  await store.apply(updates);
});

describe('/jobs find', () => {
  it('lists the runs whose search key value matches, with status, time, user and a logs link', async () => {
    const [html] = await bot()('/jobs find ca42');
    expect(balanced(html)).toBe(true);
    expect(visibleText(html)).toBe(
      '🔎 Runs matching ca42:\n\n❌ dyn_job failed 20/11 10:00 · u<b>\n   m0000000001',
    );
    expect(html).toContain(`<a href="${WEBAPP}/jobs/monitor?run_id=m0000000001">m0000000001</a>`);
    expect(html).toContain('<code>u&lt;b&gt;</code>');
  });

  it('finds by user id and by run id too; says so when nothing matches', async () => {
    const find = bot();
    expect(visibleText((await find('/jobs find U2'))[0])).toContain('✅ dyn_job completed 20/11 10:01 · u2');
    expect(visibleText((await find('/jobs find m0000000001'))[0])).toContain('m0000000001');
    expect(visibleText((await find('/jobs find nothing-here'))[0])).toMatch(
      /^🔎 No run matches nothing-here/,
    );
    expect(visibleText((await find('/jobs find'))[0])).toMatch(/^Usage: \/jobs find TEXT/);
  });

  it('answers in Hebrew with BOT_LOCALE=he, statuses included', async () => {
    const [html] = await bot('he')('/jobs find ca42');
    const text = visibleText(html);
    expect(text).toContain('🔎 הרצות שמתאימות ל-ca42:');
    expect(text).not.toMatch(/\bfailed\b|Runs matching/);
  });
});
