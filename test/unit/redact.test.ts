import { cutQuery, DEFAULT_REDACT_KEYS, REDACTED, redactPayload } from '../../src/monitor/redact';

describe('payload redaction for the run detail', () => {
  it('masks the default keys at any depth, case-insensitively, inside arrays', () => {
    const out = redactPayload({
      call_sid: 'CA1',
      URL: 'https://provider/rec.mp3',
      nested: { Token: 'abc', list: [{ password: 'p', keep: 1 }], Authorization: 'Bearer x' },
      secret: { deep: 'object too' },
    });
    expect(out).toEqual({
      call_sid: 'CA1',
      URL: REDACTED,
      nested: { Token: REDACTED, list: [{ password: REDACTED, keep: 1 }], Authorization: REDACTED },
      secret: REDACTED,
    });
    expect(DEFAULT_REDACT_KEYS).toEqual(['url', 'token', 'password', 'secret', 'authorization']);
  });

  it('cuts the query string and fragment of every URL in any string value', () => {
    expect(
      redactPayload({ link: 'https://s3.example.com/b/k.mp3?X-Amz-Signature=deadbeef&X-Amz-Expires=60' }),
    ).toEqual({ link: 'https://s3.example.com/b/k.mp3?…' });
    expect(cutQuery('see http://a.b/c#tok=1 and ftp://x/y?z then text')).toBe(
      'see http://a.b/c?… and ftp://x/y?… then text',
    );
    expect(cutQuery('no url ?here=1')).toBe('no url ?here=1');
  });

  it('takes other keys (REDACT_KEYS), leaves scalars and null as they are', () => {
    expect(redactPayload({ api_key: 'k', url: 'https://x/y' }, ['API_KEY'])).toEqual({
      api_key: REDACTED,
      url: 'https://x/y',
    });
    expect(redactPayload(null)).toBeNull();
    expect(redactPayload(42)).toBe(42);
  });
});
