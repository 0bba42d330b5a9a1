/**
 * `npm run migrate:mongo`: one-off, rerunnable migration of an existing `job_runs` collection (see
 * src/store/mongo-migrate.ts). Reads MONGO_URL, MONGO_DB and JOBS_CONFIG like the service.
 */
import { MongoClient, MongoServerSelectionError } from 'mongodb';
import { loadConfig, runRetentionSeconds } from './config';
import { ConfigError } from './config-file';
import { createLogger, redactUrl } from './logger';
import { JobRegistry } from './monitor/registry';
import { migrateMongoRuns } from './store/mongo-migrate';
import { DuplicateRunIdsError, IndexBuildError } from './store/mongo-run-store';

/** How long the driver looks for a server before the migration gives up (exit 1). */
const SERVER_SELECTION_TIMEOUT_MS = 5000;

/**
 * Exit codes: 0 migrated (the report on stdout), 78 configuration (a config error, or no MONGO_URL), 1 the
 * migration failed (MongoDB unreachable, duplicate run_ids, an index MongoDB refused: `migrate_failed`, plus a
 * line on stderr saying what to do).
 */
async function main(): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  let registry: JobRegistry;
  try {
    config = loadConfig();
    registry = JobRegistry.fromFile(config.JOBS_CONFIG);
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
    return 78;
  }
  const logger = createLogger(config.LOG_LEVEL);
  if (!config.MONGO_URL) {
    logger.error('migrate_needs_mongo_url: set MONGO_URL (and MONGO_DB) to the database to migrate');
    return 78;
  }
  const client = new MongoClient(config.MONGO_URL, { serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS });
  try {
    await client.connect();
    const queues = Object.fromEntries(registry.jobs.map((j) => [j.job_id, j.queue]));
    const report = await migrateMongoRuns(client.db(config.MONGO_DB), {
      queues,
      logger,
      retentionSeconds: runRetentionSeconds(config),
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  } catch (err) {
    logger.error({ err }, 'migrate_failed');
    // What to do about it, for the operator at the terminal (duplicate run_ids, an index MongoDB refused,
    // no server answering).
    if (err instanceof DuplicateRunIdsError || err instanceof IndexBuildError) {
      process.stderr.write(`${err.message}\n`);
    } else if (err instanceof MongoServerSelectionError) {
      process.stderr.write(
        `MongoDB not reachable at ${redactUrl(config.MONGO_URL)} (MONGO_URL) within ${SERVER_SELECTION_TIMEOUT_MS} ms: ${err.message}\n`,
      );
    }
    return 1;
  } finally {
    await client.close();
    logger.flush();
  }
}

void main().then((code) => {
  process.exitCode = code;
});
