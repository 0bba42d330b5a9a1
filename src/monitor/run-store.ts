import type { JobRun, RunStatus, RunTrigger, RunUpdate } from './run';

/** A finished run as the stats need it. */
export interface FinishedRunSample {
  run_id: string;
  status: RunStatus;
  created_at: string;
  duration_ms: number | null;
}

/** Raw numbers for one job over a time window; {@link RunStore.stats} returns it, the stats service summarises it. */
export interface RunStatsSample {
  /** Runs created in the window, by their current status. */
  counts: Record<RunStatus, number>;
  /** Finished runs (completed, failed, skipped) created in the window, newest first, at most `sample` of them. */
  finished: FinishedRunSample[];
}

/** How many finished runs the duration percentiles are computed over (the newest ones in the window). */
export const DEFAULT_STATS_SAMPLE = 500;

/** Filters for {@link RunStore.list}; every field is optional and they combine with AND. */
export interface RunQuery {
  job_id?: string;
  status?: RunStatus[];
  user_id?: string;
  trigger?: RunTrigger;
  /** Only runs created at or after this time (ms since epoch). */
  since?: number;
  /** Only runs created strictly before this time (ms since epoch); the stuck monitor's pre-filter. */
  before?: number;
  /** Only runs the stuck monitor flagged (`stuck: true`) or, with false, only runs not flagged. */
  stuck?: boolean;
  /**
   * Search: runs whose run id, user id or one of their search terms (RunIdentity.search) equals this text,
   * compared lowercased and trimmed. Stores answer it from an index, never a scan of all runs.
   */
  q?: string;
  /** Page size; stores cap it at {@link MAX_PAGE_SIZE}. */
  limit?: number;
  /** Opaque cursor from a previous page's `next_cursor`. */
  cursor?: string | null;
}

export interface RunPage {
  runs: JobRun[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  next_cursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/**
 * Where runs live (`job_runs`). Implementations: MongoRunStore (production), RedisRunStore (when MONGO_URL
 * is unset) and MemoryRunStore (tests without Redis). All pass the same contract suite
 * (test/integration/run-store.contract.ts).
 */
export interface RunStore {
  /**
   * True when the store counts finished runs into the shared Prometheus counters in the same write (the
   * Redis store); otherwise the writers' listeners count them (SharedCounters.recordRuns).
   */
  readonly countsFinishedRuns?: boolean;
  /** Creates indexes; safe to call on every start. */
  init(): Promise<void>;
  /**
   * Applies a batch of idempotent updates (see {@link RunUpdate}); order within the batch is kept per run.
   * `result`, `error_message`, `error_stack` and the attempt's error are capped first (see prepareUpdate).
   * An update the store refuses for good is logged, recorded as a tracking error on its run if possible,
   * and skipped: it never fails the batch.
   * Throws only when a retry may succeed (store unreachable, busy), so the tracker retries the batch.
   */
  apply(updates: RunUpdate[]): Promise<void>;
  /** One run with its logs, or null. */
  get(runId: string): Promise<JobRun | null>;
  /** Runs newest first (by created_at, then run_id), with a stable cursor. */
  list(query: RunQuery): Promise<RunPage>;
  /**
   * The status of each of these runs the store has (absent when it has none): one read for the whole list.
   * The reconciler uses it to find what no worker recorded.
   */
  statuses(runIds: string[]): Promise<Map<string, RunStatus>>;
  /** Number of runs pending or running, per job_id (jobs with none are absent). */
  countActive(): Promise<Record<string, number>>;
  /**
   * Counts of one job's runs created at or after `since` (ms) by status, and its newest finished runs in that
   * window (at most `sample`). Reads are bounded by `sample`, whatever the number of runs.
   */
  stats(jobId: string, since: number, sample?: number): Promise<RunStatsSample>;
  /** Throws when the store can't be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Cursor encoding shared by the stores: `<created_at ms>:<run_id>` in base64url. */
export function encodeCursor(createdAtMs: number, runId: string): string {
  return Buffer.from(`${createdAtMs}:${runId}`, 'utf8').toString('base64url');
}

/**
 * Decodes a cursor; returns null for anything that is not one of ours. A negative time is valid (a run
 * created before 1970): refusing it would send the caller back to the first page, for ever.
 */
export function decodeCursor(cursor: string): { createdAtMs: number; runId: string } | null {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const i = raw.indexOf(':');
  if (i <= 0) return null;
  const time = raw.slice(0, i);
  const createdAtMs = Number(time);
  const runId = raw.slice(i + 1);
  if (!/^-?\d+$/.test(time) || !Number.isSafeInteger(createdAtMs) || runId.length === 0) return null;
  return { createdAtMs, runId };
}

/**
 * Where a page ends among runs whose stored `created_at` is not a time (documents of an earlier system in
 * MongoDB, until `npm run migrate:mongo` fixes them). MongoDB sorts those after every time, by type and
 * value, then run_id: other types (booleans, objects…), strings, numbers, then null or missing. The value is
 * kept for a string (its first {@link MAX_CURSOR_VALUE_CHARS} characters) or a number.
 */
export type UntimedPosition =
  | { kind: 'string'; value: string; runId: string }
  | { kind: 'number'; value: number; runId: string }
  | { kind: 'other' | 'null'; runId: string };

/** Longest string `created_at` an {@link UntimedPosition} keeps (a cursor must stay short). */
export const MAX_CURSOR_VALUE_CHARS = 100;

const UNTIMED = { null: 'legacy:', other: 'legacy-o:', string: 'legacy-s:', number: 'legacy-n:' } as const;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

/** Encodes an {@link UntimedPosition} (`legacy:<run_id>` for null/missing, as earlier cursors were). */
export function encodeUntimedCursor(pos: UntimedPosition): string {
  if (pos.kind === 'string') {
    return b64(UNTIMED.string + JSON.stringify([pos.value.slice(0, MAX_CURSOR_VALUE_CHARS), pos.runId]));
  }
  if (pos.kind === 'number') return b64(UNTIMED.number + JSON.stringify([String(pos.value), pos.runId]));
  return b64(UNTIMED[pos.kind] + pos.runId);
}

/** Decodes {@link encodeUntimedCursor}'s cursors; null for anything else. */
export function decodeUntimedCursor(cursor: string): UntimedPosition | null {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  for (const kind of ['null', 'other'] as const) {
    const prefix = UNTIMED[kind];
    if (raw.startsWith(prefix) && raw.length > prefix.length)
      return { kind, runId: raw.slice(prefix.length) };
  }
  for (const kind of ['string', 'number'] as const) {
    if (!raw.startsWith(UNTIMED[kind])) continue;
    let pair: unknown;
    try {
      pair = JSON.parse(raw.slice(UNTIMED[kind].length));
    } catch {
      return null;
    }
    if (!Array.isArray(pair) || pair.length !== 2) return null;
    const [value, runId] = pair as unknown[];
    if (typeof value !== 'string' || typeof runId !== 'string' || runId.length === 0) return null;
    if (kind === 'string') {
      return value.length <= MAX_CURSOR_VALUE_CHARS ? { kind, value, runId } : null;
    }
    const n = Number(value);
    // String(n) round-trips every number, NaN and ±Infinity included; anything else is not ours.
    return String(n) === value ? { kind, value: n, runId } : null;
  }
  return null;
}

/** True for a cursor some store produced (a time cursor, or an {@link UntimedPosition}'s). */
export function isRunCursor(cursor: string): boolean {
  return decodeCursor(cursor) !== null || decodeUntimedCursor(cursor) !== null;
}

/** Clamps a requested page size to 1..MAX_PAGE_SIZE. */
export function pageSize(limit: number | undefined): number {
  if (!limit || limit < 1) return DEFAULT_PAGE_SIZE;
  return Math.min(Math.floor(limit), MAX_PAGE_SIZE);
}
