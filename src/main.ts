import { ConfigError } from './config-file';
import { loadConfig } from './config';
import { createLogger } from './logger';
import { checkReachable, firstRunProbeMs } from './queues/redis';
import { stopOnSignals } from './shutdown';

/** Entry point: `npm start` (all roles) or `ROLES=worker npm start` (one role per process). */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
    process.exit(78);
  }
  try {
    // Bounded from the process's start, so a first run without Redis has its answer within 5 s.
    await checkReachable(config, firstRunProbeMs(performance.now()));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(69); // EX_UNAVAILABLE
  }
  const logger = createLogger(config.LOG_LEVEL);
  // Loaded after the Redis check, so a first run without Redis gets its answer in seconds.
  const { startSystem } = await import('./system');
  let system: Awaited<ReturnType<typeof startSystem>>;
  try {
    system = await startSystem(config, logger.child({}));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    logger.fatal({ err }, 'start_failed');
    // The logger writes asynchronously and its flush() does not wait for a write in flight: a moment for
    // the line to go out, as at a shutdown (src/shutdown.ts).
    logger.flush();
    setTimeout(() => process.exit(1), 50);
    return;
  }
  logger.info({ roles: config.ROLES }, 'started');
  if (config.tokenGenerated && system.port !== undefined) {
    // Printed once to the terminal, never into the structured log.
    process.stdout.write(
      `\nJobs Monitor is up. No DB_HEALTH_TOKEN was set, so this one was generated for this run:\n` +
        `  token:     ${config.DB_HEALTH_TOKEN}\n` +
        `  dashboard: http://localhost:${system.port}/jobs/monitor\n` +
        `  try:       curl -X POST -H "Authorization: Bearer ${config.DB_HEALTH_TOKEN}" localhost:${system.port}/api/jobs/cache_warming/trigger\n\n`,
    );
  }
  stopOnSignals(system, logger);
}

void main();
