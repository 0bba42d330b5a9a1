import { msFromCanonicalIso } from './iso-time';

/**
 * The run model: one document in `job_runs` per execution of a job (one BullMQ job, all its attempts).
 */

/**
 * Where a run is in its life. `skipped` means the processor declined (e.g. the job was already running);
 * `cancelled` means an operator cancelled it (removed while pending, or aborted while running).
 */
/** What a run id looks like: BullMQ ids, ours (`m3fa9c2b1d4e5`) and the scheduler's (`repeat:cache_warming:1700000000000`). */
export const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9:_-]{0,127}$/;

export type RunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'cancelled';
export const RUN_STATUSES: readonly RunStatus[] = [
  'pending',
  'running',
  'completed',
  'failed',
  'skipped',
  'cancelled',
];
/** Statuses of a run that has not finished yet. */
export const ACTIVE_STATUSES: readonly RunStatus[] = ['pending', 'running'];
/** Statuses of a run that has ended. */
export const FINISHED_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'skipped', 'cancelled'];

/** Why the stuck monitor flagged a run (see stuck-rules). */
export type StuckReason = 'running_too_long' | 'not_picked_up' | 'no_workers';
export const STUCK_REASONS: readonly StuckReason[] = ['running_too_long', 'not_picked_up', 'no_workers'];

/** One attempt of a run, for the run detail's timeline. Stores keep the last {@link MAX_RUN_ATTEMPTS}. */
export interface AttemptRecord {
  /** 1 for the first attempt. */
  attempt: number;
  started_at: string | null;
  ended_at: string | null;
  worker: string | null;
  /** How the attempt ended: completed, failed, stalled (its worker stopped answering), cancelled, skipped. */
  outcome: 'completed' | 'failed' | 'stalled' | 'cancelled' | 'skipped';
  error: string | null;
}
export const MAX_RUN_ATTEMPTS = 25;
/** Lines of an error's stack a run keeps (`error_stack`). */
export const MAX_STACK_LINES = 20;

/** What started a run: a job scheduler, a person (dashboard, ChatOps, trigger API) or application code. */
export type RunTrigger = 'scheduled' | 'manual' | 'api';
export const RUN_TRIGGERS: readonly RunTrigger[] = ['scheduled', 'manual', 'api'];

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One log line a processor wrote; only the last {@link MAX_RUN_LOGS} are kept per run. */
export interface RunLog {
  /** ISO time the line was written. */
  time: string;
  level: LogLevel;
  message: string;
  /** Ordering key of the event that carried the line; used to drop duplicates on replay. */
  seq?: string;
}

export const MAX_RUN_LOGS = 50;
/** Runs are kept for 7 days unless RUN_RETENTION_DAYS says otherwise (the stores take it as an option). */
export const RUN_RETENTION_SECONDS = 7 * 24 * 3600;

/** A run as stored in `job_runs` and returned by the API. Times are ISO-8601 strings. */
export interface JobRun {
  run_id: string;
  job_id: string;
  queue: string;
  status: RunStatus;
  progress: number;
  total_items: number | null;
  processed_items: number | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  trigger: RunTrigger;
  user_id: string | null;
  attempts: number;
  stalls: number;
  worker: string | null;
  logs: RunLog[];
  error_message: string | null;
  /** First {@link MAX_STACK_LINES} lines of the last error's stack, or null. */
  error_stack: string | null;
  result: unknown;
  /** Set by the stuck monitor while the run looks stuck; cleared (false/null) when the run ends. */
  stuck: boolean;
  stuck_reason: StuckReason | null;
  stuck_since: string | null;
  /** The failed run this one retries (an operator's retry), and the run that retried this one. */
  retry_of: string | null;
  retried_by: string | null;
  /**
   * Who started it: `scheduler`, `api:<token name>`, `dashboard:<session name>`,
   * `telegram:<user id> (@username)`, or null when unknown (application code, older runs).
   */
  triggered_by: string | null;
  /** Every attempt, oldest first (last {@link MAX_RUN_ATTEMPTS}). */
  attempts_log: AttemptRecord[];
  /** Ordering key of the last lifecycle event applied; older or repeated events are ignored. */
  seq: string;
}

/** Fields written once, when a run is first seen. */
export interface RunIdentity {
  job_id: string;
  queue: string;
  created_at: string;
  trigger: RunTrigger;
  user_id: string | null;
  /** See {@link JobRun.retry_of}. */
  retry_of?: string | null;
  /** See {@link JobRun.triggered_by}. */
  triggered_by?: string | null;
  /**
   * Search terms of the run besides its run id and user id: `String(payload[key])` for each of its job's
   * `search_keys` (jobs.yml) that the payload has, lowercased, each at most 200 characters (see
   * {@link searchTerms}). Stores index them for `RunQuery.q`; they are not returned on the run.
   */
  search?: string[];
}

/** Fields a lifecycle event may change. */
export type RunPatch = Partial<
  Pick<
    JobRun,
    | 'status'
    | 'progress'
    | 'total_items'
    | 'processed_items'
    | 'started_at'
    | 'ended_at'
    | 'duration_ms'
    | 'attempts'
    | 'stalls'
    | 'worker'
    | 'error_message'
    | 'error_stack'
    | 'result'
  >
>;

/**
 * Annotations that are not lifecycle events: stores apply them whatever the run's `seq` (and leave `seq`
 * as it is). `stuck`, `stuck_reason` and `stuck_since` are ignored on a finished run (a run that ends
 * clears them); `retried_by` is always written. On a run the store doesn't have, marks create nothing.
 */
export type RunMarks = Partial<Pick<JobRun, 'stuck' | 'stuck_reason' | 'stuck_since' | 'retried_by'>>;

/**
 * An idempotent change to one run. Stores apply it only if `seq` is newer than the run's stored `seq`
 * (so replayed or duplicated events change nothing), append only the logs newer than the stored `seq`,
 * and create the run from `identity` when it does not exist yet. Its `attempt` record also goes in, whatever
 * the seq, when the run has no record of that attempt.
 */
export interface RunUpdate {
  run_id: string;
  /** Sortable ordering key (see {@link seqFromEventId}); '' means "before every event". */
  seq: string;
  identity: RunIdentity;
  patch: RunPatch;
  logs: RunLog[];
  /** See {@link RunMarks}; applied even when `seq` is not newer. */
  marks?: RunMarks;
  /**
   * One attempt's record (see {@link AttemptRecord}), applied only with the update (same `seq` rule):
   * stores replace the entry with the same `attempt` number or append it, keeping attempts in order and
   * the last {@link MAX_RUN_ATTEMPTS}.
   */
  attempt?: AttemptRecord;
  /**
   * The update's times as epoch ms, when its writer has them as numbers (a worker's recorder): `created` for
   * `identity.created_at`, `started_at` and `ended_at` for the patch's. They must equal the text; a store may
   * use them instead of parsing it (the Redis store does, on every write).
   */
  times?: RunTimes;
}

/** See {@link RunUpdate.times}. */
export interface RunTimes {
  created?: number;
  started_at?: number;
  ended_at?: number;
}

/** Turns a Redis stream id `1700000000000-3` into a key that sorts correctly as a string. */
export function seqFromEventId(eventId: string): string {
  const [ms, n = '0'] = eventId.split('-');
  return ms.padStart(15, '0') + '-' + n.padStart(8, '0');
}

/** A fresh run record as it looks before any event. */
export function newRun(runId: string, identity: RunIdentity): JobRun {
  // `search` is index-only: never part of the run.
  const { search: _search, ...stored } = identity;
  return {
    run_id: runId,
    ...stored,
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
    error_stack: null,
    result: null,
    stuck: false,
    stuck_reason: null,
    stuck_since: null,
    retry_of: identity.retry_of ?? null,
    retried_by: null,
    triggered_by: identity.triggered_by ?? null,
    attempts_log: [],
    seq: '',
  };
}

/** The identity fields stored on the run itself (`search` is index-only). */
function storedIdentity(identity: RunIdentity): Omit<RunIdentity, 'search'> {
  const { search: _search, ...rest } = identity;
  return rest;
}

const STUCK_CLEARED = { stuck: false, stuck_reason: null, stuck_since: null } as const;

/** A run's search terms from its payload and its job's `search_keys` (see {@link RunIdentity.search}). */
export function searchTerms(payload: unknown, keys: readonly string[] | undefined): string[] {
  if (!keys?.length || !payload || typeof payload !== 'object') return [];
  const out = new Set<string>();
  for (const k of keys) {
    const v = (payload as Record<string, unknown>)[k];
    if (v === null || v === undefined || typeof v === 'object') continue;
    const term = String(v).trim().toLowerCase().slice(0, 200);
    if (term) out.add(term);
  }
  return [...out];
}

/** Inserts or replaces an attempt record by its number, in order, keeping the last MAX_RUN_ATTEMPTS. */
export function upsertAttempt(list: readonly AttemptRecord[], rec: AttemptRecord): AttemptRecord[] {
  const out = list.filter((a) => a.attempt !== rec.attempt);
  out.push(rec);
  out.sort((a, b) => a.attempt - b.attempt);
  return out.slice(-MAX_RUN_ATTEMPTS);
}

/**
 * Applies an update to a run (or to nothing). This is the reference semantics every store implements;
 * the Redis store runs the same rules in Lua, the MongoDB store in an update pipeline.
 */
export function applyRunUpdate(current: JobRun | null, update: RunUpdate): JobRun {
  if (!current && isMarksOnly(update)) return current as unknown as JobRun;
  const run = current ?? { ...newRun(update.run_id, update.identity), ...storedIdentity(update.identity) };
  let next = run;
  if (!current || update.seq > current.seq) {
    const logs = run.logs.concat(update.logs.filter((l) => (l.seq ?? '') > run.seq)).slice(-MAX_RUN_LOGS);
    next = { ...run, ...update.patch, logs, seq: update.seq > run.seq ? update.seq : run.seq };
    const stalled = current ? stalledAttempt(current, update) : null;
    if (stalled) next.attempts_log = upsertAttempt(next.attempts_log, stalled);
    if (update.attempt) next.attempts_log = upsertAttempt(next.attempts_log, update.attempt);
  } else if (update.attempt && !run.attempts_log.some((a) => a.attempt === update.attempt!.attempt)) {
    // Attempts are history: an attempt the run has no record of is added whatever the seq (a stall the
    // reconciler reads after the next worker already started), never one that would replace a record.
    next = { ...run, attempts_log: upsertAttempt(run.attempts_log, update.attempt) };
  }
  if (update.marks) {
    const { retried_by, ...stuck } = update.marks;
    if (retried_by !== undefined) next = { ...next, retried_by };
    if (!FINISHED_STATUSES.includes(next.status)) next = { ...next, ...stuck };
  }
  if (FINISHED_STATUSES.includes(next.status) && next.stuck) next = { ...next, ...STUCK_CLEARED };
  return next;
}

/**
 * The record of an attempt that ended without one: when an update begins a later attempt (raises `attempts`)
 * on an unfinished run that has no record of its current attempt, that attempt's worker died before writing
 * an end, so it was stalled, from its stored start and worker to the new attempt's start. Null otherwise.
 * Every store applies the same rule (the reconciler's own stall record, read later, then adds nothing).
 */
export function stalledAttempt(run: JobRun, update: RunUpdate): AttemptRecord | null {
  const n = run.attempts;
  const next = update.patch.attempts;
  if (n < 1 || next === undefined || next <= n || !run.started_at) return null;
  if (FINISHED_STATUSES.includes(run.status) || update.attempt?.attempt === n) return null;
  if (run.attempts_log.some((a) => a.attempt === n)) return null;
  return {
    attempt: n,
    started_at: run.started_at,
    ended_at: update.patch.started_at ?? null,
    worker: run.worker,
    outcome: 'stalled',
    error: null,
  };
}

/**
 * True for an update that only carries marks (no patch field, no logs, no attempt): such an update never
 * creates a run nor moves its `seq`. Build one with {@link marksUpdate}.
 */
export function isMarksOnly(u: RunUpdate): boolean {
  return !!u.marks && u.logs.length === 0 && !u.attempt && Object.keys(u.patch).length === 0;
}

/** An update that only sets marks on an existing run (seq '' so it never counts as an event). */
export function marksUpdate(
  run: Pick<JobRun, 'run_id' | 'job_id' | 'queue' | 'created_at' | 'trigger' | 'user_id'>,
  marks: RunMarks,
): RunUpdate {
  return {
    run_id: run.run_id,
    seq: '',
    identity: {
      job_id: run.job_id,
      queue: run.queue,
      created_at: run.created_at,
      trigger: run.trigger,
      user_id: run.user_id,
    },
    patch: {},
    logs: [],
    marks,
  };
}

/**
 * Folds consecutive updates of the same run into one, in order. Later patches win, logs are concatenated,
 * and the result carries the newest `seq`.
 *
 * Applying the merged update equals applying `a` then `b` when the stored `seq` is below `a.seq` (or the
 * run is new) or at/above `b.seq`. It does NOT when `a.seq <= stored seq < b.seq` (another tracker already
 * stored `a` or a newer event): applied alone, `a` would be ignored, but the merged update
 * carries `b.seq` and so also writes the fields of `a`'s patch that `b` does not override. Logs stay exact
 * (each line is filtered by its own seq). Callers that need exact replay must not merge across events
 * another writer may already have stored.
 */
export function mergeUpdates(a: RunUpdate, b: RunUpdate): RunUpdate {
  return {
    run_id: a.run_id,
    seq: b.seq > a.seq ? b.seq : a.seq,
    identity: a.identity,
    patch: { ...a.patch, ...b.patch },
    logs: a.logs.concat(b.logs).slice(-MAX_RUN_LOGS),
    ...(a.marks || b.marks ? { marks: { ...a.marks, ...b.marks } } : {}),
    ...((b.attempt ?? a.attempt) ? { attempt: b.attempt ?? a.attempt } : {}),
    ...(a.times || b.times ? { times: mergeTimes(a, b) } : {}),
  };
}

/**
 * The times of `b` merged over `a`'s, kept only where they still describe the merged text: a field `b` sets
 * without giving its number drops `a`'s number for it.
 */
export function mergeTimes(a: RunUpdate, b: RunUpdate): RunTimes {
  const at = a.times;
  const bt = b.times;
  return {
    created: bt?.created ?? at?.created,
    started_at: b.patch.started_at !== undefined ? bt?.started_at : at?.started_at,
    ended_at: b.patch.ended_at !== undefined ? bt?.ended_at : at?.ended_at,
  };
}

/** Default cap on what a run keeps of `result`, `error_message` and `error_stack` (bytes of UTF-8 JSON / text). */
export const DEFAULT_RUN_RESULT_MAX_BYTES = 64 * 1024;

/**
 * Marker that ends a truncated `error_message`, `error_stack` or attempt `error`, and the `truncated` flag
 * of a truncated `result`. A `result` whose JSON is longer than the cap, or that nests deeper than
 * {@link MAX_RESULT_DEPTH} levels, is stored as `{ truncated: RUN_TRUNCATED_MARKER, original_bytes, preview }`
 * (`preview`: the first bytes of its JSON, as a string).
 */
export const RUN_TRUNCATED_MARKER = '[truncated by jobs-monitor]';

/** Cuts a string to at most `maxBytes` bytes of UTF-8 without splitting a character. */
function cutUtf8(s: string, maxBytes: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= maxBytes) return s;
  let end = Math.max(0, maxBytes);
  // Step back over continuation bytes (10xxxxxx) so a multi-byte character is never split.
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/** A message (or stack) capped to `maxBytes` (marker included); null and short ones unchanged. */
export function capErrorMessage(msg: string | null, maxBytes: number): string | null {
  if (msg === null || Buffer.byteLength(msg, 'utf8') <= maxBytes) return msg;
  const suffix = ` …${RUN_TRUNCATED_MARKER}`;
  return cutUtf8(msg, maxBytes - Buffer.byteLength(suffix, 'utf8')) + suffix;
}

/**
 * Deepest nesting of objects and arrays a stored `result` keeps (`{"a":1}` is 1 level). A deeper one is
 * stored truncated, like an oversized one: MongoDB refuses a document nested about 100 levels deep (and a
 * whole command past about 200), whatever its size.
 */
export const MAX_RESULT_DEPTH = 32;

/** True when `value` nests objects/arrays deeper than `max` levels (iterative: any depth is safe). */
function deeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v as object)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/**
 * `result` capped so that its JSON is at most about `maxBytes` and it nests at most {@link MAX_RESULT_DEPTH}
 * levels (see {@link RUN_TRUNCATED_MARKER}).
 */
export function capResult(result: unknown, maxBytes: number): unknown {
  if (result === null || result === undefined) return result;
  const tooDeep = deeperThan(result, MAX_RESULT_DEPTH);
  let json: string | undefined;
  try {
    json = JSON.stringify(result);
  } catch {
    json = undefined; // cycles, BigInt, or nesting too deep for the JSON encoder: not storable as it is
  }
  if (json === undefined) {
    return { truncated: RUN_TRUNCATED_MARKER, original_bytes: null, preview: 'result is not JSON' };
  }
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes <= maxBytes && !tooDeep) return result;
  // The preview is JSON text stored as a string, so quotes and backslashes double when it is encoded
  // again: shrink it until the stored form fits the budget.
  const budget = Math.max(0, maxBytes - 200);
  let take = budget;
  let preview = cutUtf8(json, take);
  for (let size = Buffer.byteLength(JSON.stringify(preview)); size > budget && take > 0; ) {
    take = Math.floor((take * budget) / size) - 1;
    preview = cutUtf8(json, take);
    size = Buffer.byteLength(JSON.stringify(preview));
  }
  return { truncated: RUN_TRUNCATED_MARKER, original_bytes: bytes, preview };
}

/** `created_at` as a valid ISO time: an unparsable one becomes `nowMs` (both stores do the same). */
export function normalizeCreatedAt(createdAt: string, nowMs = Date.now()): string {
  if (msFromCanonicalIso(createdAt) >= 0) return createdAt;
  const ms = Date.parse(createdAt);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : new Date(nowMs).toISOString();
}

/**
 * Bytes an attempt's `error` keeps in the run's timeline (`attempts_log`, up to {@link MAX_RUN_ATTEMPTS}
 * entries), or `maxBytes` when that is smaller. The whole message stays in `error_message`.
 */
export const MAX_ATTEMPT_ERROR_BYTES = 4096;

/**
 * What every store does to an update before writing it: caps `result`, `error_message` and `error_stack`
 * to `maxBytes` (RUN_RESULT_MAX_BYTES; a stack's first line repeats the message), `result` also to
 * {@link MAX_RESULT_DEPTH} levels, the attempt record's `error` to {@link MAX_ATTEMPT_ERROR_BYTES}, keeps
 * only the last {@link MAX_RUN_LOGS} log lines (no more can be kept) and makes `created_at` a valid time.
 * Returns the same object when nothing changes.
 */
export function prepareUpdate(u: RunUpdate, maxBytes = DEFAULT_RUN_RESULT_MAX_BYTES): RunUpdate {
  // A writer that gives the creation time as a number made the text from it: it is valid.
  const created =
    u.times?.created !== undefined ? u.identity.created_at : normalizeCreatedAt(u.identity.created_at);
  const patch = u.patch;
  const result = 'result' in patch ? capResult(patch.result, maxBytes) : undefined;
  const error =
    patch.error_message !== undefined ? capErrorMessage(patch.error_message, maxBytes) : undefined;
  const stack = patch.error_stack !== undefined ? capErrorMessage(patch.error_stack, maxBytes) : undefined;
  const attemptError =
    u.attempt && typeof u.attempt.error === 'string'
      ? capErrorMessage(u.attempt.error, Math.min(maxBytes, MAX_ATTEMPT_ERROR_BYTES))
      : u.attempt?.error;
  const same =
    created === u.identity.created_at &&
    result === patch.result &&
    error === patch.error_message &&
    stack === patch.error_stack &&
    attemptError === u.attempt?.error &&
    u.logs.length <= MAX_RUN_LOGS;
  if (same) return u;
  const nextPatch: RunPatch = { ...patch };
  if ('result' in patch) nextPatch.result = result;
  if (patch.error_message !== undefined) nextPatch.error_message = error;
  if (patch.error_stack !== undefined) nextPatch.error_stack = stack;
  return {
    ...u,
    identity: created === u.identity.created_at ? u.identity : { ...u.identity, created_at: created },
    patch: nextPatch,
    logs: u.logs.length > MAX_RUN_LOGS ? u.logs.slice(-MAX_RUN_LOGS) : u.logs,
    ...(u.attempt && attemptError !== u.attempt.error
      ? { attempt: { ...u.attempt, error: attemptError ?? null } }
      : {}),
  };
}

/**
 * The update a store writes instead of one it could not store for good (too large, refused by the
 * server): the same status and times, without `result`, `error_message`, `error_stack`, the attempt
 * record and the logs (and a `retried_by` mark over 1 KiB), plus one error log line saying why, so the run
 * shows a tracking error instead of silently missing its outcome.
 */
export function trackingErrorUpdate(u: RunUpdate, reason: string): RunUpdate {
  const { result: _r, error_message: _e, error_stack: _s, ...rest } = u.patch;
  const { attempt: _a, marks, ...withoutAttempt } = u;
  const message = `jobs-monitor could not store an update of this run (result, error and logs dropped): ${reason}`;
  // Marks are kept (stuck flags, the retry link), except a retried_by too long to be a run id.
  const keptMarks =
    marks?.retried_by && Buffer.byteLength(marks.retried_by, 'utf8') > MAX_MARK_BYTES
      ? (({ retried_by: _rb, ...m }) => m)(marks)
      : marks;
  return {
    ...withoutAttempt,
    ...(keptMarks ? { marks: keptMarks } : {}),
    patch: rest,
    logs: [{ time: new Date().toISOString(), level: 'error', message: cutUtf8(message, 2000), seq: u.seq }],
  };
}

/** Longest `retried_by` a tracking-error update keeps (a run id is far shorter). */
const MAX_MARK_BYTES = 1024;
