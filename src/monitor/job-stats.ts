import type { Logger } from 'pino';
import { type EpisodeLog, logOncePerEpisode } from '../log-once';
import { jobNotFound } from './errors';
import type { JobDefinition, JobRegistry } from './registry';
import { FINISHED_STATUSES, type JobRun, type RunStatus } from './run';
import {
  DEFAULT_STATS_SAMPLE,
  type FinishedRunSample,
  type RunStatsSample,
  type RunStore,
} from './run-store';

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
  /**
   * Over the newest finished runs of the window, at most `sample_limit` of them (the store's bounded read): a
   * busy job's 7-day p95 may cover only its last hours. `covers_window` says whether every finished run of
   * the window is in the sample; `sample_since` is the creation time of the oldest one that is.
   */
  duration_ms: {
    p50: number | null;
    p95: number | null;
    /** Added with the trends (#13). */
    p99: number | null;
    max: number | null;
    /** Finished runs with a duration the percentiles are taken over. */
    sample: number;
    /** Most finished runs the sample holds (DEFAULT_STATS_SAMPLE). */
    sample_limit: number;
    /** `created_at` of the oldest finished run in the sample, or null when it is empty. */
    sample_since: string | null;
    /** True when the sample holds every finished run of the window (the percentiles are the window's). */
    covers_window: boolean;
  };
  /** failed / (completed + failed) in the window; null when nothing finished. Added with the trends (#13). */
  failure_rate: number | null;
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
    /** The bound the store's sample was read with. @defaultValue DEFAULT_STATS_SAMPLE */
    sample_limit?: number;
  },
): JobStats {
  const { counts } = sample;
  const finishedInWindow = FINISHED_STATUSES.reduce((n, st) => n + (counts[st] ?? 0), 0);
  const oldest = sample.finished.at(-1);
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
    failure_rate: decided ? Math.round((counts.failed / decided) * 1000) / 1000 : null,
    duration_ms: {
      p50: percentile(durations, 50),
      p95: percentile(durations, 95),
      p99: percentile(durations, 99),
      max: durations.length ? durations[durations.length - 1] : null,
      sample: durations.length,
      sample_limit: info.sample_limit ?? DEFAULT_STATS_SAMPLE,
      sample_since: oldest ? oldest.created_at : null,
      covers_window: sample.finished.length >= finishedInWindow,
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

/** The windows of {@link JobStatsService.trends}. */
export const TREND_WINDOWS = { '24h': 24 * 3_600_000, '7d': 7 * 86_400_000 } as const;

/** A job's trends: its numbers over 24 h and 7 days, and the durations of its finished runs over 7 days. */
export interface JobTrends {
  job_id: string;
  windows: Record<
    keyof typeof TREND_WINDOWS,
    {
      since: string;
      total: number;
      failed: number;
      failure_rate: number | null;
      duration_ms: JobStats['duration_ms'];
    }
  >;
  /**
   * Finished runs of the 7-day window with a duration, oldest first: the duration chart. The newest
   * {@link DEFAULT_STATS_SAMPLE} at most (the store's sample bound; `windows['7d'].duration_ms.covers_window`
   * says whether that is all of them).
   */
  series: { run_id: string; created_at: string; status: RunStatus; duration_ms: number }[];
}

/** Per-job statistics for the API and the dashboard. */
export class JobStatsService {
  private readonly nextRunFailed: EpisodeLog | null;

  constructor(
    private readonly registry: JobRegistry,
    private readonly store: RunStore,
    private readonly schedules?: ScheduleReader,
    private readonly now: () => number = Date.now,
    /** Where a failed read of the next planned run is logged (once per episode); the stats then show none. */
    logger?: Logger,
  ) {
    this.nextRunFailed = logger ? logOncePerEpisode(logger, 'job_next_run_read_failed') : null;
  }

  /** @throws job_not_found */
  async stats(jobId: string, windowMs: number): Promise<JobStats> {
    const def = this.registry.get(jobId);
    if (!def) throw jobNotFound(jobId);
    const now = this.now();
    const [sample, latest, next] = await Promise.all([
      this.store.stats(jobId, now - windowMs, DEFAULT_STATS_SAMPLE),
      this.store.list({ job_id: jobId, limit: 1 }),
      this.schedules && def.enabled && !def.is_dynamic
        ? this.schedules.nextRunAt(def).catch((err: unknown) => {
            this.nextRunFailed?.error(err);
            return null;
          })
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

  /**
   * Run count, failure rate and p50/p95/p99 duration over 24 h and 7 days, and the 7-day duration series.
   * Two bounded store reads (each at most DEFAULT_STATS_SAMPLE finished runs). @throws job_not_found
   */
  async trends(jobId: string): Promise<JobTrends> {
    if (!this.registry.get(jobId)) throw jobNotFound(jobId);
    const now = this.now();
    const entries = Object.entries(TREND_WINDOWS) as [keyof typeof TREND_WINDOWS, number][];
    const samples = await Promise.all(
      entries.map(([, ms]) => this.store.stats(jobId, now - ms, DEFAULT_STATS_SAMPLE)),
    );
    const windows = {} as JobTrends['windows'];
    entries.forEach(([name, ms], i) => {
      const s = summarizeStats(samples[i], {
        job_id: jobId,
        window_ms: ms,
        now,
        last_run: null,
        next_run_at: null,
      });
      windows[name] = {
        since: s.since,
        total: s.total,
        failed: s.counts.failed,
        failure_rate: s.failure_rate,
        duration_ms: s.duration_ms,
      };
    });
    const week = samples[entries.findIndex(([n]) => n === '7d')];
    const series = week.finished
      .filter((r) => typeof r.duration_ms === 'number')
      .map((r) => ({
        run_id: r.run_id,
        created_at: r.created_at,
        status: r.status,
        duration_ms: r.duration_ms as number,
      }))
      .reverse();
    return { job_id: jobId, windows, series };
  }
}
