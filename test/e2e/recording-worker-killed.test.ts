import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { downloadRunId } from '../../src/recordings/call-sid';
import { audioBytes, type FakeProvider, startProvider } from '../helpers/provider';
import { ALLOW_LOOPBACK, JOBS_YML, json, putUrl, rawGet, startRecordingSystem } from '../helpers/recordings';
import { REDIS_URL, waitFor } from '../helpers/redis';
import { TEST_TOKEN, type TestSystem, tempYaml } from '../helpers/system';

jest.setTimeout(120_000);

const ROOT = join(__dirname, '../..');

/** Starts a real worker process (ROLES=worker) on the system's Redis prefix and recordings folder. */
async function spawnWorker(sys: TestSystem): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/recording-worker-entry.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      ROLES: 'worker',
      REDIS_URL,
      DB_HEALTH_TOKEN: TEST_TOKEN,
      QUEUE_PREFIX: sys.prefix,
      JOBS_CONFIG: tempYaml(JOBS_YML),
      RECORDINGS_DIR: sys.config.RECORDINGS_DIR,
      JOB_BACKOFF_MS: '50',
      ...ALLOW_LOOPBACK,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  await waitFor(() => out.includes('workers_started') || child.exitCode !== null, 60_000, 100);
  if (!out.includes('workers_started')) throw new Error(`worker did not start:\n${out}`);
  return child;
}

const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

let sys: TestSystem;
let provider: FakeProvider;
const children: ChildProcess[] = [];
beforeAll(async () => {
  provider = await startProvider();
  // API + tracker in this process; downloads only in child worker processes.
  sys = await startRecordingSystem({
    ROLES: 'api,monitor',
    RECORDING_JOB_TIMEOUT_SECONDS: '3',
    RECORDING_RETRY_AFTER_SECONDS: '1',
  });
});
afterAll(async () => {
  for (const c of children) if (!exited(c)) c.kill('SIGKILL');
  await sys.cleanup();
  await provider.close();
});

it('a worker killed with SIGKILL mid-download: stuck run detected and recovered, the next worker serves 200, never a partial file', async () => {
  const body = audioBytes(256 * 1024);
  provider.set('/rec/killed.wav', { kind: 'hang', body, sentBytes: 100 * 1024 });
  await putUrl(sys, 'CAkill', provider.url('/rec/killed.wav'));

  const first = await spawnWorker(sys);
  children.push(first);
  expect((await rawGet(sys.url, '/api/recordings/file/CAkill')).status).toBe(202);
  await provider.partialSent('/rec/killed.wav');
  // The tracker has seen the run start; now the worker dies mid-download.
  await waitFor(async () => (await sys.service.findRun(downloadRunId('CAkill', 1)))?.status === 'running');
  // ... and has written some of the bytes to its temp file (created when the provider answers).
  const partialTmp = () =>
    readdirSync(sys.config.RECORDINGS_DIR).some(
      (f) => f.startsWith('.tmp-CAkill') && statSync(join(sys.config.RECORDINGS_DIR, f)).size > 0,
    );
  expect(await waitFor(partialTmp, 30_000, 20)).toBe(true);
  first.kill('SIGKILL');
  await waitFor(() => exited(first));
  // The partial download sits in a temp file that is never served.
  expect(readdirSync(sys.config.RECORDINGS_DIR).some((f) => f.startsWith('.tmp-CAkill'))).toBe(true);

  // From now on the provider answers in full.
  provider.set('/rec/killed.wav', { kind: 'file', body });
  const answers: { status: number; body: Buffer; attempt?: unknown }[] = [];
  await waitFor(
    async () => {
      const r = await rawGet(sys.url, '/api/recordings/file/CAkill');
      const attempt = r.status === 202 ? json(r).attempt : undefined;
      answers.push({ status: r.status, body: r.body, attempt });
      return r.status !== 202 || attempt === 1;
    },
    30_000,
    200,
  );
  // Recovered: the stuck run is failed with its reason and a second download is queued (attempt 1).
  expect(answers.at(-1)).toMatchObject({ status: 202, attempt: 1 });
  const stuck = await sys.service.findRun(downloadRunId('CAkill', 1));
  expect(stuck).toMatchObject({ status: 'failed' });
  expect(stuck!.error_message).toMatch(/^running \d+ s without completion$/);

  // The next worker serves it.
  const second = await spawnWorker(sys);
  children.push(second);
  const ok = await waitFor(
    async () => {
      const r = await rawGet(sys.url, '/api/recordings/file/CAkill');
      answers.push({ status: r.status, body: r.body });
      return r.status === 200 ? r : null;
    },
    60_000,
    200,
  );
  expect(ok!.body.equals(body)).toBe(true);
  // Never a partial file: every answer was 202 or the whole file.
  for (const a of answers) {
    expect([200, 202]).toContain(a.status);
    if (a.status === 200) expect(a.body.equals(body)).toBe(true);
  }
  // The file came from the call's current generation. Usually that is 2, the recovery. But starting the
  // second worker process can take longer than RECORDING_JOB_TIMEOUT_SECONDS (3 s here) on a loaded
  // machine; run 2 then sits queued past the timeout, and the next poll rightly calls it stuck ("queued N s
  // without worker pickup"), fails it and enqueues generation 3; the worker that then takes job 2 finds it
  // superseded and ends it `skipped` (or, superseded only while storing the same URL's file, keeps the file
  // and completes). A run's end is recorded after BullMQ's completed event, which may come after the 200:
  // each generation is awaited until it has ended, never read once.
  const ended = (g: number) =>
    waitFor(
      async () => {
        const run = await sys.service.findRun(downloadRunId('CAkill', g));
        return run && !['pending', 'running'].includes(run.status) ? run : null;
      },
      30_000,
      100,
    );
  const current = await sys.recordings.processorDeps.state.generation('CAkill');
  expect(current).toBeGreaterThanOrEqual(2);
  expect(await ended(current)).toMatchObject({ status: 'completed' });
  for (let g = 2; g < current; g++) {
    const run = await ended(g);
    expect(
      run?.status === 'skipped' ||
        run?.status === 'completed' ||
        (run?.status === 'failed' && /^queued \d+ s without worker pickup$/.test(run.error_message ?? '')),
    ).toBe(true);
  }
  // Once served, the file stays: no later answer takes it back.
  for (let i = 0; i < 3; i++) expect((await rawGet(sys.url, '/api/recordings/file/CAkill')).status).toBe(200);
  second.kill('SIGTERM');
  await waitFor(() => exited(second), 30_000);
});
