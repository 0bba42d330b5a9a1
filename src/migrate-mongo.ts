/**
 * `npm run migrate:mongo`: one-off, rerunnable migration of an existing `job_runs` collection (see
 * src/store/mongo-migrate.ts). Reads MONGO_URL, MONGO_DB and JOBS_CONFIG like the service.
 */
import { MongoClient } from 'mongodb';
import { loadConfig, runRetentionSeconds } from './config';
import { ConfigError } from './config-file';
import { createLogger } from './logger';
import { JobRegistry } from './monitor/registry';
import { migrateMongoRuns } from './store/mongo-migrate';
import { DuplicateRunIdsError, IndexBuildError } from './store/mongo-run-store';

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
  const client = new MongoClient(config.MONGO_URL, { serverSelectionTimeoutMS: 5000 });
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
    // What to do about it, for the operator at the terminal (duplicate run_ids, an index MongoDB refused).
    if (err instanceof DuplicateRunIdsError || err instanceof IndexBuildError) {
      process.stderr.write(`${err.message}\n`);
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
