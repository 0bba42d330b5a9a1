/**
 * Throughput: 10,000 no-op jobs, one queue, worker concurrency 50. Bare BullMQ (Queue + Worker) against the
 * full tracked pipeline (WorkerPool + Tracker + BullmqLifecycleSource + RedisRunStore; MongoRunStore too
 * when MONGO_URL is set), alternated, BENCH_ROUNDS (default 9) rounds each. Prints jobs/s, the ratio of the
 * medians, each round's tracked/bare, and the verdict on the median of those.
 * Usage: npm run bench:throughput  (BENCH_JOBS, BENCH_ROUNDS, BENCH_REDIS_URL)
 */
import { runThroughput } from './lib/throughput-runner';

void runThroughput({ name: 'throughput', work: 'noop', target: 0.9 }).catch((err) => {
  console.error(err);
  process.exit(1);
});
