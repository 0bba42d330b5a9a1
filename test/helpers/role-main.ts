/**
 * Test entry point: runs the roles named in `ROLES` in a real child process, like src/main.ts, but with the
 * test processors (test/helpers/system.ts) plus `tally`, which records every execution in Redis.
 *
 * Reads the same environment as src/main.ts (ROLES, REDIS_URL, QUEUE_PREFIX, JOBS_CONFIG, PORT,
 * DB_HEALTH_TOKEN, WORKER_*, ...). Logs (pino JSON) go to stdout. When the roles are up it prints one line
 * `{…,"pid":…,"port":…,"worker":"host:pid","msg":"role_ready"}` (a log line); on SIGTERM/SIGINT it stops gracefully
 * (`shutdown_complete`, exit 0). Start it with `spawnRole()` from test/helpers/processes.ts.
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { stopOnSignals } from '../../src/shutdown';
import { startSystem } from '../../src/system';
import type { Processor } from '../../src/workers/processor-context';
import { testProcessors } from './system';

/** Redis list where `tally` pushes `run_id|worker|attempt` each time it runs. */
export const tallyKey = (prefix: string) => `${prefix}:test:tally`;

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.LOG_LEVEL);
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const worker = `${hostname()}:${process.pid}`;
  const tally = (async (ctx) => {
    await redis.rpush(tallyKey(config.QUEUE_PREFIX), `${ctx.runId}|${worker}|${ctx.attempt}`);
    const ms = (ctx.data as { ms?: number } | undefined)?.ms ?? 50;
    await new Promise((r) => setTimeout(r, ms));
    return { worker };
  }) as Processor<never>;
  const system = await startSystem(config, logger, { processors: { ...testProcessors, tally } });
  // Through the logger itself: its lines go out in order, so every line logged while starting (`tracker_resume`,
  // …) is in the output before `role_ready`, which tests wait for and then read the output. (A separate
  // stdout write could overtake the logger's asynchronous writes; its flush() does not wait for one in flight.)
  logger.info({ pid: process.pid, port: system.port, worker }, 'role_ready');

  stopOnSignals(system, logger, () => redis.disconnect());
}

main().catch((err) => {
  process.stderr.write(`role-main failed: ${(err as Error).message}\n`);
  process.exit(1);
});
