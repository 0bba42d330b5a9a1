/**
 * The MongoDB run store's documents, filters and pipelines as pure functions. MongoRunStore sends exactly
 * these objects, and test/unit/mongo-run-docs.test.ts evaluates the same objects with mingo (an independent
 * implementation of MongoDB's query and aggregation language) against documents of both shapes: the ones
 * this store writes, and the earlier system's (no `created_at`, `seq`, `queue`; numeric `user_id`).
 */
import type { CreateIndexesOptions, Document } from 'mongodb';
import {
  FINISHED_STATUSES,
  type JobRun,
  MAX_RUN_ATTEMPTS,
  MAX_RUN_LOGS,
  newRun,
  RUN_STATUSES,
  type RunStatus,
  type RunUpdate,
} from '../monitor/run';
import {
  decodeCursor,
  decodeUntimedCursor,
  encodeCursor,
  encodeUntimedCursor,
  MAX_CURSOR_VALUE_CHARS,
  type RunQuery,
  type UntimedPosition,
} from '../monitor/run-store';

const lit = (v: unknown) => ({ $literal: v });
const DATE_FIELDS = new Set(['created_at', 'started_at', 'ended_at']);
/** ISO string → Date; an unparsable time becomes null (never 1970 or an Invalid Date). */
function toDate(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? new Date(ms) : null;
}

/** The sort of every list: newest first, ties by run_id. Documents without `created_at` sort last. */
export const LIST_SORT = { created_at: -1, run_id: -1 } as const;

/** One wanted index: key, name and the options that must match (see {@link planIndexes}). */
export interface IndexSpec {
  key: Record<string, 1 | -1>;
  name: string;
  unique?: boolean;
  expireAfterSeconds?: number;
  partialFilterExpression?: Document;
}

/** Partial filter of the user indexes: only runs tied to a user (a sparse compound index would take all). */
export const USER_PARTIAL = { user_id: { $exists: true } };
/** Partial filter of the stuck index: only runs flagged stuck now. */
export const STUCK_PARTIAL = { stuck: true };
/** Key of the index the stats counts are covered by. */
export const STATS_INDEX_KEY = { job_id: 1, status: 1, created_at: -1, run_id: -1 } as const;

/**
 * The indexes of `job_runs`: the seed's four (job_id+started_at, status, TTL on started_at, user_id+job_id
 * — partial instead of sparse), a unique run_id, one index per list filter that also sorts by created_at,
 * the stats index, and a TTL on created_at so runs that never started expire too. `ttlSeconds` null: no
 * TTL index (a team's collection that expires nothing keeps its runs; see MongoRunStore.init).
 */
export function indexSpecs(ttlSeconds: number | null): IndexSpec[] {
  const ttl = (spec: IndexSpec): IndexSpec[] =>
    ttlSeconds === null ? [] : [{ ...spec, expireAfterSeconds: ttlSeconds }];
  return [
    { key: { run_id: 1 }, name: 'run_id_unique', unique: true },
    { key: { job_id: 1, started_at: -1 }, name: 'job_id_started_at' },
    { key: { status: 1 }, name: 'status' },
    ...ttl({ key: { started_at: -1 }, name: 'started_at_ttl' }),
    { key: { user_id: 1, job_id: 1 }, name: 'user_id_job_id', partialFilterExpression: USER_PARTIAL },
    { key: { created_at: -1, run_id: -1 }, name: 'created_at_run_id' },
    { key: { job_id: 1, created_at: -1, run_id: -1 }, name: 'job_id_created_at' },
    { key: { status: 1, created_at: -1, run_id: -1 }, name: 'status_created_at' },
    {
      key: { user_id: 1, created_at: -1, run_id: -1 },
      name: 'user_id_created_at',
      partialFilterExpression: USER_PARTIAL,
    },
    { key: { trigger: 1, created_at: -1, run_id: -1 }, name: 'trigger_created_at' },
    { key: { ...STATS_INDEX_KEY }, name: 'job_id_status_created_at' },
    ...ttl({ key: { created_at: 1 }, name: 'created_at_ttl' }),
    // #12: the runs flagged stuck now (few), newest first.
    {
      key: { stuck: 1, created_at: -1, run_id: -1 },
      name: 'stuck_created_at',
      partialFilterExpression: STUCK_PARTIAL,
    },
    // #13: search terms (multikey), newest first; run_id and user_id have their own indexes.
    { key: { search: 1, created_at: -1, run_id: -1 }, name: 'search_created_at' },
  ];
}

/** An index as `listIndexes` returns it (the fields planIndexes compares). */
export interface ExistingIndex {
  name: string;
  key: Record<string, unknown>;
  unique?: boolean;
  sparse?: boolean;
  expireAfterSeconds?: number;
  partialFilterExpression?: Document;
}

/** What init() does about each wanted index, given the collection's existing ones. */
export interface IndexPlan {
  /** Missing: create them, one per call (with a changed name when an unrelated index already holds the wanted name). */
  create: IndexSpec[];
  /** Same keys (or all of them reversed, which serves the same queries) and options under another name: used as they are. */
  adopt: { want: string; have: string }[];
  /** Same keys, TTL only differs: changed with `collMod` (MongoDB refuses a second index or createIndexes). */
  collMod: { name: string; key: Record<string, unknown>; from: number; to: number }[];
  /**
   * Same keys, other options differ (unique, sparse, partial, TTL on/off): kept; `npm run migrate:mongo`
   * rebuilds them — it builds `rebuildAs` (the wanted index on the reversed keys, since MongoDB refuses two
   * indexes on the same keys) and drops the old one only once the new one exists.
   */
  differ: { want: IndexSpec; have: ExistingIndex; why: string; rebuildAs: IndexSpec }[];
}

const keyOf = (k: Record<string, unknown>) =>
  JSON.stringify(Object.entries(k).map(([f, v]) => [f, Number(v)]));
/** The key pattern with every direction reversed: an index on it serves the same filters and sorts. */
export function mirrorKey(k: Record<string, unknown>): Record<string, 1 | -1> {
  return Object.fromEntries(Object.entries(k).map(([f, v]) => [f, Number(v) < 0 ? 1 : -1]));
}
/** True when the two key patterns are equal or one is the other reversed. */
export function sameKeys(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return keyOf(a) === keyOf(b) || keyOf(mirrorKey(a)) === keyOf(b);
}
const json = (v: unknown) => (v === undefined ? 'none' : JSON.stringify(v));

/** Why an existing index with the wanted keys can't serve as the wanted one ('' when it can). */
function optionsDiffer(have: ExistingIndex, want: IndexSpec): string {
  const why: string[] = [];
  if (!!have.unique !== !!want.unique) why.push(`unique ${!!have.unique} (want ${!!want.unique})`);
  if (have.sparse) why.push('sparse (want a partial index)');
  if (json(have.partialFilterExpression) !== json(want.partialFilterExpression))
    why.push(`partial ${json(have.partialFilterExpression)} (want ${json(want.partialFilterExpression)})`);
  if ((have.expireAfterSeconds === undefined) !== (want.expireAfterSeconds === undefined))
    why.push(`TTL ${json(have.expireAfterSeconds)} (want ${json(want.expireAfterSeconds)})`);
  return why.join('; ');
}

/**
 * Compares wanted indexes with existing ones by key pattern (or its reverse), not by name (MongoDB refuses
 * a second index with the same keys and options under another name, code 85 IndexOptionsConflict, and an
 * index name reused with other keys or options, code 86 IndexKeySpecsConflict).
 */
export function planIndexes(existing: ExistingIndex[], wanted: IndexSpec[]): IndexPlan {
  const plan: IndexPlan = { create: [], adopt: [], collMod: [], differ: [] };
  const names = new Set(existing.map((i) => i.name));
  const freeName = (base: string) => {
    let name = base;
    for (let n = 2; names.has(name); n++) name = `${base}_${n}`;
    names.add(name);
    return name;
  };
  for (const want of wanted) {
    const candidates = existing.filter((i) => sameKeys(i.key, want.key));
    const have = candidates.find((i) => !optionsDiffer(i, want)) ?? candidates[0];
    if (!have) {
      plan.create.push({ ...want, name: freeName(want.name) });
      continue;
    }
    const why = optionsDiffer(have, want);
    if (why) {
      const mirrored = mirrorKey(have.key);
      const taken = existing.some((i) => keyOf(i.key) === keyOf(mirrored));
      plan.differ.push({
        want,
        have,
        why,
        // Reversed keys unless an index already has them (then the same keys: MongoDB would refuse it,
        // and the migration reports that instead of dropping anything).
        rebuildAs: { ...want, key: taken ? { ...want.key } : mirrored, name: freeName(want.name) },
      });
      continue;
    }
    if (want.expireAfterSeconds !== undefined && have.expireAfterSeconds !== want.expireAfterSeconds) {
      plan.collMod.push({
        name: have.name,
        key: have.key,
        from: have.expireAfterSeconds as number,
        to: want.expireAfterSeconds,
      });
    }
    if (have.name !== want.name) plan.adopt.push({ want: want.name, have: have.name });
  }
  return plan;
}

/**
 * The TTLs (seconds) of the existing indexes that expire runs: those on the keys of the wanted TTL
 * indexes (`started_at`, `created_at`, either direction).
 */
export function existingRetention(existing: ExistingIndex[], wanted: IndexSpec[]): number[] {
  const ttlKeys = wanted.filter((w) => w.expireAfterSeconds !== undefined).map((w) => w.key);
  return existing
    .filter((i) => typeof i.expireAfterSeconds === 'number' && ttlKeys.some((k) => sameKeys(i.key, k)))
    .map((i) => i.expireAfterSeconds as number);
}

/**
 * Finds the run_ids held by more than one document (they prevent the unique run_id index). Run it with
 * `allowDiskUse: true` on a large collection; the README gives it for mongosh.
 */
export const DUPLICATE_RUN_IDS_PIPELINE: Document[] = [
  { $group: { _id: '$run_id', n: { $sum: 1 }, ids: { $push: '$_id' } } },
  { $match: { n: { $gt: 1 } } },
];

/** An IndexSpec's options as createIndex takes them (everything but the key). */
export function indexOptions(s: IndexSpec): CreateIndexesOptions {
  const { key: _key, ...options } = s;
  return options;
}

/**
 * One update as an aggregation pipeline (upsert on `{run_id}`), the same rules as applyRunUpdate and the
 * Redis store's Lua:
 * 1. a new run (no `job_id` yet) gets its identity and defaults — only then; a later update, even a stale
 *    one, never re-fills identity fields;
 * 2. the patch applies only when the run is new or has no `seq` (documents of the earlier system), or the
 *    update's `seq` is greater than the stored one — so a new run written with `seq: ''` keeps its patch,
 *    and a repeated `''` changes nothing;
 * 3. logs newer than the stored `seq` are appended, keeping the last {@link MAX_RUN_LOGS}.
 */
export function updatePipeline(u: RunUpdate): Document[] {
  // The fresh document is the run model's new run; `seq` stays absent (every update is newer than none).
  const {
    run_id: _id,
    seq: _seq,
    user_id: _user,
    search: _search,
    ...base
  } = newRun(u.run_id, u.identity) as JobRun & { search?: string[] };
  const fresh: Record<string, unknown> = { ...base, created_at: toDate(u.identity.created_at) };

  // user_id stays absent (not null) so the partial user indexes skip the run.
  if (u.identity.user_id !== null) fresh.user_id = u.identity.user_id;
  const terms = searchTermsOf(u);
  if (terms.length) fresh.search = terms;
  const isNew = { $eq: [{ $type: '$job_id' }, 'missing'] };
  const create = {
    $replaceWith: { $cond: [isNew, { $mergeObjects: [lit(fresh), '$$ROOT'] }, '$$ROOT'] },
  };

  const newer = { $or: [{ $eq: [{ $type: '$seq' }, 'missing'] }, { $gt: [lit(u.seq), '$seq'] }] };
  const setPatch: Record<string, unknown> = { seq: { $cond: [newer, lit(u.seq), '$seq'] } };
  for (const [k, v] of Object.entries(u.patch)) {
    if (v === undefined) continue;
    setPatch[k] = { $cond: [newer, lit(DATE_FIELDS.has(k) ? toDate(v) : v), `$${k}`] };
  }
  if (u.logs.length) {
    const storedSeq = { $ifNull: ['$seq', ''] };
    const lines = u.logs.map((l) => ({ time: l.time, level: l.level, message: l.message, seq: l.seq ?? '' }));
    const freshLogs = { $filter: { input: lit(lines), cond: { $gt: ['$$this.seq', storedSeq] } } };
    setPatch.logs = {
      $cond: [
        newer,
        { $slice: [{ $concatArrays: [{ $ifNull: ['$logs', []] }, freshLogs] }, -MAX_RUN_LOGS] },
        '$logs',
      ],
    };
  }
  // The stored list, plus the record of an attempt that ended without one when this update begins a later
  // attempt (its worker died: stalled from its stored start and worker), as applyRunUpdate's stalledAttempt.
  let list: unknown = { $ifNull: ['$attempts_log', []] };
  let listChanged = false;
  const nextAttempts = u.patch.attempts;
  if (typeof nextAttempts === 'number') {
    const stored = { $ifNull: ['$attempts', 0] };
    const stalledNeeded = {
      $and: [
        newer,
        { $gte: [stored, 1] },
        { $gt: [lit(nextAttempts), stored] },
        { $ne: [{ $ifNull: ['$started_at', null] }, null] },
        { $not: [{ $in: [{ $ifNull: ['$status', 'pending'] }, lit([...FINISHED_STATUSES])] }] },
        { $not: [{ $in: [stored, { $ifNull: ['$attempts_log.attempt', []] }] }] },
        ...(u.attempt ? [{ $ne: [stored, lit(u.attempt.attempt)] }] : []),
      ],
    };
    const stalledRecord = {
      attempt: stored,
      // MongoDB formats dates in UTC unless told otherwise.
      started_at: { $dateToString: { date: '$started_at', format: '%Y-%m-%dT%H:%M:%S.%LZ' } },
      ended_at: lit(u.patch.started_at ?? null),
      worker: { $ifNull: ['$worker', null] },
      outcome: 'stalled',
      error: null,
    };
    list = {
      $cond: [
        stalledNeeded,
        {
          $concatArrays: [
            { $filter: { input: list, cond: { $lt: ['$$this.attempt', stored] } } },
            [stalledRecord],
            { $filter: { input: list, cond: { $gt: ['$$this.attempt', stored] } } },
          ],
        },
        list,
      ],
    };
    listChanged = true;
  }
  if (u.attempt) {
    // Upsert by number into a list kept in order: the ones before it, it, the ones after it.
    const n = u.attempt.attempt;
    const merged = {
      $concatArrays: [
        { $filter: { input: list, cond: { $lt: ['$$this.attempt', n] } } },
        [lit(u.attempt)],
        { $filter: { input: list, cond: { $gt: ['$$this.attempt', n] } } },
      ],
    };
    // Newer: upsert. Older: only when the run has no record of this attempt (attempts are history).
    const known = { $in: [n, { $ifNull: ['$attempts_log.attempt', []] }] };
    setPatch.attempts_log = {
      $cond: [{ $or: [newer, { $not: [known] }] }, { $slice: [merged, -MAX_RUN_ATTEMPTS] }, '$attempts_log'],
    };
  } else if (listChanged) {
    setPatch.attempts_log = { $slice: [list, -MAX_RUN_ATTEMPTS] };
  }
  const stages: Document[] = [create, { $set: setPatch }];
  // Marks: whatever the seq; the stuck fields only while the run is not finished.
  const finished = { $in: ['$status', lit([...FINISHED_STATUSES])] };
  const marks: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(u.marks ?? {})) {
    if (v === undefined) continue;
    const value = k === 'stuck_since' ? toDate(v) : v;
    marks[k] = k === 'retried_by' ? lit(value) : { $cond: [finished, `$${k}`, lit(value)] };
  }
  if (Object.keys(marks).length) stages.push({ $set: marks });
  // A finished run is never stuck (the monitor's flag is cleared when the run ends).
  const clear = { $and: [finished, { $eq: ['$stuck', true] }] };
  stages.push({
    $set: {
      stuck: { $cond: [clear, false, '$stuck'] },
      stuck_reason: { $cond: [clear, null, '$stuck_reason'] },
      stuck_since: { $cond: [clear, null, '$stuck_since'] },
    },
  });
  return stages;
}

/**
 * A new run's `search` array: its search terms, plus its run id and user id lowercased when they differ
 * from their stored form (so `RunQuery.q`, compared lowercased, matches them through the index).
 */
export function searchTermsOf(u: RunUpdate): string[] {
  const norm = (s: string) => s.trim().toLowerCase();
  const out = new Set((u.identity.search ?? []).map(norm).filter((t) => t.length > 0));
  if (norm(u.run_id) && norm(u.run_id) !== u.run_id) out.add(norm(u.run_id));
  const user = u.identity.user_id;
  if (user && norm(user) && norm(user) !== user) out.add(norm(user));
  return [...out];
}

/**
 * Where a list page ends: after a run with a time `created_at` (a normal cursor, shared with the other
 * stores), or after one whose stored `created_at` is not a time (see {@link UntimedPosition}).
 */
export type ListPosition = { createdAtMs: number; runId: string } | UntimedPosition;

/** Encodes a list position; positions among untimed documents get their own form (never `Date.parse(null)`). */
export function encodeListCursor(pos: ListPosition): string {
  return 'kind' in pos ? encodeUntimedCursor(pos) : encodeCursor(pos.createdAtMs, pos.runId);
}

/** Decodes {@link encodeListCursor}'s cursors; null for anything else (→ first page). */
export function decodeListCursor(cursor: string): ListPosition | null {
  return decodeCursor(cursor) ?? decodeUntimedCursor(cursor);
}

/** The filter every page of a query shares (everything but the position and the time range). */
function baseFilter(query: RunQuery): Document {
  const filter: Document = {};
  if (query.job_id) filter.job_id = query.job_id;
  if (query.status?.length) filter.status = { $in: query.status };
  if (query.user_id) filter.user_id = query.user_id;
  if (query.trigger) filter.trigger = query.trigger;
  if (query.stuck === true) filter.stuck = true;
  if (query.stuck === false) filter.stuck = { $ne: true };
  return filter;
}

const withAnd = (filter: Document, and: Document[]): Document =>
  and.length ? { ...filter, $and: and } : { ...filter };

/** Every number, NaN included (MongoDB sorts NaN below every other number; a range never matches it). */
const NUMBERS = [{ created_at: { $gte: Number.NEGATIVE_INFINITY } }, { created_at: Number.NaN }];

/** What sorts after an untimed position in {@link LIST_SORT} (see {@link UntimedPosition}). */
function afterUntimed(pos: UntimedPosition): Document[] {
  const runBefore = { run_id: { $lt: pos.runId } };
  const nulls = [{ created_at: null, ...runBefore }];
  if (pos.kind === 'null') return nulls;
  const rest = [{ created_at: null }];
  if (pos.kind === 'number') {
    if (Number.isNaN(pos.value)) return [{ created_at: Number.NaN, ...runBefore }, ...rest];
    return [
      { created_at: pos.value, ...runBefore },
      { created_at: { $lt: pos.value } },
      { created_at: Number.NaN },
      ...rest,
    ];
  }
  if (pos.kind === 'string') {
    return [{ created_at: pos.value, ...runBefore }, { created_at: { $lt: pos.value } }, ...NUMBERS, ...rest];
  }
  // Other types (booleans, objects, ObjectIds…) sort before strings: the ones left after this position
  // are skipped (the migration gives them a time), never listed twice.
  return [{ created_at: { $type: 'string' } }, ...NUMBERS, ...rest];
}

/**
 * The filters of one list page, to read in this order (each sorted by {@link LIST_SORT}) until the page
 * is full. Runs with a time `created_at` come first, newest first; the documents of the earlier system
 * whose `created_at` is missing, null, a string or a number (until `npm run migrate:mongo` fixes them)
 * sort after them, and a page after a normal cursor reads them with a second query once the timed ones
 * run out. Time filters (`since`, `before`) match timed runs only. Each filter is index-friendly: the
 * position bounds `created_at` (`$lte`) and the tie on run_id is checked on the index keys.
 */
export function listQueries(query: RunQuery, after: ListPosition | null): Document[] {
  const filter = baseFilter(query);
  const and: Document[] = [];
  const q = query.q?.trim().toLowerCase();
  if (q) and.push({ $or: [{ run_id: q }, { user_id: q }, { search: q }] }); // an empty search filters nothing
  const timed = query.since !== undefined || query.before !== undefined;
  if (query.since !== undefined) and.push({ created_at: { $gte: new Date(query.since) } });
  if (query.before !== undefined) and.push({ created_at: { $lt: new Date(query.before) } });
  if (!after) return [withAnd(filter, and)];
  if ('kind' in after) return timed ? [] : [withAnd(filter, [...and, { $or: afterUntimed(after) }])];
  const at = new Date(after.createdAtMs);
  const page = withAnd(filter, [
    ...and,
    { created_at: { $lte: at } },
    { $or: [{ created_at: { $lt: at } }, { run_id: { $lt: after.runId } }] },
  ]);
  if (timed) return [page];
  return [page, withAnd(filter, [...and, { created_at: { $not: { $type: 'date' } } }])];
}

/**
 * Reads one list page with `find` (filter, sort {@link LIST_SORT}, limit) — MongoRunStore.list passes the
 * collection's find, the mingo tests an in-memory one. Returns at most `limit` documents and the cursor
 * of the next page (null on the last).
 */
export async function readListPage(
  query: RunQuery,
  limit: number,
  find: (filter: Document, limit: number) => Promise<Document[]>,
): Promise<{ docs: Document[]; next_cursor: string | null }> {
  const after = query.cursor ? decodeListCursor(query.cursor) : null;
  const docs: Document[] = [];
  for (const filter of listQueries(query, after)) {
    docs.push(...(await find(filter, limit + 1 - docs.length)));
    if (docs.length > limit) break;
  }
  const page = docs.slice(0, limit);
  const last = page[page.length - 1];
  return {
    docs: page,
    next_cursor: docs.length > limit && last ? encodeListCursor(positionOf(last)) : null,
  };
}

/** The cursor that continues after this document (as the store read it, before {@link fromDoc}). */
export function positionOf(doc: Document): ListPosition {
  const runId = String(doc.run_id);
  const c = doc.created_at;
  if (c instanceof Date && Number.isFinite(c.getTime())) return { createdAtMs: c.getTime(), runId };
  if (c === null || c === undefined) return { kind: 'null', runId };
  if (typeof c === 'number') return { kind: 'number', value: c, runId };
  // A string longer than a cursor keeps: continue after its first characters (a prefix sorts before it,
  // so nothing is read twice; the strings between them are skipped).
  if (typeof c === 'string') return { kind: 'string', value: c.slice(0, MAX_CURSOR_VALUE_CHARS), runId };
  // A Long or Decimal128 the driver could not turn into a number: continue after every number (a rounded
  // value might sort before it and read it again).
  const bsonType = (c as { _bsontype?: unknown })._bsontype;
  if (bsonType === 'Long' || bsonType === 'Decimal128' || bsonType === 'Int32' || bsonType === 'Double') {
    return { kind: 'number', value: Number.NEGATIVE_INFINITY, runId };
  }
  return { kind: 'other', runId };
}

/** Counts of one job's runs by status since `since`: covered by the {@link STATS_INDEX_KEY} index. */
export function statsCountPipeline(jobId: string, since: number): Document[] {
  return [
    { $match: { job_id: jobId, status: { $in: [...RUN_STATUSES] }, created_at: { $gte: new Date(since) } } },
    { $group: { _id: '$status', n: { $sum: 1 } } },
  ];
}

/** The newest finished runs of one job since `since`; read with LIST_SORT and a limit (at most `sample`). */
export function statsFinishedFilter(jobId: string, since: number): Document {
  return { job_id: jobId, status: { $in: [...FINISHED_STATUSES] }, created_at: { $gte: new Date(since) } };
}
export const STATS_FINISHED_PROJECTION = { _id: 0, run_id: 1, status: 1, created_at: 1, duration_ms: 1 };

/** Active runs per job. */
export function countActivePipeline(active: readonly RunStatus[]): Document[] {
  return [{ $match: { status: { $in: [...active] } } }, { $group: { _id: '$job_id', n: { $sum: 1 } } }];
}

/** Largest time a JS Date holds (ms either side of 1970). */
const MAX_DATE_MS = 8.64e15;
/** A stored time as ISO text: a Date, a parsable string, or ms since 1970; anything else null. */
function isoOrNull(v: unknown): string | null {
  const ms =
    v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : typeof v === 'number' ? v : NaN;
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : null;
}
/** A stored user_id as text: strings as they are, numbers as their digits, other values as JSON. */
function userIdOf(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v !== 'object') return String(v);
  if ((v as { _bsontype?: unknown })._bsontype) return String(v); // ObjectId, Long…: their own text
  try {
    return JSON.stringify(v) ?? null;
  } catch {
    return null;
  }
}

/**
 * A stored document as a JobRun. Documents of the earlier system read correctly: `created_at` (a Date, ISO
 * text or ms since 1970) falls back to `started_at`, then to the ObjectId's time; missing `queue`/`seq`
 * read as ''; a numeric `user_id` as its string (an object one as its JSON); missing counters as 0.
 */
export function fromDoc(doc: Document): JobRun {
  const { _id, ...d } = doc;
  const idTime =
    _id && typeof (_id as { getTimestamp?: unknown }).getTimestamp === 'function'
      ? (_id as { getTimestamp(): Date }).getTimestamp()
      : null;
  const created =
    isoOrNull(d.created_at) ?? isoOrNull(d.started_at) ?? isoOrNull(idTime) ?? new Date(0).toISOString();
  const logs = Array.isArray(d.logs) ? d.logs : [];
  return {
    run_id: String(d.run_id),
    job_id: String(d.job_id ?? ''),
    queue: typeof d.queue === 'string' ? d.queue : '',
    status: d.status ?? 'pending',
    progress: d.progress ?? 0,
    total_items: d.total_items ?? null,
    processed_items: d.processed_items ?? null,
    created_at: created,
    started_at: isoOrNull(d.started_at),
    ended_at: isoOrNull(d.ended_at),
    duration_ms: d.duration_ms ?? null,
    trigger: d.trigger ?? 'scheduled',
    user_id: userIdOf(d.user_id),
    attempts: d.attempts ?? 0,
    stalls: d.stalls ?? 0,
    worker: d.worker ?? null,
    logs: logs.map((l: Document) => ({
      time: typeof l?.time === 'string' ? l.time : (isoOrNull(l?.time) ?? ''),
      level: l?.level ?? 'info',
      message: String(l?.message ?? ''),
    })),
    error_message: d.error_message ?? null,
    error_stack: d.error_stack ?? null,
    result: d.result ?? null,
    stuck: d.stuck === true,
    stuck_reason: d.stuck_reason ?? null,
    stuck_since: isoOrNull(d.stuck_since),
    retry_of: d.retry_of ?? null,
    retried_by: d.retried_by ?? null,
    triggered_by: d.triggered_by ?? null,
    attempts_log: Array.isArray(d.attempts_log) ? d.attempts_log : [],
    seq: typeof d.seq === 'string' ? d.seq : '',
  };
}

/**
 * Documents `npm run migrate:mongo` rewrites: the earlier system's shape (no Date `created_at`, no `seq`
 * or `queue`, missing counters) and `user_id` stored as null or a number. Once migrated a document no
 * longer matches, so a rerun changes nothing.
 */
export const MIGRATE_FILTER: Document = {
  $or: [
    { created_at: { $not: { $type: 'date' } } },
    { seq: { $exists: false } },
    { queue: { $exists: false } },
    { trigger: { $exists: false } },
    { progress: { $exists: false } },
    { attempts: { $exists: false } },
    { stalls: { $exists: false } },
    { logs: { $exists: false } },
    { user_id: { $type: 'null' } },
    { user_id: { $type: ['int', 'long', 'double', 'decimal'] } },
  ],
};

/**
 * The backfill applied to {@link MIGRATE_FILTER}'s documents: `created_at` as a date (a string or a number
 * that converts: ISO text, ms since 1970), else `started_at` (same rule), else the ObjectId's time, else
 * now; `seq` '' (any new event applies); `queue` from `queues` (job_id → queue, from the registry) else '';
 * counters 0; `user_id` null removed, numbers as strings (an object or array is left as it is: `$convert`
 * with `onError`, never a failed migration). Valid on MongoDB ≥ 4.2: `$convert`, `$indexOfArray`,
 * `$arrayElemAt` and `$let`, and its nesting depth does not grow with the number of jobs (one `$cond` per
 * job did: 120 jobs went past MongoDB's 200 levels).
 */
export function migratePipeline(queues: Record<string, string>): Document[] {
  const dateOr = (path: string) => ({ $convert: { input: path, to: 'date', onError: null, onNull: null } });
  const jobs = Object.keys(queues);
  const queueOf = {
    $let: {
      vars: { i: { $indexOfArray: [lit(jobs), '$job_id'] } },
      in: { $cond: [{ $gte: ['$$i', 0] }, { $arrayElemAt: [lit(jobs.map((j) => queues[j])), '$$i'] }, ''] },
    },
  };
  return [
    {
      $set: {
        created_at: {
          $ifNull: [
            dateOr('$created_at'),
            {
              $ifNull: [
                dateOr('$started_at'),
                {
                  $ifNull: [
                    { $convert: { input: '$_id', to: 'date', onError: null, onNull: null } },
                    '$$NOW',
                  ],
                },
              ],
            },
          ],
        },
        seq: { $ifNull: ['$seq', ''] },
        queue: { $ifNull: ['$queue', queueOf] },
        trigger: { $ifNull: ['$trigger', 'scheduled'] },
        progress: { $ifNull: ['$progress', 0] },
        attempts: { $ifNull: ['$attempts', 0] },
        stalls: { $ifNull: ['$stalls', 0] },
        logs: { $ifNull: ['$logs', []] },
        user_id: {
          $cond: [
            { $in: [{ $type: '$user_id' }, ['missing', 'null']] },
            '$$REMOVE',
            { $convert: { input: '$user_id', to: 'string', onError: '$user_id', onNull: '$user_id' } },
          ],
        },
      },
    },
  ];
}
