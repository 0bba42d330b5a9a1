import type { JobRegistry } from './registry';
import type { JobRun } from './run';

/** Why a run counts as stuck. */
export type StuckReason = 'running_too_long' | 'not_picked_up';

/** A run the monitor reports as stuck. */
export interface StuckRun {
  run_id: string;
  job_id: string;
  queue: string;
  reason: StuckReason;
  /** Minutes since it started (running) or became due (not picked up), one decimal, rounded down. */
  minutes: number;
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
}

/**
 * The one definition of a stuck run, for a job whose threshold is `limitMs`; the stuck monitor (alerts) and
 * the recordings' fail-fast policy both use it. Running: started longer ago than the threshold
 * (`running_too_long`; a record with no start is judged by its creation). Pending: never started, no
 * attempt yet, and created longer ago than the threshold (`not_picked_up`). A pending run that already ran
 * an attempt is waiting for its retry and is not stuck. Finished runs never are. Pure.
 */
export function stuckVerdict(run: StuckInput, now: number, limitMs: number): StuckVerdict | null {
  let since: number;
  let reason: StuckReason;
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
  return { reason, since, seconds: Math.floor((now - since) / 1000) };
}

/** A stuck verdict in words, as a run failed for it records in error_message. */
export function describeStuck(v: Pick<StuckVerdict, 'reason' | 'seconds'>): string {
  return v.reason === 'running_too_long'
    ? `running ${v.seconds} s without completion`
    : `queued ${v.seconds} s without worker pickup`;
}

/** {@link stuckVerdict} with the job's own threshold from the policy, as the monitor reports it. Pure. */
export function stuckStatus(run: JobRun, now: number, policy: StuckPolicy): StuckRun | null {
  const v = stuckVerdict(run, now, thresholdMs(policy, run.job_id));
  if (!v) return null;
  return {
    run_id: run.run_id,
    job_id: run.job_id,
    queue: run.queue,
    reason: v.reason,
    minutes: Math.max(0, Math.floor((now - v.since) / 6_000) / 10),
    episode: `${v.reason}:${v.since}`,
  };
}

/** Every stuck run among `runs` at `now`. Pure. */
export function findStuck(runs: readonly JobRun[], now: number, policy: StuckPolicy): StuckRun[] {
  const out: StuckRun[] = [];
  for (const run of runs) {
    const s = stuckStatus(run, now, policy);
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
