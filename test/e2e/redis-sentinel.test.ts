/**
 * The system through Redis Sentinel (a master, two replicas and three sentinels started by the test), with
 * REDIS_WAIT_REPLICAS=1: a trigger is acknowledged (202) only once a replica has its job, and answers 503 with
 * the run id while no replica confirms it. Then the master is killed while runs are being triggered; the
 * sentinels promote a replica, every role carries on, no accepted run is lost, and the API answered 503
 * (never 500) while there was no master.
 */
import { dump } from 'js-yaml';
import { RedisKeys } from '../../src/queues/redis-keys';
import { auth } from '../helpers/recordings';
import { OwnSentinelSet } from '../helpers/redis-cluster';
import { waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem } from '../helpers/system';

jest.setTimeout(180_000);

const JOBS = dump({
  jobs: [
    {
      job_id: 'tq_job',
      name: 'tq_job',
      category: 'test',
      job_type: 'repeating',
      interval_seconds: 86400,
      allow_concurrent: true,
      callback_name: 'quick',
      queue: 'tq',
    },
  ],
});

let set: OwnSentinelSet;
let sys: TestSystem;

beforeAll(async () => {
  set = await OwnSentinelSet.create('jmtest', 2);
  sys = await startTestSystem(
    {
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_SENTINELS: set.seeds,
      REDIS_SENTINEL_NAME: set.name,
      REDIS_WAIT_REPLICAS: '1',
      ROLES: 'api,worker,scheduler,monitor',
      JOBS_STUCK_MONITOR_INTERVAL_SECS: '1',
    },
    { jobsYml: JOBS },
  );
});

afterAll(async () => {
  await sys?.stop();
  await set?.destroy();
});

const scans = () => sys.logs.lines.filter((l) => l.msg === 'stuck_jobs_check').length;
const trigger = () => fetch(`${sys.url}/api/jobs/tq_job/trigger`, { method: 'POST', headers: auth });
const completed = async (ids: string[]) =>
  (await Promise.all(ids.map((id) => sys.store.get(id)))).every((r) => r?.status === 'completed');

it('acknowledges a trigger only once a replica has its job (REDIS_WAIT_REPLICAS=1), else 503 with the run id', async () => {
  const jobKey = (runId: string) => new RedisKeys(sys.prefix).queueKey('tq', runId);
  const onReplicas = async (runId: string) => {
    const out: number[] = [];
    for (const r of set.replicas) {
      const c = r.client();
      try {
        out.push(await c.exists(jobKey(runId)));
      } finally {
        c.disconnect();
      }
    }
    return out;
  };

  // Replicas answering: 202, and the job is on a replica the moment the API says so.
  const ok = await trigger();
  expect(ok.status).toBe(202);
  const { run_id: acknowledged } = (await ok.json()) as { run_id: string };
  expect(await onReplicas(acknowledged)).toContain(1);

  // No replica answering (both frozen): the master queues the job, but the trigger is not acknowledged.
  for (const r of set.replicas) r.pause();
  let unconfirmed: string;
  try {
    const res = await trigger();
    const body = (await res.json()) as { error: string; run_id: string };
    expect({ status: res.status, error: body.error }).toEqual({ status: 503, error: 'store_unavailable' });
    expect(body.run_id).toMatch(/^m/);
    unconfirmed = body.run_id;
  } finally {
    for (const r of set.replicas) r.resume();
  }
  // That run was queued all the same: it runs and is recorded (so a caller looks it up instead of re-triggering).
  expect(await waitFor(() => completed([unconfirmed]), 30_000, 100)).toBe(true);
  expect(await onReplicas(unconfirmed)).toEqual([1, 1]);
  // Replicas back: triggers are acknowledged again.
  const again = await waitFor(async () => {
    const res = await trigger();
    await res.arrayBuffer();
    return res.status === 202;
  }, 30_000);
  expect(again).toBe(true);
  await set.waitSentinelsAgree();
});

it('fails over mid-load: every role continues, no accepted run is lost, the API answers 503 meanwhile', async () => {
  await set.waitReplicated();
  const accepted: string[] = [];
  const statuses = new Map<number, number>();
  let stop = false;
  // Triggers one after another until stopped; a dropped request (fetch failed) rejects it, failing the test.
  const load = (async () => {
    while (!stop) {
      const res = await trigger();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 202) accepted.push(((await res.json()) as { run_id: string }).run_id);
      else await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  let acceptedAtKill: number;
  try {
    await waitFor(() => accepted.length >= 20, 30_000, 50);
    const oldMaster = set.master.addr;
    await set.master.kill();
    acceptedAtKill = accepted.length;
    // The sentinels promote a replica; the clients find it through them.
    expect(await waitFor(async () => (await set.currentMaster()) !== oldMaster, 30_000, 200)).toBe(true);
    expect(set.replicas.map((r) => r.addr)).toContain(await set.currentMaster());
    // Triggers are acknowledged again once the other replica follows the new master (WAIT 1).
    await waitFor(() => accepted.length >= acceptedAtKill + 20, 60_000, 100);
  } finally {
    stop = true;
    await load;
  }
  expect(accepted.length).toBeGreaterThanOrEqual(acceptedAtKill + 20);

  // The API never answered 500: while no master answered, triggers got 503.
  expect([...statuses.keys()].sort()).toEqual([202, 503]);
  // Workers and the recorder carried on: every accepted run (before, during and after) completed in job_runs.
  expect(await waitFor(() => completed(accepted), 60_000, 250)).toBe(true);
  // The monitor keeps scanning on the new master, and the scheduler keeps its job scheduler there.
  const seen = scans();
  expect(await waitFor(() => scans() > seen + 1, 30_000, 200)).toBe(true);
  expect((await sys.scheduler!.sync()).unchanged).toEqual(['tq_job']);
});
