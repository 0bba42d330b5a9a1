import type { Logger } from 'pino';
import type { EventBus } from './events';
import type { JobRegistry } from './registry';
import { ACTIVE_STATUSES, type JobRun, RUN_RETENTION_SECONDS } from './run';
import type { RunStore } from './run-store';
import {
  countByJob,
  findStuck,
  type QueueHealth,
  queuesWithoutWorkers,
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
}

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
  onScan?: (result: ScanResult) => Promise<void> | void;
}

/** At most this many active runs are examined per scan (pages of 200). */
const MAX_SCANNED = 10_000;

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
    this.policy = {
      defaultMinutes: opts.thresholdMinutes,
      minutesFor: (jobId) => opts.registry.get(jobId)?.stuck_after_minutes ?? null,
    };
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
    await this.opts.lock.release().catch(() => undefined);
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
      this.opts.logger.warn({ err: (err as Error).message }, 'stuck_jobs_check_failed');
    }
  }

  /** One scan (exposed for tests and for a manual check). */
  async scan(): Promise<ScanResult> {
    const started = Date.now();
    const now = this.now();
    const runs = await this.activeRunsBefore(
      stuckCutoff(
        now,
        this.policy,
        this.opts.registry.jobs.map((j) => j.job_id),
      ),
    );
    const stuck = findStuck(runs, now, this.policy);
    let reported = 0;
    for (const s of stuck) {
      const first = await this.opts.events.emitOnce(
        `stuck:${s.run_id}:${s.episode}`,
        RUN_RETENTION_SECONDS,
        'job_stuck',
        { job_id: s.job_id, run_id: s.run_id, queue: s.queue, minutes: s.minutes, reason: s.reason },
      );
      if (first) reported++;
    }
    const health = await this.opts.queues.health();
    const idle = queuesWithoutWorkers(health);
    for (const q of health) {
      const key = `no_workers:${q.queue}`;
      if (idle.includes(q)) {
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
      queuesWithoutWorkers: idle,
      stuckByJob: countByJob(stuck),
    };
    await this.opts.onScan?.(result);
    this.opts.logger.info(
      {
        scanned: result.scanned,
        stuck: stuck.length,
        reported,
        queues_without_workers: idle.map((q) => q.queue),
        duration_ms: Date.now() - started,
      },
      'stuck_jobs_check',
    );
    return result;
  }

  private async activeRunsBefore(before: number): Promise<JobRun[]> {
    const runs: JobRun[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.opts.store.list({
        status: [...ACTIVE_STATUSES],
        before,
        limit: 200,
        cursor,
      });
      runs.push(...page.runs);
      cursor = page.next_cursor;
    } while (cursor && runs.length < MAX_SCANNED);
    return runs;
  }
}
