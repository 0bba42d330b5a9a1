/**
 * A child process for the benches: starts the roles in BENCH_ROLES (default `worker`) with startSystem on
 * BENCH_PREFIX (the bench queue, a no-op processor, concurrency BENCH_CONCURRENCY or 50), prints `ready`,
 * and stops gracefully on SIGTERM. Used by bench/scale.ts (worker processes) and the throughput bench's
 * `tracked-split` side (the tracker in its own process).
 */
import { startSystem } from '../../src/system';
import { benchConfig, benchLogger, trackedProcessor } from './pipeline';

async function main(): Promise<void> {
  const prefix = process.env.BENCH_PREFIX;
  if (!prefix) throw new Error('BENCH_PREFIX is required');
  const config = benchConfig(prefix, {
    ROLES: process.env.BENCH_ROLES ?? 'worker',
    WORKER_CONCURRENCY: process.env.BENCH_CONCURRENCY ?? '50',
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
