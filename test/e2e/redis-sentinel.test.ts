/**
 * The system through Redis Sentinel (a master, a replica and three sentinels started by the test): the
 * master is killed while runs are being triggered; the sentinels promote the replica, every role carries
 * on, no accepted run is lost, and the API answered 503 (never 500) while there was no master.
 */
import { dump } from 'js-yaml';
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
  set = await OwnSentinelSet.create();
  sys = await startTestSystem(
    {
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_SENTINELS: set.seeds,
      REDIS_SENTINEL_NAME: set.name,
      ROLES: 'api,worker,monitor',
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

it('fails over mid-load: every role continues, no accepted run is lost, the API answers 503 meanwhile', async () => {
  const accepted: string[] = [];
  const statuses = new Map<number, number>();
  let stop = false;
  const load = (async () => {
    while (!stop) {
      const res = await fetch(`${sys.url}/api/jobs/tq_job/trigger`, { method: 'POST', headers: auth });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 202) accepted.push(((await res.json()) as { run_id: string }).run_id);
      else await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  await waitFor(() => accepted.length >= 20, 30_000, 50);
  const oldMaster = set.master.addr;
  await set.master.kill();
  const acceptedAtKill = accepted.length;
  // The sentinels promote the replica; the clients find it through them.
  expect(await waitFor(async () => (await set.currentMaster()) !== oldMaster, 30_000, 200)).toBe(true);
  expect(await set.currentMaster()).toBe(set.replica.addr);
  await waitFor(() => accepted.length >= acceptedAtKill + 20, 60_000, 100);
  stop = true;
  await load;

  // The API never answered 500: while no master answered, triggers got 503.
  expect([...statuses.keys()].sort()).toEqual([202, 503]);
  // Workers and tracker carried on: every accepted run (before, during and after) completed in job_runs.
  const done = await waitFor(
    async () => {
      const runs = await Promise.all(accepted.map((id) => sys.store.get(id)));
      return runs.every((r) => r?.status === 'completed');
    },
    60_000,
    250,
  );
  expect(done).toBe(true);
  // The monitor keeps scanning on the new master.
  const seen = scans();
  expect(await waitFor(() => scans() > seen + 1, 30_000, 200)).toBe(true);
});
