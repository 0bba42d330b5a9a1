/**
 * A worker process SIGKILLed mid-run leaves its attempt in the run's attempts timeline as `stalled` (issue 13),
 * with its start and worker: the store records it when the next worker's attempt begins (the dead one never
 * wrote an end), the reconciler's stall record adds nothing over it, and `GET /api/jobs/runs/{id}` answers
 * both attempts. Real Redis, real worker processes.
 */
import request from 'supertest';
import type { AttemptRecord, JobRun } from '../../src/monitor/run';
import { killAllRoles, PROCESS_JOBS_YML, spawnRole } from '../helpers/processes';
import { REDIS_URL, uniquePrefix, waitFor } from '../helpers/redis';
import { startTestSystem, TEST_TOKEN, type TestSystem, tempYaml } from '../helpers/system';

jest.setTimeout(120_000);

const prefix = uniquePrefix('stalled-attempt');
let sys: TestSystem;

const workerEnv = (concurrency: string) => ({
  ROLES: 'worker',
  REDIS_URL,
  QUEUE_PREFIX: prefix,
  JOBS_CONFIG: tempYaml(PROCESS_JOBS_YML),
  WORKER_CONCURRENCY: concurrency,
  // A dead worker's jobs are recovered within lock + interval.
  WORKER_LOCK_DURATION_MS: '1500',
  WORKER_STALLED_INTERVAL_MS: '500',
});

beforeAll(async () => {
  sys = await startTestSystem({ QUEUE_PREFIX: prefix, ROLES: 'api,monitor' }, { jobsYml: PROCESS_JOBS_YML });
});
afterAll(async () => {
  await killAllRoles();
  await sys?.cleanup();
});

const detail = async (runId: string): Promise<JobRun> => {
  const res = await request(sys.url)
    .get(`/api/jobs/runs/${runId}`)
    .set('Authorization', `Bearer ${TEST_TOKEN}`);
  expect(res.status).toBe(200);
  return res.body.run as JobRun;
};

it('the killed worker’s attempt shows as stalled in attempts_log, before the attempt that completed the run', async () => {
  // Worker A takes two runs at once; it is killed while both run.
  const a = await spawnRole(workerEnv('2'));
  const ids = [
    (await sys.service.enqueueDynamic('tally_job', { ms: 2500 })).run_id,
    (await sys.service.enqueueDynamic('tally_job', { ms: 2500 })).run_id,
  ];
  const running = await waitFor(async () => {
    const runs = await Promise.all(ids.map((id) => sys.store.get(id)));
    return runs.every((r) => r?.status === 'running' && r.worker === a.worker) ? runs : null;
  }, 30_000);
  expect(running).not.toBeNull();
  const startedOnA = new Map(running!.map((r) => [r!.run_id, r!.started_at]));
  await a.stop('SIGKILL');

  // Worker B runs one job at a time: one run is taken again at once, the other waits in the queue meanwhile.
  const b = await spawnRole(workerEnv('1'));
  const done = await waitFor(
    async () => {
      const runs = await Promise.all(ids.map((id) => sys.store.get(id)));
      return runs.every((r) => r?.status === 'completed') ? runs : null;
    },
    90_000,
    200,
  );
  expect(done).not.toBeNull();

  // Each timeline: [stalled on A (its start → B's start), completed on B]. The store records the stalled
  // attempt when B's start arrives (A never wrote an end); the reconciler's own stall record, read later,
  // adds nothing over it.
  for (const id of ids) {
    const run = await detail(id);
    expect(run.stalls).toBeGreaterThanOrEqual(1);
    const log: AttemptRecord[] = run.attempts_log;
    expect(log).toHaveLength(2);
    expect(log[0]).toEqual({
      attempt: 1,
      started_at: startedOnA.get(id),
      ended_at: log[1].started_at,
      worker: a.worker,
      outcome: 'stalled',
      error: null,
    });
    expect(log[1]).toMatchObject({ attempt: 2, worker: b.worker, outcome: 'completed', error: null });
    expect(Date.parse(log[1].started_at!)).toBeGreaterThan(Date.parse(startedOnA.get(id)!));
  }
});
