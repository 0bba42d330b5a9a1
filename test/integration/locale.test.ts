/** LOCALE=he drives the recordings player (unless the link asks ?lang=en) and the dashboard pages. */
import request from 'supertest';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(60_000);
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ LOCALE: 'he' });
});
afterAll(() => sys.cleanup());

it('the player speaks Hebrew to an English browser; ?lang=en still gives English', async () => {
  const get = (q: string) =>
    request(sys.url)
      .get(`/recordings/player?call_sid=CA0123456789abcdef0123456789abcdef${q}`)
      .set('Authorization', `Bearer ${TEST_TOKEN}`)
      .set('Accept-Language', 'en-US,en;q=0.9');
  const he = await get('');
  expect(he.status).toBe(200);
  expect(he.headers['content-language']).toBe('he');
  expect(he.text).toContain('dir="rtl"');
  expect((await get('&lang=en')).headers['content-language']).toBe('en');
});

it('the login page is served right to left with the Hebrew words file', async () => {
  const res = await request(sys.url).get('/jobs/monitor/login');
  expect(res.text).toContain('<html lang="he" dir="rtl">');
  const words = await request(sys.url).get('/jobs/monitor/static/i18n-he.js');
  expect(words.status).toBe(200);
  expect(words.text).toContain("getElementById('jm-words')");
  // the run words shared with the bot, in the page (src/monitor/run-words.ts)
  const island = /<script type="application\/json" id="jm-words">(.*?)<\/script>/.exec(res.text);
  expect(JSON.parse(island?.[1] ?? '{}')).toMatchObject({
    cancelled: 'בוטל',
    completed: 'הושלם',
    manual: 'ידני',
  });
});
