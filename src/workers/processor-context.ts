import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { type JobEnvelope, LOG_EVENT } from '../monitor/lifecycle';
import type { LogLevel } from '../monitor/run';

/** Publishes our custom events (log batches) on a queue's events stream. */
export interface EventPublisher {
  publish(fields: { eventName: string; jobId: string; [k: string]: string }): Promise<void>;
}

/** What a processor gets: its payload, who asked, and ways to report progress and log lines. */
export interface ProcessorContext<P = unknown> {
  /** The run's id (= the BullMQ job id). */
  readonly runId: string;
  readonly jobId: string;
  readonly userId: string | null;
  readonly data: P;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Aborted when the job's timeout_seconds passes or the worker is shutting down hard. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Reports progress; writes are throttled, the last value is always written before the run ends. */
  progress(processed: number, total: number): Promise<void>;
  /** Adds a line to the run's logs (kept: the last 50). Flushed every 10 lines, on errors and at the end. */
  log(message: string, level?: LogLevel): void;
  /** The underlying BullMQ job, for processors that need more (e.g. updateData). */
  readonly job: Job;
}

export type Processor<P = unknown> = (ctx: ProcessorContext<P>) => Promise<unknown>;

const LOG_BATCH = 10;
const PROGRESS_MIN_INTERVAL_MS = 200;

/** The context implementation; one per attempt. */
export class RunContext<P = unknown> implements ProcessorContext<P> {
  readonly runId: string;
  readonly jobId: string;
  readonly userId: string | null;
  readonly data: P;
  readonly attempt: number;
  private lines: { time: string; level: LogLevel; message: string }[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private sentProgress: { processed: number; total: number } | null = null;
  private lastProgress: { processed: number; total: number } | null = null;
  private lastSentAt = 0;
  private sentPct = -1;
  private pendingFlushes = 0;
  private childLogger: Logger | null = null;
  private controller: AbortController | null = null;

  /**
   * @param makeLogger builds the run's child logger; called on first use only (most runs never log
   *   through pino, and a child logger per job showed up in the throughput profile).
   */
  constructor(
    readonly job: Job,
    private readonly publisher: EventPublisher,
    private readonly makeLogger: () => Logger,
  ) {
    const env = (job.data ?? {}) as JobEnvelope;
    this.runId = job.id!;
    this.jobId = job.name;
    this.userId = env.user_id == null ? null : String(env.user_id);
    this.data = env.payload as P;
    this.attempt = job.attemptsStarted || job.attemptsMade + 1;
  }

  /** Created on first use: most processors never look at it, and one per job showed in the profile. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  /** Aborts the run's signal (timeout, hard shutdown); the worker pool calls it. */
  abort(reason: unknown): void {
    this.controller ??= new AbortController();
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  get logger(): Logger {
    this.childLogger ??= this.makeLogger();
    return this.childLogger;
  }

  async progress(processed: number, total: number): Promise<void> {
    this.lastProgress = { processed, total };
    const pct = total > 0 ? Math.floor((processed / total) * 100) : 0;
    const now = Date.now();
    const done = processed >= total;
    if (!done && (pct === this.sentPct || now - this.lastSentAt < PROGRESS_MIN_INTERVAL_MS)) return;
    await this.sendProgress();
  }

  log(message: string, level: LogLevel = 'info'): void {
    this.lines.push({ time: new Date().toISOString(), level, message: String(message).slice(0, 2000) });
    if (this.lines.length >= LOG_BATCH || level === 'error') void this.flushLogs();
  }

  /** Writes the last progress and every buffered log line; called when the attempt ends. */
  async flush(): Promise<void> {
    if (this.lastProgress && this.lastProgress !== this.sentProgress) await this.sendProgress();
    if (this.lines.length || this.pendingFlushes) await this.flushLogs();
  }

  private async sendProgress(): Promise<void> {
    const p = this.lastProgress!;
    this.sentProgress = p;
    this.lastSentAt = Date.now();
    this.sentPct = p.total > 0 ? Math.floor((p.processed / p.total) * 100) : 0;
    await this.job.updateProgress({ processed: p.processed, total: p.total });
  }

  private flushLogs(): Promise<void> {
    // Serialised so batches reach the stream in order.
    this.pendingFlushes++;
    this.flushing = this.flushing.then(async () => {
      try {
        if (!this.lines.length) return;
        const lines = this.lines.splice(0);
        await this.publisher.publish({
          eventName: LOG_EVENT,
          jobId: this.runId,
          lines: JSON.stringify(lines),
        });
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'run_log_flush_failed');
      } finally {
        this.pendingFlushes--;
      }
    });
    return this.flushing;
  }
}
