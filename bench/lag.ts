/**
 * End-to-end lag: for every job of a throughput-sized load (20,000 no-op jobs, concurrency 50), the time
 * from the job's completion (job.finishedOn) to its run record being final in the RunStore (measured in
 * the writers' onApplied, i.e. after the store write: the worker's recorder, or the reconciler for a run no
 * worker recorded). Usage: npm run bench:lag  (BENCH_JOBS, BENCH_REDIS_URL)
 */
import { runRound } from './lib/pipeline';
import { note, printTable, verdict } from './lib/report';
import { percentile, round } from './lib/stats';

const TARGET_P99_MS = 250;

async function main(): Promise<void> {
  const jobs = Number(process.env.BENCH_JOBS ?? 20_000);
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
  note('lag: warm-up');
  await runRound({ side: 'tracked', work: 'noop', jobs: 2000 });
  const rows: (string | number)[][] = [];
  const all: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    for (const work of ['noop', 'logs'] as const) {
      const res = await runRound({ side: 'tracked', work, jobs });
      const lags = res.lagsMs ?? [];
      if (work === 'noop') all.push(...lags);
      rows.push([
        r,
        work,
        lags.length,
        Math.round(res.jobsPerSec),
        round(percentile(lags, 50), 0),
        round(percentile(lags, 99), 0),
        round(Math.max(...lags), 0),
      ]);
      note(`lag round ${r} ${work}: p99 ${round(percentile(lags, 99), 0)} ms`);
    }
  }
  console.log(
    `\nlag: job.finishedOn -> final run record stored, ${jobs} jobs, concurrency 50, RedisRunStore`,
  );
  printTable(['round', 'work', 'runs', 'jobs/s', 'p50 ms', 'p99 ms', 'max ms'], rows);
  const p99 = percentile(all, 99);
  console.log(`\nno-op rounds together: p50 ${round(percentile(all, 50), 0)} ms, p99 ${round(p99, 0)} ms`);
  verdict('lag', `p99 ${Math.round(p99)} ms`, `${TARGET_P99_MS} ms`, p99 <= TARGET_P99_MS);
  process.exit(0);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
