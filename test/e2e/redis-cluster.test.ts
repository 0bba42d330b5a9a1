/**
 * The system on a real Redis Cluster (three masters, one replica each, started by the test), with every
 * role but the bot: the foundation flow, the scheduler's job schedulers, the recordings contract and the
 * stuck monitor work, queues spread over the shards, REDIS_WAIT_REPLICAS waits on the shard that holds the
 * job, and when the master holding both the test queue and the project keys dies while runs are being
 * triggered (its replica promoted) the system carries on with no accepted run lost and only 503s meanwhile.
 */
import { dump, load } from 'js-yaml';
import type { Redis } from 'ioredis';
import { createRedis } from '../../src/queues/redis';
import { RedisKeys } from '../../src/queues/redis-keys';
import type { Processor } from '../../src/workers/processor-context';
import { audioBytes, type FakeProvider, startProvider } from '../helpers/provider';
import { ALLOW_LOOPBACK, auth, JOBS_YML, putUrl, rawGet, tempRecordingsDir } from '../helpers/recordings';
import { OwnRedisCluster, type RedisProcess } from '../helpers/redis-cluster';
import { waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem, uniquePrefixFor } from '../helpers/system';

jest.setTimeout(180_000);

// The shipped registry (recordings, maintenance) plus a job on its own queue, and one that hangs on a cron
// that won't fire during the test (the scheduler runs, and a repeating job would start at once).
const shipped = load(JOBS_YML) as { jobs: unknown[] };
const job = (job_id: string, callback_name: string, queue: string, schedule: object) => ({
  job_id,
  name: job_id,
  category: 'test',
  allow_concurrent: true,
  callback_name,
  queue,
  ...schedule,
});
const JOBS = dump({
  ...shipped,
  jobs: [
    ...shipped.jobs,
    job('tq_job', 'quick', 'tq', { job_type: 'repeating', interval_seconds: 86400 }),
    job('hang_job', 'hang', 'hq', { job_type: 'cron', cron: '0 0 1 1 *' }),
  ],
});

const releases: (() => void)[] = [];
const hang: Processor = (ctx) =>
  new Promise((resolve) => {
    releases.push(() => resolve({ released: true }));
    ctx.signal.addEventListener('abort', () => resolve({ aborted: true }));
  });

let cluster: OwnRedisCluster;
let provider: FakeProvider;
let sys: TestSystem;
let redis: Redis;
let prefix: string;
let keys: RedisKeys;
const QUEUES = ['tq', 'hq', 'recordings', 'maintenance'];
const ENV = {
  ROLES: 'api,worker,scheduler,monitor',
  RECORDINGS_DIR: tempRecordingsDir(),
  RECORDING_RETRY_AFTER_SECONDS: '1',
  ...ALLOW_LOOPBACK,
  JOBS_STUCK_THRESHOLD_MINUTES: String(2 / 60),
  JOBS_STUCK_MONITOR_INTERVAL_SECS: '1',
  // A job whose completion the dead master took with it is recovered within seconds, not a minute.
  WORKER_LOCK_DURATION_MS: '10000',
  WORKER_STALLED_INTERVAL_MS: '5000',
};

/**
 * A random prefix puts the queues' and the project's hash tags on random slots. Pick (bounded tries) one
 * whose queues sit on more than one master, and whose test queue `tq` shares its master with the project
 * keys (the run store): the master the failover test kills then holds both.
 */
async function choosePrefix(): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const candidate = uniquePrefixFor('cluster');
    const k = new RedisKeys(candidate);
    const queueMasters = await Promise.all(QUEUES.map((q) => cluster.masterOf(k.queueKey(q, 'meta'))));
    const projectMaster = await cluster.masterOf(k.tag);
    if (new Set(queueMasters.map((m) => m.port)).size > 1 && queueMasters[0].port === projectMaster.port)
      return candidate;
  }
  throw new Error('no prefix in 200 tries spreads the queues and puts tq with the project keys');
}

beforeAll(async () => {
  cluster = await OwnRedisCluster.create(3, 1);
  redis = createRedis({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: cluster.seeds.split(',') });
  redis.on('error', (err) => {
    // The failover test kills a node this client talks to; anything else is worth seeing.
    if (!/ECONNREFUSED|ECONNRESET|Connection is closed/.test(String(err))) console.error(err);
  });
  prefix = await choosePrefix();
  keys = new RedisKeys(prefix);
  provider = await startProvider();
  sys = await startTestSystem(
    { REDIS_CLUSTER_NODES: cluster.seeds, QUEUE_PREFIX: prefix, ...ENV },
    { jobsYml: JOBS, processors: { hang } },
  );
});

afterAll(async () => {
  for (const r of releases.splice(0)) r();
  await sys?.stop();
  redis?.disconnect();
  await provider?.close();
  await cluster?.destroy();
});

const trigger = () => fetch(`${sys.url}/api/jobs/tq_job/trigger`, { method: 'POST', headers: auth });

async function triggerOk(): Promise<string> {
  const res = await trigger();
  expect(res.status).toBe(202);
  return ((await res.json()) as { run_id: string }).run_id;
}

async function allCompleted(ids: string[]): Promise<boolean> {
  const runs = await Promise.all(ids.map((id) => sys.store.get(id)));
  return runs.every((r) => r?.status === 'completed');
}

async function stuckEventFor(runId: string): Promise<boolean> {
  const entries = await redis.xrange(keys.eventsStream, '-', '+');
  return entries.some(([, f]) => f[1] === 'job_stuck' && f[3].includes(runId));
}

const before: string[] = [];

it('runs the foundation flow: triggered runs complete in job_runs', async () => {
  for (let i = 0; i < 20; i++) before.push(await triggerOk());
  expect(await waitFor(() => allCompleted(before), 60_000, 100)).toBe(true);
  const run = await sys.store.get(before[0]);
  expect(run).toMatchObject({ job_id: 'tq_job', queue: 'tq', trigger: 'manual', status: 'completed' });
});

it('keeps a job scheduler per scheduled job on the shards, and the first scheduled run completes', async () => {
  const schedulers = async (queue: string) =>
    (await sys.queues.get(queue).getJobSchedulers(0, -1)).map((s) => s.key).sort();
  expect(await schedulers('tq')).toEqual(['tq_job']);
  expect(await schedulers('hq')).toEqual(['hang_job']);
  expect(await schedulers('maintenance')).toEqual(
    ['cache_warming', 'queue_cleanup', 'recordings_retention', 'recordings_stuck_cleanup'].sort(),
  );
  // A repeating job's scheduler starts its first run at once.
  const scheduled = await waitFor(
    async () => {
      const { runs } = await sys.store.list({ job_id: 'tq_job', trigger: 'scheduled', limit: 5 });
      return runs.find((r) => r.status === 'completed') ?? null;
    },
    30_000,
    200,
  );
  expect(scheduled).toMatchObject({ job_id: 'tq_job', trigger: 'scheduled', status: 'completed' });
});

it('spreads queues over the shards and keeps the project keys in one slot', async () => {
  const slotOf = async (key: string) => Number(await redis.cluster('KEYSLOT', key));
  const queueSlots = new Set(await Promise.all(QUEUES.map((q) => slotOf(keys.queueKey(q, 'wait')))));
  expect(queueSlots.size).toBe(4);
  // BullMQ's keys of one queue share a slot (its Lua scripts touch several at once).
  expect(await slotOf(keys.queueKey('tq', 'events'))).toBe(await slotOf(keys.queueKey('tq', 'meta')));
  // Every project key found on the cluster hashes to the project tag's slot.
  const own = await cluster.keys(`${keys.tag}:*`);
  expect(own.length).toBeGreaterThan(0);
  const slots = new Set(await Promise.all(own.map(slotOf)));
  expect([...slots]).toEqual([await slotOf(keys.tag)]);
  // The queues live on more than one master.
  const holders = new Set<number>();
  for (const q of QUEUES) {
    expect(await redis.exists(keys.queueKey(q, 'meta'))).toBe(1);
    holders.add((await cluster.masterOf(keys.queueKey(q, 'meta'))).port);
  }
  expect(holders.size).toBeGreaterThan(1);
});

it('keeps the recordings contract: 202 while downloading, then 200 with the bytes', async () => {
  const body = audioBytes(32 * 1024);
  provider.set('/rec/CAcl.wav', { kind: 'file', body });
  expect((await putUrl(sys, 'CAcl', provider.url('/rec/CAcl.wav'))).status).toBe(200);
  const first = await rawGet(sys.url, '/api/recordings/file/CAcl');
  expect([200, 202]).toContain(first.status);
  const ok = await waitFor(async () => {
    const r = await rawGet(sys.url, '/api/recordings/file/CAcl');
    return r.status === 200 ? r : null;
  }, 30_000);
  expect(ok?.body.equals(body)).toBe(true);
  expect(provider.hits('/rec/CAcl.wav')).toBe(1);
});

it('reports a stuck run once through the monitor', async () => {
  const res = await fetch(`${sys.url}/api/jobs/hang_job/trigger`, { method: 'POST', headers: auth });
  expect(res.status).toBe(202);
  const { run_id: runId } = (await res.json()) as { run_id: string };
  expect(await waitFor(() => stuckEventFor(runId), 30_000, 200)).toBe(true);
  for (const r of releases.splice(0)) r();
  expect(await waitFor(() => allCompleted([runId]), 30_000, 100)).toBe(true);
});

it('waits for the replica of the shard that holds the job with REDIS_WAIT_REPLICAS=1', async () => {
  // An API process of the same deployment that asks one replica to confirm each run.
  const api = await startTestSystem(
    {
      REDIS_CLUSTER_NODES: cluster.seeds,
      QUEUE_PREFIX: prefix,
      ...ENV,
      ROLES: 'api',
      REDIS_WAIT_REPLICAS: '1',
    },
    { jobsYml: JOBS },
  );
  const replica: RedisProcess = await cluster.replicaOf(await cluster.masterOf(keys.queueKey('tq', 'id')));
  const waitTrigger = () => fetch(`${api.url}/api/jobs/tq_job/trigger`, { method: 'POST', headers: auth });
  try {
    const ok = await waitTrigger();
    expect(ok.status).toBe(202);
    before.push(((await ok.json()) as { run_id: string }).run_id);
    // Only the tq shard's replica frozen: the other shards' replicas answer, so a WAIT sent to any other
    // node would be satisfied; this one is not.
    replica.pause();
    let unconfirmed: string;
    try {
      const res = await waitTrigger();
      const body = (await res.json()) as { error: string; run_id: string };
      expect({ status: res.status, error: body.error }).toEqual({ status: 503, error: 'store_unavailable' });
      unconfirmed = body.run_id;
    } finally {
      replica.resume();
    }
    before.push(unconfirmed);
    const again = await waitFor(async () => {
      const res = await waitTrigger();
      if (res.status !== 202) {
        await res.arrayBuffer();
        return null;
      }
      return ((await res.json()) as { run_id: string }).run_id;
    }, 30_000);
    expect(again).toBeTruthy();
    before.push(again!);
    // Every run it queued, confirmed or not, runs on the workers of the main process.
    expect(await waitFor(() => allCompleted(before), 60_000, 100)).toBe(true);
  } finally {
    await api.stop();
  }
  await cluster.waitHealthy(3);
});

it('fails over mid-load: no accepted run is lost, the API answers 503 (never 500) meanwhile', async () => {
  // The victim holds the test queue and the project keys (see choosePrefix): the hardest master to lose.
  const victim = await cluster.masterOf(keys.queueKey('tq', 'id'));
  expect(victim.port).toBe((await cluster.masterOf(keys.tag)).port);

  // Its replica is linked and caught up (one still waiting for its first sync could not take over).
  await cluster.waitReplicated();

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
    await victim.kill();
    acceptedAtKill = accepted.length;
    // The replica is promoted; the clients find the new slot owner.
    await cluster.waitHealthy(3, 60_000);
    expect((await cluster.masterOf(keys.queueKey('tq', 'id'))).port).not.toBe(victim.port);
    await waitFor(() => accepted.length >= acceptedAtKill + 20, 60_000, 100);
  } finally {
    stop = true;
    await load;
  }
  expect(accepted.length).toBeGreaterThanOrEqual(acceptedAtKill + 20);

  // Whatever failed while the slots had no master answered 503, never 500.
  expect([...statuses.keys()].filter((s) => s !== 202 && s !== 503)).toEqual([]);
  // Every accepted run (before, during and after the kill) completed in job_runs, and nothing written
  // before the failover is gone.
  expect(await waitFor(() => allCompleted(accepted), 90_000, 250)).toBe(true);
  expect(await allCompleted(before)).toBe(true);
  expect((await rawGet(sys.url, '/api/recordings/file/CAcl')).status).toBe(200);
  // The scheduler keeps its schedulers on the new master.
  const report = await sys.scheduler!.sync();
  expect(report.unchanged).toEqual(expect.arrayContaining(['tq_job', 'hang_job', 'cache_warming']));
});
