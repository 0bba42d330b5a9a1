/**
 * One round of the throughput bench, for profiling: `node --cpu-prof --import tsx bench/lib/one-round.ts
 * tracked noop 20000`. Prints jobs/s, the lag p99 and this process's CPU per job.
 */
import type { Side, Work } from './pipeline';
import { runRound } from './pipeline';
import { percentile } from './stats';

async function main(): Promise<void> {
  const [side = 'tracked', work = 'noop', jobs = '20000'] = process.argv.slice(2);
  const cpu0 = process.cpuUsage();
  const res = await runRound({ side: side as Side, work: work as Work, jobs: Number(jobs) });
  const cpu = process.cpuUsage(cpu0);
  const p99 = res.lagsMs?.length ? Math.round(percentile(res.lagsMs, 99)) : '-';
  console.log(
    `${side} ${work}: ${Math.round(res.jobsPerSec)} jobs/s, workers done ${res.workersDoneMs ?? '-'} ms, store done ${res.storeIdleMs ?? '-'} ms, lag p99 ${p99} ms, node ${((cpu.user + cpu.system) / Number(jobs)).toFixed(1)} µs/job`,
  );
  process.exit(0);
}

void main();
