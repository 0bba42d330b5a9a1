import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface QueueSetOptions {
  /** Shared connection for producers (queue.add, getters). */
  connection: Redis;
  /** BullMQ key prefix, e.g. `{jm}` (a hash tag keeps a queue's keys in one Cluster slot). */
  prefix: string;
  attempts: number;
  backoffMs: number;
  /** Finished jobs stay in Redis this long (the run history lives in the RunStore). */
  retentionSeconds: number;
  /** Length the events stream is capped at; the tracker can be down this many events without a gap. */
  eventsMaxLen: number;
}

/** Default options every job gets: retries with exponential backoff and age-based retention. */
export function defaultJobOptions(
  o: Pick<QueueSetOptions, 'attempts' | 'backoffMs' | 'retentionSeconds'>,
): JobsOptions {
  return {
    attempts: o.attempts,
    backoff: { type: 'exponential', delay: o.backoffMs },
    removeOnComplete: { age: o.retentionSeconds },
    removeOnFail: { age: o.retentionSeconds * 7 },
  };
}

/** The BullMQ queues of the system, created once and shared by the API, scheduler, monitor and recordings. */
export class QueueSet {
  private readonly queues = new Map<string, Queue>();

  constructor(
    readonly names: readonly string[],
    readonly opts: QueueSetOptions,
  ) {
    for (const name of names) {
      this.queues.set(
        name,
        new Queue(name, {
          connection: opts.connection,
          prefix: opts.prefix,
          defaultJobOptions: defaultJobOptions(opts),
          streams: { events: { maxLen: opts.eventsMaxLen } },
        }),
      );
    }
  }

  /** The queue with that name. @throws when the registry names no such queue. */
  get(name: string): Queue {
    const q = this.queues.get(name);
    if (!q) throw new Error(`unknown queue "${name}"`);
    return q;
  }

  /** A queue outside the registry (e.g. one a removed job used); the caller closes it. */
  ephemeral(name: string): Queue {
    return new Queue(name, { connection: this.opts.connection, prefix: this.opts.prefix });
  }

  all(): Queue[] {
    return [...this.queues.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
  }
}
