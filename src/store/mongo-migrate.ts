import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import { MIGRATE_FILTER, migratePipeline } from './mongo-run-docs';
import { MongoRunStore } from './mongo-run-store';

/** What {@link migrateMongoRuns} did. */
export interface MigrationReport {
  /** Documents of the earlier shape found and rewritten (0 on a rerun). */
  matched: number;
  modified: number;
  /** Index names created, adopted (same keys, another name), TTLs changed, indexes rebuilt. */
  created: string[];
  adopted: string[];
  ttlChanged: string[];
  rebuilt: string[];
}

/**
 * One-off migration of a `job_runs` collection written by the earlier system (`npm run migrate:mongo`):
 * backfills `created_at` (a text or number one converted, else from `started_at`, else the ObjectId's
 * time), `seq`, `queue` (from the registry's job → queue map), `trigger` and the counters, turns a numeric
 * `user_id` into a string and removes a null one, then creates the indexes and rebuilds those whose options
 * differ (the seed's sparse user index, a non-unique run_id index): each new index is built before the old
 * one is dropped. `retentionSeconds`: as MongoRunStoreOptions (unset keeps a longer existing TTL).
 * Idempotent: a rerun matches no document and finds every index in place.
 * @throws DuplicateRunIdsError (the old run_id index is kept) when run_ids repeat.
 */
export async function migrateMongoRuns(
  db: Db,
  opts: { collection?: string; queues: Record<string, string>; retentionSeconds?: number; logger: Logger },
): Promise<MigrationReport> {
  const store = new MongoRunStore(db, {
    collection: opts.collection,
    retentionSeconds: opts.retentionSeconds,
    logger: opts.logger,
  });
  const res = await store.collection.updateMany(MIGRATE_FILTER, migratePipeline(opts.queues));
  opts.logger.info(
    { matched: res.matchedCount, modified: res.modifiedCount },
    'migrate_documents_backfilled',
  );
  const plan = await store.ensureIndexes({ rebuild: true });
  const report: MigrationReport = {
    matched: res.matchedCount,
    modified: res.modifiedCount,
    created: plan.create.map((c) => c.name),
    adopted: plan.adopt.map((a) => a.have),
    ttlChanged: plan.collMod.map((m) => m.name),
    rebuilt: plan.differ.map((d) => d.have.name),
  };
  opts.logger.info(report, 'migrate_done');
  return report;
}
