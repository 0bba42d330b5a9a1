import { hostname } from 'node:os';
import { type Job, QueueEventsProducer, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { SkippedResult } from '../monitor/lifecycle';
import type { JobRegistry } from '../monitor/registry';
import { type EventPublisher, type Processor, RunContext } from './processor-context';

export interface WorkerPoolOptions {
  registry: JobRegistry;
  processors: Readonly<Record<string, Processor<never>>>;
  /** Queues this process serves; default: every queue in the registry. */
  queues?: string[];
  /** Shared connection for locks and log events. */
  redis: Redis;
  /** Options BullMQ uses to open each worker's own blocking connection. */
  connection: object;
  prefix: string;
  concurrency: number;
  eventsMaxLen: number;
  logger: Logger;
  /** Identity stored on each run (`host:pid` by default). */
  name?: string;
  /** Stalled-job check interval, ms (BullMQ default 30000). Lower only in tests. */
  stalledInterval?: number;
  lockDuration?: number;
  /** Times a job may be recovered from a dead worker before it fails (BullMQ default 1). */
  maxStalledCount?: number;
}

const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * One BullMQ Worker per queue, dispatching each job to the processor its registry entry names.
 * Jobs that must not overlap (allow_concurrent: false) take a fleet-wide Redis lock for the run; a run
 * that finds it taken ends as `skipped`. A run that exceeds timeout_seconds is aborted and fails.
 */
export class WorkerPool {
  readonly workers: Worker[] = [];
  private readonly producers = new Map<string, QueueEventsProducer>();
  private readonly hardStop = new AbortController();
  /** Runs in progress in this process (aborted together on a hard stop). */
  private readonly active = new Set<RunContext>();
  readonly name: string;

  constructor(private readonly opts: WorkerPoolOptions) {
    this.name = opts.name ?? `${hostname()}:${process.pid}`;
    const known = new Set(Object.keys(opts.processors));
    for (const job of opts.registry.jobs) {
      if (!known.has(job.callback_name)) {
        opts.logger.warn({ job_id: job.job_id, callback_name: job.callback_name }, 'processor_missing');
      }
    }
  }

  start(): void {
    const queues = this.opts.queues ?? this.opts.registry.queues();
    for (const queue of queues) {
      const producer = new QueueEventsProducer(queue, {
        connection: this.opts.redis,
        prefix: this.opts.prefix,
      });
      this.producers.set(queue, producer);
      const publisher: EventPublisher = {
        publish: ({ eventName, ...rest }) =>
          producer.publishEvent({ eventName, ...rest }, this.opts.eventsMaxLen),
      };
      const worker = new Worker(queue, (job) => this.run(job, publisher), {
        connection: this.opts.connection as never,
        prefix: this.opts.prefix,
        concurrency: this.opts.concurrency,
        name: this.name,
        ...(this.opts.stalledInterval ? { stalledInterval: this.opts.stalledInterval } : {}),
        ...(this.opts.lockDuration ? { lockDuration: this.opts.lockDuration } : {}),
        ...(this.opts.maxStalledCount !== undefined ? { maxStalledCount: this.opts.maxStalledCount } : {}),
      });
      worker.on('error', (err) => this.opts.logger.warn({ queue, err: err.message }, 'worker_error'));
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
    await Promise.all([...this.producers.values()].map((p) => p.close()));
    return finished;
  }

  private async run(job: Job, publisher: EventPublisher): Promise<unknown> {
    const def = this.opts.registry.get(job.name);
    const processor = def && this.opts.processors[def.callback_name];
    if (!def || !processor) {
      throw new UnrecoverableError(`no processor for job "${job.name}"`);
    }
    let log: Logger | undefined;
    const logger = () => {
      log ??= this.opts.logger.child({ queue: def.queue, job_id: def.job_id, run_id: job.id });
      return log;
    };
    const ctx = new RunContext(job, publisher, logger);

    const lockKey = `${this.opts.prefix}:jm:lock:${def.job_id}`;
    if (!def.allow_concurrent) {
      const ttlMs = (def.timeout_seconds ?? 3600) * 1000 + 60_000;
      const got = await this.opts.redis.set(lockKey, job.id!, 'PX', ttlMs, 'NX');
      const holder = got ? job.id : await this.opts.redis.get(lockKey);
      if (holder !== job.id) {
        ctx.log(`skipped: run ${holder} of ${def.job_id} is still running`, 'warn');
        await ctx.flush();
        return { skipped: true, reason: `already_running:${holder}` } satisfies SkippedResult;
      }
    }

    let timer: NodeJS.Timeout | undefined;
    // Tracked from here on: the finally below always forgets it (a skipped run never enters the set).
    this.active.add(ctx);
    if (this.hardStop.signal.aborted) ctx.abort(new Error('worker shutting down'));
    try {
      const work = (processor as Processor)(ctx);
      const result = def.timeout_seconds
        ? await Promise.race([
            work,
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => {
                const err = new Error(`timed out after ${def.timeout_seconds} s`);
                ctx.abort(err);
                reject(err);
              }, def.timeout_seconds! * 1000);
            }),
          ])
        : await work;
      await ctx.flush();
      return result ?? null;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      ctx.log(`attempt ${ctx.attempt} failed: ${message}`, 'error');
      await ctx.flush();
      logger().warn({ err: message, attempt: ctx.attempt }, 'job_attempt_failed');
      throw err;
    } finally {
      clearTimeout(timer);
      this.active.delete(ctx);
      if (!def.allow_concurrent)
        await this.opts.redis.eval(RELEASE_LOCK, 1, lockKey, job.id!).catch(() => undefined);
    }
  }
}
