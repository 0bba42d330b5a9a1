import type { QueueSet } from '../../queues/queue-set';
import type { Processor } from '../processor-context';

/**
 * `queue_cleanup`: removes finished BullMQ jobs older than the retention from every queue, in bounded
 * batches. (Age-based removeOnComplete only runs when new jobs finish; an idle queue keeps its old jobs
 * until this job runs.) The run history is unaffected: it lives in job_runs.
 */
export function queueCleanup(queues: QueueSet, retentionSeconds: number): Processor {
  return async (ctx) => {
    const all = queues.all();
    const removed: Record<string, number> = {};
    let done = 0;
    for (const queue of all) {
      let n = 0;
      for (const state of ['completed', 'failed'] as const) {
        const grace = state === 'failed' ? retentionSeconds * 7 * 1000 : retentionSeconds * 1000;
        n += (await queue.clean(grace, 1000, state)).length;
      }
      removed[queue.name] = n;
      ctx.log(`${queue.name}: removed ${n} finished jobs`);
      await ctx.progress(++done, all.length);
    }
    return { removed };
  };
}
