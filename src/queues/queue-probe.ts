import type { QueueProbe } from '../monitor/stuck-monitor';
import type { QueueHealth } from '../monitor/stuck-rules';
import type { QueueSet } from './queue-set';

/** QueueProbe on BullMQ: waiting jobs (waiting + prioritized) and live workers (CLIENT LIST) per queue. */
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
}
