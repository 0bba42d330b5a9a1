import type { JobRegistry } from './registry';
import type { JobRun, StuckReason } from './run';

export type { StuckReason } from './run';

/** A run the monitor reports as stuck. */
export interface StuckRun {
  run_id: string;
  job_id: string;
  queue: string;
  reason: StuckReason;
  /** Minutes since it started (running) or became due (not picked up, no workers), one decimal, rounded down. */
  minutes: number;
  /**
   * Past its job's threshold: reported (`job_stuck`). A run flagged `no_workers` is flagged at once, but
   * reported only once it is overdue too (the queue's own `queue_no_workers` event comes first).
   */
  overdue: boolean;
  /**
   * Identifies this stuck episode: a run that is picked up again (a retry, a stall recovery) gets a new
   * start time and therefore a new episode; the same episode is reported once.
   */
  episode: string;
}

export interface StuckPolicy {
  /** JOBS_STUCK_THRESHOLD_MINUTES. */
  defaultMinutes: number;
  /** The job's own `stuck_after_minutes`, when it has one. */
  minutesFor(jobId: string): number | null;
}

/**
 * The policy the registry defines: a job's `stuck_after_minutes`, else JOBS_STUCK_THRESHOLD_MINUTES. The
 * recordings timeout is recording_download's `stuck_after_minutes` (see {@link JobRegistry.withStuckDefault}).
 */
export function registryStuckPolicy(registry: Pick<JobRegistry, 'get'>, defaultMinutes: number): StuckPolicy {
  return { defaultMinutes, minutesFor: (jobId) => registry.get(jobId)?.stuck_after_minutes ?? null };
}

/** The threshold (ms) that applies to one job. */
export function thresholdMs(policy: StuckPolicy, jobId: string): number {
  return Math.round((policy.minutesFor(jobId) ?? policy.defaultMinutes) * 60_000);
}

/**
 * The earliest creation time a stuck run can have: every run created after it is too young for even the
 * smallest threshold. Stores pre-filter active runs with it (`before`).
 */
export function stuckCutoff(now: number, policy: StuckPolicy, jobIds: readonly string[]): number {
  let min = policy.defaultMinutes;
  for (const id of jobIds) min = Math.min(min, policy.minutesFor(id) ?? min);
  return now - Math.round(min * 60_000);
}

/** What the stuck rule reads of a run (the recordings policy passes no more than this). */
export type StuckInput = Pick<JobRun, 'status' | 'created_at' | 'started_at'> & { attempts?: number };

/** Why and since when (ms) a run is stuck, and for how many whole seconds. */
export interface StuckVerdict {
  reason: StuckReason;
  since: number;
  seconds: number;
  /** Past the threshold (always true except for `no_workers`, which needs no threshold). */
  overdue: boolean;
}

/**
 * The one definition of a stuck run, for a job whose threshold is `limitMs`; the stuck monitor (alerts) and
 * the recordings' fail-fast policy both use it. Running: started longer ago than the threshold
 * (`running_too_long`; a record with no start is judged by its creation). Pending: never started, no
 * attempt yet, and created longer ago than the threshold (`not_picked_up`). A pending run that already ran
 * an attempt is waiting for its retry and is not stuck. With `queueIdle` (its queue has no live worker, as
 * the monitor's probe found), every pending run is stuck at once with `no_workers`, which takes precedence
 * over `not_picked_up`: nothing can pick it up. Finished runs never are. Pure.
 */
export function stuckVerdict(
  run: StuckInput,
  now: number,
  limitMs: number,
  queueIdle = false,
): StuckVerdict | null {
  let since: number;
  let reason: StuckReason;
  if (run.status === 'pending' && queueIdle) {
    since = Date.parse(run.created_at);
    if (!Number.isFinite(since)) return null;
    const ms = Math.max(0, now - since);
    return { reason: 'no_workers', since, seconds: Math.floor(ms / 1000), overdue: ms > limitMs };
  }
  if (run.status === 'running') {
    since = Date.parse(run.started_at ?? run.created_at);
    reason = 'running_too_long';
  } else if (run.status === 'pending' && !run.started_at && !run.attempts) {
    since = Date.parse(run.created_at);
    reason = 'not_picked_up';
  } else {
    return null;
  }
  if (!Number.isFinite(since) || now - since <= limitMs) return null;
  return { reason, since, seconds: Math.floor((now - since) / 1000), overdue: true };
}

/** A stuck verdict in words, as a run failed for it records in error_message. */
export function describeStuck(v: Pick<StuckVerdict, 'reason' | 'seconds'>): string {
  if (v.reason === 'running_too_long') return `running ${v.seconds} s without completion`;
  if (v.reason === 'no_workers') return `queued ${v.seconds} s with no live worker on its queue`;
  return `queued ${v.seconds} s without worker pickup`;
}

/**
 * {@link stuckVerdict} with the job's own threshold from the policy, as the monitor reports it; `idleQueues`
 * are the queues without a live worker (for `no_workers`). Pure.
 */
export function stuckStatus(
  run: JobRun,
  now: number,
  policy: StuckPolicy,
  idleQueues: ReadonlySet<string> = new Set(),
): StuckRun | null {
  const v = stuckVerdict(run, now, thresholdMs(policy, run.job_id), idleQueues.has(run.queue));
  if (!v) return null;
  return {
    run_id: run.run_id,
    job_id: run.job_id,
    queue: run.queue,
    reason: v.reason,
    minutes: Math.max(0, Math.floor((now - v.since) / 6_000) / 10),
    overdue: v.overdue,
    episode: `${v.reason}:${v.since}`,
  };
}

/** Every stuck run among `runs` at `now` (see {@link stuckStatus}). Pure. */
export function findStuck(
  runs: readonly JobRun[],
  now: number,
  policy: StuckPolicy,
  idleQueues: ReadonlySet<string> = new Set(),
): StuckRun[] {
  const out: StuckRun[] = [];
  for (const run of runs) {
    const s = stuckStatus(run, now, policy, idleQueues);
    if (s) out.push(s);
  }
  return out;
}

/** What the monitor knows about one queue at scan time. */
export interface QueueHealth {
  queue: string;
  /** Jobs waiting to be picked up. */
  waiting: number;
  /** Live BullMQ workers reading the queue (all processes). */
  workers: number;
}

/** Queues no live worker reads (whatever they hold): their pending runs are stuck with `no_workers`. Pure. */
export function idleQueues(health: readonly QueueHealth[]): Set<string> {
  return new Set(health.filter((h) => h.workers === 0).map((h) => h.queue));
}

/** Queues with waiting jobs and no worker to take them. Pure. */
export function queuesWithoutWorkers(health: readonly QueueHealth[]): QueueHealth[] {
  return health.filter((h) => h.waiting > 0 && h.workers === 0);
}

/** Stuck runs per job_id (the `jobs_stuck` gauge). */
export function countByJob(stuck: readonly StuckRun[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of stuck) out[s.job_id] = (out[s.job_id] ?? 0) + 1;
  return out;
}
