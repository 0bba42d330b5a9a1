/**
 * A worker-only process for bench/scale.ts: starts the `worker` role with startSystem on BENCH_PREFIX,
 * serving the bench queue with a no-op processor, prints `ready`, and stops gracefully on SIGTERM.
 */
import { startSystem } from '../../src/system';
import { benchConfig, benchLogger, trackedProcessor } from './pipeline';

async function main(): Promise<void> {
  const prefix = process.env.BENCH_PREFIX;
  if (!prefix) throw new Error('BENCH_PREFIX is required');
  const config = benchConfig(prefix, {
    ROLES: 'worker',
    WORKER_CONCURRENCY: process.env.BENCH_CONCURRENCY ?? '50',
  });
  const sys = await startSystem(config, benchLogger(), { processors: { bench: trackedProcessor('noop') } });
  await Promise.all(sys.workers!.workers.map((w) => w.waitUntilReady()));
  process.on('SIGTERM', () => {
    void sys.stop().then(() => process.exit(0));
  });
  console.log('ready');
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
