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

  async lostJobs(runs: readonly { run_id: string; queue: string }[]): Promise<Set<string>> {
    const lost = new Set<string>();
    await Promise.all(
      runs.map(async (r) => {
        if (!this.queues.names.includes(r.queue)) return;
        const job = await this.queues.get(r.queue).getJob(r.run_id);
        if (!job) lost.add(r.run_id);
      }),
    );
    return lost;
  }
}
