/**
 * The system on a real Redis Cluster (three masters, one replica each, started by the test): the
 * foundation flow, the recordings contract and the stuck monitor work, queues spread over the shards,
 * and after a master dies (its replica promoted) the system carries on with nothing lost.
 */
import { dump, load } from 'js-yaml';
import { RedisKeys } from '../../src/queues/redis-keys';
import type { Redis } from 'ioredis';
import { createRedis } from '../../src/queues/redis';
import type { Processor } from '../../src/workers/processor-context';
import { audioBytes, type FakeProvider, startProvider } from '../helpers/provider';
import { ALLOW_LOOPBACK, auth, JOBS_YML, putUrl, rawGet, tempRecordingsDir } from '../helpers/recordings';
import { OwnRedisCluster } from '../helpers/redis-cluster';
import { waitFor } from '../helpers/redis';
import { startTestSystem, type TestSystem, uniquePrefixFor } from '../helpers/system';

jest.setTimeout(180_000);

// The shipped registry (recordings) plus a job on its own queue and one that hangs (no scheduler role runs).
const shipped = load(JOBS_YML) as { jobs: unknown[] };
const job = (job_id: string, callback_name: string, queue: string) => ({
  job_id,
  name: job_id,
  category: 'test',
  job_type: 'repeating',
  interval_seconds: 86400,
  allow_concurrent: true,
  callback_name,
  queue,
});
const JOBS = dump({
  ...shipped,
  jobs: [...shipped.jobs, job('tq_job', 'quick', 'tq'), job('hang_job', 'hang', 'hq')],
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

/**
 * A random prefix puts the four queues' hash tags on random slots, and 1 time in 27 all on one master.
 * Pick (bounded tries) a prefix whose queues the cluster's slot map places on more than one master, so
 * the spread test below checks the system's real keys rather than luck.
 */
async function spreadPrefix(): Promise<string> {
  let candidate = uniquePrefixFor('cluster');
  for (let i = 0; i < 50; i++) {
    const k = new RedisKeys(candidate);
    const masters = new Set(await Promise.all(QUEUES.map((q) => masterPortOf(k.queueKey(q, 'meta')))));
    if (masters.size > 1) return candidate;
    candidate = uniquePrefixFor('cluster');
  }
  return candidate;
}

beforeAll(async () => {
  cluster = await OwnRedisCluster.create(3, 1);
  redis = createRedis({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: cluster.seeds.split(',') });
  redis.on('error', () => undefined);
  prefix = await spreadPrefix();
  keys = new RedisKeys(prefix);
  provider = await startProvider();
  sys = await startTestSystem(
    {
      REDIS_CLUSTER_NODES: cluster.seeds,
      QUEUE_PREFIX: prefix,
      RECORDINGS_DIR: tempRecordingsDir(),
      RECORDING_RETRY_AFTER_SECONDS: '1',
      ...ALLOW_LOOPBACK,
      JOBS_STUCK_THRESHOLD_MINUTES: String(2 / 60),
      JOBS_STUCK_MONITOR_INTERVAL_SECS: '1',
    },
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

async function trigger(jobId: string): Promise<string> {
  const res = await fetch(`${sys.url}/api/jobs/${jobId}/trigger`, { method: 'POST', headers: auth });
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

/** Port of the master serving a key's slot now. */
async function masterPortOf(key: string): Promise<number> {
  const slot = Number(await redis.cluster('KEYSLOT', key));
  const ranges = (await redis.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
  return ranges.find(([from, to]) => slot >= from && slot <= to)![2][1];
}

const before: string[] = [];

it('runs the foundation flow: triggered runs complete in job_runs', async () => {
  for (let i = 0; i < 20; i++) before.push(await trigger('tq_job'));
  expect(await waitFor(() => allCompleted(before), 60_000, 100)).toBe(true);
  const run = await sys.store.get(before[0]);
  expect(run).toMatchObject({ job_id: 'tq_job', queue: 'tq', trigger: 'manual', status: 'completed' });
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
    holders.add(await masterPortOf(keys.queueKey(q, 'meta')));
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
  const runId = await trigger('hang_job');
  expect(await waitFor(() => stuckEventFor(runId), 30_000, 200)).toBe(true);
  for (const r of releases.splice(0)) r();
  expect(await waitFor(() => allCompleted([runId]), 30_000, 100)).toBe(true);
});

it('recovers when a master dies and its replica takes over, with nothing lost', async () => {
  await cluster.waitReplicated();
  // Kill the master that holds the run store (the project's slot): the hardest one to lose.
  const port = await masterPortOf(keys.tag);
  const victim = cluster.nodes.find((n) => n.port === port)!;
  await victim.kill();
  await cluster.waitHealthy(3, 60_000);

  // Runs triggered after the failover complete (the API may answer 503 until the client sees the new master).
  const after: string[] = [];
  for (let i = 0; i < 10; i++) {
    const id = await waitFor(
      async () => {
        const res = await fetch(`${sys.url}/api/jobs/tq_job/trigger`, { method: 'POST', headers: auth });
        if (res.status === 202) return ((await res.json()) as { run_id: string }).run_id;
        expect(res.status).toBe(503);
        return null;
      },
      30_000,
      200,
    );
    expect(id).toBeTruthy();
    after.push(id!);
  }
  expect(await waitFor(() => allCompleted(after), 60_000, 200)).toBe(true);
  // Nothing written before the failover is gone.
  expect(await allCompleted(before)).toBe(true);
  const rec = await rawGet(sys.url, '/api/recordings/file/CAcl');
  expect(rec.status).toBe(200);
});
