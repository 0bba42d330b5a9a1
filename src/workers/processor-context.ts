import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { JobEnvelope } from '../monitor/lifecycle';
import type { LogLevel } from '../monitor/run';

/**
 * Where a run's progress and log lines go: the worker's RunRecorder, which writes them to the run in its
 * next batch (no Redis command per report).
 */
export interface RunSink {
  progress(processed: number, total: number): void;
  log(lines: { time: string; level: LogLevel; message: string }[]): void;
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
  /**
   * Reports progress. The run record gets every report (batched by the worker's recorder); BullMQ's own job
   * progress (shown by Bull Board) is written at most once a second.
   */
  progress(processed: number, total: number): Promise<void>;
  /** Adds a line to the run's logs (kept: the last 50), written with the recorder's next batch. */
  log(message: string, level?: LogLevel): void;
  /** The underlying BullMQ job, for processors that need more (e.g. updateData). */
  readonly job: Job;
}

export type Processor<P = unknown> = (ctx: ProcessorContext<P>) => Promise<unknown>;

/** BullMQ's job progress (Bull Board) is written at most this often per run. */
const BULLMQ_PROGRESS_INTERVAL_MS = 1000;

/** The context implementation; one per attempt. */
export class RunContext<P = unknown> implements ProcessorContext<P> {
  readonly runId: string;
  readonly jobId: string;
  readonly userId: string | null;
  readonly data: P;
  readonly attempt: number;
  private readonly startedAt = Date.now();
  private lastBullProgressAt = 0;
  /** BullMQ progress write in flight, if any (most runs never report progress). */
  private bullProgress: Promise<void> | null = null;
  private childLogger: Logger | null = null;
  private controller: AbortController | null = null;
  /** Who cancelled the run (set by WorkerPool.cancel); the attempt then ends as `cancelled`. */
  cancelledBy: string | null = null;

  /**
   * @param parentLogger the worker's logger; the run's child logger (queue, job and run ids) is made on first
   *   use only (most runs never log through pino, and a child logger per job showed in the throughput profile).
   */
  constructor(
    readonly job: Job,
    private readonly sink: RunSink,
    private readonly parentLogger: Logger,
    private readonly queue: string,
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
    this.childLogger ??= this.parentLogger.child({
      queue: this.queue,
      job_id: this.jobId,
      run_id: this.runId,
    });
    return this.childLogger;
  }

  async progress(processed: number, total: number): Promise<void> {
    this.sink.progress(processed, total);
    const now = Date.now();
    const since = this.lastBullProgressAt || this.startedAt;
    if (now - since < BULLMQ_PROGRESS_INTERVAL_MS) return;
    this.lastBullProgressAt = now;
    this.bullProgress = this.job
      .updateProgress({ processed, total })
      .catch((err) => this.logger.warn({ err }, 'bullmq_progress_failed'));
    await this.bullProgress;
  }

  log(message: string, level: LogLevel = 'info'): void {
    this.sink.log([{ time: new Date().toISOString(), level, message: String(message).slice(0, 2000) }]);
  }

  /** The BullMQ progress write still in flight, for the worker to wait on when the attempt ends (or null). */
  flush(): Promise<void> | null {
    return this.bullProgress;
  }
}
