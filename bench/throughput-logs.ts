/**
 * Throughput with progress and logs: like bench/throughput.ts, but every job reports progress every 10%
 * and writes 20 log lines. Bare BullMQ does the same work with job.updateProgress and job.log; the tracked
 * side uses the ProcessorContext (throttled progress, batched logs into the run record).
 * Usage: npm run bench:throughput-logs  (BENCH_JOBS, BENCH_ROUNDS, BENCH_REDIS_URL)
 */
import { runThroughput } from './lib/throughput-runner';

void runThroughput({ name: 'throughput-logs', work: 'logs', target: 0.9 }).catch((err) => {
  console.error(err);
  process.exit(1);
});
