/**
 * CPU per job: the same rounds as bench:throughput (no-op jobs, one queue, concurrency 50, everything in this
 * process), alternated bare / tracked, measuring this process's CPU (process.cpuUsage: the workers, the
 * enqueuer, and on the tracked side the recorder and the reconciler) and Redis' CPU (INFO cpu,
 * used_cpu_user + used_cpu_sys) from the first add until the last run is recorded (tracked) or completed
 * (bare). Redis' figure includes whatever else uses that server meanwhile: run it on a quiet one.
 * Verdict: tracked minus bare, per job, against +40 µs Node and +30 µs Redis.
 * Usage: npm run bench:cpu  (BENCH_JOBS, BENCH_ROUNDS, BENCH_REDIS_URL)
 */
import { runRound, type Side } from './lib/pipeline';
import { benchRedis } from './lib/redis';
import { note, printTable, verdict } from './lib/report';
import { median, round } from './lib/stats';

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const TARGET_NODE_US = 40;
const TARGET_REDIS_US = 30;

async function redisCpuSeconds(redis: ReturnType<typeof benchRedis>): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(/^(?:\S+)?/.exec(info.split(`${k}:`)[1] ?? '0')?.[0] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

async function measure(side: Side, redis: ReturnType<typeof benchRedis>) {
  const cpu0 = process.cpuUsage();
  const r0 = await redisCpuSeconds(redis);
  const res = await runRound({ side, work: 'noop', jobs: JOBS });
  const r1 = await redisCpuSeconds(redis);
  const cpu = process.cpuUsage(cpu0);
  return {
    nodeUs: (cpu.user + cpu.system) / JOBS,
    redisUs: ((r1 - r0) * 1e6) / JOBS,
    jobsPerSec: res.jobsPerSec,
  };
}

async function main(): Promise<void> {
  const redis = benchRedis();
  note('cpu: warm-up');
  await runRound({ side: 'bare', work: 'noop', jobs: 2000 });
  await runRound({ side: 'tracked', work: 'noop', jobs: 2000 });
  const rows: (string | number)[][] = [];
  const per = {
    bare: { node: [] as number[], redis: [] as number[] },
    tracked: { node: [] as number[], redis: [] as number[] },
  };
  for (let r = 1; r <= ROUNDS; r++) {
    for (const side of ['bare', 'tracked'] as const) {
      const m = await measure(side, redis);
      per[side].node.push(m.nodeUs);
      per[side].redis.push(m.redisUs);
      rows.push([r, side, Math.round(m.jobsPerSec), round(m.nodeUs, 1), round(m.redisUs, 1)]);
      note(`cpu round ${r} ${side}: node ${round(m.nodeUs, 1)} µs, redis ${round(m.redisUs, 1)} µs per job`);
    }
  }
  await redis.quit();
  console.log(`\ncpu: ${JOBS} no-op jobs per round, concurrency 50, ${ROUNDS} rounds alternated`);
  printTable(['round', 'side', 'jobs/s', 'node µs/job', 'redis µs/job'], rows);
  const dNode = median(per.tracked.node) - median(per.bare.node);
  const dRedis = median(per.tracked.redis) - median(per.bare.redis);
  console.log(
    `\nmedians: bare node ${round(median(per.bare.node), 1)} µs, redis ${round(median(per.bare.redis), 1)} µs; tracked node ${round(median(per.tracked.node), 1)} µs, redis ${round(median(per.tracked.redis), 1)} µs`,
  );
  verdict(
    'cpu',
    `+${round(dNode, 1)} µs Node, +${round(dRedis, 1)} µs Redis per job`,
    `+${TARGET_NODE_US} / +${TARGET_REDIS_US} µs`,
    dNode <= TARGET_NODE_US && dRedis <= TARGET_REDIS_US,
  );
  process.exit(0);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
