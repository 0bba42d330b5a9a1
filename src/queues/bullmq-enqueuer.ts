import type { JobEnvelope } from '../monitor/lifecycle';
import type { JobEnqueuer } from '../monitor/jobs-service';
import type { JobRun } from '../monitor/run';
import { NotReplicatedError } from '../monitor/store-unavailable-error';
import type { QueueSet } from './queue-set';
import { waitForReplicas } from './redis';
import { CANCEL_REQUEST_TTL_S, RedisKeys } from './redis-keys';

/** How sure a newly queued run must be before {@link BullmqEnqueuer.enqueue} returns. */
export interface EnqueueDurability {
  /**
   * Replicas that must acknowledge the new job (Redis WAIT on the connection that wrote it) before enqueue
   * returns; `REDIS_WAIT_REPLICAS`.
   * @defaultValue 0 (return as soon as the master has it)
   */
  waitReplicas: number;
  /** Longest the WAIT may take; past it enqueue throws {@link NotReplicatedError}. */
  waitTimeoutMs: number;
  /**
   * Queues on a connection of their own that jobs are added through when `waitReplicas` > 0 (WAIT blocks
   * the connection it is sent on).
   * @defaultValue the enqueuer's queues
   */
  producer?: QueueSet;
}

/**
 * Takes a job out of the lists of jobs waiting for a worker (KEYS 1-4: wait, paused, prioritized, delayed), if it
 * is in one: `taken`. `gone` when the job's hash (KEYS[5]) does not exist; `scheduler` for a job scheduler's
 * current job (KEYS[6] is the schedulers' zset: BullMQ refuses to remove that one too); `other` for a job in any
 * other state (active, completed, failed).
 */
const TAKE_WAITING_LUA = `local id = ARGV[1]
if redis.call('EXISTS', KEYS[5]) == 0 then return 'gone' end
local rjk = redis.call('HGET', KEYS[5], 'rjk')
if rjk then
  local prev = redis.call('ZSCORE', KEYS[6], rjk)
  if prev and id == 'repeat:' .. rjk .. ':' .. prev then return 'scheduler' end
end
if redis.call('LREM', KEYS[1], 1, id) == 1 then return 'taken' end
if redis.call('LREM', KEYS[2], 1, id) == 1 then return 'taken' end
if redis.call('ZREM', KEYS[3], id) == 1 then return 'taken' end
if redis.call('ZREM', KEYS[4], id) == 1 then return 'taken' end
return 'other'`;

/**
 * JobEnqueuer on BullMQ: the run id is the BullMQ job id; exclusivity uses BullMQ deduplication; our own
 * lifecycle events go to the queue's events stream next to BullMQ's.
 */
export class BullmqEnqueuer implements JobEnqueuer {
  constructor(
    private readonly queues: QueueSet,
    private readonly durability: EnqueueDurability = { waitReplicas: 0, waitTimeoutMs: 0 },
  ) {}

  /**
   * Adds the run's job. With `waitReplicas`, returns only once that many replicas have it.
   * @throws NotReplicatedError when they did not confirm it within `waitTimeoutMs` (the job stays queued).
   */
  async enqueue(
    def: Parameters<JobEnqueuer['enqueue']>[0],
    envelope: Parameters<JobEnqueuer['enqueue']>[1],
    opts: { runId: string; exclusiveKey?: string },
  ) {
    const { waitReplicas, waitTimeoutMs, producer = this.queues } = this.durability;
    const job = await producer.get(def.queue).add(def.job_id, envelope, {
      jobId: opts.runId,
      ...(opts.exclusiveKey ? { deduplication: { id: opts.exclusiveKey } } : {}),
    });
    const deduplicated = job.id !== opts.runId;
    if (waitReplicas > 0 && !deduplicated) {
      const acked = await waitForReplicas(
        producer.opts.connection,
        producer.keys.queueKey(def.queue, 'id'),
        waitReplicas,
        waitTimeoutMs,
      );
      if (acked < waitReplicas) throw new NotReplicatedError(opts.runId, acked, waitReplicas);
    }
    return { runId: job.id!, deduplicated };
  }

  /**
   * XADD to the queue's own events stream (BullMQ's key and cap), where the tracker reads it. A queue no
   * longer in the registry (a run the stuck monitor ends as `job_lost`) still has its stream key, so the
   * event is written there too (the writer applies it to the store itself; no tracker reads that stream).
   */
  async appendEvent(queue: string, event: string, jobId: string, args: Record<string, string>) {
    const stream = this.queues.names.includes(queue)
      ? this.queues.get(queue).keys.events
      : this.queues.keys.queueKey(queue, 'events');
    const fields = Object.entries(args).flat();
    const id = await this.queues.opts.connection.xadd(
      stream,
      'MAXLEN',
      '~',
      String(this.queues.opts.eventsMaxLen),
      '*',
      'event',
      event,
      'jobId',
      jobId,
      ...fields,
    );
    if (!id) throw new Error(`XADD to the ${queue} events stream returned no id`);
    return id;
  }

  /**
   * Removes a run's job only while it waits (wait, paused, prioritized or delayed): one Lua script checks and
   * takes it out of that list atomically, so a worker can't take it in between, and a job that a worker holds
   * or that has already finished (completed, failed: the store may still say running) is left alone. Then
   * BullMQ's own remove deletes the job's data. `removed`; `active` when the job is not waiting (running,
   * finished, or the scheduler's next run, which only its scheduler may remove); `gone` when the queue has no
   * such job.
   */
  async removeWaiting(run: JobRun): Promise<'removed' | 'active' | 'gone'> {
    const q = this.queues.get(run.queue);
    const k = q.keys;
    const taken = (await this.queues.opts.connection.eval(
      TAKE_WAITING_LUA,
      6,
      k.wait,
      k.paused,
      k.prioritized,
      k.delayed,
      q.toKey(run.run_id),
      k.repeat,
      run.run_id,
    )) as 'taken' | 'gone' | 'scheduler' | 'other';
    if (taken === 'gone') return 'gone';
    if (taken !== 'taken') return 'active';
    // In no list now, so no worker can take it: BullMQ removes its hash, logs and deduplication key.
    await q.remove(run.run_id);
    return 'removed';
  }

  /**
   * Asks every worker process (they listen on {@link RedisKeys.cancelChannel}) to cancel a running run. The
   * request is also kept for {@link CANCEL_REQUEST_TTL_S} (written before the message goes out), for a worker
   * whose subscriber is reconnecting at this moment: it looks its runs up once it is back.
   */
  async publishCancel(runId: string, by: string): Promise<number> {
    const keys = new RedisKeys(this.queues.opts.prefix);
    const redis = this.queues.opts.connection;
    await redis.set(keys.cancelRequest(runId), by, 'EX', CANCEL_REQUEST_TTL_S);
    return redis.publish(keys.cancelChannel, JSON.stringify({ run_id: runId, by }));
  }

  async envelopeOf(run: JobRun): Promise<JobEnvelope | null> {
    const job = await this.queues.get(run.queue).getJob(run.run_id);
    return job ? ((job.data ?? {}) as JobEnvelope) : null;
  }

  async payloadOf(run: JobRun): Promise<unknown> {
    const job = await this.queues.get(run.queue).getJob(run.run_id);
    return (job?.data as JobEnvelope | undefined)?.payload;
  }
}
