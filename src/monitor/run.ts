/**
 * The run model: one document in `job_runs` per execution of a job (one BullMQ job, all its attempts).
 */

/** Where a run is in its life. `skipped` means the processor declined (e.g. the job was already running). */
export type RunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped';
export const RUN_STATUSES: readonly RunStatus[] = ['pending', 'running', 'completed', 'failed', 'skipped'];
/** Statuses of a run that has not finished yet. */
export const ACTIVE_STATUSES: readonly RunStatus[] = ['pending', 'running'];
/** Statuses of a run that has ended. */
export const FINISHED_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'skipped'];

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
/** Runs are kept for 7 days. */
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
  result: unknown;
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
    | 'result'
  >
>;

/**
 * An idempotent change to one run. Stores apply it only if `seq` is newer than the run's stored `seq`
 * (so replayed or duplicated events change nothing), append only the logs newer than the stored `seq`,
 * and create the run from `identity` when it does not exist yet.
 */
export interface RunUpdate {
  run_id: string;
  /** Sortable ordering key (see {@link seqFromEventId}); '' means "before every event". */
  seq: string;
  identity: RunIdentity;
  patch: RunPatch;
  logs: RunLog[];
}

/** Turns a Redis stream id `1700000000000-3` into a key that sorts correctly as a string. */
export function seqFromEventId(eventId: string): string {
  const [ms, n = '0'] = eventId.split('-');
  return ms.padStart(15, '0') + '-' + n.padStart(8, '0');
}

/** A fresh run record as it looks before any event. */
export function newRun(runId: string, identity: RunIdentity): JobRun {
  return {
    run_id: runId,
    ...identity,
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
    seq: '',
  };
}

/**
 * Applies an update to a run (or to nothing). This is the reference semantics every store implements;
 * the Redis store runs the same rules in Lua, the MongoDB store in an update pipeline.
 */
export function applyRunUpdate(current: JobRun | null, update: RunUpdate): JobRun {
  const run = current ?? newRun(update.run_id, update.identity);
  if (current && update.seq <= current.seq) return current;
  const logs = run.logs.concat(update.logs.filter((l) => (l.seq ?? '') > run.seq)).slice(-MAX_RUN_LOGS);
  return { ...run, ...update.patch, logs, seq: update.seq > run.seq ? update.seq : run.seq };
}

/**
 * Folds consecutive updates of the same run into one, in order. Later patches win, logs are concatenated,
 * and the result carries the newest `seq`; applying the merged update equals applying each in turn.
 */
export function mergeUpdates(a: RunUpdate, b: RunUpdate): RunUpdate {
  return {
    run_id: a.run_id,
    seq: b.seq > a.seq ? b.seq : a.seq,
    identity: a.identity,
    patch: { ...a.patch, ...b.patch },
    logs: a.logs.concat(b.logs).slice(-MAX_RUN_LOGS),
  };
}
