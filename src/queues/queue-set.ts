import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { logErrorsOncePerEpisode } from '../log-once';
import { RedisKeys } from './redis-keys';

export interface QueueSetOptions {
  /** Shared connection for producers (queue.add, getters). */
  connection: Redis;
  /** QUEUE_PREFIX, e.g. `{jm}`; each queue's BullMQ prefix is {@link RedisKeys.queuePrefix} (a hash tag per queue). */
  prefix: string;
  attempts: number;
  backoffMs: number;
  /** Finished jobs stay in Redis this long (the run history lives in the RunStore). */
  retentionSeconds: number;
  /** Length the events stream is capped at; the tracker can be down this many events without a gap. */
  eventsMaxLen: number;
  /** Where a queue's connection errors go, once per outage (without it BullMQ prints them to the console). */
  logger?: Logger;
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
  readonly keys: RedisKeys;

  constructor(
    readonly names: readonly string[],
    readonly opts: QueueSetOptions,
  ) {
    this.keys = new RedisKeys(opts.prefix);
    for (const name of names) {
      const queue = new Queue(name, {
        connection: opts.connection,
        prefix: this.keys.queuePrefix(name),
        defaultJobOptions: defaultJobOptions(opts),
        streams: { events: { maxLen: opts.eventsMaxLen } },
      });
      if (opts.logger) logErrorsOncePerEpisode(queue, opts.logger, 'queue_error', { queue: name }, null);
      this.queues.set(name, queue);
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
    return new Queue(name, { connection: this.opts.connection, prefix: this.keys.queuePrefix(name) });
  }

  all(): Queue[] {
    return [...this.queues.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
  }
}
