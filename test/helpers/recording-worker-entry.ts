/**
 * A real worker process for e2e tests: `node --import tsx test/helpers/recording-worker-entry.ts` with the
 * test's env (ROLES=worker, QUEUE_PREFIX, RECORDINGS_DIR, ...). Logs JSON lines to stdout.
 */
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { startSystem } from '../../src/system';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = pino({ level: 'info' }, pino.destination({ sync: true }));
  const system = await startSystem(config, logger, {
    workerOverrides: {
      stalledInterval: Number(process.env.TEST_STALLED_INTERVAL_MS ?? 1000),
      lockDuration: Number(process.env.TEST_LOCK_DURATION_MS ?? 3000),
    },
  });
  process.on('SIGTERM', () => {
    void system.stop().then(() => process.exit(0));
  });
}

void main();
