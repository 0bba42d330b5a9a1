import fc from 'fast-check';
import { rawGet, startRecordingSystem } from '../helpers/recordings';
import type { TestSystem } from '../helpers/system';

jest.setTimeout(120_000);

// No call here has a recording URL, so the worker-offline 500 can't happen by construction: every answer
// must be 4xx JSON (400 invalid_call_sid, 404 recording_not_found or not_found for an empty segment).
let sys: TestSystem;
beforeAll(async () => {
  sys = await startRecordingSystem({ ROLES: 'api' });
});
afterAll(() => sys.cleanup());

const segment = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,70}$/),
  fc.constantFrom('..', '.', '%2F', '..%2F..%2Fetc%2Fpasswd', '%00', '%', '%E0%A4%A', 'a/b', '?x=1', '#'),
);

it('any call_sid path segment gets a 2xx/4xx JSON answer, never a 5xx', async () => {
  await fc.assert(
    fc.asyncProperty(segment, async (raw) => {
      // Encode what a URL can't carry raw; keep the pre-encoded and traversal cases as they are.
      const seg =
        /^[\x21-\x7e]*$/.test(raw) && !raw.includes('#') && !raw.includes('?')
          ? raw
          : encodeURIComponent(raw);
      const r = await rawGet(sys.url, `/api/recordings/file/${seg}`);
      expect(r.status).toBeGreaterThanOrEqual(200);
      expect(r.status).toBeLessThan(500);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      const body = JSON.parse(r.body.toString('utf8'));
      if (r.status >= 400) expect(typeof body.error).toBe('string');
    }),
    { numRuns: 300 },
  );
});
