import { formatWhen } from '../../src/chatops/format';
import { visibleText } from '../../src/chatops/html';
import { startFakeBotApi } from '../helpers/fake-bot-api';
import { waitFor } from '../helpers/redis';
import request from 'supertest';
import { startTestSystem, TEST_JOBS_YML, TEST_TOKEN, type TestSystem } from '../helpers/system';
import { messageUpdate } from '../helpers/telegram';

jest.setTimeout(120_000);

/** The test registry with `dyn_job` searchable by its payload's call_sid (like recording_download). */
const SEARCH_YML = TEST_JOBS_YML.replace(
  '{ job_id: dyn_job, name: Dynamic, category: test,',
  '{ job_id: dyn_job, name: Dynamic, category: test, search_keys: [call_sid],',
);

const TOKEN = '123456:FAKE-token_for_tests';
const ADMIN = { chatId: 111 };
const WEBAPP = 'https://ops.example.com';

describe('ChatOps visibility commands through a local fake Bot API', () => {
  let fake: Awaited<ReturnType<typeof startFakeBotApi>>;
  let sys: TestSystem;
  beforeAll(async () => {
    fake = await startFakeBotApi();
    sys = await startTestSystem(
      {
        ROLES: 'api,worker,monitor,bot',
        TELEGRAM_BOT_TOKEN: TOKEN,
        TELEGRAM_API_ROOT: fake.apiRoot,
        TELEGRAM_ADMIN_IDS: '111',
        WEBAPP_URL: WEBAPP,
        WORKER_HEARTBEAT_SECONDS: '0.3',
      },
      { jobsYml: SEARCH_YML },
    );
    await waitFor(() => fake.calls.some((c) => c.method === 'getUpdates' && Number(c.payload.timeout) > 0));
  });
  afterAll(async () => {
    await sys?.cleanup();
    await fake?.close();
  });

  it('/jobs workers lists this worker, the run it is on (linked) and the queue depth', async () => {
    const { run_id } = await sys.service.trigger('slow_job', { payload: { ms: 4000 } });
    // Once the heartbeat carries the run, the bot's answer must too.
    await waitFor(async () => {
      const r = await request(sys.url).get('/api/jobs/workers').set('Authorization', `Bearer ${TEST_TOKEN}`);
      return r.body.workers?.[0]?.runs?.includes(run_id);
    });
    fake.pushUpdate(messageUpdate('/jobs workers', ADMIN));
    const reply = await waitFor(() => fake.sent().find((c) => String(c.payload.text).includes('Workers:')));
    expect(reply?.payload).toMatchObject({ chat_id: 111, parse_mode: 'HTML' });
    const html = String(reply?.payload.text);
    const text = visibleText(html);
    expect(text).toContain(`🔄 ${sys.workers!.name} - 1/5 busy · tq · v0.1.0`);
    expect(html).toContain(`<a href="${WEBAPP}/jobs/monitor?run_id=${run_id}">${run_id}</a>`);
    expect(text).toMatch(/📥 Queues:\ntq waiting 0 · delayed 0 · active 1 · failed 0/);
  });

  it('/jobs find TEXT finds a run by the call_sid in its payload (a search key), with a logs link', async () => {
    const { run_id } = await sys.service.enqueueDynamic(
      'dyn_job',
      { call_sid: 'CA77find' },
      { user_id: 'u9' },
    );
    await waitFor(async () => (await sys.store.get(run_id))?.status === 'completed');
    fake.pushUpdate(messageUpdate('/jobs find ca77FIND', ADMIN));
    const reply = await waitFor(() =>
      fake.sent().find((c) => String(c.payload.text).includes('Runs matching')),
    );
    const html = String(reply?.payload.text);
    expect(visibleText(html)).toMatch(
      new RegExp(
        `^🔎 Runs matching ca77FIND:\\n\\n✅ dyn_job completed \\d\\d/\\d\\d \\d\\d:\\d\\d · u9\\n {3}${run_id}$`,
      ),
    );
    expect(html).toContain(`<a href="${WEBAPP}/jobs/monitor?run_id=${run_id}">${run_id}</a>`);
    fake.pushUpdate(messageUpdate('/jobs find CA-none', ADMIN));
    const none = await waitFor(() =>
      fake.sent().find((c) => String(c.payload.text).includes('No run matches')),
    );
    expect(visibleText(String(none?.payload.text))).toContain('No run matches CA-none');
  });
});

describe('ChatOps in Hebrew (LOCALE=he) through a local fake Bot API', () => {
  let fake: Awaited<ReturnType<typeof startFakeBotApi>>;
  let sys: TestSystem;
  beforeAll(async () => {
    fake = await startFakeBotApi();
    sys = await startTestSystem(
      {
        ROLES: 'api,worker,monitor,bot',
        LOCALE: 'he',
        TELEGRAM_BOT_TOKEN: TOKEN,
        TELEGRAM_API_ROOT: fake.apiRoot,
        TELEGRAM_ADMIN_IDS: '111',
        WEBAPP_URL: WEBAPP,
        WORKER_HEARTBEAT_SECONDS: '0.3',
      },
      { jobsYml: SEARCH_YML },
    );
    await waitFor(() => fake.calls.some((c) => c.method === 'getUpdates' && Number(c.payload.timeout) > 0));
  });
  afterAll(async () => {
    await sys?.cleanup();
    await fake?.close();
  });
  /** Latin words left once the data (ids, names, queues, versions) is taken out. */
  const english = (text: string, ...data: string[]) =>
    data.reduce((t, d) => t.split(d).join(''), text).match(/[A-Za-z]{2,}/g) ?? [];

  it('/jobs workers: the worker, its load, its run and the queue depth in Hebrew words', async () => {
    const { run_id } = await sys.service.trigger('slow_job', { payload: { ms: 4000 } });
    await waitFor(async () => {
      const r = await request(sys.url).get('/api/jobs/workers').set('Authorization', `Bearer ${TEST_TOKEN}`);
      return r.body.workers?.[0]?.runs?.includes(run_id);
    });
    fake.pushUpdate(messageUpdate('/jobs workers', ADMIN));
    const reply = await waitFor(() => fake.sent().find((c) => String(c.payload.text).includes('עובדים:')));
    const html = String(reply?.payload.text);
    const text = visibleText(html);
    expect(text).toMatch(
      new RegExp(
        `^🛠 עובדים:\\n\\n🔄 ${sys.workers!.name} - 1/5 תפוסים · tq · v0\\.1\\.0 · נראה לפני \\d+ שנ׳\\n {3}▸ ${run_id}`,
      ),
    );
    expect(text).toMatch(/📥 תורים:\ntq ממתינות 0 · מושהות 0 · פעילות 1 · נכשלו 0$/);
    expect(html).toContain(`<a href="${WEBAPP}/jobs/monitor?run_id=${run_id}">${run_id}</a>`);
    expect(english(text, sys.workers!.name, 'tq', run_id)).toEqual([]);
  });

  it("/jobs: each scheduled job with its schedule in the dashboard's words and its next run time", async () => {
    // The job scheduler of quick_job, as the scheduler role keeps it (next run at 03:17 UTC).
    const queue = sys.queues.get('tq');
    await queue.upsertJobScheduler('quick_job', { pattern: '17 3 * * *', tz: 'UTC' }, { name: 'quick_job' });
    const next = (await queue.getJobScheduler('quick_job'))?.next;
    expect(typeof next).toBe('number');
    // Dates in the process's time zone, as the bot shows them.
    const at = formatWhen(new Date(next as number).toISOString());
    expect(at).toMatch(/ \d\d:17$/);
    fake.pushUpdate(messageUpdate('/jobs', ADMIN));
    const reply = await waitFor(() => fake.sent().find((c) => String(c.payload.text).includes('quick_job')));
    const text = visibleText(String(reply?.payload.text));
    expect(text).toContain(`quick_job - Quick\n   מופעל · כל 1 יום · הבאה ${at}`);
    // A job without a scheduler has its schedule but no next run; a dynamic one neither.
    expect(text).toMatch(/counted_job - Counted\n {3}מופעל · כל 1 יום · (עוד לא רץ|אחרון)/);
    expect(text).toContain('dyn_job - Dynamic\n   דינמי · ');
    await queue.removeJobScheduler('quick_job');
  });
});
