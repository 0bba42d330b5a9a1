/**
 * Scaling: no-op jobs (BENCH_JOBS, default 20,000) drained by 1, 2 and 4 (BENCH_SCALE) worker processes, each
 * at concurrency 50, measured two ways in alternated rounds, on one Redis and on a 3-master Redis Cluster:
 * - bare: plain BullMQ Worker processes; the clock stops at the last completion;
 * - tracked: `ROLES=worker` processes (each records its own runs) with the reconciler (monitor role) in this
 *   process; the clock stops when the last run is **recorded** as final in job_runs (polled from the store).
 * Jobs are enqueued into a paused queue, the processes start, and the clock runs from resume.
 * Verdict: tracking scales as the workers do: (tracked at N / tracked at 1) / (bare at N / bare at 1) at the
 * largest N must be at least 0.9 (a serial recorder would pin tracked at 1.0x while bare grows).
 * The cluster (three masters started on loopback ports, no replicas) runs the same rounds after the single
 * server's; the verdict is the single server's (the queue and the run store each live on one shard of the
 * cluster, so shards add capacity across queues, not within one). BENCH_CLUSTER=0 skips the cluster.
 * Usage: npm run bench:scale  (BENCH_JOBS, BENCH_SCALE=1,2,4, BENCH_ROUNDS, BENCH_REDIS_URL, BENCH_CLUSTER)
 */
import type { ChildProcess } from 'node:child_process';
import { startSystem } from '../src/system';
import { OwnRedisCluster } from '../test/helpers/redis-cluster';
import {
  BENCH_JOB,
  BENCH_QUEUE,
  benchConfig,
  benchLogger,
  startRoleProcess,
  stopProcess,
} from './lib/pipeline';
import { benchPrefix, benchRedis, deletePrefix } from './lib/redis';
import { note, printTable, verdict } from './lib/report';
import { median, round } from './lib/stats';

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const COUNTS = (process.env.BENCH_SCALE ?? '1,2,4').split(',').map(Number);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
const TARGET = 0.9;

type Topology = 'single' | 'cluster';
type Mode = 'bare' | 'tracked';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(topology: Topology, mode: Mode, n: number): Promise<number> {
  const prefix = benchPrefix(`scale${n}${mode}`);
  // The parent enqueues (and, tracked, runs the reconciler and reads job_runs).
  const config = benchConfig(prefix, { ROLES: mode === 'tracked' ? 'monitor' : 'api' });
  const sys = await startSystem(config, benchLogger());
  const children: ChildProcess[] = [];
  try {
    const queue = sys.queues.get(BENCH_QUEUE);
    await queue.pause();
    for (let i = 0; i < JOBS; i += 1000) {
      const k = Math.min(1000, JOBS - i);
      await queue.addBulk(
        Array.from({ length: k }, (_, j) => ({
          name: BENCH_JOB,
          data: { trigger: 'api' as const, user_id: null, payload: { i: i + j } },
        })),
      );
    }
    children.push(
      ...(await Promise.all(
        Array.from({ length: n }, () =>
          startRoleProcess(prefix, 'worker', mode === 'bare' ? { BENCH_BARE: '1' } : {}),
        ),
      )),
    );
    const t0 = Date.now();
    await queue.resume();
    const done = async () => {
      if (mode === 'bare') {
        const c = await queue.getJobCounts('completed', 'failed');
        return c.completed + c.failed;
      }
      const s = await sys.store.stats(BENCH_JOB, 0, 1);
      return s.counts.completed + s.counts.failed + s.counts.skipped;
    };
    while ((await done()) < JOBS) {
      if (Date.now() - t0 > 300_000) throw new Error(`${mode} ${n}: not done after 300 s`);
      await sleep(10);
    }
    const jobsPerSec = (JOBS * 1000) / (Date.now() - t0);
    note(`scale ${topology} ${mode} ${n} process(es): ${Math.round(jobsPerSec)} jobs/s`);
    return jobsPerSec;
  } finally {
    await Promise.all(children.map(stopProcess));
    await sys.stop();
    if (topology === 'single') {
      const redis = benchRedis();
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  }
}

async function main(): Promise<void> {
  const results = new Map<string, number[]>();
  const push = (k: string, v: number) => results.set(k, [...(results.get(k) ?? []), v]);
  for (let r = 1; r <= ROUNDS; r++) {
    for (const n of COUNTS) {
      for (const mode of ['bare', 'tracked'] as const)
        push(`single ${mode} ${n}`, await measure('single', mode, n));
    }
  }
  if (process.env.BENCH_CLUSTER !== '0') {
    note('starting a 3-master Redis Cluster on loopback');
    const cluster = await OwnRedisCluster.create(3, 0);
    process.env.BENCH_REDIS_CLUSTER_NODES = cluster.seeds;
    try {
      for (let r = 1; r <= ROUNDS; r++) {
        for (const n of COUNTS) {
          for (const mode of ['bare', 'tracked'] as const)
            push(`cluster ${mode} ${n}`, await measure('cluster', mode, n));
        }
      }
    } finally {
      delete process.env.BENCH_REDIS_CLUSTER_NODES;
      await cluster.destroy();
    }
  }
  const med = (k: string) => median(results.get(k) ?? [0]);
  const first = COUNTS[0];
  const top = Math.max(...COUNTS);
  console.log(
    `\nscale: ${JOBS} no-op jobs on one queue, concurrency 50 per process, ${ROUNDS} rounds alternated; tracked = recorded in job_runs`,
  );
  printTable(
    ['redis', 'mode', 'worker processes', 'median jobs/s', `x same mode at ${first}`],
    [...results.keys()].map((k) => {
      const [topology, mode, n] = k.split(' ');
      return [topology, mode, n, Math.round(med(k)), round(med(k) / med(`${topology} ${mode} ${first}`), 2)];
    }),
  );
  const trackedGrowth = med(`single tracked ${top}`) / med(`single tracked ${first}`);
  const bareGrowth = med(`single bare ${top}`) / med(`single bare ${first}`);
  const ratio = trackedGrowth / bareGrowth;
  verdict(
    'scale',
    `tracked ${top}/${first} processes ${round(trackedGrowth, 2)}x vs bare ${round(bareGrowth, 2)}x = ${ratio.toFixed(2)}`,
    TARGET.toFixed(2),
    ratio >= TARGET,
  );
  process.exit(0);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
