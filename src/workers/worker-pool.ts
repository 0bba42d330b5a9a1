import { hostname } from 'node:os';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { logErrorsOncePerEpisode } from '../log-once';
import { exclusiveKey } from '../monitor/concurrency';
import { CANCELLED_REASON_PREFIX, type SkippedResult } from '../monitor/lifecycle';
import type { JobDefinition, JobRegistry } from '../monitor/registry';
import type { RunIdentity } from '../monitor/run';
import { RedisKeys } from '../queues/redis-keys';
import { RedisLock } from '../queues/redis-lock';
import { type Processor, RunContext, type RunSink } from './processor-context';
import { runGuarded } from './processor-guard';
import type { RunRecorder } from './run-recorder';

export interface WorkerPoolOptions {
  registry: JobRegistry;
  processors: Readonly<Record<string, Processor<never>>>;
  /** Queues this process serves; default: every queue in the registry. */
  queues?: string[];
  /** Shared connection for locks and log events. */
  redis: Redis;
  /** Options BullMQ uses to open each worker's own blocking connection. */
  connection: object;
  /** QUEUE_PREFIX; every key comes from {@link RedisKeys}. */
  prefix: string;
  concurrency: number;
  logger: Logger;
  /**
   * Records the runs this process executes (start, progress, logs, end) in batched writes; without one,
   * runs are only known through the reconciler reading BullMQ's events (tests of the pool alone).
   */
  recorder?: RunRecorder;
  /** Identity stored on each run (`host:pid` by default). */
  name?: string;
  /** Stalled-job check interval, ms (BullMQ default 30000). Lower only in tests. */
  stalledInterval?: number;
  lockDuration?: number;
  /** Times a job may be recovered from a dead worker before it fails (BullMQ default 1). */
  maxStalledCount?: number;
}

/** How long a cancel request for a run not running here waits for that run to start here. */
export const EARLY_CANCEL_MS = 60_000;
const MAX_EARLY_CANCELS = 1000;

/** Where progress and logs go when nothing records runs in this process (tests of the pool alone). */
const NO_SINK: RunSink = { progress: () => undefined, log: () => undefined };

/** A run's progress and log lines, to the recorder (a class: no closures per job on the hot path). */
class RecorderSink implements RunSink {
  constructor(
    private readonly recorder: RunRecorder,
    private readonly runId: string,
    private readonly identity: RunIdentity,
  ) {}

  progress(processed: number, total: number): void {
    this.recorder.progress(this.runId, this.identity, processed, total);
  }

  log(lines: Parameters<RunSink['log']>[0]): void {
    this.recorder.log(this.runId, this.identity, lines);
  }
}

/** An error escaped the processor's async chain: the run fails with it (see runGuarded). */
function failEscaped(ctx: RunContext, err: Error): void {
  ctx.logger.error({ err, attempt: ctx.attempt }, 'processor_uncaught_error');
  ctx.abort(err);
}

/**
 * One BullMQ Worker per queue, dispatching each job to the processor its registry entry names.
 * Jobs that must not overlap ({@link exclusiveKey}, the one concurrency rule) take a fleet-wide Redis lock
 * for the run; a run that finds it taken ends as `skipped`. A run that exceeds timeout_seconds is aborted and fails.
 */
export class WorkerPool {
  readonly workers: Worker[] = [];
  private readonly hardStop = new AbortController();
  /** Runs in progress in this process (aborted together on a hard stop). */
  private readonly active = new Set<RunContext>();
  /** Identities of the attempts started here, by BullMQ's job object, until it reports their end. */
  private readonly identities = new WeakMap<Job, RunIdentity>();
  /** The same runs by run id, for {@link cancel}. */
  private readonly byRunId = new Map<string, RunContext>();
  /**
   * Cancel requests for runs not running here when they came (run id → by, time): one for a job this
   * process is just taking (BullMQ moved it to active, the processor has not started) applies when it starts.
   */
  private readonly earlyCancels = new Map<string, { by: string; at: number }>();
  readonly name: string;
  private readonly keys: RedisKeys;

  constructor(private readonly opts: WorkerPoolOptions) {
    this.keys = new RedisKeys(opts.prefix);
    // A jobs.yml callback_name without a processor is a start-up error (startSystem checks it).
    this.name = opts.name ?? `${hostname()}:${process.pid}`;
  }

  start(): void {
    const queues = this.opts.queues ?? this.opts.registry.queues();
    for (const queue of queues) {
      const worker = new Worker(queue, (job) => this.run(job), {
        connection: this.opts.connection as never,
        prefix: this.keys.queuePrefix(queue),
        concurrency: this.opts.concurrency,
        name: this.name,
        ...(this.opts.stalledInterval ? { stalledInterval: this.opts.stalledInterval } : {}),
        ...(this.opts.lockDuration ? { lockDuration: this.opts.lockDuration } : {}),
        ...(this.opts.maxStalledCount !== undefined ? { maxStalledCount: this.opts.maxStalledCount } : {}),
      });
      logErrorsOncePerEpisode(worker, this.opts.logger, 'worker_error', { queue }, null);
      const recorder = this.opts.recorder;
      if (recorder) {
        // BullMQ trouble (a lost connection, a commit it could not confirm; logged just above): ends around
        // now may never be reported here, so the recorder reports them as a gap for the reconciler.
        worker.on('error', () => recorder.uncertain());
        // Ends are recorded once BullMQ committed them (these events fire after moveToCompleted/Failed).
        worker.on('completed', (job, result) => {
          const identity = this.identityFor(job);
          if (identity) recorder.completed(job, identity, result);
        });
        worker.on('failed', (job, err) => {
          const identity = job && this.identityFor(job);
          if (job && identity) recorder.failed(job, identity, err);
        });
      }
      this.workers.push(worker);
    }
    this.opts.logger.info(
      { queues, concurrency: this.opts.concurrency, worker: this.name },
      'workers_started',
    );
  }

  /**
   * Stops taking jobs and waits for the active ones; after `graceMs` the rest are abandoned (BullMQ's
   * stalled-job recovery hands them to another worker).
   */
  async close(graceMs: number): Promise<boolean> {
    const closing = Promise.all(this.workers.map((w) => w.close()));
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      closing.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.hardStop.abort();
      for (const ctx of this.active) ctx.abort(new Error('worker shutting down'));
      await Promise.all(this.workers.map((w) => w.close(true)));
    }
    return finished;
  }

  /** Run ids in progress in this process (the worker heartbeat reports them). */
  activeRunIds(): string[] {
    return [...this.byRunId.keys()];
  }

  /**
   * A run's identity for the recorder: the one computed when this process started the attempt (on the job
   * object BullMQ passes to its end event), else computed now. Null for a job name the registry doesn't know.
   */
  private identityFor(job: Job): RunIdentity | null {
    const known = this.identities.get(job);
    if (known) {
      this.identities.delete(job);
      return known;
    }
    const def = job.id ? this.opts.registry.get(job.name) : undefined;
    return def && this.opts.recorder ? this.opts.recorder.identityOf(job, def) : null;
  }

  /**
   * Cancels a run if this process is running it: its `ctx.signal` is aborted and, whatever the processor
   * does next, the attempt ends as an unrecoverable failure whose reason starts with
   * {@link CANCELLED_REASON_PREFIX} (stored as status `cancelled`; the result of a processor that ignored
   * the signal is not taken). Returns false when the run is not running here; the request is then kept for
   * {@link EARLY_CANCEL_MS}, in case this process is taking that job right now.
   */
  cancel(runId: string, by = 'an operator'): boolean {
    const ctx = this.byRunId.get(runId);
    if (!ctx) {
      if (this.earlyCancels.size >= MAX_EARLY_CANCELS) this.earlyCancels.clear();
      this.earlyCancels.set(runId, { by, at: Date.now() });
      return false;
    }
    ctx.cancelledBy ??= by;
    ctx.abort(new UnrecoverableError(`${CANCELLED_REASON_PREFIX} cancelled by ${by}`));
    return true;
  }

  /** Run ids running in this process now. */
  runningIds(): string[] {
    return [...this.byRunId.keys()];
  }

  /** BullMQ's processor: prepares the attempt, then runs it (under the job's lock if it is exclusive). */
  private run(job: Job): Promise<unknown> {
    const def = this.opts.registry.get(job.name);
    const processor = def && this.opts.processors[def.callback_name];
    if (!def || !processor) {
      // The name is not echoed: it is whatever was put in the queue, and the error becomes run text and alerts.
      return Promise.reject(new UnrecoverableError('no registered job or processor for this job name'));
    }
    const recorder = this.opts.recorder;
    const identity = recorder?.identityOf(job, def);
    if (recorder && identity) {
      recorder.started(job, identity);
      // Kept by the job object BullMQ hands back with its `completed`/`failed` event (weakly: nothing leaks).
      this.identities.set(job, identity);
    }
    const sink: RunSink = recorder && identity ? new RecorderSink(recorder, job.id!, identity) : NO_SINK;
    const ctx = new RunContext(job, sink, this.opts.logger, def.queue);
    if (exclusiveKey(def) !== null) return this.runExclusive(def, processor as Processor, ctx);
    return this.attempt(def, processor as Processor, ctx);
  }

  /** A job that must not overlap: the run id holds the fleet-wide lock (a retry after a stall takes it again). */
  private async runExclusive(def: JobDefinition, processor: Processor, ctx: RunContext): Promise<unknown> {
    const lock = new RedisLock(
      this.opts.redis,
      this.keys.jobLock(def.job_id),
      (def.timeout_seconds ?? 3600) * 1000 + 60_000,
      ctx.runId,
    );
    if (!(await lock.acquire())) {
      const holder = await lock.holder();
      ctx.log(`skipped: run ${holder} of ${def.job_id} is still running`, 'warn');
      await ctx.flush();
      return { skipped: true, reason: `already_running:${holder}` } satisfies SkippedResult;
    }
    try {
      return await this.attempt(def, processor, ctx);
    } finally {
      await lock
        .release()
        .catch((err) => ctx.logger.warn({ err, job_id: def.job_id }, 'job_lock_release_failed'));
    }
  }

  /**
   * Runs the processor once and settles as the attempt does (a promise chain, not an async function: this is
   * the hot path of every job). A cancel, a timeout or an escaped error fails the attempt.
   */
  private attempt(def: JobDefinition, processor: Processor, ctx: RunContext): Promise<unknown> {
    // Tracked until it settles (a skipped run never enters the set).
    this.active.add(ctx);
    this.byRunId.set(ctx.runId, ctx);
    if (this.hardStop.signal.aborted) ctx.abort(new Error('worker shutting down'));
    if (this.earlyCancels.size) {
      const early = this.earlyCancels.get(ctx.runId);
      this.earlyCancels.delete(ctx.runId);
      if (early && Date.now() - early.at < EARLY_CANCEL_MS) this.cancel(ctx.runId, early.by);
    }
    // Cancelled before it started (an early cancel): the processor never runs.
    if (ctx.cancelledBy) {
      this.forget(ctx);
      return this.failedAttempt(ctx, new UnrecoverableError('cancelled before it started'));
    }
    // An error that escapes the processor's async chain (a stream 'error' without a listener, a throwing
    // timer) fails this run instead of ending the process with every other run in it; a late escape after
    // the run ended is only logged.
    const work = runGuarded(processor, ctx, failEscaped);
    let timer: NodeJS.Timeout | undefined;
    const raced = def.timeout_seconds
      ? Promise.race([
          work,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              const err = new Error(`timed out after ${def.timeout_seconds} s`);
              ctx.abort(err);
              reject(err);
            }, def.timeout_seconds! * 1000);
          }),
        ])
      : work;
    return raced.then(
      (result) => {
        if (timer) clearTimeout(timer);
        this.forget(ctx);
        // A processor that ignored its cancel: the attempt ends cancelled, its result is not taken.
        if (ctx.cancelledBy) return this.failedAttempt(ctx, null);
        const progressWrite = ctx.flush(); // rarely one: most runs never report progress
        return progressWrite ? progressWrite.then(() => result ?? null) : (result ?? null);
      },
      (err: unknown) => {
        if (timer) clearTimeout(timer);
        this.forget(ctx);
        return this.failedAttempt(ctx, err);
      },
    );
  }

  private forget(ctx: RunContext): void {
    this.active.delete(ctx);
    if (this.byRunId.get(ctx.runId) === ctx) this.byRunId.delete(ctx.runId);
  }

  /** Ends a failed attempt: a cancel as `cancelled` (unrecoverable), anything else with its error logged. */
  private async failedAttempt(ctx: RunContext, err: unknown): Promise<never> {
    if (ctx.cancelledBy) {
      ctx.log(`attempt ${ctx.attempt} cancelled by ${ctx.cancelledBy}`, 'warn');
      await ctx.flush();
      throw new UnrecoverableError(`${CANCELLED_REASON_PREFIX} cancelled by ${ctx.cancelledBy}`);
    }
    const message = err instanceof Error ? err.message : String(err);
    ctx.log(`attempt ${ctx.attempt} failed: ${message}`, 'error');
    await ctx.flush();
    ctx.logger.warn({ err, attempt: ctx.attempt }, 'job_attempt_failed');
    throw err;
  }
}
