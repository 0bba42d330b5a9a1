/**
 * A child process for bench/polling-storm.ts: starts startSystem with the environment it was given (the
 * parent passes QUEUE_PREFIX, ROLES, RECORDINGS_DIR, … in STORM_ENV as JSON, so only those reach
 * loadConfig), waits until its workers are ready, prints `ready <port>` (port 0 without the api role) and
 * stops gracefully on SIGTERM. Run it with `--cpu-prof` to profile one role set.
 */
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { startSystem } from '../../src/system';

async function main(): Promise<void> {
  const env = JSON.parse(process.env.STORM_ENV ?? '{}') as Record<string, string>;
  const config = loadConfig(env);
  const sys = await startSystem(config, pino({ level: 'silent' }));
  await Promise.all((sys.workers?.workers ?? []).map((w) => w.waitUntilReady()));
  process.on('SIGTERM', () => {
    void sys.stop().then(() => process.exit(0));
  });
  console.log(`ready ${sys.port ?? 0}`);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
