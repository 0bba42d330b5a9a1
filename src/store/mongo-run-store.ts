import {
  type AnyBulkWriteOperation,
  BSON,
  type Collection,
  type Db,
  type Document,
  MongoError,
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
  DUPLICATE_RUN_IDS_PIPELINE,
  type ExistingIndex,
  existingRetention,
  fromDoc,
  type IndexPlan,
  type IndexSpec,
  indexOptions,
  indexSpecs,
  LIST_SORT,
  planIndexes,
  readListPage,
  STATS_FINISHED_PROJECTION,
  STATS_INDEX_KEY,
  statsCountPipeline,
  statsFinishedFilter,
  updatePipeline,
} from './mongo-run-docs';
import { classifyError, classifyWriteCode, readBulkFailure } from './mongo-write-errors';

/** MongoDB's largest document (and update statement); the driver refuses bigger ones before sending. */
export const MAX_BSON_BYTES = 16 * 1024 * 1024;
/**
 * Most bytes (and statements) one bulkWrite carries. The driver splits a bigger one into several commands
 * (at 16 MiB), and a command failing as a whole would leave the ones after it unsent with no error of
 * their own: each of our bulk writes is one command.
 */
export const MAX_BULK_BYTES = 8 * 1024 * 1024;
export const MAX_BULK_OPS = 1000;
/** Default of {@link MongoRunStoreOptions.unknownErrorAttempts}. */
export const DEFAULT_UNKNOWN_ERROR_ATTEMPTS = 5;

export interface MongoRunStoreOptions {
  /** Collection name. @defaultValue `job_runs` */
  collection?: string;
  /**
   * TTL of the runs, asked for explicitly (RUN_RETENTION_DAYS): `init()` sets every run TTL index to it,
   * shortening a longer one. Unset: {@link RUN_RETENTION_SECONDS} (7 days) for new TTL indexes and
   * shorter existing ones, but an existing longer TTL is kept (and used for the new ones) with a warning.
   * @defaultValue unset
   */
  retentionSeconds?: number;
  /** Cap on `result`, `error_message` and `error_stack` (RUN_RESULT_MAX_BYTES). @defaultValue 64 KiB */
  maxResultBytes?: number;
  /**
   * Times an update refused with an error code neither known transient nor known permanent is retried
   * (the recorder retries the batch) before it is treated as permanent: logged, recorded as a tracking
   * error, skipped. Known transient errors (elections, timeouts…) are retried for as long as they last.
   * @defaultValue 5
   */
  unknownErrorAttempts?: number;
  /** Where index changes and rejected updates are logged. */
  logger?: Logger;
  onClose?: () => Promise<void>;
}

/** An update MongoDB refused for good (see {@link MongoRunStore.apply}). */
export interface RejectedUpdate {
  update: RunUpdate;
  reason: string;
}

/** One update statement of a round, with its BSON size. */
export interface BuiltOp {
  update: RunUpdate;
  op: AnyBulkWriteOperation<Document>;
  bytes: number;
}

/**
 * The update statements of one apply round: every op with its BSON size, and the ones over MongoDB's 16 MiB
 * limit set apart (the driver would refuse the whole bulk write for one of them).
 */
export function buildOps(updates: RunUpdate[]): { ops: BuiltOp[]; oversized: RejectedUpdate[] } {
  const ops: BuiltOp[] = [];
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
      ops.push({ update: u, op: { updateOne: { filter, update, upsert: !isMarksOnly(u) } }, bytes });
    }
  }
  return { ops, oversized };
}

/** Splits a round's ops into bulk writes of at most {@link MAX_BULK_BYTES} and {@link MAX_BULK_OPS}. */
export function chunkOps(ops: BuiltOp[]): BuiltOp[][] {
  const chunks: BuiltOp[][] = [];
  let current: BuiltOp[] = [];
  let bytes = 0;
  for (const o of ops) {
    if (current.length && (current.length >= MAX_BULK_OPS || bytes + o.bytes > MAX_BULK_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(o);
    bytes += o.bytes;
  }
  if (current.length) chunks.push(current);
  return chunks;
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
 * `init()` could not build the unique run_id index: the collection holds several documents with the same
 * run_id. Start-up stops with this message (it names the collection and the aggregation that lists them).
 */
export class DuplicateRunIdsError extends Error {
  constructor(
    readonly namespace: string,
    readonly index: string,
    serverMessage: string,
  ) {
    const coll = namespace.slice(namespace.indexOf('.') + 1);
    super(
      `MongoDB collection ${namespace} holds several documents with the same run_id, so the unique index ` +
        `${index} on {run_id: 1} can't be built and the run store does not start. List them with ` +
        `db.getCollection(${JSON.stringify(coll)}).aggregate(${JSON.stringify(DUPLICATE_RUN_IDS_PIPELINE)}, ` +
        `{allowDiskUse: true}), keep one document per run_id (README, "MongoDB"), then start again. ` +
        `MongoDB said: ${serverMessage.slice(0, 300)}`,
    );
    this.name = 'DuplicateRunIdsError';
  }
}

/** `init()` could not build some indexes (other than for duplicate run_ids); each is named with MongoDB's reason. */
export class IndexBuildError extends Error {
  constructor(
    readonly namespace: string,
    readonly failures: { index: string; reason: string }[],
  ) {
    super(
      `MongoDB collection ${namespace}: could not build ${failures
        .map((f) => `${f.index} (${f.reason.slice(0, 300)})`)
        .join('; ')}`,
    );
    this.name = 'IndexBuildError';
  }
}

/** Remembers per run how many times in a row its update was refused with an unknown code (bounded). */
const MAX_TRACKED_FAILURES = 10_000;

/**
 * RunStore on MongoDB (production), collection `job_runs`. Indexes: see {@link indexSpecs}; `init()`
 * matches them to existing ones by key (a team's collection keeps its own names), builds the missing ones
 * one at a time and changes a TTL with `collMod`. Updates are single-round-trip pipeline upserts (see
 * {@link updatePipeline}) that apply only events newer than the stored `seq`; they are capped first
 * (prepareUpdate). Documents of the earlier system (no `created_at`, `seq`, `queue`) are read correctly
 * and listed last; `npm run migrate:mongo` backfills them.
 */
export class MongoRunStore implements RunStore {
  readonly collection: Collection<Document>;
  private readonly maxResultBytes: number;
  private readonly unknownErrorAttempts: number;
  private readonly unknownFailures = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly opts: MongoRunStoreOptions = {},
  ) {
    this.collection = db.collection(opts.collection ?? 'job_runs');
    this.maxResultBytes = opts.maxResultBytes ?? DEFAULT_RUN_RESULT_MAX_BYTES;
    this.unknownErrorAttempts = Math.max(1, opts.unknownErrorAttempts ?? DEFAULT_UNKNOWN_ERROR_ATTEMPTS);
  }

  private get namespace(): string {
    return `${this.db.databaseName}.${this.collection.collectionName}`;
  }

  /**
   * Creates the missing indexes, one `createIndex` call each (a failing one doesn't stop the others). An
   * existing index with the same keys and options under another name is used as it is; one whose TTL
   * differs is changed with `collMod` (without the privilege — readWrite lacks it — that is logged and
   * start-up goes on); one whose other options differ (e.g. the seed's sparse user index) is kept and
   * logged — `npm run migrate:mongo` rebuilds those (`rebuild: true`). Logs what it did.
   * @throws DuplicateRunIdsError when duplicate run_ids prevent the unique run_id index; IndexBuildError
   *   when another index can't be built (the others are built first).
   */
  async init(): Promise<void> {
    await this.ensureIndexes();
  }

  /**
   * {@link init}'s work; returns what it did (`differ`: the indexes rebuilt with `rebuild`, else the ones
   * kept). `rebuild`: replace indexes whose options differ — the new one is built first (on the reversed
   * keys) and the old one dropped only once it exists.
   */
  async ensureIndexes(opts: { rebuild?: boolean } = {}): Promise<IndexPlan> {
    const log = this.opts.logger;
    const existing = await this.existingIndexes();
    const ttl = await this.retentionFor(existing);
    const plan = planIndexes(existing, indexSpecs(ttl));
    for (const a of plan.adopt) log?.info({ index: a.want, existing: a.have }, 'run_store_index_adopted');
    const ttlChanged: IndexPlan['collMod'] = [];
    for (const m of plan.collMod) if (await this.changeTtl(m)) ttlChanged.push(m);
    const failures: { index: string; err: unknown }[] = [];
    const created: IndexSpec[] = [];
    for (const spec of plan.create) {
      if (await this.buildIndex(spec, failures)) created.push(spec);
    }
    const rebuilt: IndexPlan['differ'] = [];
    for (const d of plan.differ) {
      if (!opts.rebuild) {
        log?.warn(
          {
            index: d.have.name,
            want: d.want.name,
            why: d.why,
            action: 'kept; npm run migrate:mongo rebuilds it',
          },
          'run_store_index_differs',
        );
        continue;
      }
      // Never drop the old index before its replacement exists.
      if (!(await this.buildIndex(d.rebuildAs, failures))) continue;
      await this.collection.dropIndex(d.have.name);
      log?.warn({ index: d.have.name, replaced_by: d.rebuildAs.name, why: d.why }, 'run_store_index_rebuilt');
      rebuilt.push(d);
    }
    if (created.length) log?.info({ indexes: created.map((c) => c.name) }, 'run_store_indexes_created');
    const duplicate = failures.find(
      (f) => f.err instanceof MongoServerError && classifyWriteCode(f.err.code) === 'duplicate',
    );
    if (duplicate) {
      for (const f of failures) {
        if (f !== duplicate) log?.error({ err: f.err, index: f.index }, 'run_store_index_not_built');
      }
      throw new DuplicateRunIdsError(this.namespace, duplicate.index, (duplicate.err as Error).message);
    }
    if (failures.length) {
      throw new IndexBuildError(
        this.namespace,
        failures.map((f) => ({ index: f.index, reason: (f.err as Error)?.message ?? String(f.err) })),
      );
    }
    return {
      create: created,
      adopt: plan.adopt,
      collMod: ttlChanged,
      differ: opts.rebuild ? rebuilt : plan.differ,
    };
  }

  /**
   * The TTL to ask for: the explicit retention; else the default — or, when an existing run TTL index is
   * longer, that one; or none when the collection holds runs and has no run TTL at all (a team's longer
   * history is never cut short unless RUN_RETENTION_DAYS asks for it).
   */
  private async retentionFor(existing: ExistingIndex[]): Promise<number | null> {
    if (this.opts.retentionSeconds !== undefined) return this.opts.retentionSeconds;
    const ttls = existingRetention(existing, indexSpecs(RUN_RETENTION_SECONDS));
    const keepAll =
      ttls.length === 0 && (await this.collection.findOne({}, { projection: { _id: 1 } })) !== null;
    const longest = Math.max(0, ...ttls);
    if (!keepAll && longest <= RUN_RETENTION_SECONDS) return RUN_RETENTION_SECONDS;
    this.opts.logger?.warn(
      {
        collection: this.namespace,
        existing_ttl_seconds: keepAll ? null : longest,
        default_ttl_seconds: RUN_RETENTION_SECONDS,
        action: keepAll
          ? 'the collection holds runs and expires none: no TTL index added (runs are kept); set RUN_RETENTION_DAYS to expire them'
          : 'kept the longer TTL for every run TTL index; set RUN_RETENTION_DAYS to choose the retention',
      },
      'run_store_retention_kept',
    );
    return keepAll ? null : longest;
  }

  /** Changes a TTL with collMod; without the privilege, logs what stays and returns false. */
  private async changeTtl(m: IndexPlan['collMod'][number]): Promise<boolean> {
    const log = this.opts.logger;
    try {
      await this.db.command({
        collMod: this.collection.collectionName,
        index: { keyPattern: m.key, expireAfterSeconds: m.to },
      });
    } catch (err) {
      if (!(err instanceof MongoServerError) || err.code !== 13) throw err;
      log?.warn(
        {
          err,
          index: m.name,
          ttl_seconds: m.from,
          wanted_ttl_seconds: m.to,
          effect:
            m.from < m.to
              ? `runs are still deleted ${m.from} s after their time, before the retention`
              : `runs are kept ${m.from} s, longer than the retention`,
          action: 'collMod needs the dbAdmin role (readWrite lacks it): run it as an admin, or grant collMod',
        },
        'run_store_index_ttl_not_changed',
      );
      return false;
    }
    log?.warn({ index: m.name, from: m.from, to: m.to }, 'run_store_index_ttl_changed');
    return true;
  }

  /** One createIndex call; a failure is collected (and false returned), never thrown here. */
  private async buildIndex(spec: IndexSpec, failures: { index: string; err: unknown }[]): Promise<boolean> {
    try {
      await this.collection.createIndex(spec.key, indexOptions(spec));
      return true;
    } catch (err) {
      if (!(err instanceof MongoError) || classifyError(err) === 'transient') throw err;
      failures.push({ index: spec.name, err });
      return false;
    }
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
   * Writes the updates in rounds (see {@link roundsOf}), each in unordered bulk writes of one command
   * each. An update MongoDB refuses for good (over 16 MiB, invalid, a known permanent code, a second
   * duplicate key, or an unknown code {@link MongoRunStoreOptions.unknownErrorAttempts} times) is logged
   * (`run_store_update_rejected`), replaced by a tracking-error update (same status and times, an error log
   * line, no result) and skipped; it never blocks the others or later batches. Throws for what a retry may
   * fix (network, elections, write concern, timeouts — see mongo-write-errors.ts), so the caller retries
   * the batch; what was written already is written again idempotently.
   */
  async apply(updates: RunUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const prepared = updates.map((u) => prepareUpdate(u, this.maxResultBytes));
    for (const round of roundsOf(prepared)) {
      const { ops, oversized } = buildOps(round);
      const rejected = [...oversized];
      for (const chunk of chunkOps(ops)) rejected.push(...(await this.writeOps(chunk, false)));
      for (const r of rejected) await this.recordRejected(r);
    }
  }

  /**
   * One unordered bulk write (one command); returns the updates refused for good. A command refused as a
   * whole is retried op by op to find the one at fault. `duplicateRetried`: this is the second try after a
   * duplicate key (a second one is permanent).
   */
  private async writeOps(ops: BuiltOp[], duplicateRetried: boolean): Promise<RejectedUpdate[]> {
    if (ops.length === 0) return [];
    try {
      await this.collection.bulkWrite(
        ops.map((o) => o.op),
        { ordered: false },
      );
      this.forgetFailures(ops);
      return [];
    } catch (err) {
      const failure = readBulkFailure(err);
      if (!failure) throw err;
      if (failure.whole) {
        const { kind, code, message } = failure.whole;
        if (kind === 'transient') throw err;
        // Refused as a whole (e.g. nesting too deep): find the op at fault by writing them one by one.
        if (ops.length > 1) {
          const rejected: RejectedUpdate[] = [];
          for (const o of ops) rejected.push(...(await this.writeOps([o], duplicateRetried)));
          return rejected;
        }
        const why = `MongoDB refused the update${code === undefined ? '' : ` (code ${code})`}: ${message}`;
        if (kind === 'permanent' || this.noteFailure(ops[0]) >= this.unknownErrorAttempts) {
          return [{ update: ops[0].update, reason: this.reasonFor(kind, why) }];
        }
        throw err;
      }
      const rejected: RejectedUpdate[] = [];
      const again: BuiltOp[] = [];
      // A write-concern error: what was written may not last; everything is retried (idempotent).
      let retry = failure.writeConcernError !== null;
      const failed = new Set<number>();
      for (const we of failure.writeErrors) {
        const o = ops[we.index];
        if (!o) throw err; // a statement we did not send: the reply is not understood, retry
        failed.add(we.index);
        const kind = classifyWriteCode(we.code);
        const why = `MongoDB refused the update (code ${we.code ?? 'none'}): ${we.errmsg}`;
        if (kind === 'duplicate' && !duplicateRetried) again.push(o);
        else if (kind === 'duplicate' || kind === 'permanent')
          rejected.push({ update: o.update, reason: why });
        else if (kind === 'unknown' && this.noteFailure(o) >= this.unknownErrorAttempts) {
          rejected.push({ update: o.update, reason: this.reasonFor(kind, why) });
        } else retry = true;
      }
      this.forgetFailures(ops.filter((_, i) => !failed.has(i)));
      // A duplicate-key race: the run exists now, so the update matches it on the second try.
      if (again.length) rejected.push(...(await this.writeOps(again, true)));
      if (retry) {
        for (const r of rejected) await this.recordRejected(r);
        throw err;
      }
      return rejected;
    }
  }

  private reasonFor(kind: string, why: string): string {
    return kind === 'unknown'
      ? `${why} (an error code jobs-monitor does not know, refused ${this.unknownErrorAttempts} times in a row: treated as permanent)`
      : why;
  }

  /** Counts one more unknown-code refusal of this op's run; returns the count. */
  private noteFailure(o: BuiltOp): number {
    const id = o.update.run_id;
    const n = (this.unknownFailures.get(id) ?? 0) + 1;
    this.unknownFailures.delete(id);
    this.unknownFailures.set(id, n);
    if (this.unknownFailures.size > MAX_TRACKED_FAILURES) {
      this.unknownFailures.delete(this.unknownFailures.keys().next().value as string);
    }
    return n;
  }

  private forgetFailures(ops: BuiltOp[]): void {
    if (this.unknownFailures.size === 0) return;
    for (const o of ops) this.unknownFailures.delete(o.update.run_id);
  }

  /**
   * Logs a refused update and writes its tracking error (with the original's upsert rule: a marks-only
   * update never creates a run). If that write fails in a way a retry may fix, throws (the batch is
   * retried); if it is refused too, logs and skips.
   */
  private async recordRejected(r: RejectedUpdate): Promise<void> {
    const log = this.opts.logger;
    log?.error({ run_id: r.update.run_id, seq: r.update.seq, reason: r.reason }, 'run_store_update_rejected');
    this.unknownFailures.delete(r.update.run_id);
    try {
      await this.collection.updateOne(
        { run_id: r.update.run_id },
        updatePipeline(trackingErrorUpdate(r.update, r.reason)),
        { upsert: !isMarksOnly(r.update) },
      );
    } catch (err) {
      if (classifyError(err) === 'transient') throw err;
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
