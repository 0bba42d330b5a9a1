import type { Logger } from 'pino';
import type { EventBus } from './events';
import type { JobRegistry } from './registry';
import { ACTIVE_STATUSES, type JobRun, RUN_RETENTION_SECONDS, type RunMarks } from './run';
import type { RunQuery, RunStore } from './run-store';
import {
  countByJob,
  findStuck,
  idleQueues,
  type QueueHealth,
  queuesWithoutWorkers,
  registryStuckPolicy,
  type StuckPolicy,
  type StuckRun,
  stuckCutoff,
} from './stuck-rules';

/** A lock with expiry shared by every monitor process (Redis in production). */
export interface MonitorLock {
  /** Takes the lock, or extends it when this holder already has it. True when held afterwards. */
  acquire(): Promise<boolean>;
  /** Lets go of the lock if this holder has it. */
  release(): Promise<void>;
}

/** Reads each queue's waiting count and live workers (BullMQ in production). */
export interface QueueProbe {
  health(): Promise<QueueHealth[]>;
  /**
   * The ids of those runs whose queue job no longer exists (Redis lost its data, or someone deleted it), or
   * whose queue is not one of the registry's any more (no worker will ever take its job). Rejects when it
   * can't tell (a Redis error is never taken for a lost job). Optional: without it the monitor never ends
   * runs as `job_lost`.
   */
  lostJobs?(runs: readonly { run_id: string; queue: string }[]): Promise<Set<string>>;
}

/** The `error_message` of a run the monitor ended because its queue job no longer exists. */
export const JOB_LOST = 'job_lost';

/** What one scan found; handed to `onScan` (the jobs_stuck gauge). */
export interface ScanResult {
  scanned: number;
  stuck: StuckRun[];
  /** Stuck runs reported for the first time by this scan. */
  reported: number;
  queuesWithoutWorkers: QueueHealth[];
  stuckByJob: Record<string, number>;
}

export interface StuckMonitorOptions {
  registry: JobRegistry;
  store: RunStore;
  events: EventBus;
  lock: MonitorLock;
  queues: QueueProbe;
  logger: Logger;
  /** JOBS_STUCK_THRESHOLD_MINUTES (fractions allowed). */
  thresholdMinutes: number;
  /** JOBS_STUCK_MONITOR_INTERVAL_SECS (fractions allowed). */
  intervalSeconds: number;
  now?: () => number;
  /**
   * The one writer's "give up on a run" (`JobsService.markRunFailed`). Optional: without it the monitor
   * never ends runs as `job_lost`.
   */
  markFailed?: (run: JobRun, reason: string) => Promise<void>;
  /**
   * The one writer's marks (`JobsService.markRun` → RunWriter.mark): a run the monitor flags gets
   * `stuck: true` with its reason and since when, and loses the flag once it is no longer stuck. Optional:
   * without it runs are not marked (alerts still go out).
   */
  mark?: (run: JobRun, marks: RunMarks) => Promise<void>;
  onScan?: (result: ScanResult) => Promise<void> | void;
}

/** At most this many active runs are examined per scan (pages of 200). */
const MAX_SCANNED = 10_000;
/** At most this many pending runs per job of a queue without workers are flagged `no_workers` per scan. */
const MAX_IDLE_PER_JOB = 1_000;

/**
 * The stuck-job monitor: every interval, the process holding the monitor lock scans the active runs and
 * the queues, and emits `job_stuck` once per run per stuck episode and `queue_no_workers` once per
 * episode of a queue without workers. Scans only touch Redis/the store, never an alert channel, so a
 * slow channel can't delay them.
 */
export class StuckMonitor {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly policy: StuckPolicy;
  private readonly now: () => number;

  constructor(private readonly opts: StuckMonitorOptions) {
    this.now = opts.now ?? Date.now;
    this.policy = registryStuckPolicy(opts.registry, opts.thresholdMinutes);
  }

  /** Starts the loop; the first scan comes after one interval. */
  start(): void {
    this.schedule();
  }

  /** Stops the loop, waits for a scan in progress and hands the lock to the next monitor. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    // A lock that can't be released expires by itself; the next monitor then waits out its TTL.
    await this.opts.lock
      .release()
      .catch((err: unknown) => this.opts.logger.warn({ err }, 'stuck_monitor_lock_release_failed'));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = null;
        this.schedule();
      });
    }, this.opts.intervalSeconds * 1000);
  }

  private async tick(): Promise<void> {
    try {
      if (!(await this.opts.lock.acquire())) {
        this.opts.logger.debug({}, 'stuck_jobs_check_skipped');
        return;
      }
      await this.scan();
    } catch (err) {
      this.opts.logger.warn({ err }, 'stuck_jobs_check_failed');
    }
  }

  /**
   * One scan (exposed for tests and for a manual check): the active runs old enough to be stuck, the runs
   * flagged before (so a flag goes away once the run is fine again) and, for queues without a live worker,
   * every pending run (flagged `no_workers` at once); then marks, `job_stuck` for overdue ones, and
   * `queue_no_workers`.
   */
  async scan(): Promise<ScanResult> {
    const started = Date.now();
    const now = this.now();
    const health = await this.opts.queues.health();
    const idle = idleQueues(health);
    const before = stuckCutoff(
      now,
      this.policy,
      this.opts.registry.jobs.map((j) => j.job_id),
    );
    const runs = await this.runsToJudge(before, idle);
    const { active, stuck } = await this.endLostRuns(runs, findStuck(runs, now, this.policy, idle), before);
    await this.markStuck(active, stuck, now);
    let reported = 0;
    for (const s of stuck) {
      if (!s.overdue) continue;
      const first = await this.opts.events.emitOnce(
        `stuck:${s.run_id}:${s.episode}`,
        RUN_RETENTION_SECONDS,
        'job_stuck',
        { job_id: s.job_id, run_id: s.run_id, queue: s.queue, minutes: s.minutes, reason: s.reason },
      );
      if (first) reported++;
    }
    const withoutWorkers = queuesWithoutWorkers(health);
    for (const q of health) {
      const key = `no_workers:${q.queue}`;
      if (withoutWorkers.includes(q)) {
        await this.opts.events.emitOnce(key, RUN_RETENTION_SECONDS, 'queue_no_workers', {
          queue: q.queue,
          waiting: q.waiting,
        });
      } else {
        await this.opts.events.forget(key);
      }
    }
    const result: ScanResult = {
      scanned: runs.length,
      stuck,
      reported,
      queuesWithoutWorkers: withoutWorkers,
      stuckByJob: countByJob(stuck),
    };
    await this.opts.onScan?.(result);
    this.opts.logger.info(
      {
        scanned: result.scanned,
        stuck: stuck.length,
        reported,
        queues_without_workers: withoutWorkers.map((q) => q.queue),
        duration_ms: Date.now() - started,
      },
      'stuck_jobs_check',
    );
    return result;
  }

  /**
   * Ends the active runs (those old enough to be stuck, so a run whose job is being added is never taken
   * for lost) whose queue job no longer exists as `failed` / {@link JOB_LOST}: stuck ones, and also a
   * pending run waiting for its retry, which is never stuck and would otherwise wait forever. Once: a failed
   * run is no longer active, so no later scan sees it. Returns the runs and the stuck runs that remain. The
   * write goes through the one writer path (`markFailed`: an event in the run's queue stream), so a later
   * event of the same run, should its job reappear, still wins.
   */
  private async endLostRuns(
    runs: readonly JobRun[],
    stuck: StuckRun[],
    before: number,
  ): Promise<{ active: readonly JobRun[]; stuck: StuckRun[] }> {
    const probe = this.opts.queues;
    const markFailed = this.opts.markFailed;
    // Old enough runs and overdue stuck ones: a pending run flagged `no_workers` a moment after it was
    // enqueued is not looked up (its job may still be being added).
    const overdue = new Set(stuck.filter((s) => s.overdue).map((s) => s.run_id));
    const judged = runs.filter((r) => Date.parse(r.created_at) < before || overdue.has(r.run_id));
    if (!judged.length || !probe.lostJobs || !markFailed) return { active: runs, stuck };
    const lost = await probe.lostJobs(judged);
    if (!lost.size) return { active: runs, stuck };
    const ended: { run_id: string; job_id: string; queue: string; status: string }[] = [];
    for (const run of runs) {
      if (!lost.has(run.run_id)) continue;
      try {
        await markFailed(run, JOB_LOST);
        ended.push({ run_id: run.run_id, job_id: run.job_id, queue: run.queue, status: run.status });
      } catch (err) {
        // One run that can't be ended doesn't stop the scan; the next scan tries again.
        this.opts.logger.warn({ err, run_id: run.run_id, queue: run.queue }, 'job_lost_mark_failed');
      }
    }
    if (ended.length) this.opts.logger.warn({ runs: ended }, 'job_lost');
    const gone = new Set(ended.map((e) => e.run_id));
    return {
      active: runs.filter((r) => !gone.has(r.run_id)),
      stuck: stuck.filter((s) => !gone.has(s.run_id)),
    };
  }

  /**
   * Makes the flags visible on the runs: newly stuck runs get `stuck`, `stuck_reason`, `stuck_since` (now);
   * flagged runs that are no longer stuck lose them. Runs already flagged with the same reason are left
   * alone, so a scan writes only changes. A failed write is logged; the next scan tries again.
   */
  private async markStuck(runs: readonly JobRun[], stuck: readonly StuckRun[], now: number): Promise<void> {
    const mark = this.opts.mark;
    if (!mark) return;
    const flagged = new Map(stuck.map((s) => [s.run_id, s]));
    for (const run of runs) {
      const s = flagged.get(run.run_id);
      let marks: RunMarks | null = null;
      if (s && (!run.stuck || run.stuck_reason !== s.reason))
        marks = {
          stuck: true,
          stuck_reason: s.reason,
          stuck_since: run.stuck_since ?? new Date(now).toISOString(),
        };
      else if (!s && run.stuck) marks = { stuck: false, stuck_reason: null, stuck_since: null };
      if (!marks) continue;
      try {
        await mark(run, marks);
      } catch (err) {
        this.opts.logger.warn({ err, run_id: run.run_id }, 'stuck_mark_failed');
      }
    }
  }

  /**
   * The runs one scan judges, each once: active runs created before the cutoff, active runs flagged stuck
   * (any age), and the pending runs of every job whose queue has no live worker (any age).
   */
  private async runsToJudge(before: number, idle: ReadonlySet<string>): Promise<JobRun[]> {
    const byId = new Map<string, JobRun>();
    const add = (list: JobRun[]) => {
      for (const r of list) if (!byId.has(r.run_id)) byId.set(r.run_id, r);
    };
    add(await this.pages({ status: [...ACTIVE_STATUSES], before }, MAX_SCANNED));
    add(await this.pages({ status: [...ACTIVE_STATUSES], stuck: true }, MAX_SCANNED));
    for (const job of this.opts.registry.jobs) {
      if (idle.has(job.queue))
        add(await this.pages({ job_id: job.job_id, status: ['pending'] }, MAX_IDLE_PER_JOB));
    }
    return [...byId.values()];
  }

  private async pages(query: Omit<RunQuery, 'limit' | 'cursor'>, max: number): Promise<JobRun[]> {
    const runs: JobRun[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.opts.store.list({ ...query, limit: 200, cursor });
      runs.push(...page.runs);
      cursor = page.next_cursor;
    } while (cursor && runs.length < max);
    return runs;
  }
}
