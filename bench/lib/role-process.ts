/**
 * A child process for the benches: starts the roles in BENCH_ROLES (default `worker`) with startSystem on
 * BENCH_PREFIX (the bench queue, a no-op processor, concurrency BENCH_CONCURRENCY or 50), prints `ready`,
 * and stops gracefully on SIGTERM. With BENCH_BARE=1 it runs a plain BullMQ Worker on the same queue instead
 * (the baseline of bench/scale.ts). Used by bench/scale.ts (worker processes) and the throughput bench's
 * `tracked-split` side (the reconciler in its own process).
 */
import { Worker } from 'bullmq';
import { bullConnection } from '../../src/queues/redis';
import { RedisKeys } from '../../src/queues/redis-keys';
import { startSystem } from '../../src/system';
import { BENCH_QUEUE, benchConfig, benchLogger, trackedProcessor } from './pipeline';

async function main(): Promise<void> {
  const prefix = process.env.BENCH_PREFIX;
  if (!prefix) throw new Error('BENCH_PREFIX is required');
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 50);
  if (process.env.BENCH_BARE === '1') {
    // One server or the cluster (BENCH_REDIS_CLUSTER_NODES), as the tracked processes connect.
    const worker = new Worker(BENCH_QUEUE, async () => null, {
      connection: bullConnection(benchConfig(prefix)) as never,
      // The queue's own prefix, as the system's QueueSet (which the parent enqueues with) uses.
      prefix: new RedisKeys(prefix).queuePrefix(BENCH_QUEUE),
      concurrency,
    });
    await worker.waitUntilReady();
    process.on('SIGTERM', () => {
      void worker.close().then(() => process.exit(0));
    });
    console.log('ready');
    return;
  }
  const config = benchConfig(prefix, {
    ROLES: process.env.BENCH_ROLES ?? 'worker',
    WORKER_CONCURRENCY: String(concurrency),
  });
  const sys = await startSystem(config, benchLogger(), { processors: { bench: trackedProcessor('noop') } });
  await Promise.all((sys.workers?.workers ?? []).map((w) => w.waitUntilReady()));
  process.on('SIGTERM', () => {
    void sys.stop().then(() => process.exit(0));
  });
  console.log('ready');
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
