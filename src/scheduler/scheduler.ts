import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Lifecycle } from '../launcher';
import type { JobEnvelope } from '../monitor/lifecycle';
import type { PauseStore } from '../monitor/pauses';
import { SCHEDULER_TRIGGERED_BY } from '../monitor/principal';
import type { JobDefinition, JobRegistry } from '../monitor/registry';
import type { QueueSet } from '../queues/queue-set';
import { RedisKeys } from '../queues/redis-keys';
import { takeForever } from '../queues/redis-lock';

export interface SyncReport {
  created: string[];
  updated: string[];
  removed: string[];
  unchanged: string[];
  once_added: string[];
}

function repeatOptions(job: JobDefinition): { every?: number; pattern?: string } {
  return job.job_type === 'cron'
    ? { pattern: job.cron! }
    : { every: Math.round(job.interval_seconds! * 1000) };
}

/** Creates or updates the BullMQ job scheduler of a repeating/cron job (scheduler id = job_id). */
export async function upsertSchedule(
  queue: Pick<Queue, 'upsertJobScheduler'>,
  job: JobDefinition,
): Promise<void> {
  await queue.upsertJobScheduler(job.job_id, repeatOptions(job), {
    name: job.job_id,
    data: { trigger: 'scheduled', user_id: null, triggered_by: SCHEDULER_TRIGGERED_BY } satisfies JobEnvelope,
  });
}

/**
 * Keeps BullMQ job schedulers in step with the registry: creates or updates one scheduler per enabled
 * repeating/cron job (scheduler id = job_id), and removes the schedulers of jobs that were disabled or
 * deleted, in every queue the scheduler has ever managed. Every step is idempotent, so several
 * scheduler processes can sync at once; `once` jobs are enqueued a single time fleet-wide. It is the
 * `scheduler` role's part ({@link Lifecycle}).
 */
export class Scheduler implements Lifecycle {
  readonly name = 'scheduler';
  private timer: NodeJS.Timeout | null = null;
  private readonly managedKey: string;
  /** The periodic sync under way, if any (stop waits for it until the deadline). */
  private syncing: Promise<unknown> | null = null;

  constructor(
    private readonly registry: JobRegistry,
    private readonly queues: QueueSet,
    private readonly redis: Redis,
    prefix: string,
    private readonly logger: Logger,
    private readonly keys = new RedisKeys(prefix),
    /** #12: jobs paused by an operator get no scheduler (and no `once` run) until resumed. */
    private readonly pauses?: PauseStore,
  ) {
    this.managedKey = keys.schedulerQueues;
  }

  /**
   * Syncs now (a failure fails start-up), then every `intervalMs` to repair drift (e.g. a scheduler removed by
   * hand); a periodic sync that fails is logged (`scheduler_sync_failed`) and tried again at the next one.
   */
  async start(intervalMs = 60_000): Promise<void> {
    await this.sync();
    this.timer = setInterval(() => {
      if (this.syncing) return;
      this.syncing = this.sync()
        .catch((err: unknown) => this.logger.warn({ err }, 'scheduler_sync_failed'))
        .finally(() => {
          this.syncing = null;
        });
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer; a sync under way may finish until `deadline` (each of its steps is idempotent). */
  async stop(deadline: number): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const syncing = this.syncing;
    if (!syncing) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      syncing,
      new Promise((r) => (t = setTimeout(r, Math.max(0, deadline - Date.now())))),
    ]);
    clearTimeout(t);
  }

  async sync(): Promise<SyncReport> {
    const report: SyncReport = { created: [], updated: [], removed: [], unchanged: [], once_added: [] };
    const paused = new Set(Object.keys((await this.pauses?.all()) ?? {}));
    const desired = new Map(
      this.registry
        .scheduled()
        .filter((j) => !paused.has(j.job_id))
        .map((j) => [j.job_id, j]),
    );
    const registryQueues = this.registry.queues();
    if (registryQueues.length) await this.redis.sadd(this.managedKey, ...registryQueues);
    const managed = await this.redis.smembers(this.managedKey);

    for (const queueName of managed) {
      const inRegistry = registryQueues.includes(queueName);
      const queue = inRegistry ? this.queues.get(queueName) : this.queues.ephemeral(queueName);
      try {
        const existing = await queue.getJobSchedulers(0, -1);
        for (const s of existing) {
          const id = s.key;
          const want = desired.get(id);
          if (!want || want.queue !== queueName) {
            await queue.removeJobScheduler(id);
            report.removed.push(id);
          }
        }
        for (const job of desired.values()) {
          if (job.queue !== queueName) continue;
          const current = existing.find((s) => s.key === job.job_id);
          const opts = repeatOptions(job);
          if (
            current &&
            current.every === opts.every &&
            current.pattern === opts.pattern &&
            current.name === job.job_id
          ) {
            report.unchanged.push(job.job_id);
            continue;
          }
          await upsertSchedule(queue, job);
          (current ? report.updated : report.created).push(job.job_id);
        }
      } finally {
        if (!inRegistry) await queue.close();
      }
    }

    for (const job of this.registry.jobs.filter(
      (j) => j.job_type === 'once' && j.enabled && !paused.has(j.job_id),
    )) {
      // No TTL: a `once` job is enqueued a single time for the life of the deployment.
      const first = await takeForever(
        this.redis,
        this.keys.scheduledOnce(job.job_id),
        new Date().toISOString(),
      );
      if (first) {
        await this.queues.get(job.queue).add(job.job_id, {
          trigger: 'scheduled',
          user_id: null,
          triggered_by: SCHEDULER_TRIGGERED_BY,
        } satisfies JobEnvelope);
        report.once_added.push(job.job_id);
      }
    }
    this.logger.info(
      {
        created: report.created,
        updated: report.updated,
        removed: report.removed,
        unchanged: report.unchanged.length,
        once_added: report.once_added,
      },
      'scheduler_synced',
    );
    return report;
  }
}
