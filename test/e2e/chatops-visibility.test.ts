import { visibleText } from '../../src/chatops/html';
import { startFakeBotApi } from '../helpers/fake-bot-api';
import { waitFor } from '../helpers/redis';
import request from 'supertest';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';
import { messageUpdate } from '../helpers/telegram';

jest.setTimeout(120_000);

const TOKEN = '123456:FAKE-token_for_tests';
const ADMIN = { chatId: 111 };
const WEBAPP = 'https://ops.example.com';

describe('ChatOps visibility commands through a local fake Bot API', () => {
  let fake: Awaited<ReturnType<typeof startFakeBotApi>>;
  let sys: TestSystem;
  beforeAll(async () => {
    fake = await startFakeBotApi();
    sys = await startTestSystem({
      ROLES: 'api,worker,monitor,bot',
      TELEGRAM_BOT_TOKEN: TOKEN,
      TELEGRAM_API_ROOT: fake.apiRoot,
      TELEGRAM_ADMIN_IDS: '111',
      WEBAPP_URL: WEBAPP,
      WORKER_HEARTBEAT_SECONDS: '0.3',
    });
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
});
