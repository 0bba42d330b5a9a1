import {
  type AttemptRecord,
  type JobRun,
  type RunIdentity,
  type LogLevel,
  type RunLog,
  type RunPatch,
  type RunTrigger,
  type RunUpdate,
  searchTerms,
  seqFromEventId,
} from './run';

/** One entry of a queue's BullMQ events stream. */
export interface LifecycleEvent {
  queue: string;
  /** Redis stream id, e.g. `1700000000000-0`; its first part is the event's time in ms. */
  id: string;
  /** BullMQ event name (added, active, progress, completed, failed, ...) or one of ours (`jm:log`). */
  event: string;
  jobId: string;
  args: Record<string, unknown>;
}

/** What the tracker reads from a BullMQ job hash to complete a run record. */
export interface JobSnapshot {
  name: string;
  data: JobEnvelope;
  timestamp: number | null;
  /** Delay in ms the job was added with (scheduler jobs wait for their slot this way). */
  delay: number;
  processedOn: number | null;
  finishedOn: number | null;
  attemptsMade: number;
  attemptsStarted: number;
  stalls: number;
  processedBy: string | null;
  failedReason: string | null;
  /** The processor's return value (parsed JSON), when the job hash has one. */
  returnvalue?: unknown;
}

/**
 * The data of every job this system enqueues: who/what started it and the processor's payload.
 */
export interface JobEnvelope {
  trigger?: RunTrigger;
  user_id?: string | null;
  payload?: unknown;
  /** Who started the run: `scheduler`, `api:<token>`, `dashboard:<name>`, `telegram:<id> (@user)`. */
  triggered_by?: string | null;
  /** The failed run this run retries. */
  retry_of?: string | null;
}

/** Name of our custom stream event that carries a batch of a run's log lines. */
export const LOG_EVENT = 'jm:log';

/**
 * Name of our custom stream event that ends a run as failed by a decision outside BullMQ (a stuck download
 * the recordings policy gives up on). Args: `name` (the job id), `reason`. Written by {@link RunWriter}.
 */
export const MARK_FAILED_EVENT = 'jm:failed';

/**
 * Name of our custom stream event that ends a run as `cancelled` by an operator before a worker took it
 * (its BullMQ job was removed first). Args: `name` (the job id), `reason`. Written by RunWriter.markCancelled.
 */
export const MARK_CANCELLED_EVENT = 'jm:cancelled';

/**
 * Start of the failure reason of a run an operator cancelled while it ran (the worker fails its BullMQ job
 * with it, unrecoverable): such a failure is stored as status `cancelled`, not `failed`.
 */
export const CANCELLED_REASON_PREFIX = 'cancelled:';

/** True for a failure reason written by a cancel (see {@link CANCELLED_REASON_PREFIX}). */
export function isCancelledReason(reason: unknown): boolean {
  return typeof reason === 'string' && reason.startsWith(CANCELLED_REASON_PREFIX);
}

/** Result value a processor returns when it declined to run; the run is recorded as `skipped`. */
export interface SkippedResult {
  skipped: true;
  reason: string;
}

export function isSkippedResult(v: unknown): v is SkippedResult {
  return !!v && typeof v === 'object' && (v as SkippedResult).skipped === true;
}

/** The events the tracker turns into run updates; others (drained, cleaned, ...) are ignored. */
export const TRACKED_EVENTS = [
  'added',
  'waiting',
  'delayed',
  'active',
  'progress',
  'stalled',
  'completed',
  'failed',
  'removed',
  LOG_EVENT,
  MARK_FAILED_EVENT,
  MARK_CANCELLED_EVENT,
] as const;

/**
 * Events after which the tracker re-reads the job hash (attempts, worker, error). Progress, logs and a
 * policy's failure mark don't: they carry all they change.
 */
export function needsSnapshot(event: string): boolean {
  return (
    event !== 'progress' &&
    event !== LOG_EVENT &&
    event !== MARK_FAILED_EVENT &&
    event !== MARK_CANCELLED_EVENT
  );
}

function iso(ms: number | null | undefined): string | null {
  return ms ? new Date(ms).toISOString() : null;
}

function eventTime(id: string): number {
  return Number(id.split('-')[0]);
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Parses the lines of a `jm:log` event; malformed entries are dropped, never thrown. */
export function parseLogLines(raw: unknown, seq: string): RunLog[] {
  let arr: unknown;
  try {
    arr = typeof raw === 'string' ? JSON.parse(raw) : raw;
  } catch {
    return [];
  }
  if (!Array.isArray(arr)) return [];
  return arr
    .filter(
      (l): l is { time: string; level: LogLevel; message: string } => !!l && typeof l.message === 'string',
    )
    .map((l) => ({
      time: typeof l.time === 'string' ? l.time : new Date(eventTime(seq)).toISOString(),
      level: LEVELS.includes(l.level) ? l.level : 'info',
      message: l.message,
      seq,
    }));
}

/** Progress as processors report it: a percentage or `{processed, total}`. */
function progressPatch(data: unknown): Partial<JobRun> {
  if (typeof data === 'number' && Number.isFinite(data)) return { progress: clampPct(data) };
  if (data && typeof data === 'object') {
    const { processed, total } = data as { processed?: unknown; total?: unknown };
    if (typeof processed === 'number' && typeof total === 'number' && total > 0) {
      return {
        processed_items: processed,
        total_items: total,
        progress: clampPct((processed / total) * 100),
      };
    }
    if (typeof processed === 'number') return { processed_items: processed };
  }
  return {};
}

function clampPct(n: number): number {
  return Math.max(0, Math.min(100, Math.round(n * 10) / 10));
}

/**
 * The `job_id` a run gets when its BullMQ job's name is not a registry job of that queue (a job someone put
 * in the queue past the API): the name itself never reaches the run, a metrics label or an alert.
 */
export const UNREGISTERED_JOB_ID = 'unregistered';

/** True when `jobId` is a registry job that runs on `queue`. */
export type IsRegistered = (jobId: string, queue: string) => boolean;

/** The payload keys a registry job declares searchable (`search_keys` in jobs.yml). */
export type SearchKeysOf = (jobId: string) => readonly string[] | undefined;

/** The write-once fields of a run, from the job hash (or the event alone when the hash is gone). */
function identityOf(
  ev: LifecycleEvent,
  snap: JobSnapshot | undefined,
  at: number,
  isRegistered?: IsRegistered,
  searchKeysOf?: SearchKeysOf,
): RunIdentity {
  const envelope = snap?.data ?? {};
  const name = snap?.name ?? (ev.args.name == null ? null : String(ev.args.name));
  const jobId =
    name === null ? 'unknown' : !isRegistered || isRegistered(name, ev.queue) ? name : UNREGISTERED_JOB_ID;
  // The same search terms the API and the workers record, so a job added past the API is found by ?q= too.
  const search =
    searchKeysOf && jobId !== UNREGISTERED_JOB_ID ? searchTerms(envelope.payload, searchKeysOf(jobId)) : [];
  return {
    job_id: jobId,
    queue: ev.queue,
    // A delayed job's run begins when it is due, not when it was put in the queue.
    created_at: iso(snap?.timestamp ? snap.timestamp + (snap.delay || 0) : at)!,
    trigger: envelope.trigger ?? (ev.jobId.startsWith('repeat:') ? 'scheduled' : 'api'),
    user_id: envelope.user_id == null ? null : String(envelope.user_id),
    triggered_by: envelope.triggered_by == null ? null : String(envelope.triggered_by),
    retry_of: envelope.retry_of == null ? null : String(envelope.retry_of),
    ...(search.length ? { search } : {}),
  };
}

/**
 * An attempt that started less than this before its stall event can't be the one that stalled: a stalled
 * attempt's lock (WORKER_LOCK_DURATION_MS, at least 500 ms) expired first. Such a snapshot already shows the
 * next attempt, which a worker took between the stall and the tracker's read of the job hash.
 */
const REPICK_MARGIN_MS = 250;

/**
 * The attempt record of a stall (its worker stopped renewing the lock; BullMQ put the job back in line),
 * from the job hash as read after the event: `{attempt, started_at: processedOn, ended_at: the stall's time,
 * worker: processedBy, outcome: 'stalled'}`. When another worker already took the job again (the hash shows
 * an attempt that began after the stall), the stalled attempt is the one before it and its start and worker
 * are no longer known (null). No snapshot (the job is gone): no record.
 */
export function stalledAttempt(snap: JobSnapshot | undefined, at: number): AttemptRecord | undefined {
  if (!snap) return undefined;
  const n = Math.max(snap.attemptsStarted, snap.attemptsMade, 1);
  const repicked = snap.processedOn !== null && snap.processedOn > at - REPICK_MARGIN_MS;
  return {
    attempt: repicked ? Math.max(1, n - 1) : n,
    started_at: repicked ? null : iso(snap.processedOn),
    ended_at: iso(at),
    worker: repicked ? null : snap.processedBy,
    outcome: 'stalled',
    error: null,
  };
}

/** The attempt record of a run's end read from BullMQ (a worker that died before it wrote its own). */
function endAttempt(
  snap: JobSnapshot | undefined,
  startedMs: number | null,
  endedMs: number,
  outcome: AttemptRecord['outcome'],
  error: string | null,
): AttemptRecord | undefined {
  if (!snap) return undefined;
  return {
    attempt: Math.max(snap.attemptsStarted, snap.attemptsMade, 1),
    started_at: iso(startedMs),
    ended_at: iso(endedMs),
    worker: snap.processedBy,
    outcome,
    error,
  };
}

/**
 * Translates one lifecycle event (plus, for most events, a fresh snapshot of the job) into a run update.
 * Returns null for events that don't change a run. Pure: the tracker owns I/O. `knownIdentity` (the
 * identity of an update already pending for this run) skips recomputing it: only the first one is stored.
 * With `isRegistered`, a job name that is not a registry job of the event's queue becomes
 * {@link UNREGISTERED_JOB_ID}.
 */
export function eventToUpdate(
  ev: LifecycleEvent,
  snap: JobSnapshot | undefined,
  knownIdentity?: RunIdentity,
  isRegistered?: IsRegistered,
  searchKeysOf?: SearchKeysOf,
): RunUpdate | null {
  const at = eventTime(ev.id);
  const seq = seqFromEventId(ev.id);
  const identity = knownIdentity ?? identityOf(ev, snap, at, isRegistered, searchKeysOf);
  const base = { run_id: ev.jobId, seq, identity, logs: [] as RunLog[] };
  const counters = snap
    ? {
        attempts: Math.max(snap.attemptsMade, snap.attemptsStarted),
        stalls: snap.stalls,
        worker: snap.processedBy,
      }
    : {};

  // A job waiting for a future slot (next scheduler run, a reminder) is not a run yet; it becomes one
  // when it is promoted ('waiting') or starts. Retries after a failed attempt do count.
  const notDueYet =
    (ev.event === 'added' || ev.event === 'delayed') && !!snap?.delay && snap.attemptsMade === 0;
  if (notDueYet) return null;

  switch (ev.event) {
    case 'added':
      return { ...base, patch: { status: 'pending' } };
    case 'waiting':
    case 'delayed':
      // Back in line after a failed or stalled attempt, or a delayed job: pending again.
      if (ev.event === 'waiting' && ev.args.prev !== 'active')
        return { ...base, patch: { status: 'pending' } };
      return {
        ...base,
        patch: {
          status: 'pending',
          ...counters,
          ...(snap?.failedReason ? { error_message: snap.failedReason } : {}),
        },
      };
    case 'active':
      return {
        ...base,
        patch: { status: 'running', started_at: iso(snap?.processedOn ?? at), ended_at: null, ...counters },
      };
    case 'stalled': {
      // The attempt its dead (or hung) worker never reported joins the run's attempts timeline.
      const attempt = stalledAttempt(snap, at);
      return { ...base, patch: { status: 'pending', ...counters }, ...(attempt ? { attempt } : {}) };
    }
    case 'progress':
      return { ...base, patch: progressPatch(ev.args.data) };
    case LOG_EVENT:
      return { ...base, patch: {}, logs: parseLogLines(ev.args.lines, seq) };
    case MARK_FAILED_EVENT:
      return {
        ...base,
        patch: { status: 'failed', error_message: String(ev.args.reason ?? 'failed'), ended_at: iso(at) },
      };
    case MARK_CANCELLED_EVENT:
      return {
        ...base,
        patch: {
          status: 'cancelled',
          error_message: String(ev.args.reason ?? 'cancelled'),
          ended_at: iso(at),
        },
      };
    case 'completed':
    case 'failed': {
      const startedMs = snap?.processedOn ?? null;
      const endedMs = snap?.finishedOn ?? at;
      const common = {
        ...counters,
        ended_at: iso(endedMs),
        duration_ms: startedMs ? Math.max(0, endedMs - startedMs) : null,
        ...(startedMs ? { started_at: iso(startedMs) } : {}),
      };
      if (ev.event === 'failed') {
        const reason = String(ev.args.failedReason ?? snap?.failedReason ?? 'failed');
        const status = isCancelledReason(reason) ? 'cancelled' : 'failed';
        const attempt = endAttempt(snap, startedMs, endedMs, status, reason);
        return {
          ...base,
          patch: { status, error_message: reason, ...common },
          ...(attempt ? { attempt } : {}),
        };
      }
      const result = ev.args.returnvalue ?? snap?.returnvalue ?? null;
      const skipped = isSkippedResult(result);
      const attempt = endAttempt(snap, startedMs, endedMs, skipped ? 'skipped' : 'completed', null);
      const patch: RunPatch = skipped
        ? { status: 'skipped', result, ...common }
        : { status: 'completed', progress: 100, error_message: null, result, ...common };
      return { ...base, patch, ...(attempt ? { attempt } : {}) };
    }
    case 'removed': {
      const prev = String(ev.args.prev ?? '');
      if (prev === 'completed' || prev === 'failed') return null;
      return {
        ...base,
        patch: {
          status: 'failed',
          error_message: `removed from the queue while ${prev || 'unfinished'}`,
          ended_at: iso(at),
        },
      };
    }
    default:
      return null;
  }
}

/**
 * The run of a job just put on its queue, before any stream event of it is known: it only creates the run
 * (pending, with its identity) and never overrides one. Its `seq` is '' (ordered before every event), so
 * the `added` event and everything after it always win, whichever is stored first.
 */
export function enqueuedUpdate(runId: string, identity: RunIdentity): RunUpdate {
  return { run_id: runId, seq: '', identity, patch: {}, logs: [] };
}
