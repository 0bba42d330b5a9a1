import type { AnyBulkWriteOperation, Collection, Db, Document, Filter } from 'mongodb';
import {
  ACTIVE_STATUSES,
  FINISHED_STATUSES,
  type JobRun,
  MAX_RUN_LOGS,
  RUN_RETENTION_SECONDS,
  RUN_STATUSES,
  type RunStatus,
  type RunUpdate,
} from '../monitor/run';
import {
  DEFAULT_STATS_SAMPLE,
  decodeCursor,
  encodeCursor,
  type FinishedRunSample,
  type RunStatsSample,
  pageSize,
  type RunPage,
  type RunQuery,
  type RunStore,
} from '../monitor/run-store';

/** The document shape: JobRun with real Dates for the time fields (TTL and range queries need them). */
type RunDoc = Omit<JobRun, 'created_at' | 'started_at' | 'ended_at'> & {
  created_at: Date;
  started_at: Date | null;
  ended_at: Date | null;
};

const DATE_FIELDS = new Set(['created_at', 'started_at', 'ended_at']);
const lit = (v: unknown) => ({ $literal: v });
const toDate = (v: unknown) => (typeof v === 'string' ? new Date(v) : v);

/**
 * RunStore on MongoDB (production), collection `job_runs`. Indexes: {job_id:1, started_at:-1},
 * {status:1}, TTL {started_at:-1} after 7 days, sparse {user_id:1, job_id:1}; plus a unique run_id, a
 * created_at sort index for paging, and a second TTL on created_at so runs that never started expire too.
 * Updates are single-round-trip pipeline upserts that apply only events newer than the stored `seq`.
 */
export class MongoRunStore implements RunStore {
  readonly collection: Collection<RunDoc>;

  constructor(
    private readonly db: Db,
    private readonly opts: {
      collection?: string;
      retentionSeconds?: number;
      onClose?: () => Promise<void>;
    } = {},
  ) {
    this.collection = db.collection<RunDoc>(opts.collection ?? 'job_runs');
  }

  async init(): Promise<void> {
    const ttl = this.opts.retentionSeconds ?? RUN_RETENTION_SECONDS;
    await this.collection.createIndexes([
      { key: { run_id: 1 }, name: 'run_id_unique', unique: true },
      { key: { job_id: 1, started_at: -1 }, name: 'job_id_started_at' },
      { key: { status: 1 }, name: 'status' },
      { key: { started_at: -1 }, name: 'started_at_ttl', expireAfterSeconds: ttl },
      { key: { user_id: 1, job_id: 1 }, name: 'user_id_job_id', sparse: true },
      { key: { created_at: -1, run_id: -1 }, name: 'created_at_run_id' },
      { key: { job_id: 1, created_at: -1, run_id: -1 }, name: 'job_id_created_at' },
      { key: { status: 1, created_at: -1, run_id: -1 }, name: 'status_created_at' },
      { key: { created_at: 1 }, name: 'created_at_ttl', expireAfterSeconds: ttl },
    ]);
  }

  async apply(updates: RunUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const ops: AnyBulkWriteOperation<RunDoc>[] = updates.map((u) => ({
      updateOne: { filter: { run_id: u.run_id }, update: updatePipeline(u) as Document[], upsert: true },
    }));
    // Ordered: a run's updates in one batch must apply in order.
    await this.collection.bulkWrite(ops, { ordered: true });
  }

  async get(runId: string): Promise<JobRun | null> {
    const doc = await this.collection.findOne({ run_id: runId }, { projection: { _id: 0 } });
    return doc ? fromDoc(doc) : null;
  }

  async list(query: RunQuery): Promise<RunPage> {
    const limit = pageSize(query.limit);
    const filter: Filter<RunDoc> = {};
    if (query.job_id) filter.job_id = query.job_id;
    if (query.status?.length) filter.status = { $in: query.status };
    if (query.user_id) filter.user_id = query.user_id;
    if (query.trigger) filter.trigger = query.trigger;
    const and: Filter<RunDoc>[] = [];
    if (query.since !== undefined) and.push({ created_at: { $gte: new Date(query.since) } });
    if (query.before !== undefined) and.push({ created_at: { $lt: new Date(query.before) } });
    const after = query.cursor ? decodeCursor(query.cursor) : null;
    if (after) {
      const at = new Date(after.createdAtMs);
      and.push({ $or: [{ created_at: { $lt: at } }, { created_at: at, run_id: { $lt: after.runId } }] });
    }
    if (and.length) filter.$and = and;
    const docs = await this.collection
      .find(filter, { projection: { _id: 0, logs: 0 } })
      .sort({ created_at: -1, run_id: -1 })
      .limit(limit + 1)
      .toArray();
    const runs = docs.slice(0, limit).map((d) => fromDoc({ ...d, logs: [] }));
    const last = runs[runs.length - 1];
    return {
      runs,
      next_cursor:
        docs.length > limit && last ? encodeCursor(Date.parse(last.created_at), last.run_id) : null,
    };
  }

  async countActive(): Promise<Record<string, number>> {
    const rows = await this.collection
      .aggregate<{ _id: string; n: number }>([
        { $match: { status: { $in: [...ACTIVE_STATUSES] } } },
        { $group: { _id: '$job_id', n: { $sum: 1 } } },
      ])
      .toArray();
    return Object.fromEntries(rows.map((r) => [r._id, r.n]));
  }

  /** One aggregation on the {job_id, created_at} index: counts by status and the newest finished runs. */
  async stats(jobId: string, since: number, sample = DEFAULT_STATS_SAMPLE): Promise<RunStatsSample> {
    const [out] = await this.collection
      .aggregate<{ counts: { _id: RunStatus; n: number }[]; finished: Document[] }>([
        { $match: { job_id: jobId, created_at: { $gte: new Date(since) } } },
        {
          $facet: {
            counts: [{ $group: { _id: '$status', n: { $sum: 1 } } }],
            finished: [
              { $match: { status: { $in: [...FINISHED_STATUSES] } } },
              { $sort: { created_at: -1, run_id: -1 } },
              { $limit: sample },
              { $project: { _id: 0, run_id: 1, status: 1, created_at: 1, duration_ms: 1 } },
            ],
          },
        },
      ])
      .toArray();
    const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
    for (const c of out?.counts ?? []) counts[c._id] = c.n;
    const finished: FinishedRunSample[] = (out?.finished ?? []).map((d) => ({
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

/**
 * One update as an aggregation pipeline: create the run from its identity if new; then, only when the
 * update's seq is newer than the stored one, set the patch and append the logs newer than the stored seq.
 */
function updatePipeline(u: RunUpdate): Document[] {
  const identity: Record<string, unknown> = {
    ...u.identity,
    created_at: new Date(u.identity.created_at),
    status: 'pending',
    progress: 0,
    total_items: null,
    processed_items: null,
    started_at: null,
    ended_at: null,
    duration_ms: null,
    attempts: 0,
    stalls: 0,
    worker: null,
    logs: [],
    error_message: null,
    result: null,
  };
  const setIdentity: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(identity)) setIdentity[k] = { $ifNull: [`$${k}`, lit(v)] };
  // user_id must stay absent (not null) for the sparse index to skip it.
  if (u.identity.user_id === null) delete setIdentity.user_id;

  const newer = { $gt: [lit(u.seq), { $ifNull: ['$seq', ''] }] };
  const setPatch: Record<string, unknown> = {
    seq: { $cond: [newer, lit(u.seq), { $ifNull: ['$seq', lit(u.seq)] }] },
  };
  for (const [k, v] of Object.entries(u.patch)) {
    if (v === undefined) continue;
    setPatch[k] = { $cond: [newer, lit(DATE_FIELDS.has(k) ? toDate(v) : v), `$${k}`] };
  }
  if (u.logs.length) {
    const fresh = {
      $filter: { input: lit(u.logs), cond: { $gt: ['$$this.seq', { $ifNull: ['$seq', ''] }] } },
    };
    setPatch.logs = {
      $cond: [
        newer,
        { $slice: [{ $concatArrays: [{ $ifNull: ['$logs', []] }, fresh] }, -MAX_RUN_LOGS] },
        '$logs',
      ],
    };
  }
  return [{ $set: setIdentity }, { $set: setPatch }];
}

function fromDoc(doc: RunDoc | Document): JobRun {
  const d = doc as RunDoc & { _id?: unknown };
  const { _id, ...rest } = d;
  const iso = (v: Date | null | undefined) => (v instanceof Date ? v.toISOString() : (v ?? null));
  return {
    ...rest,
    user_id: rest.user_id ?? null,
    created_at: iso(rest.created_at) as string,
    started_at: iso(rest.started_at),
    ended_at: iso(rest.ended_at),
    logs: (rest.logs ?? []).map(({ time, level, message }) => ({ time, level, message })),
  } as JobRun;
}
