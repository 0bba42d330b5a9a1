import { jobNotFound } from './errors';
import type { JobDefinition, JobRegistry } from './registry';
import type { JobRun, RunStatus } from './run';
import type { FinishedRunSample, RunStatsSample, RunStore } from './run-store';

/** When a job's BullMQ job scheduler fires next (implemented in src/queues/bullmq-schedules.ts). */
export interface ScheduleReader {
  /** Next planned run in ms since epoch, or null when the job has no scheduler. */
  nextRunAt(def: JobDefinition): Promise<number | null>;
}

/** A job's numbers over a window, as `GET /api/jobs/:job_id/stats` returns them. */
export interface JobStats {
  job_id: string;
  window_ms: number;
  since: string;
  counts: Record<RunStatus, number>;
  total: number;
  /** completed / (completed + failed) in the window; null when nothing finished. */
  success_rate: number | null;
  /** Over the newest finished runs of the window (see DEFAULT_STATS_SAMPLE). */
  duration_ms: { p50: number | null; p95: number | null; max: number | null; sample: number };
  /** The job's latest run, whenever it was (without logs). */
  last_run: Pick<
    JobRun,
    'run_id' | 'status' | 'created_at' | 'ended_at' | 'duration_ms' | 'error_message'
  > | null;
  next_run_at: string | null;
  /** Up to 20 latest finished runs, oldest first: the dashboard's duration chart. */
  recent: FinishedRunSample[];
}

/** Nearest-rank percentile of sorted numbers; null for none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Turns a store sample into the public numbers (pure). */
export function summarizeStats(
  sample: RunStatsSample,
  info: {
    job_id: string;
    window_ms: number;
    now: number;
    last_run: JobRun | null;
    next_run_at: number | null;
  },
): JobStats {
  const { counts } = sample;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const decided = counts.completed + counts.failed;
  const durations = sample.finished
    .map((r) => r.duration_ms)
    .filter((d): d is number => typeof d === 'number')
    .sort((a, b) => a - b);
  const last = info.last_run;
  return {
    job_id: info.job_id,
    window_ms: info.window_ms,
    since: new Date(info.now - info.window_ms).toISOString(),
    counts,
    total,
    success_rate: decided ? Math.round((counts.completed / decided) * 1000) / 1000 : null,
    duration_ms: {
      p50: percentile(durations, 50),
      p95: percentile(durations, 95),
      max: durations.length ? durations[durations.length - 1] : null,
      sample: durations.length,
    },
    last_run: last
      ? {
          run_id: last.run_id,
          status: last.status,
          created_at: last.created_at,
          ended_at: last.ended_at,
          duration_ms: last.duration_ms,
          error_message: last.error_message,
        }
      : null,
    next_run_at: info.next_run_at === null ? null : new Date(info.next_run_at).toISOString(),
    recent: sample.finished.slice(0, 20).reverse(),
  };
}

/** Per-job statistics for the API and the dashboard. */
export class JobStatsService {
  constructor(
    private readonly registry: JobRegistry,
    private readonly store: RunStore,
    private readonly schedules?: ScheduleReader,
    private readonly now: () => number = Date.now,
  ) {}

  /** @throws job_not_found */
  async stats(jobId: string, windowMs: number): Promise<JobStats> {
    const def = this.registry.get(jobId);
    if (!def) throw jobNotFound(jobId);
    const now = this.now();
    const [sample, latest, next] = await Promise.all([
      this.store.stats(jobId, now - windowMs),
      this.store.list({ job_id: jobId, limit: 1 }),
      this.schedules && def.enabled && !def.is_dynamic
        ? this.schedules.nextRunAt(def).catch(() => null)
        : Promise.resolve(null),
    ]);
    return summarizeStats(sample, {
      job_id: jobId,
      window_ms: windowMs,
      now,
      last_run: latest.runs[0] ?? null,
      next_run_at: next,
    });
  }
}
