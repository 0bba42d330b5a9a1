import { readdirSync } from 'node:fs';
import { downloadRunId } from '../../src/recordings/call-sid';
import { killAllRoles, type RoleProcess, spawnRole } from '../helpers/processes';
import { audioBytes, type FakeProvider, startProvider } from '../helpers/provider';
import { ALLOW_LOOPBACK, JOBS_YML, json, putUrl, rawGet, tempRecordingsDir } from '../helpers/recordings';
import { REDIS_URL, waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem, tempYaml } from '../helpers/system';

jest.setTimeout(120_000);

// The shipped registry plus two dynamic test jobs on the recordings queue (served by the same worker).
const YML = `${JOBS_YML}
  - { job_id: escape_job, name: Escape, category: test, callback_name: escaping, queue: recordings, allow_concurrent: true }
  - { job_id: quick_dyn, name: Quick, category: test, callback_name: quick, queue: recordings, allow_concurrent: true }
`;
const MAX_BYTES = 64 * 1024;

let sys: TestSystem;
let provider: FakeProvider;
let worker: RoleProcess;
beforeAll(async () => {
  provider = await startProvider();
  // API + tracker in this process; every download and test job runs in a real worker process.
  sys = await startTestSystem(
    {
      ROLES: 'api,monitor',
      RECORDINGS_DIR: tempRecordingsDir(),
      RECORDING_RETRY_AFTER_SECONDS: '1',
      ...ALLOW_LOOPBACK,
    },
    { jobsYml: YML },
  );
  worker = await spawnRole({
    ROLES: 'worker',
    REDIS_URL,
    QUEUE_PREFIX: sys.prefix,
    JOBS_CONFIG: tempYaml(YML),
    RECORDINGS_DIR: sys.config.RECORDINGS_DIR,
    RECORDING_MAX_BYTES: String(MAX_BYTES),
    WORKER_CONCURRENCY: '4',
    ...ALLOW_LOOPBACK,
  });
});
afterAll(async () => {
  await killAllRoles();
  await sys.cleanup();
  await provider.close();
});

const alive = () => worker.proc.exitCode === null && worker.proc.signalCode === null;
const finished = (runId: string) =>
  waitFor(
    async () => {
      const run = await sys.service.findRun(runId);
      return run && ['completed', 'failed', 'skipped'].includes(run.status) ? run : null;
    },
    60_000,
    100,
  );

it('a chunked provider streaming past RECORDING_MAX_BYTES fails that run (logs kept, temp file gone); the worker process lives on', async () => {
  // 8 MiB chunked, no Content-Length: the limit is hit with writes to the temp file still pending.
  provider.set('/rec/huge.wav', { kind: 'chunked', totalBytes: 8 * 1024 * 1024, chunkBytes: 16 * 1024 });
  expect((await putUrl(sys, 'CAhuge', provider.url('/rec/huge.wav'))).status).toBe(200);
  expect((await rawGet(sys.url, '/api/recordings/file/CAhuge')).status).toBe(202);

  const run = await finished(downloadRunId('CAhuge', 1));
  expect(run).toMatchObject({ status: 'failed' });
  expect(run!.error_message).toMatch(/^recording_too_large: more than 65536 bytes/);
  const lines = run!.logs.map((l) => l.message).join('\n');
  expect(lines).toMatch(/downloading CAhuge/);
  expect(lines).toMatch(/failed: recording_too_large/);
  // Failed for good: one provider request (not retried), a terminal 500 with the reason, no temp file left.
  expect(provider.hits('/rec/huge.wav')).toBe(1);
  const answer = await rawGet(sys.url, '/api/recordings/file/CAhuge');
  expect(answer.status).toBe(500);
  expect(json(answer)).toMatchObject({ error: 'recording_download_failed', reason: 'recording_too_large' });
  await waitFor(() => !readdirSync(sys.config.RECORDINGS_DIR).some((f) => f.startsWith('.tmp-CAhuge')));
  expect(readdirSync(sys.config.RECORDINGS_DIR).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  expect(alive()).toBe(true);

  // The same worker still downloads other recordings.
  const body = audioBytes(32 * 1024);
  provider.set('/rec/ok.wav', { kind: 'file', body });
  await putUrl(sys, 'CAafter', provider.url('/rec/ok.wav'));
  const ok = await waitFor(
    async () => {
      const r = await rawGet(sys.url, '/api/recordings/file/CAafter');
      return r.status === 200 ? r : null;
    },
    60_000,
    200,
  );
  expect(ok!.body.equals(body)).toBe(true);
  expect(alive()).toBe(true);
});

it('an error that escapes a processor (an unlistened error event) fails that run with its logs; the process keeps working', async () => {
  const { run_id } = await sys.service.enqueueDynamic('escape_job', {});
  const run = await finished(run_id);
  expect(run).toMatchObject({ status: 'failed', error_message: 'nobody listens to this error' });
  expect(run!.logs.map((l) => l.message)).toEqual(
    expect.arrayContaining(['about to lose an error', expect.stringMatching(/nobody listens to this error/)]),
  );
  expect(worker.output.some((l) => l.includes('"processor_uncaught_error"'))).toBe(true);
  expect(alive()).toBe(true);

  const next = await sys.service.enqueueDynamic('quick_dyn', { n: 1 });
  expect(await finished(next.run_id)).toMatchObject({ status: 'completed' });
  expect(alive()).toBe(true);
});
