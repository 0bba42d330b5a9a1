import type { QueueProbe } from '../monitor/stuck-monitor';
import type { QueueHealth } from '../monitor/stuck-rules';
import type { QueueSet } from './queue-set';

/**
 * QueueProbe on BullMQ: waiting jobs (waiting + prioritized) and live workers (CLIENT LIST) per queue, and which
 * runs' jobs no longer exist.
 */
export class BullmqQueueProbe implements QueueProbe {
  constructor(private readonly queues: QueueSet) {}

  async health(): Promise<QueueHealth[]> {
    return Promise.all(
      this.queues.all().map(async (q) => {
        const [counts, workers] = await Promise.all([
          q.getJobCounts('waiting', 'prioritized'),
          q.getWorkers(),
        ]);
        return {
          queue: q.name,
          waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
          workers: workers.length,
        };
      }),
    );
  }

  /**
   * One EXISTS per run on its job hash, pipelined per queue (a queue's keys share one hash tag, so this
   * works on Redis Cluster too), at most {@link LOST_CHECK_BATCH} a round trip. A run on a queue that is not
   * the registry's any more counts as lost: no worker of this system will take its job. @throws on a Redis
   * error (nothing is taken for lost then).
   */
  async lostJobs(runs: readonly { run_id: string; queue: string }[]): Promise<Set<string>> {
    const lost = new Set<string>();
    const byQueue = new Map<string, string[]>();
    for (const r of runs) {
      if (!this.queues.names.includes(r.queue)) {
        lost.add(r.run_id);
        continue;
      }
      const ids = byQueue.get(r.queue) ?? [];
      ids.push(r.run_id);
      byQueue.set(r.queue, ids);
    }
    for (const [name, ids] of byQueue) {
      const q = this.queues.get(name);
      const client = this.queues.opts.connection;
      for (let i = 0; i < ids.length; i += LOST_CHECK_BATCH) {
        const batch = ids.slice(i, i + LOST_CHECK_BATCH);
        const pipe = client.pipeline();
        for (const id of batch) pipe.exists(q.toKey(id));
        const replies = (await pipe.exec()) ?? [];
        if (replies.length !== batch.length) throw new Error(`job check of queue ${name} got no answer`);
        for (const [k, [err, exists]] of replies.entries()) {
          if (err) throw err;
          if (exists === 0) lost.add(batch[k]);
        }
      }
    }
    return lost;
  }
}

/** Job hashes checked per pipelined round trip. */
const LOST_CHECK_BATCH = 500;
