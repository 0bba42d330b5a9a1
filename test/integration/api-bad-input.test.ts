/**
 * Bad input on every API route: property-based (fast-check) params, query strings and bodies must get a
 * 2xx or a 4xx with a JSON `error` code, never a 5xx and never a crash; body size limit; path traversal
 * and encoded separators in ids.
 */
import fc from 'fast-check';
import request from 'supertest';
import { startTestSystem, TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(120_000);

let sys: TestSystem;
beforeAll(async () => {
  // No worker: triggered runs just wait in the queue.
  sys = await startTestSystem({ ROLES: 'api,monitor' });
});
afterAll(() => sys.cleanup());

const auth = { Authorization: `Bearer ${TEST_TOKEN}` };

/** The contract every answer keeps. */
function expectSane(res: request.Response, what: string) {
  if (res.status >= 500 || res.status < 200 || (res.status >= 300 && res.status < 400)) {
    throw new Error(`${what} → ${res.status} ${res.text.slice(0, 200)}`);
  }
  expect(res.headers['content-type']).toMatch(/application\/json/);
  if (res.status >= 400) expect(typeof res.body.error).toBe('string');
}

/** Arbitrary path segments: any text, sent raw-but-valid or percent-encoded, plus real ids now and then. */
const segment = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }).map(encodeURIComponent),
  fc
    .string({ maxLength: 40 })
    .map((s) => s.replace(/[^A-Za-z0-9._~!$&'()*+,;=:@%-]/g, ''))
    .filter(Boolean),
  fc.constantFrom(
    'quick_job',
    'dyn_job',
    'disabled_job',
    'runs',
    'active',
    '..',
    '.',
    '%2e%2e',
    '%00',
    '%E0%A4%A',
  ),
);

const queryString = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom('job_id', 'status', 'user_id', 'trigger', 'since', 'limit', 'cursor'),
        fc.string(),
      ),
      fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.integer().map(String), fc.constant('')),
    ),
    { maxLength: 6 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));

const ROUTES: { method: 'get' | 'post'; path: (s: string) => string }[] = [
  { method: 'get', path: (s) => `/api/jobs/${s}` },
  { method: 'get', path: (s) => `/api/jobs/runs/${s}` },
  { method: 'post', path: (s) => `/api/jobs/${s}/trigger` },
  { method: 'post', path: (s) => `/api/jobs/runs/${s}/retry` },
];

describe('property: any input gets 2xx/4xx JSON, never 5xx', () => {
  it.each(ROUTES.map((r) => [r.method.toUpperCase(), r.path(':id'), r] as const))(
    '%s %s with arbitrary path params',
    async (_m, _p, route) => {
      await fc.assert(
        fc.asyncProperty(segment, async (s) => {
          const path = route.path(s);
          const res = await request(sys.server!)[route.method](path).set(auth);
          expectSane(res, `${route.method} ${path}`);
        }),
        { numRuns: 60 },
      );
    },
  );

  it('GET /api/jobs/runs with arbitrary query strings', async () => {
    await fc.assert(
      fc.asyncProperty(queryString, async (qs) => {
        const res = await request(sys.server!).get(`/api/jobs/runs?${qs}`).set(auth);
        expectSane(res, `GET /api/jobs/runs?${qs}`);
        if (res.status === 400)
          expect(res.body).toMatchObject({ error: 'invalid_query', field: expect.any(String) });
      }),
      { numRuns: 150 },
    );
  });

  it('arbitrary query strings on the other GET routes are ignored or refused, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/api/jobs', '/api/jobs/active', '/api/jobs/quick_job'),
        queryString,
        async (p, qs) => {
          const res = await request(sys.server!).get(`${p}?${qs}`).set(auth);
          expectSane(res, `GET ${p}?${qs}`);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('POST routes with arbitrary bodies and content types', async () => {
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.constantFrom('{', '{"a":', 'null', '[]', '"x"', '{"__proto__":{"polluted":1}}', ''),
    );
    const type = fc.constantFrom(
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=utf-16',
      'application/octet-stream',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          '/api/jobs/chatty_job/trigger',
          '/api/jobs/nope/trigger',
          '/api/jobs/runs/m000000000000/retry',
        ),
        body,
        type,
        async (path, b, t) => {
          const res = await request(sys.server!).post(path).set(auth).set('Content-Type', t).send(b);
          expectSane(res, `POST ${path} (${t}) ${b.slice(0, 40)}`);
        },
      ),
      { numRuns: 100 },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('limits and hostile ids', () => {
  it('refuses a body over 100 kB with 413 JSON', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(200_000) });
    const res = await request(sys.server!)
      .post('/api/jobs/chatty_job/trigger')
      .set(auth)
      .set('Content-Type', 'application/json')
      .send(big);
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: 'payload_too_large', message: expect.any(String) });
  });

  it.each(
    (
      [
        ['/api/jobs/runs/..%2F..%2F..%2Fetc%2Fpasswd', [400, 404]],
        ['/api/jobs/runs/%2e%2e%2f%2e%2e%2fetc%2fpasswd', [400, 404]],
        ['/api/jobs/runs/..%5c..%5cwindows', [400]],
        ['/api/jobs/runs/abc%2Fdef', [400]],
        ['/api/jobs/runs/abc%00def', [400]],
        ['/api/jobs/runs/abc%252Fdef', [400]],
        ['/api/jobs/runs/%E0%A4%A', [400]],
        ['/api/jobs/runs/abc%0d%0aSet-Cookie:%20x=1', [400]],
        ['/api/jobs/..%2F..%2Fpackage.json', [400]],
        ['/api/jobs/quick_job%2Ftrigger', [400]],
        ['/api/jobs/runs/../../package.json', [404]],
        [`/api/jobs/runs/${'a'.repeat(5000)}`, [400]],
      ] as [string, number[]][]
    ).map(([p, st]) => [p.length > 80 ? `${p.slice(0, 40)}…(${p.length} chars)` : p, p, st] as const),
  )('GET %s → a 4xx JSON error, no file content, no header injection', async (_title, path, statuses) => {
    const res = await request(sys.server!).get(path).set(auth);
    expect(statuses).toContain(res.status);
    expect(typeof res.body.error).toBe('string');
    expect(res.text).not.toMatch(/root:|"dependencies"/);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('the process is still serving after all of the above', async () => {
    const res = await request(sys.server!).get('/api/jobs').set(auth);
    expect(res.status).toBe(200);
    expect(res.body.jobs.length).toBeGreaterThan(0);
  });
});
