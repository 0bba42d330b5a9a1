import { readdirSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { downloadRunId } from '../../src/recordings/call-sid';
import { audioBytes, type FakeProvider, startProvider } from '../helpers/provider';
import { auth, json, putUrl, rawGet, startRecordingSystem } from '../helpers/recordings';
import { waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem } from '../helpers/system';

jest.setTimeout(90_000);

let sys: TestSystem;
let provider: FakeProvider;
beforeAll(async () => {
  provider = await startProvider();
  sys = await startRecordingSystem({ RECORDING_RETRY_AFTER_SECONDS: '2', WORKER_CONCURRENCY: '4' });
});
afterAll(async () => {
  await sys.cleanup();
  await provider.close();
});

const fileUrl = (sid: string) => `/api/recordings/file/${sid}`;
const until200 = (sid: string, headers: Record<string, string> = auth) =>
  waitFor(
    async () => {
      const r = await rawGet(sys.url, fileUrl(sid), headers);
      return r.status === 200 ? r : null;
    },
    30_000,
    100,
  );

/** Download jobs BullMQ holds for a call, in any state. */
async function downloadJobs(sid: string): Promise<string[]> {
  const jobs = await sys.queues.get('recordings').getJobs(undefined, 0, 1000);
  return jobs.map((j) => j.id!).filter((id) => id.startsWith(`rdl-${sid}-`));
}

describe('GET /api/recordings/file with a worker running', () => {
  it('answers 202 with Retry-After, then 200 with the exact bytes; Range gets 206; nothing downloads twice', async () => {
    const body = audioBytes(64 * 1024 + 123);
    provider.set('/rec/CA1.wav', { kind: 'file', body, delayMs: 300 });
    expect((await putUrl(sys, 'CA1', provider.url('/rec/CA1.wav?sig=secret'))).status).toBe(200);

    const first = await rawGet(sys.url, fileUrl('CA1'), { ...auth, 'X-User-Id': 'agent-7' });
    expect(first.status).toBe(202);
    expect(first.headers.get('retry-after')).toBe('2');
    expect(json(first)).toEqual({ status: 'queued', attempt: 0, max_attempts: 3, retry_after: 2 });

    const ok = (await until200('CA1'))!;
    expect(ok.body.equals(body)).toBe(true);
    expect(ok.headers.get('content-type')).toBe('audio/wav');
    expect(ok.headers.get('content-length')).toBe(String(body.length));
    expect(ok.headers.get('accept-ranges')).toBe('bytes');
    expect(ok.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);

    const part = await rawGet(sys.url, fileUrl('CA1'), { ...auth, Range: 'bytes=1000-1999' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1000-1999/${body.length}`);
    expect(part.body.equals(body.subarray(1000, 2000))).toBe(true);
    const tail = await rawGet(sys.url, fileUrl('CA1'), { ...auth, Range: 'bytes=-10' });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(body.subarray(body.length - 10))).toBe(true);
    const past = await rawGet(sys.url, fileUrl('CA1'), { ...auth, Range: `bytes=${body.length}-` });
    expect(past.status).toBe(416);

    // The run is in job_runs with the user, progress in bytes and the result.
    const run = await waitFor(async () => {
      const r = await sys.service.findRun(downloadRunId('CA1', 1));
      return r?.status === 'completed' ? r : null;
    });
    expect(run).toMatchObject({
      job_id: 'recording_download',
      user_id: 'agent-7',
      trigger: 'api',
      // The poll that started the download, as its caller (DB_HEALTH_TOKEN is named admin).
      triggered_by: 'api:admin',
      processed_items: body.length,
      total_items: body.length,
      result: { call_sid: 'CA1', bytes: body.length, content_type: 'audio/wav' },
    });
    expect(JSON.stringify(run!.logs)).not.toContain('secret');

    // A second GET and a second call do not download CA1 again.
    const again = await rawGet(sys.url, fileUrl('CA1'));
    expect(again.status).toBe(200);
    const body2 = audioBytes(5000);
    provider.set('/rec/CA2.wav', { kind: 'file', body: body2 });
    await putUrl(sys, 'CA2', provider.url('/rec/CA2.wav'));
    expect((await until200('CA2'))!.body.equals(body2)).toBe(true);
    expect(provider.hits('/rec/CA1.wav')).toBe(1);
    expect(provider.hits('/rec/CA2.wav')).toBe(1);
    expect(await downloadJobs('CA1')).toEqual([downloadRunId('CA1', 1)]);
    // No temporary files are left behind.
    expect(readdirSync(sys.config.RECORDINGS_DIR).filter((f) => f.startsWith('.tmp'))).toEqual([]);
  });

  it('closes the file when a client goes away in the middle of it', async () => {
    const body = audioBytes(8 * 1024 * 1024);
    provider.set('/rec/CAbig.wav', { kind: 'file', body });
    await putUrl(sys, 'CAbig', provider.url('/rec/CAbig.wav'));
    expect((await until200('CAbig'))?.body.length).toBe(body.length);
    /** This process's open descriptors on the call's stored file (the API runs in this process). */
    const openOnFile = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).includes('CAbig');
        } catch {
          return false; // closed between the listing and the read
        }
      }).length;
    const u = new URL(sys.url);
    for (let i = 0; i < 5; i++) {
      // Read the first chunk of the 8 MiB file, then hang up.
      await new Promise<void>((resolve, reject) => {
        const req = request(
          { host: u.hostname, port: u.port, path: fileUrl('CAbig'), headers: auth, agent: false },
          (res) => {
            expect(res.statusCode).toBe(200);
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          },
        );
        req.on('error', (err) =>
          (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err),
        );
        req.end();
      });
    }
    expect(await waitFor(() => openOnFile() === 0, 5000)).toBe(true);
  });

  it('retries a provider 500 and ends in 200', async () => {
    const body = audioBytes(4096);
    provider.set('/rec/flaky.wav', { kind: 'flaky', status: 500, failures: 1, body });
    await putUrl(sys, 'CAflaky', provider.url('/rec/flaky.wav'));
    expect((await rawGet(sys.url, fileUrl('CAflaky'))).status).toBe(202);
    expect((await until200('CAflaky'))!.body.equals(body)).toBe(true);
    expect(provider.hits('/rec/flaky.wav')).toBe(2);
    const run = await sys.service.findRun(downloadRunId('CAflaky', 1));
    expect(run?.logs.map((l) => l.message)).toContain(
      'attempt 1 failed: provider_error: provider answered 500',
    );
  });

  it('answers 404 for a call without URL, and 404 once the provider says the recording does not exist', async () => {
    const none = await rawGet(sys.url, fileUrl('CAnourl'));
    expect(none.status).toBe(404);
    expect(json(none)).toMatchObject({ error: 'recording_not_found' });

    provider.set('/rec/gone.wav', { kind: 'status', status: 404 });
    await putUrl(sys, 'CAgone', provider.url('/rec/gone.wav'));
    expect((await rawGet(sys.url, fileUrl('CAgone'))).status).toBe(202);
    const final = await waitFor(
      async () => {
        const r = await rawGet(sys.url, fileUrl('CAgone'));
        return r.status !== 202 ? r : null;
      },
      30_000,
      100,
    );
    expect(final!.status).toBe(404);
    expect(json(final!)).toMatchObject({ error: 'recording_not_found' });
    // A provider 404 is not retried: one request, one job, and polling more creates none.
    expect(provider.hits('/rec/gone.wav')).toBe(1);
    for (let i = 0; i < 3; i++) expect((await rawGet(sys.url, fileUrl('CAgone'))).status).toBe(404);
    expect(await downloadJobs('CAgone')).toHaveLength(1);
  });

  it('validates input: 400 invalid_call_sid / invalid_recording_url / recording_url_not_allowed, 401 without a token', async () => {
    for (const path of ['../../etc/passwd', 'a'.repeat(65), 'CA1%2F..', '%2E%2E', 'CA%201']) {
      const r = await rawGet(sys.url, fileUrl(path));
      expect({ path, status: r.status, body: json(r) }).toMatchObject({
        path,
        status: 400,
        body: { error: 'invalid_call_sid' },
      });
    }
    const bad = await putUrl(sys, 'CA9', 'ftp://example.com/x.wav');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'recording_url_not_allowed' });
    const notUrl = await putUrl(sys, 'CA9', 'not a url');
    expect(notUrl.status).toBe(400);
    expect(await notUrl.json()).toMatchObject({ error: 'invalid_recording_url' });
    expect((await putUrl(sys, 'CA9', 'javascript:alert(1)')).status).toBe(400);
    const badSid = await putUrl(sys, 'bad%20sid', 'https://example.com/x.wav');
    expect(badSid.status).toBe(400);
    expect((await rawGet(sys.url, fileUrl('CA1'), {})).status).toBe(401);
    expect(
      (await rawGet(sys.url, fileUrl('CA1'), { Authorization: 'Bearer wrong-token-xxxxxxxx' })).status,
    ).toBe(403);
  });

  it('a changed URL replaces the recording', async () => {
    const a = audioBytes(2000);
    const b = audioBytes(3000);
    provider.set('/rec/v1.wav', { kind: 'file', body: a });
    provider.set('/rec/v2.wav', { kind: 'file', body: b });
    await putUrl(sys, 'CAver', provider.url('/rec/v1.wav'));
    await rawGet(sys.url, fileUrl('CAver'));
    expect((await until200('CAver'))!.body.equals(a)).toBe(true);
    const res = await putUrl(sys, 'CAver', provider.url('/rec/v2.wav'));
    expect(await res.json()).toEqual({ call_sid: 'CAver', changed: true });
    expect((await rawGet(sys.url, fileUrl('CAver'))).status).toBe(202);
    expect((await until200('CAver'))!.body.equals(b)).toBe(true);
  });
});

describe('no duplicate download jobs', () => {
  it('100 concurrent first requests, spread over two API processes, create exactly one job', async () => {
    // A second API process on the same Redis and prefix (no worker: the first system downloads).
    const other = await startTestSystem(
      { QUEUE_PREFIX: sys.prefix, ROLES: 'api', RECORDINGS_DIR: sys.config.RECORDINGS_DIR },
      { jobsYml: (await import('../helpers/recordings')).JOBS_YML },
    );
    try {
      const body = audioBytes(10_000);
      provider.set('/rec/storm.wav', { kind: 'file', body, delayMs: 500 });
      await putUrl(sys, 'CAstorm', provider.url('/rec/storm.wav'));
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => rawGet(i % 2 ? other.url : sys.url, fileUrl('CAstorm'))),
      );
      const statuses = results.map((r) => r.status);
      expect(statuses.every((s) => s === 202 || s === 200)).toBe(true);
      expect(await downloadJobs('CAstorm')).toEqual([downloadRunId('CAstorm', 1)]);
      expect((await until200('CAstorm'))!.body.equals(body)).toBe(true);
      expect(provider.hits('/rec/storm.wav')).toBe(1);
      const runs = await sys.service.listRuns({ job_id: 'recording_download', limit: 200 });
      expect(runs.runs.filter((r) => r.run_id.startsWith('rdl-CAstorm-'))).toHaveLength(1);
    } finally {
      await other.stop();
    }
  });
});
