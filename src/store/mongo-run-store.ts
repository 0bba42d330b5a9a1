import {
  type AnyBulkWriteOperation,
  BSON,
  type Collection,
  type Db,
  type Document,
  MongoBulkWriteError,
  MongoServerError,
} from 'mongodb';
import type { Logger } from 'pino';
import {
  ACTIVE_STATUSES,
  DEFAULT_RUN_RESULT_MAX_BYTES,
  type JobRun,
  isMarksOnly,
  prepareUpdate,
  RUN_RETENTION_SECONDS,
  RUN_STATUSES,
  type RunStatus,
  type RunUpdate,
  trackingErrorUpdate,
} from '../monitor/run';
import {
  DEFAULT_STATS_SAMPLE,
  type FinishedRunSample,
  type RunStatsSample,
  pageSize,
  type RunPage,
  type RunQuery,
  type RunStore,
} from '../monitor/run-store';
import {
  countActivePipeline,
  type ExistingIndex,
  fromDoc,
  type IndexPlan,
  indexSpecs,
  LIST_SORT,
  planIndexes,
  readListPage,
  STATS_FINISHED_PROJECTION,
  STATS_INDEX_KEY,
  statsCountPipeline,
  statsFinishedFilter,
  toIndexDescription,
  updatePipeline,
} from './mongo-run-docs';

/** MongoDB's largest document (and update statement); the driver refuses bigger ones before sending. */
export const MAX_BSON_BYTES = 16 * 1024 * 1024;
/**
 * Write errors worth retrying (the tracker retries the batch): a duplicate key from two upserts of the same
 * new run racing (the second then matches), and write conflicts. Any other write error refuses the update
 * for good (too large, invalid): it is isolated, recorded as a tracking error, and skipped.
 */
const RETRYABLE_WRITE_CODES = new Set([11000, 112]);

export interface MongoRunStoreOptions {
  /** Collection name. @defaultValue `job_runs` */
  collection?: string;
  /** TTL of the runs. @defaultValue 7 days */
  retentionSeconds?: number;
  /** Cap on `result` and `error_message` (RUN_RESULT_MAX_BYTES). @defaultValue 64 KiB */
  maxResultBytes?: number;
  /** Where index changes and rejected updates are logged. */
  logger?: Logger;
  onClose?: () => Promise<void>;
}

/** An update MongoDB refused for good (see {@link MongoRunStore.apply}). */
export interface RejectedUpdate {
  update: RunUpdate;
  reason: string;
}

/**
 * The update statements of one apply round: every op with its BSON size, and the ones over MongoDB's 16 MiB
 * limit set apart (the driver would refuse the whole bulk write for one of them).
 */
export function buildOps(updates: RunUpdate[]): {
  ops: { update: RunUpdate; op: AnyBulkWriteOperation<Document> }[];
  oversized: RejectedUpdate[];
} {
  const ops: { update: RunUpdate; op: AnyBulkWriteOperation<Document> }[] = [];
  const oversized: RejectedUpdate[] = [];
  for (const u of updates) {
    const filter = { run_id: u.run_id };
    const update = updatePipeline(u);
    const bytes = BSON.calculateObjectSize({ q: filter, u: update, upsert: true });
    // Margin for the fields the driver adds to each statement; it refuses the whole bulk write otherwise.
    if (bytes >= MAX_BSON_BYTES - 16 * 1024) {
      oversized.push({ update: u, reason: `update of ${bytes} bytes is over MongoDB's 16 MiB limit` });
    } else {
      // An update that only carries marks never creates a run (RunMarks).
      ops.push({ update: u, op: { updateOne: { filter, update, upsert: !isMarksOnly(u) } } });
    }
  }
  return { ops, oversized };
}

/**
 * Splits a batch into rounds so each round holds at most one update per run, in the batch's order: round
 * k has every run's k-th update. Rounds are written one after the other, each unordered (an op that fails
 * doesn't stop the others), so a run's updates still apply in order.
 */
export function roundsOf(updates: RunUpdate[]): RunUpdate[][] {
  const rounds: RunUpdate[][] = [];
  const seen = new Map<string, number>();
  for (const u of updates) {
    const k = seen.get(u.run_id) ?? 0;
    seen.set(u.run_id, k + 1);
    if (!rounds[k]) rounds[k] = [];
    rounds[k].push(u);
  }
  return rounds;
}

/**
 * RunStore on MongoDB (production), collection `job_runs`. Indexes: see {@link indexSpecs}; `init()`
 * matches them to existing ones by key (a team's collection keeps its own names) and changes a TTL with
 * `collMod`. Updates are single-round-trip pipeline upserts (see {@link updatePipeline}) that apply only
 * events newer than the stored `seq`; `result` and `error_message` are capped first (RUN_RESULT_MAX_BYTES).
 * Documents of the earlier system (no `created_at`, `seq`, `queue`) are read correctly and listed last;
 * `npm run migrate:mongo` backfills them.
 */
export class MongoRunStore implements RunStore {
  readonly collection: Collection<Document>;
  private readonly maxResultBytes: number;

  constructor(
    private readonly db: Db,
    private readonly opts: MongoRunStoreOptions = {},
  ) {
    this.collection = db.collection(opts.collection ?? 'job_runs');
    this.maxResultBytes = opts.maxResultBytes ?? DEFAULT_RUN_RESULT_MAX_BYTES;
  }

  /**
   * Creates the missing indexes. An existing index with the same keys and options under another name is
   * used as it is; one whose TTL differs is changed with `collMod`; one whose other options differ
   * (e.g. the seed's sparse user index) is kept and logged — `npm run migrate:mongo` rebuilds those
   * (`rebuild: true`). Logs what it did.
   */
  async init(): Promise<void> {
    await this.ensureIndexes();
  }

  /** {@link init}'s work; returns what it did. `rebuild`: drop and recreate indexes whose options differ. */
  async ensureIndexes(opts: { rebuild?: boolean } = {}): Promise<IndexPlan> {
    const log = this.opts.logger;
    const ttl = this.opts.retentionSeconds ?? RUN_RETENTION_SECONDS;
    const plan = planIndexes(await this.existingIndexes(), indexSpecs(ttl));
    for (const a of plan.adopt) log?.info({ index: a.want, existing: a.have }, 'run_store_index_adopted');
    for (const m of plan.collMod) {
      await this.db.command({
        collMod: this.collection.collectionName,
        index: { keyPattern: m.key, expireAfterSeconds: m.to },
      });
      log?.warn({ index: m.name, from: m.from, to: m.to }, 'run_store_index_ttl_changed');
    }
    const create = [...plan.create];
    for (const d of plan.differ) {
      if (opts.rebuild) {
        await this.collection.dropIndex(d.have.name);
        log?.warn({ index: d.have.name, why: d.why }, 'run_store_index_dropped_for_rebuild');
        create.push(d.want);
      } else {
        log?.warn(
          {
            index: d.have.name,
            want: d.want.name,
            why: d.why,
            action: 'kept; npm run migrate:mongo rebuilds it',
          },
          'run_store_index_differs',
        );
      }
    }
    if (create.length) {
      await this.collection.createIndexes(create.map(toIndexDescription));
      log?.info({ indexes: create.map((c) => c.name) }, 'run_store_indexes_created');
    }
    return { ...plan, create };
  }

  private async existingIndexes(): Promise<ExistingIndex[]> {
    try {
      return (await this.collection.indexes()) as ExistingIndex[];
    } catch (err) {
      if (err instanceof MongoServerError && err.code === 26) return []; // NamespaceNotFound: no collection yet
      throw err;
    }
  }

  /**
   * Writes the updates in rounds (see {@link roundsOf}), each one unordered bulk write. An update MongoDB
   * refuses for good (over 16 MiB, invalid) is logged (`run_store_update_rejected`), replaced by a
   * tracking-error update (same status and times, an error log line, no result) and skipped; it never
   * blocks the others or later batches. Throws only for what a retry may fix (network, write concern,
   * duplicate-key races), so the tracker retries.
   */
  async apply(updates: RunUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const prepared = updates.map((u) => prepareUpdate(u, this.maxResultBytes));
    for (const round of roundsOf(prepared)) {
      const rejected = await this.writeRound(round);
      for (const r of rejected) await this.recordRejected(r);
    }
  }

  /** One unordered bulk write; returns the updates refused for good. */
  private async writeRound(round: RunUpdate[], retried = false): Promise<RejectedUpdate[]> {
    const { ops, oversized } = buildOps(round);
    if (ops.length === 0) return oversized;
    try {
      await this.collection.bulkWrite(
        ops.map((o) => o.op),
        { ordered: false },
      );
      return oversized;
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError) || err.writeConcernError || !err.writeErrors) throw err;
      const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      if (writeErrors.length === 0) throw err;
      const rejected = [...oversized];
      const retry: RunUpdate[] = [];
      for (const we of writeErrors) {
        const update = ops[we.index]?.update;
        if (!update) throw err;
        if (RETRYABLE_WRITE_CODES.has(we.code as number)) retry.push(update);
        else rejected.push({ update, reason: `MongoDB refused the update (code ${we.code}): ${we.errmsg}` });
      }
      // A duplicate-key race: the run exists now, so the update matches it on the second try.
      if (retry.length) {
        if (retried) throw err;
        for (const r of rejected) await this.recordRejected(r);
        return this.writeRound(retry, true);
      }
      return rejected;
    }
  }

  /** Logs a refused update and writes its tracking error (best effort: if that fails too, logs and skips). */
  private async recordRejected(r: RejectedUpdate): Promise<void> {
    const log = this.opts.logger;
    log?.error({ run_id: r.update.run_id, seq: r.update.seq, reason: r.reason }, 'run_store_update_rejected');
    try {
      await this.collection.updateOne(
        { run_id: r.update.run_id },
        updatePipeline(trackingErrorUpdate(r.update, r.reason)),
        { upsert: true },
      );
    } catch (err) {
      log?.error({ err, run_id: r.update.run_id }, 'run_store_tracking_error_not_recorded');
    }
  }

  async get(runId: string): Promise<JobRun | null> {
    const doc = await this.collection.findOne({ run_id: runId });
    return doc ? fromDoc(doc) : null;
  }

  async list(query: RunQuery): Promise<RunPage> {
    const { docs, next_cursor } = await readListPage(query, pageSize(query.limit), (filter, n) =>
      this.collection
        .find(filter, { projection: { logs: 0 } })
        .sort({ ...LIST_SORT })
        .limit(n)
        .toArray(),
    );
    return { runs: docs.map((d) => fromDoc({ ...d, logs: [] })), next_cursor };
  }

  /** One find on the unique run_id index, projecting only the status (chunks of 1,000 ids). */
  async statuses(runIds: string[]): Promise<Map<string, RunStatus>> {
    const out = new Map<string, RunStatus>();
    for (let i = 0; i < runIds.length; i += 1000) {
      const docs = await this.collection
        .find(
          { run_id: { $in: runIds.slice(i, i + 1000) } },
          { projection: { _id: 0, run_id: 1, status: 1 } },
        )
        .toArray();
      for (const d of docs) out.set(String(d.run_id), (d.status ?? 'pending') as RunStatus);
    }
    return out;
  }

  async countActive(): Promise<Record<string, number>> {
    const rows = await this.collection
      .aggregate<{ _id: string; n: number }>(countActivePipeline(ACTIVE_STATUSES))
      .toArray();
    return Object.fromEntries(rows.map((r) => [r._id, r.n]));
  }

  /**
   * Counts: one aggregation covered by the {job_id, status, created_at} index (reads index keys only, no
   * document). Finished sample: a find on the same index, sorted and limited to `sample` documents.
   */
  async stats(jobId: string, since: number, sample = DEFAULT_STATS_SAMPLE): Promise<RunStatsSample> {
    const [rows, docs] = await Promise.all([
      this.collection
        .aggregate<{ _id: RunStatus; n: number }>(statsCountPipeline(jobId, since), {
          hint: { ...STATS_INDEX_KEY },
        })
        .toArray(),
      this.collection
        .find(statsFinishedFilter(jobId, since), { projection: STATS_FINISHED_PROJECTION })
        .sort({ ...LIST_SORT })
        .limit(Math.max(0, sample))
        .toArray(),
    ]);
    const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
    for (const c of rows) counts[c._id] = c.n;
    const finished: FinishedRunSample[] = docs.map((d) => ({
      run_id: d.run_id,
      status: d.status,
      created_at: d.created_at instanceof Date ? d.created_at.toISOString() : String(d.created_at),
      duration_ms: d.duration_ms ?? null,
    }));
    return { counts, finished };
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  async close(): Promise<void> {
    await this.opts.onClose?.();
  }
}
