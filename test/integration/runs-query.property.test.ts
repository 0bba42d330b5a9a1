import fc from 'fast-check';
import { seedRuns } from '../helpers/dashboard';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(120_000);

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ ROLES: 'api' });
  await seedRuns(
    sys.store,
    Array.from({ length: 30 }, (_, i) => ({
      run_id: `p${i}`,
      job_id: i % 2 ? 'quick_job' : 'dyn_job',
      status: 'completed' as const,
      created_ms: Date.now() - i * 1000,
      user_id: i % 3 ? null : 'u1',
    })),
  );
});
afterAll(() => sys.cleanup());

const KEYS = [
  'job_id',
  'status',
  'user_id',
  'trigger',
  'since',
  'limit',
  'cursor',
  'x',
  'limit[]',
  'status[a]',
];
const value = fc.oneof(
  fc.string(),
  fc.constantFrom(
    'failed',
    'completed,running',
    'manual',
    '0',
    '200',
    '201',
    '-1',
    '1e3',
    'quick_job',
    '%ZZ',
    '%',
    '',
  ),
  fc.integer().map(String),
  fc.base64String(),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);
/** A raw query string: known and unknown keys, repeated keys, encoded or deliberately malformed values. */
const queryString = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), value, fc.boolean()), {
    maxLength: 6,
  })
  .map((pairs) =>
    pairs
      .map(
        ([k, v, raw]) => `${encodeURIComponent(k)}=${raw ? v.replace(/[#\s]/g, '') : encodeURIComponent(v)}`,
      )
      .join('&'),
  );

describe('GET /api/jobs/runs with any query string', () => {
  it('answers 200 or 400 with a JSON error code, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(queryString, async (qs) => {
        let url: string;
        try {
          url = new URL(`${sys.url}/api/jobs/runs?${qs}`).toString();
        } catch {
          return; // not a URL any client could send
        }
        const res = await fetch(url, { headers: { Authorization: `Bearer ${TEST_TOKEN}` } });
        const body = await res.json();
        expect([200, 400]).toContain(res.status);
        if (res.status === 400) expect(typeof body.error).toBe('string');
        else expect(Array.isArray(body.runs)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
