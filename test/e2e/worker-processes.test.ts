/**
 * Process-level tests (issue 2 + issue 8 "graceful deploy"): real child processes started with
 * test/helpers/role-main.ts against the test Redis, a tracker in this process mirroring runs.
 */
import { connect } from 'node:net';
import type { JobRun } from '../../src/monitor/run';
import { killAllRoles, PROCESS_JOBS_YML, type RoleProcess, spawnRole } from '../helpers/processes';
import { REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem, tempYaml } from '../helpers/system';

jest.setTimeout(120_000);

const prefix = uniquePrefix('procs');
const jobsFile = tempYaml(PROCESS_JOBS_YML);
const redis = testRedis();
let sys: TestSystem;
let w1: RoleProcess;
let w2: RoleProcess;

const workerEnv = {
  ROLES: 'worker',
  REDIS_URL,
  QUEUE_PREFIX: prefix,
  JOBS_CONFIG: jobsFile,
  WORKER_CONCURRENCY: '2',
};

beforeAll(async () => {
  sys = await startTestSystem({ QUEUE_PREFIX: prefix, ROLES: 'monitor' }, { jobsYml: PROCESS_JOBS_YML });
  [w1, w2] = await Promise.all([spawnRole(workerEnv), spawnRole(workerEnv)]);
});
afterAll(async () => {
  await killAllRoles();
  await sys?.cleanup();
  await redis.quit();
});

const run = (id: string) => sys.store.get(id) as Promise<JobRun>;
const finished = (id: string, timeoutMs = 60_000) =>
  waitFor(async () => {
    const r = await sys.store.get(id);
    return r && ['completed', 'failed', 'skipped'].includes(r.status) ? r : null;
  }, timeoutMs) as Promise<JobRun>;

describe('two worker processes share a queue', () => {
  it('both take jobs, and each job runs exactly once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++)
      ids.push((await sys.service.enqueueDynamic('tally_job', { ms: 100 })).run_id);
    const runs = await Promise.all(ids.map((id) => finished(id)));

    expect(runs.map((r) => r.status)).toEqual(ids.map(() => 'completed'));
    const tally = (await redis.lrange(`${prefix}:test:tally`, 0, -1)).map((l) => l.split('|'));
    expect(tally).toHaveLength(40);
    expect(new Set(tally.map(([id]) => id))).toEqual(new Set(ids));
    expect(new Set(tally.map(([, w]) => w))).toEqual(new Set([w1.worker, w2.worker]));
    expect(new Set(runs.map((r) => r.worker))).toEqual(new Set([w1.worker, w2.worker]));
    for (const r of runs) expect(r).toMatchObject({ attempts: 1, stalls: 0 });
  });
});

describe('graceful deploy', () => {
  it('SIGTERM to a worker mid-job: the job finishes on that worker before it exits; new jobs go elsewhere', async () => {
    const { run_id } = await sys.service.trigger('slow_job', { payload: { ms: 4000 } });
    const running = await waitFor(async () => {
      const r = await sys.store.get(run_id);
      return r?.status === 'running' && r.worker ? r : null;
    }, 30_000);
    expect(running).toBeTruthy();
    const victim = running!.worker === w1.worker ? w1 : w2;
    const other = victim === w1 ? w2 : w1;

    const exit = victim.stop('SIGTERM', 60_000);
    await waitFor(() => victim.output.some((l) => l.includes('"shutdown_started"')), 10_000);
    // A job enqueued while the victim drains is taken by the other worker.
    const late = await sys.service.enqueueDynamic('tally_job', { ms: 10 });

    expect(await exit).toEqual({ code: 0, signal: null });
    const done = await finished(run_id);
    expect(done).toMatchObject({ status: 'completed', attempts: 1, stalls: 0, worker: victim.worker });
    expect(done.result).toEqual({ slept: 4000 });
    expect((await finished(late.run_id)).worker).toBe(other.worker);
    const lines = victim.output.join('\n');
    expect(lines).toContain('shutdown_complete');
    expect(lines).not.toContain('job_attempt_failed');
  });

  it('SIGTERM to the API: a request in flight is answered, new connections are refused, then it exits', async () => {
    const api = await spawnRole({ ROLES: 'api', REDIS_URL, QUEUE_PREFIX: prefix, JOBS_CONFIG: jobsFile });
    const body = JSON.stringify({ note: 'sent slowly by a slow client' });
    const sock = connect(api.port!, '127.0.0.1');
    const response = new Promise<string>((resolve, reject) => {
      let data = '';
      sock.on('data', (b) => {
        data += b.toString();
      });
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
    });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(
      'POST /api/jobs/chatty_job/trigger HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        `Authorization: Bearer ${TEST_TOKEN}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, 5)}`,
    );
    await new Promise((r) => setTimeout(r, 300)); // let the server start reading the request

    const exit = api.stop('SIGTERM', 60_000);
    await waitFor(() => api.output.some((l) => l.includes('"shutdown_started"')), 10_000);
    // The listener is closed: a new client is refused while the old request is still open.
    const refused = await new Promise<string>((resolve) => {
      const s = connect(api.port!, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect(api.proc.exitCode).toBeNull();

    sock.write(body.slice(5));
    const raw = await response;
    expect(raw).toMatch(/^HTTP\/1\.1 202 /);
    const json = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    expect(json.run_id).toMatch(/^m[0-9a-f]{12}$/);
    expect(await exit).toEqual({ code: 0, signal: null });
    expect((await run(json.run_id))?.job_id).toBe('chatty_job');
  });
});
