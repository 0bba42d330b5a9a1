import type { LookupFunction } from 'node:net';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config';
import { downloadRunId } from '../../src/recordings/call-sid';
import { AddressPolicy } from '../../src/recordings/address-policy';
import { waitForRecording } from '../../src/recordings/client';
import { DownloadError, download } from '../../src/recordings/download';
import { audioBytes, type FakeProvider, startProvider } from '../helpers/provider';
import { auth, json, putUrl, rawGet, startRecordingSystem } from '../helpers/recordings';
import { waitFor } from '../helpers/redis';
import { TEST_TOKEN, type TestSystem } from '../helpers/system';

jest.setTimeout(120_000);

const MAX_BYTES = 64 * 1024;
let sys: TestSystem;
/** No RECORDING_ALLOWED_HOSTS: nothing private or loopback may be reached. */
let strict: TestSystem;
let provider: FakeProvider;
/** A second provider on another loopback address, which `sys` does not allow. */
let other: FakeProvider;
beforeAll(async () => {
  provider = await startProvider('127.0.0.1');
  other = await startProvider('127.0.0.2');
  sys = await startRecordingSystem({
    RECORDING_ALLOWED_HOSTS: '127.0.0.1',
    RECORDING_MAX_BYTES: String(MAX_BYTES),
    RECORDING_DOWNLOAD_TIMEOUT_SECONDS: '2',
    JOB_ATTEMPTS: '2',
    WORKER_CONCURRENCY: '4',
  });
  strict = await startRecordingSystem({ RECORDING_ALLOWED_HOSTS: '' });
});
afterAll(async () => {
  await Promise.all([sys.cleanup(), strict.cleanup()]);
  await Promise.all([provider.close(), other.close()]);
});

const fileUrl = (sid: string) => `/api/recordings/file/${sid}`;
/** Polls the file route until it answers something other than 202. */
const settle = (s: TestSystem, sid: string) =>
  waitFor(
    async () => {
      const r = await rawGet(s.url, fileUrl(sid));
      return r.status === 202 ? null : r;
    },
    60_000,
    100,
  );

describe('file route serves only audio', () => {
  it.each([
    ['CAhtml', 'text/html', 'application/octet-stream', '.bin', '<script>alert(document.cookie)</script>'],
    ['CAsvg', 'image/svg+xml', 'application/octet-stream', '.bin', '<svg onload="alert(1)"/>'],
    ['CAmp3', 'audio/mpeg; charset=utf-8', 'audio/mpeg', '.mp3', 'ID3 not really'],
  ])(
    '%s stored as %s is served as %s with nosniff, a sandbox CSP and a safe file name',
    async (sid, stored, served, ext, text) => {
      provider.set(`/rec/${sid}`, { kind: 'file', body: Buffer.from(text), contentType: stored });
      await putUrl(sys, sid, provider.url(`/rec/${sid}`));
      const r = await settle(sys, sid);
      expect(r!.status).toBe(200);
      expect(r!.body.toString()).toBe(text);
      expect(r!.headers.get('content-type')).toBe(served);
      expect(r!.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r!.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
      expect(r!.headers.get('content-disposition')).toBe(`inline; filename="${sid}${ext}"`);
    },
  );

  it('every API answer carries nosniff (JSON, 404, 401, 202, and the 400/413 of a body that fails to parse)', async () => {
    const put = (body: string) =>
      fetch(`${sys.url}/api/recordings/CAnosniff`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/json' },
        body,
      });
    const malformed = await put('{"recording_url": ');
    const oversized = await put(JSON.stringify({ recording_url: 'x'.repeat(200 * 1024) }));
    expect([malformed.status, await malformed.json()]).toEqual([
      400,
      expect.objectContaining({ error: 'invalid_body' }),
    ]);
    expect([oversized.status, await oversized.json()]).toEqual([
      413,
      expect.objectContaining({ error: 'payload_too_large' }),
    ]);
    const answers = [
      await rawGet(sys.url, '/api/jobs'),
      await rawGet(sys.url, '/api/no-such-route'),
      await rawGet(sys.url, '/api/jobs', {}),
      await rawGet(sys.url, '/healthz', {}),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 404, 401, 200]);
    for (const a of [...answers.map((a) => a.headers), malformed.headers, oversized.headers])
      expect(a.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('SSRF: downloads reach only allowed addresses', () => {
  it('PUT refuses what it can tell at once: other schemes, credentials, private/loopback/link-local IPs in any form', async () => {
    const refused = [
      'http://127.0.0.1:6379/',
      'http://2130706433/',
      'http://0x7f.0.0.1/',
      'http://127.1/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::ffff:a9fe:a9fe]/',
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/a.wav',
      'http://172.16.0.1/a.wav',
      'http://192.168.1.1/a.wav',
      'http://100.64.0.1/a.wav',
      'http://0.0.0.0/a.wav',
      'http://[fd00::1]/a.wav',
      'http://[fe80::1]/a.wav',
      'http://[::]/a.wav',
      // IPv6 forms that carry a refused IPv4 address: IPv4-compatible, NAT64, 6to4, and Teredo.
      'http://[::127.0.0.1]/',
      'http://[::7f00:1]:6379/',
      'http://[::a9fe:a9fe]/latest/meta-data/',
      'http://[64:ff9b::127.0.0.1]/',
      'http://[64:ff9b::a9fe:a9fe]/latest/meta-data/',
      'http://[64:ff9b:1::a00:1]/',
      'http://[2002:7f00:1::]/',
      'http://[2002:a00:1::1]/a.wav',
      'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/a.wav',
      'https://user:secret@example.com/a.wav',
      'ftp://example.com/a.wav',
      'file:///etc/passwd',
    ];
    for (const url of refused) {
      const r = await putUrl(strict, 'CAssrf', url);
      expect({ url, status: r.status, body: await r.json() }).toMatchObject({
        url,
        status: 400,
        body: { error: 'recording_url_not_allowed' },
      });
    }
    expect((await putUrl(strict, 'CApublic', 'https://example.com/a.wav')).status).toBe(200);
    expect((await putUrl(strict, 'CApublicip', 'http://93.184.215.14/a.wav')).status).toBe(200);
    // NAT64 and 6to4 of a public IPv4 address stay reachable (an IPv6-only network with DNS64).
    expect((await putUrl(strict, 'CAnat64', 'http://[64:ff9b::93.184.215.14]/a.wav')).status).toBe(200);
    expect((await putUrl(strict, 'CA6to4', 'http://[2002:5db8:d70e::1]/a.wav')).status).toBe(200);
    const compatible = await putUrl(strict, 'CAcompat', 'http://[::127.0.0.1]/');
    expect((await compatible.json()).message).toContain('::7f00:1 is a ipv4Compatible address');
  });

  it('a host name resolving to loopback is refused before connecting: the run fails, the file route answers the terminal 500', async () => {
    provider.set('/rec/byname.wav', { kind: 'file', body: audioBytes(1000) });
    const url = provider.url('/rec/byname.wav').replace('127.0.0.1', 'localhost');
    expect((await putUrl(strict, 'CAname', url)).status).toBe(200);
    expect((await rawGet(strict.url, fileUrl('CAname'))).status).toBe(202);
    const r = await settle(strict, 'CAname');
    expect(r!.status).toBe(500);
    expect(json(r!)).toMatchObject({
      error: 'recording_download_failed',
      reason: 'recording_url_not_allowed',
    });
    expect(provider.hits('/rec/byname.wav')).toBe(0);
    const run = await strict.service.findRun(downloadRunId('CAname', 1));
    expect(run!.error_message).toMatch(
      /^recording_url_not_allowed: localhost resolves to a loopback address/,
    );
  });

  it('every redirect hop is checked: a redirect to a loopback address not allowed is refused; more than 5 hops fail', async () => {
    other.set('/secret', { kind: 'file', body: Buffer.from('internal') });
    provider.set('/rec/redir.wav', { kind: 'redirect', location: other.url('/secret') });
    await putUrl(sys, 'CAredir', provider.url('/rec/redir.wav'));
    const r = await settle(sys, 'CAredir');
    expect(r!.status).toBe(500);
    expect(json(r!)).toMatchObject({
      error: 'recording_download_failed',
      reason: 'recording_url_not_allowed',
    });
    expect(other.hits('/secret')).toBe(0);

    provider.set('/rec/loop.wav', { kind: 'redirect', location: '/rec/loop.wav' });
    await putUrl(sys, 'CAloop', provider.url('/rec/loop.wav'));
    const loop = await settle(sys, 'CAloop');
    expect(json(loop!)).toMatchObject({
      error: 'recording_download_failed',
      reason: 'provider_bad_redirect',
    });
    // The first request and 5 redirects; failed for good, so BullMQ did not retry (JOB_ATTEMPTS=2).
    expect(provider.hits('/rec/loop.wav')).toBe(6);
  });

  describe('resolver answers are checked and the socket connects to the checked address (stubbed resolver)', () => {
    const limits = { connectTimeoutMs: 2000, readTimeoutMs: 2000, maxBytes: MAX_BYTES };
    const stub =
      (answers: Record<string, string>): LookupFunction =>
      (hostname, _options, callback) => {
        const address = answers[hostname];
        const cb = callback as unknown as (
          e: Error | null,
          a?: { address: string; family: number }[],
        ) => void;
        if (!address) cb(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
        else cb(null, [{ address, family: address.includes(':') ? 6 : 4 }]);
      };
    const sink = () =>
      new Writable({
        write(_c, _e, done) {
          done();
        },
      });

    it.each([
      ['metadata.test', '169.254.169.254', 'linkLocal'],
      ['mapped.test', '::ffff:169.254.169.254', 'linkLocal'],
      ['private.test', '10.1.2.3', 'private'],
      ['ula.test', 'fd00:ec2::254', 'uniqueLocal'],
      ['compat.test', '::a9fe:a9fe', 'ipv4Compatible'],
      ['nat64.test', '64:ff9b::a9fe:a9fe', 'linkLocal'],
      ['6to4.test', '2002:a9fe:a9fe::1', 'linkLocal'],
    ])('%s → %s is refused (%s) without a connection', async (host, address, range) => {
      const err = await download(
        `http://${host}/latest/meta-data/`,
        sink,
        { ...limits, resolve: stub({ [host]: address }) },
        () => undefined,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DownloadError);
      expect(err).toMatchObject({ code: 'recording_url_not_allowed', retryable: false });
      expect((err as Error).message).toContain(`${range} address`);
    });

    it('a name that resolves to an allowed address is fetched from that address', async () => {
      const body = audioBytes(2048);
      provider.set('/rec/stubbed.wav', { kind: 'file', body });
      const port = new URL(provider.url('/')).port;
      const chunks: Buffer[] = [];
      const res = await download(
        `http://provider.test:${port}/rec/stubbed.wav`,
        () =>
          new Writable({
            write(c: Buffer, _e, done) {
              chunks.push(c);
              done();
            },
          }),
        {
          ...limits,
          addresses: new AddressPolicy(['127.0.0.1']),
          resolve: stub({ 'provider.test': '127.0.0.1' }),
        },
        () => undefined,
      );
      expect(res.size).toBe(body.length);
      expect(Buffer.concat(chunks).equals(body)).toBe(true);
    });
  });
});

describe('RECORDING_ALLOWED_HOSTS', () => {
  it('accepts host names, IPs and CIDRs; a bad entry stops start-up naming the variable and the entry', () => {
    expect(
      loadConfig({ RECORDING_ALLOWED_HOSTS: ' rec.internal, 10.20.0.0/16 ,::1,127.0.0.1' })
        .RECORDING_ALLOWED_HOSTS,
    ).toEqual(['rec.internal', '10.20.0.0/16', '::1', '127.0.0.1']);
    expect(loadConfig({}).RECORDING_ALLOWED_HOSTS).toEqual([]);
    for (const bad of ['10.0.0.0/33', 'http://host', 'bad_host!', 'a b']) {
      expect(() => loadConfig({ RECORDING_ALLOWED_HOSTS: `ok.example, ${bad}` })).toThrow(
        new RegExp(`environment: RECORDING_ALLOWED_HOSTS: "${bad.replace(/[/.]/g, '\\$&')}" is not`),
      );
    }
  });

  it('a CIDR entry lets downloads reach that private range only', () => {
    const policy = new AddressPolicy(['10.20.0.0/16']);
    expect(policy.refusal('10.20.3.4')).toBeNull();
    expect(policy.refusal('::ffff:10.20.3.4')).toBeNull();
    expect(policy.refusal('10.21.0.1')).toBe('private address');
    expect(policy.refusal('93.184.215.14')).toBeNull();
  });
});

describe('failed for good: not retried, a terminal 500 with the reason', () => {
  it('a 1 byte/s drip is cut by RECORDING_DOWNLOAD_TIMEOUT_SECONDS', async () => {
    provider.set('/rec/drip.wav', { kind: 'drip', intervalMs: 1000, totalBytes: 10_000 });
    await putUrl(sys, 'CAdrip', provider.url('/rec/drip.wav'));
    const r = await settle(sys, 'CAdrip');
    expect(r!.status).toBe(500);
    expect(json(r!)).toMatchObject({ error: 'recording_download_failed', reason: 'download_timeout' });
    const run = await sys.service.findRun(downloadRunId('CAdrip', 1));
    expect(run).toMatchObject({ status: 'failed' });
    expect(run!.error_message).toMatch(/^download_timeout: not done within 2000 ms/);
  });

  it.each([
    ['403', { kind: 'status', status: 403 } as const, 'provider_rejected', 1],
    [
      'too large (Content-Length)',
      { kind: 'file', body: audioBytes(MAX_BYTES + 1) } as const,
      'recording_too_large',
      1,
    ],
    [
      'too large (chunked)',
      { kind: 'chunked', totalBytes: 4 * MAX_BYTES, chunkBytes: 8192 } as const,
      'recording_too_large',
      1,
    ],
    ['503 after BullMQ retries', { kind: 'status', status: 503 } as const, 'provider_error', 2],
  ])(
    '%s → 500 recording_download_failed: polling enqueues nothing more, the provider is not asked again',
    async (name, behaviour, reason, hits) => {
      const sid = `CAfail${name.replace(/\W/g, '')}`;
      provider.set(`/rec/${sid}`, behaviour);
      await putUrl(sys, sid, provider.url(`/rec/${sid}`));
      const r = await settle(sys, sid);
      expect(r!.status).toBe(500);
      expect(json(r!)).toMatchObject({ error: 'recording_download_failed', reason });
      expect(json(r!).message).toEqual(expect.any(String));
      for (let i = 0; i < 3; i++) {
        const again = await rawGet(sys.url, fileUrl(sid));
        expect(again.status).toBe(500);
        expect(json(again).error).toBe('recording_download_failed');
      }
      // The client (and the player) tell the user the provider failed, not that the service is down.
      expect(await waitForRecording(sys.url, sid, { token: TEST_TOKEN })).toMatchObject({
        ready: false,
        errorType: 'download_failed',
      });
      expect(provider.hits(`/rec/${sid}`)).toBe(hits);
      const jobs = (await sys.queues.get('recordings').getJobs(undefined, 0, 1000)).filter((j) =>
        j.id!.startsWith(`rdl-${sid}-`),
      );
      expect(jobs).toHaveLength(1);
    },
  );
});
