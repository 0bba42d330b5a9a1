/**
 * Scaling: 20,000 no-op jobs drained by 1, 2 and 4 worker processes (each `ROLES=worker`, concurrency 50),
 * with the tracker (monitor role, RedisRunStore) running in this process. Jobs are enqueued into a paused
 * queue, the workers start, and the clock runs from resume to the last completion.
 * There is no target: it shows how throughput grows with processes on this machine.
 * Usage: npm run bench:scale  (BENCH_JOBS, BENCH_SCALE=1,2,4, BENCH_REDIS_URL)
 */
import type { ChildProcess } from 'node:child_process';
import { startSystem } from '../src/system';
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
import { round } from './lib/stats';

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const COUNTS = (process.env.BENCH_SCALE ?? '1,2,4').split(',').map(Number);

async function measure(n: number): Promise<{ n: number; jobsPerSec: number; storeSecs: number }> {
  const prefix = benchPrefix(`scale${n}`);
  const redis = benchRedis();
  const config = benchConfig(prefix, { ROLES: 'monitor' });
  const sys = await startSystem(config, benchLogger());
  const children: ChildProcess[] = [];
  try {
    let final = 0;
    sys.tracker!.onApplied((updates) => {
      for (const u of updates) if (u.patch.status === 'completed' || u.patch.status === 'failed') final++;
    });
    const queue = sys.queues.get(BENCH_QUEUE);
    await queue.pause();
    for (let i = 0; i < JOBS; i += 1000) {
      const n = Math.min(1000, JOBS - i);
      await queue.addBulk(
        Array.from({ length: n }, (_, k) => ({
          name: BENCH_JOB,
          data: { trigger: 'api' as const, user_id: null, payload: { i: i + k } },
        })),
      );
    }
    children.push(
      ...(await Promise.all(Array.from({ length: n }, () => startRoleProcess(prefix, 'worker')))),
    );
    await sys.tracker!.idle();
    const t0 = Date.now();
    await queue.resume();
    let done = 0;
    while (done < JOBS) {
      await new Promise((r) => setTimeout(r, 20));
      const c = await queue.getJobCounts('completed', 'failed');
      done = c.completed + c.failed;
    }
    const t1 = Date.now();
    while (final < JOBS && Date.now() - t1 < 120_000) await new Promise((r) => setTimeout(r, 20));
    const t2 = Date.now();
    const jobsPerSec = (JOBS * 1000) / (t1 - t0);
    note(`scale ${n} process(es): ${Math.round(jobsPerSec)} jobs/s`);
    return { n, jobsPerSec, storeSecs: (t2 - t0) / 1000 };
  } finally {
    await Promise.all(children.map(stopProcess));
    await sys.stop();
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
}

async function main(): Promise<void> {
  const results = [];
  for (const n of COUNTS) results.push(await measure(n));
  const base = results[0].jobsPerSec;
  console.log(`\nscale: ${JOBS} no-op jobs, concurrency 50 per process, tracker in the parent process`);
  printTable(
    ['worker processes', 'jobs/s', `x ${results[0].n} process`, 'store done s'],
    results.map((r) => [r.n, Math.round(r.jobsPerSec), round(r.jobsPerSec / base, 2), round(r.storeSecs, 2)]),
  );
  const last = results[results.length - 1];
  // No target in the issue: an informational line, always "PASS" when the bench ran.
  verdict(
    'scale',
    `${last.n}/${results[0].n} processes ${round(last.jobsPerSec / base, 2)}x`,
    'info only',
    true,
  );
  process.exit(0);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
